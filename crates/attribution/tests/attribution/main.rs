//! Integration tests of binding, output selection and Sampled Shapley on the real test
//! models in `testdata/models` (one binary, several modules).

mod binding;
mod images;
mod integrated;
mod peer_checks;
mod selection;

use std::path::{Path, PathBuf};

use prism_attribution::ExplainPlan;
use prism_model::{Model, OnnxModel};
use prism_spec::{Explanation, ExplanationMetadata, ExplanationParameters, ExplanationSpec};
use serde_json::Value;

/// Float tolerance for results that are exact in real arithmetic (float32 model outputs
/// combined in float64).
pub(crate) const EXACT: f64 = 1e-4;

pub(crate) fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(name)
}

pub(crate) fn load_model(name: &str) -> OnnxModel {
    OnnxModel::load(model_dir(name).join("model.onnx")).unwrap()
}

pub(crate) fn metadata_of(name: &str) -> ExplanationMetadata {
    let text = std::fs::read_to_string(model_dir(name).join("explanation_metadata.json")).unwrap();
    ExplanationMetadata::from_json_str(&text).unwrap()
}

pub(crate) fn spec(parameters: &str, metadata: ExplanationMetadata) -> ExplanationSpec {
    ExplanationSpec {
        parameters: ExplanationParameters::from_json_str(parameters).unwrap(),
        metadata: Some(metadata),
    }
}

/// Explains one instance of a test model with its own metadata and the given parameters.
pub(crate) fn explain(name: &str, parameters: &str, instance: Value) -> Explanation {
    explain_with(name, &spec(parameters, metadata_of(name)), instance).unwrap()
}

/// Explains one instance of a test model under `spec`, with the model rewritten for
/// gradients when the method needs them (as the engine does).
pub(crate) fn explain_with(
    name: &str,
    spec: &ExplanationSpec,
    instance: Value,
) -> prism_attribution::Result<Explanation> {
    let model = load_model(name);
    let plan = ExplainPlan::new(spec, model.signature())?;
    match plan.gradient_spec() {
        Some(g) => {
            let bytes = std::fs::read(model_dir(name).join("model.onnx")).unwrap();
            let grad_model = prism_model::gradient::lean_gradient_model_with_offsets(
                &bytes,
                &g,
                &plan.encoded_values(),
            )?;
            plan.explain(&grad_model, &instance)
        }
        None => plan.explain(&model, &instance),
    }
}

/// The attribution of one feature (a number) in the first attribution.
pub(crate) fn attr(e: &Explanation, feature: &str) -> f64 {
    e.attributions[0].feature_attributions[feature]
        .as_f64()
        .unwrap_or_else(|| panic!("no attribution for {feature}: {:?}", e.attributions[0]))
}

pub(crate) fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (±{tol})"
    );
}
