//! The write path: appending under the writer mutex, rotation, and group commit.
//!
//! Step by step:
//! 1. The record is encoded (and compressed, and most of its CRC computed) outside any lock.
//! 2. Under the writer mutex it gets its sequence stamp, rotation happens if it would overflow
//!    the active file, and it is appended with one copy into the file's map or one `pwrite`
//!    (docs/DESIGN.md section 5.6). It gets an append sequence number.
//! 3. If its policy needs no fsync and nothing is waiting for one, the keydir is updated right
//!    there, still in append order.
//! 4. Otherwise it joins the pending queue and waits in [`Engine::commit`]: one waiting thread
//!    becomes the leader, waits (bounded) for the writers it expects to queue (`gather.rs`),
//!    fdatasyncs the file once for everything appended so far, then applies the whole group's
//!    keydir updates in append order and wakes the group (group commit). The write that
//!    completes the group the leader waits for runs that fsync itself instead of waking it.
//!    Inside a deferring scope (`tickets.rs`) the writer does not wait: it returns with its
//!    sequence number as a ticket, and the record is published by whichever group covers it.
//! 5. An fsync failure poisons the handle: the group gets `E_IO`, later writes `E_POISONED`, and
//!    the group's records are never made visible (and are cut off the file). So does any failed
//!    fsync of the active file, and a group fsync that returns after the handle was poisoned.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::gather::Gather;
use super::lock_order::MutexGuard;
use super::seal::SealWork;
use super::{Chore, Engine};
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::record::{Encoded, Record};
use crate::index::Index;
use crate::keydir::{hashed_with, Hashed, Loc};
use crate::killpoint;
use crate::storage::datafile::{ActiveFile, DataFile};
use crate::storage::fs::{sync_data, sync_file, truncate};

/// A record appended but not yet visible, waiting for its group's fsync. The members of a
/// batch share one sequence number, so one group publishes all of them.
pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) key: Vec<u8>,
    pub(super) loc: Loc,
}

/// What one group commit covers, read under the writer mutex when the group is taken: every
/// record up to `target`, in the active file as it then was.
struct Group {
    target: u64,
    /// The gather mark, for [`Gather::done`].
    mark: u64,
    file: Option<(Arc<std::fs::File>, std::path::PathBuf, u32, u64)>,
    /// The last rotation seal begun by then: the group's records may lie in that file too, so
    /// it is acknowledged only once that seal has ended (docs/DESIGN.md section 5.6).
    seal: u64,
}

impl Group {
    fn of(e: &Engine, w: &Writer, mark: u64) -> Group {
        let file = w.active.as_ref().map(|a| (a.file.clone(), a.path.clone(), a.id, a.len));
        Group { target: w.seq, mark, file, seal: e.seals.begun() }
    }
}

/// State owned by the writer mutex.
pub(super) struct Writer {
    pub(super) active: Option<ActiveFile>,
    pub(super) next_id: u32,
    pub(super) last_ts: u64,
    /// Records appended so far (append sequence numbers start at 1).
    pub(super) seq: u64,
    pub(super) pending: VecDeque<Pending>,
    /// When a group commit leader starts its fsync.
    gather: Gather,
    /// The active file's newest record carries `last_ts` (or, with no active file, the newest
    /// file's, sealed since): the next file can be linked to it (docs/DESIGN.md section 5.6).
    linkable: bool,
    /// The active file is the file a linked rotation made, none of whose records took a stamp
    /// yet: the first must carry this one, the full file's newest plus one.
    link: Option<u64>,
}

impl Writer {
    pub(super) fn new(active: Option<ActiveFile>, next_id: u32, last_ts: u64) -> Writer {
        Writer {
            active,
            next_id,
            last_ts,
            seq: 0,
            pending: VecDeque::new(),
            gather: Gather::default(),
            linkable: false,
            link: None,
        }
    }

    /// The active file is one no rotation linked, and its newest stamp is not known to be the
    /// writer's last (a file open or a merge gave, a fresh one nothing linked).
    pub(super) fn unlinked(&mut self) {
        self.linkable = false;
        self.link = None;
    }

