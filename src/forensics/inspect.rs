//! `inspect`: maps bytes to records. Lists records with their byte ranges (so damage
//! can be mapped to keys), and annotates a hex dump around an offset with the structure
//! that covers it: record, prefix opcodes, length fields, encodings, LZF blobs,
//! listpack/ziplist entries.

use std::io::Write;

/// Entries annotated per blob (a dump shows a few lines around one offset anyway).
const MAX_ENTRY_SPANS: usize = 4096;

use super::resync::{Event, Walker};
use crate::error::display_key;
use crate::rdb::cursor::{Cursor, Len};
use crate::rdb::encoding::listpack::Listpack;
use crate::rdb::record::opcode;
use crate::rdb::{types, RdbStr, Record, Value};

/// One line of `--records`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordLine {
    pub offset: u64,
    pub length: u64,
    /// `key`, `aux`, `selectdb`, `resizedb`, `function`, `eof`, ..., or `lost`.
    pub record: &'static str,
    pub db: Option<u64>,
    pub key: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<&'static str>,
    pub encoding: Option<&'static str>,
    pub expire_ms: Option<i64>,
    /// For `lost`: why.
    pub error: Option<String>,
}

fn record_name(r: &Record<'_>) -> &'static str {
    match r {
        Record::Aux { .. } => "aux",
        Record::SelectDb { .. } => "selectdb",
        Record::ResizeDb { .. } => "resizedb",
        Record::SlotInfo { .. } => "slotinfo",
        Record::ModuleAux { .. } => "module-aux",
        Record::Function { .. } => "function",
        Record::FunctionPreGa { .. } => "function-pre-ga",
        Record::SlotImport { .. } => "slot-import",
        Record::Key(_) => "key",
        Record::Eof => "eof",
    }
}

/// Every record and lost span of `data`, in file order.
pub fn records(
    data: &[u8],
    mut f: impl FnMut(RecordLine) -> std::io::Result<()>,
) -> crate::Result<std::io::Result<()>> {
    let mut w = Walker::new(data)?;
    let mut db = None;
    while let Some(ev) = w.next_event() {
        let line = match ev {
            Event::Record { start, end, record } => {
                if let Record::SelectDb { db: d } = record {
                    db = Some(d);
                }
                let mut l = RecordLine {
                    offset: start,
                    length: end - start,
                    record: record_name(&record),
                    db,
                    key: None,
                    kind: None,
                    encoding: None,
                    expire_ms: None,
                    error: None,
                };
                match &record {
                    Record::Key(k) => {
                        l.db = k.db;
                        l.key = Some(display_key(&k.key.to_vec().unwrap_or_default()));
                        l.kind = Some(k.info.kind.name());
                        l.encoding = Some(k.info.encoding);
                        l.expire_ms = k.expire_ms;
                    }
                    Record::Aux { key, .. } => l.key = Some(key.to_string_lossy()),
                    _ => {}
                }
                l
            }
            Event::Lost(x) => RecordLine {
                offset: x.start,
                length: x.end - x.start,
                record: "lost",
                db: x.db,
                key: x.key.as_deref().map(display_key),
                kind: None,
                encoding: None,
                expire_ms: None,
                error: Some(format!("at byte {}: {}", x.error_offset, x.reason)),
            },
        };
        if let Err(e) = f(line) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// A labelled byte span for the annotated dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub label: String,
}

/// The structure around `offset`: the record covering it and its fields, as spans.
/// On damaged files the record list comes from the resynchronising walk, and a lost
/// span is labelled with the error that stopped parsing.
pub fn annotate(data: &[u8], offset: u64) -> crate::Result<Vec<Span>> {
    let mut w = Walker::new(data)?;
    let mut spans = vec![];
    if offset < crate::rdb::header::HEADER_LEN as u64 {
        spans.push(Span {
            start: 0,
            end: 9,
            label: format!(
                "header: magic {} version {}",
                w.header().magic_name(),
                w.header().version
            ),
        });
        return Ok(spans);
    }
    let dialect = w.header().dialect;
    while let Some(ev) = w.next_event() {
        match ev {
            Event::Record { start, end, record } if start <= offset && offset < end => {
                spans.push(Span {
                    start,
                    end,
                    label: describe_record(&record),
                });
                fields(data, start, &record, dialect, &mut spans);
                break;
            }
            Event::Lost(l) if l.start <= offset && offset < l.end => {
                spans.push(Span {
                    start: l.start,
                    end: l.end,
                    label: format!(
                        "unreadable span (parsing stopped at byte {}: {}){}",
                        l.error_offset,
                        l.reason,
                        l.key
                            .as_deref()
                            .map(|k| format!(", key \"{}\"", display_key(k)))
                            .unwrap_or_default()
                    ),
                });
                break;
            }
            Event::Record { start, .. } | Event::Lost(super::resync::LostRange { start, .. })
                if start > offset =>
            {
                break
            }
            _ => {}
        }
    }
    Ok(spans)
}

fn describe_record(r: &Record<'_>) -> String {
    match r {
        Record::Key(k) => format!(
            "key record \"{}\" (db {}, {} {}, type byte {})",
            display_key(&k.key.to_vec().unwrap_or_default()),
            k.db.map_or("?".into(), |d| d.to_string()),
            k.info.kind.name(),
            k.info.encoding,
            k.info.id
        ),
        Record::Aux { key, value } => format!(
            "AUX {} = {}",
            key.to_string_lossy(),
            value.to_string_lossy()
        ),
        Record::SelectDb { db } => format!("SELECTDB {db}"),
        Record::ResizeDb { keys, expires } => format!("RESIZEDB keys {keys} expires {expires}"),
        Record::Eof => "EOF opcode".into(),
        other => format!("{} record", record_name(other)),
    }
}

/// Spans of a string field (length header, then payload or LZF blob).
fn string_spans(cur: &mut Cursor<'_>, what: &str, spans: &mut Vec<Span>) -> Option<()> {
    let at = cur.offset();
    let mut probe = *cur;
    let len = probe.len_or_special().ok()?;
    let head = probe.offset();
    let s = cur.string().ok()?;
    let end = cur.offset();
    let label = match (len, s) {
        (Len::Special(3), RdbStr::Lzf { .. }) => {
            spans.push(Span {
                start: at,
                end: head,
                label: format!(
                    "{what}: LZF string marker (0xC3), then compressed and uncompressed lengths"
                ),
            });
            let blob_at = end - s.stored_len() as u64;
            spans.push(Span {
                start: blob_at.max(head),
                end,
                label: format!(
                    "{what}: LZF compressed blob ({} bytes -> {} bytes)",
                    end - blob_at.max(head),
                    s.len()
                ),
            });
            return Some(());
        }
        (Len::Special(n), _) => format!("{what}: integer-encoded string (enc {n})"),
        (Len::Plain(n), _) => {
            spans.push(Span {
                start: at,
                end: head,
                label: format!("{what}: length {n}"),
            });
            format!("{what}: {} bytes", n)
        }
    };
    spans.push(Span {
        start: if matches!(len, Len::Plain(_)) {
            head
        } else {
            at
        },
        end,
        label,
    });
    Some(())
}

/// Field-level spans of a record: prefixes, type byte, key, value layout.
fn fields(
    data: &[u8],
    start: u64,
    r: &Record<'_>,
    dialect: crate::rdb::Dialect,
    spans: &mut Vec<Span>,
) {
    let Record::Key(k) = r else { return };
    let mut cur = Cursor::new(&data[start as usize..], start);
    loop {
        let at = cur.offset();
        let Ok(b) = cur.u8() else { return };
        let (label, skip) = match b {
            opcode::EXPIRETIME_MS => {
                let t = k.expire_ms.unwrap_or_default();
                let _ = cur.take(8);
                spans.push(Span {
                    start: at,
                    end: cur.offset(),
                    label: format!(
                        "EXPIRETIME_MS opcode + 8-byte ms time: {t} ({})",
                        crate::time::format_unix(t.div_euclid(1000))
                    ),
                });
                continue;
            }
            opcode::EXPIRETIME => ("EXPIRETIME opcode + 4-byte s time", 4),
            opcode::FREQ => ("FREQ opcode + LFU counter", 1),
            opcode::IDLE => {
                let _ = cur.length();
                spans.push(Span {
                    start: at,
                    end: cur.offset(),
                    label: "IDLE opcode + length".into(),
                });
                continue;
            }
            b if types::lookup(b, dialect).is_some_and(|t| t.id == k.info.id) => {
                spans.push(Span {
                    start: at,
                    end: at + 1,
                    label: format!("type byte {b}: {} {}", k.info.kind.name(), k.info.encoding),
                });
                break;
            }
            _ => return,
        };
        let _ = cur.take(skip);
        spans.push(Span {
            start: at,
            end: cur.offset(),
            label: label.into(),
        });
    }
    if string_spans(&mut cur, "key name", spans).is_none() {
        return;
    }
    match k.value {
        Value::String(_) => {
            string_spans(&mut cur, "value", spans);
        }
        Value::Encoded { blob, type_id, .. } => {
            string_spans(&mut cur, "encoded value", spans);
            entry_spans(
                blob.s,
                blob.at,
                matches!(type_id, 16 | 17 | 20 | 23 | 25),
                spans,
            );
        }
        Value::Quicklist { nodes, v2, .. } => {
            let at = cur.offset();
            let _ = cur.length();
            spans.push(Span {
                start: at,
                end: cur.offset(),
                label: format!("quicklist node count {nodes}"),
            });
            for i in 0..nodes {
                if v2 {
                    let at = cur.offset();
                    let c = cur.length().unwrap_or(0);
                    spans.push(Span {
                        start: at,
                        end: cur.offset(),
                        label: format!(
                            "node {i} container {}",
                            if c == 2 { "packed" } else { "plain" }
                        ),
                    });
                }
                let mut probe = cur;
                let Ok(s) = probe.string() else { return };
                string_spans(&mut cur, &format!("node {i}"), spans);
                if let RdbStr::Raw(b) = s {
                    entry_spans(s, cur.offset() - b.len() as u64, v2, spans);
                }
            }
        }
        Value::Stream { .. } => stream_spans(&mut cur, k, spans),
        _ => {
            spans.push(Span {
                start: k.value_info.offset,
                end: k.value_info.offset + k.value_info.stored_bytes,
                label: format!("value: {} elements", k.value_info.elements),
            });
        }
    }
}

/// A stream's listpack nodes (master ID, then the listpack and where its entries
/// start), then its metadata as one span.
fn stream_spans(cur: &mut Cursor<'_>, k: &crate::rdb::KeyRecord<'_>, spans: &mut Vec<Span>) {
    let at = cur.offset();
    let Ok(nodes) = cur.length() else { return };
    spans.push(Span {
        start: at,
        end: cur.offset(),
        label: format!("stream: {nodes} listpack nodes"),
    });
    for i in 0..nodes.min(MAX_ENTRY_SPANS as u64) {
        if string_spans(cur, &format!("node {i} master ID"), spans).is_none() {
            return;
        }
        let mut probe = *cur;
        let Ok(s) = probe.string() else { return };
        string_spans(cur, &format!("node {i} listpack"), spans);
        if let RdbStr::Raw(b) = s {
            entry_spans(s, cur.offset() - b.len() as u64, true, spans);
        }
    }
    spans.push(Span {
        start: cur.offset(),
        end: k.value_info.offset + k.value_info.stored_bytes,
        label: "stream metadata: length, last ID, consumer groups".into(),
    });
}

/// Where listpack entries start (uncompressed blobs only: the entries of an LZF blob
/// have no file offsets). `at` is the blob's first byte in the file.
fn entry_spans(s: RdbStr<'_>, at: u64, listpack: bool, spans: &mut Vec<Span>) {
    let RdbStr::Raw(bytes) = s else { return };
    let name = if listpack { "listpack" } else { "ziplist" };
    spans.push(Span {
        start: at,
        end: at + 6.min(bytes.len() as u64),
        label: format!("{name} header"),
    });
    if !listpack {
        return;
    }
    let Ok(lp) = Listpack::parse(bytes) else {
        return;
    };
    let mut it = lp.iter();
    for i in 0..MAX_ENTRY_SPANS {
        let p = it.position();
        match it.next() {
            Some(Ok(e)) => spans.push(Span {
                start: at + p as u64,
                end: at + it.position() as u64,
                label: format!("listpack entry {i}: {}", display_key(&e.to_vec())),
            }),
            _ => return,
        }
    }
}

/// Writes a hex dump of `data[from..to]`, 16 bytes per line, each line followed by the
/// labels of the spans that start on it.
pub fn hex_dump(
    out: &mut dyn Write,
    data: &[u8],
    from: u64,
    to: u64,
    mark: u64,
    spans: &[Span],
) -> std::io::Result<()> {
    let mut line = from - from % 16;
    while line < to {
        let end = (line + 16).min(data.len() as u64);
        write!(out, "{line:010}  ")?;
        for o in line..line + 16 {
            if o < end {
                let sep = if o == mark { '>' } else { ' ' };
                write!(out, "{sep}{:02x}", data[o as usize])?;
            } else {
                write!(out, "   ")?;
            }
        }
        let ascii: String = data[line as usize..end as usize]
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        writeln!(out, "  {ascii}")?;
        for s in spans
            .iter()
            .filter(|s| s.start >= line && s.start < line + 16)
        {
            writeln!(out, "            ^ {}..{}: {}", s.start, s.end, s.label)?;
        }
        line += 16;
    }
    Ok(())
}
