//! `rdbkit aof repair`: writes a loadable copy of an AOF cut at the end of the last
//! complete command (what `redis-check-aof --fix` does in place), or before the first
//! `#TS` later than a point in time. The input is only ever read; the output is a new
//! file (single-file AOF) or a new directory with its own manifest (multi-part).

use std::fs::OpenOptions;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::manifest::{Manifest, PartType};
use super::verify::{check_file, looks_like_manifest, verify_multipart, FileCheck};
use super::{Item, RespReader};
use crate::source::Source;
use crate::verify::Status;

/// Why a repair did not happen.
#[derive(Debug)]
pub enum RepairError {
    /// Bad arguments or an I/O failure (exit status 2).
    Usage(String),
    /// The input is damaged in a way a cut cannot fix (exit status 1).
    NotRepairable(String),
}

impl std::fmt::Display for RepairError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepairError::Usage(m) | RepairError::NotRepairable(m) => f.write_str(m),
        }
    }
}

/// What one file loses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    pub file: String,
    pub bytes: u64,
    /// New length (0 with `dropped`).
    pub keep: u64,
    /// A later INCR left out entirely (point-in-time cut in an earlier file).
    pub dropped: bool,
    /// Complete commands in the removed bytes.
    pub commands: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

impl Cut {
    /// `appendonly.aof.3.incr.aof: 1234 -> 1000 bytes (234 bytes, 5 commands, #TS a .. b)`
    pub fn describe(&self) -> String {
        let mut s = if self.dropped {
            format!("{}: left out ({} bytes", self.file, self.bytes)
        } else {
            format!(
                "{}: {} -> {} bytes ({} bytes",
                self.file,
                self.bytes,
                self.keep,
                self.bytes - self.keep
            )
        };
        s += &format!(", {} complete commands", self.commands);
        if let (Some(a), Some(b)) = (self.first_ts, self.last_ts) {
            s += &format!(
                ", #TS {} .. {}",
                crate::time::format_unix(a),
                crate::time::format_unix(b)
            );
        }
        s + ")"
    }
}

/// Counts what `data[from..]` holds (commands, `#TS` span), stopping at damage.
fn removed(file: &str, data: &[u8], from: u64, dropped: bool) -> Cut {
    let mut c = Cut {
        file: file.to_string(),
        bytes: data.len() as u64,
        keep: if dropped { 0 } else { from },
        dropped,
        commands: 0,
        first_ts: None,
        last_ts: None,
    };
    for item in RespReader::new(data, from as usize) {
        match item {
            Ok(Item::Command(_)) => c.commands += 1,
            Ok(Item::Annotation { text, .. }) => {
                if let Some(t) = super::timestamp(text) {
                    c.first_ts.get_or_insert(t);
                    c.last_ts = Some(t);
                }
            }
            Err(_) => break,
        }
    }
    c
}

/// Where one file must be cut, or why it cannot be. `last` = the last file loaded.
fn cut_point(name: &str, fc: &FileCheck, last: bool) -> Result<Option<u64>, String> {
    if let Some(rdb) = &fc.rdb {
        if rdb.status != Status::Ok {
            return Err(format!(
                "{name}: the RDB part is {} and cannot be cut to a loadable file",
                rdb.status.as_str()
            ));
        }
    }
    if let Some(c) = fc.resp.until_cut.filter(|&c| c <= fc.resp.ok_up_to) {
        if c == 0 {
            return Err(format!("{name}: nothing before the requested time"));
        }
        return Ok(Some(c));
    }
    match fc.status {
        Status::Ok => Ok(None),
        Status::Truncated if last => Ok(Some(fc.resp.ok_up_to)),
        _ => Err(format!(
            "{name} is {} in the middle: {}",
            fc.status.as_str(),
            fc.error.as_ref().map_or("", |e| e.text.as_str())
        )),
    }
}

