//! Batch jobs through the library: cancelling and resuming (JSONL and CSV), cutting back
//! uncommitted output, spec overrides, and the checks that keep a job folder to one job.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use prism_engine::batch::{
    BatchJob, BatchOptions, BatchStats, InputFormat, InstanceConfig, JobState, Shard,
};
use prism_engine::{EngineError, Explainer, ExplanationSpecOverride};
use serde_json::{json, Value};

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(name)
}

fn linear() -> Explainer {
    Explainer::load(model_dir("peer_linear")).unwrap()
}

/// `n` peer_linear instances keyed `r0`, `r1`, …; every 7th lacks `x2` (an errors line).
fn linear_jsonl(n: usize) -> String {
    (0..n)
        .map(|i| {
            if i % 7 == 3 {
                format!("{{\"id\": \"r{i}\", \"x0\": {i}, \"x1\": 1}}\n")
            } else {
                format!(
                    "{{\"id\": \"r{i}\", \"x0\": {i}, \"x1\": 1, \"x2\": {}}}\n",
                    i % 5
                )
            }
        })
        .collect()
}

fn options(input: &Path, out: &Path, job: &str) -> BatchOptions {
    let mut o = BatchOptions::new(
        vec![input.display().to_string()],
        out.display().to_string(),
        "peer_linear".into(),
    );
    o.job_id = Some(job.into());
    o.instance_config.key_field = Some("id".into());
    o.batch_size = 4;
    o
}

fn run(job: &BatchJob) -> BatchStats {
    job.run(&AtomicBool::new(false), &mut |_| {}).unwrap()
}

/// Runs `job`, cancelling it after `batches` batches.
fn run_cancelled_after(job: &BatchJob, batches: usize) -> BatchStats {
    let cancel = AtomicBool::new(false);
    let mut seen = 0;
    job.run(&cancel, &mut |p| {
        if p.this_run > 0 {
            seen += 1;
        }
        if seen >= batches {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn counts(stats: &BatchStats) -> (i64, i64, i64) {
    let c = &stats.completion_stats;
    (c.successful_count, c.failed_count, c.incomplete_count)
}

#[test]
fn a_cancelled_job_stops_after_its_batch_and_resumes_to_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, linear_jsonl(30)).unwrap();
    let reference = BatchJob::new(linear(), options(&input, tmp.path(), "reference")).unwrap();
    let stats = run(&reference);
    assert_eq!(stats.state, JobState::Succeeded);
    // Lines 3, 10, 17, 24 lack a feature.
    assert_eq!(counts(&stats), (26, 4, 0));

    let job = BatchJob::new(linear(), options(&input, tmp.path(), "cancelled")).unwrap();
    let stats = run_cancelled_after(&job, 1);
    assert_eq!(stats.state, JobState::Cancelled);
    // One batch of 4 records (r0..r3, r3 failed), and nothing after it.
    assert_eq!(counts(&stats), (3, 1, -1));
    assert_eq!(read(&job.results_path()).lines().count(), 3);
    assert_eq!(read(&job.errors_path()).lines().count(), 1);
    let on_disk: BatchStats = serde_json::from_str(&read(&job.stats_path())).unwrap();
    assert_eq!(on_disk, stats);

    // A cancel flag already set stops before any work.
    let stats = job.run(&AtomicBool::new(true), &mut |_| {}).unwrap();
    assert_eq!(counts(&stats), (3, 1, -1));

    let stats = run(&job);
    assert_eq!(stats.state, JobState::Succeeded);
    assert_eq!(counts(&stats), (26, 4, 0));
    assert_eq!(read(&job.results_path()), read(&reference.results_path()));
    assert_eq!(read(&job.errors_path()), read(&reference.errors_path()));
}

#[test]
fn uncommitted_output_is_cut_back_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, linear_jsonl(20)).unwrap();
    let reference = BatchJob::new(linear(), options(&input, tmp.path(), "reference")).unwrap();
    run(&reference);

    let job = BatchJob::new(linear(), options(&input, tmp.path(), "torn")).unwrap();
    run_cancelled_after(&job, 2);
    // What a process killed after writing, before its checkpoint, leaves behind.
    for path in [job.results_path(), job.errors_path()] {
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"key\":\"r8\",\"prediction\":{\"y\":[1");
        std::fs::write(&path, bytes).unwrap();
    }
    let stats = run(&job);
    assert_eq!(stats.state, JobState::Succeeded);
    assert_eq!(read(&job.results_path()), read(&reference.results_path()));
    assert_eq!(read(&job.errors_path()), read(&reference.errors_path()));

    // Output shorter than the checkpoint says was changed by someone else: refused.
    let job = BatchJob::new(linear(), options(&input, tmp.path(), "cut")).unwrap();
    run_cancelled_after(&job, 2);
    std::fs::write(job.results_path(), "").unwrap();
    let err = job.run(&AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(matches!(err, EngineError::Checkpoint { .. }), "{err}");
}