    /// The stamp of an append's first record: in the file a linked rotation made, until a
    /// stamped record is in it, the link's (docs/DESIGN.md section 5.6); else
    /// [`Writer::next_ts_at`] with the clock reading `now`. (An append that failed was cut off
    /// again, so the stamps it took are free.)
    pub(super) fn first_ts_at(&mut self, now: u64) -> Result<u64> {
        match self.link {
            Some(ts) => {
                self.last_ts = ts;
                Ok(ts)
            }
            None => self.next_ts_at(now),
        }
    }

    /// The next sequence stamp, from the clock reading `now` (a batch stamps all its records
    /// from one reading: they still get increasing stamps above every earlier one): wall clock,
    /// but always above the last one. A database already holding a record stamped at the
    /// maximum (year 2554, so only a crafted or damaged file) cannot order a newer write after
    /// it: the write is refused rather than lost.
    pub(super) fn next_ts_at(&mut self, now: u64) -> Result<u64> {
        let next = self.last_ts.checked_add(1).ok_or_else(|| {
            Error::Corrupt("sequence stamps exhausted: a record carries the largest possible stamp".into())
        })?;
        self.last_ts = now.max(next);
        Ok(self.last_ts)
    }

    /// The next id from the counter shared by rotation and merge.
    fn allocate_id(&mut self) -> Result<u32> {
        let id = self.next_id;
        self.next_id = id.checked_add(1).ok_or_else(|| Error::InvalidArg("data file ids exhausted".into()))?;
        Ok(id)
    }

    /// The newest appended-but-invisible record of `key`, if any.
    pub(super) fn pending_loc(&self, key: &[u8]) -> Option<Loc> {
        self.pending.iter().rev().find(|p| p.key == key).map(|p| p.loc)
    }
}

#[derive(Default)]
pub(super) struct CommitState {
    /// Every record with a sequence number up to here is durable and visible.
    durable: u64,
    /// Records up to here belonged to a group whose fsync failed.
    failed_upto: u64,
    failure: String,
    syncing: bool,
}

impl CommitState {
    /// A clean slate after a reload: every record appended so far is accounted for on disk.
    pub(super) fn settled(seq: u64) -> CommitState {
        CommitState { durable: seq, ..CommitState::default() }
    }

    /// How record `seq` ended, if it has: as [`Engine::commit`] reports it.
    pub(super) fn outcome(&self, seq: u64) -> Option<Result<()>> {
        if self.durable >= seq {
            return Some(Ok(()));
        }
        if self.failed_upto >= seq {
            let source = std::io::Error::other("fsync failed");
            return Some(Err(Error::Io { context: self.failure.clone(), source }));
        }
        None
    }
}

/// How a write wants to be made durable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    Sync,
    NoSync,
}

/// The writer mutex, held for an atomic read-modify-write of keys: no other write can land
/// between what it reads and what it writes.
pub(crate) struct Exclusive<'a> {
    e: &'a Engine,
    w: MutexGuard<'a, Writer>,
}

impl Exclusive<'_> {
    /// Where `key`'s newest record is, counting appended-but-not-yet-visible ones; `None` when
    /// the key is absent or expired (an expired key is dropped from the keydir on the way).
    pub fn current(&self, key: &[u8]) -> Result<Option<Loc>> {
        let Some(loc) = self.w.pending_loc(key).or_else(|| self.e.lookup(key)).filter(|l| !l.tombstone) else {
            return Ok(None);
        };
        if loc.has_ttl && self.e.drop_if_expired(key, loc)? {
            return Ok(None);
        }
        Ok(Some(loc))
    }

    /// Reads the record at `loc` (from [`Exclusive::current`]) of `key`. The writer mutex keeps
    /// merges from swapping its file away meanwhile.
    pub fn read<R>(&self, key: &[u8], loc: Loc, f: impl FnOnce(Record<'_>) -> Result<R>) -> Result<R> {
        let file = self.e.file(loc.file_id)?;
        Engine::read_record(&file, key, loc, true, f).map(|r| r.expect("verified read"))
    }

    /// Appends `enc` for `key` as [`Engine::write`] does. Lets go of the mutex while it waits
    /// for an fsync, so nothing read before may be relied on after this call.
    pub fn write(mut self, key: &[u8], mut enc: Encoded, durability: Durability) -> Result<Loc> {
        self.e.write_locked(&mut self.w, &self.e.hash_key(key), &mut enc, durability)
    }
}

