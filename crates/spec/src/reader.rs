//! Reading proto3 JSON by hand: field spellings, unknown fields, null, int64 strings.
//!
//! The rules, for every message of the contract:
//! - a field is found under its lowerCamelCase name, its snake_case name, or a declared
//!   alias (the legacy SDK spellings); two spellings of one field in one object are an error;
//! - `null` means "not set", like an absent field;
//! - keys that are not fields are an error naming the key, except declared ignored keys;
//! - integers may be JSON numbers (integral values only) or decimal strings;
//! - floats may be numbers, decimal strings, or `"NaN"`, `"Infinity"`, `"-Infinity"`;
//! - enums are read by [`ProtoEnum`].

use serde_json::{Map, Value};

use crate::path::{At, Cx};
use crate::SpecError;

/// The fields an object may hold.
pub(crate) struct Fields {
    /// Canonical lowerCamelCase field names; their snake_case forms are accepted too.
    pub(crate) names: &'static [&'static str],
    /// Extra spellings: `(alias, canonical name)`.
    pub(crate) aliases: &'static [(&'static str, &'static str)],
    /// Keys accepted and ignored (documented legacy keys).
    pub(crate) ignored: &'static [&'static str],
}

impl Fields {
    /// Fields with no aliases and nothing ignored.
    pub(crate) const fn plain(names: &'static [&'static str]) -> Self {
        Fields {
            names,
            aliases: &[],
            ignored: &[],
        }
    }

    /// The canonical name a key spells, if any.
    fn canonical_of(&self, key: &str) -> Option<&'static str> {
        if let Some(name) = self.names.iter().find(|n| **n == key || snake_eq(n, key)) {
            return Some(name);
        }
        self.aliases
            .iter()
            .find(|(alias, _)| *alias == key)
            .map(|(_, canonical)| *canonical)
    }
}

/// Converts lowerCamelCase to snake_case (`pathCount` → `path_count`).
pub(crate) fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn snake_eq(camel: &str, key: &str) -> bool {
    key.contains('_') && snake_case(camel) == key
}

/// Describes a JSON value's type for messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", Value::String(truncate(s))),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

/// One JSON object being read as a message.
pub(crate) struct Obj<'v> {
    map: &'v Map<String, Value>,
    fields: &'static Fields,
    at: At,
}

impl<'v> Obj<'v> {
    /// Checks that `v` is an object whose keys are all fields (or ignored keys).
    pub(crate) fn new(v: &'v Value, at: &At, fields: &'static Fields) -> Result<Self, SpecError> {
        let Value::Object(map) = v else {
            return Err(SpecError::type_(
                at.written(),
                format!("expected an object, got {}", describe(v)),
            ));
        };
        for key in map.keys() {
            if fields.canonical_of(key).is_none() && !fields.ignored.contains(&key.as_str()) {
                let expected = if fields.names.is_empty() {
                    "this object has no fields".to_owned()
                } else {
                    format!("expected one of: {}", fields.names.join(", "))
                };
                return Err(SpecError::unknown_field(
                    at.child_written(key),
                    format!("unknown field `{key}`; {expected}"),
                ));
            }
        }
        Ok(Obj {
            map,
            fields,
            at: at.clone(),
        })
    }

    /// The object's own position.
    pub(crate) fn at(&self) -> &At {
        &self.at
    }

