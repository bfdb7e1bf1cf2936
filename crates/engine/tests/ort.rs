//! The engine on the ONNX Runtime backend (cargo feature `ort`): Integrated Gradients on the
//! image and text models agree with Captum's recorded numbers as the tract path does, every
//! test model directory explains and predicts as on tract, and batches run in parallel.
//!
//! `ORT_DYLIB_PATH` must name the library (`scripts/test.sh` sets it); without it these
//! tests fail.
#![cfg(feature = "ort")]

use std::path::{Path, PathBuf};

use prism_engine::{Backend, Explainer, ExplanationParameters, LoadOptions};
use serde_json::Value;

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

/// Loads a model directory on ONNX Runtime, after checking the library is where CI puts it.
fn load_on_ort(name: &str) -> Explainer {
    assert!(
        std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty()),
        "ORT_DYLIB_PATH is not set: the ort tests need ONNX Runtime's library \
         (scripts/test.sh installs onnxruntime into .venv-ort and sets it)"
    );
    let options = LoadOptions {
        backend: Backend::Ort,
        ..LoadOptions::default()
    };
    let explainer = Explainer::load_with_options(model_dir(name), &options).unwrap();
    assert_eq!(explainer.backend(), Backend::Ort);
    explainer
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Object(m) => m.values().flat_map(flat).collect(),
        v => vec![v.as_f64().unwrap()],
    }
}

/// The check of `crates/attribution/tests/attribution/images.rs`, on ONNX Runtime: IG with
/// 50 steps equals Captum's to 1e-3 relative to the largest attribution, f(x) and
/// f(baseline) to 1e-5, and the completeness gap to 1e-4.
#[test]
fn integrated_gradients_on_ort_agree_with_captum() {
    for name in ["digits_cnn", "resnet_small", "text_sentiment"] {
        let explainer = load_on_ort(name)
            .with_parameters(
                ExplanationParameters::from_json_str(
                    r#"{"integratedGradientsAttribution": {"stepCount": 50}}"#,
                )
                .unwrap(),
            )
            .unwrap();
        let captum: Value = serde_json::from_str(
            &std::fs::read_to_string(model_dir(name).join("captum_ig.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(captum["n_steps"], 50);
        let batch = instances(name);
        let results = explainer.explain_batch(&batch);
        for (e, want) in results
            .into_iter()
            .zip(captum["instances"].as_array().unwrap())
        {
            let e = e.unwrap();
            let a = &e.attributions[0];
            assert_eq!(
                a.output_index,
                Some(vec![want["target"].as_i64().unwrap() as i32])
            );
            let got = flat(&a.feature_attributions);
            let want_attr = flat(&want["attributions"]);
            assert_eq!(got.len(), want_attr.len(), "{name}");
            let scale = want_attr.iter().fold(0f64, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(&want_attr)
                .map(|(g, w)| (g - w).abs())
                .fold(0f64, f64::max);
            assert!(worst <= 1e-3 * scale, "{name}: {worst} vs scale {scale}");
            let out = want["output"].as_f64().unwrap();
            let base = want["baseline_output"].as_f64().unwrap();
            assert!(
                (a.instance_output_value - out).abs() <= 1e-5,
                "{name}: f(x)"
            );
            assert!(
                (a.baseline_output_value - base).abs() <= 1e-5,
                "{name}: f(baseline)"
            );
            let captum_error = want["delta"].as_f64().unwrap().abs() / (out - base).abs();
            assert!(
                (a.approximation_error - captum_error).abs() < 1e-4,
                "{name}: {} vs {captum_error}",
                a.approximation_error
            );
        }
    }
}

/// Every model directory gives, on ONNX Runtime, the explanations and predictions it gives
/// on tract (same seeded paths, same IG steps), to 1e-4 relative to the largest value.
#[test]
fn every_test_model_directory_explains_the_same_on_ort() {
    let mut names: Vec<String> = std::fs::read_dir(model_dir(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("instances.jsonl").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 17, "{names:?}");
    for name in &names {
        let on_ort = load_on_ort(name);
        let on_tract = Explainer::load(model_dir(name)).unwrap();
        // Example-based models have no index in the source folder: predictions only.
        let explains = on_tract.examples().is_none();
        for instance in instances(name) {
            if explains {
                let (a, b) = (
                    on_ort.explain(&instance).unwrap(),
                    on_tract.explain(&instance).unwrap(),
                );
                let (a, b) = (
                    serde_json::to_value(a).unwrap(),
                    serde_json::to_value(b).unwrap(),
                );
                assert_close(name, &a, &b);
            }
            let (a, b) = (
                on_ort.predict(&instance).unwrap(),
                on_tract.predict(&instance).unwrap(),
            );
            assert_close(name, &a, &b);
        }
    }
}

/// Same structure, and numbers within 1e-4 relative to the largest number of the document.
fn assert_close(name: &str, a: &Value, b: &Value) {
    let (x, y) = (flat_numbers(a), flat_numbers(b));
    assert_eq!(x.len(), y.len(), "{name}: {a} vs {b}");
    let scale = y.iter().fold(1f64, |m, v| m.max(v.abs()));
    for (p, q) in x.iter().zip(&y) {
        assert!(
            (p - q).abs() <= 1e-4 * scale,
            "{name}: {p} vs {q}\n{a}\n{b}"
        );
    }
}

fn flat_numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Array(a) => a.iter().flat_map(flat_numbers).collect(),
        Value::Object(m) => m.values().flat_map(flat_numbers).collect(),
        _ => vec![],
    }
}

#[test]
fn batches_on_ort_run_in_parallel_and_keep_order() {
    let explainer = load_on_ort("resnet_small");
    let batch: Vec<Value> = instances("resnet_small")
        .into_iter()
        .cycle()
        .take(6)
        .collect();
    let results = explainer.explain_batch(&batch);
    for (instance, result) in batch.iter().zip(results) {
        assert_eq!(result.unwrap(), explainer.explain(instance).unwrap());
    }
}
