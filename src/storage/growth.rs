//! Growing the active file off the writer's path (docs/DESIGN.md section 5.6). The active file
//! is preallocated a step at a time by `fallocate`; the step taken while little room is left goes
//! to the prefault thread, which allocates it and faults its pages in, and the writer takes the
//! new room on a later append. `fallocate` can wait for the disk: ext4 reads a block group's
//! allocation bitmap when it is not cached, 12-24 ms beside a merge's writes (the writer's
//! blocked stacks under `make bench` row h), and on the writer's thread that wait was a put's.
//!
//! The file's length only changes under [`Extent`]'s lock, so a trim, a seal or a cut never
//! races an allocation, and a step queued before one of them finds the length it starts from
//! gone and allocates nothing. A step always starts at the file's length, so it never leaves a
//! hole: a page of the map over a hole could fail to be written back for lack of space.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::active_map::{grow_to, ActiveMap};

/// The active file's length, as whoever last changed it left it.
pub struct Extent {
    /// The length; held while it changes.
    len: Mutex<u64>,
    /// The length for the writer to read without the lock (a step's end once allocated).
    grown: AtomicU64,
}

/// The file's length, locked ([`Extent::lock`]); setting it publishes it to the writer.
pub struct Locked<'a> {
    len: MutexGuard<'a, u64>,
    grown: &'a AtomicU64,
}

impl Locked<'_> {
    pub fn get(&self) -> u64 {
        *self.len
    }

    pub fn set(&mut self, len: u64) {
        *self.len = len;
        self.grown.store(len, Ordering::Release);
    }
}

impl Extent {
    pub fn new(len: u64) -> Arc<Extent> {
        Arc::new(Extent { len: Mutex::new(len), grown: AtomicU64::new(len) })
    }

    /// Locks the length for a change, waiting for a step being allocated.
    pub fn lock(&self) -> Locked<'_> {
        Locked { len: self.len.lock(), grown: &self.grown }
    }

    /// The length as last set: once a step is allocated, bytes below it may be written.
    pub fn grown(&self) -> u64 {
        self.grown.load(Ordering::Acquire)
    }

    /// A step from `from`, the file's length as the writer knows it, to `to`, for the prefault
    /// thread.
    pub fn step(self: &Arc<Self>, file: &Arc<File>, map: &Arc<ActiveMap>, from: u64, to: u64) -> Growth {
        Growth { extent: self.clone(), file: file.clone(), map: map.clone(), from, to }
    }
}

/// One step of room to allocate and fault in ([`Extent::step`]).
pub struct Growth {
    extent: Arc<Extent>,
    file: Arc<File>,
    map: Arc<ActiveMap>,
    from: u64,
    to: u64,
}

impl Growth {
    /// Allocates the step if the file still ends where it started, then faults its pages in
    /// writable. Best effort: a step that cannot be allocated leaves the growth to the writer's
    /// next append that needs the room, which reports what stops it.
    pub fn run(self) {
        let grown = {
            let mut len = self.extent.lock();
            let grown = len.get() == self.from && grow_to(&self.file, self.from, self.to);
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
