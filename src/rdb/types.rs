//! Value type ids (FORMAT.md §4.1): one table from id to logical type, encoding name and
//! the name `redis-check-rdb` prints. Which table applies depends on the dialect.

use crate::rdb::header::Dialect;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    String,
    List,
    Set,
    Zset,
    Hash,
    Stream,
    Module,
}

impl Kind {
    /// Every type, in declaration order.
    pub const ALL: [Kind; 7] = [
        Kind::String,
        Kind::List,
        Kind::Set,
        Kind::Zset,
        Kind::Hash,
        Kind::Stream,
        Kind::Module,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::Zset => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
            Kind::Module => "module",
        }
    }
}

/// What a type byte means, once the dialect is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    pub id: u8,
    pub kind: Kind,
    /// On-disk encoding (`listpack`, `quicklist-v2`, `intset`...).
    pub encoding: &'static str,
    /// The name `redis-check-rdb` uses, reused in our messages.
    pub check_name: &'static str,
}

const fn t(id: u8, kind: Kind, encoding: &'static str, check_name: &'static str) -> TypeInfo {
    TypeInfo {
        id,
        kind,
        encoding,
        check_name,
    }
}

/// Redis's table (also Valkey <= 8, KeyDB and Dragonfly's Redis-compatible types).
const REDIS: &[TypeInfo] = &[
    t(0, Kind::String, "string", "string"),
    t(1, Kind::List, "linkedlist", "list-linked"),
    t(2, Kind::Set, "hashtable", "set-hashtable"),
    t(3, Kind::Zset, "skiplist-v1", "zset-v1"),
    t(4, Kind::Hash, "hashtable", "hash-hashtable"),
    t(5, Kind::Zset, "skiplist", "zset-v2"),
    t(7, Kind::Module, "module-v2", "module-value"),
    t(9, Kind::Hash, "zipmap", "hash-zipmap"),
    t(10, Kind::List, "ziplist", "list-ziplist"),
    t(11, Kind::Set, "intset", "set-intset"),
    t(12, Kind::Zset, "ziplist", "zset-ziplist"),
    t(13, Kind::Hash, "ziplist", "hash-ziplist"),
    t(14, Kind::List, "quicklist", "quicklist"),
    t(15, Kind::Stream, "stream-v1", "stream"),
    t(16, Kind::Hash, "listpack", "hash-listpack"),
    t(17, Kind::Zset, "listpack", "zset-listpack"),
    t(18, Kind::List, "quicklist-v2", "quicklist-v2"),
    t(19, Kind::Stream, "stream-v2", "stream-v2"),
    t(20, Kind::Set, "listpack", "set-listpack"),
    t(21, Kind::Stream, "stream-v3", "stream-v3"),
    t(
        22,
        Kind::Hash,
        "hashtable-ttl-pre-ga",
        "hash-hashtable-md-pre-release",
    ),
    t(
        23,
        Kind::Hash,
        "listpack-ttl-pre-ga",
        "hash-listpack-md-pre-release",
    ),
    t(24, Kind::Hash, "hashtable-ttl", "hash-hashtable-md"),
    t(25, Kind::Hash, "listpack-ttl", "hash-listpack-md"),
    t(26, Kind::Stream, "stream-v4", "stream-v4"),
];

/// Valkey 9's table (`VALKEY` magic): Redis's ids up to 21, then HASH_2.
const VALKEY_22: TypeInfo = t(22, Kind::Hash, "hashtable-ttl", "hash-2");

pub fn lookup(id: u8, dialect: Dialect) -> Option<&'static TypeInfo> {
    match dialect {
        Dialect::Valkey if id == 22 => Some(&VALKEY_22),
        Dialect::Valkey if id > 21 => None,
        _ => REDIS.iter().find(|t| t.id == id),
    }
}

/// Describes a type byte that another server or a newer version assigns, or `None`
/// when no known writer uses it.
pub fn describe_known_foreign(id: u8, dialect: Dialect) -> Option<String> {
    let what = match (id, dialect) {
        (6, _) => {
            "pre-release module value (Redis 4.0 RC), which cannot be skipped without its module"
        }
        (27, Dialect::Redis) => "stream-v5 (Redis 8.8)",
        (28, Dialect::Redis) => "array (Redis 8.8)",
        (29..=32, Dialect::Redis) => "hash template (Redis 8.10)",
        (33, Dialect::Redis) => "GCRA rate limiter (Redis development line) or Dragonfly SBF",
        (23, Dialect::Valkey) => "path hash (Valkey 9.2)",
        (24 | 25, Dialect::Valkey) => "Redis hash-field-TTL type in a Valkey file",
        (30..=37, _) => "Dragonfly-specific value",
        (64, _) => "KeyDB CRON value",
        _ => return None,
    };
    Some(format!("value type {id}: {what}"))
}
