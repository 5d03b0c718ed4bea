//! Snapshot cursors: the matching keys are copied and sorted when the cursor is created; values
//! are read when a key is visited, and keys deleted (or expired) since then are skipped.
//!
//! The keydir is a hash table, so creating a cursor walks every key once (O(n) in the key count,
//! plus a sort of the matches); visiting is then O(1) per key.

use std::sync::Arc;

use crate::clock::now_ns;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Which keys a cursor visits.
#[derive(Debug, Clone)]
pub enum KeyFilter {
    Prefix(Vec<u8>),
    /// `[start, end)`; no upper bound when `end` is `None`.
    Range {
        start: Vec<u8>,
        end: Option<Vec<u8>>,
    },
}

impl KeyFilter {
    pub fn matches(&self, key: &[u8]) -> bool {
        match self {
            KeyFilter::Prefix(p) => key.starts_with(p),
            KeyFilter::Range { start, end } => key >= start.as_slice() && end.as_deref().is_none_or(|e| key < e),
        }
    }
}

/// A cursor over a snapshot of keys, in byte order.
pub struct Iter {
    engine: Arc<Engine>,
    /// A transaction's own writes, merged in (section 5.13 of docs/DESIGN.md).
    overlay: Option<Overlay>,
    /// Matching keys back to back, and (start, len) of each in sorted order.
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
    pos: usize,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Iter {
    pub(crate) fn new(engine: Arc<Engine>, filter: KeyFilter) -> Result<Iter> {
        engine.check_open()?;
        let mut bytes = Vec::new();
        let mut spans = Vec::new();
        engine.read_index(|ix| {
            ix.keys.for_each(|k, _| {
                if filter.matches(k) {
                    spans.push((bytes.len(), k.len()));
                    bytes.extend_from_slice(k);
                }
            })
        });
        spans.sort_unstable_by(|a, b| bytes[a.0..a.0 + a.1].cmp(&bytes[b.0..b.0 + b.1]));
        Ok(Iter { engine, overlay: None, bytes, spans, pos: 0, key: Vec::new(), value: Vec::new() })
    }

    /// A cursor over the database with a transaction's writes merged in.
    pub(crate) fn with_overlay(engine: Arc<Engine>, filter: KeyFilter, overlay: Overlay) -> Result<Iter> {
        let mut it = Iter::new(engine, filter)?;
        it.overlay = Some(overlay);
        Ok(it)
    }

    /// Moves to the next key that still exists, reading its value if `with_value`. Returns false
    /// at the end. `E_CLOSED` once the database handle has been closed.
    pub fn advance(&mut self, with_value: bool) -> Result<bool> {
        loop {
            self.engine.check_open()?;
            let Some(ov) = &mut self.overlay else { return self.advance_db(with_value) };
            match ov.step(self.spans.get(self.pos).map(|&(s, l)| &self.bytes[s..s + l])) {
                Step::Db => {
                    // Taken before the value is read, so a write published after the read
                    // is always a conflict.
                    let read_at = self.engine.conflicts().now();
                    if self.advance_db(with_value)? {
                        if let Some(ov) = &self.overlay {
                            ov.record(&self.key, read_at);
                        }
                        return Ok(true);
                    }
                }
                Step::Own { skip_db, value } => {
                    if skip_db {
                        self.pos += 1;
                    }
                    let Some((key, value)) = value else { continue };
                    self.key.clear();
                    self.key.extend_from_slice(&key);
                    self.value.clear();
                    if with_value {
                        self.value.extend_from_slice(&value);
                    }
                    return Ok(true);
                }
                Step::End => return Ok(false),
            }
        }
    }

    /// Visits the snapshot's next key that still exists (one key at most with an overlay).
    fn advance_db(&mut self, with_value: bool) -> Result<bool> {
        while self.pos < self.spans.len() {
            self.engine.check_open()?;
            crate::killpoint::hit("iter-next");
            let (start, len) = self.spans[self.pos];
            self.pos += 1;
            let key = &self.bytes[start..start + len];
            let found = if with_value {
                let value = &mut self.value;
                let read = self.engine.with_current(key, |_, r| {
                    if r.header.is_expired(now_ns()) {
                        return Ok(false);
                    }
                    let v = r.value().map_err(|bad| Error::Corrupt(bad.to_string()))?;
                    value.clear();
                    value.extend_from_slice(&v);
                    Ok(true)
                });
                read? == Some(true)
            } else {
                self.value.clear();
                self.engine.live_header(key)?.is_some()
            };
            if !found {
                if self.overlay.is_some() {
                    return Ok(false);
                }
                continue;
            }
            self.key.clear();
            self.key.extend_from_slice(key);
            return Ok(true);
        }
        Ok(false)
    }

    /// The current key (valid after `advance` returned true).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current value (empty when `advance` was asked not to read it).
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// Poisons the iterator's handle after a panic crossed a C entry point (as
    /// [`Db`](crate::Db) calls do): the handle's state may be half-updated.
    pub(crate) fn poison_after_panic(&self, what: &str) {
        self.engine.poison(format!("panic in {what}"));
    }

    /// Keys in the snapshot, visited or not.
    pub fn snapshot_len(&self) -> usize {
        self.spans.len()
    }
}

/// The keys a transaction read, each with the version it was read at. Shared with the
/// transaction's iterators, which add the keys they return.
pub(crate) type Reads = Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, u64>>>;

/// Records a read of `key` at `read_at`; a key read twice keeps its first version, so a change
/// between the two reads is a conflict too.
pub(crate) fn record_read(reads: &Reads, key: &[u8], read_at: u64) {
    let mut r = reads.lock().unwrap_or_else(|p| p.into_inner());
    if !r.contains_key(key) {
        r.insert(key.to_vec(), read_at);
    }
}

/// A transaction's writes in key order, merged into a cursor; the keys the cursor returns from
/// the database are recorded as the transaction's reads.
pub(crate) struct Overlay {
    /// (key, value; `None` for a delete), sorted, only those the filter matches.
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pos: usize,
    reads: Reads,
}

/// What the merged cursor does next.
enum Step {
    /// Visit the database's next key.
    Db,
    /// Take the transaction's next write (returning it when it is a put); `skip_db` when it
    /// shadows the database's next key.
    Own {
        skip_db: bool,
        value: Option<(Vec<u8>, Vec<u8>)>,
    },
    End,
}

impl Overlay {
    pub(crate) fn new(writes: Vec<(Vec<u8>, Option<Vec<u8>>)>, reads: Reads) -> Overlay {
        Overlay { writes, pos: 0, reads }
    }

    fn step(&mut self, db_next: Option<&[u8]>) -> Step {
        let own = self.writes.get(self.pos);
        match (own, db_next) {
            (None, None) => Step::End,
            (None, Some(_)) => Step::Db,
            (Some((k, _)), Some(d)) if d < k.as_slice() => Step::Db,
            (Some((k, v)), d) => {
                let skip_db = d == Some(k.as_slice());
                let value = v.as_ref().map(|v| (k.clone(), v.clone()));
                self.pos += 1;
                Step::Own { skip_db, value }
            }
        }
    }

    fn record(&self, key: &[u8], read_at: u64) {
        record_read(&self.reads, key, read_at);
    }
}

impl Iterator for Iter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.advance(true) {
            Ok(true) => Some(Ok((self.key.clone(), self.value.clone()))),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
