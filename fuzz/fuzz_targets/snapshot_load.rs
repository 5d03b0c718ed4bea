#![no_main]
// The checks live in src/lib.rs (shared with the corpus replay test, tests/replay.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| bitgask_fuzz::snapshot_load(data));
