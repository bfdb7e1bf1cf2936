//! `batchPredictionJobs`: create, get, list, cancel, delete. Jobs are not operations:
//! clients poll `get` until `state` is terminal. The work itself runs in [`crate::jobs`].
//!
//! A job reads files or objects (`inputConfig.gcsSource.uris`: paths, `file://`, `s3://`,
//! `gs://` URLs, globs) and writes its job folder under
//! `outputConfig.gcsDestination.outputUriPrefix` (a local folder or an object store
//! prefix), as `prism batch` does; a job with an object store output runs in
//! `<data dir>/batch-work/` and uploads its files when it ends. Relative paths are taken
//! from the server's working directory and stored absolute, so a restarted server finds
//! the same files.

use std::sync::Arc;
use std::time::SystemTime;

use prism_engine::batch::{
    default_job_id, BatchOptions, InputFormat, InstanceConfig, InstanceType, OutputFormat,
};
use prism_engine::storage::Location;
use prism_engine::{ExplanationMetadata, ExplanationParameters, ExplanationSpec};
use serde_json::{json, Map, Value};

use super::{field, required_str, FilterField, Params};
use crate::error::ApiError;
use crate::jobs::{self, JobWork};
use crate::names::new_numeric_id;
use crate::operations;
use crate::registry::Table;
use crate::state::AppState;
use crate::time::rfc3339;

/// The root of field paths in this resource's errors.
const ROOT: &str = "batchPredictionJob";

/// The filter keys of `list` beyond `display_name` and `labels.<key>`.
const FILTER_FIELDS: &[FilterField] = &[("state", "state"), ("model", "model")];

/// The most instances per engine call a job may ask for.
const MAX_BATCH_SIZE: u64 = 100_000;

/// The runner's batch size when `manualBatchTuningParameters` is not given.
const DEFAULT_BATCH_SIZE: u64 = 64;

/// `POST {parent}/batchPredictionJobs` with a BatchPredictionJob → the job, QUEUED.
pub(crate) async fn create(
    state: &Arc<AppState>,
    parent: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let request = JobRequest::parse(&body, parent)?;
    let uris = request.uris.clone();
    tokio::task::spawn_blocking(move || prism_engine::batch::check_inputs(&uris))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| invalid("inputConfig.gcsSource.uris", e))?;
    let model = model_of(state, &request.model).await?;
    let model_display_name = model["displayName"].as_str().unwrap_or("model");
    let now = SystemTime::now();
    let name = format!("{parent}/batchPredictionJobs/{}", new_numeric_id());
    let job_id = default_job_id(model_display_name, now);
    let created = rfc3339(now);
    let mut doc = request.to_doc(&name);
    doc["state"] = json!(jobs::QUEUED);
    doc["createTime"] = json!(created);
    doc["updateTime"] = json!(created);
    doc["outputInfo"] = json!({"gcsOutputDirectory": format!(
        "{}/{job_id}",
        request.output_prefix.trim_end_matches('/')
    )});
    let work = request.work(state, &name, &model, job_id)?;
    // Owned before it exists, so no other node ever sees it unfinished without an owner.
    state.registry.claim(&name, &state.node.id).await?;
    let created = state
        .registry
        .create(Table::BatchPredictionJobs, &name, parent, &doc)
        .await;
    if let Err(e) = created {
        state.registry.release(&name).await?;
        return Err(e);
    }
    state.jobs.start(state.clone(), work, false);
    Ok(doc)
}

/// `GET …/batchPredictionJobs/{id}`.
pub(crate) async fn get(state: &AppState, name: &str) -> Result<Value, ApiError> {
    state
        .registry
        .get_required(Table::BatchPredictionJobs, name)
        .await
}

/// `GET {parent}/batchPredictionJobs` with `filter` (`display_name="…"`,
/// `state="JOB_STATE_…"`, `model="…"`, `labels.k="v"`, joined by AND), `pageSize`,
/// `pageToken`; oldest first.
pub(crate) async fn list(
    state: &AppState,
    parent: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    super::list_filtered(
        state,
        Table::BatchPredictionJobs,
        parent,
        params,
        "batchPredictionJobs",
        FILTER_FIELDS,
    )
    .await
}

