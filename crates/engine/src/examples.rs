//! Example-based explanations: the model embeds instances, the nearest-neighbour index of
//! the model directory (`examples.index`) answers with the closest examples.
//!
//! The embedding is the intermediate tensor the metadata's `latentSpaceSource` names, or else
//! the metadata output named `embedding` (its `outputTensorName`). A dataset line is
//! `{"id": "17", <features...>, "restricts": [{"namespace": "label", "allow": ["cat"],
//! "deny": [...]}], "numeric_restricts": [{"namespace": "price", "value_float": 3.5}],
//! "crowding_tag": "..."}` (camelCase `numericRestricts`, `crowdingTag`, `valueInt`, … are
//! read too); the other keys are the instance.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::{Arc, RwLock};

use prism_attribution::{Binder, BoundInstance, Rows};
use prism_model::{Model, OnnxModel, TensorData};
use prism_neighbors as nb;
use prism_spec::{
    DistanceMeasureType, ExamplesOverride, ExamplesOverrideDataFormat, ExplanationSpec,
    FeatureNormType, Neighbor,
};
use serde_json::{Map, Value};

use crate::error::EngineError;

/// The index file of a model directory.
pub const INDEX_FILE: &str = "examples.index";

/// The folder of an index split into several shards (`config.shardSize`), in the model
/// directory in place of [`INDEX_FILE`].
pub const SHARDS_DIR: &str = "examples.index.shards";

/// Neighbours returned when neither the spec nor the request says how many.
pub const DEFAULT_NEIGHBOR_COUNT: usize = 10;

/// Instances embedded per model call while indexing.
const EMBED_BATCH: usize = 256;

/// A model's example-based side: its binding, embedding model and index.
pub struct ExampleSearch {
    binder: Binder,
    embed: OnnxModel,
    embedding: String,
    settings: prism_spec::Examples,
    index: RwLock<Option<Arc<nb::ShardedIndex>>>,
}

impl std::fmt::Debug for ExampleSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExampleSearch")
            .field("embedding", &self.embedding)
            .finish()
    }
}

fn examples_error(message: impl Into<String>) -> EngineError {
    EngineError::Examples(message.into())
}

impl ExampleSearch {
    /// Prepares the embedding of `bytes` under `spec` (whose method is `examples`) and loads
    /// the index saved in `model_dir` when there is one (see [`load_index`]).
    pub(crate) fn new(
        bytes: &[u8],
        model: &OnnxModel,
        spec: &ExplanationSpec,
        settings: &prism_spec::Examples,
        model_dir: Option<&Path>,
    ) -> Result<Self, EngineError> {
        let metadata = spec.metadata.as_ref();
        let binder = Binder::new(metadata, model.signature())?;
        let embedding = match metadata {
            Some(m) if m.latent_space_source.is_some() => m.latent_space_source.clone().unwrap(),
            Some(m) => match m.outputs.get("embedding") {
                Some(out) => out
                    .output_tensor_name
                    .clone()
                    .unwrap_or_else(|| "embedding".to_string()),
                None => {
                    return Err(examples_error(
                        "metadata: example-based explanations need latentSpaceSource or an \
                         output named 'embedding'",
                    ))
                }
            },
            None => {
                return Err(examples_error(
                    "example-based explanations need metadata naming the embedding \
                     (latentSpaceSource or an output named 'embedding')",
                ))
            }
        };
        let embed = prism_model::gradient::values_model(bytes, std::slice::from_ref(&embedding))?;
        let index = match model_dir {
            Some(dir) => load_index(dir)?.map(Arc::new),
            None => None,
        };
        Ok(Self {
            binder,
            embed,
            embedding,
            settings: settings.clone(),
            index: RwLock::new(index),
        })
    }

    /// How instances bind to the model's inputs.
    pub fn binder(&self) -> &Binder {
        &self.binder
    }

    /// The tensor whose values are the embeddings.
    pub fn embedding_name(&self) -> &str {
        &self.embedding
    }

    /// The index in use, if one is built.
    pub fn index(&self) -> Option<Arc<nb::ShardedIndex>> {
        self.index.read().ok().and_then(|i| i.clone())
    }

