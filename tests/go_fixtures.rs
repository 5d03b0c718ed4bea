//! Directories written by the Go bitgask, as `tests/gofixtures/gowriter.py` produces them (see its
//! README): open and repair refuse every one of them without changing a byte, and validate
//! reports them as foreign, not damaged.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bitgask::{status, validate, Db, Options, ProblemKind};

fn writer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gofixtures/gowriter.py")
}

/// Every fixture, written once per test run into a directory of its own.
fn fixtures() -> &'static (PathBuf, Vec<String>) {
    static OUT: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("bitgask-gofixtures-{}", std::process::id()));
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
        (out, names)
    })
}

/// A private copy of one fixture, so tests never see each other's changes.
fn copy_of(name: &str, tag: &str) -> PathBuf {
    let (out, _) = fixtures();
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
    for name in &fixtures().1 {
        let root = copy_of(name, tag);
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
    let (out, names) = fixtures();
    for name in names {
        let json = fs::read_to_string(out.join(format!("{name}.json"))).unwrap();
        let root = copy_of(name, "markers");
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
