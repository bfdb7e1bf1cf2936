//! Batch prediction jobs: Vertex `BatchPredictionJob` semantics over local files and object
//! stores, streamed, sharded, and resumable with every record written exactly once.
//!
//! A [`BatchJob`] reads instances from files ([`InputFormat`]: JSONL, CSV, file lists,
//! Parquet; local, `file://`, `s3://`, `gs://`, globs of them: see [`crate::storage`]),
//! runs them through an [`Explainer`] [`BatchOptions::batch_size`] at a time (predictions,
//! and explanations when [`BatchOptions::generate_explanation`] is set) and writes, in
//! `<output_dir>/<job id>/` (the job id defaults to `prediction-<model>-<UTC time>`):
//!
//! | file | content |
//! |---|---|
//! | `prediction.results-0000i-of-0000N` | one line per instance: `{"instance"` or `"key", "prediction", "explanation"?}` |
//! | `prediction.errors_stats-0000i-of-0000N` | one line per failed instance: `{"instance", "error": {"code", "message"}}` |
//! | `checkpoint-0000i-of-0000N.json` | the shard's committed progress (see below) |
//! | `stats-0000i-of-0000N.json` | the shard's end state and completion stats ([`BatchStats`]) |
//! | `checkpoint-0000i-of-0000N.lock` | held (`flock`) while a process runs the shard |
//!
//! `i` is the shard index and `N` the shard count ([`Shard`]): record `r` (records are
//! numbered from 0 across all input files in order) belongs to shard `r % N`. Shards run as
//! separate processes, on one machine or many, into the same job folder;
//! [`merge_stats`] adds up their stats.
//!
//! **Streaming.** Input is read record by record and at most one batch is held in memory;
//! outputs are appended as batches finish.
//!
//! **Exactly once.** After each batch the outputs are flushed and fsynced, then a
//! checkpoint (input position, output lengths, counts) replaces the previous one atomically
//! (temporary file, fsync, rename). Running the same job again (same output folder and job
//! id) cuts the outputs back to the checkpointed lengths and reads on from the checkpointed
//! position, so a process killed at any moment and started again writes every record in
//! exactly one results or errors line. One process at a time runs a shard (a second one
//! gets [`EngineError::ShardBusy`]). A checkpoint only resumes the job it was written
//! for: other inputs, format, options, spec or shard are refused
//! ([`EngineError::JobMismatch`]). A finished job run again only reports its stats.
//!
//! **Failures.** A record that is not a valid instance (bad JSON, missing features, a key
//! field missing) or that the model rejects goes to the errors file, and the job goes on.
//! The job fails as a whole by the [`FailurePolicy`]: by default when more than half of the
//! records failed, judged after every batch once 100 records were processed, and at the end.
//!
//! **Cancelling.** The `cancel` flag given to [`BatchJob::run`] is read between batches:
//! the job stops after the batch in progress, with a consistent checkpoint, and ends
//! [`JobState::Cancelled`]; running it again resumes it.
//!
//! **Object stores.** Objects named as inputs are downloaded into the job folder
//! (`inputs/`) before reading. With an `s3://` or `gs://` output the job runs in a local
//! work folder ([`BatchOptions::work_dir`]) exactly as above, and each run that ends
//! uploads the shard's results, errors and stats files whole (they appear at the prefix
//! only then; a run killed before its end published nothing new, and resumes from the
//! local checkpoint).
//!
//! Not supported yet: TFRecord and BigQuery inputs, BigQuery output.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use prism_engine::batch::{BatchJob, BatchOptions};
//!
//! let explainer = prism_engine::Explainer::load("testdata/models/breast_cancer_mlp")?;
//! let mut options = BatchOptions::new(
//!     vec!["in/*.jsonl".into()],
//!     "out".into(),
//!     "breast_cancer_mlp".into(),
//! );
//! options.generate_explanation = true;
//! let job = BatchJob::new(explainer, options)?;
//! let stats = job.run(&AtomicBool::new(false), &mut |p| eprintln!("{} done", p.processed()))?;
//! println!("{}: {:?}", job.job_dir().display(), stats.completion_stats);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod csv_out;
mod input;
mod instance;
mod lines;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::EngineError;
use crate::explainer::Explainer;
use crate::storage::{self, Location};
use crate::ExplanationSpecOverride;
use checkpoint::{commit_batches, Checkpoint, Commit, JobKey, ShardLock, ShardOutputs};
use input::{InputFile, RecordReader};
use lines::{BatchContext, OutLine, INVALID_ARGUMENT};

