//! Example-based explanations: the `examples` method, its dataset and its
//! nearest-neighbour index configuration.

use serde::Serialize;
use serde_json::Value;

use crate::checks;
use crate::enums::{
    DistanceMeasureType, ExampleGcsSourceDataFormat, FeatureNormType, PresetModality, Query,
    ShardSize,
};
use crate::path::{At, Cx, JsonPath};
use crate::reader::{self, Fields, Obj};
use crate::SpecError;

/// Default `treeAhConfig.leafNodeEmbeddingCount`.
pub const DEFAULT_LEAF_NODE_EMBEDDING_COUNT: u64 = 1000;
/// Default `treeAhConfig.fractionLeafNodesToSearch`.
pub const DEFAULT_FRACTION_LEAF_NODES_TO_SEARCH: f64 = 0.05;

/// Example-based explanation settings (`google.cloud.aiplatform.v1.Examples`): the
/// explanation of an instance is its nearest neighbours among the examples, in the
/// model's latent space.
///
/// The index is configured either fully (`nearest_neighbor_search_config`) or by a preset
/// (`presets`), not both. With neither, the engine uses the default preset (PRECISE,
/// modality from the metadata).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Examples {
    /// Where the example instances are (JSONL files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example_gcs_source: Option<ExampleGcsSource>,
    /// The full index configuration (Vertex Vector Search's index metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_neighbor_search_config: Option<NearestNeighborSearchConfig>,
    /// A preset that chooses the index configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presets: Option<Presets>,
    /// How many neighbours to return, `>= 1`. Unset: the engine's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor_count: Option<i32>,
}

impl Examples {
    pub(crate) fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&[
            "exampleGcsSource",
            "nearestNeighborSearchConfig",
            "presets",
            "neighborCount",
        ]);
        let o = Obj::new(v, at, &FIELDS)?;
        if o.has("nearestNeighborSearchConfig") && o.has("presets") {
            return Err(config_oneof_error(at.written()));
        }
        Ok(Examples {
            example_gcs_source: o.with("exampleGcsSource", cx, ExampleGcsSource::parse)?,
            nearest_neighbor_search_config: o.with(
                "nearestNeighborSearchConfig",
                cx,
                NearestNeighborSearchConfig::parse,
            )?,
            presets: o.with("presets", cx, Presets::parse)?,
            neighbor_count: positive_i32(&o, "neighborCount", cx)?,
        })
    }

    /// Checks every rule of the contract; paths are relative to this object.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(&JsonPath::root())
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        if self.nearest_neighbor_search_config.is_some() && self.presets.is_some() {
            return Err(config_oneof_error(at.as_str()));
        }
        if let Some(src) = &self.example_gcs_source {
            src.validate_at(&at.key("exampleGcsSource"))?;
        }
        if let Some(c) = &self.nearest_neighbor_search_config {
            c.validate_at(&at.key("nearestNeighborSearchConfig"))?;
        }
        if let Some(n) = self.neighbor_count {
            checks::at_least(i64::from(n), 1, &at.key("neighborCount"))?;
        }
        Ok(())
    }
}

fn config_oneof_error(path: &str) -> SpecError {
    SpecError::invalid(
        path,
        "nearestNeighborSearchConfig and presets exclude each other (a oneof); set only one",
    )
}

/// An optional `int32` that must be `>= 1`, checked where it is read.
fn positive_i32(o: &Obj<'_>, name: &'static str, cx: &mut Cx) -> Result<Option<i32>, SpecError> {
    o.with(name, cx, |v, at, _| {
        let n = reader::int(v, at, i32::MIN as i128, i32::MAX as i128, "an int32")?;
        if n < 1 {
            return Err(SpecError::invalid(
                at.written(),
                format!("must be >= 1, got {n}"),
            ));
        }
        Ok(n as i32)
    })
}

/// The example instances (`Examples.ExampleGcsSource`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExampleGcsSource {
    /// Format of the files. Default (and only value): JSONL.
    pub data_format: ExampleGcsSourceDataFormat,
    /// The files.
    pub gcs_source: GcsSource,
}

