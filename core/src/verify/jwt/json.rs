//! Strict JSON for JOSE headers and JWT claims: an object whose keys are unique at
//! every depth. serde_json keeps the last of two equal keys silently, and two parsers
//! that disagree about which one counts are an attack; so a repeated key is an error
//! here. Nesting is bounded by serde_json's recursion limit (128), which turns a
//! deeply nested document into an error instead of a stack overflow.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON value parsed with duplicate-key detection.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom("duplicate key"));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Strict(Value::Object(object)))
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON, nested too deep, a repeated key, or trailing bytes.
    Invalid,
    /// Valid JSON, but not an object.
    NotAnObject,
}

/// Parses `bytes` as one JSON object with unique keys at every depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(object))) => Ok(object),
        Ok(_) => Err(JsonError::NotAnObject),
        Err(_) => Err(JsonError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse() {
        let object = parse_object(br#"{"a":1,"b":{"c":[1,"x",null,true,1.5]}}"#).unwrap();
        assert_eq!(object.get("a"), Some(&Value::from(1)));
    }

    #[test]
    fn duplicate_keys_at_any_depth_are_refused() {
        assert_eq!(parse_object(br#"{"a":1,"a":2}"#), Err(JsonError::Invalid));
        assert_eq!(
            parse_object(br#"{"a":{"b":1,"b":1}}"#),
            Err(JsonError::Invalid)
        );
        assert_eq!(
            parse_object(br#"{"a":[{"b":1,"b":1}]}"#),
            Err(JsonError::Invalid)
        );
        // Escapes do not hide a duplicate.
        assert_eq!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#),
            Err(JsonError::Invalid)
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(3000), "]".repeat(3000));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::Invalid));
        let deep_objects = format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000));
        assert_eq!(
            parse_object(deep_objects.as_bytes()),
            Err(JsonError::Invalid)
        );
    }

    #[test]
    fn non_objects_and_trailing_bytes_are_refused() {
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotAnObject));
        assert_eq!(parse_object(b"{} x"), Err(JsonError::Invalid));
        assert_eq!(parse_object(b""), Err(JsonError::Invalid));
    }
}
