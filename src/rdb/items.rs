//! Walks a collection value's elements straight from its encoded bytes.
//!
//! Elements are handed to a callback one at a time, borrowed from the file or from
//! one reused decode buffer (LZF blobs are decompressed once per blob, never the
//! whole collection), so a 10-million-member set costs no more memory than one member.

use crate::error::{Error, Result};
use crate::rdb::encoding::intset::Intset;
use crate::rdb::encoding::listpack::Listpack;
use crate::rdb::encoding::ziplist::Ziplist;
use crate::rdb::encoding::zipmap::Zipmap;
use crate::rdb::encoding::{BlobError, Elem};
use crate::rdb::stream::{each_node_entry, NodeStop, StreamId};
use crate::rdb::string::RdbStr;
use crate::rdb::value::{Blob, HashTtlLayout, Value};

/// One element, borrowed for the duration of the callback.
#[derive(Debug, PartialEq)]
pub enum Element<'b> {
    /// A string value, a list item or a set member.
    Member(&'b [u8]),
    /// A sorted set member and its score.
    Scored(&'b [u8], f64),
    /// A hash field, its value and its expiry (ms) if it has one.
    Field(&'b [u8], &'b [u8], Option<i64>),
    /// A live stream entry: id and field/value pairs.
    StreamEntry(StreamId, &'b [(Vec<u8>, Vec<u8>)]),
}

fn blob_err(e: BlobError, at: u64) -> Error {
    Error::corrupt(at, e.to_string())
}

fn decode<'b>(s: &RdbStr<'b>, buf: &'b mut Vec<u8>) -> Result<&'b [u8]> {
    s.decode(buf)
}

/// Calls `f` for every element of `value` (of logical type `kind`).
pub fn for_each(value: &Value<'_>, f: impl FnMut(Element<'_>) -> Result<()>) -> Result<()> {
    for_each_with(value, &mut Scratch::default(), f)
}

/// Decode buffers that [`for_each_with`] reuses from one value to the next, so a walk
/// over millions of LZF strings does not allocate (and fault in) fresh memory for each.
#[derive(Debug, Default)]
pub struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
}

