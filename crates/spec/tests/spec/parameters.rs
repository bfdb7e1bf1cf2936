//! ExplanationParameters: methods, defaults, ranges, output selection.

use prism_spec::{
    ExplanationParameters, ExplanationSpec, Method, SpecError, DEFAULT_NOISY_SAMPLE_COUNT,
    DEFAULT_PATH_COUNT, DEFAULT_STEP_COUNT,
};
use serde_json::json;

use crate::{assert_err, err, ok, spec, spec_err};

fn params(v: serde_json::Value) -> ExplanationParameters {
    ok(ExplanationParameters::from_value(v))
}

#[test]
fn empty_method_objects_take_the_defaults() {
    let p = params(json!({"sampledShapleyAttribution": {}}));
    let Method::SampledShapley(s) = &p.method else {
        panic!("{p:?}")
    };
    assert_eq!(s.path_count, DEFAULT_PATH_COUNT);
    assert_eq!(p.method.name(), "sampledShapleyAttribution");
    assert!(!p.method.needs_gradients());

    let p = params(json!({"integratedGradientsAttribution": {"smoothGradConfig": {}}}));
    let Method::IntegratedGradients(ig) = &p.method else {
        panic!("{p:?}")
    };
    assert_eq!(ig.step_count, DEFAULT_STEP_COUNT);
    let sg = ig.smooth_grad_config.as_ref().expect("smoothGradConfig");
    assert_eq!(sg.noisy_sample_count, DEFAULT_NOISY_SAMPLE_COUNT);
    assert_eq!(sg.sigma_for("anything"), Some(0.1));
    assert!(p.method.needs_gradients());

    let p = params(json!({"xraiAttribution": {}}));
    assert!(matches!(&p.method, Method::Xrai(x) if x.step_count == 50));
    assert_eq!(p.top_k, None);
    assert_eq!(p.output_indices, None);
}

#[test]
fn the_reference_error_message() {
    let e = spec_err(json!({"parameters": {"sampledShapleyAttribution": {"pathCount": 0}}}));
    assert_eq!(
        e.clone().with_prefix("explanationSpec").to_string(),
        "explanationSpec.parameters.sampledShapleyAttribution.pathCount: must be in 1..=50, got 0"
    );
    assert!(matches!(e, SpecError::Invalid { .. }));
}

#[test]
fn counts_are_range_checked_with_their_path() {
    let cases = [
        (
            json!({"sampledShapleyAttribution": {"pathCount": 51}}),
            "sampledShapleyAttribution.pathCount",
            "1..=50, got 51",
        ),
        (
            json!({"sampledShapleyAttribution": {"pathCount": "-1"}}),
            "sampledShapleyAttribution.pathCount",
            "got -1",
        ),
        (
            json!({"integratedGradientsAttribution": {"stepCount": 0}}),
            "integratedGradientsAttribution.stepCount",
            "1..=100, got 0",
        ),
        (
            json!({"xraiAttribution": {"stepCount": 101}}),
            "xraiAttribution.stepCount",
            "1..=100, got 101",
        ),
        (
            json!({"xraiAttribution": {"smoothGradConfig": {"noisySampleCount": 0}}}),
            "xraiAttribution.smoothGradConfig.noisySampleCount",
            "1..=50, got 0",
        ),
        (
            json!({"integratedGradientsAttribution": {"smoothGradConfig": {"noisySampleCount": 51}}}),
            "integratedGradientsAttribution.smoothGradConfig.noisySampleCount",
            "1..=50, got 51",
        ),
    ];
    for (v, path, needle) in cases {
        let e = err(ExplanationParameters::from_value(v));
        assert_err(&e, path, needle);
    }
}

#[test]
fn counts_accept_strings_and_integral_numbers_only() {
    let p = params(json!({"sampledShapleyAttribution": {"pathCount": "10"}}));
    assert!(matches!(p.method, Method::SampledShapley(s) if s.path_count == 10));
    let p = params(json!({"sampledShapleyAttribution": {"pathCount": 12.0}}));
    assert!(matches!(p.method, Method::SampledShapley(s) if s.path_count == 12));
    let e = err(ExplanationParameters::from_value(
        json!({"sampledShapleyAttribution": {"pathCount": 10.5}}),
    ));
    assert!(matches!(e, SpecError::Type { .. }), "{e}");
    assert_err(
        &e,
        "sampledShapleyAttribution.pathCount",
        "expected an int32",
    );
    let e = err(ExplanationParameters::from_value(
        json!({"sampledShapleyAttribution": {"pathCount": "ten"}}),
    ));
    assert_err(&e, "sampledShapleyAttribution.pathCount", "string \"ten\"");
}

