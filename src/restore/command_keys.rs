//! Which arguments of a replayed AOF command are keys, so that a cluster restore can
//! send it to the master serving their slot. The target's own `COMMAND` table says
//! (first key, last key, step; `movablekeys` when the keys depend on the arguments,
//! then `COMMAND GETKEYS` asks the server), which is how cluster clients route.

use std::collections::HashMap;
use std::io;

use super::cluster::key_slot;
use super::conn::{Conn, Reply};

/// Where the keys of a command sit, from one `COMMAND` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spec {
    first: i64,
    last: i64,
    step: i64,
    movable: bool,
    /// A container (`XGROUP`, `OBJECT`...): the subcommand has the spec.
    container: bool,
}

/// Commands whose keys are independent units (`step` arguments each), so a call that
/// spans slots can be split into one call per slot with the same effect.
const SPLITTABLE: [&str; 5] = ["del", "unlink", "touch", "mset", "msetnx"];

/// What routing a command needs.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// No key: a server-wide write (`FLUSHALL`, `FUNCTION LOAD`...), for every master.
    Everywhere,
    /// All keys in one slot; routed by this key.
    Slot(Vec<u8>),
    /// Keys in several slots, and the command splits into these per-slot calls.
    Split(Vec<Vec<Vec<u8>>>),
    /// Keys in several slots and no way to split: a cluster refuses it (CROSSSLOT).
    CrossSlot,
}

pub struct KeyTable {
    specs: HashMap<Vec<u8>, Spec>,
}

impl KeyTable {
    /// Reads the target's `COMMAND` table.
    pub fn fetch(control: &mut Conn) -> io::Result<KeyTable> {
        let reply = control.call(&[b"COMMAND"])?;
        let entries = reply
            .as_array()
            .ok_or_else(|| io::Error::other(format!("COMMAND replied {reply:?}")))?;
        let mut specs = HashMap::new();
        for e in entries {
            add_entry(&mut specs, e);
        }
        Ok(KeyTable { specs })
    }

    /// Where `args` (name first) must go. `control` answers `COMMAND GETKEYS` for
    /// commands whose keys move and for names the table lacks.
    pub fn route(&self, args: &[&[u8]], control: &mut Conn) -> io::Result<Route> {
        let name = args[0].to_ascii_lowercase();
        let mut spec = self.specs.get(&name).copied();
        if let (Some(s), Some(sub)) = (spec, args.get(1)) {
            if s.container {
                let mut full = name.clone();
                full.push(b'|');
                full.extend(sub.to_ascii_lowercase());
                spec = self.specs.get(&full).copied();
            }
        }
        let keys: Vec<Vec<u8>> = match spec {
            Some(s) if !s.movable && !s.container => fixed_keys(&s, args)
                .into_iter()
                .map(|k| k.to_vec())
                .collect(),
            _ => ask_server(args, control)?,
        };
        let Some(first) = keys.first() else {
            return Ok(Route::Everywhere);
        };
        let slot = key_slot(first);
        if keys.iter().all(|k| key_slot(k) == slot) {
            return Ok(Route::Slot(first.clone()));
        }
        match spec {
            Some(s) if SPLITTABLE.contains(&std::str::from_utf8(&name).unwrap_or("")) => {
                Ok(Route::Split(split_by_slot(&s, args)))
            }
            _ => Ok(Route::CrossSlot),
        }
    }
}

fn add_entry(specs: &mut HashMap<Vec<u8>, Spec>, e: &Reply) {
    let Some(f) = e.as_array() else { return };
    let (Some(name), Some(first), Some(last), Some(step)) = (
        f.first().and_then(Reply::as_bytes),
        f.get(3).and_then(Reply::as_int),
        f.get(4).and_then(Reply::as_int),
        f.get(5).and_then(Reply::as_int),
    ) else {
        return;
    };
    let movable = f.get(2).and_then(Reply::as_array).is_some_and(|flags| {
        flags
            .iter()
            .any(|x| x.as_bytes() == Some(b"movablekeys".as_slice()))
    });
    // 7.0+: subcommands (element 9) carry their own specs, named "container|sub".
    let subs = f.get(9).and_then(Reply::as_array).unwrap_or(&[]);
    for s in subs {
        add_entry(specs, s);
    }
    specs.insert(
        name.to_ascii_lowercase(),
        Spec {
            first,
            last,
            step,
            movable,
            container: !subs.is_empty(),
        },
    );
}