/// `POST …/batchPredictionJobs/{id}:cancel` → `{}`. The job goes CANCELLING, finishes the
/// batch in progress and ends CANCELLED (or SUCCEEDED/FAILED if it ended first). Refused
/// for a job that has ended.
pub(crate) async fn cancel(state: &AppState, name: &str) -> Result<Value, ApiError> {
    let now = crate::time::now_rfc3339();
    state
        .registry
        .update(Table::BatchPredictionJobs, name, |doc| {
            let current = doc["state"].as_str().unwrap_or_default().to_string();
            if jobs::is_terminal(&current) {
                return Err(ApiError::FailedPrecondition(format!(
                    "batch prediction job {name} has ended ({current}) and cannot be cancelled"
                )));
            }
            if current != jobs::CANCELLING {
                doc["state"] = json!(jobs::CANCELLING);
                doc["updateTime"] = json!(now);
            }
            Ok(())
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("batch prediction job {name} not found")))?;
    state.jobs.cancel(name);
    Ok(json!({}))
}

/// `DELETE …/batchPredictionJobs/{id}` → a done Operation (DeleteOperationMetadata,
/// `google.protobuf.Empty`). Only a job that has ended can be deleted; its output files
/// stay.
pub(crate) async fn delete(state: &AppState, name: &str) -> Result<Value, ApiError> {
    let _guard = state.jobs.lock().await;
    let doc = get(state, name).await?;
    let current = doc["state"].as_str().unwrap_or_default();
    if !jobs::is_terminal(current) {
        return Err(ApiError::FailedPrecondition(format!(
            "batch prediction job {name} is {current}; cancel it and wait until it ends before deleting it"
        )));
    }
    operations::delete_resource(state, Table::BatchPredictionJobs, name).await
}

/// Restarts the workers of every unfinished job that no server node owns (at start; jobs
/// of stopped nodes are taken over by [`crate::nodes`], which calls [`resume`]).
pub(crate) async fn resume_all(state: &Arc<AppState>) -> Result<usize, ApiError> {
    let mut resumed = 0;
    for doc in state.registry.all(Table::BatchPredictionJobs).await? {
        let Some(name) = doc["name"].as_str().map(String::from) else {
            continue;
        };
        if jobs::is_terminal(doc["state"].as_str().unwrap_or_default()) {
            continue;
        }
        if state.registry.claim_free(&name, &state.node.id).await? && resume(state, &name).await? {
            resumed += 1;
        }
    }
    Ok(resumed)
}

/// Runs a job this node has just taken over (it was left unfinished): a queued or running
/// job runs again and resumes from its checkpoint; a job being cancelled ends CANCELLED.
/// A job whose document or model no longer makes sense ends FAILED. False when the job
/// is gone or has ended.
pub(crate) async fn resume(state: &Arc<AppState>, name: &str) -> Result<bool, ApiError> {
    let Some(doc) = state.registry.get(Table::BatchPredictionJobs, name).await? else {
        state.registry.release(name).await?;
        return Ok(false);
    };
    let current = doc["state"].as_str().unwrap_or_default().to_string();
    if jobs::is_terminal(&current) {
        state.registry.release(name).await?;
        return Ok(false);
    }
    let parent = jobs::parent_of(name);
    let work = async {
        let request = JobRequest::parse(&doc, &parent)?;
        let model = model_of(state, &request.model).await?;
        let job_id = doc["outputInfo"]["gcsOutputDirectory"]
            .as_str()
            .and_then(|d| d.rsplit('/').next())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ApiError::Internal("the job has no output directory".into()))?
            .to_string();
        request.work(state, name, &model, job_id)
    }
    .await;
    let cancelling = current == jobs::CANCELLING;
    let now = crate::time::now_rfc3339();
    let failed = work.as_ref().err().map(|e| {
        tracing::error!(job = %name, error = %e, "cannot resume a batch prediction job");
        json!({"code": e.rpc_code(), "message": e.to_string()})
    });
    state
        .registry
        .update(Table::BatchPredictionJobs, name, |doc| {
            if let Some(error) = &failed {
                doc["state"] = json!(jobs::FAILED);
                doc["error"] = error.clone();
                doc["endTime"] = json!(now);
                doc["updateTime"] = json!(now);
            } else if doc["state"] != json!(jobs::CANCELLING) {
                doc["state"] = json!(jobs::QUEUED);
            }
            Ok(())
        })
        .await?;
    match work {
        Ok(work) => {
            state.jobs.start(state.clone(), work, cancelling);
            Ok(true)
        }
        Err(_) => {
            state.registry.release(name).await?;
            Ok(false)
        }
    }
}

