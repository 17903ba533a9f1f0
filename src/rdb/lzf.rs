//! LZF decompression as Redis uses it for `STR` values (FORMAT.md §2.2).
//!
//! ```text
//! ctrl < 32   literal run: copy the next ctrl+1 input bytes
//! ctrl >= 32  back reference: len = ctrl>>5 (7 = read one more byte and add it),
//!             distance = ((ctrl & 31) << 8) + next byte + 1; copy len+2 bytes
//!             from out[op - distance], byte by byte (the regions may overlap)
//! ```
//! Output must be exactly the declared length, as Redis requires.
//!
//! Two entry points: [`decompress_into`] fills a caller-owned buffer (reused across
//! records, no allocation per string), and [`check`] validates the same framing without
//! writing anything, so a multi-gigabyte compressed value is verified in O(1) memory.
//! The `lzf` crate is the reference these are tested against; it allocates a fresh
//! `Vec` per call and cannot verify without materialising the output.

/// Why a compressed blob is invalid, with the input position where it was noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LzfError {
    pub at: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for LzfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid LZF data at compressed byte {}: {}",
            self.at, self.reason
        )
    }
}

/// The largest output an LZF stream of `clen` bytes can produce: a 3-byte back
/// reference yields at most 264 bytes. A declared length above this is corrupt
/// without needing a single byte of output buffer.
pub fn max_output(clen: usize) -> u64 {
    (clen as u64).saturating_mul(88)
}

/// Receives the operations of a validated LZF stream.
trait Sink {
    /// Copies the literal run `input[ip..ip + n]` (in bounds) to output position `op`.
    fn literal(&mut self, op: usize, input: &[u8], ip: usize, n: usize);
    fn back_ref(&mut self, op: usize, dist: usize, len: usize);
}

/// Validation only: nothing is written.
struct Discard;

impl Sink for Discard {
    #[inline(always)]
    fn literal(&mut self, _: usize, _: &[u8], _: usize, _: usize) {}
    #[inline(always)]
    fn back_ref(&mut self, _: usize, _: usize, _: usize) {}
}

/// Writes into an output buffer sized to the declared length plus [`SLACK`] bytes.
/// Literal runs (at most 32 bytes) are copied as one fixed 32-byte block when the
/// input has that many bytes left, back references as one 16-byte block or eight
/// bytes at a time when they do not overlap within the block; what spills past the
/// run is overwritten by the next operation or lies in the slack, which is cut off at
/// the end. Both avoid a `memcpy` call per tiny run.
struct Output<'o>(&'o mut [u8]);

/// Spare bytes after the output for block-sized copies.
const SLACK: usize = 32;

impl Sink for Output<'_> {
    #[inline(always)]
    fn literal(&mut self, op: usize, input: &[u8], ip: usize, n: usize) {
        let from = input
            .get(ip..ip + 32)
            .and_then(|s| <&[u8; 32]>::try_from(s).ok());
        let to = self
            .0
            .get_mut(op..op + 32)
            .and_then(|s| <&mut [u8; 32]>::try_from(s).ok());
        match (from, to) {
            (Some(from), Some(to)) => *to = *from,
            // The input's last bytes: a short loop rather than a `memcpy` call.
            _ => {
                for (o, i) in self.0[op..op + n].iter_mut().zip(&input[ip..ip + n]) {
                    *o = *i;
                }
            }
        }
    }
    #[inline(always)]
    fn back_ref(&mut self, op: usize, dist: usize, n: usize) {
        let from = op - dist;
        if dist >= 16 && n <= 16 {
            // The usual short reference: one block, read entirely from bytes already
            // written (from + 16 <= op).
            let w: [u8; 16] = self.0[from..from + 16].try_into().unwrap_or([0; 16]);
            self.0[op..op + 16].copy_from_slice(&w);
        } else if dist >= 8 {
            let mut i = 0;
            while i < n {
                let w: [u8; 8] = self.0[from + i..from + i + 8].try_into().unwrap_or([0; 8]);
                self.0[op + i..op + i + 8].copy_from_slice(&w);
                i += 8;
            }
        } else {
            // Overlapping within a word (run-length patterns): byte by byte.
            for i in 0..n {
                self.0[op + i] = self.0[from + i];
            }
        }
    }
}

