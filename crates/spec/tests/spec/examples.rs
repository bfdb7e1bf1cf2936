//! Example-based explanations: Examples, presets, the nearest-neighbour search config.

use prism_spec::{
    AlgorithmConfig, DistanceMeasureType, Examples, ExplanationSpec, FeatureNormType, Method,
    NearestNeighborSearchConfig, PresetModality, Query, ShardSize, SpecError,
};
use serde_json::json;

use crate::{assert_err, data, err, ok, spec_err};

fn nn(v: serde_json::Value) -> NearestNeighborSearchConfig {
    ok(NearestNeighborSearchConfig::from_value(v))
}

fn nn_err(v: serde_json::Value) -> SpecError {
    err(NearestNeighborSearchConfig::from_value(v))
}

#[test]
fn the_documented_example_config() {
    let s = ok(ExplanationSpec::from_json_str(&data("examples_spec.json")));
    let Method::Examples(ex) = &s.parameters.method else {
        panic!("{s:?}")
    };
    assert_eq!(ex.neighbor_count, Some(5));
    let src = ex.example_gcs_source.as_ref().expect("source");
    assert_eq!(src.gcs_source.uris, ["gs://bucket/examples/*.jsonl"]);
    let c = ex.nearest_neighbor_search_config.as_ref().expect("config");
    assert_eq!(c.contents_delta_uri, None);
    assert_eq!(c.config.dimensions, 384);
    assert_eq!(c.config.approximate_neighbors_count, Some(10));
    assert_eq!(
        c.config.distance_measure_type,
        DistanceMeasureType::SquaredL2
    );
    assert_eq!(c.config.feature_norm_type, FeatureNormType::None);
    let AlgorithmConfig::TreeAh(tree) = &c.config.algorithm_config else {
        panic!("{c:?}")
    };
    assert_eq!(tree.leaf_node_embedding_count, 1000);
    assert_eq!(tree.effective_fraction_leaf_nodes_to_search(), 1.0);
    assert_eq!(
        s.metadata
            .as_ref()
            .and_then(|m| m.latent_space_source.as_deref()),
        Some("sentence_embedding")
    );
}

#[test]
fn defaults() {
    let c = nn(json!({"config": {"dimensions": 8, "approximateNeighborsCount": 4}}));
    assert_eq!(
        c.config.distance_measure_type,
        DistanceMeasureType::DotProduct
    );
    assert_eq!(c.config.feature_norm_type, FeatureNormType::None);
    let AlgorithmConfig::TreeAh(tree) = &c.config.algorithm_config else {
        panic!("{c:?}")
    };
    assert_eq!(tree.leaf_node_embedding_count, 1000);
    assert_eq!(tree.effective_fraction_leaf_nodes_to_search(), 0.05);
    let c = nn(
        json!({"config": {"dimensions": 8, "approximateNeighborsCount": 4,
        "algorithmConfig": {"treeAhConfig": {"leafNodesToSearchPercent": 7}}}}),
    );
    let AlgorithmConfig::TreeAh(tree) = &c.config.algorithm_config else {
        panic!("{c:?}")
    };
    assert!((tree.effective_fraction_leaf_nodes_to_search() - 0.07).abs() < 1e-12);

    let e = ok(Examples::from_value(json!({"presets": {}})));
    assert_eq!(
        e.presets.as_ref().map(|p| p.effective_query()),
        Some(Query::Precise)
    );
}

#[test]
fn brute_force_needs_no_neighbour_count() {
    let c = nn(
        json!({"config": {"dimensions": 3, "distanceMeasureType": "cosine_distance",
        "featureNormType": "UNIT_L2_NORM", "ShardSize": "SHARD_SIZE_SMALL",
        "algorithmConfig": {"bruteForceConfig": {}}}}),
    );
    assert!(matches!(
        c.config.algorithm_config,
        AlgorithmConfig::BruteForce(_)
    ));
    assert_eq!(c.config.distance_measure_type, DistanceMeasureType::Cosine);
    assert_eq!(c.config.shard_size, Some(ShardSize::Small));
    assert_eq!(
        c.to_json_value(),
        json!({"config": {
            "dimensions": 3, "shardSize": "SHARD_SIZE_SMALL", "distanceMeasureType": "COSINE_DISTANCE",
            "featureNormType": "UNIT_L2_NORM", "algorithmConfig": {"bruteForceConfig": {}}
        }})
    );
}

