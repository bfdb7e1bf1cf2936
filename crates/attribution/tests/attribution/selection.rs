//! Output selection: argmax by default, topK (sorted, −1 = all), outputIndices (order kept),
//! display names and output indices.

use prism_attribution::{AttributionError, ExplainPlan};
use prism_model::Model;
use serde_json::json;

use crate::{explain, load_model, metadata_of, spec};

const SHAPLEY: &str = r#""sampledShapleyAttribution": {"pathCount": 4}"#;

fn outputs_of(params: &str, instance: serde_json::Value) -> Vec<(Vec<i32>, String, f64)> {
    explain("multi_input", &format!("{{{SHAPLEY}{params}}}"), instance)
        .attributions
        .iter()
        .map(|a| {
            (
                a.output_index.clone().unwrap(),
                a.output_display_name.clone().unwrap(),
                a.instance_output_value,
            )
        })
        .collect()
}

fn instance(line: usize) -> serde_json::Value {
    let text =
        std::fs::read_to_string(crate::model_dir("multi_input").join("instances.jsonl")).unwrap();
    serde_json::from_str(text.lines().nth(line).unwrap()).unwrap()
}

#[test]
fn default_explains_the_argmax() {
    // The test model's first three instances have argmax low, mid and high.
    for (line, want) in [(0, "low"), (1, "mid"), (2, "high")] {
        let got = outputs_of("", instance(line));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, want);
    }
}

#[test]
fn top_k_sorts_by_output_value() {
    let two = outputs_of(r#", "topK": 2"#, instance(1));
    assert_eq!(two.len(), 2);
    assert!(two[0].2 >= two[1].2);
    assert_eq!(two[0].1, "mid");
    let all = outputs_of(r#", "topK": -1"#, instance(1));
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].2 >= w[1].2));
    let probabilities: f64 = all.iter().map(|o| o.2).sum();
    assert!(
        (probabilities - 1.0).abs() < 1e-5,
        "softmax outputs sum to 1"
    );
}

#[test]
fn output_indices_keep_their_order() {
    let got = outputs_of(r#", "outputIndices": [2, 0]"#, instance(0));
    assert_eq!(
        got.iter().map(|o| o.0.clone()).collect::<Vec<_>>(),
        [vec![2], vec![0]]
    );
    assert_eq!(
        got.iter().map(|o| o.1.as_str()).collect::<Vec<_>>(),
        ["high", "low"]
    );
}

#[test]
fn output_index_out_of_range_is_a_parameter_error() {
    let model = load_model("multi_input");
    let s = spec(
        &format!(r#"{{{SHAPLEY}, "outputIndices": [5]}}"#),
        metadata_of("multi_input"),
    );
    let plan = ExplainPlan::new(&s, model.signature()).unwrap();
    match plan.explain(&model, &instance(0)) {
        Err(AttributionError::Parameters { path, message }) => {
            assert_eq!(path, "parameters.outputIndices[0]");
            assert!(message.contains("out of range"), "{message}");
        }
        other => panic!("expected a parameters error, got {other:?}"),
    }
}

#[test]
fn every_output_shares_one_set_of_model_runs_and_stays_additive() {
    let e = explain(
        "multi_input",
        &format!(r#"{{{SHAPLEY}, "topK": -1}}"#),
        instance(2),
    );
    // Attributions to the three softmax outputs sum to zero feature by feature, because the
    // outputs always sum to 1: a check that all outputs come from the same evaluations.
    for feature in ["a", "b", "c", "extra_group"] {
        let total: f64 = e
            .attributions
            .iter()
            .map(|a| a.feature_attributions[feature].as_f64().unwrap())
            .sum();
        assert!(total.abs() < 1e-6, "{feature}: {total}");
    }
    assert!(e.attributions.iter().all(|a| a.output_name == "scores"));
}

#[test]
fn scalar_regression_output_has_index_zero_and_no_display_name() {
    let e = explain(
        "peer_linear",
        r#"{"sampledShapleyAttribution": {"pathCount": 2}}"#,
        json!({"x0": 1, "x1": 2, "x2": 3}),
    );
    let a = &e.attributions[0];
    assert_eq!(a.output_index, Some(vec![0]));
    assert_eq!(a.output_display_name, None);
    assert_eq!(a.output_name, "y");
}
