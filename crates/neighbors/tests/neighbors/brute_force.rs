//! Exact search against the independent reference, for every distance and norm.

use prism_neighbors::{
    Algorithm, DistanceMeasure, Example, FeatureNorm, Index, IndexConfig, NeighborsError, Query,
};

use crate::common::{assert_matches, clustered, examples, reference};

const MEASURES: [DistanceMeasure; 4] = [
    DistanceMeasure::SquaredL2,
    DistanceMeasure::L1,
    DistanceMeasure::DotProduct,
    DistanceMeasure::Cosine,
];

fn brute(dims: usize, measure: DistanceMeasure, norm: FeatureNorm) -> IndexConfig {
    IndexConfig::new(dims)
        .distance(measure)
        .norm(norm)
        .algorithm(Algorithm::BruteForce)
}

#[test]
fn exact_top_k_for_every_measure_and_norm() {
    let data = clustered(600, 37, 8, 0.3, 11);
    let queries = clustered(20, 37, 8, 0.4, 12);
    let ex = examples(&data);
    for measure in MEASURES {
        for norm in [FeatureNorm::None, FeatureNorm::UnitL2] {
            let index = Index::build(brute(37, measure, norm), ex.clone()).unwrap();
            for q in &queries {
                let query = Query::new(q, 10);
                let got = index.search(&query).unwrap();
                let want = reference(&ex, measure, norm, &query);
                assert_matches(&got, &want, 1e-4);
            }
        }
    }
}

#[test]
fn results_are_sorted_and_ties_broken_by_id() {
    let ex = vec![
        Example::new("b", vec![1.0, 0.0]),
        Example::new("c", vec![1.0, 0.0]),
        Example::new("a", vec![1.0, 0.0]),
        Example::new("far", vec![5.0, 5.0]),
    ];
    let index = Index::build(brute(2, DistanceMeasure::SquaredL2, FeatureNorm::None), ex).unwrap();
    let got = index.search(&Query::new(&[1.0, 0.0], 4)).unwrap();
    let ids: Vec<&str> = got.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "far"]);
    assert_eq!(got[0].distance, 0.0);
    // k larger than the index returns everything.
    assert_eq!(index.search(&Query::new(&[0.0, 0.0], 50)).unwrap().len(), 4);
}

#[test]
fn dot_product_is_the_negative_inner_product() {
    let ex = vec![Example::new("x", vec![2.0, 3.0])];
    let index = Index::build(brute(2, DistanceMeasure::DotProduct, FeatureNorm::None), ex).unwrap();
    let got = index.search(&Query::new(&[1.0, 1.0], 1)).unwrap();
    assert_eq!(got[0].distance, -5.0);
    // Unit norm applies to the query too.
    let ex = vec![Example::new("x", vec![3.0, 4.0])];
    let index = Index::build(
        brute(2, DistanceMeasure::DotProduct, FeatureNorm::UnitL2),
        ex,
    )
    .unwrap();
    let got = index.search(&Query::new(&[0.0, 10.0], 1)).unwrap();
    assert!((got[0].distance + 0.8).abs() < 1e-6);
}

