//! Write batches: several puts, TTL puts and deletes written all or nothing
//! (docs/DESIGN.md sections 2.7 and 5.12). A [`Batch`] only collects operations; [`Db::write`] appends them as
//! one batch, and readers see all of its keys change at once, once it is as durable as the sync
//! policy asks. A key that appears twice ends with its last operation.

use crate::clock::{expiry_after_ms, now_ns};
use crate::db::{check_sizes, codec_for, Db};
use crate::engine::{Durability, Engine, Member, PendingProbe};
use crate::error::{Error, Result};
use crate::format::batch::{COMMIT_LEN, FLAG_MEMBER};
use crate::format::record::{put_unstamped, Codec, Placed, FLAG_TOMBSTONE, HARD_MAX_KEY, HARD_MAX_VALUE, HEADER_LEN};
use crate::options::Options;

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

/// One operation of a [`Batch`]: its member record, encoded when the operation was added, is
/// `len()` bytes of the batch's buffer from `start` on (so adding one copies its bytes once and
/// allocates nothing most of the time, and writing it copies the whole run at once).
#[derive(Debug, Clone)]
struct Entry {
    start: usize,
    key_len: usize,
    value_len: usize,
    /// `None` for a delete; the put's `ttl_ms` and `at` otherwise (as in [`Op::Put`]).
    put: Option<(u64, Option<u64>)>,
}

impl Entry {
    fn len(&self) -> usize {
        HEADER_LEN + self.key_len + self.value_len
    }

    fn key<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[self.start + HEADER_LEN..self.start + HEADER_LEN + self.key_len]
    }

    fn value<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[self.start + HEADER_LEN + self.key_len..self.start + self.len()]
    }
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
///
/// Each operation is kept as its member record (docs/DESIGN.md section 2.7), encoded as it is
/// added with its stamp, CRC and expiry left blank and its value uncompressed: a handle that
/// compresses none of the values copies the whole run into its append at once and only fills
/// in those fields (section 5.12).
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
        let flags = if put.is_some() { FLAG_MEMBER } else { FLAG_MEMBER | FLAG_TOMBSTONE };
        put_unstamped(&mut self.bytes, key, value, 0, flags, Codec::None);
        self.ops.push(Entry { start, key_len: key.len(), value_len: value.len(), put });
    }

    /// The operations in the order they were added.
    fn iter(&self) -> impl Iterator<Item = OpRef<'_>> + Clone {
        self.ops.iter().map(|e| {
            let key = e.key(&self.bytes);
            match e.put {
                Some((ttl_ms, at)) => OpRef::Put { key, value: e.value(&self.bytes), ttl_ms, at },
                None => OpRef::Delete { key },
            }
        })
    }

    /// Whether the handle with options `o` stores some value of this batch compressed, so that
    /// its records must be encoded again rather than copied as they are.
    fn compresses(&self, o: &Options) -> bool {
        o.compression != Codec::None
            && self.ops.iter().any(|e| e.put.is_some() && codec_for(o, e.value_len) != Codec::None)
    }
}

impl Db {
    /// Writes every operation of `batch`, all or nothing: after a crash either all of them are
    /// there or none, and readers never see some without the others. The batch takes one
    /// fdatasync when `sync_on_put` (for its puts) or `sync_on_delete` (for its deletes) asks for
    /// one, shared with concurrent writers. `E_TOO_LARGE` (nothing written) when a key or value
    /// is over the handle's limits or the batch does not fit in one data file (`max_file_size`).
    pub fn write(&self, batch: &Batch) -> Result<()> {
        let (e, now) = (self.engine(), now_ns());
        if batch.compresses(e.opts()) {
            return write_ops(e, batch.iter(), now, |_| Ok(()));
        }
        write_encoded(e, batch, now)
    }
}

