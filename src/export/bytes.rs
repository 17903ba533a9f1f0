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

/// Appends `s` as a JSON string literal (quotes included).
pub fn json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
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
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Appends a byte string as JSON in the given mode.
pub fn json_bytes(b: &[u8], mode: BytesMode, out: &mut Vec<u8>) {
    match mode {
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
