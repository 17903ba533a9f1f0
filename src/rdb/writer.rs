//! Writes RDB files (FORMAT.md §1–§3): header, AUX, SELECTDB, RESIZEDB, key records,
//! functions, module AUX, EOF and the CRC-64 trailer.
//!
//! The writer streams: bytes go through a buffer to the underlying `Write` and into an
//! incremental CRC-64 as they are produced, so a file of any size costs one buffer.
//! It knows which type ids and opcodes its [`Target`] (version and dialect) can hold
//! and refuses to write anything else, so a caller cannot produce a file the target
//! server would reject for an unknown type; [`encode`] re-encodes values the target
//! cannot hold as they are.
//!
//! Typical use (what salvage and rewrite do):
//! ```no_run
//! # fn demo(k: &rdbkit::rdb::KeyRecord<'_>) -> rdbkit::rdb::writer::Result<()> {
//! use rdbkit::rdb::writer::{RdbWriter, Target};
//! let out = std::fs::File::create("/tmp/out.rdb")?;
//! let mut w = RdbWriter::new(out, Target::redis(12))?;
//! w.aux(b"redis-ver", b"7.4.1")?;
//! w.select_db(0)?;
//! if w.target().can_hold(k.info.id, rdbkit::rdb::Dialect::Redis) {
//!     w.key_raw(k, rdbkit::rdb::Dialect::Redis)?;
//! }
//! w.finish()?;
//! # Ok(()) }
//! ```

use std::io::{BufWriter, Write};

use crate::error::Error;
use crate::rdb::crc64::Crc64;
use crate::rdb::header::Dialect;
use crate::rdb::record::{opcode, KeyRecord};
use crate::rdb::string::RdbStr;

pub mod encode;
pub mod stream;

/// Why writing failed.
#[derive(Debug)]
pub enum WriteError {
    /// The output could not be written.
    Io(std::io::Error),
    /// The target cannot hold something it was asked to write.
    Unsupported(String),
    /// The source value could not be read while re-encoding it.
    Read(Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Io(e) => write!(f, "{e}"),
            WriteError::Unsupported(m) => f.write_str(m),
            WriteError::Read(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WriteError {}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Read(e)
    }
}

pub type Result<T, E = WriteError> = std::result::Result<T, E>;

/// The server format a file is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub version: u32,
    pub dialect: Dialect,
}

/// Versions this writer produces: the ones a server we test against writes
/// (Redis 5.0–6.2 = 9 … 8.6 = 13; Valkey 9 = `VALKEY080`).
pub const REDIS_VERSIONS: std::ops::RangeInclusive<u32> = 9..=13;

impl Target {
    pub fn redis(version: u32) -> Target {
        Target {
            version,
            dialect: Dialect::Redis,
        }
    }
    pub fn valkey() -> Target {
        Target {
            version: 80,
            dialect: Dialect::Valkey,
        }
    }

    /// Refuses versions no tested server writes.
    pub fn check(&self) -> Result<()> {
        let ok = match self.dialect {
            Dialect::Redis => REDIS_VERSIONS.contains(&self.version),
            Dialect::Valkey => self.version == 80,
        };
        if ok {
            Ok(())
        } else {
            Err(WriteError::Unsupported(format!(
                "cannot write RDB version {} with {} magic (supported: REDIS 9-13, VALKEY 80)",
                self.version,
                self.magic()
            )))
        }
    }