    /// True when the object has any key spelling `name` with a non-null value.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.map
            .iter()
            .any(|(k, v)| !v.is_null() && self.fields.canonical_of(k) == Some(name))
    }

    /// Finds field `name` under any of its spellings. `None` when absent or null.
    pub(crate) fn get(
        &self,
        name: &'static str,
        cx: &mut Cx,
    ) -> Result<Option<(&'v Value, At)>, SpecError> {
        debug_assert!(self.fields.names.contains(&name), "undeclared field {name}");
        let mut found: Option<(&'v str, &'v Value)> = None;
        for (key, value) in self.map {
            if self.fields.canonical_of(key) != Some(name) {
                continue;
            }
            if let Some((first, _)) = found {
                return Err(SpecError::invalid(
                    self.at.written(),
                    format!("field `{name}` is given twice, as `{first}` and as `{key}`"),
                ));
            }
            found = Some((key, value));
        }
        match found {
            Some((_, Value::Null)) | None => Ok(None),
            Some((key, value)) => Ok(Some((value, self.at.field(name, key, cx)))),
        }
    }

    /// Field `name` parsed by `parse`.
    pub(crate) fn with<T>(
        &self,
        name: &'static str,
        cx: &mut Cx,
        parse: impl FnOnce(&'v Value, &At, &mut Cx) -> Result<T, SpecError>,
    ) -> Result<Option<T>, SpecError> {
        match self.get(name, cx)? {
            None => Ok(None),
            Some((v, at)) => parse(v, &at, cx).map(Some),
        }
    }

    /// Field `name`, which must be present.
    pub(crate) fn required<T>(
        &self,
        name: &'static str,
        cx: &mut Cx,
        parse: impl FnOnce(&'v Value, &At, &mut Cx) -> Result<T, SpecError>,
    ) -> Result<T, SpecError> {
        match self.with(name, cx, parse)? {
            Some(t) => Ok(t),
            None => Err(SpecError::missing(
                self.at.child_written(name),
                format!("required field `{name}` is missing"),
            )),
        }
    }

    /// An optional string; the empty string counts as unset (proto3 default).
    pub(crate) fn opt_string(
        &self,
        name: &'static str,
        cx: &mut Cx,
    ) -> Result<Option<String>, SpecError> {
        Ok(self.with(name, cx, string)?.filter(|s| !s.is_empty()))
    }

    /// A repeated string field (absent: empty).
    pub(crate) fn strings(
        &self,
        name: &'static str,
        cx: &mut Cx,
    ) -> Result<Vec<String>, SpecError> {
        Ok(self.with(name, cx, strings)?.unwrap_or_default())
    }

    /// A repeated `google.protobuf.Value` field (absent: empty).
    pub(crate) fn values(&self, name: &'static str, cx: &mut Cx) -> Result<Vec<Value>, SpecError> {
        Ok(self.with(name, cx, values)?.unwrap_or_default())
    }

    /// An optional `int32`.
    pub(crate) fn i32(&self, name: &'static str, cx: &mut Cx) -> Result<Option<i32>, SpecError> {
        self.with(name, cx, |v, at, _| {
            int(v, at, i32::MIN as i128, i32::MAX as i128, "an int32")
        })
        .map(|o| o.map(|n| n as i32))
    }

    /// An optional `int32` count that must lie in `lo..=hi` (checked here, so that the
    /// message names the field as written).
    pub(crate) fn count(
        &self,
        name: &'static str,
        cx: &mut Cx,
        lo: u32,
        hi: u32,
    ) -> Result<Option<u32>, SpecError> {
        self.with(name, cx, |v, at, _| {
            let n = int(v, at, i32::MIN as i128, i32::MAX as i128, "an int32")?;
            if n < lo as i128 || n > hi as i128 {
                return Err(SpecError::invalid(
                    at.written(),
                    format!("must be in {lo}..={hi}, got {n}"),
                ));
            }
            Ok(n as u32)
        })
    }

    /// An optional `uint64` (number or decimal string).
    pub(crate) fn u64(&self, name: &'static str, cx: &mut Cx) -> Result<Option<u64>, SpecError> {
        self.with(name, cx, |v, at, _| {
            int(v, at, 0, u64::MAX as i128, "a uint64")
        })
        .map(|o| o.map(|n| n as u64))
    }

    /// An optional `float`.
    pub(crate) fn f32(&self, name: &'static str, cx: &mut Cx) -> Result<Option<f32>, SpecError> {
        self.with(name, cx, |v, at, _| float(v, at))
            .map(|o| o.map(|x| x as f32))
    }

    /// An optional `bool`.
    pub(crate) fn bool(&self, name: &'static str, cx: &mut Cx) -> Result<Option<bool>, SpecError> {
        self.with(name, cx, |v, at, _| match v {
            Value::Bool(b) => Ok(*b),
            other => Err(SpecError::type_(
                at.written(),
                format!("expected true or false, got {}", describe(other)),
            )),
        })
    }

    /// An optional enum; an `*_UNSPECIFIED` value reads as unset.
    pub(crate) fn enumeration<E: ProtoEnum>(
        &self,
        name: &'static str,
        cx: &mut Cx,
    ) -> Result<Option<E>, SpecError> {
        Ok(self.with(name, cx, |v, at, _| E::read(v, at))?.flatten())
    }
}

/// A string.
pub(crate) fn string(v: &Value, at: &At, _: &mut Cx) -> Result<String, SpecError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(SpecError::type_(
            at.written(),
            format!("expected a string, got {}", describe(other)),
        )),
    }
}

