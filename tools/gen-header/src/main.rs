//! Writes `include/bitgask.h` from the library's `src/ffi/` with cbindgen and `cbindgen.toml`
//! (`make header`). The header is committed; `make header-check` runs this and fails if the file
//! changed. Rewrites the file only when its bytes change, so an unchanged header keeps its mtime.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (major, minor, patch) = version(&root);
    let number = major * 1_000_000 + minor * 1000 + patch;
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(format!(
        "\n#define BITGASK_VERSION_MAJOR {major}\n#define BITGASK_VERSION_MINOR {minor}\n#define BITGASK_VERSION_PATCH {patch}\n\
         #define BITGASK_VERSION_STRING \"{major}.{minor}.{patch}\"\n\
         /* MAJOR * 1000000 + MINOR * 1000 + PATCH, as returned by bitgask_version_number(). */\n\
         #define BITGASK_VERSION_NUMBER {number}\n"
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate include/bitgask.h");
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let out = block_comments(&parenthesize_negative_defines(&String::from_utf8(raw).unwrap())).into_bytes();
    let header = root.join("include/bitgask.h");
    if fs::read(&header).ok().as_deref() != Some(&out[..]) {
        fs::create_dir_all(header.parent().unwrap()).unwrap();
        fs::write(&header, &out).expect("write include/bitgask.h");
    }
}

/// The library's version, from the first `version = "X.Y.Z"` line of its Cargo.toml (the
/// `[package]` table's, as the Makefile reads it).
fn version(root: &Path) -> (u32, u32, u32) {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let v = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .expect("a version line in Cargo.toml");
    let parts: Vec<u32> = v.split('.').map(|p| p.parse().expect("a numeric version")).collect();
    match parts[..] {
        [major, minor, patch] => (major, minor, patch),
        _ => panic!("version {v} is not MAJOR.MINOR.PATCH"),
    }
}

/// `#define X -4` becomes `#define X (-4)` so the macro is safe in any expression.
fn parenthesize_negative_defines(h: &str) -> String {
    let mut out = String::with_capacity(h.len() + 64);
    for line in h.lines() {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("#define"), Some(name), Some(v))
                if v.starts_with('-') && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push_str(&format!("#define {name} ({v})"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// cbindgen ends its `extern "C"` guards with `//` comments; C89 has only `/* */`.
fn block_comments(h: &str) -> String {
    let mut out = String::with_capacity(h.len() + 64);
    for line in h.lines() {
        match line.split_once("//") {
            Some((code, comment)) if code.starts_with('#') || code.trim() == "}" => {
                out.push_str(&format!("{code}/* {} */", comment.trim()));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
