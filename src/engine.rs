//! The shared state behind a `Db` handle and the machinery of writes and reads: appending under
//! the writer mutex, rotation, group commit, and record lookup.
//!
//! Write path, step by step:
//! 1. The record is encoded (and compressed, and most of its CRC computed) outside any lock.
//! 2. Under the writer mutex it gets its sequence stamp, rotation happens if it would overflow
//!    the active file, and it is appended with one `pwrite`. It gets an append sequence number.
//! 3. If its policy needs no fsync and nothing is waiting for one, the keydir is updated right
//!    there, still in append order.
//! 4. Otherwise it joins the pending queue and waits in [`Engine::commit`]: one waiting thread
//!    becomes the leader, fdatasyncs the file once for everything appended so far, then applies
//!    the whole group's keydir updates in append order and wakes the group (group commit).
//! 5. An fsync failure poisons the handle: the group gets `E_IO`, later writes `E_POISONED`, and
//!    the group's records are never made visible.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::background::WorkQueue;
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::record::{Encoded, Header, Record, HEADER_LEN};
use crate::idmap::IdMap;
use crate::index::Index;
use crate::keydir::{Loc, Probe};
use crate::options::Options;
use crate::recovery::OpenReport;
use crate::storage::datafile::{ActiveFile, DataFile};
use crate::storage::lock::LockFile;

/// A record appended but not yet visible, waiting for its group's fsync.
struct Pending {
    seq: u64,
    key: Vec<u8>,
    loc: Loc,
}

/// State owned by the writer mutex.
pub(crate) struct Writer {
    pub active: Option<ActiveFile>,
    pub next_id: u32,
    pub last_ts: u64,
    /// Records appended so far (append sequence numbers start at 1).
    pub seq: u64,
    pending: VecDeque<Pending>,
}

impl Writer {
    pub fn new(active: Option<ActiveFile>, next_id: u32, last_ts: u64) -> Writer {
        Writer { active, next_id, last_ts, seq: 0, pending: VecDeque::new() }
    }

    /// The next sequence stamp: wall clock, but always above the last one. A database already
    /// holding a record stamped at the maximum (year 2554, so only a crafted or damaged file)
    /// cannot order a newer write after it: the write is refused rather than lost.
    fn next_ts(&mut self) -> Result<u64> {
        let next = self.last_ts.checked_add(1).ok_or_else(|| {
            Error::Corrupt("sequence stamps exhausted: a record carries the largest possible stamp".into())
        })?;
        self.last_ts = now_ns().max(next);
        Ok(self.last_ts)
    }

    /// The next id from the counter shared by rotation and merge.
    pub fn allocate_id(&mut self) -> Result<u32> {
        let id = self.next_id;
        self.next_id = id.checked_add(1).ok_or_else(|| Error::InvalidArg("data file ids exhausted".into()))?;
        Ok(id)
    }

    /// The newest appended-but-invisible record of `key`, if any.
    fn pending_loc(&self, key: &[u8]) -> Option<Loc> {
        self.pending.iter().rev().find(|p| p.key == key).map(|p| p.loc)
    }
}

#[derive(Default)]
struct CommitState {
    /// Every record with a sequence number up to here is durable and visible.
    durable: u64,
    /// Records up to here belonged to a group whose fsync failed.
    failed_upto: u64,
    failure: String,
    syncing: bool,
}

pub(crate) struct Engine {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub opts: Options,
    pub index: RwLock<Index>,
    pub files: RwLock<IdMap<Arc<DataFile>>>,
    pub writer: Mutex<Writer>,
    commit: Mutex<CommitState>,
    commit_cv: Condvar,
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    pub closed: AtomicBool,
    /// Work for the background thread: hints to write, files to let go of.
    pub chores: WorkQueue<Chore>,
    pub lock: Mutex<Option<LockFile>>,
    /// One merge (or backup) at a time.
    pub merge_lock: Mutex<()>,
    /// Held by the hint writer while it writes into `data/`, and by a merge while it swaps
    /// generations, so a hint never lands in a directory being renamed away.
    pub dir_lock: Mutex<()>,
    /// Set by close: long work (a merge) stops early.
    pub closing: AtomicBool,
    pub merges: AtomicU64,
    pub last_merge_ns: AtomicU64,
    /// What the last open (or reopen) found.
    pub open_report: Mutex<OpenReport>,
    /// Sealed files a selective merge found nothing to reclaim in (all their dead bytes are
    /// tombstones that must stay); the selective policy skips them.
    pub irreducible: Mutex<std::collections::HashSet<u32>>,
}

/// A job for the background thread.
pub(crate) enum Chore {
    /// Write the hint of this sealed data file.
    Hint(u32),
    /// Drop these file handles (a reload's old table).
    Release(Vec<Arc<DataFile>>),
    /// Remove the `data.old/` a merge or delete-all left behind: deleting many large files
    /// frees their page cache and blocks, which takes a while.
    RemoveOldGeneration,
}

