//! Waking the writers of a group commit all at once (docs/DESIGN.md section 5.3).
//!
//! A condition variable's `notify_all` moves its waiters onto the mutex and lets them in one
//! after another, each woken by the unlock of the one before: after a group's fsync, sixteen
//! writers woke in a chain of sixteen hand-offs on two CPUs before the next group could form.
//! Here a waiter parks on the count of ended groups instead, holding no lock; the end of a group
//! bumps the count and unparks every waiter with one call, and a writer whose record the group
//! made durable returns without taking the commit mutex again.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot_core::{park, unpark_all, ParkToken, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

#[derive(Default)]
pub(super) struct GroupEnds {
    /// Groups ended so far; waiters park until it moves.
    ended: AtomicU64,
    /// Every record up to here is durable and visible (the commit state's `durable`, readable
    /// without its mutex).
    durable: AtomicU64,
}

impl GroupEnds {
    /// The count to hand to [`GroupEnds::wait`], read while the group to wait for still runs.
    pub(super) fn count(&self) -> u64 {
        self.ended.load(Ordering::Acquire)
    }

    /// Parks until a group ends after `count` was read (returns at once if one has).
    pub(super) fn wait(&self, count: u64) {
        let key = self.key();
        let token: ParkToken = DEFAULT_PARK_TOKEN;
        // SAFETY: the closures neither panic nor call into parking_lot; the key is this
        // struct's address, used by no other parking_lot object.
        unsafe {
            park(key, || self.ended.load(Ordering::Acquire) == count, || {}, |_, _| {}, token, None);
        }
    }

    /// A group ended, leaving every record up to `durable` durable: wake every waiter.
    pub(super) fn end(&self, durable: u64) {
        self.durable.fetch_max(durable, Ordering::Release);
        self.ended.fetch_add(1, Ordering::Release);
        // SAFETY: same key as `wait`.
        unsafe { unpark_all(self.key(), DEFAULT_UNPARK_TOKEN) };
    }

    /// Every record up to here is durable and visible.
    pub(super) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// A reload settled every record appended so far.
    pub(super) fn settle(&self, durable: u64) {
        self.durable.fetch_max(durable, Ordering::Release);
    }

    fn key(&self) -> usize {
        &self.ended as *const AtomicU64 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_wait_on_a_count_already_passed_returns_at_once() {
        let ends = GroupEnds::default();
        let count = ends.count();
        ends.end(5);
        ends.wait(count);
        assert_eq!(ends.durable(), 5);
    }

    #[test]
    fn every_parked_waiter_wakes_when_the_group_ends() {
        let ends = Arc::new(GroupEnds::default());
        let count = ends.count();
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let ends = ends.clone();
                std::thread::spawn(move || {
                    ends.wait(count);
                    ends.durable()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        ends.end(7);
        for w in waiters {
            assert_eq!(w.join().unwrap(), 7, "woken after the durable number moved");
        }
    }

    #[test]
    fn the_durable_number_never_goes_back() {
        let ends = GroupEnds::default();
        ends.end(9);
        ends.end(4);
        ends.settle(3);
        assert_eq!(ends.durable(), 9);
    }
}
