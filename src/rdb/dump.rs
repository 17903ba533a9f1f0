//! DUMP payloads (FORMAT.md §8): what `DUMP` returns and `RESTORE` accepts.
//!
//! A payload is the value exactly as an RDB stores it (type byte, then the value
//! bytes), the RDB version as two little-endian bytes, and the CRC-64/REDIS of
//! everything before the checksum, little-endian. The server refuses a payload whose
//! version is newer than its own, so the version stamped here is the one of the file
//! the value came from: it is the version whose type ids and encodings the bytes use.

use crate::error::{Error, Result};
use crate::rdb::crc64;
use crate::rdb::record::KeyRecord;

/// Bytes a payload adds after the value: version (2) and CRC-64 (8).
pub const FOOTER_LEN: usize = 10;

/// Builds the payload for a value of type `type_id` stored as `value_bytes`.
pub fn payload(type_id: u8, value_bytes: &[u8], rdb_version: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + value_bytes.len() + FOOTER_LEN);
    out.push(type_id);
    out.extend_from_slice(value_bytes);
    out.extend_from_slice(&rdb_version.to_le_bytes());
    let crc = crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The payload `DUMP` would return for this key on a server of `rdb_version`.
pub fn key_payload(k: &KeyRecord<'_>, rdb_version: u16) -> Vec<u8> {
    payload(k.info.id, k.value_bytes, rdb_version)
}

/// A payload taken apart: type id, value bytes and the version it claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub type_id: u8,
    pub value_bytes: &'a [u8],
    pub rdb_version: u16,
}

/// Splits a payload and checks its CRC-64 (a stored 0 means "not computed").
pub fn parse(p: &[u8]) -> Result<Parsed<'_>> {
    if p.len() < 1 + FOOTER_LEN {
        return Err(
            Error::truncated(p.len() as u64, (1 + FOOTER_LEN - p.len()) as u64)
                .reading("a DUMP payload"),
        );
    }
    let body_end = p.len() - 8;
    let stored = u64::from_le_bytes(p[body_end..].try_into().expect("8 bytes"));
    let computed = crc64::checksum(&p[..body_end]);
    if stored != 0 && stored != computed {
        return Err(Error::corrupt(
            body_end as u64,
            format!("DUMP payload CRC-64 is {stored:016x}, computed {computed:016x}"),
        ));
    }
    Ok(Parsed {
        type_id: p[0],
        value_bytes: &p[1..body_end - 2],
        rdb_version: u16::from_le_bytes([p[body_end - 2], p[body_end - 1]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_crc() {
        // `SET k hello` then `DUMP k` on Redis 7.0 (RDB 10).
        let p = payload(0, b"\x05hello", 10);
        assert_eq!(p, b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a".to_vec());
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.type_id, 0);
        assert_eq!(parsed.value_bytes, b"\x05hello");
        assert_eq!(parsed.rdb_version, 10);
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert!(parse(&bad).is_err());
        assert!(parse(&p[..5]).is_err());
    }
}
