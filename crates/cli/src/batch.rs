//! `prism batch`: batch prediction jobs over files, and the sum of a sharded job's stats.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use prism_engine::batch::{
    merge_stats, read_stats, BatchJob, BatchOptions, FailurePolicy, InputFormat, InstanceConfig,
    InstanceType, JobState, OutputFormat, Progress, Shard,
};
use prism_engine::{Explainer, ExplanationSpecOverride};
use serde_json::Value;

/// Exit code of a job whose run was cancelled (as after SIGINT).
const CANCELLED: u8 = 130;
/// Exit code of a job that succeeded with some instances failed.
const SOME_FAILED: u8 = 2;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct BatchArgs {
    #[command(subcommand)]
    command: Option<BatchCommand>,
    #[command(flatten)]
    job: JobArgs,
}

#[derive(Debug, Subcommand)]
enum BatchCommand {
    /// Sum the stats of a sharded job's shards (job folders or stats files); prints the
    /// merged stats as JSON, exits 0 when every shard succeeded.
    MergeStats {
        /// Job folders (holding stats-*.json) or stats files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct JobArgs {
    /// The model directory: model.onnx, explanation_metadata.json, optional explanation_spec.json.
    #[arg(required = true)]
    model_dir: Option<PathBuf>,
    /// Input files: paths, file://, s3://bucket/key or gs://bucket/key URLs, or glob
    /// patterns of them (quote them); repeat or list several.
    #[arg(long, short = 'i', num_args = 1.., required = true)]
    input: Vec<String>,
    /// Where the job folder (prediction-<model>-<time>, or --job-id) is made: a folder, a
    /// file:// URL, or s3://bucket/prefix or gs://bucket/prefix (the files are uploaded
    /// there when the run ends).
    #[arg(long, short = 'o', required = true)]
    output: Option<String>,
    /// For s3:// and gs:// outputs: the local folder where the job runs before its files
    /// are uploaded (default: <temp>/prism-batch/<output>); the same one resumes the job.
    #[arg(long, env = "PRISM_BATCH_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Write explanations beside the predictions.
    #[arg(long)]
    explain: bool,
    /// How results are written: JSON lines, or a CSV table (not with --explain).
    #[arg(long, value_enum, default_value_t = OutputFormatArg::Jsonl)]
    output_format: OutputFormatArg,
    #[command(flatten)]
    backend: crate::BackendArgs,
    /// An ExplanationSpecOverride JSON file applied to the model's spec (with --explain).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// How the inputs hold instances (TFRecord and BigQuery are not supported yet).
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    format: FormatArg,
    /// Send instances as objects or arrays (CSV rows default to arrays).
    #[arg(long, value_enum)]
    instance_type: Option<InstanceTypeArg>,
    /// A field taken out of each instance; results carry "key" in place of "instance".
    #[arg(long)]
    key_field: Option<String>,
    /// Send only these fields, in this order (comma-separated).
    #[arg(long, value_delimiter = ',')]
    included_fields: Vec<String>,
    /// Do not send these fields (comma-separated).
    #[arg(long, value_delimiter = ',')]
    excluded_fields: Vec<String>,
    /// Instances per engine call (run in parallel); a checkpoint follows each batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// This process's shard: records whose number modulo --shard-count is this.
    #[arg(long, default_value_t = 0)]
    shard_index: u32,
    /// How many shards the job has (then --job-id is required).
    #[arg(long, default_value_t = 1)]
    shard_count: u32,
    /// The job folder's name: give it to resume a job, and the same one to every shard.
    #[arg(long)]
    job_id: Option<String>,
    /// The model's name in the job folder's name (default: the model directory's name).
    #[arg(long)]
    model_name: Option<String>,
    /// The job fails when more than this fraction of its instances failed.
    #[arg(long, default_value_t = 0.5)]
    max_failed_ratio: f64,
    /// The failure ratio is judged during the job once this many instances were processed.
    #[arg(long, default_value_t = 100)]
    failure_min_records: u64,
    /// Seconds between progress lines when standard error is not a terminal (0: every batch).
    #[arg(long, default_value_t = 10.0)]
    progress_interval: f64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// One JSON instance per line.
    Jsonl,
    /// A header row, then one instance per row.
    Csv,
    /// One file path per line; each file's bytes become {"b64": ...}.
    FileList,
    /// Parquet files, read row group by row group; rows become arrays (or objects with
    /// --instance-type object).
    Parquet,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormatArg {
    /// One JSON object per line.
    Jsonl,
    /// A header row, then one row per result (key or instance columns, then predictions).
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InstanceTypeArg {
    /// A JSON object of named fields.
    Object,
    /// A JSON array of the field values.
    Array,
}

/// Runs `prism batch`.
pub(crate) fn run(args: BatchArgs) -> Result<ExitCode> {
    match args.command {
        Some(BatchCommand::MergeStats { paths }) => merge(&paths),
        None => run_job(args.job),
    }
}

fn merge(paths: &[PathBuf]) -> Result<ExitCode> {
    let mut all = Vec::new();
    for p in paths {
        all.extend(read_stats(p).with_context(|| format!("reading stats in {}", p.display()))?);
    }
    let merged = merge_stats(&all)?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &merged)?;
    stdout.write_all(b"\n")?;
    Ok(if merged.state == JobState::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_job(args: JobArgs) -> Result<ExitCode> {
    let (Some(model_dir), Some(output)) = (args.model_dir, args.output) else {
        anyhow::bail!("MODEL_DIR and --output are required");
    };
    let options = prism_engine::LoadOptions {
        backend: args.backend.backend()?,
        ..prism_engine::LoadOptions::default()
    };
    let explainer = Explainer::load_with_options(&model_dir, &options)
        .with_context(|| format!("loading model directory {}", model_dir.display()))?;
    let model_name = match args.model_name {
        Some(name) => name,
        None => std::fs::canonicalize(&model_dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into()),
    };
    let mut options = BatchOptions::new(args.input, output, model_name);
    options.work_dir = args.work_dir;
    options.format = match args.format {
        FormatArg::Jsonl => InputFormat::Jsonl,
        FormatArg::Csv => InputFormat::Csv,
        FormatArg::FileList => InputFormat::FileList,
        FormatArg::Parquet => InputFormat::Parquet,
    };
    options.instance_config = InstanceConfig {
        instance_type: args.instance_type.map(|t| match t {
            InstanceTypeArg::Object => InstanceType::Object,
            InstanceTypeArg::Array => InstanceType::Array,
        }),
        key_field: args.key_field,
        included_fields: args.included_fields,
        excluded_fields: args.excluded_fields,
    };
    options.job_id = args.job_id;
    options.generate_explanation = args.explain;
    options.output_format = match args.output_format {
        OutputFormatArg::Jsonl => OutputFormat::Jsonl,
        OutputFormatArg::Csv => OutputFormat::Csv,
    };
    options.spec_override = match &args.spec {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                ExplanationSpecOverride::from_json_str(&text).with_context(|| {
                    format!("{} is not an ExplanationSpecOverride", path.display())
                })?,
            )
        }
        None => None,
    };
    options.batch_size = args.batch_size;
    options.shard = Shard {
        index: args.shard_index,
        count: args.shard_count,
    };
    options.failure = FailurePolicy {
        max_failed_ratio: args.max_failed_ratio,
        min_records: args.failure_min_records,
    };
    let job = BatchJob::new(explainer, options)?;
    let resuming = job.checkpoint_path().exists();
    eprintln!(
        "prism: {} job {} (shard {} of {}) in {}",
        if resuming { "resuming" } else { "starting" },
        job.job_id(),
        args.shard_index,
        args.shard_count,
        job.output_location()
    );
    if job.output_location() != job.job_dir().display().to_string() {
        eprintln!(
            "prism: working in {}; the files are uploaded when the run ends",
            job.job_dir().display()
        );
    }
    let cancel = Arc::new(AtomicBool::new(false));
    cancel_on_signals(Arc::clone(&cancel))?;
    let interval = Duration::from_secs_f64(args.progress_interval.max(0.0));
    let mut display = ProgressDisplay::new(std::io::stderr().is_terminal(), interval);
    let result = job.run(&cancel, &mut |p| display.show(p));
    display.finish();
    let stats = result?;
    let mut report = serde_json::to_value(&stats)?;
    if let Value::Object(o) = &mut report {
        o.insert(
            "outputDirectory".into(),
            Value::String(job.output_location()),
        );
    }
    println!("{report}");
    let c = &stats.completion_stats;
    Ok(match stats.state {
        JobState::Succeeded if c.failed_count == 0 => ExitCode::SUCCESS,
        JobState::Succeeded => {
            eprintln!(
                "prism: {} instance(s) failed; see {}",
                c.failed_count,
                job.errors_path().display()
            );
            ExitCode::from(SOME_FAILED)
        }
        JobState::Cancelled => {
            eprintln!(
                "prism: cancelled; run the same command with --job-id {} to resume",
                job.job_id()
            );
            ExitCode::from(CANCELLED)
        }
        _ => {
            let why = stats.error.as_ref().map_or("", |e| e.message.as_str());
            eprintln!("prism: the job failed: {why}");
            ExitCode::FAILURE
        }
    })
}

/// SIGINT or SIGTERM sets the cancel flag (the job stops after its batch); a second one
/// stops the process at once.
fn cancel_on_signals(cancel: Arc<AtomicBool>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered here, before the job starts, so no signal finds the default handler.
    let (mut interrupt, mut terminate) = {
        let _guard = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                if cancel.swap(true, Ordering::SeqCst) {
                    eprintln!("\nprism: stopped");
                    std::process::exit(i32::from(CANCELLED));
                }
                eprintln!("\nprism: cancelling after the current batch (again to stop at once)");
            }
        });
    });
    Ok(())
}

