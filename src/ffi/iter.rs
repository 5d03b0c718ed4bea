//! `bitgask_iter`: snapshot cursors in key byte order, and `bitgask_fold`.
//!
//! A cursor fixes its key set when it is created; values are read when a key is visited, and a
//! key deleted or expired since creation is skipped. Creating one costs a pass over all keys.
//! Single-owner: use an iterator from one thread at a time. It keeps working while writes go on,
//! and returns `BITGASK_E_CLOSED` once its database is closed; free it with `bitgask_iter_free`.

use std::ffi::{c_int, c_void};

use super::boundary::{arg_mut, bytes, free_box, run, value};
use super::db::{bitgask_db, with_db};
use super::error::bitgask_error;
use super::{bitgask_status, BITGASK_ITER_DONE, BITGASK_OK, BITGASK_STOPPED};
use crate::error::Error;
use crate::iter::Iter;

/// A cursor. Opaque.
pub struct bitgask_iter {
    pub(crate) it: Iter,
}

/// Callback of `bitgask_fold`: return 0 to continue, nonzero to stop (the fold then returns
/// `BITGASK_STOPPED`). The key and value pointers are valid only during the call. It may read
/// and write through the same handle, but not close it (see CAVEATS).
pub type bitgask_fold_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const u8, klen: usize, val: *const u8, vlen: usize) -> c_int>;

/// A cursor over keys starting with `prefix[0..plen)` (NULL/0 for all keys). On success
/// `*it_out` receives an iterator owned by the caller.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, it_out, prefix with plen > 0);
/// `BITGASK_E_TOO_LARGE` (plen above `BITGASK_KEY_SIZE_LIMIT`).
/// Threads: safe on a shared handle; the iterator is single-owner.
#[no_mangle]
pub unsafe extern "C" fn bitgask_iter_new(
    db: *const bitgask_db,
    prefix: *const u8,
    plen: usize,
    it_out: *mut *mut bitgask_iter,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_iter_new", |d| {
        let p = bytes(prefix, plen, "prefix")?;
        let out = arg_mut(it_out, "it_out")?;
        *out = Box::into_raw(Box::new(bitgask_iter { it: d.iter_prefix(p)? }));
        Ok(BITGASK_OK)
    })
}

/// A cursor over keys in `[start, end)`; `end` NULL means no upper bound (`start` may be NULL
/// with `slen` 0 for "from the first key").
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, it_out, start with slen > 0);
/// `BITGASK_E_TOO_LARGE` (slen or elen above `BITGASK_KEY_SIZE_LIMIT`).
/// Threads: safe on a shared handle; the iterator is single-owner.
#[no_mangle]
pub unsafe extern "C" fn bitgask_iter_range(
    db: *const bitgask_db,
    start: *const u8,
    slen: usize,
    end: *const u8,
    elen: usize,
    it_out: *mut *mut bitgask_iter,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_iter_range", |d| {
        let s = bytes(start, slen, "start")?;
        let e = if end.is_null() { None } else { Some(bytes(end, elen, "end")?) };
        let out = arg_mut(it_out, "it_out")?;
        *out = Box::into_raw(Box::new(bitgask_iter { it: d.iter_range(s, e)? }));
        Ok(BITGASK_OK)
    })
}

/// Advances to the next key: `BITGASK_OK` with `*key`/`*klen` (and `*val`/`*vlen` unless `val`
/// is NULL, which skips reading the value) or `BITGASK_ITER_DONE`. The pointers are borrowed
/// from the iterator and valid until the next call on it or `bitgask_iter_free`.
/// Returns: `BITGASK_OK`; `BITGASK_ITER_DONE`; `BITGASK_E_NULL_ARG` (it, key, klen; vlen when val
/// is set); `BITGASK_E_CLOSED` (its database was closed); `BITGASK_E_CORRUPT`, `BITGASK_E_IO`
/// (reading a value).
/// Threads: one thread at a time per iterator.
#[no_mangle]
pub unsafe extern "C" fn bitgask_iter_next(
    it: *mut bitgask_iter,
    key: *mut *const u8,
    klen: *mut usize,
    val: *mut *const u8,
    vlen: *mut usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    run(
        err_out,
        || {
            if let Some(i) = it.as_ref() {
                i.it.poison_after_panic("bitgask_iter_next")
            }
        },
        || {
            let it = &mut arg_mut(it, "it")?.it;
            let (k, kl) = (arg_mut(key, "key")?, arg_mut(klen, "klen")?);
            let want_value = !val.is_null();
            if want_value && vlen.is_null() {
                return Err(Error::NullArg("vlen"));
            }
            if !it.advance(want_value)? {
                return Ok(BITGASK_ITER_DONE);
            }
            (*k, *kl) = (it.key().as_ptr(), it.key().len());
            if want_value {
                (*val, *vlen) = (it.value().as_ptr(), it.value().len());
            }
            Ok(BITGASK_OK)
        },
    )
}

/// Frees an iterator. NULL is a no-op.
/// Threads: one thread at a time per iterator.
#[no_mangle]
pub unsafe extern "C" fn bitgask_iter_free(it: *mut bitgask_iter) {
    value((), || free_box(it))
}

/// Calls `fn(ctx, key, klen, val, vlen)` for every key starting with `prefix` (NULL/0: all),
/// in byte order, until it returns nonzero. The keys are fixed when the fold starts, as for an
/// iterator. The callback may read and write through the same handle but must not close it
/// (see CAVEATS).
/// Returns: `BITGASK_OK` (every key visited); `BITGASK_STOPPED` (the callback returned nonzero);
/// `BITGASK_E_NULL_ARG` (db, fn, prefix with plen > 0); `BITGASK_E_TOO_LARGE` (plen above
/// `BITGASK_KEY_SIZE_LIMIT`); `BITGASK_E_CORRUPT`, `BITGASK_E_IO` (reading a value).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_fold(
    db: *const bitgask_db,
    prefix: *const u8,
    plen: usize,
    f: bitgask_fold_fn,
    ctx: *mut c_void,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_fold", |d| {
        let p = bytes(prefix, plen, "prefix")?;
        let f = f.ok_or(Error::NullArg("fn"))?;
        let mut stopped = false;
        d.fold(p, |k, v| {
            stopped = f(ctx, k.as_ptr(), k.len(), v.as_ptr(), v.len()) != 0;
            !stopped
        })?;
        Ok(if stopped { BITGASK_STOPPED } else { BITGASK_OK })
    })
}
