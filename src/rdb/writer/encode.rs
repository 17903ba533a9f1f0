//! Writes a key for a target that cannot hold its stored form: re-encodes the value
//! into a form every target loads, element by element from the encoded bytes.
//!
//! Why plain forms (list 1, set 2, zset 5, hash 4, and the hash-with-TTL forms 24 /
//! Valkey 22): every Redis from 4.0 on and Valkey load them and convert to their own
//! compact encoding by their own thresholds, so the loaded value is the same (`DEBUG
//! DIGEST` does not depend on encodings) without re-implementing ziplist/listpack
//! writers per version. Collections are walked twice (count, then write) because
//! plain forms start with their element count and compact blobs do not store one; the
//! value is never materialised.

use std::io::Write;

use super::{KeyHeader, RdbWriter, Result, WriteError};
use crate::rdb::header::Dialect;
use crate::rdb::items::{self, Element};
use crate::rdb::record::KeyRecord;
use crate::rdb::types::Kind;

/// What happened to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written byte for byte.
    Copied,
    /// Written, re-encoded or with metadata the target cannot hold left out; the notes
    /// say what changed.
    Converted(Vec<String>),
    /// Not written; why.
    Skipped(String),
}

/// Writes `k` (read from a `source` dialect file) for the writer's target: as stored
/// when the target can hold it, re-encoded otherwise, or not at all (then the outcome
/// says why and nothing was written).
pub fn write_key<W: Write>(
    w: &mut RdbWriter<W>,
    k: &KeyRecord<'_>,
    source: Dialect,
) -> Result<Outcome> {
    let target = w.target();
    let mut header = KeyHeader::of(k);
    let mut notes = Vec::new();
    if !target.has_lru_lfu() && (header.idle_seconds.is_some() || header.lfu_freq.is_some()) {
        header.idle_seconds = None;
        header.lfu_freq = None;
        notes.push("LRU/LFU hint dropped".to_string());
    }
    if header.key_meta.is_some() && !target.has_key_meta() {
        header.key_meta = None;
        notes.push("KEY_META (module key metadata) dropped".to_string());
    }
    if target.can_hold(k.info.id, source) {
        w.key_header(&header, k.info.id)?;
        w.put(k.value_bytes)?;
        return Ok(done(notes));
    }
    let cannot = |what: &str| {
        Ok(Outcome::Skipped(format!(
            "{what} ({}) cannot be written for {} version {}",
            k.info.check_name,
            target.magic(),
            target.version
        )))
    };
    let counts = match k.info.kind {
        Kind::List | Kind::Set | Kind::Zset | Kind::Hash => count(k)?,
        Kind::Stream => {
            let crate::rdb::value::Value::Stream { version, body } = k.value else {
                return cannot("stream");
            };
            let to = super::stream::newest_version(target);
            if version > 4 || to >= version {
                return cannot("stream");
            }
            w.key_header(&header, super::stream::type_id(to))?;
            notes.insert(0, format!("re-encoded from {}", k.info.check_name));
            notes.extend(super::stream::write_older(w, body.cursor(), version, to)?);
            return Ok(done(notes));
        }
        Kind::Module => return cannot("module value"),
        Kind::String => return cannot("string"),
    };
    if counts.elements == 0 {
        return Ok(Outcome::Skipped(
            "empty collection (the server skips it on load)".into(),
        ));
    }
    let from = k.info.check_name;
    match k.info.kind {
        Kind::List | Kind::Set => {
            let id = if k.info.kind == Kind::List { 1 } else { 2 };
            w.key_header(&header, id)?;
            w.length(counts.elements)?;
            walk(k, |e| match e {
                Element::Member(m) => w.string(m),
                other => Err(unexpected(&other)),
            })?;
        }
        Kind::Zset => {
            w.key_header(&header, 5)?;
            w.length(counts.elements)?;
            walk(k, |e| match e {
                Element::Scored(m, score) => {
                    w.string(m)?;
                    w.binary_double(score)
                }
                other => Err(unexpected(&other)),
            })?;
        }
        Kind::Hash => {
            write_hash(w, k, &header, &counts, &mut notes)?;
        }
        _ => unreachable!("handled above"),
    }
    notes.insert(0, format!("re-encoded from {from}"));
    Ok(done(notes))
}

fn done(notes: Vec<String>) -> Outcome {
    if notes.is_empty() {
        Outcome::Copied
    } else {
        Outcome::Converted(notes)
    }
}

/// The first walk: how many elements and, for hashes, field TTLs.
struct Counts {
    elements: u64,
    min_ttl: Option<i64>,
}

fn count(k: &KeyRecord<'_>) -> Result<Counts> {
    let mut c = Counts {
        elements: 0,
        min_ttl: None,
    };
    walk(k, |e| {
        c.elements += 1;
        if let Element::Field(_, _, Some(t)) = e {
            c.min_ttl = Some(c.min_ttl.map_or(t, |m: i64| m.min(t)));
        }
        Ok(())
    })?;
    Ok(c)
}

