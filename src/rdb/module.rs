//! Module values, module AUX and KEY_META payloads (FORMAT.md §3.4, §3.6, §5.8).
//!
//! Their bytes are private to the module, but Redis wraps them in a self-describing
//! opcode stream (`LEN` opcode + payload, ended by opcode 0), so they can be walked,
//! sized and checked without the module.

use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;

const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const KEYMETA_CHARSET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// Splits a 64-bit module type id into its 9-character name and encoding version.
///
/// ```
/// // Redis 8's built-in vector set type (FORMAT.md §3.4).
/// let id = u64::from_be_bytes([0xbd, 0xe7, 0x2d, 0xa2, 0xbb, 0x1e, 0xb4, 0x00]);
/// assert_eq!(rdbkit::rdb::module::type_name(id), ("vectorset".to_string(), 0));
/// ```
pub fn type_name(id: u64) -> (String, u32) {
    let encver = (id & 1023) as u32;
    let mut bits = id >> 10;
    let mut name = [0u8; 9];
    for j in (0..9).rev() {
        name[j] = CHARSET[(bits & 63) as usize];
        bits >>= 6;
    }
    (String::from_utf8_lossy(&name).into_owned(), encver)
}

/// Decodes a KEY_META class spec: (4-character name, version, flags).
pub fn keymeta_class(spec: u32) -> (String, u8, u8) {
    let mut name = [0u8; 4];
    let mut bits = spec >> 8;
    for j in (0..4).rev() {
        name[j] = KEYMETA_CHARSET[(bits & 63) as usize];
        bits >>= 6;
    }
    (
        String::from_utf8_lossy(&name).into_owned(),
        ((spec >> 3) & 31) as u8,
        (spec & 7) as u8,
    )
}

/// Walks one module opcode stream up to and including its EOF opcode.
/// Returns the number of opcodes (values) it contained.
pub fn skip_opcodes(cur: &mut Cursor<'_>) -> Result<u64> {
    let mut n = 0u64;
    loop {
        let at = cur.offset();
        let op = cur
            .length()
            .map_err(|e| e.reading("a module value opcode"))?;
        match op {
            0 => return Ok(n),
            1 | 2 => {
                cur.length()?;
            }
            3 => {
                cur.take(4)?;
            }
            4 => {
                cur.take(8)?;
            }
            5 => {
                cur.string()?.check()?;
            }
            _ => {
                return Err(
                    Error::corrupt(at, format!("unknown module value opcode {op}"))
                        .reading("a module value opcode"),
                )
            }
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keymeta_examples_from_format_md() {
        assert_eq!(keymeta_class(0x2B3F7F28), ("Kz9-".into(), 5, 0));
        assert_eq!(keymeta_class(0xFB1FBBF9), ("_x_7".into(), 31, 1));
        assert_eq!(keymeta_class(0x28C4F509), ("KMT1".into(), 1, 1));
    }

    #[test]
    fn opcode_stream_walk() {
        // UINT 1, FLOAT 1.5, STRING "a", DOUBLE, EOF
        let b = [
            2, 1, 3, 0, 0, 0xc0, 0x3f, 5, 1, b'a', 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut c = Cursor::new(&b, 0);
        assert_eq!(skip_opcodes(&mut c).unwrap(), 4);
        assert!(c.is_empty());
        assert!(skip_opcodes(&mut Cursor::new(&[9], 0)).is_err());
        assert!(skip_opcodes(&mut Cursor::new(&[2, 1], 0))
            .unwrap_err()
            .is_truncated());
    }
}
