//! Request ids and Prometheus metrics, as one middleware around every route.
//!
//! Every response carries `x-request-id`: the request's own when it sent one (up to 128
//! visible ASCII characters), otherwise a new random one; the id is on the request's log
//! lines. `GET /metrics` serves, in the Prometheus text format:
//!
//! - `prism_requests_total{surface, code}`: requests by API surface (`vertex`, `kserve`,
//!   `oip`, `other`) and HTTP status;
//! - `prism_request_duration_seconds{surface}`: a latency histogram per surface;
//! - `prism_requests_in_flight` and `prism_deployed_models` (gauges).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// One surface's latency histogram: bucket counts, sum of seconds, count.
type Histogram = ([u64; BUCKETS.len()], f64, u64);

/// Counters shared by every request.
#[derive(Default)]
pub struct Metrics {
    in_flight: AtomicI64,
    /// (surface, status) → count.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// surface → (bucket counts, sum of seconds, count).
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
}

impl Metrics {
    fn record(&self, surface: &'static str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((surface, status)).or_default() += 1;
        }
        if let Ok(mut d) = self.durations.lock() {
            let entry = d.entry(surface).or_insert(([0; BUCKETS.len()], 0.0, 0));
            for (count, bound) in entry.0.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *count += 1;
                }
            }
            entry.1 += seconds;
            entry.2 += 1;
        }
    }

    /// The Prometheus text exposition.
    fn render(&self, deployed: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP prism_requests_total Requests by API surface and HTTP status.\n");
        out.push_str("# TYPE prism_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((surface, code), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "prism_requests_total{{surface=\"{surface}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP prism_request_duration_seconds Request latency by API surface.\n");
        out.push_str("# TYPE prism_request_duration_seconds histogram\n");
        if let Ok(d) = self.durations.lock() {
            for (surface, (buckets, sum, count)) in d.iter() {
                for (bound, n) in BUCKETS.iter().zip(buckets) {
                    let _ = writeln!(
                        out,
                        "prism_request_duration_seconds_bucket{{surface=\"{surface}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "prism_request_duration_seconds_bucket{{surface=\"{surface}\",le=\"+Inf\"}} {count}"
                );
                let _ = writeln!(
                    out,
                    "prism_request_duration_seconds_sum{{surface=\"{surface}\"}} {sum}"
                );
                let _ = writeln!(
                    out,
                    "prism_request_duration_seconds_count{{surface=\"{surface}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP prism_requests_in_flight Requests being handled.\n");
        out.push_str("# TYPE prism_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "prism_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        out.push_str("# HELP prism_deployed_models Models deployed and loaded.\n");
        out.push_str("# TYPE prism_deployed_models gauge\n");
        let _ = writeln!(out, "prism_deployed_models {deployed}");
        out
    }
}

fn surface(path: &str) -> &'static str {
    if path.starts_with("/v1/projects/") {
        "vertex"
    } else if path.starts_with("/v1/models") {
        "kserve"
    } else if path.starts_with("/v2") {
        "oip"
    } else {
        "other"
    }
}

fn valid_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_string())
}

/// The middleware: request id in and out, counters around the handler.
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(valid_id)
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    let surface = surface(request.uri().path());
    let started = Instant::now();
    state.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let mut response = next.run(request).instrument(span.clone()).await;
    state.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.record(surface, status, seconds);
    let latency_ms = seconds * 1e3;
    // The closing line carries the request's fields itself, outside the span, so a log
    // collector reads one flat JSON object per request and the text format prints each
    // field once.
    drop(span);
    tracing::info!(request_id = %id, %method, %path, status, latency_ms, "done");
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Paths open without a token: liveness and readiness probes.
fn is_open(path: &str) -> bool {
    path == "/healthz" || path.starts_with("/v2/health/")
}

/// Compares in time independent of where the strings differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Bearer-token authentication, when the server has tokens: a request without a valid
/// `Authorization: Bearer <token>` gets 401 UNAUTHENTICATED in the google.rpc shape. The web
/// UI's paths also accept its session cookie, and answer with a sign-in page
/// (`crate::ui::authenticate_ui`).
pub(crate) async fn authenticate(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = &state.config.auth_tokens;
    if tokens.is_empty() || is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    if crate::ui::is_ui(request.uri().path()) {
        let given = given.map(str::to_string);
        return crate::ui::authenticate_ui(&state, given.as_deref(), request, next).await;
    }
    match given {
        Some(token) if tokens.iter().any(|t| same(t.as_bytes(), token.as_bytes())) => {
            next.run(request).await
        }
        _ => {
            let message = if given.is_some() {
                "the bearer token is not valid"
            } else {
                "this server needs an Authorization: Bearer <token> header"
            };
            (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Bearer")],
                axum::Json(serde_json::json!({"error": {
                    "code": 401,
                    "message": message,
                    "status": "UNAUTHENTICATED",
                }})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`.
pub(crate) async fn serve_metrics(State(state): State<Arc<AppState>>) -> Response {
    let deployed = state.deployed.read().await.len();
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(deployed),
    )
        .into_response()
}
