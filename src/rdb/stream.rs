//! Stream values, types 15/19/21/26 (FORMAT.md §5.7): listpack nodes keyed by a
//! 128-bit master ID, then metadata, consumer groups with their PELs and consumers,
//! and (v4, Redis 8.6) the idempotent-producer tables.
//!
//! Checks follow `rdbLoadObject` + `streamValidateListpackIntegrity(deep)`: node keys
//! of 16 bytes, no empty or repeated nodes, each node's master entry and every entry's
//! slots (flags, id deltas, fields, values, lp-count), consumer PEL entries present in
//! the group PEL, no duplicate groups, consumers or PEL ids, every group PEL entry owned.

use crate::error::{Error, Result};
use crate::rdb::check::Checker;
use crate::rdb::cursor::Cursor;
use crate::rdb::encoding::listpack::{Listpack, ListpackIter};
use crate::rdb::encoding::{BlobError, Elem};
use crate::rdb::string::RdbStr;

/// A stream entry id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl StreamId {
    pub fn from_sid128(b: &[u8]) -> Option<StreamId> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(StreamId {
            ms: u64::from_be_bytes(b[..8].try_into().ok()?),
            seq: u64::from_be_bytes(b[8..].try_into().ok()?),
        })
    }
    fn read_pair(cur: &mut Cursor<'_>) -> Result<StreamId> {
        Ok(StreamId {
            ms: cur.length()?,
            seq: cur.length()?,
        })
    }
}

/// Summary of a stream read from the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSummary {
    pub nodes: u64,
    pub length: u64,
    /// Live entries found in the nodes (should equal `length`).
    pub live_entries: u64,
    pub last_id: StreamId,
    pub groups: u64,
    pub pel_entries: u64,
    pub consumers: u64,
}

fn lp_int(it: &mut ListpackIter<'_>, what: &'static str) -> std::result::Result<i64, BlobError> {
    match it.next() {
        Some(Ok(e)) => e
            .as_i64()
            .ok_or_else(|| BlobError::new(0, format!("stream {what} is not an integer"))),
        Some(Err(e)) => Err(e),
        None => Err(BlobError::new(
            0,
            format!("stream listpack ends before its {what}"),
        )),
    }
}

fn lp_skip(
    it: &mut ListpackIter<'_>,
    n: i64,
    what: &'static str,
) -> std::result::Result<(), BlobError> {
    for _ in 0..n {
        match it.next() {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => {
                return Err(BlobError::new(
                    0,
                    format!("stream listpack ends inside the {what}"),
                ))
            }
        }
    }
    Ok(())
}

/// Deep check of one node listpack; returns (live entries, deleted entries).
pub fn check_node(blob: &[u8]) -> std::result::Result<(u64, u64), BlobError> {
    let lp = Listpack::parse(blob)?;
    let mut it = lp.iter();
    let count = lp_int(&mut it, "master entry count")?;
    let deleted = lp_int(&mut it, "master deleted count")?;
    let master_fields = lp_int(&mut it, "master field count")?;
    if count < 0 || deleted < 0 || master_fields < 0 {
        return Err(BlobError::new(0, "negative count in stream master entry"));
    }
    lp_skip(&mut it, master_fields, "master fields")?;
    if lp_int(&mut it, "master terminator")? != 0 {
        return Err(BlobError::new(0, "stream master entry terminator is not 0"));
    }
    let total = count
        .checked_add(deleted)
        .ok_or_else(|| BlobError::new(0, "stream node counts overflow"))?;
    let mut live = 0u64;
    for _ in 0..total {
        let flags = lp_int(&mut it, "entry flags")?;
        lp_int(&mut it, "entry ms delta")?;
        lp_int(&mut it, "entry seq delta")?;
        let (fields, extra) = if flags & 2 != 0 {
            (master_fields, 3)
        } else {
            let n = lp_int(&mut it, "entry field count")?;
            if n < 0 {
                return Err(BlobError::new(0, "negative stream entry field count"));
            }
            lp_skip(&mut it, n, "entry fields")?;
            (n, 3 + n + 1)
        };
        lp_skip(&mut it, fields, "entry values")?;
        let lp_count = lp_int(&mut it, "entry lp-count")?;
        if lp_count != fields + extra {
            return Err(BlobError::new(
                0,
                format!(
                    "stream entry lp-count {lp_count}, expected {}",
                    fields + extra
                ),
            ));
        }
        if flags & 1 == 0 {
            live += 1;
        }
    }
    match it.next() {
        None => {}
        Some(Err(e)) => return Err(e),
        Some(Ok(_)) => {
            return Err(BlobError::new(
                0,
                "stream listpack has entries after the last record",
            ))
        }
    }
    if live != count as u64 {
        return Err(BlobError::new(
            0,
            format!("stream node says {count} live entries, flags say {live}"),
        ));
    }
    Ok((count as u64, deleted as u64))
}

