//! AOF: the RESP reader, the MULTI/EXEC and truncation rules, the manifest grammar, the
//! corpus AOFs, `verify` and `aof repair` through the binary. Real-server round trips
//! are in `aof_servers`.

use rdbkit::aof::check::{check_resp, End};
use rdbkit::aof::manifest::{split_args, Manifest, PartType};
use rdbkit::aof::verify::{check_file, verify_aof_bytes};
use rdbkit::aof::{timestamp, Item, RespReader};
use rdbkit::verify::Status;

use crate::require;
use crate::support::{rdbkit, shared_dir};

#[path = "aof_servers.rs"]
mod aof_servers;

/// RESP for one command.
pub fn resp(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    v
}

/// A small AOF with a #TS, SELECT, a transaction and a multi-key command, and the
/// offsets where each complete command (outside MULTI) ends.
fn sample() -> (Vec<u8>, Vec<u64>) {
    let mut v = Vec::new();
    let mut ends = vec![0];
    v.extend_from_slice(b"#TS:1700000000\r\n");
    ends.push(v.len() as u64);
    for c in [
        &["SELECT", "0"][..],
        &["SET", "k1", "v1"],
        &["MSET", "a", "1", "b", "2"],
    ] {
        v.extend(resp(c));
        ends.push(v.len() as u64);
    }
    v.extend(resp(&["MULTI"]));
    v.extend(resp(&["INCR", "n"]));
    v.extend(resp(&["EXEC"]));
    ends.push(v.len() as u64);
    v.extend_from_slice(b"#TS:1700000100\r\n");
    ends.push(v.len() as u64);
    v.extend(resp(&["select", "2"]));
    ends.push(v.len() as u64);
    v.extend(resp(&["DEL", "x", "y"]));
    ends.push(v.len() as u64);
    (v, ends)
}

