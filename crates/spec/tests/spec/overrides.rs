//! ExplanationSpecOverride and its merge into a model's spec.

use prism_spec::{
    ExamplesOverrideDataFormat, ExplanationParametersOverride, ExplanationSpec,
    ExplanationSpecOverride, Method, SpecError,
};
use serde_json::json;

use crate::{assert_err, data, err, ok, spec};

fn base() -> ExplanationSpec {
    ok(ExplanationSpec::from_json_str(&data(
        "vertex_tabular_spec.json",
    )))
}

fn ov(v: serde_json::Value) -> ExplanationSpecOverride {
    ok(ExplanationSpecOverride::from_value(v))
}

#[test]
fn the_documented_request_override() {
    let merged = ok(
        base().apply_override(&ok(ExplanationSpecOverride::from_json_str(&data(
            "explain_override.json",
        )))),
    );
    assert_eq!(merged.parameters.top_k, Some(3));
    assert!(matches!(&merged.parameters.method, Method::SampledShapley(s) if s.path_count == 50));
    let petal = merged
        .metadata
        .as_ref()
        .and_then(|m| m.inputs.get("petal"))
        .expect("petal");
    assert_eq!(petal.input_baselines, vec![json!([0, 0])]);
    // Everything else is the model's.
    assert_eq!(merged.parameters.seed, Some(42));
    let sepal = merged
        .metadata
        .as_ref()
        .and_then(|m| m.inputs.get("sepal_length"))
        .expect("sepal");
    assert_eq!(sepal.input_baselines, vec![json!(5.8)]);
}

#[test]
fn the_method_cannot_change() {
    let e = err(base().apply_override(&ov(
        json!({"parameters": {"integratedGradientsAttribution": {}}}),
    )));
    assert!(matches!(e, SpecError::Invalid { .. }), "{e}");
    assert_err(
        &e,
        "explanationSpecOverride.parameters",
        "the model uses sampledShapleyAttribution, the override sets integratedGradientsAttribution",
    );
}

#[test]
fn an_override_without_a_method_keeps_the_models() {
    let merged = ok(base().apply_override(&ov(json!({"parameters": {"topK": 1}}))));
    assert!(matches!(&merged.parameters.method, Method::SampledShapley(s) if s.path_count == 25));
    assert_eq!(merged.parameters.top_k, Some(1));
    let merged = ok(base().apply_override(&ov(json!({}))));
    assert_eq!(merged, base());
}

#[test]
fn output_selection_is_replaced_as_a_whole() {
    // The model selects with topK; the request with outputIndices: topK goes.
    let merged = ok(base().apply_override(&ov(json!({"parameters": {"outputIndices": [0, 2]}}))));
    assert_eq!(merged.parameters.top_k, None);
    assert_eq!(merged.parameters.output_indices, Some(json!([0, 2])));
    // An override naming the method replaces all of its settings, defaults included.
    let merged = ok(base().apply_override(&ov(
        json!({"parameters": {"sampledShapleyAttribution": {}}}),
    )));
    assert!(matches!(&merged.parameters.method, Method::SampledShapley(s) if s.path_count == 10));
    assert_eq!(merged.parameters.top_k, Some(2));
    let merged = ok(base().apply_override(&ov(json!({"parameters": {"seed": 9}}))));
    assert_eq!(merged.parameters.seed, Some(9));
}

#[test]
fn metadata_overrides_name_known_inputs() {
    let e = err(base().apply_override(&ov(
        json!({"metadata": {"inputs": {"petals": {"inputBaselines": [0]}}}}),
    )));
    assert_err(
        &e,
        "explanationSpecOverride.metadata.inputs.petals",
        "no input named \"petals\"",
    );
    assert!(e.message().contains("\"petal\""), "{e}");

    let bare = spec(json!({"parameters": {"sampledShapleyAttribution": {}}}));
    let e = err(bare.apply_override(&ov(
        json!({"metadata": {"inputs": {"x": {"inputBaselines": [0]}}}}),
    )));
    assert_err(&e, "explanationSpecOverride.metadata", "no metadata");

    // An empty baseline list keeps the model's baselines.
    let merged = ok(base().apply_override(&ov(json!({"metadata": {"inputs": {"petal": {}}}}))));
    assert_eq!(merged, base());
}

