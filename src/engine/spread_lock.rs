//! A reader-writer lock for data read far more often than written (the keydir and the file
//! table), whose readers write no cache line another thread's reader writes.
//!
//! An ordinary reader-writer lock counts its readers in one word: every read lock and unlock is
//! an atomic read-modify-write of that word, so two threads reading at once pass its cache line
//! back and forth on every get (a random get on two threads scaled 1.5x instead of 2x). Here each
//! thread counts its reads in one of `SLOTS` counters, each on its own pair of cache lines, picked
//! once per thread; a reader also loads the `writing` flag, which only writers store to, so it
//! stays cached on every core while nobody writes.
//!
//! A writer takes the writers' mutex, raises `writing`, and waits until every counter is zero:
//! readers arriving meanwhile see the flag, step back and wait on that mutex, so a writer waits
//! only for the reads already under way (short: no reader holds the lock across a call out).
//! The flag and the counters are a Dekker pair (a reader raises its counter then loads the flag,
//! a writer raises the flag then loads the counters, all sequentially consistent): at least one
//! of the two sees the other, so a reader never runs beside a writer.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

/// Reader counters per lock: enough for every thread of a typical process to have its own (two
/// threads sharing one stay correct, only slower). A writer loads all of them.
const SLOTS: usize = 16;

/// 128 bytes: adjacent-line prefetchers move cache lines in pairs.
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

pub(crate) struct SpreadLock<T> {
    /// Raised while a writer holds the lock or waits for readers to finish.
    writing: Padded<AtomicBool>,
    /// Held by the writer: writers take turns, and readers that found `writing` raised wait on it.
    writers: parking_lot::Mutex<()>,
    readers: [Padded<AtomicUsize>; SLOTS],
    value: Padded<UnsafeCell<T>>,
}

// SAFETY: the lock hands out `&T` to several threads at once only to readers, and `&mut T` to one
// writer at a time with no reader beside it, as `std::sync::RwLock` does.
unsafe impl<T: Send> Send for SpreadLock<T> {}
unsafe impl<T: Send + Sync> Sync for SpreadLock<T> {}

/// This thread's reader counter: threads take the slots in turn as they first read.
fn my_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Relaxed) % SLOTS;
    }
    SLOT.with(|s| *s)
}

impl<T> SpreadLock<T> {
    pub fn new(value: T) -> SpreadLock<T> {
        SpreadLock {
            writing: Padded::default(),
            writers: parking_lot::Mutex::new(()),
            readers: Default::default(),
            value: Padded(UnsafeCell::new(value)),
        }
    }

    pub fn read(&self) -> ReadGuard<'_, T> {
        let count = &self.readers[my_slot()].0;
        loop {
            count.fetch_add(1, SeqCst);
            if !self.writing.0.load(SeqCst) {
                // SAFETY: no writer runs until this count drops (see the module doc).
                let value = unsafe { NonNull::new_unchecked(self.value.0.get()) };
                return ReadGuard { count, value };
            }
            count.fetch_sub(1, Release);
            // The writer holds this mutex until it is done.
            drop(self.writers.lock());
        }
    }

    pub fn write(&self) -> WriteGuard<'_, T> {
        let turn = self.writers.lock();
        self.writing.0.store(true, SeqCst);
        for slot in &self.readers {
            let mut spins = 0u32;
            while slot.0.load(SeqCst) != 0 {
                // A reader holds the lock for a lookup; one preempted meanwhile gets the CPU back.
                if spins < 64 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
        WriteGuard { lock: self, _turn: turn }
    }
}

/// Shared access to a `T` (or to a part of it, see [`ReadGuard::try_map`]).
pub(crate) struct ReadGuard<'a, T> {
    count: &'a AtomicUsize,
    value: NonNull<T>,
}

