//! Saving and loading: round trips, and truncated or corrupt files refused whole.

use std::path::Path;

use prism_neighbors::format::{FORMAT_VERSION, MAGIC};
use prism_neighbors::{
    Algorithm, DistanceMeasure, Example, FeatureNorm, Index, IndexConfig, NeighborsError,
    NumericOp, NumericValue, Query, TokenRestrict,
};

use crate::common::clustered;

fn rich_examples(n: usize, dims: usize, seed: u64) -> Vec<Example> {
    clustered(n, dims, 5, 0.2, seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let mut e = Example::new(format!("id-{i}"), v)
                .with_tokens("pos", [["noun", "verb"][i % 2]])
                .with_number("n", NumericValue::Int(i as i64))
                .with_number("x", NumericValue::Double(i as f64 / 3.0));
            if i % 3 == 0 {
                e = e.with_crowding_tag(format!("t{}", i % 7));
            }
            if i % 5 == 0 {
                e.restricts.push(TokenRestrict::deny("pos", ["adj"]));
                e = e.with_number("f", NumericValue::Float(0.5));
            }
            e
        })
        .collect()
}

fn configs(dims: usize) -> Vec<IndexConfig> {
    let mut out = Vec::new();
    for (i, measure) in [
        DistanceMeasure::SquaredL2,
        DistanceMeasure::L1,
        DistanceMeasure::DotProduct,
        DistanceMeasure::Cosine,
    ]
    .into_iter()
    .enumerate()
    {
        out.push(
            IndexConfig::new(dims)
                .distance(measure)
                .algorithm(Algorithm::BruteForce),
        );
        out.push(
            IndexConfig::new(dims)
                .distance(measure)
                .norm(FeatureNorm::UnitL2)
                .spill(i % 2 == 0)
                // Blocks of 2, 3 (which leaves a short last sub-space) and 4 dimensions.
                .dims_per_block(2 + i % 3)
                .algorithm(Algorithm::TreeAh {
                    leaf_node_embedding_count: 40,
                    fraction_leaf_nodes_to_search: 0.3,
                    approximate_neighbors_count: 30,
                }),
        );
    }
    out
}

fn answers(index: &Index, queries: &[Vec<f32>]) -> Vec<Vec<prism_neighbors::Neighbor>> {
    queries
        .iter()
        .flat_map(|q| {
            [
                Query::new(q, 7),
                Query::new(q, 7)
                    .restrict(TokenRestrict::allow("pos", ["verb"]))
                    .crowding(1),
                Query::new(q, 7).numeric("n", NumericOp::Less, NumericValue::Int(100)),
            ]
        })
        .map(|q| index.search(&q).unwrap())
        .collect()
}

#[test]
fn round_trip_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ex = rich_examples(400, 10, 31);
    let queries = clustered(5, 10, 5, 0.3, 32);
    for (i, config) in configs(10).into_iter().enumerate() {
        let mut index = Index::build(config.clone(), ex.clone()).unwrap();
        index.delete(&["id-3", "id-4", "id-399"]);
        index
            .add(vec![Example::new("late", queries[0].clone())])
            .unwrap();
        let path = dir.path().join(format!("index-{i}.prism"));
        index.save(&path).unwrap();
        let loaded = Index::load(&path).unwrap();
        assert_eq!(loaded.config(), &config);
        assert_eq!(loaded.len(), 398);
        assert!(loaded.stats().mapped);
        assert_eq!(loaded.stats().deleted, 0);
        assert_eq!(loaded.stats().partitions, index.stats().partitions);
        assert!(!loaded.contains("id-3") && loaded.contains("late"));
        for id in ["id-0", "id-10", "id-398", "late"] {
            assert_eq!(loaded.get(id), index.get(id), "{id}");
        }
        assert_eq!(
            answers(&loaded, &queries),
            answers(&index, &queries),
            "config {config:?}"
        );

        // A loaded index keeps changing and saving.
        let mut loaded = loaded;
        loaded
            .add(vec![Example::new("later", queries[1].clone())])
            .unwrap();
        assert!(!loaded.stats().mapped);
        loaded.save(&path).unwrap();
        assert_eq!(Index::load(&path).unwrap().len(), 399);
    }
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("index-")), "{names:?}");
}