/// Walks the stream, handing each operation to `sink` after all bounds checks.
#[inline(always)]
fn walk(input: &[u8], out_len: usize, sink: &mut impl Sink) -> Result<(), LzfError> {
    let mut ip = 0usize;
    let mut op = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        let at = ip;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if op + n > out_len {
                return Err(LzfError {
                    at,
                    reason: "literal run past the declared length",
                });
            }
            if ip + n > input.len() {
                return Err(LzfError {
                    at,
                    reason: "literal run past the end of the input",
                });
            }
            sink.literal(op, input, ip, n);
            ip += n;
            op += n;
        } else {
            let mut len = ctrl >> 5;
            let mut dist = (ctrl & 0x1f) << 8;
            if len == 7 {
                let Some(&extra) = input.get(ip) else {
                    return Err(LzfError {
                        at,
                        reason: "back reference cut short",
                    });
                };
                len += extra as usize;
                ip += 1;
            }
            let Some(&low) = input.get(ip) else {
                return Err(LzfError {
                    at,
                    reason: "back reference cut short",
                });
            };
            ip += 1;
            dist += low as usize + 1;
            let n = len + 2;
            if op + n > out_len {
                return Err(LzfError {
                    at,
                    reason: "back reference past the declared length",
                });
            }
            if dist > op {
                return Err(LzfError {
                    at,
                    reason: "back reference before the start of the output",
                });
            }
            sink.back_ref(op, dist, n);
            op += n;
        }
    }
    if op != out_len {
        return Err(LzfError {
            at: input.len(),
            reason: "output shorter than the declared length",
        });
    }
    Ok(())
}

/// Checks that `input` decompresses to exactly `out_len` bytes, writing nothing.
pub fn check(input: &[u8], out_len: usize) -> Result<(), LzfError> {
    if is_valid(input, out_len) {
        return Ok(());
    }
    // Only damaged input gets here: the exact walk names the first bad operation.
    walk(input, out_len, &mut Discard)
}

/// Whether `input` decompresses to exactly `out_len` bytes: [`walk`]'s verdict with
/// fewer checks per operation. The input and output positions only grow, so a literal
/// run past the input or the declared length shows at the end as a final position
/// past it; only the back reference distance must be checked as it comes.
#[inline]
fn is_valid(input: &[u8], out_len: usize) -> bool {
    let (mut ip, mut op) = (0usize, 0usize);
    while let Some(&ctrl) = input.get(ip) {
        let ctrl = ctrl as usize;
        if ctrl < 32 {
            ip += ctrl + 2;
            op += ctrl + 1;
        } else {
            let mut len = ctrl >> 5;
            ip += 1;
            if len == 7 {
                let Some(&extra) = input.get(ip) else {
                    return false;
                };
                len += extra as usize;
                ip += 1;
            }
            let Some(&low) = input.get(ip) else {
                return false;
            };
            ip += 1;
            if ((ctrl & 0x1f) << 8) + low as usize + 1 > op {
                return false;
            }
            op += len + 2;
        }
    }
    ip == input.len() && op == out_len
}

/// Keeps only the last [`WINDOW`] bytes of output, handing every byte to a consumer.
struct Streaming<'f> {
    window: Vec<u8>,
    /// Output position of `window[0]`.
    base: usize,
    emit: &'f mut dyn FnMut(&[u8]),
}

/// Farthest an LZF back reference reaches.
pub const WINDOW: usize = 8192;

impl Streaming<'_> {
    fn push(&mut self, from: usize) {
        (self.emit)(&self.window[from..]);
        if self.window.len() >= 8 * WINDOW {
            let cut = self.window.len() - WINDOW;
            self.window.drain(..cut);
            self.base += cut;
        }
    }
}

impl Sink for Streaming<'_> {
    fn literal(&mut self, _: usize, input: &[u8], ip: usize, n: usize) {
        let from = self.window.len();
        self.window.extend_from_slice(&input[ip..ip + n]);
        self.push(from);
    }
    fn back_ref(&mut self, op: usize, dist: usize, n: usize) {
        let from = self.window.len();
        let src = op - dist - self.base;
        for i in 0..n {
            let b = self.window[src + i];
            self.window.push(b);
        }
        self.push(from);
    }
}

/// Decompresses piece by piece into `emit`, holding at most a few windows of output:
/// for values too big to materialise (a multi-gigabyte set member, say).
pub fn decompress_streaming(
    input: &[u8],
    out_len: usize,
    emit: &mut dyn FnMut(&[u8]),
) -> Result<(), LzfError> {
    check(input, out_len)?;
    walk(
        input,
        out_len,
        &mut Streaming {
            window: Vec::with_capacity(9 * WINDOW),
            base: 0,
            emit,
        },
    )
}

/// Decompresses into `out`, replacing its contents (its capacity is reused).
/// `out_len` is bounded by [`max_output`] of the input by the caller, so even a
/// corrupt stream cannot make this reserve more than a small multiple of its input.
pub fn decompress_into(input: &[u8], out_len: usize, out: &mut Vec<u8>) -> Result<(), LzfError> {
    if out_len as u64 > max_output(input.len()) {
        out.clear();
        return Err(LzfError {
            at: 0,
            reason: "declared length beyond what the input can produce",
        });
    }
    // Old contents are not cleared: a successful walk writes every byte up to
    // `out_len` before any back reference reads it, so only growth is zeroed.
    out.resize(out_len + SLACK, 0);
    let r = walk(input, out_len, &mut Output(out.as_mut_slice()));
    out.truncate(if r.is_ok() { out_len } else { 0 });
    r
}