#[test]
fn snake_case_fields_and_errors_as_written() {
    let p = params(json!({
        "integrated_gradients_attribution": {
            "step_count": 20,
            "smooth_grad_config": {"noise_sigma": 0.2, "noisy_sample_count": 4},
            "blur_baseline_config": {"max_blur_sigma": 3}
        },
        "top_k": 3
    }));
    let Method::IntegratedGradients(ig) = &p.method else {
        panic!("{p:?}")
    };
    assert_eq!(ig.step_count, 20);
    assert_eq!(
        ig.smooth_grad_config.as_ref().map(|s| s.noise_sigma),
        Some(Some(0.2))
    );
    assert_eq!(
        ig.blur_baseline_config.as_ref().map(|b| b.max_blur_sigma),
        Some(3.0)
    );
    assert_eq!(p.top_k, Some(3));

    // Errors found while reading name the field as the user wrote it...
    let e = err(ExplanationParameters::from_value(
        json!({"sampled_shapley_attribution": {"path_count": 0}}),
    ));
    assert_eq!(e.path(), "sampled_shapley_attribution.path_count");
    // ... and so do errors found by validation after reading.
    let e = err(ExplanationParameters::from_value(
        json!({"sampled_shapley_attribution": {}, "top_k": 0}),
    ));
    assert_eq!(e.path(), "top_k");
    let e = err(ExplanationParameters::from_value(json!({
        "integrated_gradients_attribution": {"smooth_grad_config": {"noise_sigma": -1}}
    })));
    assert_eq!(
        e.path(),
        "integrated_gradients_attribution.smooth_grad_config.noise_sigma"
    );
}

#[test]
fn both_spellings_of_one_field_are_an_error() {
    let e = err(ExplanationParameters::from_value(
        json!({"sampledShapleyAttribution": {"pathCount": 5, "path_count": 6}}),
    ));
    assert_err(&e, "sampledShapleyAttribution", "given twice");
}

#[test]
fn exactly_one_method() {
    let e = spec_err(json!({"parameters": {"topK": 1}}));
    assert!(matches!(e, SpecError::Missing { .. }), "{e}");
    assert_err(
        &e,
        "parameters",
        "exactly one explanation method must be set",
    );

    let e = spec_err(json!({"parameters": {
        "sampledShapleyAttribution": {}, "integratedGradientsAttribution": {}
    }}));
    assert!(matches!(e, SpecError::Invalid { .. }), "{e}");
    assert_err(
        &e,
        "parameters",
        "got sampledShapleyAttribution and integratedGradientsAttribution",
    );

    // null is "not set".
    let s = spec(json!({"parameters": {"sampledShapleyAttribution": {}, "xraiAttribution": null}}));
    assert_eq!(s.parameters.method.name(), "sampledShapleyAttribution");

    let e = spec_err(json!({}));
    assert!(matches!(e, SpecError::Missing { .. }), "{e}");
    assert_err(&e, "parameters", "required");
}

#[test]
fn unknown_fields_are_named() {
    let e = spec_err(json!({"parameters": {"sampledShapleyAttribution": {"pathCont": 10}}}));
    assert!(matches!(e, SpecError::UnknownField { .. }), "{e}");
    assert_err(
        &e,
        "parameters.sampledShapleyAttribution.pathCont",
        "unknown field `pathCont`",
    );
    assert!(e.message().contains("expected one of: pathCount"), "{e}");

    let e = spec_err(json!({"parameters": {"sampledShapleyAttribution": {}, "top_K": 1}}));
    assert_err(&e, "parameters.top_K", "unknown field");

    let e = spec_err(json!({"parameters": {"shapley": {}}}));
    assert_err(&e, "parameters.shapley", "unknown field");
}

