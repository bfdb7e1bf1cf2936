//! End-to-end tests of `prism serve`: the real binary on a loopback port, driven over HTTP
//! through the Vertex v1 life cycle, including a restart.

mod common;

use std::path::Path;

use common::{hanging_artifacts, model_dir, Server};
use serde_json::{json, Value};

const PARENT: &str = "projects/demo/locations/local";

impl Server {
    fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[], &[])
    }

    /// Waits on an operation and returns it done.
    fn wait(&self, op: &Value) -> Value {
        let done = self.wait_op(op, "30s");
        assert_eq!(done["done"], json!(true), "{done}");
        done
    }
}

fn upload(server: &Server, model_id: &str, model: &str) -> Value {
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": model_id, "model": {
            "displayName": format!("{model} model"),
            "artifactUri": model_dir(model).to_str().unwrap(),
            "labels": {"team": "risk"},
        }})),
    );
    assert_eq!(status, 200, "{op}");
    assert!(
        op.get("done").is_none() || op["done"] == json!(true),
        "{op}"
    );
    assert!(op["metadata"]["@type"]
        .as_str()
        .unwrap()
        .ends_with("UploadModelOperationMetadata"));
    server.wait(&op)
}

#[test]
fn vertex_life_cycle_survives_a_restart() {
    vertex_life_cycle(&[]);
}

#[test]
fn vertex_life_cycle_survives_a_restart_on_postgres() {
    let url = common::postgres::database();
    vertex_life_cycle(&["--database-url", &url]);
}

/// Upload, deploy, predict and explain, restart (SIGKILL), explain, undeploy, delete; with
/// `registry` arguments for `prism serve`.
fn vertex_life_cycle(registry: &[&str]) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), registry, &[]);

    // Upload → operation → model.
    let done = upload(&server, "linear", "peer_linear");
    assert_eq!(
        done["response"]["model"],
        json!(format!("{PARENT}/models/linear"))
    );
    assert!(done["response"]["@type"]
        .as_str()
        .unwrap()
        .ends_with("UploadModelResponse"));
    let (status, model) = server.call("GET", &format!("{PARENT}/models/linear"), None);
    assert_eq!(status, 200);
    assert_eq!(model["displayName"], json!("peer_linear model"));
    assert_eq!(
        model["explanationSpec"]["parameters"]["sampledShapleyAttribution"]["pathCount"],
        json!(10)
    );
    upload(&server, "mlp", "breast_cancer_mlp");
    let (_, listed) = server.call(
        "GET",
        &format!("{PARENT}/models?filter=display_name=%22peer_linear%20model%22"),
        None,
    );
    assert_eq!(listed["models"].as_array().unwrap().len(), 1);
    let (_, page) = server.call("GET", &format!("{PARENT}/models?pageSize=1"), None);
    assert_eq!(page["models"].as_array().unwrap().len(), 1);
    assert_eq!(page["nextPageToken"], json!("1"));

    // Endpoint → deploy.
    let (status, created) = server.call(
        "POST",
        &format!("{PARENT}/endpoints?endpointId=ep1"),
        Some(json!({"displayName": "ep"})),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["done"], json!(true));
    let endpoint = format!("{PARENT}/endpoints/ep1");
    let (status, op) = server.call(
        "POST",
        &format!("{endpoint}:deployModel"),
        Some(json!({"deployedModel": {"model": format!("{PARENT}/models/linear")}, "trafficSplit": {"0": 100}})),
    );
    assert_eq!(status, 200, "{op}");
    let deployed = server.wait(&op);
    let deployed_id = deployed["response"]["deployedModel"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, ep) = server.call("GET", &endpoint, None);
    assert_eq!(ep["trafficSplit"][&deployed_id], json!(100));

    // Predict and explain, with an override.
    let (status, p) = server.call(
        "POST",
        &format!("{endpoint}:predict"),
        Some(json!({"instances": [[1, 1, 1]]})),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["predictions"], json!([{"y": [14.0]}]));
    assert_eq!(p["deployedModelId"], json!(deployed_id));
    let (status, e) = server.call(
        "POST",
        &format!("{endpoint}:explain"),
        Some(json!({"instances": [{"x0": 30, "x1": 60, "x2": 30}],
                    "explanationSpecOverride": {"metadata": {"inputs": {"x": {"inputBaselines": [[10, 20, 10]]}}}}})),
    );
    assert_eq!(status, 200, "{e}");
    let a = &e["explanations"][0]["attributions"][0];
    assert_eq!(
        a["featureAttributions"],
        json!({"x0": 40.0, "x1": 120.0, "x2": 80.0})
    );
    assert_eq!(e["predictions"][0]["y"], json!([365.0]));

    // A deployed model cannot be deleted.
    let (status, err) = server.call("DELETE", &format!("{PARENT}/models/linear"), None);
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["status"], json!("FAILED_PRECONDITION"));

    // Restart: the registry and the deployment survive.
    drop(server);
    let server = Server::start_with(data.path(), registry, &[]);
    let (status, e) = server.call(
        "POST",
        &format!("{endpoint}:explain"),
        Some(json!({"instances": [[30, 60, 30]]})),
    );
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        e["explanations"][0]["attributions"][0]["featureAttributions"]["x"],
        json!([40.0, 120.0, 80.0])
    );

    // Undeploy → delete.
    let (status, op) = server.call(
        "POST",
        &format!("{endpoint}:undeployModel"),
        Some(json!({"deployedModelId": deployed_id})),
    );
    assert_eq!(status, 200, "{op}");
    assert_eq!(server.wait(&op)["done"], json!(true));
    let (status, op) = server.call("DELETE", &format!("{PARENT}/models/linear"), None);
    assert_eq!(status, 200, "{op}");
    assert_eq!(
        server
            .call("GET", &format!("{PARENT}/models/linear"), None)
            .0,
        404
    );
    let (status, _) = server.call("DELETE", &endpoint, None);
    assert_eq!(status, 200);
}

