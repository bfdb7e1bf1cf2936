//! Serialisation helpers shared by the message types.

use serde::Serializer;

/// Writes a 64-bit integer as a decimal string, proto3 JSON's form for `int64`/`uint64`.
pub(crate) fn u64_as_string<S: Serializer>(
    value: &Option<u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(n) => serializer.serialize_str(&n.to_string()),
        None => serializer.serialize_none(),
    }
}

/// The `f64` with the same shortest decimal form as `x` (`0.2f32` → `0.2`, not
/// `0.20000000298023224`), so that written `float` fields read like the user's file and
/// parse back to the same `f32`.
fn decimal(x: f32) -> f64 {
    x.to_string().parse::<f64>().unwrap_or(f64::from(x))
}

/// Writes a proto `float` by its shortest decimal form.
pub(crate) fn f32_decimal<S: Serializer>(value: &f32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(decimal(*value))
}

/// Writes an optional proto `float` by its shortest decimal form.
pub(crate) fn opt_f32_decimal<S: Serializer>(
    value: &Option<f32>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(x) => serializer.serialize_f64(decimal(*x)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_their_short_form() {
        assert_eq!(decimal(0.2), 0.2);
        assert_eq!(decimal(99.9), 99.9);
        assert_eq!(decimal(0.2) as f32, 0.2f32);
    }
}
