//! What operators see of `prism serve`: the OpenAPI document matches the router, and
//! `--log-format json` writes one JSON object per line with each request's id and latency.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A server whose stderr lines arrive on a channel.
struct LoggedServer {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
}

impl LoggedServer {
    fn start(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(data_dir, env, "json")
    }

    fn start_with(data_dir: &std::path::Path, env: &[(&str, &str)], format: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_prism"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", format])
            .arg("--data-dir")
            .arg(data_dir)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let base = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("server did not start");
            if let Some(addr) = line.strip_prefix("prism serve: listening on ") {
                break addr.trim().to_string();
            }
        };
        Self { child, base, lines }
    }

    /// (status, body text) of a request with an optional bearer token and request id.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        id: Option<&str>,
    ) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match method {
            "get" | "delete" => {
                let mut r = if method == "get" {
                    agent.get(&url)
                } else {
                    agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                if let Some(id) = id {
                    r = r.header("x-request-id", id);
                }
                r.call()
            }
            "post" | "patch" => {
                let r = if method == "post" {
                    agent.post(&url)
                } else {
                    agent.patch(&url)
                };
                let mut r = r.header("content-type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                if let Some(id) = id {
                    r = r.header("x-request-id", id);
                }
                r.send("{}")
            }
            m => panic!("method {m}"),
        }
        .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.into_body().read_to_string().unwrap_or_default(),
        )
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A concrete path for a template: every `{param}` gets a harmless value.
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(match &rest[start + 1..end] {
            "project" => "p",
            "location" => "us-central1",
            "operation" | "job" | "version" => "1",
            _ => "absent",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_openapi_document_lists_what_the_router_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = LoggedServer::start(dir.path(), &[("PRISM_AUTH_TOKENS", "letmein")]);
    let (status, text) = server.call("get", "/openapi.json", Some("letmein"), None);
    assert_eq!(status, 200, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (template, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let path = fill(template);
            let open = op["security"] == serde_json::json!([]);
            // Without a token only the operations the document marks open answer.
            let (status, body) = server.call(method, &path, None, None);
            if open {
                assert_eq!(status, 200, "{method} {path} is documented open: {body}");
            } else {
                assert_eq!(
                    status, 401,
                    "{method} {path} is documented as needing a token"
                );
            }
            // With one, the router knows every documented operation: whatever it says
            // about the placeholder resources, it never says there is no such method.
            let (status, body) = server.call(method, &path, Some("letmein"), None);
            assert!(
                !body.contains("no method") && status != 405,
                "{method} {path} is documented but not routed: {status} {body}"
            );
            checked += 1;
        }
    }
    // Vertex models, endpoints, batch jobs and operations; KServe v1; OIP v2; probes.
    assert!(checked >= 45, "only {checked} operations documented");
    for must in [
        "/v1/projects/{project}/locations/{location}/endpoints/{endpoint}:explain",
        "/v1/projects/{project}/locations/{location}/batchPredictionJobs",
        "/v1/models/{name}:explain",
        "/v2/models/{name}/infer",
    ] {
        assert!(paths.contains_key(must), "{must} missing");
    }
    // An undocumented method is really not there: the test's check can fail.
    let (_, body) = server.call(
        "post",
        "/v1/projects/p/locations/l/endpoints/absent:frobnicate",
        Some("letmein"),
        None,
    );
    assert!(body.contains("no method"), "{body}");
}

/// The log line of a request to an absent model sent with request id `id`: every line
/// up to it goes through `check`, and the first that `is_done` accepts is returned.
fn closing_line(
    server: &LoggedServer,
    id: &str,
    check: impl Fn(&str),
    is_done: impl Fn(&str) -> bool,
) -> String {
    let (status, _) = server.call(
        "get",
        "/v1/projects/p/locations/l/models/absent",
        None,
        Some(id),
    );
    assert_eq!(status, 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = server
            .lines
            .recv_timeout(left)
            .expect("no log line for the request");
        check(&line);
        if is_done(&line) {
            return line;
        }
    }
}

#[test]
fn json_logs_carry_request_id_status_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let server = LoggedServer::start(dir.path(), &[]);
    let json = |line: &str| -> Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
    };
    let line = closing_line(
        &server,
        "trace-me-42",
        // Every log line is one JSON object.
        |line| {
            let v = json(line);
            assert!(v["level"].is_string() && v["timestamp"].is_string(), "{v}");
        },
        |line| {
            let v = json(line);
            v["request_id"] == "trace-me-42" && v["message"] == "done"
        },
    );
    let done = json(&line);
    assert_eq!(done["status"], 404);
    assert_eq!(done["method"], "GET");
    assert_eq!(done["path"], "/v1/projects/p/locations/l/models/absent");
    let latency = done["latency_ms"].as_f64().unwrap();
    assert!(latency > 0.0 && latency < 10_000.0, "{latency}");
}

#[test]
fn text_logs_name_each_request_field_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = LoggedServer::start_with(dir.path(), &[], "text");
    let done = closing_line(
        &server,
        "trace-me-43",
        |_| {},
        |line| line.contains("trace-me-43") && line.contains("done"),
    );
    assert_eq!(done.matches("trace-me-43").count(), 1, "{done}");
    assert_eq!(done.matches("latency_ms").count(), 1, "{done}");
    // No terminal here, so no colour escapes.
    assert!(
        done.contains("status=404") && !done.contains('\x1b'),
        "{done}"
    );
}