/// Decompresses only the first `out.len()` bytes (for reading a blob's header without
/// inflating the whole blob); returns how many were produced (fewer when the stream
/// is shorter). Bounds are checked as in [`check`] for the part that is read.
pub fn decompress_prefix(input: &[u8], out: &mut [u8]) -> Result<usize, LzfError> {
    let want = out.len();
    let (mut ip, mut op) = (0usize, 0usize);
    let cut = |at| LzfError {
        at,
        reason: "stream cut short",
    };
    while ip < input.len() && op < want {
        let ctrl = input[ip] as usize;
        let at = ip;
        ip += 1;
        if ctrl < 32 {
            let run = input.get(ip..ip + ctrl + 1).ok_or(cut(at))?;
            let n = run.len().min(want - op);
            out[op..op + n].copy_from_slice(&run[..n]);
            ip += ctrl + 1;
            op += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or(cut(at))? as usize;
                ip += 1;
            }
            let dist = ((ctrl & 0x1f) << 8) + *input.get(ip).ok_or(cut(at))? as usize + 1;
            ip += 1;
            if dist > op {
                return Err(LzfError {
                    at,
                    reason: "back reference before the start of the output",
                });
            }
            for _ in 0..(len + 2).min(want - op) {
                out[op] = out[op - dist];
                op += 1;
            }
        }
    }
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_full_output() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 7 + i / 300) as u8).collect();
        let c = lzf::compress(&data).unwrap();
        for n in [0usize, 1, 6, 10, 33, 100, 4999, 5000, 6000] {
            let mut out = vec![0u8; n];
            let got = decompress_prefix(&c, &mut out).unwrap();
            assert_eq!(got, n.min(data.len()));
            assert_eq!(&out[..got], &data[..got], "prefix {n}");
        }
        assert!(decompress_prefix(&[0x40, 0], &mut [0u8; 4]).is_err());
    }

    fn roundtrip(data: &[u8]) {
        let Ok(c) = lzf::compress(data) else { return };
        let mut out = Vec::new();
        decompress_into(&c, data.len(), &mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(
            lzf::decompress(&c, data.len()).unwrap(),
            out,
            "reference decoder agrees"
        );
        check(&c, data.len()).unwrap();
        assert!(check(&c, data.len() + 1).is_err());
        if !data.is_empty() {
            assert!(check(&c, data.len() - 1).is_err());
        }
    }

    #[test]
    fn agrees_with_reference_decoder() {
        roundtrip(&[b'a'; 200]);
        roundtrip(b"Key that redis should compress easily Key that redis should compress easily");
        let mut x: u32 = 12345;
        let mut noisy = Vec::new();
        for i in 0..20000u32 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            noisy.push(if i % 7 < 3 {
                b'z'
            } else {
                (x >> 24) as u8 % 5 + b'a'
            });
        }
        roundtrip(&noisy);
    }

    #[test]
    fn streaming_output_equals_whole_output() {
        let mut data = Vec::new();
        for i in 0..300_000u32 {
            data.push(b"abcabcabd"[(i % 9) as usize] ^ ((i / 5000) as u8 & 1));
        }
        let c = lzf::compress(&data).unwrap();
        let mut got = Vec::new();
        decompress_streaming(&c, data.len(), &mut |piece| got.extend_from_slice(piece)).unwrap();
        assert_eq!(got, data);
    }

    /// The fast validity test gives the exact walk's verdict, on streams damaged at
    /// random and with declared lengths around the true one.
    #[test]
    fn fast_verdict_agrees_with_exact_walk() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let data: Vec<u8> = (0..3000u32)
            .map(|i| b"abcab"[(i % 5) as usize] ^ (i / 700) as u8)
            .collect();
        let c = lzf::compress(&data).unwrap();
        for _ in 0..20_000 {
            let mut m = c[..c.len() - (next() % 3) as usize].to_vec();
            for _ in 0..next() % 3 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            let len = (data.len() as i64 + (next() % 9) as i64 - 4) as usize;
            assert_eq!(
                is_valid(&m, len),
                walk(&m, len, &mut Discard).is_ok(),
                "{m:?} {len}"
            );
        }
        for _ in 0..20_000 {
            let m: Vec<u8> = (0..next() % 12).map(|_| next() as u8).collect();
            for len in 0..40 {
                assert_eq!(is_valid(&m, len), walk(&m, len, &mut Discard).is_ok());
            }
        }
    }

    #[test]
    fn rejects_reference_before_start_and_short_input() {
        assert!(check(&[0x20, 0x00], 3).is_err());
        assert!(check(&[0x05, b'a'], 6).is_err());
        assert!(check(&[0xe0], 9).is_err());
    }

    #[test]
    fn every_byte_string_is_safe() {
        // Exhaustive over short inputs: never panics, never writes past out_len.
        let mut out = Vec::new();
        for a in 0..=255u8 {
            for b in [0u8, 1, 31, 32, 200, 255] {
                for len in [0usize, 1, 2, 10, 300] {
                    let _ = decompress_into(&[a, b, b'x'], len, &mut out);
                    let _ = decompress_into(&[0, b'q', a, b], len, &mut out);
                }
            }
        }
    }
}
