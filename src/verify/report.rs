//! The verification report: one JSON object per file (`--json`), or one line of text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Truncated,
    ChecksumMismatch,
    Corrupt,
    Unsupported,
    Unreadable,
    /// Not a Redis persistence file (listed by `verify DIR`).
    Unrecognised,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Truncated => "truncated",
            Status::ChecksumMismatch => "checksum_mismatch",
            Status::Corrupt => "corrupt",
            Status::Unsupported => "unsupported",
            Status::Unreadable => "unreadable",
            Status::Unrecognised => "unrecognised",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checksum {
    pub stored: String,
    pub computed: String,
    /// The stored checksum equals the computed one.
    pub ok: bool,
    /// The writer stored 0 (`rdbchecksum no`): nothing to compare.
    pub disabled: bool,
}

impl Checksum {
    pub fn new(stored: u64, computed: u64) -> Self {
        Checksum {
            stored: format!("{stored:016x}"),
            computed: format!("{computed:016x}"),
            ok: stored == computed,
            disabled: stored == 0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbCounts {
    pub keys: u64,
    pub expires: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// Absolute byte offset where reading failed.
    pub offset: u64,
    pub db: Option<u64>,
    /// The key being read, escaped like redis-cli does.
    pub key: Option<String>,
    #[serde(rename = "type")]
    pub type_name: Option<&'static str>,
    /// The structure being read.
    pub reading: Option<&'static str>,
    pub message: String,
    /// The whole sentence, as printed without `--json`.
    pub text: String,
    /// Key records completely read before the failure.
    pub keys_before: u64,
    /// Offset of the record being read when it failed (the end of the intact part).
    pub record_offset: Option<u64>,
}

impl ErrorReport {
    pub fn io(e: &std::io::Error) -> Self {
        ErrorReport {
            offset: 0,
            db: None,
            key: None,
            type_name: None,
            reading: None,
            message: e.to_string(),
            text: format!("cannot read: {e}"),
            keys_before: 0,
            record_offset: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub path: String,
    pub format: &'static str,
    pub status: Status,
    pub rdb_version: Option<u32>,
    pub magic: Option<&'static str>,
    /// `redis 7.2.4`, `valkey 9.1.2`, `dragonfly 1.2`, from the AUX fields.
    pub producer: Option<String>,
    /// Unix seconds from the `ctime` AUX field.
    pub ctime: Option<i64>,
    pub checksum: Option<Checksum>,
    pub keys: u64,
    pub expires: u64,
    /// Keys whose expiry is before `ctime` (still in the file; dropped on load).
    pub already_expired: u64,
    pub dbs: BTreeMap<String, DbCounts>,
    /// Keys per type (`string`, `list`, `set`, `zset`, `hash`, `stream`, `module`).
    pub types: BTreeMap<String, u64>,
    pub aux: BTreeMap<String, String>,
    pub functions: u64,
    pub module_aux: u64,
    /// File size.
    pub bytes: u64,
    /// Bytes read up to the end of the RDB (or to the failure).
    pub parsed_bytes: u64,
    pub trailing_bytes: u64,
    pub warnings: Vec<String>,
    pub warnings_total: u64,
    pub error: Option<ErrorReport>,
    /// AOF figures (`format` `aof` / `aof-multipart`); absent from plain RDB reports.
    #[serde(flatten)]
    pub aof: Option<crate::aof::verify::AofInfo>,
    /// `--sidecar` / `--check-sidecar` outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<super::sidecar::SidecarOutcome>,
    /// `--load` outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<super::load::LoadOutcome>,
}

impl Report {
    pub fn new(path: &str) -> Self {
        Report {
            path: path.to_string(),
            format: "rdb",
            status: Status::Ok,
            rdb_version: None,
            magic: None,
            producer: None,
            ctime: None,
            checksum: None,
            keys: 0,
            expires: 0,
            already_expired: 0,
            dbs: BTreeMap::new(),
            types: BTreeMap::new(),
            aux: BTreeMap::new(),
            functions: 0,
            module_aux: 0,
            bytes: 0,
            parsed_bytes: 0,
            trailing_bytes: 0,
            warnings: Vec::new(),
            warnings_total: 0,
            error: None,
            aof: None,
            sidecar: None,
            load: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// One line for humans: verdict, version, producer, time, keys per db, checksum.
    pub fn human_line(&self) -> String {
        if let Some(a) = &self.aof {
            return crate::aof::verify::human_line(self, a);
        }
        let mut s = format!("{}: {}", self.path, self.status.as_str());
        if let Some(v) = self.rdb_version {
            s += &format!(", RDB {v}");
            if self.magic == Some("VALKEY") {
                s += " (VALKEY magic)";
            }
        }
        if let Some(p) = &self.producer {
            s += &format!(", {p}");
        }
        if let Some(t) = self.ctime {
            s += &format!(", created {}", crate::time::format_unix(t));
        }
        if self.error.is_none() || self.keys > 0 {
            s += &format!(
                ", {} key{}",
                self.keys,
                if self.keys == 1 { "" } else { "s" }
            );
            if self.expires > 0 {
                s += &format!(" ({} with TTL", self.expires);
                if self.already_expired > 0 {
                    s += &format!(", {} already expired", self.already_expired);
                }
                s += ")";
            }
            let dbs = super::sorted_dbs(&self.dbs);
            if dbs.len() > 1 || dbs.first().is_some_and(|(d, _)| *d != 0) {
                let parts: Vec<String> = dbs
                    .iter()
                    .map(|(d, c)| format!("db{d}={}/{}", c.keys, c.expires))
                    .collect();
                s += &format!(" [{}]", parts.join(" "));
            }
        }
        match &self.checksum {
            Some(c) if c.disabled => s += ", checksum disabled (stored 0, not verified)",
            Some(c) if c.ok => s += &format!(", checksum ok ({})", c.computed),
            Some(c) => {
                s += &format!(
                    ", CHECKSUM MISMATCH (stored {}, computed {})",
                    c.stored, c.computed
                )
            }
            None if self.error.is_none() && self.rdb_version.is_some_and(|v| v < 5) => {
                s += ", no checksum (RDB < 5)"
            }
            None => {}
        }
        if self.trailing_bytes > 0 {
            s += &format!(", {} trailing bytes", self.trailing_bytes);
        }
        if self.warnings_total > 0 {
            s += &format!(
                ", {} warning{}",
                self.warnings_total,
                if self.warnings_total == 1 { "" } else { "s" }
            );
        }
        s
    }

    /// The failure as one actionable sentence (`rdbkit: dump.rdb: truncated at byte N
    /// while reading hash key "k" (db 0): expected M more bytes`), if there is one.
    pub fn error_line(&self) -> Option<String> {
        let e = self.error.as_ref()?;
        let mut s = format!("rdbkit: {}: {}", self.path, e.text);
        if self.status != Status::Unreadable && self.aof.is_none() {
            s += &format!(
                " ({} key{} complete before it)",
                e.keys_before,
                if e.keys_before == 1 { " was" } else { "s were" }
            );
        }
        Some(s)
    }
}
