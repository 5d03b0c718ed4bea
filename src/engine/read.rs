//! Reads: finding a key's current record and reading it. A reader takes the index lock only to
//! find a location, then either borrows its file from the file table, read-locked until the read
//! is over (`locate_pinned`: the get that copies the value out), or takes a reference of its own to
//! it and reads without any lock held (`locate`: a callback that may call into the engine).

use std::sync::Arc;

use super::lock_order::Ranked;
use super::spread_lock::ReadGuard;
use super::Engine;
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::record::{Header, Record, HEADER_LEN};
use crate::index::Index;
use crate::keydir::Loc;
use crate::storage::datafile::DataFile;
use crate::storage::fs::data_name;

/// A data file borrowed from the file table, which stays locked for reading while it lives.
pub(crate) type PinnedFile<'a> = Ranked<ReadGuard<'a, Arc<DataFile>>>;

/// A handle on a data file: a reference of its own, or a borrow from the pinned table.
trait FileHandle {
    fn data_file(&self) -> &DataFile;
}

impl FileHandle for Arc<DataFile> {
    fn data_file(&self) -> &DataFile {
        self
    }
}

impl FileHandle for PinnedFile<'_> {
    fn data_file(&self) -> &DataFile {
        self
    }
}

/// A keydir entry whose file is not in the file table (also for batched reads).
pub(super) fn missing(id: u32) -> Error {
    Error::Corrupt(format!("keydir points at missing data file {}", data_name(id)))
}

