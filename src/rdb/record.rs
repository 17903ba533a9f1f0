//! Records between the header and EOF (FORMAT.md §3, §7): one parser per record kind.
//!
//! A key record is parsed as one unit together with its key-scoped prefixes (expiry,
//! IDLE, FREQ, KEY_META), so a record never depends on state left by an earlier,
//! partially read one; this is what lets the streaming reader retry a record after
//! refilling its buffer.

use crate::error::{Error, Result};
use crate::rdb::check::Checker;
use crate::rdb::cursor::Cursor;
use crate::rdb::header::{Dialect, Header};
use crate::rdb::module;
use crate::rdb::string::RdbStr;
use crate::rdb::types::{self, TypeInfo};
use crate::rdb::value::{self, Region, Value, ValueInfo};

pub mod opcode {
    pub const EOF: u8 = 255;
    pub const SELECTDB: u8 = 254;
    pub const EXPIRETIME: u8 = 253;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const RESIZEDB: u8 = 251;
    pub const AUX: u8 = 250;
    pub const FREQ: u8 = 249;
    pub const IDLE: u8 = 248;
    pub const MODULE_AUX: u8 = 247;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const FUNCTION2: u8 = 245;
    pub const SLOT_INFO: u8 = 244;
    /// KEY_META in Redis >= 8.6 files, SLOT_IMPORT in Valkey 9 files.
    pub const KEY_META_OR_SLOT_IMPORT: u8 = 243;
}

/// A key and its value, with the key-scoped metadata written before it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord<'a> {
    /// Offset of the record's first byte (its first prefix opcode, or the type byte).
    pub offset: u64,
    pub db: Option<u64>,
    pub expire_ms: Option<i64>,
    pub idle_seconds: Option<u64>,
    pub lfu_freq: Option<u8>,
    /// Raw KEY_META block (Redis 8.6+), after the opcode byte.
    pub key_meta: Option<Region<'a>>,
    pub info: &'static TypeInfo,
    pub key: RdbStr<'a>,
    pub value: Value<'a>,
    pub value_info: ValueInfo,
    /// The value exactly as stored (after the type byte): what a DUMP payload carries.
    pub value_bytes: &'a [u8],
}

/// One record of the file.
#[derive(Clone, Debug, PartialEq)]
pub enum Record<'a> {
    Aux {
        key: RdbStr<'a>,
        value: RdbStr<'a>,
    },
    SelectDb {
        db: u64,
    },
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    /// Redis 7.4+ cluster slot sizing hint.
    SlotInfo {
        slot: u64,
        keys: u64,
        expires: u64,
    },
    /// Global module data; `when` 1 = before keys, 2 = after.
    ModuleAux {
        module_id: u64,
        when: u64,
        body: Region<'a>,
    },
    /// A function library (`FUNCTION2`), its full source.
    Function {
        code: RdbStr<'a>,
    },
    /// The 7.0 RC function format (one function, not a library).
    FunctionPreGa {
        name: RdbStr<'a>,
        engine: RdbStr<'a>,
        code: RdbStr<'a>,
    },
    /// Valkey 9 atomic slot migration job.
    SlotImport {
        job: RdbStr<'a>,
        ranges: u64,
    },
    Key(KeyRecord<'a>),
    Eof,
}

/// Reader state that outlives single records.
#[derive(Clone, Debug)]
pub struct State {
    pub header: Header,
    pub db: Option<u64>,
    pub keys: u64,
}

impl State {
    pub fn new(header: Header) -> Self {
        State {
            header,
            db: None,
            keys: 0,
        }
    }
    pub fn apply(&mut self, r: &Record<'_>) {
        match r {
            Record::SelectDb { db } => self.db = Some(*db),
            Record::Key(_) => self.keys += 1,
            _ => {}
        }
    }
}

