//! Waking the writers of a group commit all at once (docs/DESIGN.md section 5.3).
//!
//! A condition variable's `notify_all` moves its waiters onto the mutex and lets them in one
//! after another, each woken by the unlock of the one before: after a group's fsync, sixteen
//! writers woke in a chain of sixteen hand-offs on two CPUs before the next group could form.
//! Here a waiter sleeps on the count of ended groups instead, holding no lock; the end of a group
//! bumps the count and wakes every sleeper, and a writer whose record the group made durable
//! returns without taking the commit mutex again.
//!
//! On Linux the count is itself the futex word: one `FUTEX_WAKE` wakes every sleeper, where a
//! parking lot makes one system call per sleeper (fifteen per group of sixteen writers), and a
//! group nobody sleeps on makes none. Elsewhere the sleepers park in `parking_lot_core`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[derive(Default)]
pub(super) struct GroupEnds {
    /// Groups ended so far (wrapping); sleepers wait until it moves.
    ended: AtomicU32,
    /// Writers between deciding to sleep and waking (the end of a group wakes nobody without).
    sleepers: AtomicU32,
    /// Every record up to here is durable and visible (the commit state's `durable`, readable
    /// without its mutex).
    durable: AtomicU64,
}

impl GroupEnds {
    /// The count to hand to [`GroupEnds::wait`], read while the group to wait for still runs.
    pub(super) fn count(&self) -> u32 {
        self.ended.load(Ordering::Acquire)
    }

    /// Sleeps until a group ends after `count` was read (returns at once if one has).
    pub(super) fn wait(&self, count: u32) {
        // SeqCst on both sides (here and in `end`): a sleeper that misses the new count is
        // counted before `end` looks, so `end` wakes it.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while self.ended.load(Ordering::SeqCst) == count {
            sleep::until_moved(&self.ended, count);
        }
        self.sleepers.fetch_sub(1, Ordering::Release);
    }

    /// A group ended, leaving every record up to `durable` durable: wake every waiter.
    pub(super) fn end(&self, durable: u64) {
        self.durable.fetch_max(durable, Ordering::Release);
        self.ended.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            sleep::wake_all(&self.ended);
        }
    }

    /// Every record up to here is durable and visible.
    pub(super) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// A reload settled every record appended so far.
    pub(super) fn settle(&self, durable: u64) {
        self.durable.fetch_max(durable, Ordering::Release);
    }
}

/// Sleeping on a word until it moves, and waking every sleeper (either may return early: the
/// caller checks the word again).
#[cfg(target_os = "linux")]
mod sleep {
    use std::sync::atomic::AtomicU32;

    /// Sleeps unless `word` no longer holds `seen` (the kernel checks that under its lock).
    pub fn until_moved(word: &AtomicU32, seen: u32) {
        // SAFETY: the word is a live, aligned u32 for the whole call; no timeout.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                seen,
                std::ptr::null::<libc::timespec>(),
            )
        };
    }

    pub fn wake_all(word: &AtomicU32) {
        // SAFETY: as above; waking needs nothing else.
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX) };
    }
}

#[cfg(not(target_os = "linux"))]
mod sleep {
    use parking_lot_core::{park, unpark_all, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
    use std::sync::atomic::{AtomicU32, Ordering};

    pub fn until_moved(word: &AtomicU32, seen: u32) {
        // SAFETY: the closures neither panic nor call into parking_lot; the key is the word's
        // address, used by no other parking_lot object.
        unsafe {
            park(key(word), || word.load(Ordering::SeqCst) == seen, || {}, |_, _| {}, DEFAULT_PARK_TOKEN, None);
        }
    }

    pub fn wake_all(word: &AtomicU32) {
        // SAFETY: same key as `until_moved`.
        unsafe { unpark_all(key(word), DEFAULT_UNPARK_TOKEN) };
    }

    fn key(word: &AtomicU32) -> usize {
        word as *const AtomicU32 as usize
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

    /// Each round, every waiter reads the count and then waits while the group's end races its
    /// going to sleep (before, during or after it); a wake-up lost anywhere leaves a waiter
    /// asleep for good, since no other end comes until every waiter has returned.
    #[test]
    fn an_end_racing_the_waiters_going_to_sleep_wakes_every_one() {
        const WAITERS: usize = 4;
        const ROUNDS: u64 = 2_000;
        let ends = Arc::new(GroupEnds::default());
        let ready = Arc::new(std::sync::Barrier::new(WAITERS + 1));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        for _ in 0..WAITERS {
            let (ends, ready, done_tx) = (ends.clone(), ready.clone(), done_tx.clone());
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let count = ends.count();
                    ready.wait();
                    ends.wait(count);
                }
                done_tx.send(()).unwrap();
            });
        }
        let ender = ends.clone();
        std::thread::spawn(move || {
            for round in 1..=ROUNDS {
                ready.wait();
                ender.end(round);
            }
        });
        for _ in 0..WAITERS {
            assert!(done_rx.recv_timeout(Duration::from_secs(60)).is_ok(), "a waiter never woke");
        }
        assert_eq!(ends.sleepers.load(Ordering::SeqCst), 0);
        assert_eq!(ends.durable(), ROUNDS);
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
