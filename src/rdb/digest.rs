//! Encoding-independent value digests: the same content gives the same digest
//! whether a server stored it as listpack, ziplist, intset, quicklist or hashtable,
//! so a value read back from another server version (or written with native
//! commands) can be compared with the file's. Sets and hashes are order-independent
//! (a wrapping sum of per-element hashes), lists and stream entries ordered, sorted
//! sets map member → score. A stream's metadata (last id, counters, consumer groups,
//! their pending entries and consumers) has its own digest, [`stream_meta_digest`], over
//! the fields both sides of a comparison can hold ([`StreamMetaFields`]).
//!
//! The hash is SipHash with fixed keys: digests are comparable within a run and
//! across threads, not meant to be stored.

use std::hash::Hasher;

use super::items::{self, Element};
use super::stream::{self, StreamId};
use super::types::Kind;
use super::value::{Region, Value};
use super::RdbStr;
use crate::Result;

fn hasher() -> std::hash::DefaultHasher {
    std::hash::DefaultHasher::new()
}

fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h = hasher();
    for p in parts {
        h.write_usize(p.len());
        h.write(p);
    }
    h.finish()
}

/// Digest of a value and its element count. `field_ttls` says whether hash field
/// expiries take part (leave them out when comparing with a target that cannot hold
/// them). Module values are compared by their serialized bytes.
pub fn value_digest(
    kind: Kind,
    value: &Value<'_>,
    value_bytes: &[u8],
    field_ttls: bool,
) -> Result<(u64, u64)> {
    if kind == Kind::Module {
        return Ok((module_digest(value_bytes), 1));
    }
    let mut d = Digest::new(kind, field_ttls);
    items::for_each(value, |e| {
        d.add(&e);
        Ok(())
    })?;
    Ok(d.finish())
}

/// Digest of a module value's serialized bytes.
pub fn module_digest(value_bytes: &[u8]) -> u64 {
    hash_parts(&[value_bytes])
}

/// The digest of [`value_digest`] built element by element, for values that are not
/// encoded bytes (a dataset replayed from AOF commands): the same elements give the
/// same digest in any order for sets, hashes and sorted sets, in the given order for
/// lists, strings and streams.
pub struct Digest {
    ordered: bool,
    field_ttls: bool,
    ordered_h: std::hash::DefaultHasher,
    sum: u64,
    n: u64,
}

impl Digest {
    pub fn new(kind: Kind, field_ttls: bool) -> Digest {
        Digest {
            ordered: matches!(kind, Kind::List | Kind::String | Kind::Stream),
            field_ttls,
            ordered_h: hasher(),
            sum: 0,
            n: 0,
        }
    }

    pub fn add(&mut self, e: &Element<'_>) {
        self.n += 1;
        let h = match *e {
            Element::Member(m) => hash_parts(&[m]),
            Element::Scored(m, s) => {
                // -0.0 and 0.0 are the same score to a server.
                let s = if s == 0.0 { 0.0f64 } else { s };
                hash_parts(&[m, &s.to_bits().to_le_bytes()])
            }
            Element::Field(f, v, ttl) => {
                let ttl = if self.field_ttls {
                    ttl.unwrap_or(-1)
                } else {
                    -1
                };
                hash_parts(&[f, v, &ttl.to_le_bytes()])
            }
            Element::StreamEntry(id, fields) => {
                let mut h = hasher();
                h.write_u64(id.ms);
                h.write_u64(id.seq);
                for (f, v) in fields {
                    h.write_usize(f.len());
                    h.write(f);
                    h.write_usize(v.len());
                    h.write(v);
                }
                h.finish()
            }
        };
        if self.ordered {
            self.ordered_h.write_u64(h);
        } else {
            self.sum = self.sum.wrapping_add(h);
        }
    }

    /// The digest and the element count.
    pub fn finish(self) -> (u64, u64) {
        let d = if self.ordered {
            self.ordered_h.finish()
        } else {
            self.sum
        };
        (d, self.n)
    }
}

/// Which parts of a stream's metadata [`stream_meta_digest`] covers: what both sides of
/// a comparison hold. A field the level asks for that a stream's version lacks counts
/// as absent, so it differs from any stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamMetaFields {
    /// The newest stream version whose fields take part. 1 (RDB 9): last id; per group
    /// its name and last-delivered id; each pending entry's id and delivery count and
    /// the consumer owning it; consumer names. 2 (Redis 7.0): + first id, max-deleted
    /// id, entries-added, each group's entries-read. 3 (Redis 7.2): + consumer
    /// active-time. 4 (Redis 8.6): + idempotent-producer settings.
    pub level: u8,
    /// Pending entries' last delivery time.
    pub delivery_times: bool,
    /// Consumers' seen-time (and active-time from level 3).
    pub consumer_times: bool,
    /// Consumers that own no pending entry.
    pub idle_consumers: bool,
    /// Level 4: the idempotent-producer ids and their counters, not only the settings.
    pub idmp_history: bool,
}

