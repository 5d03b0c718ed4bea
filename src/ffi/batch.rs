//! `bitgask_batch`: operations collected by the caller and written all or nothing with
//! `bitgask_write` (docs/DESIGN.md section 5.12).
//!
//! A batch is single-owner: one thread at a time may add to, write, clear or free it. It is not
//! tied to a database: the same batch can be written to several handles, or to one again.

use super::boundary::{arg_mut, arg_ref, bytes, free_box, guard, value};
use super::db::{bitgask_db, with_db};
use super::error::bitgask_error;
use super::{bitgask_status, BITGASK_OK};
use crate::batch::Batch;
use crate::error::Result;

/// A write batch. Opaque; single-owner.
pub struct bitgask_batch {
    pub(crate) batch: Batch,
}

/// Runs `f` on the batch `b` points at (`BITGASK_E_NULL_ARG` for NULL), inside the boundary: the
/// body of every call that adds to a batch.
unsafe fn with_batch(
    b: *mut bitgask_batch,
    err_out: *mut *mut bitgask_error,
    f: impl FnOnce(&mut Batch) -> Result<bitgask_status>,
) -> bitgask_status {
    guard(err_out, || f(&mut arg_mut(b, "b")?.batch))
}

/// A new, empty batch, owned by the caller and freed with `bitgask_batch_free`. Never NULL.
/// Threads: any thread; the batch is then single-owner.
#[no_mangle]
pub extern "C" fn bitgask_batch_new() -> *mut bitgask_batch {
    value(std::ptr::null_mut(), || Box::into_raw(Box::new(bitgask_batch { batch: Batch::new() })))
}

/// Adds a put of `val[0..vlen)` under `key[0..klen)` (with the default TTL of the handle it is
/// written to, if set). The bytes are copied. Sizes are checked against the library's limits
/// now and against the handle's limits by `bitgask_write`. On error the batch is unchanged.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (b, key, val with vlen > 0);
/// `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (klen above
/// `BITGASK_KEY_SIZE_LIMIT`, vlen above `BITGASK_VALUE_SIZE_LIMIT`).
/// Threads: one thread at a time per batch.
#[no_mangle]
pub unsafe extern "C" fn bitgask_batch_put(
    b: *mut bitgask_batch,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_batch(b, err_out, |b| {
        b.put(bytes(key, klen, "key")?, bytes(val, vlen, "value")?)?;
        Ok(BITGASK_OK)
    })
}

/// Like `bitgask_batch_put`, the key expiring `ttl_ms` (> 0) milliseconds after the batch is
/// written.
/// Returns: as `bitgask_batch_put`, and `BITGASK_E_INVALID_ARG` for `ttl_ms` 0.
/// Threads: one thread at a time per batch.
#[no_mangle]
pub unsafe extern "C" fn bitgask_batch_put_ttl(
    b: *mut bitgask_batch,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    ttl_ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_batch(b, err_out, |b| {
        b.put_ttl(bytes(key, klen, "key")?, bytes(val, vlen, "value")?, ttl_ms)?;
        Ok(BITGASK_OK)
    })
}

/// Adds a delete of `key[0..klen)`. Deleting a key that is absent when the batch is written
/// changes nothing (and is not an error).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (b, key); `BITGASK_E_INVALID_ARG` (empty key);
/// `BITGASK_E_TOO_LARGE` (klen above `BITGASK_KEY_SIZE_LIMIT`).
/// Threads: one thread at a time per batch.
#[no_mangle]
pub unsafe extern "C" fn bitgask_batch_delete(
    b: *mut bitgask_batch,
    key: *const u8,
    klen: usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_batch(b, err_out, |b| {
        b.delete(bytes(key, klen, "key")?)?;
        Ok(BITGASK_OK)
    })
}

/// The number of operations added since the batch was made or cleared (0 for NULL).
/// Threads: one thread at a time per batch.
#[no_mangle]
pub unsafe extern "C" fn bitgask_batch_count(b: *const bitgask_batch) -> usize {
    value(0, || b.as_ref().map_or(0, |b| b.batch.len()))
}

/// Removes every operation, so the batch can be reused. NULL is a no-op.
/// Threads: one thread at a time per batch.
#[no_mangle]
pub unsafe extern "C" fn bitgask_batch_clear(b: *mut bitgask_batch) {
    value((), || {
        if let Some(b) = b.as_mut() {
            b.batch.clear()
        }
    })
}

/// Frees a batch. NULL is a no-op.
/// Threads: one thread at a time per batch.
#[no_mangle]
pub unsafe extern "C" fn bitgask_batch_free(b: *mut bitgask_batch) {
    value((), || free_box(b))
}

/// Writes every operation of `b` to `db`, all or nothing: after a crash (even a power loss,
/// when the batch took an fsync) either every operation is there or none, and readers never
/// see some of them without the others. A key that appears twice ends with its last
/// operation. The batch takes one fsync (shared with concurrent writers) when sync_on_put (for
/// its puts) or sync_on_delete (for its deletes) is on, and returns once it is durable and
/// visible. `b` is left unchanged: it can be written again or cleared. An empty batch writes
/// nothing.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, b); `BITGASK_E_TOO_LARGE` (a key or value
/// above the handle's limits, or the whole batch larger than max_file_size: nothing written);
/// `BITGASK_E_IO` (the write or its fsync failed: nothing of it is served);
/// `BITGASK_E_POISONED`; `BITGASK_E_CORRUPT` (sequence stamps exhausted).
/// Threads: safe to call concurrently on one handle; `b` must not be changed meanwhile.
#[no_mangle]
pub unsafe extern "C" fn bitgask_write(
    db: *mut bitgask_db,
    b: *const bitgask_batch,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_write", |d| {
        d.write(&arg_ref(b, "b")?.batch)?;
        Ok(BITGASK_OK)
    })
}