/// How a write wants to be made durable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    Sync,
    NoSync,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        root: PathBuf,
        dir: PathBuf,
        opts: Options,
        index: Index,
        files: IdMap<Arc<DataFile>>,
        writer: Writer,
        lock: LockFile,
        report: OpenReport,
    ) -> Engine {
        Engine {
            root,
            dir,
            opts,
            index: RwLock::new(index),
            files: RwLock::new(files),
            writer: Mutex::new(writer),
            commit: Mutex::new(CommitState::default()),
            commit_cv: Condvar::new(),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            chores: WorkQueue::default(),
            lock: Mutex::new(Some(lock)),
            merge_lock: Mutex::new(()),
            dir_lock: Mutex::new(()),
            closing: AtomicBool::new(false),
            merges: AtomicU64::new(0),
            last_merge_ns: AtomicU64::new(0),
            open_report: Mutex::new(report),
            irreducible: Mutex::new(Default::default()),
        }
    }

    /// Queues hint writing for sealed files that have none.
    pub fn queue_hints(&self, ids: &[u32]) {
        if self.opts.hint_files {
            for &id in ids {
                self.chores.push(Chore::Hint(id));
            }
        }
    }

    /// The writer mutex, once no appended record is waiting for its group commit: whoever holds
    /// it can then change files and the keydir without a pending record landing afterwards.
    /// On a poisoned handle the pending records are dropped (they were never made durable).
    pub fn quiesce(&self) -> Result<parking_lot::MutexGuard<'_, Writer>> {
        loop {
            let mut w = self.writer.lock();
            if w.pending.is_empty() {
                return Ok(w);
            }
            if self.poisoned.load(Ordering::Acquire) {
                w.pending.clear();
                return Ok(w);
            }
            let seq = w.seq;
            drop(w);
            self.commit(seq)?;
        }
    }

    /// `Db::reopen`: flush, then load everything from disk again, keeping the LOCK.
    pub fn reload(&self) -> Result<()> {
        let _no_merge = self.merge_lock.lock();
        let _no_hint_writes = self.dir_lock.lock();
        let mut w = self.quiesce()?;
        let healthy = !self.poisoned.load(Ordering::Acquire);
        if let (true, Some(a)) = (healthy, &w.active) {
            a.sync()?;
        }
        w.active = None;
        let loaded = crate::recovery::load(&self.root, &self.opts)?;
        *self.index.write() = loaded.index;
        let old_files = std::mem::replace(&mut *self.files.write(), loaded.files);
        self.chores.push(Chore::Release(old_files.into_values().collect()));
        w.active = loaded.active;
        w.next_id = loaded.next_id;
        w.last_ts = w.last_ts.max(loaded.max_ts);
        *self.open_report.lock() = loaded.report;
        // A clean slate: every record appended so far is accounted for on disk.
        *self.commit.lock() = CommitState { durable: w.seq, ..CommitState::default() };
        *self.poison.lock() = None;
        self.poisoned.store(false, Ordering::Release);
        drop(w);
        self.queue_hints(&loaded.unhinted);
        Ok(())
    }

    /// Refuses work on a closed or poisoned handle.
    pub fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.poisoned.load(Ordering::Acquire) {
            let why = self.poison.lock().clone().unwrap_or_default();
            return Err(Error::Poisoned(why));
        }
        Ok(())
    }

    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Marks the handle unusable for writes until it is reopened.
    pub fn poison(&self, why: String) {
        let mut p = self.poison.lock();
        if p.is_none() {
            *p = Some(why);
        }
        self.poisoned.store(true, Ordering::Release);
    }

    // ---- writes ----

    /// Appends `enc` for `key` and makes it durable and visible as `durability` says.
    pub fn write(&self, key: &[u8], enc: Encoded, durability: Durability) -> Result<Loc> {
        let mut w = self.writer.lock();
        self.write_locked(&mut w, key, enc, durability)
    }

    /// The body of [`Engine::write`] for callers that already hold the writer mutex (atomic
    /// read-modify-write operations). Releases the mutex before waiting for an fsync.
    pub fn write_locked(
        &self,
        w: &mut parking_lot::MutexGuard<'_, Writer>,
        key: &[u8],
        mut enc: Encoded,
        durability: Durability,
    ) -> Result<Loc> {
        self.check_writable()?;
        self.ensure_room(w, enc.len() as u64)?;
        let ts = w.next_ts()?;
        enc.stamp(ts);
        let active = w.active.as_mut().expect("ensure_room created the active file");
        let offset = match active.append(&enc.buf) {
            Ok(off) => off,
            Err((err, dirty)) => {
                if dirty {
                    self.poison(format!("could not cut off a failed append: {err}"));
                }
                return Err(err);
            }
        };
        let loc = Loc {
            file_id: active.id,
            offset: offset as u32,
            size: enc.len() as u32,
            tombstone: enc.is_tombstone(),
            has_ttl: enc.expires() != 0,
        };
        w.seq += 1;
        let seq = w.seq;
        if durability == Durability::NoSync && w.pending.is_empty() {
            self.index.write().apply(key, loc);
            return Ok(loc);
        }
        // Visibility must follow append order, so even a no-sync write queues behind a group.
        w.pending.push_back(Pending { seq, key: key.to_vec(), loc });
        parking_lot::MutexGuard::unlocked(w, || self.commit(seq))?;
        Ok(loc)
    }

    /// Makes sure the active file exists and can take `len` more bytes, rotating if not: the old
    /// file is sealed before the next id is created, so every file below the highest one is
    /// complete on disk.
    fn ensure_room(&self, w: &mut Writer, len: u64) -> Result<()> {
        match &w.active {
            Some(a) if a.len == 0 || a.len + len <= self.opts.max_file_size => return Ok(()),
            Some(_) => self.seal_active(w)?,
            None => {}
        }
        let id = w.allocate_id()?;
        let fresh = ActiveFile::create(&self.dir, id)?;
        self.files.write().insert(id, Arc::new(DataFile::active(&fresh)));
        w.active = Some(fresh);
        Ok(())
    }

    /// fdatasyncs the active file without holding the writer mutex, so that the sync a caller
    /// then does under the mutex (sealing, a merge swap) only has the last few writes to flush
    /// and writers are not held up behind a large flush. An error poisons the handle.
    pub fn presync_active(&self) -> Result<()> {
        let file = self.writer.lock().active.as_ref().map(|a| (a.file.clone(), a.path.clone()));
        if let Some((f, path)) = file {
            if let Err(err) = crate::storage::fs::sync_data(&f, &path) {
                self.poison(err.to_string());
                return Err(err);
            }
        }
        Ok(())
    }

    /// Seals the active file: fdatasync (an error poisons), read it through a map from now on,
    /// queue its hint. The next write creates a new file.
    pub fn seal_active(&self, w: &mut Writer) -> Result<()> {
        let Some(active) = &w.active else { return Ok(()) };
        if let Err(e) = active.sync() {
            self.poison(format!("fdatasync while sealing {} failed: {e}", active.path.display()));
            return Err(e);
        }
        // The file stops being the active one only once its map exists.
        let sealed = Arc::new(DataFile::sealed(&self.dir, active.id)?);
        let id = active.id;
        w.active = None;
        self.files.write().insert(id, sealed);
        if self.opts.hint_files {
            self.chores.push(Chore::Hint(id));
        }
        Ok(())
    }

    /// Waits until record `seq` is durable and visible, leading a group fsync if nobody is.
    pub fn commit(&self, seq: u64) -> Result<()> {
        let mut st = self.commit.lock();
        loop {
            if st.durable >= seq {
                return Ok(());
            }
            if st.failed_upto >= seq {
                return Err(Error::Io { context: st.failure.clone(), source: std::io::Error::other("fsync failed") });
            }
            self.check_writable()?;
            if st.syncing {
                self.commit_cv.wait(&mut st);
                continue;
            }
            st.syncing = true;
            drop(st);
            let outcome = self.sync_group();
            st = self.commit.lock();
            st.syncing = false;
            match outcome {
                Ok(target) => st.durable = st.durable.max(target),
                Err((target, e)) => {
                    st.failed_upto = target;
                    st.failure = e.to_string();
                }
            }
            self.commit_cv.notify_all();
        }
    }

    /// One group commit: fdatasync everything appended so far, then publish it in order.
    fn sync_group(&self) -> std::result::Result<u64, (u64, Error)> {
        let (target, file) = {
            let w = self.writer.lock();
            (w.seq, w.active.as_ref().map(|a| (a.file.clone(), a.path.clone())))
        };
        if let Some((file, path)) = file {
            if let Err(err) = crate::storage::fs::sync_data(&file, &path) {
                self.poison(err.to_string());
                self.discard_pending(&mut self.writer.lock());
                return Err((target, err));
            }
        }
        let mut w = self.writer.lock();
        let mut index = self.index.write();
        while w.pending.front().is_some_and(|p| p.seq <= target) {
            let p = w.pending.pop_front().unwrap();
            index.apply(&p.key, p.loc);
        }
        Ok(target)
    }

    /// After a failed fsync: the waiting records are never published, and those in the active
    /// file are cut off it, so that no reopen can serve a value whose fsync failed either. (If
    /// even the truncation fails, they may come back after a reopen; the handle stays poisoned.)
    fn discard_pending(&self, w: &mut Writer) {
        let active_id = w.active.as_ref().map(|a| a.id);
        let cut = w.pending.iter().filter(|p| Some(p.loc.file_id) == active_id).map(|p| p.loc.offset as u64).min();
        w.pending.clear();
        if let (Some(cut), Some(a)) = (cut, w.active.as_mut()) {
            if crate::storage::fs::truncate(&a.file, &a.path, cut).is_ok() {
                a.len = cut;
            }
        }
    }

    /// Flushes everything appended so far (explicit `sync()` and the interval flusher).
    pub fn sync_all(&self) -> Result<()> {
        self.check_writable()?;
        let seq = self.writer.lock().seq;
        self.commit(seq)
    }

    // ---- reads ----

    /// Where `key`'s newest record is as seen by a reader (durable records only).
    pub fn lookup(&self, key: &[u8]) -> Option<Loc> {
        self.index.read().keys.get(key)
    }

    /// Where `key`'s newest record is including appended-but-not-yet-visible ones; for
    /// read-modify-write operations that hold the writer mutex.
    pub fn lookup_latest(&self, w: &Writer, key: &[u8]) -> Option<Loc> {
        w.pending_loc(key).or_else(|| self.lookup(key)).filter(|l| !l.tombstone)
    }

    pub fn file(&self, id: u32) -> Result<Arc<DataFile>> {
        let file = self.files.read().get(&id).cloned();
        file.ok_or_else(|| {
            Error::Corrupt(format!("keydir points at missing data file {}", crate::storage::fs::data_name(id)))
        })
    }

    /// A key's location together with a handle on its file, both taken under the index lock.
    /// A merge adds its outputs to the file table before it repoints the keydir, and drops its
    /// inputs only after, so a reader never holds a location whose file is gone. With
    /// `verified` false the key is not compared (see [`Keydir::probe`]).
    fn locate(&self, key: &[u8], verified: bool) -> Result<Option<(Loc, Arc<DataFile>)>> {
        let index = self.index.read();
        let loc = match (verified, index.keys.probe(key)) {
            (_, Probe::None) => None,
            (false, Probe::One(loc)) => Some(loc),
            _ => index.keys.get(key),
        };
        loc.map(|l| Ok((l, self.file(l.file_id)?))).transpose()
    }

    /// Reads and CRC-checks the record at `loc` of `file`. A record holding another key is
    /// corruption when the keydir matched the key itself (`verified`), and just "not this key"
    /// (`Ok(None)`) when the location came from a hash-only probe.
    fn read_record<R>(
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
    /// compared against the record read, not the keydir's copy (one cache miss less per read).
    pub fn with_current<R>(&self, key: &[u8], f: impl FnOnce(Loc, Record<'_>) -> Result<R>) -> Result<Option<R>> {
        match self.locate(key, false)? {
            Some((loc, file)) => Self::read_record(&file, key, loc, false, |r| f(loc, r)),
            None => Ok(None),
        }
    }

    /// Reads the record at a known `loc` of `key`. Only for callers holding the writer mutex,
    /// which keeps merges from swapping files underneath.
    pub fn with_record_locked<R>(
        &self,
        _w: &Writer,
        key: &[u8],
        loc: Loc,
        f: impl FnOnce(Record<'_>) -> Result<R>,
    ) -> Result<R> {
        let file = self.file(loc.file_id)?;
        Self::read_record(&file, key, loc, true, f).map(|r| r.expect("verified read"))
    }

    fn header_in(file: &DataFile, loc: Loc) -> Result<Header> {
        let bytes = file.read(loc.offset as u64, HEADER_LEN)?;
        Header::parse(&bytes).map_err(|bad| Error::corrupt_at(&file.path, loc.offset as u64, bad))
    }

    /// Whether the record at `loc` (of a caller holding the writer mutex) has expired; an
    /// expired key is dropped from the keydir.
    pub fn expired_locked(&self, _w: &Writer, key: &[u8], loc: Loc) -> Result<bool> {
        if !loc.has_ttl {
            return Ok(false);
        }
        let gone = Self::header_in(&*self.file(loc.file_id)?, loc)?.is_expired(now_ns());
        if gone {
            self.index.write().remove_if(key, loc);
        }
        Ok(gone)
    }

    /// The location and header of `key`'s live record; `None` when absent or expired (an
    /// expired key is dropped from the keydir on the way).
    pub fn live_header(&self, key: &[u8]) -> Result<Option<(Loc, Header)>> {
        let Some((loc, file)) = self.locate(key, true)? else { return Ok(None) };
        let h = Self::header_in(&file, loc)?;
        if h.is_expired(now_ns()) {
            self.index.write().remove_if(key, loc);
            return Ok(None);
        }
        Ok(Some((loc, h)))
    }
}
