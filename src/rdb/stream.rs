//! Stream values, types 15/19/21/26 (FORMAT.md §5.7): listpack nodes keyed by a
//! 128-bit master ID, then metadata, consumer groups with their PELs and consumers,
//! and (v4, Redis 8.6) the idempotent-producer tables.
//!
//! Checks follow `rdbLoadObject` + `streamValidateListpackIntegrity(deep)`: node keys
//! of 16 bytes, no empty or repeated nodes, each node's master entry and every entry's
//! slots (flags, id deltas, fields, values, lp-count), consumer PEL entries present in
//! the group PEL, no duplicate groups, consumers or PEL ids, every group PEL entry owned
//! (those in `stream_groups`).

use crate::error::{Error, Result};
use crate::rdb::check::Checker;
use crate::rdb::cursor::Cursor;
use crate::rdb::encoding::listpack::{Listpack, ListpackIter};
use crate::rdb::encoding::{BlobError, Elem};
use crate::rdb::string::RdbStr;
use crate::rdb::value::Region;

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

#[inline(always)]
fn lp_int(it: &mut ListpackIter<'_>, what: &'static str) -> std::result::Result<i64, BlobError> {
    match it.entry()? {
        Some(Elem::Int(i)) => Ok(i),
        Some(e) => e.as_i64().ok_or_else(|| not_an_integer(what)),
        None => Err(ends_before(what)),
    }
}

