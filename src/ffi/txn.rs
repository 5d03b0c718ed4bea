//! `bitgask_txn`: optimistic transactions (docs/DESIGN.md section 5.13).
//!
//! A transaction holds no lock while it is open: its writes are buffered and its reads go to
//! the database (its own writes first). `bitgask_txn_commit` writes everything as one batch, or
//! nothing with `BITGASK_E_CONFLICT` when a key it read was written by someone else after it
//! read it. A transaction is single-owner (one thread at a time); many may be open at once on
//! one handle, from many threads. Commit and discard both end it and free the handle.

use super::boundary::{arg_mut, bytes, free_box, guard, malloc_copy, value};
use super::db::{bitgask_db, db_ref};
use super::error::bitgask_error;
use super::iter::bitgask_iter;
use super::{bitgask_status, BITGASK_NOT_FOUND, BITGASK_OK};
use crate::error::{Error, Result};
use crate::txn::Txn;

/// A transaction. Opaque; single-owner.
pub struct bitgask_txn {
    txn: Txn,
}

/// Runs `f` on the transaction `txn` points at (`BITGASK_E_NULL_ARG` for NULL), inside the
/// boundary: the body of every call on an open transaction.
unsafe fn with_txn(
    txn: *mut bitgask_txn,
    err_out: *mut *mut bitgask_error,
    f: impl FnOnce(&mut Txn) -> Result<bitgask_status>,
) -> bitgask_status {
    guard(err_out, || f(&mut arg_mut(txn, "txn")?.txn))
}

/// Begins a transaction on `db`. On success `*out` receives a transaction owned by the
/// caller, ended (and freed) by `bitgask_txn_commit` or `bitgask_txn_discard`. It holds no
/// lock; it must be ended before `db` is closed (calls on it afterwards return
/// `BITGASK_E_CLOSED`, and it must still be ended to free it).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, out); `BITGASK_E_POISONED`.
/// Threads: safe to call concurrently on one handle; the transaction is single-owner.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_begin(
    db: *mut bitgask_db,
    out: *mut *mut bitgask_txn,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || {
        let d = db_ref(db)?;
        let o = arg_mut(out, "out")?;
        *o = Box::into_raw(Box::new(bitgask_txn { txn: d.transaction()? }));
        Ok(BITGASK_OK)
    })
}

/// Reads a value as the transaction sees it: its own write of the key if it has one, else the
/// database's current value. `*val` receives a malloc'd copy (free with `bitgask_free`; never
/// NULL on success) and `*vlen` its length. A read of the database is checked at commit, also
/// when it found nothing.
/// Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent, expired, or deleted by the transaction);
/// `BITGASK_E_NULL_ARG` (txn, key, val, vlen); `BITGASK_E_INVALID_ARG` (empty key);
/// `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT`; `BITGASK_E_IO`;
/// `BITGASK_E_CLOSED` (its database was closed).
/// Threads: one thread at a time per transaction.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_get(
    txn: *mut bitgask_txn,
    key: *const u8,
    klen: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_txn(txn, err_out, |t| {
        let k = bytes(key, klen, "key")?;
        let (out, len_out) = (arg_mut(val, "val")?, arg_mut(vlen, "vlen")?);
        match t.get(k)? {
            Some(v) => {
                (*out, *len_out) = (malloc_copy(&v)?, v.len());
                Ok(BITGASK_OK)
            }
            None => Ok(BITGASK_NOT_FOUND),
        }
    })
}

/// Sets `*out` to whether the key exists as the transaction sees it (its own writes first).
/// Checked at commit as `bitgask_txn_get` is.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, key, out); `BITGASK_E_INVALID_ARG` (empty
/// key); `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT`; `BITGASK_E_IO`;
/// `BITGASK_E_CLOSED`.
/// Threads: one thread at a time per transaction.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_exists(
    txn: *mut bitgask_txn,
    key: *const u8,
    klen: usize,
    out: *mut bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_txn(txn, err_out, |t| {
        let k = bytes(key, klen, "key")?;
        let o = arg_mut(out, "out")?;
        *o = t.exists(k)?;
        Ok(BITGASK_OK)
    })
}

