//! The `explain_plan` target: a fuzzed instance through `ExplainPlan::explain` on small
//! real ONNX models from `testdata/models/`.

use std::sync::OnceLock;

use prism_attribution::ExplainPlan;
use prism_model::{Model, OnnxModel};
use prism_spec::{ExplanationMetadata, ExplanationSpec};
use serde_json::Value;

use crate::text;

const MODELS: [&str; 3] = ["peer_linear", "list_feature", "multi_input"];

/// Spec variants per model: its metadata file or none, and the output selection.
const VARIANTS: [(bool, &str); 3] = [
    (true, r#"{"sampledShapleyAttribution": {"pathCount": 3}}"#),
    (
        false,
        r#"{"sampledShapleyAttribution": {"pathCount": 2}, "topK": -1}"#,
    ),
    (
        true,
        r#"{"sampledShapleyAttribution": {"pathCount": 1}, "outputIndices": [0]}"#,
    ),
];

struct Case {
    model: OnnxModel,
    plan: ExplainPlan,
}

fn model_dir(name: &str) -> String {
    format!("{}/../testdata/models/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let mut out = Vec::new();
        for name in MODELS {
            let dir = model_dir(name);
            let model = OnnxModel::load(format!("{dir}/model.onnx"))
                .unwrap_or_else(|e| panic!("{name}: load: {e}"));
            let metadata_text = std::fs::read_to_string(format!("{dir}/explanation_metadata.json"))
                .unwrap_or_else(|e| panic!("{name}: metadata: {e}"));
            let metadata = ExplanationMetadata::from_json_str(&metadata_text)
                .unwrap_or_else(|e| panic!("{name}: metadata: {e}"));
            for (with_metadata, parameters) in VARIANTS {
                let mut spec =
                    ExplanationSpec::from_json_str(&format!(r#"{{"parameters": {parameters}}}"#))
                        .unwrap_or_else(|e| panic!("{name}: spec: {e}"));
                if with_metadata {
                    spec.metadata = Some(metadata.clone());
                }
                let plan = ExplainPlan::new(&spec, model.signature())
                    .unwrap_or_else(|e| panic!("{name}: plan: {e}"));
                out.push(Case {
                    model: model.clone(),
                    plan,
                });
            }
        }
        out
    })
}

/// Sums the numeric leaves of `v`; panics on a non-number leaf.
fn leaf_sum(v: &Value, abs: &mut f64) -> f64 {
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            assert!(x.is_finite(), "attribution {x} is not finite");
            *abs += x.abs();
            x
        }
        Value::Array(items) => items.iter().map(|i| leaf_sum(i, abs)).sum(),
        Value::Object(map) => map.values().map(|i| leaf_sum(i, abs)).sum(),
        other => panic!("attribution leaf {other} is not a number"),
    }
}

/// First byte: a (model, spec) pair; the rest: a JSON instance. `explain` and `predict`
/// must return an error or an explanation whose attributions are finite and complete
/// (Sampled Shapley's credits on every path sum to `f(x) − f(baseline)`).
pub fn explain_plan(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let cases = cases();
    let case = &cases[pick as usize % cases.len()];
    let Some(text) = text(rest) else { return };
    let Ok(instance) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Err(e) = case.plan.predict(&case.model, &instance) {
        let _ = e.to_string();
    }
    let explanation = match case.plan.explain(&case.model, &instance) {
        Ok(e) => e,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(
        !explanation.attributions.is_empty(),
        "an explanation without attributions"
    );
    for a in &explanation.attributions {
        let mut abs = 0.0;
        let sum = leaf_sum(&a.feature_attributions, &mut abs);
        let gap = a.instance_output_value - a.baseline_output_value;
        let tol =
            1e-6 * (abs + a.instance_output_value.abs() + a.baseline_output_value.abs()) + 1e-9;
        assert!(
            (sum - gap).abs() <= tol,
            "completeness: attributions sum to {sum}, f(x) − f(b) = {gap}\n{a:?}"
        );
        assert!(
            a.approximation_error.is_finite() && a.approximation_error >= 0.0,
            "approximationError {}",
            a.approximation_error
        );
    }
}