/// An array of strings (null elements are not allowed).
pub(crate) fn strings(v: &Value, at: &At, cx: &mut Cx) -> Result<Vec<String>, SpecError> {
    array(v, at)?
        .iter()
        .enumerate()
        .map(|(i, e)| string(e, &at.index(i), cx))
        .collect()
}

/// An array of arbitrary values.
pub(crate) fn values(v: &Value, at: &At, _: &mut Cx) -> Result<Vec<Value>, SpecError> {
    Ok(array(v, at)?.clone())
}

/// The elements of an array.
pub(crate) fn array<'v>(v: &'v Value, at: &At) -> Result<&'v Vec<Value>, SpecError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(SpecError::type_(
            at.written(),
            format!("expected an array, got {}", describe(other)),
        )),
    }
}

/// The entries of a map field (a JSON object with user-chosen keys).
pub(crate) fn map<'v>(v: &'v Value, at: &At) -> Result<&'v Map<String, Value>, SpecError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(SpecError::type_(
            at.written(),
            format!("expected an object, got {}", describe(other)),
        )),
    }
}

/// An integer in `lo..=hi`, from a number or a decimal string.
pub(crate) fn int(v: &Value, at: &At, lo: i128, hi: i128, what: &str) -> Result<i128, SpecError> {
    let bad = || {
        SpecError::type_(
            at.written(),
            format!("expected {what}, got {}", describe(v)),
        )
    };
    let n: i128 = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i as i128
            } else if let Some(u) = n.as_u64() {
                u as i128
            } else {
                let f = n.as_f64().ok_or_else(bad)?;
                if f.fract() != 0.0 || !f.is_finite() || f.abs() > 1.8e19 {
                    return Err(bad());
                }
                f as i128
            }
        }
        Value::String(s) => s.trim().parse::<i128>().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    if n < lo || n > hi {
        return Err(SpecError::type_(
            at.written(),
            format!("expected {what}, got {n}, which is out of range"),
        ));
    }
    Ok(n)
}

/// A float from a number, a decimal string, or `"NaN"` / `"Infinity"` / `"-Infinity"`.
pub(crate) fn float(v: &Value, at: &At) -> Result<f64, SpecError> {
    let bad = || {
        SpecError::type_(
            at.written(),
            format!("expected a number, got {}", describe(v)),
        )
    };
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(bad),
        Value::String(s) => match s.trim() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            t => t
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(bad),
        },
        _ => Err(bad()),
    }
}