/// [`for_each`] with caller-owned decode buffers.
pub fn for_each_with(
    value: &Value<'_>,
    scratch: &mut Scratch,
    mut f: impl FnMut(Element<'_>) -> Result<()>,
) -> Result<()> {
    let Scratch { a, b } = scratch;
    match *value {
        Value::String(s) => f(Element::Member(decode(&s, a)?)),
        Value::List { count, items } | Value::Set { count, items } => {
            let mut c = items.cursor();
            for _ in 0..count {
                let s = c.string()?;
                f(Element::Member(decode(&s, a)?))?;
            }
            Ok(())
        }
        Value::Zset {
            count,
            items,
            binary_scores,
        } => {
            let mut c = items.cursor();
            for _ in 0..count {
                let s = c.string()?;
                let score = if binary_scores {
                    c.binary_double()?
                } else {
                    c.ascii_double()?
                };
                f(Element::Scored(decode(&s, a)?, score))?;
            }
            Ok(())
        }
        Value::Hash { count, items } => {
            let mut c = items.cursor();
            for _ in 0..count {
                let k = c.string()?;
                let v = c.string()?;
                f(Element::Field(decode(&k, a)?, decode(&v, b)?, None))?;
            }
            Ok(())
        }
        Value::HashWithTtl {
            count,
            items,
            layout,
            min_expire,
        } => {
            let mut c = items.cursor();
            for _ in 0..count {
                let ttl = match layout {
                    HashTtlLayout::Redis => {
                        let t = c.length()?;
                        (t != 0).then(|| (t + min_expire.unwrap_or(0) - 1) as i64)
                    }
                    HashTtlLayout::RedisPreGa => {
                        let t = c.length()?;
                        (t != 0).then_some(t as i64)
                    }
                    HashTtlLayout::Valkey => None,
                };
                let k = c.string()?;
                let v = c.string()?;
                let ttl = if layout == HashTtlLayout::Valkey {
                    let e = c.i64le()?;
                    (e != -1).then_some(e)
                } else {
                    ttl
                };
                f(Element::Field(decode(&k, a)?, decode(&v, b)?, ttl))?;
            }
            Ok(())
        }
        Value::Encoded { type_id, blob, .. } => for_each_in_blob(type_id, &blob, a, &mut f),
        Value::Quicklist { nodes, items, v2 } => {
            let mut c = items.cursor();
            for _ in 0..nodes {
                let container = if v2 { c.length()? } else { 2 };
                let at = c.offset();
                let s = c.string()?;
                let bytes = decode(&s, a)?;
                if container == 1 {
                    f(Element::Member(bytes))?;
                } else if v2 {
                    elems(
                        Listpack::parse(bytes).map_err(|e| blob_err(e, at))?.iter(),
                        at,
                        1,
                        &mut |e| f(Element::Member(e[0].bytes(&mut itoa::Buffer::new()))),
                    )?;
                } else {
                    elems(
                        Ziplist::parse(bytes).map_err(|e| blob_err(e, at))?.iter(),
                        at,
                        1,
                        &mut |e| f(Element::Member(e[0].bytes(&mut itoa::Buffer::new()))),
                    )?;
                }
            }
            Ok(())
        }
        Value::Stream { body, .. } => {
            let mut c = body.cursor();
            let nodes = c.length()?;
            // Reused from entry to entry: the pairs as elements (per node), then as
            // owned bytes (per stream).
            let mut owned: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut num = (itoa::Buffer::new(), itoa::Buffer::new());
            for _ in 0..nodes {
                let k = c.string()?.to_vec()?;
                let at = c.offset();
                let s = c.string()?;
                let master = StreamId::from_sid128(&k)
                    .ok_or_else(|| Error::corrupt(at, "bad stream node key"))?;
                let bytes = decode(&s, a)?;
                let mut pairs = Vec::new();
                let walk = each_node_entry(master, bytes, &mut pairs, |id, entry| {
                    if owned.len() < entry.len() {
                        owned.resize_with(entry.len(), Default::default);
                    }
                    for ((field, value), (f_out, v_out)) in entry.iter().zip(owned.iter_mut()) {
                        f_out.clear();
                        f_out.extend_from_slice(field.bytes(&mut num.0));
                        v_out.clear();
                        v_out.extend_from_slice(value.bytes(&mut num.1));
                    }
                    f(Element::StreamEntry(id, &owned[..entry.len()]))
                });
                match walk {
                    Ok(()) => {}
                    Err(NodeStop::Damaged(e)) => return Err(blob_err(e, at)),
                    Err(NodeStop::Stopped(e)) => return Err(e),
                }
            }
            Ok(())
        }
        Value::Module { .. } => Ok(()),
    }
}

/// Feeds `tuple`-sized groups of entries to `f`.
fn elems<'x>(
    it: impl Iterator<Item = std::result::Result<Elem<'x>, BlobError>>,
    at: u64,
    tuple: usize,
    f: &mut dyn FnMut(&[Elem<'x>]) -> Result<()>,
) -> Result<()> {
    let mut group: [Elem<'x>; 3] = [Elem::Int(0); 3];
    let mut n = 0;
    for e in it {
        group[n] = e.map_err(|e| blob_err(e, at))?;
        n += 1;
        if n == tuple {
            f(&group[..tuple])?;
            n = 0;
        }
    }
    if n != 0 {
        return Err(Error::corrupt(
            at,
            "collection ends inside a member/score or field/value group",
        ));
    }
    Ok(())
}

fn for_each_in_blob(
    type_id: u8,
    blob: &Blob<'_>,
    buf: &mut Vec<u8>,
    f: &mut dyn FnMut(Element<'_>) -> Result<()>,
) -> Result<()> {
    let at = blob.at;
    let bytes = blob.s.decode(buf)?;
    let (mut b1, mut b2) = (itoa::Buffer::new(), itoa::Buffer::new());
    let zl = || {
        Ziplist::parse(bytes)
            .map(|z| z.iter())
            .map_err(|e| blob_err(e, at))
    };
    let lp = || {
        Listpack::parse(bytes)
            .map(|l| l.iter())
            .map_err(|e| blob_err(e, at))
    };
    match type_id {
        9 => {
            for p in Zipmap::parse(bytes).map_err(|e| blob_err(e, at))?.iter() {
                let (k, v) = p.map_err(|e| blob_err(e, at))?;
                f(Element::Field(k, v, None))?;
            }
            Ok(())
        }
        11 => {
            for v in Intset::parse(bytes).map_err(|e| blob_err(e, at))?.iter() {
                f(Element::Member(b1.format(v).as_bytes()))?;
            }
            Ok(())
        }
        10 => elems(zl()?, at, 1, &mut |e| {
            f(Element::Member(e[0].bytes(&mut b1)))
        }),
        20 => elems(lp()?, at, 1, &mut |e| {
            f(Element::Member(e[0].bytes(&mut b1)))
        }),
        12 | 17 => {
            let mut g = |e: &[Elem<'_>]| {
                let score = e[1]
                    .as_f64()
                    .ok_or_else(|| Error::corrupt(at, "zset score is not a number"))?;
                f(Element::Scored(e[0].bytes(&mut b1), score))
            };
            if type_id == 12 {
                elems(zl()?, at, 2, &mut g)
            } else {
                elems(lp()?, at, 2, &mut g)
            }
        }
        13 => elems(zl()?, at, 2, &mut |e| {
            f(Element::Field(
                e[0].bytes(&mut b1),
                e[1].bytes(&mut b2),
                None,
            ))
        }),
        16 => elems(lp()?, at, 2, &mut |e| {
            f(Element::Field(
                e[0].bytes(&mut b1),
                e[1].bytes(&mut b2),
                None,
            ))
        }),
        23 | 25 => elems(lp()?, at, 3, &mut |e| {
            let ttl = e[2].as_i64().filter(|t| *t != 0);
            f(Element::Field(
                e[0].bytes(&mut b1),
                e[1].bytes(&mut b2),
                ttl,
            ))
        }),
        t => Err(Error::unsupported(
            at,
            format!("no element reader for blob type {t}"),
        )),
    }
}
