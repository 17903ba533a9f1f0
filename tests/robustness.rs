//! Hostile input is normal input: truncation at every offset, bit flips, absurd
//! lengths, and the streaming reader agreeing with the slice reader byte for byte.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;

use rdbkit::rdb::crc64;
use rdbkit::verify::{verify_bytes, verify_reader, Report, Status};

use crate::support::{shared_dir, testdata};

/// Counts heap bytes allocated by the current thread, so a test can bound the memory
/// one call needs while other tests run in parallel.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + l.size() as u64));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new as u64));
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes allocated (not net) by `f` on this thread.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATED.with(|a| a.get());
    let r = f();
    (r, ALLOCATED.with(|a| a.get()) - before)
}

/// Builds small RDB files by hand (test-only writer).
struct Rdb(Vec<u8>);

impl Rdb {
    fn new(version: u32) -> Self {
        Rdb(format!("REDIS{version:04}").into_bytes())
    }
    fn byte(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn len(mut self, n: u64) -> Self {
        match n {
            0..=63 => self.0.push(n as u8),
            64..=16383 => self.0.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]),
            16384..=0xffff_ffff => {
                self.0.push(0x80);
                self.0.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                self.0.push(0x81);
                self.0.extend_from_slice(&n.to_be_bytes());
            }
        }
        self
    }
    fn str(self, s: &[u8]) -> Self {
        self.len(s.len() as u64).raw(s)
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.push(0xff);
        let c = crc64::checksum(&self.0);
        self.0.extend_from_slice(&c.to_le_bytes());
        self.0
    }
}

/// Reads in pieces of `n` bytes, to exercise every refill path of the stream reader.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn small_real_files() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![(
        "sample-redis-7.2.rdb".to_string(),
        std::fs::read(testdata("sample-redis-7.2.rdb")).expect("testdata sample"),
    )];
    for p in [
        "redis-tests/encodings.rdb",
        "librdb/_history/cc8dd3b/stream_v13.rdb",
        "hdt3213-rdb/valkey_hash2_with_hfe.rdb",
        "catcherwong-rdb-tools/redis_74_hash_with_field_ttl.rdb",
        "replicator/dump-stream.rdb",
        "rdb-tools/dumps/zipmap_that_compresses_easily.rdb",
        "git-hulk-rdbtools/dump2.2.rdb",
    ] {
        if let Ok(b) = std::fs::read(shared_dir().join("corpus").join(p)) {
            v.push((p.to_string(), b));
        }
    }
    v
}

/// What must agree between two reports of the same bytes.
fn essence(r: &Report) -> (Status, u64, Option<u64>, Option<String>) {
    (
        r.status,
        r.keys,
        r.error.as_ref().map(|e| e.offset),
        r.error.as_ref().map(|e| e.message.clone()),
    )
}

#[test]
fn every_prefix_is_truncated_and_stream_agrees() {
    for (name, data) in small_real_files() {
        let whole = verify_bytes(&name, &data);
        assert!(whole.is_ok(), "{name}: {}", whole.human_line());
        let end = whole.parsed_bytes as usize;
        for cut in 0..end {
            let r = verify_bytes(&name, &data[..cut]);
            assert_eq!(
                r.status,
                Status::Truncated,
                "{name} cut at {cut}: {}",
                r.human_line()
            );
            let e = r.error.as_ref().unwrap();
            assert!(
                e.offset <= cut as u64,
                "{name} cut at {cut}: error offset {} past the end",
                e.offset
            );
            if cut % 7 == 0 || cut + 9 > end {
                let s = verify_reader(&name, Trickle(&data[..cut], 1 + cut % 5));
                assert_eq!(
                    essence(&s),
                    essence(&r),
                    "{name} cut at {cut}: stream and slice disagree"
                );
            }
        }
    }
}

#[test]
fn stream_reader_matches_slice_reader_on_whole_files() {
    for (name, data) in small_real_files() {
        let a = verify_bytes(&name, &data);
        for piece in [1, 3, 64, 1 << 20] {
            let b = verify_reader(&name, Trickle(&data, piece));
            assert_eq!(
                a, b,
                "{name}: stream (pieces of {piece}) differs from slice"
            );
        }
    }
}