fn corrupt_reason(path: &Path) -> String {
    match Index::load(path) {
        Err(NeighborsError::Corrupt { reason, .. }) => reason,
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a damaged file loaded"),
    }
}

#[test]
fn damaged_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.prism");
    let config = IndexConfig::new(6).algorithm(Algorithm::TreeAh {
        leaf_node_embedding_count: 20,
        fraction_leaf_nodes_to_search: 0.5,
        approximate_neighbors_count: 10,
    });
    Index::build(config, rich_examples(100, 6, 33))
        .unwrap()
        .save(&path)
        .unwrap();
    let good = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad.prism");

    // Every truncation, at a spread of lengths.
    for len in (0..good.len()).step_by(97).chain([good.len() - 1, 63, 64]) {
        std::fs::write(&bad, &good[..len]).unwrap();
        let reason = corrupt_reason(&bad);
        assert!(
            reason.contains("truncated") || reason.contains("past the end"),
            "length {len}: {reason}"
        );
    }
    // A flipped bit anywhere is caught by a checksum (or, in the magic/version, by name).
    for at in (0..good.len()).step_by(13) {
        let mut b = good.clone();
        b[at] ^= 0x10;
        std::fs::write(&bad, &b).unwrap();
        let reason = corrupt_reason(&bad);
        assert!(
            reason.contains("CRC")
                || reason.contains("magic")
                || reason.contains("version")
                || reason.contains("bytes")
                || reason.contains("padding"),
            "byte {at}: {reason}"
        );
    }
    // Named failures.
    let mut b = good.clone();
    b[..8].copy_from_slice(b"NOTPRISM");
    std::fs::write(&bad, &b).unwrap();
    assert!(corrupt_reason(&bad).contains("magic"));
    let mut b = good.clone();
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(&bad, &b).unwrap();
    assert!(corrupt_reason(&bad).contains(&format!("version {}", FORMAT_VERSION + 1)));
    let mut b = good.clone();
    b.extend_from_slice(&[0; 10]);
    std::fs::write(&bad, &b).unwrap();
    assert!(corrupt_reason(&bad).contains("bytes"));
    assert_eq!(&good[..8], &MAGIC);
    // A missing file is an I/O error, not a corrupt one.
    assert!(matches!(
        Index::load(dir.path().join("absent")),
        Err(NeighborsError::Io { .. })
    ));
}

/// Builds the examples `tests/data/v1-tree-l2.prism` was saved from (by the version 1
/// writer: tree-AH, SquaredL2, spill, 300 rows of 8 dimensions, rows 5 and 77 deleted).
fn v1_examples() -> Vec<Example> {
    (0..300)
        .map(|i| {
            let v: Vec<f32> = (0..8)
                .map(|d| ((i * 7 + d * 3) as f32 * 0.37).sin() + (i % 5) as f32 * 0.2)
                .collect();
            let mut e = Example::new(format!("row-{i}"), v)
                .with_tokens("parity", [if i % 2 == 0 { "even" } else { "odd" }])
                .with_number("i", NumericValue::Int(i as i64));
            if i % 3 == 0 {
                e = e.with_crowding_tag(format!("t{}", i % 7));
            }
            e
        })
        .filter(|e| e.id != "row-5" && e.id != "row-77")
        .collect()
}

