//! A rotation's seal, off the writer's path (docs/DESIGN.md section 5.6): under the writer
//! mutex a rotation only trims the full file and creates the next one; the fsync of the full
//! file and of `data/` (for the new file's entry) run on the `bitgask-seal` thread. At most one
//! seal runs at a time: a rotation that finds one running waits for it, so a crash leaves at
//! most the two newest files unsynced (the rule open applies, section 4.5).
//!
//! Whatever promises durability waits for the seal that was running when it read what it
//! covers: a group commit (its records may span both files), `sync()`, close, and every
//! synchronous seal (merge, backup, delete-all, reopen).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::write::Writer;
use super::Engine;
use crate::error::Result;

/// Work for the seal thread: the file I/O that paces the writer's files.
pub(super) enum SealWork {
    /// A full file to make durable.
    Seal(SealJob),
    /// A step of the active file to write back early (docs/DESIGN.md section 5.6): here rather
    /// than on the background thread, where it queued behind hint writes, so that the file
    /// reached its seal with much of it still dirty and the seal outlasted the next file's fill.
    Writeback(crate::storage::datafile::WritebackStep),
}

/// A full file to make durable.
pub(super) struct SealJob {
    pub id: u32,
    pub file: Arc<File>,
    pub path: PathBuf,
    /// The rotation cut its room: the fsync must carry the new length too.
    pub trimmed: bool,
    /// Queue the file's hint once it is durable. A full merge that seals the active file to
    /// take it as an input does not: it queues the hint itself if it does not swap the file out.
    pub hint: bool,
    /// The number of this seal ([`Seals::begin`]).
    pub n: u64,
}

#[derive(Default)]
struct State {
    /// Seals begun and finished; a seal is running while `finished < begun`.
    begun: u64,
    finished: u64,
    /// The file of the seal running or last run, for cutting records off it after a failure.
    last: Option<(u32, Arc<File>, PathBuf)>,
    /// Why a seal failed (the handle is poisoned then).
    failed: Option<String>,
}

/// The seals handed to the seal thread and how they ended.
#[derive(Default)]
pub(super) struct Seals {
    state: Mutex<State>,
    cv: Condvar,
}

impl Seals {
    /// Registers a seal of `id` (the caller holds the writer mutex, so seals begin in rotation
    /// order and never two at once); returns the job for the seal thread.
    pub fn begin(&self, id: u32, file: Arc<File>, path: PathBuf, trimmed: bool) -> SealJob {
        self.begin_with(id, file, path, trimmed, true)
    }

    /// [`Seals::begin`], saying whether the seal thread queues the file's hint.
    pub fn begin_with(&self, id: u32, file: Arc<File>, path: PathBuf, trimmed: bool, hint: bool) -> SealJob {
        let mut s = self.state.lock();
        debug_assert_eq!(s.begun, s.finished, "a seal began while another ran");
        s.begun += 1;
        s.last = Some((id, file.clone(), path.clone()));
        SealJob { id, file, path, trimmed, hint, n: s.begun }
    }

    /// The seal thread is done with seal `n`: `Err` carries why it failed.
    pub fn end(&self, n: u64, outcome: std::result::Result<(), String>) {
        let mut s = self.state.lock();
        s.finished = s.finished.max(n);
        if let Err(why) = outcome {
            s.failed.get_or_insert(why);
        }
        self.cv.notify_all();
    }

    /// The number of the last seal begun: a durability promise made now waits until it ends.
    pub fn begun(&self) -> u64 {
        self.state.lock().begun
    }

    /// Waits until seal `n` (and every one before it) has ended; `Err` when one failed.
    pub fn wait_for(&self, n: u64) -> std::result::Result<(), String> {
        let mut s = self.state.lock();
        while s.finished < n {
            self.cv.wait(&mut s);
        }
        s.failed.clone().map_or(Ok(()), Err)
    }

    /// Waits for every seal begun so far.
    pub fn wait_all(&self) -> std::result::Result<(), String> {
        let n = self.begun();
        self.wait_for(n)
    }

    /// The file the last seal was for, if it failed: records awaiting their group commit in it
    /// are cut off after the failure, as in the active file.
    pub fn failed_file(&self) -> Option<(u32, Arc<File>, PathBuf)> {
        let s = self.state.lock();
        s.failed.as_ref().and(s.last.clone())
    }

    /// A reload starts clean: the failure was reported (the handle was poisoned), and every
    /// seal has ended (the caller waited).
    pub fn reset(&self) {
        let mut s = self.state.lock();
        s.failed = None;
        s.last = None;
    }
}

impl Engine {
    /// Seals the active file as a rotation does (docs/DESIGN.md section 5.6), without creating a
    /// successor: under the writer mutex, waits for a running seal, trims the file's unused room
    /// (no flush) and reads it through a read-only map; its fsync and `data/`'s run on the seal
    /// thread, which does not queue its hint. Returns the id of the file, if there was an active
    /// file. A full merge seals its last input so (section 7.2): it needs the file immutable at
    /// once, durable only at its swap, which waits for every seal begun; the fsync under the
    /// mutex held the merge up 9-67 ms before its walk.
    pub(super) fn seal_active_later(&self, w: &mut Writer) -> Result<Option<u32>> {
        // At most one seal at a time: the file below first (section 4.5).
        let Some((full, trimmed)) = self.retire_active(w)? else { return Ok(None) };
        let job = self.seals.begin_with(full.id, full.file.clone(), full.path.clone(), trimmed, false);
        self.seal_jobs.push(SealWork::Seal(job));
        Ok(Some(full.id))
    }

    /// Waits, without the writer mutex, for every seal begun so far; a failed one is the
    /// handle's fsync failure, as for a group commit.
    pub(crate) fn wait_seals(&self) -> Result<()> {
        self.wait_seal(self.seals.begun())
    }

    /// Waits, without the writer mutex, for every seal begun so far; false when one failed (the
    /// handle is poisoned then, and whoever next waits with the writer mutex drops the records
    /// awaiting their group commit).
    pub(crate) fn seals_settled(&self) -> bool {
        self.seals.wait_all().is_ok()
    }
}
