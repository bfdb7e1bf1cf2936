//! The Explainer on real model directories: loading, the legacy SDK metadata format, spec
//! files, request overrides, batches.

use std::path::{Path, PathBuf};

use prism_engine::{EngineError, Explainer, ExplanationSpecOverride};
use serde_json::{json, Value};

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(name)
}

fn instances(name: &str) -> Vec<Value> {
    std::fs::read_to_string(model_dir(name).join("instances.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A model directory with peer_linear's model and the given metadata / spec files.
fn linear_dir(metadata: &str, spec: Option<&str>) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir("peer_linear").join("model.onnx"),
        tmp.path().join("model.onnx"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("explanation_metadata.json"), metadata).unwrap();
    if let Some(spec) = spec {
        std::fs::write(tmp.path().join("explanation_spec.json"), spec).unwrap();
    }
    tmp
}

#[test]
fn every_test_model_directory_explains_its_instances() {
    let names = [
        "breast_cancer_mlp",
        "breast_cancer_gbt",
        "diabetes_rf",
        "diabetes_gbr",
        "peer_relu",
        "peer_linear",
        "peer_interaction",
        "peer_null",
        "peer_ig_relu",
        "peer_ig_relu_twin",
        "peer_ig_field",
        "peer_embedding",
        "multi_input",
        "list_feature",
        "digits_cnn",
        "resnet_small",
        "text_sentiment",
    ];
    for name in names {
        let explainer = Explainer::load(model_dir(name)).unwrap();
        let batch = instances(name);
        let results = explainer.explain_batch(&batch);
        assert_eq!(results.len(), batch.len());
        for (instance, result) in batch.iter().zip(results) {
            let e = result.unwrap_or_else(|err| panic!("{name}: {err}"));
            // Batches keep order and give what one-by-one explaining gives.
            assert_eq!(e, explainer.explain(instance).unwrap(), "{name}");
            // Explaining and predicting at once (which reuses the explanation's forward
            // pass where it can) gives what each gives alone.
            let (explained, predicted) = explainer.explain_and_predict(instance).unwrap();
            assert_eq!(explained, e, "{name}");
            assert_eq!(predicted, explainer.predict(instance).unwrap(), "{name}");
            let a = &e.attributions[0];
            let sum = sum_of(&a.feature_attributions);
            let gap = a.instance_output_value - a.baseline_output_value;
            // Shapley paths add up exactly; IG within its reported completeness gap.
            let tolerance = 1e-6 * (1.0 + gap.abs()) + a.approximation_error * gap.abs();
            assert!((sum - gap).abs() <= tolerance, "{name}: {sum} vs {gap}");
        }
    }
}

fn sum_of(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::Array(a) => a.iter().map(sum_of).sum(),
        Value::Object(m) => m.values().map(sum_of).sum(),
        _ => 0.0,
    }
}

#[test]
fn legacy_sdk_metadata_file_works_unchanged() {
    // As explainable_ai_sdk writes it: snake_case, lowercase enums, TensorFlow ':0' names,
    // and top-level keys Prism ignores.
    let legacy = r#"{
        "framework": "tensorflow2",
        "tags": ["explainable_ai_sdk"],
        "inputs": {"x": {
            "input_tensor_name": "x:0",
            "encoding": "bag_of_features",
            "modality": "numeric",
            "index_feature_mapping": ["x0", "x1", "x2"],
            "input_baselines": [[10, 20, 10]]
        }},
        "outputs": {"y": {"output_tensor_name": "y:0"}}
    }"#;
    let dir = linear_dir(legacy, None);
    let e = Explainer::load(dir.path())
        .unwrap()
        .explain(&json!({"x0": 30, "x1": 60, "x2": 30}))
        .unwrap();
    let fa = &e.attributions[0].feature_attributions;
    for (k, want) in [("x0", 40.0), ("x1", 120.0), ("x2", 80.0)] {
        assert!((fa[k].as_f64().unwrap() - want).abs() < 1e-4, "{k}: {fa}");
    }
}