#[test]
fn an_operation_cut_short_by_a_crash_fails_at_the_next_start() {
    let data = tempfile::tempdir().unwrap();
    let artifacts = data.path().join("hanging");
    hanging_artifacts(&artifacts);
    let server = Server::start(data.path());
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": "stuck", "model": {
            "displayName": "stuck",
            "artifactUri": artifacts.to_str().unwrap(),
        }})),
    );
    assert_eq!(status, 200, "{op}");
    drop(server); // SIGKILL while the upload runs
                  // One process per SQLite registry: the next start ends it at once, without waiting
                  // for a lease.
    let server = Server::start(data.path());
    let (status, failed) = server.call("GET", op["name"].as_str().unwrap(), None);
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["done"], json!(true), "{failed}");
    assert_eq!(failed["error"]["code"], json!(10), "ABORTED: {failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry it"),
        "{failed}"
    );
}

#[test]
fn two_uploads_of_one_model_id_at_once_keep_exactly_one() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let models = ["digits_cnn", "text_sentiment"];
    // Several rounds, each two uploads of one new id sent at the same moment; each upload
    // copies and loads its model before it registers it, so both usually pass the request's
    // quick existence check and race to register (the case this test is for).
    let mut raced = 0;
    for round in 0..4 {
        let id = format!("twin{round}");
        let outcomes: Vec<(u16, Value)> = std::thread::scope(|s| {
            let calls: Vec<_> = models
                .iter()
                .map(|model| {
                    let (server, id) = (&server, &id);
                    s.spawn(move || {
                        server.call(
                            "POST",
                            &format!("{PARENT}/models:upload"),
                            Some(json!({"modelId": id, "model": {
                                "displayName": *model,
                                "artifactUri": model_dir(model).to_str().unwrap(),
                            }})),
                        )
                    })
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        let mut winners = Vec::new();
        for ((status, op), model) in outcomes.iter().zip(models) {
            if *status == 409 {
                continue; // refused at once: the other had already registered it
            }
            assert_eq!(*status, 200, "{op}");
            let done = server.wait(op);
            if done["response"]["model"].is_string() {
                winners.push(model);
            } else {
                raced += 1;
                assert_eq!(done["error"]["code"], json!(6), "ALREADY_EXISTS: {done}");
                let message = done["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains(&format!("models/{id} already exists")),
                    "{done}"
                );
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        // The registered model and its folder are the winner's, untouched by the other.
        let (status, doc) = server.call("GET", &format!("{PARENT}/models/{id}"), None);
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["displayName"], json!(winners[0]), "{doc}");
        assert_eq!(
            std::fs::read(data.path().join("models").join(&id).join("model.onnx")).unwrap(),
            std::fs::read(model_dir(winners[0]).join("model.onnx")).unwrap()
        );
    }
    assert!(
        raced > 0,
        "no round raced: both uploads were never in flight together"
    );
    // No working folder is left behind.
    let mut left: Vec<String> = std::fs::read_dir(data.path().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["twin0", "twin1", "twin2", "twin3"]);
}

#[test]
fn a_model_deleted_while_it_deploys_is_taken_off_the_endpoint() {
    use std::io::Write;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    upload(&server, "fleeting", "peer_linear");
    // The deployment reads the model's metadata through a named pipe the test holds open,
    // so the model can be deleted while the deployment loads it.
    let metadata_path = data
        .path()
        .join("models/fleeting/explanation_metadata.json");
    let metadata = std::fs::read(&metadata_path).unwrap();
    std::fs::remove_file(&metadata_path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&metadata_path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo failed");
    // Read and write: opening a pipe so never waits for the other end.
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&metadata_path)
        .unwrap();
    let (status, _) = server.call(
        "POST",
        &format!("{PARENT}/endpoints?endpointId=brief"),
        Some(json!({"displayName": "brief"})),
    );
    assert_eq!(status, 200);
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/endpoints/brief:deployModel"),
        Some(json!({"deployedModel": {"model": format!("{PARENT}/models/fleeting")}})),
    );
    assert_eq!(status, 200, "{op}");
    // Not yet listed on the model, so the delete is allowed.
    let (status, deleted) = server.call("DELETE", &format!("{PARENT}/models/fleeting"), None);
    assert_eq!(status, 200, "{deleted}");
    pipe.write_all(&metadata).unwrap();
    drop(pipe);
    let done = server.wait(&op);
    assert_eq!(done["error"]["code"], json!(5), "NOT_FOUND: {done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was deleted while it was being deployed"),
        "{done}"
    );
    let (status, endpoint) = server.call("GET", &format!("{PARENT}/endpoints/brief"), None);
    assert_eq!(status, 200, "{endpoint}");
    let deployed = endpoint["deployedModels"].as_array().map_or(0, Vec::len);
    assert_eq!(deployed, 0, "{endpoint}");
    let split = endpoint["trafficSplit"].as_object().map_or(0, |s| s.len());
    assert_eq!(split, 0, "{endpoint}");
}

/// The limits of `prism serve`: instances per request, request body size, explanation
/// work in flight (429 with Retry-After) and the per-request deadline (504).
#[test]
fn limits_answer_with_their_own_status() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        data.path(),
        &[
            "--max-concurrent",
            "1",
            "--request-timeout",
            "1",
            "--max-instances",
            "400",
        ],
        &[],
    );
    upload(&server, "cnn", "digits_cnn");
    let endpoint = {
        deploy(&server, "cnn", "lim");
        format!("{PARENT}/endpoints/lim")
    };
    let digit: Value = serde_json::from_str(
        std::fs::read_to_string(model_dir("digits_cnn").join("instances.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let explain = |n: usize| json!({"instances": vec![digit.clone(); n]});

    // More instances than allowed: refused before any work, naming the limit.
    let (status, e) = server.call("POST", &format!("{endpoint}:explain"), Some(explain(401)));
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 400"),
        "{e}"
    );
    // A body over 32 MiB: 413. Written by hand on a socket, from a second thread: the
    // server answers once it has read past the limit and may close before the rest is
    // sent, which an HTTP client reports as a failed write rather than the answer.
    {
        use std::io::{Read, Write};
        let addr = server.base.trim_start_matches("http://").to_string();
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut writer = tcp.try_clone().unwrap();
        let head = format!(
            "POST /v1/{endpoint}:predict HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            33 << 20
        );
        let sender = std::thread::spawn(move || {
            let chunk = vec![b' '; 1 << 20];
            let _ = writer.write_all(head.as_bytes());
            for _ in 0..33 {
                if writer.write_all(&chunk).is_err() {
                    break; // the server answered and closed: expected
                }
            }
        });
        let mut answer = [0u8; 12];
        tcp.read_exact(&mut answer).unwrap();
        assert_eq!(
            &answer,
            b"HTTP/1.1 413",
            "{}",
            String::from_utf8_lossy(&answer)
        );
        drop(tcp);
        sender.join().unwrap();
    }

    // 200 CNN explanations with Integrated Gradients at 100 steps are seconds of work:
    // past the 1 s deadline the request ends with 504, and while that work still holds the
    // one permit another explanation is turned away with 429 and Retry-After.
    let heavy = {
        let url = server.url(&format!("{endpoint}:explain"));
        let mut body = explain(200);
        body["explanationSpecOverride"] =
            json!({"parameters": {"integratedGradientsAttribution": {"stepCount": 100}}});
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let started = std::time::Instant::now();
            let response = agent.post(&url).send_json(body).unwrap();
            let status = response.status().as_u16();
            let body: Value = response.into_body().read_json().unwrap();
            (status, body, started.elapsed())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(&server.url(&format!("{endpoint}:explain")))
        .send_json(explain(1))
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(retry_after.as_deref(), Some("1"));
    let busy: Value = response.into_body().read_json().unwrap();
    assert_eq!(
        busy["error"]["status"],
        json!("RESOURCE_EXHAUSTED"),
        "{busy}"
    );
    let (status, late, took) = heavy.join().unwrap();
    assert_eq!(status, 504, "{late}");
    assert_eq!(
        late["error"]["status"],
        json!("DEADLINE_EXCEEDED"),
        "{late}"
    );
    assert!(
        took < std::time::Duration::from_secs(5),
        "answered after {took:?}"
    );
    // The abandoned work still holds the permit until it ends (predictions share it); then
    // requests are served again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, p) = server.call("POST", &format!("{endpoint}:predict"), Some(explain(2)));
        if status == 200 {
            assert_eq!(p["predictions"].as_array().map(Vec::len), Some(2), "{p}");
            break;
        }
        assert_eq!(status, 429, "{p}");
        assert!(
            std::time::Instant::now() < deadline,
            "the permit never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn bad_requests_get_google_rpc_errors() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (status, err) = server.call("GET", &format!("{PARENT}/models/nope"), None);
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], json!(404));
    assert_eq!(err["error"]["status"], json!("NOT_FOUND"));
    let (status, err) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"model": {"displayName": "x"}})),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model.artifactUri"),
        "{err}"
    );
    let (status, err) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"model": {"displayName": "x", "artifactUri": model_dir("peer_linear").to_str().unwrap(),
                              "explanationSpec": {"parameters": {"sampledShapleyAttribution": {"pathCount": 99}}}}})),
    );
    assert_eq!(status, 400);
    assert_eq!(
        err["error"]["message"],
        json!("model.explanationSpec.parameters.sampledShapleyAttribution.pathCount: must be in 1..=50, got 99")
    );
    let (status, err) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": "Bad Id", "model": {}})),
    );
    assert_eq!(status, 400, "{err}");
    let (status, _) = server.call("GET", "nonsense/path", None);
    assert_eq!(status, 404);
    // A model whose metadata does not fit fails in its operation, naming the field.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir("peer_linear").join("model.onnx"),
        tmp.path().join("model.onnx"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("explanation_metadata.json"),
        r#"{"inputs": {"x": {"inputTensorName": "nope"}}}"#,
    )
    .unwrap();
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"model": {"displayName": "broken", "artifactUri": tmp.path().to_str().unwrap()}})),
    );
    assert_eq!(status, 200);
    let done = server.wait(&op);
    assert_eq!(done["error"]["code"], json!(3), "{done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inputTensorName"),
        "{done}"
    );
    assert!(done.get("response").is_none());
    // Explaining on an endpoint without models.
    server.call(
        "POST",
        &format!("{PARENT}/endpoints?endpointId=empty"),
        Some(json!({"displayName": "e"})),
    );
    let (status, err) = server.call(
        "POST",
        &format!("{PARENT}/endpoints/empty:explain"),
        Some(json!({"instances": [[1, 2, 3]]})),
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["status"], json!("FAILED_PRECONDITION"));
    let (status, err) = server.call(
        "POST",
        &format!("{PARENT}/endpoints/empty:explain"),
        Some(json!({"instances": []})),
    );
    assert_eq!(status, 400, "{err}");
}

