//! Stream keys as commands: entries with their ids (`XADD`), pending entries whose
//! stream entry was deleted (a placeholder entry added, claimed, then deleted again),
//! groups with their last id and `ENTRIESREAD`, consumers, the PEL with delivery
//! times and counts (`XCLAIM ... TIME RETRYCOUNT FORCE JUSTID`), and last id /
//! entries-added / max-deleted-id (`XSETID`).

use super::{Batch, Counted, Loss, RespOptions, Target, STACK_ARGS};
use crate::export::{each_element, ExportError};
use crate::rdb::items::Element;
use crate::rdb::stream::{self, Group, StreamId};
use crate::rdb::KeyRecord;

/// A stream id as `ms-seq` text, formatted on the stack.
struct IdText {
    buf: [u8; 41],
    len: usize,
}

impl IdText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn id_text(id: StreamId) -> IdText {
    let mut t = IdText {
        buf: [0; 41],
        len: 0,
    };
    let mut n = itoa::Buffer::new();
    for (i, part) in [id.ms, id.seq].into_iter().enumerate() {
        if i == 1 {
            t.buf[t.len] = b'-';
            t.len += 1;
        }
        let digits = n.format(part).as_bytes();
        t.buf[t.len..t.len + digits.len()].copy_from_slice(digits);
        t.len += digits.len();
    }
    t
}

/// Pending ids of all groups, merged in id order without repeats: walking them
/// alongside the stream's entries finds pending entries whose stream entry is gone.
struct PendingIds<'a> {
    heads: Vec<(Option<StreamId>, PelIter<'a>)>,
}

type PelIter<'a> = Box<dyn Iterator<Item = crate::Result<stream::PelEntry>> + 'a>;

impl<'a> PendingIds<'a> {
    fn new(groups: &[Group<'a>]) -> crate::Result<Self> {
        let mut heads = Vec::with_capacity(groups.len());
        for g in groups {
            let mut it: PelIter<'a> = Box::new(g.pel());
            let first = it.next().transpose()?.map(|p| p.id);
            heads.push((first, it));
        }
        Ok(PendingIds { heads })
    }

    fn peek(&self) -> Option<StreamId> {
        self.heads.iter().filter_map(|h| h.0).min()
    }

    /// Removes `id` from every group's head.
    fn pop(&mut self, id: StreamId) -> crate::Result<()> {
        for h in &mut self.heads {
            if h.0 == Some(id) {
                h.0 = h.1.next().transpose()?.map(|p| p.id);
            }
        }
        Ok(())
    }
}

/// Placeholder entry for a pending id whose entry was deleted: added so `XCLAIM` can
/// restore the PEL entry, then deleted again.
const PLACEHOLDER: &[u8] = b"rdbkit-deleted-entry";

pub(super) fn commands(
    k: &KeyRecord<'_>,
    key: &[u8],
    body: crate::rdb::value::Region<'_>,
    version: u8,
    opts: &RespOptions,
    emit: &mut Counted<'_, '_>,
    lost: &mut Vec<Loss>,
) -> Result<(), ExportError> {
    let meta = stream::meta(body, version)?;
    let groups: Vec<Group<'_>> = meta.groups().collect::<crate::Result<_>>()?;
    let counters = opts.allows(Target::has_stream_counters);

    // 1. Entries in id order, placeholders for deleted-but-pending ids between them.
    let mut pending = PendingIds::new(&groups)?;
    let mut placeholders = 0u64;
    let mut live = 0u64;
    let mut add_placeholders_below =
        |limit: Option<StreamId>, pending: &mut PendingIds<'_>, emit: &mut Counted<'_, '_>| {
            while let Some(p) = pending.peek() {
                if limit.is_some_and(|l| p >= l) {
                    break;
                }
                let id = id_text(p);
                emit.args(&[b"XADD", key, id.as_bytes(), PLACEHOLDER, b""])?;
                placeholders += 1;
                pending.pop(p)?;
            }
            Ok::<(), ExportError>(())
        };
    each_element(&k.value, |e| {
        if let Element::StreamEntry(id, pairs) = e {
            add_placeholders_below(Some(id), &mut pending, emit)?;
            if pending.peek() == Some(id) {
                pending.pop(id)?;
            }
            let idt = id_text(id);
            let n = 3 + 2 * pairs.len().max(1);
            let mut on_stack: [&[u8]; STACK_ARGS] = [&[]; STACK_ARGS];
            let mut on_heap = Vec::new();
            let args: &mut [&[u8]] = if n <= STACK_ARGS {
                &mut on_stack[..n]
            } else {
                on_heap.resize(n, &[][..]);
                &mut on_heap
            };
            args[..3].copy_from_slice(&[b"XADD", key, idt.as_bytes()]);
            // No pairs (written by no server: XADD needs a field) stay loadable as "" "".
            for (i, (f, v)) in pairs.iter().enumerate() {
                args[3 + 2 * i] = f;
                args[4 + 2 * i] = v;
            }
            emit.args(args)?;
            live += 1;
        }
        Ok(())
    })?;
    add_placeholders_below(None, &mut pending, emit)?;

