//! A full file system (docs/DESIGN.md section 5.14): the reserve file, and the handle's "full"
//! state.
//!
//! Every write needs room: a put for its record, a delete for its tombstone, a merge for the live
//! records it rewrites. On a full disk none of them could run, and nothing through the API could
//! free a byte. So the handle keeps a *reserve*: `<root>/bitgask.reserve`, a file of
//! `reserve_bytes` (default 4 MiB) preallocated at open. When a write fails for lack of space the
//! handle becomes *full*: the reserve file is removed, which gives its blocks back to the file
//! system, and from then on puts are refused with `E_NO_SPACE` before they write anything, so the
//! space the reserve gave back is left to deletes and to merges (which reclaim file by file while
//! full, see `reclaim`). Once the file system has room for the reserve twice over, the reserve is
//! written again and the handle stops being full: writes resume by themselves.
//!
//! The state has its own mutex, outside the engine's lock order: nothing is taken while holding
//! it (it is taken under the writer mutex when an append fails).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::storage::fs::{free_bytes, preallocate, remove_if_exists};

/// The reserve's file name, in the database root beside `LOCK` (never inside `data/`, which
/// merges swap away).
pub const RESERVE_FILE: &str = "bitgask.reserve";

/// The most free space deletes leave on a full disk ([`Space::floor`]).
const FLOOR_MAX: u64 = 1 << 20;

/// What [`Space::snapshot`] reports (and `Db::space`, `bitgask_space_get`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpaceInfo {
    /// The configured reserve size (`reserve_bytes`).
    pub reserve_size: u64,
    /// Bytes the reserve file holds now: `reserve_size` normally, 0 once given back.
    pub reserve_bytes: u64,
    /// Whether the handle is full: a write failed for lack of space and room has not come back.
    /// Puts are refused while it is; deletes and merges run.
    pub full: bool,
    /// Whether space is low: full, or less free than twice the reserve (what it takes to stop
    /// being full). Merges then run file by file (docs/DESIGN.md section 7.10).
    pub low: bool,
    /// Writes refused or failed for lack of space since the handle was opened.
    pub no_space_errors: u64,
    /// Bytes available to this process on the database's file system (`statvfs`), 0 when
    /// unknown.
    pub free_bytes: u64,
}

pub(crate) struct Space {
    path: PathBuf,
    root: PathBuf,
    size: u64,
    held: AtomicU64,
    full: AtomicBool,
    errors: AtomicU64,
    /// Serializes giving the reserve back and writing it again.
    gate: Mutex<()>,
}

impl Space {
    /// Writes the reserve (or tops it up). A file system too full for it leaves the handle full
    /// from the start: opening a database on a full disk must work, or nothing could be deleted.
    pub fn open(root: &Path, size: u64) -> Space {
        let s = Space {
            path: root.join(RESERVE_FILE),
            root: root.to_path_buf(),
            size,
            held: AtomicU64::new(0),
            full: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            gate: Mutex::new(()),
        };
        if size == 0 {
            // No reserve wanted: an old one from a larger setting is given back.
            let _ = remove_if_exists(&s.path);
        } else if s.fill().is_err() {
            let _ = remove_if_exists(&s.path);
            s.full.store(true, Ordering::Release);
        }
        s
    }

