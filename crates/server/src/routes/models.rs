//! `models`: upload (an operation), get, list, patch, listVersions, delete,
//! updateExplanationDataset (an operation).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prism_engine::storage::{Location, StorageError};
use prism_engine::{examples, Explainer, ExplanationSpec, LoadOptions};
use serde_json::{json, Value};

use super::{field, required_str, Params};
use crate::error::ApiError;
use crate::names::{check_model_id, new_numeric_id};
use crate::operations::{self, TYPE_PREFIX};
use crate::registry::Table;
use crate::state::AppState;
use crate::time::now_rfc3339;

/// `POST {parent}/models:upload` → Operation.
pub(crate) async fn upload(
    state: &Arc<AppState>,
    parent: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let model = field(&body, "model")
        .filter(|m| m.is_object())
        .ok_or_else(|| ApiError::InvalidArgument("model: is required".into()))?
        .clone();
    let display_name = required_str(&model, "displayName", "model.displayName")?.to_string();
    let artifact_uri = required_str(&model, "artifactUri", "model.artifactUri")?.to_string();
    let source = artifact_source(&artifact_uri).await?;
    let spec = match field(&model, "explanationSpec") {
        Some(v) => Some(ExplanationSpec::from_value(v.clone()).map_err(|e| {
            ApiError::InvalidArgument(e.with_prefix("model.explanationSpec").to_string())
        })?),
        None => None,
    };
    let id = match field(&body, "modelId").and_then(Value::as_str) {
        Some(id) => {
            check_model_id(id)?;
            id.to_string()
        }
        None => new_numeric_id(),
    };
    let name = format!("{parent}/models/{id}");
    if state.registry.get(Table::Models, &name).await?.is_some() {
        return Err(ApiError::AlreadyExists(format!(
            "model {name} already exists"
        )));
    }
    let op = operations::start(state, &name, "UploadModelOperationMetadata").await?;
    let op_name = op["name"].as_str().unwrap_or_default().to_string();
    let (st, parent) = (state.clone(), parent.to_string());
    operations::spawn(state.clone(), op_name, async move {
        // Each upload works in its own folder and claims the name only when the model has
        // loaded: two uploads of one modelId at once (on one node or two) never write the
        // same folder, and the registry's insert-if-absent picks the one that stays.
        let dest = st.model_dir(&id);
        let staging = partial_dir(&dest)?;
        let copied = staging.clone();
        let backend = st.config.backend;
        let explainer = tokio::task::spawn_blocking(move || -> Result<Explainer, ApiError> {
            fetch_artifacts(&source, &copied)?;
            let options = LoadOptions { backend, spec };
            // Prepared whole now: a model that cannot serve predictions fails its upload.
            let loaded = Explainer::load_with_options(&copied, &options)
                .and_then(|e| e.prepared().map(|()| e))
                .map_err(|e| ApiError::InvalidArgument(format!("the model does not load: {e}")))
                .and_then(|explainer| {
                    build_example_index(&explainer, &copied)?;
                    Ok(explainer)
                });
            if loaded.is_err() {
                let _ = std::fs::remove_dir_all(&copied);
            }
            loaded
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
        let now = now_rfc3339();
        let mut doc = json!({
            "name": name,
            "versionId": "1",
            "versionAliases": ["default"],
            "displayName": display_name,
            "artifactUri": artifact_uri,
            "explanationSpec": explainer.spec().to_json_value(),
            "supportedInputStorageFormats": ["jsonl"],
            "supportedOutputStorageFormats": ["jsonl"],
            "createTime": now,
            "updateTime": now,
            "versionCreateTime": now,
            "versionUpdateTime": now,
        });
        for key in ["description", "labels"] {
            if let Some(v) = field(&model, key) {
                doc[key] = v.clone();
            }
        }
        let discard = |dir: &Path| {
            let _ = std::fs::remove_dir_all(dir);
        };
        if let Err(e) = st
            .registry
            .create(Table::Models, &name, &parent, &doc)
            .await
        {
            discard(&staging);
            return Err(match e {
                ApiError::AlreadyExists(_) => {
                    ApiError::AlreadyExists(format!("model {name} already exists"))
                }
                other => other,
            });
        }
        // The name is ours: whatever folder is there is a leftover (or a deployment's
        // fetch of these same artifacts racing this line).
        discard(&dest);
        if let Err(e) = std::fs::rename(&staging, &dest) {
            discard(&staging);
            if !dest.join(prism_engine::MODEL_FILE).is_file() {
                let _ = st.registry.delete(Table::Models, &name).await;
                return Err(ApiError::Internal(format!("placing the artifacts: {e}")));
            }
        }
        Ok(json!({
            "@type": format!("{TYPE_PREFIX}UploadModelResponse"),
            "model": name,
            "modelVersionId": "1",
        }))
    });
    Ok(op)
}

/// For an example-based model whose spec names its dataset (`exampleGcsSource`), embeds
/// the dataset and writes the index into the model directory.
fn build_example_index(explainer: &Explainer, dir: &Path) -> Result<(), ApiError> {
    let (Some(search), prism_engine::Method::Examples(settings)) =
        (explainer.examples(), &explainer.spec().parameters.method)
    else {
        return Ok(());
    };
    let Some(source) = &settings.example_gcs_source else {
        return Ok(());
    };
    let invalid = |e: prism_engine::EngineError| {
        ApiError::InvalidArgument(format!(
            "explanationSpec.parameters.examples.exampleGcsSource: {e}"
        ))
    };
    let dataset = examples::open_dataset(&source.gcs_source.uris).map_err(invalid)?;
    let (index, report) =
        examples::build_index(search, settings, dataset, |_| {}).map_err(invalid)?;
    if let Some((line, message)) = report.skipped.first() {
        tracing::warn!(
            skipped = report.skipped.len(),
            line,
            message,
            "example lines skipped"
        );
    }
    examples::save_index(&index, dir).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST …/models/{id}:updateExplanationDataset` `{examples: {exampleGcsSource}}` →
/// Operation: embeds the new examples and adds them to the model's index (built when the
/// model had none). Endpoints serving the model keep the index they loaded until the model
/// is deployed again.
pub(crate) async fn update_explanation_dataset(
    state: &Arc<AppState>,
    name: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let model = get(state, name).await?;
    let uris: Vec<String> = field(&body, "examples")
        .and_then(|e| field(e, "exampleGcsSource"))
        .and_then(|s| field(s, "gcsSource"))
        .and_then(|g| field(g, "uris"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if uris.is_empty() {
        return Err(ApiError::InvalidArgument(
            "examples.exampleGcsSource.gcsSource.uris: is required".into(),
        ));
    }
    let id = name.rsplit('/').next().unwrap_or_default().to_string();
    let dir = state.model_dir(&id);
    let spec = ExplanationSpec::from_value(model["explanationSpec"].clone())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let op = operations::start(state, name, "UpdateExplanationDatasetOperationMetadata").await?;
    let op_name = op["name"].as_str().unwrap_or_default().to_string();
    let model_name = name.to_string();
    operations::spawn(state.clone(), op_name, async move {
        tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
            let explainer = Explainer::load_with_spec(&dir, &spec).map_err(|e| {
                ApiError::FailedPrecondition(format!("the model does not load: {e}"))
            })?;
            let search = explainer.examples().ok_or_else(|| {
                ApiError::FailedPrecondition(format!(
                    "model {model_name} does not give example-based explanations"
                ))
            })?;
            let invalid = |e: prism_engine::EngineError| {
                ApiError::InvalidArgument(format!("examples.exampleGcsSource: {e}"))
            };
            let dataset = examples::open_dataset(&uris).map_err(invalid)?;
            let index = match search.index() {
                Some(current) => {
                    let mut index = examples::load_index(&dir)
                        .map_err(|e| ApiError::Internal(e.to_string()))?
                        .ok_or_else(|| ApiError::Internal("the index went missing".into()))?;
                    drop(current);
                    examples::extend_index(search, &mut index, dataset, |_| {}).map_err(invalid)?;
                    index
                }
                None => {
                    let prism_engine::Method::Examples(settings) =
                        &explainer.spec().parameters.method
                    else {
                        unreachable!("examples() is Some only for example-based specs")
                    };
                    examples::build_index(search, settings, dataset, |_| {})
                        .map_err(invalid)?
                        .0
                }
            };
            examples::save_index(&index, &dir).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
        Ok(json!({"@type": format!("{TYPE_PREFIX}UpdateExplanationDatasetResponse")}))
    });
    Ok(op)
}

/// `GET …/models/{id}` (a `@version` suffix is accepted and ignored: one version per model).
pub(crate) async fn get(state: &AppState, name: &str) -> Result<Value, ApiError> {
    let name = name.split('@').next().unwrap_or(name);
    state.registry.get_required(Table::Models, name).await
}

/// `PATCH …/models/{id}?updateMask=…`: changes `displayName`, `description` or `labels`.
pub(crate) async fn patch(
    state: &AppState,
    name: &str,
    params: &Params,
    body: &Value,
) -> Result<Value, ApiError> {
    let name = name.split('@').next().unwrap_or(name);
    super::patch_resource(
        state,
        Table::Models,
        name,
        params,
        body,
        |_, path, value| super::described_field("model", path, value),
    )
    .await
}

/// `GET …/models/{id}:listVersions`: a Prism model has one version, the model itself.
pub(crate) async fn list_versions(
    state: &AppState,
    name: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let model = get(state, name).await?;
    super::paginate(vec![model], params, "models")
}

/// `GET {parent}/models` with `filter` (`display_name="…"`, `labels.k="v"`, joined by AND),
/// `pageSize`, `pageToken`.
pub(crate) async fn list(
    state: &AppState,
    parent: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    super::list_filtered(state, Table::Models, parent, params, "models", &[]).await
}

/// `DELETE …/models/{id}` → Operation; refused while the model is deployed or a batch
/// prediction job that has not ended uses it.
pub(crate) async fn delete(state: &Arc<AppState>, name: &str) -> Result<Value, ApiError> {
    let model = get(state, name).await?;
    let name = model["name"].as_str().unwrap_or(name);
    if super::batch_jobs::model_in_use(state, name).await? {
        return Err(ApiError::FailedPrecondition(format!(
            "model {name} is used by a batch prediction job that has not ended; cancel it first"
        )));
    }
    // Checked as the model is deleted, not only as read: a deployment on another node
    // that lists itself on the model in between makes the delete look again and refuse.
    let op = operations::delete_resource_if(state, Table::Models, name, |model| {
        if model["deployedModels"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            return Err(ApiError::FailedPrecondition(format!(
                "model {name} is deployed to an endpoint; undeploy it first"
            )));
        }
        Ok(())
    })
    .await?;
    let id = name.rsplit('/').next().unwrap_or_default();
    let _ = tokio::fs::remove_dir_all(state.model_dir(id)).await;
    Ok(op)
}

/// Where a model's artifacts come from: a local folder (a path or `file://` URL), or an
/// `s3://` / `gs://` prefix.
pub(crate) enum ArtifactSource {
    Local(PathBuf),
    Remote(Location),
}

/// Checks `artifactUri` before an upload starts: it must name a folder or prefix holding
/// `model.onnx`, reachable with the credentials this server has.
pub(crate) async fn artifact_source(uri: &str) -> Result<ArtifactSource, ApiError> {
    let invalid =
        |message: String| ApiError::InvalidArgument(format!("model.artifactUri: {message}"));
    let location = Location::parse(uri).map_err(|e| invalid(e.to_string()))?;
    if !location.is_remote() {
        let path = location
            .local_path()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if !path.join(prism_engine::MODEL_FILE).is_file() {
            return Err(invalid(format!(
                "{} holds no {}",
                path.display(),
                prism_engine::MODEL_FILE
            )));
        }
        return Ok(ArtifactSource::Local(path));
    }
    let model = location.join(prism_engine::MODEL_FILE);
    match model.size_async().await {
        Ok(_) => Ok(ArtifactSource::Remote(location)),
        Err(StorageError::NotFound { .. }) => Err(invalid(format!(
            "{uri} holds no {}",
            prism_engine::MODEL_FILE
        ))),
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// Puts the artifacts into the model folder `to`, whole or not at all: copied or
/// downloaded into a sibling temporary folder, then renamed.
pub(crate) fn fetch_artifacts(source: &ArtifactSource, to: &Path) -> Result<(), ApiError> {
    match source {
        ArtifactSource::Local(from) => copy_dir(from, to),
        ArtifactSource::Remote(location) => {
            let temp = partial_dir(to)?;
            location.download_below(&temp).map_err(|e| {
                let _ = std::fs::remove_dir_all(&temp);
                ApiError::FailedPrecondition(format!("model.artifactUri: {e}"))
            })?;
            // Another fetch of the same model (a request racing a deployment) may have
            // placed it first: theirs stays, being in use.
            if to.join(prism_engine::MODEL_FILE).is_file() {
                let _ = std::fs::remove_dir_all(&temp);
                return Ok(());
            }
            std::fs::rename(&temp, to)
                .map_err(|e| ApiError::Internal(format!("placing the artifacts: {e}")))
        }
    }
}

/// A fresh temporary folder beside `to`.
fn partial_dir(to: &Path) -> Result<PathBuf, ApiError> {
    let io = |e: std::io::Error| ApiError::Internal(format!("copying artifacts: {e}"));
    let parent = to
        .parent()
        .ok_or_else(|| ApiError::Internal("bad artifact path".into()))?;
    std::fs::create_dir_all(parent).map_err(io)?;
    let temp = parent.join(format!(
        ".{}.{:016x}.partial",
        to.file_name().and_then(|n| n.to_str()).unwrap_or("model"),
        rand::random::<u64>()
    ));
    Ok(temp)
}

/// Copies a model directory into place atomically: into a sibling temporary folder, then
/// renamed, so a crash never leaves a half-copied model.
fn copy_dir(from: &Path, to: &Path) -> Result<(), ApiError> {
    let io = |e: std::io::Error| ApiError::Internal(format!("copying artifacts: {e}"));
    let temp = partial_dir(to)?;
    copy_tree(from, &temp).map_err(io)?;
    let _ = std::fs::remove_dir_all(to);
    std::fs::rename(&temp, to).map_err(io)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
