//! Quarantine files, `data/<id>.corrupt` (docs/DESIGN.md section 1.1): bytes cut out of data file
//! `<id>` are appended here, never deleted, so a person can look at them or recover records by
//! hand. Open puts an unsynced tail here (section 4.5); repair puts damaged ranges here (8.3).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::storage::fs::{self, Checked};

/// The quarantine file of data file `id`.
pub fn name(id: u32) -> String {
    format!("{id:09}.corrupt")
}

/// Appends `bytes` to `dir/<id>.corrupt` (created if missing), then fsyncs it and `dir`.
/// Returns the offset in the quarantine file at which `bytes` begin.
pub fn append(dir: &Path, id: u32, bytes: &[u8]) -> Result<u64> {
    let path = dir.join(name(id));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| Error::io("open quarantine", &path, e))?;
    let at = file.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
    let mut q = Checked::new(file, &path);
    q.write_all(bytes).map_err(|e| Error::io("write quarantine", &path, e))?;
    fs::sync_file(q.file(), &path)?;
    fs::fsync_dir(dir)?;
    Ok(at)
}
