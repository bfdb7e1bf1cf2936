//! Several `prism serve` processes on one PostgreSQL registry and one data directory (as
//! server nodes behind a load balancer): what one node starts, the others see, wait on and
//! serve; a node killed with SIGKILL has its running operation ended as failed by another
//! once its lease expires, and never before, and its running batch job taken over and
//! finished by another, every line once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::job_lines::{breast_cancer_fixture, id_counts};
use common::{hanging_artifacts, model_dir, postgres, Server};
use serde_json::{json, Value};

const PARENT: &str = "projects/demo/locations/local";

/// The lease the nodes of these tests run with, in seconds.
const LEASE: &str = "3";

fn node(data: &Path, url: &str) -> Server {
    Server::start_with(data, &["--database-url", url, "--node-lease", LEASE], &[])
}

#[test]
fn two_nodes_share_models_endpoints_and_operations() {
    let url = postgres::database();
    let data = tempfile::tempdir().unwrap();
    let a = node(data.path(), &url);
    let b = node(data.path(), &url);

    // Uploaded on A, waited on and read on B.
    let op = a.start_upload("linear", "linear", &model_dir("peer_linear"));
    let done = b.wait_op(&op, "30s");
    assert_eq!(done["done"], json!(true), "{done}");
    assert_eq!(
        done["response"]["model"],
        json!(format!("{PARENT}/models/linear"))
    );
    let (status, model) = b.call("GET", &format!("{PARENT}/models/linear"), None);
    assert_eq!(status, 200, "{model}");

    // Endpoint and deployment made on B; the deployment waited on from A.
    let (status, created) = b.call(
        "POST",
        &format!("{PARENT}/endpoints?endpointId=ep"),
        Some(json!({"displayName": "ep"})),
    );
    assert_eq!(status, 200, "{created}");
    let endpoint = format!("{PARENT}/endpoints/ep");
    let (status, op) = b.call(
        "POST",
        &format!("{endpoint}:deployModel"),
        Some(json!({"deployedModel": {"model": format!("{PARENT}/models/linear")}})),
    );
    assert_eq!(status, 200, "{op}");
    let deployed = a.wait_op(&op, "30s");
    assert_eq!(deployed["done"], json!(true), "{deployed}");
    let deployed_id = deployed["response"]["deployedModel"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // KServe v1 on A lists it within a few heartbeats (A loads it in the background).
    let kserve_lists = |server: &Server| {
        let (status, listed) = server.call_url("GET", &format!("{}/v1/models", server.base), None);
        assert_eq!(status, 200, "{listed}");
        listed["models"]
            .as_array()
            .unwrap()
            .contains(&json!("linear"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kserve_lists(&a) {
        assert!(
            Instant::now() < deadline,
            "A's KServe v1 never listed the model"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Served by A, which never saw the deployment happen.
    let (status, p) = a.call(
        "POST",
        &format!("{endpoint}:predict"),
        Some(json!({"instances": [[1, 1, 1]]})),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["predictions"], json!([{"y": [14.0]}]));
    assert_eq!(p["deployedModelId"], json!(deployed_id));
    let (status, e) = a.call(
        "POST",
        &format!("{endpoint}:explain"),
        Some(json!({"instances": [{"x0": 30, "x1": 60, "x2": 30}],
                    "explanationSpecOverride": {"metadata": {"inputs": {"x": {"inputBaselines": [[10, 20, 10]]}}}}})),
    );
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        e["explanations"][0]["attributions"][0]["featureAttributions"],
        json!({"x0": 40.0, "x1": 120.0, "x2": 80.0})
    );
    let (status, _) = b.call(
        "POST",
        &format!("{endpoint}:predict"),
        Some(json!({"instances": [[1, 1, 1]]})),
    );
    assert_eq!(status, 200);

    // Undeployed on A: B stops serving it at once.
    let (status, op) = a.call(
        "POST",
        &format!("{endpoint}:undeployModel"),
        Some(json!({"deployedModelId": deployed_id})),
    );
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["done"], json!(true), "{op}");
    let (status, refused) = b.call(
        "POST",
        &format!("{endpoint}:predict"),
        Some(json!({"instances": [[1, 1, 1]]})),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["status"], json!("FAILED_PRECONDITION"));
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no model taking traffic"),
        "{refused}"
    );
    let (status, refused) = b.call(
        "POST",
        &format!("{endpoint}:explain"),
        Some(json!({"instances": [[1, 1, 1]], "deployedModelId": deployed_id})),
    );
    assert_eq!(status, 404, "{refused}");
    let (_, ep) = b.call("GET", &endpoint, None);
    assert_eq!(ep["deployedModels"], json!([]), "{ep}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while kserve_lists(&b) {
        assert!(
            Instant::now() < deadline,
            "B's KServe v1 still lists the model"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, model) = b.call("GET", &format!("{PARENT}/models/linear"), None);
    assert!(
        model["deployedModels"]
            .as_array()
            .is_none_or(|d| d.is_empty()),
        "{model}"
    );

    // Deployments on both nodes at once all land: none overwrites the other.
    let ops: Vec<Value> = std::thread::scope(|s| {
        let deploys: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .map(|server| {
                let endpoint = &endpoint;
                s.spawn(move || {
                    let (status, op) = server.call(
                        "POST",
                        &format!("{endpoint}:deployModel"),
                        Some(
                            json!({"deployedModel": {"model": format!("{PARENT}/models/linear")}}),
                        ),
                    );
                    assert_eq!(status, 200, "{op}");
                    op
                })
            })
            .collect();
        deploys.into_iter().map(|d| d.join().unwrap()).collect()
    });
    let mut ids: Vec<String> = ops
        .iter()
        .map(|op| {
            let done = b.wait_op(op, "30s");
            assert!(done["response"].is_object(), "{done}");
            done["response"]["deployedModel"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    let (_, ep) = a.call("GET", &endpoint, None);
    let mut on_endpoint: Vec<String> = ep["deployedModels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    on_endpoint.sort();
    assert_eq!(on_endpoint, ids, "{ep}");
    let split: u64 = ep["trafficSplit"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(split, 100, "{ep}");
    let (_, model) = a.call("GET", &format!("{PARENT}/models/linear"), None);
    assert_eq!(
        model["deployedModels"].as_array().unwrap().len(),
        4,
        "{model}"
    );
}

#[test]
fn a_killed_nodes_operation_fails_once_its_lease_expires() {
    let url = postgres::database();
    let data = tempfile::tempdir().unwrap();
    let artifacts = data.path().join("hanging");
    hanging_artifacts(&artifacts);
    let mut a = node(data.path(), &url);
    let op = a.start_upload("stuck", "stuck", &artifacts);

    // A node starting while A runs the operation, and staying up past A's lease, leaves
    // it alone: A is alive.
    let b = node(data.path(), &url);
    let running = b.wait_op(&op, "4s");
    assert!(running.get("done").is_none(), "{running}");

    a.child.kill().unwrap(); // SIGKILL: no goodbye in the registry.
    a.child.wait().unwrap();
    let killed = Instant::now();
    let failed = b.wait_op(&op, "30s");
    let took = killed.elapsed();
    assert_eq!(failed["done"], json!(true), "{failed}");
    assert_eq!(failed["error"]["code"], json!(10), "ABORTED: {failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stopped before it finished; retry it"),
        "{failed}"
    );
    eprintln!("the killed node's operation failed {took:?} after the kill (lease {LEASE}s)");
    assert!(
        took >= Duration::from_secs(1),
        "failed {took:?} after the kill: before the lease could expire"
    );
    // B serves on as before.
    let (status, _) = b.call("GET", &format!("{PARENT}/models"), None);
    assert_eq!(status, 200);
}

#[test]
fn a_node_restarted_alone_fails_the_operation_it_was_running() {
    let url = postgres::database();
    let data = tempfile::tempdir().unwrap();
    let artifacts = data.path().join("hanging");
    hanging_artifacts(&artifacts);
    let a = node(data.path(), &url);
    let op = a.start_upload("stuck", "stuck", &artifacts);
    drop(a); // SIGKILL
    let again = node(data.path(), &url);
    let failed = again.wait_op(&op, "30s");
    assert_eq!(failed["done"], json!(true), "{failed}");
    assert_eq!(failed["error"]["code"], json!(10), "{failed}");
}

/// The node (`<pid>-<random>`) that owns an operation or job in the registry, if any.
fn owner(url: &str, name: &str) -> String {
    postgres::query(
        url,
        &format!("SELECT node FROM owners WHERE name = '{name}'"),
    )
}

/// Polls a job on `server` until `done(job)`, for at most four minutes.
fn poll(server: &Server, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (status, job) = server.call("GET", name, None);
        assert_eq!(status, 200, "{job}");
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "never {what}: {job}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn successful(job: &Value) -> u64 {
    job["completionStats"]["successfulCount"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_killed_nodes_batch_job_is_finished_by_another_every_line_once() {
    // Seconds of work (as in batch_jobs.rs), so that it is still running when A is killed
    // (3,000 lines were about half a second once the MLP ran on the dense evaluator).
    const N: usize = 12_000;
    let url = postgres::database();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let a = node(&data, &url);
    let b = node(&data, &url);
    let op = a.start_upload("mlp", "mlp", &model_dir("breast_cancer_mlp"));
    assert!(a.wait_op(&op, "30s")["response"].is_object());
    let base = breast_cancer_fixture();
    let input = tmp.path().join("in.jsonl");
    let mut text = String::new();
    for i in 0..N {
        let mut o = base[i % base.len()].clone();
        o.insert("id".into(), json!(format!("r{i}")));
        text.push_str(&Value::Object(o).to_string());
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let out = tmp.path().join("out");
    let (status, job) = a.call(
        "POST",
        &format!("{PARENT}/batchPredictionJobs"),
        Some(json!({
            "displayName": "taken over",
            "model": format!("{PARENT}/models/mlp"),
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [input.to_str().unwrap()]}},
            "instanceConfig": {"keyField": "id"},
            "outputConfig": {"predictionsFormat": "jsonl",
                             "gcsDestination": {"outputUriPrefix": out.to_str().unwrap()}},
            "manualBatchTuningParameters": {"batchSize": 16},
            "generateExplanation": true,
            "explanationSpec": {"parameters": {"sampledShapleyAttribution": {"pathCount": 50}}},
        })),
    );
    assert_eq!(status, 200, "{job}");
    let name = job["name"].as_str().unwrap().to_string();
    let (a_pid, b_pid) = (a.child.id(), b.child.id());
    // Running on A, seen from B; A is killed as soon as the job has made progress.
    let before_kill = poll(&b, &name, "running on A", |j| {
        j["state"] == "JOB_STATE_RUNNING" && successful(j) >= 50
    });
    assert!(owner(&url, &name).starts_with(&format!("{a_pid}-")));

    drop(a); // SIGKILL
    let done = poll(&b, &name, "ended on B", |j| {
        matches!(
            j["state"].as_str().unwrap(),
            "JOB_STATE_SUCCEEDED" | "JOB_STATE_FAILED" | "JOB_STATE_CANCELLED"
        )
    });
    assert_eq!(done["state"], json!("JOB_STATE_SUCCEEDED"), "{done}");
    assert_eq!(successful(&done), N as u64, "{done}");
    assert_eq!(owner(&url, &name), "", "an ended job belongs to nobody");
    let dir = Path::new(done["outputInfo"]["gcsOutputDirectory"].as_str().unwrap());
    let seen = id_counts(&[dir.join("prediction.results-00000-of-00001")]);
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1), "a line was written twice");
    eprintln!(
        "A (pid {a_pid}) killed at {} of {N} lines; B (pid {b_pid}) finished the job",
        successful(&before_kill)
    );
}
