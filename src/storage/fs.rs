//! File-system helpers with the durability rules of DESIGN.md: every directory that gains or
//! loses an entry is fsynced, files are replaced atomically, and symlinks are never followed.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const DATA_DIR: &str = "data";
pub const META_FILE: &str = "bitgask.meta";
pub const LOCK_FILE: &str = "LOCK";

pub fn data_name(id: u32) -> String {
    format!("{id:09}.data")
}

pub fn hint_name(id: u32) -> String {
    format!("{id:09}.hint")
}

/// What a data directory holds, by file id, listed numerically.
#[derive(Debug, Default)]
pub struct Listing {
    pub data: Vec<u32>,
    pub hints: BTreeSet<u32>,
    /// Names that are not ours (or are symlinks); left alone.
    pub unknown: Vec<String>,
}

/// Parses `NNNNNNNNN.data` / `.hint`: at least nine decimal digits that fit a u32.
pub fn parse_name(name: &str) -> Option<(u32, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() < 9 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if stem.len() > 9 && stem.starts_with('0') {
        return None;
    }
    Some((stem.parse().ok()?, ext))
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
            _ => out.unknown.push(name),
        }
    }
    out.data.sort_unstable();
    Ok(out)
}

/// fsync a directory so entries created, renamed or removed in it survive power loss.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| Error::io("open directory", dir, e))?;
    d.sync_all().map_err(|e| Error::io("fsync directory", dir, e))
}

/// Opens an existing regular file without following a symlink.
pub fn open_nofollow(path: &Path, write: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

/// Creates a file that must not exist yet.
pub fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("create", path, e))
}

/// Replaces `dir/name` with `bytes`: tmp file, fsync, rename, directory fsync.
pub fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    atomic_write_with(dir, name, |w| w.write_all(bytes))
}

/// Like [`atomic_write`], with the content streamed by `fill` through a buffered writer. The
/// tmp file is removed again if anything fails.
pub fn atomic_write_with(dir: &Path, name: &str, fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    remove_if_exists(&tmp)?;
    let written = (|| {
        let mut w = BufWriter::with_capacity(1 << 16, create_new(&tmp)?);
        fill(&mut w).map_err(|e| Error::io("write", &tmp, e))?;
        let f = w.into_inner().map_err(|e| Error::io("write", &tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &dst).map_err(|e| Error::io("rename", &tmp, e))?;
    fsync_dir(dir)
}

/// Removes a file (never a directory, never through a symlink); a missing file is fine.
pub fn remove_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Creates a directory if missing and fsyncs its parent when it did not exist.
pub fn ensure_dir(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::InvalidArg(format!("{} exists and is not a directory", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(path).map_err(|e| Error::io("create directory", path, e))?;
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            fsync_dir(parent)
        }
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

pub fn data_dir(root: &Path) -> PathBuf {
    root.join(DATA_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_numerically_and_reject_strangers() {
        assert_eq!(parse_name("000000001.data"), Some((1, "data")));
        assert_eq!(parse_name("4294967295.hint"), Some((u32::MAX, "hint")));
        assert_eq!(parse_name("4294967296.data"), None);
        assert_eq!(parse_name("00000001.data"), None);
        assert_eq!(parse_name("0000000001.data"), None);
        assert_eq!(parse_name("00000000x.data"), None);
        assert_eq!(data_name(12), "000000012.data");
    }
}
