//! The legacy metadata file of the `explainable_ai_sdk` Python package
//! (`explanation_metadata.json` next to a SavedModel).
//!
//! It is read by the same parser as Vertex metadata: it is snake_case (which every field
//! accepts) with lowercase enum values (enums ignore case), and differs only in the
//! spellings and extra keys listed here:
//!
//! | legacy | Vertex |
//! |---|---|
//! | `domain{min, max, original_mean, original_stddev}` | `featureValueDomain{minValue, maxValue, originalMean, originalStddev}` |
//! | `visualization.clip_above_percentile` / `clip_below_percentile` | `clipPercentUpperbound` / `clipPercentLowerbound` |
//! | `visualization.overlay_type: "mask"` | `MASK_BLACK` |
//! | `outputs.*.index_name_mapping` / `index_name_mapping_key` | `indexDisplayNameMapping` / `displayNameMappingKey` |
//!
//! Ignored keys, which only steer TensorFlow graph plumbing or cosmetics Prism does not
//! have: top-level [`IGNORED_TOP_LEVEL`], per input [`IGNORED_INPUT`], per visualization
//! [`IGNORED_VISUALIZATION`], per output [`IGNORED_OUTPUT`]. Every other unknown key is
//! still an error. The SDK's weighted-categorical tensors (`weight_values_name`, …) and the
//! `"structured"` modality have no Prism equivalent and are rejected.

use serde_json::Value;

/// Top-level keys of a legacy file that are read and ignored.
pub const IGNORED_TOP_LEVEL: &[&str] = &[
    "framework",
    "tags",
    "preparer_version",
    "sigdef_inputs",
    "embeddings",
];

/// Input keys of a legacy file that are read and ignored (tensor dtypes, pre-computed
/// gradient tensors).
pub const IGNORED_INPUT: &[&str] = &[
    "input_tensor_dtype",
    "input_tensor_type",
    "indices_tensor_dtype",
    "dense_shape_tensor_dtype",
    "encoded_tensor_dtype",
    "gradient_tensor_names",
    "gradient_tensor_dtypes",
];

/// Visualization keys of a legacy file that are read and ignored.
pub const IGNORED_VISUALIZATION: &[&str] = &[
    "overlay_multiplier",
    "blur_sigma",
    "shade_within_outlines",
    "resized_shape",
    "translate",
];

/// Output keys of a legacy file that are read and ignored.
pub const IGNORED_OUTPUT: &[&str] = &["output_tensor_dtype"];

/// Legacy spellings of input fields: `(legacy, Vertex)`.
pub(crate) const INPUT_ALIASES: &[(&str, &str)] = &[("domain", "featureValueDomain")];
/// Legacy spellings of domain fields.
pub(crate) const DOMAIN_ALIASES: &[(&str, &str)] = &[("min", "minValue"), ("max", "maxValue")];
/// Legacy spellings of visualization fields.
pub(crate) const VISUALIZATION_ALIASES: &[(&str, &str)] = &[
    ("clip_above_percentile", "clipPercentUpperbound"),
    ("clip_below_percentile", "clipPercentLowerbound"),
];
/// Legacy spellings of output fields.
pub(crate) const OUTPUT_ALIASES: &[(&str, &str)] = &[
    ("index_name_mapping", "indexDisplayNameMapping"),
    ("index_name_mapping_key", "displayNameMappingKey"),
];

/// Which dialect a metadata document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataFormat {
    /// Vertex AI's `ExplanationMetadata` (camelCase or snake_case).
    Vertex,
    /// The `explainable_ai_sdk` file: it has a legacy-only key somewhere (`framework`,
    /// `tags`, `domain`, `clip_above_percentile`, `index_name_mapping`, …).
    LegacySdk,
}

impl MetadataFormat {
    /// Tells which dialect `metadata` is written in. Both parse the same way; this is for
    /// tools that report or convert the format (`prism metadata`).
    pub fn detect(metadata: &Value) -> MetadataFormat {
        let Some(top) = metadata.as_object() else {
            return MetadataFormat::Vertex;
        };
        let legacy_key =
            |obj: &serde_json::Map<String, Value>, aliases: &[(&str, &str)], ignored: &[&str]| {
                obj.keys()
                    .any(|k| aliases.iter().any(|(a, _)| a == k) || ignored.contains(&k.as_str()))
            };
        if legacy_key(top, &[], IGNORED_TOP_LEVEL) {
            return MetadataFormat::LegacySdk;
        }
        let entries = |key: &str| {
            top.get(key)
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(Value::as_object)
        };
        for input in entries("inputs") {
            if legacy_key(input, INPUT_ALIASES, IGNORED_INPUT) {
                return MetadataFormat::LegacySdk;
            }
            let viz = input.get("visualization").and_then(Value::as_object);
            if viz.is_some_and(|v| legacy_key(v, VISUALIZATION_ALIASES, IGNORED_VISUALIZATION)) {
                return MetadataFormat::LegacySdk;
            }
        }
        for output in entries("outputs") {
            if legacy_key(output, OUTPUT_ALIASES, IGNORED_OUTPUT) {
                return MetadataFormat::LegacySdk;
            }
        }
        MetadataFormat::Vertex
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_the_legacy_file() {
        assert_eq!(
            MetadataFormat::detect(
                &json!({"framework": "tensorflow2", "inputs": {}, "outputs": {}})
            ),
            MetadataFormat::LegacySdk
        );
        assert_eq!(
            MetadataFormat::detect(&json!({"inputs": {"x": {"domain": {"min": 0, "max": 1}}}})),
            MetadataFormat::LegacySdk
        );
        assert_eq!(
            MetadataFormat::detect(&json!({"outputs": {"y": {"index_name_mapping": ["a"]}}})),
            MetadataFormat::LegacySdk
        );
        assert_eq!(
            MetadataFormat::detect(&json!({"inputs": {"x": {"input_tensor_name": "x:0"}}})),
            MetadataFormat::Vertex
        );
        assert_eq!(MetadataFormat::detect(&json!([])), MetadataFormat::Vertex);
    }
}
