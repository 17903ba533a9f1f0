//! Reading an RDB past damage: records are parsed (with deep checks) one after the
//! other; when one fails, the walker looks for the next byte at which a chain of valid
//! records starts again and reports the bytes in between as lost.
//!
//! A resynchronisation point must be confirmed: the candidate record and the records
//! after it (up to [`CONFIRM`] of them, or EOF) all parse and look like what a server
//! writes (no empty keys, no warnings, plausible db numbers and expiry times). Candidate
//! bytes are prefiltered (a type id or opcode, then the key name) so random bytes cost
//! a few comparisons each, and every parse is bounded by the bytes left, so the work
//! per candidate is bounded by what a valid chain would consume.
//!
//! The record just before a failure is held back: a damaged length can make a record
//! parse "successfully" by swallowing the start of the next one. If a confirmed chain
//! starts inside the held record, that record is reported lost instead of emitted.

use crate::error::Error;
use crate::rdb::cursor::Cursor;
use crate::rdb::header::{Header, HEADER_LEN};
use crate::rdb::record::{self, opcode, State};
use crate::rdb::{types, Checker, Record};

/// Records from a candidate on that must parse (fewer when EOF comes first).
pub const CONFIRM: usize = 3;
/// The same when binary key names are allowed (a retry after a scan that found
/// nothing): misaligned reads of listpack and LZF bytes often pass for a few records.
pub const CONFIRM_BINARY_KEYS: usize = 12;
/// Key names longer than this are not believed in the first record at a
/// resynchronisation candidate: a long "key" is how a misaligned parse swallows
/// kilobytes of real records and still lands on a valid value. (A real key this long
/// right after damage is lost; the walk resumes at the record after it.)
const MAX_CANDIDATE_KEY: u64 = 1024;
/// Key names longer than this are not believed in the confirming records.
const MAX_CONFIRM_KEY: usize = 64 << 10;
/// Db numbers above this are not believed at a candidate (servers allow 16 by default).
const MAX_CANDIDATE_DB: u64 = 1 << 16;
/// This many zero bytes where a record should start are damage, not empty keys.
const ZERO_RUN: usize = 16;
/// Plausible absolute expiry times at a candidate: 2000-01-01 .. 2200-01-01 (ms).
const EXPIRE_MS_RANGE: std::ops::Range<i64> = 946_684_800_000..7_258_118_400_000;

/// One step of the walk.
#[derive(Debug)]
pub enum Event<'a> {
    /// A record that parsed and passed the deep checks, `start..end` in the file.
    Record {
        start: u64,
        end: u64,
        record: Record<'a>,
    },
    /// Bytes that could not be read.
    Lost(LostRange),
}

/// An unreadable span and what is known about it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LostRange {
    pub start: u64,
    /// Exclusive; the file length when nothing valid follows.
    pub end: u64,
    /// The first error in the span (or why a record that parsed was dropped).
    pub reason: String,
    /// Where that error was found.
    pub error_offset: u64,
    /// The db the walker was in when the damage started.
    pub db: Option<u64>,
    /// A key whose name was readable but whose value was not.
    #[serde(skip)]
    pub key: Option<Vec<u8>>,
    /// The key record right before the span, kept because it parsed, but which ends
    /// exactly where the damage starts: a damaged length inside it would look the same.
    #[serde(skip)]
    pub suspect_key: Option<Vec<u8>>,
    /// The input ended inside this span (truncation).
    pub reaches_end: bool,
    /// The first record after the span selected a db (otherwise the last known db is
    /// assumed, and a SELECTDB may have been lost).
    pub resumed_with_selectdb: bool,
}

/// Walks every readable record of `data` (a whole RDB file, header included).
pub struct Walker<'a> {
    data: &'a [u8],
    state: State,
    chk: Checker,
    pos: usize,
    /// The last record parsed, not yet emitted: `(start, end, record, state before it)`.
    held: Option<(usize, usize, Record<'a>, State)>,
    /// Set once EOF was emitted or the data ran out.
    done: bool,
    /// Keys read intact so far, and how many of them were printable text: when nearly
    /// all are, candidates with binary "keys" (misaligned reads of compressed or
    /// listpack bytes) are not believed.
    keys_seen: u64,
    keys_printable: u64,
    /// Set while retrying a resynchronisation that found nothing with text keys.
    allow_binary_keys: bool,
    /// Offset of the EOF opcode when reached.
    pub eof_offset: Option<u64>,
    queue: std::collections::VecDeque<Event<'a>>,
}

impl<'a> Walker<'a> {
    /// The header must be readable (it says which type table applies).
    pub fn new(data: &'a [u8]) -> crate::Result<Self> {
        let header = Header::parse(data)?;
        header.check_supported()?;
        Ok(Walker {
            data,
            state: State::new(header),
            chk: Checker::new(true),
            pos: HEADER_LEN,
            held: None,
            done: false,
            keys_seen: 0,
            keys_printable: 0,
            allow_binary_keys: false,
            eof_offset: None,
            queue: Default::default(),
        })
    }