impl ExampleGcsSource {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["dataFormat", "gcsSource"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(ExampleGcsSource {
            data_format: o.enumeration("dataFormat", cx)?.unwrap_or_default(),
            gcs_source: o.required("gcsSource", cx, GcsSource::parse)?,
        })
    }

    fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        let uris = at.key("gcsSource").key("uris");
        if self.gcs_source.uris.is_empty() {
            return Err(SpecError::missing(
                uris.as_str(),
                "at least one URI of example instances is required",
            ));
        }
        for (i, uri) in self.gcs_source.uris.iter().enumerate() {
            checks::non_empty_name(uri, &uris.index(i))?;
        }
        Ok(())
    }
}

/// File locations (`google.cloud.aiplatform.v1.GcsSource`). Prism accepts any URI its
/// object store reads (`gs://`, `s3://`, `file://`, plain paths); wildcards are allowed.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcsSource {
    /// The file URIs.
    pub uris: Vec<String>,
}

impl GcsSource {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["uris"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(GcsSource {
            uris: o.strings("uris", cx)?,
        })
    }
}

/// A preset index configuration (`google.cloud.aiplatform.v1.Presets`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Presets {
    /// Speed / precision trade-off. Unset: PRECISE (see [`Presets::effective_query`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<Query>,
    /// The modality, which picks the distance and the normalisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<PresetModality>,
}

impl Presets {
    /// The query preset with its default applied.
    pub fn effective_query(&self) -> Query {
        self.query.unwrap_or_default()
    }

    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["query", "modality"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(Presets {
            query: o.enumeration("query", cx)?,
            modality: o.enumeration("modality", cx)?,
        })
    }
}

/// The nearest-neighbour index configuration (`nearestNeighborSearchConfig`, the index
/// metadata of Vertex Vector Search): `{contentsDeltaUri, isCompleteOverwrite, config}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NearestNeighborSearchConfig {
    /// Where Vector Search reads index contents from. Vertex fills it from
    /// `exampleGcsSource`; kept for round trips.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents_delta_uri: Option<String>,
    /// Replace the index contents instead of adding to them (index updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_complete_overwrite: Option<bool>,
    /// The index itself.
    pub config: IndexConfig,
}

impl NearestNeighborSearchConfig {
    /// A configuration with `config` and nothing else.
    pub fn new(config: IndexConfig) -> Self {
        NearestNeighborSearchConfig {
            contents_delta_uri: None,
            is_complete_overwrite: None,
            config,
        }
    }

    pub(crate) fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields =
            Fields::plain(&["contentsDeltaUri", "isCompleteOverwrite", "config"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(NearestNeighborSearchConfig {
            contents_delta_uri: o.opt_string("contentsDeltaUri", cx)?,
            is_complete_overwrite: o.bool("isCompleteOverwrite", cx)?,
            config: o.required("config", cx, IndexConfig::parse)?,
        })
    }

    /// Checks every rule of the contract; paths are relative to this object.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(&JsonPath::root())
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        self.config.validate_at(&at.key("config"))
    }
}

/// The index configuration (`nearestNeighborSearchConfig.config`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexConfig {
    /// Dimensions of the embeddings. Required, `>= 1`.
    pub dimensions: u32,
    /// Candidates the approximate search keeps before exact re-ordering. Required for
    /// tree-AH, `>= 1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_neighbors_count: Option<u32>,
    /// Vertex's shard size; read as `shardSize` (or `ShardSize`, as Vertex's docs spell it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_size: Option<ShardSize>,
    /// The distance. Default: DOT_PRODUCT_DISTANCE (the negative dot product).
    pub distance_measure_type: DistanceMeasureType,
    /// Normalisation of every vector. Default: NONE.
    pub feature_norm_type: FeatureNormType,
    /// The search algorithm. Default (key absent): tree-AH with default settings.
    pub algorithm_config: AlgorithmConfig,
}