/// Deploys `model` (uploaded as `model_id`) on a new endpoint; returns the DeployedModel id.
fn deploy(server: &Server, model_id: &str, endpoint_id: &str) -> String {
    let (status, _) = server.call(
        "POST",
        &format!("{PARENT}/endpoints?endpointId={endpoint_id}"),
        Some(json!({"displayName": endpoint_id})),
    );
    assert_eq!(status, 200);
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/endpoints/{endpoint_id}:deployModel"),
        Some(json!({"deployedModel": {"model": format!("{PARENT}/models/{model_id}")}, "trafficSplit": {"0": 100}})),
    );
    assert_eq!(status, 200, "{op}");
    server.wait(&op)["response"]["deployedModel"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// KServe v1 and Open Inference Protocol v2 on the same deployed models as the Vertex API,
/// with the same numbers.
#[test]
fn kserve_v1_and_open_inference_protocol_v2() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    upload(&server, "linear", "peer_linear");
    upload(&server, "digits", "digits_cnn");
    let linear_id = deploy(&server, "linear", "ep-linear");
    deploy(&server, "digits", "ep-digits");
    let v2 = |method: &str, path: &str, body: Option<Value>| {
        server.call_url(method, &format!("{}/v2/{path}", server.base), body)
    };

    // KServe v1: listing, readiness, predict and explain by model id, DeployedModel id or
    // display name.
    let (status, list) = server.call("GET", "models", None);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["models"], json!(["digits", "linear"]));
    let (status, ready) = server.call("GET", "models/linear", None);
    assert_eq!((status, &ready["ready"]), (200, &json!(true)));
    for name in ["linear", linear_id.as_str(), "peer_linear%20model"] {
        let (status, p) = server.call(
            "POST",
            &format!("models/{name}:predict"),
            Some(json!({"instances": [[1, 1, 1], [30, 60, 30]]})),
        );
        assert_eq!(status, 200, "{name}: {p}");
        assert_eq!(p["predictions"], json!([{"y": [14.0]}, {"y": [365.0]}]));
    }
    let (status, e) = server.call(
        "POST",
        "models/linear:explain",
        Some(json!({"instances": [{"x0": 30, "x1": 60, "x2": 30}]})),
    );
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        e["explanations"][0]["attributions"][0]["featureAttributions"],
        json!({"x0": 40.0, "x1": 120.0, "x2": 80.0})
    );
    let (status, err) = server.call(
        "POST",
        "models/nope:predict",
        Some(json!({"instances": [[1]]})),
    );
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("nope"), "{err}");

    // OIP v2: health, metadata, infer.
    assert_eq!(v2("GET", "health/live", None), (200, json!({"live": true})));
    assert_eq!(
        v2("GET", "health/ready", None),
        (200, json!({"ready": true}))
    );
    let (status, meta) = v2("GET", "models/digits", None);
    assert_eq!(status, 200, "{meta}");
    assert_eq!(
        meta["inputs"],
        json!([{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}])
    );
    assert_eq!(meta["outputs"][0]["name"], json!("probabilities"));
    let (status, out) = v2(
        "POST",
        "models/linear/infer",
        Some(
            json!({"id": "r1", "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                                            "data": [1, 1, 1, 30, 60, 30]}]}),
        ),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["id"], json!("r1"));
    assert_eq!(out["model_name"], json!("linear"));
    assert_eq!(
        out["outputs"],
        json!([{"name": "y", "shape": [2, 1], "datatype": "FP32", "data": [14.0, 365.0]}])
    );
    // The explainer model: the same tensors in, one Explanation JSON document per row out.
    let (status, out) = v2(
        "POST",
        "models/linear-explainer/infer",
        Some(
            json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                                "data": [[30, 60, 30]]}]}),
        ),
    );
    assert_eq!(status, 200, "{out}");
    let output = &out["outputs"][0];
    assert_eq!(
        (&output["name"], &output["datatype"]),
        (&json!("explanation"), &json!("BYTES"))
    );
    let explanation: Value = serde_json::from_str(output["data"][0].as_str().unwrap()).unwrap();
    assert_eq!(
        explanation["attributions"][0]["featureAttributions"],
        json!({"x0": 40.0, "x1": 120.0, "x2": 80.0})
    );
    // ...or JSON instances as BYTES.
    let (status, out) = v2(
        "POST",
        "models/linear-explainer/infer",
        Some(
            json!({"inputs": [{"name": "instances", "shape": [1], "datatype": "BYTES",
                                "data": ["{\"x0\": 30, \"x1\": 60, \"x2\": 30}"]}]}),
        ),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outputs"][0]["shape"], json!([1]));
    // Bad tensors are 400s naming the input.
    let (status, err) = v2(
        "POST",
        "models/linear/infer",
        Some(
            json!({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2]}]}),
        ),
    );
    assert_eq!(status, 400, "{err}");
    assert!(err["error"].as_str().unwrap().contains("inputs.x"), "{err}");
    let (status, err) = v2("POST", "models/linear/infer", Some(json!({"inputs": []})));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("'x'"), "{err}");
    assert_eq!(v2("GET", "models/nope", None).0, 404);

    // rawPredict: the model's answer without the Vertex envelope, the deployment in headers.
    let response = ureq::post(&server.url(&format!("{PARENT}/endpoints/ep-linear:rawPredict")))
        .send_json(json!({"instances": [[1, 1, 1]]}))
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    assert_eq!(
        header("x-vertex-ai-endpoint-id").as_deref(),
        Some("ep-linear")
    );
    assert_eq!(
        header("x-vertex-ai-deployed-model-id"),
        Some(linear_id.clone())
    );
    assert_eq!(header("x-request-id").map(|id| id.len()), Some(32));
    let body: Value = response.into_body().read_json().unwrap();
    assert_eq!(body, json!({"predictions": [{"y": [14.0]}]}));

    // A request id given is echoed; /metrics counts requests per surface.
    let response = ureq::get(&format!("{}/v2/health/live", server.base))
        .header("x-request-id", "trace-42")
        .call()
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        "trace-42"
    );
    let metrics = ureq::get(&format!("{}/metrics", server.base))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let count = |series: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    // 5 KServe 200s: listing, readiness and three predicts... plus one explain.
    assert_eq!(
        count("prism_requests_total{surface=\"kserve\",code=\"200\"}"),
        6.0
    );
    assert_eq!(
        count("prism_requests_total{surface=\"kserve\",code=\"404\"}"),
        1.0
    );
    assert!(count("prism_requests_total{surface=\"oip\",code=\"200\"}") >= 7.0);
    assert_eq!(count("prism_deployed_models"), 2.0);
    assert!(count("prism_request_duration_seconds_count{surface=\"vertex\"}") >= 8.0);
}