    pub fn header(&self) -> Header {
        self.state.header
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// The next event, `None` at the end.
    pub fn next_event(&mut self) -> Option<Event<'a>> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.done {
                return self.release_held();
            }
            self.step();
        }
    }

    fn release_held(&mut self) -> Option<Event<'a>> {
        let (start, end, record, _) = self.held.take()?;
        Some(Event::Record {
            start: start as u64,
            end: end as u64,
            record,
        })
    }

    fn step(&mut self) {
        if self.pos >= self.data.len() && self.held.is_none() {
            self.done = true;
            return;
        }
        let before = self.state.clone();
        match parse_at(self.data, self.pos, &before, &mut self.chk) {
            Ok((Record::Key(k), _)) if k.key.is_empty() && self.zero_run_at(self.pos) => {
                // `00 00 00` parses as SET "" "": a zero-filled page would read as a
                // run of empty keys.
                self.recover(Error::corrupt(self.pos as u64, "zero-filled bytes"))
            }
            Ok((rec, end)) => {
                if let Some(e) = self.release_held() {
                    self.queue.push_back(e);
                }
                let is_eof = matches!(rec, Record::Eof);
                if let Record::Key(k) = &rec {
                    self.keys_seen += 1;
                    self.keys_printable += k.key.as_raw().is_none_or(is_text) as u64;
                }
                self.state.apply(&rec);
                self.held = Some((self.pos, end, rec, before));
                self.pos = end;
                if is_eof {
                    self.eof_offset = Some(end as u64 - 1);
                    self.done = true;
                }
            }
            Err(err) => self.recover(err),
        }
    }

    fn zero_run_at(&self, pos: usize) -> bool {
        self.data
            .get(pos..pos + ZERO_RUN)
            .is_some_and(|b| b.iter().all(|&x| x == 0))
    }

    /// Handles a record that failed at `self.pos`.
    fn recover(&mut self, err: Error) {
        let fail = self.pos;
        let ctx = err.context();
        let mut lost = LostRange {
            start: fail as u64,
            end: self.data.len() as u64,
            reason: err.message(),
            error_offset: err.offset(),
            db: self.state.db,
            key: ctx.key.clone(),
            suspect_key: None,
            reaches_end: false,
            resumed_with_selectdb: false,
        };
        if let Some(r) = ctx.reading {
            lost.reason = format!("{} while reading {r}", lost.reason);
        }
        // Scan from inside the held record: a confirmed chain there means its length
        // was damaged and it swallowed the start of its successor.
        let scan_from = self.held.as_ref().map_or(fail + 1, |h| h.0 + 1);
        let found = self.resync(scan_from, fail);
        match (found, self.held.take()) {
            (Some(c), Some((start, end, rec, st))) if c < fail => {
                // Drop the held record; the state goes back to before it.
                self.state = st;
                let key = match &rec {
                    Record::Key(k) => k.key.to_vec().ok(),
                    _ => None,
                };
                lost = LostRange {
                    start: start as u64,
                    end: c as u64,
                    reason: format!(
                        "record at {start}..{end} overlaps valid records starting at {c} (a length inside it is damaged); next error was at {}: {}",
                        err.offset(),
                        lost.reason
                    ),
                    error_offset: err.offset(),
                    db: self.state.db,
                    key,
                    suspect_key: None,
                    reaches_end: false,
                    resumed_with_selectdb: false,
                };
            }
            (_, Some((start, end, rec, _))) => {
                if let Record::Key(k) = &rec {
                    if end == fail && !err.is_truncated() {
                        lost.suspect_key = k.key.to_vec().ok();
                    }
                }
                self.queue.push_back(Event::Record {
                    start: start as u64,
                    end: end as u64,
                    record: rec,
                })
            }
            _ => {}
        }
        match found {
            Some(c) => {
                lost.end = c as u64;
                let mut st = self.state.clone();
                if let Ok((rec, _)) = parse_at(self.data, c, &st, &mut self.chk) {
                    lost.resumed_with_selectdb = matches!(rec, Record::SelectDb { .. });
                    st.apply(&rec);
                }
                self.pos = c;
            }
            None => {
                lost.reaches_end = true;
                self.pos = self.data.len();
                self.done = true;
            }
        }
        self.queue.push_back(Event::Lost(lost));
    }

    /// The first confirmed resynchronisation point at or after `from`; chains that
    /// start before `fail` must reach past it.
    fn resync(&mut self, from: usize, fail: usize) -> Option<usize> {
        if let Some(c) = self.scan(from, fail) {
            return Some(c);
        }
        self.allow_binary_keys = true;
        let c = self.scan(from, fail);
        self.allow_binary_keys = false;
        c
    }

    fn scan(&mut self, from: usize, fail: usize) -> Option<usize> {
        let dialect = self.state.header.dialect;
        let version = self.state.header.version;
        let is_key_meta = |b: u8| b == opcode::KEY_META_OR_SLOT_IMPORT && version >= 13;
        for c in from..self.data.len() {
            if c == fail {
                continue;
            }
            let b = self.data[c];
            let plausible_start = match b {
                opcode::EOF => c + 1 == self.data.len() || c + 9 == self.data.len(),
                opcode::SELECTDB
                | opcode::RESIZEDB
                | opcode::AUX
                | opcode::EXPIRETIME_MS
                | opcode::EXPIRETIME
                | opcode::IDLE
                | opcode::FREQ
                | opcode::FUNCTION2
                | opcode::MODULE_AUX
                | opcode::SLOT_INFO => true,
                b if is_key_meta(b) => true,
                b => types::lookup(b, dialect).is_some() && key_len_ok(&self.data[c + 1..]),
            };
            if plausible_start && self.confirm(c, fail) {
                return Some(c);
            }
        }
        None
    }

    /// Whether a chain of plausible records starts at `c` (and passes `fail` when it
    /// starts before it).
    fn confirm(&mut self, c: usize, fail: usize) -> bool {
        let mut st = self.state.clone();
        let mut p = c;
        // A chain that starts inside the held record overrules a record that parsed
        // and passed the deep checks: it must be as long as a binary-key chain.
        let records = if self.allow_binary_keys || c < fail {
            CONFIRM_BINARY_KEYS
        } else {
            CONFIRM
        };
        for i in 0..records {
            let Ok((rec, end)) = parse_at(self.data, p, &st, &mut self.chk) else {
                return false;
            };
            let max_key = if i == 0 {
                MAX_CANDIDATE_KEY as usize
            } else {
                MAX_CONFIRM_KEY
            };
            if !self.chk_plausible(&rec, max_key) {
                return false;
            }
            st.apply(&rec);
            p = end;
            if matches!(rec, Record::Eof) {
                break;
            }
        }
        p > fail
    }

    fn chk_plausible(&self, rec: &Record<'_>, max_key: usize) -> bool {
        if !self.chk.warnings.is_empty() {
            return false;
        }
        // Keys are taken to be text until 20 keys were read, then while at most 1 in 50
        // of those was binary; a scan that finds nothing is retried without the rule.
        let text_keys = !self.allow_binary_keys
            && (self.keys_seen < 20 || self.keys_printable * 50 >= self.keys_seen * 49);
        match rec {
            Record::Key(k) => {
                !k.key.is_empty()
                    && k.key.len() <= max_key
                    && (!text_keys || k.key.as_raw().is_none_or(is_text))
                    && k.expire_ms.is_none_or(|t| EXPIRE_MS_RANGE.contains(&t))
                    && written_by(k.info.id, self.state.header)
            }
            Record::SelectDb { db } => *db < MAX_CANDIDATE_DB,
            Record::Aux { key, .. } => key
                .as_raw()
                .is_some_and(|k| !k.is_empty() && k.iter().all(|b| b.is_ascii_graphic())),
            _ => true,
        }
    }
}