/// The key positions of the legacy (first, last, step) triple; `last` < 0 counts from
/// the end. Arguments missing from a short call are left out (the server will refuse it).
fn key_positions(s: &Spec, argc: usize) -> impl Iterator<Item = usize> {
    let argc = argc as i64;
    let last = if s.last < 0 { argc + s.last } else { s.last };
    let (first, step) = (s.first, s.step.max(1));
    let valid = first > 0;
    (0..)
        .map(move |i| first + i * step)
        .take_while(move |&i| valid && i <= last && i < argc)
        .map(|i| i as usize)
}

fn fixed_keys<'a>(s: &Spec, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
    key_positions(s, args.len()).map(|i| args[i]).collect()
}

/// Per slot (in the order the slots first appear), the command with the units of that slot.
fn split_by_slot(s: &Spec, args: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
    let step = s.step.max(1) as usize;
    let mut calls: Vec<(u16, Vec<Vec<u8>>)> = Vec::new();
    for i in key_positions(s, args.len()) {
        let slot = key_slot(args[i]);
        let unit = &args[i..(i + step).min(args.len())];
        match calls.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, call)) => call.extend(unit.iter().map(|a| a.to_vec())),
            None => {
                let mut call = vec![args[0].to_vec()];
                call.extend(unit.iter().map(|a| a.to_vec()));
                calls.push((slot, call));
            }
        }
    }
    calls.into_iter().map(|(_, c)| c).collect()
}

/// `COMMAND GETKEYS`: an error that the command has no keys means no keys; any other
/// error (unknown command, wrong arguments) is left for the real call to report, so
/// the first argument stands in as the routing key.
fn ask_server(args: &[&[u8]], control: &mut Conn) -> io::Result<Vec<Vec<u8>>> {
    let mut call: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
    call.extend_from_slice(args);
    match control.call(&call)? {
        Reply::Array(keys) => Ok(keys
            .iter()
            .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec))
            .collect()),
        Reply::Error(e) if e.contains("no key arguments") => Ok(Vec::new()),
        _ => Ok(vec![args.get(1).unwrap_or(&args[0]).to_vec()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(first: i64, last: i64, step: i64) -> Spec {
        Spec {
            first,
            last,
            step,
            movable: false,
            container: false,
        }
    }

    #[test]
    fn positions_follow_the_triple() {
        let set: Vec<&[u8]> = vec![b"SET", b"k", b"v"];
        assert_eq!(fixed_keys(&spec(1, 1, 1), &set), vec![b"k".as_slice()]);
        let mset: Vec<&[u8]> = vec![b"MSET", b"a", b"1", b"b", b"2"];
        assert_eq!(
            fixed_keys(&spec(1, -1, 2), &mset),
            vec![b"a".as_slice(), b"b"]
        );
        let blpop: Vec<&[u8]> = vec![b"BLPOP", b"x", b"y", b"0"];
        assert_eq!(
            fixed_keys(&spec(1, -2, 1), &blpop),
            vec![b"x".as_slice(), b"y"]
        );
        let flush: Vec<&[u8]> = vec![b"FLUSHALL"];
        assert!(fixed_keys(&spec(0, 0, 0), &flush).is_empty());
        // a short call names no key past its end
        let short: Vec<&[u8]> = vec![b"RENAME", b"a"];
        assert_eq!(fixed_keys(&spec(1, 2, 1), &short), vec![b"a".as_slice()]);
    }

    #[test]
    fn a_cross_slot_mset_splits_by_slot_in_order() {
        // "foo" and "{foo}x" share slot 12182; "bar" is elsewhere.
        let mset: Vec<&[u8]> = vec![b"MSET", b"foo", b"1", b"bar", b"2", b"{foo}x", b"3"];
        let calls = split_by_slot(&spec(1, -1, 2), &mset);
        let want: Vec<Vec<Vec<u8>>> = vec![
            vec![
                b"MSET".to_vec(),
                b"foo".to_vec(),
                b"1".to_vec(),
                b"{foo}x".to_vec(),
                b"3".to_vec(),
            ],
            vec![b"MSET".to_vec(), b"bar".to_vec(), b"2".to_vec()],
        ];
        assert_eq!(calls, want);
    }
}