#[inline(always)]
fn lp_skip(
    it: &mut ListpackIter<'_>,
    n: i64,
    what: &'static str,
) -> std::result::Result<(), BlobError> {
    for _ in 0..n {
        if it.entry()?.is_none() {
            return Err(ends_inside(what));
        }
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn not_an_integer(what: &str) -> BlobError {
    BlobError::new(0, format!("stream {what} is not an integer"))
}

#[cold]
#[inline(never)]
fn ends_before(what: &str) -> BlobError {
    BlobError::new(0, format!("stream listpack ends before its {what}"))
}

#[cold]
#[inline(never)]
fn ends_inside(what: &str) -> BlobError {
    BlobError::new(0, format!("stream listpack ends inside the {what}"))
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
    if it.entry()?.is_some() {
        return Err(BlobError::new(
            0,
            "stream listpack has entries after the last record",
        ));
    }
    if live != count as u64 {
        return Err(BlobError::new(
            0,
            format!("stream node says {count} live entries, flags say {live}"),
        ));
    }
    Ok((count as u64, deleted as u64))
}

/// A node's key: its master entry ID (16 bytes, big endian, so byte order is ID order).
fn node_key(cur: &mut Cursor<'_>) -> Result<u128> {
    let at = cur.offset();
    let key = cur.string().map_err(|e| e.reading("a stream node key"))?;
    match key {
        RdbStr::Raw(k) if k.len() == 16 => Ok(u128::from_be_bytes(k.try_into().unwrap_or([0; 16]))),
        RdbStr::Lzf { .. } if key.len() == 16 => {
            let mut b = Vec::new();
            let k = key.decode(&mut b)?;
            Ok(u128::from_be_bytes(k.try_into().unwrap_or([0; 16])))
        }
        _ => Err(Error::corrupt(
            at,
            "stream node key entry is not the size of a stream ID",
        )),
    }
}

/// Whether node key `key` repeats an earlier one (the server refuses the file:
/// `raxTryInsert` fails), in memory that does not grow with the stream: servers
/// write nodes in key order (a rax walk), and while every key is above the one
/// before, none can repeat. Only after a key steps back (no server writes that; the
/// server sorts the nodes on load) are all keys kept in `chk.ids`, starting with the
/// earlier nodes re-read from `first` (the cursor at the first node).
fn repeats_node_key(
    key: u128,
    prev: &mut Option<u128>,
    earlier: u64,
    first: Cursor<'_>,
    chk: &mut Checker,
) -> Result<bool> {
    let repeated = match *prev {
        Some(p) if p == key => true,
        _ if !chk.ids.is_empty() => !chk.ids.insert(key),
        Some(p) if key < p => {
            chk.warn(
                "stream node keys are not in ascending order (no server writes them so)".into(),
            );
            let mut c = first;
            for _ in 0..earlier {
                chk.ids.insert(node_key(&mut c)?);
                c.string()?;
            }
            !chk.ids.insert(key)
        }
        _ => false,
    };
    *prev = Some(key);
    Ok(repeated)
}

/// Reads (and with `chk.deep`, checks) a stream value of the given version (1-4).
pub fn read(cur: &mut Cursor<'_>, version: u8, chk: &mut Checker) -> Result<StreamSummary> {
    let mut s = StreamSummary::default();
    let nodes = cur
        .count(2)
        .map_err(|e| e.reading("the stream node count"))?;
    // A set kept for an earlier, unordered stream is dropped if it grew large.
    if chk.ids.capacity() > 4096 {
        chk.ids = crate::rdb::check::IdSet::with_hasher(*chk.ids.hasher());
    }
    chk.ids.clear();
    let first = *cur;
    let mut prev = None;
    for _ in 0..nodes {
        let at = cur.offset();
        let key = node_key(cur)?;
        let lp_at = cur.offset();
        let blob = cur
            .string()
            .map_err(|e| e.reading("a stream node listpack"))?;
        if chk.deep {
            if repeats_node_key(key, &mut prev, s.nodes, first, chk)? {
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
        s.nodes += 1;
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
    let g = super::stream_groups::read(cur, version, chk)?;
    s.groups = g.groups;
    s.pel_entries = g.pel_entries;
    s.consumers = g.consumers;
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

/// Why a walk over a node's entries stopped: a damaged node, or the callback's error.
pub enum NodeStop<E> {
    Damaged(BlobError),
    Stopped(E),
}

impl<E> From<BlobError> for NodeStop<E> {
    fn from(e: BlobError) -> Self {
        NodeStop::Damaged(e)
    }
}

/// Hands each live entry of one node listpack to `f`: its id and field/value pairs.
/// `pairs` is scratch space reused from entry to entry (and node to node), so the walk
/// does not allocate per entry.
pub fn each_node_entry<'a, E>(
    master: StreamId,
    blob: &'a [u8],
    pairs: &mut Vec<(Elem<'a>, Elem<'a>)>,
    mut f: impl FnMut(StreamId, &[(Elem<'a>, Elem<'a>)]) -> std::result::Result<(), E>,
) -> std::result::Result<(), NodeStop<E>> {
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
    // Master fields first in `pairs` (values unused), each entry's pairs after them.
    pairs.clear();
    for _ in 0..nf.max(0) {
        pairs.push((next()?, Elem::Int(0)));
    }
    let masters = pairs.len();
    next()?;
    for _ in 0..(count.max(0) + deleted.max(0)) {
        let flags = int(next()?)?;
        let ms = master.ms.wrapping_add(int(next()?)? as u64);
        let seq = master.seq.wrapping_add(int(next()?)? as u64);
        pairs.truncate(masters);
        if flags & 2 != 0 {
            for i in 0..masters {
                let field = pairs[i].0;
                pairs.push((field, next()?));
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
            f(StreamId { ms, seq }, &pairs[masters..]).map_err(NodeStop::Stopped)?;
        }
    }
    Ok(())
}

/// A stream's metadata, read without touching its entries: what `XINFO STREAM`
/// reports and what rebuilding the stream needs (`XSETID`, `XGROUP CREATE`, the PELs).
/// Groups are walked lazily from the bytes ([`Meta::groups`]), so a stream with a
/// million pending entries costs no memory here.
#[derive(Clone, Copy, Debug)]
pub struct Meta<'a> {
    /// Live entries (`XLEN`).
    pub length: u64,
    pub last_id: StreamId,
    /// Stream v2+ (Redis 7.0): first entry id, highest deleted id, entries ever added.
    pub first_id: Option<StreamId>,
    pub max_deleted_id: Option<StreamId>,
    pub entries_added: Option<u64>,
    pub group_count: u64,
    version: u8,
    groups: Cursor<'a>,
}

/// A consumer group, borrowed from the file; its PEL and consumers are iterated with
/// [`Group::pel`] and [`Group::consumers`].
#[derive(Clone, Copy, Debug)]
pub struct Group<'a> {
    pub name: RdbStr<'a>,
    pub last_id: StreamId,
    /// Stream v2+ (Redis 7.0); -1 when the server did not know it (`SCG_INVALID_ENTRIES_READ`).
    pub entries_read: Option<i64>,
    pub pel_count: u64,
    pub consumer_count: u64,
    version: u8,
    pel: Cursor<'a>,
    consumers: Cursor<'a>,
}

/// A pending entry of a group: delivered, not yet acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PelEntry {
    pub id: StreamId,
    /// Unix time of the last delivery, ms.
    pub delivery_time: i64,
    pub delivery_count: u64,
}

/// A consumer, borrowed from the file; its pending ids are iterated with [`Consumer::pel`].
#[derive(Clone, Copy, Debug)]
pub struct Consumer<'a> {
    pub name: RdbStr<'a>,
    /// Unix time ms of its last attempted interaction (`seen-time`).
    pub seen_time: i64,
    /// Stream v3+ (Redis 7.2): last successful interaction (`active-time`).
    pub active_time: Option<i64>,
    pub pel_count: u64,
    pel: Cursor<'a>,
}

fn read_sid(cur: &mut Cursor<'_>) -> Result<StreamId> {
    Ok(StreamId::from_sid128(cur.take(16)?).unwrap_or_default())
}

/// Reads a stream value's metadata (`body` as in `Value::Stream`), skipping its nodes.
pub fn meta<'a>(body: Region<'a>, version: u8) -> Result<Meta<'a>> {
    let mut cur = body.cursor();
    let nodes = cur.count(2)?;
    for _ in 0..nodes {
        cur.skip_string()?;
        cur.skip_string()?;
    }
    let length = cur.length()?;
    let last_id = StreamId::read_pair(&mut cur)?;
    let (first_id, max_deleted_id, entries_added) = if version >= 2 {
        (
            Some(StreamId::read_pair(&mut cur)?),
            Some(StreamId::read_pair(&mut cur)?),
            Some(cur.length()?),
        )
    } else {
        (None, None, None)
    };
    let group_count = cur.count(3)?;
    Ok(Meta {
        length,
        last_id,
        first_id,
        max_deleted_id,
        entries_added,
        group_count,
        version,
        groups: cur,
    })
}