fn sid(cur: &mut Cursor<'_>) -> Result<u128> {
    Ok(u128::from_be_bytes(cur.array()?))
}

/// Reads (and with `chk.deep`, checks) a stream value of the given version (1-4).
pub fn read(cur: &mut Cursor<'_>, version: u8, chk: &mut Checker) -> Result<StreamSummary> {
    let mut s = StreamSummary::default();
    let nodes = cur
        .count(2)
        .map_err(|e| e.reading("the stream node count"))?;
    chk.ids.clear();
    for _ in 0..nodes {
        let at = cur.offset();
        let key = cur.string().map_err(|e| e.reading("a stream node key"))?;
        let key = match key {
            RdbStr::Raw(k) if k.len() == 16 => u128::from_be_bytes(k.try_into().unwrap_or([0; 16])),
            RdbStr::Lzf { .. } if key.len() == 16 => {
                let mut b = Vec::new();
                let k = key.decode(&mut b)?;
                u128::from_be_bytes(k.try_into().unwrap_or([0; 16]))
            }
            _ => {
                return Err(Error::corrupt(
                    at,
                    "stream node key entry is not the size of a stream ID",
                ))
            }
        };
        let lp_at = cur.offset();
        let blob = cur
            .string()
            .map_err(|e| e.reading("a stream node listpack"))?;
        s.nodes += 1;
        if chk.deep {
            if !chk.ids.insert(key) {
                return Err(Error::corrupt(
                    at,
                    "stream listpack re-added with an existing node key",
                ));
            }
            let mut buf = std::mem::take(&mut chk.buf);
            let bytes = blob.decode(&mut buf)?;
            if bytes.is_empty() {
                chk.buf = buf;
                return Err(Error::corrupt(lp_at, "empty listpack inside stream"));
            }
            let r = check_node(bytes);
            chk.buf = buf;
            match r {
                Ok((live, _)) => s.live_entries += live,
                Err(e) => {
                    return Err(Error::corrupt(
                        lp_at,
                        format!("stream listpack integrity check failed: {e}"),
                    )
                    .reading("a stream node listpack"));
                }
            }
        }
    }
    s.length = cur.length().map_err(|e| e.reading("the stream length"))?;
    s.last_id = StreamId::read_pair(cur).map_err(|e| e.reading("the stream last id"))?;
    if version >= 2 {
        StreamId::read_pair(cur).map_err(|e| e.reading("the stream first id"))?;
        StreamId::read_pair(cur).map_err(|e| e.reading("the stream max deleted id"))?;
        cur.length()
            .map_err(|e| e.reading("the stream entries-added counter"))?;
    }
    if s.length > 0 && s.nodes == 0 {
        return Err(Error::corrupt(
            cur.offset(),
            "stream length inconsistent with its nodes",
        ));
    }
    if chk.deep && s.live_entries != s.length {
        chk.warn(format!(
            "stream length is {} but its nodes hold {} live entries",
            s.length, s.live_entries
        ));
    }
    let groups = cur
        .count(3)
        .map_err(|e| e.reading("the consumer group count"))?;
    let mut group_names = std::collections::HashSet::new();
    for _ in 0..groups {
        let at = cur.offset();
        let name = cur
            .string()
            .map_err(|e| e.reading("a consumer group name"))?;
        if chk.deep && !group_names.insert(name.to_vec()?) {
            return Err(Error::corrupt(
                at,
                format!(
                    "duplicated consumer group name \"{}\"",
                    name.to_string_lossy()
                ),
            ));
        }
        StreamId::read_pair(cur).map_err(|e| e.reading("a consumer group last id"))?;
        if version >= 2 {
            cur.length()
                .map_err(|e| e.reading("a consumer group entries-read counter"))?;
        }
        s.groups += 1;
        let pel = cur
            .count(17)
            .map_err(|e| e.reading("a consumer group PEL size"))?;
        chk.owned.clear();
        for _ in 0..pel {
            let at = cur.offset();
            let id = sid(cur).map_err(|e| e.reading("a consumer group PEL id"))?;
            cur.i64le().map_err(|e| e.reading("a PEL delivery time"))?;
            cur.length()
                .map_err(|e| e.reading("a PEL delivery count"))?;
            if chk.deep && chk.owned.insert(id, false).is_some() {
                return Err(Error::corrupt(
                    at,
                    "duplicated global PEL entry in a stream consumer group",
                ));
            }
            s.pel_entries += 1;
        }
        let consumers = cur.count(9).map_err(|e| e.reading("a consumer count"))?;
        let mut consumer_names = std::collections::HashSet::new();
        for _ in 0..consumers {
            let at = cur.offset();
            let cname = cur.string().map_err(|e| e.reading("a consumer name"))?;
            if chk.deep && !consumer_names.insert(cname.to_vec()?) {
                return Err(Error::corrupt(at, "duplicate stream consumer"));
            }
            cur.i64le().map_err(|e| e.reading("a consumer seen time"))?;
            if version >= 3 {
                cur.i64le()
                    .map_err(|e| e.reading("a consumer active time"))?;
            }
            s.consumers += 1;
            let n = cur
                .count(16)
                .map_err(|e| e.reading("a consumer PEL size"))?;
            let mut own = std::collections::HashSet::new();
            for _ in 0..n {
                let at = cur.offset();
                let id = sid(cur).map_err(|e| e.reading("a consumer PEL id"))?;
                if chk.deep {
                    match chk.owned.get_mut(&id) {
                        Some(o) => *o = true,
                        None => {
                            return Err(Error::corrupt(
                                at,
                                "consumer PEL entry not found in the group PEL",
                            ))
                        }
                    }
                    if !own.insert(id) {
                        return Err(Error::corrupt(at, "duplicated consumer PEL entry"));
                    }
                }
            }
        }
        if chk.deep && chk.owned.values().any(|o| !o) {
            return Err(Error::corrupt(
                cur.offset(),
                "stream consumer group PEL entry without a consumer",
            ));
        }
    }
    if version >= 4 {
        read_idmp(cur, chk)?;
    }
    Ok(s)
}

