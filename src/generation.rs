//! Generations (docs/DESIGN.md section 7): the directories a database's data files live in, and the
//! steps that replace one generation with the next. Merge and delete-all build a generation;
//! open and repair settle one a crash interrupted; everything else only reads `data/`.
//!
//! ```text
//! <root>/data/        the current generation: data files, hints, bitgask.meta
//! <root>/merge.tmp/   the next generation while it is built; MERGE_DONE marks it complete
//! <root>/data.old/    the previous generation, from the swap until it is removed
//! ```
//!
//! Step by step, for a caller that holds the LOCK and keeps every other writer of `data/` out:
//! 1. [`begin`]: a fresh, empty `merge.tmp/` (whatever an earlier attempt left is removed).
//! 2. The caller writes the new files into it and fsyncs them, then [`mark_complete`] writes
//!    `MERGE_DONE` (inputs, outputs and their sizes). Until then [`discard`] undoes everything.
//! 3. [`swap`]: hard-link every file of `data/` that survives (not an input) into `merge.tmp/`,
//!    fsync `merge.tmp/`, rename `data` to `data.old`, rename `merge.tmp` to `data`, fsync the
//!    root, and move back the directories nobody may delete.
//! 4. [`remove_old`]: remove `data.old/`, which frees the old files' blocks (the slow part, so
//!    a merge leaves it to a background thread).
//!
//! A crash anywhere leaves a state [`settle`] resolves at the next open (the recovery table).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::merge_done::MergeDone;
use crate::format::watermark::WATERMARK_FILE;
use crate::killpoint;
use crate::storage::fs::{
    self as dfs, data_name, fsync_dir, parse_name, Checked, META_FILE, RETIRED_SNAPSHOT_FILE as RETIRED_FILE,
    SNAPSHOT_FILE, TMP_SUFFIX,
};

/// The current generation.
pub const DATA_DIR: &str = "data";
/// The next generation while a merge builds it.
pub const MERGE_TMP: &str = "merge.tmp";
/// The previous generation, between a swap and its removal.
pub const DATA_OLD: &str = "data.old";
/// The marker that makes `merge.tmp/` complete: its content says what it must hold.
pub const MERGE_DONE: &str = "MERGE_DONE";

pub fn data_dir(root: &Path) -> PathBuf {
    root.join(DATA_DIR)
}

/// Whether `root` holds a database, or what an interrupted swap left of one.
pub fn exists(root: &Path) -> bool {
    [DATA_DIR, MERGE_TMP, DATA_OLD].iter().any(|d| root.join(d).is_dir())
}

/// The temporary names our atomic writes leave behind when interrupted: `<id>.hint.tmp`,
/// `<id>.data.tmp`, `bitgask.meta.tmp`, `bitgask.watermark.tmp`, `keydir.snapshot.tmp`. Other names ending in `.tmp`
/// are someone else's.
pub fn is_our_tmp(name: &str) -> bool {
    let Some(base) = name.strip_suffix(TMP_SUFFIX) else { return false };
    base == META_FILE
        || base == WATERMARK_FILE
        || base == SNAPSHOT_FILE
        || parse_name(base).is_some_and(|(_, ext)| ext == "hint" || ext == "data")
}

/// What a generation's directory holds, by file id, listed numerically.
#[derive(Debug, Default)]
pub struct Listing {
    pub data: Vec<u32>,
    pub hints: std::collections::BTreeSet<u32>,
    /// Names that are not ours (or are symlinks); left alone.
    pub unknown: Vec<String>,
}

pub fn list(dir: &Path) -> Result<Listing> {
    let mut out = Listing::default();
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let regular = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        match parse_name(&name) {
            Some((id, "data")) if regular => out.data.push(id),
            Some((id, "hint")) if regular => {
                out.hints.insert(id);
            }
            _ if name == META_FILE && regular => {}
            _ if name == WATERMARK_FILE && regular => {}
            // The keydir snapshot of a clean close (section 6.7), and the one open retired.
            _ if (name == SNAPSHOT_FILE || name == RETIRED_FILE) && regular => {}
            // A merge's completion marker, left only if a crash came right after the swap.
            _ if name == MERGE_DONE && regular => {}
            _ => out.unknown.push(name),
        }
    }
    out.data.sort_unstable();
    Ok(out)
}

