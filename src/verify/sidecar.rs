//! Sidecar manifests: `PATH.rdbkit.json` records what a verified backup looked like
//! (SHA-256, size, counts, producer), so a later check catches bit rot, a partial copy
//! or a swapped file even when the file on its own still parses. Schema in the README.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{DbCounts, Report};

/// Bumped when a field changes meaning; readers refuse other schemas.
pub const SCHEMA: u32 = 1;

/// Appended to the verified path's file name.
pub const SUFFIX: &str = ".rdbkit.json";

/// One hashed file (the file itself, or each part of an appendonlydir).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The sidecar's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub schema: u32,
    /// File name of the verified file or appendonlydir (the sidecar sits next to it).
    pub file: String,
    /// Total bytes (all parts for a directory).
    pub size: u64,
    /// SHA-256 of the file; for a directory, of the `files` list (name, size, sha256 lines).
    pub sha256: String,
    /// Every file of an appendonlydir, by name; one entry for a plain file.
    pub files: Vec<FileHash>,
    pub verdict: String,
    pub format: String,
    pub rdb_version: Option<u32>,
    pub producer: Option<String>,
    /// Unix seconds from the `ctime` AUX field.
    pub ctime: Option<i64>,
    /// Bytes from the `used-mem` AUX field.
    pub used_mem: Option<u64>,
    /// `ok`, `disabled` (stored 0), `mismatch` or `absent` (RDB < 5, AOF).
    pub checksum: String,
    pub keys: u64,
    pub expires: u64,
    pub dbs: BTreeMap<String, DbCounts>,
    pub types: BTreeMap<String, u64>,
    /// When the file was checked (Unix seconds, and as text).
    pub checked_at: i64,
    pub checked_at_text: String,
    pub rdbkit_version: String,
}

/// What `--sidecar` or `--check-sidecar` did, added to the file's report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SidecarOutcome {
    /// `written`, `checked`, or `not_written`.
    pub action: &'static str,
    pub path: String,
    pub ok: bool,
    /// What differs or failed, one sentence each; empty when ok.
    pub problems: Vec<String>,
    /// The sidecar could not be read or written at all (exit status 2, not 1).
    #[serde(skip)]
    pub io_error: bool,
}

impl SidecarOutcome {
    /// An outcome that is not ok until the work succeeds.
    fn failing(action: &'static str, sidecar: &Path) -> Self {
        SidecarOutcome {
            action,
            path: sidecar.display().to_string(),
            ok: false,
            problems: Vec::new(),
            io_error: false,
        }
    }
}

/// `dump.rdb` → `dump.rdb.rdbkit.json` (`appendonlydir/` → `appendonlydir.rdbkit.json`).
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    // `dir/` and `dir` name the same sidecar.
    let trimmed = s.to_string_lossy().trim_end_matches('/').to_string();
    if !trimmed.is_empty() && trimmed.len() != s.len() {
        s = trimmed.into();
    }
    s.push(SUFFIX);
    PathBuf::from(s)
}

/// True for a file this module writes (recognised, not foreign, in a backup directory).
pub fn is_sidecar(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(SUFFIX))
}

/// Hashes a file or every file of a directory (sorted by name), reading through a map.
pub fn hash_path(path: &Path, mmap: bool) -> std::io::Result<Vec<FileHash>> {
    let one = |p: &Path, name: String| -> std::io::Result<FileHash> {
        let src = crate::source::Source::open(p, mmap)?;
        let data = src.bytes();
        Ok(FileHash {
            name,
            size: data.len() as u64,
            sha256: hex(&Sha256::digest(data)),
        })
    };
    if path.is_dir() {
        let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        names.sort();
        names.into_iter().map(|(n, p)| one(&p, n)).collect()
    } else {
        Ok(vec![one(path, file_name(path))?])
    }
}

