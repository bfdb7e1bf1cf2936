//! tree-AH: k-means partitions, 4-bit product-quantised scoring, exact re-ordering.
//!
//! **Build.** The live vectors are cut into `⌈n / leaf_node_embedding_count⌉` partitions by
//! k-means (k-means++ seeding and 10 Lloyd iterations on a sample of at most
//! [`TRAIN_SAMPLE_PER_PARTITION`] points per partition, then every vector goes to its nearest
//! centroid). Each vector's residual (vector − its centroid) is product-quantised with 4-bit
//! codes (`pq`; `IndexConfig::dims_per_block` dimensions per code, 2 by default), stored in
//! blocks of 32 for the SIMD scan (`simd`). For `Cosine` the
//! partitions and codes are built on unit-length copies of the vectors. With
//! `IndexConfig::spill` (off by default) a vector is also stored in a second partition,
//! chosen as SOAR does (Sun et al., "SOAR: Improved Indexing for Approximate Nearest Neighbor
//! Search", NeurIPS 2023): the partition minimising ‖x − c‖² + ⟨x − c, r̂⟩², r̂ the direction
//! of the primary residual, so that the second copy is found by the queries the first misses
//! (unless that centroid is more than [`SPILL_MAX_DISTANCE_RATIO`] times farther than the
//! first). It costs one more code and row number per spilled vector (100 bytes at 384
//! dimensions) and buys about 1.2x the queries per second at recall@10 0.95 on MiniLM
//! embeddings.
//!
//! **Search.** Partitions are ranked by their centroid's distance to the query (inner product
//! for `DotProduct` over vectors of any length, Euclidean otherwise) and the nearest
//! `⌈fraction_leaf_nodes_to_search × partitions⌉` are scanned. A per-query lookup table
//! turns codes into approximate distances:
//! - `DotProduct`: −q·c − Σₛ q̃ₛ·r̃ₛ — one table for all partitions plus a per-partition bias;
//! - `Cosine`: the same on unit vectors, plus 1;
//! - `SquaredL2`: ‖q‖² + ‖x‖² − 2 q·c − 2 q·r̃, with ‖x‖² stored per vector;
//! - `L1`: Σₛ ‖(q − c)ₛ − r̃ₛ‖₁ with one table per scanned partition.
//!
//! The `approximate_neighbors_count` best candidates (a spilled vector found twice counts
//! once at re-ordering) are then re-ordered with exact distances from the stored float32
//! vectors.
//!
//! **Filters.** With a filter that allows a fraction `s` of the rows: if `s` is at most
//! [`EXACT_FILTER_FRACTION`] (5%) the allowed rows are scanned exactly (recall 1);
//! otherwise the number of partitions scanned is divided by `√s`. (An exact scan reads 16
//! times the bytes of a code scan per row at 384 dimensions: on MiniLM without spilling,
//! searching 30% of the leaves, a filter allowing 21% of the rows ran 6x faster through the
//! partitions, recall@10 0.991, than scanned exactly.) (Dividing by `s` would
//! score as many allowed vectors as an unfiltered search does, but a query's allowed
//! neighbours concentrate in its nearest partitions more than a uniform spread would; on
//! MiniLM with `pos` / `source` restricts, `√s` keeps recall@10 at 0.97–0.98 where `s`
//! gives 0.99, at 1.4–1.8x the speed.)

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::bitset::Bitset;
use crate::collect::TopK;
use crate::distance::{normalize, DistanceMeasure, FeatureNorm};
use crate::index::IndexConfig;
use crate::pq::{Lut, Pq, KSUB};
use crate::simd::{self, BLOCK};
use crate::store::Store;
use crate::{flat, kmeans};

