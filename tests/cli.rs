//! The real binary: verdict lines, JSON shape, exit statuses, stdin.

use crate::support::{rdbkit, testdata};

fn sample() -> String {
    testdata("sample-redis-7.2.rdb").display().to_string()
}

#[test]
fn ok_file_exits_0_with_one_line() {
    let out = rdbkit(&["verify", &sample()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(": ok, RDB 11, redis 7.2.4, created "),
        "{text}"
    );
    assert!(
        text.contains("11 keys (2 with TTL) [db0=10/1 db2=1/1], checksum ok ("),
        "{text}"
    );
}

#[test]
fn json_has_the_documented_fields() {
    let out = rdbkit(&["verify", "--json", &sample()]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "path",
        "format",
        "status",
        "rdb_version",
        "producer",
        "checksum",
        "keys",
        "expires",
        "dbs",
        "aux",
        "error",
    ] {
        assert!(v.get(field).is_some(), "missing {field}: {v}");
    }
    assert_eq!(v["format"], "rdb");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["rdb_version"], 11);
    assert_eq!(v["checksum"]["ok"], true);
    assert_eq!(v["dbs"]["2"]["keys"], 1);
    assert_eq!(v["aux"]["redis-ver"], "7.2.4");
    assert!(v["error"].is_null());
}

#[test]
fn truncated_file_exits_1_with_an_actionable_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(sample()).unwrap();
    // A cut inside a value, so the message names the key.
    let at = (300..data.len())
        .find(|&c| {
            rdbkit::verify::verify_bytes("", &data[..c])
                .error
                .is_some_and(|e| e.key.is_some())
        })
        .unwrap();
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, &data[..at]).unwrap();
    let out = rdbkit(&["verify", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("cut.rdb: truncated"), "{text}");
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(
        text.starts_with("rdbkit: ") && text.contains("cut.rdb: truncated at byte"),
        "{text}"
    );
    assert!(
        text.contains(&format!("truncated at byte {at} while reading ")),
        "{text}"
    );
    assert!(text.contains(" key \""), "{text}");
    assert!(text.contains("expected "), "{text}");
    let out = rdbkit(&["verify", "--json", cut.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "truncated");
    assert_eq!(v["error"]["offset"], at);
    assert!(v["error"]["key"].is_string(), "{v}");
    assert!(v["error"]["keys_before"].as_u64().unwrap() > 0);
    // The input file is never modified.
    assert_eq!(std::fs::read(&cut).unwrap(), &data[..at]);
}

#[test]
fn one_json_line_per_file_and_worst_status_wins() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rdb");
    let mut data = std::fs::read(sample()).unwrap();
    let n = data.len();
    data[n - 3] ^= 0x40;
    std::fs::write(&bad, &data).unwrap();
    let out = rdbkit(&["verify", "--json", &sample(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["status"], "ok");
    assert_eq!(lines[1]["status"], "checksum_mismatch");
    assert_eq!(lines[1]["checksum"]["ok"], false);
}

#[test]
fn unreadable_file_and_usage_errors_exit_2() {
    let out = rdbkit(&["verify", "/nonexistent/dump.rdb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unreadable"));
    assert_eq!(rdbkit(&["verify"]).status.code(), Some(2));
    assert_eq!(rdbkit(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(rdbkit(&["--help"]).status.code(), Some(0));
    let help = String::from_utf8(rdbkit(&["verify", "--help"]).stdout).unwrap();
    assert!(help.contains("Exit status"), "{help}");
}

#[test]
fn stdin_is_streamed() {
    let data = std::fs::read(sample()).unwrap();
    let out = crate::support::rdbkit_stdin(&["verify", "--json", "-"], &data);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["path"], "-");
    assert_eq!(v["keys"], 11);
    assert_eq!(v["checksum"]["ok"], true);
}

#[test]
fn not_an_rdb_is_corrupt_not_a_crash() {
    // (An AOF used to stand in for "not an RDB" here; AOFs are verified since issue 3.)
    let dir = tempfile::tempdir().unwrap();
    let aof = dir.path().join("x.bin");
    std::fs::write(&aof, b"hello world\n").unwrap();
    let out = rdbkit(&["verify", aof.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an RDB file"));
}
