//! Integrated Gradients on real ONNX models rewritten for gradients: the public peer checks
//! 3 and 4, completeness, the quadrature rules, SmoothGrad and the errors.

use prism_attribution::AttributionError;
use prism_spec::ExplanationMetadata;
use serde_json::json;

use crate::{assert_close, attr, explain, explain_with, metadata_of, spec};

fn ig(steps: u32, extra: &str) -> String {
    format!(r#"{{"integratedGradientsAttribution": {{"stepCount": {steps}{extra}}}}}"#)
}

/// Check 3: the IG paper's two functionally equivalent networks at x = (3, 1), baseline 0,
/// get the same attributions [1.5, −0.5], and they add up to f(x) − f(0) = 1.
#[test]
fn peer_3_implementation_invariance() {
    for name in ["peer_ig_relu", "peer_ig_relu_twin"] {
        for rule in ["GAUSS_LEGENDRE", "RIEMANN_RIGHT"] {
            let params = ig(50, &format!(r#", "integrationRule": "{rule}""#));
            let e = explain(name, &params, json!({"x0": 3, "x1": 1}));
            let a = &e.attributions[0];
            assert_close(attr(&e, "x0"), 1.5, 1e-5, &format!("{name} {rule} x0"));
            assert_close(attr(&e, "x1"), -0.5, 1e-5, &format!("{name} {rule} x1"));
            assert_close(a.instance_output_value, 1.0, 1e-6, "f(x)");
            assert_close(a.baseline_output_value, 0.0, 1e-6, "f(0)");
            assert!(
                a.approximation_error < 1e-5,
                "{name}: {}",
                a.approximation_error
            );
        }
    }
}

/// Check 4: f = 5·x0 + x1² + sin x2 (gradient field [5, 2·x1, cos x2]) at x = (1, 2, 3),
/// baseline (0.5, 1, 1): IG = [2.5, 3, sin 3 − sin 1].
#[test]
fn peer_4_gradient_field() {
    let want = [2.5, 3.0, 3f64.sin() - 1f64.sin()];
    assert_close(want[2], -0.70035, 1e-5, "sin 3 − sin 1");
    let e = explain(
        "peer_ig_field",
        &ig(50, ""),
        json!({"x0": 1, "x1": 2, "x2": 3}),
    );
    for (i, w) in want.iter().enumerate() {
        assert_close(attr(&e, &format!("x{i}")), *w, 2e-5, &format!("x{i}"));
    }
    let a = &e.attributions[0];
    // f(0.5, 1, 1) = 2.5 + 1 + sin 1.
    assert_close(
        a.baseline_output_value,
        3.5 + 1f64.sin(),
        1e-5,
        "baseline output",
    );
    assert!(a.approximation_error < 1e-5, "{}", a.approximation_error);
}

/// The rules converge as textbook quadrature does on a smooth path: Gauss–Legendre is
/// exact already at a few steps, the midpoint and trapezoid rules err by O(1/n²), the
/// left and right sums by O(1/n); the completeness gap reports it.
#[test]
fn rules_converge_at_their_orders() {
    let x = json!({"x0": 1, "x1": 2, "x2": 3});
    let gap = |rule: &str, steps: u32| {
        let params = ig(steps, &format!(r#", "integrationRule": "{rule}""#));
        let e = explain("peer_ig_field", &params, x.clone());
        let x1 = attr(&e, "x1");
        (e.attributions[0].approximation_error, (x1 - 3.0).abs())
    };
    let (gl_err, gl_x1) = gap("GAUSS_LEGENDRE", 4);
    assert!(gl_err < 1e-5 && gl_x1 < 1e-5, "{gl_err} {gl_x1}");
    // x1's integrand 2·(1 + α) is linear: the midpoint and trapezoid rules are exact for
    // it, the right sum overshoots by exactly 1/n; sin makes x2 curved for all of them.
    let (_, right_x1) = gap("RIEMANN_RIGHT", 10);
    assert_close(right_x1, 0.1, 1e-5, "right sum error on x1 at 10 steps");
    let (_, left_x1) = gap("RIEMANN_LEFT", 10);
    assert_close(left_x1, 0.1, 1e-5, "left sum error on x1 at 10 steps");
    let (_, mid_x1) = gap("RIEMANN_MIDDLE", 10);
    assert!(mid_x1 < 1e-5, "{mid_x1}");
    let (left10, _) = gap("RIEMANN_LEFT", 10);
    let (left40, _) = gap("RIEMANN_LEFT", 40);
    assert!(
        left10 / left40 > 3.0 && left10 / left40 < 5.0,
        "{left10} {left40}"
    );
    let (trap10, _) = gap("RIEMANN_TRAPEZOID", 10);
    let (trap20, _) = gap("RIEMANN_TRAPEZOID", 20);
    assert!(
        trap10 / trap20 > 3.0 && trap10 / trap20 < 5.0,
        "{trap10} {trap20}"
    );
}

/// On the real breast-cancer MLP, IG's attributions add up to f(x) − f(baseline) within the
/// reported error, that error is small at 50 steps, and several baselines are averaged.
#[test]
fn breast_cancer_mlp_completeness_and_baselines() {
    let instance: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(crate::model_dir("breast_cancer_mlp").join("instances.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let e = explain("breast_cancer_mlp", &ig(50, ""), instance.clone());
    let a = &e.attributions[0];
    let sum: f64 = a
        .feature_attributions
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    let gap = a.instance_output_value - a.baseline_output_value;
    assert!(
        gap.abs() > 0.05,
        "a poor baseline would make this test weak: {gap}"
    );
    assert_close(
        a.approximation_error,
        (sum - gap).abs() / gap.abs(),
        1e-12,
        "approximationError is the completeness gap",
    );
    assert!(a.approximation_error < 0.01, "{}", a.approximation_error);

    // Two baselines: the explanation is the mean of the two single-baseline ones.
    let mut meta = metadata_of("breast_cancer_mlp");
    let base = serde_json::to_value(&meta).unwrap();
    let input_key = base["inputs"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let single = |b: serde_json::Value| {
        let mut m = base.clone();
        m["inputs"][&input_key]["inputBaselines"] = json!([b]);
        ExplanationMetadata::from_value(m).unwrap()
    };
    let n = base["inputs"][&input_key]["indexFeatureMapping"]
        .as_array()
        .unwrap()
        .len();
    let (b1, b2) = (json!(vec![0.0; n]), json!(vec![1.0; n]));
    let e1 = explain_with(
        "breast_cancer_mlp",
        &spec(&ig(20, ""), single(b1.clone())),
        instance.clone(),
    )
    .unwrap();
    let e2 = explain_with(
        "breast_cancer_mlp",
        &spec(&ig(20, ""), single(b2.clone())),
        instance.clone(),
    )
    .unwrap();
    let mut both = base.clone();
    both["inputs"][&input_key]["inputBaselines"] = json!([b1, b2]);
    meta = ExplanationMetadata::from_value(both).unwrap();
    let e12 = explain_with("breast_cancer_mlp", &spec(&ig(20, ""), meta), instance).unwrap();
    let (a1, a2, a12) = (
        &e1.attributions[0],
        &e2.attributions[0],
        &e12.attributions[0],
    );
    assert_close(
        a12.baseline_output_value,
        (a1.baseline_output_value + a2.baseline_output_value) / 2.0,
        1e-9,
        "baseline output",
    );
    for (k, v) in a12.feature_attributions.as_object().unwrap() {
        let want = (a1.feature_attributions[k].as_f64().unwrap()
            + a2.feature_attributions[k].as_f64().unwrap())
            / 2.0;
        assert_close(v.as_f64().unwrap(), want, 1e-9, k);
    }
}

/// SmoothGrad: with zero noise it is IG; with noise it is seeded (same seed, same numbers;
/// another seed, other numbers); `featureNoiseSigma` noises only the features it names.
#[test]
fn smoothgrad_is_seeded_and_per_feature() {
    let x = json!({"x0": 3, "x1": 1});
    let plain = explain("peer_ig_relu", &ig(50, ""), x.clone());
    let zero = explain(
        "peer_ig_relu",
        &ig(
            50,
            r#", "smoothGradConfig": {"noiseSigma": 0, "noisySampleCount": 5}"#,
        ),
        x.clone(),
    );
    for k in ["x0", "x1"] {
        assert_close(attr(&plain, k), attr(&zero, k), 1e-12, k);
    }

    let noisy = |seed: u64| {
        let params = format!(
            r#"{{"integratedGradientsAttribution": {{"stepCount": 20, "smoothGradConfig": {{"noiseSigma": 0.5, "noisySampleCount": 10}}}}, "seed": {seed}}}"#
        );
        explain("peer_ig_relu", &params, x.clone())
    };
    let (a, b, c) = (noisy(1), noisy(1), noisy(2));
    assert_eq!(
        a.attributions[0].feature_attributions,
        b.attributions[0].feature_attributions
    );
    assert_ne!(
        a.attributions[0].feature_attributions,
        c.attributions[0].feature_attributions
    );
    // Noise moves where the kink at relu(x0) − 1 − relu(x1) = 0 is crossed: x0's credit
    // changes from IG's 1.5, but stays in a plausible range.
    let x0 = attr(&a, "x0");
    assert!((x0 - 1.5).abs() > 1e-3 && (0.5..2.5).contains(&x0), "{x0}");

    // Only x1 noised: on peer_ig_field x0's integrand is constant (5), so its attribution
    // stays exactly 2.5, while x2's moves.
    let meta = ExplanationMetadata::from_value(json!({
        "inputs": {
            "x0": {"inputTensorName": "x", "inputBaselines": [0.5]},
            "x1": {"inputTensorName": "x", "inputBaselines": [1]},
            "x2": {"inputTensorName": "x", "inputBaselines": [1]}
        },
        "outputs": {"y": {"outputTensorName": "y"}}
    }))
    .unwrap();
    let params = ig(
        20,
        r#", "smoothGradConfig": {"featureNoiseSigma": {"noiseSigma": [{"name": "x2", "sigma": 0.3}]}, "noisySampleCount": 8}"#,
    );
    let e = explain_with(
        "peer_ig_field",
        &spec(&params, meta.clone()),
        json!({"x0": 1, "x1": 2, "x2": 3}),
    )
    .unwrap();
    assert_close(
        attr(&e, "x0"),
        2.5,
        1e-5,
        "x0 (noise-free, constant gradient)",
    );
    assert_close(attr(&e, "x1"), 3.0, 1e-5, "x1 (noise-free)");
    assert!((attr(&e, "x2") - (3f64.sin() - 1f64.sin())).abs() > 1e-4);

    // An unknown feature name is refused at plan time, naming the field.
    let bad = ig(
        20,
        r#", "smoothGradConfig": {"featureNoiseSigma": {"noiseSigma": [{"name": "nope", "sigma": 0.3}]}}"#,
    );
    let err = explain_with(
        "peer_ig_field",
        &spec(&bad, meta),
        json!({"x0": 1, "x1": 2, "x2": 3}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("smoothGradConfig.featureNoiseSigma.noiseSigma[0].name")
            && err.contains("nope"),
        "{err}"
    );
}

/// topK over a multi-class model: one gradient row per (step, output), each attribution
/// complete for its own output.
#[test]
fn each_selected_output_gets_its_own_gradients() {
    let e = explain(
        "multi_input",
        r#"{"integratedGradientsAttribution": {"stepCount": 30}, "topK": -1}"#,
        json!({"a": 1.0, "b": -0.5, "c": 2.0, "d": 0.3, "e": -1.2}),
    );
    assert_eq!(e.attributions.len(), 3);
    let mut seen = vec![];
    for a in &e.attributions {
        assert!(a.approximation_error < 1e-3, "{a:?}");
        seen.push(a.output_index.clone().unwrap()[0]);
    }
    seen.sort();
    assert_eq!(seen, [0, 1, 2]);
    // Different outputs, different attributions.
    assert_ne!(
        e.attributions[0].feature_attributions,
        e.attributions[1].feature_attributions
    );
}

/// Gradient methods refuse what they cannot do, naming it: a tree model (no gradients),
/// Blur IG without an image input.
#[test]
fn errors_name_the_problem() {
    let err = explain_with(
        "diabetes_gbr",
        &spec(&ig(10, ""), metadata_of("diabetes_gbr")),
        json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(err, AttributionError::Model(_)) && err.to_string().contains("TreeEnsemble"),
        "{err}"
    );
    let err = explain_with(
        "peer_ig_field",
        &spec(
            &ig(10, r#", "blurBaselineConfig": {"maxBlurSigma": 10}"#),
            metadata_of("peer_ig_field"),
        ),
        json!({"x0": 1, "x1": 2, "x2": 3}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("blurBaselineConfig") && err.contains("image"),
        "{err}"
    );
}

/// Token ids are attributed at their embedding (`encodedTensorName`): the path walks the
/// embedding space from the baseline ids' rows to the instance's, and each token gets the
/// sum over its embedding row. On a linear model that is (E[x_l] − E[b_l]) · w exactly,
/// which is also what Sampled Shapley over the ids gives.
#[test]
fn ids_are_attributed_through_their_embedding() {
    // Token scores E[id] · w for ids 0..6.
    let score = [0.0, 0.5, -1.75, 5.5, 0.25, -2.5];
    let x = json!({"ids": [1, 2, 3, 0]});
    let want: Vec<f64> = [1, 2, 3, 0].iter().map(|&i| score[i]).collect();
    let by_ig = explain("peer_embedding", &ig(5, ""), x.clone());
    let shapley = explain(
        "peer_embedding",
        r#"{"sampledShapleyAttribution": {"pathCount": 4}}"#,
        x.clone(),
    );
    for e in [&by_ig, &shapley] {
        let got = e.attributions[0].feature_attributions["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(got.len(), 4);
        for (g, w) in got.iter().zip(&want) {
            assert_close(*g, *w, 1e-5, "token attribution");
        }
    }
    let a = &by_ig.attributions[0];
    assert_close(a.instance_output_value, 4.25, 1e-6, "f(x)");
    assert_close(a.baseline_output_value, 0.0, 1e-6, "f(pad ids)");
    assert!(a.approximation_error < 1e-6);

    // encodedBaselines replace the baseline ids' embedding: all ones score 1 per token.
    let meta = ExplanationMetadata::from_value(json!({
        "inputs": {"ids": {
            "inputTensorName": "ids",
            "encodedTensorName": "embedding",
            "encodedBaselines": [1]
        }},
        "outputs": {"y": {}}
    }))
    .unwrap();
    let e = explain_with("peer_embedding", &spec(&ig(5, ""), meta), x.clone()).unwrap();
    let got = &e.attributions[0].feature_attributions["ids"];
    for (g, w) in got.as_array().unwrap().iter().zip(&want) {
        assert_close(g.as_f64().unwrap(), w - 1.0, 1e-5, "token vs ones baseline");
    }
    assert_close(
        e.attributions[0].baseline_output_value,
        4.0,
        1e-5,
        "baseline output at the encoded baseline",
    );

    // Without encodedTensorName the ids cannot be differentiated: the error says what to set.
    let meta = ExplanationMetadata::from_value(json!({
        "inputs": {"ids": {"inputTensorName": "ids"}},
        "outputs": {"y": {}}
    }))
    .unwrap();
    let err = explain_with("peer_embedding", &spec(&ig(5, ""), meta), x.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metadata.inputs.ids") && err.contains("encodedTensorName"),
        "{err}"
    );
    // An encodedBaselines entry of the wrong size is refused, naming the field.
    let meta = ExplanationMetadata::from_value(json!({
        "inputs": {"ids": {
            "inputTensorName": "ids",
            "encodedTensorName": "embedding",
            "encodedBaselines": [[1, 2, 3]]
        }},
        "outputs": {"y": {}}
    }))
    .unwrap();
    let err = explain_with("peer_embedding", &spec(&ig(5, ""), meta), x)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metadata.inputs.ids.encodedBaselines"),
        "{err}"
    );
}
