//! The shared state behind a `Db` handle: the keydir, the file table, the writer, and the locks
//! that keep them consistent. Its fields are private to this module; the rest of the crate goes
//! through methods, one for each operation that needs more than one lock.
//!
//! - `write`: appends, rotation and group commit (the write path, step by step).
//! - `read`: finding and reading a key's current record.
//! - `multi_read`: the same for many keys at once, their memory loads overlapped.
//! - `maintenance`: what merge, backup and delete-all need while they hold the maintenance lock.
//! - `lock_order`: the ranked locks below, checked in debug builds.
//! - `spread_lock`: the read-write lock of `index` and `files`, whose readers count per thread.
//!
//! # Lock order
//!
//! A thread may take a lock only while every lock it holds comes earlier in this list: each may
//! be held while taking any lock below it, never one above it (nor itself again, even for
//! reading). Debug builds check every acquisition and panic on a violation.
//!
//! | rank | lock | guards | taken under it, for example |
//! |---|---|---|---|
//! | 1 | `maintenance` | one merge, backup, delete-all or removal of `data.old/` at a time | everything: a merge swaps generations under `dirs` and `writer` |
//! | 2 | `dirs` | `data/` against renames: hint writes exclude a generation swap | `writer` (swap, reopen), `files` (hint writer) |
//! | 3 | `writer` | the active file, the id and stamp counters, records awaiting their group commit | `commit` (reopen), `index` (publishing), `files` (rotation), `poison`, `lock_file` (close) |
//! | 4 | `commit` | the group-commit state (what is durable, who is syncing) | `poison` (a waiter checks the handle) |
//! | 5 | `irreducible` | sealed files a selective merge cannot shrink | - |
//! | 6 | `index` | the keydir and the live and total bytes per file | `files` (a reader pins the file of the location it found) |
//! | 7 | `files` | the table of open data files | - |
//! | 8 | `open_report` | what the last open found | - |
//! | 9 | `poison` | why the handle is poisoned | - |
//! | 10 | `lock_file` | the LOCK, released at close | - |
//!
//! Outside the order, because nothing is taken while holding them: the background queue's own
//! mutex (pushed to under `dirs` and `writer`), the reserve's mutex (`space`, taken under `writer`
//! when an append fails for space), the transaction conflict log's mutex (taken
//! under `writer` and `index`, see `conflicts`), the watermark's (written by a group's leader and
//! at close), the list of pending records a failed fsync discarded (`tickets`, taken under `writer`) and the atomic flags and counters. A thread
//! waiting for a group commit holds no lock of rank 3 or more: the writer lets go of `writer`
//! before it waits, and the group's leader fsyncs holding nothing but what its caller held.

mod batch_write;
mod bucket_hints;
mod conflicts;
mod gather;
#[cfg(all(test, feature = "fault-injection"))]
mod gather_tests;
mod group_wake;
mod lock_order;
mod maintenance;
mod multi_read;
mod read;
mod seal;
#[cfg(all(test, feature = "fault-injection"))]
mod seal_tests;
mod spread_lock;
mod tail;
mod tickets;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Condvar;

use group_wake::GroupEnds;

use crate::background::WorkQueue;
use crate::error::{Error, Result};
use crate::generation;
use crate::hints::{write_hint, write_hint_unless};
use crate::idmap::IdMap;
use crate::index::Index;
use crate::keydir::KeyHasher;
use crate::killpoint;
use crate::options::Options;
use crate::recovery::{self, OpenReport};
use crate::snapshot;
use crate::space::Space;
use crate::storage::datafile::DataFile;
use crate::storage::fs::{fsync_dir, hint_name, sync_data, sync_file, LOCK_FILE};
use crate::storage::growth::Growth;
use crate::storage::lock::LockFile;
use crate::watermark::Tracker;

pub(crate) use batch_write::{Member, PendingProbe};
use lock_order::{Mutex, RwLock};
pub(crate) use maintenance::{Maintenance, Moved, Moves, Relocation};
pub(crate) use tail::Copy;
pub(crate) use write::Durability;
use write::{CommitState, Writer};

