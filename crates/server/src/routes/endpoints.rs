//! `endpoints`: create, get, list, patch, delete, deployModel, undeployModel.

use std::sync::Arc;

use prism_engine::{Explainer, ExplanationSpec, LoadOptions};
use serde_json::{json, Map, Value};

use super::{field, required_str, Params};
use crate::error::ApiError;
use crate::names::{check_endpoint_id, new_numeric_id};
use crate::operations::{self, TYPE_PREFIX};
use crate::registry::Table;
use crate::state::{AppState, Deployed};
use crate::time::now_rfc3339;

/// `POST {parent}/endpoints[?endpointId=]` with the Endpoint as body → Operation.
pub(crate) async fn create(
    state: &AppState,
    parent: &str,
    params: &Params,
    body: Value,
) -> Result<Value, ApiError> {
    let display_name = required_str(&body, "displayName", "endpoint.displayName")?;
    let id = match super::query(params, "endpointId") {
        Some(id) => {
            check_endpoint_id(id)?;
            id.to_string()
        }
        None => new_numeric_id(),
    };
    let name = format!("{parent}/endpoints/{id}");
    let now = now_rfc3339();
    let mut doc = json!({
        "name": name,
        "displayName": display_name,
        "deployedModels": [],
        "trafficSplit": {},
        "etag": now,
        "createTime": now,
        "updateTime": now,
    });
    for key in ["description", "labels"] {
        if let Some(v) = field(&body, key) {
            doc[key] = v.clone();
        }
    }
    state
        .registry
        .create(Table::Endpoints, &name, parent, &doc)
        .await?;
    let op = operations::start(state, &name, "CreateEndpointOperationMetadata").await?;
    let op_name = op["name"].as_str().unwrap_or_default().to_string();
    let mut response = doc.clone();
    response["@type"] = json!(format!("{TYPE_PREFIX}Endpoint"));
    operations::finish(state, &op_name, Ok(response)).await?;
    operations::get(state, &op_name).await
}

/// `GET …/endpoints/{id}`.
pub(crate) async fn get(state: &AppState, name: &str) -> Result<Value, ApiError> {
    state.registry.get_required(Table::Endpoints, name).await
}

/// `GET {parent}/endpoints`.
pub(crate) async fn list(
    state: &AppState,
    parent: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    super::list_filtered(state, Table::Endpoints, parent, params, "endpoints", &[]).await
}

/// `PATCH …/endpoints/{id}?updateMask=…`: changes `displayName`, `description`, `labels`
/// or `trafficSplit` (over the deployed models, summing to 100; or empty, to take the
/// endpoint off traffic).
pub(crate) async fn patch(
    state: &AppState,
    name: &str,
    params: &Params,
    body: &Value,
) -> Result<Value, ApiError> {
    super::patch_resource(
        state,
        Table::Endpoints,
        name,
        params,
        body,
        |endpoint, path, value| match (path, value) {
            ("trafficSplit", None) => Ok(Some(json!({}))),
            ("trafficSplit", Some(Value::Object(split))) if split.is_empty() => Ok(Some(json!({}))),
            ("trafficSplit", Some(split @ Value::Object(_))) => {
                new_traffic_split(endpoint, Some(split), None, None).map(Some)
            }
            ("trafficSplit", Some(_)) => Err(ApiError::InvalidArgument(
                "trafficSplit: must be an object of deployed model ids to percentages".into(),
            )),
            _ => super::described_field("endpoint", path, value),
        },
    )
    .await
}

/// `DELETE …/endpoints/{id}` → Operation; refused while models are deployed on it.
pub(crate) async fn delete(state: &AppState, name: &str) -> Result<Value, ApiError> {
    let endpoint = get(state, name).await?;
    if endpoint["deployedModels"]
        .as_array()
        .is_some_and(|d| !d.is_empty())
    {
        return Err(ApiError::FailedPrecondition(format!(
            "endpoint {name} has deployed models; undeploy them first"
        )));
    }
    operations::delete_resource(state, Table::Endpoints, name).await
}

