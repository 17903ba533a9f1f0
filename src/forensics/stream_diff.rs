//! `diff` of two streams' metadata: whether it differs over what both files' stream
//! versions hold (the digest of [`crate::rdb::digest::stream_meta_digest`]), and if so,
//! what differs, in words ("consumer group g1: last-delivered 5-0 -> 7-0").
//!
//! Both streams are read again from their files' bytes at the value's offset, and the
//! description walks the two side by side: servers write groups, consumers and pending
//! entries in order (name, name, id: radix-tree walks), so one merge walk per list finds
//! what is only on one side or changed, with nothing collected. The digest decides; a
//! file whose lists are out of order (no server writes one) still compares right, with a
//! vaguer description.

use crate::error::display_key;
use crate::rdb::digest::{stream_meta_digest, StreamMetaFields};
use crate::rdb::stream::{self, Consumer, Group, Meta, PelEntry, StreamId};
use crate::rdb::value::Region;
use crate::{Error, Result};

/// Differences described for one key; more are counted, not listed.
const MAX_LINES: usize = 10;

/// A stream value in its file: the file's bytes, the value's offset and stream version.
#[derive(Clone, Copy, Debug)]
pub struct StreamIn<'a> {
    pub data: &'a [u8],
    pub at: u64,
    pub version: u8,
}

impl<'a> StreamIn<'a> {
    fn region(&self) -> Result<Region<'a>> {
        let bytes = usize::try_from(self.at)
            .ok()
            .and_then(|at| self.data.get(at..))
            .ok_or_else(|| Error::corrupt(self.at, "stream value offset past the end"))?;
        Ok(Region { bytes, at: self.at })
    }
}

/// The metadata differences between `a` and `b` over the fields both versions hold
/// (`None`: equal). At most [`MAX_LINES`] lines, then a count of the rest.
pub fn compare(a: StreamIn<'_>, b: StreamIn<'_>) -> Result<Option<Vec<String>>> {
    let level = a.version.min(b.version);
    let fields = StreamMetaFields::all(level);
    let (ra, rb) = (a.region()?, b.region()?);
    if stream_meta_digest(ra, a.version, fields)? == stream_meta_digest(rb, b.version, fields)? {
        return Ok(None);
    }
    let mut out = Lines::default();
    describe(
        &stream::meta(ra, a.version)?,
        &stream::meta(rb, b.version)?,
        level,
        &mut out,
    )?;
    let mut lines = out.lines;
    if out.more > 0 {
        lines.push(format!("and {} more", out.more));
    }
    if lines.is_empty() {
        // The digests differ over what the walk does not show: idempotent-producer ids
        // (only their counts are described), or lists not in server order.
        lines.push(
            "metadata differs (idempotent-producer ids, or lists not in server order)".into(),
        );
    }
    Ok(Some(lines))
}

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    more: u64,
}

impl Lines {
    fn push(&mut self, line: impl FnOnce() -> String) {
        if self.lines.len() < MAX_LINES {
            self.lines.push(line());
        } else {
            self.more += 1;
        }
    }

    fn change<T: PartialEq + std::fmt::Display>(&mut self, what: &str, a: T, b: T) {
        if a != b {
            self.push(|| format!("{what} {a} -> {b}"));
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("none".into(), |v| v.to_string())
}

/// Walks two lists ordered by key, handing each key's items (one side missing when only
/// the other has it) to `f`.
fn merge<K: Ord, T>(
    mut a: impl Iterator<Item = Result<(K, T)>>,
    mut b: impl Iterator<Item = Result<(K, T)>>,
    mut f: impl FnMut(&K, Option<T>, Option<T>) -> Result<()>,
) -> Result<()> {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.next().transpose()?, b.next().transpose()?);
    loop {
        match (x.take(), y.take()) {
            (None, None) => return Ok(()),
            (Some((ka, ta)), None) => {
                f(&ka, Some(ta), None)?;
                x = a.next().transpose()?;
            }
            (None, Some((kb, tb))) => {
                f(&kb, None, Some(tb))?;
                y = b.next().transpose()?;
            }
            (Some((ka, ta)), Some((kb, tb))) => match ka.cmp(&kb) {
                Ordering::Equal => {
                    f(&ka, Some(ta), Some(tb))?;
                    (x, y) = (a.next().transpose()?, b.next().transpose()?);
                }
                Ordering::Less => {
                    f(&ka, Some(ta), None)?;
                    (x, y) = (a.next().transpose()?, Some((kb, tb)));
                }
                Ordering::Greater => {
                    f(&kb, None, Some(tb))?;
                    (x, y) = (Some((ka, ta)), b.next().transpose()?);
                }
            },
        }
    }
}

/// Something listed by name (groups, consumers).
trait Named {
    fn name(&self) -> Result<Vec<u8>>;
}

impl Named for Group<'_> {
    fn name(&self) -> Result<Vec<u8>> {
        self.name.to_vec()
    }
}