pub use lines::{process_records, Record, RecordLine};
pub use stats::{merge_stats, read_stats, BatchStats, CompletionStats, MergedStats};

/// How input files hold instances (Vertex `instancesFormat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum InputFormat {
    /// One JSON instance per line; blank lines are skipped.
    #[default]
    Jsonl,
    /// A header row naming the columns, then one instance per row. Fields that read as
    /// numbers become numbers, empty fields null, others strings. Rows become arrays unless
    /// [`InstanceConfig::instance_type`] is `object`.
    Csv,
    /// One file path (or `file://` URI) per line, relative to the list's folder; the file's
    /// bytes become the instance `{"b64": "<base64>"}`.
    FileList,
    /// Parquet files, read row group by row group. Columns keep their types (numbers,
    /// strings, booleans, null; lists become arrays, groups objects; timestamps and dates
    /// strings; binary base64). Rows become arrays unless
    /// [`InstanceConfig::instance_type`] is `object`, as CSV rows do.
    Parquet,
}

impl std::str::FromStr for InputFormat {
    type Err = EngineError;

    /// Vertex's names: `jsonl`, `csv`, `file-list`, and `parquet`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "file-list" => Ok(Self::FileList),
            "parquet" => Ok(Self::Parquet),
            "tf-record" | "tf-record-gzip" | "bigquery" => Err(EngineError::InvalidBatchOptions {
                message: format!("the input format {s} is not supported yet"),
            }),
            _ => Err(EngineError::InvalidBatchOptions {
                message: format!("unknown input format {s}: use jsonl, csv, file-list or parquet"),
            }),
        }
    }
}

/// How results are written (Vertex `predictionsFormat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OutputFormat {
    /// One JSON object per line.
    #[default]
    Jsonl,
    /// A CSV table: a header row fixed by the shard's first result, then one row per
    /// result (the key or the instance's columns, then the prediction's); the errors file
    /// stays JSON lines. Not with explanations.
    Csv,
}

impl std::str::FromStr for OutputFormat {
    type Err = EngineError;

    /// Vertex's names: `jsonl`, `csv`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "bigquery" => Err(EngineError::InvalidBatchOptions {
                message: "BigQuery output is not supported; use jsonl or csv".into(),
            }),
            _ => Err(EngineError::InvalidBatchOptions {
                message: format!("unknown output format {s}: use jsonl or csv"),
            }),
        }
    }
}

/// The shape of instances sent to the model (Vertex `instanceConfig.instanceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceType {
    /// A JSON object of named fields.
    Object,
    /// A JSON array of the field values, in column order (or `includedFields` order).
    Array,
}

/// How records become instances (Vertex `instanceConfig`). Unset, a JSONL line is sent as
/// it stands and a CSV row as an array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct InstanceConfig {
    /// Object or array instances.
    pub instance_type: Option<InstanceType>,
    /// A field taken out of each instance; results carry `"key": <its value>` in place of
    /// `"instance"`.
    pub key_field: Option<String>,
    /// Only these fields are sent, in this order (each must be present).
    pub included_fields: Vec<String>,
    /// These fields are not sent.
    pub excluded_fields: Vec<String>,
}

impl InstanceConfig {
    /// Reads Vertex's `instanceConfig` JSON (camelCase).
    pub fn from_json_str(text: &str) -> Result<Self, EngineError> {
        serde_json::from_str(text).map_err(|e| EngineError::InvalidBatchOptions {
            message: format!("invalid instanceConfig: {e}"),
        })
    }

    fn is_set(&self) -> bool {
        self != &Self::default()
    }
}

/// Which part of the input a process handles: record `r` belongs to shard `r % count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// How many shards the job has.
    pub count: u32,
}

impl Default for Shard {
    /// The whole input: shard 0 of 1.
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// Whether record number `record` belongs to this shard.
    pub fn owns(&self, record: u64) -> bool {
        record % u64::from(self.count) == u64::from(self.index)
    }

