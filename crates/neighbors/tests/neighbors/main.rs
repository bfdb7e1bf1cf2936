//! Integration tests of prism-neighbors (one binary).

mod brute_force;
mod common;
mod filters;
mod incremental;
mod tree_ah;
