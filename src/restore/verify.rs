//! `--verify`: after the write pass, every key the restore selected is read back
//! with pipelined `DUMP` plus `PEXPIRETIME` (`PTTL` before 7.0), routed like the
//! writes, and compared with the file by an encoding-independent digest
//! ([`crate::rdb::digest`]): a key restored into an older server (other encodings,
//! native commands) still compares equal when its content is.
//!
//! Streams are also compared by their metadata ([`stream_meta_digest`]) over what the
//! target holds after the restore ([`stream_fields`]): everything its stream version has
//! when the key went by `RESTORE`; by native commands, everything but consumers'
//! seen/active times (no command sets them), idle consumers where `XGROUP
//! CREATECONSUMER` is missing, and the idempotent-producer ids (the restore lists both
//! as losses).
//!
//! An AOF input is compared with its dataset replayed offline ([`crate::aof::replay`]):
//! the RDB part as restored plus every command, which is what the target received.
//! Keys the replay cannot know (a command it does not model) are reported as not
//! verified; stream metadata of such inputs is not compared (the replay keeps entries
//! only; `--until` cuts the replay where the restore cut it). Key filters, `--ttl` and
//! `--expired exclude` apply to the RDB part but not to the commands, so the target's
//! state is not the replay's: refused.
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
use crate::aof::input::Input;
use crate::aof::replay::{self, KeyState, ReplayError};
use crate::rdb::digest::{stream_meta_digest, value_digest, StreamMetaFields};
use crate::rdb::{Header, Record, Value};

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

/// The stream version (1-4) the target writes: its DUMP payloads and its RDB.
pub fn stream_version(server: &ServerInfo) -> u8 {
    let v = (server.version.0, server.version.1);
    match v {
        _ if server.valkey => 3,
        (8, 6..) | (9.., _) => 4,
        (7, 2..) | (8, _) => 3,
        (7, _) => 2,
        _ => 1,
    }
}

/// The stream metadata a target holds after a key of stream version `version` was
/// written with `method`.
pub fn stream_fields(server: &ServerInfo, method: &Method, version: u8) -> StreamMetaFields {
    match method {
        // The target took the payload as it is: it holds everything the file's has.
        Method::Restore { .. } => StreamMetaFields::all(version),
        _ => StreamMetaFields {
            level: version.min(stream_version(server)),
            delivery_times: true,
            consumer_times: false,
            idle_consumers: server.valkey || (server.version.0, server.version.1) >= (6, 2),
            idmp_history: false,
        },
    }
}

/// What a stream metadata comparison covered, for a mismatch's reason.
pub fn describe_fields(f: Option<StreamMetaFields>) -> String {
    let Some(f) = f else {
        return "not compared".into();
    };
    let mut parts = vec!["last id", "consumer groups", "pending entries", "consumers"];
    if f.level >= 2 {
        parts.push("entries-added/max-deleted id/entries-read");
    }
    if f.consumer_times {
        parts.push("consumer seen/active times");
    }
    if f.level >= 4 {
        parts.push("idempotent-producer state");
    }
    parts.join(", ")
}

/// `--verify` of an AOF input compares the target with the replayed dataset, which is
/// only what the target holds when every key and command went there unchanged.
pub(super) fn check_replayable(opts: &Options) -> Result<(), Stop> {
    let why = if !opts.filter.is_pass_all() {
        Some("key filters")
    } else if opts.ttl != super::policy::Ttl::Keep {
        Some("--ttl")
    } else if opts.skip_expired {
        Some("--expired exclude")
    } else {
        None
    };
    match why {
        Some(why) => Err(Stop::Usage(format!(
            "{}: --verify with an AOF input compares the target with the AOF replayed offline; {why} change the RDB part but not the replayed commands, so they cannot be verified together",
            opts.path.display()
        ))),
        None => Ok(()),
    }
}

/// `--verify` of an AOF input: every key of the replayed dataset read back.
pub(super) fn run_replayed(
    input: &Input,
    until: Option<i64>,
    sel: &mut Selector<'_>,
    server: &ServerInfo,
    mut sink: Sink,
    on_failure: &mut dyn FnMut(&Failure),
) -> Result<VerifyReport, Stop> {
    let field_ttls = holds_field_ttls(server);
    let pttl = !server.valkey && server.version.0 < 7;
    let now = super::now_ms();
    let mut unknown = 0u64;
    let mut seen = 0u64;
    let mut fail = |f: &Failure| {
        on_failure(&Failure {
            error: format!("verify: {}", f.error),
            ..f.clone()
        })
    };
    let result = replay::for_each_key(input, field_ttls, until, &mut |src_db, key, state| {
        let db = sel.target_db(src_db);
        let KeyState::Known {
            kind,
            digest,
            elements,
            expire_ms,
            ..
        } = state
        else {
            if let KeyState::Unknown(r) = state {
                unknown += 1;
                fail(&Failure {
                    db,
                    key: key.to_vec(),
                    offset: r.offset,
                    error: format!("not verified: the offline replay does not know this key ({r})"),
                });
            }
            return Ok(());
        };
        let lane = sink.lane_for(key, db)?;
        let b = sink.batch(lane);
        let kr = b.add_key(key);
        let may_be_gone = expire_ms.is_some_and(|e| e < now + GONE_WINDOW_MS);
        b.push(
            0,
            kr.clone(),
            Purpose::VerifyValue {
                kind,
                digest,
                elements,
                stream_meta: None,
                may_be_gone,
            },
            &[b"DUMP", key],
        );
        let ttl_cmd: &[u8] = if pttl { b"PTTL" } else { b"PEXPIRETIME" };
        b.push(
            0,
            kr,
            Purpose::VerifyTtl {
                expire: expire_ms,
                pttl,
            },
            &[ttl_cmd, key],
        );
        sink.added(lane, 0, key, Some(src_db))?;
        seen += 1;
        if seen % 256 == 0 {
            for f in sink.take_failures() {
                fail(&f);
            }
        }
        Ok(())
    });
    match result {
        Ok(_) => {}
        Err(ReplayError::Io(e)) => return Err(Stop::Io(e)),
        Err(e) => return Err(Stop::Usage(e.to_string())),
    }
    let finished = sink.finish();
    for f in sink.take_failures() {
        fail(&f);
    }
    finished?;
    Ok(VerifyReport {
        verified: sink.written(),
        mismatched: sink.totals.values().map(|t| t.failed).sum::<u64>() + unknown,
        ttl_by_pttl: pttl,
        field_ttls,
    })
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
        let stream_meta = match k.value {
            Value::Stream { version, body } => {
                let fields = stream_fields(server, &method, version);
                let d = stream_meta_digest(body, version, fields)
                    .map_err(|e| Stop::Usage(e.to_string()))?;
                Some((fields, d))
            }
            _ => None,
        };
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
                stream_meta,
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
