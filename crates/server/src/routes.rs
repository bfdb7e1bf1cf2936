//! Routing for the Vertex v1 surface. Vertex paths carry custom verbs after a colon
//! (`endpoints/42:explain`), which path templates cannot express, so every `/v1/…` request is
//! parsed into a [`ResourcePath`] and dispatched here on (method, collection shape, verb).

mod batch_jobs;
mod endpoints;
mod models;
mod operations;
mod protocols;
mod serving;

pub(crate) use batch_jobs::{resume as resume_job, resume_all as resume_jobs};
pub(crate) use endpoints::load_all_deployed;
pub(crate) use serving::explain as explain_on_endpoint;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::names::ResourcePath;
use crate::state::AppState;

/// Query parameters (`pageSize`, `pageToken`, `filter`, `endpointId`, `$alt`, …).
pub(crate) type Params = HashMap<String, String>;

/// Handles `/v1/{*path}`: Vertex resources under `projects/…`, KServe v1 under `models…`.
pub(crate) async fn v1(
    State(state): State<Arc<AppState>>,
    method: Method,
    Path(path): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    let trimmed = path.trim_start_matches('/');
    if trimmed == "models" || trimmed.starts_with("models/") || trimmed.starts_with("models:") {
        return protocols::kserve_v1(state, method, trimmed, &body).await;
    }
    if method == Method::POST && trimmed.ends_with(":rawPredict") {
        return raw_predict(&state, trimmed, &body).await;
    }
    match dispatch(state, method, &path, params, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Handles `/ui/projects/…/operations/{id}` (and `:wait`, `:cancel`): Google's client
/// libraries (google-cloud-aiplatform's REST transport) poll long-running operations at
/// `/ui/{operation name}` rather than `/v1/…`, so these paths answer exactly as under
/// `/v1/`. Every other `/ui/…` path is the web UI.
pub(crate) async fn operation_alias(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: axum::http::Uri,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches("/ui/").to_string();
    v1(State(state), method, Path(path), Query(params), body).await
}

/// Handles `/v2/{*path}` (Open Inference Protocol v2).
pub(crate) async fn v2(
    State(state): State<Arc<AppState>>,
    method: Method,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    protocols::oip_v2(state, method, &path, &body).await
}

/// Handles `/v2` (OIP server metadata).
pub(crate) async fn v2_root(State(state): State<Arc<AppState>>, method: Method) -> Response {
    protocols::oip_v2(state, method, "", &[]).await
}

/// `POST …/endpoints/{id}:rawPredict`: the body goes to the model as it is (here: a
/// prediction request, `{"instances": [...]}`), the model's answer comes back as it is
/// (`{"predictions": [...]}`, without the Vertex envelope), and the serving deployment is
/// named in the `X-Vertex-AI-Endpoint-Id` and `X-Vertex-AI-Deployed-Model-Id` headers.
async fn raw_predict(state: &Arc<AppState>, path: &str, body: &Bytes) -> Response {
    let result = async {
        let p = ResourcePath::parse(path)?;
        let ["endpoints", id] = p.rest.iter().map(String::as_str).collect::<Vec<_>>()[..] else {
            return Err(ApiError::NotFound(format!("no method POST /v1/{path}")));
        };
        let endpoint = p.name(2);
        let mut response = serving::predict(state, &endpoint, json_body(body)?).await?;
        let deployed = response["deployedModelId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let predictions = response["predictions"].take();
        Ok((
            id.to_string(),
            deployed,
            serde_json::json!({"predictions": predictions}),
        ))
    }
    .await;
    match result {
        Ok((endpoint_id, deployed_id, value)) => (
            [
                ("X-Vertex-AI-Endpoint-Id", endpoint_id),
                ("X-Vertex-AI-Deployed-Model-Id", deployed_id),
            ],
            Json(value),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    state: Arc<AppState>,
    method: Method,
    path: &str,
    params: Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = ResourcePath::parse(path)?;
    let rest: Vec<&str> = p.rest.iter().map(String::as_str).collect();
    let verb = p.verb.as_deref();
    // `:explain` answers a typed response, serialized without a `Value` tree in between;
    // every other method answers a JSON document.
    if let (&Method::POST, ["endpoints", _], Some("explain")) = (&method, rest.as_slice(), verb) {
        let response = serving::explain(&state, &p.name(2), json_body(&body)?).await?;
        return Ok(response.into_response());
    }
    let document = match (&method, rest.as_slice(), verb) {
        (&Method::POST, ["models"], Some("upload")) => {
            models::upload(&state, &p.parent, json_body(&body)?).await
        }
        (&Method::GET, ["models"], None) => models::list(&state, &p.parent, &params).await,
        (&Method::POST, ["models", _], Some("updateExplanationDataset")) => {
            models::update_explanation_dataset(&state, &p.name(2), json_body(&body)?).await
        }
        (&Method::GET, ["models", _], None) => models::get(&state, &p.name(2)).await,
        (&Method::PATCH, ["models", _], None) => {
            models::patch(&state, &p.name(2), &params, &json_body(&body)?).await
        }
        (&Method::GET, ["models", _], Some("listVersions")) => {
            models::list_versions(&state, &p.name(2), &params).await
        }
        (&Method::DELETE, ["models", _], None) => models::delete(&state, &p.name(2)).await,
        (&Method::POST, ["endpoints"], None) => {
            endpoints::create(&state, &p.parent, &params, json_body(&body)?).await
        }
        (&Method::GET, ["endpoints"], None) => endpoints::list(&state, &p.parent, &params).await,
        (&Method::GET, ["endpoints", _], None) => endpoints::get(&state, &p.name(2)).await,
        (&Method::PATCH, ["endpoints", _], None) => {
            endpoints::patch(&state, &p.name(2), &params, &json_body(&body)?).await
        }
        (&Method::DELETE, ["endpoints", _], None) => endpoints::delete(&state, &p.name(2)).await,
        (&Method::POST, ["endpoints", _], Some("deployModel")) => {
            endpoints::deploy(&state, &p.name(2), json_body(&body)?).await
        }
        (&Method::POST, ["endpoints", _], Some("undeployModel")) => {
            endpoints::undeploy(&state, &p.name(2), json_body(&body)?).await
        }
        (&Method::POST, ["endpoints", _], Some("predict")) => {
            serving::predict(&state, &p.name(2), json_body(&body)?).await
        }
        (&Method::POST, ["batchPredictionJobs"], None) => {
            batch_jobs::create(&state, &p.parent, json_body(&body)?).await
        }
        (&Method::GET, ["batchPredictionJobs"], None) => {
            batch_jobs::list(&state, &p.parent, &params).await
        }
        (&Method::GET, ["batchPredictionJobs", _], None) => {
            batch_jobs::get(&state, &p.name(2)).await
        }
        (&Method::POST, ["batchPredictionJobs", _], Some("cancel")) => {
            batch_jobs::cancel(&state, &p.name(2)).await
        }
        (&Method::DELETE, ["batchPredictionJobs", _], None) => {
            batch_jobs::delete(&state, &p.name(2)).await
        }
        (&Method::GET, [.., "operations", _], None) => {
            operations::get(&state, &p.name(rest.len())).await
        }
        (&Method::DELETE, [.., "operations", _], None) => {
            operations::delete(&state, &p.name(rest.len())).await
        }
        (&Method::POST, [.., "operations", _], Some("wait")) => {
            operations::wait(&state, &p.name(rest.len()), optional_json_body(&body)?).await
        }
        (&Method::POST, [.., "operations", _], Some("cancel")) => {
            operations::cancel(&state, &p.name(rest.len())).await
        }
        (&Method::GET, [.., "operations"], None) => {
            operations::list(&state, &p.name(rest.len() - 1), &params).await
        }
        _ => Err(ApiError::NotFound(format!(
            "no method {method} {}/{}{}",
            p.parent,
            p.rest.join("/"),
            verb.map(|v| format!(":{v}")).unwrap_or_default()
        ))),
    }?;
    Ok(Json(document).into_response())
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::InvalidArgument(
            "the request needs a JSON body".into(),
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid JSON body: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::InvalidArgument(
            "the request body must be a JSON object".into(),
        ));
    }
    Ok(v)
}

fn optional_json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    json_body(body)
}

/// A request field by its camelCase name, also accepted in snake_case.
pub(crate) fn field<'a>(v: &'a Value, camel: &str) -> Option<&'a Value> {
    v.get(camel)
        .or_else(|| v.get(snake(camel)))
        .filter(|x| !x.is_null())
}

/// A query parameter by its camelCase name, also accepted in snake_case (as [`field`]).
pub(crate) fn query<'a>(params: &'a Params, camel: &str) -> Option<&'a str> {
    params
        .get(camel)
        .or_else(|| params.get(&snake(camel)))
        .map(String::as_str)
}

fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A required string field.
pub(crate) fn required_str<'a>(v: &'a Value, camel: &str, path: &str) -> Result<&'a str, ApiError> {
    match field(v, camel) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(other) => Err(ApiError::InvalidArgument(format!(
            "{path}: must be a non-empty string, got {other}"
        ))),
        None => Err(ApiError::InvalidArgument(format!("{path}: is required"))),
    }
}

/// `PATCH` of a model or an endpoint: the fields that `updateMask` names (comma-separated,
/// camelCase or snake_case) are set from the body, or removed where the body leaves them
/// out; `change` checks each against the stored document and gives its new value (`None`:
/// remove), or refuses a field the resource does not let change. `updateTime` (and an
/// `etag`) move. Answers the resource as it now is.
pub(crate) async fn patch_resource(
    state: &AppState,
    table: crate::registry::Table,
    name: &str,
    params: &Params,
    body: &Value,
    change: impl Fn(&Value, &str, Option<&Value>) -> Result<Option<Value>, ApiError>,
) -> Result<Value, ApiError> {
    let mask = query(params, "updateMask").unwrap_or_default();
    let paths: Vec<String> = mask
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(camel)
        .collect();
    if paths.is_empty() {
        return Err(ApiError::InvalidArgument(
            "updateMask: is required: name the fields to change (e.g. updateMask=displayName,labels)"
                .into(),
        ));
    }
    let updated = state
        .registry
        .update(table, name, |doc| {
            for path in &paths {
                match change(doc, path, field(body, path))? {
                    Some(value) => doc[path.as_str()] = value,
                    None => {
                        if let Some(fields) = doc.as_object_mut() {
                            fields.remove(path.as_str());
                        }
                    }
                }
            }
            let now = crate::time::now_rfc3339();
            doc["updateTime"] = Value::String(now.clone());
            if doc.get("etag").is_some() {
                doc["etag"] = Value::String(now);
            }
            Ok(())
        })
        .await?;
    updated
        .map(|(doc, ())| doc)
        .ok_or_else(|| ApiError::NotFound(format!("{} {name} not found", table.singular())))
}