/// Progress on standard error: one line redrawn on a terminal, plain lines every
/// `interval` otherwise.
struct ProgressDisplay {
    terminal: bool,
    interval: Duration,
    last_shown: Option<Instant>,
    /// Input bytes read when this run started (for the rate and the ETA).
    first_bytes: Option<u64>,
    drawn: bool,
}

impl ProgressDisplay {
    fn new(terminal: bool, interval: Duration) -> Self {
        Self {
            terminal,
            interval,
            last_shown: None,
            first_bytes: None,
            drawn: false,
        }
    }

    fn show(&mut self, p: &Progress) {
        let first_bytes = *self.first_bytes.get_or_insert(p.bytes_read);
        if p.processed() == 0 {
            return;
        }
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            self.interval
        };
        let due = self.last_shown.is_none_or(|t| t.elapsed() >= every);
        let done = p.bytes_read >= p.bytes_total;
        if !due && !done {
            return;
        }
        self.last_shown = Some(Instant::now());
        let secs = p.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            p.this_run as f64 / secs
        } else {
            0.0
        };
        let mut line = format!("{} lines", p.processed());
        if p.failed > 0 {
            line.push_str(&format!(" ({} failed)", p.failed));
        }
        line.push_str(&format!(", {rate:.0} lines/s"));
        if p.bytes_total > 0 {
            let fraction = p.bytes_read as f64 / p.bytes_total as f64;
            line.push_str(&format!(", {:.1}% of input", fraction * 100.0));
            let read_now = p.bytes_read.saturating_sub(first_bytes);
            if read_now > 0 && !done {
                let left = (p.bytes_total - p.bytes_read) as f64 * secs / read_now as f64;
                line.push_str(&format!(", ETA {}", clock(left)));
            }
        }
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a closed standard error does not stop the job.
        let _ = if self.terminal {
            self.drawn = true;
            write!(err, "\r\x1b[K{line}").and_then(|()| err.flush())
        } else {
            writeln!(err, "prism: {line}")
        };
    }

    fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Seconds as `h:mm:ss` or `m:ss`.
fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::clock;

    #[test]
    fn clocks() {
        assert_eq!(clock(5.4), "0:05");
        assert_eq!(clock(125.0), "2:05");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
