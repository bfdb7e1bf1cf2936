//! Nearest-neighbour index for Prism's example-based explanations.
//!
//! An [`Index`] holds [`Example`]s (an id, an embedding, token and numeric restricts, a
//! crowding tag) and answers [`Query`]s with the nearest examples, nearest first, under one
//! of Vertex AI's four [`DistanceMeasure`]s, after an optional [`FeatureNorm`]. Two
//! algorithms, chosen by [`Algorithm`]:
//!
//! - **brute force**: exact; also the oracle the approximate one is tested against;
//! - **tree-AH** (Vertex's default): k-means partitions, 4-bit product-quantised codes scored
//!   with SIMD lookup-table shuffles, and exact re-ordering of the best candidates (see the
//!   `tree_ah` module for the details).
//!
//! Queries filter with token restrictions (AND across namespaces, OR within one, deny
//! tokens) and numeric restrictions, and may cap results per crowding tag; a selective
//! filter is answered exactly, so filtering never loses neighbours. Indexes grow with
//! [`Index::add`] / [`Index::upsert`], shrink with [`Index::delete`], and are saved to one
//! checksummed file ([`Index::save`], [`Index::load`]; layout in the `format` module) that is
//! memory-mapped on load. A [`ShardedIndex`] splits a large index into shards (Vertex's
//! `shardSize`) searched together.
//!
//! ```
//! use prism_neighbors::{Example, Index, IndexConfig, Query, TokenRestrict};
//!
//! let examples = vec![
//!     Example::new("cat-1", vec![1.0, 0.0]).with_tokens("label", ["cat"]),
//!     Example::new("dog-1", vec![0.9, 0.1]).with_tokens("label", ["dog"]),
//!     Example::new("cat-2", vec![0.0, 1.0]).with_tokens("label", ["cat"]),
//! ];
//! let index = Index::build(IndexConfig::new(2), examples)?;
//! let query = Query::new(&[1.0, 0.0], 2).restrict(TokenRestrict::allow("label", ["cat"]));
//! let ids: Vec<String> = index.search(&query)?.into_iter().map(|n| n.id).collect();
//! assert_eq!(ids, ["cat-1", "cat-2"]);
//! # Ok::<(), prism_neighbors::NeighborsError>(())
//! ```
#![deny(missing_docs)]

mod bitset;
mod collect;
mod distance;
mod error;
mod example;
mod filter;
mod flat;
pub mod format;
mod index;
mod kmeans;
mod mapped;
mod pq;
pub mod presets;
pub mod shards;
mod simd;
mod store;
pub mod tree_ah;

pub use distance::{DistanceMeasure, FeatureNorm};
pub use error::{NeighborsError, Result};
pub use example::{
    Example, Neighbor, NumericOp, NumericRestrict, NumericRestriction, NumericValue, Query,
    TokenRestrict,
};
pub use index::{
    Algorithm, Index, IndexConfig, IndexStats, VectorStorage, DEFAULT_ANISOTROPIC_THRESHOLD,
    MAX_DIMENSIONS,
};
pub use presets::{PresetModality, PresetQuery};
pub use shards::{ShardSize, ShardedIndex};
