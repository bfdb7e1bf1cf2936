//! Sharded indexes (`shardSize`): the merged answer of the shards is the answer of one index.

use prism_neighbors::{
    Algorithm, DistanceMeasure, Example, FeatureNorm, Index, IndexConfig, NumericOp, NumericValue,
    Query, ShardSize, ShardedIndex, TokenRestrict,
};

use crate::common::{clustered, recall};

fn tagged(n: usize, dims: usize, seed: u64) -> Vec<Example> {
    clustered(n, dims, 12, 0.3, seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let mut e = Example::new(format!("e{i}"), v)
                .with_tokens("colour", [["red", "green", "blue"][i % 3]])
                .with_number("n", NumericValue::Int(i as i64));
            if i % 4 != 0 {
                e = e.with_crowding_tag(format!("tag{}", i % 37));
            }
            e
        })
        .collect()
}

#[test]
fn shard_sizes_follow_vertex() {
    assert_eq!(
        ShardSize::from_vertex_name("SHARD_SIZE_SMALL"),
        Some(ShardSize::Small)
    );
    assert_eq!(ShardSize::Medium.bytes(), 20 << 30);
    assert_eq!(ShardSize::Large.shards_for(1_000_000, 768), 1);
    // 1,000 examples of 16 floats: 164 bytes each, 164,000 bytes in 40,000-byte shards.
    assert_eq!(ShardSize::Bytes(40_000).shards_for(1_000, 16), 5);
}

#[test]
fn sharded_brute_force_equals_one_index() {
    let dims = 16;
    let ex = tagged(1_500, dims, 51);
    let queries = clustered(25, dims, 12, 0.4, 52);
    for measure in [
        DistanceMeasure::SquaredL2,
        DistanceMeasure::DotProduct,
        DistanceMeasure::Cosine,
    ] {
        let config = IndexConfig::new(dims)
            .distance(measure)
            .algorithm(Algorithm::BruteForce);
        let one = Index::build(config.clone(), ex.clone()).unwrap();
        let mut sharded =
            ShardedIndex::build(config, ShardSize::Bytes(50_000), ex.clone()).unwrap();
        assert_eq!(sharded.shards().len(), 5);
        assert!(
            sharded.shards().iter().all(|s| s.len() > 200),
            "balanced shards"
        );
        assert_eq!(sharded.len(), one.len());
        let mut one = one;
        for round in 0..2 {
            for q in &queries {
                for query in [
                    Query::new(q, 10),
                    Query::new(q, 10).crowding(1),
                    Query::new(q, 7)
                        .restrict(TokenRestrict::allow("colour", ["red", "blue"]))
                        .crowding(2),
                    Query::new(q, 5).numeric("n", NumericOp::Less, NumericValue::Int(300)),
                ] {
                    assert_eq!(
                        sharded.search(&query).unwrap(),
                        one.search(&query).unwrap(),
                        "{measure:?} round {round}"
                    );
                }
            }
            let batch: Vec<Query<'_>> = queries.iter().map(|q| Query::new(q, 10)).collect();
            assert_eq!(
                sharded.search_batch(&batch).unwrap(),
                one.search_batch(&batch).unwrap()
            );
            // Changes reach the right shard.
            let new = vec![
                Example::new("late", queries[0].clone()).with_crowding_tag("tag3"),
                Example::new("e7", queries[1].clone()),
            ];
            sharded.delete(&["e1", "e2"]);
            one.delete(&["e1", "e2"]);
            sharded.upsert(new.clone()).unwrap();
            one.upsert(new).unwrap();
            assert_eq!(sharded.len(), one.len());
            assert!(sharded
                .add(vec![Example::new("late", queries[2].clone())])
                .is_err());
        }
        assert_eq!(sharded.get("e7"), one.get("e7"));
    }
}

#[test]
fn sharded_tree_ah_keeps_recall_and_round_trips() {
    let dims = 24;
    let ex = tagged(4_000, dims, 61);
    let queries = clustered(60, dims, 12, 0.4, 62);
    let config = IndexConfig::new(dims)
        .norm(FeatureNorm::UnitL2)
        .algorithm(Algorithm::TreeAh {
            leaf_node_embedding_count: 50,
            fraction_leaf_nodes_to_search: 0.2,
            approximate_neighbors_count: 40,
        });
    let sharded = ShardedIndex::build_with_shards(config, 4, ex).unwrap();
    assert_eq!(sharded.shards().len(), 4);
    assert!(sharded.stats().partitions >= 70);
    let mut total = 0.0;
    for q in &queries {
        let query = Query::new(q, 10);
        total += recall(
            &sharded.search(&query).unwrap(),
            &sharded.search_exact(&query).unwrap(),
        );
    }
    let r = total / queries.len() as f64;
    eprintln!("sharded tree-AH recall@10 = {r:.3}");
    assert!(r >= 0.95, "recall@10 = {r:.3}");

    let dir = tempfile::tempdir().unwrap();
    sharded.save(dir.path()).unwrap();
    let loaded = ShardedIndex::load(dir.path()).unwrap();
    assert_eq!(loaded.len(), sharded.len());
    for q in queries.iter().take(10) {
        let query = Query::new(q, 10).crowding(1);
        assert_eq!(
            loaded.search(&query).unwrap(),
            sharded.search(&query).unwrap()
        );
    }
    // Saving fewer shards into the same directory leaves no stale shard behind.
    let small = ShardedIndex::build_with_shards(
        IndexConfig::new(dims).algorithm(Algorithm::BruteForce),
        2,
        tagged(50, dims, 63),
    )
    .unwrap();
    small.save(dir.path()).unwrap();
    assert_eq!(ShardedIndex::load(dir.path()).unwrap().shards().len(), 2);
}
