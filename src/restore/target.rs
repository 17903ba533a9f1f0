//! What the target server accepts: its family and version (from `INFO server`), the
//! DUMP payload versions its `RESTORE` takes, its `proto-max-bulk-len`, and its keyspace.
//!
//! Payload versions were checked against the real servers (RESTORE of a one-string
//! payload stamped with each version): Redis accepts every version up to its own
//! `RDB_VERSION` (`verifyDumpPayload` in cluster.c: `rdbver > RDB_VERSION` is refused;
//! 7.0 → 10, 7.2 → 11, 7.4/8.0 → 12, 8.6 → 13). Valkey 7.2-8.x takes up to 11; Valkey
//! 9 takes up to 11 and its own 80, but not Redis's 12-79 ("foreign" versions) unless
//! `rdb-version-check relaxed`.

use std::collections::BTreeMap;
use std::io;

use super::conn::{Conn, Reply};
use crate::rdb::header::Dialect;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    pub valkey: bool,
    /// `valkey_version` for Valkey (its `redis_version` says 7.2.4), else `redis_version`.
    pub version: (u32, u32, u32),
    pub version_text: String,
    pub cluster_enabled: bool,
    pub proto_max_bulk_len: u64,
    /// Valkey's `rdb-version-check relaxed` lets RESTORE take Redis 7.4+ payloads.
    pub relaxed_version_check: bool,
    pub modules: Vec<String>,
}

fn parse_version(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|p| p.parse().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// `field:value` lines of an INFO section.
pub fn info_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

impl ServerInfo {
    pub fn probe(c: &mut Conn) -> io::Result<ServerInfo> {
        let info = info_fields(&c.call_ok(&["INFO", "server"])?.text()?);
        let valkey = info.get("server_name").is_some_and(|n| n == "valkey");
        let version_text = info
            .get(if valkey {
                "valkey_version"
            } else {
                "redis_version"
            })
            .or_else(|| info.get("redis_version"))
            .cloned()
            .unwrap_or_default();
        let cluster = info_fields(&c.call_ok(&["INFO", "cluster"])?.text()?);
        let config = |c: &mut Conn, name: &str| -> io::Result<Option<String>> {
            Ok(match c.call(&[b"CONFIG", b"GET", name.as_bytes()])? {
                Reply::Array(a) if a.len() == 2 => a[1]
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                // CONFIG may be renamed or denied to this user: assume the defaults.
                _ => None,
            })
        };
        let proto_max_bulk_len = config(c, "proto-max-bulk-len")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(512 << 20);
        let relaxed_version_check = config(c, "rdb-version-check")?.is_some_and(|v| v == "relaxed");
        let modules = match c.call(&[b"MODULE", b"LIST"])? {
            Reply::Array(mods) => mods
                .iter()
                .filter_map(|m| {
                    let f = m.as_array()?;
                    f.chunks(2)
                        .find(|kv| kv[0].as_bytes() == Some(b"name"))
                        .and_then(|kv| kv[1].as_bytes())
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(ServerInfo {
            valkey,
            version: parse_version(&version_text),
            version_text,
            cluster_enabled: cluster.get("cluster_enabled").is_some_and(|v| v == "1"),
            proto_max_bulk_len,
            relaxed_version_check,
            modules,
        })
    }

    pub fn name(&self) -> String {
        format!(
            "{} {}",
            if self.valkey { "Valkey" } else { "Redis" },
            self.version_text
        )
    }

    /// The newest Redis-numbered payload version (≤ 79) RESTORE takes.
    pub fn max_redis_payload_version(&self) -> u16 {
        let v = self.version;
        if self.valkey {
            return if self.relaxed_version_check { 79 } else { 11 };
        }
        match v {
            (8, m, _) if m >= 6 => 13,
            (9.., _, _) => 13,
            (7, m, _) if m >= 4 => 12,
            (8, _, _) => 12,
            (7, 2.., _) => 11,
            (7, _, _) => 10,
            (5 | 6, _, _) => 9,
            (4, _, _) => 8,
            _ => 7,
        }
    }

    /// Whether RESTORE takes payloads stamped with Valkey's own version 80.
    pub fn takes_valkey_80(&self) -> bool {
        self.valkey && self.version.0 >= 9
    }

    /// The version to stamp a payload of type `type_id` (from a file of `dialect`)
    /// with so this server takes it, or `None` if it cannot (too new a type).
    ///
    /// A value's bytes do not depend on the file's version, only on its type id, so
    /// a payload is stamped with the oldest version that has the type when the
    /// target's own version is older than the file's.
    pub fn payload_version(&self, type_id: u8, dialect: Dialect, file_version: u16) -> Option<u16> {
        let needed = min_version(type_id, dialect)?;
        if needed == 80 {
            return self.takes_valkey_80().then_some(80);
        }
        let max = self.max_redis_payload_version();
        if needed > max {
            return None;
        }
        // A Valkey-80 file's Redis-compatible types go out as the target's own version.
        Some(if file_version > max {
            max
        } else {
            file_version
        })
    }
}

/// The first RDB version that has type `type_id`.
pub fn min_version(type_id: u8, dialect: Dialect) -> Option<u16> {
    Some(match (type_id, dialect) {
        (22, Dialect::Valkey) => 80,
        (0..=5, _) => 1,
        (7, _) => 8,
        (9..=13, _) => 2,
        (14, _) => 7,
        (15, _) => 9,
        (16..=19, _) => 10,
        (20 | 21, _) => 11,
        (22..=25, Dialect::Redis) => 12,
        (26, Dialect::Redis) => 13,
        _ => return None,
    })
}

/// Per-db key counts from `INFO keyspace`.
pub fn keyspace(c: &mut Conn) -> io::Result<BTreeMap<u64, u64>> {
    let text = c.call_ok(&["INFO", "keyspace"])?.text()?;
    Ok(info_fields(&text)
        .into_iter()
        .filter_map(|(k, v)| {
            let db = k.strip_prefix("db")?.parse().ok()?;
            let keys = v
                .split(',')
                .find_map(|p| p.strip_prefix("keys="))?
                .parse()
                .ok()?;
            Some((db, keys))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(valkey: bool, v: &str) -> ServerInfo {
        ServerInfo {
            valkey,
            version: parse_version(v),
            version_text: v.into(),
            cluster_enabled: false,
            proto_max_bulk_len: 512 << 20,
            relaxed_version_check: false,
            modules: vec![],
        }
    }

    #[test]
    fn payload_versions_match_what_servers_took() {
        // 7.4 file (v12): a string goes to 7.0 stamped 10; a hash with field TTLs cannot.
        let r70 = server(false, "7.0.15");
        assert_eq!(r70.payload_version(0, Dialect::Redis, 12), Some(10));
        assert_eq!(r70.payload_version(20, Dialect::Redis, 12), None);
        assert_eq!(r70.payload_version(24, Dialect::Redis, 12), None);
        let r86 = server(false, "8.6.3");
        assert_eq!(r86.payload_version(26, Dialect::Redis, 13), Some(13));
        let v9 = server(true, "9.1.2");
        assert_eq!(v9.payload_version(22, Dialect::Valkey, 80), Some(80));
        assert_eq!(v9.payload_version(0, Dialect::Valkey, 80), Some(11));
        assert_eq!(v9.payload_version(24, Dialect::Redis, 12), None);
        let v8 = server(true, "8.1.1");
        assert_eq!(v8.payload_version(22, Dialect::Valkey, 80), None);
        assert_eq!(v8.payload_version(21, Dialect::Redis, 11), Some(11));
    }
}