/// The engine's locks, in the order of the table above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Maintenance,
    Dirs,
    Writer,
    Commit,
    Irreducible,
    Index,
    Files,
    OpenReport,
    Poison,
    LockFile,
}

pub(crate) struct Engine {
    root: PathBuf,
    dir: PathBuf,
    opts: Options,
    maintenance: Mutex<()>,
    /// Held by the hint writer while it writes into `data/`, and by a merge while it swaps
    /// generations, so a hint never lands in a directory being renamed away.
    dirs: Mutex<()>,
    writer: Mutex<Writer>,
    commit: Mutex<CommitState>,
    /// Wakes the writers waiting for a group commit when it ends.
    group_ends: GroupEnds,
    /// Wakes a group commit leader that waits for writes to gather (writer mutex).
    gather_cv: Condvar,
    /// Sealed files a selective merge found nothing to reclaim in (all their dead bytes are
    /// tombstones that must stay), with their live bytes then; the selective policy skips them
    /// while those stay the same.
    irreducible: Mutex<HashMap<u32, u64>>,
    index: RwLock<Index>,
    files: RwLock<IdMap<Arc<DataFile>>>,
    /// What the last open (or reopen) found.
    open_report: Mutex<OpenReport>,
    poison: Mutex<Option<String>>,
    lock_file: Mutex<Option<LockFile>>,
    /// The durable watermark of the newest data file (docs/DESIGN.md section 1.6).
    watermark: Tracker,
    poisoned: AtomicBool,
    closed: AtomicBool,
    /// Set by close: long work (a merge) stops early.
    closing: AtomicBool,
    /// Work for the background thread: hints to write, files to let go of.
    chores: WorkQueue<Chore>,
    /// Steps of room for the prefault thread to allocate and fault in.
    prefaults: WorkQueue<Growth>,
    /// Full files for the seal thread to make durable after a rotation (section 5.6).
    seal_jobs: WorkQueue<seal::SealWork>,
    /// The rotation seals begun and ended.
    seals: seal::Seals,
    merges: AtomicU64,
    last_merge_ns: AtomicU64,
    /// Files numbered below this get no hint from the background thread: a full merge is
    /// consuming them (0 when none is).
    hint_floor: AtomicU32,
    /// Writes published while transactions are open, for their commit check.
    conflicts: conflicts::Conflicts,
    /// The reserve file and whether the file system is full (docs/DESIGN.md section 5.14).
    space: Space,
    /// Pending records discarded after a failed fsync, for deferred commits' tickets.
    lost: tickets::Lost,
    /// Where the keydir's tables are, for writers to prefetch their bucket before any lock.
    bucket_hints: bucket_hints::BucketHints,
    /// The keydir's hash seed, fixed for the handle's life (a reload builds its keydir with the
    /// same one), so writers hash their key before taking any lock.
    seed: u64,
    hasher: KeyHasher,
}

/// A job for the background thread.
enum Chore {
    /// Write the hint of this sealed data file.
    Hint(u32),
    /// Drop these file handles (a reload's old table, a merge's inputs).
    Release(Vec<Arc<DataFile>>),
    /// Remove the `data.old/` a merge or delete-all left behind: deleting many large files
    /// frees their page cache and blocks, which takes a while.
    RemoveOldGeneration,
    /// Drop (and cut off) the records awaiting their group commit: the handle was poisoned by
    /// a failed early write-back on the seal thread.
    Discard,
    /// Remove the keydir snapshot open retired (freeing a large file takes a while).
    RemoveRetiredSnapshot,
    /// Make the last watermark durable (after a merge's swap named the new generation's newest
    /// file in it).
    FlushWatermark,
    /// Make a full merge's hints durable and put them in place, after its swap (see
    /// [`Engine::place_hints_later`]).
    PlaceHints(Vec<(u32, std::fs::File)>),
}

