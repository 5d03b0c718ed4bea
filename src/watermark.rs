//! The durable watermark (docs/DESIGN.md sections 1.6 and 4.5): how much of the newest data file
//! is known to be on disk, so that open can tell damage a power loss may leave (after the
//! watermark, in bytes never flushed) from corruption of data that was flushed (before it).
//!
//! - At open, reopen and after repair ([`Tracker::settle`]): the newest file is fdatasynced and
//!   its whole valid length recorded, durably, before anything is appended. After a clean close
//!   whose mark already names the newest file at that length, it is taken over as it is
//!   ([`Tracker::resume`]): no fsync.
//! - After each group commit ([`Tracker::advance`]): the length that commit made durable is
//!   written into the other slot, without an fsync of its own. It reaches the disk with the
//!   kernel's writeback or at close ([`Tracker::flush`]); until then the previous mark holds,
//!   which is always true, only less informative.
//! - When a new file whose first record will not be linked to the file below it is made
//!   ([`Tracker::name`], docs/DESIGN.md section 5.6): the file, at length 0, made durable by the
//!   first group commit in it ([`Tracker::flush_name`]).
//!
//! A mark is only ever written after the bytes it covers were flushed, so whatever version of
//! the file a power loss leaves never claims more than is durable. Marks for one handle only
//! grow (file id, then length); open writes one unconditionally, so a mark of a file id a later
//! generation reuses is replaced before that file is appended to.

use std::io::Read;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::format::watermark::{Mark, FILE_LEN, WATERMARK_FILE};
use crate::storage::fs::{self, data_name};

/// What the watermark file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// No watermark file: a database no version with watermarks has opened yet. Every byte of
    /// the newest file counts as durable (the rules before watermarks existed).
    Absent,
    /// A file whose slots are both damaged: nothing of the newest file counts as durable.
    Unreadable,
    At(Mark),
}

impl Known {
    /// Reads `dir`'s watermark file (a symlink in its place is an error, as for every file).
    pub fn read(dir: &Path) -> Result<Known> {
        let path = dir.join(WATERMARK_FILE);
        let mut f = match fs::open_nofollow(&path, false) {
            Ok(f) => f,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(Known::Absent),
            Err(e) => return Err(e),
        };
        let mut b = Vec::with_capacity(FILE_LEN);
        f.by_ref().take(FILE_LEN as u64 + 1).read_to_end(&mut b).map_err(|e| Error::io("read", &path, e))?;
        Ok(Mark::parse_file(&b).map_or(Known::Unreadable, Known::At))
    }

    /// Whether the mark's writer links each rotation's files by their stamps (section 5.6).
    pub fn links(&self) -> bool {
        matches!(self, Known::At(m) if m.links)
    }

    /// Whether the mark says data file `file_id` and every file below it were durable: it names
    /// that file or a higher id (a file named before it was created, whose creation failed).
    pub fn vouches_below(&self, file_id: u32) -> bool {
        matches!(self, Known::At(m) if m.file_id >= file_id)
    }

    /// The offset in data file `file_id` (the newest) below which its bytes are known durable,
    /// so that damage there is corruption rather than a power loss's unflushed tail.
    pub fn durable_below(&self, file_id: u32) -> u64 {
        match self {
            Known::Absent => u64::MAX,
            Known::Unreadable => 0,
            Known::At(m) if m.file_id == file_id => m.len,
            Known::At(_) => 0,
        }
    }

