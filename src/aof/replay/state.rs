//! The key state an offline replay works on: values held as plain collections (the
//! tail of an AOF is small next to its base, and only the keys it touches live here),
//! loaded from RDB records or `RESTORE` payloads and digested exactly as
//! [`crate::rdb::digest::value_digest`] digests encoded bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::rdb::digest::{module_digest, Digest};
use crate::rdb::items::{self, Element};
use crate::rdb::stream::StreamId;
use crate::rdb::types::Kind;

/// Why a key's state could not be known: the command that made it so, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub command: String,
    pub file: String,
    pub offset: u64,
    pub why: String,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at byte {} of {}: {}",
            self.command, self.offset, self.file, self.why
        )
    }
}

/// A hash field's value and its expiry (unix ms).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub value: Vec<u8>,
    pub expire: Option<i64>,
}

/// A score in rank order: as the skiplist compares them (`-0.0` equals `0.0`; scores
/// are never NaN).
#[derive(Clone, Copy, Debug)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, o: &Score) -> bool {
        self.0 == o.0
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Score) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Score {
    fn cmp(&self, o: &Score) -> std::cmp::Ordering {
        self.0
            .partial_cmp(&o.0)
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// A sorted set: member → score, and the (score, member) order the server ranks by,
/// so pops and rank ranges cost a walk of what they remove, not a sort.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Zset {
    scores: HashMap<Vec<u8>, f64>,
    order: BTreeSet<(Score, Vec<u8>)>,
}

impl Zset {
    pub fn get(&self, m: &[u8]) -> Option<f64> {
        self.scores.get(m).copied()
    }
    pub fn insert(&mut self, m: &[u8], score: f64) {
        if let Some(old) = self.scores.insert(m.to_vec(), score) {
            self.order.remove(&(Score(old), m.to_vec()));
        }
        self.order.insert((Score(score), m.to_vec()));
    }
    pub fn remove(&mut self, m: &[u8]) {
        if let Some(old) = self.scores.remove(m) {
            self.order.remove(&(Score(old), m.to_vec()));
        }
    }
    pub fn len(&self) -> usize {
        self.scores.len()
    }
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    /// Members with their scores, in rank order.
    pub fn ranked(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        self.order.iter().map(|(s, m)| (m.as_slice(), s.0))
    }
}

/// Stream entries by id. Groups, consumers and the last id are not kept: the digest
/// (and so the diff) covers entries only.
pub type Entries = BTreeMap<StreamId, Vec<(Vec<u8>, Vec<u8>)>>;

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
    Set(HashSet<Vec<u8>>),
    Zset(Zset),
    Hash(HashMap<Vec<u8>, Field>),
    Stream(Entries),
    /// A module value from the base: comparable by its bytes, not replayable.
    Module {
        digest: u64,
    },
    /// A value the replay cannot know (the key may even be absent).
    Unknown(Box<Reason>),
}

