//! Gives the shared library a versioned soname, and the C tests the target they compile for.
//! (`include/bitgask.h` is written by `tools/gen-header`, `make header`, not here.)

use std::env;

fn main() {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    // tests/c_abi.rs compiles C programs for the same target with the `cc` crate, outside a build
    // script, where cargo's TARGET is not set.
    println!("cargo:rustc-env=BITGASK_BUILD_TARGET={}", env::var("TARGET").unwrap());
    // The soname carries the ABI version: the major version.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbitgask.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
}