    pub fn magic(&self) -> &'static str {
        match self.dialect {
            Dialect::Redis => "REDIS",
            Dialect::Valkey => "VALKEY",
        }
    }

    /// The 9 header bytes: `REDIS0012`, `VALKEY080`.
    pub fn header_bytes(&self) -> Vec<u8> {
        match self.dialect {
            Dialect::Redis => format!("REDIS{:04}", self.version).into_bytes(),
            Dialect::Valkey => format!("VALKEY{:03}", self.version).into_bytes(),
        }
    }

    /// Redis-numbered format level: a Valkey 9 file holds what Redis 7.2 (RDB 11) does,
    /// plus HASH_2.
    fn redis_level(&self) -> u32 {
        match self.dialect {
            Dialect::Redis => self.version,
            Dialect::Valkey => 11,
        }
    }

    /// Whether a value stored with type `id` in a `source` dialect file can be copied
    /// byte for byte into this target.
    pub fn can_hold(&self, id: u8, source: Dialect) -> bool {
        // Ids above 21 mean different things in the two dialects.
        if id > 21 && source != self.dialect {
            return false;
        }
        if self.dialect == Dialect::Valkey && id > 21 {
            return id == 22;
        }
        match min_redis_version(id) {
            Some(v) => self.redis_level() >= v,
            None => false,
        }
    }

    /// IDLE and FREQ opcodes (RDB 9).
    pub fn has_lru_lfu(&self) -> bool {
        self.redis_level() >= 9
    }
    /// FUNCTION2 libraries (RDB 10; Valkey loads them too).
    pub fn has_functions(&self) -> bool {
        self.redis_level() >= 10
    }
    /// Module values and module AUX (RDB 9 here, since 9 is the oldest target).
    pub fn has_modules(&self) -> bool {
        self.redis_level() >= 9
    }
    /// KEY_META (Redis 8.6, RDB 13).
    pub fn has_key_meta(&self) -> bool {
        self.dialect == Dialect::Redis && self.version >= 13
    }
}

/// The first Redis RDB version whose loader knows type `id` (`None`: no supported
/// target loads it, e.g. the 4.0 RC module format).
pub fn min_redis_version(id: u8) -> Option<u32> {
    Some(match id {
        0..=4 => 1,
        9..=12 => 2,
        13 => 4,
        14 => 7,
        5 | 7 => 8,
        15 => 9,
        16..=19 => 10,
        20 | 21 => 11,
        22..=25 => 12,
        26 => 13,
        _ => return None,
    })
}

/// Streams an RDB file into `W`.
pub struct RdbWriter<W: Write> {
    out: BufWriter<W>,
    crc: Crc64,
    written: u64,
    target: Target,
}

impl<W: Write> RdbWriter<W> {
    /// Writes the header for `target` (refused if the version is not supported).
    pub fn new(inner: W, target: Target) -> Result<Self> {
        target.check()?;
        let mut w = RdbWriter {
            out: BufWriter::with_capacity(1 << 16, inner),
            crc: Crc64::new(),
            written: 0,
            target,
        };
        w.put(&target.header_bytes())?;
        Ok(w)
    }

    pub fn target(&self) -> Target {
        self.target
    }

    /// Bytes written so far (the offset of the next byte).
    pub fn offset(&self) -> u64 {
        self.written
    }