/// CSV rows, some spanning lines (quoted newlines), with a key column and an excluded one.
const CSV: &str = "id,note,x0,x1,x2\n\
a,plain,30,60,30\n\
b,\"two\nlines\",10,20,10\n\
c,,1.5,0,-2\n\
d,\"a, comma\",1,2\n\
e,\"three\nmore\nlines\",0,0,0\n\
f,x,2,3,4\n";

fn csv_options(input: &Path, out: &Path, job: &str) -> BatchOptions {
    let mut o = options(input, out, job);
    o.format = InputFormat::Csv;
    o.instance_config.excluded_fields = vec!["note".into()];
    o.batch_size = 1;
    o
}

#[test]
fn csv_rows_are_typed_keyed_and_resume_mid_file() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    std::fs::write(&input, CSV).unwrap();
    let reference = BatchJob::new(linear(), csv_options(&input, tmp.path(), "reference")).unwrap();
    let stats = run(&reference);
    assert_eq!(counts(&stats), (5, 1, 0));
    let results: Vec<Value> = read(&reference.results_path())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // y = 2 x0 + 3 x1 + 4 x2 + 5; rows are sent as arrays without the key and the note.
    let expected = [
        ("a", 365.0),
        ("b", 125.0),
        ("c", 0.0),
        ("e", 5.0),
        ("f", 34.0),
    ];
    assert_eq!(results.len(), expected.len());
    for (line, (key, y)) in results.iter().zip(expected) {
        assert_eq!(line["key"], json!(key));
        assert_eq!(line["prediction"]["y"], json!([y]));
        assert!(line.get("instance").is_none());
    }
    let error: Value = serde_json::from_str(read(&reference.errors_path()).trim()).unwrap();
    // A row of the wrong length is reported whole: which field is the key is not known.
    assert_eq!(error["instance"], json!(["d", "a, comma", 1, 2]));
    assert!(error.get("key").is_none());
    assert_eq!(error["error"]["code"], json!(3));
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 6") && message.contains("4 fields"),
        "{message}"
    );

    // Cancelled after every row, resumed each time from the middle of the file.
    let job = BatchJob::new(linear(), csv_options(&input, tmp.path(), "resumed")).unwrap();
    let mut runs = 0;
    loop {
        runs += 1;
        let stats = run_cancelled_after(&job, 1);
        if stats.state == JobState::Succeeded {
            break;
        }
        assert!(runs < 20, "the job does not end");
    }
    assert_eq!(runs, 7, "6 rows, one per run, and a run that finds the end");
    assert_eq!(read(&job.results_path()), read(&reference.results_path()));
    assert_eq!(read(&job.errors_path()), read(&reference.errors_path()));
}

