//! Example-based explanations end to end with the real `prism` binary: `prism index build`
//! and `add` on the digits CNN's latent space, `prism explain` answering neighbours, the
//! request override (count, restrictions, crowding, embeddings), bad lines and files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn prism(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prism"))
        .args(args)
        .output()
        .unwrap()
}

fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models/digits_examples")
}

/// A copy of the model directory (the index is written into it).
fn model_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "model.onnx",
        "explanation_metadata.json",
        "explanation_spec.json",
    ] {
        std::fs::copy(source().join(f), tmp.path().join(f)).unwrap();
    }
    tmp
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn build(dir: &Path) {
    let out = prism(&[
        "index",
        "build",
        s(dir),
        "--examples",
        s(&source().join("examples.jsonl")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("200 examples indexed"), "{stderr}");
}

/// `prism explain` with optional extra arguments; the explanations, one per instance line.
fn explain(dir: &Path, instances: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["explain", s(dir), "-i", s(instances)];
    args.extend_from_slice(extra);
    let out = prism(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn labels() -> HashMap<String, String> {
    std::fs::read_to_string(source().join("examples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["restricts"][0]["allow"][0].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ids(e: &Value) -> Vec<String> {
    e["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["neighborId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn neighbours_match_the_exact_reference_and_honour_the_override() {
    let dir = model_copy();
    build(dir.path());
    let instances = source().join("instances.jsonl");
    let got = explain(dir.path(), &instances, &[]);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(source().join("expected_neighbors.json")).unwrap(),
    )
    .unwrap();
    let labels = labels();
    for (e, want) in got.iter().zip(expected["instances"].as_array().unwrap()) {
        // Vertex's shape: neighbours only, nearest first.
        assert!(e.get("attributions").is_none(), "{e}");
        let want_ids: Vec<&str> = want["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids(e), want_ids);
        for (n, w) in e["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want["neighbors"].as_array().unwrap())
        {
            let (d, wd) = (
                n["neighborDistance"].as_f64().unwrap(),
                w["distance"].as_f64().unwrap(),
            );
            assert!((d - wd).abs() < 1e-4, "{d} vs {wd}");
        }
        // They make sense to a person: most neighbours show the same digit.
        let label = want["label"].as_i64().unwrap().to_string();
        let same = ids(e).iter().filter(|id| labels[*id] == label).count();
        assert!(same >= 3, "{:?}", ids(e));
    }

    // examplesOverride: more neighbours, only 3s, at most one per crowding tag (the label).
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, v: Value| {
        let p = tmp.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let more = write(
        "more.json",
        json!({"examplesOverride": {"neighborCount": 8}}),
    );
    let e = &explain(dir.path(), &instances, &["--override", s(&more)])[0];
    assert_eq!(ids(e).len(), 8);
    let threes = write(
        "threes.json",
        json!({"examplesOverride": {"restrictions": [{"namespaceName": "label", "allow": ["3"]}]}}),
    );
    for e in explain(dir.path(), &instances, &["--override", s(&threes)]) {
        assert_eq!(ids(&e).len(), 5);
        assert!(ids(&e).iter().all(|id| labels[id] == "3"), "{:?}", ids(&e));
    }
    let no_twos = write(
        "no_twos.json",
        json!({"examplesOverride": {"restrictions": [{"namespaceName": "label", "deny": ["2"]}]}}),
    );
    let e = &explain(dir.path(), &instances, &["--override", s(&no_twos)])[0];
    assert!(ids(e).iter().all(|id| labels[id] != "2"), "{:?}", ids(e));
    let crowded = write(
        "crowded.json",
        json!({"examplesOverride": {"neighborCount": 6, "crowdingCount": 1}}),
    );
    for e in explain(dir.path(), &instances, &["--override", s(&crowded)]) {
        let mut seen: Vec<&String> = ids(&e).iter().map(|id| &labels[id]).collect::<Vec<_>>();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!((n, seen.len()), (6, 6), "{:?}", ids(&e));
    }

    // dataFormat EMBEDDINGS: the instance is already a vector. The embedding of the first
    // example found again is the example itself, at cosine distance −1.
    let vectors = write(
        "vectors.json",
        json!({"examplesOverride": {"dataFormat": "EMBEDDINGS", "neighborCount": 1}}),
    );
    let mut v = vec![0.0f32; 784];
    v[10] = 1.0;
    let line = tmp.path().join("vector.jsonl");
    std::fs::write(&line, serde_json::to_string(&v).unwrap() + "\n").unwrap();
    let e = &explain(dir.path(), &line, &["--override", s(&vectors)])[0];
    assert_eq!(ids(e).len(), 1);
    // A vector of the wrong size is an error on that line, naming the dimensions.
    std::fs::write(&line, "[1, 2, 3]\n").unwrap();
    let out = prism(&[
        "explain",
        s(dir.path()),
        "-i",
        s(&line),
        "--override",
        s(&vectors),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("784") && stdout.contains('3'), "{stdout}");
}

#[test]
fn add_grows_the_index_and_bad_lines_are_skipped_by_number() {
    let dir = model_copy();
    build(dir.path());
    // Two test digits as new examples, plus a bad line and a duplicate id.
    let instances: Vec<Value> = std::fs::read_to_string(source().join("instances.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = vec![];
    for (i, inst) in instances.iter().take(2).enumerate() {
        let mut line = inst.clone();
        line["id"] = json!(format!("new-{i}"));
        lines.push(line.to_string());
    }
    lines.push(r#"{"id": "broken", "image": [1, 2]}"#.to_string());
    lines.push(r#"{"image": []}"#.to_string());
    lines.push(r#"{"id": "train-9", "image": 0}"#.to_string());
    let more = tmp.path().join("more.jsonl");
    std::fs::write(&more, lines.join("\n") + "\n").unwrap();
    let out = prism(&["index", "add", s(dir.path()), "--examples", s(&more)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 examples added") && stderr.contains("now 202"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3 skipped") && stderr.contains("line 4 skipped"),
        "{stderr}"
    );
    // Each added digit is now its own nearest neighbour, at cosine distance −1.
    let got = explain(dir.path(), &source().join("instances.jsonl"), &[]);
    for (i, e) in got.iter().take(2).enumerate() {
        assert_eq!(ids(e)[0], format!("new-{i}"));
        let d = e["neighbors"][0]["neighborDistance"].as_f64().unwrap();
        assert!((d + 1.0).abs() < 1e-5, "{d}");
    }
}

#[test]
fn missing_and_corrupt_indexes_are_clear_errors() {
    let dir = model_copy();
    let instances = source().join("instances.jsonl");
    let out = prism(&["explain", s(dir.path()), "-i", s(&instances)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("prism index build"), "{stdout}");
    build(dir.path());
    let path = dir.path().join("examples.index");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = prism(&["explain", s(dir.path()), "-i", s(&instances)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("examples.index"), "{stderr}");
    // An attribution model has no index to build.
    let out = prism(&[
        "index",
        "build",
        s(&source().join("../peer_linear")),
        "--examples",
        s(&instances),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not example-based"));
}

#[test]
fn a_sharded_index_answers_as_one_and_grows() {
    let instances = source().join("instances.jsonl");
    let single = model_copy();
    build(single.path());
    let whole = explain(single.path(), &instances, &[]);

    let dir = model_copy();
    let examples = source().join("examples.jsonl");
    let out = prism(&[
        "index",
        "build",
        s(dir.path()),
        "--examples",
        s(&examples),
        "--shards",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shards = dir.path().join("examples.index.shards");
    let mut files: Vec<String> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "shard-00000.prism",
            "shard-00001.prism",
            "shard-00002.prism"
        ]
    );
    assert!(!dir.path().join("examples.index").exists());
    // Searched together, the shards give the single index's answer (brute force: exact).
    let sharded = explain(dir.path(), &instances, &[]);
    assert_eq!(sharded.len(), whole.len());
    for (a, b) in sharded.iter().zip(&whole) {
        assert_eq!(ids(a), ids(b));
        for (x, y) in a["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["neighbors"].as_array().unwrap())
        {
            let (x, y) = (
                x["neighborDistance"].as_f64().unwrap(),
                y["neighborDistance"].as_f64().unwrap(),
            );
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
    }
    // Adding keeps the shards, and a new example is found in whichever shard it went to.
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&instances)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let mut line = first.clone();
    line["id"] = json!("added-0");
    let tmp = tempfile::tempdir().unwrap();
    let more = tmp.path().join("more.jsonl");
    std::fs::write(&more, line.to_string() + "\n").unwrap();
    let out = prism(&["index", "add", s(dir.path()), "--examples", s(&more)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("now 201"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&shards).unwrap().count(), 3);
    assert_eq!(ids(&explain(dir.path(), &instances, &[])[0])[0], "added-0");
    // Rebuilt as one shard, the folder goes and the single file is back.
    build(dir.path());
    assert!(!shards.exists() && dir.path().join("examples.index").is_file());
    assert_eq!(
        ids(&explain(dir.path(), &instances, &[])[0]),
        ids(&whole[0])
    );
    // A missing shard is a clear error, never a partial answer.
    let out = prism(&[
        "index",
        "build",
        s(dir.path()),
        "--examples",
        s(&examples),
        "--shards",
        "2",
    ]);
    assert!(out.status.success());
    std::fs::remove_file(shards.join("shard-00000.prism")).unwrap();
    let out = prism(&["explain", s(dir.path()), "-i", s(&instances)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shard 0 is missing"), "{stderr}");
}

/// `--spill` (tree-AH only): examples are also stored in a second partition, so the saved
/// file is larger by a 196-byte code and a row number per spilled copy (784 dimensions),
/// and the answers stay the exact reference's; without it the default (one copy) applies.
#[test]
fn spill_stores_second_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("tree.json");
    std::fs::write(
        &config,
        json!({"config": {
            "dimensions": 784,
            "approximateNeighborsCount": 50,
            "distanceMeasureType": "DOT_PRODUCT_DISTANCE",
            "featureNormType": "UNIT_L2_NORM",
            "algorithmConfig": {"treeAhConfig": {
                "leafNodeEmbeddingCount": 20,
                "fractionLeafNodesToSearch": 0.5
            }}
        }})
        .to_string(),
    )
    .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(source().join("expected_neighbors.json")).unwrap(),
    )
    .unwrap();
    let instances = source().join("instances.jsonl");
    let mut sizes = Vec::new();
    for spill in [false, true] {
        let dir = model_copy();
        let examples = source().join("examples.jsonl");
        let mut args = vec![
            "index",
            "build",
            s(dir.path()),
            "--examples",
            s(&examples),
            "--config",
            s(&config),
        ];
        if spill {
            args.push("--spill");
        }
        let out = prism(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.contains("200 examples indexed"),
            "{stderr}"
        );
        assert!(stderr.contains("partitions: 10"), "{stderr}");
        sizes.push(
            std::fs::metadata(dir.path().join("examples.index"))
                .unwrap()
                .len(),
        );
        let got = explain(dir.path(), &instances, &[]);
        let (mut hits, mut total) = (0, 0);
        for (e, want) in got.iter().zip(expected["instances"].as_array().unwrap()) {
            for w in want["neighbors"].as_array().unwrap() {
                total += 1;
                hits += usize::from(ids(e).iter().any(|id| id == w["id"].as_str().unwrap()));
            }
        }
        // Half the leaves and 50 candidates find every exact neighbour either way.
        assert_eq!((spill, hits), (spill, total));
    }
    // 45 of the 200 examples have a second partition within 1.5x the first's distance (the
    // rest are not spilled): 45 × (196 + 4) bytes.
    assert_eq!(sizes[1] - sizes[0], 45 * 200, "{sizes:?}");
}
