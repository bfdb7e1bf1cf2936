//! Adding, deleting and upserting without rebuilding.

use prism_neighbors::{
    Algorithm, DistanceMeasure, Example, FeatureNorm, Index, IndexConfig, NeighborsError, Query,
    TokenRestrict,
};

use crate::common::{assert_matches, clustered, examples, reference};

fn exhaustive_tree() -> Algorithm {
    Algorithm::TreeAh {
        leaf_node_embedding_count: 50,
        fraction_leaf_nodes_to_search: 1.0,
        approximate_neighbors_count: 100_000,
    }
}

#[test]
fn add_delete_upsert_match_the_reference() {
    let data = clustered(900, 12, 6, 0.2, 21);
    let all = examples(&data);
    let queries = clustered(8, 12, 6, 0.3, 22);
    for algorithm in [Algorithm::BruteForce, exhaustive_tree()] {
        let config = IndexConfig::new(12)
            .distance(DistanceMeasure::SquaredL2)
            .algorithm(algorithm);
        let mut index = Index::build(config, all[..600].to_vec()).unwrap();
        index.add(all[600..].to_vec()).unwrap();
        assert_eq!(index.len(), 900);
        let mut current = all.clone();

        // Delete every third example.
        let gone: Vec<String> = (0..900).step_by(3).map(|i| i.to_string()).collect();
        assert_eq!(index.delete(&gone), 300);
        assert_eq!(index.delete(&gone), 0);
        assert_eq!(index.delete(&["no-such-id"]), 0);
        current.retain(|e| !gone.contains(&e.id));
        assert_eq!(index.len(), 600);
        assert!(!index.contains("0") && index.contains("1"));

        // Upsert: move "1" next to the first query, add a new one, re-add a deleted id.
        let moved = Example::new("1", queries[0].clone()).with_tokens("k", ["moved"]);
        let fresh = Example::new("new", queries[1].clone());
        let back = Example::new("0", queries[2].clone());
        index
            .upsert(vec![moved.clone(), fresh.clone(), back.clone()])
            .unwrap();
        current.retain(|e| e.id != "1");
        current.extend([moved, fresh, back]);
        assert_eq!(index.len(), 602);
        assert_eq!(
            index.get("1").unwrap().restricts,
            vec![TokenRestrict::allow("k", ["moved"])]
        );

        for q in &queries {
            let query = Query::new(q, 10);
            let want = reference(
                &current,
                DistanceMeasure::SquaredL2,
                FeatureNorm::None,
                &query,
            );
            assert_matches(&index.search(&query).unwrap(), &want, 1e-4);
        }
        let got = index.search(&Query::new(&queries[0], 1)).unwrap();
        assert_eq!(got[0].id, "1");
    }
}

#[test]
fn a_failed_add_changes_nothing() {
    let mut index = Index::build(
        IndexConfig::new(2).algorithm(Algorithm::BruteForce),
        vec![Example::new("a", vec![1.0, 0.0])],
    )
    .unwrap();
    let err = index
        .add(vec![
            Example::new("b", vec![1.0, 1.0]),
            Example::new("a", vec![0.0, 1.0]),
        ])
        .unwrap_err();
    assert!(
        matches!(err, NeighborsError::DuplicateId { ref id } if id == "a"),
        "{err}"
    );
    let err = index
        .upsert(vec![
            Example::new("b", vec![1.0, 1.0]),
            Example::new("c", vec![0.0]),
        ])
        .unwrap_err();
    assert!(
        matches!(err, NeighborsError::DimensionMismatch { .. }),
        "{err}"
    );
    assert_eq!(index.len(), 1);
    assert!(!index.contains("b"));
}

#[test]
fn an_empty_tree_index_trains_on_its_first_examples() {
    let data = clustered(300, 8, 4, 0.2, 23);
    let mut index = Index::build(IndexConfig::new(8).algorithm(exhaustive_tree()), vec![]).unwrap();
    assert_eq!(index.stats().partitions, 0);
    index.add(examples(&data)).unwrap();
    assert_eq!(index.stats().partitions, 6);
    let q = Query::new(&data[5], 3);
    assert_eq!(index.search(&q).unwrap(), index.search_exact(&q).unwrap());
}
