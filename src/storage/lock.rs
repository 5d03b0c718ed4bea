//! The LOCK file: `flock(LOCK_EX|LOCK_NB)` held for the handle's lifetime.
//!
//! flock belongs to the open file description, so a second open in the same process (a new
//! description) conflicts exactly like another process does, and a killed process never leaves a
//! lock behind. The file is opened `O_CREAT|O_NOFOLLOW` without `O_TRUNC` and is never renamed
//! or deleted; its "pid=N" text is for humans (and the E_LOCKED message) only.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct LockFile {
    file: File,
}

impl Drop for LockFile {
    /// Unlocks explicitly: a child forked while the handle was open shares the descriptor's
    /// open file description, and closing our copy alone would leave the lock held by it.
    fn drop(&mut self) {
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl LockFile {
    /// Takes the lock, waiting up to `timeout` for another holder to let go (a timeout too large
    /// to add to the clock, such as `u64::MAX` milliseconds, waits for as long as it takes).
    pub fn acquire(path: &Path, timeout: Duration) -> Result<LockFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Error::io("open lock file", path, e))?;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) && err.raw_os_error() != Some(libc::EINTR) {
                return Err(Error::io("flock", path, err));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Locked(format!("{} is held by {}", path.display(), holder(&file))));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Best effort: the text is informational and a failure to write it changes nothing. It
        // is written in place, and the file is cut only when an older, longer text outlasts it:
        // a truncate waits for the file's write-back (0.1-3 ms of every open on a busy disk),
        // and the last holder, often this same process, wrote a text of the same length.
        let text = format!("pid={}\n", std::process::id());
        if file.write_all_at(text.as_bytes(), 0).is_ok() && file.metadata().is_ok_and(|m| m.len() > text.len() as u64) {
            let _ = file.set_len(text.len() as u64);
        }
        Ok(LockFile { file })
    }
}

/// Who holds the lock, from the "pid=N" its holder wrote (for a moment while it writes, an
/// older holder's or a mix of both).
fn holder(file: &File) -> String {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
    match text.trim().strip_prefix("pid=").and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) if pid == std::process::id() => format!("another handle in this process (pid {pid})"),
        Some(pid) => format!("process {pid}"),
        None => "another handle (the LOCK file names no process)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_in_the_same_process_is_refused_until_the_first_is_dropped() {
        let dir = crate::testutil::TempDir::new("lock");
        let p = dir.path().join("LOCK");
        let a = LockFile::acquire(&p, Duration::ZERO).unwrap();
        let err = LockFile::acquire(&p, Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.status(), crate::error::status::E_LOCKED);
        let pid = std::process::id();
        assert!(err.detail().ends_with(&format!("is held by another handle in this process (pid {pid})")), "{err}");
        drop(a);
        LockFile::acquire(&p, Duration::ZERO).unwrap();
    }

    #[test]
    fn the_largest_timeout_waits_for_the_holder_instead_of_overflowing() {
        let dir = crate::testutil::TempDir::new("lock");
        let p = dir.path().join("LOCK");
        let held = LockFile::acquire(&p, Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        LockFile::acquire(&p, Duration::from_millis(u64::MAX)).unwrap();
        releaser.join().unwrap();
    }

    #[test]
    fn an_empty_stale_lock_file_does_not_block() {
        let dir = crate::testutil::TempDir::new("lock");
        let p = dir.path().join("LOCK");
        std::fs::write(&p, b"").unwrap();
        LockFile::acquire(&p, Duration::ZERO).unwrap();
    }

    #[test]
    fn garbage_in_a_stale_lock_file_does_not_block() {
        let dir = crate::testutil::TempDir::new("lock");
        let p = dir.path().join("LOCK");
        std::fs::write(&p, b"\xff\xfegarbage").unwrap();
        LockFile::acquire(&p, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_longer_stale_text_is_cut_to_this_holders_pid() {
        let dir = crate::testutil::TempDir::new("lock");
        let p = dir.path().join("LOCK");
        std::fs::write(&p, b"pid=123456789012345678901234567890\n").unwrap();
        let held = LockFile::acquire(&p, Duration::ZERO).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("pid={}\n", std::process::id()));
        assert_eq!(holder(&held.file), format!("another handle in this process (pid {})", std::process::id()));
    }

    #[test]
    fn a_shorter_stale_text_is_overwritten_whole() {
        let dir = crate::testutil::TempDir::new("lock");
        let p = dir.path().join("LOCK");
        std::fs::write(&p, b"pid=1\n").unwrap();
        drop(LockFile::acquire(&p, Duration::ZERO).unwrap());
        // Again: the same text of the same length, written in place.
        LockFile::acquire(&p, Duration::ZERO).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("pid={}\n", std::process::id()));
    }
}
