//! CSV fields over raw bytes (RFC 4180 quoting): one copy for `analyze` (keys, stats
//! rows) and `export` (rows per element).

use std::io::{self, Write};

/// Writes one CSV field: raw bytes, quoted when they contain a comma, quote, CR or LF
/// (quotes doubled), so any key survives a CSV reader unchanged.
pub fn write_field(w: &mut impl Write, field: &[u8]) -> io::Result<()> {
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
    use super::write_field;

    #[test]
    fn quotes_only_when_needed() {
        let mut v = Vec::new();
        write_field(&mut v, b"a,\"b\"\n").unwrap();
        assert_eq!(v, b"\"a,\"\"b\"\"\n\"");
        v.clear();
        write_field(&mut v, b"plain\xff").unwrap();
        assert_eq!(v, b"plain\xff");
    }
}