/// Step 1: a fresh, empty `merge.tmp/` (a stale one removed first). Not durable yet: its entry
/// in the root is fsynced with `MERGE_DONE` ([`mark_complete`]), before step 3 renames anything,
/// so that no file system ordering between its creation and those renames is assumed. Fsynced
/// here, the root waited 10-90 ms for the device flush behind the active file's seal, which a
/// full merge now leaves running (docs/DESIGN.md section 7.2). Returns its path.
pub fn begin(root: &Path) -> Result<PathBuf> {
    dfs::fresh_dir_unsynced(root, MERGE_TMP)
}

/// Undoes steps 1 and 2: nothing outside `merge.tmp/` has changed yet.
pub fn discard(root: &Path) -> Result<()> {
    dfs::remove_tree(&root.join(MERGE_TMP))?;
    fsync_dir(root)
}

/// The end of step 2: `MERGE_DONE` written in `tmp` and fsynced. Not through a rename, and `tmp`
/// is not fsynced here: the marker is only ever read after step 3 renamed `data/`, and step 3
/// fsyncs `tmp` first, which makes the marker's entry durable with every other entry of the new
/// generation (outputs, hints, the empty file). A crash before that discards `merge.tmp/`
/// whatever the marker holds; a torn one is invalid anyway (its CRC).
pub fn mark_complete(tmp: &Path, done: &MergeDone) -> Result<()> {
    let path = tmp.join(MERGE_DONE);
    let mut w = Checked::new(dfs::create_new(&path)?, &path);
    w.write_all(&done.encode()).map_err(|e| Error::io("write", &path, e))?;
    dfs::sync_file(w.file(), &path)?;
    // `merge.tmp/` itself, in the root ([`begin`]).
    match tmp.parent() {
        Some(root) => fsync_dir(root),
        None => Ok(()),
    }
}

/// Step 3, for a caller that keeps every other writer out of `data/`: link what survives (every
/// entry that is not one of the data files `inputs` or their hints) into `merge.tmp/` and fsync
/// it, then `data` becomes `data.old` and `merge.tmp` becomes `data`, the root fsynced after each
/// rename: no file system ordering is assumed, so a crash leaves neither, the first, or both
/// renames, and each of those states settles (see [`settle`]).
/// On an error the directories may be between generations; [`settle`] finishes or undoes.
pub fn swap(root: &Path, inputs: &[u32]) -> Result<()> {
    let (data, tmp, old) = (root.join(DATA_DIR), root.join(MERGE_TMP), root.join(DATA_OLD));
    link_survivors(&data, &tmp, inputs)?;
    fsync_dir(&tmp)?;
    killpoint::hit("merge-links-made");
    dfs::rename(&data, &old)?;
    fsync_dir(root)?;
    killpoint::hit("merge-data-renamed");
    dfs::rename(&tmp, &data)?;
    fsync_dir(root)?;
    killpoint::hit("merge-tmp-renamed");
    move_strange_directories_back(root)?;
    // The marker has done its job; a crash before this line leaves a harmless file.
    dfs::remove_if_exists(&data.join(MERGE_DONE)).map(drop)
}

/// Hard-links into `tmp` every entry of `data` that is not a merge input: the active file,
/// files written during the merge, their hints, the meta file, and files that are not ours.
fn link_survivors(data: &Path, tmp: &Path, inputs: &[u32]) -> Result<()> {
    for entry in fs::read_dir(data).map_err(|err| Error::io("list", data, err))? {
        let entry = entry.map_err(|err| Error::io("list", data, err))?;
        let name = entry.file_name();
        let input = parse_name(&name.to_string_lossy())
            .is_some_and(|(id, ext)| (ext == "data" || ext == "hint") && inputs.contains(&id));
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        // Directories cannot be linked; they stay in data.old and are moved back afterwards.
        // Our own temporary files of interrupted writes are not carried over, nor a keydir
        // snapshot (open removes it; it could only describe the old generation).
        let ours_to_drop = is_our_tmp(&name.to_string_lossy()) || name == SNAPSHOT_FILE || name == RETIRED_FILE;
        if input || is_dir || tmp.join(&name).exists() || ours_to_drop {
            continue;
        }
        dfs::hard_link(&entry.path(), &tmp.join(&name))?;
    }
    Ok(())
}

