//! Hot backup (docs/DESIGN.md section 8.1): a point-in-time copy taken while the database is open.
//!
//! 1. Check the destination: it must not exist or be an empty directory, and must not be the
//!    database root or lie inside it.
//! 2. Block merges (and delete-all) for the duration, so no file goes away mid-copy.
//! 3. Under the writer mutex, once no write is waiting for its group commit, note the active
//!    file's length: that is the point in time. Writers carry on right after.
//! 4. Copy the meta file, every sealed file (with its hint when the hint checks out) and the
//!    active file up to the noted length into a staging directory beside the destination,
//!    fsync everything, then rename the staging directory into place and fsync its parent.
//!    A failure removes the staging directory. No LOCK is copied; the copy opens with `open`.

use std::fs;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::hint::HintView;
use crate::generation::DATA_DIR;
use crate::storage::datafile::map_for_scan;
use crate::storage::fs::{self as dfs, create_new, data_name, fsync_dir, hint_name, open_nofollow, Checked, META_FILE};

pub(crate) fn backup(e: &Engine, dst: &Path) -> Result<()> {
    let dst = check_destination(e.root(), dst)?;
    let no_merge = e.maintenance();
    e.check_open()?;
    let point = no_merge.freeze()?;
    let staging = staging_path(&dst);
    // Only a staging directory this call created is ever removed.
    dfs::create_dir(&staging)?;
    let copied = copy_generation(e.dir(), &staging, &point.files, point.active);
    if let Err(err) = copied.and_then(|_| dfs::rename(&staging, &dst)) {
        let _ = dfs::remove_tree(&staging);
        return Err(err);
    }
    fsync_dir(dst.parent().expect("checked: has a parent"))
}

/// The absolute destination, after the checks of step 1.
fn check_destination(root: &Path, dst: &Path) -> Result<PathBuf> {
    let refuse = |why: &str| Err(Error::InvalidArg(format!("backup destination {}: {why}", dst.display())));
    let name = match dst.file_name() {
        Some(n) => n.to_owned(),
        None => return refuse("has no final path component"),
    };
    let parent = match dst.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p,
        None => Path::new("."),
    };
    let parent = match fs::canonicalize(parent) {
        Ok(p) => p,
        Err(_) => return refuse("its parent directory does not exist"),
    };
    let abs = parent.join(&name);
    match fs::symlink_metadata(&abs) {
        Ok(m) if !m.is_dir() => return refuse("exists and is not a directory"),
        Ok(_) => {
            let mut entries = fs::read_dir(&abs).map_err(|err| Error::io("list", &abs, err))?;
            if entries.next().is_some() {
                return refuse("exists and is not empty");
            }
        }
        Err(_) => {}
    }
    let root = fs::canonicalize(root).map_err(|err| Error::io("resolve", root, err))?;
    let real = fs::canonicalize(&abs).unwrap_or_else(|_| abs.clone());
    if real == root || real.starts_with(&root) {
        return refuse("is the database directory or inside it");
    }
    Ok(abs)
}

/// `.<name>.backup-<pid>` beside the destination.
fn staging_path(dst: &Path) -> PathBuf {
    let name = dst.file_name().expect("checked").to_string_lossy();
    dst.with_file_name(format!(".{name}.backup-{}", std::process::id()))
}

/// Step 4, into the (new, empty) `staging` directory.
fn copy_generation(dir: &Path, staging: &Path, ids: &[u32], active: Option<(u32, u64)>) -> Result<()> {
    let out = staging.join(DATA_DIR);
    dfs::create_dir(&out)?;
    copy_file(&dir.join(META_FILE), &out.join(META_FILE), None)?;
    for &id in ids {
        let src = dir.join(data_name(id));
        match active {
            Some((aid, len)) if aid == id => copy_file(&src, &out.join(data_name(id)), Some(len))?,
            _ => {
                copy_file(&src, &out.join(data_name(id)), None)?;
                copy_hint_if_valid(dir, &out, id)?;
            }
        }
    }
    fsync_dir(&out)?;
    fsync_dir(staging)
}

/// Copies `src` (its first `limit` bytes when given) to a new file `dst` and fsyncs it.
fn copy_file(src: &Path, dst: &Path, limit: Option<u64>) -> Result<()> {
    let mut from = open_nofollow(src, false)?;
    let mut to = BufWriter::with_capacity(1 << 20, Checked::new(create_new(dst)?, dst));
    let copied = match limit {
        Some(n) => io::copy(&mut (&mut from).take(n), &mut to),
        None => io::copy(&mut from, &mut to),
    };
    copied.map_err(|err| Error::io("copy", src, err))?;
    let to = to.into_inner().map_err(|err| Error::io("copy", src, err.into_error()))?;
    dfs::sync_file(to.file(), dst)
}

/// A hint is copied only if it checks out against its data file, so a backup never inherits a
/// damaged hint (it would only slow the copy's open down, but it would not validate clean).
fn copy_hint_if_valid(dir: &Path, out: &Path, id: u32) -> Result<()> {
    let hint = dir.join(hint_name(id));
    let Ok(bytes) = map_for_scan(&hint) else { return Ok(()) };
    let data_len = fs::metadata(dir.join(data_name(id))).map_err(|err| Error::io("stat", &hint, err))?.len();
    if HintView::check(&bytes, id, data_len).is_ok() {
        copy_file(&hint, &out.join(hint_name(id)), None)?;
    }
    Ok(())
}