/// Text as people name keys: no control bytes (UTF-8 passes).
fn is_text(b: &[u8]) -> bool {
    b.iter().all(|&c| c >= 0x20 && c != 0x7f)
}

/// Whether the server that writes this header's version writes type `id` (FORMAT.md
/// §1.3, §4.1): a candidate with a type from another era is a coincidence in the bytes.
fn written_by(id: u8, h: Header) -> bool {
    let v = h.version;
    match id {
        0 | 2 | 4 | 11 => true,
        1 | 10 => v <= 6,
        3 => v <= 7,
        5 | 7 => v >= 8,
        9 => v <= 5,
        12 | 13 => v <= 9,
        14 => (7..=9).contains(&v),
        15 => v == 9,
        16..=18 => v >= 10,
        19 => v == 10,
        20 | 21 => v >= 11,
        22 if h.dialect == crate::rdb::Dialect::Valkey => true,
        22 | 23 => v == 12,
        24 | 25 => v >= 12,
        _ => v >= 13,
    }
}

/// Parses one record at `pos`; returns it and where it ends.
fn parse_at<'a>(
    data: &'a [u8],
    pos: usize,
    st: &State,
    chk: &mut Checker,
) -> crate::Result<(Record<'a>, usize)> {
    let rest = data.get(pos..).unwrap_or_default();
    let mut cur = Cursor::new(rest, pos as u64);
    chk.warnings.clear();
    let rec = record::parse(&mut cur, st, chk)
        .map_err(|e| e.with_key(st.db, None, st.keys).at_record(pos as u64))?;
    Ok((rec, pos + cur.pos()))
}

/// Cheap test of the key name's length field after a candidate type byte.
fn key_len_ok(after: &[u8]) -> bool {
    let mut cur = Cursor::new(after, 0);
    match cur.len_or_special() {
        Ok(crate::rdb::cursor::Len::Plain(n)) => {
            n > 0 && n <= MAX_CANDIDATE_KEY && n as usize <= cur.remaining()
        }
        Ok(crate::rdb::cursor::Len::Special(_)) => true,
        Err(_) => false,
    }
}