#[test]
fn reader_yields_commands_annotations_offsets_and_borrowed_args() {
    let (data, _) = sample();
    let items: Vec<Item<'_>> = RespReader::new(&data, 0).map(|i| i.unwrap()).collect();
    assert_eq!(items.len(), 10);
    match &items[2] {
        Item::Command(c) => {
            assert_eq!(c.args, vec![&b"SET"[..], b"k1", b"v1"]);
            assert_eq!(
                &data[c.offset as usize..c.end as usize],
                &resp(&["SET", "k1", "v1"])[..]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        items[0],
        Item::Annotation {
            offset: 0,
            text: b"#TS:1700000000"
        }
    ));
    assert_eq!(timestamp(b"#TS:1700000000"), Some(1700000000));
    assert_eq!(timestamp(b"#TS:17x"), None);
}

#[test]
fn verify_counts_commands_dbs_keys_and_timestamps() {
    let (data, _) = sample();
    let r = verify_aof_bytes("x", &data);
    assert_eq!(r.status, Status::Ok);
    let a = r.aof.as_ref().unwrap();
    assert_eq!(a.commands, 8);
    assert_eq!(a.histogram["SELECT"], 2);
    assert_eq!(a.histogram["MULTI"], 1);
    assert_eq!(a.first_ts, Some(1700000000));
    assert_eq!(a.last_ts, Some(1700000100));
    // SET k1, MSET a b, INCR n, DEL x y
    assert_eq!(a.keys_touched, 6);
    assert_eq!(r.dbs["0"].keys, 4);
    assert_eq!(r.dbs["2"].keys, 2);
    assert_eq!(a.ok_up_to, data.len() as u64);
}

#[test]
fn every_prefix_is_truncated_at_the_last_complete_command() {
    let (data, ends) = sample();
    for cut in 0..=data.len() {
        let out = check_resp(&data[..cut], 0, None);
        let expected = *ends.iter().rev().find(|&&e| e <= cut as u64).unwrap();
        // A #TS line cut short is still accepted (the server and redis-check-aof skip it).
        let in_annotation = data[..cut]
            .iter()
            .rposition(|&b| b == b'#')
            .is_some_and(|h| !data[h..cut].contains(&b'\n') && ends.contains(&(h as u64)));
        if in_annotation {
            assert_eq!(out.end, End::Clean, "cut {cut}");
            continue;
        }
        assert_eq!(out.ok_up_to, expected, "cut {cut}");
        if ends.contains(&(cut as u64)) {
            assert_eq!(out.end, End::Clean, "cut {cut}");
        } else {
            assert!(
                matches!(out.end, End::Truncated(_) | End::OpenMulti(_)),
                "cut {cut}: {:?}",
                out.end
            );
        }
    }
}

#[test]
fn multi_rules() {
    let mut open = resp(&["SET", "a", "1"]);
    let at = open.len() as u64;
    open.extend(resp(&["MULTI"]));
    open.extend(resp(&["SET", "b", "2"]));
    let out = check_resp(&open, 0, None);
    assert_eq!(out.end, End::OpenMulti(at));
    assert_eq!(out.ok_up_to, at);
    assert_eq!(out.stats.commands, 1);
    let r = verify_aof_bytes("x", &open);
    assert_eq!(r.status, Status::Truncated);

    let mut nested = resp(&["MULTI"]);
    nested.extend(resp(&["multi"]));
    let out = check_resp(&nested, 0, None);
    assert!(matches!(&out.end, End::Corrupt(e) if e.message().contains("Unexpected MULTI")));
    assert_eq!(out.ok_up_to, 0);

    let mut stray = resp(&["SET", "a", "1"]);
    let at = stray.len() as u64;
    stray.extend(resp(&["EXEC"]));
    let out = check_resp(&stray, 0, None);
    assert!(
        matches!(&out.end, End::Corrupt(e) if e.message().contains("Unexpected EXEC") && e.offset() == at)
    );
    assert_eq!(out.ok_up_to, at);
}

#[test]
fn grammar_errors_are_corrupt_with_offsets() {
    let cases: &[(&[u8], u64)] = &[
        (b"*1\r\n$3\r\nFOO\r\nxyz", 13),
        (b"*1\n$3\nFOO\n", 2),
        (b"*0\r\n", 0),
        (b"*1\r\n$-1\r\n", 4),
        (b"*1\r\n$3\r\nFOOab", 11),
        (b"*1\r\n*3\r\n", 4),
        (b"*x\r\n", 1),
    ];
    for (data, offset) in cases {
        let out = check_resp(data, 0, None);
        match &out.end {
            End::Corrupt(e) => assert_eq!(
                e.offset(),
                *offset,
                "{:?}: {e}",
                String::from_utf8_lossy(data)
            ),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(data)),
        }
    }
}

#[test]
fn hostile_lengths_are_truncations_that_allocate_nothing() {
    for data in [
        &b"*1\r\n$9999999999\r\nabc"[..],
        b"*9223372036854775807\r\n$1\r\na\r\n",
        b"*1\r\n$9223372036854775807\r\n",
    ] {
        let out = check_resp(data, 0, None);
        assert!(matches!(out.end, End::Truncated(_)), "{:?}", out.end);
        assert_eq!(out.ok_up_to, 0);
    }
    let out = check_resp(b"*1\r\n$99999999999999999999\r\n", 0, None);
    assert!(matches!(out.end, End::Corrupt(_)));
}

