//! Doubles as text, fast: zset scores are a large share of some datasets, and going
//! through `core::fmt` costs several hundred instructions per score.

/// Appends `x` exactly as `format!("{x:?}")` writes it (the shortest text that reads
/// back to the same double). Both `zmij` and `Debug` find the shortest digits that read
/// back, and of those the closest to `x`; they differ only when two candidates are
/// exactly as close (`Debug` rounds half up, `zmij` half to even): those ties go
/// through `core::fmt`, as do infinities and NaN. `Debug` writes plain decimals from
/// 1e-4 up to 1e16 and `1.5e-7` / `1e16` outside; `zmij` switches at other bounds and
/// writes `1e+16`, so outside that range its digits are rewritten in `Debug`'s form.
pub fn shortest(x: f64, out: &mut Vec<u8>) {
    // Whole numbers (a third of the scores in the benchmark data) are their integer
    // and ".0"; a number below 2^53 in magnitude converts to i64 exactly.
    if x.fract() == 0.0 && x.abs() < (1u64 << 53) as f64 && (x != 0.0 || x.is_sign_positive()) {
        out.extend_from_slice(itoa::Buffer::new().format(x as i64).as_bytes());
        out.extend_from_slice(b".0");
        return;
    }
    if x.is_finite() {
        let mut buf = zmij::Buffer::new();
        let text = buf.format_finite(x).as_bytes();
        if x == 0.0 || (1e-4..1e16).contains(&x.abs()) {
            // (an exponent, `e-5` or `e+300`, sits within the last five bytes)
            let has_exponent = text.iter().rev().take(5).any(|&c| c == b'e');
            if !has_exponent && !is_tie(x, text) {
                out.extend_from_slice(text);
                return;
            }
        } else if exponent_form(x, text, out) {
            return;
        }
    }
    use std::io::Write as _;
    let _ = write!(out, "{x:?}");
}

/// Appends `Debug`'s exponent form (`-1.25e-7`) of nonzero finite `x` from `zmij`'s
/// text for it (`-1.25e-07`, `1e+16`, or plain `0.00001`), unless `x` is a tie.
fn exponent_form(x: f64, text: &[u8], out: &mut Vec<u8>) -> bool {
    let (sign, body) = match text.split_first() {
        Some((b'-', rest)) => (&b"-"[..], rest),
        _ => (&b""[..], text),
    };
    let (mantissa, mut exp) = match body.iter().position(|&c| c == b'e') {
        Some(e) => {
            let digits = body[e + 1..].strip_prefix(b"+").unwrap_or(&body[e + 1..]);
            let Some(n) = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<i32>().ok())
            else {
                return false;
            };
            (&body[..e], n)
        }
        None => (body, 0),
    };
    // The significant digits, and where the point sits among them.
    let point = mantissa
        .iter()
        .position(|&c| c == b'.')
        .unwrap_or(mantissa.len());
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut leading = 0i32;
    for &c in mantissa.iter().filter(|&&c| c != b'.') {
        if !c.is_ascii_digit() || n == digits.len() {
            return false;
        }
        if n == 0 && c == b'0' {
            leading += 1;
            continue;
        }
        digits[n] = c;
        n += 1;
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    if n == 0 {
        return false;
    }
    exp += point as i32 - 1 - leading;
    if is_tie_at(x, n as i32 - 1 - exp) {
        return false;
    }
    out.extend_from_slice(sign);
    out.push(digits[0]);
    if n > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..n]);
    }
    out.push(b'e');
    out.extend_from_slice(itoa::Buffer::new().format(exp).as_bytes());
    true
}

/// Whether finite `x` lies exactly halfway between two decimals with as many places as
/// `text` (its plain decimal form) has.
fn is_tie(x: f64, text: &[u8]) -> bool {
    let places = match text.iter().position(|&c| c == b'.') {
        Some(p) if &text[p + 1..] != b"0" => (text.len() - p - 1) as i32,
        _ => 0,
    };
    is_tie_at(x, places)
}

/// Whether finite `x` lies exactly halfway between two multiples of `10^-places`:
/// whether `2 * x * 10^places` is an odd integer. With `x = m * 2^e` that number is
/// `m * 5^places * 2^(e + 1 + places)`: for `places >= 0` odd exactly when the power
/// of two cancels out; for `places = -q < 0` it also needs `5^q` to divide `m`.
fn is_tie_at(x: f64, places: i32) -> bool {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    if m == 0 || m.trailing_zeros() as i32 + e + 1 + places != 0 {
        return false;
    }
    // m < 2^53 < 5^23
    places >= 0 || (places >= -22 && m % 5u64.pow(places.unsigned_abs()) == 0)
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
            // Around the whole-number fast path's bound.
            ((1u64 << 53) - 1) as f64,
            -(((1u64 << 53) - 1) as f64),
            (1u64 << 53) as f64,
            ((1u64 << 53) + 2) as f64,
            4503599627370497.0,
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
        // Exponent forms: big integers halfway between two 17-digit candidates, tiny values.
        for i in 0..100_000u64 {
            for x in [
                ((1u64 << 60) + i * 1_000_003) as f64 * 1024.0,
                ((1u64 << 53) + i * 2 + 1) as f64 * 5f64.powi(7),
                1e-5 / ((i % 977) as f64 + 1.0),
                (i as f64 + 0.5) * 1e-300,
            ] {
                for x in [x, -x] {
                    assert_eq!(text(x), format!("{x:?}"), "{:#x}", x.to_bits());
                }
            }
        }
        assert!(
            is_tie_at(25.0, -1)
                && is_tie_at(35.0, -1)
                && !is_tie_at(20.0, -1)
                && !is_tie_at(26.0, -1)
        );
    }
}
