//! The crash-safe half of `bitgask adopt` (docs/DESIGN.md section 14.3): the adopted generation
//! is staged in `<root>/adopt.tmp/`, committed by the marker `adopt.tmp/ADOPT_DONE`, and swapped
//! in by moving the Go system's directories into `<root>/go-original/`.
//!
//! ```text
//! 1. adopt.tmp/data/ built and fsynced (a complete bitgask generation)  [adopt-outputs-written]
//! 2. adopt.tmp/ADOPT_DONE written atomically: the commit point           [adopt-done-written]
//! 3. each Go directory (merge.tmp, data.old, then data) renamed into
//!    go-original/, root fsynced after each                               [adopt-original-moved]
//! 4. adopt.tmp/data renamed to data                                      [adopt-swapped]
//! 5. go-original/README written, adopt.tmp/ removed (go-original/ too
//!    with --discard-original)                                            [adopt-finished]
//! ```
//!
//! [`settle`] (run by open and by adopt, under the LOCK) finishes or undoes what a crash left:
//! before the marker the Go files are untouched and `adopt.tmp/` is removed; after it every
//! state rolls forward. The Go system never looks at `adopt.tmp/` or `go-original/`.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::sealed::{seal, unseal};
use crate::killpoint;
use crate::storage::fs::{self as dfs, fsync_dir};

/// Where adopt builds the new generation.
pub const ADOPT_TMP: &str = "adopt.tmp";
/// Where adopt keeps the Go system's original directories.
pub const GO_ORIGINAL: &str = "go-original";
/// The commit marker in `adopt.tmp/`.
pub const ADOPT_DONE: &str = "ADOPT_DONE";
/// Every step's crash point, in order, for sweeps.
pub const ADOPT_POINTS: &[&str] =
    &["adopt-outputs-written", "adopt-done-written", "adopt-original-moved", "adopt-swapped", "adopt-finished"];

/// The marker's content: which of the root's directories hold the Go system's files (moved into
/// `go-original/` in this order), the size of every file in them (so a Go process that wrote
/// into them after a crash is noticed), and whether the originals are discarded at the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdoptDone {
    pub sources: Vec<String>,
    /// (path relative to the root, size)
    pub files: Vec<(String, u64)>,
    pub discard_original: bool,
}

const HEAD: &str = "bitgask-adopt 1\n";

impl AdoptDone {
    pub fn encode(&self) -> Vec<u8> {
        let mut body = String::from(HEAD);
        for s in &self.sources {
            body.push_str(&format!("source {s}\n"));
        }
        for (f, size) in &self.files {
            body.push_str(&format!("file {size} {f}\n"));
        }
        body.push_str(&format!("discard {}\n", u8::from(self.discard_original)));
        seal(body)
    }

    pub fn parse(bytes: &[u8]) -> std::result::Result<AdoptDone, String> {
        let lines = unseal(bytes, HEAD, "ADOPT_DONE")?;
        let mut d = AdoptDone::default();
        for line in lines.lines() {
            match line.split_once(' ') {
                Some(("source", s)) => d.sources.push(s.to_string()),
                Some(("file", rest)) => {
                    let (size, f) = rest.split_once(' ').ok_or("ADOPT_DONE: bad file line")?;
                    d.files.push((f.to_string(), size.parse().map_err(|_| "ADOPT_DONE: bad size")?));
                }
                Some(("discard", v)) => d.discard_original = v == "1",
                _ => return Err(format!("ADOPT_DONE: unknown line {line:?}")),
            }
        }
        Ok(d)
    }
}

/// A crash point: `killpoint::hit`, and in this crate's tests an early return that leaves the
/// disk exactly as a kill there would (every step before it is durable; nothing is cleaned up).
fn step(name: &str) -> Result<()> {
    killpoint::hit(name);
    stop::check(name)
}

/// Stopping at a named step inside one thread: the crash model of the adopt tests.
#[doc(hidden)]
pub mod stop {
    use std::cell::RefCell;