/// Whether a job that has not ended uses the model `model_name` (so it cannot be deleted).
pub(crate) async fn model_in_use(state: &AppState, model_name: &str) -> Result<bool, ApiError> {
    Ok(state
        .registry
        .all(Table::BatchPredictionJobs)
        .await?
        .iter()
        .any(|job| {
            let model = job["model"].as_str().unwrap_or_default();
            let model = model.split('@').next().unwrap_or(model);
            model == model_name && !jobs::is_terminal(job["state"].as_str().unwrap_or_default())
        }))
}

/// The registry model a job names (a `@version` suffix is accepted: one version per model).
async fn model_of(state: &AppState, model: &str) -> Result<Value, ApiError> {
    let base = model.split('@').next().unwrap_or(model);
    state
        .registry
        .get(Table::Models, base)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{ROOT}.model: model {base} not found")))
}

/// An INVALID_ARGUMENT naming a field of the job.
fn invalid(path: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidArgument(format!("{ROOT}.{path}: {message}"))
}

/// A BatchPredictionJob as created: every input field, checked.
#[derive(Debug, Clone)]
struct JobRequest {
    display_name: String,
    /// The model's resource name.
    model: String,
    format: InputFormat,
    /// Absolute paths, `file://` URIs or patterns.
    uris: Vec<String>,
    instance_config: InstanceConfig,
    /// As given, relative paths made absolute.
    output_prefix: String,
    output_format: OutputFormat,
    batch_size: u64,
    generate_explanation: bool,
    /// The job's `explanationSpec`: `parameters` and/or `metadata`, replacing the model's.
    explanation_spec: Option<Map<String, Value>>,
    labels: Map<String, Value>,
    /// Fields kept as given: they mean nothing to a local server but clients send them.
    passthrough: Map<String, Value>,
}

