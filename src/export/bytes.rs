//! Byte strings in JSON, never lossy: valid UTF-8 becomes a JSON string, anything else
//! `{"base64": "..."}`; `--bytes base64|hex` writes every byte string as a plain JSON
//! string in that encoding instead.

/// How byte strings (keys, values, members, fields, names) are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BytesMode {
    /// UTF-8 text as a string, other bytes as `{"base64": "..."}`.
    #[default]
    Auto,
    /// Every byte string is a JSON string holding its base64 (RFC 4648, padded).
    Base64,
    /// Every byte string is a JSON string holding its lowercase hex.
    Hex,
}

impl BytesMode {
    pub fn parse(s: &str) -> Result<BytesMode, String> {
        match s {
            "auto" => Ok(BytesMode::Auto),
            "base64" => Ok(BytesMode::Base64),
            "hex" => Ok(BytesMode::Hex),
            _ => Err(format!("{s:?}: expected auto, base64 or hex")),
        }
    }
}

pub use crate::base64::encode_into as base64;

/// Appends the lowercase hex of `b`.
pub fn hex(b: &[u8], out: &mut Vec<u8>) {
    const H: &[u8; 16] = b"0123456789abcdef";
    let start = out.len();
    out.resize(start + 2 * b.len(), 0);
    for (&x, pair) in b.iter().zip(out[start..].chunks_exact_mut(2)) {
        pair[0] = H[(x >> 4) as usize];
        pair[1] = H[(x & 15) as usize];
    }
}

