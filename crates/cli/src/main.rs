//! The `prism` command line: explain, predict, batch jobs, infer metadata, serve, and a demo.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use prism_engine::{Backend, Explainer, ExplanationParameters, LoadOptions};
use rayon::prelude::*;
use serde_json::{json, Value};

mod allocator;
mod batch;
mod demo;
mod index;

/// Prism explains the predictions of ONNX models: Vertex Explainable AI, self-hosted.
#[derive(Debug, Parser)]
#[command(name = "prism", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain instances: one Vertex Explanation JSON object per input line.
    Explain(ExplainArgs),
    /// Run the model: one prediction JSON object per input line.
    Predict(PredictArgs),
    /// Run a batch prediction job over files: sharded, resumable, exactly once.
    Batch(batch::BatchArgs),
    /// Work with explanation metadata files.
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Explain the built-in examples and print a readable table per instance.
    Demo(DemoArgs),
    /// Serve the Vertex AI REST v1 API (models, endpoints, operations, predict, explain,
    /// batch prediction jobs) and the web UI.
    Serve(ServeArgs),
    /// Build or extend the example index of an example-based model.
    #[command(subcommand)]
    Index(index::IndexCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Where the registry (SQLite) and model artifacts live.
    #[arg(long, env = "PRISM_DATA_DIR", default_value = "./prism-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "PRISM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Registry database URL (default: sqlite in the data directory; postgres://… to share
    /// one registry between several servers).
    #[arg(long, env = "PRISM_DATABASE_URL")]
    database_url: Option<String>,
    /// Seconds a server sharing the registry with others stays alive to them without a
    /// heartbeat (it beats five times per lease); past it, another server fails its
    /// running operations and takes over its batch prediction jobs.
    #[arg(long, env = "PRISM_NODE_LEASE", default_value_t = 10.0)]
    node_lease: f64,
    /// The most explanation requests computed at once; more are answered 429.
    #[arg(long, env = "PRISM_MAX_CONCURRENT")]
    max_concurrent: Option<usize>,
    /// The most instances in one predict or explain request.
    #[arg(long, env = "PRISM_MAX_INSTANCES", default_value_t = 1000)]
    max_instances: usize,
    /// The most batch prediction jobs run at once; more wait in JOB_STATE_QUEUED.
    #[arg(long, env = "PRISM_MAX_CONCURRENT_JOBS", default_value_t = 2)]
    max_concurrent_jobs: usize,
    /// Per-request deadline for predict and explain, in seconds.
    #[arg(long, env = "PRISM_REQUEST_TIMEOUT", default_value_t = 120)]
    request_timeout: u64,
    /// A file of bearer tokens the server accepts, one per line (`#` comments). With it (or
    /// PRISM_AUTH_TOKENS), every route but /healthz and /v2/health/* needs
    /// `Authorization: Bearer <token>`.
    #[arg(long, env = "PRISM_AUTH_TOKENS_FILE")]
    auth_tokens_file: Option<PathBuf>,
    /// Log lines as plain text, or as one JSON object per line (for log collectors: each
    /// request's line carries request_id, method, path, status and latency_ms).
    #[arg(long, env = "PRISM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct BackendArgs {
    /// The runtime for neural-network graphs: tract (built in) or ort (ONNX Runtime: needs a
    /// build with `--features ort`, and ORT_DYLIB_PATH naming libonnxruntime.so). Tree
    /// ensembles always run on Prism's own evaluator.
    #[arg(long, env = "PRISM_BACKEND", value_enum, default_value_t = BackendArg::Tract)]
    backend: BackendArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    /// tract, built in.
    Tract,
    /// ONNX Runtime, loaded from ORT_DYLIB_PATH.
    Ort,
}

impl BackendArgs {
    /// The backend asked for, once it is known to work in this build on this machine.
    pub(crate) fn backend(&self) -> Result<Backend> {
        let backend = match self.backend {
            BackendArg::Tract => Backend::Tract,
            BackendArg::Ort => Backend::Ort,
        };
        backend.ensure_available()?;
        Ok(backend)
    }
}

#[derive(Debug, Args)]
struct InstancesArgs {
    /// The model directory: model.onnx, explanation_metadata.json, optional explanation_spec.json.
    model_dir: PathBuf,
    /// JSONL file of instances, one JSON value per line; `-` reads standard input.
    #[arg(long, short = 'i')]
    instances: String,
    /// Write results here instead of standard output (written whole, then renamed into place).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
}

