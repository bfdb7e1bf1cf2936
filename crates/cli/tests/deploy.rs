//! The shipped Kubernetes manifest stays in step with the CLI: every flag it passes exists,
//! and the shard count equals the Job's completions and parallelism.

use std::path::Path;
use std::process::Command;

#[test]
fn indexed_job_manifest_matches_the_cli() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s/batch-indexed-job.yaml"),
    )
    .unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_prism"))
        .args(["batch", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    // The flags of the command (comments excluded).
    let flags: Vec<&str> = manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .filter(|w| w.starts_with("--"))
        .collect();
    assert!(flags.contains(&"--shard-index") && flags.contains(&"--shard-count"));
    for flag in &flags {
        assert!(help.contains(flag), "{flag} is not a `prism batch` flag");
    }
    let value = |key: &str| -> u32 {
        manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key}"))
    };
    let shards = value("--shard-count");
    assert_eq!(value("completions:"), shards);
    assert_eq!(value("parallelism:"), shards);
    assert!(manifest.contains("completionMode: Indexed"));
    assert!(manifest.contains("--shard-index \"$JOB_COMPLETION_INDEX\""));
}
