//! The restore summary (human lines and `--json`), and the count verification:
//! per-db key counts on the target before and after, compared with what was written.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::conn::{Conn, Endpoint};
use super::sink::Sink;
use super::target::{keyspace, ServerInfo};
use super::Options;

/// Keys whose expiry falls within this window of the start may legitimately be gone
/// by the time counts are compared.
pub const MAY_EXPIRE_WINDOW_MS: i64 = 3_600_000;

/// One target db.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DbReport {
    /// Keys of the source that pass the filters and map to this db.
    pub selected: u64,
    pub by_restore: u64,
    pub by_commands: u64,
    /// Keys the target cannot take (reason in the error list).
    pub refused: u64,
    /// Left out by `--expired skip`.
    pub expired_skipped: u64,
    pub written: u64,
    /// Existing keys left alone (`--conflict skip`).
    pub skipped: u64,
    pub failed: u64,
    /// Function libraries in the source (plan only).
    #[serde(skip_serializing_if = "is_zero")]
    pub functions: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub server: String,
    pub cluster: bool,
    pub mode: String,
    pub conflict: String,
    pub dry_run: bool,
    pub dbs: BTreeMap<u64, DbReport>,
    pub functions_loaded: u64,
    pub functions_skipped: u64,
    pub functions_failed: u64,
    /// Keys the target cannot take, over all dbs.
    pub refused: u64,
    /// Keys sent with an expiry already past (the server drops them on arrival).
    pub expired_on_arrival: BTreeMap<u64, u64>,
    /// Keys written with an expiry within the hour (they may be gone at the count).
    pub may_expire: BTreeMap<u64, u64>,
    pub conflict_checked: bool,
    /// What native commands could not carry to this target, with key counts.
    pub losses: BTreeMap<String, u64>,
    /// Target key counts per db, summed over masters.
    pub before: BTreeMap<u64, u64>,
    pub after: BTreeMap<u64, u64>,
    /// `ok`, `mismatch`, or `not-exact` (the target had keys and REPLACE hides
    /// whether a key was new, or AOF commands were replayed), per db.
    pub counts: BTreeMap<u64, String>,
    /// AOF commands replayed after the RDB part, and how many the server refused.
    pub aof_commands: u64,
    pub aof_commands_failed: u64,
    /// `--until` cut the replay short.
    pub until_reached: bool,
    pub commands_sent: u64,
    pub bytes_sent: u64,
    pub redirects: u64,
    pub resumed_from: Option<u64>,
    pub already_complete: bool,
    pub stopped_early: bool,
    /// `--verify`: keys read back and compared with the file.
    pub verify: Option<super::verify::VerifyReport>,
    pub elapsed_s: f64,
}

impl Report {
    pub fn new(
        path: &Path,
        seed: &Endpoint,
        server: &ServerInfo,
        cluster: bool,
        o: &Options,
    ) -> Report {
        Report {
            source: path.display().to_string(),
            target: seed.to_string(),
            server: server.name(),
            cluster,
            mode: format!("{:?}", o.mode).to_lowercase(),
            conflict: format!("{:?}", o.conflict).to_lowercase(),
            dry_run: o.dry_run,
            dbs: BTreeMap::new(),
            functions_loaded: 0,
            functions_skipped: 0,
            functions_failed: 0,
            refused: 0,
            expired_on_arrival: BTreeMap::new(),
            may_expire: BTreeMap::new(),
            conflict_checked: false,
            losses: BTreeMap::new(),
            before: BTreeMap::new(),
            after: BTreeMap::new(),
            counts: BTreeMap::new(),
            aof_commands: 0,
            aof_commands_failed: 0,
            until_reached: false,
            commands_sent: 0,
            bytes_sent: 0,
            redirects: 0,
            resumed_from: None,
            already_complete: false,
            stopped_early: false,
            verify: None,
            elapsed_s: 0.0,
        }
    }

    pub fn absorb(&mut self, sink: &Sink) {
        for (db, t) in &sink.totals {
            let d = self.dbs.entry(*db).or_default();
            d.written += t.written;
            d.skipped += t.skipped;
            d.failed += t.failed;
        }
        self.commands_sent = sink.commands_sent;
        self.bytes_sent = sink.bytes_sent;
        self.redirects = sink.redirects;
    }

    pub fn written(&self) -> u64 {
        self.dbs.values().map(|d| d.written).sum()
    }

    /// Keys not restored because of an error (server refusals and refused payloads).
    pub fn failed(&self) -> u64 {
        self.dbs.values().map(|d| d.failed).sum::<u64>()
            + self.refused
            + self.functions_failed
            + self.aof_commands_failed
    }

    /// `--verify` found no difference (true when not asked).
    pub fn verify_ok(&self) -> bool {
        self.verify.as_ref().is_none_or(|v| v.mismatched == 0)
    }

    pub fn counts_ok(&self) -> bool {
        self.counts.values().all(|v| v != "mismatch")
    }