#[test]
fn random_bit_flips_never_panic_and_errors_stay_in_bounds() {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut verdicts = std::collections::BTreeMap::new();
    // Only files with a checksum: without one, a flipped bit inside a string is
    // undetectable by design.
    for (name, data) in small_real_files()
        .into_iter()
        .filter(|(_, d)| verify_bytes("", d).checksum.is_some_and(|c| c.ok))
    {
        for _ in 0..400 {
            let mut m = data.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() % m.len() as u64) as usize;
                m[i] ^= 1 << (next() % 8);
            }
            let r = verify_bytes(&name, &m);
            if let Some(e) = &r.error {
                assert!(
                    e.offset <= m.len() as u64,
                    "{name}: error offset {} beyond {}",
                    e.offset,
                    m.len()
                );
                assert!(!e.message.is_empty());
            }
            *verdicts.entry(r.status.as_str()).or_insert(0) += 1;
        }
    }
    // A flip anywhere is caught by a structure check or by the CRC.
    assert!(
        !verdicts.contains_key("ok"),
        "a damaged file was reported ok: {verdicts:?}"
    );
}

#[test]
fn fuzz_regressions() {
    // Each file under testdata/regress/ once made the slice and stream readers disagree
    // (or worse); they must now agree and point inside the input.
    let dir = testdata("regress");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let a = verify_bytes(&name, &data);
        let b = verify_reader(&name, Trickle(&data, 7));
        assert_eq!(essence(&a), essence(&b), "{name}");
        if let Some(e) = &a.error {
            assert!(e.offset <= data.len() as u64, "{name}");
        }
        let _ = rdbkit::rdb::owned::read_all(&data);
    }
}

#[test]
fn huge_length_claims_allocate_nothing() {
    // A string key claiming 2^63 bytes, and a list claiming 2^63 elements, in ~100 bytes.
    let cases = [
        Rdb::new(11)
            .byte(0xfe)
            .len(0)
            .byte(0)
            .len(1 << 63)
            .raw(&[b'x'; 80])
            .0,
        Rdb::new(11)
            .byte(0xfe)
            .len(0)
            .byte(1)
            .str(b"k")
            .len(1 << 63)
            .raw(&[1, b'a'])
            .0,
        Rdb::new(11)
            .byte(0xfe)
            .len(0)
            .byte(0)
            .str(b"k")
            .byte(0xc3)
            .len(3)
            .len(1 << 62)
            .raw(&[0, b'a', 0])
            .0,
        Rdb::new(11)
            .byte(0xfe)
            .len(0)
            .byte(16)
            .str(b"k")
            .len(u32::MAX as u64)
            .raw(&[0; 60])
            .0,
    ];
    for data in cases {
        let (r, bytes) = allocated_by(|| verify_bytes("hostile", &data));
        assert_ne!(r.status, Status::Ok, "{}", r.human_line());
        assert!(
            bytes < 64 * 1024,
            "{} heap bytes allocated for a {}-byte file ({})",
            bytes,
            data.len(),
            r.human_line()
        );
    }
}

#[test]
fn a_gigabyte_lzf_value_is_verified_without_a_gigabyte_of_heap() {
    // LZF: one literal 'a', then back references of 264 bytes at distance 1.
    let refs = 4_100_000u64;
    let mut lzf = vec![0x00, b'a'];
    for _ in 0..refs {
        lzf.extend_from_slice(&[0xe0, 0xff, 0x00]);
    }
    let declared = 1 + 264 * refs; // ~1.08 GB decompressed
    let data = Rdb::new(11)
        .byte(0xfe)
        .len(0)
        .byte(0)
        .str(b"big")
        .byte(0xc3)
        .len(lzf.len() as u64)
        .len(declared)
        .raw(&lzf)
        .finish();
    let (r, bytes) = allocated_by(|| verify_bytes("big", &data));
    assert!(r.is_ok(), "{}", r.human_line());
    assert!(
        bytes < 1 << 20,
        "{bytes} heap bytes to verify a {declared}-byte value"
    );
    // One byte short of the declared length is caught.
    let bad = Rdb::new(11)
        .byte(0xfe)
        .len(0)
        .byte(0)
        .str(b"big")
        .byte(0xc3)
        .len(lzf.len() as u64)
        .len(declared + 1)
        .raw(&lzf)
        .finish();
    assert_eq!(verify_bytes("bad", &bad).status, Status::Corrupt);
}

