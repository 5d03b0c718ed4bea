//! Optimistic transactions (docs/DESIGN.md section 5.13).
//!
//! A [`Txn`] holds no lock while it is open. Its writes are buffered in memory and its reads go
//! to the database (after its own writes), each remembering the version at which it looked.
//! [`Txn::commit`] takes the writer mutex, checks that no key it read was made visible by
//! anyone else after it read it (nor is appended and waiting to be), and writes its writes as
//! one batch (section 2.7), all inside that one hold of the mutex; otherwise it writes nothing
//! and fails with `E_CONFLICT`. Writes the transaction did not read never conflict.
//!
//! Not detected: keys that others insert into a range the transaction iterated (no phantom
//! protection), and expiry (a key that expires is not "written").

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::batch::{check_op, Op};
use crate::clock::now_ns;
use crate::db::{check_sizes, read_value, Db};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::iter::{record_read, Iter, KeyFilter, Overlay, Reads};

/// An optimistic transaction on a database. Single-owner; many may be open at once on one
/// handle, from many threads. Dropping it discards it.
pub struct Txn {
    engine: Arc<Engine>,
    /// The conflict log's registration (see `engine/conflicts.rs`).
    begun: u64,
    reads: Reads,
    writes: BTreeMap<Vec<u8>, Op>,
}

/// How many times [`Db::update_txn`] runs its closure before it gives up with `E_CONFLICT`.
pub const UPDATE_TXN_ATTEMPTS: usize = 16;

impl Db {
    /// Begins an optimistic transaction (see [`Txn`]).
    pub fn transaction(&self) -> Result<Txn> {
        self.engine().check_writable()?;
        let engine = self.engine().clone();
        let begun = engine.conflicts().begin();
        Ok(Txn { engine, begun, reads: Reads::default(), writes: BTreeMap::new() })
    }

    /// Runs `f` in a transaction and commits it, running it again in a fresh transaction when
    /// the commit conflicts, up to [`UPDATE_TXN_ATTEMPTS`] times in all (then `E_CONFLICT`).
    /// An error from `f` discards the transaction and is returned as it is.
    pub fn update_txn<R>(&self, mut f: impl FnMut(&mut Txn) -> Result<R>) -> Result<R> {
        let mut last = None;
        for _ in 0..UPDATE_TXN_ATTEMPTS {
            let mut txn = self.transaction()?;
            let out = f(&mut txn)?;
            match txn.commit() {
                Ok(()) => return Ok(out),
                Err(e @ Error::Conflict(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }
}

impl Txn {
    /// The value of `key`: the transaction's own write if it has one, else the database's
    /// current value (`None` when absent or expired). A read of the database is remembered for
    /// the commit check, whatever it found.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        check_sizes(self.engine.opts(), key, 0)?;
        // Before the own-writes lookup: a closed handle fails every call (header: E_CLOSED).
        self.engine.check_open()?;
        if let Some(op) = self.writes.get(key) {
            return Ok(match op {
                Op::Put { value, .. } => Some(value.clone()),
                Op::Delete { .. } => None,
            });
        }
        let read_at = self.engine.conflicts().now();
        let v = read_value(&self.engine, key, <[u8]>::to_vec)?;
        record_read(&self.reads, key, read_at);
        Ok(v)
    }

    /// Whether `key` exists, the transaction's own writes first; remembered as [`Txn::get`] is.
    pub fn exists(&mut self, key: &[u8]) -> Result<bool> {
        check_sizes(self.engine.opts(), key, 0)?;
        self.engine.check_open()?;
        if let Some(op) = self.writes.get(key) {
            return Ok(matches!(op, Op::Put { .. }));
        }
        let read_at = self.engine.conflicts().now();
        let found = self.engine.live_header(key)?.is_some();
        record_read(&self.reads, key, read_at);
        Ok(found)
    }

    /// Buffers a put of `value` under `key` (the handle's default TTL applies, as for
    /// [`Db::put`]). Nothing is written before the commit.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.buffer(Op::Put { key: key.to_vec(), value: value.to_vec(), ttl_ms: 0, at: None })
    }

    /// Buffers a put expiring `ttl_ms` (> 0) milliseconds after the commit.
    pub fn put_ttl(&mut self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        if ttl_ms == 0 {
            return Err(Error::InvalidArg("ttl_ms must be positive (use put for keys without expiry)".into()));
        }
        self.buffer(Op::Put { key: key.to_vec(), value: value.to_vec(), ttl_ms, at: None })
    }

    /// Buffers a delete of `key` (absent keys are fine).
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.buffer(Op::Delete { key: key.to_vec() })
    }

    fn buffer(&mut self, op: Op) -> Result<()> {
        let (key, len) = match &op {
            Op::Put { key, value, .. } => (key, value.len()),
            Op::Delete { key } => (key, 0),
        };
        check_op(key, len)?;
        check_sizes(self.engine.opts(), key, len)?;
        self.engine.check_open()?;
        self.writes.insert(key.clone(), op);
        Ok(())
    }

    /// A cursor over the keys starting with `prefix`: the database's keys as of now merged with
    /// the transaction's own writes (its puts visited with their values, its deletes hidden).
    /// Every key it returns from the database counts as read by the transaction.
    pub fn iter_prefix(&mut self, prefix: &[u8]) -> Result<Iter> {
        let filter = KeyFilter::Prefix(prefix.to_vec());
        let writes = self
            .writes
            .iter()
            .filter(|(k, _)| filter.matches(k))
            .map(|(k, op)| {
                let v = match op {
                    Op::Put { value, .. } => Some(value.clone()),
                    Op::Delete { .. } => None,
                };
                (k.clone(), v)
            })
            .collect();
        Iter::with_overlay(self.engine.clone(), filter, Overlay::new(writes, self.reads.clone()))
    }

    /// Writes the transaction's writes as one batch if no key it read was written by anyone
    /// else since it read it; `E_CONFLICT`, writing nothing, otherwise. Ends the transaction
    /// either way. A transaction that wrote nothing only checks its reads.
    pub fn commit(self) -> Result<()> {
        let reads = std::mem::take(&mut *self.reads.lock().unwrap_or_else(|p| p.into_inner()));
        let e = self.engine.clone();
        let conflicts = e.conflicts();
        let check = |pending: crate::engine::PendingProbe<'_>| {
            for (key, &read_at) in &reads {
                if pending(key) || conflicts.changed_since(key, read_at) {
                    return Err(Error::Conflict(format!(
                        "key {} was written by someone else after this transaction read it",
                        crate::report::show_key(key)
                    )));
                }
            }
            Ok(())
        };
        crate::batch::write_ops(&e, self.writes.values().map(Op::as_ref), now_ns(), check)
    }

    /// Ends the transaction without writing anything (the same as dropping it).
    pub fn discard(self) {}
}

impl Drop for Txn {
    fn drop(&mut self) {
        self.engine.conflicts().end(self.begun);
    }
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
