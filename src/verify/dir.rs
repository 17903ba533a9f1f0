//! `rdbkit verify DIR`: finds the backups in a directory by content, and judges how fresh
//! the newest good one is.
//!
//! Files are recognised by their first bytes, not their names: backups get renamed
//! (`dump-2024-02-01.rdb.bak`), and a foreign file must be listed, never skipped silently.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{sidecar, Report, Status};
use crate::aof::verify::{has_rdb_magic, layout, looks_like_manifest};

/// What the walk found at one path.
#[derive(Debug)]
pub enum Found {
    /// An RDB, an AOF, a manifest or an appendonlydir: to verify.
    Backup(PathBuf),
    /// Readable, but not a Redis persistence file.
    Unrecognised(PathBuf),
    /// Could not be opened or listed.
    Unreadable(PathBuf, std::io::Error),
}

/// True for a directory holding exactly one `*.manifest` (a multi-part AOF).
pub fn is_appendonlydir(path: &Path) -> bool {
    path.is_dir() && layout(path).is_ok()
}

/// Lists the backups under `dir` in name order; subdirectories are entered only when
/// `recursive` (their count is returned so the caller can say so). Sidecars are left out:
/// they belong to the file they describe. An appendonlydir is one entry, not its parts.
pub fn walk(dir: &Path, recursive: bool) -> std::io::Result<(Vec<Found>, u64)> {
    let mut found = Vec::new();
    let mut skipped_dirs = 0;
    walk_into(dir, recursive, &mut found, &mut skipped_dirs)?;
    Ok((found, skipped_dirs))
}

fn walk_into(
    dir: &Path,
    recursive: bool,
    found: &mut Vec<Found>,
    skipped_dirs: &mut u64,
) -> std::io::Result<()> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        match entry {
            Ok(e) => paths.push(e.path()),
            Err(e) => found.push(Found::Unreadable(dir.to_path_buf(), e)),
        }
    }
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if is_appendonlydir(&path) {
                found.push(Found::Backup(path));
            } else if recursive {
                if let Err(e) = walk_into(&path, recursive, found, skipped_dirs) {
                    found.push(Found::Unreadable(path, e));
                }
            } else {
                *skipped_dirs += 1;
            }
        } else if !sidecar::is_sidecar(&path) {
            found.push(classify(path));
        }
    }
    Ok(())
}

/// Recognises a file by its first bytes: an RDB magic, a RESP command (`*3\r\n`), an AOF
/// timestamp annotation (`#TS:`), or a manifest. A file named `*.rdb` or `*.aof`, or
/// shorter than a magic and starting like one, is a backup whatever it holds: an empty
/// or cut-off dump must show up as a broken backup, not as a stray file.
fn classify(path: PathBuf) -> Found {
    let mut head = [0u8; 512];
    let read = std::fs::File::open(&path).and_then(|mut f| {
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                m => n += m,
            }
        }
        Ok(n)
    });
    let n = match read {
        Ok(n) => n,
        Err(e) => return Found::Unreadable(path, e),
    };
    let head = &head[..n];
    let resp = matches!(head, [b'*', b'0'..=b'9', ..]) || head.starts_with(b"#TS:");
    let named = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("rdb") || e.eq_ignore_ascii_case("aof"));
    let cut_magic = !head.is_empty()
        && head.len() < 9
        && (b"REDIS".starts_with(head)
            || b"VALKEY".starts_with(head)
            || head.starts_with(b"REDIS")
            || head.starts_with(b"VALKEY"));
    if has_rdb_magic(head) || resp || looks_like_manifest(head) || named || cut_magic {
        Found::Backup(path)
    } else {
        Found::Unrecognised(path)
    }
}

/// The report for a file that is not a backup, so it shows up in every listing.
pub fn unrecognised_report(path: &Path) -> Report {
    let mut r = Report::new(&path.display().to_string());
    r.format = "unknown";
    r.status = Status::Unrecognised;
    r.bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    r
}

/// The report for a path that could not be read at all.
pub fn unreadable_report(path: &Path, e: &std::io::Error) -> Report {
    let mut r = Report::new(&path.display().to_string());
    r.format = "unknown";
    r.status = Status::Unreadable;
    r.error = Some(super::ErrorReport::io(e));
    r
}

/// When a backup was taken, and how we know.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Taken {
    pub path: String,
    /// Unix seconds.
    pub created: i64,
    /// `ctime` (the RDB's AUX field, set by the server at SAVE) or `mtime` (the file's,
    /// or the newest part's of an appendonlydir).
    pub source: &'static str,
}

/// An RDB's `ctime` AUX field; for an AOF (appended to after its preamble was written),
/// or a file without `ctime`, the newest modification time.
pub fn taken(path: &Path, r: &Report) -> Option<Taken> {
    let shown = r.path.clone();
    if r.format == "rdb" {
        if let Some(t) = r.ctime {
            return Some(Taken {
                path: shown,
                created: t,
                source: "ctime",
            });
        }
    }
    newest_mtime(path).map(|t| Taken {
        path: shown,
        created: t,
        source: "mtime",
    })
}

fn newest_mtime(path: &Path) -> Option<i64> {
    let secs = |m: std::fs::Metadata| {
        m.modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs() as i64)
    };
    if path.is_dir() {
        std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| secs(e.ok()?.metadata().ok()?))
            .max()
    } else {
        secs(std::fs::metadata(path).ok()?)
    }
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `90m`, `26h`, `7d`, `2w`, `30s` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit, like 90m, 26h or 7d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ))
        }
    };
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?}: too long"))
}