    /// Appends bytes as they are: the building block for value encoders.
    pub fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes)?;
        self.crc.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// An RDB length (§2.1), shortest form.
    pub fn length(&mut self, n: u64) -> Result<()> {
        let mut buf = [0u8; 9];
        let used = encode_length(n, &mut buf);
        self.put(&buf[..used])
    }

    /// An RDB string (§2.2): int-encoded when it is the canonical text of an integer
    /// that fits 32 bits (as the server does), raw otherwise. No LZF: files are larger
    /// than the server's, but every version reads raw strings.
    pub fn string(&mut self, s: &[u8]) -> Result<()> {
        if let Some(v) = canonical_int32(s) {
            return self.int_string(v);
        }
        self.length(s.len() as u64)?;
        self.put(s)
    }

    /// A string exactly as it was stored (LZF bytes are copied compressed).
    pub fn rdb_str(&mut self, s: &RdbStr<'_>) -> Result<()> {
        match *s {
            RdbStr::Raw(b) => {
                self.length(b.len() as u64)?;
                self.put(b)
            }
            RdbStr::Int(v) => match i32::try_from(v) {
                Ok(_) => self.int_string(v),
                Err(_) => self.string(itoa::Buffer::new().format(v).as_bytes()),
            },
            RdbStr::Lzf { data, len, .. } => {
                self.put(&[0xC3])?;
                self.length(data.len() as u64)?;
                self.length(len as u64)?;
                self.put(data)
            }
        }
    }

    fn int_string(&mut self, v: i64) -> Result<()> {
        if let Ok(b) = i8::try_from(v) {
            self.put(&[0xC0, b as u8])
        } else if let Ok(h) = i16::try_from(v) {
            let b = h.to_le_bytes();
            self.put(&[0xC1, b[0], b[1]])
        } else {
            let b = (v as i32).to_le_bytes();
            self.put(&[0xC2, b[0], b[1], b[2], b[3]])
        }
    }

    /// A binary double (zset scores, type 5).
    pub fn binary_double(&mut self, v: f64) -> Result<()> {
        self.put(&v.to_le_bytes())
    }

    /// An AUX field (RDB >= 7).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(&[opcode::AUX])?;
        self.string(key)?;
        self.string(value)
    }

    pub fn select_db(&mut self, db: u64) -> Result<()> {
        self.put(&[opcode::SELECTDB])?;
        self.length(db)
    }

    /// The hash-table sizing hint after SELECTDB.
    pub fn resize_db(&mut self, keys: u64, expires: u64) -> Result<()> {
        self.put(&[opcode::RESIZEDB])?;
        self.length(keys)?;
        self.length(expires)
    }

    /// A function library (FUNCTION2): its full source.
    pub fn function(&mut self, code: &[u8]) -> Result<()> {
        if !self.target.has_functions() {
            return Err(self.cannot("function libraries"));
        }
        self.put(&[opcode::FUNCTION2])?;
        self.string(code)
    }

    /// Global module data; `body` is the opcode stream after the when field, as
    /// [`crate::rdb::Record::ModuleAux`] holds it.
    pub fn module_aux(&mut self, module_id: u64, when: u64, body: &[u8]) -> Result<()> {
        if !self.target.has_modules() {
            return Err(self.cannot("module AUX data"));
        }
        self.put(&[opcode::MODULE_AUX])?;
        self.length(module_id)?;
        self.length(2)?;
        self.length(when)?;
        self.put(body)
    }

    /// Writes what comes before a value: expiry, IDLE, FREQ, KEY_META (each only if the
    /// header says so), the type byte and the key name. The caller then writes the
    /// value bytes for `type_id` (with [`Self::put`], [`Self::length`], ...).
    pub fn key_header(&mut self, h: &KeyHeader<'_>, type_id: u8) -> Result<()> {
        if let Some(ms) = h.expire_ms {
            self.put(&[opcode::EXPIRETIME_MS])?;
            self.put(&ms.to_le_bytes())?;
        }
        if let Some(idle) = h.idle_seconds {
            if !self.target.has_lru_lfu() {
                return Err(self.cannot("IDLE"));
            }
            self.put(&[opcode::IDLE])?;
            self.length(idle)?;
        }
        if let Some(freq) = h.lfu_freq {
            if !self.target.has_lru_lfu() {
                return Err(self.cannot("FREQ"));
            }
            self.put(&[opcode::FREQ, freq])?;
        }
        if let Some(meta) = h.key_meta {
            if !self.target.has_key_meta() {
                return Err(self.cannot("KEY_META"));
            }
            self.put(&[opcode::KEY_META_OR_SLOT_IMPORT])?;
            self.put(meta)?;
        }
        self.put(&[type_id])?;
        self.rdb_str(&h.key)
    }

    /// Copies a key record as stored: prefixes, type byte, key, value bytes. Refused
    /// when the target cannot hold the type id (see [`Target::can_hold`]) or a prefix;
    /// `source` is the dialect of the file the record came from.
    pub fn key_raw(&mut self, k: &KeyRecord<'_>, source: Dialect) -> Result<()> {
        if !self.target.can_hold(k.info.id, source) {
            return Err(self.cannot(k.info.check_name));
        }
        self.key_header(&KeyHeader::of(k), k.info.id)?;
        self.put(k.value_bytes)
    }

    /// Writes EOF and the CRC-64 (of every byte before it), flushes, and returns the
    /// inner writer and the file size.
    pub fn finish(mut self) -> Result<(W, u64)> {
        self.put(&[opcode::EOF])?;
        let crc = self.crc.finish();
        self.put(&crc.to_le_bytes())?;
        let size = self.written;
        let inner = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok((inner, size))
    }

    fn cannot(&self, what: &str) -> WriteError {
        WriteError::Unsupported(format!(
            "{} version {} cannot hold {what}",
            self.target.magic(),
            self.target.version
        ))
    }
}

/// The key-scoped part of a record that precedes its value.
#[derive(Clone, Copy, Debug)]
pub struct KeyHeader<'a> {
    pub expire_ms: Option<i64>,
    pub idle_seconds: Option<u64>,
    pub lfu_freq: Option<u8>,
    /// KEY_META block after its opcode byte.
    pub key_meta: Option<&'a [u8]>,
    pub key: RdbStr<'a>,
}

