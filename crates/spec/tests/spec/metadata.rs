//! ExplanationMetadata: inputs, outputs, encodings, visualization.

use prism_spec::{
    ColorMap, Encoding, ExplanationMetadata, ExplanationParameters, Modality, OverlayType,
    Polarity, SpecError, VisualizationType,
};
use serde_json::json;

use crate::{assert_err, err, ok};

fn metadata(v: serde_json::Value) -> ExplanationMetadata {
    ok(ExplanationMetadata::from_value(v))
}

fn metadata_err(v: serde_json::Value) -> SpecError {
    err(ExplanationMetadata::from_value(v))
}

#[test]
fn inputs_keep_the_file_order() {
    let m = ok(ExplanationMetadata::from_json_str(
        r#"{"inputs": {"zeta": {}, "alpha": {}, "mu": {}}, "outputs": {"y": {}}}"#,
    ));
    assert_eq!(m.inputs.keys().collect::<Vec<_>>(), ["zeta", "alpha", "mu"]);
    let written = serde_json::to_string(&m).expect("serialises");
    assert!(written.starts_with(r#"{"inputs":{"zeta":"#), "{written}");
}

#[test]
fn empty_metadata_and_empty_inputs_are_valid() {
    let m = metadata(json!({}));
    assert!(m.inputs.is_empty() && m.outputs.is_empty());
    let m = metadata(json!({"inputs": {}, "outputs": {"scores": {}}}));
    assert_eq!(m.output().map(|(name, _)| name), Some("scores"));
    // An empty InputMetadata is a numeric identity feature fed to the input of its name.
    let m = metadata(json!({"inputs": {"age": {}, "income": null}}));
    let age = m.inputs.get("age").expect("age");
    assert_eq!(age.encoding, Encoding::Identity);
    assert_eq!(age.modality, Modality::Numeric);
    assert_eq!(age.tensor_name("age"), "age");
    assert!(m.inputs.contains_key("income"));
}

#[test]
fn enums_by_number_and_any_case() {
    let m = metadata(json!({"inputs": {
        "a": {"encoding": 2, "indexFeatureMapping": ["x", "y"]},
        "b": {"encoding": "indicator", "indexFeatureMapping": ["p"], "modality": "Categorical"},
        "c": {"encoding": "ENCODING_UNSPECIFIED"},
        "d": {"encoding": 0, "modality": "IMAGE", "visualization": {
            "type": 1, "polarity": 3, "colorMap": 6, "overlayType": 4
        }}
    }}));
    assert_eq!(
        m.inputs.get("a").map(|i| i.encoding),
        Some(Encoding::BagOfFeatures)
    );
    assert_eq!(
        m.inputs.get("b").map(|i| i.encoding),
        Some(Encoding::Indicator)
    );
    assert_eq!(
        m.inputs.get("b").map(|i| i.modality),
        Some(Modality::Categorical)
    );
    assert_eq!(
        m.inputs.get("c").map(|i| i.encoding),
        Some(Encoding::Identity)
    );
    let d = m.inputs.get("d").expect("d");
    assert_eq!(d.modality, Modality::Image);
    let viz = d.visualization.as_ref().expect("visualization");
    assert_eq!(viz.kind, Some(VisualizationType::Pixels));
    assert_eq!(viz.polarity, Some(Polarity::Both));
    assert_eq!(viz.color_map, Some(ColorMap::RedGreen));
    assert_eq!(viz.overlay_type, Some(OverlayType::MaskBlack));
    // Written back by name.
    let v = m.to_json_value();
    assert_eq!(v["inputs"]["a"]["encoding"], json!("BAG_OF_FEATURES"));
    assert_eq!(v["inputs"]["b"]["modality"], json!("categorical"));
    assert_eq!(
        v["inputs"]["d"]["visualization"]["colorMap"],
        json!("RED_GREEN")
    );
    assert_eq!(v["inputs"]["d"]["visualization"]["type"], json!("PIXELS"));
}

#[test]
fn unknown_enum_values_list_the_allowed_ones() {
    let e = metadata_err(json!({"inputs": {"age": {"encoding": "IDENTITTY"}}}));
    assert!(matches!(e, SpecError::UnknownEnumValue { .. }), "{e}");
    assert_err(
        &e,
        "inputs.age.encoding",
        "unknown InputMetadata.Encoding value \"IDENTITTY\"",
    );
    assert!(
        e.message()
            .contains("IDENTITY, BAG_OF_FEATURES, BAG_OF_FEATURES_SPARSE"),
        "{e}"
    );

    let e = metadata_err(json!({"inputs": {"age": {"encoding": 9}}}));
    assert_err(&e, "inputs.age.encoding", "value 9");

    let e = metadata_err(json!({"inputs": {"age": {"modality": "structured"}}}));
    assert_err(
        &e,
        "inputs.age.modality",
        "numeric, image, text, categorical",
    );

    let e = metadata_err(json!({"inputs": {"img": {"visualization": {"colorMap": "JET"}}}}));
    assert_err(&e, "inputs.img.visualization.colorMap", "PINK_GREEN");

    let e = metadata_err(json!({"inputs": {"age": {"encoding": true}}}));
    assert!(matches!(e, SpecError::Type { .. }), "{e}");
    assert_eq!(e.path(), "inputs.age.encoding");
}

#[test]
fn list_encodings_need_an_index_feature_mapping() {
    for encoding in ["BAG_OF_FEATURES", "BAG_OF_FEATURES_SPARSE", "INDICATOR"] {
        let e = metadata_err(json!({"inputs": {"tags": {"encoding": encoding}}}));
        assert!(matches!(e, SpecError::Missing { .. }), "{e}");
        assert_err(&e, "inputs.tags.indexFeatureMapping", encoding);
    }
    metadata(json!({"inputs": {"words": {"encoding": "COMBINED_EMBEDDING"}}}));

    let e = metadata_err(json!({"inputs": {"tags": {
        "encoding": "BAG_OF_FEATURES", "indexFeatureMapping": ["a", "b", "a"]
    }}}));
    assert_err(
        &e,
        "inputs.tags.indexFeatureMapping[2]",
        "duplicate name \"a\", already at index 0",
    );
}

#[test]
fn exactly_one_output() {
    let e = metadata_err(json!({"inputs": {}, "outputs": {"a": {}, "b": {}}}));
    assert_err(
        &e,
        "outputs",
        "exactly one output can be explained, got 2: \"a\", \"b\"",
    );
    let e = crate::spec_err(json!({
        "parameters": {"sampledShapleyAttribution": {}},
        "metadata": {"outputs": {"a": {}, "b": {}}}
    }));
    assert_eq!(e.path(), "metadata.outputs");
}

#[test]
fn output_display_names() {
    let m = metadata(json!({"outputs": {"scores": {
        "indexDisplayNameMapping": [["a", "b"], ["c", "d"]], "outputTensorName": "logits"
    }}}));
    let (name, out) = m.output().expect("output");
    assert_eq!(out.tensor_name(name), "logits");
    assert_eq!(out.display_name(&[1, 0]), Some("c"));
    assert_eq!(out.display_name(&[2, 0]), None);

    let e = metadata_err(json!({"outputs": {"scores": {
        "indexDisplayNameMapping": ["a"], "displayNameMappingKey": "labels"
    }}}));
    assert_err(&e, "outputs.scores", "exclude each other");
    let e = metadata_err(json!({"outputs": {"scores": {"indexDisplayNameMapping": ["a", 1]}}}));
    assert_err(
        &e,
        "outputs.scores.indexDisplayNameMapping[1]",
        "display name",
    );
    let e = metadata_err(
        json!({"outputs": {"scores": {"indexDisplayNameMapping": [["a"], ["b", "c"]]}}}),
    );
    assert_err(&e, "outputs.scores.indexDisplayNameMapping[1]", "ragged");
    let e = metadata_err(json!({"outputs": {"scores": {"indexDisplayNameMapping": "a"}}}));
    assert_err(
        &e,
        "outputs.scores.indexDisplayNameMapping",
        "expected an array",
    );
}

#[test]
fn feature_value_domain_rules() {
    let e = metadata_err(
        json!({"inputs": {"x": {"featureValueDomain": {"minValue": 2, "maxValue": 1}}}}),
    );
    assert_err(
        &e,
        "inputs.x.featureValueDomain",
        "minValue must be <= maxValue, got 2 > 1",
    );
    let e = metadata_err(json!({"inputs": {"x": {"featureValueDomain": {"originalStddev": -1}}}}));
    assert_err(&e, "inputs.x.featureValueDomain.originalStddev", ">= 0");
    let e =
        metadata_err(json!({"inputs": {"x": {"featureValueDomain": {"minValue": "Infinity"}}}}));
    assert_err(&e, "inputs.x.featureValueDomain.minValue", "finite");
    let m = metadata(json!({"inputs": {"x": {"featureValueDomain": {"originalMean": 0.5}}}}));
    let d = m
        .inputs
        .get("x")
        .and_then(|i| i.feature_value_domain.clone())
        .expect("domain");
    assert_eq!((d.min_value, d.original_mean), (None, Some(0.5)));
}

#[test]
fn visualization_rules_and_defaults() {
    let e = metadata_err(
        json!({"inputs": {"img": {"visualization": {"clipPercentUpperbound": 100.5}}}}),
    );
    assert_err(
        &e,
        "inputs.img.visualization.clipPercentUpperbound",
        "0..=100, got 100.5",
    );
    let e = metadata_err(json!({"inputs": {"img": {"visualization": {
        "clipPercentUpperbound": 50, "clipPercentLowerbound": 60
    }}}}));
    assert_err(
        &e,
        "inputs.img.visualization.clipPercentLowerbound",
        "below clipPercentUpperbound (50), got 60",
    );

    let m = metadata(json!({"inputs": {"img": {"modality": "image", "visualization": {}}}}));
    let viz = m
        .inputs
        .get("img")
        .and_then(|i| i.visualization.clone())
        .expect("viz");
    assert_eq!(viz.effective_type(), VisualizationType::Outlines);
    assert_eq!(viz.effective_polarity(), Polarity::Positive);
    assert_eq!(viz.effective_overlay_type(), OverlayType::None);
    assert_eq!(viz.effective_clip_percent_upperbound(), 99.9);
    assert_eq!(viz.effective_clip_percent_lowerbound(), 62.0);
    let xrai = ok(ExplanationParameters::from_value(
        json!({"xraiAttribution": {}}),
    ));
    let ig = ok(ExplanationParameters::from_value(
        json!({"integratedGradientsAttribution": {}}),
    ));
    assert_eq!(viz.effective_color_map(&xrai.method), ColorMap::Viridis);
    assert_eq!(viz.effective_color_map(&ig.method), ColorMap::PinkGreen);
}

#[test]
fn groups_must_not_collide_with_other_inputs() {
    let m = metadata(json!({"inputs": {
        "x0": {"groupName": "g"}, "x1": {"groupName": "g"}, "x2": {}
    }}));
    assert_eq!(m.attribution_key("x1"), Some("g"));
    assert_eq!(m.attribution_key("x2"), Some("x2"));
    assert_eq!(m.attribution_key("nope"), None);
    let e = metadata_err(json!({"inputs": {"x0": {"groupName": "x1"}, "x1": {}}}));
    assert_err(&e, "inputs.x0.groupName", "collides");
    // A member may share the group's name.
    metadata(json!({"inputs": {"g": {"groupName": "g"}, "x1": {"groupName": "g"}}}));
}

#[test]
fn names_that_are_not_identifiers_are_quoted_in_paths() {
    let e = metadata_err(json!({"inputs": {"petal length": {"encoding": "nope"}}}));
    assert_eq!(e.path(), "inputs[\"petal length\"].encoding");
    let e = metadata_err(json!({"inputs": {"": {}}}));
    assert_err(&e, "inputs[\"\"]", "must not be empty");
}

#[test]
fn unknown_input_fields_are_named() {
    let e = metadata_err(json!({"inputs": {"age": {"inputTensorNam": "age:0"}}}));
    assert!(matches!(e, SpecError::UnknownField { .. }), "{e}");
    assert_err(
        &e,
        "inputs.age.inputTensorNam",
        "unknown field `inputTensorNam`",
    );
    assert!(e.message().contains("inputTensorName"), "{e}");
    let e = metadata_err(json!({"inputs": {"age": {}}, "frameworks": "tf"}));
    assert_err(&e, "frameworks", "unknown field");
    let e = metadata_err(json!({"inputs": {"age": {"inputBaselines": 0}}}));
    assert_err(
        &e,
        "inputs.age.inputBaselines",
        "expected an array, got number 0",
    );
}

#[test]
fn empty_strings_are_unset() {
    let m = metadata(json!({"inputs": {"age": {"inputTensorName": "", "groupName": ""}}}));
    let age = m.inputs.get("age").expect("age");
    assert_eq!(age.input_tensor_name, None);
    assert_eq!(age.group_name, None);
}

/// Found by the `spec_text_roundtrip` fuzz target: floats changed on every text round trip
/// until serde_json parsed them exactly (`float_roundtrip`).
#[test]
fn regression_float_text_round_trip_is_exact() {
    let text = r#"{"inputs":{"s":{"inputBaselines":[18.810000000000003]}}}"#;
    let first = prism_spec::ExplanationMetadata::from_json_str(text).unwrap();
    let again = prism_spec::ExplanationMetadata::from_json_str(&first.to_json_string()).unwrap();
    assert_eq!(first, again);
}

/// Large maps and name lists parse in linear time (a lookup per insert made them quadratic).
#[test]
fn large_metadata_documents_parse_whole() {
    let names: Vec<String> = (0..20_000).map(|i| format!("f{i}")).collect();
    let doc = serde_json::json!({"inputs": {"x": {"indexFeatureMapping": names}}});
    let meta = prism_spec::ExplanationMetadata::from_value(doc).unwrap();
    assert_eq!(
        meta.inputs.get("x").unwrap().index_feature_mapping.len(),
        20_000
    );
    let many: serde_json::Map<String, serde_json::Value> = (0..20_000)
        .map(|i| (format!("in{i}"), serde_json::json!({})))
        .collect();
    let meta =
        prism_spec::ExplanationMetadata::from_value(serde_json::json!({"inputs": many})).unwrap();
    assert_eq!(meta.inputs.len(), 20_000);
}
