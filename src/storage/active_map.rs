//! The active file's shared memory map (docs/DESIGN.md section 5.6): the writer appends a record
//! by copying it into the map, which puts it in the page cache exactly as a `pwrite` would (it
//! survives a kill -9; an fdatasync of the descriptor flushes it), without a system call. Readers
//! of the active file read through the same map.
//!
//! The map covers 4 GiB of address space from the start of the file, so every offset a keydir
//! location can name lies inside it and the map never moves while the file grows. Only bytes
//! below the file's length may be touched (past it a page faults with `SIGBUS`): the file is
//! grown first, in chunks, by `fallocate`, which allocates the blocks too, so a page of the map
//! can never fail to be written back for lack of space. Readers check against the length of
//! the records appended (`readable`), which never exceeds the file's length.
//!
//! The map lives in an `Arc` shared by the writer's handle and every read handle of the file, so
//! it is unmapped only when the last reader holding it lets go (after sealing swapped a
//! read-only map of the trimmed file in).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Error, Result};

/// Address space mapped for an active file: every `u32` offset.
const MAP_LEN: u64 = 1 << 32;
/// The smallest and largest step the file grows by (it grows by its current size in between),
/// so a small database does not reserve megabytes and a large one calls `fallocate` rarely.
const MIN_STEP: u64 = 64 << 10;
const MAX_STEP: u64 = 4 << 20;
/// The page size the map's advice rounds to.
const PAGE: u64 = 4096;

pub struct ActiveMap {
    raw: MmapRaw,
    /// Bytes of whole records appended: what a reader may read.
    readable: AtomicU64,
}

impl ActiveMap {
    /// Maps `file` read/write, shared; `None` where that is impossible (a 32-bit address space, a
    /// limit on it), and then the file is written with `pwrite` and read with `pread`.
    pub fn new(file: &File, len: u64) -> Option<ActiveMap> {
        let map_len = usize::try_from(MAP_LEN).ok()?;
        let raw = MmapOptions::new().len(map_len).map_raw(file).ok()?;
        Some(ActiveMap { raw, readable: AtomicU64::new(len) })
    }

    /// Whether `len` bytes at `at` lie inside the mapped range.
    pub fn covers(&self, at: u64, len: usize) -> bool {
        at.checked_add(len as u64).is_some_and(|end| end <= self.raw.len() as u64)
    }

    /// Copies `buf` into the map at `at`.
    ///
    /// # Safety
    /// `at + buf.len()` is covered (see [`ActiveMap::covers`]) and at most the file's length, and
    /// no reader reads those bytes meanwhile (they lie at or after `readable`).
    pub unsafe fn write(&self, at: u64, buf: &[u8]) {
        // SAFETY: the caller's contract: inside the map and the file, and no one reads there.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), self.raw.as_mut_ptr().add(at as usize), buf.len()) }
    }

    /// Faults the pages of `from..to` in, writable, in one system call (`MADV_POPULATE_WRITE`,
    /// Linux 5.14; best effort: an older kernel refuses it and appends fault page by page). The
    /// pages become dirty zeros that write-back puts on disk, so the blocks `fallocate` reserved
    /// as unwritten are written once, early: an fdatasync after an append then has no extent to
    /// convert, only data to flush (the "pre-written blocks" limit of `make bench-peers`).
    pub fn populate(&self, from: u64, to: u64) {
        // Populating only faults pages in, it changes no byte (and past the end of the file it
        // fails with EFAULT, not SIGBUS).
        self.advise(from, to, libc::MADV_POPULATE_WRITE);
    }

    /// Drops the map's pages from the one holding `from` to the last one wholly below `to`
    /// (`MADV_DONTNEED`; best effort): their bytes
    /// stay in the page cache, a dirty page's dirty bit moves from the map to the page (nothing
    /// is lost to write-back or an fsync), and a later read faults the page back in read-only.
    /// Called before a write-back step of bytes the writer has finished with: write-back must
    /// write-protect every page still mapped writable, one page and one TLB shootdown (an
    /// interrupt to the writer's CPU) at a time, where the drop flushes the range once.
    ///
    /// Only below bytes no one writes again while the file is active (the appended length when
    /// the step was taken): a store racing with the drop would still land in the page
    /// cache, but its page could be left clean, unseen by write-back and by an fsync.
    pub fn drop_pages(&self, from: u64, to: u64) {
        // On a shared file map the drop only unmaps, no byte of the file changes (the next
        // access faults the page cache's page in again, or, past the end of a file cut
        // meanwhile, with SIGBUS, which no reader risks: it reads below `readable`, and
        // `readable` is lowered before any cut).
        self.advise(from, to / PAGE * PAGE, libc::MADV_DONTNEED);
    }

    /// `madvise(advice)` from the page holding `from` up to `to`, cut at the map's end (best
    /// effort: a refused advice changes nothing). Only for the two advices above, which change
    /// no byte of the file.
    fn advise(&self, from: u64, to: u64, advice: libc::c_int) {
        let start = from / PAGE * PAGE;
        let end = to.min(self.raw.len() as u64);
        if end <= start {
            return;
        }
        // SAFETY: a range inside the map, and an advice that changes no byte (see the callers).
        unsafe {
            libc::madvise(self.raw.as_mut_ptr().add(start as usize).cast(), (end - start) as usize, advice);
        }
    }

