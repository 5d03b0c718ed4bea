//! Write batches: several puts, TTL puts and deletes written all or nothing
//! (docs/DESIGN.md sections 2.7 and 5.12). A [`Batch`] only collects operations; [`Db::write`] appends them as
//! one batch, and readers see all of its keys change at once, once it is as durable as the sync
//! policy asks. A key that appears twice ends with its last operation.

use crate::clock::{expiry_after_ms, now_ns};
use crate::db::{check_sizes, codec_for, Db};
use crate::engine::{Durability, Engine, Member, PendingProbe};
use crate::error::{Error, Result};
use crate::format::batch::{COMMIT_LEN, FLAG_MEMBER};
use crate::format::record::{Codec, Placed, FLAG_TOMBSTONE, HARD_MAX_KEY, HARD_MAX_VALUE, HEADER_LEN};

/// One operation of a batch or a transaction's write set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// `ttl_ms` 0: the handle's `default_ttl_ms` applies, as for [`Db::put`]. `at`, when set,
    /// is an absolute expiry in Unix nanoseconds (0: never) that replaces both.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        ttl_ms: u64,
        at: Option<u64>,
    },
    Delete {
        key: Vec<u8>,
    },
}

impl Op {
    /// The operation with its bytes borrowed.
    pub(crate) fn as_ref(&self) -> OpRef<'_> {
        match self {
            Op::Put { key, value, ttl_ms, at } => OpRef::Put { key, value, ttl_ms: *ttl_ms, at: *at },
            Op::Delete { key } => OpRef::Delete { key },
        }
    }
}

/// An operation whose bytes live elsewhere (a batch's buffer, a transaction's write set): what
/// [`write_ops`] writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OpRef<'a> {
    /// As [`Op::Put`].
    Put {
        key: &'a [u8],
        value: &'a [u8],
        ttl_ms: u64,
        at: Option<u64>,
    },
    Delete {
        key: &'a [u8],
    },
}

/// One operation of a [`Batch`]: its key and value are `key_len` and `value_len` bytes of the
/// batch's buffer from `start` on (so adding one copies its bytes once and allocates nothing
/// most of the time).
#[derive(Debug, Clone)]
struct Entry {
    start: usize,
    key_len: usize,
    value_len: usize,
    /// `None` for a delete; the put's `ttl_ms` and `at` otherwise (as in [`Op::Put`]).
    put: Option<(u64, Option<u64>)>,
}

/// Checks a key and value against the hard caps, as an operation is added (the handle's own
/// limits are checked again when the batch is written).
pub(crate) fn check_op(key: &[u8], value_len: usize) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArg("empty key".into()));
    }
    if key.len() > HARD_MAX_KEY as usize {
        return Err(Error::TooLarge(format!("key of {} bytes exceeds {HARD_MAX_KEY}", key.len())));
    }
    if value_len > HARD_MAX_VALUE as usize {
        return Err(Error::TooLarge(format!("value of {value_len} bytes exceeds {HARD_MAX_VALUE}")));
    }
    Ok(())
}

/// Operations to write together with [`Db::write`]. Writing does not change the batch: it can
/// be written again, or cleared and reused.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    ops: Vec<Entry>,
    bytes: Vec<u8>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a put of `value` under `key` (with the handle's default TTL, if it has one).
    /// `E_INVALID_ARG` for an empty key, `E_TOO_LARGE` above the hard caps (32 MiB).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        check_op(key, value.len())?;
        self.add(key, value, Some((0, None)));
        Ok(())
    }

    /// Adds a put that expires `ttl_ms` (> 0) milliseconds after the batch is written.
    pub fn put_ttl(&mut self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        if ttl_ms == 0 {
            return Err(Error::InvalidArg("ttl_ms must be positive (use put for keys without expiry)".into()));
        }
        check_op(key, value.len())?;
        self.add(key, value, Some((ttl_ms, None)));
        Ok(())
    }

    /// Adds a put that expires at the absolute Unix time `expires_unix_nano` (0: never, whatever
    /// the handle's default TTL), as [`crate::Update::Put`] stores it. A time already past
    /// writes a record that reads as absent.
    pub fn put_at(&mut self, key: &[u8], value: &[u8], expires_unix_nano: u64) -> Result<()> {
        check_op(key, value.len())?;
        self.add(key, value, Some((0, Some(expires_unix_nano))));
        Ok(())
    }

    /// Adds a delete of `key` (absent keys are fine: the delete then changes nothing).
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        check_op(key, 0)?;
        self.add(key, &[], None);
        Ok(())
    }

    /// Operations added so far.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.bytes.clear();
    }

    fn add(&mut self, key: &[u8], value: &[u8], put: Option<(u64, Option<u64>)>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
        self.ops.push(Entry { start, key_len: key.len(), value_len: value.len(), put });
    }

    /// The operations in the order they were added.
    fn iter(&self) -> impl Iterator<Item = OpRef<'_>> + Clone {
        self.ops.iter().map(|e| {
            let key = &self.bytes[e.start..e.start + e.key_len];
            match e.put {
                Some((ttl_ms, at)) => {
                    let value = &self.bytes[e.start + e.key_len..e.start + e.key_len + e.value_len];
                    OpRef::Put { key, value, ttl_ms, at }
                }
                None => OpRef::Delete { key },
            }
        })
    }
}