/// Refuses an output that exists, or that lies inside the input.
fn check_output(input_dir: &Path, out: &Path) -> Result<(), RepairError> {
    if out.exists() {
        return Err(RepairError::Usage(format!(
            "{} already exists; rdbkit never overwrites (choose a new path)",
            out.display()
        )));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let parent = parent
        .canonicalize()
        .map_err(|e| RepairError::Usage(format!("{}: {e}", parent.display())))?;
    let input = input_dir
        .canonicalize()
        .map_err(|e| RepairError::Usage(format!("{}: {e}", input_dir.display())))?;
    if parent.starts_with(&input) && input.is_dir() {
        return Err(RepairError::Usage(format!(
            "{} is inside the input directory {}",
            out.display(),
            input.display()
        )));
    }
    Ok(())
}

/// Writes a new file (never replacing one) from a reader, synced before returning.
fn write_new(path: &Path, mut from: impl Read) -> Result<(), RepairError> {
    let err = |e: std::io::Error| RepairError::Usage(format!("{}: {e}", path.display()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(err)?;
    std::io::copy(&mut from, &mut f).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Repairs `input` (an AOF file, an appendonlydir or its manifest) into `out`. Returns
/// what was (or, with `dry_run`, would be) cut; an empty list means nothing to cut.
pub fn repair(
    input: &Path,
    out: &Path,
    until: Option<i64>,
    dry_run: bool,
) -> Result<Vec<Cut>, RepairError> {
    let io = |e: std::io::Error| RepairError::Usage(format!("{}: {e}", input.display()));
    let multipart = input.is_dir()
        || std::fs::read(input)
            .map(|d| looks_like_manifest(&d))
            .map_err(io)?;
    if multipart {
        return repair_multipart(input, out, until, dry_run);
    }
    let src = Source::open(input, true).map_err(io)?;
    let data = src.bytes();
    let fc = check_file(data, until);
    let name = input.display().to_string();
    let cut = cut_point(&name, &fc, true).map_err(RepairError::NotRepairable)?;
    let keep = cut.unwrap_or(data.len() as u64);
    let cuts: Vec<Cut> = cut
        .map(|c| removed(&name, data, c, false))
        .into_iter()
        .collect();
    if !dry_run {
        check_output(input, out)?;
        write_new(out, &data[..keep as usize])?;
    }
    Ok(cuts)
}

fn repair_multipart(
    input: &Path,
    out: &Path,
    until: Option<i64>,
    dry_run: bool,
) -> Result<Vec<Cut>, RepairError> {
    let mc = verify_multipart(input, until);
    if mc.manifest.is_none() {
        let msg = mc
            .report
            .error
            .as_ref()
            .map_or_else(|| "unreadable manifest".to_string(), |e| e.text.clone());
        return Err(match mc.report.status {
            Status::Unreadable => RepairError::Usage(msg),
            _ => RepairError::NotRepairable(msg),
        });
    };
    let loaded: Vec<_> = mc
        .parts
        .iter()
        .filter(|(e, _)| e.kind != PartType::History)
        .collect();
    if loaded.is_empty() {
        return Err(RepairError::NotRepairable(
            "the manifest lists no BASE and no INCR file".into(),
        ));
    }
    let mut kept = Manifest::default();
    let mut cuts = Vec::new();
    // (file name, bytes to keep) for every file to write.
    let mut plan: Vec<(PathBuf, String, Option<u64>)> = Vec::new();
    let mut stop = false;
    for (i, (entry, fc)) in loaded.iter().enumerate() {
        let path = mc.layout.dir.join(&entry.file);
        if stop {
            // Left out anyway: a missing one is reported with 0 bytes, not an error.
            let src = Source::open(&path, true).ok();
            cuts.push(removed(
                &entry.file,
                src.as_ref().map_or(&[], |s| s.bytes()),
                0,
                true,
            ));
            continue;
        }
        let Some(fc) = fc else {
            return Err(RepairError::NotRepairable(format!(
                "{} is listed in the manifest but cannot be read",
                entry.file
            )));
        };
        let last = i + 1 == loaded.len();
        let cut = cut_point(&entry.file, fc, last).map_err(RepairError::NotRepairable)?;
        if let Some(c) = cut {
            let src = Source::open(&path, true).map_err(|e| RepairError::Usage(e.to_string()))?;
            cuts.push(removed(&entry.file, src.bytes(), c, false));
            if fc.resp.until_cut.is_some() {
                stop = true;
            }
        }
        kept.entries.push((*entry).clone());
        plan.push((path, entry.file.clone(), cut));
    }
    if dry_run {
        return Ok(cuts);
    }
    check_output(&mc.layout.dir, out)?;
    std::fs::create_dir(out).map_err(|e| RepairError::Usage(format!("{}: {e}", out.display())))?;
    for (from, name, cut) in &plan {
        // Copied through a small buffer: parts can be gigabytes.
        let file = std::fs::File::open(from)
            .map_err(|e| RepairError::Usage(format!("{}: {e}", from.display())))?;
        write_new(&out.join(name), file.take(cut.unwrap_or(u64::MAX)))?;
    }
    let manifest_name = mc
        .layout
        .manifest
        .file_name()
        .map_or_else(|| "appendonly.aof.manifest".into(), |n| n.to_os_string());
    write_new(&out.join(manifest_name), kept.to_text().as_bytes())?;
    Ok(cuts)
}
