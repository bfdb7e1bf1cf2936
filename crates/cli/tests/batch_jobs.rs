//! End-to-end tests of Vertex `batchPredictionJobs` on `prism serve`: the real binary on a
//! loopback port runs jobs over files and is polled like Vertex clients poll: exact counts
//! and files, explanations, list filters and pages, validation errors, cancel, delete, and
//! a server killed with SIGKILL (then stopped with SIGTERM) in the middle of a job that
//! finishes after the restarts with every input line written exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::job_lines::{self, breast_cancer_fixture, breast_cancer_lines, json_lines, line_id};
use common::{model_dir, Server};
use serde_json::{json, Value};

const PARENT: &str = "projects/demo/locations/local";
const JOBS: &str = "projects/demo/locations/local/batchPredictionJobs";
const MODEL: &str = "projects/demo/locations/local/models/mlp";

impl Server {
    fn start(data_dir: &Path, args: &[&str]) -> Self {
        Self::start_with(data_dir, args, &[])
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, None);
        assert_eq!(status, 200, "{v}");
        v
    }

    /// Uploads breast_cancer_mlp as `models/mlp` and waits for it.
    fn upload_mlp(&self) {
        let op = self.start_upload("mlp", "breast cancer", &model_dir("breast_cancer_mlp"));
        let done = self.wait_op(&op, "30s");
        assert!(done["response"].is_object(), "{done}");
    }

    /// Creates a job and checks what create answers.
    fn create(&self, body: Value) -> Value {
        let (status, job) = self.call("POST", JOBS, Some(body));
        assert_eq!(status, 200, "{job}");
        assert!(job["name"].as_str().unwrap().starts_with(JOBS), "{job}");
        assert!(job["createTime"].as_str().unwrap().ends_with('Z'), "{job}");
        job
    }

    /// Polls a job until `done(job)` or the deadline.
    fn poll(&self, job: &Value, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let name = job["name"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let now = self.get(name);
            if done(&now) {
                return now;
            }
            assert!(Instant::now() < deadline, "never {what}: {now}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls a job until it ends.
    fn finish(&self, job: &Value) -> Value {
        self.poll(job, "ended", |j| {
            matches!(
                j["state"].as_str().unwrap(),
                "JOB_STATE_SUCCEEDED" | "JOB_STATE_FAILED" | "JOB_STATE_CANCELLED"
            )
        })
    }
}

/// A job body over local files, writing under `out`.
fn job_body(name: &str, input: &Path, out: &Path) -> Value {
    json!({
        "displayName": name,
        "model": MODEL,
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [input.to_str().unwrap()]}},
        "instanceConfig": {"keyField": "id"},
        "outputConfig": {"predictionsFormat": "jsonl",
                         "gcsDestination": {"outputUriPrefix": out.to_str().unwrap()}},
        "manualBatchTuningParameters": {"batchSize": 16},
    })
}