#[test]
fn search_config_rules() {
    let e = nn_err(json!({"config": {"dimensions": 8}}));
    assert!(matches!(e, SpecError::Missing { .. }), "{e}");
    assert_err(&e, "config.approximateNeighborsCount", "tree-AH");
    let e = nn_err(json!({"config": {"approximateNeighborsCount": 3}}));
    assert_err(&e, "config.dimensions", "required");
    let e = nn_err(json!({"config": {"dimensions": 0, "approximateNeighborsCount": 3}}));
    assert_err(&e, "config.dimensions", ">= 1, got 0");
    let e = nn_err(json!({"config": {"dimensions": 2, "approximateNeighborsCount": 0}}));
    assert_err(&e, "config.approximateNeighborsCount", ">= 1, got 0");
    let tree = |t: serde_json::Value| json!({"config": {"dimensions": 2, "approximateNeighborsCount": 3, "algorithmConfig": {"treeAhConfig": t}}});
    for f in [0.0, 1.5, -0.1] {
        let e = nn_err(tree(json!({"fractionLeafNodesToSearch": f})));
        assert_err(
            &e,
            "config.algorithmConfig.treeAhConfig.fractionLeafNodesToSearch",
            "(0, 1]",
        );
    }
    let e = nn_err(tree(json!({"leafNodesToSearchPercent": 101})));
    assert_err(
        &e,
        "config.algorithmConfig.treeAhConfig.leafNodesToSearchPercent",
        "1..=100, got 101",
    );
    let e = nn_err(tree(
        json!({"leafNodesToSearchPercent": 10, "fractionLeafNodesToSearch": 0.1}),
    ));
    assert_err(
        &e,
        "config.algorithmConfig.treeAhConfig",
        "exclude each other",
    );
    let e = nn_err(tree(json!({"leafNodeEmbeddingCount": 0})));
    assert_err(
        &e,
        "config.algorithmConfig.treeAhConfig.leafNodeEmbeddingCount",
        ">= 1",
    );
    let e = nn_err(json!({"config": {"dimensions": 2, "algorithmConfig": {}}}));
    assert_err(
        &e,
        "config.algorithmConfig",
        "one of treeAhConfig or bruteForceConfig",
    );
    let e = nn_err(
        json!({"config": {"dimensions": 2, "algorithmConfig": {"bruteForceConfig": {"x": 1}}}}),
    );
    assert_err(&e, "config.algorithmConfig.bruteForceConfig.x", "no fields");
    let e = nn_err(
        json!({"config": {"dimensions": 2, "algorithmConfig": {"bruteForceConfig": {}, "treeAhConfig": {}}}}),
    );
    assert_err(&e, "config.algorithmConfig", "exclude each other");
    let e = nn_err(json!({"config": {"dimensions": 2, "distanceMeasureType": "EUCLIDEAN"}}));
    assert_err(
        &e,
        "config.distanceMeasureType",
        "SQUARED_L2_DISTANCE, L1_DISTANCE",
    );
    // These enums have no proto numbers.
    let e = nn_err(json!({"config": {"dimensions": 2, "distanceMeasureType": 1}}));
    assert_eq!(e.path(), "config.distanceMeasureType");
}

#[test]
fn examples_rules() {
    let e = spec_err(json!({"parameters": {"examples": {
        "presets": {"query": "FAST"},
        "nearestNeighborSearchConfig": {"config": {"dimensions": 2, "approximateNeighborsCount": 1}}
    }}}));
    assert_err(&e, "parameters.examples", "exclude each other");
    let e = spec_err(json!({"parameters": {"examples": {"neighborCount": 0}}}));
    assert_err(&e, "parameters.examples.neighborCount", ">= 1, got 0");
    let e = spec_err(
        json!({"parameters": {"examples": {"exampleGcsSource": {"gcsSource": {"uris": []}}}}}),
    );
    assert_err(
        &e,
        "parameters.examples.exampleGcsSource.gcsSource.uris",
        "at least one URI",
    );
    let e = spec_err(
        json!({"parameters": {"examples": {"exampleGcsSource": {"dataFormat": "JSONL"}}}}),
    );
    assert_err(
        &e,
        "parameters.examples.exampleGcsSource.gcsSource",
        "required",
    );
    let e = spec_err(json!({"parameters": {"examples": {"presets": {"modality": "AUDIO"}}}}));
    assert_err(
        &e,
        "parameters.examples.presets.modality",
        "IMAGE, TEXT, TABULAR",
    );

    let ex = ok(Examples::from_value(
        json!({"presets": {"query": 1, "modality": "tabular"}}),
    ));
    let p = ex.presets.as_ref().expect("presets");
    assert_eq!(
        (p.query, p.modality),
        (Some(Query::Fast), Some(PresetModality::Tabular))
    );
    assert_eq!(
        ex.to_json_value(),
        json!({"presets": {"query": "FAST", "modality": "TABULAR"}})
    );
}