#[test]
fn byte_order_marks_and_blank_lines_are_not_records() {
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("in.jsonl");
    std::fs::write(
        &jsonl,
        "\u{feff}{\"id\": \"a\", \"x0\": 1, \"x1\": 1, \"x2\": 1}\r\n\r\n  \n{\"id\": \"b\", \"x0\": 0, \"x1\": 0, \"x2\": 0}",
    )
    .unwrap();
    let job = BatchJob::new(linear(), options(&jsonl, tmp.path(), "jsonl")).unwrap();
    assert_eq!(counts(&run(&job)), (2, 0, 0));
    let csv = tmp.path().join("in.csv");
    std::fs::write(&csv, "\u{feff}id,x0,x1,x2\r\na,1,1,1\r\n\r\nb,0,0,0\r\n").unwrap();
    let mut o = options(&csv, tmp.path(), "csv");
    o.format = InputFormat::Csv;
    let job = BatchJob::new(linear(), o).unwrap();
    assert_eq!(counts(&run(&job)), (2, 0, 0));
    let keys: Vec<Value> = read(&job.results_path())
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["key"].clone())
        .collect();
    assert_eq!(keys, [json!("a"), json!("b")]);
}

#[test]
fn csv_object_instances_and_included_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    std::fs::write(&input, "x2,x1,x0,other\n1,2,3,zz\n").unwrap();
    let mut o = options(&input, tmp.path(), "objects");
    o.format = InputFormat::Csv;
    o.instance_config = InstanceConfig {
        instance_type: Some(prism_engine::batch::InstanceType::Object),
        included_fields: vec!["x0".into(), "x1".into(), "x2".into()],
        ..InstanceConfig::default()
    };
    let job = BatchJob::new(linear(), o).unwrap();
    assert_eq!(counts(&run(&job)), (1, 0, 0));
    let line: Value = serde_json::from_str(read(&job.results_path()).trim()).unwrap();
    assert_eq!(line["instance"], json!({"x0": 3, "x1": 2, "x2": 1}));
    assert_eq!(
        line["prediction"]["y"],
        json!([2.0 * 3.0 + 3.0 * 2.0 + 4.0 + 5.0])
    );
}

#[test]
fn a_spec_override_changes_the_explanations() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::copy(
        model_dir("breast_cancer_mlp").join("instances.jsonl"),
        &input,
    )
    .unwrap();
    let explainer = || Explainer::load(model_dir("breast_cancer_mlp")).unwrap();
    let mut o = BatchOptions::new(
        vec![input.display().to_string()],
        tmp.path().display().to_string(),
        "breast_cancer_mlp".into(),
    );
    o.generate_explanation = true;
    o.job_id = Some("plain".into());
    let plain = BatchJob::new(explainer(), o.clone()).unwrap();
    assert_eq!(counts(&run(&plain)), (4, 0, 0));
    o.job_id = Some("top2".into());
    o.spec_override =
        Some(ExplanationSpecOverride::from_json_str(r#"{"parameters": {"topK": 2}}"#).unwrap());
    let top2 = BatchJob::new(explainer(), o.clone()).unwrap();
    assert_eq!(counts(&run(&top2)), (4, 0, 0));
    for (job, n) in [(&plain, 1), (&top2, 2)] {
        for line in read(&job.results_path()).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                v["explanation"]["attributions"].as_array().unwrap().len(),
                n
            );
            assert_eq!(
                v["prediction"]["probabilities"].as_array().unwrap().len(),
                2
            );
        }
    }
    // Without explanations an override means nothing: refused.
    o.generate_explanation = false;
    let err = BatchJob::new(explainer(), o).unwrap_err();
    assert!(
        matches!(err, EngineError::InvalidBatchOptions { .. }),
        "{err}"
    );
}

