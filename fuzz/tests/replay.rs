//! Replays the committed seeds and regressions through the fuzz targets' logic, on
//! stable Rust: `cargo test --manifest-path fuzz/Cargo.toml`.
//!
//! `seeds` must always pass. `regressions` holds the minimised inputs of the findings in
//! README.md; each fails until its bug is fixed in the crates.

use std::path::Path;

type Target = fn(&[u8]);

fn target(name: &str) -> Option<Target> {
    Some(match name {
        "spec_parser" => prism_fuzz::spec_parser,
        "spec_text_roundtrip" => prism_fuzz::spec_text_roundtrip,
        "instance_binder" => prism_fuzz::instance_binder,
        "binder_metadata" => prism_fuzz::binder_metadata,
        "explain_plan" => prism_fuzz::explain_plan,
        _ => return None,
    })
}

fn run(path: &Path, name: &str, target: Target) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::panic::catch_unwind(|| target(&data)).map_err(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("{name} on {}: {msg}", path.display())
    })
}

fn dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn seeds() {
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(dir("seeds")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let t = target(&name).unwrap_or_else(|| panic!("seeds/{name}: no such target"));
        for file in std::fs::read_dir(entry.path()).unwrap() {
            count += 1;
            if let Err(e) = run(&file.unwrap().path(), &name, t) {
                failures.push(e);
            }
        }
    }
    assert!(count > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `regressions/<target>-<short name>`: each file replays through its target.
#[test]
fn regressions() {
    let mut failures = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir("regressions")) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if file.ends_with(".md") || file.starts_with('.') {
            continue;
        }
        let (name, t) = [
            "spec_text_roundtrip",
            "spec_parser",
            "instance_binder",
            "binder_metadata",
            "explain_plan",
        ]
        .iter()
        .find(|n| file.starts_with(&format!("{n}-")))
        .map(|n| (*n, target(n).unwrap()))
        .unwrap_or_else(|| panic!("regressions/{file}: name must start with <target>-"));
        if let Err(e) = run(&path, name, t) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} regression(s) still fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
