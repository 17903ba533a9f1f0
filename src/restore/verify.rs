//! `--verify`: after the write pass, every key the restore selected is read back
//! with pipelined `DUMP` plus `PEXPIRETIME` (`PTTL` before 7.0), routed like the
//! writes, and compared with the file by an encoding-independent digest
//! ([`crate::rdb::digest`]): a key restored into an older server (other encodings,
//! native commands) still compares equal when its content is.
//!
//! Keys that already existed and were skipped (`--conflict skip`) are compared too,
//! so the verdict says whether the target now holds what the file holds. Writes by
//! other clients during or after the restore show up as mismatches.

use serde::Serialize;

use super::encode::{self, Method};
use super::pipeline::{Failure, Purpose};
use super::sink::Sink;
use super::target::ServerInfo;
use super::{walk, Options, Selector, Stop};
use crate::rdb::digest::value_digest;
use crate::rdb::{Header, Record};

/// A key whose expiry falls this close to the check may be gone by then.
const GONE_WINDOW_MS: i64 = 60_000;

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Keys read back and found equal (value, type and expiry).
    pub verified: u64,
    /// Keys missing or different (each one reported with its reason).
    pub mismatched: u64,
    /// Whether expiries were read as `PTTL` (servers before 7.0), with a tolerance.
    pub ttl_by_pttl: bool,
    /// Whether hash field expiries took part (targets that hold them).
    pub field_ttls: bool,
}

/// Whether the target keeps hash field expiries (Redis 7.4+, Valkey 9+).
pub fn holds_field_ttls(server: &ServerInfo) -> bool {
    let v = server.version;
    if server.valkey {
        v.0 >= 9
    } else {
        (v.0, v.1) >= (7, 4)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    data: &[u8],
    deep: bool,
    header: &Header,
    sel: &mut Selector<'_>,
    opts: &Options,
    server: &ServerInfo,
    mut sink: Sink,
    on_failure: &mut dyn FnMut(&Failure),
) -> Result<VerifyReport, Stop> {
    let mut on_failure = |f: &Failure| {
        on_failure(&Failure {
            error: format!("verify: {}", f.error),
            ..f.clone()
        })
    };
    let field_ttls = holds_field_ttls(server);
    let pttl = !server.valkey && server.version.0 < 7;
    let now = super::now_ms();
    let mut seen = 0u64;
    walk(data, deep, |_, rec| {
        let Record::Key(k) = rec else {
            return Ok(true);
        };
        let method = encode::choose(&k, opts.mode, server, header);
        let Some(s) = sel.select(&k)? else {
            return Ok(true);
        };
        if (s.expired && opts.skip_expired) || matches!(method, Method::Refuse(_)) {
            return Ok(true);
        }
        let (digest, elements) = value_digest(k.info.kind, &k.value, k.value_bytes, field_ttls)
            .map_err(|e| Stop::Usage(e.to_string()))?;
        let may_be_gone = s.expire.is_some_and(|e| e < now + GONE_WINDOW_MS);
        let expire = s.expire;
        let key = s.key.to_vec();
        let lane = sink.lane_for(&key, s.db)?;
        let b = sink.batch(lane);
        let kr = b.add_key(&key);
        b.push(
            k.offset,
            kr.clone(),
            Purpose::VerifyValue {
                kind: k.info.kind,
                digest,
                elements,
                may_be_gone,
            },
            &[b"DUMP", &key],
        );
        let ttl_cmd: &[u8] = if pttl { b"PTTL" } else { b"PEXPIRETIME" };
        b.push(
            k.offset,
            kr,
            Purpose::VerifyTtl { expire, pttl },
            &[ttl_cmd, &key],
        );
        sink.added(lane, k.offset, &key, k.db)?;
        seen += 1;
        if seen % 256 == 0 {
            for f in sink.take_failures() {
                on_failure(&f);
            }
        }
        Ok(true)
    })?;
    let finished = sink.finish();
    for f in sink.take_failures() {
        on_failure(&f);
    }
    finished?;
    Ok(VerifyReport {
        verified: sink.written(),
        mismatched: sink.totals.values().map(|t| t.failed).sum(),
        ttl_by_pttl: pttl,
        field_ttls,
    })
}
