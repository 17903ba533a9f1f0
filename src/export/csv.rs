//! `--format csv`: one row per element, for spreadsheets, `grep` and loading into a
//! table. Header `db,key,type,expire_at_ms,index,field,value,field_expire_at_ms`:
//!
//! * string: `value`; list: `index` (position) and `value`; set: `value` (member);
//! * zset: `field` (member) and `value` (score: shortest round-trip decimal, `inf`, `-inf`);
//! * hash: `field`, `value`, and `field_expire_at_ms` for fields with a TTL;
//! * stream: one row per field of each entry, `index` the entry id (`ms-seq`); a stream
//!   without entries has one row with the three empty;
//! * module: `field` the module type name, `value` the base64 `DUMP` payload.
//!
//! Byte strings are written raw, quoted RFC 4180-style when they hold a comma, quote,
//! CR or LF (quotes doubled), so every byte survives a CSV reader; `--bytes base64|hex`
//! encodes every key, field and value instead. Rows end with `\n`. What CSV cannot hold
//! (stream groups, functions) is in jsonl.

use super::bytes::{base64, hex, BytesMode};
use super::output::Sink;
use super::{each_element, ExportError};
use crate::rdb::items::Element;
use crate::rdb::types::Kind;
use crate::rdb::{dump, module, KeyRecord, Value};

pub const HEADER: &[u8] = b"db,key,type,expire_at_ms,index,field,value,field_expire_at_ms\n";

/// A byte string as one CSV field.
fn field(b: &[u8], mode: BytesMode, out: &mut Vec<u8>) {
    match mode {
        BytesMode::Base64 => base64(b, out),
        BytesMode::Hex => hex(b, out),
        BytesMode::Auto => crate::csv::write_field(out, b).expect("writing to a Vec does not fail"),
    }
}

fn num(n: impl itoa::Integer, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn score(s: f64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    if s == f64::INFINITY {
        out.extend_from_slice(b"inf");
    } else if s == f64::NEG_INFINITY {
        out.extend_from_slice(b"-inf");
    } else {
        let _ = write!(out, "{s:?}");
    }
}

/// The rows of key `k` (named `key`, in db `db`); `rdb_version` is stamped on module
/// values' `DUMP` payloads.
pub fn key_rows(
    k: &KeyRecord<'_>,
    db: u64,
    key: &[u8],
    mode: BytesMode,
    rdb_version: u16,
    sink: &mut Sink<'_>,
) -> Result<(), ExportError> {
    // Everything before `index`, the same on every row of the key.
    let mut lead = Vec::with_capacity(key.len() + 48);
    num(db, &mut lead);
    lead.push(b',');
    field(key, mode, &mut lead);
    lead.push(b',');
    lead.extend_from_slice(k.info.kind.name().as_bytes());
    lead.push(b',');
    if let Some(ms) = k.expire_ms {
        num(ms, &mut lead);
    }
    lead.push(b',');
    let row = |sink: &mut Sink<'_>, fill: &mut dyn FnMut(&mut Vec<u8>)| {
        sink.buf.extend_from_slice(&lead);
        fill(&mut sink.buf);
        sink.buf.push(b'\n');
        sink.spill()
    };
    if let Value::Module { module_id, .. } = k.value {
        let (name, _) = module::type_name(module_id);
        let payload = dump::key_payload(k, rdb_version);
        return Ok(row(sink, &mut |b| {
            b.push(b',');
            field(name.as_bytes(), mode, b);
            b.push(b',');
            base64(&payload, b);
            b.push(b',');
        })?);
    }
    let mut position = 0u64;
    let mut rows = 0u64;
    each_element(&k.value, |e| {
        match (k.info.kind, e) {
            (Kind::List, Element::Member(v)) => {
                row(sink, &mut |b| {
                    num(position, b);
                    b.extend_from_slice(b",,");
                    field(v, mode, b);
                    b.push(b',');
                })?;
                position += 1;
            }
            (_, Element::Member(v)) => row(sink, &mut |b| {
                b.extend_from_slice(b",,");
                field(v, mode, b);
                b.push(b',');
            })?,
            (_, Element::Scored(m, s)) => row(sink, &mut |b| {
                b.push(b',');
                field(m, mode, b);
                b.push(b',');
                score(s, b);
                b.push(b',');
            })?,
            (_, Element::Field(f, v, ttl)) => row(sink, &mut |b| {
                b.push(b',');
                field(f, mode, b);
                b.push(b',');
                field(v, mode, b);
                b.push(b',');
                if let Some(t) = ttl {
                    num(t, b);
                }
            })?,
            (_, Element::StreamEntry(id, pairs)) => {
                for (f, v) in pairs.iter() {
                    row(sink, &mut |b| {
                        num(id.ms, b);
                        b.push(b'-');
                        num(id.seq, b);
                        b.push(b',');
                        field(f, mode, b);
                        b.push(b',');
                        field(v, mode, b);
                        b.push(b',');
                    })?;
                }
            }
        }
        rows += 1;
        Ok(())
    })?;
    if rows == 0 {
        row(sink, &mut |b| b.extend_from_slice(b",,,"))?;
    }
    Ok(())
}
