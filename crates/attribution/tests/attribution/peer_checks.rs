//! The public peer checks of `reference/explanations.md` (1, 2, 5, 6, 7) as numeric tests.

use prism_attribution::ExplainPlan;
use prism_model::Model;
use prism_spec::ExplanationMetadata;
use serde_json::json;

use crate::{assert_close, attr, explain, load_model, metadata_of, spec, EXACT};

/// Check 1: relu(s−10) + 3·relu(s+1) − 1 at x = [20, 50, 30], baseline 0. Three players have
/// 6 permutations, fewer than pathCount 10, so Prism walks them all: exact values.
#[test]
fn peer_1_relu_sum_exact_shapley() {
    let e = explain(
        "peer_relu",
        r#"{"sampledShapleyAttribution": {"pathCount": 10}}"#,
        json!({"x0": 20, "x1": 50, "x2": 30}),
    );
    assert_close(attr(&e, "x0"), 76.6667, 1e-3, "x0");
    assert_close(attr(&e, "x1"), 196.6667, 1e-3, "x1");
    assert_close(attr(&e, "x2"), 116.6667, 1e-3, "x2");
    assert_eq!(e.attributions[0].approximation_error, 0.0);
}

/// Three separate metadata features packed into tensor `x`, x0 and x1 grouped.
fn grouped_relu_metadata(baseline: f64) -> ExplanationMetadata {
    ExplanationMetadata::from_value(json!({
        "inputs": {
            "x0": {"inputTensorName": "x", "groupName": "x01", "inputBaselines": [baseline]},
            "x1": {"inputTensorName": "x", "groupName": "x01", "inputBaselines": [baseline]},
            "x2": {"inputTensorName": "x", "inputBaselines": [baseline]}
        },
        "outputs": {"y": {"outputTensorName": "y"}}
    }))
    .unwrap()
}

/// Check 1 with x0 and x1 as one player: [275, 275, 115]; with baseline 4: [248, 248, 104].
/// The group is reported once, under its name.
#[test]
fn peer_1_grouped_players() {
    let model = load_model("peer_relu");
    for (baseline, group, x2) in [(0.0, 275.0, 115.0), (4.0, 248.0, 104.0)] {
        let s = spec(
            r#"{"sampledShapleyAttribution": {"pathCount": 2}}"#,
            grouped_relu_metadata(baseline),
        );
        let plan = ExplainPlan::new(&s, model.signature()).unwrap();
        let e = plan
            .explain(&model, &json!({"x0": 20, "x1": 50, "x2": 30}))
            .unwrap();
        let fa = e.attributions[0].feature_attributions.as_object().unwrap();
        assert_eq!(
            fa.keys().collect::<Vec<_>>(),
            ["x01", "x2"],
            "baseline {baseline}"
        );
        assert_close(attr(&e, "x01"), group, EXACT, "group");
        assert_close(attr(&e, "x2"), x2, EXACT, "x2");
    }
}

/// Check 2: a linear model's attributions are coef·(x − b): [40, 120, 80].
#[test]
fn peer_2_linear_model() {
    let e = explain(
        "peer_linear",
        r#"{"sampledShapleyAttribution": {"pathCount": 3}}"#,
        json!({"x0": 30, "x1": 60, "x2": 30}),
    );
    assert_close(attr(&e, "x0"), 40.0, EXACT, "x0");
    assert_close(attr(&e, "x1"), 120.0, EXACT, "x1");
    assert_close(attr(&e, "x2"), 80.0, EXACT, "x2");
    let a = &e.attributions[0];
    // f(b) = 2·10 + 3·20 + 4·10 + 5
    assert_close(a.baseline_output_value, 125.0, EXACT, "baseline output");
    assert_close(a.instance_output_value, 365.0, EXACT, "instance output");
}