impl Engine {
    /// Hashes `key` as the keydir does (its seed is the handle's), with no lock held.
    pub(super) fn hash_key<'k>(&self, key: &'k [u8]) -> Hashed<'k> {
        hashed_with(&self.hasher, key)
    }

    /// Appends `enc` for `key` and makes it durable and visible as `durability` says.
    pub fn write(&self, key: &[u8], enc: &mut Encoded, durability: Durability) -> Result<Loc> {
        // Before the lock: the insert's bucket then loads while the record is appended.
        let k = self.hash_key(key);
        self.bucket_hints.prefetch(k.hash);
        let mut w = self.writer.lock();
        self.write_locked(&mut w, &k, enc, durability)
    }

    /// The writer mutex for a read-modify-write, on a writable handle.
    pub fn exclusive(&self) -> Result<Exclusive<'_>> {
        self.check_writable()?;
        Ok(Exclusive { e: self, w: self.writer.lock() })
    }

    /// The body of [`Engine::write`] for callers that already hold the writer mutex. Releases
    /// the mutex before waiting for an fsync.
    fn write_locked(
        &self,
        w: &mut MutexGuard<'_, Writer>,
        k: &Hashed<'_>,
        enc: &mut Encoded,
        durability: Durability,
    ) -> Result<Loc> {
        self.check_writable()?;
        let deletes_only = enc.is_tombstone();
        self.space.admit(deletes_only)?;
        let (file_id, offset) = self.with_room(deletes_only, || {
            // Stamped once the file it goes to is known: a rotation may link it (section 5.6).
            self.ensure_room(w, enc.len() as u64)?;
            enc.stamp(w.first_ts_at(now_ns())?);
            self.append_stamped(w, &enc.buf)
        })?;
        let loc = Loc {
            file_id,
            offset: offset as u32,
            size: enc.len() as u32,
            tombstone: enc.is_tombstone(),
            has_ttl: enc.expires() != 0,
        };
        w.seq += 1;
        let seq = w.seq;
        if durability == Durability::NoSync && w.pending.is_empty() {
            self.publish(&mut self.index.write(), k, loc);
            return Ok(loc);
        }
        // Visibility must follow append order, so even a no-sync write queues behind a group.
        w.pending.push_back(Pending { seq, key: k.key.to_vec(), loc });
        self.await_commit(w, seq)?;
        Ok(loc)
    }

    /// Appends `buf` to the active file (which `ensure_room` made ready) with one write;
    /// returns the file's id and the offset written at. A failed append is cut off again, and
    /// if even that fails the handle is poisoned.
    pub(super) fn append_locked(&self, w: &mut Writer, buf: &[u8]) -> Result<(u32, u64)> {
        let active = w.active.as_mut().expect("ensure_room created the active file");
        match active.append(buf, !self.space.is_full()) {
            Ok(off) => {
                if let Some(step) = active.writeback_due() {
                    self.seal_jobs.push(SealWork::Writeback(step));
                }
                if let Some(step) = active.growth_due() {
                    self.prefaults.push(step);
                }
                Ok((active.id, off))
            }
            Err((err, dirty)) => {
                if dirty {
                    self.poison(format!("could not cut off a failed append: {err}"));
                    // Not "free space and retry": the handle needs a reopen now.
                    return Err(err.lost());
                }
                Err(err)
            }
        }
    }

    /// [`Engine::append_locked`] for records just stamped from the writer's counter: the active
    /// file's newest stamp is then the writer's last, so the next rotation can link the file it
    /// makes to this one (docs/DESIGN.md section 5.6). A failed append took stamps the file
    /// does not hold.
    pub(super) fn append_stamped(&self, w: &mut Writer, buf: &[u8]) -> Result<(u32, u64)> {
        let appended = self.append_locked(w, buf);
        w.linkable = appended.is_ok();
        if appended.is_ok() {
            w.link = None;
        }
        appended
    }

    /// Runs `append` (rotation and the append, under the writer mutex). When it fails for lack
    /// of space the handle becomes full and gives its reserve back (docs/DESIGN.md section 5.14);
    /// a write that only deletes then tries once more, on the room the reserve left.
    pub(super) fn with_room<T>(&self, deletes_only: bool, mut append: impl FnMut() -> Result<T>) -> Result<T> {
        match append() {
            Err(err) if err.is_no_space() => {
                let freed = self.space.ran_out();
                if freed && deletes_only && !self.poisoned.load(Ordering::Acquire) {
                    return append();
                }
                Err(err)
            }
            other => other,
        }
    }

    /// Makes one appended record visible: the keydir update, in append order, under the index
    /// lock (the caller holds the writer mutex), noted for open transactions' commit checks.
    pub(super) fn publish(&self, index: &mut Index, k: &Hashed<'_>, loc: Loc) {
        let live = if loc.tombstone { 0 } else { loc.size as u64 };
        index.count(loc.file_id, loc.size as u64, live);
        self.publish_counted(index, k, loc);
    }

    /// [`Engine::publish`] of a record whose bytes [`Index::count`] counted already (a batch
    /// counts its run once).
    pub(super) fn publish_counted(&self, index: &mut Index, k: &Hashed<'_>, loc: Loc) {
        // `k` was hashed with the handle's seed: every keydir the handle installs has it.
        debug_assert_eq!(index.keys.seed(), self.seed, "a keydir hashed unlike its handle");
        index.point(k, loc);
        self.bucket_hints.learn(&index.keys, k.hash);
        self.conflicts.note(k.key);
    }

    /// The next data file id (merge outputs draw from the counter rotation uses).
    pub fn allocate_id(&self) -> Result<u32> {
        self.writer.lock().allocate_id()
    }

    /// The writer mutex, once no appended record is waiting for its group commit: whoever holds
    /// it can then change files and the keydir without a pending record landing afterwards.
    /// On a poisoned handle the pending records are dropped (they were never made durable).
    pub(super) fn quiesce(&self) -> Result<MutexGuard<'_, Writer>> {
        loop {
            let mut w = self.writer.lock();
            if w.pending.is_empty() {
                return Ok(w);
            }
            if self.poisoned.load(Ordering::Acquire) {
                self.discard_pending(&mut w);
                return Ok(w);
            }
            let seq = w.seq;
            drop(w);
            self.commit(seq)?;
        }
    }

    /// Makes sure the active file exists and can take `len` more bytes, rotating if not.
    pub(super) fn ensure_room(&self, w: &mut Writer, len: u64) -> Result<()> {
        match &w.active {
            Some(a) if a.len == 0 || a.len + len <= self.opts.max_file_size => Ok(()),
            Some(_) => self.rotate(w),
            // The highest file was sealed without a successor (a full merge's first step, say):
            // as a rotation's, the next file links to it when it can.
            None if w.linkable => {
                let id = w.allocate_id()?;
                let fresh = ActiveFile::create(&self.dir, id)?.limited(self.opts.max_file_size);
                self.activate(w, fresh, true);
                Ok(())
            }
            None => self.create_named(w),
        }
    }

    /// Rotation (docs/DESIGN.md section 5.6): under the writer mutex, wait for the previous seal
    /// (at most one runs, so a crash leaves at most the two newest files unsynced), trim the
    /// full file, read it through a read-only map, create the next file; then hand the full
    /// file to the seal thread, which fsyncs it and `data/` (the new file's entry) and queues
    /// its hint. The new file's first record is linked to the full file's newest stamp when
    /// that is the writer's last; otherwise the rotation waits for the seal and names the new
    /// file in the watermark.
    fn rotate(&self, w: &mut Writer) -> Result<()> {
        let linked = std::mem::take(&mut w.linkable);
        let (full, trimmed) = self.retire_active(w)?.expect("rotating the active file");
        // The full file ends at its last record and is still the newest file.
        killpoint::hit("rotation-trimmed");
        if !linked {
            let job = self.seals.begin(full.id, full.file.clone(), full.path.clone(), trimmed);
            self.seal_jobs.push(SealWork::Seal(job));
            return self.create_named(w);
        }
        let created = w.allocate_id().and_then(|id| ActiveFile::create_unsynced(&self.dir, id));
        // After the creation, so that the seal's fsync of `data/` covers the new entry.
        let job = self.seals.begin(full.id, full.file.clone(), full.path.clone(), trimmed);
        self.seal_jobs.push(SealWork::Seal(job));
        killpoint::hit("rotation-created");
        self.activate(w, created?.limited(self.opts.max_file_size), true);
        Ok(())
    }

    /// Makes `fresh`, a new file, the active one; `linked`: its first record is to carry the
    /// stamp link to the file below, whose newest stamp is the writer's last (section 5.6).
    fn activate(&self, w: &mut Writer, fresh: ActiveFile, linked: bool) {
        self.files.write().insert(fresh.id, Arc::new(DataFile::active(&fresh)));
        w.active = Some(fresh);
        w.linkable = false;
        w.link = if linked { w.last_ts.checked_add(1) } else { None };
    }

    /// Makes the next data file when its first record will not be linked to the file below by
    /// its stamp (docs/DESIGN.md section 5.6): once every file below is durable (a seal may be
    /// running), the watermark names the new id, and then the file is created (`data/`
    /// fsynced), so that open never takes that first record for a sign that the file below
    /// lost its end. A failure leaves no file behind.
    fn create_named(&self, w: &mut Writer) -> Result<()> {
        self.settle_seals(w)?;
        let id = w.allocate_id()?;
        self.watermark.name(id)?;
        let fresh = ActiveFile::create(&self.dir, id)?.limited(self.opts.max_file_size);
        self.activate(w, fresh, false);
        Ok(())
    }

    /// The first half of a seal, under the writer mutex: waits for the previous seal (at most
    /// one runs), trims the active file's unused room (a failure poisons) and puts a read-only
    /// map of it in the file table. Returns the file, no longer active, and whether the trim cut
    /// anything (its fsync must then carry the length); `None` without an active file.
    pub(super) fn retire_active(&self, w: &mut Writer) -> Result<Option<(ActiveFile, bool)>> {
        self.settle_seals(w)?;
        let Some(active) = w.active.as_mut() else { return Ok(None) };
        let trimmed = match active.trim() {
            Ok(trimmed) => trimmed,
            Err(e) => {
                let why = format!("trimming {} for its seal failed: {e}", active.path.display());
                self.fsync_failed(w, why);
                return Err(e);
            }
        };
        // The file stops being the active one only once its map exists.
        let sealed = Arc::new(DataFile::sealed(&self.dir, active.id)?);
        let full = w.active.take().expect("the active file");
        // The writer's map goes with the last handle on it, on the background thread.
        if let Some(replaced) = self.files.write().insert(full.id, sealed) {
            self.chores.push(Chore::Release(vec![replaced]));
        }
        Ok(Some((full, trimmed)))
    }

    /// Waits (holding the writer mutex) until every rotation seal begun has ended. A failed
    /// seal poisoned the handle; the records awaiting their group commit are dropped and cut
    /// off, as after any failed fsync of the files they are in (docs/DESIGN.md section 5.5).
    pub(super) fn settle_seals(&self, w: &mut Writer) -> Result<()> {
        self.seals.wait_all().map_err(|why| self.seal_failed(w, why))
    }

    /// [`Engine::settle_seals`] for seal `n`, without the writer mutex (taken on failure only).
    pub(super) fn wait_seal(&self, n: u64) -> Result<()> {
        self.seals.wait_for(n).map_err(|why| self.seal_failed(&mut self.writer.lock(), why))
    }

    /// A failed seal, as a failed fsync of the active file: the pending records go.
    fn seal_failed(&self, w: &mut Writer, why: String) -> Error {
        self.fsync_failed(w, why.clone());
        Error::Io { context: why, source: std::io::Error::other("fsync failed") }
    }

    /// fdatasyncs the active file without holding the writer mutex, so that the sync a caller
    /// then does under the mutex (sealing, a merge swap) only has the last few writes to flush
    /// and writers are not held up behind a large flush. An error poisons the handle.
    pub(super) fn presync_active(&self) -> Result<()> {
        let file = self.writer.lock().active.as_ref().map(|a| (a.file.clone(), a.path.clone()));
        if let Some((f, path)) = file {
            if let Err(err) = sync_data(&f, &path) {
                self.fsync_failed(&mut self.writer.lock(), err.to_string());
                return Err(err);
            }
        }
        Ok(())
    }

    /// Seals the active file: fdatasync and trim its unused room (an error poisons), read it
    /// through a read-only map from now on, queue its hint. The next write creates a new file.
    pub(super) fn seal_active(&self, w: &mut Writer) -> Result<()> {
        let sealed = self.seal_active_unhinted(w)?;
        self.queue_hints(sealed.as_slice());
        Ok(())
    }

    /// [`Engine::seal_active`] leaving the hint to the caller: returns the id of the file it
    /// sealed, if there was an active file.
    pub(super) fn seal_active_unhinted(&self, w: &mut Writer) -> Result<Option<u32>> {
        // The file below first: a seal makes the file the newest durable one (section 4.5).
        self.settle_seals(w)?;
        let Some(active) = &mut w.active else { return Ok(None) };
        if let Err(e) = active.seal() {
            let why = format!("fdatasync while sealing {} failed: {e}", active.path.display());
            self.fsync_failed(w, why);
            return Err(e);
        }
        // The file stops being the active one only once its map exists.
        let sealed = Arc::new(DataFile::sealed(&self.dir, active.id)?);
        let id = active.id;
        w.active = None;
        // The writer's map goes with the last handle on it: unmapping tens of megabytes of
        // pages took up to 25 ms, not to be spent under the writer mutex.
        if let Some(replaced) = self.files.write().insert(id, sealed) {
            self.chores.push(Chore::Release(vec![replaced]));
        }
        Ok(Some(id))
    }

    /// Waits until record `seq` is durable and visible, leading a group fsync if nobody is.
    pub(super) fn commit(&self, seq: u64) -> Result<()> {
        self.commit_as(seq, true)
    }

    /// [`Engine::commit`]; a leader with `gather` first waits for the writes it expects
    /// (section 5.3), without it syncs at once (its caller gathered the group itself).
    pub(super) fn commit_as(&self, seq: u64, gather: bool) -> Result<()> {
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
                let count = self.group_ends.count();
                drop(st);
                self.group_ends.wait(count);
                if self.group_ends.durable() >= seq {
                    return Ok(());
                }
                st = self.commit.lock();
                continue;
            }
            st.syncing = true;
            drop(st);
            // `None`: the write that completed the group took it over, and the sync with it.
            if let Some(group) = self.gather(gather) {
                self.end_group(self.sync_group(group));
            }
            st = self.commit.lock();
        }
    }

    /// A write (or a batch) that joined the pending queue as record `seq` waits for its group
    /// commit. If it completes the group a leader is waiting for, it does not wake the leader
    /// to start the fsync: it takes the group over and runs the fsync itself, one wake-up
    /// less before every fsync (docs/DESIGN.md section 5.3). The leader, woken meanwhile,
    /// waits like any writer.
    pub(super) fn join_and_commit(&self, w: &mut MutexGuard<'_, Writer>, seq: u64, deferred: bool) -> Result<()> {
        if !w.gather.joined() {
            return match deferred {
                true => Ok(()),
                false => MutexGuard::unlocked(w, || self.commit(seq)),
            };
        }
        if deferred {
            // An event loop's thread never blocks on an fsync: the leader runs it.
            self.gather_cv.notify_one();
            return Ok(());
        }
        let mark = w.gather.take_over();
        self.gather_cv.notify_one();
        let group = Group::of(self, w, mark);
        MutexGuard::unlocked(w, || {
            self.end_group(self.sync_group(group));
            self.commit(seq)
        })
    }

    /// The leader's wait before its fsync (docs/DESIGN.md section 5.3): until the writes it
    /// expects have queued, the handle is poisoned, or its budget is spent; without `wait`, it
    /// takes what is queued at once. Returns what the group covers, or `None` when the write
    /// that completed the group took it over.
    fn gather(&self, wait: bool) -> Option<Group> {
        let mut w = self.writer.lock();
        let taken_over = w.gather.taken_over();
        if wait && w.gather.wait_for().is_some() {
            let deadline = Instant::now() + w.gather.budget();
            while w.gather.taken_over() == taken_over
                && w.gather.wait_for().is_some()
                && !self.poisoned.load(Ordering::Acquire)
            {
                if !MutexGuard::wait_until(&mut w, &self.gather_cv, deadline) {
                    break;
                }
            }
        }
        if w.gather.taken_over() != taken_over {
            return None;
        }
        let mark = w.gather.take();
        Some(Group::of(self, &w, mark))
    }

    /// The end of a group commit, whoever ran it: the commit state learns its outcome, the
    /// sync is no longer running, and every waiter wakes.
    fn end_group(&self, outcome: std::result::Result<u64, (u64, Error)>) {
        let mut st = self.commit.lock();
        st.syncing = false;
        match outcome {
            Ok(target) => st.durable = st.durable.max(target),
            Err((target, e)) => {
                st.failed_upto = target;
                st.failure = e.to_string();
            }
        }
        let durable = st.durable;
        drop(st);
        self.group_ends.end(durable);
    }

    /// One group commit: fdatasync everything appended up to the group's target, then publish
    /// it in order.
    fn sync_group(&self, group: Group) -> std::result::Result<u64, (u64, Error)> {
        let Group { target, mark, file, seal } = group;
        let started = Instant::now();
        if let Some((file, path, _, _)) = &file {
            if let Err(err) = sync_data(file, path) {
                self.fsync_failed(&mut self.writer.lock(), err.to_string());
                return Err((target, err));
            }
        }
        // Records of the group may lie in the file a rotation is sealing.
        self.wait_seal(seal).map_err(|err| (target, err))?;
        if let Some((_, _, id, len)) = file {
            // Everything appended before the target is durable now, and every file below: the
            // watermark may say so. A file named unlinked needs that name on the disk first.
            self.watermark.advance(id, len);
            if let Err(err) = self.watermark.flush_name(id) {
                self.fsync_failed(&mut self.writer.lock(), err.to_string());
                return Err((target, err));
            }
        }
        killpoint::hit("group-synced");
        let mut w = self.writer.lock();
        if self.poisoned.load(Ordering::Acquire) {
            // Poisoned while this fsync ran: by another fsync of the file that failed (sealing,
            // a merge). The kernel reports a write-back error to one fsync only, so this one's
            // success may hide lost pages: nothing is acknowledged on its strength.
            self.discard_pending(&mut w);
            let why = self.poison.lock().clone().unwrap_or_default();
            return Err((target, Error::Poisoned(why)));
        }
        let fsync = started.elapsed();
        w.gather.done(mark, fsync);
        let mut index = self.index.write();
        while w.pending.front().is_some_and(|p| p.seq <= target) {
            let p = w.pending.pop_front().unwrap();
            self.publish(&mut index, &self.hash_key(&p.key), p.loc);
        }
        Ok(target)
    }

    /// An fsync of the active file failed: poison the handle and discard what awaits a group
    /// commit (nothing it holds can be called durable any more).
    pub(super) fn fsync_failed(&self, w: &mut Writer, why: String) {
        self.poison(why);
        self.discard_pending(w);
    }

    /// After a failed fsync (the handle is poisoned): the waiting records are never published,
    /// and those in the active file are cut off it, the cut fsynced like any other
    /// (docs/DESIGN.md section 1.5), so that no reopen, even after a power loss, serves a value
    /// whose fsync failed. That fsync says nothing about the records before the cut and nothing is reported
    /// durable because of it. (If the cut fails, or its fsync does, those records may come back
    /// after a reopen; the handle stays poisoned either way.)
    fn discard_pending(&self, w: &mut Writer) {
        let active_id = w.active.as_ref().map(|a| a.id);
        let cut = w.pending.iter().filter(|p| Some(p.loc.file_id) == active_id).map(|p| p.loc.offset as u64).min();
        // And those in a file whose rotation seal failed.
        if let Some((id, file, path)) = self.seals.failed_file() {
            let below = w.pending.iter().filter(|p| p.loc.file_id == id).map(|p| p.loc.offset as u64).min();
            if let Some(at) = below {
                if truncate(&file, &path, at).is_ok() {
                    let _ = sync_file(&file, &path);
                }
            }
        }
        if let (Some(first), Some(last)) = (w.pending.front(), w.pending.back()) {
            self.note_lost(first.seq, last.seq);
        }
        w.pending.clear();
        if let (Some(cut), Some(a)) = (cut, w.active.as_mut()) {
            if a.cut(cut).is_ok() {
                let _ = sync_file(&a.file, &a.path);
            }
        }
    }

    /// Flushes everything appended so far (explicit `sync()` and the interval flusher).
    pub fn sync_all(&self) -> Result<()> {
        self.check_writable()?;
        let (seq, seal) = {
            let w = self.writer.lock();
            (w.seq, self.seals.begun())
        };
        self.commit(seq)?;
        // A commit with nothing new to flush does not wait for a running seal itself.
        self.wait_seal(seal)
    }
}