    /// `-0000i-of-0000N`, the suffix of this shard's file names.
    pub fn suffix(&self) -> String {
        format!("-{:05}-of-{:05}", self.index, self.count)
    }
}

/// When a job fails as a whole because too many of its records failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailurePolicy {
    /// The job fails when more than this fraction of its processed records failed
    /// (`1.0`: never). Default 0.5.
    pub max_failed_ratio: f64,
    /// The ratio is judged after each batch once this many records were processed (and
    /// always at the end of the job). Default 100.
    pub min_records: u64,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            max_failed_ratio: 0.5,
            min_records: 100,
        }
    }
}

impl FailurePolicy {
    /// Whether `failed` failures out of `successful + failed` records fail the job.
    fn exceeded(&self, successful: u64, failed: u64) -> bool {
        let total = successful + failed;
        total > 0 && failed as f64 > self.max_failed_ratio * total as f64
    }
}

/// Everything a batch job is. [`BatchOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Input files: paths, `file://` URIs or glob patterns.
    pub inputs: Vec<String>,
    /// How the inputs hold instances.
    pub format: InputFormat,
    /// How records become instances.
    pub instance_config: InstanceConfig,
    /// Where job folders are made (Vertex `outputUriPrefix`): a local folder, a
    /// `file://` URL, or an object store prefix (`s3://bucket/prefix`, `gs://bucket/prefix`).
    pub output: String,
    /// For an object store output: the local folder where the job runs (its checkpoint and
    /// growing outputs) before its files are uploaded; default
    /// `<temp dir>/prism-batch/<output as a folder name>`. Give the same one to resume.
    pub work_dir: Option<PathBuf>,
    /// The model's name, for the job folder's name.
    pub model_name: String,
    /// The job folder's name; default `prediction-<model>-<YYYY-MM-DDThh:mm:ss.sssZ>`.
    /// Give the same id to resume a job, and to every shard of a sharded job.
    pub job_id: Option<String>,
    /// How results are written (default JSON lines).
    pub output_format: OutputFormat,
    /// Write explanations beside predictions.
    pub generate_explanation: bool,
    /// Changes to the model's explanation spec for this job (only with explanations).
    pub spec_override: Option<ExplanationSpecOverride>,
    /// Instances per engine call (run in parallel). Default 64.
    pub batch_size: usize,
    /// The part of the input this run handles.
    pub shard: Shard,
    /// When the job fails as a whole.
    pub failure: FailurePolicy,
}

impl BatchOptions {
    /// Options with the defaults: JSONL, predictions only, batches of 64, one shard.
    pub fn new(inputs: Vec<String>, output: String, model_name: String) -> Self {
        Self {
            inputs,
            format: InputFormat::Jsonl,
            instance_config: InstanceConfig::default(),
            output,
            work_dir: None,
            output_format: OutputFormat::Jsonl,
            model_name,
            job_id: None,
            generate_explanation: false,
            spec_override: None,
            batch_size: 64,
            shard: Shard::default(),
            failure: FailurePolicy::default(),
        }
    }

    /// The local folder holding this job's folder: the output itself when it is local,
    /// else the work folder ([`BatchOptions::work_dir`]).
    pub fn local_dir(&self) -> Result<PathBuf, EngineError> {
        if !storage::is_remote(&self.output) {
            return input::local_path(&self.output);
        }
        Ok(match &self.work_dir {
            Some(dir) => dir.clone(),
            None => std::env::temp_dir()
                .join("prism-batch")
                .join(folder_name(&self.output)),
        })
    }

