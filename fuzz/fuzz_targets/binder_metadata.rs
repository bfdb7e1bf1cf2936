#![no_main]
//! See `prism_fuzz::binder_metadata` (fuzz/src/lib.rs) for what this target checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prism_fuzz::binder_metadata(data));