/// Newline-ended lines in a file: after a kill, its last line may be cut short (bytes past
/// the checkpoint, cut back when the job resumes).
fn whole_lines(path: &Path) -> usize {
    std::fs::read(path)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The job folder a job document names.
fn job_dir(job: &Value) -> PathBuf {
    PathBuf::from(job["outputInfo"]["gcsOutputDirectory"].as_str().unwrap())
}

fn results(job: &Value) -> PathBuf {
    job_dir(job).join("prediction.results-00000-of-00001")
}

fn errors(job: &Value) -> PathBuf {
    job_dir(job).join("prediction.errors_stats-00000-of-00001")
}

/// (successful, failed, incomplete) of a job document.
fn counts(job: &Value) -> (i64, i64, i64) {
    let c = &job["completionStats"];
    let n = |k: &str| {
        c[k].as_str()
            .unwrap_or_else(|| panic!("{k} is not an int64 string: {job}"))
            .parse::<i64>()
            .unwrap()
    };
    (n("successfulCount"), n("failedCount"), n("incompleteCount"))
}

/// How many times each id appears across a job's results and errors.
fn id_counts(job: &Value) -> BTreeMap<String, usize> {
    job_lines::id_counts(&[results(job), errors(job)])
}

#[test]
fn a_job_runs_with_exact_counts_files_and_explanations() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    server.upload_mlp();
    let input = tmp.path().join("in.jsonl");
    let (text, bad) = breast_cancer_lines(60);
    std::fs::write(&input, text).unwrap();
    let out = tmp.path().join("out");

    let mut body = job_body("explained", &input, &out);
    body["generateExplanation"] = json!(true);
    body["explanationSpec"] =
        json!({"parameters": {"sampledShapleyAttribution": {"pathCount": 4}}});
    body["labels"] = json!({"team": "risk"});
    let created = server.create(body);
    assert_eq!(created["state"], "JOB_STATE_QUEUED");
    assert_eq!(created["displayName"], "explained");
    assert_eq!(created["generateExplanation"], json!(true));
    assert_eq!(
        created["manualBatchTuningParameters"]["batchSize"],
        json!(16)
    );
    let dir = job_dir(&created);
    let folder = dir.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(dir.parent().unwrap(), out);
    assert!(
        folder.starts_with("prediction-breast_cancer-") && folder.ends_with('Z'),
        "{folder}"
    );

    let job = server.finish(&created);
    assert_eq!(job["state"], "JOB_STATE_SUCCEEDED", "{job}");
    assert_eq!(counts(&job), (57, 3, 0));
    assert!(job.get("error").is_none(), "{job}");
    for key in ["startTime", "endTime", "updateTime"] {
        assert!(job[key].as_str().unwrap().ends_with('Z'), "{key}: {job}");
    }
    assert!(job["startTime"].as_str() <= job["endTime"].as_str());
    let failures = job["partialFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "{job}");
    assert!(failures.iter().all(|f| f["code"] == json!(3)), "{job}");

    let lines = json_lines(&results(&job));
    assert_eq!(lines.len(), 57);
    let errs = json_lines(&errors(&job));
    assert_eq!(errs.len(), 3);
    let failed: BTreeSet<String> = errs.iter().map(line_id).collect();
    assert_eq!(failed, bad);
    assert!(errs[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 1"));
    let seen = id_counts(&job);
    assert_eq!(seen.len(), 60);
    assert!(seen.values().all(|&n| n == 1));
    for line in &lines {
        assert!(
            line.get("instance").is_none(),
            "keyField replaces instance: {line}"
        );
        assert!(line["prediction"].is_object(), "{line}");
        // Shapley efficiency: the attributions add up to output minus baseline output.
        let a = &line["explanation"]["attributions"][0];
        let sum: f64 = a["featureAttributions"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        let gap =
            a["instanceOutputValue"].as_f64().unwrap() - a["baselineOutputValue"].as_f64().unwrap();
        assert!((sum - gap).abs() < 1e-4, "efficiency: {sum} vs {gap}");
    }

    // Predictions only, read from a file:// URI and a glob, written as arrays of fields.
    let mut body = job_body("predicted", &input, &out);
    body["inputConfig"]["gcsSource"]["uris"] =
        json!([format!("file://{}/in.*", tmp.path().display())]);
    let job = server.finish(&server.create(body));
    assert_eq!(job["state"], "JOB_STATE_SUCCEEDED", "{job}");
    assert_eq!(counts(&job), (57, 3, 0));
    let lines = json_lines(&results(&job));
    assert_eq!(lines.len(), 57);
    assert!(lines.iter().all(|l| l.get("explanation").is_none()));
    assert_ne!(job_dir(&job), dir);
}

#[test]
fn csv_rows_become_keyed_objects_and_a_job_of_bad_lines_fails_early() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    server.upload_mlp();
    let out = tmp.path().join("out");

    // CSV: a header row, then rows; `id` names each result, the rest is the instance.
    let fixture = breast_cancer_fixture();
    let features: Vec<&String> = fixture[0].keys().collect();
    let mut csv = format!(
        "id,{}\n",
        features
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    for i in 0..12 {
        let row = &fixture[i % fixture.len()];
        let values: Vec<String> = features.iter().map(|f| row[*f].to_string()).collect();
        csv.push_str(&format!("c{i},{}\n", values.join(",")));
    }
    let input = tmp.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();
    let mut body = job_body("csv", &input, &out);
    body["inputConfig"]["instancesFormat"] = json!("csv");
    body["instanceConfig"] = json!({"instanceType": "object", "keyField": "id"});
    let job = server.finish(&server.create(body));
    assert_eq!(job["state"], "JOB_STATE_SUCCEEDED", "{job}");
    assert_eq!(counts(&job), (12, 0, 0));
    let lines = json_lines(&results(&job));
    let keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(keys, (0..12).map(|i| format!("c{i}")).collect::<Vec<_>>());
    // The same rows through JSONL predict the same.
    let jsonl = tmp.path().join("rows.jsonl");
    let text: String = (0..12)
        .map(|i| {
            let mut o = fixture[i % fixture.len()].clone();
            o.insert("id".into(), json!(format!("c{i}")));
            format!("{}\n", Value::Object(o))
        })
        .collect();
    std::fs::write(&jsonl, text).unwrap();
    let again = server.finish(&server.create(job_body("jsonl", &jsonl, &out)));
    let same: Vec<Value> = json_lines(&results(&again))
        .iter()
        .map(|l| l["prediction"].clone())
        .collect();
    let from_csv: Vec<Value> = lines.iter().map(|l| l["prediction"].clone()).collect();
    assert_eq!(same, from_csv);

    // Nothing but bad lines: judged after 7 batches of 16 (the first 100 records and
    // more), the job fails with the runner's reason and an unknown incomplete count.
    let garbage = tmp.path().join("garbage.jsonl");
    std::fs::write(&garbage, "{\"id\": \"x\", oops\n".repeat(500)).unwrap();
    let created = server.create(job_body("garbage", &garbage, &out));
    // enum-encoding=int, as Google's client asks, is accepted.
    let name = created["name"].as_str().unwrap();
    server.get(&format!("{name}?$alt=json;enum-encoding=int"));
    let job = server.finish(&created);
    assert_eq!(job["state"], "JOB_STATE_FAILED", "{job}");
    assert_eq!(counts(&job), (0, 112, -1));
    assert_eq!(job["error"]["code"], json!(3), "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("112 of 112 instances failed"),
        "{message}"
    );
    assert_eq!(job["partialFailures"].as_array().unwrap().len(), 20);
    assert!(job["endTime"].as_str().is_some());
}

#[test]
fn jobs_list_filter_page_and_accept_snake_case() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    server.upload_mlp();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, breast_cancer_lines(10).0).unwrap();
    let out = tmp.path().join("out");
    let mut jobs = Vec::new();
    for (name, team) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
        // snake_case in, camelCase out.
        let job = server.create(json!({
            "display_name": name,
            "model": MODEL,
            "input_config": {"instances_format": "jsonl",
                             "gcs_source": {"uris": [input.to_str().unwrap()]}},
            "instance_config": {"key_field": "id"},
            "output_config": {"predictions_format": "jsonl",
                              "gcs_destination": {"output_uri_prefix": out.to_str().unwrap()}},
            "manual_batch_tuning_parameters": {"batch_size": 4},
            "labels": {"team": team},
        }));
        assert_eq!(job["displayName"], name);
        assert_eq!(job["instanceConfig"]["keyField"], "id");
        assert_eq!(job["manualBatchTuningParameters"]["batchSize"], json!(4));
        jobs.push(job);
    }
    for job in &jobs {
        let done = server.finish(job);
        assert_eq!(done["state"], "JOB_STATE_SUCCEEDED", "{done}");
        assert_eq!(counts(&done), (9, 1, 0));
    }

    let names = |v: &Value| -> Vec<String> {
        v["batchPredictionJobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["displayName"].as_str().unwrap().to_string())
            .collect()
    };
    let all = server.get(JOBS);
    assert_eq!(names(&all), ["a1", "a2", "b1"]);
    assert!(all.get("nextPageToken").is_none());
    let page = server.get(&format!("{JOBS}?pageSize=2"));
    assert_eq!(names(&page), ["a1", "a2"]);
    assert_eq!(page["nextPageToken"], "2");
    let page = server.get(&format!("{JOBS}?pageSize=2&pageToken=2"));
    assert_eq!(names(&page), ["b1"]);
    assert!(page.get("nextPageToken").is_none());
    let team_a = server.get(&format!("{JOBS}?filter=labels.team%3D%22a%22"));
    assert_eq!(names(&team_a), ["a1", "a2"]);
    let one = server.get(&format!(
        "{JOBS}?filter=display_name%3D%22b1%22%20AND%20state%3DJOB_STATE_SUCCEEDED"
    ));
    assert_eq!(names(&one), ["b1"]);
    let none = server.get(&format!("{JOBS}?filter=state%3DJOB_STATE_RUNNING"));
    assert!(names(&none).is_empty());
    let by_model = server.get(&format!("{JOBS}?filter=model%3D%22{MODEL}%22"));
    assert_eq!(names(&by_model).len(), 3);
    let (status, e) = server.call("GET", &format!("{JOBS}?filter=color%3Dred"), None);
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("state"),
        "{e}"
    );
    // Another location holds none of them.
    let other = server.get("projects/demo/locations/elsewhere/batchPredictionJobs");
    assert!(names(&other).is_empty());

    // Delete: a done Operation, the job gone, its files kept.
    let name = jobs[0]["name"].as_str().unwrap();
    let (status, op) = server.call("DELETE", name, None);
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["done"], json!(true), "{op}");
    assert!(op["name"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{name}/operations/")));
    assert!(op["metadata"]["@type"]
        .as_str()
        .unwrap()
        .ends_with("DeleteOperationMetadata"));
    assert_eq!(
        op["response"]["@type"],
        "type.googleapis.com/google.protobuf.Empty"
    );
    let (status, e) = server.call("GET", name, None);
    assert_eq!(status, 404, "{e}");
    assert_eq!(e["error"]["status"], "NOT_FOUND");
    assert_eq!(names(&server.get(JOBS)), ["a2", "b1"]);
    assert_eq!(json_lines(&results(&jobs[0])).len(), 9);
    // Cancelling a job that has ended is refused.
    let (status, e) = server.call(
        "POST",
        &format!("{}:cancel", jobs[1]["name"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["status"], "FAILED_PRECONDITION");
}

#[test]
fn bad_jobs_get_invalid_argument_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        // No cloud credentials, and no instance metadata service to ask for them.
        &[
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("NO_GCE_CHECK", "true"),
        ],
    );
    server.upload_mlp();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, breast_cancer_lines(4).0).unwrap();
    let out = tmp.path().join("out");
    let good = job_body("bad", &input, &out);
    let with = |path: &[&str], value: Value| {
        let mut body = good.clone();
        let mut at = &mut body;
        for key in &path[..path.len() - 1] {
            at = &mut at[*key];
        }
        let last = path[path.len() - 1];
        if value.is_null() {
            at.as_object_mut().unwrap().remove(last);
        } else {
            at[last] = value;
        }
        body
    };
    let cases = [
        (
            with(&["inputConfig", "gcsSource", "uris"], json!(["gs://bucket/in.jsonl"])),
            "batchPredictionJob.inputConfig.gcsSource.uris[0]: gs://bucket/in.jsonl: no credentials for GCS",
        ),
        (
            with(&["inputConfig", "gcsSource", "uris"], json!(["s3://bucket/in.jsonl"])),
            "batchPredictionJob.inputConfig.gcsSource.uris[0]: s3://bucket/in.jsonl: no credentials for S3",
        ),
        (
            with(&["inputConfig", "instancesFormat"], json!("tf-record")),
            "batchPredictionJob.inputConfig.instancesFormat: the input format tf-record is not supported yet",
        ),
        (
            with(&["inputConfig", "instancesFormat"], json!("xml")),
            "batchPredictionJob.inputConfig.instancesFormat: unknown input format xml",
        ),
        (
            with(&["inputConfig", "instancesFormat"], Value::Null),
            "batchPredictionJob.inputConfig.instancesFormat: is required",
        ),
        (
            with(&["inputConfig", "gcsSource", "uris"], json!([tmp.path().join("none-*.jsonl").to_str().unwrap()])),
            "batchPredictionJob.inputConfig.gcsSource.uris: no input file matches",
        ),
        (
            with(&["explanationSpec"], json!({"parameters": {"sampledShapleyAttribution": {"pathCount": 3}}})),
            "batchPredictionJob.explanationSpec: allowed only when generateExplanation is true",
        ),
        (
            {
                let mut b = with(&["explanationSpec"], json!({"parameters": {"sampledShapleyAttribution": {"pathCount": 0}}}));
                b["generateExplanation"] = json!(true);
                b
            },
            "batchPredictionJob.explanationSpec.parameters.sampledShapleyAttribution.pathCount",
        ),
        (
            with(&["outputConfig"], Value::Null),
            "batchPredictionJob.outputConfig: is required",
        ),
        (
            with(&["outputConfig", "predictionsFormat"], json!("csv")).pipe(|mut b| {
                b["generateExplanation"] = json!(true);
                b
            }),
            "batchPredictionJob.outputConfig.predictionsFormat: csv output cannot hold explanations",
        ),
        (
            with(&["outputConfig", "gcsDestination", "outputUriPrefix"], json!("gs://bucket/out")),
            "batchPredictionJob.outputConfig.gcsDestination.outputUriPrefix: gs://bucket/out: no credentials for GCS",
        ),
        (
            with(&["manualBatchTuningParameters", "batchSize"], json!(0)),
            "batchPredictionJob.manualBatchTuningParameters.batchSize: must be an integer from 1",
        ),
        (
            with(&["instanceConfig", "instanceType"], json!("table")),
            "batchPredictionJob.instanceConfig.instanceType: must be \"object\" or \"array\"",
        ),
        (
            with(&["instanceConfig", "includedFields"], json!(["a"])).pipe(|mut b| {
                b["instanceConfig"]["excludedFields"] = json!(["b"]);
                b
            }),
            "batchPredictionJob.instanceConfig: set includedFields or excludedFields, not both",
        ),
        (
            with(&["displayName"], Value::Null),
            "batchPredictionJob.displayName: is required",
        ),
        (
            with(&["labels"], json!({"team": 7})),
            "batchPredictionJob.labels.team: must be a string",
        ),
    ];
    for (body, want) in cases {
        let (status, e) = server.call("POST", JOBS, Some(body));
        assert_eq!(status, 400, "{want}: {e}");
        assert_eq!(e["error"]["status"], "INVALID_ARGUMENT", "{e}");
        assert_eq!(e["error"]["code"], json!(400), "{e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(want),
            "wanted {want:?}, got {message:?}"
        );
    }
    let (status, e) = server.call(
        "POST",
        JOBS,
        Some(with(&["model"], json!(format!("{PARENT}/models/missing")))),
    );
    assert_eq!(status, 404, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("batchPredictionJob.model: model"));
    let (status, e) = server.call("GET", &format!("{JOBS}/123"), None);
    assert_eq!(status, 404, "{e}");
    let (status, e) = server.call("POST", &format!("{JOBS}/123:cancel"), None);
    assert_eq!(status, 404, "{e}");
    // Nothing was created.
    let all = server.get(JOBS);
    assert!(
        all["batchPredictionJobs"].as_array().unwrap().is_empty(),
        "{all}"
    );
}

/// `value.pipe(f)`: a builder step inside an expression.
trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }
}

