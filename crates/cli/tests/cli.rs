//! End-to-end tests of the real `prism` binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn prism() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prism"))
}

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(name)
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = prism()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A child that fails before reading its input closes the pipe: not the test's concern.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn explain_writes_one_vertex_explanation_per_line() {
    let dir = model_dir("peer_linear");
    let out = run_with_stdin(
        &["explain", dir.to_str().unwrap(), "--instances", "-"],
        "{\"x0\": 30, \"x1\": 60, \"x2\": 30}\n{\"x0\": 10, \"x1\": 20, \"x2\": 10}\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2);
    let a = &lines[0]["attributions"][0];
    assert_eq!(
        a["featureAttributions"],
        json!({"x0": 40.0, "x1": 120.0, "x2": 80.0})
    );
    assert_eq!(a["baselineOutputValue"], json!(125.0));
    assert_eq!(a["instanceOutputValue"], json!(365.0));
    assert_eq!(a["outputName"], json!("y"));
    assert_eq!(a["outputIndex"], json!([0]));
    // The instance equal to the baseline gets zero everywhere.
    assert_eq!(
        lines[1]["attributions"][0]["featureAttributions"],
        json!({"x0": 0.0, "x1": 0.0, "x2": 0.0})
    );
}

#[test]
fn malformed_lines_are_reported_by_number_and_the_rest_explained() {
    let dir = model_dir("peer_linear");
    let input = "{\"x0\": 30, \"x1\": 60, \"x2\": 30}\n{not json\n\n{\"x0\": 1, \"x1\": 2}\n{\"x0\": 1, \"x1\": 2, \"x2\": 3}\n";
    let out = run_with_stdin(&["explain", dir.to_str().unwrap(), "-i", "-"], input);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code says some lines failed"
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(
        lines.len(),
        4,
        "blank lines are skipped, every other line answered"
    );
    assert!(lines[0]["attributions"].is_array());
    assert_eq!(lines[1]["error"]["line"], json!(2));
    assert!(lines[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));
    assert_eq!(lines[2]["error"]["line"], json!(4));
    assert!(lines[2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x2"));
    assert!(lines[3]["attributions"].is_array());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("line 4"),
        "{stderr}"
    );
}

#[test]
fn flags_override_the_directory_spec() {
    let dir = model_dir("multi_input");
    let instance = std::fs::read_to_string(dir.join("instances.jsonl")).unwrap();
    let first = instance.lines().next().unwrap().to_string() + "\n";
    let args = |extra: &[&str]| {
        let mut v = vec!["explain", dir.to_str().unwrap(), "--instances", "-"];
        v.extend_from_slice(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = run_with_stdin(&refs, &first);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout).remove(0)
    };
    assert_eq!(
        run(&["--top-k", "-1"])["attributions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        run(&["--top-k", "2"])["attributions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let picked = run(&["--output-indices", "[2, 1]"]);
    let names: Vec<&str> = picked["attributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outputDisplayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["high", "mid"]);
    assert_eq!(
        run(&["--seed", "3", "--path-count", "5"]),
        run(&["--seed", "3", "--path-count", "5"])
    );
    assert_ne!(
        run(&["--seed", "3", "--path-count", "5"]),
        run(&["--seed", "4", "--path-count", "5"])
    );
    // Integrated Gradients from the command line: complete to its reported error, and the
    // step count is honoured (fewer steps, a different estimate).
    let ig = run(&["--method", "integrated-gradients", "--step-count", "40"]);
    let a = &ig["attributions"][0];
    let error = a["approximationError"].as_f64().unwrap();
    assert!(error < 1e-3, "{a}");
    let ig2 = run(&["--method", "integrated-gradients", "--step-count", "2"]);
    assert_ne!(ig["attributions"], ig2["attributions"]);
}

#[test]
fn spec_file_and_invalid_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.json");
    std::fs::write(&spec, r#"{"sampledShapleyAttribution": {"pathCount": 0}}"#).unwrap();
    let dir = model_dir("peer_linear");
    let out = run_with_stdin(
        &[
            "explain",
            dir.to_str().unwrap(),
            "-i",
            "-",
            "--spec",
            spec.to_str().unwrap(),
        ],
        "[1, 2, 3]\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sampledShapleyAttribution.pathCount: must be in 1..=50, got 0"),
        "{stderr}"
    );
    let out = run_with_stdin(
        &[
            "explain",
            dir.to_str().unwrap(),
            "-i",
            "-",
            "--path-count",
            "51",
        ],
        "[1, 2, 3]\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pathCount"));
}

#[test]
fn output_file_is_written_whole_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out.jsonl");
    let dir = model_dir("diabetes_gbr");
    let instances = dir.join("instances.jsonl");
    let out = prism()
        .args([
            "explain",
            dir.to_str().unwrap(),
            "-i",
            instances.to_str().unwrap(),
            "-o",
            dest.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&dest).unwrap();
    let n_in = std::fs::read_to_string(&instances)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(written.lines().count(), n_in);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
    // A missing instances file fails before anything is written.
    let dest2 = tmp.path().join("never.jsonl");
    let out = prism()
        .args([
            "explain",
            dir.to_str().unwrap(),
            "-i",
            "/nonexistent.jsonl",
            "-o",
            dest2.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!dest2.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn missing_or_broken_model_directory_is_a_clear_error() {
    let out = run_with_stdin(&["explain", "/nonexistent/model", "-i", "-"], "[1]\n");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/model/model.onnx"), "{stderr}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("model.onnx"), b"garbage").unwrap();
    let out = run_with_stdin(
        &["explain", tmp.path().to_str().unwrap(), "-i", "-"],
        "[1]\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid ONNX model"));
    std::fs::copy(
        model_dir("peer_linear").join("model.onnx"),
        tmp.path().join("model.onnx"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("explanation_metadata.json"),
        r#"{"inputs": {"x": {"encoding": "BAG_OF_FEATURES"}}}"#,
    )
    .unwrap();
    let out = run_with_stdin(
        &["explain", tmp.path().to_str().unwrap(), "-i", "-"],
        "[1, 2, 3]\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("explanation_metadata.json") && stderr.contains("inputs.x"),
        "{stderr}"
    );
}

#[test]
fn predict_returns_every_output() {
    let dir = model_dir("breast_cancer_mlp");
    let instances = std::fs::read_to_string(dir.join("instances.jsonl")).unwrap();
    let out = run_with_stdin(&["predict", dir.to_str().unwrap(), "-i", "-"], &instances);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), instances.lines().count());
    for line in lines {
        let p = line["probabilities"].as_array().unwrap();
        let sum: f64 = p.iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5);
        let label = line["label"].as_i64().unwrap();
        let argmax = if p[1].as_f64() > p[0].as_f64() { 1 } else { 0 };
        assert_eq!(label, argmax);
    }
}

/// Runs `prism ARGS` on the digits CNN's instances with `env` set (and PRISM_BACKEND
/// unset unless `env` sets it).
fn run_digits(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = model_dir("digits_cnn");
    let instances = dir.join("instances.jsonl");
    let mut cmd = prism();
    cmd.env_remove("PRISM_BACKEND")
        .arg(args[0])
        .arg(&dir)
        .arg("-i")
        .arg(&instances)
        .args(&args[1..]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn backend_flag_and_variable_choose_the_runtime() {
    let default = run_digits(&["predict"], &[]);
    assert!(
        default.status.success(),
        "{}",
        String::from_utf8_lossy(&default.stderr)
    );
    let tract = run_digits(&["predict", "--backend", "tract"], &[]);
    assert_eq!(tract.stdout, default.stdout);
    let by_env = run_digits(&["predict"], &[("PRISM_BACKEND", "tract")]);
    assert_eq!(by_env.stdout, default.stdout);
    let bogus = run_digits(&["predict"], &[("PRISM_BACKEND", "onnx")]);
    assert!(!bogus.status.success());
    assert!(
        String::from_utf8_lossy(&bogus.stderr).contains("invalid value 'onnx'"),
        "{}",
        String::from_utf8_lossy(&bogus.stderr)
    );
    check_ort_backend(&default);
}

/// Without the `ort` feature, asking for ONNX Runtime is a clear error, before any work
/// (and before `serve` binds its address).
#[cfg(not(feature = "ort"))]
fn check_ort_backend(_tract: &Output) {
    let tmp = tempfile::tempdir().unwrap();
    let serve = prism()
        .args([
            "serve",
            "--backend",
            "ort",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    let jobs = tmp.path().join("jobs");
    let batch = prism()
        .arg("batch")
        .arg(model_dir("digits_cnn"))
        .args(["--backend", "ort", "--explain", "--output"])
        .arg(&jobs)
        .arg("--input")
        .arg(model_dir("digits_cnn").join("instances.jsonl"))
        .output()
        .unwrap();
    assert!(!jobs.exists(), "a refused batch job writes nothing");
    for out in [
        run_digits(&["predict", "--backend", "ort"], &[]),
        run_digits(&["explain"], &[("PRISM_BACKEND", "ort")]),
        serve,
        batch,
    ] {
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the ort backend is unavailable") && err.contains("--features ort"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// With the `ort` feature, ONNX Runtime predicts what tract predicts; a library that is not
/// there is a clear error.
#[cfg(feature = "ort")]
fn check_ort_backend(tract: &Output) {
    assert!(
        std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty()),
        "ORT_DYLIB_PATH is not set: the ort tests need ONNX Runtime's library"
    );
    let ort = run_digits(&["predict", "--backend", "ort"], &[]);
    assert!(
        ort.status.success(),
        "{}",
        String::from_utf8_lossy(&ort.stderr)
    );
    for (a, b) in json_lines(&ort.stdout)
        .iter()
        .zip(json_lines(&tract.stdout))
    {
        let (a, b) = (
            a["probabilities"].as_array().unwrap(),
            b["probabilities"].as_array().unwrap(),
        );
        for (x, y) in a.iter().zip(b) {
            assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-5);
        }
    }
    let missing = run_digits(
        &["predict"],
        &[
            ("PRISM_BACKEND", "ort"),
            ("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so"),
        ],
    );
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("the ort backend is unavailable") && err.contains("/nonexistent"),
        "{err}"
    );
}

#[test]
fn metadata_infer_describes_the_graph() {
    let out = prism()
        .args([
            "metadata",
            "infer",
            model_dir("multi_input")
                .join("model.onnx")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        meta["inputs"]["numeric"]["inputTensorName"],
        json!("numeric")
    );
    assert_eq!(meta["inputs"]["extra"]["modality"], json!("numeric"));
    assert_eq!(
        meta["outputs"]["scores"]["outputTensorName"],
        json!("scores")
    );
    // What it prints is a valid metadata file that explains the model as is.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir("multi_input").join("model.onnx"),
        tmp.path().join("model.onnx"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("explanation_metadata.json"), &out.stdout).unwrap();
    let run = run_with_stdin(
        &["explain", tmp.path().to_str().unwrap(), "-i", "-"],
        "{\"numeric\": [1, 2, 3], \"extra\": [0.5, 0.5]}\n",
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let e = json_lines(&run.stdout).remove(0);
    assert_eq!(
        e["attributions"][0]["featureAttributions"]["numeric"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn demo_prints_tables_that_add_up_and_draws_them() {
    let tmp = tempfile::tempdir().unwrap();
    let pictures = tmp.path().join("pictures");
    let out = prism()
        .arg("demo")
        .arg("--pictures-out")
        .arg(&pictures)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Breast cancer") && text.contains("Diabetes"),
        "{text}"
    );
    assert!(text.contains("worst") && text.contains("bmi"), "{text}");
    // The text and image examples (Integrated Gradients): the sentiment words carry the
    // decision, and the digit is drawn.
    assert!(text.contains("Movie reviews") && text.contains("Handwritten digits"));
    let great = text
        .lines()
        .find(|l| l.trim_start().starts_with("great "))
        .expect("the token 'great' is listed");
    let attr: f64 = great.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(attr > 0.2, "{great}");
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('|'))
            .count()
            >= 28
    );
    let mut sums = 0;
    for line in text.lines().filter(|l| l.contains("sum of attributions")) {
        let nums: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(nums.len(), 2, "{line}");
        // Exact for Shapley ("="), within IG's approximation error ("≈", < 1% here).
        let tolerance = if line.contains('≈') { 0.01 } else { 1e-3 };
        assert!((nums[0] - nums[1]).abs() < tolerance, "{line}");
        sums += 1;
    }
    assert!(sums >= 6, "{text}");
    // The example-based part: the first test digit (a 2) finds 2s.
    let neighbours = text
        .split("example-based")
        .nth(1)
        .expect("the example-based demo runs");
    let first: Vec<&str> = neighbours
        .lines()
        .skip_while(|l| !l.starts_with("instance 1"))
        .skip(1)
        .take(5)
        .collect();
    assert_eq!(first.len(), 5, "{neighbours}");
    assert!(first.iter().all(|l| l.contains("digit 2")), "{first:?}");

    // --pictures-out: a heat map per digit, a shaded token page per review, a bar chart per
    // tabular instance, each named for its example.
    let names: Vec<String> = std::fs::read_dir(&pictures)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let count = |prefix: &str, ext: &str| {
        names
            .iter()
            .filter(|n| n.starts_with(prefix) && n.ends_with(ext))
            .count()
    };
    assert_eq!(count("digits_cnn-line", ".png"), 2, "{names:?}");
    assert_eq!(count("text_sentiment-line", ".html"), 2, "{names:?}");
    assert_eq!(count("breast_cancer_mlp-line", ".svg"), 2, "{names:?}");
    assert_eq!(count("diabetes_gbr-line", ".svg"), 2, "{names:?}");
    let digit = names
        .iter()
        .find(|n| n.starts_with("digits_cnn-line1") && n.ends_with(".png"))
        .unwrap();
    let png = std::fs::read(pictures.join(digit)).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let review = names
        .iter()
        .find(|n| n.starts_with("text_sentiment-line") && n.ends_with(".html"))
        .unwrap();
    let html = std::fs::read_to_string(pictures.join(review)).unwrap();
    assert!(html.contains("<span"), "{html}");
    assert!(
        text.contains("Pictures of these explanations are in"),
        "{text}"
    );
}

#[test]
fn images_out_writes_one_picture_per_instance_and_output() {
    let tmp = tempfile::tempdir().unwrap();
    let pictures = tmp.path().join("pictures");
    for name in ["digits_cnn", "text_sentiment", "breast_cancer_mlp"] {
        let dir = model_dir(name);
        let out = prism()
            .args(["explain", dir.to_str().unwrap(), "-i"])
            .arg(dir.join("instances.jsonl"))
            .arg("--images-out")
            .arg(&pictures)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(&pictures)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Digit images (classes 2, 8, 6), token pages, one bar chart per tabular instance.
    for want in [
        "line1-image-2.png",
        "line2-image-8.png",
        "line3-image-6.png",
    ] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }
    assert!(
        names.iter().filter(|n| n.ends_with(".html")).count() >= 3,
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| n.ends_with(".svg")).count() >= 3,
        "{names:?}"
    );
    // The 28 × 28 digit is drawn at 224 × 224 (PNG IHDR: width and height, big-endian).
    let png = std::fs::read(pictures.join("line1-image-2.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let side = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((side(16), side(20)), (224, 224));
    let svg =
        std::fs::read_to_string(pictures.join(names.iter().find(|n| n.ends_with(".svg")).unwrap()))
            .unwrap();
    assert!(svg.contains("<svg") && svg.contains("worst"), "{svg}");
}
