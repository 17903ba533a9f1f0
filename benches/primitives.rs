//! Criterion benchmarks of rdbkit's hot primitives, each against the crate it replaces
//! where there is one. Every benchmark first asserts the answer it is about to time
//! (memchr style: a fast engine that computes the wrong thing must fail, not win).
//!
//! * `crc64/*`: CRC-64/REDIS over 64 MiB, `rdbkit::rdb::crc64::checksum` (crc-fast) vs
//!   `crc64::crc64` (the crate on the design card).
//! * `lzf/*`: `rdbkit::rdb::lzf::decompress_into` vs `lzf::decompress`, and the
//!   write-nothing `rdbkit::rdb::lzf::check`, on 1 KiB JSON-like values and 1 MiB text.
//! * `verify/*`: whole-file verification of real server-written RDBs in memory
//!   (`verify_bytes`, the mmap path), through the streaming reader (`verify_reader`,
//!   the stdin path), a shallow record walk, and a walk of every element of every value
//!   (listpacks, intsets, quicklists, LZF strings, stream entries).
//!   Files: `/work/shared/corpus/replicator/dumpV8.rdb` (or `$RDBKIT_BENCH_CORPUS_RDB`)
//!   and the generated `benches/data/bench-50mb.rdb` (or `$RDBKIT_BENCH_RDB`; made by
//!   `bash benches/compare.sh` or `bash benches/gen_dataset.sh --size-mb 50`), whose
//!   expected key and element counts come from the server (`bench-50mb.txt`).
//!   Missing files are skipped with a note.
//!
//! Run: `cargo bench --bench primitives` (about a minute and a half).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use rdbkit::rdb::items::{self, Element};
use rdbkit::rdb::{Checker, RdbReader, Record};

fn quick(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(n: usize, mut s: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        v.extend_from_slice(&s.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(n);
    v
}

// ------------------------------------------------------------------ CRC-64

fn bench_crc64(c: &mut Criterion) {
    // Both must be CRC-64/REDIS (Jones, reflected, init 0): the standard check value first.
    assert_eq!(
        rdbkit::rdb::crc64::checksum(b"123456789"),
        0xE9C6_D914_C4B8_D9CA
    );
    assert_eq!(crc64::crc64(0, b"123456789"), 0xE9C6_D914_C4B8_D9CA);
    let data = random_bytes(64 << 20, 0x9E37_79B9_7F4A_7C15);
    let fast = rdbkit::rdb::crc64::checksum(&data);
    let table = crc64::crc64(0, &data);
    assert_eq!(
        fast, table,
        "crc-fast and the crc64 crate disagree on 64 MiB"
    );
    // and the bit-wise reference on a 1 MiB prefix
    assert_eq!(
        rdbkit::rdb::crc64::checksum(&data[..1 << 20]),
        rdbkit::rdb::crc64::checksum_reference(&data[..1 << 20])
    );

    let mut g = c.benchmark_group("crc64");
    quick(&mut g);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("rdbkit (crc-fast) 64MiB", |b| {
        b.iter(|| rdbkit::rdb::crc64::checksum(black_box(&data)))
    });
    g.bench_function("crc64 crate 64MiB", |b| {
        b.iter(|| crc64::crc64(0, black_box(&data)))
    });
    g.finish();
}

// ------------------------------------------------------------------ LZF

/// JSON-ish text built from a small vocabulary (compresses to roughly 40-60%).
fn text(n: usize, seed: u64) -> Vec<u8> {
    let r = random_bytes(n, seed);
    let words: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "w{}{}",
                i * 7919 % 1000,
                ["er", "ing", "ed", "s", ""][i % 5]
            )
        })
        .collect();
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0;
    while out.len() < n {
        match r[i % r.len()] % 16 {
            0 => out.extend_from_slice(b"{\"id\":"),
            1 => out.extend_from_slice(
                format!(
                    "{},",
                    u32::from_le_bytes([r[i % r.len()], r[(i + 1) % r.len()], 0, 0])
                )
                .as_bytes(),
            ),
            2 => out.extend_from_slice(b"\"name\":\""),
            _ => {
                out.extend_from_slice(
                    words[r[(i + 2) % r.len()] as usize % words.len()].as_bytes(),
                );
                out.push(b' ');
            }
        }
        i += 3;
    }
    out.truncate(n);
    out
}

struct LzfCase {
    name: &'static str,
    /// (compressed, original)
    values: Vec<(Vec<u8>, Vec<u8>)>,
}

