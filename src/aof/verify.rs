//! `rdbkit verify` for AOFs: a single file (plain RESP, or RDB preamble + RESP) and a
//! Redis 7+ multi-part directory or manifest, reported in the RDB report's shape with
//! the AOF figures added (see the README for the fields).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::check::{check_resp, End, RespOutcome, Stats};
use super::manifest::{Manifest, PartType};
use crate::error::Error;
use crate::verify::{verify_bytes, Checksum, DbCounts, ErrorReport, Report, Status};

/// The AOF fields of a report (flattened into it; absent for plain RDB files).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AofInfo {
    /// Offset just after the last complete command outside an open MULTI, as
    /// `redis-check-aof` prints it (for a multi-part AOF: in `ok_up_to_file`).
    pub ok_up_to: u64,
    pub ok_up_to_line: u64,
    pub commands: u64,
    pub histogram: BTreeMap<String, u64>,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub keys_touched: u64,
    pub annotations: u64,
    /// The RDB part of a preamble AOF (or of a multi-part BASE in RDB format).
    pub preamble: Option<Preamble>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok_up_to_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<Part>>,
    /// Files in the directory that the manifest does not list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlisted_files: Option<Vec<String>>,
}

/// Summary of an RDB preamble.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preamble {
    pub rdb_version: Option<u32>,
    pub magic: Option<&'static str>,
    pub status: Status,
    pub keys: u64,
    pub checksum: Option<Checksum>,
    /// Where the RDB ends and the RESP tail starts.
    pub bytes: u64,
}

/// One file of a multi-part AOF.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Part {
    pub file: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// BASE and INCR parts are loaded; HISTORY parts are only checked to exist.
    pub loaded: bool,
    pub status: Status,
    pub bytes: u64,
    pub ok_up_to: u64,
    pub ok_up_to_line: u64,
    pub commands: u64,
    pub histogram: BTreeMap<String, u64>,
    pub dbs: BTreeMap<String, DbCounts>,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub keys_touched: u64,
    pub preamble: Option<Preamble>,
    pub error: Option<ErrorReport>,
}

/// One AOF file checked: its RDB part (if any) and its RESP log.
pub struct FileCheck {
    pub status: Status,
    pub error: Option<ErrorReport>,
    /// The RDB part's own report (preamble or RDB-format BASE).
    pub rdb: Option<Report>,
    pub resp: RespOutcome,
    pub bytes: u64,
}

/// True when `data` starts with an RDB magic (`REDIS` / Valkey 9's `VALKEY`).
pub fn has_rdb_magic(data: &[u8]) -> bool {
    data.len() >= 8 && (data.starts_with(b"REDIS") || data.starts_with(b"VALKEY"))
}

/// Checks one AOF file: the RDB part first when it starts with a magic, then the RESP
/// log after the RDB checksum. `until` locates a point-in-time cut (see `check_resp`).
pub fn check_file(data: &[u8], until: Option<i64>) -> FileCheck {
    let mut start = 0;
    let mut rdb = None;
    if has_rdb_magic(data) {
        let r = verify_bytes("", data);
        if r.status != Status::Ok {
            return FileCheck {
                status: r.status,
                error: r.error.clone(),
                resp: check_resp(&[], 0, None),
                rdb: Some(r),
                bytes: data.len() as u64,
            };
        }
        start = r.parsed_bytes as usize;
        rdb = Some(r);
    }
    let resp = check_resp(data, start, until);
    let (status, error) = match &resp.end {
        End::Clean => (Status::Ok, None),
        End::Truncated(e) => (Status::Truncated, Some(error_report(e))),
        End::Corrupt(e) => (Status::Corrupt, Some(error_report(e))),
        End::OpenMulti(at) => (
            Status::Truncated,
            Some(ErrorReport {
                offset: *at,
                db: None,
                key: None,
                type_name: None,
                reading: Some("a MULTI block"),
                message: "Reached EOF before reading EXEC for MULTI".into(),
                text: format!(
                    "truncated at byte {at}: the input ends inside a MULTI block without its \
                     EXEC (the server drops the open transaction)"
                ),
                keys_before: 0,
                record_offset: None,
            }),
        ),
    };
    FileCheck {
        status,
        error,
        rdb,
        resp,
        bytes: data.len() as u64,
    }
}

