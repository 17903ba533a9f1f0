//! A stream's consumer groups: names, group PELs, consumers and their PELs, checked
//! as `rdbLoadObject` checks them (no duplicate group, consumer or PEL id, every
//! consumer PEL id present in its group PEL, every group PEL entry owned by a
//! consumer).
//!
//! Done naively (what [`read_exact`] does) those checks keep a set of every PEL id,
//! so memory grows with the largest PEL. Servers write groups, consumers and PEL
//! ids in rax order, ascending, and on such input [`read_ordered`] checks everything
//! in memory that grows only with the number of consumers in a group: strictly
//! ascending names and ids cannot repeat, and one k-way merge of the (sorted)
//! consumer PELs against the (sorted) group PEL finds every id missing from the group
//! and every entry nobody owns. Whenever the ordered pass cannot vouch for the
//! groups (anything out of order, any failure), they are read again by
//! [`read_exact`], which also reports the first problem in file order, as the
//! server would.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use crate::error::{Error, Result};
use crate::rdb::check::{Checker, IdSet};
use crate::rdb::cursor::Cursor;

/// What the groups of one stream hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupCounts {
    pub groups: u64,
    pub pel_entries: u64,
    pub consumers: u64,
}

/// Reads (and, when `chk.deep`, checks) the consumer groups of a stream of the given
/// stream type version; `cur` is left after them.
pub(crate) fn read(cur: &mut Cursor<'_>, version: u8, chk: &mut Checker) -> Result<GroupCounts> {
    if !chk.deep {
        return read_exact(cur, version, chk);
    }
    let start = *cur;
    match read_ordered(cur, version) {
        Ok(Ordered::Sound(counts)) => return Ok(counts),
        Ok(Ordered::OutOfOrder(what)) => chk.warn(format!(
            "stream {what} are not in ascending order (no server writes them so)"
        )),
        Ok(Ordered::Unsound) | Err(_) => {}
    }
    *cur = start;
    read_exact(cur, version, chk)
}

fn sid(cur: &mut Cursor<'_>) -> Result<u128> {
    Ok(u128::from_be_bytes(cur.array()?))
}

/// Group metadata after the name: last delivered id, and entries-read from v2 on.
fn skip_group_meta(cur: &mut Cursor<'_>, version: u8) -> Result<()> {
    cur.length()
        .and_then(|_| cur.length())
        .map_err(|e| e.reading("a consumer group last id"))?;
    if version >= 2 {
        cur.length()
            .map_err(|e| e.reading("a consumer group entries-read counter"))?;
    }
    Ok(())
}

/// Reads `n` ids with `read`; false at the first one not above the one before (the
/// rest is left unread).
fn ids_ascend(
    cur: &mut Cursor<'_>,
    n: u64,
    read: impl Fn(&mut Cursor<'_>) -> Result<u128>,
) -> Result<bool> {
    let mut prev = None;
    for _ in 0..n {
        let id = read(cur)?;
        if prev >= Some(id) {
            return Ok(false);
        }
        prev = Some(id);
    }
    Ok(true)
}

/// One group PEL entry: id, delivery time, delivery count.
fn pel_entry(cur: &mut Cursor<'_>) -> Result<u128> {
    let id = sid(cur).map_err(|e| e.reading("a consumer group PEL id"))?;
    cur.i64le().map_err(|e| e.reading("a PEL delivery time"))?;
    cur.length()
        .map_err(|e| e.reading("a PEL delivery count"))?;
    Ok(id)
}

/// A consumer's name and times, up to its PEL size.
fn consumer_head<'a>(cur: &mut Cursor<'a>, version: u8) -> Result<crate::rdb::string::RdbStr<'a>> {
    let name = cur.string().map_err(|e| e.reading("a consumer name"))?;
    cur.i64le().map_err(|e| e.reading("a consumer seen time"))?;
    if version >= 3 {
        cur.i64le()
            .map_err(|e| e.reading("a consumer active time"))?;
    }
    Ok(name)
}

