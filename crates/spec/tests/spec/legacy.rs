//! The legacy explainable_ai_sdk metadata file.

use prism_spec::{
    ColorMap, Encoding, ExplanationMetadata, MetadataFormat, Modality, OverlayType, Polarity,
    SpecError, VisualizationType,
};
use serde_json::json;

use crate::{assert_err, data, err, ok};

#[test]
fn the_sdk_example_from_the_brief() {
    let text = r#"{"framework":"tensorflow2","tags":["explainable_ai_sdk"],"inputs":{"x":{"input_tensor_name":"x:0","encoding":"identity","modality":"numeric","domain":{"min":0,"max":1,"original_mean":0.5,"original_stddev":0.2},"input_baselines":[0]}},"outputs":{"y":{"output_tensor_name":"y:0"}}}"#;
    let value: serde_json::Value = serde_json::from_str(text).expect("json");
    assert_eq!(MetadataFormat::detect(&value), MetadataFormat::LegacySdk);
    let m = ok(ExplanationMetadata::from_json_str(text));
    let x = m.inputs.get("x").expect("x");
    assert_eq!(x.input_tensor_name.as_deref(), Some("x:0"));
    assert_eq!(x.encoding, Encoding::Identity);
    assert_eq!(x.modality, Modality::Numeric);
    assert_eq!(x.input_baselines, vec![json!(0)]);
    let d = x.feature_value_domain.as_ref().expect("domain");
    assert_eq!(
        (d.min_value, d.max_value, d.original_mean, d.original_stddev),
        (Some(0.0), Some(1.0), Some(0.5), Some(0.2))
    );
    assert_eq!(
        m.output().map(|(n, o)| (n, o.tensor_name(n))),
        Some(("y", "y:0"))
    );

    // Written as Vertex JSON: camelCase, featureValueDomain, no framework or tags.
    assert_eq!(
        m.to_json_value(),
        json!({
            "inputs": {"x": {
                "inputBaselines": [0],
                "inputTensorName": "x:0",
                "encoding": "IDENTITY",
                "modality": "numeric",
                "featureValueDomain": {"minValue": 0.0, "maxValue": 1.0, "originalMean": 0.5, "originalStddev": 0.2}
            }},
            "outputs": {"y": {"outputTensorName": "y:0"}}
        })
    );
    let again = ok(ExplanationMetadata::from_value(m.to_json_value()));
    assert_eq!(again, m);
    assert_eq!(
        MetadataFormat::detect(&m.to_json_value()),
        MetadataFormat::Vertex
    );
}

#[test]
fn a_tabular_file_written_by_the_sdk() {
    let m = ok(ExplanationMetadata::from_json_str(&data(
        "legacy_tabular_metadata.json",
    )));
    assert_eq!(m.inputs.keys().collect::<Vec<_>>(), ["x", "sepal", "color"]);
    let sepal = m.inputs.get("sepal").expect("sepal");
    assert_eq!(sepal.encoding, Encoding::BagOfFeatures);
    assert_eq!(sepal.index_feature_mapping, ["sepal length", "sepal width"]);
    let color = m.inputs.get("color").expect("color");
    assert_eq!(color.encoding, Encoding::CombinedEmbedding);
    assert_eq!(color.modality, Modality::Categorical);
    assert_eq!(
        color.encoded_tensor_name.as_deref(),
        Some("color_embedding/lookup:0")
    );
    assert_eq!(color.encoded_baselines, vec![json!([0.0, 0.0, 0.0, 0.0])]);
    let (name, out) = m.output().expect("output");
    assert_eq!(name, "probabilities");
    assert_eq!(out.display_name(&[2]), Some("virginica"));
}

#[test]
fn an_image_file_written_by_the_sdk() {
    let m = ok(ExplanationMetadata::from_json_str(&data(
        "legacy_image_metadata.json",
    )));
    let image = m.inputs.get("image").expect("image");
    assert_eq!(image.modality, Modality::Image);
    assert_eq!(image.input_baselines, vec![json!(0.0), json!(255.0)]);
    let viz = image.visualization.as_ref().expect("visualization");
    assert_eq!(viz.kind, Some(VisualizationType::Pixels));
    assert_eq!(viz.polarity, Some(Polarity::Positive));
    assert_eq!(viz.color_map, Some(ColorMap::PinkGreen));
    assert_eq!(viz.clip_percent_lowerbound, Some(70.0));
    assert_eq!(viz.clip_percent_upperbound, Some(99.9));
    assert_eq!(viz.overlay_type, Some(OverlayType::MaskBlack));
    let v = m.to_json_value();
    assert_eq!(
        v["inputs"]["image"]["visualization"]["overlayType"],
        json!("MASK_BLACK")
    );
    assert_eq!(
        v["inputs"]["image"]["visualization"]["clipPercentLowerbound"],
        json!(70.0)
    );
}

#[test]
fn legacy_errors_name_the_fields_as_written() {
    let e = err(ExplanationMetadata::from_value(json!({
        "framework": "tensorflow2",
        "inputs": {"x": {"domain": {"min": 3, "max": 1}}}
    })));
    assert_err(&e, "inputs.x.domain", "minValue must be <= maxValue");

    let e = err(ExplanationMetadata::from_value(json!({
        "inputs": {"img": {"visualization": {"clip_below_percentile": 120}}}
    })));
    assert_eq!(e.path(), "inputs.img.visualization.clip_below_percentile");

    let e = err(ExplanationMetadata::from_value(json!({
        "inputs": {"x": {"domain": {"min": 0, "minimum": 1}}}
    })));
    assert!(matches!(e, SpecError::UnknownField { .. }), "{e}");
    assert_eq!(e.path(), "inputs.x.domain.minimum");

    // A Vertex spelling and a legacy spelling of one field together are ambiguous.
    let e = err(ExplanationMetadata::from_value(json!({
        "inputs": {"x": {"domain": {}, "featureValueDomain": {}}}
    })));
    assert_err(&e, "inputs.x", "given twice");
}

#[test]
fn only_the_documented_legacy_keys_are_ignored() {
    let e = err(ExplanationMetadata::from_value(json!({
        "inputs": {"x": {"weight_values_name": "w:0"}}
    })));
    assert_err(&e, "inputs.x.weight_values_name", "unknown field");
    let e = err(ExplanationMetadata::from_value(
        json!({"framework": "tensorflow2", "version": 2}),
    ));
    assert_err(&e, "version", "unknown field");
}