/// An AOF error in the report's error shape.
pub fn error_report(e: &Error) -> ErrorReport {
    ErrorReport {
        offset: e.offset(),
        db: None,
        key: None,
        type_name: None,
        reading: e.context().reading,
        message: e.message(),
        text: e.to_string(),
        keys_before: 0,
        record_offset: None,
    }
}

fn preamble(r: &Report) -> Preamble {
    Preamble {
        rdb_version: r.rdb_version,
        magic: r.magic,
        status: r.status,
        keys: r.keys,
        checksum: r.checksum.clone(),
        bytes: r.parsed_bytes,
    }
}

fn dbs_text(dbs: &BTreeMap<u64, DbCounts>) -> BTreeMap<String, DbCounts> {
    dbs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The report of a single-file AOF: the preamble's RDB fields (if any) plus the AOF
/// figures; `dbs` adds the log's key arguments to the RDB's keys per db.
fn file_report(path: &str, fc: &FileCheck) -> Report {
    let mut r = match &fc.rdb {
        Some(rdb) => {
            let mut r = rdb.clone();
            // The RESP tail is not "trailing bytes" here: drop that RDB warning.
            let before = r.warnings.len();
            r.warnings.retain(|w| !w.contains("trailing byte"));
            r.warnings_total -= (before - r.warnings.len()) as u64;
            r.trailing_bytes = 0;
            r
        }
        None => Report::new(path),
    };
    r.path = path.to_string();
    r.format = "aof";
    r.status = fc.status;
    r.error = fc.error.clone();
    r.bytes = fc.bytes;
    let s = &fc.resp.stats;
    r.parsed_bytes = fc.error.as_ref().map_or(fc.bytes, |e| e.offset);
    for (db, c) in &s.dbs {
        let d = r.dbs.entry(db.to_string()).or_default();
        d.keys += c.keys;
        d.expires += c.expires;
    }
    r.aof = Some(AofInfo {
        ok_up_to: fc.resp.ok_up_to,
        ok_up_to_line: fc.resp.ok_up_to_line,
        commands: s.commands,
        histogram: s.histogram.clone(),
        first_ts: s.first_ts,
        last_ts: s.last_ts,
        keys_touched: s.keys_touched,
        annotations: s.annotations,
        preamble: fc.rdb.as_ref().map(preamble),
        ..AofInfo::default()
    });
    r
}

/// Verifies a single-file AOF held in memory.
pub fn verify_aof_bytes(path: &str, data: &[u8]) -> Report {
    file_report(path, &check_file(data, None))
}

/// Where a multi-part AOF lives: its directory and manifest file.
pub struct Layout {
    pub dir: PathBuf,
    pub manifest: PathBuf,
}

/// Finds the manifest of an appendonlydir (the one `*.manifest` file in it), or takes a
/// manifest path as given.
pub fn layout(path: &Path) -> std::io::Result<Layout> {
    if path.is_dir() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "manifest") && p.is_file())
            .collect();
        found.sort();
        return match found.len() {
            1 => Ok(Layout {
                dir: path.to_path_buf(),
                manifest: found.remove(0),
            }),
            n => Err(std::io::Error::other(format!(
                "{}: expected one *.manifest file in the directory, found {n}",
                path.display()
            ))),
        };
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(Layout {
        dir: dir.to_path_buf(),
        manifest: path.to_path_buf(),
    })
}

/// True when the text looks like a manifest, by `redis-check-aof`'s rule: the first line
/// that is not a `#` comment starts with `file`.
pub fn looks_like_manifest(data: &[u8]) -> bool {
    data.split(|&b| b == b'\n')
        .find(|l| !l.starts_with(b"#"))
        .is_some_and(|l| l.starts_with(b"file"))
}

/// Everything a multi-part check found, for the report and for `repair`.
pub struct MultiCheck {
    pub layout: Layout,
    pub manifest: Option<Manifest>,
    /// Parts in manifest order with their checks (`None`: missing or unreadable).
    pub parts: Vec<(super::manifest::Entry, Option<FileCheck>)>,
    pub report: Report,
}

