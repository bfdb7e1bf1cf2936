//! parse → write → parse gives the same value, and what is written is camelCase.

use prism_spec::{ExplanationMetadata, ExplanationSpec, ExplanationSpecOverride};
use serde_json::Value;

use crate::{data, ok};

/// Asserts that no field name in `v` contains `_`; keys of the user-named maps
/// (`inputs`, `outputs`) are names, not fields, and are skipped.
fn assert_camel_case(v: &Value, names: bool, at: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if !names {
                    assert!(!k.contains('_'), "snake_case field `{k}` written at {at}");
                }
                let is_map = !names && (k == "inputs" || k == "outputs");
                assert_camel_case(child, is_map, &format!("{at}.{k}"));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_camel_case(item, false, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn specs_round_trip() {
    for file in [
        "vertex_tabular_spec.json",
        "vertex_image_spec.json",
        "examples_spec.json",
    ] {
        let first = ok(ExplanationSpec::from_json_str(&data(file)));
        let written = first.to_json_value();
        assert_camel_case(&written, false, file);
        let second = ok(ExplanationSpec::from_value(written.clone()));
        assert_eq!(first, second, "{file}");
        // Writing is stable.
        assert_eq!(second.to_json_value(), written, "{file}");
        let via_serde: ExplanationSpec =
            serde_json::from_str(&first.to_json_string()).expect("deserialises");
        assert_eq!(via_serde, first, "{file}");
    }
}

#[test]
fn metadata_files_round_trip_to_vertex_json() {
    for file in ["legacy_tabular_metadata.json", "legacy_image_metadata.json"] {
        let first = ok(ExplanationMetadata::from_json_str(&data(file)));
        let written = first.to_json_value();
        assert_camel_case(&written, false, file);
        let second = ok(ExplanationMetadata::from_value(written));
        assert_eq!(first, second, "{file}");
    }
}

#[test]
fn snake_case_spec_reads_like_camel_case() {
    let camel = ok(ExplanationSpec::from_json_str(&data(
        "vertex_image_spec.json",
    )));
    let snake = ok(ExplanationSpec::from_json_str(
        r#"{
        "parameters": {
            "xrai_attribution": {
                "step_count": 50,
                "smooth_grad_config": {"noise_sigma": 0.1, "noisy_sample_count": 5},
                "blur_baseline_config": {"max_blur_sigma": 20}
            },
            "output_indices": [281, 282]
        },
        "metadata": {
            "inputs": {"image": {
                "input_tensor_name": "pixel_values",
                "modality": "image",
                "input_baselines": [0],
                "feature_value_domain": {"min_value": -1, "max_value": 1},
                "visualization": {
                    "type": "outlines", "polarity": "both", "color_map": "viridis",
                    "clip_percent_upperbound": 99.9, "clip_percent_lowerbound": 70,
                    "overlay_type": "grayscale"
                }
            }},
            "outputs": {"logits": {"display_name_mapping_key": "labels"}}
        }
    }"#,
    ));
    assert_eq!(snake, camel);
}

#[test]
fn overrides_round_trip() {
    let first = ok(ExplanationSpecOverride::from_json_str(&data(
        "explain_override.json",
    )));
    let written = first.to_json_value();
    assert_camel_case(&written, false, "override");
    assert_eq!(ok(ExplanationSpecOverride::from_value(written)), first);
}
