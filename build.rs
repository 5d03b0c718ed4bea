//! Generates `include/bitgask.h` from `src/ffi/` with cbindgen (the file is committed; `make
//! test` fails if regenerating it changes it) and gives the shared library a versioned soname.

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap();
    let v = |part: &str| env::var(format!("CARGO_PKG_VERSION_{part}")).unwrap();
    let (major, minor, patch) = (v("MAJOR"), v("MINOR"), v("PATCH"));

    // tests/c_abi.rs compiles C programs for the same target with the `cc` crate, outside a build
    // script, where cargo's TARGET is not set.
    println!("cargo:rustc-env=BITGASK_BUILD_TARGET={}", env::var("TARGET").unwrap());
    // The soname carries the ABI version: the major version.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbitgask.so.{major}");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");

    let number: u32 = major.parse::<u32>().unwrap() * 1_000_000
        + minor.parse::<u32>().unwrap() * 1000
        + patch.parse::<u32>().unwrap();
    let mut config = cbindgen::Config::from_file(Path::new(&dir).join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(format!(
        "\n#define BITGASK_VERSION_MAJOR {major}\n#define BITGASK_VERSION_MINOR {minor}\n#define BITGASK_VERSION_PATCH {patch}\n\
         #define BITGASK_VERSION_STRING \"{major}.{minor}.{patch}\"\n\
         /* MAJOR * 1000000 + MINOR * 1000 + PATCH, as returned by bitgask_version_number(). */\n\
         #define BITGASK_VERSION_NUMBER {number}\n"
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(Path::new(&dir).join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate include/bitgask.h");
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let out = block_comments(&parenthesize_negative_defines(&String::from_utf8(raw).unwrap())).into_bytes();
    let header = Path::new(&dir).join("include/bitgask.h");
    // Rewrite only on change, so an unchanged header keeps its mtime.
    if fs::read(&header).ok().as_deref() != Some(&out[..]) {
        fs::create_dir_all(header.parent().unwrap()).unwrap();
        fs::write(&header, &out).expect("write include/bitgask.h");
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