fn vendor_opcode(op: u8) -> Option<&'static str> {
    Some(match op {
        200 => "Dragonfly FULLSYNC_END",
        201 => "Dragonfly compressed zstd blob",
        202 => "Dragonfly compressed LZ4 blob",
        203 => "Dragonfly compressed blob end",
        210 => "Dragonfly journal blob",
        211 => "Dragonfly journal offset",
        220 => "Dragonfly key flags (DF_MASK)",
        222 => "Dragonfly vector index",
        223 => "Dragonfly shard document index",
        224 => "Dragonfly tagged chunk",
        101 => "Redis Enterprise GCAS",
        102 => "Redis Enterprise GFLAGS",
        107 => "Redis Enterprise RAM_LRU",
        121 => "Redis Enterprise SLOT_NUM",
        242 => "HASH_TEMPLATE (Redis 8.10) / UPDATE (Valkey 9.2)",
        _ => return None,
    })
}

fn is_key_meta(op: u8, h: &Header) -> bool {
    op == opcode::KEY_META_OR_SLOT_IMPORT && h.dialect == Dialect::Redis && h.version >= 13
}

/// Parses the record at `cur`. Nothing in `st` changes; the caller applies the record.
#[inline]
pub fn parse<'a>(cur: &mut Cursor<'a>, st: &State, chk: &mut Checker) -> Result<Record<'a>> {
    let at = cur.offset();
    let op = cur
        .peek_u8()
        .ok_or_else(|| Error::truncated(at, 1).reading("the next record (no EOF marker yet)"))?;
    match op {
        opcode::EXPIRETIME | opcode::EXPIRETIME_MS | opcode::IDLE | opcode::FREQ => {
            parse_key(cur, st, chk)
        }
        op if is_key_meta(op, &st.header) => parse_key(cur, st, chk),
        opcode::EOF => {
            cur.u8()?;
            Ok(Record::Eof)
        }
        opcode::SELECTDB => {
            cur.u8()?;
            let db = cur
                .length()
                .map_err(|e| e.reading("a SELECTDB db number"))?;
            Ok(Record::SelectDb { db })
        }
        opcode::RESIZEDB => {
            cur.u8()?;
            let keys = cur.length().map_err(|e| e.reading("a RESIZEDB hint"))?;
            let expires = cur.length().map_err(|e| e.reading("a RESIZEDB hint"))?;
            Ok(Record::ResizeDb { keys, expires })
        }
        opcode::AUX => {
            cur.u8()?;
            let key = cur.string().map_err(|e| e.reading("an AUX field name"))?;
            let value = cur.string().map_err(|e| e.reading("an AUX field value"))?;
            key.check()?;
            value.check()?;
            Ok(Record::Aux { key, value })
        }
        opcode::MODULE_AUX => {
            cur.u8()?;
            let module_id = cur.length().map_err(|e| e.reading("a module AUX id"))?;
            let when_at = cur.offset();
            let when_op = cur
                .length()
                .map_err(|e| e.reading("a module AUX when-opcode"))?;
            if when_op != 2 {
                return Err(Error::corrupt(
                    when_at,
                    format!("module AUX when-opcode {when_op}, expected 2"),
                )
                .reading("a module AUX record"));
            }
            let when = cur.length().map_err(|e| e.reading("a module AUX when"))?;
            let (pos, body_at) = (cur.pos(), cur.offset());
            module::skip_opcodes(cur).map_err(|e| e.reading("a module AUX record"))?;
            Ok(Record::ModuleAux {
                module_id,
                when,
                body: Region {
                    bytes: cur.since(pos),
                    at: body_at,
                },
            })
        }
        opcode::FUNCTION2 => {
            cur.u8()?;
            let code = cur.string().map_err(|e| e.reading("a function library"))?;
            code.check()?;
            Ok(Record::Function { code })
        }
        opcode::FUNCTION_PRE_GA => {
            cur.u8()?;
            let name = cur.string().map_err(|e| e.reading("a pre-GA function"))?;
            let engine = cur.string().map_err(|e| e.reading("a pre-GA function"))?;
            if cur.length().map_err(|e| e.reading("a pre-GA function"))? != 0 {
                cur.string()
                    .map_err(|e| e.reading("a pre-GA function description"))?;
            }
            let code = cur.string().map_err(|e| e.reading("a pre-GA function"))?;
            chk.warn("pre-release function format (Redis 7.0-rc1/rc2): Redis 7.2 and later refuse to load it (7.0 GA still loads it)".into());
            Ok(Record::FunctionPreGa { name, engine, code })
        }
        opcode::SLOT_INFO => {
            cur.u8()?;
            let slot = cur.length().map_err(|e| e.reading("a SLOT_INFO record"))?;
            let keys = cur.length().map_err(|e| e.reading("a SLOT_INFO record"))?;
            let expires = cur.length().map_err(|e| e.reading("a SLOT_INFO record"))?;
            Ok(Record::SlotInfo {
                slot,
                keys,
                expires,
            })
        }
        opcode::KEY_META_OR_SLOT_IMPORT if st.header.dialect == Dialect::Valkey => {
            cur.u8()?;
            let job = cur
                .string()
                .map_err(|e| e.reading("a SLOT_IMPORT job name"))?;
            let ranges = cur
                .count(2)
                .map_err(|e| e.reading("a SLOT_IMPORT range count"))?;
            for _ in 0..ranges {
                let r_at = cur.offset();
                let start = cur.length().map_err(|e| e.reading("a SLOT_IMPORT range"))?;
                let end = cur.length().map_err(|e| e.reading("a SLOT_IMPORT range"))?;
                if start > end || end > 16383 {
                    return Err(Error::corrupt(
                        r_at,
                        format!("slot import range {start}-{end} is invalid"),
                    ));
                }
            }
            Ok(Record::SlotImport { job, ranges })
        }
        op => {
            if let Some(name) = vendor_opcode(op) {
                return Err(Error::unsupported(at, format!("opcode {op} ({name})")));
            }
            parse_key(cur, st, chk)
        }
    }
}

