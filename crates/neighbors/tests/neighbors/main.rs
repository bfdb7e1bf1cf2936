//! Integration tests of prism-neighbors (one binary).

mod brute_force;
mod common;
mod filters;
mod incremental;
mod minilm;
mod persistence;
mod shards;
mod tree_ah;