impl IndexConfig {
    /// A tree-AH configuration with default settings.
    pub fn new(dimensions: u32, approximate_neighbors_count: u32) -> Self {
        IndexConfig {
            dimensions,
            approximate_neighbors_count: Some(approximate_neighbors_count),
            shard_size: None,
            distance_measure_type: DistanceMeasureType::default(),
            feature_norm_type: FeatureNormType::default(),
            algorithm_config: AlgorithmConfig::default(),
        }
    }

    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields {
            names: &[
                "dimensions",
                "approximateNeighborsCount",
                "shardSize",
                "distanceMeasureType",
                "featureNormType",
                "algorithmConfig",
            ],
            aliases: &[("ShardSize", "shardSize")],
            ignored: &[],
        };
        let o = Obj::new(v, at, &FIELDS)?;
        let dimensions = o.required("dimensions", cx, |v, at, _| {
            let n = reader::int(v, at, i32::MIN as i128, i32::MAX as i128, "an int32")?;
            if n < 1 {
                return Err(SpecError::invalid(
                    at.written(),
                    format!("must be >= 1, got {n}"),
                ));
            }
            Ok(n as u32)
        })?;
        Ok(IndexConfig {
            dimensions,
            approximate_neighbors_count: positive_i32(&o, "approximateNeighborsCount", cx)?
                .map(|n| n as u32),
            shard_size: o.enumeration("shardSize", cx)?,
            distance_measure_type: o
                .enumeration("distanceMeasureType", cx)?
                .unwrap_or_default(),
            feature_norm_type: o.enumeration("featureNormType", cx)?.unwrap_or_default(),
            algorithm_config: o
                .with("algorithmConfig", cx, AlgorithmConfig::parse)?
                .unwrap_or_default(),
        })
    }

    fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        checks::at_least(i64::from(self.dimensions), 1, &at.key("dimensions"))?;
        if let Some(n) = self.approximate_neighbors_count {
            checks::at_least(i64::from(n), 1, &at.key("approximateNeighborsCount"))?;
        }
        if let AlgorithmConfig::TreeAh(tree) = &self.algorithm_config {
            if self.approximate_neighbors_count.is_none() {
                return Err(SpecError::missing(
                    at.key("approximateNeighborsCount").as_str(),
                    "required with the tree-AH algorithm (the default algorithmConfig)",
                ));
            }
            tree.validate_at(&at.key("algorithmConfig").key("treeAhConfig"))?;
        }
        Ok(())
    }
}

/// The search algorithm (`config.algorithmConfig`, a oneof).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub enum AlgorithmConfig {
    /// Tree-AH: a shallow k-means partition tree plus asymmetric hashing, then exact
    /// re-ordering of the best candidates.
    #[serde(rename = "treeAhConfig")]
    TreeAh(TreeAhConfig),
    /// Exact linear search.
    #[serde(rename = "bruteForceConfig")]
    BruteForce(BruteForceConfig),
}

impl Default for AlgorithmConfig {
    fn default() -> Self {
        AlgorithmConfig::TreeAh(TreeAhConfig::default())
    }
}

impl AlgorithmConfig {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["treeAhConfig", "bruteForceConfig"]);
        let o = Obj::new(v, at, &FIELDS)?;
        match (o.has("treeAhConfig"), o.has("bruteForceConfig")) {
            (true, true) => Err(SpecError::invalid(
                at.written(),
                "treeAhConfig and bruteForceConfig exclude each other (a oneof); set only one",
            )),
            (false, false) => Err(SpecError::missing(
                at.written(),
                "one of treeAhConfig or bruteForceConfig must be set",
            )),
            (true, false) => Ok(AlgorithmConfig::TreeAh(o.required(
                "treeAhConfig",
                cx,
                TreeAhConfig::parse,
            )?)),
            (false, true) => {
                o.required("bruteForceConfig", cx, |v, at, _| {
                    static NONE: Fields = Fields::plain(&[]);
                    Obj::new(v, at, &NONE).map(|_| ())
                })?;
                Ok(AlgorithmConfig::BruteForce(BruteForceConfig {}))
            }
        }
    }
}

/// Tree-AH settings (`algorithmConfig.treeAhConfig`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeAhConfig {
    /// Embeddings per leaf of the partition tree, `>= 1`. Default:
    /// [`DEFAULT_LEAF_NODE_EMBEDDING_COUNT`]. Written as a JSON number.
    pub leaf_node_embedding_count: u64,
    /// Fraction of the leaves a query searches, in `(0, 1]`. Unset: from
    /// `leaf_nodes_to_search_percent`, else [`DEFAULT_FRACTION_LEAF_NODES_TO_SEARCH`]
    /// (see [`TreeAhConfig::effective_fraction_leaf_nodes_to_search`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction_leaf_nodes_to_search: Option<f64>,
    /// Deprecated percentage form of the same setting, 1..=100; exclusive with the fraction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_nodes_to_search_percent: Option<u32>,
}