    // 2. A stream without entries still exists, with its last id.
    if live == 0 && placeholders == 0 {
        let last = id_text(meta.last_id);
        if meta.last_id != StreamId::default() {
            emit.args(&[
                b"XADD",
                key,
                b"MAXLEN",
                b"0",
                last.as_bytes(),
                PLACEHOLDER,
                b"",
            ])?;
        } else {
            let tmp: &[u8] = b"rdbkit-tmp-group";
            emit.args(&[b"XGROUP", b"CREATE", key, tmp, b"0", b"MKSTREAM"])?;
            emit.args(&[b"XGROUP", b"DESTROY", key, tmp])?;
        }
    }

    // 3. Groups, consumers, pending entries.
    if !counters
        && (meta.entries_added.is_some() || groups.iter().any(|g| g.entries_read.is_some()))
    {
        lost.push(Loss::StreamCounters);
    }
    for g in &groups {
        let name = g.name.to_vec()?;
        let last = id_text(g.last_id);
        let mut create: Vec<&[u8]> = vec![b"XGROUP", b"CREATE", key, &name, last.as_bytes()];
        let read = g.entries_read.map(|n| n.to_string());
        if let (Some(n), true) = (&read, counters) {
            create.extend_from_slice(&[b"ENTRIESREAD", n.as_bytes()]);
        }
        emit.args(&create)?;
        for c in g.consumers() {
            let c = c?;
            let cname = c.name.to_vec()?;
            if opts.allows(Target::has_create_consumer) {
                emit.args(&[b"XGROUP", b"CREATECONSUMER", key, &name, &cname])?;
            } else if c.pel_count == 0 {
                lost.push(Loss::IdleConsumer);
            }
            // Both lists are in id order: one merge walk finds each id's delivery data.
            let mut group_pel = g.pel();
            for id in c.pel() {
                let id = id?;
                let entry = loop {
                    match group_pel.next().transpose()? {
                        Some(p) if p.id < id => continue,
                        Some(p) if p.id == id => break Some(p),
                        _ => break None,
                    }
                };
                let Some(p) = entry else {
                    return Err(crate::Error::corrupt(
                        k.offset,
                        format!("consumer PEL id {id} is not in its group's PEL"),
                    )
                    .into());
                };
                let idt = id_text(id);
                let time = itoa::Buffer::new().format(p.delivery_time).to_string();
                let count = itoa::Buffer::new().format(p.delivery_count).to_string();
                emit.args(&[
                    b"XCLAIM",
                    key,
                    &name,
                    &cname,
                    b"0",
                    idt.as_bytes(),
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"FORCE",
                    b"JUSTID",
                ])?;
            }
        }
    }

    // 4. Placeholders go again (the same merge, replayed).
    if placeholders > 0 {
        let mut pending = PendingIds::new(&groups)?;
        let prefix: [&[u8]; 2] = [b"XDEL", key];
        let mut b = Batch::new(&prefix, opts);
        each_element(&k.value, |e| {
            if let Element::StreamEntry(id, _) = e {
                while let Some(p) = pending.peek().filter(|p| *p < id) {
                    b.push([id_text(p).as_bytes()], emit)?;
                    pending.pop(p)?;
                }
                if pending.peek() == Some(id) {
                    pending.pop(id)?;
                }
            }
            Ok(())
        })?;
        while let Some(p) = pending.peek() {
            b.push([id_text(p).as_bytes()], emit)?;
            pending.pop(p)?;
        }
        b.flush(emit)?;
    }

    // 5. Last id and counters, after everything that moves them.
    let last = id_text(meta.last_id);
    let mut setid: Vec<&[u8]> = vec![b"XSETID", key, last.as_bytes()];
    let added = meta.entries_added.map(|n| n.to_string());
    let max_del = meta.max_deleted_id.map(id_text);
    if counters {
        if let Some(n) = &added {
            setid.extend_from_slice(&[b"ENTRIESADDED", n.as_bytes()]);
        }
        if let Some(m) = &max_del {
            setid.extend_from_slice(&[b"MAXDELETEDID", m.as_bytes()]);
        }
    }
    emit.args(&setid)?;

    // 6. Idempotent-producer settings (Redis 8.6); their id tables cannot be rebuilt.
    if let Some(idmp) = meta.idmp()? {
        if opts.allows(Target::has_stream_idmp) {
            let d = idmp.duration_s.to_string();
            let m = idmp.max_size.to_string();
            emit.args(&[
                b"XCFGSET",
                key,
                b"IDMP-DURATION",
                d.as_bytes(),
                b"IDMP-MAXSIZE",
                m.as_bytes(),
            ])?;
        }
        if idmp.iids > 0 || idmp.iids_added > 0 {
            lost.push(Loss::IdmpHistory);
        }
    }
    Ok(())
}