#[test]
fn smooth_grad_rules() {
    let e = err(ExplanationParameters::from_value(
        json!({"integratedGradientsAttribution": {
            "smoothGradConfig": {"noiseSigma": 0.1, "featureNoiseSigma": {"noiseSigma": []}}
        }}),
    ));
    assert_err(
        &e,
        "integratedGradientsAttribution.smoothGradConfig",
        "exclude each other",
    );

    let e = err(ExplanationParameters::from_value(
        json!({"integratedGradientsAttribution": {
            "smoothGradConfig": {"noiseSigma": "NaN"}
        }}),
    ));
    assert_err(
        &e,
        "integratedGradientsAttribution.smoothGradConfig.noiseSigma",
        "finite",
    );

    let e = err(ExplanationParameters::from_value(
        json!({"xraiAttribution": {
            "smoothGradConfig": {"featureNoiseSigma": {"noiseSigma": [
                {"name": "a", "sigma": 0.1}, {"name": "a", "sigma": 0.2}
            ]}}
        }}),
    ));
    assert_err(
        &e,
        "xraiAttribution.smoothGradConfig.featureNoiseSigma.noiseSigma[1].name",
        "duplicate name \"a\"",
    );

    let e = err(ExplanationParameters::from_value(
        json!({"xraiAttribution": {
            "smoothGradConfig": {"featureNoiseSigma": {"noiseSigma": [{"name": "a", "sigma": -0.5}]}}
        }}),
    ));
    assert_err(
        &e,
        "xraiAttribution.smoothGradConfig.featureNoiseSigma.noiseSigma[0].sigma",
        ">= 0, got -0.5",
    );

    let e = err(ExplanationParameters::from_value(
        json!({"xraiAttribution": {
            "smoothGradConfig": {"featureNoiseSigma": {"noiseSigma": [{"sigma": 0.5}]}}
        }}),
    ));
    assert!(matches!(e, SpecError::Missing { .. }), "{e}");
    assert_eq!(
        e.path(),
        "xraiAttribution.smoothGradConfig.featureNoiseSigma.noiseSigma[0].name"
    );

    let p = params(
        json!({"integratedGradientsAttribution": {"smoothGradConfig": {
            "featureNoiseSigma": {"noiseSigma": [{"name": "age", "sigma": 0.3}, {"name": "income"}]}
        }}}),
    );
    let sg = p.method.smooth_grad_config().expect("smoothGradConfig");
    assert_eq!(sg.sigma_for("age"), Some(0.3));
    assert_eq!(sg.sigma_for("income"), Some(0.1));
    assert_eq!(sg.sigma_for("other"), None);
}

#[test]
fn per_feature_noise_must_name_a_known_input() {
    let e = spec_err(json!({
        "parameters": {"integratedGradientsAttribution": {"smoothGradConfig": {
            "featureNoiseSigma": {"noiseSigma": [{"name": "age"}, {"name": "agee"}]}
        }}},
        "metadata": {"inputs": {"age": {}, "income": {"groupName": "money"}}, "outputs": {"y": {}}}
    }));
    assert_err(
        &e,
        "parameters.integratedGradientsAttribution.smoothGradConfig.featureNoiseSigma.noiseSigma[1].name",
        "no input or group named \"agee\"",
    );
    // Group names count as features.
    spec(json!({
        "parameters": {"integratedGradientsAttribution": {"smoothGradConfig": {
            "featureNoiseSigma": {"noiseSigma": [{"name": "money"}]}
        }}},
        "metadata": {"inputs": {"income": {"groupName": "money"}}}
    }));
}

#[test]
fn blur_baseline_rules() {
    // Unset or zero maxBlurSigma means the ordinary baseline, as in the proto.
    for blur in [json!({}), json!({"maxBlurSigma": 0})] {
        let p = params(json!({"integratedGradientsAttribution": {"blurBaselineConfig": blur}}));
        assert!(p.method.blur_baseline_config().is_none());
    }
    let e = err(ExplanationParameters::from_value(
        json!({"integratedGradientsAttribution": {
            "blurBaselineConfig": {"maxBlurSigma": -2}
        }}),
    ));
    assert_err(
        &e,
        "integratedGradientsAttribution.blurBaselineConfig.maxBlurSigma",
        "> 0, got -2",
    );

    // Built in code, a zero sigma is invalid.
    let mut p = params(json!({"xraiAttribution": {"blurBaselineConfig": {"maxBlurSigma": 1}}}));
    if let Method::Xrai(x) = &mut p.method {
        if let Some(b) = x.blur_baseline_config.as_mut() {
            b.max_blur_sigma = 0.0;
        }
    }
    let e = err(p.validate());
    assert_err(&e, "xraiAttribution.blurBaselineConfig.maxBlurSigma", "> 0");
}

