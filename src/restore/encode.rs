//! How one key is written: `RESTORE` with a DUMP payload built from the record, or
//! native commands, or not at all (with the reason), decided per key from what the
//! target takes.

use super::pipeline::{Batch, Purpose};
use super::policy::Mode;
use super::target::{min_version, ServerInfo};
use crate::rdb::crc64::Crc64;
use crate::rdb::dump::FOOTER_LEN;
use crate::rdb::header::Header;
use crate::rdb::types::Kind;
use crate::rdb::KeyRecord;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// RESTORE with a payload stamped with this RDB version.
    Restore { version: u16 },
    /// Native commands.
    Commands,
    /// Cannot be written to this target; the reason.
    Refuse(String),
}

/// Picks how to write `k` to `server`.
pub fn choose(k: &KeyRecord<'_>, mode: Mode, server: &ServerInfo, header: &Header) -> Method {
    let payload_len = 1 + k.value_bytes.len() + FOOTER_LEN;
    let version = server.payload_version(k.info.id, header.dialect, header.version as u16);
    let module = k.info.kind == Kind::Module;
    let why_not = match version {
        None => Some(format!(
            "{} ({} encoding, RDB type {}) needs a server taking RDB version {} payloads; {} does not",
            k.info.kind.name(),
            k.info.encoding,
            k.info.id,
            min_version(k.info.id, header.dialect).unwrap_or(0),
            server.name()
        )),
        Some(_) if payload_len as u64 > server.proto_max_bulk_len => Some(format!(
            "its {payload_len}-byte payload exceeds the target's proto-max-bulk-len ({})",
            server.proto_max_bulk_len
        )),
        Some(_) => None,
    };
    match (mode, why_not, version) {
        (Mode::Commands, _, _) if !module => Method::Commands,
        (_, None, Some(version)) => Method::Restore { version },
        (Mode::Auto, Some(_), _) if !module => Method::Commands,
        (_, Some(why), _) if module => Method::Refuse(format!(
            "module values can only be written with RESTORE, and {why}"
        )),
        (_, Some(why), _) => Method::Refuse(why),
        (_, None, None) => Method::Refuse("no payload version".into()),
    }
}

/// Appends `RESTORE key ttl payload [ABSTTL] [REPLACE] [IDLETIME s | FREQ f]`, the
/// payload written straight into the batch (type byte, value bytes as stored,
/// version, CRC-64) with no intermediate copy.
pub fn push_restore(
    b: &mut Batch,
    k: &KeyRecord<'_>,
    key: &[u8],
    version: u16,
    expire_at_ms: Option<i64>,
    replace: bool,
) {
    use super::conn::bulk_header;
    let key_range = b.add_key(key);
    let start = b.buf.len();
    let mut ttl_buf = itoa::Buffer::new();
    // ABSTTL 0 would mean "no expiry": an expiry at or before the epoch is simply past.
    let ttl = expire_at_ms.map_or("0", |e| ttl_buf.format(e.max(1)));
    let mut extra_buf = itoa::Buffer::new();
    let extra: Option<(&[u8], &str)> = match (k.idle_seconds, k.lfu_freq) {
        (Some(idle), _) => Some((b"IDLETIME", extra_buf.format(idle))),
        (None, Some(freq)) => Some((b"FREQ", extra_buf.format(freq))),
        (None, None) => None,
    };
    let argc = 4
        + usize::from(expire_at_ms.is_some())
        + usize::from(replace)
        + if extra.is_some() { 2 } else { 0 };
    let out = &mut b.buf;
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(argc).as_bytes());
    out.extend_from_slice(b"\r\n$7\r\nRESTORE\r\n");
    for arg in [key, ttl.as_bytes()] {
        bulk_header(out, arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    bulk_header(out, 1 + k.value_bytes.len() + FOOTER_LEN);
    let body_start = out.len();
    out.push(k.info.id);
    out.extend_from_slice(k.value_bytes);
    out.extend_from_slice(&version.to_le_bytes());
    let mut crc = Crc64::new();
    crc.update(&out[body_start..]);
    out.extend_from_slice(&crc.finish().to_le_bytes());
    out.extend_from_slice(b"\r\n");
    let mut tail: Vec<&[u8]> = Vec::with_capacity(4);
    if expire_at_ms.is_some() {
        tail.push(b"ABSTTL");
    }
    if replace {
        tail.push(b"REPLACE");
    }
    if let Some((name, value)) = extra {
        tail.push(name);
        tail.push(value.as_bytes());
    }
    for arg in tail {
        bulk_header(out, arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    b.push_encoded(k.offset, key_range, Purpose::Write { last: true }, start);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{Checker, RdbReader, Record};

    #[test]
    fn restore_command_carries_the_dump_payload() {
        // An RDB 10 file with one string key "k" = "hello" expiring at 5000 ms.
        let mut f = b"REDIS0010".to_vec();
        f.push(0xfc);
        f.extend_from_slice(&5000i64.to_le_bytes());
        f.extend_from_slice(b"\x00\x01k\x05hello\xff");
        f.extend_from_slice(&[0; 8]);
        let mut r = RdbReader::new(&f, Checker::new(true)).unwrap();
        let Some(Record::Key(k)) = r.next_record().unwrap() else {
            panic!("no key")
        };
        let mut b = Batch::default();
        push_restore(&mut b, &k, b"k", 10, k.expire_ms, true);
        let payload = crate::rdb::dump::key_payload(&k, 10);
        let mut want = Vec::new();
        super::super::conn::encode(
            &mut want,
            &[b"RESTORE", b"k", b"5000", &payload, b"ABSTTL", b"REPLACE"],
        );
        assert_eq!(b.buf, want);
        assert_eq!(b.items.len(), 1);
        assert_eq!(&b.keys[b.items[0].key.clone()], b"k");
    }
}
