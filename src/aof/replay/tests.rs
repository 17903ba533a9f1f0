//! Each command family against the state a server reaches with the same commands (the
//! expected states were read back from Redis 8.6.3 after the same commands; the
//! integration test `diff_aof` checks whole workloads against real dumps).

use std::collections::{HashMap, HashSet, VecDeque};

use super::commands::{lookup, run};
use super::ops::Fail;
use super::state::{Dataset, Field, Val};
use crate::rdb::stream::StreamId;

/// Runs space-separated commands in db 0; panics when one fails.
fn replay(ds: &mut Dataset, lines: &[&str]) {
    for line in lines {
        let a: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let name = line.split(' ').next().unwrap().to_ascii_uppercase();
        let def = lookup(&name).unwrap_or_else(|| panic!("{name} not in the table"));
        if let Err(e) = run(&def, ds, 0, &a) {
            panic!("{line}: {e:?}");
        }
    }
}

fn val(ds: &Dataset, key: &str) -> Option<Val> {
    ds.get(0, key.as_bytes()).map(|o| o.val.clone())
}

fn expire(ds: &Dataset, key: &str) -> Option<i64> {
    ds.get(0, key.as_bytes()).and_then(|o| o.expire)
}

fn s(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

fn list(items: &[&str]) -> Val {
    Val::List(items.iter().map(|i| s(i)).collect::<VecDeque<_>>())
}

fn set(items: &[&str]) -> Val {
    Val::Set(items.iter().map(|i| s(i)).collect::<HashSet<_>>())
}

fn zset(items: &[(&str, f64)]) -> Val {
    let mut z = super::state::Zset::default();
    for (m, sc) in items {
        z.insert(m.as_bytes(), *sc);
    }
    Val::Zset(z)
}

#[test]
fn strings() {
    let mut ds = Dataset::default();
    replay(
        &mut ds,
        &[
            "SET a 1 PXAT 1900000000000",
            "INCRBY a 41",
            "APPEND b xy",
            "SETRANGE b 4 z",
            "SETBIT c 9 1",
            "SET d v EXAT 1900000000",
            "SET d w KEEPTTL",
            "SET e 1 NX",
            "SET e 2 NX",
            "SET f 1 XX",
            "MSETNX e 9 g 9",
            "GETSET a 7",
            "DECR a",
        ],
    );
    assert_eq!(val(&ds, "a"), Some(Val::Str(s("6"))));
    assert_eq!(expire(&ds, "a"), None, "GETSET clears the expiry");
    assert_eq!(val(&ds, "b"), Some(Val::Str(b"xy\0\0z".to_vec())));
    assert_eq!(val(&ds, "c"), Some(Val::Str(vec![0, 0x40])));
    assert_eq!(
        (val(&ds, "d"), expire(&ds, "d")),
        (Some(Val::Str(s("w"))), Some(1_900_000_000_000))
    );
    assert_eq!(val(&ds, "e"), Some(Val::Str(s("1"))));
    assert_eq!(val(&ds, "f"), None);
    assert_eq!(val(&ds, "g"), None, "MSETNX sets nothing when a key exists");
    // Overflow and non-integers are refused by the server: unknown here.
    replay(&mut ds, &["SET n 9223372036854775807", "SET t abc"]);
    let incr = lookup("INCR").unwrap();
    assert!(matches!(
        run(&incr, &mut ds, 0, &[b"INCR", b"n"]),
        Err(Fail::Unknown(_))
    ));
    assert!(matches!(
        run(&incr, &mut ds, 0, &[b"INCR", b"t"]),
        Err(Fail::Unknown(_))
    ));
    let set = lookup("SET").unwrap();
    assert!(matches!(
        run(&set, &mut ds, 0, &[b"SET", b"x", b"1", b"EX", b"10"]),
        Err(Fail::Unknown(_))
    ));
}

#[test]
fn keyspace() {
    let mut ds = Dataset::default();
    replay(
        &mut ds,
        &[
            "SET a 1",
            "PEXPIREAT a 1900000000000",
            "RENAME a b",
            "SET c 2",
            "RENAMENX b c",
            "COPY b d",
            "COPY b c REPLACE",
            "MOVE d 3",
            "SET e 1",
            "PEXPIREAT e 1900000000000 NX",
            "PEXPIREAT e 1800000000000 GT",
            "PEXPIREAT e 1800000000000 LT",
            "SET f 1",
            "PEXPIREAT f 1800000000000 XX",
            "EXPIREAT f 1800000000 GT",
        ],
    );
    assert_eq!(val(&ds, "a"), None);
    assert_eq!(expire(&ds, "b"), Some(1_900_000_000_000));
    assert_eq!(val(&ds, "c"), Some(Val::Str(s("1"))));
    assert_eq!(expire(&ds, "c"), Some(1_900_000_000_000));
    assert!(ds.get(3, b"d").is_some() && ds.get(0, b"d").is_none());
    assert_eq!(expire(&ds, "e"), Some(1_800_000_000_000));
    assert_eq!(expire(&ds, "f"), None, "GT against no expiry fails");
    replay(&mut ds, &["SWAPDB 0 3", "FLUSHDB"]);
    assert!(ds.dbs.get(&0).is_none_or(|d| d.is_empty()));
    assert!(ds.get(3, b"b").is_some());
    replay(&mut ds, &["FLUSHALL"]);
    assert!(ds.dbs.is_empty());
}

#[test]
fn lists() {
    let mut ds = Dataset::default();
    replay(
        &mut ds,
        &[
            "RPUSH l a b c d e f",
            "LPUSH l y z",
            "LPOP l",
            "RPOP l 2",
            "LINSERT l BEFORE c X",
            "LSET l -1 last",
            "LREM l -1 a",
            "RPUSHX nope x",
            "LMOVE l m LEFT RIGHT",
            "RPOPLPUSH l m",
            "LTRIM l 1 -1",
            "RPUSH r 1 2 1 2 1",
            "LREM r 2 1",
        ],
    );
    assert_eq!(val(&ds, "l"), Some(list(&["X", "c"])));
    assert_eq!(val(&ds, "m"), Some(list(&["last", "y"])));
    assert_eq!(val(&ds, "r"), Some(list(&["2", "2", "1"])));
    assert_eq!(val(&ds, "nope"), None);
    replay(&mut ds, &["LPOP m 5"]);
    assert_eq!(val(&ds, "m"), None, "an emptied list is deleted");
}

#[test]
fn sets_and_zsets() {
    let mut ds = Dataset::default();
    replay(
        &mut ds,
        &[
            "SADD a 1 2 3 x",
            "SADD b 3 x y",
            "SREM a 1",
            "SMOVE a c 2",
            "SINTERSTORE i a b",
            "SDIFFSTORE d a b",
            "SUNIONSTORE u a b c",
            "ZADD z 1 a 2 b 3 c 4 d",
            "ZADD z XX GT 0 a 5 b",
            "ZADD z NX 9 a 9 e",
            "ZINCRBY z 0.5 c",
            "ZREMRANGEBYSCORE z (5 9",
            "ZPOPMIN z",
            "ZADD l 0 a 0 b 0 c 0 d",
            "ZREMRANGEBYLEX l [b (d",
            "ZREMRANGEBYRANK l -1 -1",
        ],
    );
    assert_eq!(val(&ds, "a"), Some(set(&["3", "x"])));
    assert_eq!(val(&ds, "c"), Some(set(&["2"])));
    assert_eq!(val(&ds, "i"), Some(set(&["3", "x"])));
    assert_eq!(
        val(&ds, "d"),
        None,
        "an empty result deletes the destination"
    );
    assert_eq!(val(&ds, "u"), Some(set(&["2", "3", "x", "y"])));
    assert_eq!(
        val(&ds, "z"),
        Some(zset(&[("c", 3.5), ("d", 4.0), ("b", 5.0)]))
    );
    assert_eq!(val(&ds, "l"), Some(zset(&[("a", 0.0)])));
    replay(
        &mut ds,
        &[
            "ZADD x 1 a 2 b 3 c",
            "SADD y a c d",
            "ZUNIONSTORE zu 2 x y WEIGHTS 2 0.5",
            "ZINTERSTORE zi 2 x y AGGREGATE MIN",
            "ZDIFFSTORE zd 2 x y",
            "ZINTERSTORE none 2 x missing",
        ],
    );
    assert_eq!(
        val(&ds, "zu"),
        Some(zset(&[("a", 2.5), ("b", 4.0), ("c", 6.5), ("d", 0.5)]))
    );
    assert_eq!(val(&ds, "zi"), Some(zset(&[("a", 1.0), ("c", 1.0)])));
    assert_eq!(val(&ds, "zd"), Some(zset(&[("b", 2.0)])));
    assert_eq!(val(&ds, "none"), None);
}

#[test]
fn hashes_with_field_expiries() {
    let mut ds = Dataset::default();
    replay(
        &mut ds,
        &[
            "HSET h a 1 b 2 c 3 n 5",
            "HSETNX h a x",
            "HDEL h b",
            "HINCRBY h n -7",
            "HPEXPIREAT h 1900000000000 FIELDS 2 a c",
            "HPEXPIREAT h 1800000000000 GT FIELDS 1 a",
            "HPERSIST h FIELDS 1 c",
            "HSET h c 33",
            "HPEXPIREAT h 1900000000000 FIELDS 1 n",
            "HINCRBY h n 1",
            "HSETEX h KEEPTTL FIELDS 1 n 2.5",
            "HSETEX h FNX PXAT 1700000000000 FIELDS 1 a 0",
        ],
    );
    let f = |v: &str, e: Option<i64>| Field {
        value: s(v),
        expire: e,
    };
    let want: HashMap<Vec<u8>, Field> = [
        (s("a"), f("1", Some(1_900_000_000_000))),
        (s("c"), f("33", None)),
        (s("n"), f("2.5", Some(1_900_000_000_000))),
    ]
    .into_iter()
    .collect();
    assert_eq!(val(&ds, "h"), Some(Val::Hash(want)));
}

#[test]
fn streams_keep_entries_only() {
    let mut ds = Dataset::default();
    replay(
        &mut ds,
        &[
            "XADD s 1-1 a 1",
            "XADD s 2-0 b 2",
            "XADD s MAXLEN = 2 3-5 c 3",
            "XADD s 4-0 d 4",
            "XDEL s 3-5",
            "XGROUP CREATE s g 0",
            "XGROUP CREATE t g $ MKSTREAM",
            "XADD u 1-0 a 1",
            "XADD u 2-0 a 2",
            "XTRIM u MINID 2",
        ],
    );
    let ids = |k: &str| match val(&ds, k) {
        Some(Val::Stream(e)) => e.keys().copied().collect::<Vec<_>>(),
        v => panic!("{k}: {v:?}"),
    };
    let id = |ms, seq| StreamId { ms, seq };
    assert_eq!(ids("s"), vec![id(2, 0), id(4, 0)]);
    assert_eq!(ids("t"), vec![]);
    assert_eq!(ids("u"), vec![id(2, 0)]);
    let xadd = lookup("XADD").unwrap();
    let approx: Vec<&[u8]> = vec![b"XADD", b"s", b"MAXLEN", b"~", b"1", b"9-0", b"f", b"v"];
    assert!(matches!(
        run(&xadd, &mut ds, 0, &approx),
        Err(Fail::Unknown(_))
    ));
}

#[test]
fn unknown_values_spread_and_clear() {
    let mut ds = Dataset::default();
    let pfadd = lookup("PFADD").unwrap();
    assert!(run(&pfadd, &mut ds, 0, &[b"PFADD", b"h", b"a"]).is_err());
    ds.insert(
        0,
        b"h",
        super::state::Obj {
            val: Val::Unknown(Box::new(super::state::Reason {
                command: "PFADD".into(),
                file: "f".into(),
                offset: 0,
                why: "not modelled".into(),
            })),
            expire: None,
        },
    );
    // Reading an unknown key passes its reason on; replacing it makes it known.
    let sunion = lookup("SUNIONSTORE").unwrap();
    assert!(matches!(
        run(&sunion, &mut ds, 0, &[b"SUNIONSTORE", b"d", b"h"]),
        Err(Fail::Inherit(_))
    ));
    replay(&mut ds, &["SET h v"]);
    assert_eq!(val(&ds, "h"), Some(Val::Str(s("v"))));
}

/// The names in the command table.
const TABLE: &str = "DEL UNLINK GETDEL PEXPIREAT EXPIREAT EXPIRE PEXPIRE PERSIST RENAME RENAMENX MOVE COPY SWAPDB FLUSHDB FLUSHALL RESTORE RESTORE-ASKING FUNCTION SCRIPT SET SETNX SETEX PSETEX MSET MSETNX GETSET APPEND INCR DECR INCRBY DECRBY SETRANGE SETBIT GETEX INCRBYFLOAT BITFIELD PFADD PFCOUNT PFDEBUG PFMERGE BITOP LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP BLPOP BRPOP LMOVE BLMOVE RPOPLPUSH BRPOPLPUSH LINSERT LSET LREM LTRIM LMPOP ZMPOP BLMPOP BZMPOP SADD SREM SMOVE SUNIONSTORE SINTERSTORE SDIFFSTORE SPOP ZADD ZINCRBY ZREM ZREMRANGEBYSCORE ZREMRANGEBYLEX ZREMRANGEBYRANK ZPOPMIN ZPOPMAX BZPOPMIN BZPOPMAX ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZRANGESTORE GEOADD GEORADIUS GEORADIUSBYMEMBER GEOSEARCHSTORE SORT HSET HMSET HSETNX HDEL HINCRBY HPEXPIREAT HEXPIREAT HPERSIST HSETEX HINCRBYFLOAT HEXPIRE HPEXPIRE HGETEX HGETDEL MSETEX DELEX XADD XTRIM XDEL XGROUP XSETID XCLAIM XAUTOCLAIM XACK XDELEX XACKDEL";

/// Every command of the table with hostile arguments (huge and negative numbers,
/// option words in wrong places, too few or too many) on keys of every type: no panic,
/// no huge allocation; whatever is refused is a failure, never a crash.
#[test]
fn hostile_arguments_never_panic() {
    let names: Vec<&str> = TABLE.split_whitespace().collect();
    let pool: &[&[u8]] = &[
        b"k",
        b"l",
        b"z",
        b"h",
        b"x",
        b"s",
        b"0",
        b"-1",
        b"1",
        b"2",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"18446744073709551615",
        b"99999999999999999999",
        b"FIELDS",
        b"NX",
        b"XX",
        b"GT",
        b"LT",
        b"~",
        b"=",
        b"MAXLEN",
        b"MINID",
        b"LIMIT",
        b"(1",
        b"[a",
        b"-",
        b"+",
        b"inf",
        b"-inf",
        b"nan",
        b"LEFT",
        b"RIGHT",
        b"BEFORE",
        b"WEIGHTS",
        b"AGGREGATE",
        b"SUM",
        b"KEEPTTL",
        b"PXAT",
        b"EXAT",
        b"EX",
        b"1-1",
        b"*",
        b"5-*",
        b"MKSTREAM",
        b"CREATE",
        b"REPLACE",
        b"ABSTTL",
        b"DB",
        b"STORE",
        b"",
        b"\xff\x00",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..20_000 {
        let mut ds = Dataset::default();
        replay(
            &mut ds,
            &[
                "SET s 5",
                "RPUSH l a b c",
                "SADD x a b",
                "ZADD z 1 a 2 b",
                "HSET h a 1",
                "XADD k 1-1 f v",
            ],
        );
        let name = names[round % names.len()];
        let argc = (next() % 13) as usize;
        let mut args: Vec<&[u8]> = vec![name.as_bytes()];
        args.extend((0..argc).map(|_| pool[(next() % pool.len() as u64) as usize]));
        let def = lookup(name).expect("in the table");
        let _ = super::commands::touched(def.keys, 0, &args);
        let _ = run(&def, &mut ds, 0, &args);
        for keys in ds.dbs.values() {
            for o in keys.values() {
                if let Val::Str(v) = &o.val {
                    assert!(v.len() <= 512 << 20);
                }
            }
        }
    }
}