    fn fill(&self) -> Result<()> {
        preallocate(&self.path, self.size)?;
        self.held.store(self.size, Ordering::Release);
        Ok(())
    }

    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// Lets a write start. While full, a write that only deletes goes ahead (its tombstone is
    /// what the reserve is for) as long as the free space is at least [`Space::floor`]; any
    /// other first checks whether room came back, and is refused with `NoSpace` if not.
    pub fn admit(&self, deletes_only: bool) -> Result<()> {
        if !self.is_full() || (deletes_only && self.free() >= self.floor()) || self.try_restore() {
            return Ok(());
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        let context = match deletes_only {
            true => format!(
                "{} is full: deletes are refused below {} bytes free, the room a merge needs to reclaim space (merge now)",
                self.root.display(),
                self.floor()
            ),
            false => format!(
                "{} is full: puts are refused until there is room again (delete keys, then merge to reclaim their space)",
                self.root.display()
            ),
        };
        Err(Error::NoSpace { context, source: std::io::Error::from_raw_os_error(libc::ENOSPC) })
    }

    /// Free space deletes leave while the handle is full (docs/DESIGN.md section 5.14): an
    /// eighth of the reserve, at most 1 MiB. The tail-first reclaim (section 7.11) needs room for
    /// the surviving records of at least one chunk; a user who deleted until refused can still
    /// merge.
    pub fn floor(&self) -> u64 {
        (self.size / 8).min(FLOOR_MAX)
    }

    /// A write failed for lack of space: the handle is full and the reserve is given back.
    /// Returns whether this call gave it back (so a delete may try once more on that room).
    pub fn ran_out(&self) -> bool {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let _g = self.gate.lock();
        self.full.store(true, Ordering::Release);
        if self.held.load(Ordering::Acquire) == 0 {
            return false;
        }
        let freed = remove_if_exists(&self.path).is_ok();
        if freed {
            self.held.store(0, Ordering::Release);
        }
        freed
    }

    /// If the file system has room for the reserve twice over, writes it again and stops being
    /// full. Returns whether the handle is no longer full.
    pub fn try_restore(&self) -> bool {
        let _g = self.gate.lock();
        if !self.is_full() {
            return true;
        }
        let room = self.free();
        if room < self.size.saturating_mul(2).max(1) {
            return false;
        }
        if self.size > 0 && self.fill().is_err() {
            let _ = remove_if_exists(&self.path);
            return false;
        }
        self.full.store(false, Ordering::Release);
        true
    }

    /// Full, or less free than twice the reserve: merges should not count on room.
    pub fn is_low(&self) -> bool {
        self.is_full() || self.free() < self.size.saturating_mul(2)
    }

    /// Free bytes of the file system; unknown counts as plenty (a `statvfs` that fails must not
    /// make every merge go file by file or every put be refused).
    pub fn free(&self) -> u64 {
        free_bytes(&self.root).unwrap_or(u64::MAX)
    }

    pub fn snapshot(&self) -> SpaceInfo {
        SpaceInfo {
            reserve_size: self.size,
            reserve_bytes: self.held.load(Ordering::Acquire),
            full: self.is_full(),
            low: self.is_low(),
            no_space_errors: self.errors.load(Ordering::Relaxed),
            free_bytes: free_bytes(&self.root).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn len(p: &Path) -> u64 {
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn open_writes_the_reserve_at_its_size() {
        let dir = TempDir::new("space");
        let s = Space::open(dir.path(), 64 << 10);
        assert_eq!(len(&dir.path().join(RESERVE_FILE)), 64 << 10);
        assert_eq!(s.snapshot().reserve_bytes, 64 << 10);
        assert!(!s.is_full());
        assert!(s.admit(false).is_ok());
    }

    #[test]
    fn a_zero_reserve_writes_no_file_and_removes_an_old_one() {
        let dir = TempDir::new("space");
        Space::open(dir.path(), 4096);
        let s = Space::open(dir.path(), 0);
        assert!(!dir.path().join(RESERVE_FILE).exists());
        assert_eq!(s.snapshot().reserve_bytes, 0);
    }

    #[test]
    fn running_out_gives_the_reserve_back_once() {
        let dir = TempDir::new("space");
        let s = Space::open(dir.path(), 4096);
        assert!(s.ran_out());
        assert!(!dir.path().join(RESERVE_FILE).exists());
        assert!(s.is_full());
        assert!(!s.ran_out(), "nothing left to give back");
        assert_eq!(s.snapshot().no_space_errors, 2);
    }

    #[test]
    fn while_full_deletes_are_admitted_and_room_ends_the_full_state() {
        let dir = TempDir::new("space");
        let s = Space::open(dir.path(), 4096);
        s.ran_out();
        assert!(s.admit(true).is_ok());
        // The test's file system has room: the next put restores the reserve and goes ahead.
        assert!(s.admit(false).is_ok());
        assert!(!s.is_full());
        assert_eq!(len(&dir.path().join(RESERVE_FILE)), 4096);
    }

    #[test]
    fn a_put_is_refused_with_no_space_while_there_is_no_room() {
        let dir = TempDir::new("space");
        // A reserve larger than any file system this runs on can never be restored.
        let s = Space::open(dir.path(), u64::MAX / 4);
        assert!(s.is_full(), "a reserve that cannot be written leaves the handle full");
        let err = s.admit(false).unwrap_err();
        assert!(err.is_no_space(), "{err}");
        assert!(err.to_string().contains("delete keys"), "{err}");
        assert!(s.admit(true).is_ok());
    }
}