impl JobRequest {
    /// Reads a create request (camelCase or snake_case), or a stored document.
    fn parse(body: &Value, parent: &str) -> Result<Self, ApiError> {
        let display_name = required_str(body, "displayName", &format!("{ROOT}.displayName"))?;
        let model = required_str(body, "model", &format!("{ROOT}.model"))?;
        let model = if model.contains('/') {
            model.to_string()
        } else {
            format!("{parent}/models/{model}")
        };
        let (format, uris) = Self::input(body)?;
        let instance_config = Self::instance_config(body, format)?;
        let (output_prefix, output_format) = Self::output(body)?;
        let batch_size =
            match field(body, "manualBatchTuningParameters").and_then(|m| field(m, "batchSize")) {
                None => DEFAULT_BATCH_SIZE,
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|n| (1..=MAX_BATCH_SIZE).contains(n))
                    .ok_or_else(|| {
                        invalid(
                            "manualBatchTuningParameters.batchSize",
                            format!("must be an integer from 1 to {MAX_BATCH_SIZE}, got {v}"),
                        )
                    })?,
            };
        let generate_explanation = match field(body, "generateExplanation") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(invalid(
                    "generateExplanation",
                    format!("must be true or false, got {other}"),
                ))
            }
        };
        if generate_explanation && output_format == OutputFormat::Csv {
            return Err(invalid(
                "outputConfig.predictionsFormat",
                "csv output cannot hold explanations (generateExplanation needs jsonl output, \
                 as in Vertex)",
            ));
        }
        let explanation_spec = match field(body, "explanationSpec") {
            None => None,
            Some(_) if !generate_explanation => {
                return Err(invalid(
                    "explanationSpec",
                    "allowed only when generateExplanation is true",
                ))
            }
            Some(Value::Object(spec)) => {
                let mut kept = Map::new();
                for (key, value) in spec {
                    let at = format!("{ROOT}.explanationSpec.{key}");
                    let spell = |e: prism_engine::SpecError| {
                        ApiError::InvalidArgument(e.with_prefix(&at).to_string())
                    };
                    // Checked on their own here (and merged over the model's spec later),
                    // and kept as Vertex JSON: camelCase, enums by name.
                    let normalized = match key.as_str() {
                        _ if value.is_null() => continue,
                        "parameters" => ExplanationParameters::from_value(value.clone())
                            .map_err(spell)?
                            .to_json_value(),
                        "metadata" => ExplanationMetadata::from_value(value.clone())
                            .map_err(spell)?
                            .to_json_value(),
                        other => {
                            return Err(invalid(
                                &format!("explanationSpec.{other}"),
                                "unknown field (use parameters and metadata)",
                            ))
                        }
                    };
                    kept.insert(key.clone(), normalized);
                }
                Some(kept)
            }
            Some(other) => {
                return Err(invalid(
                    "explanationSpec",
                    format!("must be an object, got {other}"),
                ))
            }
        };
        if let Some(p) = field(body, "modelParameters") {
            if p.as_object().is_none_or(|o| !o.is_empty()) {
                return Err(invalid(
                    "modelParameters",
                    "not supported: Prism models take no prediction parameters",
                ));
            }
        }
        let labels = match field(body, "labels") {
            None => Map::new(),
            Some(Value::Object(map)) => {
                if let Some((k, v)) = map.iter().find(|(_, v)| !v.is_string()) {
                    return Err(invalid(
                        &format!("labels.{k}"),
                        format!("must be a string, got {v}"),
                    ));
                }
                map.clone()
            }
            Some(other) => {
                return Err(invalid("labels", format!("must be an object, got {other}")))
            }
        };
        let mut passthrough = Map::new();
        for key in [
            "dedicatedResources",
            "disableContainerLogging",
            "serviceAccount",
        ] {
            if let Some(v) = field(body, key) {
                passthrough.insert(key.into(), v.clone());
            }
        }
        Ok(Self {
            display_name: display_name.to_string(),
            model,
            format,
            uris,
            instance_config,
            output_prefix,
            output_format,
            batch_size,
            generate_explanation,
            explanation_spec,
            labels,
            passthrough,
        })
    }

    fn input(body: &Value) -> Result<(InputFormat, Vec<String>), ApiError> {
        let config =
            field(body, "inputConfig").ok_or_else(|| invalid("inputConfig", "is required"))?;
        let name = required_str(
            config,
            "instancesFormat",
            &format!("{ROOT}.inputConfig.instancesFormat"),
        )?;
        let format: InputFormat = name.parse().map_err(|e: prism_engine::EngineError| {
            let message = e.to_string();
            let message = message
                .strip_prefix("invalid batch job: ")
                .unwrap_or(&message)
                .to_string();
            invalid("inputConfig.instancesFormat", message)
        })?;
        if field(config, "bigquerySource").is_some() {
            return Err(invalid(
                "inputConfig.bigquerySource",
                "BigQuery inputs are not supported; use gcsSource with local files",
            ));
        }
        let uris = field(config, "gcsSource")
            .and_then(|g| field(g, "uris"))
            .ok_or_else(|| invalid("inputConfig.gcsSource.uris", "is required"))?;
        let list = uris.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
            invalid(
                "inputConfig.gcsSource.uris",
                "must be a non-empty list of URIs",
            )
        })?;
        let mut out = Vec::with_capacity(list.len());
        for (i, uri) in list.iter().enumerate() {
            let path = format!("inputConfig.gcsSource.uris[{i}]");
            let uri = uri
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid(&path, format!("must be a non-empty string, got {uri}")))?;
            out.push(storage_uri(uri).map_err(|m| invalid(&path, m))?);
        }
        Ok((format, out))
    }

    fn instance_config(body: &Value, format: InputFormat) -> Result<InstanceConfig, ApiError> {
        let Some(config) = field(body, "instanceConfig") else {
            return Ok(InstanceConfig::default());
        };
        if !config.is_object() {
            return Err(invalid(
                "instanceConfig",
                format!("must be an object, got {config}"),
            ));
        }
        let instance_type = match field(config, "instanceType") {
            None => None,
            Some(v) => match v.as_str() {
                Some("object") => Some(InstanceType::Object),
                Some("array") => Some(InstanceType::Array),
                _ => {
                    return Err(invalid(
                        "instanceConfig.instanceType",
                        format!("must be \"object\" or \"array\", got {v}"),
                    ))
                }
            },
        };
        let key_field = match field(config, "keyField") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(v) => {
                return Err(invalid(
                    "instanceConfig.keyField",
                    format!("must be a non-empty string, got {v}"),
                ))
            }
        };
        let list = |camel: &str| -> Result<Vec<String>, ApiError> {
            match field(config, camel) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(String::from).ok_or_else(|| {
                            invalid(
                                &format!("instanceConfig.{camel}"),
                                format!("must list field names, got {i}"),
                            )
                        })
                    })
                    .collect(),
                Some(v) => Err(invalid(
                    &format!("instanceConfig.{camel}"),
                    format!("must be a list of field names, got {v}"),
                )),
            }
        };
        let config = InstanceConfig {
            instance_type,
            key_field,
            included_fields: list("includedFields")?,
            excluded_fields: list("excludedFields")?,
        };
        if !config.included_fields.is_empty() && !config.excluded_fields.is_empty() {
            return Err(invalid(
                "instanceConfig",
                "set includedFields or excludedFields, not both",
            ));
        }
        if format == InputFormat::FileList && config != InstanceConfig::default() {
            return Err(invalid(
                "instanceConfig",
                "does not apply to file-list inputs",
            ));
        }
        Ok(config)
    }

    fn output(body: &Value) -> Result<(String, OutputFormat), ApiError> {
        let config =
            field(body, "outputConfig").ok_or_else(|| invalid("outputConfig", "is required"))?;
        let name = required_str(
            config,
            "predictionsFormat",
            &format!("{ROOT}.outputConfig.predictionsFormat"),
        )?;
        let format: OutputFormat = name.parse().map_err(|e: prism_engine::EngineError| {
            let message = e.to_string();
            let message = message
                .strip_prefix("invalid batch job: ")
                .unwrap_or(&message)
                .to_string();
            invalid("outputConfig.predictionsFormat", message)
        })?;
        if field(config, "bigqueryDestination").is_some() {
            return Err(invalid(
                "outputConfig.bigqueryDestination",
                "BigQuery outputs are not supported; use gcsDestination with a local folder",
            ));
        }
        let path = "outputConfig.gcsDestination.outputUriPrefix";
        let prefix = field(config, "gcsDestination")
            .and_then(|g| field(g, "outputUriPrefix"))
            .ok_or_else(|| invalid(path, "is required"))?
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(path, "must be a non-empty string"))?;
        if prefix.contains(['*', '?', '[']) {
            return Err(invalid(path, "must name a folder, not a pattern"));
        }
        let prefix = storage_uri(prefix).map_err(|m| invalid(path, m))?;
        Ok((prefix, format))
    }

    /// The document as stored and returned: camelCase, the input fields as read.
    fn to_doc(&self, name: &str) -> Value {
        let mut doc = json!({
            "name": name,
            "displayName": self.display_name,
            "model": self.model,
            "modelVersionId": "1",
            "inputConfig": {
                "instancesFormat": format_name(self.format),
                "gcsSource": {"uris": self.uris},
            },
            "outputConfig": {
                "predictionsFormat": match self.output_format {
                    OutputFormat::Csv => "csv",
                    _ => "jsonl",
                },
                "gcsDestination": {"outputUriPrefix": self.output_prefix},
            },
            "manualBatchTuningParameters": {"batchSize": self.batch_size},
            "generateExplanation": self.generate_explanation,
            "labels": self.labels,
        });
        let c = &self.instance_config;
        if c != &InstanceConfig::default() {
            let mut config = Map::new();
            if let Some(t) = c.instance_type {
                let t = match t {
                    InstanceType::Object => "object",
                    InstanceType::Array => "array",
                };
                config.insert("instanceType".into(), json!(t));
            }
            if let Some(k) = &c.key_field {
                config.insert("keyField".into(), json!(k));
            }
            if !c.included_fields.is_empty() {
                config.insert("includedFields".into(), json!(c.included_fields));
            }
            if !c.excluded_fields.is_empty() {
                config.insert("excludedFields".into(), json!(c.excluded_fields));
            }
            doc["instanceConfig"] = Value::Object(config);
        }
        if let Some(spec) = &self.explanation_spec {
            doc["explanationSpec"] = Value::Object(spec.clone());
        }
        if let Some(map) = doc.as_object_mut() {
            for (k, v) in &self.passthrough {
                map.insert(k.clone(), v.clone());
            }
        }
        doc
    }

    /// What a worker runs: the model's spec with the job's `parameters`/`metadata` over it
    /// (checked here, so a bad spec fails the create), and the runner's options.
    fn work(
        &self,
        state: &AppState,
        name: &str,
        model: &Value,
        job_id: String,
    ) -> Result<JobWork, ApiError> {
        let mut spec = model
            .get("explanationSpec")
            .filter(|s| s.is_object())
            .cloned();
        if let Some(job_spec) = &self.explanation_spec {
            let mut merged = spec.unwrap_or_else(|| json!({}));
            for (k, v) in job_spec {
                merged[k.as_str()] = v.clone();
            }
            spec = Some(merged);
        }
        let spec = spec
            .map(ExplanationSpec::from_value)
            .transpose()
            .map_err(|e| {
                ApiError::InvalidArgument(
                    e.with_prefix(&format!("{ROOT}.explanationSpec"))
                        .to_string(),
                )
            })?;
        let model_name = model["name"].as_str().unwrap_or_default();
        let model_id = model_name.rsplit('/').next().unwrap_or_default();
        let display = model["displayName"].as_str().unwrap_or("model");
        let mut options = BatchOptions::new(
            self.uris.clone(),
            self.output_prefix.clone(),
            display.to_string(),
        );
        // Object store outputs run here, so that a restarted server resumes them.
        options.work_dir = Some(state.config.data_dir.join("batch-work"));
        options.format = self.format;
        options.instance_config = self.instance_config.clone();
        options.job_id = Some(job_id);
        options.generate_explanation = self.generate_explanation;
        options.output_format = self.output_format;
        options.batch_size = usize::try_from(self.batch_size).unwrap_or(usize::MAX);
        Ok(JobWork {
            name: name.to_string(),
            model_dir: state.model_dir(model_id),
            spec,
            options,
        })
    }
}