/// The k-means partition step trains on at most this many points per partition.
pub const TRAIN_SAMPLE_PER_PARTITION: usize = 64;
/// The quantiser trains on at most this many residuals.
pub const PQ_TRAIN_SAMPLE: usize = 5_000;
/// A vector is spilled only into a second partition whose centroid is at most this many
/// times farther (in squared distance) than its own: farther copies quantise badly and are
/// rarely reached (on well-separated clusters they cost recall).
pub const SPILL_MAX_DISTANCE_RATIO: f32 = 1.5;
/// Lloyd iterations of the partition k-means.
const KMEANS_ITERATIONS: usize = 10;
/// Filters allowing at most this fraction of rows are answered by scanning the allowed
/// rows exactly.
pub const EXACT_FILTER_FRACTION: f64 = 0.05;

/// The position and value of the smallest item (the first of equals; 0 when empty).
fn argmin(values: impl Iterator<Item = f32>) -> (usize, f32) {
    values.enumerate().fold(
        (0, f32::INFINITY),
        |best, (i, v)| if v < best.1 { (i, v) } else { best },
    )
}

/// Writes one vector's `m` codes into slot `slot` of codes laid out in blocks (see `simd`),
/// adding a zeroed block when the slot starts one (slots are filled in order).
pub(crate) fn put_code(codes: &mut Vec<u8>, slot: usize, m: usize, code: &[u8]) {
    let block_bytes = m / 2 * BLOCK;
    if slot.is_multiple_of(BLOCK) {
        codes.resize(codes.len() + block_bytes, 0);
    }
    let block = &mut codes[(slot / BLOCK) * block_bytes..(slot / BLOCK + 1) * block_bytes];
    let (lane, shift) = (slot % BLOCK % 16, if slot % BLOCK < 16 { 0 } else { 4 });
    for (s, &c) in code.iter().enumerate().take(m) {
        let byte = (s / 2) * 32 + (s % 2) * 16 + lane;
        block[byte] |= (c & 15) << shift;
    }
}

/// Rows already offered as candidates (only tracked when rows are spilled).
enum Seen {
    Off,
    Dense(Bitset),
    Sparse(std::collections::HashSet<u32>),
}

impl Seen {
    fn new(spill: bool, rows: usize) -> Self {
        match (spill, rows) {
            (false, _) => Seen::Off,
            (true, r) if r <= 1 << 22 => Seen::Dense(Bitset::empty(r)),
            (true, _) => Seen::Sparse(std::collections::HashSet::new()),
        }
    }

    /// True the first time `row` is offered.
    #[inline]
    fn first_time(&mut self, row: u32) -> bool {
        match self {
            Seen::Off => true,
            Seen::Dense(b) => {
                let fresh = !b.contains(row as usize);
                b.insert(row as usize);
                fresh
            }
            Seen::Sparse(s) => s.insert(row),
        }
    }
}

/// One partition (leaf).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Partition {
    /// Row numbers, in code order.
    pub(crate) rows: Vec<u32>,
    /// Codes in blocks of 32 vectors (see `simd`); the last block is zero-padded.
    pub(crate) codes: Vec<u8>,
    /// ‖x‖² of each row, for `SquaredL2` only.
    pub(crate) sq_norms: Vec<f32>,
}

/// The trained tree-AH structure over a [`Store`]'s rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TreeAh {
    pub(crate) measure: DistanceMeasure,
    /// Whether every vector is also stored in a second partition (SOAR spilling).
    pub(crate) spill: bool,
    /// Whether every vector has unit length (feature norm `UnitL2`, or `Cosine`): partitions
    /// are then ranked by Euclidean distance even for `DotProduct`, which ranks the
    /// partitions holding the nearest vectors higher than the inner product with the
    /// (shorter) centroids does.
    pub(crate) unit_vectors: bool,
    pub(crate) dims: usize,
    /// Partition centroids, row-major.
    pub(crate) centroids: Vec<f32>,
    pub(crate) centroid_norms: Vec<f32>,
    pub(crate) pq: Pq,
    pub(crate) partitions: Vec<Partition>,
    /// Inner products of every pair of centroids (k × k), computed on the first insertion
    /// when k ≤ [`GRAM_MAX_PARTITIONS`]; lets spilling score all partitions in O(k) per
    /// vector. Empty until then (never saved).
    pub(crate) gram: Vec<f32>,
    /// ScaNN's `anisotropic_quantization_threshold` T: codes are chosen under the
    /// score-aware loss (see [`Pq::encode_anisotropic`]) with η = (d − 1) (T/‖x‖)² /
    /// (1 − (T/‖x‖)²), for DotProduct and Cosine; `None`: nearest centroids.
    pub(crate) anisotropic: Option<f32>,
}

