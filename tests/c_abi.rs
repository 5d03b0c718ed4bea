//! The C ABI as C callers see it: each C test program of `c_tests/` is compiled with the `cc`
//! crate against the static library cargo has just built for this test run, and run. So `cargo
//! test` alone exercises the C API, in the profile being tested (debug builds keep overflow
//! checks and `debug_assert!` on). `make c-tests` builds the same programs four ways (shared and
//! static library, as C++, with sanitizers). With `--features kill-points` the merge kill-point
//! sweep runs here too; give that build a target directory of its own (`--target-dir`, as `make
//! kill-tests` does): the static library's file name does not change with features, so builds
//! with and without them would overwrite each other's.
//!
//! One Rust test per C file: the runner (`c_tests/main.c`) and helpers are compiled once, each
//! test file is linked with them into its own program, and its output is shown on failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c_tests")
}

/// `libbitgask.a` of this build: cargo writes it beside this test binary, in `deps/`, from the
/// same rustc run as the rlib the binary links (`target/<profile>/libbitgask.a` is only a copy
/// made by `cargo build`, and may be older).
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let lib = exe.with_file_name("libbitgask.a");
    assert!(lib.exists(), "{} is missing: cargo builds it with the library's staticlib crate type", lib.display());
    lib
}

/// A `cc` build for this target: C11, warnings as errors, the header and the harness on the
/// include path, objects under `out`.
fn build(out: &Path) -> cc::Build {
    let target = env!("BITGASK_BUILD_TARGET");
    let mut b = cc::Build::new();
    b.target(target)
        .host(target)
        .opt_level(2)
        .debug(true)
        .out_dir(out)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .emit_rerun_if_env_changed(false)
        .std("c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .include(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .include(source_dir());
    b
}

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_abi").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The runner, the helpers and the crash model, compiled once for every program.
fn common_objects() -> &'static [PathBuf] {
    static OBJECTS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    OBJECTS.get_or_init(|| {
        let dir = source_dir();
        build(&out_dir("common"))
            .files(["main.c", "util.c", "crash_model.c"].map(|f| dir.join(f)))
            .compile_intermediates()
    })
}

/// Compiles `c_tests/<rel>` into a program with the common objects and the library, runs it,
/// and fails with its output unless every test in it passed.
fn run_program(rel: &str) {
    let name = rel.trim_end_matches(".c").replace('/', "_");
    let out = out_dir(&name);
    let b = build(&out);
    let objects = b.clone().file(source_dir().join(rel)).compile_intermediates();
    let exe = out.join(&name);
    let mut link = b.get_compiler().to_command();
    link.args(&objects).args(common_objects()).arg(library()).args(["-lpthread", "-ldl", "-lm", "-o"]).arg(&exe);
    let linked = link.output().expect("run the C compiler to link");
    assert!(linked.status.success(), "linking {name} failed:\n{}", String::from_utf8_lossy(&linked.stderr));

    let run = Command::new(&exe).output().expect("run the C test program");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        run.status.success() && summary.ends_with(" passed, 0 failed"),
        "{rel}: {summary} (exit {:?})\n--- stdout\n{stdout}--- stderr\n{stderr}",
        run.status
    );
}

/// One test per C test file; `every_c_test_file_has_a_test` keeps the list complete.
macro_rules! c_programs {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_program(concat!(stringify!($name), ".c"));
            }
        )*
        const PROGRAMS: &[&str] = &[$(stringify!($name)),*];
    };
}

c_programs!(
    test_adopt,
    test_args,
    test_basic,
    test_batch,
    test_caveats,
    test_concurrency,
    test_crash,
    test_crash_batch,
    test_crash_merge,
    test_fulldisk,
    test_iter,
    test_lock,
    test_merge,
    test_multi_get,
    test_ops,
    test_recovery,
    test_ttl,
    test_txn,
);

#[test]
fn every_c_test_file_has_a_test() {
    for entry in std::fs::read_dir(source_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_prefix("test_").and_then(|n| n.strip_suffix(".c")) {
            let test = format!("test_{stem}");
            assert!(PROGRAMS.contains(&test.as_str()), "c_tests/{name} has no test in tests/c_abi.rs");
        }
    }
}

/// The merge kill-point sweep needs the library built with its crash points.
#[cfg(feature = "kill-points")]
#[test]
fn killpoints_test_merge_kill() {
    run_program("killpoints/test_merge_kill.c");
}

/// The file-by-file merge of a full disk, killed at its crash points.
#[cfg(feature = "kill-points")]
#[test]
fn killpoints_test_reclaim_kill() {
    run_program("killpoints/test_reclaim_kill.c");
}

/// The adopt kill-point sweep (docs/DESIGN.md section 14.3), likewise.
#[cfg(feature = "kill-points")]
#[test]
fn killpoints_test_adopt_kill() {
    run_program("killpoints/test_adopt_kill.c");
}