/// `POST …/endpoints/{id}:deployModel` `{deployedModel, trafficSplit?}` → Operation.
pub(crate) async fn deploy(
    state: &Arc<AppState>,
    endpoint_name: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let endpoint = get(state, endpoint_name).await?;
    let requested = field(&body, "deployedModel")
        .filter(|d| d.is_object())
        .ok_or_else(|| ApiError::InvalidArgument("deployedModel: is required".into()))?
        .clone();
    let model_name = required_str(&requested, "model", "deployedModel.model")?.to_string();
    let model = super::models::get(state, &model_name).await?;
    let deployed_spec = match field(&requested, "explanationSpec") {
        Some(v) => Some(ExplanationSpec::from_value(v.clone()).map_err(|e| {
            ApiError::InvalidArgument(e.with_prefix("deployedModel.explanationSpec").to_string())
        })?),
        None => None,
    };
    let id = new_deployed_id();
    let split = field(&body, "trafficSplit").cloned();
    // Check the split now, so a bad request fails before any work starts.
    new_traffic_split(&endpoint, split.as_ref(), Some(&id), None)?;
    let op = operations::start(state, endpoint_name, "DeployModelOperationMetadata").await?;
    let op_name = op["name"].as_str().unwrap_or_default().to_string();
    let (st, endpoint_name) = (state.clone(), endpoint_name.to_string());
    operations::spawn(state.clone(), op_name, async move {
        let now = now_rfc3339();
        let mut deployed = json!({
            "id": id,
            "model": model_name,
            "modelVersionId": "1",
            "displayName": field(&requested, "displayName").cloned().unwrap_or_else(|| model["displayName"].clone()),
            "createTime": now,
        });
        if let Some(spec) = &deployed_spec {
            deployed["explanationSpec"] = spec.to_json_value();
        }
        let explainer = load_explainer(&st, &model, deployed_spec.as_ref()).await?;
        // Compare-and-swap on the endpoint: deployments on several nodes at once all land.
        let mut split_before = Value::Null;
        st.registry
            .update(Table::Endpoints, &endpoint_name, |endpoint| {
                split_before = endpoint["trafficSplit"].clone();
                let split = new_traffic_split(endpoint, split.as_ref(), Some(&id), None)?;
                push(&mut endpoint["deployedModels"], deployed.clone());
                endpoint["trafficSplit"] = split;
                endpoint["updateTime"] = json!(now);
                Ok(())
            })
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("endpoint {endpoint_name} not found")))?;
        let listed = st
            .registry
            .update(Table::Models, &model_name, |model_doc| {
                push(
                    &mut model_doc["deployedModels"],
                    json!({"endpoint": endpoint_name, "deployedModelId": id}),
                );
                Ok(())
            })
            .await?;
        if listed.is_none() {
            // Deleted while it loaded (its delete saw no deployment yet): take the
            // deployment back off the endpoint rather than serve a model that is gone.
            st.registry
                .update(Table::Endpoints, &endpoint_name, |endpoint| {
                    withdraw(endpoint, &id, &split_before);
                    Ok(())
                })
                .await?;
            return Err(ApiError::NotFound(format!(
                "model {model_name} was deleted while it was being deployed"
            )));
        }
        register(&st, &id, &endpoint_name, &model_name, &model, explainer).await;
        Ok(json!({"@type": format!("{TYPE_PREFIX}DeployModelResponse"), "deployedModel": deployed}))
    });
    Ok(op)
}