#[test]
fn top_k_and_output_indices() {
    let p = params(json!({"sampledShapleyAttribution": {}, "topK": -1}));
    assert_eq!(p.top_k, Some(-1));
    for k in [0, -2] {
        let e = spec_err(json!({"parameters": {"sampledShapleyAttribution": {}, "topK": k}}));
        assert_err(
            &e,
            "parameters.topK",
            &format!("must be -1 (every output) or >= 1, got {k}"),
        );
    }
    let e = spec_err(json!({"parameters": {
        "sampledShapleyAttribution": {}, "topK": 2, "outputIndices": [1]
    }}));
    assert_err(
        &e,
        "parameters",
        "topK and outputIndices exclude each other",
    );

    let p = params(json!({"sampledShapleyAttribution": {}, "outputIndices": [[0, 1], [2, 0]]}));
    assert_eq!(p.output_indices, Some(json!([[0, 1], [2, 0]])));
    // An empty list is unset, as in proto3.
    let p = params(json!({"sampledShapleyAttribution": {}, "outputIndices": []}));
    assert_eq!(p.output_indices, None);

    let e = err(ExplanationParameters::from_value(
        json!({"sampledShapleyAttribution": {}, "outputIndices": [1, -1]}),
    ));
    assert_err(&e, "outputIndices[1]", "non-negative integer");
    let e = err(ExplanationParameters::from_value(
        json!({"sampledShapleyAttribution": {}, "outputIndices": [[1, 2], [3]]}),
    ));
    assert_err(&e, "outputIndices[1]", "ragged");
    let e = err(ExplanationParameters::from_value(
        json!({"sampledShapleyAttribution": {}, "outputIndices": 3}),
    ));
    assert_err(&e, "outputIndices", "expected an array");
}

#[test]
fn seed_is_a_prism_extension() {
    let p = params(json!({"sampledShapleyAttribution": {}, "seed": 7}));
    assert_eq!(p.seed, Some(7));
    let p = params(json!({"sampledShapleyAttribution": {}, "seed": "18446744073709551615"}));
    assert_eq!(p.seed, Some(u64::MAX));
    assert_eq!(p.to_json_value()["seed"], json!("18446744073709551615"));
    let e = err(ExplanationParameters::from_value(
        json!({"sampledShapleyAttribution": {}, "seed": -1}),
    ));
    assert_err(&e, "seed", "uint64");
}

#[test]
fn written_json_is_camel_case_with_unset_fields_left_out() {
    let p = params(
        json!({"integrated_gradients_attribution": {"smooth_grad_config": {"noise_sigma": 0.25}}}),
    );
    assert_eq!(
        p.to_json_value(),
        json!({"integratedGradientsAttribution": {
            "stepCount": 50,
            "smoothGradConfig": {"noiseSigma": 0.25, "noisySampleCount": 3}
        }})
    );
}

#[test]
fn deserialize_validates_too() {
    let e = serde_json::from_str::<ExplanationSpec>(
        r#"{"parameters": {"sampledShapleyAttribution": {"pathCount": 99}}}"#,
    )
    .expect_err("pathCount 99 must be rejected");
    assert!(
        e.to_string()
            .contains("parameters.sampledShapleyAttribution.pathCount: must be in 1..=50, got 99"),
        "{e}"
    );
}

#[test]
fn syntax_errors() {
    let e = err(ExplanationSpec::from_json_str("{\"parameters\": "));
    assert!(matches!(e, SpecError::Syntax { .. }), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
    let e = err(ExplanationSpec::from_json_str("[]"));
    assert!(matches!(e, SpecError::Type { .. }), "{e}");
    assert_eq!(e.to_string(), "expected an object, got an array");
}

#[test]
fn integration_rule_extension_reads_writes_and_rejects() {
    use prism_spec::IntegrationRule;
    let rule_of = |v: serde_json::Value| match params(v).method {
        Method::IntegratedGradients(ig) => ig.integration_rule,
        Method::Xrai(x) => x.integration_rule,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        rule_of(json!({"integratedGradientsAttribution": {}})),
        IntegrationRule::GaussLegendre
    );
    assert_eq!(
        rule_of(
            json!({"integratedGradientsAttribution": {"integrationRule": "riemann_trapezoid"}})
        ),
        IntegrationRule::RiemannTrapezoid
    );
    assert_eq!(
        rule_of(json!({"xraiAttribution": {"integration_rule": "RIEMANN"}})),
        IntegrationRule::RiemannRight
    );
    // The default is not written (Vertex clients never see the extension); others are.
    let p = params(json!({"integratedGradientsAttribution": {"stepCount": 5}}));
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"integratedGradientsAttribution": {"stepCount": 5}})
    );
    let p = params(json!({"integratedGradientsAttribution": {"integrationRule": "RIEMANN_LEFT"}}));
    assert_eq!(
        serde_json::to_value(&p).unwrap()["integratedGradientsAttribution"]["integrationRule"],
        json!("RIEMANN_LEFT")
    );
    let e = ExplanationParameters::from_value(
        json!({"integratedGradientsAttribution": {"integrationRule": "SIMPSON"}}),
    )
    .unwrap_err();
    assert_eq!(
        e.path(),
        "integratedGradientsAttribution.integrationRule",
        "{e}"
    );
    assert!(e.to_string().contains("SIMPSON"), "{e}");
}