#[test]
fn a_job_folder_resumes_only_its_own_job() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, linear_jsonl(12)).unwrap();
    let job = BatchJob::new(linear(), options(&input, tmp.path(), "j")).unwrap();
    run_cancelled_after(&job, 1);

    let mut other = options(&input, tmp.path(), "j");
    other.generate_explanation = true;
    let err = BatchJob::new(linear(), other)
        .unwrap()
        .run(&AtomicBool::new(false), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(err, EngineError::JobMismatch { field, .. } if field == "explain flag"),
        "{err}"
    );
    // Another batch size is the same job.
    let mut bigger = options(&input, tmp.path(), "j");
    bigger.batch_size = 100;
    let resumed = BatchJob::new(linear(), bigger).unwrap();
    assert_eq!(counts(&run(&resumed)), (10, 2, 0));

    // A finished job only reports its stats: nothing is written again.
    let before = read(&job.results_path());
    let again = run(&resumed);
    assert_eq!(counts(&again), (10, 2, 0));
    assert_eq!(read(&job.results_path()), before);

    // An input that changed since the job started is refused.
    let job = BatchJob::new(linear(), options(&input, tmp.path(), "k")).unwrap();
    run_cancelled_after(&job, 1);
    std::fs::write(&input, linear_jsonl(13)).unwrap();
    let err = BatchJob::new(linear(), options(&input, tmp.path(), "k"))
        .unwrap()
        .run(&AtomicBool::new(false), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(err, EngineError::JobMismatch { field, .. } if field.starts_with("input")),
        "{err}"
    );
}

#[test]
fn one_process_at_a_time_runs_a_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, linear_jsonl(12)).unwrap();
    let job = BatchJob::new(linear(), options(&input, tmp.path(), "j")).unwrap();
    let twin = BatchJob::new(linear(), options(&input, tmp.path(), "j")).unwrap();
    let mut other_shard = options(&input, tmp.path(), "j");
    other_shard.shard = Shard { index: 1, count: 2 };
    let sharded = BatchJob::new(linear(), other_shard).unwrap();
    let mut busy = None;
    let stats = job
        .run(&AtomicBool::new(false), &mut |p| {
            if p.this_run == 0 {
                busy = Some(twin.run(&AtomicBool::new(false), &mut |_| {}).unwrap_err());
                // Another shard of a job in the same folder runs meanwhile.
                let s = sharded.run(&AtomicBool::new(false), &mut |_| {}).unwrap();
                assert_eq!(s.state, JobState::Succeeded);
            }
        })
        .unwrap();
    assert_eq!(counts(&stats), (10, 2, 0));
    let busy = busy.unwrap();
    assert!(matches!(busy, EngineError::ShardBusy { .. }), "{busy}");
    // Released when the run ends.
    assert_eq!(counts(&run(&twin)), (10, 2, 0));
}

#[test]
fn bad_options_and_inputs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_path_buf();
    let err = |inputs: Vec<&str>, edit: &dyn Fn(&mut BatchOptions)| {
        let mut o = BatchOptions::new(
            inputs.into_iter().map(String::from).collect(),
            out.display().to_string(),
            "m".into(),
        );
        edit(&mut o);
        BatchJob::new(linear(), o).unwrap_err()
    };
    let e = err(vec!["ftp://bucket/in.jsonl"], &|_| {});
    assert!(
        matches!(&e, EngineError::Storage(_))
            && e.to_string()
                == "ftp://bucket/in.jsonl: only local paths, file://, s3:// and gs:// URLs are supported",
        "{e}"
    );
    let pattern = format!("{}/*.jsonl", tmp.path().display());
    let e = err(vec![&pattern], &|_| {});
    assert!(matches!(&e, EngineError::NoInput { .. }), "{e}");
    std::fs::write(tmp.path().join("a.jsonl"), "{}\n").unwrap();
    let e = err(vec![&pattern], &|o| o.shard = Shard { index: 0, count: 3 });
    assert!(e.to_string().contains("job id"), "{e}");
    let e = err(vec![&pattern], &|o| {
        o.job_id = Some("j".into());
        o.shard = Shard { index: 3, count: 3 };
    });
    assert!(e.to_string().contains("shard index 3"), "{e}");
    let e = err(vec![&pattern], &|o| o.job_id = Some("../escape".into()));
    assert!(e.to_string().contains("plain folder name"), "{e}");
    let e = err(vec![&pattern], &|o| o.batch_size = 0);
    assert!(e.to_string().contains("batch size"), "{e}");

    // file:// URIs and globs name the same file once.
    let uri = format!("file://{}", tmp.path().join("a.jsonl").display());
    let mut o = BatchOptions::new(vec![uri, pattern], out.display().to_string(), "m".into());
    o.job_id = Some("uris".into());
    let job = BatchJob::new(linear(), o).unwrap();
    assert_eq!(job.bytes_total(), 3);
}

