//! `inspect` annotations on real server dumps, `diff` through partition files, and
//! salvage/inspect/verify on the damaged files of the shared corpus.

use std::collections::BTreeSet;

use rdbkit::forensics::inspect;
use serde_json::Value as J;

use crate::servers::{launch, Mode};
use crate::support::server::installed;
use crate::support::{rdbkit, shared_dir};

fn cmd(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn require_servers(names: &[&str]) -> bool {
    let have = installed();
    names.iter().all(|n| have.iter().any(|h| h == n))
}

/// Byte offset of the only occurrence of `needle` in `data`.
fn only(data: &[u8], needle: &str) -> u64 {
    let hits: Vec<usize> = data
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle.as_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} occurs {} times", hits.len());
    hits[0] as u64
}

/// For values placed in known structures by a real server, `inspect` at a byte of the
/// value names the key's record and the field holding it.
fn annotations(name: &str) {
    let mut s = launch(name, Mode::Plain).expect("installed");
    s.pipeline(&[
        cmd(&["SET", "plain", "uncompressible-QZXW-value"]),
        cmd(&["HSET", "h", "f1", "hashvalue-KJHG", "f2", "x"]),
        cmd(&["RPUSH", "l", "a", "listitem-PLMO", "c"]),
        cmd(&["ZADD", "z", "1.5", "zsetmember-TGBY"]),
        cmd(&["SADD", "s", "setmember-WSXC", "other"]),
        cmd(&["XADD", "x", "5-1", "streamfield", "streamvalue-EDCR"]),
        cmd(&["SET", "ttl", "expiring-RFVB", "PXAT", "4102444800000"]),
    ]);
    let data = s.save_and_read();
    let cases = [
        ("uncompressible-QZXW-value", "plain", "value: 25 bytes"),
        ("hashvalue-KJHG", "h", "listpack entry 1: hashvalue-KJHG"),
        ("listitem-PLMO", "l", "listpack entry 1: listitem-PLMO"),
        ("zsetmember-TGBY", "z", "listpack entry 0: zsetmember-TGBY"),
        ("setmember-WSXC", "s", "entry"),
        ("streamvalue-EDCR", "x", ": streamvalue-EDCR"),
        ("expiring-RFVB", "ttl", "value: 13 bytes"),
    ];
    for (needle, key, field) in cases {
        let at = only(&data, needle) + 2;
        let spans = inspect::annotate(&data, at).expect("annotate");
        let labels: Vec<&str> = spans.iter().map(|s| s.label.as_str()).collect();
        assert!(
            labels[0].starts_with(&format!("key record \"{key}\" (db 0"))
                && spans[0].start <= at
                && at < spans[0].end,
            "{name}: {needle}: {spans:?}"
        );
        assert!(
            spans
                .iter()
                .any(|s| s.label.contains(field) && s.start <= at && at < s.end),
            "{name}: {needle}: no {field:?} covering {at} in {spans:?}"
        );
    }
    // The key with a TTL starts with its expiry opcode, named with the time.
    let rec = inspect::annotate(&data, only(&data, "expiring-RFVB")).expect("annotate");
    let start = rec[0].start;
    let at_start = inspect::annotate(&data, start).expect("annotate");
    assert!(
        at_start
            .iter()
            .any(|s| s.label.to_lowercase().contains("expire") && s.label.contains("2100-01-01")),
        "{name}: {at_start:?}"
    );
    // The CLI prints the same labels under the hex dump and exits 0 on an intact file.
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("dump.rdb");
    std::fs::write(&p, &data).expect("write");
    let at = only(&data, "listitem-PLMO").to_string();
    let o = rdbkit(&["inspect", p.to_str().unwrap(), "--offset", &at]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("key record \"l\"") && text.contains("listpack entry 1: listitem-PLMO"),
        "{name}: {text}"
    );
}

