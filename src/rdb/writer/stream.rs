//! Streams for a target that only loads an older stream type. The node listpacks are
//! the same in every version (5.0 → 8.6), so nodes, length and last id are copied as
//! stored; the metadata is copied field by field, leaving out what the older type
//! lacks. Each loss is noted, with what the server does in its place on load.

use std::io::Write;

use super::{RdbWriter, Result, Target};
use crate::rdb::cursor::Cursor;
use crate::rdb::header::Dialect;

/// The stream type id of each stream version (§5.7).
pub fn type_id(version: u8) -> u8 {
    match version {
        1 => 15,
        2 => 19,
        3 => 21,
        _ => 26,
    }
}

/// The newest stream version `target` loads.
pub fn newest_version(target: Target) -> u8 {
    match (target.dialect, target.version) {
        (Dialect::Redis, v) if v >= 13 => 4,
        (Dialect::Redis, 10) => 2,
        (Dialect::Redis, v) if v < 10 => 1,
        _ => 3,
    }
}

/// Writes the value (`body`, a stream of version `from`) as version `to` < `from`, after
/// its key header; returns the notes on what was left out.
pub fn write_older<W: Write>(
    w: &mut RdbWriter<W>,
    body: Cursor<'_>,
    from: u8,
    to: u8,
) -> Result<Vec<String>> {
    let mut cur = body;
    let mut notes = Vec::new();
    let start = cur.pos();
    let nodes = cur.count(2)?;
    for _ in 0..nodes {
        cur.skip_string()?;
        cur.skip_string()?;
    }
    cur.length()?;
    skip_id(&mut cur)?;
    w.put(cur.since(start))?;
    if from >= 2 {
        let at = cur.pos();
        skip_id(&mut cur)?;
        skip_id(&mut cur)?;
        cur.length()?;
        if to >= 2 {
            w.put(cur.since(at))?;
        } else {
            notes.push(
                "first-entry-id, max-deleted-entry-id and entries-added dropped (the server recomputes them on load)"
                    .into(),
            );
        }
    }
    let at = cur.pos();
    let groups = cur.count(3)?;
    w.put(cur.since(at))?;
    let (mut entries_read_dropped, mut active_time_dropped) = (false, false);
    for _ in 0..groups {
        let at = cur.pos();
        cur.skip_string()?;
        skip_id(&mut cur)?;
        w.put(cur.since(at))?;
        if from >= 2 {
            let at = cur.pos();
            cur.length()?;
            if to >= 2 {
                w.put(cur.since(at))?;
            } else {
                entries_read_dropped = true;
            }
        }
        // The group PEL: SID128, delivery time, delivery count per entry.
        let at = cur.pos();
        let pel = cur.count(17)?;
        for _ in 0..pel {
            cur.take(24)?;
            cur.length()?;
        }
        let consumers = cur.count(9)?;
        w.put(cur.since(at))?;
        for _ in 0..consumers {
            let at = cur.pos();
            cur.skip_string()?;
            cur.i64le()?; // seen time
            w.put(cur.since(at))?;
            if from >= 3 {
                let at = cur.pos();
                cur.i64le()?;
                if to >= 3 {
                    w.put(cur.since(at))?;
                } else {
                    active_time_dropped = true;
                }
            }
            let at = cur.pos();
            let owned = cur.count(16)?;
            cur.take_u64(owned * 16)?;
            w.put(cur.since(at))?;
        }
    }
    if entries_read_dropped {
        notes.push("group entries-read dropped (the server estimates it on load)".into());
    }
    if active_time_dropped {
        notes.push("consumer active-time dropped (the server sets it to seen-time on load)".into());
    }
    if from >= 4 {
        let (duration, max_size) = (cur.length()?, cur.length()?);
        let producers = cur.count(2)?;
        let mut iids = 0u64;
        for _ in 0..producers {
            cur.skip_string()?;
            let n = cur.count(3)?;
            for _ in 0..n {
                cur.skip_string()?;
                skip_id(&mut cur)?;
            }
            iids += n;
        }
        cur.length()?;
        cur.length()?;
        if iids > 0 || (duration, max_size) != (100, 100) {
            notes.push(format!(
                "idempotent-producer (IDMP) table dropped: {producers} producers, {iids} ids, duration {duration} s, max size {max_size}"
            ));
        }
    }
    Ok(notes)
}

/// A stream id as two lengths (ms, seq).
fn skip_id(cur: &mut Cursor<'_>) -> Result<()> {
    cur.length()?;
    cur.length()?;
    Ok(())
}