/// Redis 8.6 idempotent-producer settings and table sizes (stream v4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Idmp {
    pub duration_s: u64,
    pub max_size: u64,
    pub producers: u64,
    /// Producer/iid pairs tracked, over all producers.
    pub iids: u64,
    pub iids_added: u64,
    pub duplicates: u64,
}

impl<'a> Meta<'a> {
    /// The idempotent-producer block after the groups (stream v4), `None` before v4.
    pub fn idmp(&self) -> Result<Option<Idmp>> {
        self.idmp_walk(|_, _, _| Ok(()))
    }

    /// Like [`Meta::idmp`], handing each tracked (producer, iid, entry id) to `f` in
    /// file order, so the table can be compared without being collected.
    pub fn idmp_walk(
        &self,
        mut f: impl FnMut(RdbStr<'a>, RdbStr<'a>, StreamId) -> Result<()>,
    ) -> Result<Option<Idmp>> {
        if self.version < 4 {
            return Ok(None);
        }
        let mut cur = self.groups;
        for _ in 0..self.group_count {
            read_group(&mut cur, self.version)?;
        }
        let duration_s = cur.length()?;
        let max_size = cur.length()?;
        let producers = cur.count(2)?;
        let mut iids = 0;
        for _ in 0..producers {
            let producer = cur.string()?;
            let n = cur.count(3)?;
            for _ in 0..n {
                let iid = cur.string()?;
                f(producer, iid, StreamId::read_pair(&mut cur)?)?;
            }
            iids += n;
        }
        Ok(Some(Idmp {
            duration_s,
            max_size,
            producers,
            iids,
            iids_added: cur.length()?,
            duplicates: cur.length()?,
        }))
    }