impl Pipe for Value {}

#[test]
fn a_long_job_cancels_and_queued_jobs_wait_their_turn() {
    // Long enough to still run after the checks below on a fast machine: 4,000 lines at
    // the default 10 paths ended within the first poll once the MLP ran on the dense
    // evaluator.
    const N: usize = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &["--max-concurrent-jobs", "1"]);
    server.upload_mlp();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, breast_cancer_lines(N).0).unwrap();
    let out = tmp.path().join("out");
    let mut body = job_body("long", &input, &out);
    body["generateExplanation"] = json!(true);
    body["explanationSpec"] =
        json!({"parameters": {"sampledShapleyAttribution": {"pathCount": 50}}});
    let long = server.create(body);
    let queued = server.create(job_body("queued", &input, &out));
    // The record count is found beside the run: then incompleteCount is what is left.
    let running = server.poll(&long, "running with progress and a count", |j| {
        j["state"] == "JOB_STATE_RUNNING" && counts(j).0 > 0 && counts(j).2 >= 0
    });
    let (ok, failed, incomplete) = counts(&running);
    assert_eq!(ok + failed + incomplete, N as i64, "{running}");
    assert!(incomplete > 0, "{running}");
    assert!(running["startTime"].as_str().is_some(), "{running}");
    // One slot: the second job waits.
    assert_eq!(
        server.get(queued["name"].as_str().unwrap())["state"],
        "JOB_STATE_QUEUED"
    );
    let name = long["name"].as_str().unwrap();
    let (status, e) = server.call("DELETE", name, None);
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["status"], "FAILED_PRECONDITION");
    let (status, e) = server.call("DELETE", MODEL, None);
    assert_eq!(status, 400, "a model in use stays: {e}");

    // Cancel the queued job: it ends without running.
    let (status, empty) = server.call(
        "POST",
        &format!("{}:cancel", queued["name"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty, json!({}));
    let q = server.finish(&queued);
    assert_eq!(q["state"], "JOB_STATE_CANCELLED", "{q}");
    assert_eq!(q["error"]["code"], json!(1), "{q}");
    assert!(q.get("startTime").is_none(), "{q}");
    assert!(!results(&q).exists());

    let sent = Instant::now();
    let (status, empty) = server.call("POST", &format!("{name}:cancel"), Some(json!({})));
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty, json!({}));
    let state = server.get(name)["state"].clone();
    assert!(
        state == "JOB_STATE_CANCELLING" || state == "JOB_STATE_CANCELLED",
        "{state}"
    );
    let job = server.finish(&long);
    let stopped_in = sent.elapsed();
    assert_eq!(job["state"], "JOB_STATE_CANCELLED", "{job}");
    assert_eq!(job["error"]["code"], json!(1), "{job}");
    assert!(job["endTime"].as_str().is_some(), "{job}");
    assert!(stopped_in < Duration::from_secs(20), "took {stopped_in:?}");
    let (ok, failed, incomplete) = counts(&job);
    assert_eq!(incomplete, -1);
    assert!(((ok + failed) as usize) < N, "{job}");
    // What was written stays, and the counts are its lines exactly.
    assert_eq!(json_lines(&results(&job)).len() as i64, ok);
    assert_eq!(json_lines(&errors(&job)).len() as i64, failed);
    let seen = id_counts(&job);
    assert!(seen.values().all(|&n| n == 1));
    eprintln!("cancelled after {} records in {stopped_in:?}", ok + failed);

    // Ended: deletable, and the model is free again.
    let (status, op) = server.call("DELETE", name, None);
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["done"], json!(true));
    let (status, op) = server.call("DELETE", MODEL, None);
    assert_eq!(status, 200, "{op}");
}

