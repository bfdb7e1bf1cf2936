//! Batch prediction jobs in the background: bounded workers that run each job on the
//! engine's batch runner ([`prism_engine::batch::BatchJob`]) and keep its registry document
//! up to date.
//!
//! A job's document (built and checked by `routes::batch_jobs`) goes through Vertex's
//! `JobState` life cycle:
//!
//! ```text
//! QUEUED ──▶ PENDING ──▶ RUNNING ──▶ SUCCEEDED | FAILED
//!   │           │           │
//!   └───────────┴───────────┴──▶ CANCELLING ──▶ CANCELLED (or SUCCEEDED | FAILED, if first)
//!                  :cancel
//! ```
//!
//! QUEUED waits for a slot, PENDING for the model to load and the runner to open its
//! checkpoint; RUNNING documents get `completionStats` after each batch.
//!
//! At most [`crate::ServerConfig::max_concurrent_jobs`] jobs run at once; the others wait
//! QUEUED. Cancelling sets the runner's cancel flag: the batch in progress is finished and
//! committed, then the job ends CANCELLED (or SUCCEEDED/FAILED if it ended first), and the
//! output written so far stays. A server that stops (SIGTERM) stops its jobs the same way
//! but leaves them unfinished; a server killed outright leaves them as they were. Either
//! way the next start runs them again with the same job id, and the runner resumes from
//! its checkpoint: every input record still ends in exactly one results or errors line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prism_engine::batch::{BatchJob, BatchOptions, BatchStats, JobState, Progress, Shard};
use prism_engine::{EngineError, Explainer, ExplanationSpec, LoadOptions};
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::registry::Table;
use crate::state::AppState;
use crate::time::now_rfc3339;

/// `JobState` names, as documents and clients spell them.
pub(crate) const QUEUED: &str = "JOB_STATE_QUEUED";
/// Waiting for the model to load and the runner to start.
pub(crate) const PENDING: &str = "JOB_STATE_PENDING";
/// The runner is working through the input.
pub(crate) const RUNNING: &str = "JOB_STATE_RUNNING";
/// Every record was processed (some may have failed, within the failure policy).
pub(crate) const SUCCEEDED: &str = "JOB_STATE_SUCCEEDED";
/// Too many records failed, or the job could not run.
pub(crate) const FAILED: &str = "JOB_STATE_FAILED";
/// Cancel asked; the batch in progress is being finished.
pub(crate) const CANCELLING: &str = "JOB_STATE_CANCELLING";
/// Stopped by `:cancel`; the output written so far stays.
pub(crate) const CANCELLED: &str = "JOB_STATE_CANCELLED";

/// The most `partialFailures` a job document carries (Vertex's limit).
const MAX_PARTIAL_FAILURES: usize = 20;

/// The least time between two progress writes of one job's document.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Whether a job in this state has ended for good.
pub(crate) fn is_terminal(state: &str) -> bool {
    matches!(state, SUCCEEDED | FAILED | CANCELLED)
}

/// What a worker needs to run a job, resolved from its document.
#[derive(Debug)]
pub(crate) struct JobWork {
    /// The job's resource name.
    pub(crate) name: String,
    /// The model's artifact folder.
    pub(crate) model_dir: PathBuf,
    /// The spec the model is loaded with: the model's, with the job's over it.
    pub(crate) spec: Option<ExplanationSpec>,
    /// The runner's options; `job_id` is always set, so a later run resumes the job.
    pub(crate) options: BatchOptions,
}

impl JobWork {
    /// The runner's errors file for this job (one shard).
    fn errors_path(&self) -> PathBuf {
        let job_id = self.options.job_id.as_deref().unwrap_or_default();
        let local = self.options.local_dir().unwrap_or_default();
        local.join(job_id).join(format!(
            "prediction.errors_stats{}",
            Shard::default().suffix()
        ))
    }
}

/// A running (or queued) job's controls.
#[derive(Default)]
struct Handle {
    /// The runner's cancel flag: set by `:cancel` and by a server stop.
    cancel: Arc<AtomicBool>,
    /// Wakes a worker still waiting for a slot.
    wake: Notify,
}

