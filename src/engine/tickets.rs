//! Commits that are not waited for: inside [`Engine::deferring`], a write that would wait for
//! its group commit (step 4 of the write path, `write.rs`) returns as soon as it is appended and
//! queued, and the scope hands back the highest sequence number it appended, its *ticket*. The
//! record stays invisible exactly as a waiting writer's would until a group fsync covers it; the
//! caller learns the outcome with [`Engine::ticket_outcome`] (no waiting) or
//! [`Engine::wait_ticket`] (leading a group fsync if nobody is). An event loop thus appends on
//! its own thread and lets one syncer thread do the fsyncs for every connection.
//!
//! Sequence numbers are never reused by a handle (a reload keeps counting), but a reload does
//! declare everything appended durable (`CommitState::settled`), including records a failed
//! fsync had discarded. So every discarded range is remembered here ([`Lost`]) and a ticket in
//! one is failed whatever the commit state says.

use std::cell::Cell;

use parking_lot::Mutex;

use super::lock_order::MutexGuard;
use super::write::Writer;
use super::Engine;
use crate::error::{Error, Result};

thread_local! {
    /// The engine (by address) whose commits this thread defers, and the highest sequence
    /// number deferred so far (0: none). Address 0: not deferring.
    static DEFERRING: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

/// Restores the thread's deferral state when a scope ends, even by a panic.
struct Restore((usize, u64));

impl Drop for Restore {
    fn drop(&mut self) {
        DEFERRING.with(|d| d.set(self.0));
    }
}

/// Sequence ranges (first, last, inclusive) whose records were discarded after a failed fsync,
/// with the error their tickets report. Only a poisoning adds one, so the list stays short.
/// Outside the lock order: nothing is taken while holding it.
#[derive(Default)]
pub(crate) struct Lost(Mutex<Vec<(u64, u64, String)>>);

impl Lost {
    fn find(&self, seq: u64) -> Option<String> {
        self.0.lock().iter().find(|(a, b, _)| (*a..=*b).contains(&seq)).map(|(_, _, why)| why.clone())
    }
}

impl Engine {
    fn address(&self) -> usize {
        self as *const Engine as usize
    }

    /// Runs `f` with this engine's group commits deferred on this thread; returns what `f`
    /// returned and the highest sequence number a deferred write appended (0: none waits).
    pub fn deferring<R>(&self, f: impl FnOnce() -> R) -> (R, u64) {
        let _restore = Restore(DEFERRING.with(|d| d.replace((self.address(), 0))));
        let r = f();
        let (_, seq) = DEFERRING.with(Cell::get);
        (r, seq)
    }

    /// Record `seq` joins the pending queue: waits for its group commit, or, inside
    /// [`Engine::deferring`], notes it and returns at once.
    pub(super) fn await_commit(&self, w: &mut MutexGuard<'_, Writer>, seq: u64) -> Result<()> {
        let me = self.address();
        let deferred = DEFERRING.with(|d| match d.get() {
            (at, upto) if at == me => {
                d.set((at, upto.max(seq)));
                true
            }
            _ => false,
        });
        self.join_and_commit(w, seq, deferred)
    }

    /// Records that the pending records `first..=last` were discarded unpublished (the handle
    /// is poisoned; its reason is what their tickets report).
    pub(super) fn note_lost(&self, first: u64, last: u64) {
        let why = self.poison.lock().clone().unwrap_or_default();
        self.lost.0.lock().push((first, last, why));
    }

    /// The outcome of ticket `seq` if it is known: `Ok` once its records are durable and
    /// visible, the error its writer would have got once they never will be; `None` while they
    /// await a group commit.
    pub fn ticket_outcome(&self, seq: u64) -> Option<Result<()>> {
        if let Some(why) = self.lost.find(seq) {
            return Some(Err(Error::Io { context: why, source: std::io::Error::other("fsync failed") }));
        }
        if let Some(done) = self.commit.lock().outcome(seq) {
            return Some(done);
        }
        // Poisoned meanwhile (its records are being discarded), or closed: they never will be.
        self.check_writable().err().map(Err)
    }

    /// Waits until ticket `seq` is durable and visible (leading a group fsync if nobody is), or
    /// returns the error its writer would have got.
    pub fn wait_ticket(&self, seq: u64) -> Result<()> {
        self.wait_ticket_as(seq, true)
    }

    /// [`Engine::wait_ticket`]; without `gather`, a group fsync it leads starts at once.
    pub fn wait_ticket_as(&self, seq: u64, gather: bool) -> Result<()> {
        let waited = self.commit_as(seq, gather);
        match self.ticket_outcome(seq) {
            Some(Err(e)) => Err(e),
            _ => waited,
        }
    }

    /// Whether another thread holds the writer mutex for longer than `patience` (a rotation
    /// sealing its file, a merge swapping generations, a long read-modify-write; an append
    /// holds it for microseconds): a thread that must not block can leave the write to one that
    /// may.
    pub fn writer_busy(&self, patience: std::time::Duration) -> bool {
        self.writer.try_lock_for(patience).is_none()
    }
}
