//! Growing the active file off the writer's path (docs/DESIGN.md section 5.6). The active file
//! is preallocated a step at a time by `fallocate`; the step taken while little room is left goes
//! to the prefault thread, which allocates it and faults its pages in, and the writer takes the
//! new room on a later append. `fallocate` can wait for the disk: ext4 reads a block group's
//! allocation bitmap when it is not cached, 12-24 ms beside a merge's writes (the writer's
//! blocked stacks under `make bench` row h), and on the writer's thread that wait was a put's.
//!
//! The file's length only changes under [`Extent`]'s lock, so a trim, a seal or a cut never
//! races an allocation, and each of them retires the steps queued before it, which then allocate
//! nothing (a step also checks that the file still ends where it starts). A step always starts at the file's length, so it never leaves a
//! hole: a page of the map over a hole could fail to be written back for lack of space.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::active_map::{grow_to, ActiveMap};

/// The active file's length, as whoever last changed it left it.
pub struct Extent {
    /// The length: the writer reads it without the lock (a step's end, once allocated).
    len: AtomicU64,
    /// Steps queued before the last retirement ([`Locked::retire`]) allocate nothing.
    epoch: AtomicU64,
    /// Held while the length changes.
    changing: Mutex<()>,
}

/// The file's length, locked for a change ([`Extent::lock`]).
pub struct Locked<'a> {
    _held: MutexGuard<'a, ()>,
    extent: &'a Extent,
}

impl Locked<'_> {
    pub fn get(&self) -> u64 {
        self.extent.len.load(Ordering::Relaxed)
    }

    /// Sets the length; bytes below it may be written once the writer reads it.
    pub fn set(&mut self, len: u64) {
        self.extent.len.store(len, Ordering::Release);
    }

    /// Makes every step queued so far allocate nothing, even one that starts where the file
    /// still ends (a trim or a seal of a file whose room was used up to the byte).
    pub fn retire(&mut self) {
        self.extent.epoch.fetch_add(1, Ordering::Relaxed);
    }
}

impl Extent {
    pub fn new(len: u64) -> Arc<Extent> {
        Arc::new(Extent { len: AtomicU64::new(len), epoch: AtomicU64::new(0), changing: Mutex::new(()) })
    }

    /// Locks the length for a change, waiting for a step being allocated.
    pub fn lock(&self) -> Locked<'_> {
        Locked { _held: self.changing.lock(), extent: self }
    }

    /// The length as last set: once a step is allocated, bytes below it may be written.
    pub fn grown(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// A step from `from`, the file's length as the writer knows it, to `to`, for the prefault
    /// thread. Only the writer retires steps, so the epoch it reads here is current.
    pub fn step(self: &Arc<Self>, file: &Arc<File>, map: &Arc<ActiveMap>, from: u64, to: u64) -> Growth {
        let epoch = self.epoch.load(Ordering::Relaxed);
        Growth { extent: self.clone(), file: file.clone(), map: map.clone(), epoch, from, to }
    }
}

/// One step of room to allocate and fault in ([`Extent::step`]).
pub struct Growth {
    extent: Arc<Extent>,
    file: Arc<File>,
    map: Arc<ActiveMap>,
    epoch: u64,
    from: u64,
    to: u64,
}

impl Growth {
    /// Allocates the step if the file still ends where it started and no trim, seal or cut
    /// retired it since it was queued, then faults its pages in
    /// writable. Best effort: a step that cannot be allocated leaves the growth to the writer's
    /// next append that needs the room, which reports what stops it.
    pub fn run(self) {
        let grown = {
            let mut len = self.extent.lock();
            let current = self.extent.epoch.load(Ordering::Relaxed) == self.epoch && len.get() == self.from;
            let grown = current && grow_to(&self.file, self.from, self.to);
            if grown {
                len.set(self.to);
            }
            grown
        };
        // Outside the lock: a trim meanwhile only makes the advice fail past the new end.
        if grown {
            self.map.populate(self.from, self.to);
        }
    }

    /// The stretch this step grows the file by.
    #[cfg(test)]
    pub fn range(&self) -> (u64, u64) {
        (self.from, self.to)
    }
}
