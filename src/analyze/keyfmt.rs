//! Binary-safe key output for JSON: a UTF-8 string, else `{"base64": ...}`.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys() {
        assert_eq!(
            serde_json::to_string(&JsonKey(b"a\"b")).unwrap(),
            r#""a\"b""#
        );
        assert_eq!(
            serde_json::to_string(&JsonKey(b"\xff")).unwrap(),
            r#"{"base64":"/w=="}"#
        );
    }
}
