//! Recognition of directories written by the Go bitgask (docs/DESIGN.md section 14.1).
//!
//! The Go system writes records byte-identical to ours but decides recency by log position, keeps
//! hint files of another layout and may name its files with another width, so reading its
//! directory with our rules would return other values. [`recognise`] looks at names, the meta
//! file's bytes and the first bytes of each hint file (it never writes, and never reads a record)
//! and says whose directory it is; open, validate and repair call it before anything else and
//! refuse a foreign directory, which `bitgask adopt` converts.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::hint::has_magic;
use crate::format::meta::{is_go_layout, is_legacy_layout, Meta};
use crate::format::watermark::WATERMARK_FILE;
use crate::generation::{is_our_tmp, DATA_DIR, DATA_OLD, MERGE_DONE, MERGE_TMP};
use crate::space::RESERVE_FILE;
use crate::storage::fs::{parse_name, LOCK_FILE, META_FILE};
use crate::storage::lock::LockFile;

use crate::adopt_commit;
pub use crate::adopt_commit::{ADOPT_TMP, GO_ORIGINAL};

/// One sign of the Go system, with the file it was found in (relative to the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Stable name: `go-meta-layout`, `go-hint-layout`, `empty-hint`, `file-id-width`,
    /// `no-meta`, `go-merge-tmp`, `go-data-old`, `no-data-dir`.
    pub name: &'static str,
    pub file: String,
    pub reason: String,
}

/// Whose directory a database root is.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Ours (or empty, or new).
    Ours,
    /// Written by the Go bitgask; the markers say why we think so.
    Foreign(Vec<Marker>),
    /// `adopt.tmp/` is present: an adoption was interrupted and must be settled first.
    AdoptInterrupted,
}

/// What one generation directory (`data/`, `merge.tmp/`, `data.old/`) shows.
#[derive(Default)]
struct DirSigns {
    go: Vec<Marker>,
    /// Files only this library writes (a `BGKHINT` hint, `MERGE_DONE`, quarantine, the
    /// watermark, temporaries, a meta with the writer field or in our older one-line layout).
    ours: bool,
    has_data: bool,
    has_meta: bool,
    merge_done: bool,
}

/// Says whose directory `root` is. Reads only; a missing root is `Ours` (open creates it).
pub fn recognise(root: &Path) -> Result<Ownership> {
    if root.join(ADOPT_TMP).is_dir() {
        return Ok(Ownership::AdoptInterrupted);
    }
    let mut signs = Vec::new();
    for name in [DATA_DIR, MERGE_TMP, DATA_OLD] {
        if is_dir(&root.join(name)) {
            signs.push((name, look_at(root, name)?));
        }
    }
    let get = |n: &str| signs.iter().find(|(name, _)| *name == n).map(|(_, s)| s);
    let mut markers: Vec<Marker> = signs.iter().flat_map(|(_, s)| s.go.iter().cloned()).collect();
    if let Some(d) = get(DATA_DIR) {
        if d.has_data && !d.has_meta && !d.ours {
            let why = "data files but no bitgask.meta and no file only bitgask writes (what a Go merge leaves; \
                       if bitgask wrote this directory and lost its meta, write one with \"writer\": \"bitgask-rs\" \
                       and run bitgask repair)";
            markers.push(marker("no-meta", "data/", why));
        }
    }
    let data_foreign = !markers.is_empty();
    if let Some(t) = get(MERGE_TMP) {
        if !t.merge_done && !t.ours && (data_foreign || get(DATA_DIR).is_none()) {
            markers.push(marker("go-merge-tmp", "merge.tmp/", "an interrupted Go merge's output (no MERGE_DONE)"));
        }
    }
    if let Some(o) = get(DATA_OLD) {
        if !o.ours && data_foreign {
            markers.push(marker("go-data-old", "data.old/", "the generation a Go merge replaced"));
        }
    }
    let go_old = get(DATA_OLD).is_some_and(|o| !o.ours);
    if get(DATA_DIR).is_none() && go_old && get(MERGE_TMP).is_some_and(|t| !t.merge_done) {
        let why = "no data/, a data.old/ and a merge.tmp/ without MERGE_DONE: a Go merge killed between its renames";
        markers.push(marker("no-data-dir", "", why));
    }
    markers.sort_by(|a, b| (a.name, &a.file).cmp(&(b.name, &b.file)));
    Ok(if markers.is_empty() { Ownership::Ours } else { Ownership::Foreign(markers) })
}

fn is_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

fn marker(name: &'static str, file: impl Into<String>, reason: impl Into<String>) -> Marker {
    Marker { name, file: file.into(), reason: reason.into() }
}