    /// Where the region a crash may have left unsynced begins (docs/DESIGN.md section 4.5):
    /// `(file id, offset)` in one of the two newest data files, `second` (the second-newest, if
    /// any) and `newest`. A file below the two newest is always durable; the second-newest is
    /// durable unless the mark says otherwise (its seal may still have been running: section
    /// 5.6). A mark of the newest file makes the second-newest durable (a mark is only written
    /// once every file below the one it names is durable); a mark of the second-newest starts
    /// the region there; any other mark (older, or naming a file that is gone) and an unreadable
    /// file start it at the second-newest's first byte. No watermark file: nothing is unsynced
    /// (`(newest, u64::MAX)`), the rule before watermarks.
    pub fn unsynced_from(&self, second: Option<u32>, newest: u32) -> (u32, u64) {
        match self {
            Known::Absent => (newest, u64::MAX),
            Known::At(m) if m.file_id == newest => (newest, m.len),
            Known::At(m) if Some(m.file_id) == second => (m.file_id, m.len),
            _ => (second.unwrap_or(newest), 0),
        }
    }

    /// For validate: `None` when data file `id` of the listing `data` (ascending ids) is below
    /// the region [`Known::unsynced_from`] gives, else the offset the region starts at in it.
    pub fn durable_in(&self, data: &[u32], id: u32) -> Option<u64> {
        let newest = *data.last()?;
        let second = data.len().checked_sub(2).map(|i| data[i]);
        match self.unsynced_from(second, newest) {
            (from, _) if id < from => None,
            (from, at) if id == from => Some(at),
            _ => Some(0),
        }
    }

    /// For messages: where the durable region of `file_id` ends.
    pub fn describe(&self, file_id: u32) -> String {
        match self {
            Known::Absent => "end of the file (no watermark file: all of it counts as durable)".into(),
            _ => format!("durable watermark at offset {}", self.durable_below(file_id)),
        }
    }
}

/// The open watermark file of a handle.
struct Slots {
    file: std::fs::File,
    path: PathBuf,
    seq: u64,
    last: (u32, u64),
    /// A file [`Tracker::name`] named whose mark may not be on the disk yet.
    unflushed_name: Option<u32>,
}

impl Slots {
    /// Writes the mark (file_id, len) into the other slot, if it is above the last one.
    fn write(&mut self, file_id: u32, len: u64) -> Result<()> {
        if (file_id, len) <= self.last {
            return Ok(());
        }
        let mark = Mark { seq: self.seq + 1, file_id, len, links: true };
        fs::write_at(&self.file, &self.path, &mark.encode(), mark.slot_offset())
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.seq = mark.seq;
        self.last = (file_id, len);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        fs::sync_data(&self.file, &self.path)?;
        self.unflushed_name = None;
        Ok(())
    }
}

/// Writes the marks of one handle; every method takes only its own mutex, a leaf lock.
#[derive(Default)]
pub(crate) struct Tracker {
    slots: Mutex<Option<Slots>>,
}

impl Tracker {
    /// Makes `newest` (id and valid length; `None`: no data file) durable and records it as
    /// the watermark, durably, replacing what `known` (read before) said.
    ///
    /// The new mark says every file below the newest is durable, so when `known` did not name
    /// the newest file, the second-newest (`second`), whose seal a crash may have interrupted
    /// (docs/DESIGN.md section 5.6), is fsynced first, and `data/` with it (the newest file's
    /// entry may not have been flushed yet).
    pub fn settle(dir: &Path, newest: Option<(u32, u64)>, second: Option<u32>, known: Known) -> Result<Tracker> {
        let (file_id, len) = newest.unwrap_or((0, 0));
        let names_newest = matches!(known, Known::At(m) if m.file_id == file_id);
        if let Some(second) = second.filter(|_| !names_newest) {
            let data = dir.join(data_name(second));
            fs::sync_file(&fs::open_nofollow(&data, false)?, &data)?;
            fs::fsync_dir(dir)?;
        }
        if file_id != 0 {
            let data = dir.join(data_name(file_id));
            fs::sync_data(&fs::open_nofollow(&data, false)?, &data)?;
        }
        let path = dir.join(WATERMARK_FILE);
        let seq = match known {
            Known::At(m) => m.seq + 1,
            _ => 1,
        };
        let mark = Mark { seq, file_id, len, links: true };
        let file = if matches!(known, Known::At(_)) {
            let f = fs::open_nofollow(&path, true)?;
            fs::write_at(&f, &path, &mark.encode(), mark.slot_offset()).map_err(|e| Error::io("write", &path, e))?;
            fs::sync_data(&f, &path)?;
            f
        } else {
            fs::atomic_write(dir, WATERMARK_FILE, &mark.encode_file())?;
            fs::open_nofollow(&path, true)?
        };
        Ok(Tracker { slots: Mutex::new(Some(Slots { file, path, seq, last: (file_id, len), unflushed_name: None })) })
    }