/// Up to this many partitions the centroid Gram matrix (k² floats) is kept for spilling.
const GRAM_MAX_PARTITIONS: usize = 4096;

impl TreeAh {
    /// Bytes of one block of codes.
    fn block_bytes(&self) -> usize {
        self.pq.m / 2 * BLOCK
    }

    /// The vector as partitions and codes see it (unit length for `Cosine`).
    fn space(&self, x: &[f32]) -> Vec<f32> {
        let mut v = x.to_vec();
        if self.measure == DistanceMeasure::Cosine {
            normalize(&mut v);
        }
        v
    }

    /// Trains partitions and the quantiser on the live rows of `store` as `config` asks
    /// (`leaf_node_embedding_count` partitions of ~that many rows), and encodes them.
    pub(crate) fn train(
        store: &Store,
        config: &IndexConfig,
        leaf_node_embedding_count: usize,
    ) -> TreeAh {
        let measure = config.distance;
        let unit_vectors = config.norm == FeatureNorm::UnitL2;
        let (spill, seed, anisotropic) = (config.spill, config.seed, config.anisotropic);
        let dims_per_block = config.dims_per_block;
        let dims = store.dims();
        let live: Vec<usize> = store.live().iter().collect();
        let n = live.len();
        let k = n.div_ceil(leaf_node_embedding_count.max(1)).max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let to_space = |x: &[f32]| {
            let mut v = x.to_vec();
            if measure == DistanceMeasure::Cosine {
                normalize(&mut v);
            }
            v
        };
        let pick = |rng: &mut ChaCha8Rng, count: usize| -> Vec<usize> {
            if count >= n {
                live.clone()
            } else {
                let mut s: Vec<usize> =
                    sample(rng, n, count).into_iter().map(|i| live[i]).collect();
                s.sort_unstable();
                s
            }
        };
        let train_rows = pick(&mut rng, k.saturating_mul(TRAIN_SAMPLE_PER_PARTITION));
        let mut train_data = Vec::with_capacity(train_rows.len() * dims);
        let mut scratch = Vec::new();
        for &r in &train_rows {
            train_data.extend(to_space(store.vector(r, &mut scratch)));
        }
        let centroids = kmeans::train(
            &train_data,
            dims,
            k,
            KMEANS_ITERATIONS,
            kmeans::Init::PlusPlus,
            seed,
        );
        drop(train_data);
        let centroid_norms = kmeans::row_norms(&centroids, dims);
        let k = centroid_norms.len();

        let pq_rows = pick(&mut rng, PQ_TRAIN_SAMPLE);
        let mut residuals = Vec::with_capacity(pq_rows.len() * dims);
        for &r in &pq_rows {
            let v = to_space(store.vector(r, &mut scratch));
            let (c, _) = kmeans::nearest(&centroids, &centroid_norms, dims, &v);
            residuals.extend(
                v.iter()
                    .zip(&centroids[c * dims..(c + 1) * dims])
                    .map(|(a, b)| a - b),
            );
        }
        let pq = Pq::train(&residuals, dims, dims_per_block, seed.wrapping_add(1));
        drop(residuals);

        let mut tree = TreeAh {
            measure,
            spill,
            unit_vectors: unit_vectors || measure == DistanceMeasure::Cosine,
            dims,
            centroids,
            centroid_norms,
            pq,
            partitions: vec![Partition::default(); k],
            gram: Vec::new(),
            anisotropic,
        };
        for &r in &live {
            tree.insert(r as u32, store.vector(r, &mut scratch), true);
        }
        for p in &mut tree.partitions {
            p.rows.shrink_to_fit();
            p.codes.shrink_to_fit();
            p.sq_norms.shrink_to_fit();
        }
        tree
    }

