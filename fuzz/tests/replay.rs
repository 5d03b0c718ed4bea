//! Runs every committed input (`corpus/<target>/`, `regressions/<target>/`) through its target
//! once, without libFuzzer: `cargo test --manifest-path fuzz/Cargo.toml --release`. The same
//! inputs are replayed by the instrumented binaries in `make fuzz-smoke`; this is the way to
//! debug one under a plain build (`BITGASK_FUZZ_ONLY=path` runs just that file).

use std::fs;
use std::path::{Path, PathBuf};

// The server targets bound what a call allocates with it (src/alloc.rs).
#[global_allocator]
static ALLOC: bitgask_fuzz::alloc::Counting = bitgask_fuzz::alloc::Counting;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(only) = std::env::var_os("BITGASK_FUZZ_ONLY") {
        let p = PathBuf::from(only);
        return if p.components().any(|c| c.as_os_str() == target) { vec![p] } else { vec![] };
    }
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(rd) = fs::read_dir(root.join(dir).join(target)) else { continue };
        out.extend(rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    out.sort();
    out
}

fn replay(target: &str, f: fn(&[u8])) {
    let files = inputs(target);
    for p in &files {
        eprintln!("{target}: {}", p.display());
        f(&fs::read(p).unwrap());
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn record_decode() {
    replay("record_decode", bitgask_fuzz::record_decode);
}

#[test]
fn hint_parse() {
    replay("hint_parse", bitgask_fuzz::hint_parse);
}

#[test]
fn snapshot_load() {
    replay("snapshot_load", bitgask_fuzz::snapshot_load);
}

#[test]
fn meta_parse() {
    replay("meta_parse", bitgask_fuzz::meta_parse);
}

#[test]
fn directory() {
    replay("directory", bitgask_fuzz::directory);
}

#[test]
fn resp_parse() {
    replay("resp_parse", bitgask_fuzz::resp_parse);
}

#[test]
fn glob_match() {
    replay("glob_match", bitgask_fuzz::glob_match);
}

#[test]
fn dispatch() {
    replay("dispatch", bitgask_fuzz::dispatch);
    bitgask_fuzz::serve::remove_dispatch_dirs();
}