#[test]
fn spec_file_may_be_parameters_or_a_whole_spec() {
    let meta = std::fs::read_to_string(model_dir("multi_input").join("explanation_metadata.json"))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir("multi_input").join("model.onnx"),
        tmp.path().join("model.onnx"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("explanation_metadata.json"), &meta).unwrap();
    let instance = &instances("multi_input")[0];
    std::fs::write(
        tmp.path().join("explanation_spec.json"),
        r#"{"parameters": {"sampledShapleyAttribution": {"pathCount": 4}, "topK": 2}}"#,
    )
    .unwrap();
    let e = Explainer::load(tmp.path())
        .unwrap()
        .explain(instance)
        .unwrap();
    assert_eq!(e.attributions.len(), 2);
    std::fs::write(
        tmp.path().join("explanation_spec.json"),
        r#"{"sampledShapleyAttribution": {"pathCount": 4}, "topK": -1}"#,
    )
    .unwrap();
    assert_eq!(
        Explainer::load(tmp.path())
            .unwrap()
            .explain(instance)
            .unwrap()
            .attributions
            .len(),
        3
    );
    // No spec file: Sampled Shapley with 10 paths.
    std::fs::remove_file(tmp.path().join("explanation_spec.json")).unwrap();
    let explainer = Explainer::load(tmp.path()).unwrap();
    assert_eq!(
        serde_json::to_value(&explainer.spec().parameters).unwrap(),
        json!({"sampledShapleyAttribution": {"pathCount": 10}})
    );
}