#[inline]
fn parse_key<'a>(cur: &mut Cursor<'a>, st: &State, chk: &mut Checker) -> Result<Record<'a>> {
    let offset = cur.offset();
    let mut expire_ms = None;
    let mut idle_seconds = None;
    let mut lfu_freq = None;
    let mut key_meta = None;
    let ctx = |e: Error| e.with_key(st.db, None, st.keys);
    let (type_at, type_id) = loop {
        let at = cur.offset();
        let b = cur
            .u8()
            .map_err(|e| ctx(e.reading("a key record's type byte")))?;
        match b {
            opcode::EXPIRETIME if key_meta.is_none() => {
                expire_ms =
                    Some(cur.i32le().map_err(|e| ctx(e.reading("an EXPIRETIME")))? as i64 * 1000)
            }
            opcode::EXPIRETIME_MS if key_meta.is_none() => {
                expire_ms = Some(
                    cur.i64le()
                        .map_err(|e| ctx(e.reading("an EXPIRETIME_MS")))?,
                )
            }
            opcode::IDLE if key_meta.is_none() => {
                idle_seconds = Some(cur.length().map_err(|e| ctx(e.reading("an IDLE time")))?)
            }
            opcode::FREQ if key_meta.is_none() => {
                lfu_freq = Some(cur.u8().map_err(|e| ctx(e.reading("an LFU frequency")))?)
            }
            // KeyDB writes an `mvcc-tstamp` AUX field between a key's expiry and its
            // type byte; Redis's loader keeps the pending expiry across it, and so do we.
            opcode::AUX if key_meta.is_none() && at != offset => {
                cur.string()
                    .and_then(|s| s.check())
                    .map_err(|e| ctx(e.reading("an AUX field inside a key record")))?;
                cur.string()
                    .and_then(|s| s.check())
                    .map_err(|e| ctx(e.reading("an AUX field inside a key record")))?;
            }
            b if is_key_meta(b, &st.header) && key_meta.is_none() => {
                let (pos, body_at) = (cur.pos(), cur.offset());
                let n_at = cur.offset();
                let classes = cur
                    .length()
                    .map_err(|e| ctx(e.reading("a KEY_META class count")))?;
                if !(1..=7).contains(&classes) {
                    return Err(ctx(Error::corrupt(
                        n_at,
                        format!("KEY_META with {classes} classes (1-7 allowed)"),
                    )));
                }
                for _ in 0..classes {
                    cur.take(4)
                        .map_err(|e| ctx(e.reading("a KEY_META class spec")))?;
                    module::skip_opcodes(cur)
                        .map_err(|e| ctx(e.reading("a KEY_META class value")))?;
                }
                key_meta = Some(Region {
                    bytes: cur.since(pos),
                    at: body_at,
                });
            }
            b => break (at, b),
        }
    };
    let Some(info) = types::lookup(type_id, st.header.dialect) else {
        // A byte some other server assigns is `unsupported`; a byte nobody assigns, in
        // a version this reader covers, is damage.
        return Err(ctx(
            match (
                vendor_opcode(type_id),
                types::describe_known_foreign(type_id, st.header.dialect),
            ) {
                (Some(name), _) => {
                    Error::unsupported(type_at, format!("opcode {type_id} ({name})"))
                }
                (None, Some(what)) => Error::unsupported(type_at, what),
                (None, None) => Error::corrupt(
                    type_at,
                    format!(
                        "invalid type byte {type_id} (0x{type_id:02x}): no server writes it here"
                    ),
                ),
            },
        ));
    };
    let key = cur
        .string()
        .map_err(|e| ctx(e.with_type(info.check_name).reading("the key name")))?;
    let value_ctx = |e: Error| {
        let k = key.to_vec().ok();
        e.with_type(info.check_name).with_key(st.db, k, st.keys)
    };
    key.check().map_err(value_ctx)?;
    let value_pos = cur.pos();
    let (value, value_info) = value::read(cur, info, st.header.dialect, chk).map_err(value_ctx)?;
    let value_bytes = cur.since(value_pos);
    Ok(Record::Key(KeyRecord {
        offset,
        db: st.db,
        expire_ms,
        idle_seconds,
        lfu_freq,
        key_meta,
        info,
        key,
        value,
        value_info,
        value_bytes,
    }))
}