impl Val {
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Val::Str(_) => Kind::String,
            Val::List(_) => Kind::List,
            Val::Set(_) => Kind::Set,
            Val::Zset(_) => Kind::Zset,
            Val::Hash(_) => Kind::Hash,
            Val::Stream(_) => Kind::Stream,
            Val::Module { .. } => Kind::Module,
            Val::Unknown(_) => return None,
        })
    }

    /// True for a collection left without elements (the server deletes such keys;
    /// an empty stream stays).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Val::List(l) => l.is_empty(),
            Val::Set(s) => s.is_empty(),
            Val::Zset(z) => z.is_empty(),
            Val::Hash(h) => h.is_empty(),
            _ => false,
        }
    }

    /// Loads a value from its encoded form, element by element.
    pub fn from_encoded(
        kind: Kind,
        value: &crate::rdb::Value<'_>,
        value_bytes: &[u8],
    ) -> crate::Result<Val> {
        let mut v = match kind {
            Kind::String => Val::Str(Vec::new()),
            Kind::List => Val::List(VecDeque::new()),
            Kind::Set => Val::Set(HashSet::new()),
            Kind::Zset => Val::Zset(Zset::default()),
            Kind::Hash => Val::Hash(HashMap::new()),
            Kind::Stream => Val::Stream(Entries::new()),
            Kind::Module => {
                return Ok(Val::Module {
                    digest: module_digest(value_bytes),
                })
            }
        };
        items::for_each(value, |e| {
            match (&mut v, e) {
                (Val::Str(s), Element::Member(m)) => *s = m.to_vec(),
                (Val::List(l), Element::Member(m)) => l.push_back(m.to_vec()),
                (Val::Set(s), Element::Member(m)) => {
                    s.insert(m.to_vec());
                }
                (Val::Zset(z), Element::Scored(m, score)) => z.insert(m, score),
                (Val::Hash(h), Element::Field(f, value, expire)) => {
                    h.insert(
                        f.to_vec(),
                        Field {
                            value: value.to_vec(),
                            expire,
                        },
                    );
                }
                (Val::Stream(s), Element::StreamEntry(id, fields)) => {
                    s.insert(id, fields.to_vec());
                }
                (_, e) => {
                    return Err(crate::Error::corrupt(
                        0,
                        format!("unexpected element {e:?} in a {}", kind.name()),
                    ))
                }
            }
            Ok(())
        })?;
        Ok(v)
    }

    /// The value of a `DUMP` payload (`RESTORE`), of the dialect its version implies.
    pub fn from_payload(payload: &[u8]) -> crate::Result<Val> {
        use crate::rdb::{cursor::Cursor, types, value, Checker, Dialect};
        let p = crate::rdb::dump::parse(payload)?;
        let dialect = if p.rdb_version == 80 {
            Dialect::Valkey
        } else {
            Dialect::Redis
        };
        let info = types::lookup(p.type_id, dialect).ok_or_else(|| {
            crate::Error::corrupt(0, format!("DUMP payload of unknown type {}", p.type_id))
        })?;
        let mut cur = Cursor::new(p.value_bytes, 1);
        let (v, _) = value::read(&mut cur, info, dialect, &mut Checker::new(true))?;
        Val::from_encoded(info.kind, &v, p.value_bytes)
    }

    /// Digest and element count, as `value_digest` gives them for the encoded value
    /// (hash field expiries included when `field_ttls`). `None` for an unknown value.
    pub fn digest(&self, field_ttls: bool) -> Option<(u64, u64)> {
        let kind = self.kind()?;
        let mut d = Digest::new(kind, field_ttls);
        match self {
            Val::Str(s) => d.add(&Element::Member(s)),
            Val::List(l) => l.iter().for_each(|m| d.add(&Element::Member(m))),
            Val::Set(s) => s.iter().for_each(|m| d.add(&Element::Member(m))),
            Val::Zset(z) => z.ranked().for_each(|(m, s)| d.add(&Element::Scored(m, s))),
            Val::Hash(h) => h
                .iter()
                .for_each(|(f, v)| d.add(&Element::Field(f, &v.value, v.expire))),
            Val::Stream(s) => s
                .iter()
                .for_each(|(id, fields)| d.add(&Element::StreamEntry(*id, fields))),
            Val::Module { digest } => return Some((*digest, 1)),
            Val::Unknown(_) => return None,
        }
        Some(d.finish())
    }
}

/// A key: its value and expiry (unix ms).
#[derive(Clone, Debug, PartialEq)]
pub struct Obj {
    pub val: Val,
    pub expire: Option<i64>,
}

/// The keys a replay holds, per db.
#[derive(Debug, Default)]
pub struct Dataset {
    pub dbs: BTreeMap<u64, HashMap<Vec<u8>, Obj>>,
}

impl Dataset {
    pub fn get(&self, db: u64, key: &[u8]) -> Option<&Obj> {
        self.dbs.get(&db)?.get(key)
    }
    pub fn get_mut(&mut self, db: u64, key: &[u8]) -> Option<&mut Obj> {
        self.dbs.get_mut(&db)?.get_mut(key)
    }
    pub fn insert(&mut self, db: u64, key: &[u8], obj: Obj) {
        self.dbs.entry(db).or_default().insert(key.to_vec(), obj);
    }
    pub fn remove(&mut self, db: u64, key: &[u8]) -> Option<Obj> {
        self.dbs.get_mut(&db)?.remove(key)
    }
    /// A `*STORE` command's destination: replaced by `val` without an expiry, or
    /// deleted when `val` is an empty collection (as the server does).
    pub fn store(&mut self, db: u64, key: &[u8], val: Val) {
        self.remove(db, key);
        if !val.is_empty_collection() {
            self.insert(db, key, Obj { val, expire: None });
        }
    }
    pub fn contains(&self, db: u64, key: &[u8]) -> bool {
        self.get(db, key).is_some()
    }
    /// Drops a key whose collection became empty, as the server does after a removal.
    pub fn drop_if_empty(&mut self, db: u64, key: &[u8]) {
        if self
            .get(db, key)
            .is_some_and(|o| o.val.is_empty_collection())
        {
            self.remove(db, key);
        }
    }
}
