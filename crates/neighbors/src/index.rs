//! The index: configuration, building, searching, changing.

use std::collections::HashSet;
use std::path::Path;

use crate::collect::TopK;
use crate::distance::{DistanceMeasure, FeatureNorm};
use crate::error::{NeighborsError, Result};
use crate::example::{Example, Neighbor, Query};
use crate::pq::{DEFAULT_DIMS_PER_BLOCK, MAX_DIMS_PER_BLOCK};
use crate::store::{Store, MAX_ROWS};
use crate::tree_ah::TreeAh;
use crate::{filter, flat, format, simd};

/// The most dimensions a vector may have.
pub const MAX_DIMENSIONS: usize = 1 << 16;

/// How the index searches.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// Exact search over every row (Vertex's `bruteForceConfig`).
    BruteForce,
    /// Partitions + 4-bit product-quantised scoring + exact re-ordering (Vertex's
    /// `treeAhConfig`).
    TreeAh {
        /// About how many vectors one partition (leaf) holds (Vertex default 1000).
        leaf_node_embedding_count: usize,
        /// The fraction of partitions a query scans, in (0, 1] (Vertex default 0.05).
        fraction_leaf_nodes_to_search: f64,
        /// How many candidates, ranked by their quantised scores, are re-ordered with exact
        /// distances (Vertex's `approximateNeighborsCount`).
        approximate_neighbors_count: usize,
    },
}

impl Default for Algorithm {
    /// tree-AH with Vertex's defaults (1000 vectors per leaf, 5% of leaves searched) and 100
    /// candidates re-ordered.
    fn default() -> Self {
        Algorithm::TreeAh {
            leaf_node_embedding_count: 1000,
            fraction_leaf_nodes_to_search: 0.05,
            approximate_neighbors_count: 100,
        }
    }
}

/// The default anisotropic quantisation threshold: on MiniLM embeddings (384-d, unit
/// norm; η ≈ 3.9), 10% of the leaves searched and 12 candidates re-ordered, recall@10 is
/// 0.901 instead of 0.882 with nearest-centroid codes (0.2, ScaNN's usual value, did worse
/// than 0.1 here: 0.893 against 0.904 with 4 descent rounds; 0.07 gave 0.897); with 30
/// candidates 0.960 instead of 0.959. On vectors of few dimensions it has no effect
/// (η < 1).
pub const DEFAULT_ANISOTROPIC_THRESHOLD: f32 = 0.1;

/// How the vectors used for re-ordering candidates (and for exact scans) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VectorStorage {
    /// float32, as given after the feature norm: distances are exact (the default).
    #[default]
    Float32,
    /// One byte per component, scalar-quantised per dimension over the range the vectors
    /// span when it is made (later vectors are clamped to it): a quarter of the memory.
    /// Re-ordering, exact scans and [`Index::get`] then use the decoded values; on MiniLM
    /// embeddings recall@10 drops by under 0.005 (see the crate README).
    Int8,
}

/// Everything fixed when an index is built.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Length of every vector.
    pub dimensions: usize,
    /// Distance measure (default: negative dot product).
    pub distance: DistanceMeasure,
    /// Normalisation applied to examples and queries (default: none).
    pub norm: FeatureNorm,
    /// Search algorithm.
    pub algorithm: Algorithm,
    /// Seed of every random choice made while building (k-means), so that one input gives
    /// one index.
    pub seed: u64,
    /// tree-AH only: also store every vector in a second partition (SOAR spilling; see the
    /// `tree_ah` module). Default false: one copy per vector, 1,646 bytes per 384-d vector
    /// with float32 re-ranking, within issue #4's memory bound. On MiniLM, spilling reaches
    /// recall@10 0.95 scanning 10% of the leaves instead of ~28%, about 1.2x the queries per
    /// second, for 98 more bytes per vector and a longer build.
    pub spill: bool,
    /// How the vectors are kept for re-ordering and exact scans (default float32).
    pub vectors: VectorStorage,
    /// tree-AH with `DotProduct` or `Cosine`: ScaNN's `anisotropic_quantization_threshold`.
    /// With `Some(t)` each 4-bit code is chosen under ScaNN's score-aware loss, which weights
    /// the quantisation error along the vector η = (d − 1) (t/‖x‖)² / (1 − (t/‖x‖)²) times
    /// more than across it (ScaNN's usual t = 0.2 gives η ≈ 16 on unit 384-d vectors).
    /// Applied when the tree is built or retrained; [`Index::add`] encodes with the nearest
    /// centroids (cheaper) until the next [`Index::retrain`].
    /// Default `Some(`[`DEFAULT_ANISOTROPIC_THRESHOLD`]`)`; `None`: nearest centroids.
    pub anisotropic: Option<f32>,
    /// tree-AH only: dimensions per sub-space ("block") of the 4-bit product-quantised
    /// codes, 1 to 8 (ScaNN's `dimensions_per_block`). Default 2: 4 bits per 2 dimensions,
    /// 96 bytes per 384-d vector; 4 halves the codes and the scan's work at a coarser
    /// approximate score.
    pub dims_per_block: usize,
}