    use crate::error::{Error, Result};

    thread_local! {
        static AT: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Makes this thread's next adopt (or settle) stop when it reaches `point`.
    pub fn at(point: Option<&str>) {
        AT.with(|a| *a.borrow_mut() = point.map(String::from));
    }

    pub(super) fn check(name: &str) -> Result<()> {
        if AT.with(|a| a.borrow().as_deref() == Some(name)) {
            AT.with(|a| *a.borrow_mut() = None);
            return Err(Error::Io {
                context: format!("stopped at {name} (simulated crash)"),
                source: std::io::Error::other("simulated crash"),
            });
        }
        Ok(())
    }
}

fn is_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

/// Step 1's start: a fresh, empty `adopt.tmp/` (an earlier attempt's is removed).
pub fn begin(root: &Path) -> Result<std::path::PathBuf> {
    dfs::fresh_dir(root, ADOPT_TMP)
}

/// Every regular file under the root's `sources`, with its size.
pub fn inventory(root: &Path, sources: &[String]) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for s in sources {
        let dir = root.join(s);
        for e in fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))? {
            let e = e.map_err(|e| Error::io("list", &dir, e))?;
            let m = e.metadata().map_err(|err| Error::io("stat", &e.path(), err))?;
            if m.is_file() {
                out.push((format!("{s}/{}", e.file_name().to_string_lossy()), m.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Steps 2 to 5, once `adopt.tmp/data/` is complete and durable.
pub fn commit(root: &Path, done: &AdoptDone) -> Result<()> {
    step("adopt-outputs-written")?;
    dfs::atomic_write(&root.join(ADOPT_TMP), ADOPT_DONE, &done.encode())?;
    fsync_dir(root)?;
    step("adopt-done-written")?;
    finish(root, done)
}

/// Steps 3 to 5; every one is skipped when already done, so a rerun after a crash completes it.
fn finish(root: &Path, done: &AdoptDone) -> Result<()> {
    let orig = root.join(GO_ORIGINAL);
    if !is_dir(&orig) {
        dfs::create_dir(&orig)?;
        fsync_dir(root)?;
    }
    for s in &done.sources {
        if is_dir(&root.join(s)) && !is_dir(&orig.join(s)) {
            dfs::rename(&root.join(s), &orig.join(s))?;
            fsync_dir(&orig)?;
            fsync_dir(root)?;
            step("adopt-original-moved")?;
        }
    }
    let staged = root.join(ADOPT_TMP).join("data");
    if is_dir(&staged) {
        if is_dir(&root.join("data")) {
            return Err(Error::Corrupt(format!(
                "{}: both data/ and {ADOPT_TMP}/data/ exist after an interrupted adopt",
                root.display()
            )));
        }
        dfs::rename(&staged, &root.join("data"))?;
        fsync_dir(root)?;
        step("adopt-swapped")?;
    }
    if done.discard_original {
        if is_dir(&orig) {
            dfs::remove_tree(&orig)?;
        }
    } else {
        dfs::atomic_write(&orig, "README", readme(done).as_bytes())?;
    }
    dfs::remove_tree(&root.join(ADOPT_TMP))?;
    fsync_dir(root)?;
    step("adopt-finished")
}

fn readme(done: &AdoptDone) -> String {
    format!(
        "These are the files of the Go bitgask that `bitgask adopt` converted ({} directories: {}).\n\
         bitgask does not read them. To go back to the Go system, move data/ away and move\n\
         go-original/data (and any other directory here) back into the database directory;\n\
         writes made with bitgask since the adoption are not in them (use `bitgask export`).\n",
        done.sources.len(),
        done.sources.join(", ")
    )
}

/// Settles an interrupted adoption (the caller holds the LOCK): without a valid marker the Go
/// files were never touched and `adopt.tmp/` is removed; with one, the adoption is finished.
/// Returns whether anything was there to settle.
pub fn settle(root: &Path) -> Result<bool> {
    let tmp = root.join(ADOPT_TMP);
    if !is_dir(&tmp) {
        return Ok(false);
    }
    let marker = fs::read(tmp.join(ADOPT_DONE)).ok().and_then(|b| AdoptDone::parse(&b).ok());
    match marker {
        Some(done) if !written_since(root, &done)? => finish(root, &done)?,
        Some(_) if is_dir(&root.join(GO_ORIGINAL)) => {
            return Err(Error::Corrupt(format!(
                "{}: files moved by an interrupted adopt changed afterwards (did the Go bitgask write \
                 here?); compare {GO_ORIGINAL}/ and data/ by hand",
                root.display()
            )))
        }
        // The Go system wrote into its directory after the crash, before anything was moved:
        // the staged generation is stale; start over.
        _ => {
            dfs::remove_tree(&tmp)?;
            fsync_dir(root)?;
        }
    }
    Ok(true)
}

/// Whether a source directory still in the root (not yet moved) differs from what the marker
/// recorded. Once the staged generation has been renamed into place every source was moved
/// (step 3 comes before step 4), whatever is left of `go-original/`.
fn written_since(root: &Path, done: &AdoptDone) -> Result<bool> {
    if !is_dir(&root.join(ADOPT_TMP).join("data")) {
        return Ok(false);
    }
    let orig = root.join(GO_ORIGINAL);
    let present: Vec<String> =
        done.sources.iter().filter(|s| is_dir(&root.join(s)) && !is_dir(&orig.join(s))).cloned().collect();
    let now = inventory(root, &present)?;
    let then: Vec<(String, u64)> =
        done.files.iter().filter(|(f, _)| present.iter().any(|s| f.starts_with(&format!("{s}/")))).cloned().collect();
    Ok(now != then)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"x").unwrap();
    }

    #[test]
    fn a_crash_while_discarding_the_originals_is_finished() {
        let t = crate::testutil::TempDir::new("adopt-discard");
        let root = t.path();
        put(root, "data/000000001.data");
        put(root, "go-original/data/000002.data");
        let done = AdoptDone {
            sources: vec!["data".into()],
            files: vec![("data/000001.data".into(), 1), ("data/000002.data".into(), 1)],
            discard_original: true,
        };
        fs::create_dir_all(root.join(ADOPT_TMP)).unwrap();
        fs::write(root.join(ADOPT_TMP).join(ADOPT_DONE), done.encode()).unwrap();
        assert!(settle(root).unwrap());
        assert!(!root.join(GO_ORIGINAL).exists() && !root.join(ADOPT_TMP).exists());
        assert!(root.join("data/000000001.data").exists());
    }

    #[test]
    fn a_marker_whose_sources_changed_before_anything_moved_starts_over() {
        let t = crate::testutil::TempDir::new("adopt-changed");
        let root = t.path();
        put(root, "data/000001.data");
        put(root, "adopt.tmp/data/000000001.data");
        let done = AdoptDone {
            sources: vec!["data".into()],
            files: vec![("data/000001.data".into(), 7)],
            ..Default::default()
        };
        fs::write(root.join(ADOPT_TMP).join(ADOPT_DONE), done.encode()).unwrap();
        assert!(settle(root).unwrap());
        assert!(!root.join(ADOPT_TMP).exists() && !root.join(GO_ORIGINAL).exists());
        assert!(root.join("data/000001.data").exists(), "the Go files stay where they are");
    }

    #[test]
    fn the_marker_round_trips_and_rejects_damage() {
        let d = AdoptDone {
            sources: vec!["merge.tmp".into(), "data".into()],
            files: vec![("data/000001.data".into(), 42), ("data/a b".into(), 0)],
            discard_original: true,
        };
        let bytes = d.encode();
        assert_eq!(AdoptDone::parse(&bytes).unwrap(), d);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(AdoptDone::parse(&bad).is_err());
        assert!(AdoptDone::parse(&bytes[..bytes.len() - 3]).is_err());
    }
}