/// Buffers a put of `val[0..vlen)` under `key[0..klen)` (with the handle's default TTL, if
/// set); nothing is written before the commit. A key written but not read never conflicts.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, key, val with vlen > 0);
/// `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (key or value above its limit);
/// `BITGASK_E_CLOSED`.
/// Threads: one thread at a time per transaction.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_put(
    txn: *mut bitgask_txn,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_txn(txn, err_out, |t| {
        t.put(bytes(key, klen, "key")?, bytes(val, vlen, "value")?)?;
        Ok(BITGASK_OK)
    })
}

/// Like `bitgask_txn_put`, the key expiring `ttl_ms` (> 0) milliseconds after the commit.
/// Returns: as `bitgask_txn_put`, and `BITGASK_E_INVALID_ARG` for `ttl_ms` 0.
/// Threads: one thread at a time per transaction.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_put_ttl(
    txn: *mut bitgask_txn,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    ttl_ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_txn(txn, err_out, |t| {
        t.put_ttl(bytes(key, klen, "key")?, bytes(val, vlen, "value")?, ttl_ms)?;
        Ok(BITGASK_OK)
    })
}

/// Buffers a delete of `key[0..klen)` (an absent key is fine: the delete changes nothing).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, key); `BITGASK_E_INVALID_ARG` (empty key);
/// `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CLOSED`.
/// Threads: one thread at a time per transaction.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_delete(
    txn: *mut bitgask_txn,
    key: *const u8,
    klen: usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_txn(txn, err_out, |t| {
        t.delete(bytes(key, klen, "key")?)?;
        Ok(BITGASK_OK)
    })
}

/// A cursor over keys starting with `prefix[0..plen)` (NULL/0 for all keys): the database's
/// keys as of now merged with the transaction's own writes (its puts with their values, its
/// deletes hidden), used with `bitgask_iter_next` and freed with `bitgask_iter_free`. Every key
/// it returns from the database counts as read by the transaction. Keys others insert into the
/// range are not detected at commit (no phantom protection). The transaction's writes after
/// this call are not seen by the cursor.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, out, prefix with plen > 0);
/// `BITGASK_E_TOO_LARGE` (plen above `BITGASK_KEY_SIZE_LIMIT`); `BITGASK_E_CLOSED`.
/// Threads: one thread at a time per transaction; the iterator is single-owner and may outlive
/// the transaction (its reads then no longer matter).
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_iter_new(
    txn: *mut bitgask_txn,
    prefix: *const u8,
    plen: usize,
    out: *mut *mut bitgask_iter,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_txn(txn, err_out, |t| {
        let p = bytes(prefix, plen, "prefix")?;
        let o = arg_mut(out, "out")?;
        *o = Box::into_raw(Box::new(bitgask_iter { it: t.iter_prefix(p)? }));
        Ok(BITGASK_OK)
    })
}

/// Commits: writes the transaction's writes as one batch (all or nothing, durable as
/// `bitgask_write` is) unless a key it read was written by someone else after it read it. Ends
/// the transaction and frees `txn` whatever the result.
/// Returns: `BITGASK_OK`; `BITGASK_E_CONFLICT` (nothing written); `BITGASK_E_NULL_ARG` (txn);
/// `BITGASK_E_TOO_LARGE` (the writes do not fit in one data file); `BITGASK_E_IO`;
/// `BITGASK_E_POISONED`; `BITGASK_E_CLOSED`.
/// Threads: one thread at a time per transaction.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_commit(txn: *mut bitgask_txn, err_out: *mut *mut bitgask_error) -> bitgask_status {
    guard(err_out, || {
        if txn.is_null() {
            return Err(Error::NullArg("txn"));
        }
        Box::from_raw(txn).txn.commit()?;
        Ok(BITGASK_OK)
    })
}

/// Ends the transaction without writing anything and frees it. NULL is a no-op.
/// Threads: one thread at a time per transaction.
#[no_mangle]
pub unsafe extern "C" fn bitgask_txn_discard(txn: *mut bitgask_txn) {
    value((), || free_box(txn))
}