/// Check 5: f = x0·x2 + x1 + x2 + x2·x3 (+ dummy x4). 5! = 120 permutations exceed pathCount
/// 10, so paths are sampled — but antithetic pairs make pairwise interactions exact.
#[test]
fn peer_5_interactions_exact_with_antithetic_pairs() {
    let (x0, x1, x2, x3, x4) = (1.5, -2.0, 3.0, 0.5, 7.0);
    for seed in [0u64, 1, 99] {
        let params =
            format!(r#"{{"sampledShapleyAttribution": {{"pathCount": 10}}, "seed": {seed}}}"#);
        let e = explain(
            "peer_interaction",
            &params,
            json!({"x0": x0, "x1": x1, "x2": x2, "x3": x3, "x4": x4}),
        );
        assert_close(attr(&e, "x0"), x0 * x2 / 2.0, EXACT, "x0");
        assert_close(attr(&e, "x1"), x1, EXACT, "x1");
        assert_close(
            attr(&e, "x2"),
            x2 + x0 * x2 / 2.0 + x2 * x3 / 2.0,
            EXACT,
            "x2",
        );
        assert_close(attr(&e, "x3"), x2 * x3 / 2.0, EXACT, "x3");
        assert_eq!(attr(&e, "x4"), 0.0, "dummy");
        assert!(e.attributions[0].approximation_error < 1e-6);
    }
}

/// The sanity twin of check 5: without antithetic pairing (an odd path count leaves one path
/// unpaired) the estimate is not exact, so the exactness above is the pairing's doing.
#[test]
fn peer_5_single_path_is_not_exact() {
    let e = explain(
        "peer_interaction",
        r#"{"sampledShapleyAttribution": {"pathCount": 1}}"#,
        json!({"x0": 1.5, "x1": -2.0, "x2": 3.0, "x3": 0.5, "x4": 7.0}),
    );
    let x2 = attr(&e, "x2");
    let exact = 3.0 + 1.5 * 3.0 / 2.0 + 3.0 * 0.5 / 2.0;
    let x0 = attr(&e, "x0");
    assert!(
        (x2 - exact).abs() > 0.1 || (x0 - 2.25).abs() > 0.1,
        "x0 {x0}, x2 {x2}"
    );
}

/// Check 6: the null model gives zero attributions.
#[test]
fn peer_6_null_model() {
    let e = explain(
        "peer_null",
        r#"{"sampledShapleyAttribution": {"pathCount": 10}}"#,
        json!({"x0": 3.0, "x1": -1.0, "x2": 100.0, "x3": 0.25}),
    );
    for f in ["x0", "x1", "x2", "x3"] {
        assert!(attr(&e, f).abs() < 1e-8, "{f}");
    }
}

/// Check 7: baselineOutputValue + Σ attributions = instanceOutputValue, on a neural network,
/// boosted trees and a random forest, for every instance of each test model.
#[test]
fn peer_7_additivity_on_real_models() {
    for name in [
        "breast_cancer_mlp",
        "breast_cancer_gbt",
        "diabetes_rf",
        "diabetes_gbr",
        "multi_input",
    ] {
        let model = load_model(name);
        let plan = ExplainPlan::new(
            &spec(
                r#"{"sampledShapleyAttribution": {"pathCount": 7}, "topK": -1}"#,
                metadata_of(name),
            ),
            model.signature(),
        )
        .unwrap();
        let lines =
            std::fs::read_to_string(crate::model_dir(name).join("instances.jsonl")).unwrap();
        for line in lines.lines() {
            let e = plan
                .explain(&model, &serde_json::from_str(line).unwrap())
                .unwrap();
            for a in &e.attributions {
                let sum: f64 = a
                    .feature_attributions
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|v| v.as_f64().unwrap())
                    .sum();
                let gap = a.instance_output_value - a.baseline_output_value;
                let tol = 1e-9 * (1.0 + a.instance_output_value.abs());
                assert!((sum - gap).abs() <= tol, "{name}: Σ {sum} vs gap {gap}");
            }
        }
    }
}