#[test]
fn file_urls_and_globs_over_several_files_number_records_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    let all = linear_jsonl(30);
    let lines: Vec<&str> = all.lines().collect();
    // Written out of order: the glob's matches are sorted by name.
    std::fs::write(dir.join("part-2.jsonl"), lines[20..].join("\n")).unwrap();
    std::fs::write(dir.join("part-0.jsonl"), lines[..12].join("\n") + "\n").unwrap();
    std::fs::write(dir.join("part-1.jsonl"), lines[12..20].join("\n") + "\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not matched\n").unwrap();
    let pattern = format!("file://{}/part-*.jsonl", dir.display());
    let out = format!("file://{}/out", tmp.path().display());
    let mut o = BatchOptions::new(vec![pattern], out, "peer_linear".into());
    o.job_id = Some("globbed".into());
    o.instance_config.key_field = Some("id".into());
    o.batch_size = 4;
    let job = BatchJob::new(linear(), o).unwrap();
    assert_eq!(job.job_dir(), tmp.path().join("out/globbed"));
    assert_eq!(job.output_location(), job.job_dir().display().to_string());
    let stats = run(&job);
    assert_eq!(stats.state, JobState::Succeeded);
    // Every 7th record (3, 10, 17, 24) lacks a feature.
    assert_eq!(
        (
            stats.completion_stats.successful_count,
            stats.completion_stats.failed_count
        ),
        (26, 4)
    );
    let keys: Vec<String> = std::fs::read_to_string(job.results_path())
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = (0..30)
        .filter(|i| i % 7 != 3)
        .map(|i| format!("r{i}"))
        .collect();
    assert_eq!(keys, want);
    let errors: Vec<Value> = std::fs::read_to_string(job.errors_path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Record 17 is the sixth line of the second file.
    let message = errors[2]["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{} line 6: ", dir.join("part-1.jsonl").display())),
        "{message}"
    );
}

/// Writes `rows` peer_linear rows as Parquet, `per_group` rows per row group: `id` (UTF-8),
/// `x0` (int64), `x1` (optional double: null in row 7), `x2` (int32), `note` (optional
/// UTF-8), compressed with Snappy.
fn write_linear_parquet(path: &Path, rows: usize, per_group: usize) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = parquet::schema::parser::parse_message_type(
        "message row {
            required binary id (UTF8);
            required int64 x0;
            optional double x1;
            required int32 x2;
            optional binary note (UTF8);
        }",
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        SerializedFileWriter::new(file, std::sync::Arc::new(schema), props.into()).unwrap();
    for start in (0..rows).step_by(per_group) {
        let range: Vec<usize> = (start..(start + per_group).min(rows)).collect();
        let mut group = writer.next_row_group().unwrap();
        let ids: Vec<ByteArray> = range
            .iter()
            .map(|i| format!("r{i}").as_str().into())
            .collect();
        let x0: Vec<i64> = range.iter().map(|&i| i as i64).collect();
        let x1_def: Vec<i16> = range.iter().map(|&i| i16::from(i != 7)).collect();
        let x1: Vec<f64> = range
            .iter()
            .filter(|&&i| i != 7)
            .map(|&i| i as f64 * 0.5)
            .collect();
        let x2: Vec<i32> = range.iter().map(|&i| (i % 5) as i32).collect();
        let notes: Vec<ByteArray> = range.iter().map(|_| "ignored".into()).collect();
        let ones = vec![1i16; range.len()];
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<ByteArrayType>()
            .write_batch(&ids, None, None)
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<Int64Type>()
            .write_batch(&x0, None, None)
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<DoubleType>()
            .write_batch(&x1, Some(&x1_def), None)
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<Int32Type>()
            .write_batch(&x2, None, None)
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<ByteArrayType>()
            .write_batch(&notes, Some(&ones), None)
            .unwrap();
        column.close().unwrap();
        group.close().unwrap();
    }
    writer.close().unwrap();
}