/// What a second pass needs to re-read a key's value (and to name the key in its
/// errors), without holding the whole record: 88 bytes to move, not 248.
#[derive(Clone, Copy, Debug)]
pub struct KeySpan<'a> {
    /// Offset of the record's first byte.
    pub offset: u64,
    pub db: Option<u64>,
    pub info: &'static TypeInfo,
    pub key: RdbStr<'a>,
    /// Offset of the value's first byte and its stored size.
    pub value_at: u64,
    pub value_len: u64,
}

impl<'a> KeySpan<'a> {
    #[inline]
    pub fn of(k: &KeyRecord<'a>) -> Self {
        KeySpan {
            offset: k.offset,
            db: k.db,
            info: k.info,
            key: k.key,
            value_at: k.value_info.offset,
            value_len: k.value_info.stored_bytes,
        }
    }
}

/// Re-reads a key's value with deep checks, for readers whose first pass skimmed
/// (`Checker::deep == false`). `file` is the whole input, starting at offset 0.
/// Errors carry the same context as if the first pass had found them.
pub fn check_value(
    k: &KeySpan<'_>,
    file: &[u8],
    dialect: Dialect,
    keys_before: u64,
    chk: &mut Checker,
) -> Result<ValueInfo> {
    let ctx = |e: Error| {
        e.with_type(k.info.check_name)
            .with_key(k.db, k.key.to_vec().ok(), keys_before)
            .at_record(k.offset)
    };
    k.key.check().map_err(ctx)?;
    let start = k.value_at as usize;
    let bytes = file
        .get(start..start.saturating_add(k.value_len as usize))
        .unwrap_or_default();
    let mut cur = Cursor::new(bytes, k.value_at);
    value::read(&mut cur, k.info, dialect, chk)
        .map(|(_, info)| info)
        .map_err(ctx)
}