/// An example-based model uploaded with its dataset (`exampleGcsSource`): the upload builds
/// the index, `:explain` answers neighbours, `updateExplanationDataset` adds examples that
/// endpoints see once the model is deployed again.
#[test]
fn example_based_models_index_on_upload_and_grow() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let dir = model_dir("digits_examples");
    let examples = dir.join("examples.jsonl");
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": "digits-ex", "model": {
            "displayName": "digits examples",
            "artifactUri": dir.to_str().unwrap(),
            "explanationSpec": {"parameters": {"examples": {
                "exampleGcsSource": {"dataFormat": "JSONL", "gcsSource": {"uris": [examples.to_str().unwrap()]}},
                "presets": {"modality": "IMAGE"},
                "neighborCount": 5
            }}}
        }})),
    );
    assert_eq!(status, 200, "{op}");
    let done = server.wait(&op);
    assert!(done.get("error").is_none(), "{done}");
    deploy(&server, "digits-ex", "ep-ex");
    let instances: Vec<Value> = std::fs::read_to_string(dir.join("instances.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected_neighbors.json")).unwrap(),
    )
    .unwrap();
    let explain = |endpoint: &str| {
        let (status, e) = server.call(
            "POST",
            &format!("{PARENT}/endpoints/{endpoint}:explain"),
            Some(json!({"instances": instances})),
        );
        assert_eq!(status, 200, "{e}");
        e["explanations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["neighbors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["neighborId"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let before = explain("ep-ex");
    for (got, want) in before.iter().zip(expected["instances"].as_array().unwrap()) {
        let want: Vec<&str> = want["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, &want);
    }

    // Add the first test digit as an example.
    let tmp = tempfile::tempdir().unwrap();
    let more = tmp.path().join("more.jsonl");
    let mut line = instances[0].clone();
    line["id"] = json!("added-0");
    std::fs::write(&more, line.to_string() + "\n").unwrap();
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/models/digits-ex:updateExplanationDataset"),
        Some(json!({"examples": {"exampleGcsSource": {"gcsSource": {"uris": [more.to_str().unwrap()]}}}})),
    );
    assert_eq!(status, 200, "{op}");
    let done = server.wait(&op);
    assert!(done.get("error").is_none(), "{done}");
    assert!(done["response"]["@type"]
        .as_str()
        .unwrap()
        .ends_with("UpdateExplanationDatasetResponse"));
    // The running deployment keeps its index; a new deployment sees the added example.
    assert_eq!(explain("ep-ex"), before);
    deploy(&server, "digits-ex", "ep-ex2");
    assert_eq!(explain("ep-ex2")[0][0], "added-0");
    // A missing dataset fails the operation with the path named.
    let (_, op) = server.call(
        "POST",
        &format!("{PARENT}/models/digits-ex:updateExplanationDataset"),
        Some(json!({"examples": {"exampleGcsSource": {"gcsSource": {"uris": ["/nonexistent.jsonl"]}}}})),
    );
    let done = server.wait(&op);
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent.jsonl"),
        "{done}"
    );
}

/// Bearer tokens from a file and from the environment; health probes stay open.
#[test]
fn bearer_tokens_guard_everything_but_health() {
    let data = tempfile::tempdir().unwrap();
    let tokens = data.path().join("tokens.txt");
    std::fs::write(&tokens, "# team tokens\nsecret-one\n\n").unwrap();
    let server = Server::start_with(
        data.path(),
        &["--auth-tokens-file", tokens.to_str().unwrap()],
        &[("PRISM_AUTH_TOKENS", "secret-two, secret-three")],
    );
    let get = |path: &str, token: Option<&str>| {
        let mut request = ureq::get(&format!("{}{path}", server.base));
        if let Some(t) = token {
            request = request.header("authorization", &format!("Bearer {t}"));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let _ = agent;
        match request.config().http_status_as_error(false).build().call() {
            Ok(r) => {
                let status = r.status().as_u16();
                (
                    status,
                    r.into_body().read_json::<Value>().unwrap_or(Value::Null),
                )
            }
            Err(e) => panic!("{e}"),
        }
    };
    let models = format!("/v1/{PARENT}/models");
    let (status, err) = get(&models, None);
    assert_eq!(status, 401);
    assert_eq!(err["error"]["status"], json!("UNAUTHENTICATED"));
    assert_eq!(get(&models, Some("wrong")).0, 401);
    for token in ["secret-one", "secret-two", "secret-three"] {
        assert_eq!(get(&models, Some(token)).0, 200, "{token}");
    }
    assert_eq!(get("/v1/models", None).0, 401);
    assert_eq!(get("/v2/models/x", None).0, 401);
    assert_eq!(get("/v2/health/live", None), (200, json!({"live": true})));
    assert_eq!(get("/healthz", None).0, 200);
}

/// google-cloud-aiplatform polls operations at `/ui/{operation name}`: those paths answer as
/// under `/v1/`, while the rest of `/ui` stays the web UI.
#[test]
fn operations_answer_at_the_client_librarys_ui_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let (status, op) = server.call(
        "POST",
        &format!("{PARENT}/models:upload"),
        Some(json!({"modelId": "mlp", "model": {
            "displayName": "mlp",
            "artifactUri": model_dir("breast_cancer_mlp").to_str().unwrap(),
        }})),
    );
    assert_eq!(status, 200, "{op}");
    let name = op["name"].as_str().unwrap().to_string();
    assert!(name.contains("/models/mlp/operations/"), "{name}");
    let ui = |path: &str| format!("{}/ui/{path}", server.base);
    let (status, waited) = server.call_url(
        "POST",
        &ui(&format!("{name}:wait")),
        Some(json!({"timeout": "30s"})),
    );
    assert_eq!(status, 200, "{waited}");
    assert_eq!(waited["done"], json!(true), "{waited}");
    let (status, got) = server.call_url("GET", &ui(&name), None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, server.call("GET", &name, None).1);
    assert_eq!(
        got["response"]["model"],
        json!(format!("{PARENT}/models/mlp"))
    );
    // An unknown operation is the API's NOT_FOUND, in the google.rpc shape.
    let (status, missing) = server.call_url("GET", &ui(&format!("{PARENT}/operations/404")), None);
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["status"], json!("NOT_FOUND"), "{missing}");
}

