//! What optimistic transactions check at commit (docs/DESIGN.md section 5.13): which keys were
//! made visible (published) after a given moment.
//!
//! Moments are *versions*: a counter that moves on each publish noted while any transaction is
//! open. A transaction read remembers the version current just before it looked at the keydir;
//! a write published after that look gets a greater version, because it is noted under the
//! keydir's write lock, which the look held for reading. The log keeps the latest version of
//! each key written while transactions are open, and is emptied when none is.
//!
//! The log's mutex is a leaf: nothing is taken while it is held (it is taken under the writer
//! mutex and the keydir's write lock), so it stays outside the rank order of `engine/mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Entries kept before the log is pruned down to what open transactions may still ask about.
const PRUNE_ABOVE: usize = 1 << 16;
/// Entries at most: past this (a transaction left open while many keys are written) the log
/// forgets every key and records "everything changed" instead, so every read older than that
/// conflicts. Memory stays bounded; a long-open transaction pays with a conflict it may not need.
#[cfg(not(test))]
const MAX_ENTRIES: usize = 1 << 20;
/// Smaller in tests, which fill it.
#[cfg(test)]
const MAX_ENTRIES: usize = 2 * PRUNE_ABOVE;

#[derive(Default)]
struct Log {
    /// The version at which each key was last published.
    writes: HashMap<Vec<u8>, u64>,
    /// The version of the last change to every key at once (delete-all, reopen).
    everything: u64,
    /// Open transactions by the version at which they began.
    begun: BTreeMap<u64, usize>,
}

#[derive(Default)]
pub(crate) struct Conflicts {
    open: AtomicUsize,
    version: AtomicU64,
    log: Mutex<Log>,
}

impl Conflicts {
    /// Registers a transaction; returns the version it begins at (to give to [`Conflicts::end`]).
    pub fn begin(&self) -> u64 {
        let mut log = self.log.lock();
        self.open.fetch_add(1, Ordering::SeqCst);
        let v = self.version.load(Ordering::SeqCst);
        *log.begun.entry(v).or_insert(0) += 1;
        v
    }

    /// Unregisters a transaction that began at `begun`.
    pub fn end(&self, begun: u64) {
        let mut log = self.log.lock();
        if let Some(n) = log.begun.get_mut(&begun) {
            *n -= 1;
            if *n == 0 {
                log.begun.remove(&begun);
            }
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
        match log.begun.keys().next().copied() {
            None => {
                log.writes = HashMap::new();
                log.everything = 0;
            }
            Some(oldest) if log.writes.len() > PRUNE_ABOVE => log.writes.retain(|_, v| *v > oldest),
            Some(_) => {}
        }
    }

    /// The version a read is taken at: to be called before looking at the keydir.
    pub fn now(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Notes that `key` was published (called under the keydir's write lock).
    pub fn note(&self, key: &[u8]) {
        if self.open.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut log = self.log.lock();
        let v = self.version.fetch_add(1, Ordering::SeqCst) + 1;
        if log.writes.len() >= MAX_ENTRIES && !log.writes.contains_key(key) {
            log.writes = HashMap::new();
            log.everything = v;
            return;
        }
        match log.writes.get_mut(key) {
            Some(old) => *old = v,
            None => {
                log.writes.insert(key.to_vec(), v);
            }
        }
    }

    /// Notes that every key changed at once (delete-all, reopen).
    pub fn note_everything(&self) {
        if self.open.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut log = self.log.lock();
        log.everything = self.version.fetch_add(1, Ordering::SeqCst) + 1;
    }

    /// Whether `key` was published after version `read_at`.
    pub fn changed_since(&self, key: &[u8], read_at: u64) -> bool {
        let log = self.log.lock();
        log.everything > read_at || log.writes.get(key).is_some_and(|&v| v > read_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_after_a_read_is_seen_and_one_before_is_not() {
        let c = Conflicts::default();
        let t = c.begin();
        c.note(b"before");
        let read_at = c.now();
        assert!(!c.changed_since(b"before", read_at));
        c.note(b"after");
        assert!(c.changed_since(b"after", read_at));
        assert!(!c.changed_since(b"other", read_at));
        c.end(t);
    }

    #[test]
    fn nothing_is_logged_while_no_transaction_is_open() {
        let c = Conflicts::default();
        c.note(b"k");
        assert_eq!(c.now(), 0);
        let t = c.begin();
        c.note(b"k");
        c.end(t);
        assert!(c.log.lock().writes.is_empty());
    }

    #[test]
    fn a_change_to_everything_conflicts_with_every_read() {
        let c = Conflicts::default();
        let t = c.begin();
        let read_at = c.now();
        c.note_everything();
        assert!(c.changed_since(b"any", read_at));
        c.end(t);
    }

    #[test]
    fn a_full_log_turns_into_a_conflict_with_every_older_read() {
        let c = Conflicts::default();
        let t = c.begin();
        let read_at = c.now();
        for i in 0..MAX_ENTRIES {
            c.note(format!("k{i}").as_bytes());
        }
        assert!(!c.changed_since(b"untouched", read_at));
        c.note(b"one more");
        assert!(c.changed_since(b"untouched", read_at), "memory is bounded by forgetting, safely");
        assert!(c.log.lock().writes.is_empty());
        c.end(t);
    }

    #[test]
    fn pruning_keeps_what_the_oldest_open_transaction_may_ask_about() {
        let c = Conflicts::default();
        let old = c.begin();
        for i in 0..=PRUNE_ABOVE {
            c.note(format!("k{i}").as_bytes());
        }
        let young = c.begin();
        c.end(old);
        let log = c.log.lock();
        assert!(log.writes.is_empty(), "every entry predates the young transaction");
        drop(log);
        c.end(young);
    }
}
