//! `prism demo`: explain the built-in examples and print them as readable tables.

use std::path::Path;

use anyhow::{Context, Result};
use prism_engine::{Explainer, Explanation, ModelFiles};
use serde_json::Value;

/// A built-in example: a model directory compiled into the binary.
struct Example {
    title: &'static str,
    /// The model directory's name, which prefixes its picture files.
    name: &'static str,
    files: fn() -> ModelFiles,
    instances: &'static str,
    show: Show,
}

/// How an example's explanations are printed.
#[derive(Clone, Copy)]
enum Show {
    /// A table of named features.
    Table,
    /// Tokens with bars; the vocabulary (JSON id → word).
    Tokens(&'static str),
    /// A 28 × 28 greyscale image as a character heat map.
    Image,
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
        name: "breast_cancer_mlp",
        files: model_dir!("breast_cancer_mlp"),
        instances: include_str!("../../../testdata/models/breast_cancer_mlp/instances.jsonl"),
        show: Show::Table,
    },
    Example {
        title: "Diabetes progression, gradient-boosted trees — what drives the prediction?",
        name: "diabetes_gbr",
        files: model_dir!("diabetes_gbr"),
        instances: include_str!("../../../testdata/models/diabetes_gbr/instances.jsonl"),
        show: Show::Table,
    },
    Example {
        title: "Movie reviews, text classifier on token ids — which words decide?",
        name: "text_sentiment",
        files: model_dir!("text_sentiment"),
        instances: include_str!("../../../testdata/models/text_sentiment/instances.jsonl"),
        show: Show::Tokens(include_str!(
            "../../../testdata/models/text_sentiment/vocab.json"
        )),
    },
    Example {
        title: "Handwritten digits, convolutional network — which pixels make the digit?",
        name: "digits_cnn",
        files: model_dir!("digits_cnn"),
        instances: include_str!("../../../testdata/models/digits_cnn/instances.jsonl"),
        show: Show::Image,
    },
];

/// Rows shown per table; the rest are summarised in one line.
const TOP_ROWS: usize = 10;
const BAR_WIDTH: f64 = 24.0;

pub(crate) fn run(pictures_out: Option<&Path>) -> Result<()> {
    if let Some(dir) = pictures_out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for example in EXAMPLES {
        let explainer = Explainer::from_files(&(example.files)()).context(example.title)?;
        let metadata = explainer.spec().metadata.clone().unwrap_or_default();
        let defaults = prism_viz::MethodDefaults::for_method(&explainer.spec().parameters.method);
        println!("\n=== {} ===", example.title);
        println!("method: {}", describe(&explainer));
        for (i, line) in example
            .instances
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(2)
            .enumerate()
        {
            let instance: Value = serde_json::from_str(line)?;
            let explanation = explainer.explain(&instance)?;
            match example.show {
                Show::Table => print_table(i + 1, &instance, &explanation),
                Show::Tokens(vocab) => print_tokens(i + 1, &instance, &explanation, vocab)?,
                Show::Image => print_image(i + 1, &instance, &explanation),
            }
            if let Some(dir) = pictures_out {
                let prefix = format!("{}-", example.name);
                crate::write_pictures(
                    dir,
                    &prefix,
                    i + 1,
                    &explanation,
                    &instance,
                    &metadata,
                    defaults,
                );
            }
        }
    }
    examples_demo()?;
    println!("\nEach attribution is the feature's share of (prediction − baseline prediction):");
    println!("Sampled Shapley's add up exactly, Integrated Gradients' to within the approximation");
    println!("error. Run `prism explain MODEL_DIR --instances FILE` on your own model.");
    if let Some(dir) = pictures_out {
        println!("Pictures of these explanations are in {}.", dir.display());
    }
    Ok(())
}

/// The example-based demo: the digits CNN's latent space over 200 training digits; each
/// test digit's nearest examples, with their labels.
fn examples_demo() -> Result<()> {
    const DATASET: &str = include_str!("../../../testdata/models/digits_examples/examples.jsonl");
    const INSTANCES: &str =
        include_str!("../../../testdata/models/digits_examples/instances.jsonl");
    let files: fn() -> ModelFiles = model_dir!("digits_examples");
    let explainer = Explainer::from_files(&files()).context("digits examples")?;
    let search = explainer
        .examples()
        .context("the demo model is example-based")?;
    let prism_engine::Method::Examples(settings) = &explainer.spec().parameters.method else {
        anyhow::bail!("the demo model is example-based");
    };
    let (index, _) =
        prism_engine::examples::build_index(search, settings, DATASET.as_bytes(), |_| {})?;
    search.set_index(index);
    let labels: std::collections::HashMap<String, String> = DATASET
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            (
                v["id"].as_str().unwrap_or_default().to_string(),
                v["restricts"][0]["allow"][0]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
        })
        .collect();
    println!("\n=== Handwritten digits, example-based — which training digits look alike to the model? ===");
    println!(
        "method: nearest neighbours in the CNN's latent space ({}), 200 indexed examples",
        search.embedding_name()
    );
    for (i, line) in INSTANCES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        let instance: Value = serde_json::from_str(line)?;
        let explanation = explainer.explain(&instance)?;
        println!(
            "\ninstance {}: nearest examples (id, label, distance = −cosine similarity)",
            i + 1
        );
        for n in &explanation.neighbors {
            let label = labels.get(&n.neighbor_id).map_or("?", String::as_str);
            println!(
                "  {:<12} digit {label}  {:>8.4}",
                n.neighbor_id, n.neighbor_distance
            );
        }
    }
    Ok(())
}