impl Named for Consumer<'_> {
    fn name(&self) -> Result<Vec<u8>> {
        self.name.to_vec()
    }
}

fn by_name<T: Named>(item: Result<T>) -> Result<(Vec<u8>, T)> {
    let item = item?;
    Ok((item.name()?, item))
}

fn describe(a: &Meta<'_>, b: &Meta<'_>, level: u8, out: &mut Lines) -> Result<()> {
    out.change("last id", a.last_id, b.last_id);
    if level >= 2 {
        out.change("first id", opt(a.first_id), opt(b.first_id));
        out.change(
            "max-deleted id",
            opt(a.max_deleted_id),
            opt(b.max_deleted_id),
        );
        out.change("entries-added", opt(a.entries_added), opt(b.entries_added));
    }
    if level >= 4 {
        describe_idmp(a, b, out)?;
    }
    let (ga, gb) = (a.groups().map(by_name), b.groups().map(by_name));
    merge(ga, gb, |name, ga, gb| {
        let name = display_key(name);
        match (ga, gb) {
            (Some(ga), Some(gb)) => return describe_group(&name, &ga, &gb, level, out),
            (Some(_), None) => out.push(|| format!("consumer group {name} only in A")),
            _ => out.push(|| format!("consumer group {name} only in B")),
        }
        Ok(())
    })
}

fn describe_idmp(a: &Meta<'_>, b: &Meta<'_>, out: &mut Lines) -> Result<()> {
    let (Some(ia), Some(ib)) = (a.idmp()?, b.idmp()?) else {
        return Ok(());
    };
    out.change("idempotent-producer duration", ia.duration_s, ib.duration_s);
    out.change("idempotent-producer max size", ia.max_size, ib.max_size);
    out.change("idempotent-producer ids tracked", ia.iids, ib.iids);
    out.change(
        "idempotent-producer ids added",
        ia.iids_added,
        ib.iids_added,
    );
    out.change(
        "idempotent-producer duplicates",
        ia.duplicates,
        ib.duplicates,
    );
    Ok(())
}

fn describe_group(
    name: &str,
    a: &Group<'_>,
    b: &Group<'_>,
    level: u8,
    out: &mut Lines,
) -> Result<()> {
    let what = |w: &str| format!("consumer group {name}: {w}");
    out.change(&what("last-delivered"), a.last_id, b.last_id);
    if level >= 2 {
        // -1: the server could not tell (`SCG_INVALID_ENTRIES_READ`).
        let read = |n: Option<i64>| match n {
            Some(-1) => "unknown (-1)".to_string(),
            n => opt(n),
        };
        out.change(
            &what("entries-read"),
            read(a.entries_read),
            read(b.entries_read),
        );
    }
    let by_id = |p: Result<PelEntry>| p.map(|p| (p.id, p));
    merge(a.pel().map(by_id), b.pel().map(by_id), |id, pa, pb| {
        match (pa, pb) {
            (Some(pa), Some(pb)) => {
                let w = what(&format!("pending {id}"));
                out.change(
                    &format!("{w} delivery count"),
                    pa.delivery_count,
                    pb.delivery_count,
                );
                out.change(
                    &format!("{w} delivery time"),
                    pa.delivery_time,
                    pb.delivery_time,
                );
            }
            (Some(_), None) => out.push(|| what(&format!("pending {id} only in A"))),
            _ => out.push(|| what(&format!("pending {id} only in B"))),
        }
        Ok(())
    })?;
    let (ca, cb) = (a.consumers().map(by_name), b.consumers().map(by_name));
    merge(ca, cb, |cname, ca, cb| {
        let c = format!("consumer {}", display_key(cname));
        match (ca, cb) {
            (Some(ca), Some(cb)) => return describe_consumer(&what(&c), &ca, &cb, level, out),
            (Some(_), None) => out.push(|| what(&format!("{c} only in A"))),
            _ => out.push(|| what(&format!("{c} only in B"))),
        }
        Ok(())
    })
}