    /// Replaces the index in use.
    pub fn set_index(&self, index: nb::ShardedIndex) {
        if let Ok(mut slot) = self.index.write() {
            *slot = Some(Arc::new(index));
        }
    }

    /// Embeds instances, one model call per batch of bound instances; per instance, its
    /// vector or why it could not be embedded.
    pub fn embed_batch(&self, instances: &[Value]) -> Vec<Result<Vec<f32>, EngineError>> {
        let mut out: Vec<Option<Result<Vec<f32>, EngineError>>> =
            instances.iter().map(|_| None).collect();
        let bound: Vec<(usize, BoundInstance)> = instances
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match self.binder.bind(v) {
                Ok(b) => Some((i, b)),
                Err(e) => {
                    out[i] = Some(Err(e.into()));
                    None
                }
            })
            .collect();
        // Instances whose tensors have other shapes than the first go alone.
        let mut groups: Vec<Vec<&(usize, BoundInstance)>> = Vec::new();
        for b in &bound {
            match groups.iter_mut().find(|g| g[0].1.shapes == b.1.shapes) {
                Some(g) => g.push(b),
                None => groups.push(vec![b]),
            }
        }
        for group in groups {
            let result = self.embed_group(&group);
            match result {
                Ok(vectors) => {
                    for ((i, _), v) in group.iter().zip(vectors) {
                        out[*i] = Some(Ok(v));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for (i, _) in group {
                        out[*i] = Some(Err(examples_error(message.clone())));
                    }
                }
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(examples_error("not embedded"))))
            .collect()
    }

