//! `rdbkit salvage`: recover every readable record of a damaged RDB into a new file and
//! report exactly what was lost.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exit;
use crate::forensics::salvage::{self, JsonlOut, RdbOut, Recovered, Report, RespOut, SalvageError};
use crate::source::Source;

#[derive(clap::Args, Debug)]
pub struct SalvageArgs {
    /// The damaged RDB file (never modified).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Where to write what was recovered; the format follows the extension
    /// (`.rdb`, `.jsonl`, `.resp`/`.aof`) unless --format is given. Without -o only the report
    /// is printed.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Output format: rdb (same magic and version as the input), jsonl or resp.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<OutFormat>,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the report as one JSON object (schema in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFormat {
    Rdb,
    Jsonl,
    Resp,
}

impl OutFormat {
    fn name(self) -> &'static str {
        match self {
            OutFormat::Rdb => "rdb",
            OutFormat::Jsonl => "jsonl",
            OutFormat::Resp => "resp",
        }
    }
}

fn parse_format(s: &str) -> Result<OutFormat, String> {
    match s {
        "rdb" => Ok(OutFormat::Rdb),
        "jsonl" => Ok(OutFormat::Jsonl),
        "resp" => Ok(OutFormat::Resp),
        _ => Err(format!("unknown format {s:?} (rdb, jsonl, resp)")),
    }
}

fn format_from_extension(p: &Path) -> Option<OutFormat> {
    match p.extension()?.to_str()? {
        "rdb" => Some(OutFormat::Rdb),
        "jsonl" | "json" => Some(OutFormat::Jsonl),
        "resp" | "aof" => Some(OutFormat::Resp),
        _ => None,
    }
}

/// Refuses outputs that would clobber something: the input itself, or an existing file
/// without --force.
fn check_output(input: &Path, out: &Path, force: bool) -> Result<(), String> {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), out.canonicalize()) {
        if a == b {
            return Err(format!("{}: output is the input file", out.display()));
        }
    }
    if out.exists() && !force {
        return Err(format!(
            "{}: exists (use --force to replace it)",
            out.display()
        ));
    }
    Ok(())
}

pub fn run_salvage(a: &SalvageArgs) -> std::io::Result<u8> {
    let shown = a.path.display().to_string();
    let format = match (&a.output, a.format) {
        (_, Some(f)) => Some(f),
        (Some(o), None) => match format_from_extension(o) {
            Some(f) => Some(f),
            None => {
                eprintln!(
                    "rdbkit: {}: cannot tell the format from the name; use --format rdb|jsonl|resp",
                    o.display()
                );
                return Ok(exit::ERROR);
            }
        },
        (None, None) => None,
    };
    if let Some(o) = &a.output {
        if let Err(m) = check_output(&a.path, o, a.force) {
            eprintln!("rdbkit: {m}");
            return Ok(exit::ERROR);
        }
    }
    let src = match Source::open(&a.path, true) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rdbkit: {shown}: {e}");
            return Ok(exit::ERROR);
        }
    };
    let data = src.bytes();
    let header = crate::rdb::Header::parse(data).ok();
    let version = header.map_or(0, |h| h.version);
    if format == Some(OutFormat::Rdb) {
        let writable = header.map(|h| salvage::rdb_target(h).check());
        if let Some(Err(e)) = writable {
            eprintln!("rdbkit: {shown}: cannot write an RDB like this one ({e}); use --format resp or jsonl");
            return Ok(exit::ERROR);
        }
    }
    let mut file = match &a.output {
        Some(o) => Some(std::io::BufWriter::new(std::fs::File::create(o)?)),
        None => None,
    };
    let result = match (&mut file, format) {
        (Some(f), Some(OutFormat::Rdb)) => match header.map(|h| RdbOut::new(f, h)) {
            Some(Ok(mut o)) => salvage::salvage(&shown, data, Some(&mut o as &mut dyn Recovered)),
            Some(Err(e)) => return Err(std::io::Error::other(e.to_string())),
            None => salvage::salvage(&shown, data, None),
        },
        (Some(f), Some(OutFormat::Jsonl)) => {
            let mut o = JsonlOut::new(f, version);
            salvage::salvage(&shown, data, Some(&mut o as &mut dyn Recovered))
        }
        (Some(f), Some(OutFormat::Resp)) => {
            let mut o = RespOut::new(f, version, None);
            salvage::salvage(&shown, data, Some(&mut o as &mut dyn Recovered))
        }
        _ => salvage::salvage(&shown, data, None),
    };
    let mut report = match result {
        Ok(r) => r,
        Err(SalvageError::Header(e)) => {
            eprintln!("rdbkit: {shown}: {e} (without a readable header nothing can be salvaged)");
            return Ok(exit::ERROR);
        }
        Err(e) => {
            eprintln!("rdbkit: {shown}: {e}");
            return Ok(exit::ERROR);
        }
    };
    drop(file);
    report.output = a.output.as_ref().map(|o| o.display().to_string());
    report.output_format = format.map(OutFormat::name);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &report).map_err(std::io::Error::other)?;
        writeln!(out)?;
    } else {
        print_human(&mut out, &report)?;
    }
    Ok(if report.anything_lost() {
        exit::NOT_OK
    } else {
        exit::OK
    })
}