/// `PATCH` of models and endpoints: the fields `updateMask` names change (camelCase or
/// snake_case paths), a field the body leaves out is removed, anything else is refused by
/// name with the resource unchanged; an endpoint's traffic split moves where predictions go.
#[test]
fn patch_changes_the_masked_fields_and_moves_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    upload(&server, "lin", "peer_linear");
    let model = format!("{PARENT}/models/lin");
    let patch = |path: &str, body: Value| server.call("PATCH", path, Some(body));

    let (status, m) = patch(
        &format!("{model}?updateMask=displayName,labels"),
        json!({"displayName": "renamed", "labels": {"team": "fraud"}, "description": "ignored"}),
    );
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["displayName"], json!("renamed"));
    assert_eq!(m["labels"], json!({"team": "fraud"}));
    assert!(m.get("description").is_none(), "not in the mask: {m}");
    assert!(m["updateTime"].as_str() > m["createTime"].as_str(), "{m}");
    let (_, listed) = server.call(
        "GET",
        &format!("{PARENT}/models?filter=labels.team=fraud"),
        None,
    );
    assert_eq!(listed["models"][0]["name"], json!(model), "{listed}");

    let (status, m) = patch(
        &format!("{model}?update_mask=description"),
        json!({"description": "v2"}),
    );
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (&m["description"], &m["labels"]),
        (&json!("v2"), &json!({"team": "fraud"}))
    );
    // In the mask but not in the body: removed.
    let (status, m) = patch(&format!("{model}?updateMask=labels"), json!({}));
    assert_eq!(status, 200, "{m}");
    assert!(m.get("labels").is_none(), "{m}");

    for (query, body, names) in [
        ("", json!({"displayName": "x"}), "updateMask"),
        (
            "?updateMask=artifactUri",
            json!({"artifactUri": "/elsewhere"}),
            "model.artifactUri",
        ),
        (
            "?updateMask=displayName,labels",
            json!({"displayName": "ok", "labels": {"n": 1}}),
            "model.labels",
        ),
        (
            "?updateMask=display_name",
            json!({"displayName": ""}),
            "model.displayName",
        ),
    ] {
        let (status, e) = patch(&format!("{model}{query}"), body);
        assert_eq!(status, 400, "{query}: {e}");
        assert_eq!(e["error"]["status"], json!("INVALID_ARGUMENT"));
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{query}: {message}");
    }
    let (_, m) = server.call("GET", &model, None);
    assert_eq!(
        m["displayName"],
        json!("renamed"),
        "a refused patch changed nothing: {m}"
    );
    let (status, _) = patch(
        &format!("{PARENT}/models/absent?updateMask=displayName"),
        json!({"displayName": "x"}),
    );
    assert_eq!(status, 404);

    let (status, versions) = server.call("GET", &format!("{model}:listVersions"), None);
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions["models"], json!([m]));

    // Two deployments of the model: the first takes all traffic, the second none.
    let first = deploy(&server, "lin", "ep");
    let endpoint = format!("{PARENT}/endpoints/ep");
    let (status, op) = server.call(
        "POST",
        &format!("{endpoint}:deployModel"),
        Some(json!({"deployedModel": {"model": model}})),
    );
    assert_eq!(status, 200, "{op}");
    let second = server.wait(&op)["response"]["deployedModel"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let served_by = || -> Vec<String> {
        (0..20)
            .map(|_| {
                let (status, p) = server.call(
                    "POST",
                    &format!("{endpoint}:predict"),
                    Some(json!({"instances": [[1, 1, 1]]})),
                );
                assert_eq!(status, 200, "{p}");
                p["deployedModelId"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert!(served_by().iter().all(|id| *id == first));

    let (status, ep) = patch(
        &format!("{endpoint}?updateMask=trafficSplit,displayName"),
        json!({"trafficSplit": {first.as_str(): 0, second.as_str(): 100}, "displayName": "moved"}),
    );
    assert_eq!(status, 200, "{ep}");
    assert_eq!(
        ep["trafficSplit"],
        json!({first.as_str(): 0, second.as_str(): 100})
    );
    assert_eq!(ep["displayName"], json!("moved"));
    assert!(served_by().iter().all(|id| *id == second));

    for (split, names) in [
        (
            json!({first.as_str(): 50, second.as_str(): 40}),
            "sums to 90",
        ),
        (json!({"12345": 100}), "12345 is not a deployed model"),
        (json!("all"), "trafficSplit"),
    ] {
        let (status, e) = patch(
            &format!("{endpoint}?updateMask=trafficSplit"),
            json!({"trafficSplit": split}),
        );
        assert_eq!(status, 400, "{e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{message}");
    }
    assert!(
        served_by().iter().all(|id| *id == second),
        "refused splits changed nothing"
    );

    // An empty split takes the endpoint off traffic.
    let (status, ep) = patch(
        &format!("{endpoint}?updateMask=trafficSplit"),
        json!({"trafficSplit": {}}),
    );
    assert_eq!(status, 200, "{ep}");
    let (status, e) = server.call(
        "POST",
        &format!("{endpoint}:predict"),
        Some(json!({"instances": [[1, 1, 1]]})),
    );
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no model taking traffic"),
        "{e}"
    );
}

/// `orderBy` on lists: display name or times, ascending or `desc`; anything else is refused.
#[test]
fn lists_order_by_display_name_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for (id, name) in [("b", "beta"), ("a", "alpha"), ("c", "gamma")] {
        let (status, op) = server.call(
            "POST",
            &format!("{PARENT}/models:upload"),
            Some(json!({"modelId": id, "model": {"displayName": name,
                "artifactUri": model_dir("peer_linear").to_str().unwrap()}})),
        );
        assert_eq!(status, 200, "{op}");
        server.wait(&op);
    }
    // "b" changes last.
    let (status, _) = server.call(
        "PATCH",
        &format!("{PARENT}/models/b?updateMask=labels"),
        Some(json!({"labels": {"k": "v"}})),
    );
    assert_eq!(status, 200);
    let ids = |order: &str| -> Vec<String> {
        let (status, list) = server.call("GET", &format!("{PARENT}/models?orderBy={order}"), None);
        assert_eq!(status, 200, "{order}: {list}");
        list["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["name"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(ids(""), ["b", "a", "c"], "creation order without orderBy");
    assert_eq!(ids("display_name"), ["a", "b", "c"]);
    assert_eq!(ids("displayName%20desc"), ["c", "b", "a"]);
    assert_eq!(ids("create_time%20desc"), ["c", "a", "b"]);
    assert_eq!(ids("update_time%20desc,display_name"), ["b", "c", "a"]);
    for bad in ["size", "display_name%20up", "display_name%20desc%20now"] {
        let (status, e) = server.call("GET", &format!("{PARENT}/models?orderBy={bad}"), None);
        assert_eq!(status, 400, "{bad}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("orderBy:"),
            "{e}"
        );
    }
}

/// A SQLite registry belongs to one server process: a second `prism serve` on the same data
/// directory is refused, naming the first, and leaves the first serving; once the first
/// is gone (even killed), a server starts there again.
#[test]
fn a_second_server_on_one_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path());
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_prism"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("is in use by another prism serve")
            && stderr.contains(&format!("(process {})", first.child.id()))
            && stderr.contains("--database-url"),
        "{stderr}"
    );
    let (status, _) = first.call("GET", &format!("{PARENT}/models"), None);
    assert_eq!(status, 200);
    drop(first); // SIGKILL
    let again = Server::start(dir.path());
    let (status, _) = again.call("GET", &format!("{PARENT}/models"), None);
    assert_eq!(status, 200);
}
