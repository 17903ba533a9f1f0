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

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the padded base64 of `b`.
pub fn base64(b: &[u8], out: &mut Vec<u8>) {
    out.reserve(b.len().div_ceil(3) * 4);
    let mut chunks = b.chunks_exact(3);
    for c in &mut chunks {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        out.extend_from_slice(&[
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            B64[(n >> 6) as usize & 63],
            B64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = (a as u32) << 16;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (a as u32) << 16 | (b as u32) << 8;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                B64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// Appends the lowercase hex of `b`.
pub fn hex(b: &[u8], out: &mut Vec<u8>) {
    const H: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() * 2);
    for &x in b {
        out.extend_from_slice(&[H[(x >> 4) as usize], H[(x & 15) as usize]]);
    }
}

/// Bytes that need escaping in a JSON string: controls, `"` and `\\`.
#[inline]
fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of the word is a control, `"`, `\\`, or (with `ascii`) >= 0x80.
#[inline]
fn word_is_special(w: u64, ascii: bool) -> bool {
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    let quote = has_zero(w ^ (LO * b'"' as u64));
    let backslash = has_zero(w ^ (LO * b'\\' as u64));
    let high = if ascii { w & HI } else { 0 };
    (below_space | quote | backslash | high) != 0
}

/// Length of the prefix of `b` that is plain ASCII needing no escape.
#[inline]
fn plain_ascii_prefix(b: &[u8]) -> usize {
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if word_is_special(w, true) {
            break;
        }
        i += 8;
    }
    while i < b.len() && b[i] < 0x80 && !needs_escape(b[i]) {
        i += 1;
    }
    i
}

/// Appends `s` as a JSON string literal (quotes included).
pub fn json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    escape_into(s.as_bytes(), out);
    out.push(b'"');
}

/// Escapes valid UTF-8 `b` into `out`: clean runs are copied whole.
fn escape_into(b: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if i + 8 <= b.len() {
            let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            if !word_is_special(w, false) {
                i += 8;
                continue;
            }
        }
        let c = b[i];
        if !needs_escape(c) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c => {
                const H: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[H[(c >> 4) as usize], H[(c & 15) as usize]]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
}

/// Appends a byte string as JSON in the given mode.
pub fn json_bytes(b: &[u8], mode: BytesMode, out: &mut Vec<u8>) {
    match mode {
        BytesMode::Auto if plain_ascii_prefix(b) == b.len() => {
            // The common case: nothing to validate or escape.
            out.reserve(b.len() + 2);
            out.push(b'"');
            out.extend_from_slice(b);
            out.push(b'"');
        }
        BytesMode::Auto => match std::str::from_utf8(b) {
            Ok(s) => json_str(s, out),
            Err(_) => {
                out.extend_from_slice(b"{\"base64\":\"");
                base64(b, out);
                out.extend_from_slice(b"\"}");
            }
        },
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
                assert_eq!(word_is_special(word, false), needs_escape(c), "{c}");
                assert_eq!(
                    word_is_special(word, true),
                    needs_escape(c) || c >= 0x80,
                    "{c}"
                );
            }
        }
        let mut long = b"0123456789abcdef0123456789".to_vec();
        assert_eq!(plain_ascii_prefix(&long), long.len());
        long[17] = b'"';
        assert_eq!(plain_ascii_prefix(&long), 17);
    }

    #[test]
    fn rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(s(|v| base64(i.as_bytes(), v)), o);
        }
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
