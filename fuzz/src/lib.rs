//! The logic of Prism's fuzz targets, shared by the `cargo fuzz` binaries in
//! `fuzz_targets/` and by `tests/replay.rs`, which replays the seeds and the committed
//! regressions on stable Rust (`cargo test` in `fuzz/`).
//!
//! Every target enforces one rule: bad input gives an error, never a panic, an endless
//! loop or an absurd allocation. Where a successful result has a checkable property
//! (a round trip, tensor sizes, players tiling the inputs, Shapley completeness) the
//! target asserts it too, so that a wrong answer also shows up as a crash.

mod binder;
mod explain;
mod spec;

pub use binder::{binder_metadata, instance_binder, BINDER_CASES};
pub use explain::explain_plan;
pub use spec::{spec_parser, spec_text_roundtrip};

/// The input as UTF-8 text; the targets parse JSON, so other bytes are skipped.
pub(crate) fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Up to `n` JSON documents written one after the other (`{…} {…}`), stopping at the
/// first syntax error.
pub(crate) fn documents(text: &str, n: usize) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .take(n)
        .map_while(Result::ok)
        .collect()
}