impl StreamMetaFields {
    /// Every field a stream of `level` holds.
    pub fn all(level: u8) -> StreamMetaFields {
        StreamMetaFields {
            level,
            delivery_times: true,
            consumer_times: true,
            idle_consumers: true,
            idmp_history: true,
        }
    }
}

fn write_id(h: &mut impl Hasher, id: StreamId) {
    h.write_u64(id.ms);
    h.write_u64(id.seq);
}

/// Absent (the stream's version lacks the field) hashes apart from every value.
fn write_opt(h: &mut impl Hasher, v: Option<u64>) {
    match v {
        Some(v) => {
            h.write_u8(1);
            h.write_u64(v);
        }
        None => h.write_u8(0),
    }
}

fn write_str(h: &mut impl Hasher, s: RdbStr<'_>, buf: &mut Vec<u8>) -> Result<()> {
    let b = s.decode(buf)?;
    h.write_usize(b.len());
    h.write(b);
    Ok(())
}

/// Digest of a stream's metadata (`body` and `version` as in `Value::Stream`) over
/// `fields`, read from the encoded bytes in one pass with no collection: groups,
/// pending entries, consumers and producer ids each add into an order-independent sum,
/// so the file order does not matter. A pending entry's owner is bound by summing
/// (consumer, id) pairs beside the group's (id, delivery) sum: with ids unique in a
/// group, the two sums fix who owns what.
pub fn stream_meta_digest(body: Region<'_>, version: u8, fields: StreamMetaFields) -> Result<u64> {
    let m = stream::meta(body, version)?;
    let mut buf = Vec::new();
    let mut h = hasher();
    write_id(&mut h, m.last_id);
    if fields.level >= 2 {
        write_opt(&mut h, m.first_id.map(|i| i.ms));
        write_opt(&mut h, m.first_id.map(|i| i.seq));
        write_opt(&mut h, m.max_deleted_id.map(|i| i.ms));
        write_opt(&mut h, m.max_deleted_id.map(|i| i.seq));
        write_opt(&mut h, m.entries_added);
    }
    let mut groups = 0u64;
    for g in m.groups() {
        let g = g?;
        let mut gh = hasher();
        write_str(&mut gh, g.name, &mut buf)?;
        write_id(&mut gh, g.last_id);
        if fields.level >= 2 {
            write_opt(&mut gh, g.entries_read.map(|n| n as u64));
        }
        let mut pel = 0u64;
        for p in g.pel() {
            let p = p?;
            let mut ph = hasher();
            write_id(&mut ph, p.id);
            ph.write_u64(p.delivery_count);
            if fields.delivery_times {
                ph.write_i64(p.delivery_time);
            }
            pel = pel.wrapping_add(ph.finish());
        }
        gh.write_u64(g.pel_count);
        gh.write_u64(pel);
        let mut consumers = 0u64;
        let mut counted = 0u64;
        for c in g.consumers() {
            let c = c?;
            if c.pel_count == 0 && !fields.idle_consumers {
                continue;
            }
            counted += 1;
            let mut ch = hasher();
            write_str(&mut ch, c.name, &mut buf)?;
            if fields.consumer_times {
                ch.write_i64(c.seen_time);
                if fields.level >= 3 {
                    write_opt(&mut ch, c.active_time.map(|t| t as u64));
                }
            }
            let mut owned = 0u64;
            for id in c.pel() {
                let mut oh = hasher();
                write_id(&mut oh, id?);
                owned = owned.wrapping_add(oh.finish());
            }
            ch.write_u64(c.pel_count);
            ch.write_u64(owned);
            consumers = consumers.wrapping_add(ch.finish());
        }
        gh.write_u64(counted);
        gh.write_u64(consumers);
        groups = groups.wrapping_add(gh.finish());
    }
    h.write_u64(m.group_count);
    h.write_u64(groups);
    if fields.level >= 4 {
        let mut iids = 0u64;
        let idmp = m.idmp_walk(|producer, iid, id| {
            if fields.idmp_history {
                let mut ih = hasher();
                write_str(&mut ih, producer, &mut buf)?;
                write_str(&mut ih, iid, &mut buf)?;
                write_id(&mut ih, id);
                iids = iids.wrapping_add(ih.finish());
            }
            Ok(())
        })?;
        write_opt(&mut h, idmp.map(|i| i.duration_s));
        write_opt(&mut h, idmp.map(|i| i.max_size));
        if fields.idmp_history {
            write_opt(&mut h, idmp.map(|i| i.iids));
            write_opt(&mut h, idmp.map(|i| i.iids_added));
            write_opt(&mut h, idmp.map(|i| i.duplicates));
            h.write_u64(iids);
        }
    }
    Ok(h.finish())
}