/// Vertex's name of an input format.
fn format_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Csv => "csv",
        InputFormat::FileList => "file-list",
        InputFormat::Parquet => "parquet",
        _ => "jsonl",
    }
}

/// A URI as stored: `s3://` and `gs://` URLs and `file://` URLs as given, relative paths
/// made absolute. A URL of another scheme, or an object store URL whose client cannot be
/// built (no credentials), is refused.
fn storage_uri(uri: &str) -> Result<String, String> {
    let location = Location::parse(uri).map_err(|e| e.to_string())?;
    let Some(path) = location.local_path() else {
        return Ok(uri.to_string());
    };
    if uri.starts_with("file://") || path.is_absolute() {
        return Ok(uri.to_string());
    }
    let path = std::env::current_dir()
        .map_err(|e| format!("cannot resolve the relative path {uri}: {e}"))?
        .join(path);
    Ok(path.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({
            "display_name": "j",
            "model": "mlp",
            "input_config": {"instances_format": "csv", "gcs_source": {"uris": ["in/*.csv", "file:///data/b.csv"]}},
            "instance_config": {"instance_type": "object", "key_field": "id", "excluded_fields": ["note"]},
            "output_config": {"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": "file:///out/"}},
            "manual_batch_tuning_parameters": {"batch_size": "8"},
            "generate_explanation": true,
            "explanation_spec": {"parameters": {"sampled_shapley_attribution": {"path_count": 3}}},
            "labels": {"team": "risk"},
            "dedicated_resources": {"startingReplicaCount": 1},
        })
    }

    #[test]
    fn snake_case_in_camel_case_out_and_the_document_reads_back_the_same() {
        let request = JobRequest::parse(&body(), "projects/p/locations/l").unwrap();
        assert_eq!(request.model, "projects/p/locations/l/models/mlp");
        assert_eq!(request.format, InputFormat::Csv);
        assert_eq!(request.batch_size, 8);
        assert_eq!(request.output_prefix, "file:///out/");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            request.uris,
            [
                cwd.join("in/*.csv").to_string_lossy().into_owned(),
                "file:///data/b.csv".to_string()
            ]
        );
        let doc = request.to_doc("projects/p/locations/l/batchPredictionJobs/1");
        assert_eq!(doc["displayName"], "j");
        assert_eq!(doc["inputConfig"]["instancesFormat"], "csv");
        assert_eq!(
            doc["instanceConfig"],
            json!({"instanceType": "object", "keyField": "id", "excludedFields": ["note"]})
        );
        assert_eq!(
            doc["outputConfig"]["gcsDestination"]["outputUriPrefix"],
            "file:///out/"
        );
        assert_eq!(doc["manualBatchTuningParameters"]["batchSize"], json!(8));
        assert_eq!(doc["dedicatedResources"]["startingReplicaCount"], json!(1));
        assert_eq!(
            doc["explanationSpec"],
            json!({"parameters": {"sampledShapleyAttribution": {"pathCount": 3}}})
        );
        let again = JobRequest::parse(&doc, "projects/p/locations/l").unwrap();
        assert_eq!(
            again.to_doc("projects/p/locations/l/batchPredictionJobs/1"),
            doc
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&str, Value, &str); 6] = [
            ("/input_config/gcs_source/uris/1", json!("ftp://b/x"), "batchPredictionJob.inputConfig.gcsSource.uris[1]: ftp://b/x: only local paths, file://, s3:// and gs:// URLs are supported"),
            ("/input_config/instances_format", json!("bigquery"), "batchPredictionJob.inputConfig.instancesFormat: the input format bigquery is not supported yet"),
            ("/generate_explanation", json!(false), "batchPredictionJob.explanationSpec: allowed only when generateExplanation is true"),
            ("/manual_batch_tuning_parameters/batch_size", json!(-1), "batchPredictionJob.manualBatchTuningParameters.batchSize: must be an integer"),
            ("/output_config/gcs_destination/output_uri_prefix", json!("out/*"), "batchPredictionJob.outputConfig.gcsDestination.outputUriPrefix: must name a folder"),
            ("/explanation_spec/examples", json!({}), "batchPredictionJob.explanationSpec.examples: unknown field"),
        ];
        for (pointer, value, want) in cases {
            let mut b = body();
            match b.pointer_mut(pointer) {
                Some(at) => *at = value,
                None => b["explanation_spec"]["examples"] = value,
            }
            let e = JobRequest::parse(&b, "projects/p/locations/l").unwrap_err();
            assert!(e.to_string().starts_with(want), "{pointer}: {e}");
            assert_eq!(e.rpc_code(), 3);
        }
        let mut b = body();
        b["input_config"]["instances_format"] = json!("file-list");
        let e = JobRequest::parse(&b, "p").unwrap_err();
        assert_eq!(
            e.to_string(),
            "batchPredictionJob.instanceConfig: does not apply to file-list inputs"
        );
    }

    #[test]
    fn storage_uris() {
        assert_eq!(storage_uri("file:///a/b").unwrap(), "file:///a/b");
        assert!(storage_uri("file://a/b").unwrap_err().contains("absolute"));
        assert!(storage_uri("http://x/y")
            .unwrap_err()
            .contains("only local paths"));
        assert_eq!(storage_uri("/abs").unwrap(), "/abs");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            storage_uri("rel/x").unwrap(),
            cwd.join("rel/x").to_string_lossy()
        );
    }
}