/// The same request gives the same numbers; another seed gives others.
#[test]
fn seeded_and_reproducible() {
    let instance: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(crate::model_dir("breast_cancer_mlp").join("instances.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let run = |seed: u64| {
        let p = format!(r#"{{"sampledShapleyAttribution": {{"pathCount": 4}}, "seed": {seed}}}"#);
        explain("breast_cancer_mlp", &p, instance.clone()).attributions[0]
            .feature_attributions
            .clone()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

/// Sampled values converge to exact Shapley values (computed here by enumerating all
/// coalitions of the 10 diabetes features on the real tree model).
#[test]
fn sampled_shapley_converges_to_exact_values_on_trees() {
    let model = load_model("diabetes_gbr");
    let meta = metadata_of("diabetes_gbr");
    let line =
        std::fs::read_to_string(crate::model_dir("diabetes_gbr").join("instances.jsonl")).unwrap();
    let instance: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let plan = ExplainPlan::new(
        &spec(r#"{"sampledShapleyAttribution": {"pathCount": 50}}"#, meta),
        model.signature(),
    )
    .unwrap();
    let e = plan.explain(&model, &instance).unwrap();
    let bound = plan.binder().bind(&instance).unwrap();
    let base = &plan.binder().baselines(&bound).unwrap()[0];
    let n = 10usize;
    // f over all 2^10 coalitions in one batch.
    let rows: Vec<Vec<f32>> = (0..1usize << n)
        .map(|mask| (0..n).map(|j| if mask >> j & 1 == 1 { bound.values[0][j] } else { base.values[0][j] } as f32).collect())
        .collect();
    let flat: Vec<f32> = rows.concat();
    let out = model
        .forward(&[prism_model::Tensor::f32(vec![1 << n, n], flat).unwrap()])
        .unwrap();
    let f = out[0].as_f32().unwrap();
    let fact = |k: usize| (1..=k).product::<usize>() as f64;
    let names = [
        "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6",
    ];
    let mut worst = 0f64;
    let scale =
        (e.attributions[0].instance_output_value - e.attributions[0].baseline_output_value).abs();
    for (j, name) in names.iter().enumerate() {
        let mut phi = 0.0;
        for mask in 0..1usize << n {
            if mask >> j & 1 == 1 {
                continue;
            }
            let s = mask.count_ones() as usize;
            let w = fact(s) * fact(n - s - 1) / fact(n);
            phi += w * (f64::from(f[mask | 1 << j]) - f64::from(f[mask]));
        }
        worst = worst.max((attr(&e, name) - phi).abs());
    }
    // 50 sampled paths: within 5% of the prediction gap of the exact values.
    assert!(worst < 0.05 * scale, "worst error {worst} vs gap {scale}");
}

/// Evaluations split into many small model calls (a tiny memory cap) give exactly the
/// numbers of one large batch.
#[test]
fn batch_cap_does_not_change_the_numbers() {
    let name = "breast_cancer_mlp";
    let model = load_model(name);
    let s = spec(
        r#"{"sampledShapleyAttribution": {"pathCount": 6}}"#,
        metadata_of(name),
    );
    let line = std::fs::read_to_string(crate::model_dir(name).join("instances.jsonl")).unwrap();
    let instance: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let big = ExplainPlan::new(&s, model.signature()).unwrap();
    // 30 values per row: a cap of 200 values is 6 rows per model call, mid-path.
    let small = ExplainPlan::new(&s, model.signature())
        .unwrap()
        .with_max_batch_values(200);
    let a = big.explain(&model, &instance).unwrap();
    let b = small.explain(&model, &instance).unwrap();
    for (x, y) in a.attributions.iter().zip(&b.attributions) {
        for (k, v) in x.feature_attributions.as_object().unwrap() {
            let w = y.feature_attributions[k].as_f64().unwrap();
            assert!((v.as_f64().unwrap() - w).abs() < 1e-6, "{k}");
        }
    }
}
