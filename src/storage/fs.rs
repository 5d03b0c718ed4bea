//! File-system operations with the durability rules of docs/DESIGN.md section 1.5: every
//! directory that gains or loses an entry is fsynced, files are replaced atomically, and symlinks
//! are never followed.
//!
//! Every file and directory operation of the library goes through this module, which asks the
//! fault injector (`fault::check`, free in normal builds) before each one.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::fault::{self, Op, Verdict};
use crate::error::{Error, Result};

pub const META_FILE: &str = "bitgask.meta";
pub const LOCK_FILE: &str = "LOCK";
/// The keydir snapshot of a clean close, and the name open retires it to
/// (docs/DESIGN.md section 6.7).
pub const SNAPSHOT_FILE: &str = "keydir.snapshot";
pub const RETIRED_SNAPSHOT_FILE: &str = "keydir.snapshot.old";

pub fn data_name(id: u32) -> String {
    format!("{id:09}.data")
}

pub fn hint_name(id: u32) -> String {
    format!("{id:09}.hint")
}

/// What an atomic write names the file it fills before renaming it over `name`.
pub const TMP_SUFFIX: &str = ".tmp";

pub fn tmp_name(name: &str) -> String {
    format!("{name}{TMP_SUFFIX}")
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

/// Asks the fault injector about a non-write operation; hold the guard while doing it.
fn gate(op: Op, path: &Path) -> std::io::Result<fault::Guard> {
    fault::check(op, path, 0).map(|p| p.guard)
}

/// fsync a directory so entries created, renamed or removed in it survive power loss.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| Error::io("open directory", dir, e))?;
    gate(Op::Fsync, dir)
        .and_then(|_g| {
            d.sync_all()?;
            fault::dir_synced(dir);
            Ok(())
        })
        .map_err(|e| Error::io_lost("fsync directory", dir, e))
}

/// fsync a file (data and metadata).
pub fn sync_file(f: &File, path: &Path) -> Result<()> {
    gate(Op::Fsync, path)
        .and_then(|_g| {
            let covered = fault::length(f);
            f.sync_all()?;
            fault::synced(path, f, covered);
            Ok(())
        })
        .map_err(|e| Error::io_lost("fsync", path, e))
}

/// Bytes written after which their writeback is started (merge outputs, the active file): the
/// disk writes while more is still being appended, and the fsync that ends the file (a merge's,
/// a seal's under the writer mutex) has little left to wait for.
pub const WRITEBACK_STEP: u64 = 8 << 20;