impl InstancesArgs {
    /// Loads the model directory on the chosen backend.
    fn load(&self) -> Result<Explainer> {
        let options = LoadOptions {
            backend: self.backend.backend()?,
            ..LoadOptions::default()
        };
        Explainer::load_with_options(&self.model_dir, &options)
            .with_context(|| format!("loading model directory {}", self.model_dir.display()))
    }
}

#[derive(Debug, Args)]
struct ExplainArgs {
    #[command(flatten)]
    io: InstancesArgs,
    /// An ExplanationParameters (or whole ExplanationSpec) JSON file replacing the directory's.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Also draw each explanation (PNG heatmaps for images, HTML for text, an SVG bar chart
    /// for tabular features) into this folder, as `line<N>-<feature>-<output>.<ext>`.
    #[arg(long)]
    images_out: Option<PathBuf>,
    /// An ExplanationSpecOverride JSON file, as a request would send it (e.g. an
    /// `examplesOverride` with neighborCount, crowdingCount, restrictions).
    #[arg(long = "override")]
    override_file: Option<PathBuf>,
    /// The attribution method.
    #[arg(long, value_enum)]
    method: Option<MethodArg>,
    /// Sampled Shapley permutation paths (1..=50).
    #[arg(long)]
    path_count: Option<u32>,
    /// Integrated Gradients steps (1..=100).
    #[arg(long)]
    step_count: Option<u32>,
    /// Explain the K highest outputs (-1: all).
    #[arg(long, allow_negative_numbers = true)]
    top_k: Option<i32>,
    /// Explain these outputs, a JSON array such as `[1, 0]`.
    #[arg(long)]
    output_indices: Option<String>,
    /// Seed of the random paths; the same seed gives the same numbers.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MethodArg {
    /// Sampled Shapley.
    SampledShapley,
    /// Integrated Gradients (differentiable models).
    IntegratedGradients,
}