fn print_human(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} version {}, {} bytes: recovered {} keys ({} records)",
        r.path, r.magic, r.rdb_version, r.file_bytes, r.keys_recovered, r.records_recovered
    )?;
    for l in &r.lost {
        let what = match &l.key {
            Some(k) => format!("key \"{k}\" lost"),
            None => format!("~{} key record(s) estimated", l.estimated_records),
        };
        writeln!(
            out,
            "  lost bytes {}..{} ({} bytes, db {}): {}; error at byte {}: {}{}",
            l.range.start,
            l.range.end,
            l.bytes,
            l.range.db.map_or("?".to_string(), |d| d.to_string()),
            what,
            l.range.error_offset,
            l.range.reason,
            if l.range.reaches_end {
                " (the file ends inside this span)"
            } else {
                ""
            }
        )?;
        if let Some(k) = &l.suspect_key {
            writeln!(
                out,
                "    key \"{k}\" just before it was recovered but ends where the damage starts: check its value"
            )?;
        }
    }
    for (db, d) in &r.dbs {
        writeln!(
            out,
            "  db {db}: {} keys recovered, {} known lost, {} damaged span(s)",
            d.keys_recovered, d.keys_known_lost, d.lost_ranges
        )?;
    }
    if r.db_assumed_after_damage {
        writeln!(
            out,
            "  note: keys after a damaged span were kept in the last known db (a SELECTDB may have been lost)"
        )?;
    }
    if !r.lost.is_empty() {
        writeln!(
            out,
            "  lost: {} bytes, {} key(s) by name, ~{} key record(s) estimated ({})",
            r.bytes_lost,
            r.keys_known_lost.len(),
            r.estimated_keys_lost,
            r.estimate_method
        )?;
    }
    for why in &r.not_written {
        writeln!(out, "  not written (the output cannot hold it): {why}")?;
    }
    match r.checksum {
        "mismatch" => writeln!(
            out,
            "  checksum mismatch although every record parsed: some bytes changed in a way the format cannot detect (a value or key name may be altered)"
        )?,
        "truncated" => writeln!(
            out,
            "  the file ends inside the checksum: every record was read, but nothing proves the bytes are unaltered"
        )?,
        _ if !r.eof_found => writeln!(out, "  no EOF marker: the file is truncated")?,
        _ => {}
    }
    if let Some(o) = &r.output {
        writeln!(
            out,
            "  wrote {o} ({}, {} bytes)",
            r.output_format.unwrap_or("?"),
            r.output_bytes
        )?;
    }
    Ok(())
}