impl IndexConfig {
    /// A configuration with Vertex's defaults for `dimensions`-long vectors.
    pub fn new(dimensions: usize) -> Self {
        IndexConfig {
            dimensions,
            distance: DistanceMeasure::default(),
            norm: FeatureNorm::default(),
            algorithm: Algorithm::default(),
            seed: 0x5eed,
            spill: false,
            vectors: VectorStorage::Float32,
            anisotropic: Some(DEFAULT_ANISOTROPIC_THRESHOLD),
            dims_per_block: DEFAULT_DIMS_PER_BLOCK,
        }
    }

    /// Sets the dimensions per sub-space of tree-AH's codes (builder style; see
    /// [`IndexConfig::dims_per_block`]).
    pub fn dims_per_block(mut self, dims: usize) -> Self {
        self.dims_per_block = dims;
        self
    }

    /// Sets the anisotropic quantisation threshold (builder style; see
    /// [`IndexConfig::anisotropic`]).
    pub fn anisotropic(mut self, threshold: Option<f32>) -> Self {
        self.anisotropic = threshold;
        self
    }

    /// Sets how vectors are kept for re-ordering (builder style).
    pub fn vectors(mut self, vectors: VectorStorage) -> Self {
        self.vectors = vectors;
        self
    }

    /// Turns tree-AH's second assignment on or off (builder style).
    pub fn spill(mut self, spill: bool) -> Self {
        self.spill = spill;
        self
    }

    /// Sets the distance measure (builder style).
    pub fn distance(mut self, distance: DistanceMeasure) -> Self {
        self.distance = distance;
        self
    }

    /// Sets the feature norm (builder style).
    pub fn norm(mut self, norm: FeatureNorm) -> Self {
        self.norm = norm;
        self
    }