    pub(crate) fn partitions(&self) -> usize {
        self.partitions.len()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.centroids.capacity() * 4
            + self.gram.capacity() * 4
            + self.pq.codebooks.capacity() * 4
            + self
                .partitions
                .iter()
                .map(|p| p.rows.capacity() * 4 + p.codes.capacity() + p.sq_norms.capacity() * 4)
                .sum::<usize>()
    }

    /// Assigns `vector` (already normalised by the feature norm) to its nearest partition
    /// and appends its code.
    ///
    /// With `score_aware` the codes are chosen under the anisotropic loss when the tree has
    /// a threshold (building and retraining); appends pass false and take the nearest
    /// centroids, which is cheaper (appends are timed against a 50,000 vectors/s target).
    pub(crate) fn insert(&mut self, row: u32, vector: &[f32], score_aware: bool) {
        let v = self.space(vector);
        let vc = self.centroid_dots(&v);
        let (p, _) = argmin(
            vc.iter()
                .zip(&self.centroid_norms)
                .map(|(d, n)| n - 2.0 * d),
        );
        let sq_norm =
            (self.measure == DistanceMeasure::SquaredL2).then(|| simd::dot(vector, vector));
        self.encode_in(p, &v, row, sq_norm, score_aware);
        if self.spill && self.partitions.len() > 1 {
            self.ensure_gram();
            let v_sq = simd::dot(&v, &v);
            let second = self.spill_partition(&v, v_sq, &vc, p);
            // A second centroid much farther than the first gives a residual the quantiser
            // (trained on primary residuals) encodes badly, and a copy few queries reach.
            let d1 = (self.centroid_norms[p] - 2.0 * vc[p] + v_sq).max(0.0);
            let d2 = (self.centroid_norms[second] - 2.0 * vc[second] + v_sq).max(0.0);
            if d2 <= SPILL_MAX_DISTANCE_RATIO * d1 {
                self.encode_in(second, &v, row, sq_norm, score_aware);
            }
        }
    }

    fn ensure_gram(&mut self) {
        let k = self.partitions.len();
        if !self.gram.is_empty() || k > GRAM_MAX_PARTITIONS {
            return;
        }
        let dims = self.dims;
        let mut gram = Vec::with_capacity(k * k);
        for p in 0..k {
            gram.extend(self.centroid_dots(&self.centroids[p * dims..(p + 1) * dims]));
        }
        self.gram = gram;
    }

    /// `v · c` for every centroid `c`, four centroids at a time.
    fn centroid_dots(&self, v: &[f32]) -> Vec<f32> {
        let dims = self.dims;
        let k = self.partitions.len();
        let c = |p: usize| &self.centroids[p * dims..(p + 1) * dims];
        let mut out = vec![0f32; k];
        let mut p = 0;
        while p + 4 <= k {
            out[p..p + 4].copy_from_slice(&simd::dot4(v, [c(p), c(p + 1), c(p + 2), c(p + 3)]));
            p += 4;
        }
        for (p, o) in out.iter_mut().enumerate().skip(p) {
            *o = simd::dot(v, c(p));
        }
        out
    }

    /// Encodes `v` (in index space) as a residual of partition `p`'s centroid and appends
    /// it there.
    fn encode_in(
        &mut self,
        p: usize,
        v: &[f32],
        row: u32,
        sq_norm: Option<f32>,
        score_aware: bool,
    ) {
        let dims = self.dims;
        let residual: Vec<f32> = v
            .iter()
            .zip(&self.centroids[p * dims..(p + 1) * dims])
            .map(|(a, b)| a - b)
            .collect();
        let mut codes = vec![0u8; self.pq.m];
        match self.eta(v).filter(|_| score_aware) {
            Some((eta, norm)) => {
                let dir: Vec<f32> = v.iter().map(|x| x / norm).collect();
                self.pq.encode_anisotropic(&residual, &dir, eta, &mut codes);
            }
            None => self.pq.encode(&residual, &mut codes),
        }
        self.append(p, row, &codes, sq_norm);
    }