    /// The consumer groups, in file order (by name).
    pub fn groups(&self) -> impl Iterator<Item = Result<Group<'a>>> {
        let mut cur = self.groups;
        let version = self.version;
        let mut left = self.group_count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let g = read_group(&mut cur, version);
            if g.is_err() {
                left = 0;
            }
            Some(g)
        })
    }
}

fn read_group<'a>(cur: &mut Cursor<'a>, version: u8) -> Result<Group<'a>> {
    let name = cur.string()?;
    let last_id = StreamId::read_pair(cur)?;
    let entries_read = if version >= 2 {
        Some(cur.length()? as i64)
    } else {
        None
    };
    let pel_count = cur.count(17)?;
    let pel = *cur;
    for _ in 0..pel_count {
        cur.take(24)?;
        cur.length()?;
    }
    let consumer_count = cur.count(9)?;
    let consumers = *cur;
    for _ in 0..consumer_count {
        read_consumer(cur, version)?;
    }
    Ok(Group {
        name,
        last_id,
        entries_read,
        pel_count,
        consumer_count,
        version,
        pel,
        consumers,
    })
}

fn read_consumer<'a>(cur: &mut Cursor<'a>, version: u8) -> Result<Consumer<'a>> {
    let name = cur.string()?;
    let seen_time = cur.i64le()?;
    let active_time = if version >= 3 {
        Some(cur.i64le()?)
    } else {
        None
    };
    let pel_count = cur.count(16)?;
    let pel = *cur;
    cur.take_u64(pel_count * 16)?;
    Ok(Consumer {
        name,
        seen_time,
        active_time,
        pel_count,
        pel,
    })
}

impl<'a> Group<'a> {
    /// The group's pending entries, in id order.
    pub fn pel(&self) -> impl Iterator<Item = Result<PelEntry>> + 'a {
        let mut cur = self.pel;
        (0..self.pel_count).map(move |_| {
            Ok(PelEntry {
                id: read_sid(&mut cur)?,
                delivery_time: cur.i64le()?,
                delivery_count: cur.length()?,
            })
        })
    }

    /// The group's consumers, in file order (by name).
    pub fn consumers(&self) -> impl Iterator<Item = Result<Consumer<'a>>> + 'a {
        let mut cur = self.consumers;
        let version = self.version;
        (0..self.consumer_count).map(move |_| read_consumer(&mut cur, version))
    }
}

impl<'a> Consumer<'a> {
    /// The ids this consumer owns, in id order (each is also in the group's PEL).
    pub fn pel(&self) -> impl Iterator<Item = Result<StreamId>> + 'a {
        let mut cur = self.pel;
        (0..self.pel_count).map(move |_| read_sid(&mut cur))
    }
}

#[cfg(test)]
mod tests {
    use crate::rdb::cursor::Cursor;
    use crate::rdb::encoding::{listpack, Elem};
    use crate::rdb::owned::{to_owned, OwnedValue};
    use crate::rdb::{Checker, RdbReader, Record, Value};

