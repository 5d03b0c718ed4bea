#![no_main]
// The checks live in src/serve.rs (shared with the corpus replay test, tests/replay.rs). The
// counting allocator lets them bound what a call allocates.
#[global_allocator]
static ALLOC: bitgask_fuzz::alloc::Counting = bitgask_fuzz::alloc::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bitgask_fuzz::glob_match(data));
