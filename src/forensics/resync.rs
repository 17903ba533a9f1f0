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
//! The last [`HOLD`] records before a failure are held back: a damaged length can make
//! a record parse "successfully" by swallowing the records after it (a few misaligned
//! records may follow before anything fails). If a confirmed chain starts inside a
//! held record, that record and the held ones after it are reported lost instead of
//! emitted (the chain reads again whichever of them are real).
//!
//! Among confirmed chains the walker does not simply take the first: a later one that
//! starts inside its span competes with it ([`Walker::prefer`]), so garbage read as a
//! long string cannot hide the real records behind it.

use crate::error::Error;
use crate::rdb::cursor::Cursor;
use crate::rdb::header::{Header, HEADER_LEN};
use crate::rdb::record::{self, opcode, State};
use crate::rdb::{types, Checker, Record};

/// Records held back before they are emitted (see the module doc).
const HOLD: usize = 4;
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
/// Candidates further than this after the current best one do not compete with it
/// (a scan through a huge real value after damage stays bounded).
const MAX_COMPETITION: usize = 64 << 20;
/// Confirmed candidates remembered per scan, and rounds played between them.
const MAX_RIVALS: usize = 16;
const MAX_ROUNDS: usize = 4;
/// Records each chain may read while two candidates compete.
const PREFER_RECORDS: usize = 256;
/// Boundaries remembered per scan (memory stays bounded on a huge damaged span).
const MAX_DEAD_ENDS: usize = 1 << 20;
/// This many zero bytes where a record should start are damage, not empty keys.
const ZERO_RUN: usize = 16;
/// Plausible absolute expiry times at a candidate: 2000-01-01 .. 2200-01-01 (ms).
const EXPIRE_MS_RANGE: std::ops::Range<i64> = 946_684_800_000..7_258_118_400_000;