#[test]
fn bad_input_is_a_typed_error() {
    let config = brute(2, DistanceMeasure::SquaredL2, FeatureNorm::None);
    let err = Index::build(config.clone(), vec![Example::new("a", vec![1.0])]).unwrap_err();
    assert!(
        matches!(
            err,
            NeighborsError::DimensionMismatch {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{err}"
    );
    let err =
        Index::build(config.clone(), vec![Example::new("a", vec![1.0, f32::NAN])]).unwrap_err();
    assert!(
        matches!(err, NeighborsError::NonFinite { component: 1, .. }),
        "{err}"
    );
    let err = Index::build(config.clone(), vec![Example::new("", vec![1.0, 2.0])]).unwrap_err();
    assert!(
        matches!(err, NeighborsError::EmptyId { position: 0 }),
        "{err}"
    );
    let twice = vec![
        Example::new("a", vec![1.0, 2.0]),
        Example::new("a", vec![1.0, 2.0]),
    ];
    let err = Index::build(config.clone(), twice).unwrap_err();
    assert!(matches!(err, NeighborsError::DuplicateId { .. }), "{err}");
    let err = Index::build(IndexConfig::new(0), vec![]).unwrap_err();
    assert!(
        matches!(
            err,
            NeighborsError::InvalidConfig {
                field: "dimensions",
                ..
            }
        ),
        "{err}"
    );
    let bad_fraction = IndexConfig::new(2).algorithm(Algorithm::TreeAh {
        leaf_node_embedding_count: 10,
        fraction_leaf_nodes_to_search: 1.5,
        approximate_neighbors_count: 10,
    });
    let err = Index::build(bad_fraction, vec![]).unwrap_err();
    assert!(
        matches!(
            err,
            NeighborsError::InvalidConfig {
                field: "fraction_leaf_nodes_to_search",
                ..
            }
        ),
        "{err}"
    );

    let index = Index::build(config, vec![Example::new("a", vec![1.0, 2.0])]).unwrap();
    let err = index.search(&Query::new(&[1.0], 1)).unwrap_err();
    assert!(
        matches!(err, NeighborsError::DimensionMismatch { .. }),
        "{err}"
    );
    let err = index
        .search(&Query::new(&[1.0, f32::INFINITY], 1))
        .unwrap_err();
    assert!(matches!(err, NeighborsError::NonFinite { .. }), "{err}");
    let err = index.search(&Query::new(&[1.0, 1.0], 0)).unwrap_err();
    assert!(
        matches!(err, NeighborsError::InvalidQuery { field: "k", .. }),
        "{err}"
    );
    let err = index
        .search(&Query::new(&[1.0, 1.0], 1).crowding(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            NeighborsError::InvalidQuery {
                field: "crowding_count",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn empty_index_returns_nothing() {
    for algorithm in [Algorithm::BruteForce, Algorithm::default()] {
        let index = Index::build(IndexConfig::new(3).algorithm(algorithm), vec![]).unwrap();
        assert!(index.is_empty());
        assert!(index
            .search(&Query::new(&[1.0, 2.0, 3.0], 5))
            .unwrap()
            .is_empty());
    }
}

#[test]
fn batches_match_single_searches() {
    let data = clustered(700, 21, 8, 0.3, 13);
    let queries = clustered(9, 21, 8, 0.4, 14);
    let ex = examples(&data);
    for measure in MEASURES {
        let mut index = Index::build(brute(21, measure, FeatureNorm::None), ex.clone()).unwrap();
        index.delete(&["3", "500"]);
        let mut batch: Vec<Query<'_>> = queries.iter().map(|q| Query::new(q, 10)).collect();
        batch[2] = Query::new(&queries[2], 5).crowding(1);
        batch[4] = Query::new(&queries[4], 5)
            .restrict(prism_neighbors::TokenRestrict::allow("none", ["x"]));
        let got = index.search_batch(&batch).unwrap();
        for (q, found) in batch.iter().zip(&got) {
            let want: Vec<_> = index.search(q).unwrap();
            assert_eq!(found.len(), want.len());
            for (a, b) in found.iter().zip(&want) {
                assert!((a.distance - b.distance).abs() < 1e-3 * (1.0 + b.distance.abs()));
            }
        }
        assert!(got[4].is_empty());
        assert!(got.iter().flatten().all(|n| n.id != "3" && n.id != "500"));
    }
}

#[test]
fn large_batches_match_the_reference() {
    // 75 queries: two or four whole panels of the matrix-product kernel and a part panel
    // (or the 4 × 3 path for the rest), over rows that are not a multiple of any block,
    // with deleted rows and a zero vector.
    let dims = 29;
    let mut data = clustered(1_003, dims, 9, 0.3, 21);
    data[17] = vec![0.0; dims];
    let queries = clustered(75, dims, 9, 0.4, 22);
    let ex = examples(&data);
    for measure in MEASURES {
        for norm in [FeatureNorm::None, FeatureNorm::UnitL2] {
            let mut index = Index::build(brute(dims, measure, norm), ex.clone()).unwrap();
            index.delete(&["5", "600"]);
            let live: Vec<Example> = ex
                .iter()
                .filter(|e| e.id != "5" && e.id != "600")
                .cloned()
                .collect();
            let batch: Vec<Query<'_>> = queries.iter().map(|q| Query::new(q, 7)).collect();
            let got = index.search_batch(&batch).unwrap();
            for (query, found) in batch.iter().zip(&got) {
                let want = reference(&live, measure, norm, query);
                assert_matches(found, &want, 1e-4);
            }
        }
    }
}