impl Db {
    /// Writes every operation of `batch`, all or nothing: after a crash either all of them are
    /// there or none, and readers never see some without the others. The batch takes one
    /// fdatasync when `sync_on_put` (for its puts) or `sync_on_delete` (for its deletes) asks for
    /// one, shared with concurrent writers. `E_TOO_LARGE` (nothing written) when a key or value
    /// is over the handle's limits or the batch does not fit in one data file (`max_file_size`).
    pub fn write(&self, batch: &Batch) -> Result<()> {
        write_ops(self.engine(), batch.iter(), now_ns(), |_| Ok(()))
    }
}

/// Appends `ops` as one batch, TTLs counted from `now` (which also stamps the records: one
/// clock reading per batch); `check` runs under the writer mutex first (a transaction's commit
/// check). `ops` is walked twice: once to size the buffer, once to encode.
pub(crate) fn write_ops<'a>(
    e: &Engine,
    ops: impl Iterator<Item = OpRef<'a>> + Clone,
    now: u64,
    check: impl FnOnce(PendingProbe<'_>) -> Result<()>,
) -> Result<()> {
    let o = e.opts();
    let (mut sync_put, mut sync_delete) = (false, false);
    // Every member encoded into one buffer, sized once (compression only makes a record
    // smaller): no allocation per record, and the append is that buffer as it is
    // (docs/DESIGN.md section 5.12).
    let (count, bytes) = ops.clone().fold((0, COMMIT_LEN), |(n, b), op| (n + 1, b + encoded_len(op)));
    let (mut members, mut buf) = (Vec::with_capacity(count), Vec::with_capacity(bytes));
    for op in ops {
        let (key, placed) = match op {
            OpRef::Put { key, value, ttl_ms, at } => {
                check_sizes(o, key, value.len())?;
                let ttl = if ttl_ms == 0 { o.default_ttl_ms } else { ttl_ms };
                let expires = at.unwrap_or(if ttl == 0 { 0 } else { expiry_after_ms(now, ttl) });
                let codec = codec_for(o, value.len());
                sync_put = true;
                (key, Placed::encode(&mut buf, key, value, expires, FLAG_MEMBER, codec))
            }
            OpRef::Delete { key } => {
                check_sizes(o, key, 0)?;
                let flags = FLAG_TOMBSTONE | FLAG_MEMBER;
                sync_delete = true;
                (key, Placed::encode(&mut buf, key, &[], 0, flags, Codec::None))
            }
        };
        members.push(Member { key: e.hash_member(key), placed });
    }
    let sync = (sync_put && o.sync_on_put) || (sync_delete && o.sync_on_delete);
    let durability = if sync { Durability::Sync } else { Durability::NoSync };
    e.write_batch(members, buf, now, durability, check)
}

/// The bytes `op`'s record takes, uncompressed.
fn encoded_len(op: OpRef<'_>) -> usize {
    HEADER_LEN
        + match op {
            OpRef::Put { key, value, .. } => key.len() + value.len(),
            OpRef::Delete { key } => key.len(),
        }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