#[test]
fn request_override_changes_parameters_and_baselines_but_not_the_method() {
    let meta = r#"{"inputs": {"x": {"indexFeatureMapping": ["x0", "x1", "x2"], "inputBaselines": [[10, 20, 10]]}}, "outputs": {"y": {}}}"#;
    let dir = linear_dir(
        meta,
        Some(r#"{"sampledShapleyAttribution": {"pathCount": 3}}"#),
    );
    let explainer = Explainer::load(dir.path()).unwrap();
    let o = ExplanationSpecOverride::from_json_str(
        r#"{"metadata": {"inputs": {"x": {"inputBaselines": [[0, 0, 0]]}}}}"#,
    )
    .unwrap();
    let e = explainer
        .with_override(&o)
        .unwrap()
        .explain(&json!([30, 60, 30]))
        .unwrap();
    assert_eq!(
        e.attributions[0].feature_attributions["x"],
        json!([60.0, 180.0, 120.0])
    );
    let change = ExplanationSpecOverride::from_json_str(
        r#"{"parameters": {"integratedGradientsAttribution": {"stepCount": 10}}}"#,
    )
    .unwrap();
    match explainer.with_override(&change) {
        Err(EngineError::Spec { source, .. }) => {
            assert!(
                source
                    .path()
                    .starts_with("explanationSpecOverride.parameters"),
                "{source}"
            );
        }
        other => panic!("expected a spec error, got {other:?}"),
    }
}

#[test]
fn errors_say_whose_fault_they_are() {
    let explainer = Explainer::load(model_dir("peer_linear")).unwrap();
    let err = explainer.explain(&json!({"x0": 1})).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    let bad = linear_dir(r#"{"inputs": {"x": {"encoding": "INDICATOR"}}}"#, None);
    match Explainer::load(bad.path()) {
        Err(err @ EngineError::Spec { .. }) => {
            assert!(!err.is_invalid_input());
            let text = err.to_string();
            assert!(
                text.starts_with("explanation_metadata.json: inputs.x"),
                "{text}"
            );
            assert!(text.contains("indexFeatureMapping"), "{text}");
        }
        other => panic!("expected a spec error, got {other:?}"),
    }
}

#[test]
fn predict_gives_named_outputs() {
    let explainer = Explainer::load(model_dir("peer_linear")).unwrap();
    let p = explainer
        .predict(&json!({"x0": 1, "x1": 1, "x2": 1}))
        .unwrap();
    assert_eq!(p, json!({"y": [14.0]}));
}

#[test]
fn switching_to_integrated_gradients_prepares_the_gradient_model() {
    // The directory's spec is Sampled Shapley; the same explainer switched to IG gets
    // gradients, and both agree with the closed form on a linear model.
    let meta = r#"{"inputs": {"x": {"indexFeatureMapping": ["x0", "x1", "x2"], "inputBaselines": [[10, 20, 10]]}}, "outputs": {"y": {}}}"#;
    let dir = linear_dir(meta, None);
    let shapley = Explainer::load(dir.path()).unwrap();
    let ig = shapley
        .with_parameters(
            prism_engine::ExplanationParameters::from_json_str(
                r#"{"integratedGradientsAttribution": {"stepCount": 3}}"#,
            )
            .unwrap(),
        )
        .unwrap();
    let x = json!({"x0": 30, "x1": 60, "x2": 30});
    for explainer in [&shapley, &ig] {
        let e = explainer.explain(&x).unwrap();
        let fa = &e.attributions[0].feature_attributions;
        for (k, want) in [("x0", 40.0), ("x1", 120.0), ("x2", 80.0)] {
            assert!((fa[k].as_f64().unwrap() - want).abs() < 1e-4, "{k}: {fa}");
        }
    }
    // Predictions still come from the whole model.
    assert_eq!(ig.predict(&x).unwrap(), json!({"y": [365.0]}));
    // A tree model cannot be differentiated: the error names the op, at load time.
    let err = Explainer::load(model_dir("diabetes_gbr"))
        .unwrap()
        .with_parameters(
            prism_engine::ExplanationParameters::from_json_str(
                r#"{"integratedGradientsAttribution": {}}"#,
            )
            .unwrap(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("TreeEnsembleRegressor"), "{err}");
}

/// Token ids without `encodedTensorName`: gradient methods attribute them at the output of
/// their embedding `Gather`, which is what the committed metadata names explicitly, so the
/// numbers are the same; without any input metadata too.
#[test]
fn token_ids_are_attributed_at_their_embedding_lookup_by_default() {
    let dir = model_dir("text_sentiment");
    let named = Explainer::load(&dir).unwrap();
    let mut metadata: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("explanation_metadata.json")).unwrap(),
    )
    .unwrap();
    metadata["inputs"]["tokens"]
        .as_object_mut()
        .unwrap()
        .remove("encodedTensorName");
    let without_inputs = json!({"inputs": {}, "outputs": metadata["outputs"].clone()});
    for metadata in [metadata, without_inputs] {
        let tmp = tempfile::tempdir().unwrap();
        for file in ["model.onnx", "explanation_spec.json"] {
            std::fs::copy(dir.join(file), tmp.path().join(file)).unwrap();
        }
        std::fs::write(
            tmp.path().join("explanation_metadata.json"),
            metadata.to_string(),
        )
        .unwrap();
        let defaulted = Explainer::load(tmp.path()).unwrap();
        // The spec the user wrote is kept as written.
        assert!(!serde_json::to_string(&defaulted.spec())
            .unwrap()
            .contains("token_embeddings"));
        for instance in instances("text_sentiment") {
            let want = serde_json::to_value(named.explain(&instance).unwrap()).unwrap();
            let got = serde_json::to_value(defaulted.explain(&instance).unwrap()).unwrap();
            let attribution = |e: &Value| e["attributions"][0]["featureAttributions"].clone();
            let tokens = |v: Value| v.as_object().unwrap().values().next().unwrap().clone();
            assert_eq!(
                tokens(attribution(&got)),
                tokens(attribution(&want)),
                "{instance}"
            );
            assert_eq!(
                got["attributions"][0]["instanceOutputValue"],
                want["attributions"][0]["instanceOutputValue"]
            );
        }
    }
}