/// What [`payload_digest`] found in a DUMP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadDigest {
    pub kind: Kind,
    pub digest: u64,
    pub elements: u64,
    /// [`stream_meta_digest`] of a stream value, when fields were asked for.
    pub stream_meta: Option<u64>,
}

/// Digest of a DUMP payload's value (see [`value_digest`]) and, for a stream when
/// `stream_fields` is given, of its metadata. A payload of RDB version 80 is Valkey's
/// dialect.
pub fn payload_digest(
    payload: &[u8],
    field_ttls: bool,
    stream_fields: Option<StreamMetaFields>,
) -> Result<PayloadDigest> {
    use super::{cursor::Cursor, header::Dialect, Checker};
    let p = super::dump::parse(payload)?;
    let dialect = if p.rdb_version == 80 {
        Dialect::Valkey
    } else {
        Dialect::Redis
    };
    let info = super::types::lookup(p.type_id, dialect).ok_or_else(|| {
        crate::Error::corrupt(0, format!("DUMP payload of unknown type {}", p.type_id))
    })?;
    let mut cur = Cursor::new(p.value_bytes, 1);
    let (value, _) = super::value::read(&mut cur, info, dialect, &mut Checker::new(true))?;
    let (digest, elements) = value_digest(info.kind, &value, p.value_bytes, field_ttls)?;
    let stream_meta = match (value, stream_fields) {
        (Value::Stream { version, body }, Some(f)) => Some(stream_meta_digest(body, version, f)?),
        _ => None,
    };
    Ok(PayloadDigest {
        kind: info.kind,
        digest,
        elements,
        stream_meta,
    })
}