    /// Sets the algorithm (builder style).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.dimensions == 0 || self.dimensions > MAX_DIMENSIONS {
            return Err(NeighborsError::InvalidConfig {
                field: "dimensions",
                reason: format!("must be in 1..={MAX_DIMENSIONS}, got {}", self.dimensions),
            });
        }
        if !(1..=MAX_DIMS_PER_BLOCK).contains(&self.dims_per_block) {
            return Err(NeighborsError::InvalidConfig {
                field: "dims_per_block",
                reason: format!(
                    "must be in 1..={MAX_DIMS_PER_BLOCK}, got {}",
                    self.dims_per_block
                ),
            });
        }
        if let Some(t) = self.anisotropic {
            if !(t.is_finite() && t > 0.0) {
                return Err(NeighborsError::InvalidConfig {
                    field: "anisotropic",
                    reason: format!("the threshold must be positive and finite, got {t}"),
                });
            }
        }
        if let Algorithm::TreeAh {
            leaf_node_embedding_count,
            fraction_leaf_nodes_to_search,
            approximate_neighbors_count,
        } = self.algorithm
        {
            if leaf_node_embedding_count == 0 {
                return Err(NeighborsError::InvalidConfig {
                    field: "leaf_node_embedding_count",
                    reason: "must be at least 1".into(),
                });
            }
            check_fraction(fraction_leaf_nodes_to_search).map_err(|reason| {
                NeighborsError::InvalidConfig {
                    field: "fraction_leaf_nodes_to_search",
                    reason,
                }
            })?;
            if approximate_neighbors_count == 0 {
                return Err(NeighborsError::InvalidConfig {
                    field: "approximate_neighbors_count",
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}

fn check_fraction(f: f64) -> std::result::Result<(), String> {
    if f.is_finite() && f > 0.0 && f <= 1.0 {
        Ok(())
    } else {
        Err(format!("must be in (0, 1], got {f}"))
    }
}

/// Counts describing an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStats {
    /// Examples that searches can return.
    pub live: usize,
    /// Deleted examples whose slots are reclaimed at the next save.
    pub deleted: usize,
    /// tree-AH partitions (0 for brute force or an untrained tree).
    pub partitions: usize,
    /// Approximate heap bytes (vectors read from a mapped file are not counted).
    pub heap_bytes: usize,
    /// Whether the vectors are read from a memory-mapped file.
    pub mapped: bool,
}

/// A nearest-neighbour index over examples.
///
/// ```
/// use prism_neighbors::{Algorithm, Example, Index, IndexConfig, DistanceMeasure, Query};
///
/// let config = IndexConfig::new(2)
///     .distance(DistanceMeasure::SquaredL2)
///     .algorithm(Algorithm::BruteForce);
/// let index = Index::build(
///     config,
///     vec![Example::new("a", vec![0.0, 0.0]), Example::new("b", vec![1.0, 1.0])],
/// )?;
/// let found = index.search(&Query::new(&[0.9, 0.8], 1))?;
/// assert_eq!(found[0].id, "b");
/// # Ok::<(), prism_neighbors::NeighborsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Index {
    pub(crate) config: IndexConfig,
    pub(crate) store: Store,
    pub(crate) tree: Option<TreeAh>,
}

impl Index {
    /// Builds an index over `examples` (for tree-AH: trains the partitions and quantisers
    /// on them).
    pub fn build(config: IndexConfig, examples: Vec<Example>) -> Result<Index> {
        config.validate()?;
        let mut index = Index {
            store: Store::new(config.dimensions),
            tree: None,
            config,
        };
        let prepared = index.prepare(&examples, false)?;
        index.store.reserve(examples.len());
        for (example, vector) in examples.iter().zip(&prepared) {
            index.store.push(example, vector);
        }
        if let Algorithm::TreeAh {
            leaf_node_embedding_count,
            ..
        } = index.config.algorithm
        {
            if index.store.live_count() > 0 {
                index.tree = Some(TreeAh::train(
                    &index.store,
                    &index.config,
                    leaf_node_embedding_count,
                ));
            }
        }
        index.ensure_int8();
        Ok(index)
    }

    /// Replaces the float vectors by their int8 copy once there are rows to fit it to, when
    /// the configuration asks for it.
    fn ensure_int8(&mut self) {
        if self.config.vectors == VectorStorage::Int8
            && self.store.float_vectors().is_some()
            && self.store.live_count() > 0
        {
            self.store.quantize_int8();
        }
    }

    /// The configuration.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// How many examples a search can return.
    pub fn len(&self) -> usize {
        self.store.live_count()
    }

    /// Whether the index holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts describing the index.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            live: self.store.live_count(),
            deleted: self.store.rows() - self.store.live_count(),
            partitions: self.tree.as_ref().map_or(0, TreeAh::partitions),
            heap_bytes: self.store.heap_bytes() + self.tree.as_ref().map_or(0, TreeAh::heap_bytes),
            mapped: self.store.is_mapped(),
        }
    }

    /// Whether an example with this id is in the index.
    pub fn contains(&self, id: &str) -> bool {
        self.store.row_of(id).is_some()
    }

    /// The stored example with this id (its vector after the feature norm).
    pub fn get(&self, id: &str) -> Option<Example> {
        self.store.row_of(id).map(|row| self.store.example(row))
    }

    /// Checks and normalises a batch of examples; with `replace`, ids already in the index
    /// are allowed.
    fn prepare(&self, examples: &[Example], replace: bool) -> Result<Vec<Vec<f32>>> {
        let dims = self.config.dimensions;
        let mut seen = HashSet::with_capacity(examples.len());
        let mut out = Vec::with_capacity(examples.len());
        if self.store.rows() + examples.len() > MAX_ROWS {
            return Err(NeighborsError::Full { max: MAX_ROWS });
        }
        for (position, e) in examples.iter().enumerate() {
            if e.id.is_empty() {
                return Err(NeighborsError::EmptyId { position });
            }
            if !seen.insert(e.id.as_str()) || (!replace && self.store.row_of(&e.id).is_some()) {
                return Err(NeighborsError::DuplicateId { id: e.id.clone() });
            }
            let what = || format!("example {:?}", e.id);
            check_vector(&e.vector, dims, what)?;
            let mut v = e.vector.clone();
            self.config.norm.apply(&mut v);
            out.push(v);
        }
        Ok(out)
    }

    fn insert_prepared(&mut self, examples: &[Example], vectors: &[Vec<f32>]) {
        self.store.reserve(examples.len());
        for (example, vector) in examples.iter().zip(vectors) {
            let row = self.store.push(example, vector);
            if let Some(tree) = &mut self.tree {
                tree.insert(row as u32, vector, false);
            }
        }
    }

    /// Adds examples without rebuilding: each is assigned to its nearest partition and
    /// encoded with the trained quantiser. An id already in the index is an error (see
    /// [`Index::upsert`]); on any error nothing is added.
    pub fn add(&mut self, examples: Vec<Example>) -> Result<()> {
        let vectors = self.prepare(&examples, false)?;
        self.insert_prepared(&examples, &vectors);
        self.ensure_tree();
        self.ensure_int8();
        Ok(())
    }

    /// Adds examples, replacing those whose ids are already in the index. On any error
    /// nothing changes.
    pub fn upsert(&mut self, examples: Vec<Example>) -> Result<()> {
        let vectors = self.prepare(&examples, true)?;
        for e in &examples {
            if let Some(row) = self.store.row_of(&e.id) {
                self.store.delete(row);
            }
        }
        self.insert_prepared(&examples, &vectors);
        self.ensure_tree();
        self.ensure_int8();
        Ok(())
    }

    /// Deletes the examples with these ids; returns how many were in the index.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> usize {
        let mut n = 0;
        for id in ids {
            if let Some(row) = self.store.row_of(id.as_ref()) {
                if self.store.delete(row) {
                    n += 1;
                }
            }
        }
        n
    }

    /// A tree-AH index built empty trains on its first examples.
    fn ensure_tree(&mut self) {
        // Training happens when the first rows arrive; until then searches are exact.
        if self.tree.is_some() {
            return;
        }
        if let Algorithm::TreeAh {
            leaf_node_embedding_count,
            ..
        } = self.config.algorithm
        {
            if self.store.live_count() > 0 {
                self.tree = Some(TreeAh::train(
                    &self.store,
                    &self.config,
                    leaf_node_embedding_count,
                ));
            }
        }
    }

    /// Retrains tree-AH's partitions and quantiser on the current examples (after many
    /// additions have shifted the data). A no-op for brute force.
    pub fn retrain(&mut self) {
        self.tree = None;
        self.ensure_tree();
    }

    /// Saves the index to `path` (format in the `format` module): live examples only, to a
    /// temporary file that is synced and renamed over `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        format::save(self, path.as_ref())
    }

    /// Loads an index saved by [`Index::save`]. The file is memory-mapped and its vectors
    /// are read in place until the index is first changed. A truncated, corrupt or foreign
    /// file is a [`NeighborsError::Corrupt`] error naming what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Index> {
        format::load(path.as_ref())
    }

    /// The nearest examples to `query`, nearest first, ties broken by id.
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Neighbor>> {
        check_query(query, self.config.dimensions)?;
        let mut q = query.vector.to_vec();
        self.config.norm.apply(&mut q);
        let q_norm = simd::dot(&q, &q).sqrt();
        let allowed = filter::allowed_rows(&self.store, query);
        let measure = self.config.distance;
        let found = match (&self.tree, self.config.algorithm) {
            (
                Some(tree),
                Algorithm::TreeAh {
                    fraction_leaf_nodes_to_search,
                    approximate_neighbors_count,
                    ..
                },
            ) => {
                let fraction = query
                    .fraction_leaf_nodes_to_search
                    .unwrap_or(fraction_leaf_nodes_to_search);
                let candidates = query
                    .approximate_neighbors_count
                    .unwrap_or(approximate_neighbors_count);
                tree.search(
                    &self.store,
                    measure,
                    &q,
                    q_norm,
                    allowed.as_ref(),
                    query.k,
                    query.crowding_count,
                    fraction,
                    candidates,
                )
            }
            _ => {
                let mut top = TopK::new(&self.store, query.k, query.crowding_count);
                flat::scan(&self.store, measure, &q, q_norm, allowed.as_ref(), &mut top);
                top.into_sorted()
            }
        };
        Ok(found
            .into_iter()
            .map(|(distance, row)| Neighbor {
                id: self.store.id(row as usize).to_owned(),
                distance,
            })
            .collect())
    }

    /// Answers several queries. Exact searches without filters (brute force, or any index
    /// with [`Index::search_exact_batch`]) share one pass over the vectors, which is several
    /// times faster than one search per query; other queries run one by one.
    pub fn search_batch(&self, queries: &[Query<'_>]) -> Result<Vec<Vec<Neighbor>>> {
        if self.tree.is_none() {
            self.search_exact_batch(queries)
        } else {
            queries.iter().map(|q| self.search(q)).collect()
        }
    }

    /// The exact answers to several queries, sharing one pass over the vectors among the
    /// queries without filters.
    pub fn search_exact_batch(&self, queries: &[Query<'_>]) -> Result<Vec<Vec<Neighbor>>> {
        let mut prepared = Vec::new();
        let mut batched = Vec::new();
        for (i, query) in queries.iter().enumerate() {
            check_query(query, self.config.dimensions)?;
            if !query.has_filter() {
                let mut q = query.vector.to_vec();
                self.config.norm.apply(&mut q);
                let norm = simd::dot(&q, &q).sqrt();
                prepared.push((q, norm));
                batched.push(i);
            }
        }
        let mut tops: Vec<TopK<'_>> = batched
            .iter()
            .map(|&i| TopK::new(&self.store, queries[i].k, queries[i].crowding_count))
            .collect();
        flat::scan_batch(&self.store, self.config.distance, &prepared, &mut tops);
        let mut out: Vec<Option<Vec<Neighbor>>> = vec![None; queries.len()];
        for (&i, top) in batched.iter().zip(tops) {
            out[i] = Some(self.neighbors(top.into_sorted()));
        }
        out.into_iter()
            .zip(queries)
            .map(|(found, query)| match found {
                Some(found) => Ok(found),
                None => self.search_exact(query),
            })
            .collect()
    }

    fn neighbors(&self, found: Vec<(f32, u32)>) -> Vec<Neighbor> {
        found
            .into_iter()
            .map(|(distance, row)| Neighbor {
                id: self.store.id(row as usize).to_owned(),
                distance,
            })
            .collect()
    }

    /// The exact answer to `query` whatever the algorithm: the oracle approximate searches
    /// are measured against.
    pub fn search_exact(&self, query: &Query<'_>) -> Result<Vec<Neighbor>> {
        check_query(query, self.config.dimensions)?;
        let mut q = query.vector.to_vec();
        self.config.norm.apply(&mut q);
        let q_norm = simd::dot(&q, &q).sqrt();
        let allowed = filter::allowed_rows(&self.store, query);
        let mut top = TopK::new(&self.store, query.k, query.crowding_count);
        flat::scan(
            &self.store,
            self.config.distance,
            &q,
            q_norm,
            allowed.as_ref(),
            &mut top,
        );
        Ok(top
            .into_sorted()
            .into_iter()
            .map(|(distance, row)| Neighbor {
                id: self.store.id(row as usize).to_owned(),
                distance,
            })
            .collect())
    }
}

fn check_vector(v: &[f32], dims: usize, what: impl Fn() -> String) -> Result<()> {
    if v.len() != dims {
        return Err(NeighborsError::DimensionMismatch {
            what: what(),
            expected: dims,
            got: v.len(),
        });
    }
    if let Some(component) = v.iter().position(|x| !x.is_finite()) {
        return Err(NeighborsError::NonFinite {
            what: what(),
            component,
        });
    }
    Ok(())
}

fn check_query(query: &Query<'_>, dims: usize) -> Result<()> {
    check_vector(query.vector, dims, || "query".to_owned())?;
    if query.k == 0 {
        return Err(NeighborsError::InvalidQuery {
            field: "k",
            reason: "must be at least 1".into(),
        });
    }
    if query.crowding_count == Some(0) {
        return Err(NeighborsError::InvalidQuery {
            field: "crowding_count",
            reason: "must be at least 1".into(),
        });
    }
    if let Some(f) = query.fraction_leaf_nodes_to_search {
        check_fraction(f).map_err(|reason| NeighborsError::InvalidQuery {
            field: "fraction_leaf_nodes_to_search",
            reason,
        })?;
    }
    if query.approximate_neighbors_count == Some(0) {
        return Err(NeighborsError::InvalidQuery {
            field: "approximate_neighbors_count",
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}
