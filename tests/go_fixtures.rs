//! Directories written by the Go bitgask, as `tests/gofixtures/gowriter.py` produces them (see its
//! README): open and repair refuse every one of them without changing a byte, and validate
//! reports them as foreign, not damaged.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use bitgask::{status, validate, Db, Options, ProblemKind};

fn writer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gofixtures/gowriter.py")
}

/// Every fixture, written by the fixture writer into a directory of this test's own, removed at
/// the end.
struct Fixtures {
    out: PathBuf,
    names: Vec<String>,
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.out);
    }
}

fn fixtures() -> Fixtures {
    static N: AtomicU32 = AtomicU32::new(0);
    let out = std::env::temp_dir().join(format!(
        "bitgask-gofixtures-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&out);
    let ok = Command::new("python3").arg(writer()).arg("--out").arg(&out).status().expect("python3 runs");
    assert!(ok.success(), "gowriter.py failed");
    let list = Command::new("python3").arg(writer()).arg("--list").output().expect("python3 runs");
    let names = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect::<Vec<_>>();
    assert!(names.len() >= 12, "{names:?}");
    Fixtures { out, names }
}

/// A private copy of one fixture, so tests never see each other's changes.
fn copy_of(fx: &Fixtures, name: &str, tag: &str) -> PathBuf {
    let out = &fx.out;
    let dst = std::env::temp_dir().join(format!("bitgask-gofx-{}-{tag}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dst);
    copy_tree(&out.join(name), &dst);
    dst
}

fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst.join(e.file_name()));
        } else {
            fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

/// Every path under `root` with its bytes (directories as `None`).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn each_fixture(tag: &str, check: impl Fn(&str, &Path)) {
    let fx = fixtures();
    for name in &fx.names {
        let root = copy_of(&fx, name, tag);
        let before = snapshot(&root);
        check(name, &root);
        assert!(snapshot(&root) == before, "{name}: the directory changed");
        fs::remove_dir_all(&root).unwrap();
    }
}

#[test]
fn open_refuses_every_go_directory_and_changes_nothing() {
    each_fixture("open", |name, root| {
        let e = Db::open(root, Options::default()).err().unwrap_or_else(|| panic!("{name}: opened"));
        assert_eq!(e.status(), status::E_FORMAT_VERSION, "{name}: {e}");
        let text = e.to_string();
        assert!(text.contains("written by the Go bitgask") && text.contains("bitgask adopt --dir"), "{name}: {text}");
    });
}

#[test]
fn repair_refuses_every_go_directory_and_changes_nothing() {
    each_fixture("repair", |name, root| {
        let e = bitgask::repair(root, &Options::default()).err().unwrap_or_else(|| panic!("{name}: repaired"));
        assert_eq!(e.status(), status::E_FORMAT_VERSION, "{name}: {e}");
    });
}

#[test]
fn validate_reports_every_go_directory_as_foreign_not_damaged() {
    each_fixture("validate", |name, root| {
        let r = validate(root).unwrap();
        assert!(!r.clean(), "{name}: {}", r.text());
        assert!(r.problems.iter().any(|p| p.kind == ProblemKind::Foreign), "{name}: {}", r.text());
        let damage =
            [ProblemKind::CorruptHint, ProblemKind::BadMeta, ProblemKind::MergeLeftover, ProblemKind::StaleHint];
        assert!(r.problems.iter().all(|p| !damage.contains(&p.kind)), "{name}: {}", r.text());
    });
}

#[test]
fn the_refusal_names_the_markers_the_fixture_writer_lists() {
    let fx = fixtures();
    for name in &fx.names {
        let json = fs::read_to_string(fx.out.join(format!("{name}.json"))).unwrap();
        let root = copy_of(&fx, name, "markers");
        let text = Db::open(&root, Options::default()).err().unwrap().to_string();
        for strong in ["go-meta-layout", "go-hint-layout", "empty-hint", "file-id-width", "no-data-dir"] {
            if json.contains(&format!("\"{strong}\"")) {
                let r = validate(&root).unwrap();
                assert!(r.text().contains(&format!("[{strong}]")), "{name}: {strong} not reported: {}", r.text());
            }
        }
        assert!(!text.is_empty());
        fs::remove_dir_all(&root).unwrap();
    }
}

// ---- adopt ----

/// (key, value, expiry) as the fixture writer's JSON lists them: what the Go system returns.
type Keys = Vec<(Vec<u8>, Vec<u8>, u64)>;

fn expected_keys(fx: &Fixtures, name: &str) -> Keys {
    let out = &fx.out;
    let script = "import json,sys\nfor k in json.load(open(sys.argv[1]))['keys']: print(k['key_hex'], k['value_hex'] or '-', k['expires_unix_nano'])";
    let o = Command::new("python3").arg("-c").arg(script).arg(out.join(format!("{name}.json"))).output().unwrap();
    assert!(o.status.success());
    let hex = |s: &str| {
        if s == "-" {
            Vec::new()
        } else {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        }
    };
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (hex(f[0]), hex(f[1]), f[2].parse().unwrap())
        })
        .collect()
}