    fn validate(&self) -> Result<(), EngineError> {
        let bad = |message: String| Err(EngineError::InvalidBatchOptions { message });
        if self.batch_size == 0 {
            return bad("the batch size must be at least 1".into());
        }
        if self.shard.count == 0 || self.shard.index >= self.shard.count {
            return bad(format!(
                "shard index {} is not below the shard count {}",
                self.shard.index, self.shard.count
            ));
        }
        if self.shard.count > 1 && self.job_id.is_none() {
            return bad("a sharded job needs a job id, the same for every shard".into());
        }
        if let Some(id) = &self.job_id {
            if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\']) {
                return bad(format!("the job id {id:?} must be a plain folder name"));
            }
        }
        let c = &self.instance_config;
        if !c.included_fields.is_empty() && !c.excluded_fields.is_empty() {
            return bad("set includedFields or excludedFields, not both".into());
        }
        if self.format == InputFormat::FileList && c.is_set() {
            return bad("instanceConfig does not apply to file-list inputs".into());
        }
        if self.output_format == OutputFormat::Csv && self.generate_explanation {
            return bad(
                "CSV output cannot hold explanations (as in Vertex, generateExplanation \
                 needs jsonl output); use jsonl"
                    .into(),
            );
        }
        if self.spec_override.is_some() && !self.generate_explanation {
            return bad("an explanation spec override needs explanations turned on".into());
        }
        if !(0.0..=1.0).contains(&self.failure.max_failed_ratio) {
            return bad("the failure ratio must be between 0 and 1".into());
        }
        Ok(())
    }
}

/// The state of a job or shard (Vertex `JobState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JobState {
    /// Started and not finished (killed, or still running).
    #[serde(rename = "JOB_STATE_RUNNING")]
    Running,
    /// Every record was processed (some may have failed, within the failure policy).
    #[serde(rename = "JOB_STATE_SUCCEEDED")]
    Succeeded,
    /// Too many records failed.
    #[serde(rename = "JOB_STATE_FAILED")]
    Failed,
    /// Stopped by the cancel flag; running the job again resumes it.
    #[serde(rename = "JOB_STATE_CANCELLED")]
    Cancelled,
}

/// An error as Vertex reports it (`google.rpc.Status`, code and message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The google.rpc code: 3 INVALID_ARGUMENT, 13 INTERNAL, …
    pub code: i32,
    /// What went wrong.
    pub message: String,
}

/// A job's progress, reported when a run starts and after each batch is computed (its
/// lines may still be on their way to the disk: the checkpoint follows within a batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Records of this shard with a results line, this run and earlier ones.
    pub successful: u64,
    /// Records of this shard with an errors line, this run and earlier ones.
    pub failed: u64,
    /// Records processed by this run.
    pub this_run: u64,
    /// Input bytes read so far (all shards' records are read), of `bytes_total`.
    pub bytes_read: u64,
    /// The size of all input files.
    pub bytes_total: u64,
    /// Time since this run started.
    pub elapsed: Duration,
}

impl Progress {
    /// Records processed, successful or not.
    pub fn processed(&self) -> u64 {
        self.successful + self.failed
    }
}

/// A batch job, ready to run (or to resume).
#[derive(Debug)]
pub struct BatchJob {
    explainer: Explainer,
    options: BatchOptions,
    files: Vec<InputFile>,
    job_id: String,
    job_dir: PathBuf,
    /// The job folder in the object store, for an object store output.
    remote: Option<Location>,
    key: JobKey,
}

impl BatchJob {
    /// Checks the options, resolves the input files and applies the spec override.
    pub fn new(explainer: Explainer, options: BatchOptions) -> Result<Self, EngineError> {
        options.validate()?;
        let explainer = match &options.spec_override {
            Some(o) => explainer.with_override(o)?,
            None => explainer,
        };
        let mut files = input::resolve(&options.inputs)?;
        let model = folder_name(&options.model_name);
        let job_id = match &options.job_id {
            Some(id) => id.clone(),
            None => default_job_id(&options.model_name, std::time::SystemTime::now()),
        };
        // Parsed here so that a bad URL or missing credentials stop the job before it runs.
        let output = Location::parse(&options.output)?;
        let remote = output.is_remote().then(|| output.join(&job_id));
        let job_dir = options.local_dir()?.join(&job_id);
        input::place_downloads(&mut files, &job_dir.join(INPUTS_FOLDER));
        let spec = if options.generate_explanation {
            serde_json::to_value(explainer.spec()).map_err(|e| {
                EngineError::InvalidBatchOptions {
                    message: format!("the explanation spec cannot be recorded: {e}"),
                }
            })?
        } else {
            Value::Null
        };
        let key = JobKey {
            model,
            inputs: files.clone(),
            format: options.format,
            instance_config: options.instance_config.clone(),
            generate_explanation: options.generate_explanation,
            output_format: options.output_format,
            spec,
            shard: options.shard,
        };
        Ok(Self {
            explainer,
            options,
            files,
            job_id,
            job_dir,
            remote,
            key,
        })
    }