    fn embed_group(&self, group: &[&(usize, BoundInstance)]) -> Result<Vec<Vec<f32>>, EngineError> {
        let first = &group[0].1;
        let mut rows = Rows::new(first, group.len());
        for (_, b) in group {
            rows.push(&b.values);
        }
        let inputs = self.binder.tensors_for(&first.shapes, &rows)?;
        let outputs = self.embed.forward(&inputs)?;
        let t = outputs
            .into_iter()
            .next()
            .ok_or_else(|| examples_error("the embedding model returned nothing"))?;
        let TensorData::F32(values) = t.data else {
            return Err(examples_error(format!(
                "the embedding '{}' is not a float tensor",
                self.embedding
            )));
        };
        let dims = values.len() / group.len().max(1);
        Ok(values.chunks(dims.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// The nearest examples of `instance` (an instance, or with `dataFormat: EMBEDDINGS` a
    /// vector), under the request's `examplesOverride`.
    pub fn neighbors(
        &self,
        instance: &Value,
        request: Option<&ExamplesOverride>,
    ) -> Result<Vec<Neighbor>, EngineError> {
        let index = self.index().ok_or_else(|| {
            examples_error(format!(
                "the model has no example index yet: build one with `prism index build` \
                 ({INDEX_FILE} in the model directory)"
            ))
        })?;
        let vector = match request.and_then(|o| o.data_format) {
            Some(ExamplesOverrideDataFormat::Embeddings) => vector_of(instance)?,
            _ => self
                .embed_batch(std::slice::from_ref(instance))
                .pop()
                .unwrap_or_else(|| Err(examples_error("not embedded")))?,
        };
        let count = request
            .and_then(|o| o.neighbor_count)
            .or(self.settings.neighbor_count)
            .map_or(DEFAULT_NEIGHBOR_COUNT, |n| n.max(1) as usize);
        let mut query = nb::Query::new(&vector, count);
        if let Some(o) = request {
            for r in &o.restrictions {
                if !r.allow.is_empty() {
                    query = query.restrict(nb::TokenRestrict::allow(&r.namespace_name, &r.allow));
                }
                if !r.deny.is_empty() {
                    query = query.restrict(nb::TokenRestrict::deny(&r.namespace_name, &r.deny));
                }
            }
            if let Some(c) = o.crowding_count.filter(|c| *c > 0) {
                query = query.crowding(c as usize);
            }
        }
        let found = index.search(&query)?;
        Ok(found
            .into_iter()
            .map(|n| Neighbor {
                neighbor_id: n.id,
                neighbor_distance: f64::from(n.distance),
            })
            .collect())
    }

    /// The index configuration the model's spec asks for; see [`index_config`].
    pub fn index_config(
        &self,
        dimensions: usize,
        count: usize,
    ) -> Result<nb::IndexConfig, EngineError> {
        index_config(&self.settings, dimensions, count)
    }

    /// The spec's `examples` settings.
    pub fn settings(&self) -> &prism_spec::Examples {
        &self.settings
    }
}

/// The index configuration `settings` ask for (`nearestNeighborSearchConfig`, or `presets`
/// whose small sets are searched by brute force) for `count` vectors of `dimensions`.
pub fn index_config(
    settings: &prism_spec::Examples,
    dimensions: usize,
    count: usize,
) -> Result<nb::IndexConfig, EngineError> {
    if let Some(c) = &settings.nearest_neighbor_search_config {
        let cfg = &c.config;
        if cfg.dimensions as usize != dimensions {
            return Err(examples_error(format!(
                "nearestNeighborSearchConfig.config.dimensions is {}, the embeddings have {dimensions}",
                cfg.dimensions
            )));
        }
        let distance = match cfg.distance_measure_type {
            DistanceMeasureType::SquaredL2 => nb::DistanceMeasure::SquaredL2,
            DistanceMeasureType::L1 => nb::DistanceMeasure::L1,
            DistanceMeasureType::Cosine => nb::DistanceMeasure::Cosine,
            _ => nb::DistanceMeasure::DotProduct,
        };
        let norm = match cfg.feature_norm_type {
            FeatureNormType::UnitL2Norm => nb::FeatureNorm::UnitL2,
            _ => nb::FeatureNorm::None,
        };
        let algorithm = match &cfg.algorithm_config {
            prism_spec::AlgorithmConfig::TreeAh(t) => nb::Algorithm::TreeAh {
                leaf_node_embedding_count: t.leaf_node_embedding_count as usize,
                fraction_leaf_nodes_to_search: t.effective_fraction_leaf_nodes_to_search(),
                approximate_neighbors_count: cfg.approximate_neighbors_count.unwrap_or(100)
                    as usize,
            },
            _ => nb::Algorithm::BruteForce,
        };
        return Ok(nb::IndexConfig::new(dimensions)
            .distance(distance)
            .norm(norm)
            .algorithm(algorithm));
    }
    let presets = settings.presets.clone().unwrap_or_default();
    let modality = match presets.modality {
        Some(prism_spec::PresetModality::Image) => nb::PresetModality::Image,
        Some(prism_spec::PresetModality::Text) => nb::PresetModality::Text,
        _ => nb::PresetModality::Tabular,
    };
    let query = match presets.query {
        Some(prism_spec::Query::Fast) => nb::PresetQuery::Fast,
        _ => nb::PresetQuery::Precise,
    };
    Ok(nb::IndexConfig::preset(dimensions, count, modality, query))
}

/// `[numbers...]` or `{"embedding": [numbers...]}` as a vector.
fn vector_of(instance: &Value) -> Result<Vec<f32>, EngineError> {
    let list = match instance {
        Value::Array(a) => a,
        Value::Object(m) => m
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| examples_error("instance: with dataFormat EMBEDDINGS, give the vector as a list or as {\"embedding\": [...]}"))?,
        _ => return Err(examples_error("instance: with dataFormat EMBEDDINGS, give the vector as a list")),
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| examples_error(format!("instance[{i}]: not a number")))
        })
        .collect()
}

/// One line of an examples dataset, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetLine {
    /// The example id.
    pub id: String,
    /// The model instance (the line without the id and the restricts).
    pub instance: Value,
    /// Token restricts: namespace, allowed tokens, denied tokens.
    pub restricts: Vec<(String, Vec<String>, Vec<String>)>,
    /// Numeric restricts: namespace and value.
    pub numeric: Vec<(String, nb::NumericValue)>,
    /// The crowding tag.
    pub crowding_tag: Option<String>,
}

