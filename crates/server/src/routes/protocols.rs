//! The KServe v1 protocol (`/v1/models/{name}[:predict|:explain]`) and the Open Inference
//! Protocol v2 (`/v2/...`), over the models deployed on endpoints.
//!
//! A model is addressed by its DeployedModel id, its model id (the last segment of the model
//! resource name) or its display name, in that order of precedence; when a model is deployed
//! several times, the deployment with the smallest id answers. Errors use these protocols'
//! shape, `{"error": "message"}`, with the HTTP status of the google.rpc code.
//!
//! OIP v2: `GET /v2` (server metadata), `/v2/health/live`, `/v2/health/ready`,
//! `GET /v2/models/{name}` (metadata: inputs and outputs with datatype and shape, `-1` for the
//! batch), `GET /v2/models/{name}/ready`, `POST /v2/models/{name}/infer` (tensors in, the
//! model's outputs out, or those the request's `outputs` names). Each model also has an
//! explainer, `{name}-explainer`, whose `infer` takes the same tensors (or one BYTES input
//! `instances` holding JSON instances) and answers one BYTES output, `explanation`, with
//! one Vertex Explanation JSON document per row.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use prism_engine::{ElementType, Tensor, TensorData};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::{AppState, Deployed};

/// An error in the KServe / OIP shape.
pub(crate) struct ProtocolError(StatusCode, String);