/// The Go and bitgask signs of one generation directory.
fn look_at(root: &Path, name: &str) -> Result<DirSigns> {
    let dir = root.join(name);
    let mut s = DirSigns::default();
    for entry in fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let rel = format!("{name}/{file}");
        let path = entry.path();
        match digit_stem(&file) {
            Some((stem, "data")) => {
                s.has_data = true;
                if parse_name(&file).is_none() {
                    let why = format!("a data file name {} digits wide (bitgask's are 9)", stem.len());
                    s.go.push(marker("file-id-width", rel, why));
                }
            }
            Some((_, "hint")) => match first_bytes(&path)? {
                b if b.is_empty() => {
                    s.go.push(marker("empty-hint", rel, "an empty hint file (the Go system's, for its active file)"))
                }
                b if has_magic(&b) => s.ours = true,
                _ => s.go.push(marker("go-hint-layout", rel, "a hint file in the Go layout (no BGKHINT magic)")),
            },
            Some((_, "corrupt")) => s.ours = true,
            _ if file == MERGE_DONE => s.merge_done = true,
            // The Go system writes no watermark (docs/DESIGN.md section 1.6).
            _ if file == WATERMARK_FILE => s.ours = true,
            _ if is_our_tmp(&file) => s.ours = true,
            _ if file == META_FILE => {
                s.has_meta = true;
                look_at_meta(&path, rel, &mut s)?;
            }
            _ => {}
        }
    }
    s.ours |= s.merge_done;
    // The reserve lives at the root, beside data/, and the Go system writes none
    // (docs/DESIGN.md section 5.14): the data/ of a root holding one is ours.
    s.ours |= name == DATA_DIR && fs::symlink_metadata(root.join(RESERVE_FILE)).is_ok_and(|m| m.is_file());
    if s.ours {
        // A hint without our magic in a directory we wrote is damage (open ignores it and
        // validate reports it), not a sign of the Go system.
        s.go.retain(|m| m.name != "go-hint-layout" && m.name != "empty-hint");
    }
    Ok(s)
}

/// `NNN.ext` with an all-digit stem of any width: (stem, ext).
fn digit_stem(name: &str) -> Option<(&str, &str)> {
    let (stem, ext) = name.split_once('.')?;
    (!stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit())).then_some((stem, ext))
}

/// Up to the first 8 bytes of a file (enough for the hint magic).
fn first_bytes(path: &Path) -> Result<Vec<u8>> {
    let f = fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut buf = Vec::with_capacity(8);
    f.take(8).read_to_end(&mut buf).map_err(|e| Error::io("read", path, e))?;
    Ok(buf)
}

/// Ours when it names its writer or has our older one-line layout; the Go layout is a marker;
/// anything else (damage) is left to the meta check of open and validate.
fn look_at_meta(path: &Path, rel: String, s: &mut DirSigns) -> Result<()> {
    let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    if Meta::parse(&bytes).is_ok_and(|m| m.writer.is_some()) || is_legacy_layout(&bytes) {
        s.ours = true;
    } else if is_go_layout(&bytes) {
        s.go.push(marker("go-meta-layout", rel, "bitgask.meta in the Go layout (indented, no writer field)"));
    }
    Ok(())
}

/// The error open and repair return for a foreign directory: what was found, that nothing was
/// changed, and the command that converts it.
pub fn refusal(root: &Path, markers: &[Marker]) -> Error {
    Error::FormatVersion(format!(
        "{}: written by the Go bitgask, not opened: {}. Nothing was changed. Convert it with \
         `bitgask adopt --dir {}` (the original files are kept in {}/{GO_ORIGINAL}/)",
        root.display(),
        summary(markers),
        root.display(),
        root.display()
    ))
}

/// One phrase per kind of marker, naming its first file and how many more there are.
pub fn summary(markers: &[Marker]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in markers {
        if seen.contains(&m.name) {
            continue;
        }
        seen.push(m.name);
        let more = markers.iter().filter(|x| x.name == m.name).count() - 1;
        let mut p = describe(m);
        if more > 0 {
            p.push_str(&format!(" (and {more} more)"));
        }
        parts.push(p);
    }
    parts.join("; ")
}

pub fn describe(m: &Marker) -> String {
    if m.file.is_empty() {
        m.reason.clone()
    } else {
        format!("{}: {}", m.file, m.reason)
    }
}

/// The gate of open and repair, run before they take the LOCK so a foreign directory is left
/// byte for byte as it was (the LOCK file's content included). An adoption a crash interrupted
/// is settled first (under the LOCK): the root then holds either the Go directory, refused, or
/// the adopted one.
pub fn gate(root: &Path, lock_timeout: Duration) -> Result<()> {
    if recognise(root)? == Ownership::AdoptInterrupted {
        let _lock = LockFile::acquire(&root.join(LOCK_FILE), lock_timeout)?;
        adopt_commit::settle(root)?;
    }
    refuse_foreign(root)
}

fn refuse_foreign(root: &Path) -> Result<()> {
    match recognise(root)? {
        Ownership::Ours => Ok(()),
        Ownership::Foreign(m) => Err(refusal(root, &m)),
        Ownership::AdoptInterrupted => Err(Error::FormatVersion(format!(
            "{}: an interrupted `bitgask adopt` left {ADOPT_TMP}/; run `bitgask adopt --dir {}` again to finish it",
            root.display(),
            root.display()
        ))),
    }
}

#[cfg(test)]
#[path = "foreign_tests.rs"]
mod tests;
