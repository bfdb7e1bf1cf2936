//! The pages: models, one model, endpoints, operations (batch jobs are in `batch_jobs`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use minijinja::context;
use prism_spec::ExplanationMetadata;
use serde::Serialize;
use serde_json::Value;

use super::{form, templates, UiError};
use crate::registry::Table;
use crate::state::AppState;

/// The most operations listed.
const MAX_OPERATIONS: usize = 200;

/// Renders a full page: the template with the context every page has (`auth`, `version`).
pub(crate) fn page(
    state: &AppState,
    name: &str,
    context: minijinja::Value,
) -> Result<Html<String>, UiError> {
    let context = context! {
        auth => !state.config.auth_tokens.is_empty(),
        version => env!("CARGO_PKG_VERSION"),
        ..context
    };
    Ok(Html(templates::render(name, context)?))
}

/// `GET /ui`: the models.
pub(crate) async fn home() -> Redirect {
    Redirect::to("/ui/models")
}

/// `GET /ui/models`.
pub(crate) async fn models(State(state): State<Arc<AppState>>) -> Result<Html<String>, UiError> {
    let models: Vec<ModelSummary> = state
        .registry
        .all(Table::Models)
        .await?
        .iter()
        .map(ModelSummary::of)
        .collect();
    page(
        &state,
        "models.html",
        context! {title => "Models", section => "models", models},
    )
}

/// `GET /ui/projects/{p}/locations/{l}/models/{id}`.
pub(crate) async fn model(
    State(state): State<Arc<AppState>>,
    Path((project, location, model)): Path<(String, String, String)>,
) -> Result<Html<String>, UiError> {
    let name = format!("projects/{project}/locations/{location}/models/{model}");
    let doc = state.registry.get_required(Table::Models, &name).await?;
    let summary = ModelSummary::of(&doc);
    let spec = &doc["explanationSpec"];
    let metadata = metadata_of(&doc);
    let fields = form::fields(&metadata);
    let sample = form::sample(&fields);
    let inputs: Vec<Value> = metadata
        .inputs
        .iter()
        .map(|(name, i)| {
            serde_json::json!({
                "name": name,
                "modality": i.modality.name(),
                "tensor": i.tensor_name(name),
                "count": i.index_feature_mapping.len().max(1),
            })
        })
        .collect();
    let spec_json = serde_json::to_string_pretty(spec).unwrap_or_default();
    page(
        &state,
        "model.html",
        context! {
            title => summary.display_name.clone(),
            section => "models",
            model => summary,
            fields,
            sample,
            inputs,
            spec_json,
        },
    )
}

/// `GET /ui/endpoints`.
pub(crate) async fn endpoints(State(state): State<Arc<AppState>>) -> Result<Html<String>, UiError> {
    let loaded = state.deployed.read().await;
    let endpoints: Vec<Value> = state
        .registry
        .all(Table::Endpoints)
        .await?
        .iter()
        .map(|e| {
            let name = text(&e["name"]);
            let deployed: Vec<Value> = list(&e["deployedModels"])
                .iter()
                .map(|d| {
                    let id = text(&d["id"]);
                    let model = text(&d["model"]);
                    serde_json::json!({
                        "id": id,
                        "display_name": text(&d["displayName"]),
                        "model_id": last_segment(&model),
                        "model_link": link(&model),
                        "traffic": e["trafficSplit"][&id].as_u64().unwrap_or(0),
                        "loaded": loaded.contains_key(&id),
                    })
                })
                .collect();
            serde_json::json!({
                "name": name,
                "anchor": anchor(&name),
                "display_name": text(&e["displayName"]),
                "deployed": deployed,
                "create_time": text(&e["createTime"]),
                "update_time": text(&e["updateTime"]),
            })
        })
        .collect();
    drop(loaded);
    page(
        &state,
        "endpoints.html",
        context! {title => "Endpoints", section => "endpoints", endpoints},
    )
}

/// `GET /ui/operations`: the newest [`MAX_OPERATIONS`].
pub(crate) async fn operations(
    State(state): State<Arc<AppState>>,
) -> Result<Html<String>, UiError> {
    let all = state.registry.all(Table::Operations).await?;
    let total = all.len();
    let operations: Vec<Value> = all
        .iter()
        .rev()
        .take(MAX_OPERATIONS)
        .map(|o| {
            let name = text(&o["name"]);
            let (resource, id) = name
                .rsplit_once("/operations/")
                .map(|(r, i)| (r.to_string(), i.to_string()))
                .unwrap_or_else(|| (name.clone(), String::new()));
            let state = match (o["done"].as_bool(), o.get("error")) {
                (Some(true), Some(e)) if !e.is_null() => "failed",
                (Some(true), _) => "done",
                _ => "running",
            };
            let kind = text(&o["metadata"]["@type"]);
            let kind = kind
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .trim_end_matches("OperationMetadata")
                .to_string();
            let generic = &o["metadata"]["genericMetadata"];
            serde_json::json!({
                "name": name,
                "resource": resource,
                "id": id,
                "kind": kind,
                "state": state,
                "error": o["error"]["message"].as_str(),
                "create_time": text(&generic["createTime"]),
                "update_time": text(&generic["updateTime"]),
            })
        })
        .collect();
    let shown = operations.len();
    page(
        &state,
        "operations.html",
        context! {title => "Operations", section => "operations", operations, shown, total},
    )
}