#[test]
fn inspect_names_the_record_and_field_at_an_offset() {
    const VERSIONS: [&str; 2] = ["redis-7.2.4", "valkey-9.1.2"];
    crate::require!(require_servers(&VERSIONS), "servers not installed");
    let handles: Vec<_> = VERSIONS
        .iter()
        .map(|v| std::thread::spawn(move || annotations(v)))
        .collect();
    for h in handles {
        h.join().expect("annotations");
    }
}

/// The difference lines of `rdbkit diff --format jsonl`, and its summary object.
fn diff_lines(args: &[&str]) -> (BTreeSet<(u64, String, String)>, J, Option<i32>) {
    let o = rdbkit(args);
    let mut set = BTreeSet::new();
    let mut summary = J::Null;
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let j: J = serde_json::from_str(l).expect("json line");
        if j.get("summary").is_some() {
            summary = j;
        } else {
            set.insert((
                j["db"].as_u64().unwrap(),
                j["key"].as_str().unwrap().to_string(),
                j["change"].as_str().unwrap().to_string(),
            ));
        }
    }
    (set, summary, o.status.code())
}

/// Two dumps of a real server, before and after known changes: `diff` finds exactly
/// those, in memory and through partition files (`--partition-bytes` small), with the
/// same per-db summary, and leaves nothing in its temp directory.
#[test]
fn diff_through_partition_files_finds_the_same_changes() {
    crate::require!(
        require_servers(&["redis-7.2.4"]),
        "redis-7.2.4 not installed"
    );
    let mut s = launch("redis-7.2.4", Mode::Plain).expect("installed");
    crate::forensics::fill(&mut s);
    let a = s.save_and_read();
    s.pipeline(&[
        cmd(&["DEL", "str:3", "list:4"]),
        cmd(&["SET", "brand-new", "1"]),
        cmd(&["HSET", "hash:5", "f0", "changed"]),
        cmd(&["DEL", "str:7"]),
        cmd(&["RPUSH", "str:7", "now-a-list"]),
        cmd(&["PEXPIREAT", "str:10", "4102444900000"]),
        cmd(&["PERSIST", "hash:1"]),
        cmd(&["SELECT", "2"]),
        cmd(&["SET", "db2:4", "other"]),
        cmd(&["SELECT", "0"]),
    ]);
    let b = s.save_and_read();
    let dir = tempfile::tempdir().expect("tmp");
    let (pa, pb) = (dir.path().join("a.rdb"), dir.path().join("b.rdb"));
    std::fs::write(&pa, &a).expect("write");
    std::fs::write(&pb, &b).expect("write");
    let spill = tempfile::tempdir().expect("tmp");
    let expected: BTreeSet<(u64, String, String)> = [
        (0, "str:3", "only_in_a"),
        (0, "list:4", "only_in_a"),
        (0, "brand-new", "only_in_b"),
        (0, "hash:5", "value"),
        (0, "str:7", "type"),
        (0, "str:10", "ttl"),
        (0, "hash:1", "ttl"),
        (2, "db2:4", "value"),
    ]
    .into_iter()
    .map(|(d, k, c)| (d, k.to_string(), c.to_string()))
    .collect();
    let (pa, pb) = (pa.to_str().unwrap(), pb.to_str().unwrap());
    let (mem, mem_summary, code) = diff_lines(&["diff", pa, pb, "--format", "jsonl"]);
    assert_eq!(code, Some(1));
    assert_eq!(mem, expected);
    assert_eq!(mem_summary["summary"]["partitions"], 1);
    let spill_dir = spill.path().to_str().unwrap();
    let partitioned = |a: &str, b: &str| {
        diff_lines(&[
            "diff",
            a,
            b,
            "--format",
            "jsonl",
            "--partition-bytes",
            "4096",
            "--tmp-dir",
            spill_dir,
        ])
    };
    let (part, part_summary, code) = partitioned(pa, pb);
    assert_eq!(code, Some(1));
    assert_eq!(part, expected);
    let n = part_summary["summary"]["partitions"].as_u64().unwrap();
    assert!(n as usize > (a.len() + b.len()) / 4096, "{part_summary}");
    assert_eq!(
        part_summary["summary"]["dbs"], mem_summary["summary"]["dbs"],
        "per-db summary"
    );
    assert_eq!(
        std::fs::read_dir(spill.path()).expect("dir").count(),
        0,
        "partition files left behind"
    );
    let (same, _, code) = partitioned(pa, pa);
    assert_eq!((same.len(), code), (0, Some(0)));
}