/// The new value of a field every resource lets `PATCH` change (`displayName`,
/// `description`, `labels`); `what` names the resource in errors (`model`).
pub(crate) fn described_field(
    what: &str,
    path: &str,
    value: Option<&Value>,
) -> Result<Option<Value>, ApiError> {
    let invalid = |rule: &str| ApiError::InvalidArgument(format!("{what}.{path}: {rule}"));
    match (path, value) {
        ("displayName", Some(Value::String(s))) if !s.is_empty() && s.chars().count() <= 128 => {
            Ok(Some(Value::String(s.clone())))
        }
        ("displayName", _) => Err(invalid(
            "must be a non-empty string of at most 128 characters",
        )),
        ("description", None) | ("labels", None) => Ok(None),
        ("description", Some(Value::String(s))) => Ok(Some(Value::String(s.clone()))),
        ("description", Some(_)) => Err(invalid("must be a string")),
        ("labels", Some(Value::Object(labels))) if labels.values().all(Value::is_string) => {
            Ok(Some(Value::Object(labels.clone())))
        }
        ("labels", Some(_)) => Err(invalid("must be an object of string values")),
        (other, _) => Err(ApiError::InvalidArgument(format!(
            "updateMask: {what}.{other} cannot be changed"
        ))),
    }
}