    /// Compares the counts: exact when the target db was empty at the start or no
    /// key could have been replaced (RESTORE without REPLACE only creates);
    /// `replaced`: REPLACE was used.
    fn judge(&mut self, replaced: bool) {
        for (db, d) in &self.dbs {
            let before = self.before.get(db).copied().unwrap_or(0);
            let after = self.after.get(db).copied().unwrap_or(0);
            let arrived_expired = self.expired_on_arrival.get(db).copied().unwrap_or(0);
            let created = d.written.saturating_sub(arrived_expired);
            let slack = self.may_expire.get(db).copied().unwrap_or(0);
            let exact = (before == 0 || !replaced) && self.aof_commands == 0;
            let verdict = if self.aof_commands > 0 {
                // Replayed commands create and delete keys the RDB part never had: its
                // counts bound nothing (`--verify` compares the replayed dataset).
                "not-exact"
            } else if exact {
                let want = before + created;
                if after <= want && after + slack >= want {
                    "ok"
                } else {
                    "mismatch"
                }
            } else if after >= before.max(created) && after <= before + created {
                "not-exact"
            } else {
                "mismatch"
            };
            self.counts.insert(*db, verdict.to_string());
        }
    }

    /// The human summary (several lines, no trailing newline).
    pub fn human(&self) -> String {
        let mut out = Vec::new();
        let verb = if self.dry_run {
            "would restore"
        } else {
            "restored"
        };
        let written: u64 = if self.dry_run {
            self.dbs
                .values()
                .map(|d| d.by_restore + d.by_commands)
                .sum()
        } else {
            self.written()
        };
        out.push(format!(
            "{}: {verb} {written} keys into {} ({}{}) in {:.2}s",
            self.source,
            self.target,
            self.server,
            if self.cluster { ", cluster" } else { "" },
            self.elapsed_s
        ));
        for (db, d) in &self.dbs {
            let mut parts = vec![format!("{} selected", d.selected)];
            if self.dry_run {
                parts.push(format!("{} by RESTORE", d.by_restore));
                parts.push(format!("{} by commands", d.by_commands));
            } else {
                parts.push(format!("{} written", d.written));
            }
            for (n, what) in [
                (d.skipped, "skipped (existing)"),
                (d.failed, "failed"),
                (d.refused, "refused"),
                (d.expired_skipped, "expired, skipped"),
                (
                    self.expired_on_arrival.get(db).copied().unwrap_or(0),
                    "expired on arrival",
                ),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let mut line = format!("  db{db}: {}", parts.join(", "));
            if let (Some(v), Some(a)) = (self.counts.get(db), self.after.get(db).or(Some(&0))) {
                line.push_str(&format!(
                    "; target has {a} keys (had {}): counts {v}",
                    self.before.get(db).copied().unwrap_or(0)
                ));
            }
            out.push(line);
        }
        let f = self.functions_loaded + self.functions_skipped + self.functions_failed;
        if f > 0 {
            out.push(format!(
                "  functions: {} loaded, {} skipped, {} failed",
                self.functions_loaded, self.functions_skipped, self.functions_failed
            ));
        }
        for (what, n) in &self.losses {
            out.push(format!("  warning: {n} keys lost {what}"));
        }
        if self.aof_commands > 0 {
            out.push(format!(
                "  AOF commands replayed: {} ({} failed){}",
                self.aof_commands,
                self.aof_commands_failed,
                if self.until_reached {
                    ", stopped at --until"
                } else {
                    ""
                }
            ));
        }
        if self.redirects > 0 {
            out.push(format!(
                "  cluster redirections followed: {}",
                self.redirects
            ));
        }
        if let Some(o) = self.resumed_from {
            out.push(format!("  resumed from byte {o}"));
        }
        if self.stopped_early {
            out.push("  stopped at the first failure (--fail-fast)".into());
        }
        if let Some(v) = &self.verify {
            out.push(format!(
                "  verify: {} keys equal to the file, {} mismatched{}",
                v.verified,
                v.mismatched,
                if v.ttl_by_pttl {
                    " (expiries via PTTL, 2 s tolerance)"
                } else {
                    ""
                }
            ));
        }
        out.join("\n")
    }
}

fn sum_keyspace(
    nodes: &[Endpoint],
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> io::Result<BTreeMap<u64, u64>> {
    let mut total = BTreeMap::new();
    for n in nodes {
        let mut c = Conn::connect(n, tls)?;
        for (db, keys) in keyspace(&mut c)? {
            *total.entry(db).or_insert(0) += keys;
        }
    }
    Ok(total)
}

pub fn count_before(
    r: &mut Report,
    nodes: &[Endpoint],
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> io::Result<()> {
    r.before = sum_keyspace(nodes, tls)?;
    Ok(())
}

pub fn count_after(
    r: &mut Report,
    nodes: &[Endpoint],
    tls: Option<&Arc<rustls::ClientConfig>>,
    replaced: bool,
) -> io::Result<()> {
    r.after = sum_keyspace(nodes, tls)?;
    r.judge(replaced);
    Ok(())
}