    /// ScaNN's η for `v` (and ‖v‖), when anisotropic encoding applies to it.
    fn eta(&self, v: &[f32]) -> Option<(f32, f32)> {
        let t = self.anisotropic?;
        if !matches!(
            self.measure,
            DistanceMeasure::DotProduct | DistanceMeasure::Cosine
        ) {
            return None;
        }
        let norm = simd::dot(v, v).sqrt();
        let ratio = (t / norm) * (t / norm);
        (norm > t && ratio.is_finite())
            .then(|| ((self.dims as f32 - 1.0) * ratio / (1.0 - ratio), norm))
    }

    /// The second partition of a spilled vector (SOAR, Sun et al. 2023): the one minimising
    /// ‖x − c‖² + λ ⟨x − c, r̂⟩², where r̂ is the direction of the residual in the primary
    /// partition, so that the second residual is nearly orthogonal to the first and the two
    /// copies fail on different queries.
    fn spill_partition(&self, v: &[f32], v_sq: f32, vc: &[f32], primary: usize) -> usize {
        const LAMBDA: f32 = 1.0;
        let k = self.partitions.len();
        // ‖r‖² = ‖v‖² − 2 v·c + ‖c‖² for the primary centroid c.
        let r_sq = (v_sq - 2.0 * vc[primary] + self.centroid_norms[primary]).max(0.0);
        let r_norm = r_sq.sqrt();
        let others = |loss: &dyn Fn(usize) -> f32| {
            argmin((0..k).map(|c| if c == primary { f32::INFINITY } else { loss(c) })).0
        };
        if r_norm <= f32::EPSILON {
            // On its centroid: no residual direction; take the nearest other partition.
            return others(&|c| self.centroid_norms[c] - 2.0 * vc[c]);
        }
        // ⟨v − c', r̂⟩ = (⟨v, r⟩ − ⟨c', r⟩) / ‖r‖ with r = v − c and
        // ⟨c', r⟩ = v·c' − c'·c (from the Gram matrix, or computed when there is none).
        let v_r = v_sq - vc[primary];
        let c_r: Vec<f32> = if self.gram.len() == k * k {
            let row = &self.gram[primary * k..(primary + 1) * k];
            vc.iter().zip(row).map(|(a, b)| a - b).collect()
        } else {
            let dims = self.dims;
            let c = &self.centroids[primary * dims..(primary + 1) * dims];
            let r: Vec<f32> = v.iter().zip(c).map(|(a, b)| a - b).collect();
            self.centroid_dots(&r)
        };
        others(&|c| {
            let e = (v_r - c_r[c]) / r_norm;
            self.centroid_norms[c] - 2.0 * vc[c] + LAMBDA * e * e
        })
    }

    /// Appends one row's codes to partition `p`.
    pub(crate) fn append(&mut self, p: usize, row: u32, codes: &[u8], sq_norm: Option<f32>) {
        let m = self.pq.m;
        let part = &mut self.partitions[p];
        put_code(&mut part.codes, part.rows.len(), m, codes);
        part.rows.push(row);
        if let Some(n) = sq_norm {
            part.sq_norms.push(n);
        }
    }

    /// The codes of slot `slot` of partition `p` (for saving and tests).
    pub(crate) fn codes_of(&self, p: usize, slot: usize) -> Vec<u8> {
        let block_bytes = self.block_bytes();
        let part = &self.partitions[p];
        let block = &part.codes[(slot / BLOCK) * block_bytes..(slot / BLOCK + 1) * block_bytes];
        let (lane, shift) = (slot % BLOCK % 16, if slot % BLOCK < 16 { 0 } else { 4 });
        (0..self.pq.m)
            .map(|s| (block[(s / 2) * 32 + (s % 2) * 16 + lane] >> shift) & 15)
            .collect()
    }