    /// The address of the map's first byte (for prefetch hints only: bytes are read through
    /// [`ActiveMap::read`]).
    pub fn addr(&self) -> usize {
        self.raw.as_ptr() as usize
    }

    /// Fetches the cache lines of `len` bytes at `at` ready to be written (a hint: the next
    /// append's copy then finds them owned by this CPU, instead of waiting for each line of the
    /// freshly faulted-in page while the next locked instruction drains the stores).
    pub fn prefetch_for_write(&self, at: u64, len: usize) {
        let base = self.raw.as_ptr() as usize + at as usize;
        let mut a = base & !63;
        while a < base + len {
            crate::prefetch::line_for_write(a);
            a += 64;
        }
    }

    /// Sets the length readers may read up to (after an append, or before a cut).
    pub fn set_readable(&self, len: u64) {
        self.readable.store(len, Ordering::Release);
    }

    /// `len` bytes at `offset`, if they lie below the records appended.
    pub fn read(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len as u64)?;
        if end > self.readable.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: below `readable`, so inside the map and the file (which only shrinks below
        // `readable` after it was lowered); those bytes were written before `readable` was raised
        // past them and are never written again while the file is active.
        Some(unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(offset as usize), len) })
    }
}

/// What growing the file for an append found.
pub enum Grown {
    /// The file is at least as long as asked.
    To(u64),
    /// The file system cannot preallocate (`EOPNOTSUPP`): append with `pwrite` instead.
    Unsupported,
}

/// Grows the file from `room` bytes to at least `end`: by a step of its size (64 KiB to 4 MiB)
/// but not past `limit` (the file size at which it rotates), or, when the file system has no
/// room for that, by exactly what the append needs. `ENOSPC` or `EDQUOT` for that too is
/// `NoSpace` (docs/DESIGN.md section 5.14); nothing was written.
pub fn grow(file: &File, path: &Path, room: u64, end: u64, limit: u64) -> Result<Grown> {
    let want = step_ahead(room, limit).max(end);
    let mut err = match fallocate(file, room, want) {
        Ok(()) => return Ok(Grown::To(want)),
        Err(e) => e,
    };
    if crate::error::is_no_space(&err) && want > end {
        err = match fallocate(file, room, end) {
            Ok(()) => return Ok(Grown::To(end)),
            Err(e) => e,
        };
    }
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Ok(Grown::Unsupported),
        _ => Err(Error::io("preallocate", path, err)),
    }
}

/// Where the file's next step from `room` bytes ends: a step of its size (64 KiB to 4 MiB), but
/// not past `limit` (the rotation size) or the map; `room` itself when there is no room to grow.
pub fn step_ahead(room: u64, limit: u64) -> u64 {
    (room + room.clamp(MIN_STEP, MAX_STEP)).min(MAP_LEN).min(limit).max(room)
}

/// Grows the file from `from` bytes to `to`, ahead of any append that needs it (the prefault
/// thread's step, `growth.rs`); false when it cannot (nothing changed): the append that needs the
/// room then grows the file itself, and reports what stops it.
pub fn grow_to(file: &File, from: u64, to: u64) -> bool {
    to > from && fallocate(file, from, to).is_ok()
}

/// `fallocate` mode 0 of `from..to`: blocks allocated, the file's length raised to `to`.
fn fallocate(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let (Ok(off), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    };
    loop {
        // SAFETY: a plain system call on a descriptor the caller owns.
        if unsafe { libc::fallocate(file.as_raw_fd(), 0, off, len) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::os::unix::fs::FileExt;

    /// Whether the page holding `addr` is mapped in this process (`/proc/self/pagemap`, bit 63).
    fn mapped(addr: usize) -> bool {
        let mut entry = [0u8; 8];
        let pagemap = File::open("/proc/self/pagemap").unwrap();
        pagemap.read_exact_at(&mut entry, (addr / 4096 * 8) as u64).unwrap();
        u64::from_le_bytes(entry) >> 63 == 1
    }

    #[test]
    fn dropped_pages_leave_the_map_keep_their_bytes_and_spare_the_page_holding_the_end() {
        let dir = TempDir::new("drop");
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(dir.path().join("f")).unwrap();
        let Some(map) = ActiveMap::new(&file, 0) else { return };
        let len = 64u64 << 10;
        assert!(matches!(grow(&file, &dir.path().join("f"), 0, len, u64::MAX).unwrap(), Grown::To(_)));
        let bytes: Vec<u8> = (0..len - 100).map(|i| (i * 7 % 251) as u8).collect();
        // SAFETY: inside the map and the file; no reader.
        unsafe { map.write(0, &bytes) };
        map.set_readable(bytes.len() as u64);
        let page = |n: usize| map.addr() + n * 4096;
        assert!(mapped(page(0)) && mapped(page(15)), "written pages are mapped");
        map.drop_pages(100, bytes.len() as u64);
        assert!((0..15).all(|n| !mapped(page(n))), "every page wholly below the end is dropped");
        assert!(mapped(page(15)), "the page holding the end stays mapped");
        assert_eq!(map.read(0, bytes.len()).unwrap(), &bytes[..], "the bytes read back through the map");
        let mut disk = vec![0u8; bytes.len()];
        file.read_exact_at(&mut disk, 0).unwrap();
        assert_eq!(disk, bytes, "and through the file");
    }
}