/// A damaged corpus file and what salvage must say about it: exit status, keys
/// recovered, checksum verdict, and the first lost span (start, end, error offset).
struct Damaged {
    path: &'static str,
    keys: u64,
    checksum: &'static str,
    lost: Option<(u64, u64, u64)>,
    reason: &'static str,
}

/// The damaged files of `testdata/corpus-verdicts.tsv` (offsets the servers report are
/// in the comments: they count the bytes read, so a bad type or encoding byte at N is
/// reported at N+1, and a value that fails its integrity check at its end).
const DAMAGED: &[Damaged] = &[
    // Server: 'RDB CRC error' at 209 (the end).
    Damaged {
        path: "librdb/invalid_chksum_v8.rdb",
        keys: 3,
        checksum: "mismatch",
        lost: None,
        reason: "",
    },
    // Server: 'Unexpected EOF' at 13.
    Damaged {
        path: "node-rdb-tools/_history/f4f6c19/error_reporting.rdb",
        keys: 0,
        checksum: "not-verified",
        lost: Some((11, 13, 13)),
        reason: "expected 1 more byte",
    },
    // Server: 'Unknown RDB string encoding type 63' at 50.
    Damaged {
        path: "node-rdb-tools/error_reporting.rdb",
        keys: 1,
        checksum: "truncated",
        lost: Some((48, 49, 49)),
        reason: "unknown string encoding 63",
    },
    // Server: 'Hash ziplist integrity check failed' at 494; the keys after it are read.
    Damaged {
        path: "redis-tests/corrupt_ziplist.rdb",
        keys: 53,
        checksum: "absent",
        lost: Some((470, 494, 489)),
        reason: "hash ziplist integrity check failed",
    },
    // Server: refuses the empty zipmap ('Zipmap integrity check failed').
    Damaged {
        path: "redis-tests/_history/891ac86/corrupt_empty_keys.rdb",
        keys: 4,
        checksum: "not-verified",
        lost: Some((187, 268, 201)),
        reason: "empty zipmap",
    },
    // Server: 'Invalid object type: 239' at 10: every byte after the header mangled.
    Damaged {
        path: "redisjson/_history/34f7aaf/files/backward.rdb",
        keys: 0,
        checksum: "not-verified",
        lost: Some((9, 393, 9)),
        reason: "invalid type byte 239",
    },
    // Server: 'Zipmap integrity check failed' at 59.
    Damaged {
        path: "hdt3213-rdb/zipmap_big_len.rdb",
        keys: 0,
        checksum: "absent",
        lost: Some((11, 59, 35)),
        reason: "zipmap header counts 255 pairs",
    },
];