/// Verifies a multi-part AOF (a directory or its manifest).
pub fn verify_multipart(path: &Path, until: Option<i64>) -> MultiCheck {
    let shown = path.display().to_string();
    let mut r = Report::new(&shown);
    r.format = "aof-multipart";
    let fail = |mut r: Report, status: Status, e: ErrorReport, layout: Layout| {
        r.status = status;
        r.error = Some(e);
        r.aof = Some(AofInfo::default());
        MultiCheck {
            layout,
            manifest: None,
            parts: Vec::new(),
            report: r,
        }
    };
    let layout = match layout(path) {
        Ok(l) => l,
        Err(e) => {
            let l = Layout {
                dir: path.to_path_buf(),
                manifest: path.to_path_buf(),
            };
            return fail(r, Status::Unreadable, ErrorReport::io(&e), l);
        }
    };
    let text = match std::fs::read(&layout.manifest) {
        Ok(t) => t,
        Err(e) => return fail(r, Status::Unreadable, ErrorReport::io(&e), layout),
    };
    let manifest = match Manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            let mut er = error_report(&e);
            er.text = format!("manifest {}: {}", layout.manifest.display(), er.text);
            return fail(r, Status::Corrupt, er, layout);
        }
    };
    let mut info = AofInfo::default();
    let mut total = Stats::default();
    let mut parts = Vec::new();
    let mut checks = Vec::new();
    let loaded: Vec<_> = manifest.loaded().cloned().collect();
    if manifest.base().is_none() && !loaded.is_empty() {
        r.warnings_total += 1;
        r.warnings
            .push("the manifest lists no BASE file: only INCR files are loaded".into());
    }
    if loaded.is_empty() {
        let e = Error::corrupt(
            0,
            "the manifest lists no BASE and no INCR file (no AOF to load)",
        );
        r.status = Status::Corrupt;
        r.error = Some(error_report(&e));
    }
    for entry in &manifest.entries {
        let is_loaded = entry.kind != PartType::History;
        let file_path = layout.dir.join(&entry.file);
        let last = loaded.last().is_some_and(|l| l == entry);
        let mut part = Part {
            file: entry.file.clone(),
            seq: entry.seq,
            kind: entry.kind.as_str(),
            loaded: is_loaded,
            status: Status::Ok,
            bytes: 0,
            ok_up_to: 0,
            ok_up_to_line: 1,
            commands: 0,
            histogram: BTreeMap::new(),
            dbs: BTreeMap::new(),
            first_ts: None,
            last_ts: None,
            keys_touched: 0,
            preamble: None,
            error: None,
        };
        let src = match crate::source::Source::open(&file_path, true) {
            Ok(s) => s,
            Err(e) => {
                part.status = Status::Unreadable;
                part.error = Some(ErrorReport::io(&e));
                let msg = format!("listed file {} cannot be read: {e}", entry.file);
                if r.error.is_none() {
                    r.status = Status::Corrupt;
                    r.error = Some(error_report(&Error::corrupt(entry.offset, msg)));
                }
                parts.push(part);
                checks.push((entry.clone(), None));
                continue;
            }
        };
        part.bytes = src.bytes().len() as u64;
        if !is_loaded {
            parts.push(part);
            checks.push((entry.clone(), None));
            continue;
        }
        let fc = check_file(src.bytes(), until);
        part.status = fc.status;
        part.error = fc.error.clone();
        part.ok_up_to = fc.resp.ok_up_to;
        part.ok_up_to_line = fc.resp.ok_up_to_line;
        let s = &fc.resp.stats;
        part.commands = s.commands;
        part.histogram = s.histogram.clone();
        part.dbs = dbs_text(&s.dbs);
        part.first_ts = s.first_ts;
        part.last_ts = s.last_ts;
        part.keys_touched = s.keys_touched;
        part.preamble = fc.rdb.as_ref().map(preamble);
        r.bytes += part.bytes;
        if let Some(rdb) = &fc.rdb {
            r.keys += rdb.keys;
            r.expires += rdb.expires;
            for (db, c) in &rdb.dbs {
                let d = r.dbs.entry(db.clone()).or_default();
                d.keys += c.keys;
                d.expires += c.expires;
            }
            if entry.kind == PartType::Base {
                info.preamble = part.preamble.clone();
                r.rdb_version = rdb.rdb_version;
                r.magic = rdb.magic;
                r.producer = rdb.producer.clone();
                r.ctime = rdb.ctime;
                r.checksum = rdb.checksum.clone();
                r.aux = rdb.aux.clone();
            }
        }
        total.merge(s);
        if r.error.is_none() || info.ok_up_to_file.is_none() {
            info.ok_up_to = part.ok_up_to;
            info.ok_up_to_line = part.ok_up_to_line;
            info.ok_up_to_file = Some(entry.file.clone());
        }
        if let (None, Some(e)) = (&r.error, &fc.error) {
            let mut e = e.clone();
            e.text = format!("{}: {}", entry.file, e.text);
            // Only the last loaded file may be cut short; the server refuses otherwise.
            r.status = match fc.status {
                Status::Truncated if !last => {
                    e.text += " (not the last file: the server refuses to load it)";
                    Status::Corrupt
                }
                s => s,
            };
            r.error = Some(e);
        }
        parts.push(part);
        checks.push((entry.clone(), Some(fc)));
    }
    r.parsed_bytes = r.bytes;
    info.unlisted_files = Some(unlisted(&layout, &manifest));
    for f in info.unlisted_files.iter().flatten() {
        r.warnings_total += 1;
        r.warnings
            .push(format!("{f} is in the directory but not in the manifest"));
    }
    for (db, c) in &total.dbs {
        let d = r.dbs.entry(db.to_string()).or_default();
        d.keys += c.keys;
        d.expires += c.expires;
    }
    info.commands = total.commands;
    info.histogram = total.histogram;
    info.first_ts = total.first_ts;
    info.last_ts = total.last_ts;
    info.keys_touched = total.keys_touched;
    info.annotations = total.annotations;
    info.parts = Some(parts);
    r.aof = Some(info);
    MultiCheck {
        layout,
        manifest: Some(manifest),
        parts: checks,
        report: r,
    }
}

