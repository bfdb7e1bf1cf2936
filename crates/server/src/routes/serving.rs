//! `:predict` and `:explain`.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use prism_engine::{Explanation, ExplanationSpecOverride};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use super::field;
use crate::error::ApiError;
use crate::state::{AppState, Deployed};

/// `POST …/endpoints/{id}:predict` `{instances, parameters?}`.
pub(crate) async fn predict(
    state: &Arc<AppState>,
    endpoint: &str,
    mut body: Value,
) -> Result<Value, ApiError> {
    let instances = instances(state, &mut body)?;
    let deployed = choose(state, endpoint, field(&body, "deployedModelId")).await?;
    let explainer = deployed.explainer.clone();
    let predictions = run_bounded(state, move || {
        explainer
            .predict_batch(&instances)
            .into_iter()
            .collect::<Result<Vec<Value>, _>>()
            .map_err(ApiError::from)
    })
    .await?;
    Ok(response(&deployed, json!({"predictions": predictions})))
}

/// The answer to `:explain`, serialized straight from the engine's types: building a
/// `Value` tree of every explanation first cost a deep copy per request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExplainResponse {
    pub explanations: Vec<Explanation>,
    pub predictions: Vec<Value>,
    pub deployed_model_id: String,
    pub model: String,
    pub model_version_id: &'static str,
    pub model_display_name: String,
}

impl IntoResponse for ExplainResponse {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

/// `POST …/endpoints/{id}:explain` `{instances, explanationSpecOverride?, deployedModelId?}`.
pub(crate) async fn explain(
    state: &Arc<AppState>,
    endpoint: &str,
    mut body: Value,
) -> Result<ExplainResponse, ApiError> {
    let instances = instances(state, &mut body)?;
    let deployed = choose(state, endpoint, field(&body, "deployedModelId")).await?;
    let explainer = match field(&body, "explanationSpecOverride") {
        Some(o) => {
            let o = ExplanationSpecOverride::from_value(o.clone()).map_err(|e| {
                ApiError::InvalidArgument(e.with_prefix("explanationSpecOverride").to_string())
            })?;
            Arc::new(deployed.explainer.with_override(&o)?)
        }
        None => deployed.explainer.clone(),
    };
    // Each instance's explanation and prediction in one parallel pass.
    let (explanations, predictions) = run_bounded(state, move || {
        instances
            .par_iter()
            .map(|instance| explainer.explain_and_predict(instance))
            .collect::<Vec<_>>()
            .into_iter()
            // The first failing instance in request order answers, as before.
            .collect::<Result<Vec<_>, _>>()
            .map(|pairs| pairs.into_iter().unzip())
            .map_err(ApiError::from)
    })
    .await?;
    Ok(ExplainResponse {
        explanations,
        predictions,
        deployed_model_id: deployed.id,
        model: deployed.model,
        model_version_id: "1",
        model_display_name: deployed.model_display_name,
    })
}

fn response(deployed: &Deployed, mut body: Value) -> Value {
    body["deployedModelId"] = json!(deployed.id);
    body["model"] = json!(deployed.model);
    body["modelVersionId"] = json!("1");
    body["modelDisplayName"] = json!(deployed.model_display_name);
    body
}

/// The request's instances, taken out of the body (camelCase and snake_case spell
/// `instances` alike).
fn instances(state: &AppState, body: &mut Value) -> Result<Vec<Value>, ApiError> {
    let list = body
        .get_mut("instances")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            ApiError::InvalidArgument("instances: is required and must be an array".into())
        })?;
    if list.is_empty() {
        return Err(ApiError::InvalidArgument(
            "instances: must not be empty".into(),
        ));
    }
    if list.len() > state.config.max_instances {
        return Err(ApiError::InvalidArgument(format!(
            "instances: {} given, at most {} per request",
            list.len(),
            state.config.max_instances
        )));
    }
    Ok(std::mem::take(list))
}