impl Engine {
    /// Takes the LOCK of the database at `root` (an absolute path) and loads it from disk.
    pub fn open(root: PathBuf, opts: Options) -> Result<Engine> {
        // Before the LOCK is taken or written: a Go bitgask directory is left as it was.
        crate::foreign::gate(&root, Duration::from_millis(opts.lock_timeout_ms))?;
        let lock = LockFile::acquire(&root.join(LOCK_FILE), Duration::from_millis(opts.lock_timeout_ms))?;
        let loaded = recovery::load(&root, &opts, None)?;
        let seed = loaded.index.keys.seed();
        let writer = Writer::new(loaded.active, loaded.next_id, loaded.max_ts);
        let space = Space::open(&root, opts.reserve_bytes);
        let e = Engine {
            dir: generation::data_dir(&root),
            root,
            opts,
            maintenance: Mutex::new(Rank::Maintenance, ()),
            dirs: Mutex::new(Rank::Dirs, ()),
            writer: Mutex::new(Rank::Writer, writer),
            commit: Mutex::new(Rank::Commit, CommitState::default()),
            group_ends: GroupEnds::default(),
            gather_cv: Condvar::new(),
            irreducible: Mutex::new(Rank::Irreducible, HashMap::new()),
            index: RwLock::new(Rank::Index, loaded.index),
            files: RwLock::new(Rank::Files, loaded.files),
            open_report: Mutex::new(Rank::OpenReport, loaded.report),
            poison: Mutex::new(Rank::Poison, None),
            lock_file: Mutex::new(Rank::LockFile, Some(lock)),
            watermark: loaded.watermark,
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            chores: WorkQueue::default(),
            prefaults: WorkQueue::default(),
            seal_jobs: WorkQueue::default(),
            seals: seal::Seals::default(),
            merges: AtomicU64::new(0),
            last_merge_ns: AtomicU64::new(0),
            hint_floor: AtomicU32::new(0),
            conflicts: conflicts::Conflicts::default(),
            space,
            lost: tickets::Lost::default(),
            bucket_hints: bucket_hints::BucketHints::default(),
            seed,
            hasher: KeyHasher::with_seed(seed),
        };
        e.queue_hints(&loaded.unhinted);
        e.chores.push(Chore::RemoveRetiredSnapshot);
        Ok(e)
    }

