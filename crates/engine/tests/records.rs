//! `batch::process_records` (the Ray and Spark adapters' way in) writes the lines a batch
//! job writes for the same instances: results lines byte for byte, errors lines with the
//! same instance, key, code and message (less the file name).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use prism_engine::batch::{
    process_records, BatchJob, BatchOptions, InstanceConfig, Record, RecordLine,
};
use prism_engine::Explainer;
use serde_json::{json, Value};

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(name)
}

/// peer_linear instances keyed `r0`, `r1`, …, with a bad line, one without the key, one
/// without a feature and one with a string feature among them.
fn lines() -> Vec<String> {
    let mut lines: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "{{\"id\": \"r{i}\", \"x0\": {i}, \"x1\": 1.5, \"x2\": {}}}",
                i % 3
            )
        })
        .collect();
    lines[3] = "{\"id\": \"r3\", \"x0\": 1,".into();
    lines[7] = "{\"x0\": 1, \"x1\": 2, \"x2\": 3}".into();
    lines[11] = "{\"id\": \"r11\", \"x0\": 1, \"x1\": 2}".into();
    lines[15] = "{\"id\": \"r15\", \"x0\": \"one\", \"x1\": 2, \"x2\": 3}".into();
    lines
}

fn job_output(lines: &[String], config: &InstanceConfig) -> (Vec<String>, Vec<Value>) {
    let dir = tempdir();
    let input = dir.join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let mut o = BatchOptions::new(
        vec![input.display().to_string()],
        dir.join("out").display().to_string(),
        "peer_linear".into(),
    );
    o.job_id = Some("job".into());
    o.generate_explanation = true;
    o.instance_config = config.clone();
    o.batch_size = 6;
    let job = BatchJob::new(Explainer::load(model_dir("peer_linear")).unwrap(), o).unwrap();
    job.run(&AtomicBool::new(false), &mut |_| {}).unwrap();
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let results = read(job.results_path()).lines().map(String::from).collect();
    let errors = read(job.errors_path())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    (results, errors)
}

fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "prism-records-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn split(out: &[RecordLine]) -> (Vec<String>, Vec<Value>) {
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for r in out {
        let line = String::from_utf8(r.line.clone()).unwrap();
        if r.error.is_some() {
            errors.push(serde_json::from_str(&line).unwrap());
        } else {
            results.push(line);
        }
    }
    (results, errors)
}

/// An errors line less the file name its message starts with.
fn without_place(mut error: Value) -> Value {
    let message = error["error"]["message"].as_str().unwrap().to_string();
    let rest = match message.split_once(" line ") {
        Some((_, rest)) => rest.split_once(": ").unwrap().1.to_string(),
        None => message,
    };
    error["error"]["message"] = json!(rest);
    error
}

#[test]
fn records_make_the_lines_of_a_batch_job() {
    let explainer = Explainer::load(model_dir("peer_linear")).unwrap();
    let lines = lines();
    for key_field in [None, Some("id")] {
        // Without the key field, `id` is left out (the model has no such feature).
        let config = InstanceConfig {
            key_field: key_field.map(str::to_string),
            excluded_fields: match key_field {
                Some(_) => vec![],
                None => vec!["id".to_string()],
            },
            ..InstanceConfig::default()
        };
        let (job_results, job_errors) = job_output(&lines, &config);
        let records = lines
            .iter()
            .map(|l| (Record::Text(l.clone().into_bytes()), None))
            .collect();
        let out = process_records(&explainer, true, &config, records);
        assert_eq!(out.len(), lines.len());
        let (results, errors) = split(&out);
        assert_eq!(results, job_results, "key field {key_field:?}");
        let job_errors: Vec<Value> = job_errors.into_iter().map(without_place).collect();
        assert_eq!(errors, job_errors, "key field {key_field:?}");
        let expected_failures = if key_field.is_some() { 4 } else { 3 };
        assert_eq!(errors.len(), expected_failures, "{errors:?}");

        // The parts are the line's own JSON.
        for r in &out {
            let line: Value = serde_json::from_slice(&r.line).unwrap();
            let part = |p: &Option<String>| {
                p.as_ref()
                    .map(|t| serde_json::from_str::<Value>(t).unwrap())
            };
            assert_eq!(part(&r.instance), line.get("instance").cloned());
            assert_eq!(part(&r.key), line.get("key").cloned());
            assert_eq!(part(&r.prediction), line.get("prediction").cloned());
            assert_eq!(part(&r.explanation), line.get("explanation").cloned());
            match &r.error {
                Some(s) => assert_eq!(json!({"code": s.code, "message": s.message}), line["error"]),
                None => assert!(line.get("error").is_none()),
            }
        }

        // Values give the same lines as the text they were read from.
        let values = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| (Record::Value(v), None))
            .collect();
        let from_values = process_records(&explainer, true, &config, values);
        let text_ok: Vec<&RecordLine> = out
            .iter()
            .filter(|r| !r.instance.as_deref().is_some_and(|i| i.starts_with('"')))
            .collect();
        assert_eq!(from_values.iter().collect::<Vec<_>>(), text_ok);
    }
}

#[test]
fn places_prefix_messages_and_invalid_records_are_errors() {
    let explainer = Explainer::load(model_dir("peer_linear")).unwrap();
    let records = vec![
        (
            Record::Value(json!({"x0": 1, "x1": 2})),
            Some("row 0".to_string()),
        ),
        (
            Record::Invalid {
                instance: json!({"x0": "NaN"}),
                key: None,
                message: "x0: NaN is not a finite number".into(),
            },
            Some("row 1".into()),
        ),
        (
            Record::Value(json!({"x0": 1, "x1": 2, "x2": 3})),
            Some("row 2".into()),
        ),
        (Record::Text(b"[".to_vec()), None),
    ];
    let out = process_records(&explainer, false, &InstanceConfig::default(), records);
    let errors: Vec<(i32, &str)> = out
        .iter()
        .filter_map(|r| r.error.as_ref().map(|s| (s.code, s.message.as_str())))
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].1.starts_with("row 0: ") && errors[0].1.contains("x2"),
        "{errors:?}"
    );
    assert_eq!(errors[1], (3, "row 1: x0: NaN is not a finite number"));
    assert!(errors[2].1.starts_with("invalid JSON"), "{errors:?}");
    assert!(errors.iter().all(|(code, _)| *code == 3));
    // Predictions only: no explanation part.
    let ok = &out[2];
    assert_eq!(ok.prediction.as_deref(), Some("{\"y\":[25.0]}"));
    assert_eq!(ok.explanation, None);
    assert_eq!(
        String::from_utf8(ok.line.clone()).unwrap(),
        "{\"instance\":{\"x0\":1,\"x1\":2,\"x2\":3},\"prediction\":{\"y\":[25.0]}}"
    );
}