/// The checks done the way the server does them, with sets; also the structural
/// walk when checks are off.
pub(crate) fn read_exact(
    cur: &mut Cursor<'_>,
    version: u8,
    chk: &mut Checker,
) -> Result<GroupCounts> {
    let mut counts = GroupCounts::default();
    let groups = cur
        .count(3)
        .map_err(|e| e.reading("the consumer group count"))?;
    let mut group_names = HashSet::new();
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
        skip_group_meta(cur, version)?;
        counts.groups += 1;
        let pel = cur
            .count(17)
            .map_err(|e| e.reading("a consumer group PEL size"))?;
        chk.owned.clear();
        for _ in 0..pel {
            let at = cur.offset();
            let id = pel_entry(cur)?;
            if chk.deep && chk.owned.insert(id, false).is_some() {
                return Err(Error::corrupt(
                    at,
                    "duplicated global PEL entry in a stream consumer group",
                ));
            }
            counts.pel_entries += 1;
        }
        let consumers = cur.count(9).map_err(|e| e.reading("a consumer count"))?;
        let mut consumer_names = HashSet::new();
        for _ in 0..consumers {
            let at = cur.offset();
            let cname = consumer_head(cur, version)?;
            if chk.deep && !consumer_names.insert(cname.to_vec()?) {
                return Err(Error::corrupt(at, "duplicate stream consumer"));
            }
            counts.consumers += 1;
            let n = cur
                .count(16)
                .map_err(|e| e.reading("a consumer PEL size"))?;
            let mut own = IdSet::with_hasher(*chk.owned.hasher());
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
    // A huge PEL's table is not kept for the next key.
    if chk.owned.capacity() > 1 << 16 {
        chk.owned = Default::default();
    }
    Ok(counts)
}

/// What the ordered pass found.
#[derive(Debug, PartialEq, Eq)]
enum Ordered {
    /// Everything checked and sound.
    Sound(GroupCounts),
    /// These were out of order: the ordered pass cannot tell.
    OutOfOrder(&'static str),
    /// A check failed: the exact pass finds and reports it.
    Unsound,
}

/// Whether `next` comes strictly after `prev` (which becomes `next`).
fn ascends(prev: &mut Vec<u8>, first: bool, next: &[u8]) -> bool {
    let up = first || next > prev.as_slice();
    prev.clear();
    prev.extend_from_slice(next);
    up
}

/// The checks on input in rax order, in memory that grows with the consumers of one
/// group only (a cursor each), not with the PELs.
fn read_ordered(cur: &mut Cursor<'_>, version: u8) -> Result<Ordered> {
    let mut counts = GroupCounts::default();
    let groups = cur.count(3)?;
    let (mut prev_group, mut prev_consumer, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    let mut consumer_pels: Vec<(Cursor<'_>, u64)> = Vec::new();
    for g in 0..groups {
        let name = cur.string()?;
        if !ascends(&mut prev_group, g == 0, name.decode(&mut buf)?) {
            return Ok(Ordered::OutOfOrder("consumer group names"));
        }
        skip_group_meta(cur, version)?;
        counts.groups += 1;
        let pel = cur.count(17)?;
        let group_pel = *cur;
        if !ids_ascend(cur, pel, pel_entry)? {
            return Ok(Ordered::OutOfOrder("consumer group PEL ids"));
        }
        counts.pel_entries += pel;
        let consumers = cur.count(9)?;
        consumer_pels.clear();
        for c in 0..consumers {
            let name = consumer_head(cur, version)?;
            if !ascends(&mut prev_consumer, c == 0, name.decode(&mut buf)?) {
                return Ok(Ordered::OutOfOrder("consumer names"));
            }
            let n = cur.count(16)?;
            consumer_pels.push((*cur, n));
            if !ids_ascend(cur, n, sid)? {
                return Ok(Ordered::OutOfOrder("consumer PEL ids"));
            }
        }
        counts.consumers += consumers;
        if !pels_match(group_pel, pel, &mut consumer_pels)? {
            return Ok(Ordered::Unsound);
        }
    }
    Ok(Ordered::Sound(counts))
}

/// One k-way merge of the consumer PELs (each ascending) against the group PEL
/// (ascending): true when every consumer id is in the group PEL and every group
/// entry has at least one consumer.
fn pels_match(
    mut group_pel: Cursor<'_>,
    pel: u64,
    consumer_pels: &mut [(Cursor<'_>, u64)],
) -> Result<bool> {
    let mut heads = BinaryHeap::with_capacity(consumer_pels.len());
    for (i, (c, left)) in consumer_pels.iter_mut().enumerate() {
        if *left > 0 {
            *left -= 1;
            heads.push(Reverse((sid(c)?, i)));
        }
    }
    for _ in 0..pel {
        let id = pel_entry(&mut group_pel)?;
        let mut owned = false;
        while let Some(&Reverse((head, i))) = heads.peek() {
            if head > id {
                break;
            }
            if head < id {
                return Ok(false);
            }
            owned = true;
            heads.pop();
            let (c, left) = &mut consumer_pels[i];
            if *left > 0 {
                *left -= 1;
                heads.push(Reverse((sid(c)?, i)));
            }
        }
        if !owned {
            return Ok(false);
        }
    }
    Ok(heads.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::writer::encode_length;

    /// A group section: groups of (name, PEL ids, consumers of (name, PEL ids)).
    type Groups = Vec<(Vec<u8>, Vec<u128>, Vec<(Vec<u8>, Vec<u128>)>)>;

    fn len(out: &mut Vec<u8>, n: u64) {
        let mut b = [0; 9];
        let k = encode_length(n, &mut b);
        out.extend_from_slice(&b[..k]);
    }

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        len(out, s.len() as u64);
        out.extend_from_slice(s);
    }

    fn encode(groups: &Groups, version: u8) -> Vec<u8> {
        let mut out = Vec::new();
        len(&mut out, groups.len() as u64);
        for (name, pel, consumers) in groups {
            string(&mut out, name);
            len(&mut out, 7);
            len(&mut out, 0);
            if version >= 2 {
                len(&mut out, 3);
            }
            len(&mut out, pel.len() as u64);
            for id in pel {
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
                len(&mut out, 2);
            }
            len(&mut out, consumers.len() as u64);
            for (cname, ids) in consumers {
                string(&mut out, cname);
                out.extend_from_slice(&5i64.to_le_bytes());
                if version >= 3 {
                    out.extend_from_slice(&6i64.to_le_bytes());
                }
                len(&mut out, ids.len() as u64);
                for id in ids {
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
        }
        out
    }

    /// (counts or error text with its offset, bytes left, warnings) from `f`.
    fn run(
        bytes: &[u8],
        version: u8,
        f: fn(&mut Cursor<'_>, u8, &mut Checker) -> Result<GroupCounts>,
    ) -> (std::result::Result<GroupCounts, String>, usize, usize) {
        let mut cur = Cursor::new(bytes, 0);
        let mut chk = Checker::new(true);
        let r = f(&mut cur, version, &mut chk).map_err(|e| e.to_string());
        (r, cur.remaining(), chk.warnings.len())
    }

    /// Small random group sections, mostly in server order, with the damage the
    /// checks are for mixed in.
    fn random_groups(seed: &mut u64) -> Groups {
        let mut next = |n: u64| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed % n
        };
        let mut groups = Groups::new();
        for g in 0..next(4) {
            let mut pel: Vec<u128> = (0..next(12)).map(|_| next(40) as u128).collect();
            pel.sort_unstable();
            pel.dedup();
            let mut consumers = Vec::new();
            let mut left = pel.clone();
            for c in 0..next(4) {
                let mut ids: Vec<u128> = left.iter().copied().filter(|_| next(2) == 0).collect();
                left.retain(|i| !ids.contains(i));
                if next(8) == 0 {
                    ids.push(next(40) as u128); // perhaps not in the group PEL
                }
                ids.sort_unstable();
                consumers.push((format!("c{c}").into_bytes(), ids));
            }
            if let Some(last) = consumers.last_mut() {
                last.1.extend(left.iter().filter(|_| next(8) != 0));
                last.1.sort_unstable();
            }
            groups.push((format!("g{g}").into_bytes(), pel, consumers));
        }
        // Damage: a repeat, a step back, a renamed group or consumer.
        match next(6) {
            0 if !groups.is_empty() => {
                let g = next(groups.len() as u64) as usize;
                let pel = &mut groups[g].1;
                if let Some(&x) = pel.first() {
                    pel.insert(next(pel.len() as u64) as usize, x);
                }
            }
            1 if !groups.is_empty() => {
                let g = next(groups.len() as u64) as usize;
                if let Some(c) = groups[g].2.last_mut() {
                    c.1.reverse();
                }
            }
            2 if groups.len() > 1 => groups[1].0 = groups[0].0.clone(),
            3 if !groups.is_empty() && groups[0].2.len() > 1 => groups[0].2[1].0 = b"a".to_vec(),
            4 if !groups.is_empty() => groups[0].1.reverse(),
            _ => {}
        }
        groups
    }

    #[test]
    fn ordered_pass_agrees_with_the_exact_one() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let (mut sound, mut unsound) = (0, 0);
        for _ in 0..20_000 {
            let groups = random_groups(&mut seed);
            for version in 1..=3 {
                let bytes = encode(&groups, version);
                let (exact, exact_left, _) = run(&bytes, version, read_exact);
                let (fast, fast_left, _) = run(&bytes, version, read);
                assert_eq!(fast, exact, "{groups:?}");
                assert_eq!(fast_left, exact_left);
                if exact.is_ok() {
                    sound += 1;
                } else {
                    unsound += 1;
                }
                // Every cut is truncation in both, at the same place.
                let cut = bytes.len() * (seed as usize % 97) / 97;
                assert_eq!(
                    run(&bytes[..cut], version, read).0,
                    run(&bytes[..cut], version, read_exact).0
                );
            }
        }
        assert!(
            sound > 10_000 && unsound > 5_000,
            "{sound} sound, {unsound} not"
        );
    }

    #[test]
    fn server_order_is_checked_without_sets() {
        let pel: Vec<u128> = (1..=5000).collect();
        let groups: Groups = vec![(
            b"g".to_vec(),
            pel.clone(),
            vec![
                (b"alice".to_vec(), pel.iter().copied().step_by(2).collect()),
                (
                    b"bob".to_vec(),
                    pel.iter().copied().skip(1).step_by(2).collect(),
                ),
            ],
        )];
        let bytes = encode(&groups, 3);
        let mut cur = Cursor::new(&bytes, 0);
        assert!(matches!(
            read_ordered(&mut cur, 3),
            Ok(Ordered::Sound(GroupCounts {
                groups: 1,
                pel_entries: 5000,
                consumers: 2
            }))
        ));
        let mut chk = Checker::new(true);
        read(&mut Cursor::new(&bytes, 0), 3, &mut chk).unwrap();
        assert_eq!(
            chk.owned.capacity(),
            0,
            "the exact pass's table was not used"
        );
    }

    #[test]
    fn out_of_order_input_is_checked_exactly_with_a_warning() {
        let groups: Groups = vec![(b"g".to_vec(), vec![9, 3], vec![(b"c".to_vec(), vec![3, 9])])];
        let (r, _, warnings) = run(&encode(&groups, 2), 2, read);
        assert!(r.is_ok());
        assert_eq!(warnings, 1);
    }
}
