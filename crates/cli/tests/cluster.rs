//! Several `prism serve` processes on one PostgreSQL registry and one data directory (as
//! server nodes behind a load balancer): what one node starts, the others see, wait on and
//! serve; a node killed with SIGKILL has its running operation ended as failed by another
//! once its lease expires, and never before.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{hanging_artifacts, model_dir, postgres, Server};
use serde_json::{json, Value};

const PARENT: &str = "projects/demo/locations/local";

/// The lease the nodes of these tests run with, in seconds.
const LEASE: &str = "2";

fn node(data: &Path, url: &str) -> Server {
    Server::start_with(data, &["--database-url", url, "--node-lease", LEASE], &[])
}

/// `:wait` on `server` (up to `timeout`), returning the operation as it then is.
fn wait(server: &Server, op: &Value, timeout: &str) -> Value {
    let name = op["name"].as_str().unwrap();
    let (status, got) = server.call(
        "POST",
        &format!("{name}:wait"),
        Some(json!({"timeout": timeout})),
    );
    assert_eq!(status, 200, "{got}");
    got
}

#[test]
fn two_nodes_share_models_endpoints_and_operations() {
    let url = postgres::database();
    let data = tempfile::tempdir().unwrap();
    let a = node(data.path(), &url);
    let b = node(data.path(), &url);

    // Uploaded on A, waited on and read on B.
    let (status, op) = a.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": "linear", "model": {
            "displayName": "linear",
            "artifactUri": model_dir("peer_linear").to_str().unwrap(),
        }})),
    );
    assert_eq!(status, 200, "{op}");
    let done = wait(&b, &op, "30s");
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
    let deployed = wait(&a, &op, "30s");
    assert_eq!(deployed["done"], json!(true), "{deployed}");
    let deployed_id = deployed["response"]["deployedModel"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Served by A, which never saw the deployment happen: it loads the model on first use.
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
    let (_, model) = b.call("GET", &format!("{PARENT}/models/linear"), None);
    assert!(
        model["deployedModels"]
            .as_array()
            .is_none_or(|d| d.is_empty()),
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
    let (status, op) = a.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": "stuck", "model": {
            "displayName": "stuck",
            "artifactUri": artifacts.to_str().unwrap(),
        }})),
    );
    assert_eq!(status, 200, "{op}");

    // A node starting while A runs the operation, and staying up past A's lease, leaves
    // it alone: A is alive.
    let b = node(data.path(), &url);
    let running = wait(&b, &op, "3s");
    assert!(running.get("done").is_none(), "{running}");

    a.child.kill().unwrap(); // SIGKILL: no goodbye in the registry.
    a.child.wait().unwrap();
    let killed = Instant::now();
    let failed = wait(&b, &op, "30s");
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
    let (status, op) = a.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": "stuck", "model": {
            "displayName": "stuck",
            "artifactUri": artifacts.to_str().unwrap(),
        }})),
    );
    assert_eq!(status, 200, "{op}");
    drop(a); // SIGKILL
    let again = node(data.path(), &url);
    let failed = wait(&again, &op, "30s");
    assert_eq!(failed["done"], json!(true), "{failed}");
    assert_eq!(failed["error"]["code"], json!(10), "{failed}");
}
