//! The 9-byte header (FORMAT.md §1.1–1.2) and the dialect it selects (§1.4).
//!
//! Type and opcode numbers collide between servers, so the magic decides which table
//! applies: `VALKEY` files use Valkey 9's meanings (22 = HASH_2, 243 = SLOT_IMPORT),
//! `REDIS` files Redis's (22-25 = hash field TTL types, 243 = KEY_META).

use crate::error::{Error, Result};

/// Highest `REDIS` version whose every type and opcode this reader knows.
pub const MAX_REDIS_VERSION: u32 = 13;
/// `VALKEY` versions whose layout is confirmed (Valkey 9.0 / 9.1 write 80).
pub const VALKEY_VERSIONS: &[u32] = &[80];

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// `REDIS` magic: Redis, Valkey <= 8, KeyDB, Dragonfly.
    Redis,
    /// `VALKEY` magic: Valkey >= 9.
    Valkey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub dialect: Dialect,
}

pub const HEADER_LEN: usize = 9;

impl Header {
    /// Reads the magic and version from the first 9 bytes.
    pub fn parse(data: &[u8]) -> Result<Header> {
        if data.len() < HEADER_LEN {
            let prefix_ok = b"REDIS".starts_with(&data[..data.len().min(5)])
                || b"VALKEY".starts_with(&data[..data.len().min(6)]);
            if !prefix_ok {
                return Err(not_rdb(data));
            }
            return Err(
                Error::truncated(data.len() as u64, (HEADER_LEN - data.len()) as u64)
                    .reading("the RDB header"),
            );
        }
        let h = &data[..HEADER_LEN];
        let (dialect, digits) = if h.starts_with(b"REDIS") {
            (Dialect::Redis, &h[5..])
        } else if h.starts_with(b"VALKEY") {
            (Dialect::Valkey, &h[6..])
        } else {
            return Err(not_rdb(data));
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(not_rdb(data));
        }
        let version = digits.iter().fold(0u32, |v, d| v * 10 + (d - b'0') as u32);
        Ok(Header { version, dialect })
    }

    /// Whether this reader knows every construct this version can contain.
    pub fn check_supported(&self) -> Result<()> {
        let ok = match self.dialect {
            Dialect::Redis => (1..=MAX_REDIS_VERSION).contains(&self.version),
            Dialect::Valkey => VALKEY_VERSIONS.contains(&self.version),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::unsupported(
                5,
                format!(
                    "RDB version {} ({} magic) is not supported: this reader knows REDIS 1-{MAX_REDIS_VERSION} and VALKEY 80",
                    self.version,
                    self.magic_name()
                ),
            )
            .reading("the RDB header"))
        }
    }

    pub fn magic_name(&self) -> &'static str {
        match self.dialect {
            Dialect::Redis => "REDIS",
            Dialect::Valkey => "VALKEY",
        }
    }

    /// RDB >= 5 ends with a CRC-64 after the EOF opcode.
    pub fn has_checksum(&self) -> bool {
        self.version >= 5
    }
}

fn not_rdb(data: &[u8]) -> Error {
    let shown: String = data
        .iter()
        .take(9)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
        .collect();
    Error::corrupt(0, format!("not an RDB file: the header is \"{shown}\", expected REDIS or VALKEY and a version number")).reading("the RDB header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_and_valkey_magic() {
        assert_eq!(
            Header::parse(b"REDIS0011").unwrap(),
            Header {
                version: 11,
                dialect: Dialect::Redis
            }
        );
        assert_eq!(
            Header::parse(b"VALKEY080").unwrap(),
            Header {
                version: 80,
                dialect: Dialect::Valkey
            }
        );
        assert!(Header::parse(b"REDIS0099")
            .unwrap()
            .check_supported()
            .is_err());
        assert!(Header::parse(b"VALKEY987")
            .unwrap()
            .check_supported()
            .is_err());
    }

    #[test]
    fn short_and_foreign_inputs() {
        assert!(Header::parse(b"").unwrap_err().is_truncated());
        assert!(Header::parse(b"REDIS00").unwrap_err().is_truncated());
        assert!(!Header::parse(b"*2\r\n$6\r\nSELECT")
            .unwrap_err()
            .is_truncated());
        assert!(!Header::parse(b"REDISabcd").unwrap_err().is_truncated());
    }
}
