//! Standard base64 (RFC 4648, padded), for byte strings shown in JSON: one copy for
//! `analyze` (keys) and `export` (values).

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the padded base64 of `b`: the output is sized once and filled in place (no
/// capacity check per byte; binary blobs and module payloads can be megabytes).
pub fn encode_into(b: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let full = b.len() / 3;
    out.resize(start + b.len().div_ceil(3) * 4, 0);
    let (body, tail) = out[start..].split_at_mut(full * 4);
    for (c, q) in b.chunks_exact(3).zip(body.chunks_exact_mut(4)) {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        q[0] = B64[(n >> 18) as usize & 63];
        q[1] = B64[(n >> 12) as usize & 63];
        q[2] = B64[(n >> 6) as usize & 63];
        q[3] = B64[n as usize & 63];
    }
    let rest = &b[full * 3..];
    if !rest.is_empty() {
        let n = rest
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (x as u32) << (16 - 8 * i));
        for (i, slot) in tail.iter_mut().enumerate() {
            *slot = if i <= rest.len() {
                B64[(n >> (18 - 6 * i)) as usize & 63]
            } else {
                b'='
            };
        }
    }
}

/// The padded base64 of `b`.
pub fn encode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len().div_ceil(3) * 4);
    encode_into(b, &mut out);
    String::from_utf8(out).expect("base64 is ASCII")
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(i.as_bytes()), o);
        }
        assert_eq!(encode(b"\xff\x00\xfe\x01"), "/wD+AQ==");
    }
}