impl<'a> KeyHeader<'a> {
    /// A key without expiry or metadata.
    pub fn named(key: RdbStr<'a>) -> KeyHeader<'a> {
        KeyHeader {
            expire_ms: None,
            idle_seconds: None,
            lfu_freq: None,
            key_meta: None,
            key,
        }
    }
    pub fn of(k: &KeyRecord<'a>) -> KeyHeader<'a> {
        KeyHeader {
            expire_ms: k.expire_ms,
            idle_seconds: k.idle_seconds,
            lfu_freq: k.lfu_freq,
            key_meta: k.key_meta.map(|r| r.bytes),
            key: k.key,
        }
    }
}

/// Writes the shortest RDB length encoding of `n` into `buf`, returns its size.
pub fn encode_length(n: u64, buf: &mut [u8; 9]) -> usize {
    if n < 1 << 6 {
        buf[0] = n as u8;
        1
    } else if n < 1 << 14 {
        buf[0] = 0x40 | (n >> 8) as u8;
        buf[1] = n as u8;
        2
    } else if n <= u32::MAX as u64 {
        buf[0] = 0x80;
        buf[1..5].copy_from_slice(&(n as u32).to_be_bytes());
        5
    } else {
        buf[0] = 0x81;
        buf[1..9].copy_from_slice(&n.to_be_bytes());
        9
    }
}

/// The integer `s` spells in canonical decimal (as `string2ll` accepts and the server
/// int-encodes: no sign on zero, no leading zeros, no `+`), if it fits 32 bits.
pub fn canonical_int32(s: &[u8]) -> Option<i64> {
    let v = canonical_i64(s)?;
    i32::try_from(v).ok().map(i64::from)
}

/// The integer `s` spells in canonical decimal, if any (the listpack/ziplist rule).
pub fn canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || s.len() > 1) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{Checker, RdbReader, Record};