// SAFETY: a guard is a shared reference to `T`. It is not `Send`, like the `parking_lot` guards
// it replaced: the debug lock-order check keeps the ranks a thread holds per thread.
unsafe impl<T: Sync> Sync for ReadGuard<'_, T> {}

impl<'a, T> ReadGuard<'a, T> {
    /// The guard narrowed to a part of the value `f` finds, still holding the read lock; `None`
    /// (the lock released) when `f` finds nothing.
    pub fn try_map<U>(guard: Self, f: impl FnOnce(&T) -> Option<&U>) -> Option<ReadGuard<'a, U>> {
        // SAFETY: the value stays shared until the count drops, which the new guard does.
        let part = NonNull::from(f(unsafe { guard.value.as_ref() })?);
        let count = guard.count;
        std::mem::forget(guard);
        Some(ReadGuard { count, value: part })
    }
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: no writer runs while this guard counts as a reader.
        unsafe { self.value.as_ref() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Release);
    }
}

pub(crate) struct WriteGuard<'a, T> {
    lock: &'a SpreadLock<T>,
    _turn: parking_lot::MutexGuard<'a, ()>,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer is alone (see `SpreadLock::write`).
        unsafe { &*self.lock.value.0.get() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`.
        unsafe { &mut *self.lock.value.0.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // Before the mutex goes (a field, dropped after this): waiting readers retry then.
        self.lock.writing.0.store(false, Release);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn readers_share_and_a_writer_changes_the_value() {
        let lock = SpreadLock::new(1u32);
        {
            let (a, b) = (lock.read(), lock.read());
            assert_eq!(*a + *b, 2);
        }
        *lock.write() = 5;
        assert_eq!(*lock.read(), 5);
    }

    #[test]
    fn a_writer_waits_for_a_reader_already_reading() {
        let lock = Arc::new(SpreadLock::new(0u32));
        let written = Arc::new(AtomicBool::new(false));
        let guard = lock.read();
        let t = {
            let (lock, written) = (lock.clone(), written.clone());
            std::thread::spawn(move || {
                *lock.write() = 1;
                written.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!written.load(Ordering::SeqCst), "the writer ran beside a reader");
        assert_eq!(*guard, 0);
        drop(guard);
        t.join().unwrap();
        assert_eq!(*lock.read(), 1);
    }

    #[test]
    fn a_reader_waits_for_a_writer() {
        let lock = Arc::new(SpreadLock::new(0u32));
        let mut w = lock.write();
        let t = {
            let lock = lock.clone();
            std::thread::spawn(move || *lock.read())
        };
        std::thread::sleep(Duration::from_millis(50));
        *w = 7;
        drop(w);
        assert_eq!(t.join().unwrap(), 7);
    }

    #[test]
    fn a_narrowed_guard_keeps_the_lock_and_a_miss_releases_it() {
        let lock = SpreadLock::new((1u32, 2u32));
        let second = ReadGuard::try_map(lock.read(), |v| Some(&v.1)).unwrap();
        assert_eq!(*second, 2);
        assert_eq!(lock.readers.iter().map(|s| s.0.load(SeqCst)).sum::<usize>(), 1);
        drop(second);
        assert!(ReadGuard::try_map(lock.read(), |_| None::<&u32>).is_none());
        assert_eq!(lock.readers.iter().map(|s| s.0.load(SeqCst)).sum::<usize>(), 0);
        *lock.write() = (3, 4);
    }

    /// Four threads each keep two counters equal under the write lock and check them under the
    /// read lock: a reader beside a writer would see them differ.
    #[test]
    fn readers_never_see_a_write_half_done() {
        let lock = Arc::new(SpreadLock::new((0u64, 0u64)));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        if i % 7 == t {
                            let mut w = lock.write();
                            w.0 += 1;
                            std::hint::black_box(&mut *w);
                            w.1 += 1;
                        } else {
                            let r = lock.read();
                            assert_eq!(r.0, r.1);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = lock.read();
        assert_eq!(r.0, r.1);
    }
}