/// Step 4: removes the `data.old/` a swap left behind, if there is one.
pub fn remove_old(root: &Path) -> Result<()> {
    if root.join(DATA_OLD).exists() {
        remove_old_generation(root)?;
        killpoint::hit("merge-old-removed");
    }
    Ok(())
}

/// Removes `data.old/`, first moving back what must not be deleted.
fn remove_old_generation(root: &Path) -> Result<()> {
    move_strange_directories_back(root)?;
    dfs::remove_tree(&root.join(DATA_OLD))?;
    fsync_dir(root)
}

/// Directories in `data.old/` that are not ours (they could not be hard-linked into the new
/// generation) move into `data/`: nothing unknown is ever deleted.
fn move_strange_directories_back(root: &Path) -> Result<()> {
    let (old, data) = (root.join(DATA_OLD), root.join(DATA_DIR));
    let entries = fs::read_dir(&old).map_err(|e| Error::io("list", &old, e))?;
    let mut moved = false;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", &old, e))?;
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && !data.join(entry.file_name()).exists() {
            dfs::rename(&entry.path(), &data.join(entry.file_name()))?;
            moved = true;
        }
    }
    if moved {
        fsync_dir(&data)?;
    }
    Ok(())
}

/// Settles what an interrupted merge left in the root (the caller holds the LOCK):
///
/// | data/ | merge.tmp/ | MERGE_DONE valid | data.old/ | action |
/// |---|---|---|---|---|
/// | yes | yes | any | no | discard merge.tmp (the merge never reached the swap) |
/// | no | yes | yes | yes | rename merge.tmp to data, then remove data.old |
/// | yes | no | - | yes | the swap finished: remove data.old |
/// | any other combination | | | | refuse with `E_CORRUPT`, naming the state |
pub fn settle(root: &Path) -> Result<()> {
    let is_dir = |name: &str| fs::symlink_metadata(root.join(name)).map(|m| m.is_dir()).unwrap_or(false);
    let (data, tmp, old) = (is_dir(DATA_DIR), is_dir(MERGE_TMP), is_dir(DATA_OLD));
    let refuse = |why: &str| {
        Err(Error::Corrupt(format!(
            "{}: interrupted merge in a state that cannot be resolved safely (data/: {data}, merge.tmp/: {tmp}, data.old/: {old}){why}",
            root.display()
        )))
    };
    match (data, tmp, old) {
        (_, false, false) => Ok(()),
        (true, true, false) => discard(root),
        (false, true, true) => match merge_done_valid(&root.join(MERGE_TMP)) {
            Ok(()) => {
                dfs::rename(&root.join(MERGE_TMP), &root.join(DATA_DIR))?;
                fsync_dir(root)?;
                remove_old_generation(root)
            }
            Err(why) => refuse(&format!(": {why}")),
        },
        (true, false, true) => remove_old_generation(root),
        _ => refuse(""),
    }
}

/// A merge's outputs are complete when MERGE_DONE parses and every output it lists is there
/// with exactly the recorded size.
fn merge_done_valid(tmp: &Path) -> std::result::Result<(), String> {
    let path = tmp.join(MERGE_DONE);
    let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let done = MergeDone::parse(&bytes)?;
    for (id, size) in done.outputs {
        let p = tmp.join(data_name(id));
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() && m.len() == size => {}
            _ => return Err(format!("merge output {} is missing or not {size} bytes", p.display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_temporary_names_are_told_from_strangers() {
        for ours in ["000000001.hint.tmp", "000000012.data.tmp", "bitgask.meta.tmp", "bitgask.watermark.tmp"] {
            assert!(is_our_tmp(ours), "{ours}");
        }
        for theirs in ["notes.tmp", "000000001.tmp", "000000001.corrupt.tmp", "x.hint.tmp", "000000001.hint"] {
            assert!(!is_our_tmp(theirs), "{theirs}");
        }
    }
}
