//! Integration tests of prism-spec: one binary, one module per concern.

mod examples;
mod explanation;
mod legacy;
mod metadata;
mod overrides;
mod parameters;
mod round_trip;

use std::fmt::Debug;
use std::path::PathBuf;

use prism_spec::{ExplanationSpec, SpecError};
use serde_json::Value;

/// The text of `tests/data/<name>`.
pub fn data(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The error of a result that must fail.
#[track_caller]
pub fn err<T: Debug>(r: Result<T, SpecError>) -> SpecError {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// The value of a result that must succeed.
#[track_caller]
pub fn ok<T>(r: Result<T, SpecError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Parses an ExplanationSpec from a JSON value.
#[track_caller]
pub fn spec(v: Value) -> ExplanationSpec {
    ok(ExplanationSpec::from_value(v))
}

/// The error of parsing an ExplanationSpec from a JSON value.
#[track_caller]
pub fn spec_err(v: Value) -> SpecError {
    err(ExplanationSpec::from_value(v))
}

/// Asserts an error's path and that its message contains `needle`.
#[track_caller]
pub fn assert_err(e: &SpecError, path: &str, needle: &str) {
    assert_eq!(e.path(), path, "wrong path in: {e}");
    assert!(
        e.message().contains(needle),
        "message of `{e}` does not contain `{needle}`"
    );
}