/// The DeployedModel serving this request: the one named, or one drawn by traffic split.
///
/// The endpoint's document decides, so every server node sharing the registry serves the
/// same deployments: a model deployed by another node is loaded here on first use, and
/// models this node holds but the endpoint no longer has are dropped.
async fn choose(
    state: &AppState,
    endpoint_name: &str,
    requested: Option<&Value>,
) -> Result<Deployed, ApiError> {
    // Loaded before the endpoint is read: a model registered after this was deployed
    // after the endpoint was written, so it is never dropped by mistake.
    let loaded: Vec<String> = state
        .deployed
        .read()
        .await
        .values()
        .filter(|d| d.endpoint == endpoint_name)
        .map(|d| d.id.clone())
        .collect();
    let endpoint = super::endpoints::get(state, endpoint_name).await?;
    let on_endpoint: Vec<Value> = endpoint["deployedModels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |id: &str| on_endpoint.iter().any(|d| d["id"].as_str() == Some(id));
    let stale: Vec<String> = loaded.into_iter().filter(|id| !has(id)).collect();
    if !stale.is_empty() {
        let mut deployed = state.deployed.write().await;
        for id in &stale {
            deployed.remove(id);
        }
    }
    let id = match requested {
        Some(id) => {
            let id = id
                .as_str()
                .map(String::from)
                .or_else(|| id.as_u64().map(|n| n.to_string()))
                .ok_or_else(|| {
                    ApiError::InvalidArgument("deployedModelId: must be a string".into())
                })?;
            if !has(&id) {
                return Err(ApiError::NotFound(format!(
                    "endpoint {endpoint_name} has no deployed model {id}"
                )));
            }
            id
        }
        None => draw(&endpoint, endpoint_name)?,
    };
    let d = on_endpoint
        .iter()
        .find(|d| d["id"].as_str() == Some(id.as_str()))
        .ok_or_else(|| {
            ApiError::FailedPrecondition(format!(
                "endpoint {endpoint_name}: its traffic split names {id}, which is not deployed"
            ))
        })?;
    super::endpoints::ensure_loaded(state, endpoint_name, d).await
}

/// A DeployedModel id drawn by the endpoint's traffic split.
fn draw(endpoint: &Value, endpoint_name: &str) -> Result<String, ApiError> {
    let split: Vec<(String, u64)> = endpoint["trafficSplit"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_u64().filter(|p| *p > 0).map(|p| (k.clone(), p)))
                .collect()
        })
        .unwrap_or_default();
    let total: u64 = split.iter().map(|(_, p)| p).sum();
    if total == 0 {
        return Err(ApiError::FailedPrecondition(format!(
            "endpoint {endpoint_name} has no model taking traffic"
        )));
    }
    let mut draw = rand::random::<u64>() % total;
    for (id, pct) in split {
        if draw < pct {
            return Ok(id);
        }
        draw -= pct;
    }
    Err(ApiError::Internal("traffic split draw fell through".into()))
}

/// Runs CPU-heavy work off the async runtime, bounded: when every permit is taken the request
/// is refused with 429 and Retry-After instead of queueing without limit; past the deadline
/// it ends with 504.
pub(crate) async fn run_bounded<T, F>(state: &Arc<AppState>, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    let permit =
        state
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::ResourceExhausted {
                message: "too many explanation requests in flight; retry shortly".into(),
                retry_after_secs: 1,
            })?;
    // The work goes straight to the engine's thread pool (where its instances run in
    // parallel anyway), not through tokio's blocking pool: one hand-over fewer per request.
    // Profiled under load, context switches were about a fifth of the server's time, and
    // single-instance explains went from 10-12k to 17.7k requests/s with this.
    let (done, result) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(ApiError::Internal("the request's work panicked".into())));
        // Free before answering, so the caller's next request finds the permit back.
        drop(permit);
        // A receiver gone past the deadline no longer wants the result.
        let _ = done.send(outcome);
    });
    match tokio::time::timeout(state.config.request_timeout, result).await {
        Ok(outcome) => outcome.map_err(|e| ApiError::Internal(e.to_string()))?,
        Err(_) => Err(ApiError::DeadlineExceeded(format!(
            "the request took longer than the {}s deadline",
            state.config.request_timeout.as_secs()
        ))),
    }
}