    /// Float lookup table of `−q·centroid` per sub-space entry (DotProduct, Cosine,
    /// SquaredL2) or of `‖qₛ − centroid‖₁` (L1, with `q` the residual query).
    fn float_lut(&self, q: &[f32], l1: bool) -> Vec<f32> {
        let mut lut = vec![0f32; self.pq.m * KSUB];
        self.pq.lut(q, l1, &mut lut);
        lut
    }

    /// Approximate search followed by exact re-ordering. Returns (distance, row), nearest
    /// first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search(
        &self,
        store: &Store,
        measure: DistanceMeasure,
        query: &[f32],
        query_norm: f32,
        allowed: Option<&Bitset>,
        k: usize,
        crowding: Option<usize>,
        fraction: f64,
        candidates: usize,
    ) -> Vec<(f32, u32)> {
        let nparts = self.partitions.len();
        let live = store.live_count().max(1);
        let mut leaves = ((fraction * nparts as f64).ceil() as usize).clamp(1, nparts);
        if let Some(allowed) = allowed {
            let count = allowed.count();
            let s = count as f64 / live as f64;
            if s <= EXACT_FILTER_FRACTION {
                let mut top = TopK::new(store, k, crowding);
                flat::scan(store, measure, query, query_norm, Some(allowed), &mut top);
                return top.into_sorted();
            }
            leaves = ((leaves as f64 / s.sqrt()).ceil() as usize).clamp(1, nparts);
        }

        let dims = self.dims;
        let q = self.space(query);
        // q·c for every centroid, four at a time; partitions are ranked from it.
        let mut qc = vec![0f32; nparts];
        let c = |p: usize| &self.centroids[p * dims..(p + 1) * dims];
        let mut p = 0;
        while p + 4 <= nparts {
            qc[p..p + 4].copy_from_slice(&simd::dot4(&q, [c(p), c(p + 1), c(p + 2), c(p + 3)]));
            p += 4;
        }
        for (p, v) in qc.iter_mut().enumerate().skip(p) {
            *v = simd::dot(&q, c(p));
        }
        let by_inner_product = measure == DistanceMeasure::DotProduct && !self.unit_vectors;
        let mut order: Vec<(f32, u32)> = qc
            .iter()
            .zip(&self.centroid_norms)
            .enumerate()
            .map(|(p, (&qc, &norm))| {
                let d = if by_inner_product {
                    -qc
                } else {
                    norm - 2.0 * qc
                };
                (d, p as u32)
            })
            .collect();
        if leaves < nparts {
            order.select_nth_unstable_by(leaves - 1, |a, b| a.0.total_cmp(&b.0));
            order.truncate(leaves);
        }
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));

        let candidates = candidates.max(k);
        // A spilled row sits in two partitions; it takes one candidate slot.
        let mut pushed = Seen::new(self.spill, store.rows());
        // Quantised distances can misorder rows of one tag, so the candidate stage keeps more
        // rows per tag than the answer may hold.
        let approx_crowding = crowding.map(|c| c.saturating_mul(2).max(candidates / k.max(1)));
        let mut approx = TopK::new(store, candidates, approx_crowding).ties_by_row();
        let l1 = measure == DistanceMeasure::L1;
        let shared_lut = (!l1).then(|| Lut::quantize(&self.float_lut(&q, false), self.pq.m));
        let q_sq = query_norm * query_norm;
        let mut sums = Vec::new();
        let mut residual = vec![0f32; dims];
        for &(_, p) in &order {
            let p = p as usize;
            let part = &self.partitions[p];
            if part.rows.is_empty() {
                continue;
            }
            let centroid = &self.centroids[p * dims..(p + 1) * dims];
            let own_lut;
            let lut = match &shared_lut {
                Some(l) => l,
                None => {
                    for ((r, a), b) in residual.iter_mut().zip(&q).zip(centroid) {
                        *r = a - b;
                    }
                    own_lut = Lut::quantize(&self.float_lut(&residual, true), self.pq.m);
                    &own_lut
                }
            };
            // approx = base + scale × Σ bytes (+ ‖x‖² for SquaredL2).
            let (base, scale) = match measure {
                DistanceMeasure::DotProduct => (-qc[p] + lut.bias, lut.step),
                DistanceMeasure::Cosine => (1.0 - qc[p] + lut.bias, lut.step),
                DistanceMeasure::SquaredL2 => (q_sq - 2.0 * qc[p] + 2.0 * lut.bias, 2.0 * lut.step),
                DistanceMeasure::L1 => (lut.bias, lut.step),
            };
            let blocks = part.rows.len().div_ceil(BLOCK);
            sums.resize(blocks * BLOCK, 0u16);
            simd::scan_blocks(&part.codes, &lut.bytes, self.pq.m, &mut sums);
            // The largest byte sum that can still enter the candidates (one step of slack
            // for rounding; ‖x‖² ≥ 0 only adds for SquaredL2): blocks are tested 32 sums at
            // a time against it and only the codes under it are looked at.
            let bound = |threshold: f32| -> Option<u16> {
                let b = ((threshold - base) / scale).ceil() + 1.0;
                if b.is_nan() || b < 0.0 {
                    None
                } else {
                    Some(b.min(f32::from(u16::MAX)) as u16)
                }
            };
            let Some(mut limit) = bound(approx.threshold()) else {
                continue;
            };
            for (b, block) in sums.chunks_exact(BLOCK).enumerate() {
                let mut bits = simd::block_mask(block, limit);
                while bits != 0 {
                    let j = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let slot = b * BLOCK + j;
                    let Some(&row) = part.rows.get(slot) else {
                        break;
                    };
                    let mut d = base + scale * f32::from(block[j]);
                    if measure == DistanceMeasure::SquaredL2 {
                        d += part.sq_norms.get(slot).copied().unwrap_or(0.0);
                    }
                    if d <= approx.threshold() {
                        let ok = match allowed {
                            Some(a) => a.contains(row as usize),
                            None => store.is_live(row as usize),
                        };
                        if ok && pushed.first_time(row) {
                            approx.push(d, row);
                            match bound(approx.threshold()) {
                                Some(l) => limit = l,
                                None => break,
                            }
                        }
                    }
                }
            }
        }
        let mut top = TopK::new(store, k, crowding);
        let mut scratch = Vec::new();
        let candidates = approx.into_sorted();
        for &(_, row) in &candidates {
            store.prefetch(row as usize);
        }
        for (_, row) in candidates {
            top.push(
                measure.exact(query, query_norm, store.vector(row as usize, &mut scratch)),
                row,
            );
        }
        top.into_sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pq::subspaces;

    #[test]
    fn codes_round_trip_through_blocks() {
        let pq = Pq::new(6, 2, subspaces(6, 2), vec![0.0; subspaces(6, 2) * KSUB * 2]);
        let mut t = TreeAh {
            measure: DistanceMeasure::DotProduct,
            spill: false,
            unit_vectors: false,
            dims: 6,
            centroids: vec![0.0; 6],
            centroid_norms: vec![0.0],
            pq,
            partitions: vec![Partition::default()],
            gram: Vec::new(),
            anisotropic: None,
        };
        let codes: Vec<Vec<u8>> = (0..70u8)
            .map(|i| (0..4u8).map(|s| (i * 3 + s * 5) % 16).collect())
            .collect();
        for (i, c) in codes.iter().enumerate() {
            t.append(0, i as u32, c, None);
        }
        for (i, c) in codes.iter().enumerate() {
            assert_eq!(&t.codes_of(0, i), c);
        }
        assert_eq!(t.partitions[0].codes.len(), 3 * 2 * 32);
    }
}