    /// A type-15 stream value whose nodes have the given master ms (seq 0), one
    /// entry each, and no groups.
    fn stream_value(node_ms: &[u64]) -> Vec<u8> {
        let lp = listpack::encode(&[
            Elem::Int(1),
            Elem::Int(0),
            Elem::Int(1),
            Elem::Str(b"f"),
            Elem::Int(0),
            Elem::Int(2),
            Elem::Int(0),
            Elem::Int(0),
            Elem::Str(b"v"),
            Elem::Int(4),
        ]);
        let len = |n: usize| [0x40 | (n >> 8) as u8, n as u8];
        let mut out = len(node_ms.len()).to_vec();
        for ms in node_ms {
            out.push(16);
            out.extend_from_slice(&((*ms as u128) << 64).to_be_bytes());
            out.extend_from_slice(&len(lp.len()));
            out.extend_from_slice(&lp);
        }
        let last = node_ms.iter().max().copied().unwrap_or(0);
        out.extend_from_slice(&len(node_ms.len()));
        out.push(0x80);
        out.extend_from_slice(&(last as u32).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    fn check(node_ms: &[u64]) -> (crate::Result<super::StreamSummary>, Vec<String>, usize) {
        let b = stream_value(node_ms);
        let mut chk = Checker::new(true);
        let r = super::read(&mut Cursor::new(&b, 0), 1, &mut chk);
        (r, chk.warnings.clone(), chk.ids.len())
    }

    /// Repeated node keys are found wherever they are, while keys in server order
    /// (ascending) keep no set at all.
    #[test]
    fn repeated_node_keys_with_bounded_memory() {
        let many: Vec<u64> = (1..200).map(|i| i * 10).collect();
        let (r, w, kept) = check(&many);
        assert_eq!(r.unwrap().live_entries, 199);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(kept, 0, "no key kept for an ordered stream");
        for bad in [
            &[5, 5][..],
            &[1, 2, 3, 3],
            &[1, 5, 3, 5],
            &[9, 4, 7, 9, 2],
            &[3, 1, 2, 1],
        ] {
            let (r, _, _) = check(bad);
            let e = r.unwrap_err().to_string();
            assert!(
                e.contains("re-added with an existing node key"),
                "{bad:?}: {e}"
            );
        }
        for unordered in [&[2, 1][..], &[1, 5, 3, 4, 9, 0]] {
            let (r, w, kept) = check(unordered);
            assert!(r.is_ok(), "{unordered:?}: distinct keys load in any order");
            assert_eq!(w.len(), 1, "{w:?}");
            assert_eq!(kept, unordered.len());
        }
    }

    /// The streaming accessor reads what the materialising reader reads.
    #[test]
    fn meta_agrees_with_owned() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample-redis-7.2.rdb");
        let data = std::fs::read(path).unwrap();
        let mut r = RdbReader::new(&data, Checker::default()).unwrap();
        let mut streams = 0;
        while let Some(rec) = r.next_record().unwrap() {
            let Record::Key(k) = rec else { continue };
            let Value::Stream { version, body } = k.value else {
                continue;
            };
            let OwnedValue::Stream {
                length,
                last_id,
                groups,
                ..
            } = to_owned(&k).unwrap().value
            else {
                panic!("not a stream")
            };
            let m = super::meta(body, version).unwrap();
            assert_eq!((m.length, m.last_id), (length, last_id));
            assert_eq!(m.group_count as usize, groups.len());
            for (g, o) in m.groups().zip(&groups) {
                let g = g.unwrap();
                assert_eq!(g.name.to_vec().unwrap(), o.name);
                assert_eq!(g.last_id, o.last_id);
                let pel: Vec<_> = g
                    .pel()
                    .map(|p| p.map(|p| (p.id, p.delivery_time, p.delivery_count)))
                    .collect::<crate::Result<_>>()
                    .unwrap();
                assert_eq!(pel, o.pel);
                let consumers: Vec<_> = g.consumers().map(|c| c.unwrap()).collect();
                assert_eq!(consumers.len(), o.consumers.len());
                for (c, oc) in consumers.iter().zip(&o.consumers) {
                    assert_eq!(c.name.to_vec().unwrap(), oc.name);
                    assert_eq!((c.seen_time, c.active_time), (oc.seen_time, oc.active_time));
                    let ids: Vec<_> = c.pel().map(|i| i.unwrap()).collect();
                    assert_eq!(ids, oc.pel);
                }
                assert!(!o.pel.is_empty(), "the sample has a pending entry");
            }
            streams += 1;
        }
        assert!(streams > 0, "the sample has a stream");
    }
}