/// Removes deployed model `id` from an endpoint it was just added to, and its share of the
/// traffic: the split from before (`split_before`) comes back when the endpoint serves the
/// same models as then; otherwise (another deployment changed it meanwhile) only `id`'s
/// entry goes.
fn withdraw(endpoint: &mut Value, id: &str, split_before: &Value) {
    if let Some(list) = endpoint["deployedModels"].as_array_mut() {
        list.retain(|d| d["id"].as_str() != Some(id));
    }
    let mut split = endpoint["trafficSplit"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    split.remove(id);
    let same_models = split_before.as_object().is_some_and(|before| {
        let keys = |m: &serde_json::Map<String, Value>| {
            m.keys().cloned().collect::<std::collections::BTreeSet<_>>()
        };
        keys(before) == keys(&split)
    });
    endpoint["trafficSplit"] = if same_models {
        split_before.clone()
    } else {
        Value::Object(split)
    };
}

/// `POST …/endpoints/{id}:undeployModel` `{deployedModelId, trafficSplit?}` → Operation.
pub(crate) async fn undeploy(
    state: &Arc<AppState>,
    endpoint_name: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let id = required_str(&body, "deployedModelId", "deployedModelId")?.to_string();
    let now = now_rfc3339();
    // Compare-and-swap on the endpoint: checked and changed as one step, across nodes.
    let (_, gone) = state
        .registry
        .update(Table::Endpoints, endpoint_name, |endpoint| {
            let models = endpoint["deployedModels"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let Some(gone) = models
                .iter()
                .find(|d| d["id"].as_str() == Some(&id))
                .cloned()
            else {
                return Err(ApiError::NotFound(format!(
                    "endpoint {endpoint_name} has no deployed model {id}"
                )));
            };
            let split = new_traffic_split(endpoint, field(&body, "trafficSplit"), None, Some(&id))?;
            endpoint["deployedModels"] = Value::Array(
                models
                    .into_iter()
                    .filter(|d| d["id"].as_str() != Some(&id))
                    .collect(),
            );
            endpoint["trafficSplit"] = split;
            endpoint["updateTime"] = json!(now);
            Ok(gone)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("endpoint {endpoint_name} not found")))?;
    let op = operations::start(state, endpoint_name, "UndeployModelOperationMetadata").await?;
    let op_name = op["name"].as_str().unwrap_or_default().to_string();
    if let Some(model_name) = gone["model"].as_str() {
        state
            .registry
            .update(Table::Models, model_name, |model| {
                if let Some(list) = model["deployedModels"].as_array_mut() {
                    list.retain(|d| d["deployedModelId"].as_str() != Some(&id));
                }
                Ok(())
            })
            .await?;
    }
    state.deployed.write().await.remove(&id);
    operations::finish(
        state,
        &op_name,
        Ok(json!({"@type": format!("{TYPE_PREFIX}UndeployModelResponse")})),
    )
    .await?;
    operations::get(state, &op_name).await
}

/// The explainer of a model as deployed: the model's spec, with the DeployedModel's spec
/// over it (its parameters, and its metadata when it has one).
pub(crate) async fn load_explainer(
    state: &AppState,
    model: &Value,
    deployed_spec: Option<&ExplanationSpec>,
) -> Result<Explainer, ApiError> {
    let id = model["name"]
        .as_str()
        .and_then(|n| n.rsplit('/').next())
        .unwrap_or_default();
    let dir = state.model_dir(id);
    if !dir.join(prism_engine::MODEL_FILE).is_file() {
        // Uploaded through another server node on another machine: fetched from the
        // model's artifactUri (an s3:// or gs:// prefix, or a folder this node also sees).
        let uri = model["artifactUri"].as_str().unwrap_or_default();
        let source = super::models::artifact_source(uri).await.map_err(|e| {
            ApiError::FailedPrecondition(format!(
                "the artifacts of {} are not on this node and cannot be fetched: {e}",
                model["name"].as_str().unwrap_or(id)
            ))
        })?;
        let to = dir.clone();
        tokio::task::spawn_blocking(move || super::models::fetch_artifacts(&source, &to))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
    }
    let model_spec = match model.get("explanationSpec") {
        Some(v) if !v.is_null() => Some(
            ExplanationSpec::from_value(v.clone())
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        _ => None,
    };
    let spec = match (model_spec, deployed_spec) {
        (Some(m), Some(d)) => Some(ExplanationSpec {
            parameters: d.parameters.clone(),
            metadata: d.metadata.clone().or(m.metadata),
        }),
        (m, d) => d.cloned().or(m),
    };
    let options = LoadOptions {
        backend: state.config.backend,
        spec,
    };
    tokio::task::spawn_blocking(move || {
        Explainer::load_with_options(&dir, &options).and_then(|e| e.prepared().map(|()| e))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::FailedPrecondition(format!("the model does not load: {e}")))
}

/// Loads every model deployed on any endpoint (at server start), and drops loaded models
/// no endpoint has any more (a registry shared with other server nodes, at each heartbeat).
/// Returns how many it loaded.
pub(crate) async fn load_all_deployed(state: &AppState) -> Result<usize, ApiError> {
    // Loaded before the registry is read: a model registered after this was deployed
    // after its endpoint was written, so it is never dropped by mistake.
    let loaded: Vec<String> = state.deployed.read().await.keys().cloned().collect();
    let mut wanted = Vec::new();
    for endpoint in state.registry.all(Table::Endpoints).await? {
        let Some(endpoint_name) = endpoint["name"].as_str() else {
            continue;
        };
        for d in endpoint["deployedModels"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            wanted.push((endpoint_name.to_string(), d));
        }
    }
    let gone: Vec<&String> = loaded
        .iter()
        .filter(|id| {
            !wanted
                .iter()
                .any(|(_, d)| d["id"].as_str() == Some(id.as_str()))
        })
        .collect();
    if !gone.is_empty() {
        let mut deployed = state.deployed.write().await;
        for id in gone {
            deployed.remove(id);
        }
    }
    let mut count = 0;
    for (endpoint_name, d) in wanted {
        let Some(id) = d["id"].as_str() else {
            continue;
        };
        if state.deployed.read().await.contains_key(id) {
            continue;
        }
        match ensure_loaded(state, &endpoint_name, &d).await {
            Ok(_) => count += 1,
            Err(e) => {
                tracing::error!(deployed_model = id, error = %e, "cannot load deployed model")
            }
        }
    }
    Ok(count)
}

/// The deployed model `d` (an entry of the endpoint's `deployedModels`), loaded in this
/// process: at once when it is loaded already, else loaded now (another server node may
/// have deployed it). Concurrent callers for one model wait for the same load.
pub(crate) async fn ensure_loaded(
    state: &AppState,
    endpoint_name: &str,
    d: &Value,
) -> Result<Deployed, ApiError> {
    let id = d["id"].as_str().unwrap_or_default();
    if let Some(loaded) = state.deployed.read().await.get(id) {
        return Ok(loaded.clone());
    }
    let lock = match state.loading.lock() {
        Ok(mut loading) => loading.entry(id.to_string()).or_default().clone(),
        Err(_) => {
            return Err(ApiError::Internal(
                "the model loading table is poisoned".into(),
            ))
        }
    };
    let _loading = lock.lock().await;
    if let Some(loaded) = state.deployed.read().await.get(id) {
        return Ok(loaded.clone());
    }
    let loaded = async {
        let model_name = d["model"].as_str().unwrap_or_default();
        let model = state
            .registry
            .get(Table::Models, model_name)
            .await?
            .ok_or_else(|| {
                ApiError::FailedPrecondition(format!(
                    "deployed model {id}: its model {model_name} is gone"
                ))
            })?;
        let spec = match d.get("explanationSpec") {
            Some(v) if !v.is_null() => Some(
                ExplanationSpec::from_value(v.clone())
                    .map_err(|e| ApiError::Internal(format!("deployed model {id}: {e}")))?,
            ),
            _ => None,
        };
        let explainer = load_explainer(state, &model, spec.as_ref())
            .await
            .map_err(|e| {
                ApiError::FailedPrecondition(format!(
                    "deployed model {id} cannot be loaded on this server: {e}"
                ))
            })?;
        Ok(register(state, id, endpoint_name, model_name, &model, explainer).await)
    }
    .await;
    if let Ok(mut loading) = state.loading.lock() {
        loading.remove(id);
    }
    loaded
}

/// Makes a loaded model servable under its DeployedModel id.
async fn register(
    state: &AppState,
    id: &str,
    endpoint: &str,
    model_name: &str,
    model: &Value,
    explainer: Explainer,
) -> Deployed {
    let deployed = Deployed {
        id: id.to_string(),
        endpoint: endpoint.to_string(),
        model: model_name.to_string(),
        model_display_name: model["displayName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        explainer: Arc::new(explainer),
    };
    state
        .deployed
        .write()
        .await
        .insert(id.to_string(), deployed.clone());
    deployed
}

/// The traffic split after deploying `adding` or undeploying `removing`.
///
/// A given split replaces the old one (key `"0"` = the model being deployed) and must sum to
/// 100 over deployed ids. Without one: the first model deployed takes 100; later ones take 0;
/// undeploying a model that holds traffic needs a new split, unless it is the last model.
fn new_traffic_split(
    endpoint: &Value,
    given: Option<&Value>,
    adding: Option<&str>,
    removing: Option<&str>,
) -> Result<Value, ApiError> {
    let mut ids: Vec<String> = endpoint["deployedModels"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(r) = removing {
        ids.retain(|i| i != r);
    }
    if let Some(a) = adding {
        ids.push(a.to_string());
    }
    let old = endpoint["trafficSplit"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let split: Map<String, Value> = match given.and_then(Value::as_object).filter(|m| !m.is_empty())
    {
        Some(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = if k == "0" {
                    adding.unwrap_or("0").to_string()
                } else {
                    k.clone()
                };
                if !ids.contains(&key) {
                    return Err(ApiError::InvalidArgument(format!(
                        "trafficSplit: {k} is not a deployed model of this endpoint"
                    )));
                }
                let pct = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| {
                        ApiError::InvalidArgument(format!(
                            "trafficSplit: {k}: must be an integer 0..=100"
                        ))
                    })?;
                out.insert(key, json!(pct));
            }
            out
        }
        None => {
            let mut out: Map<String, Value> =
                old.into_iter().filter(|(k, _)| ids.contains(k)).collect();
            if let Some(r) = removing {
                let held = endpoint["trafficSplit"][r].as_u64().unwrap_or(0);
                if held > 0 && !ids.is_empty() {
                    return Err(ApiError::FailedPrecondition(format!(
                        "deployed model {r} holds {held}% of the traffic; give a trafficSplit that moves it"
                    )));
                }
            }
            if let Some(a) = adding {
                let first = ids.len() == 1;
                out.insert(a.to_string(), json!(if first { 100 } else { 0 }));
            }
            out
        }
    };
    let total: u64 = split.values().filter_map(Value::as_u64).sum();
    if !split.is_empty() && total != 100 && !ids.is_empty() {
        return Err(ApiError::InvalidArgument(format!(
            "trafficSplit: must sum to 100, sums to {total}"
        )));
    }
    Ok(Value::Object(split))
}

fn push(list: &mut Value, item: Value) {
    match list.as_array_mut() {
        Some(a) => a.push(item),
        None => *list = Value::Array(vec![item]),
    }
}

/// DeployedModel ids are 1 to 10 digits.
fn new_deployed_id() -> String {
    (rand::random::<u64>() % 9_000_000_000 + 1_000_000_000).to_string()
}