/// Writes `batch` as [`write_ops`] does, from the member records it encoded as they were added
/// (no value of it is compressed on this handle): every limit is checked first, then the run
/// is copied at once and only each put's expiry filled in (docs/DESIGN.md section 5.12).
fn write_encoded(e: &Engine, batch: &Batch, now: u64) -> Result<()> {
    let o = e.opts();
    for op in batch.iter() {
        check_limits(o, op)?;
    }
    // Refused before the copy is allocated (write_batch says the same, later, for every batch).
    if (batch.bytes.len() + COMMIT_LEN) as u64 > o.max_file_size {
        return Err(too_long(batch.bytes.len() + COMMIT_LEN, o.max_file_size));
    }
    let (mut sync_put, mut sync_delete) = (false, false);
    let mut buf = Vec::with_capacity(batch.bytes.len() + COMMIT_LEN);
    buf.extend_from_slice(&batch.bytes);
    let mut members = Vec::with_capacity(batch.ops.len());
    for en in &batch.ops {
        match en.put {
            Some((ttl_ms, at)) => {
                let expires = expiry_of(o, now, ttl_ms, at);
                if expires != 0 {
                    buf[en.start + 12..en.start + 20].copy_from_slice(&expires.to_le_bytes());
                }
                sync_put = true;
            }
            None => sync_delete = true,
        }
        let key = e.hash_member(en.key(&batch.bytes));
        members.push(Member { key, placed: Placed::at(&buf, en.start, en.len()) });
    }
    e.write_batch(members, buf, now, durability_of(o, sync_put, sync_delete), |_| Ok(()))
}

/// A put's expiry: its absolute `at`, else its TTL (the handle's default for 0) from `now`.
fn expiry_of(o: &Options, now: u64, ttl_ms: u64, at: Option<u64>) -> u64 {
    let ttl = if ttl_ms == 0 { o.default_ttl_ms } else { ttl_ms };
    at.unwrap_or(if ttl == 0 { 0 } else { expiry_after_ms(now, ttl) })
}

/// Whether a batch holding puts (`put`) and deletes (`delete`) takes an fdatasync.
fn durability_of(o: &Options, put: bool, delete: bool) -> Durability {
    if (put && o.sync_on_put) || (delete && o.sync_on_delete) {
        Durability::Sync
    } else {
        Durability::NoSync
    }
}

/// `E_TOO_LARGE` for a batch of `total` bytes on a handle whose files take `max_file_size`.
pub(crate) fn too_long(total: usize, max_file_size: u64) -> Error {
    Error::TooLarge(format!("a batch of {total} bytes does not fit in one data file (max_file_size {max_file_size})"))
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
    // (docs/DESIGN.md section 5.12). Every limit is checked before anything is allocated.
    let (count, bytes) = ops
        .clone()
        .try_fold((0, COMMIT_LEN), |(n, b), op| check_limits(o, op).map(|()| (n + 1, b + encoded_len(op))))?;
    let (mut members, mut buf) = (Vec::with_capacity(count), Vec::with_capacity(bytes));
    for op in ops {
        let (key, placed) = match op {
            OpRef::Put { key, value, ttl_ms, at } => {
                let expires = expiry_of(o, now, ttl_ms, at);
                let codec = codec_for(o, value.len());
                sync_put = true;
                (key, Placed::encode(&mut buf, key, value, expires, FLAG_MEMBER, codec))
            }
            OpRef::Delete { key } => {
                let flags = FLAG_TOMBSTONE | FLAG_MEMBER;
                sync_delete = true;
                (key, Placed::encode(&mut buf, key, &[], 0, flags, Codec::None))
            }
        };
        members.push(Member { key: e.hash_member(key), placed });
    }
    e.write_batch(members, buf, now, durability_of(o, sync_put, sync_delete), check)
}

/// Checks `op`'s key and value against the handle's limits (`E_INVALID_ARG`, `E_TOO_LARGE`).
fn check_limits(o: &Options, op: OpRef<'_>) -> Result<()> {
    match op {
        OpRef::Put { key, value, .. } => check_sizes(o, key, value.len()),
        OpRef::Delete { key } => check_sizes(o, key, 0),
    }
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
