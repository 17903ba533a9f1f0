//! Element counts without walking elements: the fast scan skims encoded collections,
//! so their counts come from the blob headers (ziplist `zllen`, listpack
//! `num_elements`, intset `length`, zipmap `zmlen`), decompressing only the first
//! bytes of an LZF blob. Only a header that says "too many to count" (65535) makes
//! us decode and walk the blob.

use crate::error::{Error, Result};
use crate::rdb::encoding::listpack::Listpack;
use crate::rdb::encoding::ziplist::Ziplist;
use crate::rdb::encoding::zipmap::Zipmap;
use crate::rdb::lzf;
use crate::rdb::value::{Blob, Value};
use crate::rdb::{KeyRecord, RdbStr};

/// What a key counts as elements: STRLEN for strings, LLEN / SCARD / ZCARD / HLEN /
/// XLEN for collections, 1 for a module value.
pub fn count(k: &KeyRecord<'_>, buf: &mut Vec<u8>) -> Result<u64> {
    match k.value {
        Value::String(s) => Ok(s.len() as u64),
        Value::Encoded { type_id, blob, .. } => {
            let per_element = match type_id {
                12 | 13 | 16 | 17 => 2,
                23 | 25 => 3,
                _ => 1,
            };
            Ok(blob_entries(type_id, &blob, buf)? / per_element)
        }
        Value::Quicklist { nodes, items, v2 } => {
            let mut cur = items.cursor();
            let mut total = 0u64;
            for _ in 0..nodes {
                let container = if v2 { cur.length()? } else { 2 };
                let at = cur.offset();
                let s = cur.string()?;
                total += if container == 1 {
                    1
                } else {
                    blob_entries(if v2 { 16 } else { 10 }, &Blob { s, at }, buf)?
                };
            }
            Ok(total)
        }
        _ => Ok(k.value_info.elements),
    }
}

/// Entries in a blob (pairs count twice): from its header, or by walking it.
fn blob_entries(type_id: u8, blob: &Blob<'_>, buf: &mut Vec<u8>) -> Result<u64> {
    let mut head = [0u8; 10];
    let n = match blob.s {
        RdbStr::Raw(b) => {
            let n = b.len().min(head.len());
            head[..n].copy_from_slice(&b[..n]);
            n
        }
        RdbStr::Lzf { data, .. } => lzf::decompress_prefix(data, &mut head)
            .map_err(|e| Error::corrupt(blob.at, e.to_string()))?,
        RdbStr::Int(_) => 0,
    };
    let head = &head[..n];
    let u16_at = |i: usize| head.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let short = || Error::corrupt(blob.at, "encoded collection shorter than its header");
    let declared = match type_id {
        // zipmap: one length byte, 254 = unknown
        9 => head.first().map(|&b| b as u16).filter(|&b| b < 254),
        // intset: u32 length after the u32 width
        11 => {
            let b = head.get(4..8).ok_or_else(short)?;
            return Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64);
        }
        10 | 12 | 13 => Some(u16_at(8).ok_or_else(short)?),
        _ => Some(u16_at(4).ok_or_else(short)?),
    };
    match declared {
        Some(n) if n != u16::MAX => Ok(n as u64),
        _ => walk_entries(type_id, blob, buf),
    }
}

/// Counts entries by decoding the whole blob (headers saying 65535 / 254).
fn walk_entries(type_id: u8, blob: &Blob<'_>, buf: &mut Vec<u8>) -> Result<u64> {
    let bytes = blob.s.decode(buf)?;
    let bad = |e: crate::rdb::encoding::BlobError| Error::corrupt(blob.at, e.to_string());
    let n = match type_id {
        9 => Zipmap::parse(bytes).map_err(bad)?.validate().map_err(bad)?,
        10 | 12 | 13 => Ziplist::parse(bytes)
            .map_err(bad)?
            .validate()
            .map_err(bad)?,
        _ => Listpack::parse(bytes)
            .map_err(bad)?
            .validate()
            .map_err(bad)?,
    };
    Ok(n as u64)
}