#[test]
fn synthetic_files_cover_opcodes_and_checksums() {
    let ok = Rdb::new(9)
        .byte(0xfa)
        .str(b"redis-ver")
        .str(b"6.2.0")
        .byte(0xfe)
        .len(3)
        .byte(0xfb)
        .len(1)
        .len(1)
        .byte(0xfc)
        .raw(&1_700_000_000_000i64.to_le_bytes())
        .byte(0xf8)
        .len(5)
        .byte(0)
        .str(b"k")
        .str(b"v")
        .finish();
    let r = verify_bytes("ok", &ok);
    assert!(r.is_ok(), "{}", r.human_line());
    assert_eq!(r.dbs["3"].expires, 1);
    assert_eq!(r.producer.as_deref(), Some("redis 6.2.0"));

    let mut zero = ok.clone();
    let n = zero.len();
    zero[n - 8..].fill(0);
    let r = verify_bytes("zero", &zero);
    assert!(
        r.is_ok(),
        "a zero checksum means 'not computed': {}",
        r.human_line()
    );
    assert!(r.checksum.as_ref().unwrap().disabled);

    let mut bad = ok.clone();
    bad[n - 1] ^= 1;
    assert_eq!(verify_bytes("bad", &bad).status, Status::ChecksumMismatch);

    let mut trailing = ok.clone();
    trailing.extend_from_slice(b"\n");
    let r = verify_bytes("trailing", &trailing);
    assert!(r.is_ok());
    assert_eq!(r.trailing_bytes, 1);

    // Unknown type byte 120 in a version we cover: damage, not a newer format.
    let r = verify_bytes("x", &Rdb::new(9).byte(120).str(b"k").finish());
    assert_eq!(r.status, Status::Corrupt, "{}", r.human_line());
    // KeyDB's CRON type: a known vendor type.
    let r = verify_bytes("x", &Rdb::new(9).byte(64).str(b"k").finish());
    assert_eq!(r.status, Status::Unsupported, "{}", r.human_line());
    // Dragonfly compressed blob opcode.
    let r = verify_bytes("x", &Rdb::new(9).byte(201).str(b"zz").finish());
    assert_eq!(r.status, Status::Unsupported, "{}", r.human_line());
    // Duplicate set members (plain encoding).
    let r = verify_bytes(
        "x",
        &Rdb::new(9)
            .byte(2)
            .str(b"s")
            .len(3)
            .str(b"a")
            .str(b"b")
            .str(b"a")
            .finish(),
    );
    assert_eq!(r.status, Status::Corrupt, "{}", r.human_line());
    assert!(r.error.unwrap().message.contains("duplicate"));
    // NaN score.
    let r = verify_bytes(
        "x",
        &Rdb::new(9)
            .byte(5)
            .str(b"z")
            .len(1)
            .str(b"m")
            .raw(&f64::NAN.to_le_bytes())
            .finish(),
    );
    assert_eq!(r.status, Status::Corrupt);
}

/// KEY_META (Redis 8.6, RDB 13), laid out as FORMAT.md §3.6 shows it from real 8.6.3
/// output (the LZF string of the example replaced by a raw one).
#[test]
fn key_meta_blocks_are_walked() {
    let class_a = [0x09, 0xf5, 0xc4, 0x28]; // "KMT1" v1, ALLOW_IGNORE
    let class_b = [0x28, 0x7f, 0x3f, 0x2b]; // "Kz9-" v5
    let meta = |r: Rdb| {
        r.byte(0xf3)
            .len(2)
            .raw(&class_a)
            .raw(&[0x05, 0x01, b'a', 0x02, 0x01, 0x03, 0, 0, 0xc0, 0x3f])
            .byte(5)
            .str(b"0xa.aaaaaaaaaaaaa9ep-5")
            .byte(0)
            .raw(&class_b)
            .raw(&[
                0x05, 0x02, b'b', b'b', 0x02, 0x01, 0x03, 0, 0, 0xc0, 0x3f, 0x00,
            ])
    };
    let expiry = 1_800_000_000_000i64.to_le_bytes();
    let ok = meta(
        Rdb::new(13)
            .byte(0xfe)
            .len(0)
            .byte(0xfc)
            .raw(&expiry)
            .byte(0xf9)
            .byte(6),
    )
    .byte(0)
    .str(b"k2")
    .str(b"v2")
    .finish();
    let r = verify_bytes("keymeta", &ok);
    assert!(r.is_ok(), "{}", r.human_line());
    assert_eq!((r.keys, r.expires), (1, 1));
    let keys = rdbkit::rdb::owned::read_all(&ok).unwrap();
    assert_eq!(keys[0].lfu_freq, Some(6));
    assert_eq!(keys[0].expire_ms, Some(1_800_000_000_000));

    // Every cut inside the block is truncation (redis-check-rdb 8.6.3 hangs on these).
    for cut in 9..ok.len() {
        assert_eq!(
            verify_bytes("cut", &ok[..cut]).status,
            Status::Truncated,
            "cut at {cut}"
        );
    }
    // KEY_META must come last: an expiry after it is not a key prefix any more.
    let bad = meta(Rdb::new(13).byte(0xfe).len(0))
        .byte(0xfc)
        .raw(&expiry)
        .byte(0)
        .str(b"k")
        .str(b"v")
        .finish();
    assert_ne!(verify_bytes("bad", &bad).status, Status::Ok);
    // 0 or more than 7 classes is refused.
    let bad = Rdb::new(13)
        .byte(0xfe)
        .len(0)
        .byte(0xf3)
        .len(8)
        .byte(0)
        .str(b"k")
        .str(b"v")
        .finish();
    assert_eq!(verify_bytes("bad", &bad).status, Status::Corrupt);
    // In a Valkey 9 file the same byte is SLOT_IMPORT.
    let valkey = {
        let mut v = b"VALKEY080".to_vec();
        v.extend_from_slice(&[0xf3, 40]);
        v.extend_from_slice(&[b'j'; 40]);
        v.extend_from_slice(&[1, 0, 0x40 | 0x3f, 0xff]); // one range 0-16383
        v.push(0xff);
        let c = rdbkit::rdb::crc64::checksum(&v);
        v.extend_from_slice(&c.to_le_bytes());
        v
    };
    let r = verify_bytes("valkey", &valkey);
    assert!(r.is_ok(), "{}", r.human_line());
}

