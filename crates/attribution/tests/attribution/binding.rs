//! Binding features to tensors: the instance shapes Prism accepts, baselines, and the errors
//! that name what is wrong.

use prism_attribution::{AttributionError, ExplainPlan};
use prism_model::Model;
use prism_spec::ExplanationMetadata;
use serde_json::{json, Value};

use crate::{assert_close, attr, explain, load_model, spec, EXACT};

const SHAPLEY: &str = r#"{"sampledShapleyAttribution": {"pathCount": 6}}"#;

fn plan_for(model: &str, metadata: Value) -> Result<ExplainPlan, AttributionError> {
    let m = load_model(model);
    let meta = ExplanationMetadata::from_value(metadata).unwrap();
    ExplainPlan::new(&spec(SHAPLEY, meta), m.signature())
}

fn explain_err(model: &str, instance: Value) -> AttributionError {
    let m = load_model(model);
    let plan = ExplainPlan::new(&spec(SHAPLEY, crate::metadata_of(model)), m.signature()).unwrap();
    plan.explain(&m, &instance).unwrap_err()
}

#[test]
fn named_features_as_keys_or_as_one_list() {
    let by_name = explain(
        "peer_linear",
        SHAPLEY,
        json!({"x0": 30, "x1": 60, "x2": 30}),
    );
    assert_close(attr(&by_name, "x1"), 120.0, EXACT, "x1 by name");
    let as_list = explain("peer_linear", SHAPLEY, json!({"x": [30, 60, 30]}));
    assert_eq!(
        as_list.attributions[0].feature_attributions["x"],
        json!([40.0, 120.0, 80.0])
    );
    let bare = explain("peer_linear", SHAPLEY, json!([30, 60, 30]));
    assert_eq!(
        bare.attributions[0].feature_attributions,
        as_list.attributions[0].feature_attributions
    );
}

