//! Vertex's example-based `presets` (`{query: PRECISE | FAST, modality: IMAGE | TEXT |
//! TABULAR}`) as index configurations.
//!
//! | modality | distance | feature norm |
//! |---|---|---|
//! | `IMAGE`, `TEXT` | `DOT_PRODUCT_DISTANCE` | `UNIT_L2_NORM` (cosine ranking of embeddings) |
//! | `TABULAR` | `SQUARED_L2_DISTANCE` | `NONE` |
//!
//! | query | algorithm | measured on minilm-50k (`docs/benchmarks.md`) |
//! |---|---|---|
//! | `PRECISE` (default) | tree-AH, leaves of 200, 30% searched, 50 re-ordered | recall@10 ≈ 0.97 (0.966) |
//! | `FAST` | tree-AH, leaves of 200, 15% searched, 30 re-ordered | recall@10 ≈ 0.92 (0.922) |
//!
//! Both keep the index's defaults otherwise: one copy of each vector (no spilling),
//! anisotropic 4-bit codes, float32 re-ranking.
//!
//! Indexes of fewer than [`PRESET_BRUTE_FORCE_BELOW`] examples are small enough to search
//! exactly, so both presets use brute force there.

use crate::distance::{DistanceMeasure, FeatureNorm};
use crate::index::{Algorithm, IndexConfig};

/// Below this many examples, presets choose brute force.
pub const PRESET_BRUTE_FORCE_BELOW: usize = 5_000;

/// `Presets.query`: the speed / precision trade-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PresetQuery {
    /// More precise neighbours, slower (Vertex's default).
    #[default]
    Precise,
    /// Faster, less precise neighbours.
    Fast,
}

/// `Presets.modality`: chooses the distance measure and the feature norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PresetModality {
    /// Image embeddings.
    Image,
    /// Text embeddings.
    Text,
    /// Tabular data.
    Tabular,
}

impl IndexConfig {
    /// The configuration a preset stands for (tables in the `presets` module), for
    /// `dimensions`-long vectors and about `examples` examples.
    pub fn preset(
        dimensions: usize,
        examples: usize,
        modality: PresetModality,
        query: PresetQuery,
    ) -> IndexConfig {
        let (distance, norm) = match modality {
            PresetModality::Image | PresetModality::Text => {
                (DistanceMeasure::DotProduct, FeatureNorm::UnitL2)
            }
            PresetModality::Tabular => (DistanceMeasure::SquaredL2, FeatureNorm::None),
        };
        let algorithm = if examples < PRESET_BRUTE_FORCE_BELOW {
            Algorithm::BruteForce
        } else {
            let (fraction, candidates) = match query {
                PresetQuery::Precise => (0.3, 50),
                PresetQuery::Fast => (0.15, 30),
            };
            Algorithm::TreeAh {
                leaf_node_embedding_count: 200,
                fraction_leaf_nodes_to_search: fraction,
                approximate_neighbors_count: candidates,
            }
        };
        IndexConfig::new(dimensions)
            .distance(distance)
            .norm(norm)
            .algorithm(algorithm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_map_to_the_documented_configurations() {
        let c = IndexConfig::preset(384, 50_000, PresetModality::Text, PresetQuery::Precise);
        assert_eq!(c.distance, DistanceMeasure::DotProduct);
        assert_eq!(c.norm, FeatureNorm::UnitL2);
        assert!(!c.spill);
        assert_eq!(
            c.algorithm,
            Algorithm::TreeAh {
                leaf_node_embedding_count: 200,
                fraction_leaf_nodes_to_search: 0.3,
                approximate_neighbors_count: 50,
            }
        );
        let c = IndexConfig::preset(10, 50_000, PresetModality::Tabular, PresetQuery::Fast);
        assert_eq!(
            (c.distance, c.norm),
            (DistanceMeasure::SquaredL2, FeatureNorm::None)
        );
        assert_eq!(
            c.algorithm,
            Algorithm::TreeAh {
                leaf_node_embedding_count: 200,
                fraction_leaf_nodes_to_search: 0.15,
                approximate_neighbors_count: 30,
            }
        );
        let c = IndexConfig::preset(10, 100, PresetModality::Image, PresetQuery::Fast);
        assert_eq!(c.algorithm, Algorithm::BruteForce);
        for m in [
            PresetModality::Image,
            PresetModality::Text,
            PresetModality::Tabular,
        ] {
            for q in [PresetQuery::Precise, PresetQuery::Fast] {
                assert!(IndexConfig::preset(8, 10_000, m, q).validate().is_ok());
            }
        }
    }
}