/// Redis 8.6 idempotent-producer state (type 26).
fn read_idmp(cur: &mut Cursor<'_>, chk: &mut Checker) -> Result<()> {
    let at = cur.offset();
    let duration = cur
        .length()
        .map_err(|e| e.reading("the stream IDMP duration"))?;
    let max = cur
        .length()
        .map_err(|e| e.reading("the stream IDMP max entries"))?;
    if chk.deep && !(1..=86400).contains(&duration) {
        return Err(Error::corrupt(
            at,
            format!("stream IDMP duration {duration} out of range 1-86400"),
        ));
    }
    if chk.deep && !(1..=10000).contains(&max) {
        return Err(Error::corrupt(
            at,
            format!("stream IDMP max entries {max} out of range 1-10000"),
        ));
    }
    let producers = cur
        .count(2)
        .map_err(|e| e.reading("the stream IDMP producer count"))?;
    for _ in 0..producers {
        cur.string()
            .and_then(|s| s.check())
            .map_err(|e| e.reading("a stream IDMP producer id"))?;
        let n = cur
            .count(3)
            .map_err(|e| e.reading("a stream IDMP iid count"))?;
        for _ in 0..n {
            cur.string()
                .and_then(|s| s.check())
                .map_err(|e| e.reading("a stream IDMP iid"))?;
            StreamId::read_pair(cur).map_err(|e| e.reading("a stream IDMP entry id"))?;
        }
    }
    cur.length()
        .map_err(|e| e.reading("the stream IDMP iids-added counter"))?;
    cur.length()
        .map_err(|e| e.reading("the stream IDMP duplicates counter"))?;
    Ok(())
}

/// A stream entry: its id and field/value pairs.
pub type Entry<'a> = (StreamId, Vec<(Elem<'a>, Elem<'a>)>);

/// The live entries of one node listpack.
pub fn node_entries<'a>(
    master: StreamId,
    blob: &'a [u8],
) -> std::result::Result<Vec<Entry<'a>>, BlobError> {
    let lp = Listpack::parse(blob)?;
    let mut it = lp.iter();
    let mut next = || -> std::result::Result<Elem<'a>, BlobError> {
        it.next()
            .unwrap_or_else(|| Err(BlobError::new(0, "stream listpack ends early")))
    };
    let int = |e: Elem<'a>| {
        e.as_i64()
            .ok_or_else(|| BlobError::new(0, "stream slot is not an integer"))
    };
    let count = int(next()?)?;
    let deleted = int(next()?)?;
    let nf = int(next()?)?;
    let mut master_fields = Vec::new();
    for _ in 0..nf.max(0) {
        master_fields.push(next()?);
    }
    next()?;
    let mut out = Vec::new();
    for _ in 0..(count.max(0) + deleted.max(0)) {
        let flags = int(next()?)?;
        let ms = master.ms.wrapping_add(int(next()?)? as u64);
        let seq = master.seq.wrapping_add(int(next()?)? as u64);
        let mut pairs = Vec::new();
        if flags & 2 != 0 {
            for f in &master_fields {
                pairs.push((*f, next()?));
            }
        } else {
            // Own fields are interleaved: field_1 value_1 ... field_n value_n.
            let n = int(next()?)?;
            for _ in 0..n.max(0) {
                let f = next()?;
                pairs.push((f, next()?));
            }
        }
        next()?; // lp-count
        if flags & 1 == 0 {
            out.push((StreamId { ms, seq }, pairs));
        }
    }
    Ok(out)
}