#[test]
fn version_1_files_still_load() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1-tree-l2.prism");
    assert_eq!(
        std::fs::read(&path).unwrap()[8],
        1,
        "the fixture is a version 1 file"
    );
    let index = Index::load(&path).unwrap();
    let ex = v1_examples();
    assert_eq!(index.len(), ex.len());
    assert_eq!(index.config().distance, DistanceMeasure::SquaredL2);
    for e in ex.iter().step_by(17) {
        assert_eq!(index.get(&e.id).as_ref(), Some(e));
    }
    // Searches answer as an index rebuilt from the same examples does at full recall.
    for e in ex.iter().step_by(23) {
        let q = Query::new(&e.vector, 5).tuning(1.0, 300);
        let got = index.search(&q).unwrap();
        let exact = index.search_exact(&q).unwrap();
        assert_eq!(got, exact);
        assert_eq!(got[0].id, e.id);
        let filtered = Query::new(&e.vector, 5).restrict(TokenRestrict::allow("parity", ["odd"]));
        assert!(index
            .search(&filtered)
            .unwrap()
            .iter()
            .all(|n| { n.id.trim_start_matches("row-").parse::<usize>().unwrap() % 2 == 1 }));
    }
    // Saved again, it is a current file that loads to the same index.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("v2.prism");
    index.save(&again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap()[8], FORMAT_VERSION as u8);
    let reloaded = Index::load(&again).unwrap();
    for e in ex.iter().step_by(17) {
        assert_eq!(reloaded.get(&e.id), index.get(&e.id));
    }
}

/// `tests/data/v2-tree-dot.prism` was saved by the version 2 writer (commit e1b5ef7) from
/// [`v1_examples`]' 300 rows before the same two deletions, as tree-AH with DotProduct,
/// spilling and anisotropic codes, leaves of 30; version 2 has no dimensions-per-block field
/// and means 2.
#[test]
fn version_2_files_still_load() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v2-tree-dot.prism");
    assert_eq!(
        std::fs::read(&path).unwrap()[8],
        2,
        "the fixture is a version 2 file"
    );
    let index = Index::load(&path).unwrap();
    let ex = v1_examples();
    assert_eq!(index.len(), ex.len());
    assert_eq!(index.config().distance, DistanceMeasure::DotProduct);
    assert!(index.config().spill);
    assert_eq!(index.config().dims_per_block, 2);
    for e in ex.iter().step_by(17) {
        assert_eq!(index.get(&e.id).as_ref(), Some(e));
    }
    // Every partition scanned and every row re-ordered: the exact answer.
    for e in ex.iter().step_by(23) {
        let q = Query::new(&e.vector, 5).tuning(1.0, 300);
        assert_eq!(index.search(&q).unwrap(), index.search_exact(&q).unwrap());
    }
    // Saved again, it is a current file that answers the same.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("v3.prism");
    index.save(&again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap()[8], FORMAT_VERSION as u8);
    let reloaded = Index::load(&again).unwrap();
    for e in ex.iter().step_by(11) {
        let q = Query::new(&e.vector, 10);
        assert_eq!(reloaded.search(&q).unwrap(), index.search(&q).unwrap());
    }
}

#[test]
fn version_2_files_are_smaller() {
    // No padded code blocks, no row numbers for a row's first partition, one-byte id
    // lengths, no tag or attribute tables when no row has any.
    let dir = tempfile::tempdir().unwrap();
    let dims = 16;
    let ex = crate::common::examples(&clustered(2_000, dims, 20, 0.3, 40));
    for spill in [false, true] {
        let config = IndexConfig::new(dims)
            .spill(spill)
            .algorithm(Algorithm::TreeAh {
                leaf_node_embedding_count: 50,
                fraction_leaf_nodes_to_search: 0.2,
                approximate_neighbors_count: 20,
            });
        let index = Index::build(config, ex.clone()).unwrap();
        let path = dir.path().join("small.prism");
        index.save(&path).unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len() as f64 / ex.len() as f64;
        // 64 bytes of floats, 8 of codes per copy, ~4 of id, 4 per spilled row number,
        // the centroids (40 × 64 bytes shared) and the header.
        let limit = if spill {
            64.0 + 16.0 + 4.0 + 4.0 + 3.0
        } else {
            64.0 + 8.0 + 4.0 + 3.0
        };
        assert!(bytes < limit, "spill {spill}: {bytes:.1} bytes per vector");
        let loaded = Index::load(&path).unwrap();
        let queries = clustered(20, dims, 20, 0.3, 41);
        for q in &queries {
            let q = Query::new(q, 10);
            assert_eq!(loaded.search(&q).unwrap(), index.search(&q).unwrap());
        }
    }
}