#[test]
fn override_values_are_validated() {
    let e = err(ExplanationSpecOverride::from_value(json!({
        "parameters": {"sampledShapleyAttribution": {"pathCount": 0}}
    })));
    assert_eq!(e.path(), "parameters.sampledShapleyAttribution.pathCount");
    let e = err(ExplanationSpecOverride::from_value(
        json!({"parameters": {"topK": 0}}),
    ));
    assert_err(&e, "parameters.topK", "got 0");
    let e = err(ExplanationSpecOverride::from_value(
        json!({"examplesOverride": {"neighborCount": 0}}),
    ));
    assert_err(&e, "examplesOverride.neighborCount", ">= 1, got 0");
    let e = err(ExplanationSpecOverride::from_value(
        json!({"examples_override": {"crowding_count": -1}}),
    ));
    assert_err(&e, "examples_override.crowding_count", ">= 1, got -1");
    let e = err(ExplanationSpecOverride::from_value(
        json!({"examplesOverride": {"dataFormat": "CSV"}}),
    ));
    assert_err(&e, "examplesOverride.dataFormat", "INSTANCES, EMBEDDINGS");
    let e = err(ExplanationSpecOverride::from_value(
        json!({"metadata": {"inputs": {"x": {"encoding": 1}}}}),
    ));
    assert_err(&e, "metadata.inputs.x.encoding", "unknown field");

    // An override built in code is validated by apply_override, under its root.
    let bad = ExplanationSpecOverride {
        parameters: Some(ExplanationParametersOverride {
            top_k: Some(-3),
            ..ExplanationParametersOverride::default()
        }),
        ..ExplanationSpecOverride::default()
    };
    let e = err(base().apply_override(&bad));
    assert_eq!(e.path(), "explanationSpecOverride.parameters.topK");

    // A merge that breaks a rule tying parameters to metadata names the override.
    let image = ok(ExplanationSpec::from_json_str(&data(
        "vertex_image_spec.json",
    )));
    let e = err(image.apply_override(&ov(json!({"parameters": {"xraiAttribution": {
        "smoothGradConfig": {"featureNoiseSigma": {"noiseSigma": [{"name": "pixels", "sigma": 0.2}]}}
    }}}))));
    assert_err(
        &e,
        "explanationSpecOverride.parameters.xraiAttribution.smoothGradConfig.featureNoiseSigma.noiseSigma[0].name",
        "no input or group named \"pixels\"",
    );
}

#[test]
fn examples_override() {
    let o = ov(json!({"examplesOverride": {
        "neighborCount": 5, "crowdingCount": "1", "returnEmbeddings": false, "dataFormat": 2,
        "restrictions": [{"namespaceName": "color", "allow": ["red"], "deny": []}]
    }}));
    let e = o.examples_override.as_ref().expect("examplesOverride");
    assert_eq!((e.neighbor_count, e.crowding_count), (Some(5), Some(1)));
    assert_eq!(e.data_format, Some(ExamplesOverrideDataFormat::Embeddings));
    assert_eq!(e.restrictions[0].allow, ["red"]);
    assert_eq!(
        o.to_json_value(),
        json!({"examplesOverride": {
            "neighborCount": 5, "crowdingCount": 1, "dataFormat": "EMBEDDINGS",
            "restrictions": [{"namespaceName": "color", "allow": ["red"]}]
        }})
    );

    let examples = ok(ExplanationSpec::from_json_str(&data("examples_spec.json")));
    ok(examples.apply_override(&o));
    let e = err(base().apply_override(&o));
    assert_err(
        &e,
        "explanationSpecOverride.examplesOverride",
        "only example-based models",
    );

    let e = err(ExplanationSpecOverride::from_value(
        json!({"examplesOverride": {
            "restrictions": [{"namespaceName": "", "allow": ["red"]}]
        }}),
    ));
    assert_eq!(e.path(), "examplesOverride.restrictions[0].namespaceName");
}