/// Hashes: plain (4) without field TTLs; with them the target's hash-with-TTL form
/// (Redis 7.4+ type 24, Valkey 9 HASH_2), or plain with the TTLs left out (reported)
/// when the target has no such form.
fn write_hash<W: Write>(
    w: &mut RdbWriter<W>,
    k: &KeyRecord<'_>,
    header: &KeyHeader<'_>,
    counts: &Counts,
    notes: &mut Vec<String>,
) -> Result<()> {
    let target = w.target();
    enum Form {
        Plain,
        RedisTtl(i64),
        ValkeyTtl,
    }
    let form = match counts.min_ttl {
        None => Form::Plain,
        Some(_) if target.dialect == Dialect::Valkey => Form::ValkeyTtl,
        Some(min) if target.version >= 12 => Form::RedisTtl(min),
        Some(_) => {
            notes.push("field TTLs dropped (the fields are kept without expiry)".to_string());
            Form::Plain
        }
    };
    let id = match form {
        Form::Plain => 4,
        Form::RedisTtl(_) => 24,
        Form::ValkeyTtl => 22,
    };
    w.key_header(header, id)?;
    if let Form::RedisTtl(min) = form {
        w.put(&min.to_le_bytes())?;
    }
    w.length(counts.elements)?;
    walk(k, |e| {
        let Element::Field(f, v, ttl) = e else {
            return Err(unexpected(&e));
        };
        match form {
            Form::Plain => {
                w.string(f)?;
                w.string(v)
            }
            Form::RedisTtl(min) => {
                // Relative form: 0 = no TTL, else expire - min + 1.
                w.length(ttl.map_or(0, |t| (t - min) as u64 + 1))?;
                w.string(f)?;
                w.string(v)
            }
            Form::ValkeyTtl => {
                w.string(f)?;
                w.string(v)?;
                w.put(&ttl.unwrap_or(-1).to_le_bytes())
            }
        }
    })
}

/// Calls `f` for every element, keeping write errors apart from read errors (the
/// element walker only carries the latter).
fn walk(k: &KeyRecord<'_>, mut f: impl FnMut(Element<'_>) -> Result<()>) -> Result<()> {
    let mut failed = None;
    let walked = items::for_each(&k.value, |e| match f(e) {
        Ok(()) => Ok(()),
        Err(WriteError::Read(e)) => Err(e),
        Err(other) => {
            failed = Some(other);
            Err(crate::Error::unsupported(0, "write failed"))
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(walked?),
    }
}

fn unexpected(e: &Element<'_>) -> WriteError {
    WriteError::Read(crate::Error::corrupt(
        0,
        format!("unexpected element {e:?} for this type"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::owned;
    use crate::rdb::string::RdbStr;
    use crate::rdb::writer::Target;
    use crate::rdb::{Checker, RdbReader, Record};

    /// Rewrites every key of `src` for `target`, returns the file and the outcomes.
    fn rewrite(src: &[u8], target: Target) -> (Vec<u8>, Vec<Outcome>) {
        let mut r = RdbReader::new(src, Checker::new(true)).unwrap();
        let dialect = r.header().dialect;
        let mut w = RdbWriter::new(Vec::new(), target).unwrap();
        let mut outcomes = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            match rec {
                Record::SelectDb { db } => w.select_db(db).unwrap(),
                Record::Key(k) => outcomes.push(write_key(&mut w, &k, dialect).unwrap()),
                _ => {}
            }
        }
        (w.finish().unwrap().0, outcomes)
    }

    fn elements(file: &[u8]) -> Vec<String> {
        let mut r = RdbReader::new(file, Checker::new(true)).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            if let Record::Key(k) = rec {
                let mut v = Vec::new();
                items::for_each(&k.value, |e| {
                    v.push(format!("{e:?}"));
                    Ok(())
                })
                .unwrap();
                v.sort();
                out.push(format!(
                    "{} {}: {}",
                    k.info.kind.name(),
                    k.key.to_string_lossy(),
                    v.join(" ")
                ));
            }
        }
        out
    }

    /// A source file holding a set listpack (RDB 11) and a 7.4 hash with field TTLs.
    fn source() -> Vec<u8> {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(12)).unwrap();
        w.select_db(0).unwrap();
        w.key_header(&KeyHeader::named(RdbStr::Raw(b"s")), 20)
            .unwrap();
        w.string(&[12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 7, 1, 0xFF])
            .unwrap();
        w.key_header(&KeyHeader::named(RdbStr::Raw(b"h")), 24)
            .unwrap();
        w.put(&1_800_000_000_000i64.to_le_bytes()).unwrap();
        w.length(2).unwrap();
        w.length(11).unwrap(); // expires at min + 10
        w.string(b"f1").unwrap();
        w.string(b"v1").unwrap();
        w.length(0).unwrap();
        w.string(b"f2").unwrap();
        w.string(b"12").unwrap();
        w.finish().unwrap().0
    }

    #[test]
    fn downgrades_keep_every_element() {
        let src = source();
        let want = elements(&src);
        assert!(want[1].contains("Some(1800000000010)"), "{want:?}");
        let (v9, outcomes) = rewrite(&src, Target::redis(9));
        assert_eq!(&v9[..9], b"REDIS0009");
        let got = elements(&v9);
        assert_eq!(got[0], want[0]);
        assert_eq!(got[1], want[1].replace("Some(1800000000010)", "None"));
        assert!(
            matches!(&outcomes[1], Outcome::Converted(n) if n[1].contains("field TTLs dropped"))
        );
        // Redis 7.4 hash TTLs become Valkey HASH_2 and back, unchanged.
        let (valkey, _) = rewrite(&src, Target::valkey());
        assert_eq!(elements(&valkey), want);
        let (back, outcomes) = rewrite(&valkey, Target::redis(12));
        assert_eq!(elements(&back), want);
        assert_eq!(outcomes[0], Outcome::Copied);
        assert!(owned::read_all(&back).is_ok());
    }
}
