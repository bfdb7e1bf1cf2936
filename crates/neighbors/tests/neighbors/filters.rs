//! Token and numeric restrictions and crowding, on hand-made cases and against the
//! reference.

use prism_neighbors::{
    Algorithm, DistanceMeasure, Example, FeatureNorm, Index, IndexConfig, NumericOp, NumericValue,
    Query, TokenRestrict,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{assert_matches, clustered, reference};

fn ids(index: &Index, q: &Query<'_>) -> Vec<String> {
    index.search(q).unwrap().into_iter().map(|n| n.id).collect()
}

/// Vertex's own example: colours and shapes.
fn shapes(algorithm: Algorithm) -> Index {
    let ex = vec![
        Example::new("red-circle", vec![0.0, 0.0])
            .with_tokens("color", ["red"])
            .with_tokens("shape", ["circle"]),
        Example::new("blue-square", vec![0.1, 0.0])
            .with_tokens("color", ["blue"])
            .with_tokens("shape", ["square"]),
        Example::new("red-blue-square", vec![0.2, 0.0])
            .with_tokens("color", ["red", "blue"])
            .with_tokens("shape", ["square"]),
        Example::new("no-color-circle", vec![0.3, 0.0]).with_tokens("shape", ["circle"]),
        Example {
            restricts: vec![TokenRestrict {
                namespace: "color".into(),
                allow: vec!["green".into()],
                deny: vec!["red".into()],
            }],
            ..Example::new("green-not-red", vec![0.4, 0.0])
        },
    ];
    let config = IndexConfig::new(2)
        .distance(DistanceMeasure::SquaredL2)
        .algorithm(algorithm);
    Index::build(config, ex).unwrap()
}

#[test]
fn token_restrictions_follow_vertex_semantics() {
    for algorithm in [Algorithm::BruteForce, Algorithm::default()] {
        let index = shapes(algorithm);
        let q = [0.0f32, 0.0];
        // OR within a namespace.
        let got = ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict::allow("color", ["red", "blue"])),
        );
        assert_eq!(got, ["red-circle", "blue-square", "red-blue-square"]);
        // AND across namespaces.
        let got = ids(
            &index,
            &Query::new(&q, 10)
                .restrict(TokenRestrict::allow("color", ["red"]))
                .restrict(TokenRestrict::allow("shape", ["square"])),
        );
        assert_eq!(got, ["red-blue-square"]);
        // A namespace the query does not name does not restrict.
        let got = ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict::allow("shape", ["circle"])),
        );
        assert_eq!(got, ["red-circle", "no-color-circle"]);
        // A query deny token excludes examples holding it; deny-only keeps everything else,
        // examples without the namespace included.
        let got = ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict::deny("color", ["red"])),
        );
        assert_eq!(got, ["blue-square", "no-color-circle", "green-not-red"]);
        // Allow and deny together.
        let got = ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict {
                namespace: "color".into(),
                allow: vec!["blue".into()],
                deny: vec!["red".into()],
            }),
        );
        assert_eq!(got, ["blue-square"]);
        // An example denying a token is excluded from queries allowing it.
        let got = ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict::allow("color", ["red", "green"])),
        );
        assert_eq!(got, ["red-circle", "red-blue-square"]);
        let got = ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict::allow("color", ["green"])),
        );
        assert_eq!(got, ["green-not-red"]);
        // Unknown namespace or token: nothing passes an allow list.
        assert!(ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict::allow("size", ["big"]))
        )
        .is_empty());
        assert!(ids(
            &index,
            &Query::new(&q, 10).restrict(TokenRestrict::allow("color", ["pink"]))
        )
        .is_empty());
    }
}

#[test]
fn numeric_restrictions_compare_as_asked() {
    let ex: Vec<Example> = (0..6)
        .map(|i| {
            let e = Example::new(format!("p{i}"), vec![i as f32, 0.0]);
            match i {
                0..=3 => e.with_number("price", NumericValue::Int(i64::from(i) * 10)),
                4 => e.with_number("price", NumericValue::Double(25.5)),
                _ => e, // no price at all
            }
        })
        .collect();
    for algorithm in [Algorithm::BruteForce, Algorithm::default()] {
        let config = IndexConfig::new(2)
            .distance(DistanceMeasure::SquaredL2)
            .algorithm(algorithm);
        let index = Index::build(config, ex.clone()).unwrap();
        let q = [0.0f32, 0.0];
        let run = |op, v| ids(&index, &Query::new(&q, 10).numeric("price", op, v));
        assert_eq!(run(NumericOp::Less, NumericValue::Int(20)), ["p0", "p1"]);
        assert_eq!(
            run(NumericOp::LessEqual, NumericValue::Int(20)),
            ["p0", "p1", "p2"]
        );
        assert_eq!(run(NumericOp::Equal, NumericValue::Float(20.0)), ["p2"]);
        assert_eq!(
            run(NumericOp::GreaterEqual, NumericValue::Int(20)),
            ["p2", "p3", "p4"]
        );
        assert_eq!(
            run(NumericOp::Greater, NumericValue::Double(25.0)),
            ["p3", "p4"]
        );
        assert_eq!(
            run(NumericOp::NotEqual, NumericValue::Int(10)),
            ["p0", "p2", "p3", "p4"]
        );
        assert!(ids(
            &index,
            &Query::new(&q, 10).numeric("weight", NumericOp::Less, NumericValue::Int(1))
        )
        .is_empty());
    }
}