impl Engine {
    /// Runs `f` on the keydir and its byte accounting, under the index lock (for reading). `f`
    /// must not call back into the engine.
    pub fn read_index<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(&self.index.read())
    }

    /// Data files open right now.
    pub fn file_count(&self) -> usize {
        self.files.read().len()
    }

    /// Where `key`'s newest record is as seen by a reader (durable records only).
    pub fn lookup(&self, key: &[u8]) -> Option<Loc> {
        self.index.read().keys.get(key)
    }

    pub fn file(&self, id: u32) -> Result<Arc<DataFile>> {
        let file = self.files.read().get(&id).cloned();
        file.ok_or_else(|| missing(id))
    }

    /// A key's location together with a handle on its file, both taken under the index lock.
    /// A merge adds its outputs to the file table before it repoints the keydir, and drops its
    /// inputs only after, so a reader never holds a location whose file is gone. With
    /// `verified` false the key bytes are not compared (see [`Keydir::probe`]). The handle is a
    /// new reference to the file, which the caller may hold while it calls into the engine; see
    /// [`Engine::locate_pinned`] for the cheaper borrow.
    ///
    /// [`Keydir::probe`]: crate::keydir::Keydir::probe
    pub(super) fn locate(&self, key: &[u8], verified: bool) -> Result<Option<(Loc, Arc<DataFile>)>> {
        Ok(self.locate_pinned(key, verified)?.map(|(loc, file)| (loc, Arc::clone(&file))))
    }

    /// [`Engine::locate`], but the file is borrowed from the file table, which stays locked for
    /// reading until the handle is dropped: a get then writes no cache line another thread's get
    /// writes (cloning an `Arc` would). While holding it the caller must not call into the engine
    /// (a rotation, under the writer's mutex, waits for it; debug builds catch any lock taken).
    pub(super) fn locate_pinned(&self, key: &[u8], verified: bool) -> Result<Option<(Loc, PinnedFile<'_>)>> {
        let index = self.index.read();
        let k = index.keys.hashed(key);
        let loc = if verified { index.keys.get_hashed(&k) } else { index.keys.probe(&k) };
        let Some(loc) = loc else { return Ok(None) };
        let file = self.pin_file(loc.file_id)?;
        // The record's lines load while the index lock is let go of.
        if let Some(m) = file.mapped() {
            crate::prefetch::range(
                (m.as_ptr() as usize).wrapping_add(loc.offset as usize),
                (loc.size as usize).min(512),
            );
        }
        Ok(Some((loc, file)))
    }

    /// File `id` borrowed from the file table, which stays locked for reading meanwhile.
    pub(super) fn pin_file(&self, id: u32) -> Result<PinnedFile<'_>> {
        Ranked::try_map(self.files.read(), |files| files.get(&id)).ok_or_else(|| missing(id))
    }

    /// Reads and CRC-checks the record at `loc` of `file`. A record holding another key is
    /// corruption when the keydir matched the key itself (`verified`), and just "not this key"
    /// (`Ok(None)`, `f` not called) when the location came from a tag-only probe.
    pub(super) fn read_record<R>(
        file: &DataFile,
        key: &[u8],
        loc: Loc,
        verified: bool,
        f: impl FnOnce(Record<'_>) -> Result<R>,
    ) -> Result<Option<R>> {
        let bytes = file.read(loc.offset as u64, loc.size as usize)?;
        let rec = Record::decode(&bytes).map_err(|bad| Error::corrupt_at(&file.path, loc.offset as u64, bad))?;
        if rec.key != key {
            if !verified {
                return Ok(None);
            }
            return Err(Error::corrupt_at(
                &file.path,
                loc.offset as u64,
                "record holds a different key than the keydir says",
            ));
        }
        f(rec).map(Some)
    }

    /// Reads `key`'s current record for a reader; `Ok(None)` when the key is absent. The key is
    /// compared against the record read, not the keydir's copy (one cache miss less per read);
    /// a record of another key (another key sharing its bucket and hash tags, section 5.7) sends the
    /// lookup back to the keydir for an exact comparison. `f` runs with no lock held, so it may
    /// call into the engine.
    pub fn with_current<R>(&self, key: &[u8], f: impl FnOnce(Loc, Record<'_>) -> Result<R>) -> Result<Option<R>> {
        self.current_via(key, |verified| self.locate(key, verified), f)
    }

    /// [`Engine::with_current`] for an `f` that does not call into the engine (copying the value
    /// out): it runs with the file table locked for reading, so the read clones no `Arc` (see
    /// [`Engine::locate_pinned`]).
    pub fn with_current_pinned<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Loc, Record<'_>) -> Result<R>,
    ) -> Result<Option<R>> {
        self.current_via(key, |verified| self.locate_pinned(key, verified), f)
    }

    /// The body of both: `locate(verified)` finds the location and a handle on its file.
    fn current_via<R, H: FileHandle>(
        &self,
        key: &[u8],
        locate: impl Fn(bool) -> Result<Option<(Loc, H)>>,
        f: impl FnOnce(Loc, Record<'_>) -> Result<R>,
    ) -> Result<Option<R>> {
        let mut f = Some(f);
        {
            // The handle goes before the second lookup: that takes the index lock again.
            let Some((loc, file)) = locate(false)? else { return Ok(None) };
            let first =
                Self::read_record(file.data_file(), key, loc, false, |r| (f.take().expect("called once"))(loc, r))?;
            if first.is_some() {
                return Ok(first);
            }
        }
        let f = f.expect("not called on a mismatch");
        match locate(true)? {
            Some((loc, file)) => Self::read_record(file.data_file(), key, loc, true, |r| f(loc, r)),
            None => Ok(None),
        }
    }

    fn header_in(file: &DataFile, loc: Loc) -> Result<Header> {
        let bytes = file.read(loc.offset as u64, HEADER_LEN)?;
        Header::parse(&bytes).map_err(|bad| Error::corrupt_at(&file.path, loc.offset as u64, bad))
    }

    /// Drops `key` from the keydir if it still points at `loc` (lazy expiry of a record a reader
    /// found expired).
    pub fn forget_expired(&self, key: &[u8], loc: Loc) {
        self.index.write().remove_if(key, loc);
    }

    /// Whether the record at `loc` of `key` has expired; an expired key is dropped from the
    /// keydir.
    pub(super) fn drop_if_expired(&self, key: &[u8], loc: Loc) -> Result<bool> {
        let gone = Self::header_in(&*self.file(loc.file_id)?, loc)?.is_expired(now_ns());
        if gone {
            self.forget_expired(key, loc);
        }
        Ok(gone)
    }

    /// The location and header of `key`'s live record; `None` when absent or expired (an
    /// expired key is dropped from the keydir on the way).
    pub fn live_header(&self, key: &[u8]) -> Result<Option<(Loc, Header)>> {
        let (loc, h) = {
            let Some((loc, file)) = self.locate_pinned(key, true)? else { return Ok(None) };
            (loc, Self::header_in(&file, loc)?)
        };
        if h.is_expired(now_ns()) {
            self.forget_expired(key, loc);
            return Ok(None);
        }
        Ok(Some((loc, h)))
    }
}

#[cfg(test)]
mod tests {
    use crate::db::Db;
    use crate::error::Error;
    use crate::options::Options;
    use crate::testutil::TempDir;

    const A: &[u8] = b"the first rather long key";
    const B: &[u8] = b"the second rather long key";

    fn fast() -> Options {
        let mut o = Options::default();
        o.set_sync_on_put(false);
        o
    }

    /// A probe matched by tag lands on a record of another key: the read looks again with a full
    /// comparison, which finds the same entry, so the keydir really points at a wrong record.
    #[test]
    fn an_entry_pointing_at_another_keys_record_reads_as_corruption() {
        let dir = TempDir::new("read");
        let db = Db::open(dir.path(), fast()).unwrap();
        db.put(A, b"1").unwrap();
        db.put(B, b"2").unwrap();
        let e = db.engine();
        let at_b = e.lookup(B).unwrap();
        e.index.write().keys.insert(A, at_b);
        let err = db.get(A).unwrap_err();
        assert!(matches!(&err, Error::Corrupt(m) if m.contains("different key")), "{err}");
        assert_eq!(db.get(B).unwrap().unwrap(), b"2");
    }

    #[test]
    fn short_and_long_keys_read_back_through_the_probe() {
        let dir = TempDir::new("read");
        let db = Db::open(dir.path(), fast()).unwrap();
        for i in 0..2_000u32 {
            db.put(format!("k{i}").as_bytes(), format!("v{i}").as_bytes()).unwrap();
            db.put(format!("a much longer key number {i}").as_bytes(), format!("w{i}").as_bytes()).unwrap();
        }
        for i in 0..2_000u32 {
            assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap().unwrap(), format!("v{i}").as_bytes());
            let long = format!("a much longer key number {i}");
            assert_eq!(db.get(long.as_bytes()).unwrap().unwrap(), format!("w{i}").as_bytes());
        }
        assert_eq!(db.get(b"k2000").unwrap(), None);
        assert_eq!(db.get(b"a much longer key number 2000").unwrap(), None);
    }
}