/// How many keys the fixture writer lists as read differently by a stamp-deciding reader.
fn stamp_order_differs(fx: &Fixtures, name: &str) -> u64 {
    let script = "import json,sys\nprint(len(json.load(open(sys.argv[1])).get('recency_by_stamp_differs', [])))";
    let o = Command::new("python3").arg("-c").arg(script).arg(fx.out.join(format!("{name}.json"))).output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().parse().unwrap()
}

/// Every key of the database at `root` with its value and expiry, in key order.
fn read_all(root: &Path) -> Keys {
    let db = Db::open(root, Options::default()).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let mut out = Vec::new();
    db.fold(b"", |k, v| {
        out.push((k.to_vec(), v.to_vec(), 0));
        true
    })
    .unwrap();
    for e in &mut out {
        e.2 = db.meta(&e.0).unwrap().unwrap().expires_unix_nano;
    }
    db.close().unwrap();
    out
}

fn salvage() -> Options {
    let mut o = Options::default();
    o.set_adopt_salvage(true);
    o
}

fn is_damaged(name: &str) -> bool {
    name == "torn-then-appended"
}

/// The fixture's files without the LOCK, whose text adopt replaces with its pid.
fn without_lock(mut s: BTreeMap<PathBuf, Option<Vec<u8>>>) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    s.remove(Path::new("LOCK"));
    s
}