/// The batch job workers of one server process.
pub struct Jobs {
    /// One permit per job allowed to run at once.
    slots: Arc<Semaphore>,
    /// Jobs with a worker in this process, by name.
    handles: Mutex<HashMap<String, Arc<Handle>>>,
    /// The workers, awaited at shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Serialises read-modify-write changes of job documents within this process.
    write: tokio::sync::Mutex<()>,
    /// Set when the server stops: workers leave their jobs resumable.
    stopping: AtomicBool,
}

impl Jobs {
    /// Workers for at most `max_concurrent` jobs at once (at least one).
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            handles: Mutex::default(),
            tasks: Mutex::default(),
            write: tokio::sync::Mutex::new(()),
            stopping: AtomicBool::new(false),
        }
    }

    /// Holds off other changes of job documents in this process while a caller
    /// reads, changes and writes one.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write.lock().await
    }

    /// Starts a worker for a job whose document is in the registry. With `cancelled`,
    /// the job was cancelled before this process ran it: it ends CANCELLED unrun.
    pub(crate) fn start(&self, state: Arc<AppState>, work: JobWork, cancelled: bool) {
        let handle = Arc::new(Handle::default());
        if cancelled {
            // Ends without waiting for a slot.
            handle.cancel.store(true, Ordering::SeqCst);
            handle.wake.notify_one();
        }
        if let Ok(mut handles) = self.handles.lock() {
            handles.insert(work.name.clone(), handle.clone());
        }
        let task = tokio::spawn(run(state, work, handle));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Asks a job to stop after its batch in progress; false when no worker of this
    /// process has it (another server node may: it reads CANCELLING from the document).
    pub(crate) fn cancel(&self, name: &str) -> bool {
        let handle = self.handles.lock().ok().and_then(|h| h.get(name).cloned());
        match handle {
            Some(h) => {
                h.cancel.store(true, Ordering::SeqCst);
                h.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// Stops every worker after its batch in progress and waits for them; their jobs stay
    /// unfinished, and the next server start resumes them.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(handles) = self.handles.lock() {
            for h in handles.values() {
                h.cancel.store(true, Ordering::SeqCst);
                h.wake.notify_one();
            }
        }
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn forget(&self, name: &str) {
        if let Ok(mut handles) = self.handles.lock() {
            handles.remove(name);
        }
    }
}

/// A worker: waits for a slot, runs the job, records how it ended.
async fn run(state: Arc<AppState>, work: JobWork, handle: Arc<Handle>) {
    let name = work.name.clone();
    let slot = tokio::select! {
        slot = state.jobs.slots.clone().acquire_owned() => slot.ok(),
        () = handle.wake.notified() => None,
    };
    let outcome = if state.jobs.stopping.load(Ordering::SeqCst) {
        None
    } else if slot.is_none() || handle.cancel.load(Ordering::SeqCst) {
        Some(end_unrun(&state, &name).await)
    } else {
        Some(run_slotted(&state, work, &handle).await)
    };
    drop(slot);
    if let Some(Err(e)) = outcome {
        tracing::error!(job = %name, error = %e, "could not record a batch job's state");
    }
    state.jobs.forget(&name);
}

/// A job cancelled before it ran (or before this process ran it again) ends CANCELLED,
/// keeping the counts its document holds.
async fn end_unrun(state: &AppState, name: &str) -> Result<(), ApiError> {
    update(state, name, |doc| {
        end(doc, CANCELLED, Some(cancelled_status()));
    })
    .await
}

async fn run_slotted(state: &AppState, work: JobWork, handle: &Handle) -> Result<(), ApiError> {
    let name = work.name.clone();
    let pending = update(state, &name, |doc| {
        if doc["state"] != json!(CANCELLING) {
            doc["state"] = json!(PENDING);
        }
    })
    .await;
    if let Err(e) = pending {
        tracing::warn!(job = %name, error = %e, "could not record a batch job's state");
    }
    let errors_path = work.errors_path();
    let (progress_tx, mut progress) = tokio::sync::watch::channel(None::<Progress>);
    let cancel = handle.cancel.clone();
    let backend = state.config.backend;
    let total = Arc::new(AtomicI64::new(-1));
    let counted = total.clone();
    let mut task = tokio::task::spawn_blocking(move || {
        run_runner(work, backend, &cancel, progress_tx, counted)
    });
    let joined = loop {
        tokio::select! {
            joined = &mut task => break joined,
            changed = progress.changed() => {
                if changed.is_err() {
                    // The runner is done: its outcome is on the way.
                    break (&mut task).await;
                }
                let latest = *progress.borrow_and_update();
                if let Some(p) = latest {
                    // A missed progress write is made good by the next one or the last.
                    let total = total.load(Ordering::SeqCst);
                    let recorded =
                        record_progress(state, &name, &p, total, handle, &errors_path);
                    if let Err(e) = recorded.await {
                        tracing::warn!(job = %name, error = %e, "could not record progress");
                    }
                }
                tokio::time::sleep(PROGRESS_INTERVAL).await;
            }
        }
    };
    let outcome =
        joined.unwrap_or_else(|e| Err(ApiError::Internal(format!("the job's worker failed: {e}"))));
    if matches!(outcome, Ok(None)) {
        tracing::info!(job = %name, "another process runs this batch job");
        return Ok(());
    }
    let failures = partial_failures(&errors_path).await;
    let stopping = state.jobs.stopping.load(Ordering::SeqCst);
    update(state, &name, |doc| {
        if !failures.is_empty() {
            doc["partialFailures"] = Value::Array(failures.clone());
        }
        let stats = match &outcome {
            Ok(Some(stats)) => stats,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(job = %name, error = %e, "batch job failed");
                // The job's owner needs the real reason, server faults included.
                let status = json!({"code": e.rpc_code(), "message": e.to_string()});
                end(doc, FAILED, Some(status));
                return;
            }
        };
        doc["completionStats"] = completion_stats(stats);
        match stats.state {
            JobState::Succeeded => end(doc, SUCCEEDED, None),
            JobState::Failed => {
                let error = stats
                    .error
                    .as_ref()
                    .map(|e| json!({"code": e.code, "message": e.message}));
                end(doc, FAILED, error)
            }
            JobState::Cancelled if doc["state"] == json!(CANCELLING) || !stopping => {
                end(doc, CANCELLED, Some(cancelled_status()))
            }
            // Stopped with the server: left as it is, resumed at the next start.
            _ => {}
        }
    })
    .await
}

/// Loads the model and runs (or resumes) the job on the batch runner, sending its
/// progress. `Ok(None)`: another process runs this job (a server node sharing the registry
/// and the output folder); that process keeps the document up to date.
///
/// Once the run has started (its inputs are local), a thread counts the job's records
/// into `total` (-1 until known), for `incompleteCount`; it stops when the run does.
fn run_runner(
    work: JobWork,
    backend: prism_engine::Backend,
    cancel: &AtomicBool,
    progress: tokio::sync::watch::Sender<Option<Progress>>,
    total: Arc<AtomicI64>,
) -> Result<Option<BatchStats>, ApiError> {
    let options = LoadOptions {
        backend,
        spec: work.spec,
    };
    let explainer = Explainer::load_with_options(&work.model_dir, &options)
        .map_err(|e| ApiError::FailedPrecondition(format!("the model does not load: {e}")))?;
    let job = Arc::new(BatchJob::new(explainer, work.options)?);
    let stop_counting = Arc::new(AtomicBool::new(false));
    let mut counting = false;
    let ran = job.run(cancel, &mut |p| {
        if !counting {
            counting = true;
            let (job, stop, total) = (job.clone(), stop_counting.clone(), total.clone());
            std::thread::spawn(move || {
                if let Ok(Some(n)) = job.count_records(&stop) {
                    total.store(i64::try_from(n).unwrap_or(-1), Ordering::SeqCst);
                }
            });
        }
        let _ = progress.send(Some(*p));
    });
    stop_counting.store(true, Ordering::SeqCst);
    match ran {
        Ok(stats) => Ok(Some(stats)),
        Err(EngineError::ShardBusy { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes a job's progress into its document: RUNNING (unless cancelling), `startTime`
/// the first time, the counts (`incompleteCount` from the job's record count `total`,
/// -1 while it is not known), the first errors. A document in CANCELLING (set by another
/// server node) sets the cancel flag.
async fn record_progress(
    state: &AppState,
    name: &str,
    p: &Progress,
    total: i64,
    handle: &Handle,
    errors_path: &Path,
) -> Result<(), ApiError> {
    let failures = if p.failed > 0 {
        partial_failures(errors_path).await
    } else {
        Vec::new()
    };
    update(state, name, |doc| {
        if doc["state"] == json!(CANCELLING) {
            handle.cancel.store(true, Ordering::SeqCst);
        } else {
            doc["state"] = json!(RUNNING);
        }
        if doc.get("startTime").is_none() {
            doc["startTime"] = json!(now_rfc3339());
        }
        doc["completionStats"] = json!({
            "successfulCount": p.successful.to_string(),
            "failedCount": p.failed.to_string(),
            "incompleteCount": incomplete_count(total, p.processed()).to_string(),
        });
        if !failures.is_empty() {
            doc["partialFailures"] = Value::Array(failures.clone());
        }
    })
    .await
}

/// Reads, changes and writes a job's document (nothing when it is gone), stamping
/// `updateTime`.
async fn update(
    state: &AppState,
    name: &str,
    mut change: impl FnMut(&mut Value),
) -> Result<(), ApiError> {
    // Compare-and-swap: a `:cancel` on any node is never overwritten (on a conflict the
    // change is made again, to the document as the other writer left it).
    let now = now_rfc3339();
    let updated = state
        .registry
        .update(Table::BatchPredictionJobs, name, |doc| {
            change(doc);
            doc["updateTime"] = json!(now);
            Ok(())
        })
        .await?;
    // A job that has ended belongs to no node any more.
    if let Some((doc, ())) = updated {
        if is_terminal(doc["state"].as_str().unwrap_or_default()) {
            state.registry.release(name).await?;
        }
    }
    Ok(())
}

/// Puts a document in a terminal state, with `endTime` and the error if any.
fn end(doc: &mut Value, terminal: &str, error: Option<Value>) {
    doc["state"] = json!(terminal);
    doc["endTime"] = json!(now_rfc3339());
    if let (Some(error), Some(map)) = (error, doc.as_object_mut()) {
        map.insert("error".into(), error);
    }
}

/// Records not processed yet: -1 while the record count is unknown.
fn incomplete_count(total: i64, processed: u64) -> i64 {
    if total < 0 {
        return -1;
    }
    (total - i64::try_from(processed).unwrap_or(i64::MAX)).max(0)
}

fn cancelled_status() -> Value {
    json!({"code": 1, "message": "the job was cancelled"})
}

fn completion_stats(stats: &BatchStats) -> Value {
    let c = &stats.completion_stats;
    json!({
        "successfulCount": c.successful_count.to_string(),
        "failedCount": c.failed_count.to_string(),
        "incompleteCount": c.incomplete_count.to_string(),
    })
}

/// The `error` of the first errors-file lines (at most [`MAX_PARTIAL_FAILURES`]).
async fn partial_failures(path: &Path) -> Vec<Value> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let Ok(file) = std::fs::File::open(&path) else {
            return Vec::new();
        };
        BufReader::new(file)
            .lines()
            .take(MAX_PARTIAL_FAILURES)
            .map_while(Result::ok)
            // A line still being written does not parse: it is skipped.
            .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
            .filter_map(|line| line.get("error").cloned())
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// `projects/p/locations/l` of `projects/p/locations/l/batchPredictionJobs/j`.
pub(crate) fn parent_of(name: &str) -> String {
    name.splitn(5, '/').take(4).collect::<Vec<_>>().join("/")
}