    /// The job's id: the name of its folder.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The local folder the job writes into: the job folder itself for a local output,
    /// the work folder's copy for an object store output.
    pub fn job_dir(&self) -> &Path {
        &self.job_dir
    }

    /// The job folder as users find it: `s3://…`/`gs://…` for an object store output (its
    /// files appear there when a run ends), else the local folder.
    pub fn output_location(&self) -> String {
        match &self.remote {
            Some(remote) => remote.url().to_string(),
            None => self.job_dir.display().to_string(),
        }
    }

    /// This shard's results file.
    pub fn results_path(&self) -> PathBuf {
        self.shard_file("prediction.results", "")
    }

    /// This shard's errors file.
    pub fn errors_path(&self) -> PathBuf {
        self.shard_file("prediction.errors_stats", "")
    }

    /// This shard's stats file, written when a run ends.
    pub fn stats_path(&self) -> PathBuf {
        self.shard_file(stats::STATS_PREFIX, ".json")
    }

    /// This shard's checkpoint file.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.shard_file("checkpoint", ".json")
    }

    /// The total size of the input files, in bytes.
    pub fn bytes_total(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    fn shard_file(&self, prefix: &str, extension: &str) -> PathBuf {
        self.job_dir.join(format!(
            "{prefix}{}{extension}",
            self.options.shard.suffix()
        ))
    }

    /// Runs (or resumes) the job until it ends or `cancel` is set; `progress` is called
    /// when the run starts and after each batch. The stats are also written to
    /// [`BatchJob::stats_path`]. An `Err` is an I/O or checkpoint fault: the checkpoint
    /// stays consistent and running again resumes.
    pub fn run(
        &self,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<BatchStats, EngineError> {
        std::fs::create_dir_all(&self.job_dir).map_err(|source| EngineError::Io {
            path: self.job_dir.display().to_string(),
            source,
        })?;
        let _lock = ShardLock::acquire(&self.shard_file("checkpoint", ".lock"))?;
        let checkpoint_path = self.checkpoint_path();
        let cp = match Checkpoint::load(&checkpoint_path)? {
            Some(cp) => {
                if let Some(field) = cp.job.difference(&self.key) {
                    return Err(EngineError::JobMismatch {
                        job_dir: self.job_dir.display().to_string(),
                        field,
                    });
                }
                cp
            }
            None => Checkpoint::new(self.key.clone()),
        };
        if cp.state != JobState::Running {
            return self.finish(&cp);
        }
        input::fetch(&self.files)?;
        if let Some(remote) = &self.remote {
            // Shows the job running, and finds a bucket that cannot be written before the
            // work is done rather than after.
            let stats = self.stats_of(&cp, JobState::Running);
            let name = file_name(&self.stats_path());
            remote.join(&name).write(stats::to_bytes(&stats)?)?;
        }
        let outputs = ShardOutputs::open(self.results_path(), self.errors_path(), &cp)?;
        let mut reader = RecordReader::new(&self.files, self.options.format, cp.position);
        let started = Instant::now();
        let bytes_total = self.bytes_total();
        let policy = self.options.failure;
        let (mut successful, mut failed, mut this_run) = (cp.successful, cp.failed, 0u64);
        let mut report = |successful, failed, this_run, bytes_read| {
            progress(&Progress {
                successful,
                failed,
                this_run,
                bytes_read,
                bytes_total,
                elapsed: started.elapsed(),
            })
        };
        report(successful, failed, this_run, reader.bytes_read());
        let mut csv_header = cp.csv_header.clone();
        let cx = BatchContext {
            explainer: &self.explainer,
            generate_explanation: self.options.generate_explanation,
            format: self.options.format,
            config: &self.options.instance_config,
            files: &self.files,
        };
        // The writer commits batch k (append, fsync, checkpoint) while batch k + 1 is
        // computed; the rendezvous channel keeps at most one batch waiting on the disk.
        let (end, written) = std::thread::scope(|scope| {
            let (commits, received) = std::sync::mpsc::sync_channel::<Commit>(0);
            let writer = scope.spawn(|| commit_batches(cp, outputs, &checkpoint_path, received));
            let end = (|| -> Result<(JobState, bool), EngineError> {
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        return Ok((JobState::Cancelled, false));
                    }
                    let mut batch = Vec::with_capacity(self.options.batch_size);
                    let mut at_end = false;
                    while batch.len() < self.options.batch_size {
                        match reader.next_record()? {
                            Some(r) if self.options.shard.owns(r.number) => batch.push(r),
                            Some(_) => {}
                            None => {
                                at_end = true;
                                break;
                            }
                        }
                    }
                    if !batch.is_empty() {
                        this_run += batch.len() as u64;
                        let mut lines = lines::process(&cx, batch);
                        let had_header = csv_header.is_some();
                        if self.options.output_format == OutputFormat::Csv {
                            lines = csv_out::convert(lines, &mut csv_header);
                        }
                        for line in &lines {
                            match line {
                                OutLine::Result(_) => successful += 1,
                                OutLine::Error(_) => failed += 1,
                                OutLine::Header(_) => {}
                            }
                        }
                        let commit = Commit {
                            lines,
                            position: reader.position(),
                            csv_header: (!had_header).then(|| csv_header.clone()).flatten(),
                        };
                        if commits.send(commit).is_err() {
                            // The writer stopped on an error, returned by its join.
                            return Ok((JobState::Cancelled, false));
                        }
                        report(successful, failed, this_run, reader.bytes_read());
                        let judged = successful + failed >= policy.min_records;
                        if judged && policy.exceeded(successful, failed) {
                            return Ok((JobState::Failed, false));
                        }
                    }
                    if at_end {
                        let state = if policy.exceeded(successful, failed) {
                            JobState::Failed
                        } else {
                            JobState::Succeeded
                        };
                        return Ok((state, true));
                    }
                }
            })();
            drop(commits);
            let written = writer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (end, written)
        });
        let mut cp = written?;
        let (end, input_done) = end?;
        if end == JobState::Cancelled {
            // The checkpoint of the last batch stands: running again resumes.
            return self.write_stats(self.stats_of(&cp, JobState::Cancelled));
        }
        cp.state = end;
        cp.input_done = input_done;
        cp.position = reader.position();
        if end == JobState::Failed {
            cp.error = Some(Status {
                code: INVALID_ARGUMENT,
                message: format!(
                    "{} of {} instances failed, more than the allowed {}%; see {}",
                    cp.failed,
                    cp.successful + cp.failed,
                    policy.max_failed_ratio * 100.0,
                    self.errors_path().display()
                ),
            });
        }
        cp.save(&checkpoint_path)?;
        self.finish(&cp)
    }

    /// How many records of this shard the input holds, found by reading it through (for
    /// Parquet, from the files' metadata): with [`Progress::processed`], the count not yet
    /// processed while the job runs. Objects are downloaded first, as [`BatchJob::run`]
    /// does. Stops with `Ok(None)` when `cancel` is set.
    pub fn count_records(&self, cancel: &AtomicBool) -> Result<Option<u64>, EngineError> {
        input::fetch(&self.files)?;
        let shard = self.options.shard;
        let total = if self.options.format == InputFormat::Parquet {
            let mut rows = 0;
            for f in &self.files {
                rows += input::parquet_rows(f)?;
            }
            (rows + u64::from(shard.count) - 1 - u64::from(shard.index)) / u64::from(shard.count)
        } else {
            let mut reader =
                RecordReader::new(&self.files, self.options.format, Default::default());
            let mut owned = 0u64;
            while let Some(r) = reader.next_record()? {
                if r.number % 4096 == 0 && cancel.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                owned += u64::from(shard.owns(r.number));
            }
            owned
        };
        Ok(Some(total))
    }

    /// Writes and returns the stats of a shard that has ended.
    fn finish(&self, cp: &Checkpoint) -> Result<BatchStats, EngineError> {
        self.write_stats(self.stats_of(cp, cp.state))
    }

    fn stats_of(&self, cp: &Checkpoint, state: JobState) -> BatchStats {
        BatchStats {
            job_id: self.job_id.clone(),
            state,
            shard_index: self.options.shard.index,
            shard_count: self.options.shard.count,
            completion_stats: CompletionStats {
                successful_count: cp.successful as i64,
                failed_count: cp.failed as i64,
                // Unknown unless the input was read to its end.
                incomplete_count: if cp.input_done { 0 } else { -1 },
            },
            error: cp.error.clone(),
        }
    }

    /// Writes the stats file and, for an object store output, uploads the shard's files
    /// (results, errors, then stats): a run that ended publishes what it has, whole.
    fn write_stats(&self, stats: BatchStats) -> Result<BatchStats, EngineError> {
        stats::write(&self.stats_path(), &stats)?;
        if let Some(remote) = &self.remote {
            for path in [self.results_path(), self.errors_path(), self.stats_path()] {
                if path.exists() {
                    remote.join(&file_name(&path)).upload(&path)?;
                }
            }
        }
        if stats.state != JobState::Cancelled && self.options.shard.count == 1 {
            // The local copies of object inputs are no longer needed.
            let copies = self.job_dir.join(INPUTS_FOLDER);
            if copies.exists() {
                let _ = std::fs::remove_dir_all(copies);
            }
        }
        Ok(stats)
    }
}