impl From<ApiError> for ProtocolError {
    fn from(e: ApiError) -> Self {
        let (status, _) = e.status();
        let message = match e {
            ApiError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        ProtocolError(status, message)
    }
}

impl From<prism_engine::EngineError> for ProtocolError {
    fn from(e: prism_engine::EngineError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for ProtocolError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn bad(message: impl Into<String>) -> ProtocolError {
    ProtocolError(StatusCode::BAD_REQUEST, message.into())
}

fn respond(result: Result<Value, ProtocolError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The deployed model `name` addresses.
async fn find(state: &AppState, name: &str) -> Result<Deployed, ProtocolError> {
    let deployed = state.deployed.read().await;
    let mut all: Vec<&Deployed> = deployed.values().collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let model_id = |d: &Deployed| d.model.rsplit('/').next().unwrap_or_default().to_string();
    all.iter()
        .find(|d| d.id == name)
        .or_else(|| all.iter().find(|d| model_id(d) == name))
        .or_else(|| all.iter().find(|d| d.model_display_name == name))
        .map(|d| (*d).clone())
        .ok_or_else(|| {
            ProtocolError(
                StatusCode::NOT_FOUND,
                format!("no deployed model named '{name}'"),
            )
        })
}

/// The names models are listed under (model ids, one per deployed model).
async fn names(state: &AppState) -> Vec<String> {
    let deployed = state.deployed.read().await;
    let mut names: Vec<String> = deployed
        .values()
        .map(|d| d.model.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn body_json(body: &[u8]) -> Result<Value, ProtocolError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(bad("the request body must be a JSON object"))
    }
}

fn instances(state: &AppState, body: &Value) -> Result<Vec<Value>, ProtocolError> {
    let list = body["instances"]
        .as_array()
        .ok_or_else(|| bad("instances: is required and must be an array"))?;
    if list.is_empty() || list.len() > state.config.max_instances {
        return Err(bad(format!(
            "instances: between 1 and {} per request, got {}",
            state.config.max_instances,
            list.len()
        )));
    }
    Ok(list.clone())
}

// ---------------------------------------------------------------------------------------
// KServe v1

/// `/v1/models…` (KServe v1): `GET models`, `GET models/{name}`, `POST models/{name}:predict`
/// and `:explain`.
pub(crate) async fn kserve_v1(
    state: Arc<AppState>,
    method: Method,
    path: &str,
    body: &[u8],
) -> Response {
    match kserve_dispatch(&state, method, path, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// KServe v1's `:explain` answer, serialized straight from the engine's type.
#[derive(serde::Serialize)]
struct KServeExplanations {
    explanations: Vec<prism_engine::Explanation>,
}

async fn kserve_dispatch(
    state: &Arc<AppState>,
    method: Method,
    path: &str,
    body: &[u8],
) -> Result<Response, ProtocolError> {
    let rest = path
        .trim_matches('/')
        .strip_prefix("models")
        .unwrap_or_default();
    let rest = rest.trim_start_matches('/');
    let (name, verb) = match rest.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (rest, None),
    };
    match (&method, name, verb) {
        (&Method::GET, "", None) => Ok(Json(json!({"models": names(state).await})).into_response()),
        (&Method::GET, name, None) => {
            let d = find(state, name).await?;
            Ok(Json(json!({"name": name, "ready": true, "deployedModelId": d.id})).into_response())
        }
        (&Method::POST, name, Some("predict")) => {
            let d = find(state, name).await?;
            let instances = instances(state, &body_json(body)?)?;
            let explainer = d.explainer.clone();
            let predictions = super::serving::run_bounded(state, move || {
                explainer
                    .predict_batch(&instances)
                    .into_iter()
                    .collect::<Result<Vec<Value>, _>>()
                    .map_err(ApiError::from)
            })
            .await?;
            Ok(Json(json!({"predictions": predictions})).into_response())
        }
        (&Method::POST, name, Some("explain")) => {
            let d = find(state, name).await?;
            let instances = instances(state, &body_json(body)?)?;
            let explainer = d.explainer.clone();
            let explanations = super::serving::run_bounded(state, move || {
                explainer
                    .explain_batch(&instances)
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(ApiError::from)
            })
            .await?;
            Ok(Json(KServeExplanations { explanations }).into_response())
        }
        _ => Err(ProtocolError(
            StatusCode::NOT_FOUND,
            format!("no method {method} /v1/{path}"),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Open Inference Protocol v2

/// Handles `/v2/{*path}`.
pub(crate) async fn oip_v2(
    state: Arc<AppState>,
    method: Method,
    path: &str,
    body: &[u8],
) -> Response {
    respond(oip_dispatch(&state, method, path, body).await)
}

async fn oip_dispatch(
    state: &Arc<AppState>,
    method: Method,
    path: &str,
    body: &[u8],
) -> Result<Value, ProtocolError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, [""]) => Ok(json!({
            "name": "prism",
            "version": env!("CARGO_PKG_VERSION"),
            "extensions": ["explanations"],
        })),
        (&Method::GET, ["health", "live"]) => Ok(json!({"live": true})),
        (&Method::GET, ["health", "ready"]) => Ok(json!({"ready": true})),
        (&Method::GET, ["models", name]) | (&Method::GET, ["models", name, "versions", _]) => {
            let (base, explainer) = split_explainer(name);
            let d = find(state, base).await?;
            Ok(metadata(name, &d, explainer))
        }
        (&Method::GET, ["models", name, "ready"])
        | (&Method::GET, ["models", name, "versions", _, "ready"]) => {
            find(state, split_explainer(name).0).await?;
            Ok(json!({"name": name, "ready": true}))
        }
        (&Method::POST, ["models", name, "infer"])
        | (&Method::POST, ["models", name, "versions", _, "infer"]) => {
            let (base, explain) = split_explainer(name);
            let d = find(state, base).await?;
            let request = body_json(body)?;
            if explain {
                explain_infer(state, name, &d, &request).await
            } else {
                infer(state, name, &d, &request).await
            }
        }
        _ => Err(ProtocolError(
            StatusCode::NOT_FOUND,
            format!("no method {method} /v2/{path}"),
        )),
    }
}

fn split_explainer(name: &str) -> (&str, bool) {
    match name.strip_suffix("-explainer") {
        Some(base) => (base, true),
        None => (name, false),
    }
}

/// OIP datatype of an element type.
fn datatype(t: ElementType) -> &'static str {
    match t {
        ElementType::F32 => "FP32",
        ElementType::F64 => "FP64",
        ElementType::F16 => "FP16",
        ElementType::I64 => "INT64",
        ElementType::I32 => "INT32",
        ElementType::U8 => "UINT8",
        ElementType::Bool => "BOOL",
        _ => "BYTES",
    }
}

fn metadata(name: &str, d: &Deployed, explainer: bool) -> Value {
    let signature = d.explainer.signature();
    let describe = |list: &[prism_engine::TensorInfo]| -> Vec<Value> {
        list.iter()
            .map(|t| {
                let shape: Vec<i64> = t
                    .shape
                    .as_ref()
                    .map(|dims| {
                        dims.iter()
                            .map(|d| match d {
                                prism_engine::Dim::Fixed(n) => *n as i64,
                                _ => -1,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({"name": t.name, "datatype": datatype(t.elem_type), "shape": shape})
            })
            .collect()
    };
    let outputs = if explainer {
        vec![json!({"name": "explanation", "datatype": "BYTES", "shape": [-1]})]
    } else {
        describe(&signature.outputs)
    };
    json!({
        "name": name,
        "versions": ["1"],
        "platform": if explainer { "prism_explainer" } else { "onnx" },
        "inputs": describe(&signature.inputs),
        "outputs": outputs,
        "deployedModelId": d.id,
    })
}

/// The request's tensors, in the model's input order.
fn request_tensors(d: &Deployed, request: &Value) -> Result<Vec<Tensor>, ProtocolError> {
    let given = request["inputs"]
        .as_array()
        .ok_or_else(|| bad("inputs: is required and must be an array"))?;
    let signature = d.explainer.signature();
    let mut out = Vec::with_capacity(signature.inputs.len());
    for info in &signature.inputs {
        let input = given
            .iter()
            .find(|i| i["name"].as_str() == Some(info.name.as_str()))
            .ok_or_else(|| {
                bad(format!(
                    "inputs: the model needs an input named '{}'",
                    info.name
                ))
            })?;
        out.push(tensor_from_json(input).map_err(|m| bad(format!("inputs.{}: {m}", info.name)))?);
    }
    if let Some(extra) = given
        .iter()
        .filter_map(|i| i["name"].as_str())
        .find(|n| signature.inputs.iter().all(|s| s.name != *n))
    {
        return Err(bad(format!(
            "inputs: the model has no input named '{extra}'"
        )));
    }
    Ok(out)
}

/// An OIP request tensor: `{name, shape, datatype, data}` with data flat or nested.
fn tensor_from_json(input: &Value) -> Result<Tensor, String> {
    let shape: Vec<usize> = input["shape"]
        .as_array()
        .ok_or("shape: is required")?
        .iter()
        .map(|d| {
            d.as_u64()
                .map(|d| d as usize)
                .ok_or("shape: must hold non-negative integers")
        })
        .collect::<Result<_, _>>()?;
    let mut flat = Vec::new();
    flatten(&input["data"], &mut flat)?;
    let expected: usize = shape.iter().product();
    if flat.len() != expected {
        return Err(format!(
            "data has {} values, shape {shape:?} needs {expected}",
            flat.len()
        ));
    }
    let datatype = input["datatype"].as_str().ok_or("datatype: is required")?;
    let number = |v: &Value| {
        v.as_f64()
            .ok_or_else(|| format!("{datatype} data must be numbers"))
    };
    let data = match datatype {
        "FP32" | "FP64" | "FP16" => TensorData::F32(
            flat.iter()
                .map(|v| number(v).map(|x| x as f32))
                .collect::<Result<_, _>>()?,
        ),
        "INT64" | "INT32" | "INT16" | "INT8" | "UINT8" | "UINT16" | "UINT32" | "UINT64" => {
            TensorData::I64(
                flat.iter()
                    .map(|v| {
                        v.as_i64()
                            .ok_or_else(|| format!("{datatype} data must be integers"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        "BYTES" => TensorData::Str(
            flat.iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or("BYTES data must be strings".to_string())
                })
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("datatype {other} is not supported")),
    };
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

fn flatten<'v>(v: &'v Value, out: &mut Vec<&'v Value>) -> Result<(), String> {
    match v {
        Value::Array(a) => a.iter().try_for_each(|x| flatten(x, out)),
        Value::Null => Err("data: is required".into()),
        v => {
            out.push(v);
            Ok(())
        }
    }
}

fn tensor_to_json(name: &str, t: &Tensor) -> Value {
    let (datatype, data) = match &t.data {
        TensorData::F32(v) => ("FP32", json!(v)),
        TensorData::I64(v) => ("INT64", json!(v)),
        TensorData::Str(v) => ("BYTES", json!(v)),
    };
    json!({"name": name, "shape": t.shape, "datatype": datatype, "data": data})
}

fn infer_response(name: &str, request: &Value, outputs: Vec<Value>) -> Value {
    let mut response = json!({"model_name": name, "model_version": "1", "outputs": outputs});
    if let Some(id) = request.get("id") {
        response["id"] = id.clone();
    }
    response
}

async fn infer(
    state: &Arc<AppState>,
    name: &str,
    d: &Deployed,
    request: &Value,
) -> Result<Value, ProtocolError> {
    let inputs = request_tensors(d, request)?;
    let wanted: Option<Vec<String>> = request["outputs"].as_array().map(|a| {
        a.iter()
            .filter_map(|o| o["name"].as_str().map(String::from))
            .collect()
    });
    let signature = d.explainer.signature().clone();
    if let Some(unknown) = wanted
        .iter()
        .flatten()
        .find(|w| signature.outputs.iter().all(|o| &o.name != *w))
    {
        return Err(bad(format!(
            "outputs: the model has no output named '{unknown}'"
        )));
    }
    let explainer = d.explainer.clone();
    let results = super::serving::run_bounded(state, move || {
        explainer.forward(&inputs).map_err(ApiError::from)
    })
    .await?;
    let outputs = signature
        .outputs
        .iter()
        .zip(&results)
        .filter(|(o, _)| wanted.as_ref().is_none_or(|w| w.contains(&o.name)))
        .map(|(o, t)| tensor_to_json(&o.name, t))
        .collect();
    Ok(infer_response(name, request, outputs))
}

async fn explain_infer(
    state: &Arc<AppState>,
    name: &str,
    d: &Deployed,
    request: &Value,
) -> Result<Value, ProtocolError> {
    let given = request["inputs"]
        .as_array()
        .ok_or_else(|| bad("inputs: is required and must be an array"))?;
    let instances: Vec<Value> = match given
        .iter()
        .find(|i| i["name"].as_str() == Some("instances"))
    {
        Some(input) => {
            let t = tensor_from_json(input).map_err(|m| bad(format!("inputs.instances: {m}")))?;
            let TensorData::Str(texts) = t.data else {
                return Err(bad(
                    "inputs.instances: must be BYTES holding JSON instances",
                ));
            };
            texts
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    serde_json::from_str(s)
                        .map_err(|e| bad(format!("inputs.instances[{i}]: not JSON: {e}")))
                })
                .collect::<Result<_, _>>()?
        }
        None => d
            .explainer
            .instances_from_tensors(&request_tensors(d, request)?)?,
    };
    if instances.is_empty() || instances.len() > state.config.max_instances {
        return Err(bad(format!(
            "between 1 and {} instances per request, got {}",
            state.config.max_instances,
            instances.len()
        )));
    }
    let explainer = d.explainer.clone();
    let explanations = super::serving::run_bounded(state, move || {
        explainer
            .explain_batch(&instances)
            .into_iter()
            .map(|r| r.map(|e| e.to_json_value().to_string()))
            .collect::<Result<Vec<String>, _>>()
            .map_err(ApiError::from)
    })
    .await?;
    let n = explanations.len();
    let output =
        json!({"name": "explanation", "shape": [n], "datatype": "BYTES", "data": explanations});
    Ok(infer_response(name, request, vec![output]))
}