fn describe_consumer(
    what: &str,
    a: &Consumer<'_>,
    b: &Consumer<'_>,
    level: u8,
    out: &mut Lines,
) -> Result<()> {
    out.change(&format!("{what} seen-time"), a.seen_time, b.seen_time);
    if level >= 3 {
        out.change(
            &format!("{what} active-time"),
            opt(a.active_time),
            opt(b.active_time),
        );
    }
    let ids = |i: Result<StreamId>| i.map(|i| (i, ()));
    merge(a.pel().map(ids), b.pel().map(ids), |id, x, y| {
        match (x, y) {
            (Some(_), Some(_)) => {}
            (Some(_), None) => out.push(|| format!("{what}: owns pending {id} only in A")),
            _ => out.push(|| format!("{what}: owns pending {id} only in B")),
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::{merge, StreamIn};
    use crate::rdb::digest::tests::{encode, sample, Meta};

    fn list(v: &[u32]) -> impl Iterator<Item = crate::Result<(u32, u32)>> + '_ {
        v.iter().map(|&k| Ok((k, k * 10)))
    }

    /// The merge walk pairs equal keys and hands over the rest one side at a time,
    /// whichever list runs out first.
    #[test]
    fn merge_pairs_keys_of_two_ordered_lists() {
        let run = |a: &[u32], b: &[u32]| {
            let mut seen = Vec::new();
            merge(list(a), list(b), |k, x, y| {
                seen.push((*k, x, y));
                Ok(())
            })
            .unwrap();
            seen
        };
        assert_eq!(
            run(&[1, 3, 4, 9], &[2, 3, 9, 10, 11]),
            vec![
                (1, Some(10), None),
                (2, None, Some(20)),
                (3, Some(30), Some(30)),
                (4, Some(40), None),
                (9, Some(90), Some(90)),
                (10, None, Some(100)),
                (11, None, Some(110)),
            ]
        );
        assert_eq!(run(&[], &[]), vec![]);
        assert_eq!(run(&[5], &[]), vec![(5, Some(50), None)]);
    }

    fn compare_as(a: &Meta, va: u8, b: &Meta, vb: u8) -> Option<Vec<String>> {
        let (ea, eb) = (encode(a, va), encode(b, vb));
        let side = |data, version| StreamIn {
            data,
            at: 0,
            version,
        };
        super::compare(side(&ea, va), side(&eb, vb)).unwrap()
    }

    /// Equal over what both versions hold, whatever the order; each change named.
    #[test]
    fn compares_what_both_hold_and_names_it() {
        let a = sample();
        assert_eq!(compare_as(&a, 3, &a, 3), None);
        assert_eq!(compare_as(&a, 1, &a, 3), None);
        let mut b = sample();
        b.groups[0].consumers[0].2 = 99; // active-time: v3 only
        b.entries_added = 99; // v2+
        assert_eq!(compare_as(&a, 1, &b, 3), None);
        assert_eq!(
            compare_as(&a, 2, &b, 3),
            Some(vec!["entries-added 9 -> 99".to_string()])
        );
        assert_eq!(
            compare_as(&a, 3, &b, 3),
            Some(vec![
                "entries-added 9 -> 99".to_string(),
                "consumer group g1: consumer alice active-time 11 -> 99".to_string()
            ])
        );
        // Not in server order: equal still compares equal.
        let mut reordered = sample();
        reordered.groups.reverse();
        assert_eq!(compare_as(&a, 3, &reordered, 3), None);
    }

    /// A long list of differences is cut at MAX_LINES, the rest counted.
    #[test]
    fn many_differences_are_counted() {
        let mut a = sample();
        a.groups[1].pel = (100..115).map(|ms| (ms, 5, 1)).collect();
        a.groups[1].consumers[0].3 = (100..115).collect();
        let mut b = a.clone();
        b.groups[1].pel.clear();
        b.groups[1].consumers[0].3.clear();
        let lines = compare_as(&a, 3, &b, 3).unwrap();
        assert_eq!(lines.len(), super::MAX_LINES + 1);
        assert_eq!(lines[0], "consumer group g2: pending 100-0 only in A");
        assert_eq!(lines[super::MAX_LINES], "and 20 more");
    }

    /// Keys are held per partition in memory: a stream's version and offset add 8 bytes.
    #[test]
    fn diff_entries_stay_small() {
        assert!(std::mem::size_of::<super::super::diff::Entry>() <= 48);
    }
}
