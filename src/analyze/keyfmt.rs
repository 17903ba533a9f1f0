//! Binary-safe key output: JSON (a UTF-8 string, else `{"base64": ...}`) and CSV
//! fields (RFC 4180 quoting over the raw bytes).

use std::io::{self, Write};

/// A key for JSON: the string itself when it is valid UTF-8, else `{"base64": "..."}`
/// (standard alphabet, padded), so every key round-trips exactly.
pub struct JsonKey<'a>(pub &'a [u8]);

impl serde::Serialize for JsonKey<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("base64", &base64(self.0))?;
                m.end()
            }
        }
    }
}

pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes one CSV field: raw bytes, quoted when they contain a comma, quote, CR or LF
/// (quotes doubled), so any key survives a CSV reader unchanged.
pub fn write_csv_field(w: &mut impl Write, field: &[u8]) -> io::Result<()> {
    if field
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        w.write_all(b"\"")?;
        for part in field.split(|&b| b == b'"').enumerate() {
            if part.0 > 0 {
                w.write_all(b"\"\"")?;
            }
            w.write_all(part.1)?;
        }
        w.write_all(b"\"")
    } else {
        w.write_all(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_csv() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"\xff\x00\xfe\x01"), "/wD+AQ==");
        assert_eq!(
            serde_json::to_string(&JsonKey(b"a\"b")).unwrap(),
            r#""a\"b""#
        );
        assert_eq!(
            serde_json::to_string(&JsonKey(b"\xff")).unwrap(),
            r#"{"base64":"/w=="}"#
        );
        let mut v = Vec::new();
        write_csv_field(&mut v, b"a,\"b\"\n").unwrap();
        assert_eq!(v, b"\"a,\"\"b\"\"\n\"");
        v.clear();
        write_csv_field(&mut v, b"plain\xff").unwrap();
        assert_eq!(v, b"plain\xff");
    }
}