    /// [`Tracker::settle`] for files exactly as a clean close left them (the keydir snapshot's
    /// file list matched every data file's id, size, inode and times): when `known` names the
    /// newest file at its length, that mark is true as it stands (it was written after the
    /// fdatasync that made it so, and close fsynced every file before it wrote the snapshot),
    /// so it is taken over with no fsync and not rewritten; the next mark goes in the other
    /// slot. Anything else settles, a mark of a version without rotation links too: until this
    /// handle's first mark reached the disk, it would keep open from checking the links of the
    /// rotations this handle makes (docs/DESIGN.md section 4.5). The open of a cleanly closed
    /// database then issues neither of those two flushes (data file and mark).
    pub fn resume(dir: &Path, newest: Option<(u32, u64)>, second: Option<u32>, known: Known) -> Result<Tracker> {
        match (known, newest) {
            (Known::At(m), Some(last)) if (m.file_id, m.len) == last && m.links => {
                let path = dir.join(WATERMARK_FILE);
                let file = fs::open_nofollow(&path, true)?;
                Ok(Tracker { slots: Mutex::new(Some(Slots { file, path, seq: m.seq, last, unflushed_name: None })) })
            }
            _ => Tracker::settle(dir, newest, second, known),
        }
    }

    /// Records that data file `file_id` is durable up to `len` (called after the fdatasync that
    /// made it so). Not synced; a failed write leaves the previous mark, which stays true.
    pub fn advance(&self, file_id: u32, len: u64) {
        if let Some(s) = self.slots.lock().as_mut() {
            let _ = s.write(file_id, len);
        }
    }

    /// Names data file `file_id`, empty (or about to be created), with every file below it
    /// durable, as the newest (its length 0), for a file whose first record will not be linked
    /// to the file below it by its stamp (docs/DESIGN.md section 5.6). Not synced:
    /// [`Tracker::flush_name`] does that before a write in the file is acknowledged as durable.
    /// A failure is returned: without the mark, open would take that first record for a sign
    /// that the file below lost its end.
    pub fn name(&self, file_id: u32) -> Result<()> {
        let mut g = self.slots.lock();
        let Some(s) = g.as_mut() else { return Ok(()) };
        s.write(file_id, 0)?;
        s.unflushed_name = Some(file_id);
        Ok(())
    }

    /// Before a write in data file `file_id` is acknowledged as durable: makes durable a name
    /// ([`Tracker::name`]) of that file or one below that is not yet.
    pub fn flush_name(&self, file_id: u32) -> Result<()> {
        match self.slots.lock().as_mut() {
            Some(s) if s.unflushed_name.is_some_and(|n| n <= file_id) => s.sync(),
            _ => Ok(()),
        }
    }

    /// Makes the last mark durable.
    pub fn sync(&self) -> Result<()> {
        self.slots.lock().as_mut().map_or(Ok(()), Slots::sync)
    }

    /// [`Tracker::sync`] where a failure does not matter (close): it leaves an older mark, which
    /// stays true.
    pub fn flush(&self) {
        let _ = self.sync();
    }

    /// Takes over `other`'s file (after a reopen settled a new mark).
    pub fn replace(&self, other: Tracker) {
        *self.slots.lock() = other.slots.into_inner();
    }
}

#[cfg(test)]
#[path = "watermark_tests.rs"]
mod tests;
