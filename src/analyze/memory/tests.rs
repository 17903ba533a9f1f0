//! Unit checks of the model against sizes read off real servers.

use super::*;
use crate::rdb::header::{Dialect, Header};
use crate::rdb::{Checker, RdbReader, Record};

fn model(v: &str, a: Allocator) -> MemoryModel {
    let h = Header {
        version: 11,
        dialect: Dialect::Redis,
    };
    MemoryModel::new(h, Some(v)).with_allocator(a)
}

#[test]
fn generations_from_versions() {
    let h = |version| Header {
        version,
        dialect: Dialect::Redis,
    };
    assert_eq!(
        MemoryModel::new(h(9), Some("6.2.14")).generation,
        Generation::Redis6
    );
    assert_eq!(
        MemoryModel::new(h(12), Some("7.4.1")).generation,
        Generation::Redis74
    );
    assert_eq!(
        MemoryModel::new(h(10), None).generation,
        Generation::Redis70
    );
    assert_eq!(
        MemoryModel::new(h(12), Some("8.0.2")).generation,
        Generation::Redis80
    );
    assert!(MemoryModel::new(h(12), Some("8.0.2")).validated);
    let m86 = MemoryModel::new(h(12), Some("8.6.3"));
    assert_eq!(m86.generation, Generation::Redis82);
    assert!(m86.is_calibrated(crate::rdb::types::Kind::Hash));
    assert!(!m86.is_calibrated(crate::rdb::types::Kind::Stream));
    let v80 = MemoryModel::new(h(11), Some("valkey-8.0.1"));
    assert_eq!(v80.valkey, Some(ValkeyLayout::V80));
    assert!(v80.is_calibrated(crate::rdb::types::Kind::Stream));
    let v81 = MemoryModel::new(h(11), Some("valkey-8.1.1"));
    assert!(v81.is_calibrated(crate::rdb::types::Kind::Set));
    assert!(!v81.is_calibrated(crate::rdb::types::Kind::Stream));
    assert_eq!(
        MemoryModel::new(h(11), Some("valkey-7.2.5")).valkey,
        None,
        "Valkey 7.2 is Redis 7.2"
    );
}

#[test]
fn strings_match_measured_memory_usage() {
    // MEMORY USAGE k SAMPLES 0 after SET k <value>, key "k" (1 byte) and a 36-byte key,
    // on Redis 6.2.14 (libc), 7.0.15 (system jemalloc) and 7.4.1 (bundled jemalloc).
    let cases: &[(&str, Allocator, [u64; 6], [u64; 6])] = &[
        (
            "6.2.14",
            Allocator::Libc,
            [64, 64, 69, 110, 120, 1080],
            [80, 80, 85, 126, 136, 1096],
        ),
        (
            "7.0.15",
            Allocator::JemallocQuantum16,
            [48, 48, 64, 96, 112, 1072],
            [88, 88, 104, 136, 152, 1112],
        ),
        (
            "7.4.1",
            Allocator::Jemalloc,
            [48, 48, 56, 96, 104, 1072],
            [80, 80, 88, 128, 136, 1104],
        ),
    ];
    let values: [Vec<u8>; 6] = [
        b"5".to_vec(),
        b"123456789012".to_vec(),
        b"abc".to_vec(),
        vec![b'x'; 44],
        vec![b'x'; 45],
        vec![b'x'; 1000],
    ];
    for (v, a, short, long) in cases {
        let m = model(v, *a);
        for (i, val) in values.iter().enumerate() {
            let s = RdbStr::Raw(val);
            assert_eq!(
                m.key_overhead(1) + m.string_object(&s),
                short[i],
                "{v} value {i}"
            );
            assert_eq!(
                m.key_overhead(36) + m.string_object(&s),
                long[i],
                "{v} value {i} long key"
            );
        }
    }
}

#[test]
fn int_encoded_lengths() {
    for i in [
        0i64,
        7,
        -7,
        10,
        99,
        -100,
        12345,
        i32::MIN as i64,
        i64::MIN,
        i64::MAX,
    ] {
        assert_eq!(text_len(&RdbStr::Int(i)), i.to_string().len(), "{i}");
    }
}

#[test]
fn canonical_longs() {
    for ok in [
        "0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "10",
    ] {
        assert!(is_canonical_long(ok.as_bytes()), "{ok}");
    }
    for no in [
        "",
        "-",
        "01",
        "-0",
        "+1",
        "1.0",
        "9223372036854775808",
        " 1",
    ] {
        assert!(!is_canonical_long(no.as_bytes()), "{no}");
    }
}

/// Every key of a real dump gets an estimate, and blob encodings cost their length.
#[test]
fn estimates_every_key_of_a_dump() {
    // A Redis 7.0 dump: a listpack hash {a: 1} under key "h" (RDB type 16).
    let lp: &[u8] = &[0x0c, 0, 0, 0, 0x02, 0, 0x81, b'a', 2, 0x01, 1, 0xff];
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(&[0xfa, 9]);
    file.extend_from_slice(b"redis-ver");
    file.extend_from_slice(&[6]);
    file.extend_from_slice(b"7.0.15");
    file.extend_from_slice(&[0xfe, 0, 16, 1, b'h', lp.len() as u8]);
    file.extend_from_slice(lp);
    file.push(0xff);
    file.extend_from_slice(&crate::rdb::crc64::checksum(&file).to_le_bytes());
    let mut r = RdbReader::new(&file, Checker::new(true)).unwrap();
    let m = MemoryModel::new(r.header(), Some("7.0.15"));
    let mut n = 0;
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Key(k) = rec {
            let key = k.key.to_vec().unwrap();
            // robj + listpack (12 bytes → 16) + key sds (3 → 8) + dictEntry
            assert_eq!(m.estimate(&k, &key).unwrap(), 16 + 16 + 8 + 24);
            n += 1;
        }
    }
    assert_eq!(n, 1);
}

#[test]
fn redis_8_6_keeps_key_and_short_value_in_one_object() {
    // MEMORY USAGE on Redis 8.6.3 (system jemalloc, fresh keys): key length, value
    // length (0 = the integer 5), expiry, measured bytes
    let m = model("8.6.3", Allocator::JemallocQuantum16);
    let cases: &[(usize, usize, bool, u64)] = &[
        (1, 0, false, 32),
        (1, 0, true, 32),
        (14, 0, false, 48),
        (50, 0, false, 80),
        (1, 1, true, 48),
        (1, 40, false, 64),
        (1, 40, true, 80),
        (1, 43, false, 80),
        (31, 5, false, 64),
        (36, 5, false, 80),
        (41, 5, false, 71),
        (32, 20, false, 86),
        (102, 44, false, 176),
    ];
    for &(key_len, value_len, ttl, want) in cases {
        let value = if value_len == 0 {
            b"5".to_vec()
        } else {
            vec![b'v'; value_len]
        };
        let key = vec![b'k'; key_len];
        let rec = KeyRecord {
            offset: 0,
            db: Some(0),
            expire_ms: ttl.then_some(1),
            idle_seconds: None,
            lfu_freq: None,
            key_meta: None,
            info: crate::rdb::types::lookup(0, Dialect::Redis).unwrap(),
            key: RdbStr::Raw(&key),
            value: Value::String(RdbStr::Raw(&value)),
            value_info: Default::default(),
            value_bytes: &[],
        };
        assert_eq!(
            m.estimate(&rec, &key).unwrap(),
            want,
            "key {key_len} value {value_len} ttl {ttl}"
        );
    }
}
