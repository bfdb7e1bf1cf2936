//! The batch jobs page and downloads of a job's result files.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use serde_json::Value;

use super::pages::{last_segment, link, page, text};
use super::UiError;
use crate::error::ApiError;
use crate::jobs;
use crate::registry::Table;
use crate::state::AppState;

/// The most jobs listed.
const MAX_JOBS: usize = 200;

/// Whether a file of a job's output folder may be downloaded, and its content type:
/// results and errors shards (JSON lines) and stats files (JSON). Nothing else (the
/// runner's checkpoints, anything a person put there) is offered.
pub(crate) fn content_type(file: &str) -> Option<&'static str> {
    if file.contains('/') || file.contains('\\') || file.contains("..") {
        return None;
    }
    if file.starts_with("prediction.results-") || file.starts_with("prediction.errors_stats-") {
        Some("application/x-ndjson")
    } else if file.starts_with("stats-") && file.ends_with(".json") {
        Some("application/json")
    } else {
        None
    }
}

/// The downloadable files of an output folder, by name (none when it is not there yet).
async fn output_files(dir: PathBuf) -> Vec<(String, u64)> {
    tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<(String, u64)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                content_type(&name)?;
                Some((name, e.metadata().map(|m| m.len()).unwrap_or(0)))
            })
            .collect();
        files.sort();
        files
    })
    .await
    .unwrap_or_default()
}

/// A count of `completionStats` for reading: "—" when unknown (`-1`, missing).
fn count(v: &Value) -> String {
    let n = match v {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "—".to_string(),
    }
}

/// `GET /ui/batch-jobs`: the newest [`MAX_JOBS`] jobs; the page reloads itself every 2 s
/// while one has not ended.
pub(crate) async fn batch_jobs(
    State(state): State<Arc<AppState>>,
) -> Result<Html<String>, UiError> {
    let mut all = state.registry.all(Table::BatchPredictionJobs).await?;
    let total = all.len();
    // Newest first (RFC 3339 times of one server sort as text).
    all.sort_by(|a, b| text(&b["createTime"]).cmp(&text(&a["createTime"])));
    let mut jobs_shown = Vec::new();
    let mut live = false;
    for j in all.iter().take(MAX_JOBS) {
        let name = text(&j["name"]);
        let job_state = text(&j["state"]);
        live |= !jobs::is_terminal(&job_state);
        let short = job_state
            .trim_start_matches("JOB_STATE_")
            .to_ascii_lowercase();
        let model = text(&j["model"]);
        let model_base = model.split('@').next().unwrap_or_default();
        // A bare model id is the job's parent's model.
        let model_base = if model_base.contains('/') {
            model_base.to_string()
        } else {
            format!("{}/models/{model_base}", jobs::parent_of(&name))
        };
        let output_dir = text(&j["outputInfo"]["gcsOutputDirectory"]);
        let files: Vec<Value> = if output_dir.is_empty() {
            Vec::new()
        } else {
            output_files(PathBuf::from(&output_dir))
                .await
                .into_iter()
                .map(|(file, size)| {
                    serde_json::json!({
                        "name": file,
                        "size": size,
                        "href": format!("{}/files/{}", link(&name), file),
                    })
                })
                .collect()
        };
        let stats = &j["completionStats"];
        jobs_shown.push(serde_json::json!({
            "name": name,
            "id": last_segment(&name),
            "display_name": text(&j["displayName"]),
            "model_id": last_segment(&model_base),
            "model_link": link(&model_base),
            "state": short,
            "state_name": job_state,
            "successful": count(&stats["successfulCount"]),
            "failed": count(&stats["failedCount"]),
            "incomplete": count(&stats["incompleteCount"]),
            "create_time": text(&j["createTime"]),
            "start_time": text(&j["startTime"]),
            "end_time": text(&j["endTime"]),
            "error": j["error"]["message"].as_str(),
            "output_dir": output_dir,
            "files": files,
        }));
    }
    let shown = jobs_shown.len();
    page(
        &state,
        "batch_jobs.html",
        context! {
            title => "Batch jobs",
            section => "batch-jobs",
            jobs => jobs_shown,
            shown,
            total,
            live,
        },
    )
}

/// `GET /ui/projects/{p}/locations/{l}/batchPredictionJobs/{id}/files/{file}`: one results,
/// errors or stats file of the job's output folder, as an attachment. Only names that the
/// folder lists and [`content_type`] allows; anything else is 404.
pub(crate) async fn file(
    State(state): State<Arc<AppState>>,
    Path((project, location, job, file)): Path<(String, String, String, String)>,
) -> Result<Response, UiError> {
    let missing = || UiError::from(ApiError::NotFound(format!("the job has no file {file}")));
    let Some(kind) = content_type(&file) else {
        return Err(missing());
    };
    let name = format!("projects/{project}/locations/{location}/batchPredictionJobs/{job}");
    let doc = state
        .registry
        .get_required(Table::BatchPredictionJobs, &name)
        .await?;
    let dir = text(&doc["outputInfo"]["gcsOutputDirectory"]);
    if dir.is_empty() {
        return Err(missing());
    }
    let dir = PathBuf::from(dir);
    if !output_files(dir.clone())
        .await
        .iter()
        .any(|(f, _)| *f == file)
    {
        return Err(missing());
    }
    let body = tokio::fs::read(dir.join(&file))
        .await
        .map_err(|_| missing())?;
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_result_files_are_offered() {
        for ok in [
            "prediction.results-00000-of-00001",
            "prediction.errors_stats-00000-of-00001",
            "stats-00000-of-00001.json",
        ] {
            assert!(content_type(ok).is_some(), "{ok}");
        }
        for bad in [
            "checkpoint-00000-of-00001.json",
            "prediction.results-../../etc/passwd",
            "stats-x/../../y.json",
            "..",
            "stats-.txt",
        ] {
            assert!(content_type(bad).is_none(), "{bad}");
        }
    }
}