/// Files next to the manifest that it does not list (the manifest itself excluded).
fn unlisted(layout: &Layout, m: &Manifest) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(&layout.dir) else {
        return Vec::new();
    };
    let manifest_name = layout.manifest.file_name();
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| Some(e.file_name().as_os_str()) != manifest_name)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !m.entries.iter().any(|e| &e.file == n))
        .collect();
    v.sort();
    v
}

/// One line for humans: verdict, commands, time span, where the intact part ends.
pub fn human_line(r: &Report, a: &AofInfo) -> String {
    let mut s = format!("{}: {}, {}", r.path, r.status.as_str(), r.format);
    if let Some(p) = &a.preamble {
        s += &format!(
            ", RDB {} preamble with {} keys",
            p.rdb_version.unwrap_or(0),
            p.keys
        );
        match &p.checksum {
            Some(c) if c.ok => s += &format!(" (checksum ok {})", c.computed),
            Some(c) if c.disabled => s += " (checksum disabled)",
            _ => {}
        }
    }
    if let Some(parts) = &a.parts {
        let loaded = parts.iter().filter(|p| p.loaded).count();
        s += &format!(", {loaded} parts loaded of {}", parts.len());
    }
    s += &format!(
        ", {} command{}",
        a.commands,
        if a.commands == 1 { "" } else { "s" }
    );
    let dbs: Vec<String> = crate::verify::sorted_dbs(&r.dbs)
        .iter()
        .map(|(d, _)| format!("db{d}"))
        .collect();
    if !dbs.is_empty() {
        s += &format!(" [{}]", dbs.join(" "));
    }
    if let (Some(f), Some(l)) = (a.first_ts, a.last_ts) {
        s += &format!(
            ", {} .. {}",
            crate::time::format_unix(f),
            crate::time::format_unix(l)
        );
    }
    let file = a
        .ok_up_to_file
        .as_deref()
        .map_or(String::new(), |f| format!(" of {f}"));
    s += &format!(", ok up to byte {}{file}", a.ok_up_to);
    if r.warnings_total > 0 {
        s += &format!(
            ", {} warning{}",
            r.warnings_total,
            if r.warnings_total == 1 { "" } else { "s" }
        );
    }
    s
}
