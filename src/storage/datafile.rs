//! Data files: the one being appended (`ActiveFile`) and read handles for every file
//! (`DataFile`: sealed files through a read-only memory map so no descriptor stays open per file).
//!
//! The active file is preallocated in chunks and written and read through a shared map
//! (`active_map`, docs/DESIGN.md section 5.6); where it cannot be (no map, a file system without
//! `fallocate`, and always in builds with the fault injector, whose simulated power loss sees
//! `pwrite`s, not stores into a map) it is written with `pwrite` and read with `pread`. Sealing
//! and a clean close trim the unused room, so a sealed or closed file ends at its last record.

use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use super::active_map::{grow, step_ahead, ActiveMap, Grown};
use super::fs::{
    create_new, data_name, fsync_dir, open_nofollow, read_at, start_writeback, sync_data, sync_file, truncate,
    wait_writeback, write_at, WRITEBACK_STEP,
};
use super::growth::{Extent, Growth};
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
    /// The active file's shared map (the writer's).
    Active(Arc<ActiveMap>),
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

    /// Reads the file being appended through the writer's map, or with `pread` on its descriptor.
    pub fn active(active: &ActiveFile) -> DataFile {
        let reader = match &active.map {
            Some(m) => Reader::Active(m.clone()),
            None => Reader::Pread(active.file.clone()),
        };
        DataFile { id: active.id, path: active.path.clone(), reader }
    }

    /// Every byte of the file when it is sealed and mapped; `None` for the active file.
    pub fn mapped(&self) -> Option<&[u8]> {
        match &self.reader {
            Reader::Mapped(m) => Some(m),
            Reader::Empty => Some(&[]),
            Reader::Pread(_) | Reader::Active(_) => None,
        }
    }

    /// Starts loading the cache lines of `len` bytes at `offset` (up to 512) when the file is
    /// read through a map; a hint only, so an offset past the end costs nothing but the hint.
    pub fn prefetch(&self, offset: u64, len: usize) {
        let base = match &self.reader {
            Reader::Mapped(m) => m.as_ptr() as usize,
            Reader::Active(m) => m.addr(),
            Reader::Pread(_) | Reader::Empty => return,
        };
        crate::prefetch::range(base.wrapping_add(offset as usize), len.min(512));
    }

    /// Tells the kernel a sealed file is about to be read front to back once (a merge input):
    /// read ahead aggressively, and start now. Only a hint; its failure changes nothing.
    pub fn advise_sequential(&self) {
        if let Reader::Mapped(m) = &self.reader {
            let _ = m.advise(memmap2::Advice::Sequential);
            let _ = m.advise(memmap2::Advice::WillNeed);
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
            Reader::Active(m) => m.read(offset, len).map(Bytes::Borrowed).ok_or_else(short),
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
    /// The file's length as the writer knows it: `len` plus the room preallocated after it (a
    /// step the prefault thread allocated may have made the file longer already).
    room: u64,
    /// The file's length, locked while it changes (`growth.rs`).
    extent: Arc<Extent>,
    /// The shared map appends go through, while the file system preallocates.
    map: Option<Arc<ActiveMap>>,
    /// Room is never preallocated past this length (the rotation size).
    limit: u64,
    /// Writeback has been started for the bytes below here.
    kicked: u64,
    /// `len` when [`ActiveFile::seal`] last made the file durable and trimmed: a second seal
    /// with nothing appended since (a merge's swap seals, then adopts) has nothing to flush.
    sealed_at: Option<u64>,
    /// A step of room for the prefault thread to allocate ([`ActiveFile::growth_due`]).
    due: Option<Growth>,
    /// A step was handed over and the writer has not taken its room yet.
    stepping: bool,
}

/// A step of the active file to write back early ([`ActiveFile::writeback_due`]).
pub struct WritebackStep {
    file: Arc<File>,
    path: PathBuf,
    /// The writer's map, whose pages of the step are dropped before write-back starts.
    map: Option<Arc<ActiveMap>>,
    from: u64,
    to: u64,
}

impl WritebackStep {
    /// Starts writing the step back and waits until every byte before it is written. An error
    /// is a write-back failure the file's next fsync may not report: the caller treats it as a
    /// failed fsync (docs/DESIGN.md section 5.5).
    ///
    /// The step's pages are dropped from the writer's map first (`ActiveMap::drop_pages`: the
    /// writer has written past them for good, so no store races the drop): write-back then finds
    /// them unmapped and has nothing to write-protect. (Write-protecting them page by page, each
    /// with an interrupt to the writer's CPU, was 22% of a no-sync put run's samples.)
    pub fn run(&self) -> Result<()> {
        if let Some(map) = &self.map {
            map.drop_pages(self.from, self.to);
        }
        start_writeback(&self.file, self.from, self.to);
        wait_writeback(&self.file, &self.path, 0, self.from)
    }
}

/// The early write-back step within the last `WRITEBACK_STEP` before the rotation size.
const WRITEBACK_TAIL_STEP: u64 = 1 << 20;

/// When the room left after an append drops below this, the file's next step goes to the prefault
/// thread, which allocates it and faults its pages in while the writer fills the rest.
const GROW_AHEAD: u64 = 4 << 20;

impl ActiveFile {
    /// Creates the next data file and makes its directory entry durable.
    pub fn create(dir: &Path, id: u32) -> Result<ActiveFile> {
        let fresh = ActiveFile::create_unsynced(dir, id)?;
        fsync_dir(dir)?;
        Ok(fresh)
    }

    /// Creates the next data file at a rotation, leaving its directory entry to the seal of the
    /// file before it, which fsyncs the directory once that file is durable
    /// (docs/DESIGN.md section 5.6).
    pub fn create_unsynced(dir: &Path, id: u32) -> Result<ActiveFile> {
        let path = dir.join(data_name(id));
        let file = create_new(&path)?;
        Ok(ActiveFile::with_map(id, path, file, 0, 0))
    }

    /// Continues appending to an existing file whose valid length is `len` (recovery trimmed
    /// anything after it).
    pub fn reopen(dir: &Path, id: u32, len: u64) -> Result<ActiveFile> {
        let path = dir.join(data_name(id));
        let file = open_nofollow(&path, true)?;
        let room = file.metadata().map_err(|e| Error::io("stat", &path, e))?.len().max(len);
        Ok(ActiveFile::with_map(id, path, file, len, room))
    }

    fn with_map(id: u32, path: PathBuf, file: File, len: u64, room: u64) -> ActiveFile {
        // The fault injector simulates power loss from the writes it sees: keep `pwrite` there.
        let map = match cfg!(feature = "fault-injection") {
            true => None,
            false => ActiveMap::new(&file, len).map(Arc::new),
        };
        ActiveFile {
            id,
            path,
            file: Arc::new(file),
            len,
            room,
            extent: Extent::new(room),
            map,
            limit: u64::MAX,
            kicked: len,
            sealed_at: None,
            due: None,
            stepping: false,
        }
    }

    /// Preallocates no room past `limit` bytes (`max_file_size`: a file rotates there, so room
    /// beyond it would only be trimmed again).
    pub fn limited(mut self, limit: u64) -> ActiveFile {
        self.limit = limit;
        self
    }

    /// Appends one buffer: copied into the map (after growing the file if the room is used up),
    /// or with a single positioned write. On failure nothing of it stays in the file, so the
    /// next append does not land after garbage; `Err(.., true)` means cutting a partial write
    /// off failed and the handle must be poisoned.
    /// With `ahead` (not on a full disk, where the room would take what deletes need),
    /// the file's next step goes to the prefault thread once little room is left.
    pub fn append(&mut self, buf: &[u8], ahead: bool) -> std::result::Result<u64, (Error, bool)> {
        let at = self.len;
        // Borrowed, not cloned: an `Arc` clone and drop per append were two locked instructions,
        // and the drop's waited for the copy's stores to reach the cache (about 20 ns a put).
        if let Some(map) = self.map.as_ref().filter(|m| m.covers(at, buf.len())) {
            let end = at + buf.len() as u64;
            if self.stepping {
                // The room of a step the prefault thread has allocated.
                let grown = self.extent.grown();
                if grown > self.room {
                    self.room = grown;
                    self.stepping = false;
                }
            }
            if end > self.room {
                // Waits for a step being allocated, which may make the room.
                let mut len = self.extent.lock();
                self.room = self.room.max(len.get());
                self.stepping = false;
                if end > self.room {
                    match grow(&self.file, &self.path, self.room, end, self.limit).map_err(|e| (e, false))? {
                        Grown::To(room) => {
                            len.set(room);
                            // Before the copy, so the record's own page needs no fault either.
                            map.populate(self.room, room);
                            self.room = room;
                        }
                        Grown::Unsupported => {
                            drop(len);
                            return self.write(buf);
                        }
                    }
                }
            }
            // SAFETY: covered by the map, below the file's length (`room`), and at or after
            // `readable`, where no reader reads.
            unsafe { map.write(at, buf) };
            self.len = end;
            map.set_readable(end);
            // The next record most likely has this one's size; only inside the room, so the
            // hint is never for a page past the end of the file.
            map.prefetch_for_write(end, buf.len().min((self.room - end) as usize).min(256));
            if ahead && !self.stepping && self.room - end < GROW_AHEAD {
                let to = step_ahead(self.room, self.limit);
                if to > self.room {
                    self.due = Some(self.extent.step(&self.file, map, self.room, to));
                    self.stepping = true;
                }
            }
            return Ok(at);
        }
        self.write(buf)
    }

    /// The next step of room, once, for the prefault thread to allocate and fault in writable
    /// ([`Growth::run`]): the writer then makes neither the system call, which can wait for the
    /// disk, nor the page faults. If it gets there first, it grows the file and faults the pages
    /// in itself.
    pub fn growth_due(&mut self) -> Option<Growth> {
        self.due.take()
    }

    /// The bytes appended since the last call once they make a full step (`WRITEBACK_STEP`,
    /// `WRITEBACK_TAIL_STEP` near the rotation size), for the background thread to write back
    /// (`WritebackStep::run`): off the writer's path, it starts that step and waits for
    /// everything before it, so the seal's fsync, which runs under the writer mutex, finds at
    /// most the last two steps unwritten even while a merge keeps the disk busy.
    pub fn writeback_due(&mut self) -> Option<WritebackStep> {
        // Finer steps over the last one before the rotation size: what the seal's fsync finds
        // unwritten, and writes itself under the writer mutex, shrinks with them.
        let step = match self.limit.saturating_sub(self.len) <= WRITEBACK_STEP {
            true => WRITEBACK_TAIL_STEP,
            false => WRITEBACK_STEP,
        };
        if self.len.saturating_sub(self.kicked) < step {
            return None;
        }
        let from = std::mem::replace(&mut self.kicked, self.len);
        let (file, path, map) = (self.file.clone(), self.path.clone(), self.map.clone());
        Some(WritebackStep { file, path, map, from, to: self.len })
    }

    /// Appends with `pwrite`, cutting a partial write off again.
    fn write(&mut self, buf: &[u8]) -> std::result::Result<u64, (Error, bool)> {
        let at = self.len;
        match write_at(&self.file, &self.path, buf, at) {
            Ok(()) => {
                self.len += buf.len() as u64;
                self.room = self.room.max(self.len);
                self.extent.lock().set(self.room);
                if let Some(m) = &self.map {
                    m.set_readable(self.len);
                }
                Ok(at)
            }
            Err(e) => {
                let err = Error::io("append to", &self.path, e);
                let dirty = self.cut(at).is_err();
                Err((err, dirty))
            }
        }
    }

    /// Cuts the file to `len` bytes (records at and after it are dropped), with no fsync.
    pub fn cut(&mut self, len: u64) -> Result<()> {
        if let Some(m) = &self.map {
            m.set_readable(len.min(self.len));
        }
        self.sealed_at = None;
        self.end_at(len, true)?;
        self.len = len;
        Ok(())
    }

    /// Makes the file end at `len` bytes if it is longer (a step the prefault thread allocated
    /// included), or `always`; returns whether it was longer. Every step queued so far is
    /// retired first, so none grows the file afterwards (`growth.rs`).
    fn end_at(&mut self, len: u64, always: bool) -> Result<bool> {
        let mut locked = self.extent.lock();
        locked.retire();
        self.due = None;
        self.stepping = false;
        self.room = self.room.max(locked.get());
        let longer = self.room > len;
        if longer || always {
            truncate(&self.file, &self.path, len)?;
            locked.set(len);
            self.room = len;
        }
        Ok(longer)
    }

    pub fn sync(&self) -> Result<()> {
        sync_data(&self.file, &self.path)
    }

    /// Cuts the room preallocated after the last record, without a flush: a rotation does this
    /// under the writer mutex, so that after a process crash the full file ends at its last
    /// record (the fsync follows on the seal thread, docs/DESIGN.md section 5.6). Returns
    /// whether the length changed (the fsync must then carry it: a full fsync, not fdatasync).
    pub fn trim(&mut self) -> Result<bool> {
        self.end_at(self.len, false)
    }

    /// Makes the file end at its last record, durably: cut the room preallocated after it, then
    /// one fsync for the records and the new length together (fdatasync alone when there was
    /// no room). Done when the file is sealed or closed cleanly, so those files hold records
    /// only (docs/DESIGN.md section 4.5). Until the fsync returns the file is still the newest
    /// one, whose unsynced tail open judges by the torn-tail rule whatever reached the disk.
    pub fn seal(&mut self) -> Result<()> {
        if self.sealed_at == Some(self.len) {
            return Ok(());
        }
        if self.end_at(self.len, false)? {
            sync_file(&self.file, &self.path)?;
        } else {
            self.sync()?;
        }
        self.sealed_at = Some(self.len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{encode, HEADER_LEN};
    use crate::testutil::TempDir;

    fn file_len(a: &ActiveFile) -> u64 {
        std::fs::metadata(&a.path).unwrap().len()
    }

    /// Appends `n` records, checking each reads back through the active handle.
    fn fill(a: &mut ActiveFile, reader: &DataFile, n: u64) -> Vec<(u64, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let rec = encode(i + 1, 0, 0, format!("k{i}").as_bytes(), &vec![i as u8; 100 + i as usize]);
                let at = a.append(&rec, true).unwrap();
                assert_eq!(&*reader.read(at, rec.len()).unwrap(), &rec[..], "record {i}");
                (at, rec)
            })
            .collect()
    }

    /// An active file whose appends go through its map (not in fault-injection builds), and a
    /// record for it.
    fn mapped(dir: &TempDir, id: u32) -> Option<(ActiveFile, Vec<u8>)> {
        let a = ActiveFile::create(dir.path(), id).unwrap();
        a.map.is_some().then(|| (a, encode(1, 0, 0, b"key", &[7u8; 100])))
    }

    /// Appends `rec` with `ahead` until a step of room is due for the prefault thread.
    fn until_step(a: &mut ActiveFile, rec: &[u8]) -> Growth {
        loop {
            a.append(rec, true).unwrap();
            if let Some(step) = a.growth_due() {
                return step;
            }
        }
    }

    #[test]
    fn the_next_step_goes_to_the_prefault_thread_once_and_not_on_a_full_disk() {
        let dir = TempDir::new("ahead");
        let Some((mut a, rec)) = mapped(&dir, 1) else { return };
        a.append(&rec, false).unwrap();
        assert!(a.growth_due().is_none(), "without `ahead` the room grows only when needed");
        let room = a.room;
        let step = until_step(&mut a, &rec);
        let (from, to) = step.range();
        assert_eq!((from, to), (room, step_ahead(room, u64::MAX)));
        assert_eq!(file_len(&a), room, "the writer does not allocate the step");
        a.append(&rec, true).unwrap();
        assert!(a.growth_due().is_none(), "one step at a time");
        step.run();
        assert_eq!(file_len(&a), to, "the prefault thread allocates it");
        a.append(&rec, true).unwrap();
        assert_eq!(a.room, to, "and the writer takes its room");
        let mut b = ActiveFile::create(dir.path(), 2).unwrap().limited(to);
        b.append(&rec, true).unwrap();
        while let Some(step) = b.growth_due() {
            step.run();
            b.append(&rec, true).unwrap();
        }
        assert!(b.room <= to && file_len(&b) <= to, "never past the rotation size");
    }

    #[test]
    fn a_step_queued_before_a_trim_or_a_cut_allocates_nothing() {
        let dir = TempDir::new("stale");
        for (id, cut) in [(1, false), (2, true)] {
            let Some((mut a, rec)) = mapped(&dir, id) else { return };
            let step = until_step(&mut a, &rec);
            match cut {
                true => a.cut(a.len - rec.len() as u64).unwrap(),
                false => assert!(a.trim().unwrap()),
            }
            let len = file_len(&a);
            step.run();
            assert_eq!(file_len(&a), len, "cut: {cut}");
            // The file grows again from where it ends now: no hole below the room.
            a.append(&rec, true).unwrap();
            assert_eq!(file_len(&a), a.room, "cut: {cut}");
        }
    }

    /// A step queued by the append that used the room up to the byte starts where the file
    /// still ends after a trim with nothing to cut: the trim retires it all the same.
    #[test]
    fn a_step_queued_when_the_room_is_used_up_exactly_does_not_grow_a_trimmed_file() {
        let dir = TempDir::new("exact");
        let Some((mut a, rec)) = mapped(&dir, 1) else { return };
        a.append(&rec, false).unwrap();
        let fill = (a.room - a.len) as usize;
        let last = encode(2, 0, 0, b"k", &vec![1u8; fill - HEADER_LEN - 1]);
        assert_eq!(last.len(), fill);
        a.append(&last, true).unwrap();
        let step = a.growth_due().expect("no room left: a step ahead");
        assert_eq!(step.range().0, a.len, "the step starts where the file ends");
        assert!(!a.trim().unwrap(), "nothing to cut");
        step.run();
        assert_eq!(file_len(&a), a.len, "a trimmed file ends at its last record");
    }

    #[test]
    fn a_writer_that_outruns_its_step_grows_the_file_itself_and_the_late_step_does_nothing() {
        let dir = TempDir::new("outrun");
        let Some((mut a, rec)) = mapped(&dir, 1) else { return };
        let step = until_step(&mut a, &rec);
        let (from, _) = step.range();
        while a.len <= from {
            a.append(&rec, true).unwrap();
        }
        let grown = file_len(&a);
        assert!(grown > from && grown == a.room);
        step.run();
        assert_eq!(file_len(&a), grown);
    }

    #[test]
    fn steps_allocated_on_another_thread_while_appending_lose_no_record_and_seal_to_the_last() {
        let dir = TempDir::new("racing");
        let Some((mut a, _)) = mapped(&dir, 1) else { return };
        let reader = DataFile::active(&a);
        let (tx, rx) = std::sync::mpsc::channel::<Growth>();
        let prefault = std::thread::spawn(move || rx.into_iter().for_each(Growth::run));
        let mut recs = Vec::new();
        for i in 0..200_000u64 {
            let rec = encode(i + 1, 0, 0, &i.to_le_bytes(), &[i as u8; 100]);
            recs.push((a.append(&rec, true).unwrap(), rec));
            if let Some(step) = a.growth_due() {
                tx.send(step).unwrap();
            }
            assert!(file_len(&a) >= a.len);
        }
        drop(tx);
        prefault.join().unwrap();
        for (at, rec) in &recs {
            assert_eq!(&*reader.read(*at, rec.len()).unwrap(), &rec[..]);
        }
        a.seal().unwrap();
        assert_eq!(file_len(&a), a.len, "a sealed file ends at its last record");
    }

    #[test]
    fn an_active_file_reads_what_it_appends_and_seals_to_its_last_record() {
        let dir = TempDir::new("active");
        let mut a = ActiveFile::create(dir.path(), 1).unwrap();
        let reader = DataFile::active(&a);
        let recs = fill(&mut a, &reader, 2000);
        assert!(file_len(&a) >= a.len, "the file covers every record");
        if !cfg!(feature = "fault-injection") && a.map.is_some() {
            assert!(file_len(&a) > a.len, "room is preallocated ahead of the records");
        }
        assert!(reader.read(a.len, 1).is_err(), "nothing past the records is readable");
        a.seal().unwrap();
        assert_eq!(file_len(&a), a.len, "a sealed file ends at its last record");
        let sealed = DataFile::sealed(dir.path(), 1).unwrap();
        for (at, rec) in &recs {
            assert_eq!(&*sealed.read(*at, rec.len()).unwrap(), &rec[..]);
        }
        drop(a);
        let (at, rec) = recs.last().unwrap();
        assert_eq!(&*reader.read(*at, rec.len()).unwrap(), &rec[..], "a reader keeps the map alive");
    }

    #[test]
    fn write_back_runs_in_full_steps_then_finer_ones_before_the_rotation_size() {
        let dir = TempDir::new("steps");
        let limit = 2 * WRITEBACK_STEP;
        let mut a = ActiveFile::create(dir.path(), 1).unwrap().limited(limit);
        let rec = encode(1, 0, 0, b"key", &vec![7u8; 64 << 10]);
        let mut steps = Vec::new();
        while a.len + rec.len() as u64 <= limit {
            a.append(&rec, true).unwrap();
            if let Some(step) = a.writeback_due() {
                step.run().unwrap();
                steps.push((step.from, step.to));
            }
        }
        let (from, to) = steps[0];
        assert!(from == 0 && to >= WRITEBACK_STEP && to < WRITEBACK_STEP + rec.len() as u64, "{steps:?}");
        assert!(steps.windows(2).all(|w| w[0].1 == w[1].0), "each step starts where the last ended");
        let tail = &steps[1..];
        assert!(tail.len() >= 6, "finer steps over the last stretch: {steps:?}");
        assert!(tail.iter().all(|(f, t)| t - f < WRITEBACK_TAIL_STEP + rec.len() as u64), "{steps:?}");
        a.seal().unwrap();
        assert_eq!(file_len(&a), a.len);
        a.seal().unwrap();
        assert_eq!(a.sealed_at, Some(a.len), "a second seal with nothing appended is a no-op");
    }

    /// Evicts the file's clean, unmapped pages from the page cache, so reads come from the disk.
    fn evict(a: &ActiveFile) {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor.
        unsafe { libc::posix_fadvise(a.file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }

    #[test]
    fn pages_dropped_before_write_back_read_back_the_same_through_the_map_from_the_disk_and_after_reopen() {
        let dir = TempDir::new("dropped");
        let mut a = ActiveFile::create(dir.path(), 1).unwrap();
        let reader = DataFile::active(&a);
        let mut recs = Vec::new();
        let mut steps = 0;
        while steps < 2 {
            let i = recs.len() as u64;
            let rec =
                encode(i + 1, 0, 0, format!("k{i}").as_bytes(), &vec![(i % 251) as u8 + 1; 4000 + i as usize % 97]);
            recs.push((a.append(&rec, true).unwrap(), rec));
            if let Some(step) = a.writeback_due() {
                step.run().unwrap();
                steps += 1;
            }
        }
        // After the last step: into the page holding its end, which stayed mapped, and on.
        recs.extend(fill(&mut a, &reader, 50));
        let check = |how: &str, read: &dyn Fn(u64, usize) -> Vec<u8>| {
            for (at, rec) in &recs {
                assert!(read(*at, rec.len()) == *rec, "record at {at} differs {how}");
            }
        };
        check("through the map", &|at, n| reader.read(at, n).unwrap().to_vec());
        a.sync().unwrap();
        evict(&a);
        let from_disk = |at, n| {
            let mut buf = vec![0u8; n];
            read_at(&a.file, &a.path, &mut buf, at).unwrap();
            buf
        };
        check("from the disk after an fdatasync (no dirty bit lost with a dropped page)", &from_disk);
        check("through the map, faulted back in", &|at, n| reader.read(at, n).unwrap().to_vec());
        a.seal().unwrap();
        let len = a.len;
        drop((a, reader));
        let sealed = DataFile::sealed(dir.path(), 1).unwrap();
        check("after reopen", &|at, n| sealed.read(at, n).unwrap().to_vec());
        let a = ActiveFile::reopen(dir.path(), 1, len).unwrap();
        check("through a reopened active file", &|at, n| DataFile::active(&a).read(at, n).unwrap().to_vec());
    }

    #[test]
    fn readers_and_appends_racing_the_drop_of_written_pages_see_every_byte() {
        let dir = TempDir::new("race");
        let mut a = ActiveFile::create(dir.path(), 1).unwrap();
        let reader = Arc::new(DataFile::active(&a));
        let first = encode(1, 0, 0, b"first", &[9u8; 300]);
        a.append(&first, true).unwrap();
        let (steps, todo) = std::sync::mpsc::channel::<WritebackStep>();
        let background = std::thread::spawn(move || todo.iter().map(|s| s.run().unwrap()).count());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, halt) = (reader.clone(), stop.clone());
        let reads = std::thread::spawn(move || {
            let mut n = 0u64;
            while !halt.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(&*r.read(0, first.len()).unwrap(), &first[..], "read {n}");
                n += 1;
            }
            n
        });
        let mut recs = Vec::new();
        while a.len < 2 * WRITEBACK_STEP + 4096 {
            let i = recs.len() as u64;
            let rec = encode(i + 2, 0, 0, &i.to_le_bytes(), &vec![(i % 253) as u8; 700]);
            recs.push((a.append(&rec, true).unwrap(), rec));
            if let Some(step) = a.writeback_due() {
                steps.send(step).unwrap();
            }
        }
        drop(steps);
        assert!(background.join().unwrap() >= 2, "steps ran beside the appends");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reads.join().unwrap() > 0);
        for (at, rec) in &recs {
            assert_eq!(&*reader.read(*at, rec.len()).unwrap(), &rec[..], "record at {at}");
        }
        a.sync().unwrap();
        evict(&a);
        for (at, rec) in &recs {
            let mut disk = vec![0u8; rec.len()];
            read_at(&a.file, &a.path, &mut disk, *at).unwrap();
            assert!(disk == *rec, "record at {at} reached the disk with the fdatasync");
        }
        a.seal().unwrap();
        let sealed = DataFile::sealed(dir.path(), 1).unwrap();
        assert!(recs.iter().all(|(at, rec)| *sealed.read(*at, rec.len()).unwrap() == rec[..]));
    }

    #[test]
    fn a_record_larger_than_the_growth_step_is_appended_whole() {
        let dir = TempDir::new("active");
        let mut a = ActiveFile::create(dir.path(), 1).unwrap();
        let reader = DataFile::active(&a);
        fill(&mut a, &reader, 3);
        let big = encode(9, 0, 0, b"big", &vec![7u8; 9 << 20]);
        let at = a.append(&big, true).unwrap();
        assert_eq!(&*reader.read(at, big.len()).unwrap(), &big[..]);
        a.seal().unwrap();
        assert_eq!(file_len(&a), at + big.len() as u64);
    }

    #[test]
    fn room_is_never_preallocated_past_the_limit() {
        let dir = TempDir::new("active");
        let mut a = ActiveFile::create(dir.path(), 1).unwrap().limited(4096);
        let reader = DataFile::active(&a);
        fill(&mut a, &reader, 10);
        assert!(file_len(&a) <= 4096.max(a.len), "{} bytes for {} of records", file_len(&a), a.len);
    }

    #[test]
    fn a_reopened_file_appends_at_its_valid_length_and_a_cut_hides_what_it_drops() {
        let dir = TempDir::new("active");
        let mut a = ActiveFile::create(dir.path(), 1).unwrap();
        let reader = DataFile::active(&a);
        let recs = fill(&mut a, &reader, 10);
        a.seal().unwrap();
        let len = a.len;
        drop((a, reader));
        let mut a = ActiveFile::reopen(dir.path(), 1, len).unwrap();
        let reader = DataFile::active(&a);
        let more = fill(&mut a, &reader, 10);
        assert_eq!(more[0].0, len, "appends go on at the valid length");
        let (cut, rec) = &more[5];
        a.cut(*cut).unwrap();
        assert!(reader.read(*cut, rec.len()).is_err(), "a record cut off is not readable");
        assert_eq!(file_len(&a), *cut);
        let again = a.append(rec, true).unwrap();
        assert_eq!((again, &*reader.read(again, rec.len()).unwrap()), (*cut, &rec[..]));
        assert_eq!(&*reader.read(recs[0].0, recs[0].1.len()).unwrap(), &recs[0].1[..]);
    }
}