/// What each byte becomes in a JSON string: 0 stays as it is, `u` is `\u00XX`, any
/// other value `v` is the two bytes `\v`.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Bytes that need escaping in a JSON string: controls, `"` and `\\`.
#[inline]
fn needs_escape(c: u8) -> bool {
    ESCAPE[c as usize] != 0
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of the word that is a control, `"`, `\\`, or (with
/// `ascii`) >= 0x80. Bits above the lowest may be spurious (borrows), the lowest is
/// exact: its byte is the first special one.
#[inline]
fn special_mask(w: u64, ascii: bool) -> u64 {
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    let quote = has_zero(w ^ (LO * b'"' as u64));
    let backslash = has_zero(w ^ (LO * b'\\' as u64));
    let high = if ascii { w & HI } else { 0 };
    below_space | quote | backslash | high
}

/// Bytes checked at once by [`chunk_is_special`].
const CHUNK: usize = 16;

/// Whether any byte of the chunk is special (as in [`special_mask`]): plain byte
/// compares over a fixed-size array, which the compiler turns into vector instructions.
#[inline(always)]
fn chunk_is_special(c: &[u8], ascii: bool) -> bool {
    let c: &[u8; CHUNK] = c.try_into().expect("a whole chunk");
    let mut any = 0u8;
    for &x in c {
        any |= ((x < 0x20) | (x == b'"') | (x == b'\\') | (ascii & (x >= 0x80))) as u8;
    }
    any != 0
}

#[inline(always)]
fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// Where the first special byte (as in [`special_mask`]) at or after `i` is.
#[inline]
fn next_special(b: &[u8], mut i: usize, ascii: bool) -> Option<usize> {
    while i + CHUNK <= b.len() && !chunk_is_special(&b[i..i + CHUNK], ascii) {
        i += CHUNK;
    }
    while i + 8 <= b.len() {
        let m = special_mask(word(b, i), ascii);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| needs_escape(c) || (ascii && c >= 0x80))
        .map(|p| i + p)
}

/// Length of the prefix of `b` that is plain ASCII needing no escape.
#[inline]
fn plain_ascii_prefix(b: &[u8]) -> usize {
    next_special(b, 0, true).unwrap_or(b.len())
}

/// Appends `s` as a JSON string literal (quotes included).
pub fn json_str(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape_into(s.as_bytes(), out);
    out.push(b'"');
}

/// Escapes valid UTF-8 `b` into `out`: clean runs are found a chunk at a time and
/// copied whole; a run of bytes to escape (the NUL padding of `DEBUG POPULATE` values,
/// say) is escaped into space sized for it once.
fn escape_into(b: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    while let Some(i) = next_special(b, start, false) {
        out.extend_from_slice(&b[start..i]);
        let run = b[i..]
            .iter()
            .position(|&c| !needs_escape(c))
            .unwrap_or(b.len() - i);
        escape_run(&b[i..i + run], out);
        start = i + run;
    }
    out.extend_from_slice(&b[start..]);
}

/// Escapes bytes that all need it: each run of one byte value is escaped once, then
/// copied (padding such as NUL runs costs a few copies, not work per byte).
fn escape_run(run: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < run.len() {
        let c = run[i];
        let mut n = 1;
        while i + n + 8 <= run.len() && word(run, i + n) == LO * c as u64 {
            n += 8;
        }
        while i + n < run.len() && run[i + n] == c {
            n += 1;
        }
        escape_repeated(c, n, out);
        i += n;
    }
}

/// Appends the escape of `c` (which needs one) `n` times.
fn escape_repeated(c: u8, n: usize, out: &mut Vec<u8>) {
    const H: &[u8; 16] = b"0123456789abcdef";
    let unicode = [
        b'\\',
        b'u',
        b'0',
        b'0',
        H[(c >> 4) as usize],
        H[(c & 15) as usize],
    ];
    let one: &[u8] = match ESCAPE[c as usize] {
        b'u' => &unicode,
        e => &[b'\\', e],
    };
    let total = one.len() * n;
    out.reserve(total);
    let start = out.len();
    out.extend_from_slice(one);
    // Doubling what is written so far.
    while out.len() - start < total {
        let have = out.len() - start;
        out.extend_from_within(start..start + have.min(total - have));
    }
}

/// Whether `b` is all plain ASCII needing no escape: whole chunks, then the rest as
/// overlapping words (short strings, most keys and members, as one word).
#[inline]
fn is_plain_ascii(b: &[u8]) -> bool {
    let n = b.len();
    let special = |w: u64| special_mask(w, true) != 0;
    if n >= 8 {
        let mut i = 0;
        while i + CHUNK <= n {
            if chunk_is_special(&b[i..i + CHUNK], true) {
                return false;
            }
            i += CHUNK;
        }
        if i + 8 <= n {
            if special(word(b, i)) {
                return false;
            }
            i += 8;
        }
        // The last (partial) word, read overlapping the one before.
        return i == n || !special(word(b, n - 8));
    }
    let w = if n >= 4 {
        let half = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        half(0) as u64 | (half(n - 4) as u64) << 32
    } else if n > 0 {
        // Bytes 0, n/2 and n-1 cover 1 to 3 bytes; the rest is a plain letter.
        let pad = (b'a' as u64) * LO;
        (pad & !0xff_ffff) | b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16
    } else {
        return true;
    };
    !special(w)
}

/// Appends a byte string as JSON in the given mode. The common case (plain ASCII:
/// nothing to validate or escape) is inlined into the callers; the rest is a call.
#[inline]
pub fn json_bytes(b: &[u8], mode: BytesMode, out: &mut Vec<u8>) {
    if mode == BytesMode::Auto && is_plain_ascii(b) {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
    } else {
        json_bytes_escaped(b, mode, out);
    }
}

/// [`json_bytes`] for text that needs escaping or is not text, and the other modes.
#[inline(never)]
fn json_bytes_escaped(b: &[u8], mode: BytesMode, out: &mut Vec<u8>) {
    match mode {
        BytesMode::Auto => {
            let plain = plain_ascii_prefix(b);
            if std::str::from_utf8(&b[plain..]).is_ok() {
                // (the plain prefix is ASCII: only the rest needs validating)
                out.reserve(b.len() + 2);
                out.push(b'"');
                out.extend_from_slice(&b[..plain]);
                escape_into(&b[plain..], out);
                out.push(b'"');
            } else {
                out.extend_from_slice(b"{\"base64\":\"");
                base64(b, out);
                out.extend_from_slice(b"\"}");
            }
        }
        BytesMode::Base64 => {
            out.push(b'"');
            base64(b, out);
            out.push(b'"');
        }
        BytesMode::Hex => {
            out.push(b'"');
            hex(b, out);
            out.push(b'"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn word_scan_agrees_with_bytes() {
        for c in 0..=255u8 {
            for pos in 0..8 {
                let mut w = *b"abcdefgh";
                w[pos] = c;
                let word = u64::from_le_bytes(w);
                let first = |m: u64| (m != 0).then(|| m.trailing_zeros() as usize / 8);
                let at = Some(pos);
                assert_eq!(
                    first(special_mask(word, false)),
                    at.filter(|_| needs_escape(c))
                );
                let high = needs_escape(c) || c >= 0x80;
                assert_eq!(first(special_mask(word, true)), at.filter(|_| high), "{c}");
            }
        }
        for len in 0..40 {
            for pos in 0..len {
                for c in [b'"', b'\\', 0, 0x1f, 0x80, 0xff, b'a', b'~'] {
                    let mut s = vec![b'x'; len];
                    s[pos] = c;
                    let plain = (0x20..0x80).contains(&c) && c != b'"' && c != b'\\';
                    assert_eq!(is_plain_ascii(&s), plain, "{s:?}");
                    assert_eq!(plain_ascii_prefix(&s) == len, plain, "{s:?}");
                }
            }
        }
        // Two special bytes: the first one is found (borrows never flag a byte below it).
        let chars = [b'"', b'\\', 0x1f, 0x80, b'a'];
        for len in 1..40 {
            for p in 0..len {
                for q in p..len {
                    for (&c, &d) in chars.iter().zip(chars.iter().rev()) {
                        let mut s = vec![b'x'; len];
                        s[q] = d;
                        s[p] = c;
                        let want = |ascii: bool| {
                            s.iter()
                                .position(|&x| needs_escape(x) || (ascii && x >= 0x80))
                        };
                        assert_eq!(next_special(&s, 0, true), want(true), "{s:?}");
                        assert_eq!(next_special(&s, 0, false), want(false), "{s:?}");
                    }
                }
            }
        }
        let mut long = b"0123456789abcdef0123456789".to_vec();
        assert_eq!(plain_ascii_prefix(&long), long.len());
        long[17] = b'"';
        assert_eq!(plain_ascii_prefix(&long), 17);
    }

    #[test]
    fn escaping_matches_the_byte_by_byte_rules() {
        fn reference(b: &[u8]) -> Vec<u8> {
            let mut o = Vec::new();
            for &c in b {
                match c {
                    b'"' => o.extend_from_slice(b"\\\""),
                    b'\\' => o.extend_from_slice(b"\\\\"),
                    b'\n' => o.extend_from_slice(b"\\n"),
                    b'\r' => o.extend_from_slice(b"\\r"),
                    b'\t' => o.extend_from_slice(b"\\t"),
                    c if c < 0x20 => o.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
                    c => o.push(c),
                }
            }
            o
        }
        let alphabet: &[u8] = b"ab\"\\\n\r\t\x00\x1f\x7f ";
        // Every string of up to 5 symbols, then longer ones built from a simple generator.
        let mut cases: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=5 {
            let mut idx = vec![0usize; len];
            loop {
                cases.push(idx.iter().map(|&i| alphabet[i]).collect());
                let mut k = 0;
                while k < len && idx[k] + 1 == alphabet.len() {
                    idx[k] = 0;
                    k += 1;
                }
                if k == len {
                    break;
                }
                idx[k] += 1;
            }
        }
        let mut x = 12345u32;
        for len in [7, 8, 9, 15, 16, 17, 31, 64, 100, 333] {
            for _ in 0..200 {
                cases.push(
                    (0..len)
                        .map(|_| {
                            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                            alphabet[(x >> 16) as usize % alphabet.len()]
                        })
                        .collect(),
                );
            }
        }
        for c in &cases {
            let mut got = b"prefix".to_vec();
            escape_into(c, &mut got);
            assert_eq!(&got[6..], reference(c), "{c:?}");
            let mut hexed = Vec::new();
            hex(c, &mut hexed);
            let want: String = c.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hexed, want.as_bytes());
        }
    }

    #[test]
    fn hex_vector() {
        // base64's RFC 4648 vectors are tested beside it (src/base64.rs).
        assert_eq!(s(|v| hex(b"\x00\xffa", v)), "00ff61");
    }

    #[test]
    fn json_is_valid_and_lossless() {
        let cases: &[&[u8]] = &[
            b"plain",
            b"quote\" backslash\\ nl\n cr\r tab\t nul\x00 bell\x07",
            "ключ 🔑".as_bytes(),
            b"\xff\xfe\x80invalid\x00",
            b"",
        ];
        for &c in cases {
            let text = s(|v| json_bytes(c, BytesMode::Auto, v));
            let j: serde_json::Value = serde_json::from_str(&text).unwrap();
            let back = match &j {
                serde_json::Value::String(t) => t.as_bytes().to_vec(),
                o => {
                    let b = o["base64"].as_str().unwrap();
                    assert_eq!(b, s(|v| base64(c, v)));
                    c.to_vec()
                }
            };
            assert_eq!(back, c);
        }
        assert_eq!(
            s(|v| json_bytes(b"\xff", BytesMode::Auto, v)),
            r#"{"base64":"/w=="}"#
        );
        assert_eq!(s(|v| json_bytes(b"ab", BytesMode::Hex, v)), r#""6162""#);
        assert_eq!(s(|v| json_bytes(b"ab", BytesMode::Base64, v)), r#""YWI=""#);
    }
}