#[test]
fn adopt_gives_every_key_the_value_the_go_system_returns() {
    let fx = fixtures();
    for name in &fx.names {
        let root = copy_of(&fx, name, "adopt");
        let before = without_lock(snapshot(&root));
        let opts = if is_damaged(name) { salvage() } else { Options::default() };
        let r = bitgask::adopt(&root, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let counts = r.adopt.clone().unwrap();
        assert!(!counts.already_bitgask, "{name}");
        // The adopted generation was written by an ordinary open: it has its watermark.
        assert!(root.join("data/bitgask.watermark").is_file(), "{name}: no watermark");
        assert_eq!(counts.out_of_stamp_order_keys, stamp_order_differs(&fx, name), "{name}");
        assert_eq!(read_all(&root), expected_keys(&fx, name), "{name}: {}", r.text());
        assert_eq!(r.live_keys as usize, expected_keys(&fx, name).len(), "{name}");
        // The Go files are kept, byte for byte, under go-original/.
        let kept = snapshot(&root.join("go-original"));
        for (p, bytes) in &before {
            assert_eq!(kept.get(p), Some(bytes), "{name}: {} not kept", p.display());
        }
        let again = bitgask::adopt(&root, &Options::default()).unwrap();
        assert!(again.adopt.unwrap().already_bitgask, "{name}: a second adopt converts nothing");
        assert_eq!(read_all(&root), expected_keys(&fx, name), "{name}");
        fs::remove_dir_all(&root).unwrap();
    }
}

#[test]
fn adopt_refuses_damage_without_salvage_and_changes_nothing() {
    let fx = fixtures();
    let root = copy_of(&fx, "torn-then-appended", "adopt-damaged");
    let before = without_lock(snapshot(&root));
    let e = bitgask::adopt(&root, &Options::default()).unwrap_err();
    assert_eq!(e.status(), status::E_CORRUPT, "{e}");
    assert!(without_lock(snapshot(&root)) == before);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn adopt_counts_the_keys_the_stamp_rule_would_get_wrong() {
    let fx = fixtures();
    let root = copy_of(&fx, "out-of-order", "adopt-counts");
    let r = bitgask::adopt(&root, &Options::default()).unwrap();
    let c = r.adopt.unwrap();
    assert!(c.out_of_stamp_order_keys >= 5, "{c:?}");
    assert!(c.deleted_keys >= 2, "{c:?}");
    assert_eq!(c.original_dir, "go-original/");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn adopt_with_discard_original_removes_the_go_files() {
    let fx = fixtures();
    let root = copy_of(&fx, "width-6", "adopt-discard");
    let mut o = Options::default();
    o.set_adopt_discard_original(true);
    bitgask::adopt(&root, &o).unwrap();
    assert!(!root.join("go-original").exists());
    assert_eq!(read_all(&root), expected_keys(&fx, "width-6"));
    fs::remove_dir_all(&root).unwrap();
}

/// A crash at every step of adopt (the in-process model: the step returns as if killed, nothing
/// is cleaned up), then either an open or a second adopt: the result is the untouched Go
/// directory (open refuses it) or the complete adopted one, never a mix. On the fixtures that
/// exercise every path: several Go directories to move, log-order recency, salvage.
#[test]
fn a_crash_at_every_step_of_adopt_leaves_one_of_the_two_allowed_states() {
    use bitgask::internal::adopt::{stop, ADOPT_POINTS};
    let fx = fixtures();
    for name in ["merge-crash-renamed", "merge-crash-writing", "out-of-order", "torn-then-appended"] {
        let opts = if is_damaged(name) { salvage() } else { Options::default() };
        for point in ADOPT_POINTS {
            for then_open in [true, false] {
                let root = copy_of(&fx, name, "adopt-crash");
                let before = without_lock(snapshot(&root));
                stop::at(Some(point));
                let crashed = bitgask::adopt(&root, &opts);
                stop::at(None);
                assert!(crashed.is_err(), "{name}: {point} was not reached");
                let committed = *point != "adopt-outputs-written";
                if then_open {
                    match Db::open(&root, Options::default()) {
                        Ok(db) => {
                            assert!(committed, "{name} {point}: opened before the commit point");
                            db.close().unwrap();
                            assert_eq!(read_all(&root), expected_keys(&fx, name), "{name} {point}");
                        }
                        Err(e) => {
                            assert!(!committed, "{name} {point}: {e}");
                            assert_eq!(e.status(), status::E_FORMAT_VERSION, "{name} {point}: {e}");
                            assert!(without_lock(snapshot(&root)) == before, "{name} {point}: Go files changed");
                        }
                    }
                }
                bitgask::adopt(&root, &opts).unwrap_or_else(|e| panic!("{name} {point}: {e}"));
                assert_eq!(read_all(&root), expected_keys(&fx, name), "{name} {point}");
                assert!(!root.join("adopt.tmp").exists(), "{name} {point}");
                fs::remove_dir_all(&root).unwrap();
            }
        }
    }
}

#[test]
fn adopt_refuses_keys_over_the_limits_unless_salvage() {
    let fx = fixtures();
    let root = copy_of(&fx, "out-of-order", "adopt-limits");
    let before = without_lock(snapshot(&root));
    let mut o = Options::default();
    o.set_max_key_size(4).unwrap();
    let e = bitgask::adopt(&root, &o).unwrap_err();
    assert_eq!(e.status(), status::E_TOO_LARGE, "{e}");
    assert!(e.to_string().contains("key clock-back"), "{e}");
    assert!(without_lock(snapshot(&root)) == before, "a refused adopt changed the directory");
    o.set_adopt_salvage(true);
    let r = bitgask::adopt(&root, &o).unwrap();
    let short: Keys = expected_keys(&fx, "out-of-order").into_iter().filter(|k| k.0.len() <= 4).collect();
    assert_eq!(r.adopt.unwrap().oversized_keys as usize, expected_keys(&fx, "out-of-order").len() - short.len());
    let mut small = Options::default();
    small.set_max_key_size(4).unwrap();
    let db = Db::open(&root, small).unwrap();
    let mut got = Vec::new();
    db.fold(b"", |k, v| {
        got.push((k.to_vec(), v.to_vec(), 0));
        true
    })
    .unwrap();
    assert_eq!(got.len(), short.len());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn validate_checks_the_go_records_and_counts_what_adopt_would_keep() {
    let fx = fixtures();
    for name in &fx.names {
        let root = copy_of(&fx, name, "validate-counts");
        let r = validate(&root).unwrap();
        let damaged: Vec<_> = r.problems.iter().filter(|p| p.kind == ProblemKind::CorruptRecord).collect();
        if is_damaged(name) {
            assert_eq!(damaged.len(), 1, "{name}: {}", r.text());
            assert!(r.text().contains("adopt refuses them unless salvage"), "{}", r.text());
        } else {
            assert!(damaged.is_empty(), "{name}: {}", r.text());
            assert_eq!(r.live_keys as usize, expected_keys(&fx, name).len(), "{name}: {}", r.text());
        }
        fs::remove_dir_all(&root).unwrap();
    }
}