/// Resolves input URIs as a job does (paths, `file://` URIs, globs) without reading the
/// files, and returns how many files they name: a job's input errors
/// ([`EngineError::NoInput`], [`EngineError::UnsupportedInput`]) found before it starts.
pub fn check_inputs(uris: &[String]) -> Result<usize, EngineError> {
    input::resolve(uris).map(|files| files.len())
}

/// The folder of a job's local folder where objects named as inputs are downloaded.
const INPUTS_FOLDER: &str = "inputs";

/// The last part of a path, as text.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A model name made safe as part of a folder name.
fn folder_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "model".into()
    } else {
        cleaned
    }
}

/// The job id a job of `model_name` started at `at` gets by default (Vertex's job folder
/// name): `prediction-<model>-<YYYY-MM-DDThh:mm:ss.sssZ>`, the model name made safe as a
/// folder name and the time in UTC.
pub fn default_job_id(model_name: &str, at: std::time::SystemTime) -> String {
    format!(
        "prediction-{}-{}",
        folder_name(model_name),
        utc_timestamp(at)
    )
}

/// A time as Vertex names job folders: `2026-11-22T15:30:00.123Z` (UTC).
fn utc_timestamp(at: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_records_by_number() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for record in 0..30u64 {
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.owns(record))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners, vec![(record % 3) as u32]);
        }
        assert_eq!(shards[1].suffix(), "-00001-of-00003");
    }

    #[test]
    fn failure_policy_is_a_strict_ratio() {
        let p = FailurePolicy::default();
        assert!(!p.exceeded(50, 50));
        assert!(p.exceeded(49, 51));
        assert!(!p.exceeded(0, 0));
        let never = FailurePolicy {
            max_failed_ratio: 1.0,
            min_records: 0,
        };
        assert!(!never.exceeded(0, 10));
    }

    #[test]
    fn timestamps_and_folder_names() {
        let t = utc_timestamp(std::time::SystemTime::now());
        assert_eq!(t.len(), "2026-11-22T15:30:00.123Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert_eq!(folder_name("my model/v2"), "my_model_v2");
        assert_eq!(folder_name(""), "model");
        let at = std::time::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(
            default_job_id("my model", at),
            "prediction-my_model-2026-11-18T11:06:40.123Z"
        );
    }

    #[test]
    fn formats_have_vertex_names() {
        assert_eq!("jsonl".parse::<InputFormat>().unwrap(), InputFormat::Jsonl);
        assert_eq!(
            "file-list".parse::<InputFormat>().unwrap(),
            InputFormat::FileList
        );
        assert_eq!(
            "parquet".parse::<InputFormat>().unwrap(),
            InputFormat::Parquet
        );
        let e = "tf-record".parse::<InputFormat>().unwrap_err();
        assert!(e.to_string().contains("not supported yet"), "{e}");
    }
}