#[test]
fn list_valued_feature_comes_back_as_a_list() {
    // y = Σ c_i·v_i² with c = [1, −2, 0.5, 3], zero baseline: φ_i = c_i·v_i² exactly.
    let e = explain(
        "list_feature",
        SHAPLEY,
        json!({"vec": [1.0, 2.0, -2.0, 0.5]}),
    );
    let got: Vec<f64> = e.attributions[0].feature_attributions["vec"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (g, w) in got.iter().zip([1.0, -8.0, 2.0, 0.75]) {
        assert_close(*g, w, EXACT, "vec");
    }
}

#[test]
fn several_baselines_are_averaged() {
    let meta = json!({
        "inputs": {"x": {"inputTensorName": "x", "indexFeatureMapping": ["x0", "x1", "x2"],
                         "inputBaselines": [[10, 20, 10], [0, 0, 0]]}},
        "outputs": {"y": {}}
    });
    let plan = plan_for("peer_linear", meta).unwrap();
    let e = plan
        .explain(
            &load_model("peer_linear"),
            &json!({"x0": 30, "x1": 60, "x2": 30}),
        )
        .unwrap();
    // coef = [2, 3, 4]: against b1 [40, 120, 80], against 0 [60, 180, 120]; mean [50, 150, 100].
    assert_close(attr(&e, "x0"), 50.0, EXACT, "x0");
    assert_close(attr(&e, "x1"), 150.0, EXACT, "x1");
    assert_close(attr(&e, "x2"), 100.0, EXACT, "x2");
    // f(b1) = 125, f(0) = 5.
    assert_close(
        e.attributions[0].baseline_output_value,
        65.0,
        EXACT,
        "mean baseline output",
    );
}

#[test]
fn scalar_baseline_broadcasts_and_default_is_zero() {
    let meta = json!({"inputs": {"x": {"indexFeatureMapping": ["x0", "x1", "x2"], "inputBaselines": [10]}}, "outputs": {"y": {}}});
    let e = plan_for("peer_linear", meta)
        .unwrap()
        .explain(&load_model("peer_linear"), &json!([30, 60, 30]))
        .unwrap();
    assert_eq!(
        e.attributions[0].feature_attributions["x"],
        json!([40.0, 150.0, 80.0])
    );
    let meta =
        json!({"inputs": {"x": {"indexFeatureMapping": ["x0", "x1", "x2"]}}, "outputs": {"y": {}}});
    let e = plan_for("peer_linear", meta)
        .unwrap()
        .explain(&load_model("peer_linear"), &json!([30, 60, 30]))
        .unwrap();
    assert_eq!(
        e.attributions[0].feature_attributions["x"],
        json!([60.0, 180.0, 120.0])
    );
}

#[test]
fn without_metadata_inputs_each_tensor_is_a_feature() {
    let meta = json!({"inputs": {}, "outputs": {}});
    let e = plan_for("multi_input", meta)
        .unwrap()
        .explain(
            &load_model("multi_input"),
            &json!({"numeric": [1, 2, 3], "extra": [0.5, -1]}),
        )
        .unwrap();
    let fa = &e.attributions[0].feature_attributions;
    assert_eq!(fa["numeric"].as_array().unwrap().len(), 3);
    assert_eq!(fa["extra"].as_array().unwrap().len(), 2);
    assert_eq!(e.attributions[0].output_name, "scores");
}

fn assert_instance_error(err: AttributionError, want_path: &str, want_text: &str) {
    match err {
        AttributionError::Instance { path, message } => {
            assert_eq!(path, want_path, "{message}");
            assert!(message.contains(want_text), "{message}");
        }
        other => panic!("expected an instance error, got {other:?}"),
    }
}

#[test]
fn bad_instances_are_errors_naming_the_feature() {
    assert_instance_error(
        explain_err("peer_linear", json!({"x0": 1, "x1": 2})),
        "x2",
        "missing",
    );
    assert_instance_error(
        explain_err("peer_linear", json!({"x0": 1, "x1": 2, "x2": 3, "x9": 4})),
        "x9",
        "unknown feature",
    );
    assert_instance_error(
        explain_err("peer_linear", json!({"x0": 1, "x1": "two", "x2": 3})),
        "x1",
        "string",
    );
    assert_instance_error(
        explain_err("peer_linear", json!({"x0": 1, "x1": null, "x2": 3})),
        "x1",
        "null",
    );
    assert_instance_error(
        explain_err("peer_linear", json!({"x": [1, 2]})),
        "x",
        "expected 3 value(s), got 2",
    );
    assert_instance_error(
        explain_err("list_feature", json!({"vec": [[1, 2], [3]]})),
        "vec[1]",
        "ragged",
    );
    assert_instance_error(
        explain_err("list_feature", json!({"vec": [1, 2, 3]})),
        "vec",
        "shape [4]",
    );
    assert_instance_error(
        explain_err("multi_input", json!([1, 2, 3])),
        "",
        "JSON object",
    );
    assert_instance_error(
        explain_err("multi_input", json!("hello")),
        "",
        "JSON object",
    );
}

fn assert_metadata_error(err: AttributionError, want_path: &str, want_text: &str) {
    match err {
        AttributionError::Metadata { path, message } => {
            assert_eq!(path, want_path, "{message}");
            assert!(message.contains(want_text), "{message}");
        }
        other => panic!("expected a metadata error, got {other:?}"),
    }
}

#[test]
fn metadata_that_does_not_fit_the_model_is_rejected_at_load() {
    let out = json!({"y": {}});
    assert_metadata_error(
        plan_for("peer_linear", json!({"inputs": {"x": {"inputTensorName": "features", "indexFeatureMapping": ["a", "b", "c"]}}, "outputs": out})).unwrap_err(),
        "metadata.inputs.x.inputTensorName",
        "no model input named 'features'",
    );
    assert_metadata_error(
        plan_for(
            "peer_linear",
            json!({"inputs": {"x": {"indexFeatureMapping": ["a", "b"]}}, "outputs": out}),
        )
        .unwrap_err(),
        "metadata.inputs.x",
        "cover 2 values",
    );
    assert_metadata_error(
        plan_for("peer_linear", json!({"inputs": {"x": {"indexFeatureMapping": ["a", "b", "c"], "inputBaselines": [[1, 2]]}}, "outputs": out})).unwrap_err(),
        "metadata.inputs.x.inputBaselines[0]",
        "has 2 values",
    );
    assert_metadata_error(
        plan_for("peer_linear", json!({"inputs": {"x": {"indexFeatureMapping": ["a", "b", "c"]}}, "outputs": {"p": {"outputTensorName": "probs"}}})).unwrap_err(),
        "metadata.outputs.p.outputTensorName",
        "no model output named 'probs'",
    );
    assert_metadata_error(
        plan_for(
            "multi_input",
            json!({"inputs": {"numeric": {"indexFeatureMapping": ["a", "b", "c"]}}, "outputs": {}}),
        )
        .unwrap_err(),
        "metadata.inputs",
        "model input 'extra' is not fed",
    );
    assert_metadata_error(
        plan_for("peer_linear", json!({"inputs": {"x": {"encoding": "BAG_OF_FEATURES_SPARSE", "indexFeatureMapping": ["a", "b", "c"]}}, "outputs": out})).unwrap_err(),
        "metadata.inputs.x.encoding",
        "not supported",
    );
}

#[test]
fn bag_of_features_and_indicator_report_per_name() {
    for encoding in ["BAG_OF_FEATURES", "INDICATOR"] {
        let meta = json!({"inputs": {"x": {"encoding": encoding, "indexFeatureMapping": ["p", "q", "r"]}}, "outputs": {"y": {}}});
        let e = plan_for("peer_linear", meta)
            .unwrap()
            .explain(&load_model("peer_linear"), &json!({"p": 1, "q": 0, "r": 1}))
            .unwrap();
        assert_close(attr(&e, "p"), 2.0, EXACT, encoding);
        assert_close(attr(&e, "q"), 0.0, EXACT, encoding);
        assert_close(attr(&e, "r"), 4.0, EXACT, encoding);
    }
}

/// Found by the `binder_metadata` fuzz target: a group named like another feature's column
/// silently overwrote that feature's attribution. It is now refused at load.
#[test]
fn regression_group_name_shadowing_a_feature_is_rejected() {
    let meta = json!({"inputs": {
        "numeric": {"indexFeatureMapping": ["a", "b", "c"]},
        "extra": {"indexFeatureMapping": ["d", "e"], "groupName": "a"}
    }});
    assert_metadata_error(
        plan_for("multi_input", meta).unwrap_err(),
        "metadata.inputs.numeric",
        "'a' is both a group name and a feature of 'numeric'",
    );
}