#[test]
fn crowding_caps_results_per_tag() {
    let ex: Vec<Example> = (0..9)
        .map(|i| {
            Example::new(format!("e{i}"), vec![i as f32, 0.0])
                .with_crowding_tag(["a", "a", "a", "b", "a", "b", "c", "c", "b"][i])
        })
        .chain([Example::new("untagged", vec![2.5, 0.0])])
        .collect();
    for algorithm in [Algorithm::BruteForce, Algorithm::default()] {
        let config = IndexConfig::new(2)
            .distance(DistanceMeasure::SquaredL2)
            .algorithm(algorithm);
        let index = Index::build(config, ex.clone()).unwrap();
        let q = [0.0f32, 0.0];
        assert_eq!(
            ids(&index, &Query::new(&q, 4).crowding(1)),
            ["e0", "untagged", "e3", "e6"]
        );
        assert_eq!(
            ids(&index, &Query::new(&q, 5).crowding(2)),
            ["e0", "e1", "untagged", "e3", "e5"]
        );
        // Fewer distinct tags than k: the answer is shorter, never padded with extra rows.
        assert_eq!(ids(&index, &Query::new(&q, 10).crowding(1)).len(), 4);
    }
}

/// Random attributes over clustered data; every filter shape, both algorithms, against the
/// reference. tree-AH searches all leaves here so that its answer must be exact.
#[test]
fn filters_and_crowding_match_the_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let data = clustered(2000, 16, 10, 0.2, 6);
    let ex: Vec<Example> = data
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut e = Example::new(i.to_string(), v.clone())
                .with_tokens(
                    "pos",
                    [["noun", "verb", "adj", "adv"][rng.random_range(0..4)]],
                )
                .with_number("year", NumericValue::Int(rng.random_range(1990..2020)))
                .with_crowding_tag(format!("t{}", rng.random_range(0..40)));
            if rng.random_bool(0.3) {
                e = e.with_tokens("source", ["wordnet"]);
            }
            if rng.random_bool(0.01) {
                e = e.with_tokens("rare", ["yes"]);
            }
            e
        })
        .collect();
    let queries = clustered(10, 16, 10, 0.3, 7);
    type Shape = Box<dyn Fn(Query<'_>) -> Query<'_>>;
    let filters: Vec<Shape> = vec![
        Box::new(|q| q),
        Box::new(|q| q.restrict(TokenRestrict::allow("pos", ["noun"]))),
        Box::new(|q| {
            q.restrict(TokenRestrict::allow("pos", ["noun", "verb"]))
                .restrict(TokenRestrict::allow("source", ["wordnet"]))
        }),
        Box::new(|q| q.restrict(TokenRestrict::deny("pos", ["adj"]))),
        Box::new(|q| q.restrict(TokenRestrict::allow("rare", ["yes"]))),
        Box::new(|q| q.numeric("year", NumericOp::GreaterEqual, NumericValue::Int(2015))),
        Box::new(|q| q.restrict(TokenRestrict::allow("pos", ["adv"])).crowding(1)),
        Box::new(|q| q.crowding(2)),
    ];
    for measure in [DistanceMeasure::SquaredL2, DistanceMeasure::DotProduct] {
        let brute = IndexConfig::new(16)
            .distance(measure)
            .algorithm(Algorithm::BruteForce);
        let tree = IndexConfig::new(16)
            .distance(measure)
            .algorithm(Algorithm::TreeAh {
                leaf_node_embedding_count: 100,
                fraction_leaf_nodes_to_search: 1.0,
                approximate_neighbors_count: 2000,
            });
        for config in [brute, tree] {
            let index = Index::build(config, ex.clone()).unwrap();
            for qv in &queries {
                for f in &filters {
                    let q = f(Query::new(qv, 10));
                    let want = reference(&ex, measure, FeatureNorm::None, &q);
                    assert_matches(&index.search(&q).unwrap(), &want, 1e-4);
                }
            }
        }
    }
}

/// A very selective filter returns every neighbour that exists, even with tree-AH at a
/// small search fraction.
#[test]
fn selective_filters_keep_recall() {
    let data = clustered(3000, 16, 20, 0.2, 8);
    let ex: Vec<Example> = data
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let e = Example::new(i.to_string(), v.clone());
            if i % 500 == 7 {
                e.with_tokens("k", ["rare"])
            } else {
                e.with_tokens("k", ["common"])
            }
        })
        .collect();
    let config = IndexConfig::new(16).algorithm(Algorithm::TreeAh {
        leaf_node_embedding_count: 100,
        fraction_leaf_nodes_to_search: 0.05,
        approximate_neighbors_count: 50,
    });
    let index = Index::build(config, ex.clone()).unwrap();
    for qv in clustered(5, 16, 20, 0.3, 9) {
        let q = Query::new(&qv, 10).restrict(TokenRestrict::allow("k", ["rare"]));
        let got = index.search(&q).unwrap();
        assert_eq!(got.len(), 6);
        assert_matches(
            &got,
            &reference(&ex, DistanceMeasure::DotProduct, FeatureNorm::None, &q),
            1e-4,
        );
    }
}