impl Default for TreeAhConfig {
    fn default() -> Self {
        TreeAhConfig {
            leaf_node_embedding_count: DEFAULT_LEAF_NODE_EMBEDDING_COUNT,
            fraction_leaf_nodes_to_search: None,
            leaf_nodes_to_search_percent: None,
        }
    }
}

impl TreeAhConfig {
    /// The fraction of leaves searched, with the deprecated percentage and the default
    /// applied.
    pub fn effective_fraction_leaf_nodes_to_search(&self) -> f64 {
        match (
            self.fraction_leaf_nodes_to_search,
            self.leaf_nodes_to_search_percent,
        ) {
            (Some(f), _) => f,
            (None, Some(p)) => f64::from(p) / 100.0,
            (None, None) => DEFAULT_FRACTION_LEAF_NODES_TO_SEARCH,
        }
    }

    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&[
            "leafNodeEmbeddingCount",
            "fractionLeafNodesToSearch",
            "leafNodesToSearchPercent",
        ]);
        let o = Obj::new(v, at, &FIELDS)?;
        let leaf_node_embedding_count = o
            .with("leafNodeEmbeddingCount", cx, |v, at, _| {
                let n = reader::int(v, at, i64::MIN as i128, i64::MAX as i128, "an int64")?;
                if n < 1 {
                    return Err(SpecError::invalid(
                        at.written(),
                        format!("must be >= 1, got {n}"),
                    ));
                }
                Ok(n as u64)
            })?
            .unwrap_or(DEFAULT_LEAF_NODE_EMBEDDING_COUNT);
        let fraction = o.with("fractionLeafNodesToSearch", cx, |v, at, _| {
            let f = reader::float(v, at)?;
            fraction_ok(f).map_err(|m| SpecError::invalid(at.written(), m))?;
            Ok(f)
        })?;
        let percent = o.count("leafNodesToSearchPercent", cx, 1, 100)?;
        if fraction.is_some() && percent.is_some() {
            return Err(both_leaf_settings(at.written()));
        }
        Ok(TreeAhConfig {
            leaf_node_embedding_count,
            fraction_leaf_nodes_to_search: fraction,
            leaf_nodes_to_search_percent: percent,
        })
    }

    fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        if self.leaf_node_embedding_count < 1 {
            return Err(SpecError::invalid(
                at.key("leafNodeEmbeddingCount").as_str(),
                "must be >= 1, got 0",
            ));
        }
        if self.fraction_leaf_nodes_to_search.is_some()
            && self.leaf_nodes_to_search_percent.is_some()
        {
            return Err(both_leaf_settings(at.as_str()));
        }
        if let Some(f) = self.fraction_leaf_nodes_to_search {
            fraction_ok(f)
                .map_err(|m| SpecError::invalid(at.key("fractionLeafNodesToSearch").as_str(), m))?;
        }
        if let Some(p) = self.leaf_nodes_to_search_percent {
            checks::count_in(i64::from(p), 1, 100, &at.key("leafNodesToSearchPercent"))?;
        }
        Ok(())
    }
}

/// The fraction must be in `(0, 1]`. Vertex documents "0.0 - 1.0, exclusive"; 0 is
/// meaningless, and 1.0 (search every leaf) is accepted because it is well defined.
fn fraction_ok(f: f64) -> Result<(), String> {
    if f.is_finite() && f > 0.0 && f <= 1.0 {
        Ok(())
    } else {
        Err(format!("must be in (0, 1], got {f}"))
    }
}

fn both_leaf_settings(path: &str) -> SpecError {
    SpecError::invalid(
        path,
        "fractionLeafNodesToSearch and the deprecated leafNodesToSearchPercent exclude each other; set only fractionLeafNodesToSearch",
    )
}

/// Brute-force settings (`algorithmConfig.bruteForceConfig`): none, written `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BruteForceConfig {}