/// Stream values built by hand (metadata only) for the digest's and `diff`'s tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::{stream_meta_digest, StreamMetaFields};
    use crate::rdb::value::Region;
    use crate::rdb::writer::encode_length;

    /// A consumer: name, seen-time, active-time, owned pending ids (ms part).
    pub type Consumer = (&'static str, i64, i64, Vec<u64>);

    /// A group: name, last-delivered ms, entries-read, pending (ms, time, count), consumers.
    #[derive(Clone)]
    pub struct Group {
        pub name: &'static str,
        pub last: u64,
        pub entries_read: u64,
        pub pel: Vec<(u64, i64, u64)>,
        pub consumers: Vec<Consumer>,
    }

    #[derive(Clone)]
    pub struct Meta {
        pub last: u64,
        pub entries_added: u64,
        pub max_deleted: u64,
        pub groups: Vec<Group>,
    }

    fn len(out: &mut Vec<u8>, n: u64) {
        let mut b = [0u8; 9];
        let l = encode_length(n, &mut b);
        out.extend_from_slice(&b[..l]);
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        len(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }

    fn sid(out: &mut Vec<u8>, ms: u64) {
        out.extend_from_slice(&((ms as u128) << 64).to_be_bytes());
    }

    /// The stream value (no nodes: only the metadata) as a server of `version` writes it.
    pub fn encode(m: &Meta, version: u8) -> Vec<u8> {
        let mut out = Vec::new();
        len(&mut out, 0); // nodes
        len(&mut out, 0); // length
        len(&mut out, m.last);
        len(&mut out, 0);
        if version >= 2 {
            len(&mut out, 0); // first id
            len(&mut out, 0);
            len(&mut out, m.max_deleted);
            len(&mut out, 0);
            len(&mut out, m.entries_added);
        }
        len(&mut out, m.groups.len() as u64);
        for g in &m.groups {
            string(&mut out, g.name);
            len(&mut out, g.last);
            len(&mut out, 0);
            if version >= 2 {
                len(&mut out, g.entries_read);
            }
            len(&mut out, g.pel.len() as u64);
            for (ms, time, count) in &g.pel {
                sid(&mut out, *ms);
                out.extend_from_slice(&time.to_le_bytes());
                len(&mut out, *count);
            }
            len(&mut out, g.consumers.len() as u64);
            for (name, seen, active, ids) in &g.consumers {
                string(&mut out, name);
                out.extend_from_slice(&seen.to_le_bytes());
                if version >= 3 {
                    out.extend_from_slice(&active.to_le_bytes());
                }
                len(&mut out, ids.len() as u64);
                for ms in ids {
                    sid(&mut out, *ms);
                }
            }
        }
        out
    }

    /// A named change to the sample.
    type Edit = (&'static str, fn(&mut Meta));

    fn digest(m: &Meta, version: u8, fields: StreamMetaFields) -> u64 {
        let bytes = encode(m, version);
        stream_meta_digest(
            Region {
                bytes: &bytes,
                at: 0,
            },
            version,
            fields,
        )
        .unwrap()
    }

    pub fn sample() -> Meta {
        Meta {
            last: 9,
            entries_added: 9,
            max_deleted: 2,
            groups: vec![
                Group {
                    name: "g1",
                    last: 5,
                    entries_read: 5,
                    pel: vec![(3, 1000, 1), (5, 2000, 2)],
                    consumers: vec![("alice", 10, 11, vec![3]), ("bob", 20, 21, vec![5])],
                },
                Group {
                    name: "g2",
                    last: 9,
                    entries_read: 9,
                    pel: vec![],
                    consumers: vec![("idle", 30, 31, vec![])],
                },
            ],
        }
    }

    /// Every field a level covers changes the digest; file order does not.
    #[test]
    fn each_field_counts_and_order_does_not() {
        let all = StreamMetaFields::all(3);
        let base = digest(&sample(), 3, all);
        assert_eq!(base, digest(&sample(), 3, all), "deterministic");
        let mut reordered = sample();
        reordered.groups.reverse();
        reordered.groups[1].consumers.reverse();
        reordered.groups[1].pel.reverse();
        assert_eq!(digest(&reordered, 3, all), base, "order-independent");
        let changes: Vec<Edit> = vec![
            ("last id", |m| m.last = 10),
            ("entries-added", |m| m.entries_added = 10),
            ("max-deleted id", |m| m.max_deleted = 3),
            ("group name", |m| m.groups[1].name = "g3"),
            ("last-delivered", |m| m.groups[0].last = 7),
            ("entries-read", |m| m.groups[0].entries_read = 7),
            ("acked", |m| {
                m.groups[0].pel.pop();
                m.groups[0].consumers[1].3.clear();
            }),
            ("delivery time", |m| m.groups[0].pel[0].1 = 1001),
            ("delivery count", |m| m.groups[0].pel[0].2 = 2),
            ("owner", |m| {
                m.groups[0].consumers[0].3 = vec![5];
                m.groups[0].consumers[1].3 = vec![3];
            }),
            ("seen-time", |m| m.groups[0].consumers[0].1 = 12),
            ("active-time", |m| m.groups[0].consumers[0].2 = 12),
            ("consumer deleted", |m| {
                m.groups[1].consumers.clear();
            }),
            ("group deleted", |m| {
                m.groups.pop();
            }),
        ];
        for (what, change) in changes {
            let mut m = sample();
            change(&mut m);
            assert_ne!(digest(&m, 3, all), base, "{what}");
        }
    }

    /// A field outside the level or left out by a flag does not count.
    #[test]
    fn levels_and_flags_leave_fields_out() {
        let base = sample();
        let same = |m: &Meta, version: u8, f: StreamMetaFields| {
            digest(m, version, f) == digest(&base, version, f)
        };
        let mut m = sample();
        m.groups[0].consumers[0].2 = 99; // active-time
        assert!(same(&m, 3, StreamMetaFields::all(2)));
        assert!(!same(&m, 3, StreamMetaFields::all(3)));
        let mut m = sample();
        m.entries_added = 99;
        m.groups[0].entries_read = 1;
        assert!(same(&m, 3, StreamMetaFields::all(1)));
        assert!(!same(&m, 3, StreamMetaFields::all(2)));
        let no_times = StreamMetaFields {
            delivery_times: false,
            consumer_times: false,
            ..StreamMetaFields::all(3)
        };
        let mut m = sample();
        m.groups[0].pel[1].1 = 5;
        m.groups[0].consumers[1].1 = 5;
        m.groups[0].consumers[1].2 = 5;
        assert!(same(&m, 3, no_times));
        m.groups[0].pel[1].2 = 5;
        assert!(!same(&m, 3, no_times), "the delivery count still counts");
        let busy_only = StreamMetaFields {
            idle_consumers: false,
            ..StreamMetaFields::all(3)
        };
        let mut m = sample();
        m.groups[1].consumers.clear();
        assert!(same(&m, 3, busy_only));
        m.groups[0].consumers.pop();
        m.groups[0].consumers[0].3.push(5);
        assert!(!same(&m, 3, busy_only), "an owner change still counts");
    }

    /// The same data written as v1, v2 and v3 agrees at the level all hold; asking for a
    /// field a version lacks makes it differ (absent is not a value).
    #[test]
    fn versions_agree_on_what_they_share() {
        let m = sample();
        let at = |version: u8, level: u8| digest(&m, version, StreamMetaFields::all(level));
        assert_eq!(at(1, 1), at(3, 1));
        assert_eq!(at(2, 1), at(3, 1));
        assert_eq!(at(2, 2), at(3, 2));
        assert_ne!(at(1, 2), at(2, 2));
        assert_ne!(at(2, 3), at(3, 3));
    }
}
