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
                m.serialize_entry("base64", &crate::base64::encode(self.0))?;
                m.end()
            }
        }
    }
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
    fn json_and_csv() {
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