impl LzfCase {
    fn new(name: &'static str, value_len: usize, count: usize) -> Self {
        let values = (0..count)
            .map(|i| {
                let orig = text(value_len, 1 + i as u64);
                let comp = lzf::compress(&orig).expect("compressible input");
                assert!(comp.len() < orig.len());
                (comp, orig)
            })
            .collect();
        LzfCase { name, values }
    }
    fn raw_bytes(&self) -> u64 {
        self.values.iter().map(|(_, o)| o.len() as u64).sum()
    }
    fn compressed_bytes(&self) -> u64 {
        self.values.iter().map(|(c, _)| c.len() as u64).sum()
    }
}

fn bench_lzf(c: &mut Criterion) {
    let cases = [
        LzfCase::new("16Ki x 1KiB values", 1024, 16 * 1024),
        LzfCase::new("16 x 1MiB values", 1 << 20, 16),
    ];
    for case in &cases {
        // The answers: both decoders give back the original; check accepts exactly the
        // right length and rejects one byte more or less.
        let mut buf = Vec::new();
        for (comp, orig) in &case.values {
            rdbkit::rdb::lzf::decompress_into(comp, orig.len(), &mut buf).unwrap();
            assert_eq!(&buf, orig, "rdbkit decompress_into");
            assert_eq!(
                &lzf::decompress(comp, orig.len()).unwrap(),
                orig,
                "lzf crate"
            );
            rdbkit::rdb::lzf::check(comp, orig.len()).unwrap();
            assert!(rdbkit::rdb::lzf::check(comp, orig.len() + 1).is_err());
            assert!(rdbkit::rdb::lzf::check(comp, orig.len() - 1).is_err());
        }
        eprintln!(
            "lzf case {}: {} bytes -> {} compressed ({:.1}%)",
            case.name,
            case.raw_bytes(),
            case.compressed_bytes(),
            100.0 * case.compressed_bytes() as f64 / case.raw_bytes() as f64
        );

        let mut g = c.benchmark_group(format!("lzf {}", case.name));
        quick(&mut g);
        // throughput in decompressed bytes
        g.throughput(Throughput::Bytes(case.raw_bytes()));
        g.bench_function("rdbkit decompress_into", |b| {
            let mut buf = Vec::new();
            b.iter(|| {
                let mut n = 0;
                for (comp, orig) in &case.values {
                    rdbkit::rdb::lzf::decompress_into(black_box(comp), orig.len(), &mut buf)
                        .unwrap();
                    n += buf.len();
                }
                n
            })
        });
        g.bench_function("lzf crate decompress", |b| {
            b.iter(|| {
                let mut n = 0;
                for (comp, orig) in &case.values {
                    n += lzf::decompress(black_box(comp), orig.len()).unwrap().len();
                }
                n
            })
        });
        g.bench_function("rdbkit check (no output)", |b| {
            b.iter(|| {
                for (comp, orig) in &case.values {
                    rdbkit::rdb::lzf::check(black_box(comp), orig.len()).unwrap();
                }
            })
        });
        g.finish();
    }
}

// ------------------------------------------------------------------ whole files

struct Expected {
    keys: u64,
    /// Per type: (keys, elements) as the server counted them (string bytes for strings).
    per_type: Vec<(String, u64, u64)>,
}

/// Reads `keys_total` and the "per type (all dbs)" table that gen_dataset.sh wrote.
fn expected_from_info(path: &Path) -> Option<Expected> {
    let text = std::fs::read_to_string(path).ok()?;
    let keys = text
        .lines()
        .find_map(|l| l.strip_prefix("keys_total: "))?
        .trim()
        .parse()
        .ok()?;
    let mut per_type = Vec::new();
    let mut in_table = false;
    for l in text.lines() {
        if l.starts_with("per type") {
            in_table = true;
            continue;
        }
        if in_table {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() == 5 && f[2] == "keys" && f[4] == "elements" {
                per_type.push((f[0].to_string(), f[1].parse().ok()?, f[3].parse().ok()?));
            }
        }
    }
    Some(Expected { keys, per_type })
}

/// Elements per logical type, counted by walking every value with `items::for_each`
/// (string values count their decoded bytes, like STRLEN).
fn walk_elements(data: &[u8]) -> Vec<(String, u64, u64)> {
    let mut reader = RdbReader::new(data, Checker::new(false)).unwrap();
    let mut totals: std::collections::BTreeMap<&'static str, (u64, u64)> = Default::default();
    while let Some(rec) = reader.next_record().unwrap() {
        if let Record::Key(k) = rec {
            let t = k.info.kind.name();
            let mut n = 0u64;
            items::for_each(&k.value, |e| {
                n += match e {
                    Element::Member(m) if t == "string" => m.len() as u64,
                    _ => 1,
                };
                Ok(())
            })
            .unwrap();
            let e = totals.entry(t).or_default();
            e.0 += 1;
            e.1 += n;
        }
    }
    totals
        .into_iter()
        .map(|(t, (k, e))| (t.to_string(), k, e))
        .collect()
}