/// A field mask path in camelCase (`display_name` → `displayName`).
fn camel(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A collection under `parent`, filtered by `filter` and paginated, as `{plural: [...]}`.
/// `fields` are the filter keys the collection allows beyond `display_name` and
/// `labels.<key>`, each with the document field it compares.
pub(crate) async fn list_filtered(
    state: &AppState,
    table: crate::registry::Table,
    parent: &str,
    params: &Params,
    plural: &str,
    fields: &[FilterField],
) -> Result<Value, ApiError> {
    let text = params.get("filter").map(String::as_str).unwrap_or("");
    let filter = ListFilter::parse(text, fields)?;
    let order = order_by(params)?;
    let mut items: Vec<Value> = state
        .registry
        .list(table, parent)
        .await?
        .into_iter()
        .filter(|item| filter.matches(item))
        .collect();
    if !order.is_empty() {
        // Each item's keys are read once (times parsed once), then a stable sort: equal
        // keys keep the creation order.
        let mut keyed: Vec<(Vec<SortKey>, Value)> = items
            .into_iter()
            .map(|item| {
                (
                    order.iter().map(|(f, _)| SortKey::of(&item, f)).collect(),
                    item,
                )
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            a.iter()
                .zip(b)
                .zip(&order)
                .map(|((x, y), (_, descending))| {
                    let ordering = x.cmp(y);
                    if *descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        items = keyed.into_iter().map(|(_, item)| item).collect();
    }
    paginate(items, params, plural)
}

/// A document's value for one `orderBy` key: times compare as points in time, names as text.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Time(Option<time::OffsetDateTime>),
    Text(Option<String>),
}

impl SortKey {
    fn of(doc: &Value, field: &str) -> Self {
        let text = doc[field].as_str();
        if field.ends_with("Time") {
            SortKey::Time(text.and_then(crate::time::parse_rfc3339))
        } else {
            SortKey::Text(text.map(String::from))
        }
    }
}

/// `orderBy`: comma-separated `display_name`, `create_time` or `update_time` (camelCase
/// too), each optionally followed by `desc`; (document field, descending) per key.
fn order_by(params: &Params) -> Result<Vec<(String, bool)>, ApiError> {
    let text = query(params, "orderBy").unwrap_or_default();
    text.split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| {
            let mut words = key.split_whitespace();
            let field = camel(words.next().unwrap_or_default());
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(ApiError::InvalidArgument(format!(
                        "orderBy: '{other}' in '{key}' is neither asc nor desc"
                    )))
                }
            };
            if !matches!(field.as_str(), "displayName" | "createTime" | "updateTime")
                || words.next().is_some()
            {
                return Err(ApiError::InvalidArgument(format!(
                    "orderBy: cannot order by '{key}' (use display_name, create_time or \
                     update_time, each optionally followed by desc)"
                )));
            }
            Ok((field, descending))
        })
        .collect()
}

/// Applies `pageSize` / `pageToken` (an offset) to a full list.
pub(crate) fn paginate(
    items: Vec<Value>,
    params: &Params,
    plural: &str,
) -> Result<Value, ApiError> {
    let size = match query(params, "pageSize") {
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::InvalidArgument(format!("pageSize: not a number: {s}")))?,
        None => 0,
    };
    let start = match query(params, "pageToken").filter(|s| !s.is_empty()) {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::InvalidArgument(format!("pageToken: invalid token {t}")))?,
        None => 0,
    };
    let size = if size == 0 { 100 } else { size.min(1000) };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    let mut out = serde_json::Map::new();
    out.insert(plural.into(), Value::Array(page));
    if start + size < total {
        out.insert(
            "nextPageToken".into(),
            Value::String((start + size).to_string()),
        );
    }
    Ok(Value::Object(out))
}

/// A filter key a list allows, and the (top-level, string) document field it compares.
pub(crate) type FilterField = (&'static str, &'static str);

/// The subset of the list filter grammar Prism understands: `key="value"` terms joined by
/// `AND`, the keys `display_name`, `labels.<key>` and those a collection adds.
pub(crate) struct ListFilter {
    /// (document field or `labels.<key>`, wanted value).
    terms: Vec<(String, String)>,
}

impl ListFilter {
    pub(crate) fn parse(text: &str, fields: &[FilterField]) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in text.split(" AND ").map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                ApiError::InvalidArgument(format!("filter: cannot read '{part}'"))
            })?;
            let key = key.trim();
            let value = value.trim().trim_matches('"').to_string();
            let field = if key == "display_name" || key == "displayName" {
                "displayName".to_string()
            } else if key.starts_with("labels.") {
                key.to_string()
            } else if let Some((_, field)) = fields.iter().find(|(k, _)| *k == key) {
                field.to_string()
            } else {
                let mut known = vec!["display_name"];
                known.extend(fields.iter().map(|(k, _)| *k));
                known.push("labels.<key>");
                return Err(ApiError::InvalidArgument(format!(
                    "filter: unsupported field '{key}' (use {})",
                    known.join(", ")
                )));
            };
            terms.push((field, value));
        }
        Ok(Self { terms })
    }

    pub(crate) fn matches(&self, doc: &Value) -> bool {
        self.terms.iter().all(|(field, want)| {
            let got = match field.strip_prefix("labels.") {
                Some(label) => doc["labels"][label].as_str(),
                None => doc[field.as_str()].as_str(),
            };
            got == Some(want.as_str())
        })
    }
}