fn headline(n: usize, attribution: &prism_engine::Attribution) {
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
}

fn bar(attr: f64, max: f64) -> String {
    let len = ((attr.abs() / max.max(1e-12)) * BAR_WIDTH).round() as usize;
    if attr >= 0.0 {
        "+".repeat(len)
    } else {
        "-".repeat(len)
    }
}

/// Each token with its word and its attribution, padding left out.
fn print_tokens(n: usize, instance: &Value, explanation: &Explanation, vocab: &str) -> Result<()> {
    let vocab: serde_json::Map<String, Value> =
        serde_json::from_str(vocab).context("the demo vocabulary")?;
    let ids: Vec<i64> = instance["tokens"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    for attribution in &explanation.attributions {
        headline(n, attribution);
        let attrs: Vec<f64> = attribution.feature_attributions["tokens"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let words: Vec<String> = ids
            .iter()
            .map(|id| {
                vocab
                    .get(&id.to_string())
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        println!(
            "  \"{}\"",
            words
                .iter()
                .filter(|w| *w != "<pad>")
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        let max = attrs.iter().fold(0f64, |m, a| m.max(a.abs()));
        for (word, attr) in words.iter().zip(&attrs).filter(|(w, _)| *w != "<pad>") {
            println!("  {word:<14} {attr:>10.4}  {}", bar(*attr, max));
        }
    }
    Ok(())
}

/// The digit as characters: its ink faintly, and where the attribution is strongly positive
/// (for the explained class) or negative, `#` and `-` over it.
fn print_image(n: usize, instance: &Value, explanation: &Explanation) {
    let flat = |v: &Value| -> Vec<f64> {
        fn walk(v: &Value, out: &mut Vec<f64>) {
            match v {
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                v => out.extend(v.as_f64()),
            }
        }
        let mut out = Vec::new();
        walk(v, &mut out);
        out
    };
    let pixels = flat(&instance["image"]);
    for attribution in &explanation.attributions {
        headline(n, attribution);
        let attrs = flat(&attribution.feature_attributions["image"]);
        if pixels.len() != 28 * 28 || attrs.len() != pixels.len() {
            println!("  (not a 28 × 28 image)");
            continue;
        }
        // Two pixels per character horizontally keep the picture square in a terminal.
        let max = attrs.iter().fold(0f64, |m, a| m.max(a.abs())).max(1e-12);
        for y in (0..28).step_by(2) {
            let line: String = (0..28)
                .step_by(2)
                .map(|x| {
                    let cell = [(y, x), (y, x + 1), (y + 1, x), (y + 1, x + 1)];
                    let ink = cell
                        .iter()
                        .map(|&(yy, xx)| pixels[yy * 28 + xx])
                        .sum::<f64>()
                        / 4.0;
                    let attr = cell
                        .iter()
                        .map(|&(yy, xx)| attrs[yy * 28 + xx])
                        .sum::<f64>()
                        / max;
                    match (attr, ink) {
                        (a, _) if a > 0.5 => "##",
                        (a, _) if a > 0.15 => "++",
                        (a, _) if a < -0.15 => "--",
                        (_, i) if i > 0.3 => "..",
                        _ => "  ",
                    }
                })
                .collect();
            println!("  |{line}|");
        }
        let total: f64 = attrs.iter().sum();
        println!(
            "  ## ++ strong and some support for the class, -- against it, .. the rest of the ink;\n  \
             sum of attributions {total:.4} ≈ prediction − baseline {:.4}",
            attribution.instance_output_value - attribution.baseline_output_value
        );
    }
}

fn describe(explainer: &Explainer) -> String {
    let params = serde_json::to_value(&explainer.spec().parameters).unwrap_or_default();
    if let Some(paths) = params["sampledShapleyAttribution"]["pathCount"].as_u64() {
        return format!("Sampled Shapley, {paths} permutation paths");
    }
    if let Some(steps) = params["integratedGradientsAttribution"]["stepCount"].as_u64() {
        return format!("Integrated Gradients, {steps} Gauss–Legendre steps");
    }
    "see the model's explanation_spec.json".to_string()
}

fn print_table(n: usize, instance: &Value, explanation: &Explanation) {
    for attribution in &explanation.attributions {
        headline(n, attribution);
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
            println!("  {name:<26} {value:>12} {attr:>12.4}  {}", bar(*attr, max));
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