    fn read_back(bytes: &[u8]) -> Vec<String> {
        let mut r = RdbReader::new(bytes, Checker::new(true)).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(match rec {
                Record::Aux { key, value } => {
                    format!("aux {}={}", key.to_string_lossy(), value.to_string_lossy())
                }
                Record::SelectDb { db } => format!("select {db}"),
                Record::ResizeDb { keys, expires } => format!("resize {keys} {expires}"),
                Record::Function { code } => format!("function {}", code.to_string_lossy()),
                Record::Key(k) => format!(
                    "key {} type {} expire {:?} idle {:?} freq {:?}",
                    k.key.to_string_lossy(),
                    k.info.id,
                    k.expire_ms,
                    k.idle_seconds,
                    k.lfu_freq
                ),
                Record::Eof => "eof".into(),
                other => format!("{other:?}"),
            });
        }
        let t = r.trailer().unwrap();
        assert_eq!(t.stored_checksum, r.computed_checksum());
        assert_eq!(t.trailing_bytes, 0);
        out
    }

    #[test]
    fn lengths_round_trip_through_the_reader() {
        for n in [0u64, 63, 64, 16383, 16384, u32::MAX as u64, 1 << 40] {
            let mut buf = [0u8; 9];
            let used = encode_length(n, &mut buf);
            let mut c = crate::rdb::cursor::Cursor::new(&buf[..used], 0);
            assert_eq!(c.length().unwrap(), n);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn strings_are_int_encoded_only_when_canonical() {
        assert_eq!(canonical_int32(b"0"), Some(0));
        assert_eq!(canonical_int32(b"-2147483648"), Some(i32::MIN as i64));
        assert_eq!(canonical_int32(b"2147483648"), None);
        for bad in [&b"-0"[..], b"01", b"+1", b" 1", b"", b"-", b"1a"] {
            assert_eq!(canonical_i64(bad), None, "{bad:?}");
        }
        let mut w = RdbWriter::new(Vec::new(), Target::redis(9)).unwrap();
        for s in [&b"-129"[..], b"127", b"40000", b"-2147483648", b"012", b"x"] {
            w.string(s).unwrap();
        }
        let (bytes, _) = w.finish().unwrap();
        let mut c = crate::rdb::cursor::Cursor::new(&bytes[9..], 9);
        let forms: Vec<_> = (0..6)
            .map(|_| {
                let s = c.string().unwrap();
                (s.form(), s.to_vec().unwrap())
            })
            .collect();
        assert_eq!(forms[0], ("int", b"-129".to_vec()));
        assert_eq!(forms[1], ("int", b"127".to_vec()));
        assert_eq!(forms[3], ("int", b"-2147483648".to_vec()));
        assert_eq!(forms[4], ("raw", b"012".to_vec()));
        assert_eq!(forms[5], ("raw", b"x".to_vec()));
    }

    #[test]
    fn a_written_file_reads_back_with_a_valid_checksum() {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(12)).unwrap();
        w.aux(b"redis-ver", b"7.4.1").unwrap();
        w.aux(b"ctime", b"1700000000").unwrap();
        w.function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)")
            .unwrap();
        w.select_db(3).unwrap();
        w.resize_db(2, 1).unwrap();
        let h = KeyHeader {
            expire_ms: Some(1_900_000_000_000),
            idle_seconds: Some(5),
            lfu_freq: None,
            key_meta: None,
            key: RdbStr::Raw(b"k1"),
        };
        w.key_header(&h, 0).unwrap();
        w.string(b"hello").unwrap();
        let h2 = KeyHeader {
            expire_ms: None,
            idle_seconds: None,
            lfu_freq: Some(7),
            key_meta: None,
            key: RdbStr::Int(12345),
        };
        w.key_header(&h2, 2).unwrap();
        w.length(2).unwrap();
        w.string(b"a").unwrap();
        w.string(b"b").unwrap();
        let (bytes, size) = w.finish().unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(&bytes[..9], b"REDIS0012");
        assert_eq!(
            read_back(&bytes),
            [
                "aux redis-ver=7.4.1",
                "aux ctime=1700000000",
                "function #!lua name=lib\nredis.register_function('f', function() return 1 end)",
                "select 3",
                "resize 2 1",
                "key k1 type 0 expire Some(1900000000000) idle Some(5) freq None",
                "key 12345 type 2 expire None idle None freq Some(7)",
                "eof"
            ]
        );
    }

    #[test]
    fn raw_copy_is_byte_identical_and_refuses_unknown_types() {
        // A file with a set-listpack (type 20, RDB 11) written by the writer itself.
        // Listpack of "a" and 7: header, 0x81 'a' backlen 2, 7 backlen 1, terminator.
        let lp = [12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 7, 1, 0xFF];
        let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
        w.select_db(0).unwrap();
        w.key_header(&KeyHeader::named(RdbStr::Raw(b"s")), 20)
            .unwrap();
        w.string(&lp).unwrap();
        let (src, _) = w.finish().unwrap();
        let mut r = RdbReader::new(&src, Checker::new(true)).unwrap();
        let mut copy = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
        let mut to_v10 = RdbWriter::new(Vec::new(), Target::redis(10)).unwrap();
        let mut to_valkey = RdbWriter::new(Vec::new(), Target::valkey()).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            match rec {
                Record::SelectDb { db } => copy.select_db(db).unwrap(),
                Record::Key(k) => {
                    copy.key_raw(&k, Dialect::Redis).unwrap();
                    assert!(to_v10.key_raw(&k, Dialect::Redis).is_err());
                    to_valkey.key_raw(&k, Dialect::Redis).unwrap();
                }
                _ => {}
            }
        }
        assert_eq!(copy.finish().unwrap().0, src);
        let (valkey, _) = to_valkey.finish().unwrap();
        assert_eq!(&valkey[..9], b"VALKEY080");
        assert_eq!(read_back(&valkey).len(), 2);
    }

    #[test]
    fn type_ids_per_target() {
        let v9 = Target::redis(9);
        assert!(v9.can_hold(14, Dialect::Redis) && v9.can_hold(15, Dialect::Redis));
        assert!(!v9.can_hold(16, Dialect::Redis) && !v9.can_hold(18, Dialect::Redis));
        let valkey = Target::valkey();
        assert!(valkey.can_hold(21, Dialect::Redis) && valkey.can_hold(22, Dialect::Valkey));
        assert!(!valkey.can_hold(22, Dialect::Redis) && !valkey.can_hold(25, Dialect::Redis));
        assert!(!Target::redis(13).can_hold(22, Dialect::Valkey));
        assert!(Target::redis(12).can_hold(25, Dialect::Redis));
        assert!(!Target::redis(12).can_hold(26, Dialect::Redis));
        assert!(Target::redis(8).check().is_err() && Target::redis(14).check().is_err());
    }
}