fn parquet_options(input: &Path, out: &Path, job: &str) -> BatchOptions {
    let mut o = options(input, out, job);
    o.format = InputFormat::Parquet;
    o.instance_config = InstanceConfig {
        instance_type: Some(prism_engine::batch::InstanceType::Object),
        key_field: Some("id".into()),
        excluded_fields: vec!["note".into()],
        ..InstanceConfig::default()
    };
    o
}

#[test]
fn parquet_rows_become_instances_like_jsonl_lines_and_resume_mid_row_group() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.parquet");
    write_linear_parquet(&input, 30, 10);
    let out = tmp.path().join("out");
    let reference = BatchJob::new(linear(), parquet_options(&input, &out, "whole")).unwrap();
    assert_eq!(counts(&run(&reference)), (29, 1, 0));
    // The same instances as JSONL give the same predictions: numbers stayed numbers.
    let jsonl: String = (0..30usize)
        .map(|i| {
            let x1 = if i == 7 {
                "null".to_string()
            } else {
                format!("{:?}", i as f64 * 0.5)
            };
            format!(
                "{{\"id\": \"r{i}\", \"x0\": {i}, \"x1\": {x1}, \"x2\": {}}}\n",
                i % 5
            )
        })
        .collect();
    let jsonl_input = tmp.path().join("in.jsonl");
    std::fs::write(&jsonl_input, jsonl).unwrap();
    let twin = BatchJob::new(linear(), options(&jsonl_input, &out, "jsonl")).unwrap();
    run(&twin);
    assert_eq!(read(&reference.results_path()), read(&twin.results_path()));
    let keys: Vec<Value> = read(&reference.results_path())
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["key"].clone())
        .collect();
    assert_eq!(keys.len(), 29);
    assert_eq!(keys[7], json!("r8"));
    let error: Value = serde_json::from_str(read(&reference.errors_path()).trim()).unwrap();
    assert_eq!(error["key"], json!("r7"));
    assert_eq!(error["instance"], json!({"x0": 7, "x1": null, "x2": 2}));
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{} row 8: ", input.display())),
        "{message}"
    );

    // Cancelled after 3 batches of 4 (row 12, inside the second row group), resumed.
    let job = BatchJob::new(linear(), parquet_options(&input, &out, "resumed")).unwrap();
    let stopped = run_cancelled_after(&job, 3);
    assert_eq!(stopped.state, JobState::Cancelled);
    assert_eq!(counts(&stopped), (11, 1, -1));
    let job = BatchJob::new(linear(), parquet_options(&input, &out, "resumed")).unwrap();
    assert_eq!(counts(&run(&job)), (29, 1, 0));
    assert_eq!(read(&job.results_path()), read(&reference.results_path()));
    assert_eq!(read(&job.errors_path()), read(&reference.errors_path()));

    // Shards split Parquet rows by number as they split lines.
    let shards: Vec<BatchJob> = (0..3)
        .map(|index| {
            let mut o = parquet_options(&input, &out, "sharded");
            o.shard = Shard { index, count: 3 };
            BatchJob::new(linear(), o).unwrap()
        })
        .collect();
    let mut keys: Vec<String> = Vec::new();
    for shard in &shards {
        run(shard);
        keys.extend(read(&shard.results_path()).lines().map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut want: Vec<String> = (0..30)
        .filter(|&i| i != 7)
        .map(|i| format!("r{i}"))
        .collect();
    want.sort();
    keys.sort();
    assert_eq!(keys, want);
}