#[test]
fn manifest_grammar() {
    let m = Manifest::parse(
        b"# comment\nfile appendonly.aof.2.base.rdb seq 2 type b\n\
          file \"my file\\x41.aof\" seq 1 type h\n\
          file appendonly.aof.3.incr.aof seq 3 type i startoffset 0 endoffset 289926 future x\n\
          FILE 'q.aof' SEQ 4 TYPE incr\n",
    )
    .unwrap();
    assert_eq!(m.entries.len(), 4);
    assert_eq!(m.entries[1].file, "my fileA.aof");
    assert_eq!(m.entries[1].kind, PartType::History);
    assert_eq!(m.entries[2].end_offset, Some(289926));
    assert_eq!(m.entries[3].file, "q.aof");
    let loaded: Vec<&str> = m.loaded().map(|e| e.file.as_str()).collect();
    assert_eq!(
        loaded,
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.3.incr.aof",
            "q.aof"
        ]
    );
    // The text we write parses back to the same entries.
    let again = Manifest::parse(m.to_text().as_bytes()).unwrap();
    assert_eq!(again.entries.len(), 4);
    assert_eq!(again.entries[1].file, "my fileA.aof");
    assert_eq!(
        split_args(b"a \"b c\" 'd'").unwrap(),
        vec![b"a".to_vec(), b"b c".to_vec(), b"d".to_vec()]
    );
    assert_eq!(split_args(b"\"open"), None);
    // A NUL ends the line, as in the server's C string (fuzz: was an endless loop).
    assert_eq!(split_args(b"a\0b c").unwrap(), vec![b"a".to_vec()]);
    // Like sdssplitargs: \v is skipped between tokens but belongs to an unquoted one.
    assert_eq!(split_args(b"\x0ba\x0bb").unwrap(), vec![b"a\x0bb".to_vec()]);

    let err = |t: &[u8]| Manifest::parse(t).unwrap_err();
    let e = err(b"file a seq 1 type b\nfile b seq 2 type b\n");
    assert!(
        e.message().contains("duplicate base") && e.offset() == 20,
        "{e}"
    );
    let e = err(b"file a seq 3 type i\nfile b seq 2 type i\n");
    assert!(e.message().contains("non-monotonic"), "{e}");
    assert!(err(b"").message().contains("empty"));
    let long = format!("file {} seq 1 type b\n", "x".repeat(1100));
    assert!(err(long.as_bytes()).message().contains("too long"));
    assert!(err(b"file a seq 1 type b").message().contains("too long"));
    assert!(err(b"\n").message().contains("Invalid"));
    assert!(err(b"file a seq 0 type b\n").message().contains("Invalid"));
    assert!(err(b"file a seq 1\n").message().contains("Invalid"));
    assert!(err(b"file a/b seq 1 type b\n").message().contains("path"));
    assert!(err(b"file a seq 1 type z\n").message().contains("Unknown"));
}