#[test]
fn a_server_killed_mid_job_resumes_it_and_writes_every_line_once() {
    // Lines enough that the job outlasts a kill, a restart and a SIGTERM (3,000 did not,
    // once the MLP ran on the dense evaluator).
    const N: usize = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &["--max-concurrent-jobs", "1"]);
    server.upload_mlp();
    let input = tmp.path().join("in.jsonl");
    let (text, bad) = breast_cancer_lines(N);
    std::fs::write(&input, text).unwrap();
    let out = tmp.path().join("out");
    let mut body = job_body("resumed", &input, &out);
    body["generateExplanation"] = json!(true);
    // 50 paths make each line ~5x the default work, so that the job is still running when
    // the test kills and later stops the server.
    body["explanationSpec"] =
        json!({"parameters": {"sampledShapleyAttribution": {"pathCount": 50}}});
    let created = server.create(body);
    // A second job waits for the one slot, across the restarts too.
    let small = tmp.path().join("small.jsonl");
    std::fs::write(&small, breast_cancer_lines(10).0).unwrap();
    let queued = server.create(job_body("queued", &small, &out));
    let running = server.poll(&created, "running with progress", |j| {
        j["state"] == "JOB_STATE_RUNNING" && counts(j).0 >= 100
    });
    assert_eq!(
        server.get(queued["name"].as_str().unwrap())["state"],
        "JOB_STATE_QUEUED"
    );
    drop(server); // SIGKILL, in the middle of the job
    let (ok, failed, _) = counts(&running);
    let at_kill = whole_lines(&results(&created));
    assert!(at_kill < N - bad.len(), "the job ended before the kill");
    eprintln!(
        "killed at {} reported, {at_kill} results lines",
        ok + failed
    );

    // Started again, the job resumes from its checkpoint; SIGTERM then stops it after the
    // batch in progress and leaves it for the next start.
    let server = Server::start(&data, &["--max-concurrent-jobs", "1"]);
    let before = counts(&running).0;
    let resumed = server.poll(&created, "running again", |j| {
        j["state"] == "JOB_STATE_RUNNING" && counts(j).0 >= before + 100
    });
    let stopped_in = server.terminate();
    assert!(stopped_in < Duration::from_secs(20), "took {stopped_in:?}");
    let at_term = whole_lines(&results(&created));
    assert!(at_term < N - bad.len(), "the job ended before SIGTERM");
    eprintln!(
        "resumed to {} reported, stopped by SIGTERM in {stopped_in:?}, {at_term} results lines",
        counts(&resumed).0
    );

    let server = Server::start(&data, &["--max-concurrent-jobs", "1"]);
    let job = server.finish(&created);
    assert_eq!(job["state"], "JOB_STATE_SUCCEEDED", "{job}");
    assert_eq!(counts(&job), ((N - bad.len()) as i64, bad.len() as i64, 0));
    assert_eq!(
        job["startTime"], running["startTime"],
        "startTime is the first start"
    );
    assert_eq!(job["createTime"], created["createTime"]);
    let seen = id_counts(&job);
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1), "a line was written twice");
    let failed: BTreeSet<String> = json_lines(&errors(&job)).iter().map(line_id).collect();
    assert_eq!(failed, bad);
    assert_eq!(job["partialFailures"].as_array().unwrap().len(), 20);
    let queued = server.finish(&queued);
    assert_eq!(queued["state"], "JOB_STATE_SUCCEEDED", "{queued}");
    assert_eq!(counts(&queued), (9, 1, 0));
}