#[test]
fn stream_reader_buffer_grows_with_input_not_with_claims() {
    // A string claiming ~1.5 TB, fed through the streaming reader.
    let data = Rdb::new(11)
        .byte(0xfe)
        .len(0)
        .byte(0)
        .str(b"k")
        .len(1_500_000_000_000)
        .raw(&[b'x'; 1000])
        .0;
    let (r, bytes) = allocated_by(|| verify_reader("claim", Trickle(&data, 4096)));
    assert_eq!(r.status, Status::Truncated);
    assert!(
        bytes < 4 << 20,
        "{bytes} heap bytes for a {}-byte stream",
        data.len()
    );
}

#[test]
fn huge_compressed_set_members_are_compared_without_holding_them() {
    let m1 = vec![b'a'; 8 << 20];
    let mut m2 = m1.clone();
    m2.push(b'b');
    let lzf_str = |r: Rdb, m: &[u8]| {
        let c = lzf::compress(m).unwrap();
        r.byte(0xc3).len(c.len() as u64).len(m.len() as u64).raw(&c)
    };
    let distinct = lzf_str(lzf_str(Rdb::new(9).byte(2).str(b"s").len(2), &m1), &m2).finish();
    let (r, bytes) = allocated_by(|| verify_bytes("distinct", &distinct));
    assert!(r.is_ok(), "{}", r.human_line());
    assert!(
        bytes < 1 << 20,
        "{bytes} heap bytes to compare two 8 MiB members"
    );
    let dup = lzf_str(lzf_str(Rdb::new(9).byte(2).str(b"s").len(2), &m1), &m1).finish();
    let r = verify_bytes("dup", &dup);
    assert_eq!(r.status, Status::Corrupt, "{}", r.human_line());
}

/// A reader that counts `read` calls.
struct Counted<'a>(&'a [u8], std::rc::Rc<Cell<usize>>);

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.1.set(self.1.get() + 1);
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn stream_reader_reads_in_big_chunks() {
    // 300 sets of 2000 members (~5 MB): records straddle every buffer boundary; and
    // one set of 300,000 members (~4.5 MB), bigger than any initial buffer.
    let mut r = Rdb::new(9)
        .byte(0xfe)
        .len(0)
        .byte(2)
        .str(b"huge")
        .len(300_000);
    for m in 0..300_000 {
        r = r.str(format!("member-{m:07}").as_bytes());
    }
    for k in 0..300 {
        r = r.byte(2).str(format!("set:{k}").as_bytes()).len(2000);
        for m in 0..2000 {
            r = r.str(format!("member-{m:06}").as_bytes());
        }
    }
    let data = r.finish();
    let calls = std::rc::Rc::new(Cell::new(0));
    let report = verify_reader("big", Counted(&data, calls.clone()));
    assert!(report.is_ok(), "{}", report.human_line());
    let max = data.len() / (64 * 1024) + 10;
    assert!(
        calls.get() <= max,
        "{} read calls for {} bytes (at most {max} expected)",
        calls.get(),
        data.len()
    );
}
