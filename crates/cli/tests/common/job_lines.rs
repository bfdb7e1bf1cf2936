//! Input and output lines of batch jobs, shared by the `prism batch` tests and the
//! batchPredictionJobs tests of `prism serve`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::model_dir;

/// The JSON lines of a file; none when it does not exist.
pub fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The id a results or errors line is about: its key, or the `"id"` inside an instance
/// that was not valid JSON.
pub fn line_id(line: &Value) -> String {
    if let Some(k) = line["key"].as_str() {
        return k.to_string();
    }
    let raw = line["instance"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {line}"));
    let start = raw
        .find("\"id\": \"")
        .unwrap_or_else(|| panic!("no id in {raw}"))
        + 7;
    raw[start..start + raw[start..].find('"').unwrap()].to_string()
}

/// How many times each id appears across these results and errors files.
pub fn id_counts(files: &[PathBuf]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for path in files {
        for line in json_lines(path) {
            *seen.entry(line_id(&line)).or_insert(0) += 1;
        }
    }
    seen
}

/// The four instances of breast_cancer_mlp's `instances.jsonl`, feature by feature.
pub fn breast_cancer_fixture() -> Vec<Map<String, Value>> {
    std::fs::read_to_string(model_dir("breast_cancer_mlp").join("instances.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `n` breast_cancer_mlp instances keyed `r0`, `r1`, … (the fixture's four, scaled a
/// little per line); every 50th is not JSON and every 50th (offset 25) lacks features.
/// Also the ids of those bad lines.
pub fn breast_cancer_lines(n: usize) -> (String, BTreeSet<String>) {
    let base = breast_cancer_fixture();
    let mut text = String::new();
    let mut bad = BTreeSet::new();
    for i in 0..n {
        match i % 50 {
            0 => {
                text.push_str(&format!("{{\"id\": \"r{i}\", \"mean radius\": oops\n"));
                bad.insert(format!("r{i}"));
            }
            25 => {
                text.push_str(&format!("{{\"id\": \"r{i}\", \"mean radius\": 14.0}}\n"));
                bad.insert(format!("r{i}"));
            }
            _ => {
                let mut o = Map::new();
                o.insert("id".into(), json!(format!("r{i}")));
                for (j, (k, v)) in base[i % base.len()].iter().enumerate() {
                    let scale = 1.0 + 0.01 * (((i * 7 + j * 13) % 11) as f64 - 5.0);
                    o.insert(k.clone(), json!(v.as_f64().unwrap() * scale));
                }
                text.push_str(&Value::Object(o).to_string());
                text.push('\n');
            }
        }
    }
    (text, bad)
}