#[test]
fn damaged_corpus_files_salvage_inspect_and_verify() {
    let corpus = shared_dir().join("corpus");
    crate::require!(corpus.is_dir(), "{} missing", corpus.display());
    // Every damaged entry of the verdict table is covered here.
    let table =
        std::fs::read_to_string(crate::support::testdata("corpus-verdicts.tsv")).expect("verdicts");
    let listed: BTreeSet<&str> = table
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (p, v) = (f.next()?, f.next()?);
            (matches!(v, "corrupt" | "checksum_mismatch" | "truncated")
                && !p.ends_with("empty.rdb"))
            .then_some(p)
        })
        .collect();
    let covered: BTreeSet<&str> = DAMAGED.iter().map(|d| d.path).collect();
    assert_eq!(listed, covered);
    for d in DAMAGED {
        let p = corpus.join(d.path);
        let p = p.to_str().unwrap();
        let before = std::fs::read(p).expect("corpus file");
        let o = rdbkit(&["salvage", p, "--json"]);
        assert_eq!(o.status.code(), Some(1), "{}: {o:?}", d.path);
        let r: J = serde_json::from_slice(&o.stdout).expect("report");
        assert_eq!(r["keys_recovered"], d.keys, "{}: {r}", d.path);
        assert_eq!(r["checksum"], d.checksum, "{}: {r}", d.path);
        let lost = r["lost"].as_array().expect("lost");
        let v = rdbkit(&["verify", p]);
        assert_ne!(v.status.code(), Some(0), "{}: verify must not pass", d.path);
        match d.lost {
            None => assert!(lost.is_empty(), "{}: {r}", d.path),
            Some((start, end, error)) => {
                let l = &lost[0];
                assert_eq!(
                    (
                        l["start"].as_u64(),
                        l["end"].as_u64(),
                        l["error_offset"].as_u64()
                    ),
                    (Some(start), Some(end), Some(error)),
                    "{}: {l}",
                    d.path
                );
                assert!(
                    l["reason"].as_str().unwrap().contains(d.reason),
                    "{}: {l}",
                    d.path
                );
                // verify stops at the same byte and says so.
                let verr = String::from_utf8_lossy(&v.stderr);
                assert!(
                    verr.contains(&format!("at byte {error}")),
                    "{}: {verr}",
                    d.path
                );
                // inspect lists the span and annotates its first byte, exit 1.
                let rec = rdbkit(&["inspect", p, "--records", "--json"]);
                let line = String::from_utf8_lossy(&rec.stdout)
                    .lines()
                    .map(|l| serde_json::from_str::<J>(l).expect("json"))
                    .find(|j| j["record"] == "lost")
                    .unwrap_or_else(|| panic!("{}: no lost line", d.path));
                assert_eq!(
                    (line["offset"].as_u64(), line["length"].as_u64()),
                    (Some(start), Some(end - start)),
                    "{}: {line}",
                    d.path
                );
                let at = rdbkit(&["inspect", p, "--offset", &start.to_string()]);
                assert_eq!(at.status.code(), Some(1), "{}: {at:?}", d.path);
                assert!(
                    String::from_utf8_lossy(&at.stdout)
                        .contains(&format!("{start}..{end}: unreadable span")),
                    "{}: {at:?}",
                    d.path
                );
            }
        }
        assert_eq!(
            std::fs::read(p).expect("corpus file"),
            before,
            "input modified"
        );
    }
    // No header, nothing to salvage: exit 2 with the reason.
    let empty = corpus.join("kvrocks/_history/70ca5d2/empty.rdb");
    let o = rdbkit(&["salvage", empty.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("truncated at byte 0"));
}

/// Fuzz finding: a REDIS0009 file whose bytes read as a FUNCTION record made `salvage
/// -o x.rdb` fail (exit 2, no output): the writer cannot put a function library in a
/// version 9 file. Now the record is left out and named, the rest is written, exit 1.
#[test]
fn salvage_leaves_out_what_the_output_version_cannot_hold() {
    let input = crate::support::testdata("regress/salvage-function-in-redis-9.rdb");
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out.rdb");
    let (o, r) = crate::forensics::salvage_json(&input, &out);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let r = r.expect("report");
    let not_written = r["not_written"].as_array().expect("not_written");
    assert_eq!(not_written.len(), 1, "{r}");
    assert!(not_written[0]
        .as_str()
        .unwrap()
        .contains("REDIS version 9 cannot hold function libraries"));
    assert_eq!(r["keys_recovered"], 10, "{r}");
    let v = rdbkit(&["verify", out.to_str().unwrap(), "--json"]);
    assert_eq!(v.status.code(), Some(0), "{v:?}");
    let j: J = serde_json::from_slice(&v.stdout).expect("verify json");
    assert_eq!(j["keys"], 10, "{j}");
}
