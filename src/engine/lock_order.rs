//! The engine's locks, each with its rank in the lock order (see the engine module doc).
//!
//! Debug builds keep, per thread, the ranks of the locks it holds, and taking a lock whose rank
//! is not above every rank held panics, naming both locks. So a wrong order fails any test that
//! takes the two locks one inside the other, not only the rare run where two threads deadlock.
//! Release builds keep nothing: the wrappers are the `parking_lot` mutex or a [`SpreadLock`] and
//! a rank byte.

use std::ops::{Deref, DerefMut};

use super::spread_lock::{ReadGuard, SpreadLock, WriteGuard};
use super::Rank;

#[cfg(debug_assertions)]
thread_local! {
    static HELD: std::cell::RefCell<Vec<Rank>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records that this thread is about to take `rank`, checking the order first.
#[inline]
fn acquire(rank: Rank) {
    #[cfg(debug_assertions)]
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if let Some(&top) = held.iter().max() {
            assert!(rank > top, "lock order violated: taking {rank:?} while holding {top:?} (see the engine docs)");
        }
        held.push(rank);
    });
    #[cfg(not(debug_assertions))]
    let _ = rank;
}

/// Records that this thread let go of `rank` (guards may be dropped in any order).
#[inline]
fn release(rank: Rank) {
    #[cfg(debug_assertions)]
    let _ = HELD.try_with(|held| {
        let mut held = held.borrow_mut();
        if let Some(i) = held.iter().rposition(|&r| r == rank) {
            held.remove(i);
        }
    });
    #[cfg(not(debug_assertions))]
    let _ = rank;
}

pub(crate) struct Mutex<T> {
    rank: Rank,
    inner: parking_lot::Mutex<T>,
}

impl<T> Mutex<T> {
    pub fn new(rank: Rank, value: T) -> Mutex<T> {
        Mutex { rank, inner: parking_lot::Mutex::new(value) }
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        acquire(self.rank);
        MutexGuard { rank: self.rank, inner: self.inner.lock() }
    }

    /// The mutex if it is free within `patience` (the order is checked as for `lock`).
    pub fn try_lock_for(&self, patience: std::time::Duration) -> Option<MutexGuard<'_, T>> {
        let inner = self.inner.try_lock_for(patience)?;
        acquire(self.rank);
        Some(MutexGuard { rank: self.rank, inner })
    }
}

pub(crate) struct MutexGuard<'a, T> {
    rank: Rank,
    inner: parking_lot::MutexGuard<'a, T>,
}

impl<'a, T> MutexGuard<'a, T> {
    /// Runs `f` with the mutex released, taking it again afterwards.
    pub fn unlocked<R>(guard: &mut Self, f: impl FnOnce() -> R) -> R {
        release(guard.rank);
        let out = parking_lot::MutexGuard::unlocked(&mut guard.inner, f);
        acquire(guard.rank);
        out
    }

    /// Waits on `cv`, which releases the mutex meanwhile (the thread takes nothing else then),
    /// until `deadline` at the latest; false when the deadline passed.
    pub fn wait_until(guard: &mut Self, cv: &parking_lot::Condvar, deadline: std::time::Instant) -> bool {
        !cv.wait_until(&mut guard.inner, deadline).timed_out()
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        release(self.rank);
    }
}

/// A reader-writer lock whose readers write no shared cache line (see `spread_lock`).
pub(crate) struct RwLock<T> {
    rank: Rank,
    inner: SpreadLock<T>,
}

impl<T> RwLock<T> {
    pub fn new(rank: Rank, value: T) -> RwLock<T> {
        RwLock { rank, inner: SpreadLock::new(value) }
    }

    pub fn read(&self) -> Ranked<ReadGuard<'_, T>> {
        acquire(self.rank);
        Ranked { rank: self.rank, inner: self.inner.read() }
    }

    pub fn write(&self) -> Ranked<WriteGuard<'_, T>> {
        acquire(self.rank);
        Ranked { rank: self.rank, inner: self.inner.write() }
    }
}

/// A read or write guard that gives its rank back when dropped.
pub(crate) struct Ranked<G> {
    rank: Rank,
    inner: G,
}

impl<G: Deref> Deref for Ranked<G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.inner
    }
}

impl<G: DerefMut> DerefMut for Ranked<G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.inner
    }
}

impl<'a, T> Ranked<ReadGuard<'a, T>> {
    /// The read guard narrowed to the part of the value `f` finds, still holding the lock (and
    /// its rank); `None`, the lock released, when `f` finds nothing.
    pub fn try_map<U>(guard: Self, f: impl FnOnce(&T) -> Option<&U>) -> Option<Ranked<ReadGuard<'a, U>>> {
        let rank = guard.rank;
        let guard = std::mem::ManuallyDrop::new(guard);
        // SAFETY: `guard` is never used or dropped again; its rank passes to the new guard, or is
        // released here when the lock is.
        let inner = unsafe { std::ptr::read(&guard.inner) };
        let mapped = ReadGuard::try_map(inner, f);
        if mapped.is_none() {
            release(rank);
        }
        mapped.map(|inner| Ranked { rank, inner })
    }
}

impl<G> Drop for Ranked<G> {
    fn drop(&mut self) {
        release(self.rank);
    }
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn locks_taken_in_order_and_released_in_any_order_pass() {
        let (writer, index, files) =
            (Mutex::new(Rank::Writer, ()), RwLock::new(Rank::Index, ()), RwLock::new(Rank::Files, ()));
        let w = writer.lock();
        let i = index.read();
        drop(w);
        let f = files.write();
        drop(i);
        drop(f);
        let _again = writer.lock();
    }

    #[test]
    #[should_panic(expected = "taking Writer while holding Index")]
    fn a_lock_taken_under_a_later_one_panics() {
        let (writer, index) = (Mutex::new(Rank::Writer, ()), RwLock::new(Rank::Index, ()));
        let _i = index.write();
        let _w = writer.lock();
    }

    #[test]
    #[should_panic(expected = "taking Index while holding Index")]
    fn a_lock_taken_twice_panics() {
        let index = RwLock::new(Rank::Index, ());
        let _a = index.read();
        let _b = index.read();
    }

    #[test]
    fn an_unlocked_section_may_take_earlier_locks() {
        let (dirs, writer) = (Mutex::new(Rank::Dirs, ()), Mutex::new(Rank::Writer, ()));
        let mut w = writer.lock();
        MutexGuard::unlocked(&mut w, || drop(dirs.lock()));
    }
}
