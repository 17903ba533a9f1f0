//! One JSON object per key (the `jsonl` / `json` formats; schema in the README),
//! written straight from the encoded bytes: a collection's elements go to the output
//! as they are decoded, so a huge key costs one output buffer, not its size.

use super::bytes::{json_bytes, json_str, BytesMode};
use super::output::Sink;
use super::{each_element, ExportError};
use crate::rdb::items::Element;
use crate::rdb::stream::{self, StreamId};
use crate::rdb::types::Kind;
use crate::rdb::{dump, module, KeyRecord, Value};

/// How objects are written.
#[derive(Clone, Copy, Debug)]
pub struct JsonOptions {
    pub bytes: BytesMode,
    /// RDB version of the source file, stamped on module values' `DUMP` payloads.
    pub rdb_version: u16,
}

fn num(n: impl itoa::Integer, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn opt_num(n: Option<impl itoa::Integer>, out: &mut Vec<u8>) {
    match n {
        Some(n) => num(n, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A score as a JSON number; the infinities (valid scores, not JSON numbers) as the
/// strings `"inf"` and `"-inf"`.
pub fn score(s: f64, out: &mut Vec<u8>) {
    if s == f64::INFINITY {
        out.extend_from_slice(b"\"inf\"");
    } else if s == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-inf\"");
    } else {
        super::number::shortest(s, out);
    }
}

fn id(i: StreamId, out: &mut Vec<u8>) {
    out.push(b'"');
    num(i.ms, out);
    out.push(b'-');
    num(i.seq, out);
    out.push(b'"');
}

fn opt_id(i: Option<StreamId>, out: &mut Vec<u8>) {
    match i {
        Some(i) => id(i, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// Writes the object for key `k` (named `key`, in db `db`) followed by nothing: the
/// caller adds the separator (newline or comma).
pub fn key_object(
    k: &KeyRecord<'_>,
    db: u64,
    key: &[u8],
    o: &JsonOptions,
    sink: &mut Sink<'_>,
) -> Result<(), ExportError> {
    let b = &mut sink.buf;
    b.extend_from_slice(b"{\"db\":");
    num(db, b);
    b.extend_from_slice(b",\"key\":");
    json_bytes(key, o.bytes, b);
    b.extend_from_slice(b",\"type\":\"");
    b.extend_from_slice(k.info.kind.name().as_bytes());
    b.extend_from_slice(b"\",\"encoding\":\"");
    b.extend_from_slice(k.info.encoding.as_bytes());
    b.extend_from_slice(b"\",\"expire_at_ms\":");
    opt_num(k.expire_ms, b);
    if let Some(idle) = k.idle_seconds {
        b.extend_from_slice(b",\"idle_s\":");
        num(idle, b);
    }
    if let Some(f) = k.lfu_freq {
        b.extend_from_slice(b",\"freq\":");
        num(f, b);
    }
    b.extend_from_slice(b",\"value\":");
    let mode = o.bytes;
    match (k.info.kind, &k.value) {
        (_, Value::Module { module_id, .. }) => {
            let (name, encver) = module::type_name(*module_id);
            b.extend_from_slice(b"{\"module\":");
            json_str(&name, b);
            b.extend_from_slice(b",\"encver\":");
            num(encver, b);
            b.extend_from_slice(b",\"raw\":");
            bytes_b64(k.value_bytes, b);
            b.extend_from_slice(b",\"dump\":");
            bytes_b64(&dump::key_payload(k, o.rdb_version), b);
            b.push(b'}');
        }
        (Kind::String, _) => each_element(&k.value, |e| {
            if let Element::Member(v) = e {
                json_bytes(v, mode, &mut sink.buf);
            }
            Ok(())
        })?,
        (Kind::Stream, Value::Stream { version, body }) => {
            stream_value(k, *body, *version, mode, sink)?
        }
        _ => {
            sink.buf.push(b'[');
            let mut first = true;
            each_element(&k.value, |e| {
                let b = &mut sink.buf;
                if !first {
                    b.push(b',');
                }
                first = false;
                match e {
                    Element::Member(m) => json_bytes(m, mode, b),
                    Element::Scored(m, s) => {
                        b.push(b'[');
                        json_bytes(m, mode, b);
                        b.push(b',');
                        score(s, b);
                        b.push(b']');
                    }
                    Element::Field(f, v, ttl) => {
                        b.push(b'[');
                        json_bytes(f, mode, b);
                        b.push(b',');
                        json_bytes(v, mode, b);
                        if let Some(t) = ttl {
                            b.push(b',');
                            num(t, b);
                        }
                        b.push(b']');
                    }
                    Element::StreamEntry(..) => {}
                }
                sink.spill()?;
                Ok(())
            })?;
            sink.buf.push(b']');
        }
    }
    sink.buf.push(b'}');
    Ok(())
}

/// Module payloads are binary by nature: always `{"base64": ...}`.
fn bytes_b64(v: &[u8], b: &mut Vec<u8>) {
    b.extend_from_slice(b"{\"base64\":\"");
    super::bytes::base64(v, b);
    b.extend_from_slice(b"\"}");
}

fn stream_value(
    k: &KeyRecord<'_>,
    body: crate::rdb::value::Region<'_>,
    version: u8,
    mode: BytesMode,
    sink: &mut Sink<'_>,
) -> Result<(), ExportError> {
    sink.buf.extend_from_slice(b"{\"entries\":[");
    let mut first = true;
    each_element(&k.value, |e| {
        if let Element::StreamEntry(i, pairs) = e {
            let b = &mut sink.buf;
            if !first {
                b.push(b',');
            }
            first = false;
            b.extend_from_slice(b"{\"id\":");
            id(i, b);
            b.extend_from_slice(b",\"fields\":[");
            for (n, (f, v)) in pairs.iter().enumerate() {
                if n > 0 {
                    b.push(b',');
                }
                b.push(b'[');
                json_bytes(f, mode, b);
                b.push(b',');
                json_bytes(v, mode, b);
                b.push(b']');
            }
            b.extend_from_slice(b"]}");
            sink.spill()?;
        }
        Ok(())
    })?;
    let m = stream::meta(body, version)?;
    let b = &mut sink.buf;
    b.extend_from_slice(b"],\"length\":");
    num(m.length, b);
    b.extend_from_slice(b",\"last_id\":");
    id(m.last_id, b);
    b.extend_from_slice(b",\"first_id\":");
    opt_id(m.first_id, b);
    b.extend_from_slice(b",\"max_deleted_id\":");
    opt_id(m.max_deleted_id, b);
    b.extend_from_slice(b",\"entries_added\":");
    opt_num(m.entries_added, b);
    b.extend_from_slice(b",\"groups\":[");
    for (gi, g) in m.groups().enumerate() {
        let g = g?;
        let b = &mut sink.buf;
        if gi > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"{\"name\":");
        json_bytes(&g.name.to_vec()?, mode, b);
        b.extend_from_slice(b",\"last_delivered_id\":");
        id(g.last_id, b);
        b.extend_from_slice(b",\"entries_read\":");
        opt_num(g.entries_read.filter(|n| *n >= 0), b);
        b.extend_from_slice(b",\"pending\":[");
        for (pi, p) in g.pel().enumerate() {
            let p = p?;
            let b = &mut sink.buf;
            if pi > 0 {
                b.push(b',');
            }
            b.extend_from_slice(b"{\"id\":");
            id(p.id, b);
            b.extend_from_slice(b",\"delivery_time_ms\":");
            num(p.delivery_time, b);
            b.extend_from_slice(b",\"delivery_count\":");
            num(p.delivery_count, b);
            b.push(b'}');
            sink.spill()?;
        }
        sink.buf.extend_from_slice(b"],\"consumers\":[");
        for (ci, c) in g.consumers().enumerate() {
            let c = c?;
            let b = &mut sink.buf;
            if ci > 0 {
                b.push(b',');
            }
            b.extend_from_slice(b"{\"name\":");
            json_bytes(&c.name.to_vec()?, mode, b);
            b.extend_from_slice(b",\"seen_time_ms\":");
            num(c.seen_time, b);
            b.extend_from_slice(b",\"active_time_ms\":");
            opt_num(c.active_time, b);
            b.extend_from_slice(b",\"pending\":[");
            for (n, i) in c.pel().enumerate() {
                let i = i?;
                if n > 0 {
                    sink.buf.push(b',');
                }
                id(i, &mut sink.buf);
                sink.spill()?;
            }
            sink.buf.extend_from_slice(b"]}");
        }
        sink.buf.extend_from_slice(b"]}");
    }
    sink.buf.extend_from_slice(b"]}");
    Ok(())
}

/// A function library: `{"type":"function","code":...}`.
pub fn function_object(code: &[u8], o: &JsonOptions, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":\"function\",\"code\":");
    json_bytes(code, o.bytes, out);
    out.push(b'}');
}

/// An AOF command: `{"command":[arg, ...]}`.
pub fn command_object(args: &[&[u8]], o: &JsonOptions, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"command\":[");
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_bytes(a, o.bytes, out);
    }
    out.extend_from_slice(b"]}");
}
