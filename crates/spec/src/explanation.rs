//! The response: `Explanation`, `Attribution`, `Neighbor`.
//!
//! These are written by Prism and read back by clients and tests, so they derive serde
//! both ways: camelCase out, camelCase or snake_case in, unknown fields rejected. Doubles
//! that are not finite are written the proto3 JSON way (`"NaN"`, `"Infinity"`,
//! `"-Infinity"`) rather than as `null`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SpecError;

/// The explanation of one instance (`google.cloud.aiplatform.v1.Explanation`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Explanation {
    /// One attribution per explained output: sorted by `instance_output_value`,
    /// descending, with `topK`; in `outputIndices` order with those. Empty for
    /// example-based models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributions: Vec<Attribution>,
    /// Example-based models: the nearest examples, nearest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbors: Vec<Neighbor>,
}

/// The attribution of one output (`google.cloud.aiplatform.v1.Attribution`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attribution {
    /// The output at the baseline (averaged over the baselines when there are several).
    #[serde(default, alias = "baseline_output_value", with = "proto_double")]
    pub baseline_output_value: f64,
    /// The output at the instance.
    #[serde(default, alias = "instance_output_value", with = "proto_double")]
    pub instance_output_value: f64,
    /// Attributions shaped like the instance: an object of feature (or group) name →
    /// number or nested array.
    #[serde(
        default,
        alias = "feature_attributions",
        skip_serializing_if = "Value::is_null"
    )]
    pub feature_attributions: Value,
    /// The position of the explained output; absent for a scalar output.
    #[serde(
        default,
        alias = "output_index",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_index: Option<Vec<i32>>,
    /// The output's display name (from `indexDisplayNameMapping` or
    /// `displayNameMappingKey`).
    #[serde(
        default,
        alias = "output_display_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_display_name: Option<String>,
    /// The method's approximation error (for IG and XRAI the relative completeness gap;
    /// for Sampled Shapley the engine documents its definition).
    #[serde(default, alias = "approximation_error", with = "proto_double")]
    pub approximation_error: f64,
    /// The output's name: the key of `ExplanationMetadata.outputs`.
    #[serde(default, alias = "output_name")]
    pub output_name: String,
}

/// One nearest example (`google.cloud.aiplatform.v1.Neighbor`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Neighbor {
    /// The example's `id`.
    #[serde(default, alias = "neighbor_id")]
    pub neighbor_id: String,
    /// Its distance to the instance, in the index's distance measure.
    #[serde(default, alias = "neighbor_distance", with = "proto_double")]
    pub neighbor_distance: f64,
}

impl Explanation {
    /// Reads an explanation from JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, SpecError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed: Explanation = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
        de.end()
            .map_err(|e| SpecError::syntax("", format!("invalid JSON: {e}")))?;
        Ok(parsed)
    }

    /// Reads an explanation from a JSON value.
    pub fn from_value(value: Value) -> Result<Self, SpecError> {
        serde_path_to_error::deserialize(value).map_err(path_error)
    }

    /// Writes the explanation as camelCase Vertex JSON.
    pub fn to_json_value(&self) -> Value {
        // Serialising these types cannot fail: every map key is a string.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> SpecError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = e.inner().to_string();
    if message.contains("unknown field") {
        SpecError::unknown_field(path, message)
    } else if message.contains("missing field") {
        SpecError::missing(path, message)
    } else if message.contains("invalid type") || message.contains("invalid value") {
        SpecError::type_(path, message)
    } else {
        SpecError::syntax(path, message)
    }
}

/// proto3 JSON doubles: numbers, or the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
mod proto_double {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            serializer.serialize_f64(*x)
        } else if x.is_nan() {
            serializer.serialize_str("NaN")
        } else if *x > 0.0 {
            serializer.serialize_str("Infinity")
        } else {
            serializer.serialize_str("-Infinity")
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_any(DoubleVisitor)
    }

    struct DoubleVisitor;

    impl Visitor<'_> for DoubleVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number or \"NaN\" / \"Infinity\" / \"-Infinity\"")
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            match v {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => other
                    .parse::<f64>()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_finite_doubles_round_trip_as_strings() {
        let a = Attribution {
            approximation_error: f64::NAN,
            instance_output_value: f64::INFINITY,
            ..Attribution::default()
        };
        let v = serde_json::to_value(&a).unwrap_or(Value::Null);
        assert_eq!(v["approximationError"], json!("NaN"));
        assert_eq!(v["instanceOutputValue"], json!("Infinity"));
        let back: Attribution = serde_json::from_value(v).unwrap_or_default();
        assert!(back.approximation_error.is_nan());
        assert_eq!(back.instance_output_value, f64::INFINITY);
    }
}