/// Enums of the contract: read case-insensitively by name or by proto number, written
/// by name.
pub(crate) trait ProtoEnum: Copy + 'static {
    /// The enum's name in messages (e.g. `InputMetadata.Encoding`).
    const TYPE_NAME: &'static str;
    /// Every value.
    fn all() -> &'static [Self];
    /// The canonical name (`IDENTITY`, or `numeric` for the string-valued modality).
    fn name(self) -> &'static str;
    /// The proto number, for enums that have one.
    fn number(self) -> Option<i32>;
    /// Names and numbers that mean "not set" (`ENCODING_UNSPECIFIED`, 0).
    fn unspecified() -> (&'static [&'static str], Option<i32>) {
        (&[], None)
    }
    /// Extra accepted names (the legacy SDK's spellings).
    fn aliases() -> &'static [(&'static str, Self)] {
        &[]
    }

    /// Finds a value by name, ignoring case. `Some(None)` for an "unspecified" name.
    fn lookup(name: &str) -> Option<Option<Self>> {
        let name = name.trim();
        if Self::unspecified()
            .0
            .iter()
            .any(|u| u.eq_ignore_ascii_case(name))
        {
            return Some(None);
        }
        Self::all()
            .iter()
            .copied()
            .find(|v| v.name().eq_ignore_ascii_case(name))
            .or_else(|| {
                Self::aliases()
                    .iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(name))
                    .map(|(_, v)| *v)
            })
            .map(Some)
    }

    /// Reads a JSON value; `Ok(None)` for an "unspecified" value.
    fn read(v: &Value, at: &At) -> Result<Option<Self>, SpecError> {
        let unknown = |shown: String| {
            let names: Vec<&str> = Self::all().iter().map(|v| v.name()).collect();
            let numbers: Vec<i32> = Self::all().iter().filter_map(|v| v.number()).collect();
            let numbers = if numbers.is_empty() {
                String::new()
            } else {
                let (lo, hi) = (
                    numbers.iter().min().copied().unwrap_or(0),
                    numbers.iter().max().copied().unwrap_or(0),
                );
                let lo = Self::unspecified().1.map_or(lo, |u| u.min(lo));
                format!(", or a proto number {lo}..={hi}")
            };
            SpecError::unknown_enum(
                at.written(),
                format!(
                    "unknown {} value {shown}; expected one of {} (any case){numbers}",
                    Self::TYPE_NAME,
                    names.join(", ")
                ),
            )
        };
        match v {
            Value::String(s) => {
                Self::lookup(s).ok_or_else(|| unknown(Value::String(truncate(s)).to_string()))
            }
            Value::Number(n) => {
                let has_numbers = Self::all().iter().any(|v| v.number().is_some());
                let Some(i) = n.as_i64().filter(|_| has_numbers) else {
                    return Err(unknown(n.to_string()));
                };
                if Self::unspecified().1 == Some(i as i32) && i32::try_from(i).is_ok() {
                    return Ok(None);
                }
                Self::all()
                    .iter()
                    .copied()
                    .find(|v| v.number().map(i64::from) == Some(i))
                    .map(Some)
                    .ok_or_else(|| unknown(n.to_string()))
            }
            other => Err(SpecError::type_(
                at.written(),
                format!(
                    "expected a {} name (string){}, got {}",
                    Self::TYPE_NAME,
                    if Self::all().iter().any(|v| v.number().is_some()) {
                        " or number"
                    } else {
                        ""
                    },
                    describe(other)
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_case_of_camel() {
        assert_eq!(snake_case("pathCount"), "path_count");
        assert_eq!(
            snake_case("featureAttributionsSchemaUri"),
            "feature_attributions_schema_uri"
        );
        assert_eq!(snake_case("topK"), "top_k");
        assert_eq!(snake_case("inputs"), "inputs");
    }

    #[test]
    fn ints_from_numbers_and_strings() {
        let at = At::root();
        assert_eq!(int(&json!(10), &at, 0, 100, "x").ok(), Some(10));
        assert_eq!(int(&json!("10"), &at, 0, 100, "x").ok(), Some(10));
        assert_eq!(int(&json!(10.0), &at, 0, 100, "x").ok(), Some(10));
        assert!(int(&json!(10.5), &at, 0, 100, "x").is_err());
        assert!(int(&json!("ten"), &at, 0, 100, "x").is_err());
        assert!(int(&json!(101), &at, 0, 100, "x").is_err());
        assert!(int(&json!(true), &at, 0, 100, "x").is_err());
        assert_eq!(
            int(
                &json!("18446744073709551615"),
                &at,
                0,
                u64::MAX as i128,
                "x"
            )
            .ok(),
            Some(u64::MAX as i128)
        );
    }

    #[test]
    fn floats_from_numbers_and_strings() {
        let at = At::root();
        assert_eq!(float(&json!(0.5), &at).ok(), Some(0.5));
        assert_eq!(float(&json!("0.5"), &at).ok(), Some(0.5));
        assert!(float(&json!("NaN"), &at).is_ok_and(f64::is_nan));
        assert_eq!(
            float(&json!("-Infinity"), &at).ok(),
            Some(f64::NEG_INFINITY)
        );
        assert!(float(&json!("abc"), &at).is_err());
        assert!(float(&json!([1]), &at).is_err());
    }
}