/// Asks the kernel to start writing `from..to` of `file` back, without waiting. Only a hint:
/// an error it meets is reported by the fsync that makes the bytes durable.
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, from: u64, to: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a syscall on a descriptor the caller owns; no memory is passed.
    unsafe { libc::sync_file_range(file.as_raw_fd(), from as i64, (to - from) as i64, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File, _from: u64, _to: u64) {}

/// Writes `from..to` of `file` back and waits until it is on the disk (no cache flush, no
/// metadata): done off the writer's path a step behind the appends, it leaves the fsync that
/// ends the file (a seal under the writer mutex) at most a step or two to write, and keeps the
/// file's unwritten backlog, which any fsync on the disk queues behind, short. An error here
/// is a write-back error the next fsync of the file may no longer report (the kernel reports
/// each one once): the caller treats it as a failed fsync.
#[cfg(target_os = "linux")]
pub fn wait_writeback(file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
    use std::os::fd::AsRawFd;
    // A length of 0 would mean "to the end of the file".
    if to <= from {
        return Ok(());
    }
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: a syscall on a descriptor the caller owns; no memory is passed.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), from as i64, (to - from) as i64, flags) };
    match rc {
        0 => Ok(()),
        _ => Err(Error::io_lost("write back", path, std::io::Error::last_os_error())),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn wait_writeback(_file: &File, _path: &Path, _from: u64, _to: u64) -> Result<()> {
    Ok(())
}

/// Writes all of `file` back one `WRITEBACK_STEP` at a time, each step waited for: an fsync
/// anyone else issues meanwhile (a rotation's seal, which a writer may be waiting for) queues
/// behind one step instead of the whole file.
pub fn write_back_stepwise(file: &File, path: &Path) -> Result<()> {
    let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    let mut from = 0;
    while from < len {
        let to = (from + WRITEBACK_STEP).min(len);
        wait_writeback(file, path, from, to)?;
        from = to;
    }
    Ok(())
}

/// fdatasync a file.
pub fn sync_data(f: &File, path: &Path) -> Result<()> {
    gate(Op::Fsync, path)
        .and_then(|_g| {
            let covered = fault::length(f);
            f.sync_data()?;
            fault::synced(path, f, covered);
            Ok(())
        })
        .map_err(|e| Error::io_lost("fdatasync", path, e))
}

/// Writes all of `buf` at `offset` with positioned writes.
pub fn write_at(f: &File, path: &Path, buf: &[u8], offset: u64) -> std::io::Result<()> {
    let pass = fault::check(Op::Write, path, buf.len())?;
    match pass.verdict {
        Verdict::Proceed => {
            f.write_all_at(buf, offset)?;
            fault::wrote(path, f, Some(offset), buf.len());
            Ok(())
        }
        Verdict::Short(n, err) => {
            f.write_all_at(&buf[..n], offset)?;
            fault::wrote(path, f, Some(offset), n);
            Err(err)
        }
    }
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub fn read_at(f: &File, path: &Path, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let _g = gate(Op::Read, path)?;
    f.read_exact_at(buf, offset)
}

/// Sets a file's length (cutting a torn tail or a failed append).
pub fn truncate(f: &File, path: &Path, len: u64) -> Result<()> {
    gate(Op::Truncate, path).and_then(|_g| f.set_len(len)).map_err(|e| Error::io("truncate", path, e))
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    gate(Op::Rename, from)
        .and_then(|_g| {
            fault::removing(to);
            fs::rename(from, to)
        })
        .map_err(|e| Error::io(&format!("rename to {}:", to.display()), from, e))
}

pub fn hard_link(from: &Path, to: &Path) -> Result<()> {
    gate(Op::Create, to).and_then(|_g| fs::hard_link(from, to)).map_err(|e| Error::io("link", from, e))
}

pub fn create_dir(path: &Path) -> Result<()> {
    gate(Op::Create, path).and_then(|_g| fs::create_dir(path)).map_err(|e| Error::io("create directory", path, e))
}

/// Removes a directory tree (never following symlinks).
pub fn remove_tree(path: &Path) -> Result<()> {
    gate(Op::Unlink, path)
        .and_then(|_g| {
            fault::removing(path);
            fs::remove_dir_all(path)
        })
        .map_err(|e| Error::io("remove", path, e))
}

/// A fresh, empty directory `root/name`, durable in `root` (one an interrupted attempt left is
/// removed first): the staging directory a merge or an adoption starts with. Returns its path.
pub fn fresh_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = fresh_dir_unsynced(root, name)?;
    fsync_dir(root)?;
    Ok(dir)
}

/// [`fresh_dir`] without the fsync of `root`: the caller makes the entry durable before
/// anything depends on it.
pub fn fresh_dir_unsynced(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    if dir.exists() {
        remove_tree(&dir)?;
    }
    create_dir(&dir)?;
    Ok(dir)
}

/// A writer whose every write asks the fault injector first (wrap it in a `BufWriter`).
pub struct Checked {
    file: File,
    path: PathBuf,
}

impl Checked {
    pub fn new(file: File, path: &Path) -> Checked {
        Checked { file, path: path.to_path_buf() }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

impl Write for Checked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let pass = fault::check(Op::Write, &self.path, buf.len())?;
        match pass.verdict {
            Verdict::Proceed => {
                let n = self.file.write(buf)?;
                fault::wrote(&self.path, &self.file, None, n);
                Ok(n)
            }
            Verdict::Short(n, err) => {
                self.file.write_all(&buf[..n])?;
                fault::wrote(&self.path, &self.file, None, n);
                Err(err)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl std::io::Seek for Checked {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

/// Opens an existing regular file without following a symlink.
pub fn open_nofollow(path: &Path, write: bool) -> Result<File> {
    let _g = gate(Op::Read, path).map_err(|e| Error::io("open", path, e))?;
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

/// Creates a file that must not exist yet.
pub fn create_new(path: &Path) -> Result<File> {
    let _g = gate(Op::Create, path).map_err(|e| Error::io("create", path, e))?;
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
pub fn atomic_write_with(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut BufWriter<Checked>) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = dir.join(tmp_name(name));
    let dst = dir.join(name);
    remove_if_exists(&tmp)?;
    let written = (|| {
        let mut w = BufWriter::with_capacity(1 << 16, Checked::new(create_new(&tmp)?, &tmp));
        fill(&mut w).map_err(|e| Error::io("write", &tmp, e))?;
        let f = w.into_inner().map_err(|e| Error::io("write", &tmp, e.into_error()))?;
        sync_file(f.file(), &tmp)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = rename(&tmp, &dst) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(dir)
}

/// Removes a file (never a directory, never through a symlink); a missing file is fine.
pub fn remove_if_exists(path: &Path) -> Result<bool> {
    let removed = gate(Op::Unlink, path).and_then(|_g| {
        fault::removing(path);
        fs::remove_file(path)
    });
    match removed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Makes `path` a regular file of `len` bytes whose blocks are allocated (`fallocate`; where the
/// file system cannot, by writing zeros), creating it if missing. Refused with `NoSpace` up
/// front when the file system has less room than that, so it never fills the disk trying.
pub fn preallocate(path: &Path, len: u64) -> Result<()> {
    use std::os::fd::AsRawFd;
    let no_space = || Error::io("preallocate", path, std::io::Error::from_raw_os_error(libc::ENOSPC));
    let have = fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
    let free = free_bytes(path.parent().unwrap_or(Path::new("."))).unwrap_or(u64::MAX);
    if len > have && free < len - have {
        return Err(no_space());
    }
    let _g = gate(Op::Write, path).map_err(|e| Error::io("preallocate", path, e))?;
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    if have > len {
        // A smaller reserve than last time: give the rest back.
        return f.set_len(len).map_err(|e| Error::io("truncate", path, e));
    }
    let n = i64::try_from(len).map_err(|_| no_space())?;
    // SAFETY: a plain syscall on a descriptor this function owns.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, n) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
        return Err(Error::io("preallocate", path, err));
    }
    let zeros = vec![0u8; 1 << 16];
    let mut at = 0;
    while at < len {
        let n = zeros.len().min((len - at) as usize);
        f.write_all_at(&zeros[..n], at).map_err(|e| Error::io("preallocate", path, e))?;
        at += n as u64;
    }
    Ok(())
}

/// Bytes available to this process on the file system holding `dir` (`statvfs`'s `f_bavail`).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is NUL-terminated and `st` is written by the call before it is read.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// Creates a directory if missing and fsyncs its parent when it did not exist.
pub fn ensure_dir(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::InvalidArg(format!("{} exists and is not a directory", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            gate(Op::Create, path)
                .and_then(|_g| fs::create_dir_all(path))
                .map_err(|e| Error::io("create directory", path, e))?;
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            fsync_dir(parent)
        }
        Err(e) => Err(Error::io("stat", path, e)),
    }
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