fn corpus_rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(shared_dir().join("corpus/MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
        .filter(|c| c.len() > 11 && c[6].starts_with("AOF"))
        .collect()
}

#[test]
fn corpus_aofs() {
    require!(
        shared_dir().join("corpus/MANIFEST.tsv").exists(),
        "../shared/corpus is missing"
    );
    let rows = corpus_rows();
    assert!(rows.len() >= 20, "{} AOF rows", rows.len());
    for c in &rows {
        let path = shared_dir().join("corpus").join(&c[0]);
        let data = std::fs::read(&path).unwrap();
        let (format, integrity, defect) = (&c[6], &c[10], &c[11]);
        if format == "AOF manifest" {
            let m = Manifest::parse(&data).unwrap_or_else(|e| panic!("{}: {e}", c[0]));
            assert!(m.base().is_some(), "{}", c[0]);
            continue;
        }
        let fc = check_file(&data, None);
        if integrity.contains("LF-only") {
            assert_eq!(fc.status, Status::Corrupt, "{}", c[0]);
            assert_eq!(fc.resp.ok_up_to, 0, "{}", c[0]);
            assert_ne!(defect, "-");
            continue;
        }
        assert_eq!(fc.status, Status::Ok, "{}: {:?}", c[0], fc.error);
        assert_eq!(fc.resp.ok_up_to, data.len() as u64, "{}", c[0]);
        if let Some(n) = c[9]
            .strip_prefix("commands=")
            .and_then(|s| s.split(';').next())
        {
            assert_eq!(fc.resp.stats.commands.to_string(), n, "{}", c[0]);
        }
    }
    // Stated expectations: 54 #TS annotations and 65 commands (redis-replicator).
    let data =
        std::fs::read(shared_dir().join("corpus/replicator/appendonly-with-ts.aof")).unwrap();
    let s = check_resp(&data, 0, None).stats;
    assert_eq!((s.annotations, s.commands), (54, 65));
    let pre = std::fs::read(shared_dir().join("corpus/redis-tests/rdb-preamble.aof")).unwrap();
    let fc = check_file(&pre, None);
    assert_eq!(fc.rdb.as_ref().unwrap().keys, 2);
    assert_eq!(fc.resp.stats.histogram["SET"], 1);
}

#[test]
fn corpus_multipart_dirs_through_the_binary() {
    require!(
        shared_dir().join("corpus").exists(),
        "../shared/corpus is missing"
    );
    let corpus = shared_dir().join("corpus");
    let cases = [
        ("multipart-aof/RU301/Ex-3.2/appendonlydir", "corrupt", 1),
        ("redisshake/appendonlydir", "corrupt", 1),
        (
            "multipart-aof/RU301/Ex-4.1/7006/appendonlydir/appendonly.aof.manifest",
            "ok",
            0,
        ),
        (
            "multipart-aof/keerthanaIAS-redis-analytics/appendonlydir",
            "ok",
            0,
        ),
        (
            "multipart-aof/pixelcaliber-3-node-redis-cluster/appendonlydir",
            "ok",
            0,
        ),
        ("multipart-aof/fred.rs/appendonlydir", "ok", 0),
    ];
    for (p, status, code) in cases {
        let path = corpus.join(p);
        if !path.exists() {
            // some listed dirs only hold a manifest (the base was not committed)
            continue;
        }
        let out = rdbkit(&["verify", "--json", path.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let has_all = v["parts"]
            .as_array()
            .is_some_and(|ps| ps.iter().all(|p| p["status"] != "unreadable"));
        if !has_all {
            assert_eq!(v["status"], "corrupt", "{p}: a listed file is missing");
            continue;
        }
        assert_eq!(v["format"], "aof-multipart", "{p}");
        assert_eq!(v["status"], status, "{p}: {v}");
        assert_eq!(out.status.code(), Some(code), "{p}");
        assert_eq!(v["parts"][0]["type"], "base", "{p}");
        if v["parts"][0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with(".rdb"))
        {
            assert!(
                v["aux"].as_object().is_some_and(|a| !a.is_empty()),
                "{p}: base AUX"
            );
        }
    }
}

#[test]
fn plain_rdb_with_trailing_bytes_stays_an_rdb() {
    let rdb = crate::support::testdata("sample-redis-7.2.rdb");
    require!(rdb.exists(), "testdata sample missing");
    let mut data = std::fs::read(&rdb).unwrap();
    let dir = tempfile::tempdir().unwrap();
    data.push(b'\n');
    let p = dir.path().join("a.rdb");
    std::fs::write(&p, &data).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&rdbkit(&["verify", "--json", p.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(v["format"], "rdb");
    assert!(v.get("ok_up_to").is_none());
    data.pop();
    data.extend(resp(&["SET", "k", "v"]));
    std::fs::write(&p, &data).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&rdbkit(&["verify", "--json", p.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(v["format"], "aof");
    assert_eq!(v["commands"], 1);
    assert_eq!(v["preamble"]["keys"], v["keys"]);
    assert_eq!(v["trailing_bytes"], 0);
}

#[test]
fn repair_single_file_and_until() {
    let (mut data, ends) = sample();
    let full = data.len();
    data.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nz");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.aof");
    std::fs::write(&input, &data).unwrap();
    let out = dir.path().join("out.aof");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let dry = rdbkit(&["aof", "repair", "--dry-run", i]);
    assert_eq!(dry.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("would cut"));
    assert!(!out.exists());
    let r = rdbkit(&["aof", "repair", i, "-o", o]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), &data[..full]);
    assert_eq!(std::fs::read(&input).unwrap(), data, "input untouched");
    // never over an existing file, nor over the input
    assert_eq!(
        rdbkit(&["aof", "repair", i, "-o", o]).status.code(),
        Some(2)
    );
    assert_eq!(
        rdbkit(&["aof", "repair", i, "-o", i]).status.code(),
        Some(2)
    );
    // point in time: before the #TS:1700000100 annotation
    let pit = dir.path().join("pit.aof");
    let r = rdbkit(&[
        "aof",
        "repair",
        i,
        "-o",
        pit.to_str().unwrap(),
        "--until",
        "2023-11-14T22:14:00Z",
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(std::fs::read(&pit).unwrap().len() as u64, ends[5]);
    // corrupt in the middle: not repairable
    let bad = dir.path().join("bad.aof");
    let mut b = resp(&["SET", "a", "1"]);
    b.extend_from_slice(b"garbage");
    b.extend(resp(&["SET", "b", "1"]));
    std::fs::write(&bad, &b).unwrap();
    let r = rdbkit(&[
        "aof",
        "repair",
        bad.to_str().unwrap(),
        "-o",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(!dir.path().join("x").exists());
}

#[test]
fn until_cut_never_splits_a_transaction() {
    let mut data = resp(&["SET", "a", "1"]);
    let multi_at = data.len() as u64;
    data.extend(resp(&["MULTI"]));
    data.extend_from_slice(b"#TS:500\r\n");
    data.extend(resp(&["SET", "b", "1"]));
    data.extend(resp(&["EXEC"]));
    let out = check_resp(&data, 0, Some(100));
    assert_eq!(out.until_cut, Some(multi_at));
    assert_eq!(out.end, End::Clean);
    // A missing -o is a usage error unless --dry-run.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.aof");
    std::fs::write(&p, &data).unwrap();
    assert_eq!(
        rdbkit(&["aof", "repair", p.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    let dry = rdbkit(&[
        "aof",
        "repair",
        "--dry-run",
        "--until",
        "100",
        p.to_str().unwrap(),
    ]);
    assert_eq!(dry.status.code(), Some(0));
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains(&format!("-> {multi_at} bytes")) && text.contains("3 complete commands"),
        "{text}"
    );
}

#[test]
fn until_accepts_unix_seconds_and_rfc3339() {
    use rdbkit::cli::parse_time;
    assert_eq!(parse_time("1700000000"), Ok(1700000000));
    assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1700000000));
    assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Ok(1700000000));
    assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Ok(1700000000));
    assert!(parse_time("yesterday").is_err());
}

/// A hand-made appendonlydir: RESP base, a history file, two INCRs, one unlisted file.
fn multipart_dir(root: &std::path::Path) -> std::path::PathBuf {
    let dir = root.join("appendonlydir");
    std::fs::create_dir(&dir).unwrap();
    let w = |n: &str, b: &[u8]| std::fs::write(dir.join(n), b).unwrap();
    let mut base = b"#TS:1000\r\n".to_vec();
    base.extend(resp(&["SET", "base", "1"]));
    w("my aof.1.base.aof", &base);
    w("my aof.1.incr.aof", &resp(&["SET", "old", "1"]));
    let mut i2 = b"#TS:1001\r\n".to_vec();
    i2.extend(resp(&["SET", "a", "1"]));
    i2.extend(b"#TS:2000\r\n");
    i2.extend(resp(&["SET", "b", "1"]));
    w("my aof.2.incr.aof", &i2);
    let mut i3 = b"#TS:3000\r\n".to_vec();
    i3.extend(resp(&["SELECT", "3"]));
    i3.extend(resp(&["SET", "c", "1"]));
    w("my aof.3.incr.aof", &i3);
    w("stray.aof", b"");
    w(
        "my aof.manifest",
        b"file \"my aof.1.base.aof\" seq 1 type b\nfile \"my aof.1.incr.aof\" seq 1 type h\n\
          file \"my aof.2.incr.aof\" seq 2 type i\nfile \"my aof.3.incr.aof\" seq 3 type i\n",
    );
    dir
}

#[test]
fn multipart_chain_history_unlisted_missing_and_until() {
    use rdbkit::aof::verify::verify_multipart;
    let tmp = tempfile::tempdir().unwrap();
    let dir = multipart_dir(tmp.path());
    let r = verify_multipart(&dir, None).report;
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let a = r.aof.as_ref().unwrap();
    let parts = a.parts.as_ref().unwrap();
    assert_eq!(parts.len(), 4);
    assert_eq!((parts[1].kind, parts[1].loaded), ("history", false));
    assert_eq!(parts[1].commands, 0);
    assert_eq!(a.commands, 5);
    assert_eq!((a.first_ts, a.last_ts), (Some(1000), Some(3000)));
    assert_eq!(
        a.unlisted_files.as_deref(),
        Some(&["stray.aof".to_string()][..])
    );
    assert!(r.dbs.contains_key("3"));
    // JSON through the binary, via the manifest path
    let m = dir.join("my aof.manifest");
    let out = rdbkit(&["verify", "--json", m.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "aof-multipart");
    assert_eq!(v["parts"][2]["type"], "incr");
    assert_eq!(out.status.code(), Some(0));

    // Point in time inside the second INCR: the third is left out, the manifest rewritten.
    let out_dir = tmp.path().join("pit");
    let o = rdbkit(&[
        "aof",
        "repair",
        dir.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
        "--until",
        "1500",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("my aof.3.incr.aof: left out"), "{text}");
    let r2 = verify_multipart(&out_dir, None).report;
    assert_eq!(r2.status, Status::Ok, "{:?}", r2.error);
    assert_eq!(r2.aof.as_ref().unwrap().commands, 2);
    let manifest = std::fs::read_to_string(out_dir.join("my aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file \"my aof.1.base.aof\" seq 1 type b\nfile \"my aof.2.incr.aof\" seq 2 type i\n"
    );
    // Never into the input directory.
    let inside = dir.join("out");
    let o = rdbkit(&[
        "aof",
        "repair",
        dir.to_str().unwrap(),
        "-o",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!inside.exists());

    // A truncated INCR that is not the last one: the server refuses; so do we.
    let i2 = dir.join("my aof.2.incr.aof");
    let full = std::fs::read(&i2).unwrap();
    std::fs::write(&i2, &full[..full.len() - 3]).unwrap();
    let r = verify_multipart(&dir, None).report;
    assert_eq!(r.status, Status::Corrupt);
    assert!(r.error.as_ref().unwrap().text.contains("not the last file"));
    let o = rdbkit(&[
        "aof",
        "repair",
        dir.to_str().unwrap(),
        "-o",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    std::fs::write(&i2, &full).unwrap();

    // A listed file missing: corrupt, exit 1.
    std::fs::remove_file(dir.join("my aof.3.incr.aof")).unwrap();
    let out = rdbkit(&["verify", "--json", dir.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "corrupt");
    assert_eq!(v["parts"][3]["status"], "unreadable");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn resp_aof_on_stdin() {
    let (data, _) = sample();
    let out = crate::support::rdbkit_stdin(&["verify", "--json", "-"], &data[..data.len() - 2]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["format"].as_str(), v["status"].as_str()),
        (Some("aof"), Some("truncated"))
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn preamble_checksum_mismatch() {
    let rdb = crate::support::testdata("sample-redis-7.2.rdb");
    require!(rdb.exists(), "testdata sample missing");
    let mut data = std::fs::read(&rdb).unwrap();
    let n = data.len();
    data[n - 1] ^= 0xff;
    data.extend(resp(&["SET", "k", "v"]));
    let fc = check_file(&data, None);
    assert_eq!(fc.status, Status::ChecksumMismatch);
}
