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
        Ok(Iter { engine, bytes, spans, pos: 0, key: Vec::new(), value: Vec::new() })
    }

    /// Moves to the next key that still exists, reading its value if `with_value`. Returns false
    /// at the end. `E_CLOSED` once the database handle has been closed.
    pub fn advance(&mut self, with_value: bool) -> Result<bool> {
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
