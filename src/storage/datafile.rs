//! Data files: the one being appended (`ActiveFile`, written with `pwrite` at a tracked end) and
//! read handles for every file (`DataFile`: sealed files through a read-only memory map so no
//! descriptor stays open per file, the active file through `pread`).

use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use super::fs::{create_new, data_name, fsync_dir, open_nofollow, read_at, sync_data, truncate, write_at};
use crate::error::{Error, Result};

/// Bytes read from a data file: borrowed from a map, or owned after a `pread`.
pub enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Deref for Bytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b,
            Bytes::Owned(v) => v,
        }
    }
}

enum Reader {
    Pread(Arc<File>),
    Mapped(Mmap),
    Empty,
}

/// A read handle on one data file.
pub struct DataFile {
    pub id: u32,
    pub path: PathBuf,
    reader: Reader,
}

impl DataFile {
    /// Maps a sealed (immutable) file.
    pub fn sealed(dir: &Path, id: u32) -> Result<DataFile> {
        let path = dir.join(data_name(id));
        let file = open_nofollow(&path, false)?;
        Ok(DataFile { id, reader: map(&file, &path)?, path })
    }

    /// Maps the first `len` bytes of a sealed file that is about to be cut to that length (the
    /// tail-first reclaim, docs/DESIGN.md section 7.11): nothing past `len` is ever read through
    /// this handle, so cutting the file under it is safe.
    pub fn sealed_prefix(dir: &Path, id: u32, len: u64) -> Result<DataFile> {
        let path = dir.join(data_name(id));
        let file = open_nofollow(&path, false)?;
        let reader = match len {
            0 => Reader::Empty,
            // SAFETY: as in `map`; the file is only ever cut to `len` or less while this map lives.
            _ => Reader::Mapped(
                unsafe { memmap2::MmapOptions::new().len(len as usize).map(&file) }
                    .map_err(|e| Error::io("mmap", &path, e))?,
            ),
        };
        Ok(DataFile { id, reader, path })
    }

    /// Reads the file being appended through `pread` on the writer's descriptor.
    pub fn active(active: &ActiveFile) -> DataFile {
        DataFile { id: active.id, path: active.path.clone(), reader: Reader::Pread(active.file.clone()) }
    }

    /// Every byte of the file when it is mapped (sealed files); `None` for the active file.
    pub fn mapped(&self) -> Option<&[u8]> {
        match &self.reader {
            Reader::Mapped(m) => Some(m),
            Reader::Empty => Some(&[]),
            Reader::Pread(_) => None,
        }
    }

    /// Reads `len` bytes at `offset`; bytes missing from the file are corruption.
    pub fn read(&self, offset: u64, len: usize) -> Result<Bytes<'_>> {
        let short =
            || Error::corrupt_at(&self.path, offset, format!("record of {len} bytes runs past the end of the file"));
        match &self.reader {
            Reader::Mapped(m) => {
                let end = offset.checked_add(len as u64).filter(|&e| e <= m.len() as u64).ok_or_else(short)?;
                Ok(Bytes::Borrowed(&m[offset as usize..end as usize]))
            }
            Reader::Empty => Err(short()),
            Reader::Pread(f) => {
                let mut buf = vec![0u8; len];
                read_at(f, &self.path, &mut buf, offset).map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => short(),
                    _ => Error::io("read", &self.path, e),
                })?;
                Ok(Bytes::Owned(buf))
            }
        }
    }
}

/// Maps a whole file read-only (an empty file maps to nothing).
fn map(file: &File, path: &Path) -> Result<Reader> {
    let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    if len == 0 {
        return Ok(Reader::Empty);
    }
    // SAFETY: data files below the active one are never modified while a handle is open (the
    // LOCK keeps other bitgask processes out); see the README caveat about outside writers.
    let m = unsafe { Mmap::map(file) }.map_err(|e| Error::io("mmap", path, e))?;
    Ok(Reader::Mapped(m))
}

/// Maps any data file read-only for a one-off scan (recovery, hint building).
pub fn map_for_scan(path: &Path) -> Result<MappedFile> {
    let file = open_nofollow(path, false)?;
    Ok(MappedFile(map(&file, path)?))
}

pub struct MappedFile(Reader);

impl Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Reader::Mapped(m) => m,
            _ => &[],
        }
    }
}

/// The file being appended. Only the writer (under its mutex) touches it.
pub struct ActiveFile {
    pub id: u32,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// Bytes of whole records written; the next record goes here.
    pub len: u64,
}

impl ActiveFile {
    /// Creates the next data file and makes its directory entry durable.
    pub fn create(dir: &Path, id: u32) -> Result<ActiveFile> {
        let path = dir.join(data_name(id));
        let file = create_new(&path)?;
        fsync_dir(dir)?;
        Ok(ActiveFile { id, path, file: Arc::new(file), len: 0 })
    }

    /// Continues appending to an existing file whose valid length is `len`.
    pub fn reopen(dir: &Path, id: u32, len: u64) -> Result<ActiveFile> {
        let path = dir.join(data_name(id));
        let file = open_nofollow(&path, true)?;
        Ok(ActiveFile { id, path, file: Arc::new(file), len })
    }

    /// Appends one buffer with a single positioned write. On failure the partial bytes are cut
    /// off again so the next append does not land after garbage; `Err(.., true)` means that
    /// clean-up also failed and the handle must be poisoned.
    pub fn append(&mut self, buf: &[u8]) -> std::result::Result<u64, (Error, bool)> {
        let at = self.len;
        match write_at(&self.file, &self.path, buf, at) {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(at)
            }
            Err(e) => {
                let err = Error::io("append to", &self.path, e);
                let dirty = truncate(&self.file, &self.path, at).is_err();
                Err((err, dirty))
            }
        }
    }

    pub fn sync(&self) -> Result<()> {
        sync_data(&self.file, &self.path)
    }
}
