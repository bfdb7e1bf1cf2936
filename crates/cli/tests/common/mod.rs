//! What the end-to-end tests of `prism serve` share: the test models and a real server
//! process on a loopback port. Each test binary uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod job_lines;

/// A real PostgreSQL for the registry (shared with the server crate's tests).
#[path = "../../../server/tests/common/postgres.rs"]
pub mod postgres;

/// A directory of `testdata/models`.
pub fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(name)
}

/// Makes `dir` a model folder whose upload never finishes: a copy of `peer_linear` plus a
/// named pipe nobody writes to, so copying the artifacts blocks. For operations cut short
/// by a crash.
pub fn hanging_artifacts(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(model_dir("peer_linear")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let made = Command::new("mkfifo")
        .arg(dir.join("zz-never-written"))
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo failed");
}

/// A running `prism serve`, killed (SIGKILL) on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `prism serve` on port 0 with these extra arguments and environment, and
    /// waits until it listens.
    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_prism"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // The server prints its address once it listens.
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(addr) = line.strip_prefix("prism serve: listening on ") {
                break addr.trim().to_string();
            }
            assert!(Instant::now() < deadline, "server did not start");
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base }
    }

    /// Starts `models:upload` of the artifacts at `artifacts` as
    /// `projects/demo/locations/local/models/{model_id}`; the operation it answers.
    pub fn start_upload(&self, model_id: &str, display_name: &str, artifacts: &Path) -> Value {
        let (status, op) = self.call(
            "POST",
            "projects/demo/locations/local/models:upload",
            Some(serde_json::json!({"modelId": model_id, "model": {
                "displayName": display_name,
                "artifactUri": artifacts.to_str().unwrap(),
            }})),
        );
        assert_eq!(status, 200, "{op}");
        op
    }

    /// `:wait` on `op` for up to `timeout` (`"30s"`): the operation as it then is.
    pub fn wait_op(&self, op: &Value, timeout: &str) -> Value {
        let name = op["name"].as_str().unwrap();
        let (status, got) = self.call(
            "POST",
            &format!("{name}:wait"),
            Some(serde_json::json!({"timeout": timeout})),
        );
        assert_eq!(status, 200, "{got}");
        got
    }

    /// The URL of a Vertex v1 path.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.base)
    }

    /// A Vertex v1 call: (HTTP status, JSON body or null).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_url(method, &self.url(path), body)
    }

    /// A call to any URL: (HTTP status, JSON body or null).
    pub fn call_url(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = match (method, body) {
            ("GET", _) => agent.get(url).call(),
            ("DELETE", _) => agent.delete(url).call(),
            ("POST", Some(b)) => agent.post(url).send_json(b),
            ("POST", None) => agent.post(url).send_empty(),
            ("PATCH", Some(b)) => agent.patch(url).send_json(b),
            (m, _) => panic!("method {m}"),
        }
        .unwrap();
        let status = response.status().as_u16();
        let value: Value = response.into_body().read_json().unwrap_or(Value::Null);
        (status, value)
    }

    /// Sends SIGTERM and waits for the process to exit; returns how long that took.
    pub fn terminate(mut self) -> Duration {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                return sent.elapsed();
            }
            assert!(
                sent.elapsed() < Duration::from_secs(60),
                "no exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