/// What the pages show of a model.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ModelSummary {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) parent: String,
    pub(crate) link: String,
    pub(crate) display_name: String,
    pub(crate) description: Option<String>,
    pub(crate) method: String,
    pub(crate) method_detail: Option<String>,
    pub(crate) inputs: Vec<InputSummary>,
    pub(crate) deployments: Vec<Deployment>,
}

/// One input of a model, for the list.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct InputSummary {
    name: String,
    modality: &'static str,
    count: usize,
}

/// Where a model is deployed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Deployment {
    pub(crate) endpoint: String,
    pub(crate) endpoint_id: String,
    pub(crate) anchor: String,
    pub(crate) deployed_model_id: String,
}

impl ModelSummary {
    pub(crate) fn of(doc: &Value) -> ModelSummary {
        let name = text(&doc["name"]);
        let parameters = &doc["explanationSpec"]["parameters"];
        let (method, method_detail) = method_of(parameters);
        let inputs = metadata_of(doc)
            .inputs
            .iter()
            .map(|(name, i)| InputSummary {
                name: name.to_string(),
                modality: i.modality.name(),
                count: i.index_feature_mapping.len().max(1),
            })
            .collect();
        ModelSummary {
            id: last_segment(&name),
            parent: name
                .rsplit_once("/models/")
                .map(|(p, _)| p.to_string())
                .unwrap_or_default(),
            link: link(&name),
            display_name: text(&doc["displayName"]),
            description: doc["description"].as_str().map(String::from),
            method,
            method_detail,
            inputs,
            deployments: deployments_of(doc),
            name,
        }
    }
}

/// The endpoints a model document says it is deployed on.
pub(crate) fn deployments_of(doc: &Value) -> Vec<Deployment> {
    list(&doc["deployedModels"])
        .iter()
        .filter_map(|d| {
            let endpoint = d["endpoint"].as_str()?.to_string();
            let deployed_model_id = d["deployedModelId"].as_str()?.to_string();
            Some(Deployment {
                endpoint_id: last_segment(&endpoint),
                anchor: anchor(&endpoint),
                endpoint,
                deployed_model_id,
            })
        })
        .collect()
}

/// The model's explanation metadata (empty when it has none or it does not parse).
pub(crate) fn metadata_of(doc: &Value) -> ExplanationMetadata {
    match doc["explanationSpec"].get("metadata") {
        Some(m) if !m.is_null() => ExplanationMetadata::from_value(m.clone()).unwrap_or_default(),
        _ => ExplanationMetadata::default(),
    }
}

/// The method's name and its settings, from `ExplanationParameters` JSON.
fn method_of(parameters: &Value) -> (String, Option<String>) {
    const NAMES: [(&str, &str); 4] = [
        ("sampledShapleyAttribution", "Sampled Shapley"),
        ("integratedGradientsAttribution", "Integrated Gradients"),
        ("xraiAttribution", "XRAI"),
        ("examples", "Example-based"),
    ];
    for (key, label) in NAMES {
        if let Some(settings) = parameters.get(key) {
            let detail = match settings {
                Value::Object(m) if !m.is_empty() => Some(
                    m.iter()
                        .map(|(k, v)| match v {
                            Value::Object(_) | Value::Array(_) => k.clone(),
                            other => format!("{k} {other}"),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                _ => None,
            };
            return (label.to_string(), detail);
        }
    }
    ("—".to_string(), None)
}

/// The UI link of a resource name: `/ui/` and the name, each segment percent-encoded.
pub(crate) fn link(name: &str) -> String {
    let mut out = String::from("/ui");
    for segment in name.split('/') {
        out.push('/');
        for b in segment.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// An HTML id for a resource name (letters, digits and `-` only).
pub(crate) fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A JSON string field, or "".
pub(crate) fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

pub(crate) fn last_segment(name: &str) -> String {
    name.rsplit('/').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn links_encode_every_odd_character() {
        assert_eq!(
            link("projects/p/locations/l/models/m-1"),
            "/ui/projects/p/locations/l/models/m-1"
        );
        assert_eq!(
            link("projects/a\"b?c/locations/é/models/x"),
            "/ui/projects/a%22b%3Fc/locations/%C3%A9/models/x"
        );
        assert_eq!(anchor("projects/p/endpoints/e"), "projects-p-endpoints-e");
    }

    #[test]
    fn methods_are_named_with_their_settings() {
        assert_eq!(
            method_of(&json!({"sampledShapleyAttribution": {"pathCount": 10}})),
            ("Sampled Shapley".into(), Some("pathCount 10".into()))
        );
        assert_eq!(
            method_of(&json!({"examples": {"neighborCount": 5, "presets": {}}})),
            (
                "Example-based".into(),
                Some("neighborCount 5, presets".into())
            )
        );
        assert_eq!(method_of(&json!({})).0, "—");
    }
}