impl DatasetLine {
    /// Parses one JSONL line.
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut map: Map<String, Value> = match serde_json::from_str(line) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("a dataset line must be a JSON object".into()),
            Err(e) => return Err(format!("invalid JSON: {e}")),
        };
        let id = match map.remove("id") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("id: is required (a non-empty string or a number)".into()),
        };
        let take = |map: &mut Map<String, Value>, a: &str, b: &str| {
            map.remove(a).or_else(|| map.remove(b))
        };
        let mut restricts = Vec::new();
        if let Some(v) = take(&mut map, "restricts", "restricts") {
            let list = v.as_array().ok_or("restricts: must be a list")?;
            for (i, r) in list.iter().enumerate() {
                let ns = r["namespace"]
                    .as_str()
                    .ok_or(format!("restricts[{i}].namespace: is required"))?;
                let words = |k: &str| -> Result<Vec<String>, String> {
                    match &r[k] {
                        Value::Null => Ok(vec![]),
                        Value::Array(a) => a
                            .iter()
                            .map(|t| {
                                t.as_str()
                                    .map(String::from)
                                    .ok_or(format!("restricts[{i}].{k}: strings only"))
                            })
                            .collect(),
                        _ => Err(format!("restricts[{i}].{k}: must be a list")),
                    }
                };
                restricts.push((ns.to_string(), words("allow")?, words("deny")?));
            }
        }
        let mut numeric = Vec::new();
        if let Some(v) = take(&mut map, "numeric_restricts", "numericRestricts") {
            let list = v.as_array().ok_or("numeric_restricts: must be a list")?;
            for (i, r) in list.iter().enumerate() {
                let ns = r["namespace"]
                    .as_str()
                    .ok_or(format!("numeric_restricts[{i}].namespace: is required"))?;
                let get = |a: &str, b: &str| r.get(a).or_else(|| r.get(b));
                let value = if let Some(x) = get("value_int", "valueInt").and_then(Value::as_i64) {
                    nb::NumericValue::Int(x)
                } else if let Some(x) = get("value_float", "valueFloat").and_then(Value::as_f64) {
                    nb::NumericValue::Float(x as f32)
                } else if let Some(x) = get("value_double", "valueDouble").and_then(Value::as_f64) {
                    nb::NumericValue::Double(x)
                } else {
                    return Err(format!(
                        "numeric_restricts[{i}]: needs value_int, value_float or value_double"
                    ));
                };
                numeric.push((ns.to_string(), value));
            }
        }
        let crowding_tag = match take(&mut map, "crowding_tag", "crowdingTag") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err("crowding_tag: must be a string".into()),
        };
        Ok(DatasetLine {
            id,
            instance: Value::Object(map),
            restricts,
            numeric,
            crowding_tag,
        })
    }

    fn into_example(self, vector: Vec<f32>) -> nb::Example {
        let mut e = nb::Example::new(self.id, vector);
        for (namespace, allow, deny) in self.restricts {
            e.restricts.push(nb::TokenRestrict {
                namespace,
                allow,
                deny,
            });
        }
        for (ns, value) in self.numeric {
            e = e.with_number(ns, value);
        }
        if let Some(tag) = self.crowding_tag {
            e = e.with_crowding_tag(tag);
        }
        e
    }
}

/// What indexing a dataset did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexReport {
    /// Examples added.
    pub added: usize,
    /// Lines skipped: 1-based line number and why.
    pub skipped: Vec<(usize, String)>,
}

