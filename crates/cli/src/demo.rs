//! `prism demo`: explain the built-in examples and print them as readable tables.

use anyhow::{Context, Result};
use prism_engine::{Explainer, Explanation, ModelFiles};
use serde_json::Value;

/// A built-in example: a model directory compiled into the binary.
struct Example {
    title: &'static str,
    files: fn() -> ModelFiles,
    instances: &'static str,
}

macro_rules! model_dir {
    ($name:literal) => {
        || ModelFiles {
            model: include_bytes!(concat!("../../../testdata/models/", $name, "/model.onnx"))
                .to_vec(),
            metadata: Some(
                include_str!(concat!(
                    "../../../testdata/models/",
                    $name,
                    "/explanation_metadata.json"
                ))
                .to_string(),
            ),
            spec: Some(
                include_str!(concat!(
                    "../../../testdata/models/",
                    $name,
                    "/explanation_spec.json"
                ))
                .to_string(),
            ),
        }
    };
}

const EXAMPLES: &[Example] = &[
    Example {
        title: "Breast cancer, neural network (MLP) — why malignant or benign?",
        files: model_dir!("breast_cancer_mlp"),
        instances: include_str!("../../../testdata/models/breast_cancer_mlp/instances.jsonl"),
    },
    Example {
        title: "Diabetes progression, gradient-boosted trees — what drives the prediction?",
        files: model_dir!("diabetes_gbr"),
        instances: include_str!("../../../testdata/models/diabetes_gbr/instances.jsonl"),
    },
];

/// Rows shown per table; the rest are summarised in one line.
const TOP_ROWS: usize = 10;
const BAR_WIDTH: f64 = 24.0;

pub(crate) fn run() -> Result<()> {
    for example in EXAMPLES {
        let explainer = Explainer::from_files(&(example.files)()).context(example.title)?;
        println!("\n=== {} ===", example.title);
        println!("method: Sampled Shapley, {}", describe(&explainer));
        for (i, line) in example
            .instances
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(2)
            .enumerate()
        {
            let instance: Value = serde_json::from_str(line)?;
            let explanation = explainer.explain(&instance)?;
            print_table(i + 1, &instance, &explanation);
        }
    }
    println!("\nEach attribution is the feature's share of (prediction − baseline prediction);");
    println!(
        "they add up exactly. Run `prism explain MODEL_DIR --instances FILE` on your own model."
    );
    Ok(())
}

fn describe(explainer: &Explainer) -> String {
    let params = serde_json::to_value(&explainer.spec().parameters).unwrap_or_default();
    let paths = params["sampledShapleyAttribution"]["pathCount"]
        .as_u64()
        .unwrap_or(0);
    format!("{paths} permutation paths")
}

fn print_table(n: usize, instance: &Value, explanation: &Explanation) {
    for attribution in &explanation.attributions {
        let output = attribution
            .output_display_name
            .clone()
            .unwrap_or_else(|| attribution.output_name.clone());
        println!(
            "\ninstance {n}: {output} = {:.4} (baseline {:.4}; approximation error {:.4})",
            attribution.instance_output_value,
            attribution.baseline_output_value,
            attribution.approximation_error
        );
        let mut rows: Vec<(String, f64)> = attribution
            .feature_attributions
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                    .collect()
            })
            .unwrap_or_default();
        rows.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        let max = rows.first().map(|r| r.1.abs()).unwrap_or(0.0).max(1e-12);
        println!(
            "  {:<26} {:>12} {:>12}  ",
            "feature", "value", "attribution"
        );
        for (name, attr) in rows.iter().take(TOP_ROWS) {
            let value = instance
                .get(name)
                .and_then(Value::as_f64)
                .map(|v| format!("{v:.4}"))
                .unwrap_or_default();
            let len = ((attr.abs() / max) * BAR_WIDTH).round() as usize;
            let bar = if *attr >= 0.0 {
                "+".repeat(len)
            } else {
                "-".repeat(len)
            };
            println!("  {name:<26} {value:>12} {attr:>12.4}  {bar}");
        }
        if rows.len() > TOP_ROWS {
            let rest: f64 = rows[TOP_ROWS..].iter().map(|r| r.1).sum();
            println!(
                "  … {} more features, together {rest:.4}",
                rows.len() - TOP_ROWS
            );
        }
        let total: f64 = rows.iter().map(|r| r.1).sum();
        println!(
            "  sum of attributions {total:.4} = prediction − baseline {:.4}",
            attribution.instance_output_value - attribution.baseline_output_value
        );
    }
}
