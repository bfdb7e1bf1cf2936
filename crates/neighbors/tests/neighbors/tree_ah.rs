//! tree-AH recall against brute force, on a fixed seeded dataset.

use prism_neighbors::{Algorithm, DistanceMeasure, FeatureNorm, Index, IndexConfig, Query};

use crate::common::{clustered, examples, recall};

/// The documented configuration: 8,000 clustered 32-d vectors, partitions of ~100 vectors
/// (80 leaves), 10% of them searched, 100 candidates re-ordered. recall@10 over 100
/// queries must reach 0.95 for every distance measure but L1, whose partitions and codebooks
/// are trained under Euclidean distance (0.92 there), with codes of 2 or 3 dimensions per
/// sub-space (0.90 with 4).
#[test]
fn recall_at_10_reaches_0_95() {
    let data = clustered(8000, 32, 64, 0.25, 41);
    let queries = clustered(100, 32, 64, 0.3, 42);
    let ex = examples(&data);
    for (measure, norm, spill, block) in [
        (DistanceMeasure::DotProduct, FeatureNorm::None, true, 2),
        (DistanceMeasure::DotProduct, FeatureNorm::UnitL2, true, 2),
        (DistanceMeasure::DotProduct, FeatureNorm::UnitL2, false, 2),
        (DistanceMeasure::DotProduct, FeatureNorm::UnitL2, false, 3),
        (DistanceMeasure::DotProduct, FeatureNorm::UnitL2, true, 4),
        (DistanceMeasure::SquaredL2, FeatureNorm::None, true, 2),
        (DistanceMeasure::SquaredL2, FeatureNorm::None, false, 4),
        (DistanceMeasure::Cosine, FeatureNorm::None, true, 2),
        (DistanceMeasure::L1, FeatureNorm::None, true, 2),
    ] {
        let config = IndexConfig::new(32)
            .distance(measure)
            .norm(norm)
            .spill(spill)
            .dims_per_block(block)
            .algorithm(Algorithm::TreeAh {
                leaf_node_embedding_count: 100,
                fraction_leaf_nodes_to_search: 0.1,
                approximate_neighbors_count: 100,
            });
        let index = Index::build(config, ex.clone()).unwrap();
        assert_eq!(index.stats().partitions, 80);
        let mut total = 0.0;
        for q in &queries {
            let query = Query::new(q, 10);
            total += recall(
                &index.search(&query).unwrap(),
                &index.search_exact(&query).unwrap(),
            );
        }
        let r = total / queries.len() as f64;
        eprintln!("{measure:?} {norm:?} spill {spill} block {block}: recall@10 = {r:.3}");
        let floor = if measure == DistanceMeasure::L1 {
            0.92
        } else if block == 4 {
            // 16 centroids for 4 dimensions: a coarser score, so 100 candidates miss more.
            0.90
        } else {
            0.95
        };
        assert!(r >= floor, "{measure:?} {norm:?}: recall@10 = {r:.3}");
    }
}

/// Same seed, same index: two builds answer identically.
#[test]
fn builds_are_deterministic() {
    let data = clustered(2000, 16, 16, 0.25, 43);
    let config = IndexConfig::new(16).algorithm(Algorithm::TreeAh {
        leaf_node_embedding_count: 100,
        fraction_leaf_nodes_to_search: 0.1,
        approximate_neighbors_count: 20,
    });
    let a = Index::build(config.clone(), examples(&data)).unwrap();
    let b = Index::build(config, examples(&data)).unwrap();
    for q in clustered(20, 16, 16, 0.3, 44) {
        assert_eq!(
            a.search(&Query::new(&q, 10)).unwrap(),
            b.search(&Query::new(&q, 10)).unwrap()
        );
    }
}
