//! Doubles as text, fast: zset scores are a large share of some datasets, and going
//! through `core::fmt` costs several hundred instructions per score.

/// Appends `x` exactly as `format!("{x:?}")` writes it (the shortest text that reads
/// back to the same double). Both `zmij` and `Debug` find the shortest digits that read
/// back, and of those the closest to `x`; for finite values from 1e-4 up to 1e16 `zmij`
/// also writes them as `Debug` does (plain decimals). They differ only when two
/// candidates are exactly as close (`Debug` rounds half up, `zmij` half to even), so
/// those go through `core::fmt`, as do exponent notation, infinities and NaN.
pub fn shortest(x: f64, out: &mut Vec<u8>) {
    let a = x.abs();
    if x == 0.0 || (1e-4..1e16).contains(&a) {
        let mut buf = zmij::Buffer::new();
        let text = buf.format_finite(x).as_bytes();
        if !text.contains(&b'e') && !is_tie(x, text) {
            out.extend_from_slice(text);
            return;
        }
    }
    use std::io::Write as _;
    let _ = write!(out, "{x:?}");
}

/// Whether finite `x` lies exactly halfway between two decimals with as many places as
/// `text` (its plain decimal form) has: whether `2 * x * 10^places` is an odd integer.
/// With `x = m * 2^e` that number is `m * 5^places * 2^(e + 1 + places)`, odd exactly
/// when the power of two cancels out.
fn is_tie(x: f64, text: &[u8]) -> bool {
    let places = match text.iter().position(|&c| c == b'.') {
        Some(p) if &text[p + 1..] != b"0" => (text.len() - p - 1) as i32,
        _ => 0,
    };
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    m != 0 && m.trailing_zeros() as i32 + e + 1 + places == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: f64) -> String {
        let mut v = Vec::new();
        shortest(x, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn same_text_as_debug() {
        let mut fixed = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.0001,
            0.00009999999999999999,
            1e-4,
            1e-5,
            1e15,
            9999999999999998.0,
            1e16,
            1e17,
            123456.789,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e16_f64.next_down(),
            1e-4_f64.next_down(),
            1e-4_f64.next_up(),
            // Exact ties between two candidates (17, 16 and 2 digits).
            142649162933889.62,
            -142649162933889.62,
            1125899906842624.5,
            0.125,
            2.5,
        ];
        // Integers, 4-decimal values and random bit patterns over every exponent.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            fixed.push(f64::from_bits(s));
            fixed.push((s % 2_000_001) as f64 - 1_000_000.0);
            fixed.push(((s % 20_000_000_001) as f64 - 1e10) / 1e4);
            fixed.push((s >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi(i % 41 - 20));
        }
        // Halves and quarters of big integers: ties at 15, 16 and 17 digits.
        for i in 0..100_000u64 {
            let base = (1u64 << 50) + i * 7_919;
            fixed.push(base as f64 + 0.5);
            fixed.push(base as f64 / 4.0 + 0.25);
            fixed.push(base as f64 / 8.0 + 0.125);
        }
        for x in fixed {
            assert_eq!(text(x), format!("{x:?}"), "{:#x}", x.to_bits());
        }
        assert!(is_tie(142649162933889.62, b"142649162933889.62"));
        assert!(!is_tie(142649162933889.62, b"142649162933889.625"));
        assert!(!is_tie(0.1, b"0.1") && !is_tie(-3.0, b"-3.0"));
    }
}