/// Reads and embeds every line of `dataset`, `EMBED_BATCH` lines per model call; calls
/// `progress(lines read)` after each batch.
pub fn embed_dataset(
    search: &ExampleSearch,
    dataset: impl BufRead,
    mut progress: impl FnMut(usize),
) -> Result<(Vec<nb::Example>, IndexReport), EngineError> {
    let mut examples = Vec::new();
    let mut report = IndexReport::default();
    let mut pending: Vec<(usize, DatasetLine)> = Vec::with_capacity(EMBED_BATCH);
    let mut read = 0;
    let flush = |pending: &mut Vec<(usize, DatasetLine)>,
                 examples: &mut Vec<nb::Example>,
                 report: &mut IndexReport| {
        let instances: Vec<Value> = pending.iter().map(|(_, l)| l.instance.clone()).collect();
        for ((n, line), vector) in pending.drain(..).zip(search.embed_batch(&instances)) {
            match vector {
                Ok(v) => {
                    examples.push(line.into_example(v));
                    report.added += 1;
                }
                Err(e) => report.skipped.push((n, e.to_string())),
            }
        }
    };
    for (i, line) in dataset.lines().enumerate() {
        let line = line.map_err(|source| EngineError::Io {
            path: "examples".into(),
            source,
        })?;
        read = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        match DatasetLine::parse(&line) {
            Ok(parsed) => pending.push((i + 1, parsed)),
            Err(m) => report.skipped.push((i + 1, m)),
        }
        if pending.len() >= EMBED_BATCH {
            flush(&mut pending, &mut examples, &mut report);
            progress(read);
        }
    }
    flush(&mut pending, &mut examples, &mut report);
    progress(read);
    // A duplicate id would fail the whole build: keep the first, report the others.
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::with_capacity(examples.len());
    for e in examples {
        if seen.insert(e.id.clone()) {
            kept.push(e);
        } else {
            report.added -= 1;
            report
                .skipped
                .push((0, format!("duplicate id {:?} (the first is kept)", e.id)));
        }
    }
    Ok((kept, report))
}

/// Embeds `dataset` and builds an index configured by `settings` (see [`index_config`]),
/// split into as many shards as `config.shardSize` asks for the data's size (one without
/// it). Fails when no line could be embedded.
pub fn build_index(
    search: &ExampleSearch,
    settings: &prism_spec::Examples,
    dataset: impl BufRead,
    progress: impl FnMut(usize),
) -> Result<(nb::ShardedIndex, IndexReport), EngineError> {
    build_index_with(
        search,
        settings,
        dataset,
        progress,
        IndexBuildOptions::default(),
    )
}

/// Prism's own index-build choices, which Vertex's `nearestNeighborSearchConfig` has no
/// field for (the CLI's `prism index build --shards N --spill`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexBuildOptions {
    /// Split the index into this many shards (`None`: as many as `config.shardSize` asks
    /// for the data's size, one without it).
    pub shards: Option<usize>,
    /// tree-AH only: store every vector in a second partition as well (SOAR spilling,
    /// `prism_neighbors::IndexConfig::spill`): about 1.2x the queries per second at the
    /// same recall for ~100 more bytes per 384-d vector and a longer build. Off by default.
    pub spill: bool,
}

/// [`build_index`] with Prism's own choices (shards, spilling).
pub fn build_index_with(
    search: &ExampleSearch,
    settings: &prism_spec::Examples,
    dataset: impl BufRead,
    progress: impl FnMut(usize),
    options: IndexBuildOptions,
) -> Result<(nb::ShardedIndex, IndexReport), EngineError> {
    let (examples, report) = embed_dataset(search, dataset, progress)?;
    let Some(first) = examples.first() else {
        let why = report
            .skipped
            .first()
            .map(|(line, m)| format!(" (line {line}: {m})"))
            .unwrap_or_default();
        return Err(examples_error(format!(
            "no example could be embedded: {} lines skipped{why}",
            report.skipped.len()
        )));
    };
    let dimensions = first.vector.len();
    let config = index_config(settings, dimensions, examples.len())?.spill(options.spill);
    let shards = options.shards.unwrap_or_else(|| {
        shard_size(settings).map_or(1, |size| size.shards_for(examples.len(), dimensions))
    });
    Ok((
        nb::ShardedIndex::build_with_shards(config, shards, examples)?,
        report,
    ))
}

/// Embeds `dataset` and adds its examples to `index`; ids already there are skipped and
/// reported.
pub fn extend_index(
    search: &ExampleSearch,
    index: &mut nb::ShardedIndex,
    dataset: impl BufRead,
    progress: impl FnMut(usize),
) -> Result<IndexReport, EngineError> {
    let (examples, mut report) = embed_dataset(search, dataset, progress)?;
    let (new, known): (Vec<_>, Vec<_>) = examples.into_iter().partition(|e| !index.contains(&e.id));
    for e in known {
        report.added -= 1;
        report
            .skipped
            .push((0, format!("id {:?} is already indexed", e.id)));
    }
    index.add(new)?;
    Ok(report)
}