fn bench_file(
    c: &mut Criterion,
    label: &str,
    path: &Path,
    want_keys: u64,
    info: Option<&Expected>,
) {
    let Ok(data) = std::fs::read(path) else {
        eprintln!("verify {label}: {} not found, skipped", path.display());
        return;
    };
    // The answers: status ok, checksum ok, the key count the server (or redis-check-rdb)
    // reported, the same from the streaming path, and (for the generated file) every
    // type's element total as the server counted it.
    let r = rdbkit::verify::verify_bytes("x", &data);
    assert!(r.is_ok(), "{label}: {:?} {:?}", r.status, r.error);
    assert!(
        r.checksum.as_ref().is_some_and(|c| c.ok),
        "{label}: checksum {:?}",
        r.checksum
    );
    assert_eq!(r.keys, want_keys, "{label}: keys");
    let s = rdbkit::verify::verify_reader("x", &data[..]);
    assert!(
        s.is_ok() && s.keys == want_keys,
        "{label}: stream path {:?} {}",
        s.status,
        s.keys
    );
    if let Some(info) = info {
        let mut walked = walk_elements(&data);
        let mut want = info.per_type.clone();
        walked.sort();
        want.sort();
        assert_eq!(
            walked, want,
            "{label}: (type, keys, elements) walked vs counted by the server"
        );
    }

    let mut g = c.benchmark_group(format!("verify {label}"));
    quick(&mut g);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("verify_bytes (mmap path)", |b| {
        b.iter(|| {
            let r = rdbkit::verify::verify_bytes("x", black_box(&data));
            assert!(r.keys == want_keys);
        })
    });
    g.bench_function("verify_reader (stdin path)", |b| {
        b.iter(|| {
            let r = rdbkit::verify::verify_reader("x", black_box(&data[..]));
            assert!(r.keys == want_keys);
        })
    });
    g.bench_function("records, shallow (no deep checks, no CRC)", |b| {
        b.iter(|| {
            let mut reader = RdbReader::new(black_box(&data), Checker::new(false)).unwrap();
            while reader.next_record().unwrap().is_some() {}
            assert!(reader.keys_read() == want_keys);
        })
    });
    if let Some(info) = info {
        let want_elems: u64 = info.per_type.iter().map(|t| t.2).sum();
        g.bench_function("records + items::for_each of every element", |b| {
            b.iter(|| {
                let walked = walk_elements(black_box(&data));
                assert!(walked.iter().map(|t| t.2).sum::<u64>() == want_elems);
            })
        });
    }
    g.finish();
}

fn bench_files(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // dumpV8.rdb: 92499 keys according to redis-7.0.15-check-rdb (and the corpus manifest).
    let corpus = std::env::var_os("RDBKIT_BENCH_CORPUS_RDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/corpus/replicator/dumpV8.rdb"));
    if std::env::var_os("RDBKIT_BENCH_CORPUS_RDB").is_none() {
        bench_file(c, "dumpV8.rdb (3.7 MB, 92k zsets)", &corpus, 92_499, None);
    } else if let Ok(k) = std::env::var("RDBKIT_BENCH_CORPUS_KEYS")
        .map(|s| s.parse::<u64>().expect("RDBKIT_BENCH_CORPUS_KEYS"))
    {
        bench_file(c, "corpus file", &corpus, k, None);
    } else {
        eprintln!("set RDBKIT_BENCH_CORPUS_KEYS to the key count of $RDBKIT_BENCH_CORPUS_RDB");
    }

    let generated = std::env::var_os("RDBKIT_BENCH_RDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("benches/data/bench-50mb.rdb"));
    match expected_from_info(&generated.with_extension("txt")) {
        Some(info) => {
            let label = format!(
                "{} ({:.0} MB, generated)",
                generated.file_name().unwrap().to_string_lossy(),
                std::fs::metadata(&generated).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0)
            );
            bench_file(c, &label, &generated, info.keys, Some(&info));
        }
        None => eprintln!(
            "verify: {} (with its .txt) not found, skipped; make it with `bash benches/gen_dataset.sh --size-mb 50`",
            generated.display()
        ),
    }
}

criterion_group!(benches, bench_crc64, bench_lzf, bench_files);
criterion_main!(benches);