/// Where the walk failed: the start of the record that did not parse, and the byte
/// where its error was found.
#[derive(Clone, Copy)]
struct Failure {
    record: usize,
    error: usize,
}

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
    /// The last records parsed, not yet emitted: `(start, end, record, state before it)`.
    held: std::collections::VecDeque<(usize, usize, Record<'a>, State)>,
    /// Set once EOF was emitted or the data ran out.
    done: bool,
    /// Keys read intact so far, and how many of them were printable text: when nearly
    /// all are, candidates with binary "keys" (misaligned reads of compressed or
    /// listpack bytes) are not believed.
    keys_seen: u64,
    keys_printable: u64,
    /// Set while retrying a resynchronisation that found nothing with text keys.
    allow_binary_keys: bool,
    /// Record boundaries reached by a chain that failed during the current scan, with
    /// how many records followed and where the failure was: a later candidate whose
    /// chain lands on one knows its outcome there (this keeps a scan through a long
    /// swallowing record linear).
    dead_ends: std::collections::HashMap<usize, (usize, usize)>,
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
            held: Default::default(),
            done: false,
            keys_seen: 0,
            keys_printable: 0,
            allow_binary_keys: false,
            dead_ends: Default::default(),
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
        let (start, end, record, _) = self.held.pop_front()?;
        Some(Event::Record {
            start: start as u64,
            end: end as u64,
            record,
        })
    }

    fn step(&mut self) {
        if self.pos >= self.data.len() && self.held.is_empty() {
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
            Ok((Record::Eof, end)) if self.eof_is_damage(end) => self.recover(Error::corrupt(
                self.pos as u64,
                "EOF opcode where the file goes on and the checksum after it does not match",
            )),
            Ok((rec, end)) => {
                if self.held.len() == HOLD {
                    let e = self.release_held().expect("held");
                    self.queue.push_back(e);
                }
                let is_eof = matches!(rec, Record::Eof);
                if let Record::Key(k) = &rec {
                    self.keys_seen += 1;
                    self.keys_printable += k.key.as_raw().is_none_or(is_text) as u64;
                }
                self.state.apply(&rec);
                self.held.push_back((self.pos, end, rec, before));
                self.pos = end;
                if is_eof {
                    self.eof_offset = Some(end as u64 - 1);
                    self.done = true;
                }
            }
            Err(err) => self.recover(err),
        }
    }

    /// Whether an EOF opcode ending at `end` is a damaged byte rather than the end:
    /// more than a checksum follows and the stored checksum does not match the bytes
    /// up to it (e.g. bytes deleted so that a record's last byte, 0xFF, lands where a
    /// record starts; the real records follow). A matching or disabled (0) checksum,
    /// or none (before RDB 5), is believed, as are trailing bytes after it (an AOF
    /// tail, padding).
    fn eof_is_damage(&self, end: usize) -> bool {
        let Some(stored) = self.data.get(end..end + 8) else {
            return false;
        };
        let stored = u64::from_le_bytes(stored.try_into().unwrap_or([0; 8]));
        self.state.header.version >= 5
            && end + 8 != self.data.len()
            && stored != 0
            && crate::rdb::crc64::checksum(&self.data[..end]) != stored
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
        // Scan from inside the held records: a confirmed chain there means a length in
        // one of them was damaged and it swallowed the start of its successors.
        let scan_from = self.held.front().map_or(fail + 1, |h| h.0 + 1);
        let found = self.resync(
            scan_from,
            Failure {
                record: fail,
                error: (err.offset() as usize).max(fail),
            },
        );
        let first_dropped = match found {
            Some(c) if c < fail => self.held.iter().position(|h| h.1 > c),
            _ => None,
        };
        let kept = first_dropped.unwrap_or(self.held.len());
        for _ in 0..kept {
            let e = self.release_held().expect("held");
            self.queue.push_back(e);
        }
        match (found, self.held.front()) {
            (Some(c), Some((start, end, rec, st))) if c < fail => {
                // Drop the held records from the one `c` is in; the state goes back to
                // before it.
                let (start, end) = (*start, *end);
                self.state = st.clone();
                let key = match rec {
                    Record::Key(k) => k.key.to_vec().ok(),
                    _ => None,
                };
                self.held.clear();
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
            _ => {
                if let Some((_, end, Record::Key(k), _)) = self.held.back() {
                    if *end == fail && !err.is_truncated() {
                        lost.suspect_key = k.key.to_vec().ok();
                    }
                }
                while let Some(e) = self.release_held() {
                    self.queue.push_back(e);
                }
            }
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
    fn resync(&mut self, from: usize, fail: Failure) -> Option<usize> {
        if let Some(c) = self.scan(from, fail) {
            return Some(c);
        }
        self.allow_binary_keys = true;
        let c = self.scan(from, fail);
        self.allow_binary_keys = false;
        c
    }

    /// The best confirmed chain start at or after `from`. The first confirmed candidate
    /// is not simply taken: garbage can read as a record whose length swallows real
    /// records and still be followed by records that parse (misaligned, or real ones
    /// after it). So every candidate inside the span that confirmed the current best
    /// competes with it ([`Self::prefer`]), and the scan ends past that span.
    fn scan(&mut self, from: usize, fail: Failure) -> Option<usize> {
        self.dead_ends.clear();
        let mut best: Option<(usize, usize)> = None;
        let mut rivals = Vec::new();
        for c in from..self.data.len() {
            if let Some((b, span_end)) = best {
                if c >= span_end || c >= b + MAX_COMPETITION {
                    break;
                }
            }
            if c == fail.record || !self.plausible_start(c) {
                continue;
            }
            let Some(end) = self.confirm(c, fail) else {
                continue;
            };
            match best {
                Some((b, _)) if !self.beats(c, b, fail) => {}
                _ => best = Some((c, end)),
            }
            if rivals.len() < MAX_RIVALS {
                rivals.push(c);
            }
        }
        // A candidate that lost to an earlier best may beat the later one that
        // replaced it: play the rivals against the winner until it stays.
        let mut best = best?.0;
        for _ in 0..MAX_ROUNDS {
            let before = best;
            for &r in &rivals {
                if r != best && self.beats(r, best, fail) {
                    best = r;
                }
            }
            if best == before {
                break;
            }
        }
        Some(best)
    }

    /// Whether resuming at `x` is better than at `y`.
    fn beats(&mut self, x: usize, y: usize, fail: Failure) -> bool {
        if x > y {
            self.prefer(x, y, self.kept_by(y, x, fail))
        } else {
            !self.prefer(y, x, self.kept_by(x, y, fail))
        }
    }

    /// Cheap test of the byte at `c`: an opcode, or a type id followed by a plausible
    /// key length.
    fn plausible_start(&self, c: usize) -> bool {
        let version = self.state.header.version;
        match self.data[c] {
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
            opcode::KEY_META_OR_SLOT_IMPORT if version >= 13 => true,
            b => {
                types::lookup(b, self.state.header.dialect).is_some()
                    && key_len_ok(&self.data[c + 1..])
            }
        }
    }

    /// Where a chain of plausible records that starts at `c` is confirmed: after at
    /// least [`CONFIRM`] records (or EOF), and when it starts inside the held records,
    /// as many as it takes to get past the byte where the walk's error was found. (A
    /// damaged count in a hashtable set or skiplist zset swallows the records after it
    /// as members; the real chain inside then runs for many records before the failure.
    /// A cut file has no chain past its end, so its held records stay.)
    fn confirm(&mut self, c: usize, fail: Failure) -> Option<usize> {
        let mut st = self.state.clone();
        let mut p = c;
        // A chain that starts inside the held record overrules a record that parsed
        // and passed the deep checks: it must be as long as a binary-key chain.
        let records = if self.allow_binary_keys || c < fail.record {
            CONFIRM_BINARY_KEYS
        } else {
            CONFIRM
        };
        let past = if c < fail.record { fail.error } else { c };
        let mut path = Vec::new();
        // Records read from `c`, and from the boundary where the chain stopped.
        let (mut i, mut after) = (0, 0);
        while i < records || p <= past {
            if let Some(&(r, f)) = self.dead_ends.get(&p).filter(|_| i > 0) {
                // The rest is known: `r` more records, then a failure at `f`.
                (after, p) = (r, f);
                break;
            }
            let Some((rec, end)) = self.plausible_at(p, &st, i == 0) else {
                break;
            };
            st.apply(&rec);
            path.push(p);
            p = end;
            i += 1;
            if matches!(rec, Record::Eof) {
                // EOF is only believed where the file ends, so such a chain is real
                // even when the failure's error was found further (a misaligned read
                // that ran off the end).
                return (p > fail.record).then_some(p);
            }
        }
        if i + after >= records && p > past {
            return Some(p);
        }
        if self.dead_ends.len() < MAX_DEAD_ENDS {
            let n = i + after;
            for (j, b) in path.into_iter().enumerate().skip(1) {
                self.dead_ends.insert(b, (n - j, p));
            }
        }
        None
    }

    /// The record at `p` when it parses and is plausible (`first`: the first record of
    /// a candidate chain, held to the shorter key limit).
    fn plausible_at(&mut self, p: usize, st: &State, first: bool) -> Option<(Record<'a>, usize)> {
        let max_key = if first {
            MAX_CANDIDATE_KEY as usize
        } else {
            MAX_CONFIRM_KEY
        };
        let (rec, end) = parse_at(self.data, p, st, &mut self.chk).ok()?;
        let eof_misplaced =
            matches!(rec, Record::Eof) && end != self.data.len() && end + 8 != self.data.len();
        (!eof_misplaced && self.chk_plausible(&rec, max_key)).then_some((rec, end))
    }

    /// Held records that resuming at `p` keeps and resuming at `c` drops (`c < p`):
    /// resuming inside the held records drops the one it is in and all after it. The
    /// record that ends where the walk failed does not count: damage right after a
    /// record is as often damage inside it (a length that grew and swallowed the
    /// start of the next record, then misaligned reads).
    fn kept_by(&self, c: usize, p: usize, fail: Failure) -> usize {
        self.held
            .iter()
            .filter(|h| c < h.1 && h.1 <= p && h.1 != fail.record)
            .count()
    }

    /// Whether the chain from `p` should replace the one from `c` (`c < p`, both
    /// confirmed); `kept` records are counted for `p` up front (see [`Self::kept_by`]).
    /// The two are followed side by side, always advancing the one behind: if they
    /// meet on a common boundary, the one with more records up to it wins (a record
    /// that swallowed real ones counts as one, and on a tie the earlier chain keeps its
    /// records); if one fails or runs past the other's EOF first, the other wins.
    /// Undecided after [`PREFER_RECORDS`] records: the earlier chain stays.
    fn prefer(&mut self, p: usize, c: usize, kept: usize) -> bool {
        struct Chain {
            pos: usize,
            st: State,
            read: usize,
            records: usize,
            eof: bool,
        }
        let start = |pos, records| Chain {
            pos,
            st: self.state.clone(),
            read: 0,
            records,
            eof: false,
        };
        let (mut early, mut late) = (start(c, 0), start(p, kept));
        for _ in 0..PREFER_RECORDS * 2 {
            if early.pos == late.pos {
                return late.records > early.records;
            }
            let late_behind = late.pos < early.pos;
            let x = if late_behind { &mut late } else { &mut early };
            if x.eof {
                // The other chain read past this one's EOF.
                return late_behind;
            }
            match self.plausible_at(x.pos, &x.st, x.read == 0) {
                Some((rec, end)) => {
                    x.st.apply(&rec);
                    x.eof = matches!(rec, Record::Eof);
                    x.pos = end;
                    x.read += 1;
                    x.records += 1;
                }
                None => return !late_behind,
            }
        }
        false
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