/// `2d 3h`, `5h 12m`, `4m 10s`, `12s`: two units are enough to judge staleness.
pub fn format_age(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {}s", s % 60)
    } else {
        format!("{s}s")
    }
}

/// The `--json` summary object printed after the per-file objects.
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    /// Files and appendonlydirs listed (backups, unrecognised and unreadable alike).
    pub files: u64,
    pub ok: u64,
    /// Verified and found wanting (truncated, corrupt, sidecar mismatch, does not load...).
    pub not_ok: u64,
    pub unrecognised: u64,
    pub unreadable: u64,
    /// Subdirectories not searched (no `--recursive`).
    pub skipped_dirs: u64,
    /// The most recently taken backup that verified ok.
    pub newest_ok: Option<Taken>,
    /// Seconds between `newest_ok.created` and now.
    pub newest_ok_age: Option<i64>,
    /// `--newest-within`: the limit as given, in seconds, and whether it was met.
    pub newest_within: Option<Freshness>,
}

#[derive(Debug, serde::Serialize)]
pub struct Freshness {
    pub limit: String,
    pub limit_seconds: u64,
    pub ok: bool,
}

impl Summary {
    /// `ok[i]`: report i passed every check asked for (not just its own status).
    pub fn new(reports: &[Report], ok: &[bool], taken: &[Option<Taken>], now: i64) -> Self {
        let mut s = Summary {
            files: reports.len() as u64,
            ok: 0,
            not_ok: 0,
            unrecognised: 0,
            unreadable: 0,
            skipped_dirs: 0,
            newest_ok: None,
            newest_ok_age: None,
            newest_within: None,
        };
        for ((r, &good), t) in reports.iter().zip(ok).zip(taken) {
            match r.status {
                Status::Unrecognised => s.unrecognised += 1,
                Status::Unreadable => s.unreadable += 1,
                _ if good => {
                    s.ok += 1;
                    if let Some(t) = t {
                        if s.newest_ok.as_ref().is_none_or(|n| t.created > n.created) {
                            s.newest_ok = Some(t.clone());
                        }
                    }
                }
                _ => s.not_ok += 1,
            }
        }
        s.newest_ok_age = s.newest_ok.as_ref().map(|t| now - t.created);
        s
    }

    /// Records the `--newest-within` verdict; `Err` is the sentence to print when stale.
    pub fn check_newest_within(&mut self, limit: &str, seconds: u64) -> Result<(), String> {
        let verdict = match (&self.newest_ok, self.newest_ok_age) {
            (Some(t), Some(age)) if age > seconds as i64 => Err(format!(
                "newest good backup is {} old (created {}, {}), older than {limit}",
                format_age(age),
                crate::time::format_unix(t.created),
                t.path
            )),
            (Some(_), _) => Ok(()),
            _ => Err(format!("no good backup at all, none within {limit}")),
        };
        self.newest_within = Some(Freshness {
            limit: limit.to_string(),
            limit_seconds: seconds,
            ok: verdict.is_ok(),
        });
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_the_rest() {
        assert_eq!(parse_duration("26h"), Ok(Duration::from_secs(26 * 3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("-3h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("18446744073709551615w").is_err());
    }

    #[test]
    fn ages_read_in_two_units() {
        assert_eq!(format_age(12), "12s");
        assert_eq!(format_age(250), "4m 10s");
        assert_eq!(format_age(5 * 3600 + 12 * 60 + 3), "5h 12m");
        assert_eq!(format_age(2 * 86400 + 3 * 3600 + 59), "2d 3h");
        assert_eq!(format_age(-5), "0s");
    }

    #[test]
    fn files_are_recognised_by_content_and_sidecars_and_aof_parts_are_not_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("a.bak"), b"REDIS0011\xfa").unwrap();
        std::fs::write(d.join("b.aof"), b"*2\r\n$6\r\nSELECT\r\n").unwrap();
        std::fs::write(d.join("c.txt"), b"hello").unwrap();
        std::fs::write(d.join("a.bak.rdbkit.json"), b"{}").unwrap();
        std::fs::write(d.join("empty"), b"").unwrap();
        std::fs::write(d.join("empty.rdb"), b"").unwrap();
        std::fs::write(d.join("short"), b"REDIS0").unwrap();
        let aof = d.join("appendonlydir");
        std::fs::create_dir(&aof).unwrap();
        std::fs::write(
            aof.join("x.aof.manifest"),
            b"file x.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        std::fs::write(aof.join("x.aof.1.incr.aof"), b"*1\r\n$4\r\nPING\r\n").unwrap();
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("dump.rdb"), b"REDIS0009\xff").unwrap();

        let names = |found: &[Found]| -> Vec<String> {
            found
                .iter()
                .map(|f| match f {
                    Found::Backup(p) => format!("backup {}", p.strip_prefix(d).unwrap().display()),
                    Found::Unrecognised(p) => {
                        format!("unrecognised {}", p.strip_prefix(d).unwrap().display())
                    }
                    Found::Unreadable(p, _) => format!("unreadable {}", p.display()),
                })
                .collect()
        };
        let (found, skipped) = walk(d, false).unwrap();
        assert_eq!(
            names(&found),
            [
                "backup a.bak",
                "backup appendonlydir",
                "backup b.aof",
                "unrecognised c.txt",
                "unrecognised empty",
                "backup empty.rdb",
                "backup short"
            ]
        );
        assert_eq!(skipped, 1);
        let (found, skipped) = walk(d, true).unwrap();
        assert_eq!(found.len(), 8);
        assert_eq!(names(&found)[7], "backup sub/dump.rdb");
        assert_eq!(skipped, 0);
        assert!(is_appendonlydir(&aof));
        assert!(!is_appendonlydir(&sub));
    }
}