/// Opens the dataset files of `examples.exampleGcsSource` (local paths or `file://` URIs;
/// other schemes are refused) as one reader.
pub fn open_dataset(uris: &[String]) -> Result<Box<dyn BufRead + Send>, EngineError> {
    if uris.is_empty() {
        return Err(examples_error("exampleGcsSource.gcsSource.uris: is empty"));
    }
    let mut readers: Vec<Box<dyn std::io::Read + Send>> = Vec::new();
    for uri in uris {
        let path = match uri.split_once("://") {
            None => uri.as_str(),
            Some(("file", rest)) => rest,
            Some((scheme, _)) => {
                return Err(examples_error(format!(
                    "{uri}: {scheme}:// sources are not supported yet; copy the file locally"
                )))
            }
        };
        let file = std::fs::File::open(path).map_err(|source| EngineError::Io {
            path: path.to_string(),
            source,
        })?;
        readers.push(Box::new(file));
        // Files may lack a final newline: keep lines of consecutive files apart.
        readers.push(Box::new(std::io::Cursor::new(b"\n".to_vec())));
    }
    let chained = readers
        .into_iter()
        .reduce(|a, b| Box::new(a.chain(b)))
        .expect("at least one file");
    Ok(Box::new(std::io::BufReader::new(chained)))
}

/// The shard size `settings` ask for (`nearestNeighborSearchConfig.config.shardSize`).
fn shard_size(settings: &prism_spec::Examples) -> Option<nb::ShardSize> {
    let size = settings
        .nearest_neighbor_search_config
        .as_ref()?
        .config
        .shard_size?;
    nb::ShardSize::from_vertex_name(size.name())
}

/// The index saved in `model_dir` by [`save_index`]: one file ([`INDEX_FILE`]) or a folder
/// of shards ([`SHARDS_DIR`]); `None` when there is neither.
pub fn load_index(model_dir: &Path) -> Result<Option<nb::ShardedIndex>, EngineError> {
    let file = model_dir.join(INDEX_FILE);
    let shards = model_dir.join(SHARDS_DIR);
    // A save that stopped between putting the new shards in place and removing the old
    // ones leaves them in the `.old` folder.
    let old_shards = model_dir.join(format!("{SHARDS_DIR}.old"));
    let shards = if shards.is_dir() {
        Some(shards)
    } else {
        old_shards.is_dir().then_some(old_shards)
    };
    // Both forms present: a save stopped before removing the other one; the newer wins.
    let newer = |a: &Path, b: &Path| -> bool {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        modified(a) >= modified(b)
    };
    match (file.is_file(), shards) {
        (true, Some(dir)) if newer(&dir, &file) => Ok(Some(nb::ShardedIndex::load(&dir)?)),
        (true, _) => Ok(Some(nb::ShardedIndex::single(nb::Index::load(&file)?))),
        (false, Some(dir)) => Ok(Some(nb::ShardedIndex::load(&dir)?)),
        (false, None) => Ok(None),
    }
}

/// Saves `index` into `model_dir`: one shard as [`INDEX_FILE`] (written to a temporary file
/// and renamed), several as the [`SHARDS_DIR`] folder (written whole beside it, then
/// swapped in), and removes the other form.
pub fn save_index(index: &nb::ShardedIndex, model_dir: &Path) -> Result<(), EngineError> {
    let file = model_dir.join(INDEX_FILE);
    let shards = model_dir.join(SHARDS_DIR);
    let io = |path: &Path, e: std::io::Error| {
        examples_error(format!("writing the index at {}: {e}", path.display()))
    };
    let remove_dir = |path: &Path| match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path, e)),
        _ => Ok(()),
    };
    if let [only] = index.shards() {
        only.save(&file)?;
        return remove_dir(&shards);
    }
    let partial = model_dir.join(format!("{SHARDS_DIR}.partial"));
    let old = model_dir.join(format!("{SHARDS_DIR}.old"));
    remove_dir(&partial)?;
    index.save(&partial)?;
    remove_dir(&old)?;
    if shards.is_dir() {
        std::fs::rename(&shards, &old).map_err(|e| io(&shards, e))?;
    }
    std::fs::rename(&partial, &shards).map_err(|e| io(&shards, e))?;
    remove_dir(&old)?;
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&file, e)),
        _ => Ok(()),
    }
}
