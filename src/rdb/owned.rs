//! Owned, fully materialised keys: for tests, golden comparisons and small files.
//! Everything else should stream with `items::for_each`.

use crate::error::Result;
use crate::rdb::check::Checker;
use crate::rdb::items::{self, Element};
use crate::rdb::module;
use crate::rdb::record::{KeyRecord, Record};
use crate::rdb::stream::StreamId;
use crate::rdb::value::{Region, Value};
use crate::rdb::RdbReader;

#[derive(Clone, Debug, PartialEq)]
pub struct OwnedGroup {
    pub name: Vec<u8>,
    pub last_id: StreamId,
    /// `None` before stream v2, or when the file says -1 (unknown).
    pub entries_read: Option<i64>,
    /// (id, delivery time ms, delivery count)
    pub pel: Vec<(StreamId, i64, u64)>,
    pub consumers: Vec<OwnedConsumer>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OwnedConsumer {
    pub name: Vec<u8>,
    pub seen_time: i64,
    pub active_time: Option<i64>,
    pub pel: Vec<StreamId>,
}

/// A stream entry, owned: id and field/value pairs.
pub type OwnedEntry = (StreamId, Vec<(Vec<u8>, Vec<u8>)>);

#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    /// In file order.
    Set(Vec<Vec<u8>>),
    Zset(Vec<(Vec<u8>, f64)>),
    /// (field, value, expire_ms)
    Hash(Vec<(Vec<u8>, Vec<u8>, Option<i64>)>),
    Stream {
        entries: Vec<OwnedEntry>,
        length: u64,
        last_id: StreamId,
        groups: Vec<OwnedGroup>,
    },
    Module {
        name: String,
        encver: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct OwnedKey {
    pub db: Option<u64>,
    pub key: Vec<u8>,
    pub type_name: &'static str,
    pub encoding: &'static str,
    pub expire_ms: Option<i64>,
    pub idle_seconds: Option<u64>,
    pub lfu_freq: Option<u8>,
    pub value: OwnedValue,
}

fn stream_groups(body: &Region<'_>, version: u8) -> Result<(u64, StreamId, Vec<OwnedGroup>)> {
    let mut c = body.cursor();
    let id = |c: &mut crate::rdb::cursor::Cursor<'_>| -> Result<StreamId> {
        Ok(StreamId {
            ms: c.length()?,
            seq: c.length()?,
        })
    };
    let sid = |c: &mut crate::rdb::cursor::Cursor<'_>| -> Result<StreamId> {
        let b = c.take(16)?;
        Ok(StreamId::from_sid128(b).unwrap_or_default())
    };
    for _ in 0..c.length()? {
        c.string()?;
        c.string()?;
    }
    let length = c.length()?;
    let last_id = id(&mut c)?;
    if version >= 2 {
        id(&mut c)?;
        id(&mut c)?;
        c.length()?;
    }
    let mut groups = Vec::new();
    for _ in 0..c.length()? {
        let name = c.string()?.to_vec()?;
        let last_id = id(&mut c)?;
        let entries_read = if version >= 2 {
            Some(c.length()? as i64).filter(|v| *v != -1)
        } else {
            None
        };
        let mut pel = Vec::new();
        for _ in 0..c.length()? {
            let i = sid(&mut c)?;
            let t = c.i64le()?;
            pel.push((i, t, c.length()?));
        }
        let mut consumers = Vec::new();
        for _ in 0..c.length()? {
            let name = c.string()?.to_vec()?;
            let seen_time = c.i64le()?;
            let active_time = if version >= 3 { Some(c.i64le()?) } else { None };
            let mut p = Vec::new();
            for _ in 0..c.length()? {
                p.push(sid(&mut c)?);
            }
            consumers.push(OwnedConsumer {
                name,
                seen_time,
                active_time,
                pel: p,
            });
        }
        groups.push(OwnedGroup {
            name,
            last_id,
            entries_read,
            pel,
            consumers,
        });
    }
    Ok((length, last_id, groups))
}

/// Materialises one key record.
pub fn to_owned(k: &KeyRecord<'_>) -> Result<OwnedKey> {
    let value = match k.value {
        Value::Module { module_id, .. } => {
            let (name, encver) = module::type_name(module_id);
            OwnedValue::Module { name, encver }
        }
        Value::Stream { version, body, .. } => {
            let mut entries = Vec::new();
            items::for_each(&k.value, |e| {
                if let Element::StreamEntry(id, pairs) = e {
                    entries.push((id, pairs.to_vec()));
                }
                Ok(())
            })?;
            let (length, last_id, groups) = stream_groups(&body, version)?;
            OwnedValue::Stream {
                entries,
                length,
                last_id,
                groups,
            }
        }
        _ => {
            let kind = k.info.kind;
            let mut members = Vec::new();
            let mut scored = Vec::new();
            let mut fields = Vec::new();
            items::for_each(&k.value, |e| {
                match e {
                    Element::Member(m) => members.push(m.to_vec()),
                    Element::Scored(m, s) => scored.push((m.to_vec(), s)),
                    Element::Field(f, v, t) => fields.push((f.to_vec(), v.to_vec(), t)),
                    Element::StreamEntry(..) => {}
                }
                Ok(())
            })?;
            use crate::rdb::types::Kind;
            match kind {
                Kind::String => OwnedValue::String(members.pop().unwrap_or_default()),
                Kind::List => OwnedValue::List(members),
                Kind::Set => OwnedValue::Set(members),
                Kind::Zset => OwnedValue::Zset(scored),
                _ => OwnedValue::Hash(fields),
            }
        }
    };
    Ok(OwnedKey {
        db: k.db,
        key: k.key.to_vec()?,
        type_name: k.info.kind.name(),
        encoding: k.info.encoding,
        expire_ms: k.expire_ms,
        idle_seconds: k.idle_seconds,
        lfu_freq: k.lfu_freq,
        value,
    })
}

/// Reads a whole RDB held in memory into owned keys (checking it deeply on the way).
pub fn read_all(data: &[u8]) -> Result<Vec<OwnedKey>> {
    let mut r = RdbReader::new(data, Checker::default())?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        if let Record::Key(k) = rec {
            out.push(to_owned(&k)?);
        }
    }
    Ok(out)
}
