//! Test helpers: self-removing temporary directories, listings of a database's files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "bitgask-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files of `root/data/` whose extension is `ext` ("data", "hint"), sorted by name (so by
/// file id).
pub fn files_with_ext(root: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Copies what a crash could leave of the open database at `from` (its `data/`, not the LOCK)
/// to `to/data/`. Background threads (hints, prefault) may rename or remove a temporary file
/// between the listing and its copy: a file that is gone is skipped, as a power loss would not
/// have kept it either.
pub fn crash_image(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("data")).unwrap();
    for e in std::fs::read_dir(from.join("data")).unwrap() {
        let p = e.unwrap().path();
        match std::fs::copy(&p, to.join("data").join(p.file_name().unwrap())) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => {
                r.unwrap();
            }
        }
    }
}