fn file_name(path: &Path) -> String {
    Path::new(path.to_string_lossy().trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The whole-content hash: the file's own, or one over the parts list of a directory.
fn overall_sha256(files: &[FileHash], is_dir: bool) -> String {
    match files {
        [one] if !is_dir => one.sha256.clone(),
        _ => {
            let mut h = Sha256::new();
            for f in files {
                h.update(format!("{} {} {}\n", f.name, f.size, f.sha256).as_bytes());
            }
            hex(&h.finalize())
        }
    }
}

fn checksum_state(r: &Report) -> &'static str {
    match &r.checksum {
        Some(c) if c.disabled => "disabled",
        Some(c) if c.ok => "ok",
        Some(_) => "mismatch",
        None => "absent",
    }
}

/// The sidecar describing `report` and its hashed files.
pub fn build(path: &Path, report: &Report, files: Vec<FileHash>, now: i64) -> Sidecar {
    let is_dir = path.is_dir();
    Sidecar {
        schema: SCHEMA,
        file: file_name(path),
        size: files.iter().map(|f| f.size).sum(),
        sha256: overall_sha256(&files, is_dir),
        files,
        verdict: report.status.as_str().to_string(),
        format: report.format.to_string(),
        rdb_version: report.rdb_version,
        producer: report.producer.clone(),
        ctime: report.ctime,
        used_mem: report.aux.get("used-mem").and_then(|v| v.parse().ok()),
        checksum: checksum_state(report).to_string(),
        keys: report.keys,
        expires: report.expires,
        dbs: report.dbs.clone(),
        types: report.types.clone(),
        checked_at: now,
        checked_at_text: crate::time::format_unix(now),
        rdbkit_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Writes the sidecar atomically (temp file, then a link that fails if the target
/// exists, or a rename with `force`).
pub fn write(target: &Path, sidecar: &Sidecar, force: bool) -> std::io::Result<()> {
    if !force && target.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists (use --force to replace it)",
        ));
    }
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".rdbkit-sidecar-")
        .tempfile_in(dir)?;
    serde_json::to_writer_pretty(&mut tmp, sidecar).map_err(std::io::Error::other)?;
    tmp.write_all(b"\n")?;
    // tempfile creates 0600; a sidecar is as readable as any other file written here.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    if force {
        tmp.persist(target).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(target).map_err(|e| e.error)?;
    }
    Ok(())
}

/// Reads and parses a sidecar.
pub fn read(target: &Path) -> Result<Sidecar, String> {
    let text = std::fs::read(target).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no sidecar (write one with --sidecar)".to_string(),
        _ => format!("cannot read: {e}"),
    })?;
    #[derive(Deserialize)]
    struct Version {
        schema: u32,
    }
    match serde_json::from_slice::<Version>(&text) {
        Ok(v) if v.schema != SCHEMA => {
            return Err(format!(
                "schema {} is not supported (this rdbkit reads schema {SCHEMA})",
                v.schema
            ))
        }
        Ok(_) => {}
        Err(e) => return Err(format!("not an rdbkit sidecar: {e}")),
    }
    serde_json::from_slice(&text).map_err(|e| format!("not an rdbkit sidecar: {e}"))
}

/// Every difference between what the sidecar recorded and what the file is now.
pub fn compare(was: &Sidecar, now: &Sidecar) -> Vec<String> {
    let mut p = Vec::new();
    if was.size != now.size {
        p.push(format!(
            "size changed from {} to {} bytes{}",
            was.size,
            now.size,
            if now.size < was.size {
                " (partial copy?)"
            } else {
                ""
            }
        ));
    }
    if was.sha256 != now.sha256 {
        p.push(format!(
            "sha256 changed from {} to {} (bit rot, partial copy or a different file)",
            was.sha256, now.sha256
        ));
        let old: BTreeMap<&str, &FileHash> =
            was.files.iter().map(|f| (f.name.as_str(), f)).collect();
        let new: BTreeMap<&str, &FileHash> =
            now.files.iter().map(|f| (f.name.as_str(), f)).collect();
        if was.files.len() > 1 || now.files.len() > 1 {
            for (name, f) in &old {
                match new.get(name) {
                    None => p.push(format!("part {name} is missing")),
                    Some(g) if g.sha256 != f.sha256 => p.push(format!("part {name} changed")),
                    _ => {}
                }
            }
            for name in new.keys().filter(|n| !old.contains_key(*n)) {
                p.push(format!("part {name} is new"));
            }
        }
    }
    if was.verdict != now.verdict {
        p.push(format!("verdict was {}, now {}", was.verdict, now.verdict));
    }
    let mut differs = |what: &str, a: String, b: String| {
        if a != b {
            p.push(format!("{what} changed from {a} to {b}"));
        }
    };
    differs("format", was.format.clone(), now.format.clone());
    differs(
        "RDB version",
        format!("{:?}", was.rdb_version),
        format!("{:?}", now.rdb_version),
    );
    differs("key count", was.keys.to_string(), now.keys.to_string());
    differs(
        "TTL count",
        was.expires.to_string(),
        now.expires.to_string(),
    );
    differs("per-db counts", dbs_text(&was.dbs), dbs_text(&now.dbs));
    differs(
        "per-type counts",
        map_text(&was.types),
        map_text(&now.types),
    );
    differs("checksum", was.checksum.clone(), now.checksum.clone());
    p
}

