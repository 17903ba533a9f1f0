//! Encoding-independent value digests: the same content gives the same digest
//! whether a server stored it as listpack, ziplist, intset, quicklist or hashtable,
//! so a value read back from another server version (or written with native
//! commands) can be compared with the file's. Sets and hashes are order-independent
//! (a wrapping sum of per-element hashes), lists and stream entries ordered, sorted
//! sets map member → score. Stream metadata (groups, last id) is not part of it.
//!
//! The hash is SipHash with fixed keys: digests are comparable within a run and
//! across threads, not meant to be stored.

use std::hash::Hasher;

use super::items::{self, Element};
use super::types::Kind;
use super::value::Value;
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
        return Ok((hash_parts(&[value_bytes]), 1));
    }
    let ordered = matches!(kind, Kind::List | Kind::String | Kind::Stream);
    let mut ordered_h = hasher();
    let mut sum = 0u64;
    let mut n = 0u64;
    items::for_each(value, |e| {
        n += 1;
        let h = match e {
            Element::Member(m) => hash_parts(&[m]),
            Element::Scored(m, s) => {
                // -0.0 and 0.0 are the same score to a server.
                let s = if s == 0.0 { 0.0f64 } else { s };
                hash_parts(&[m, &s.to_bits().to_le_bytes()])
            }
            Element::Field(f, v, ttl) => {
                let ttl = if field_ttls { ttl.unwrap_or(-1) } else { -1 };
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
        if ordered {
            ordered_h.write_u64(h);
        } else {
            sum = sum.wrapping_add(h);
        }
        Ok(())
    })?;
    Ok((if ordered { ordered_h.finish() } else { sum }, n))
}

/// Digest of a DUMP payload's value (see [`value_digest`]), with its kind. A payload
/// of RDB version 80 is Valkey's dialect.
pub fn payload_digest(payload: &[u8], field_ttls: bool) -> Result<(Kind, u64, u64)> {
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
    let (digest, n) = value_digest(info.kind, &value, p.value_bytes, field_ttls)?;
    Ok((info.kind, digest, n))
}
