//! `prism index build|add`: the example index of an example-based model directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use prism_engine::examples::{
    build_index_with, extend_index, load_index, save_index, IndexBuildOptions, IndexReport,
    INDEX_FILE, SHARDS_DIR,
};
use prism_engine::{Explainer, ExplanationParameters};
use prism_neighbors::ShardedIndex;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub(crate) enum IndexCommand {
    /// Embed a dataset with the model and build the model directory's example index.
    Build(BuildArgs),
    /// Add examples to the existing index without rebuilding it (UpdateExplanationDataset).
    Add(AddArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The model directory (its spec's method must be `examples`).
    model_dir: PathBuf,
    /// The dataset: JSONL lines `{"id": ..., <features>, "restricts": [...], "crowding_tag": ...}`
    /// (`-` for stdin).
    #[arg(long)]
    examples: PathBuf,
    /// A `nearestNeighborSearchConfig` JSON file replacing the spec's.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// A preset replacing the spec's: MODALITY[,QUERY], e.g. `image` or `text,fast`.
    #[arg(long)]
    preset: Option<String>,
    /// Split the index into this many shards, searched together (default: as many as the
    /// spec's `config.shardSize` needs for the data, one without it).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    shards: Option<u32>,
    /// tree-AH only: store every example in a second partition too (SOAR spilling): about
    /// 1.2x the queries per second at the same recall, for ~100 more bytes per 384-d
    /// example and a longer build. Off by default; `prism index add` keeps the choice.
    #[arg(long)]
    spill: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The model directory.
    model_dir: PathBuf,
    /// The examples to add (JSONL, `-` for stdin). Ids already in the index are skipped.
    #[arg(long)]
    examples: PathBuf,
}

pub(crate) fn run(command: IndexCommand) -> Result<ExitCode> {
    match command {
        IndexCommand::Build(args) => build(args),
        IndexCommand::Add(args) => add(args),
    }
}

fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(BufReader::new(file)))
}

fn load(dir: &Path) -> Result<Explainer> {
    let explainer = Explainer::load(dir)
        .with_context(|| format!("loading model directory {}", dir.display()))?;
    if explainer.examples().is_none() {
        bail!(
            "{}: the explanation spec is not example-based (set parameters.examples)",
            dir.display()
        );
    }
    Ok(explainer)
}

/// Prints progress at most once a second.
fn progress() -> impl FnMut(usize) {
    let started = Instant::now();
    let mut last = Instant::now();
    move |lines| {
        if last.elapsed().as_secs_f64() >= 1.0 {
            let rate = lines as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprintln!("prism index: {lines} lines embedded ({rate:.0} lines/s)");
            last = Instant::now();
        }
    }
}

/// Reports skipped lines on stderr (the first 20).
fn report_skipped(report: &IndexReport) {
    for (line, message) in report.skipped.iter().take(20) {
        if *line > 0 {
            eprintln!("prism index: line {line} skipped: {message}");
        } else {
            eprintln!("prism index: skipped: {message}");
        }
    }
    if report.skipped.len() > 20 {
        eprintln!(
            "prism index: … {} more lines skipped",
            report.skipped.len() - 20
        );
    }
}

fn settings_for(args: &BuildArgs, explainer: &Explainer) -> Result<prism_engine::Examples> {
    let current = explainer
        .examples()
        .expect("checked by load")
        .settings()
        .clone();
    let replaced = if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        json!({"examples": {"nearestNeighborSearchConfig": config}})
    } else if let Some(preset) = &args.preset {
        let mut parts = preset.split(',');
        let modality = parts.next().unwrap_or_default().trim().to_uppercase();
        let mut presets = json!({"modality": modality});
        if let Some(query) = parts.next() {
            presets["query"] = json!(query.trim().to_uppercase());
        }
        json!({"examples": {"presets": presets}})
    } else {
        return Ok(current);
    };
    let parameters =
        ExplanationParameters::from_value(replaced).context("invalid --config or --preset")?;
    match parameters.method {
        prism_engine::Method::Examples(mut settings) => {
            settings.neighbor_count = current.neighbor_count;
            Ok(settings)
        }
        _ => unreachable!("built as examples above"),
    }
}

fn build(args: BuildArgs) -> Result<ExitCode> {
    let explainer = load(&args.model_dir)?;
    let settings = settings_for(&args, &explainer)?;
    let search = explainer.examples().expect("checked by load");
    let started = Instant::now();
    let options = IndexBuildOptions {
        shards: args.shards.map(|n| n as usize),
        spill: args.spill,
    };
    let (index, report) = build_index_with(
        search,
        &settings,
        open(&args.examples)?,
        progress(),
        options,
    )?;
    report_skipped(&report);
    save_index(&index, &args.model_dir)?;
    let path = index_location(&args.model_dir, &index);
    eprintln!(
        "prism index: {} examples indexed into {} ({} skipped) in {:.1}s; {:?}",
        report.added,
        path.display(),
        report.skipped.len(),
        started.elapsed().as_secs_f64(),
        index.stats()
    );
    Ok(exit_code(&report))
}

fn add(args: AddArgs) -> Result<ExitCode> {
    let explainer = load(&args.model_dir)?;
    let search = explainer.examples().expect("checked by load");
    let mut index = load_index(&args.model_dir)?.with_context(|| {
        format!(
            "{} has no {INDEX_FILE}: build the index first with `prism index build`",
            args.model_dir.display()
        )
    })?;
    let report = extend_index(search, &mut index, open(&args.examples)?, progress())?;
    report_skipped(&report);
    save_index(&index, &args.model_dir)?;
    let path = index_location(&args.model_dir, &index);
    eprintln!(
        "prism index: {} examples added to {} (now {}; {} skipped)",
        report.added,
        path.display(),
        index.len(),
        report.skipped.len()
    );
    Ok(exit_code(&report))
}

/// 0 when every line was indexed, 2 when some were skipped (like `prism explain`).
fn exit_code(report: &IndexReport) -> ExitCode {
    if report.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::SOME_LINES_FAILED)
    }
}

/// Where `save_index` put `index`: the file, or the folder of shards.
fn index_location(model_dir: &Path, index: &ShardedIndex) -> PathBuf {
    match index.shards().len() {
        1 => model_dir.join(INDEX_FILE),
        _ => model_dir.join(SHARDS_DIR),
    }
}