fn dbs_text(dbs: &BTreeMap<String, DbCounts>) -> String {
    let parts: Vec<String> = super::sorted_dbs(dbs)
        .iter()
        .map(|(d, c)| format!("db{d}={}/{}", c.keys, c.expires))
        .collect();
    format!("[{}]", parts.join(" "))
}

fn map_text(m: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("[{}]", parts.join(" "))
}

/// Verifies `path` and hashes it at the same time (two threads over the same mapped
/// bytes, so the hash costs no second pass in wall time).
pub fn verify_and_hash(
    path: &Path,
    opts: &super::Options,
    verify: impl FnOnce() -> Report + Send,
) -> (Report, std::io::Result<Vec<FileHash>>) {
    let (report, files) = rayon::join(verify, || hash_path(path, opts.mmap));
    (report, files)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `--sidecar`: writes `PATH.rdbkit.json` for a file that verified ok.
pub fn write_for(
    path: &Path,
    report: &Report,
    files: std::io::Result<Vec<FileHash>>,
    force: bool,
) -> SidecarOutcome {
    let target = sidecar_path(path);
    let mut out = SidecarOutcome::failing("not_written", &target);
    if !report.is_ok() {
        out.problems.push(format!(
            "not written: the file is {}, a sidecar must describe a good backup",
            report.status.as_str()
        ));
        return out;
    }
    let files = match files {
        Ok(f) => f,
        Err(e) => {
            out.problems.push(format!("cannot hash: {e}"));
            out.io_error = true;
            return out;
        }
    };
    match write(&target, &build(path, report, files, now_unix()), force) {
        Ok(()) => {
            out.action = "written";
            out.ok = true;
        }
        Err(e) => {
            out.problems.push(format!("not written: {e}"));
            out.io_error = true;
        }
    }
    out
}

/// `--check-sidecar`: compares the file as it is now with its sidecar.
pub fn check_for(
    path: &Path,
    report: &Report,
    files: std::io::Result<Vec<FileHash>>,
) -> SidecarOutcome {
    let target = sidecar_path(path);
    let mut out = SidecarOutcome::failing("checked", &target);
    let was = match read(&target) {
        Ok(s) => s,
        Err(e) => {
            out.problems.push(e);
            return out;
        }
    };
    let files = match files {
        Ok(f) => f,
        Err(e) => {
            out.problems.push(format!("cannot hash: {e}"));
            out.io_error = true;
            return out;
        }
    };
    let now = build(path, report, files, now_unix());
    out.problems = compare(&was, &now);
    out.ok = out.problems.is_empty();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_path_appends_the_suffix() {
        assert_eq!(
            sidecar_path(Path::new("/b/dump.rdb")),
            PathBuf::from("/b/dump.rdb.rdbkit.json")
        );
        assert_eq!(
            sidecar_path(Path::new("b/appendonlydir/")),
            PathBuf::from("b/appendonlydir.rdbkit.json")
        );
        assert!(is_sidecar(Path::new("x/dump.rdb.rdbkit.json")));
        assert!(!is_sidecar(Path::new("x/dump.rdb")));
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn write_refuses_to_overwrite_and_compare_names_changes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("dump.rdb");
        std::fs::write(&data, b"REDIS0011\xff").unwrap();
        let mut r = Report::new("dump.rdb");
        r.keys = 3;
        let files = hash_path(&data, true).unwrap();
        let s = build(&data, &r, files, 0);
        let target = sidecar_path(&data);
        write(&target, &s, false).unwrap();
        let e = write(&target, &s, false).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        write(&target, &s, true).unwrap();
        assert_eq!(read(&target).unwrap(), s);
        let mut other = s.clone();
        other.keys = 2;
        other.size = 5;
        other.sha256 = "00".into();
        let p = compare(&s, &other);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("partial copy"), "{p:?}");
        assert!(p[1].starts_with("sha256 changed"), "{p:?}");
        assert!(p[2].contains("key count changed from 3 to 2"), "{p:?}");
    }
}