impl MethodArg {
    /// The parameters key of the method and its settings when the flag brings it in.
    fn key_and_default(self) -> (&'static str, Value) {
        match self {
            MethodArg::SampledShapley => ("sampledShapleyAttribution", json!({"pathCount": 10})),
            MethodArg::IntegratedGradients => {
                ("integratedGradientsAttribution", json!({"stepCount": 50}))
            }
        }
    }
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Also draw every explanation shown (PNG heatmaps for the digits, HTML for the reviews,
    /// SVG bar charts for tabular features) into this folder, as
    /// `<example>-line<N>-<feature>-<output>.<ext>`.
    #[arg(long)]
    pictures_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PredictArgs {
    #[command(flatten)]
    io: InstancesArgs,
}

#[derive(Debug, Subcommand)]
enum MetadataCommand {
    /// Print an explanation_metadata.json inferred from an ONNX graph, ready to edit.
    Infer {
        /// The ONNX model file.
        model: PathBuf,
    },
}

/// Exit code when some input lines failed but the others were processed.
pub(crate) const SOME_LINES_FAILED: u8 = 2;

fn main() -> ExitCode {
    allocator::keep_freed_blocks();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Explain(args) => explain(args),
        Command::Predict(args) => predict(args),
        Command::Batch(args) => batch::run(args),
        Command::Metadata(MetadataCommand::Infer { model }) => infer(&model),
        Command::Demo(args) => demo::run(args.pictures_out.as_deref()).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve(args),
        Command::Index(command) => index::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("prism: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the pictures of one explanation as `<prefix>line<N>-<name>` files in `dir`; a
/// picture that cannot be drawn is reported, not fatal.
pub(crate) fn write_pictures(
    dir: &Path,
    prefix: &str,
    line: usize,
    explanation: &prism_engine::Explanation,
    instance: &Value,
    metadata: &prism_engine::ExplanationMetadata,
    defaults: prism_viz::MethodDefaults,
) {
    match prism_viz::pictures_at_least(explanation, instance, metadata, defaults, 224) {
        Ok(files) => {
            for (name, bytes) in files {
                let path = dir.join(format!("{prefix}line{line}-{name}"));
                if let Err(e) = std::fs::write(&path, bytes) {
                    eprintln!("prism: line {line}: cannot write {}: {e}", path.display());
                }
            }
        }
        Err(e) => eprintln!("prism: line {line}: no picture: {e}"),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let mut explainer = args.io.load()?;
    if let Some(parameters) = parameters_from_flags(&args, &explainer)? {
        explainer = explainer.with_parameters(parameters)?;
    }
    if let Some(path) = &args.override_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let o = prism_engine::ExplanationSpecOverride::from_json_str(&text)
            .with_context(|| format!("{}", path.display()))?;
        explainer = explainer.with_override(&o)?;
    }
    if let Some(dir) = &args.images_out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let metadata = explainer.spec().metadata.clone().unwrap_or_default();
    let defaults = prism_viz::MethodDefaults::for_method(&explainer.spec().parameters.method);
    run_lines(&args.io, |instance, line| {
        let explanation = explainer.explain(instance).map_err(|e| e.to_string())?;
        if let Some(dir) = &args.images_out {
            write_pictures(dir, "", line, &explanation, instance, &metadata, defaults);
        }
        serde_json::to_string(&explanation).map_err(|e| e.to_string())
    })
}

fn predict(args: PredictArgs) -> Result<ExitCode> {
    let explainer = args.io.load()?;
    run_lines(&args.io, |instance, _| {
        explainer
            .predict(instance)
            .map(|prediction| prediction.to_string())
            .map_err(|e| e.to_string())
    })
}

/// The parameters the flags ask for, starting from `--spec` or the directory's own.
fn parameters_from_flags(
    args: &ExplainArgs,
    explainer: &Explainer,
) -> Result<Option<ExplanationParameters>> {
    let flags_given = args.method.is_some()
        || args.path_count.is_some()
        || args.step_count.is_some()
        || args.top_k.is_some()
        || args.output_indices.is_some()
        || args.seed.is_some();
    if args.spec.is_none() && !flags_given {
        return Ok(None);
    }
    let mut doc: Value = match &args.spec {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            match v.get("parameters") {
                Some(p) => p.clone(),
                None => v,
            }
        }
        None => serde_json::to_value(&explainer.spec().parameters)?,
    };
    let Some(obj) = doc.as_object_mut() else {
        bail!("the parameters must be a JSON object");
    };
    if let Some(method) = args.method {
        let (key, default) = method.key_and_default();
        for other in [
            "sampledShapleyAttribution",
            "integratedGradientsAttribution",
            "xraiAttribution",
            "examples",
        ] {
            if other != key {
                obj.remove(other);
            }
        }
        obj.entry(key).or_insert(default);
    }
    if let Some(n) = args.path_count {
        let shapley = obj
            .get_mut("sampledShapleyAttribution")
            .context("--path-count applies to sampled Shapley; add --method sampled-shapley")?;
        shapley["pathCount"] = json!(n);
    }
    if let Some(n) = args.step_count {
        let ig = obj.get_mut("integratedGradientsAttribution").context(
            "--step-count applies to Integrated Gradients; add --method integrated-gradients",
        )?;
        ig["stepCount"] = json!(n);
    }
    if let Some(k) = args.top_k {
        obj.remove("outputIndices");
        obj.insert("topK".into(), json!(k));
    }
    if let Some(text) = &args.output_indices {
        let v: Value =
            serde_json::from_str(text).context("--output-indices must be a JSON array")?;
        obj.remove("topK");
        obj.insert("outputIndices".into(), v);
    }
    if let Some(seed) = args.seed {
        obj.insert("seed".into(), json!(seed));
    }
    Ok(Some(
        ExplanationParameters::from_value(doc).context("invalid parameters")?,
    ))
}

/// Lines are read and processed in chunks so that large files stream; each chunk is
/// processed in parallel and written in input order.
const CHUNK_LINES: usize = 256;

/// Reads instance lines in chunks; each line is parsed and given to `process` (with its line
/// number) on the thread pool, which answers the JSON text of its output record. The
/// records are written in input order; a line that is not JSON or that `process` refuses
/// becomes an error record naming the line.
fn run_lines(
    io: &InstancesArgs,
    process: impl Fn(&Value, usize) -> Result<String, String> + Sync,
) -> Result<ExitCode> {
    let reader: Box<dyn BufRead> = if io.instances == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let file = std::fs::File::open(&io.instances)
            .with_context(|| format!("opening instances file {}", io.instances))?;
        Box::new(BufReader::new(file))
    };
    let mut out = Output::open(io.output.as_deref())?;
    let mut failed = 0usize;
    let mut line_no = 0usize;
    let mut lines = reader.lines();
    loop {
        // (line number, text)
        let mut chunk: Vec<(usize, String)> = Vec::with_capacity(CHUNK_LINES);
        for line in lines.by_ref() {
            line_no += 1;
            let line = line.with_context(|| format!("reading line {line_no}"))?;
            if line.trim().is_empty() {
                continue;
            }
            chunk.push((line_no, line));
            if chunk.len() == CHUNK_LINES {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        let records: Vec<(usize, Result<String, String>)> = chunk
            .par_iter()
            .map(|(line, text)| {
                let record = serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("invalid JSON: {e}"))
                    .and_then(|instance| process(&instance, *line));
                (*line, record)
            })
            .collect();
        for (line, record) in records {
            match record {
                Ok(text) => out.write_all(text.as_bytes())?,
                Err(message) => {
                    failed += 1;
                    eprintln!("prism: line {line}: {message}");
                    let record = json!({"error": {"line": line, "message": message}});
                    serde_json::to_writer(&mut out, &record)?;
                }
            }
            out.write_all(b"\n")?;
        }
    }
    out.finish()?;
    if failed > 0 {
        eprintln!("prism: {failed} line(s) failed");
        return Ok(ExitCode::from(SOME_LINES_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Standard output, or a file written beside its destination and renamed into place so a
/// failed run never leaves a half-written file.
struct Output {
    sink: Sink,
    finished: bool,
}

enum Sink {
    Stdout(BufWriter<std::io::Stdout>),
    File {
        writer: BufWriter<std::fs::File>,
        temp: PathBuf,
        dest: PathBuf,
    },
}

impl Output {
    fn open(path: Option<&Path>) -> Result<Self> {
        let sink = match path {
            None => Sink::Stdout(BufWriter::new(std::io::stdout())),
            Some(dest) => {
                let name = dest.file_name().context("--output must name a file")?;
                let mut temp_name = std::ffi::OsString::from(".");
                temp_name.push(name);
                temp_name.push(format!(".{}.partial", std::process::id()));
                let temp = dest.with_file_name(temp_name);
                let file = std::fs::File::create(&temp)
                    .with_context(|| format!("creating {}", temp.display()))?;
                Sink::File {
                    writer: BufWriter::new(file),
                    temp,
                    dest: dest.to_path_buf(),
                }
            }
        };
        Ok(Self {
            sink,
            finished: false,
        })
    }

    fn finish(mut self) -> Result<()> {
        self.flush()?;
        if let Sink::File { writer, temp, dest } = &self.sink {
            writer.get_ref().sync_all()?;
            std::fs::rename(temp, dest)
                .with_context(|| format!("moving results into {}", dest.display()))?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let (Sink::File { temp, .. }, false) = (&self.sink, self.finished) {
            // The run failed before `finish`: leave no partial file behind.
            let _ = std::fs::remove_file(temp);
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write(buf),
            Sink::File { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.flush(),
            Sink::File { writer, .. } => writer.flush(),
        }
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let backend = args.backend.backend()?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match args.log_format {
        // Span fields (request_id, method, path) are flattened into each event's object.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        // Colours only on a terminal: escape codes in a log file or collector are noise.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let mut config = prism_server::ServerConfig::new(args.data_dir);
    config.database_url = args.database_url;
    if !(args.node_lease.is_finite() && args.node_lease >= 0.5) {
        bail!(
            "--node-lease: must be at least 0.5 seconds, got {}",
            args.node_lease
        );
    }
    config.node_lease = std::time::Duration::from_secs_f64(args.node_lease);
    if let Some(n) = args.max_concurrent {
        config.max_concurrent_explanations = n;
    }
    config.max_instances = args.max_instances;
    config.max_concurrent_jobs = args.max_concurrent_jobs;
    config.request_timeout = std::time::Duration::from_secs(args.request_timeout);
    if let Some(path) = &args.auth_tokens_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config.auth_tokens.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    if let Ok(tokens) = std::env::var("PRISM_AUTH_TOKENS") {
        config.auth_tokens.extend(
            tokens
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from),
        );
    }
    if args.auth_tokens_file.is_some() && config.auth_tokens.is_empty() {
        bail!("the auth tokens file holds no token");
    }
    config.backend = backend;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(prism_server::serve(config, args.listen))?;
    Ok(ExitCode::SUCCESS)
}

fn infer(model: &Path) -> Result<ExitCode> {
    let metadata = prism_engine::infer_metadata(model)
        .with_context(|| format!("reading {}", model.display()))?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &metadata)?;
    stdout.write_all(b"\n")?;
    Ok(ExitCode::SUCCESS)
}