    /// The database directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The current generation's directory, `<root>/data`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn opts(&self) -> &Options {
        &self.opts
    }

    /// What the last open (or reopen) found.
    pub fn open_report(&self) -> OpenReport {
        self.open_report.lock().clone()
    }

    /// Merges completed by this handle, and when the last one finished (Unix nanoseconds).
    pub fn merge_counters(&self) -> (u64, u64) {
        (self.merges.load(Ordering::Relaxed), self.last_merge_ns.load(Ordering::Relaxed))
    }

    /// Queues hint writing for sealed files that have none.
    pub(crate) fn queue_hints(&self, ids: &[u32]) {
        if self.opts.hint_files {
            for &id in ids {
                self.chores.push(Chore::Hint(id));
            }
        }
    }

    /// Drops `files` on the background thread: unmapping a merge's inputs took 5-11 ms. Queued
    /// before the removal of `data.old/` the same merge queues next, so the files are unmapped
    /// before they are removed.
    pub(crate) fn release_later(&self, files: Vec<Arc<DataFile>>) {
        self.chores.push(Chore::Release(files));
    }

    /// Sets the id below which queued hints are skipped (0: none); see [`Engine::queue_missing_hints`].
    pub(crate) fn set_hint_floor(&self, id: u32) {
        self.hint_floor.store(id, Ordering::Release);
    }

    /// Queues hint writing for those of `ids` that have no hint file.
    pub(crate) fn queue_missing_hints(&self, ids: &[u32]) {
        let missing: Vec<u32> = ids.iter().copied().filter(|&id| !self.dir.join(hint_name(id)).exists()).collect();
        self.queue_hints(&missing);
    }

    /// The background thread's loop: runs chores until the handle closes.
    pub fn run_chores(&self) {
        while let Some(chore) = self.chores.pop() {
            match chore {
                Chore::Hint(id) => {
                    // Not while space is low: a hint only saves time at open, and on a full disk
                    // its room is what lets a delete or a merge run (docs/DESIGN.md section 5.14).
                    if self.space.is_low() {
                        continue;
                    }
                    // Nor for a file a full merge is about to swap out (queued again if it
                    // fails), even once begun.
                    let swapped_out = || id < self.hint_floor.load(Ordering::Acquire);
                    if swapped_out() {
                        continue;
                    }
                    // Not while a merge swaps directories, and not for a file a merge removed.
                    let _dirs = self.dirs.lock();
                    if self.files.read().contains_key(&id) {
                        // A failed hint only costs a slower open; the file is scanned instead.
                        if matches!(write_hint_unless(&self.dir, id, swapped_out), Ok(true)) {
                            killpoint::hit("hint-written");
                        }
                    }
                }
                Chore::Release(files) => drop(files),
                Chore::Discard => {
                    let why = self.poison.lock().clone().unwrap_or_default();
                    self.fsync_failed(&mut self.writer.lock(), why);
                }
                Chore::RemoveRetiredSnapshot => {
                    // Not while a merge swaps directories; a failure leaves it to the next open.
                    let _dirs = self.dirs.lock();
                    let _ = snapshot::remove_retired(&self.dir);
                }
                Chore::FlushWatermark => self.watermark.flush(),
                Chore::PlaceHints(hints) => self.place_hints(hints),
                Chore::RemoveOldGeneration => {
                    // Failures are retried by the next merge, delete-all or open.
                    let _ = self.maintenance().remove_old_generation();
                }
            }
        }
    }

    /// The prefault thread's loop: grows the active file ahead of its appends and faults the
    /// new room in, until the handle closes (its own thread: a hint being written must not hold
    /// a step up until the writer gets there).
    pub fn run_prefaults(&self) {
        while let Some(step) = self.prefaults.pop() {
            step.run();
        }
    }

    /// The seal thread's loop: makes each full file a rotation handed over durable, with
    /// `data/` (the next file's entry), then queues its hint (docs/DESIGN.md section 5.6). A
    /// failure poisons the handle; whoever waits for the seal drops and cuts off the records
    /// awaiting their group commit. Nothing here takes the writer mutex: a rotation waits for
    /// the seal while holding it.
    pub fn run_seals(&self) {
        while let Some(work) = self.seal_jobs.pop() {
            match work {
                seal::SealWork::Seal(job) => self.run_seal(job),
                seal::SealWork::Writeback(step) => {
                    let ran = step.run();
                    killpoint::hit("writeback-step-done");
                    if let Err(err) = ran {
                        // The kernel reports a write-back error once: the seal's fsync could now
                        // succeed over lost pages. Poisoned at once (nothing is acknowledged
                        // from here); the records awaiting their commit are dropped on the
                        // background thread, which may take the writer mutex (this thread must
                        // not: a rotation holding it may be waiting for a seal queued here).
                        self.poison(format!("early write-back failed: {err}"));
                        self.chores.push(Chore::Discard);
                    }
                }
            }
        }
    }

    /// One rotation seal ([`Engine::run_seals`]).
    fn run_seal(&self, job: seal::SealJob) {
        let synced = match job.trimmed {
            true => sync_file(&job.file, &job.path),
            false => sync_data(&job.file, &job.path),
        };
        let outcome = synced.and_then(|()| {
            killpoint::hit("rotation-file-synced");
            fsync_dir(&self.dir)
        });
        match outcome {
            Ok(()) => {
                // Group commits waiting for this seal are still held here.
                killpoint::hit("rotation-dir-synced");
                // The hint is queued before the seal is said to have ended: close waits for the
                // seal and then stops the background queue, which still drains what was queued.
                if job.hint {
                    self.queue_hints(&[job.id]);
                }
                self.seals.end(job.n, Ok(()));
            }
            Err(err) => {
                let why = format!("fsync while sealing {} failed: {err}", job.path.display());
                self.poison(why.clone());
                self.seals.end(job.n, Err(why));
            }
        }
    }

    /// `Db::reopen`: flush, then load everything from disk again, keeping the LOCK.
    pub fn reload(&self) -> Result<()> {
        let _no_merge = self.maintenance.lock();
        let _no_hint_writes = self.dirs.lock();
        let mut w = self.quiesce()?;
        let healthy = !self.poisoned.load(Ordering::Acquire);
        if let (true, Some(a)) = (healthy, &mut w.active) {
            a.seal()?;
        }
        // A failed seal poisoned the handle, which the reload clears: it is reported, and
        // recovery judges that file again.
        let _ = self.seals.wait_all();
        self.seals.reset();
        w.active = None;
        let loaded = recovery::load(&self.root, &self.opts, Some(self.seed))?;
        *self.index.write() = loaded.index;
        self.conflicts.note_everything();
        let old_files = std::mem::replace(&mut *self.files.write(), loaded.files);
        self.chores.push(Chore::Release(old_files.into_values().collect()));
        w.active = loaded.active;
        w.unlinked();
        w.next_id = loaded.next_id;
        w.last_ts = w.last_ts.max(loaded.max_ts);
        *self.open_report.lock() = loaded.report;
        self.watermark.replace(loaded.watermark);
        // Ids may be taken again (the counter restarts above the highest file on disk).
        self.irreducible.lock().clear();
        *self.commit.lock() = CommitState::settled(w.seq);
        self.group_ends.settle(w.seq);
        *self.poison.lock() = None;
        self.poisoned.store(false, Ordering::Release);
        drop(w);
        self.queue_hints(&loaded.unhinted);
        Ok(())
    }

    /// Closes the handle: runs `stop_workers` (the caller's periodic threads), stops the
    /// background threads' queues and runs `join_background` (which waits for those threads to
    /// drain them), flushes, writes the active file's hint, and releases the LOCK. A second call
    /// does nothing. A poisoned handle is closed all the same, without the flush and the hint
    /// (nothing written since the failure is known durable), and reports `Poisoned`.
    pub fn close(&self, stop_workers: impl FnOnce(), join_background: impl FnOnce()) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.closing.store(true, Ordering::Release);
        // First: a merge the periodic merger is running may still queue a seal (a full merge
        // seals the active file on the seal thread and waits for it), which a stopped seal
        // thread would never run, and the merger's join would wait for ever.
        stop_workers();
        // Before the background thread stops: a seal that ends queues its file's hint. (A
        // failure poisoned the handle, and the sync below reports it.)
        let _ = self.seals.wait_all();
        self.chores.stop();
        self.prefaults.stop();
        self.seal_jobs.stop();
        join_background();
        let result = self.check_writable().and_then(|()| self.sync_all());
        if result.is_ok() {
            self.watermark.flush();
        }
        self.closed.store(true, Ordering::Release);
        let mut w = self.writer.lock();
        let mut result = result;
        if let Some(mut active) = w.active.take() {
            // A closed file ends at its last record: its room preallocated for appends goes.
            result = result.and_then(|()| active.seal());
            if result.is_ok() && self.opts.hint_files && active.len > 0 {
                let _ = write_hint(&self.dir, active.id);
            }
        }
        if result.is_ok() {
            self.write_snapshot(w.last_ts);
        }
        self.files.write().clear();
        self.lock_file.lock().take();
        result
    }

    /// Writes the keydir snapshot at close, once every file is synced and sealed
    /// (docs/DESIGN.md section 6.7). Not for small keydirs (their hints load fast), nor with
    /// hints off or space low; a failure only costs the next open its shortcut.
    fn write_snapshot(&self, last_ts: u64) {
        let index = self.index.read();
        if self.opts.hint_files && !self.space.is_low() && index.keys.len() >= snapshot::MIN_KEYS {
            let _ = snapshot::write(&self.dir, &index.keys, last_ts);
        }
    }

    /// Every keydir entry, sorted by key (tests compare keydirs loaded different ways).
    #[cfg(test)]
    pub(crate) fn keydir_entries(&self) -> Vec<(Vec<u8>, crate::keydir::Loc)> {
        let mut v = Vec::new();
        self.index.read().keys.for_each(|k, l| v.push((k.to_vec(), l)));
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// What transactions check at commit: writes published after their reads.
    pub(crate) fn conflicts(&self) -> &conflicts::Conflicts {
        &self.conflicts
    }

    /// The id of the file being appended, if any.
    pub(crate) fn active_id(&self) -> Option<u32> {
        self.writer.lock().active.as_ref().map(|a| a.id)
    }

    /// The reserve file and the full state.
    pub(crate) fn space(&self) -> &Space {
        &self.space
    }

    /// Whether close has begun: long work (a merge) stops early.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
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
}
