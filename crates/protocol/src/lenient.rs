//! Reading JSON as leniently as fastjson, which the Java broker reads headers and bodies
//! with. Clients lean on it: the C++ client (and the Python, Node and .NET clients built on it)
//! writes enums as their ordinals (`"consumeType":1`) and numbers as strings
//! (`"subVersion":"1700000000000"`); Go clients write empty collections as `null`. fastjson
//! takes a number for a string field and the reverse, `"true"`/`1` for a boolean, an
//! ordinal or a name for an enum, and `null` for anything (the field keeps its default).
//!
//! The body readers here are for `#[serde(deserialize_with = "...")]`; a body field a real
//! client may send in another shape uses one. Header fields need none: whatever JSON value a
//! client writes in `extFields` is kept as text (`command`), and `header::Fields` parses the
//! text as Java's `decodeCommandCustomHeader` does (a boolean by `Boolean.parseBoolean`, so the
//! C++ client's "1" is false there too).

use std::fmt::Display;

use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Value;

/// A JSON value where a scalar is wanted. Anything else is kept as its JSON text.
pub(crate) enum Scalar {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Str(String),
    Other(String),
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// Reads any JSON value as a `Scalar`; the header's `AppendText` uses it too for everything
/// but strings.
pub(crate) struct ScalarVisitor;

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map_or(Scalar::UInt(v), Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        let v = <Value as serde::Deserialize>::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Scalar::Other(v.to_string()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        let v = <Value as serde::Deserialize>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Scalar::Other(v.to_string()))
    }
}

impl Scalar {
    /// What a reader names in its error.
    fn describe(&self) -> String {
        match self {
            Scalar::Null => "null".into(),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Str(s) => format!("{s:?}"),
            Scalar::Other(s) => s.clone(),
        }
    }
}

fn invalid<E: Error>(what: &str, value: &Scalar) -> E {
    E::custom(format!("invalid {what}: {}", value.describe()))
}

fn out_of_range<E: Error>(value: impl Display) -> E {
    E::custom(format!("number {value} out of range"))
}

/// An integer: a number (a fraction is cut off, as Java's `intValue`), a string holding one,
/// a boolean as 1 or 0; null and an empty string leave the default.
pub(crate) fn int<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + Default,
{
    let n = match Scalar::deserialize(d)? {
        Scalar::Null => return Ok(T::default()),
        Scalar::Int(i) => i,
        Scalar::Float(f) if f.is_finite() && f.abs() < 9.2e18 => f.trunc() as i64,
        Scalar::Bool(b) => i64::from(b),
        Scalar::Str(s) => match s.trim() {
            "" | "null" => return Ok(T::default()),
            t => t.parse().map_err(|_| D::Error::custom(format!("invalid integer: {s:?}")))?,
        },
        other => return Err(invalid("integer", &other)),
    };
    T::try_from(n).map_err(|_| out_of_range(n))
}

/// A boolean as fastjson casts one: `true`/`false`; a number, true when 1; the strings
/// "true", "1", "Y", "T" and "false", "0", "N", "F" (any case); null or "" is false.
pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Null => Ok(false),
        Scalar::Bool(b) => Ok(b),
        Scalar::Int(i) => Ok(i == 1),
        Scalar::UInt(_) => Ok(false),
        Scalar::Float(f) => Ok(f.trunc() == 1.0),
        Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "y" | "t" => Ok(true),
            "false" | "0" | "n" | "f" | "" | "null" => Ok(false),
            _ => Err(invalid("boolean", &Scalar::Str(s))),
        },
        other => Err(invalid("boolean", &other)),
    }
}

/// A string; a number or boolean is taken as its text, null as "".
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_string(d)?.unwrap_or_default())
}

/// An optional string; a number or boolean is taken as its text.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Null => Ok(None),
        Scalar::Str(s) => Ok(Some(s)),
        Scalar::Int(i) => Ok(Some(i.to_string())),
        Scalar::UInt(u) => Ok(Some(u.to_string())),
        Scalar::Float(f) => Ok(Some(f.to_string())),
        Scalar::Bool(b) => Ok(Some(b.to_string())),
        other => Err(invalid("string", &other)),
    }
}

/// A Java enum constant by name, or by ordinal (its position in `names`, deprecated
/// constants included), read as its name; null or "" is none. A name is kept as sent.
pub(crate) fn java_enum<'de, D: Deserializer<'de>>(d: D, names: &[&str]) -> Result<Option<String>, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Null => Ok(None),
        Scalar::Str(s) if s.is_empty() => Ok(None),
        Scalar::Str(s) => Ok(Some(s)),
        Scalar::Int(i) => usize::try_from(i).ok().and_then(|i| names.get(i)).map(|n| Some(n.to_string())).ok_or_else(|| out_of_range(i)),
        other => Err(invalid("enum constant", &other)),
    }
}

/// A collection, or `null` for an empty one.
pub(crate) fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An `int` read by [`int`], for collections of them.
pub(crate) struct Int<T>(pub T);

impl<'de, T: TryFrom<i64> + Default> Deserialize<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d).map(Int)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default)]
    struct Fields {
        #[serde(deserialize_with = "int")]
        n: i32,
        #[serde(deserialize_with = "boolean")]
        b: bool,
        #[serde(deserialize_with = "string")]
        s: String,
        #[serde(deserialize_with = "opt_string")]
        o: Option<String>,
    }

    fn read(json: &str) -> Result<Fields, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_from_numbers_strings_and_booleans() {
        for (json, n) in [(r#"5"#, 5), (r#""5""#, 5), (r#"" -7 ""#, -7), ("2.9", 2), ("true", 1), ("null", 0), (r#""""#, 0), (r#""null""#, 0)] {
            assert_eq!(read(&format!(r#"{{"n":{json}}}"#)).map(|f| f.n), Ok(n), "{json}");
        }
        for json in [r#""x""#, "[1]", "{}", "4294967296", r#""1.5""#] {
            assert!(read(&format!(r#"{{"n":{json}}}"#)).is_err(), "{json}");
        }
    }

    #[test]
    fn booleans_as_fastjson_casts_them() {
        for json in ["true", r#""true""#, r#""TRUE""#, "1", r#""1""#, r#""Y""#, r#""t""#] {
            assert_eq!(read(&format!(r#"{{"b":{json}}}"#)).map(|f| f.b), Ok(true), "{json}");
        }
        for json in ["false", r#""false""#, "0", "2", r#""0""#, r#""N""#, "null", r#""""#] {
            assert_eq!(read(&format!(r#"{{"b":{json}}}"#)).map(|f| f.b), Ok(false), "{json}");
        }
        for json in [r#""maybe""#, "[]", "{}"] {
            assert!(read(&format!(r#"{{"b":{json}}}"#)).is_err(), "{json}");
        }
    }

    #[test]
    fn strings_from_any_scalar() {
        let f = read(r#"{"s":5,"o":true}"#).unwrap();
        assert_eq!((f.s.as_str(), f.o.as_deref()), ("5", Some("true")));
        let f = read(r#"{"s":null,"o":null}"#).unwrap();
        assert_eq!(f, Fields::default());
        assert!(read(r#"{"s":["a"]}"#).is_err());
    }
}
