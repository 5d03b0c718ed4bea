//! `bitgask_db`: a database handle and the key-value calls on it.
//!
//! Thread rules for everything here: a `bitgask_db *` may be used from any number of threads at
//! once, except that `bitgask_close` must not race any other call on the same handle.

use std::ffi::c_char;

use super::boundary::{arg_mut, arg_ref, bytes, guard, malloc_copy, path as path_arg, run};
use super::error::bitgask_error;
use super::options::{bitgask_options, options_or_default};
use super::{bitgask_status, BITGASK_NOT_FOUND, BITGASK_OK};
use crate::db::{Db, Ttl};
use crate::error::{Error, Result};

/// An open database. Opaque; safe to share between threads.
pub struct bitgask_db {
    pub(crate) db: Db,
}

/// Size and garbage figures, filled by `bitgask_stats_get`.
#[repr(C)]
pub struct bitgask_stats {
    /// Keys in the keydir (expired keys not yet read or collected still count).
    pub keys: u64,
    pub data_files: u64,
    /// Bytes of records in all data files (not the room the active file holds preallocated for
    /// appends while the handle is open).
    pub total_bytes: u64,
    /// Bytes of overwritten or deleted records and tombstones (what a merge would reclaim).
    pub dead_bytes: u64,
    /// When this handle last completed a merge (Unix nanoseconds; 0 when it has not).
    pub last_merge_unix_nano: u64,
    /// Merges completed by this handle.
    pub merges: u64,
}

/// Metadata of a key's current record, filled by `bitgask_meta`.
#[repr(C)]
pub struct bitgask_record_meta {
    /// The record's sequence stamp (wall-clock nanoseconds, strictly increasing per database).
    pub ts_unix_nano: u64,
    /// Absolute expiry in Unix nanoseconds; 0 when the key never expires.
    pub expires_unix_nano: u64,
    pub file_id: u32,
    /// Offset of the record's first byte in its data file.
    pub offset: u64,
    /// Bytes of the record on disk.
    pub size: u64,
}

/// Runs `f` on a non-NULL handle; a panic poisons the handle.
pub(crate) unsafe fn with_db(
    db: *const bitgask_db,
    err_out: *mut *mut bitgask_error,
    what: &str,
    f: impl FnOnce(&Db) -> Result<bitgask_status>,
) -> bitgask_status {
    run(
        err_out,
        || {
            if let Some(h) = db.as_ref() {
                h.db.poison_after_panic(what)
            }
        },
        || f(db_ref(db)?),
    )
}

/// Opens (creating if missing) the database in directory `path` (NUL-terminated UTF-8).
/// `opts` may be NULL for defaults; it is copied and can be freed right after. On success
/// `*db_out` receives a handle owned by the caller, to be released with `bitgask_close`.
/// A torn tail left by a crash is cut; unsynced writes a power loss left out of order (damage
/// after the durable watermark with records after it) are moved to `data/<id>.corrupt`, never
/// deleted (docs/DESIGN.md section 4.5); hint files are used where valid.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (path, db_out); `BITGASK_E_INVALID_ARG` (path not
/// UTF-8, options that contradict each other); `BITGASK_E_LOCKED` (another handle, in this or
/// another process, has it open); `BITGASK_E_CORRUPT` (a damaged sealed file or meta file, or
/// damage below the newest file's durable watermark);
/// `BITGASK_E_FORMAT_VERSION` (a newer format); `BITGASK_E_IO` (the directory cannot be created
/// or read).
/// Threads: any thread; the new handle may then be shared.
#[no_mangle]
pub unsafe extern "C" fn bitgask_open(
    path: *const c_char,
    opts: *const bitgask_options,
    db_out: *mut *mut bitgask_db,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    guard(err_out, || {
        let p = path_arg(path)?;
        let out = arg_mut(db_out, "db_out")?;
        let db = Db::open(p, options_or_default(opts))?;
        *out = Box::into_raw(Box::new(bitgask_db { db }));
        Ok(BITGASK_OK)
    })
}

/// Syncs outstanding writes, writes the active file's hint, releases the LOCK and frees the
/// handle (always, even when an error is returned). NULL is a no-op returning `BITGASK_OK`.
/// Iterators still open on the handle return `BITGASK_E_CLOSED` afterwards (see CAVEATS).
/// Returns: `BITGASK_OK`; `BITGASK_E_IO` (the final sync failed: writes since the last
/// successful sync may not be durable); `BITGASK_E_POISONED` (the handle was poisoned: it is
/// closed and freed all the same, without the final sync and hint, and writes since the last
/// successful sync may not be durable).
/// Threads: must not race any other call on the same handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_close(db: *mut bitgask_db, err_out: *mut *mut bitgask_error) -> bitgask_status {
    guard(err_out, || {
        if db.is_null() {
            return Ok(BITGASK_OK);
        }
        Box::from_raw(db).db.close().map(|_| BITGASK_OK)
    })
}

/// Stores `val[0..vlen)` under `key[0..klen)` (with the default TTL, if set). Returns after the
/// write is durable when sync_on_put is on. `val` may be NULL when `vlen` is 0.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, key, val); `BITGASK_E_INVALID_ARG` (empty
/// key); `BITGASK_E_TOO_LARGE` (key or value above its limit); `BITGASK_E_NO_SPACE` (the disk
/// is full: nothing written, the handle stays usable); `BITGASK_E_IO` (the write or its fsync
/// failed); `BITGASK_E_POISONED`.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_put(
    db: *mut bitgask_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_put", |d| {
        d.put(bytes(key, klen, "key")?, bytes(val, vlen, "value")?)?;
        Ok(BITGASK_OK)
    })
}

/// Like `bitgask_put`, expiring `ttl_ms` milliseconds from now (`ttl_ms` must be > 0, as for
/// `bitgask_expire`; a TTL so large that the expiry would pass the year 2554 saturates at the
/// largest expiry).
/// Returns: as `bitgask_put`, and `BITGASK_E_INVALID_ARG` for `ttl_ms` 0.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_put_ttl(
    db: *mut bitgask_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    ttl_ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_put_ttl", |d| {
        d.put_ttl(bytes(key, klen, "key")?, bytes(val, vlen, "value")?, ttl_ms)?;
        Ok(BITGASK_OK)
    })
}

/// Reads a value into a new buffer: `*val_out` (free with `bitgask_free`; never NULL on success,
/// even for an empty value) and `*vlen_out`.
/// Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent or expired); `BITGASK_E_NULL_ARG` (db, key,
/// val_out, vlen_out); `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (key above
/// max_key_size); `BITGASK_E_CORRUPT` (the record fails its CRC or does not decode);
/// `BITGASK_E_IO` (the read or the buffer's allocation failed).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_get(
    db: *const bitgask_db,
    key: *const u8,
    klen: usize,
    val_out: *mut *mut u8,
    vlen_out: *mut usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_get", |d| {
        let k = bytes(key, klen, "key")?;
        let (out, len_out) = (arg_mut(val_out, "val_out")?, arg_mut(vlen_out, "vlen_out")?);
        match d.copy_with(k, |v| malloc_copy(v).map(|p| (p, v.len())))? {
            Some(copy) => {
                (*out, *len_out) = copy?;
                Ok(BITGASK_OK)
            }
            None => Ok(BITGASK_NOT_FOUND),
        }
    })
}

/// Reads a value into the caller's buffer `buf[0..cap)`; `*vlen_out` gets its length. When the
/// value does not fit, returns `BITGASK_E_BUFFER_TOO_SMALL`, sets `*vlen_out` to the length
/// needed and leaves `buf` untouched (`buf` may be NULL with `cap` 0 to ask for the length).
/// Returns: as `bitgask_get` (`buf` NULL with `cap` > 0 is `BITGASK_E_NULL_ARG`), and
/// `BITGASK_E_BUFFER_TOO_SMALL`.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_get_into(
    db: *const bitgask_db,
    key: *const u8,
    klen: usize,
    buf: *mut u8,
    cap: usize,
    vlen_out: *mut usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_get_into", |d| {
        let k = bytes(key, klen, "key")?;
        let len_out = arg_mut(vlen_out, "vlen_out")?;
        if buf.is_null() && cap > 0 {
            return Err(Error::NullArg("buf"));
        }
        let copied = d.copy_with(k, |v| {
            if v.len() > cap {
                return Err(v.len());
            }
            if !v.is_empty() {
                std::ptr::copy_nonoverlapping(v.as_ptr(), buf, v.len());
            }
            Ok(v.len())
        })?;
        match copied {
            None => Ok(BITGASK_NOT_FOUND),
            Some(Ok(n)) => {
                *len_out = n;
                Ok(BITGASK_OK)
            }
            Some(Err(needed)) => {
                *len_out = needed;
                Err(Error::BufferTooSmall { needed })
            }
        }
    })
}

/// Deletes a key (a tombstone is appended). Returns after the tombstone is durable when
/// sync_on_delete is on.
/// Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (it was absent or expired: nothing written);
/// `BITGASK_E_NULL_ARG` (db, key); `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE`
/// (key above max_key_size); `BITGASK_E_NO_SPACE` (not even the reserve had room for the
/// tombstone); `BITGASK_E_IO`; `BITGASK_E_POISONED`.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_delete(
    db: *mut bitgask_db,
    key: *const u8,
    klen: usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_delete", |d| Ok(found(d.delete(bytes(key, klen, "key")?)?)))
}

/// `*out` = whether the key is present and not expired.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, key, out); `BITGASK_E_INVALID_ARG` (empty
/// key); `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT`, `BITGASK_E_IO`
/// (reading the record's header).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_exists(
    db: *const bitgask_db,
    key: *const u8,
    klen: usize,
    out: *mut bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_exists", |d| {
        let k = bytes(key, klen, "key")?;
        let o = arg_mut(out, "out")?;
        *o = d.exists(k)?;
        Ok(BITGASK_OK)
    })
}

/// Atomically sets the key to expire `ttl_ms` from now, keeping its value (the value is
/// rewritten with the new expiry). `ttl_ms` must be > 0, as for `bitgask_put_ttl`: a zero TTL is
/// refused everywhere (use `bitgask_delete` to remove a key, `bitgask_persist` to drop its expiry).
/// Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent or expired); `BITGASK_E_NULL_ARG` (db,
/// key); `BITGASK_E_INVALID_ARG` (empty key; `ttl_ms` 0, and nothing is changed);
/// `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT` (the current value does
/// not decode); `BITGASK_E_IO`; `BITGASK_E_POISONED`.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_expire(
    db: *mut bitgask_db,
    key: *const u8,
    klen: usize,
    ttl_ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_expire", |d| Ok(found(d.expire(bytes(key, klen, "key")?, ttl_ms)?)))
}

/// Atomically removes the key's expiry (a key without one is left as it is).
/// Returns: as `bitgask_expire` (but for its `ttl_ms` 0).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_persist(
    db: *mut bitgask_db,
    key: *const u8,
    klen: usize,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_persist", |d| Ok(found(d.persist(bytes(key, klen, "key")?)?)))
}

/// `*remaining_ms` = milliseconds until the key expires (rounded up), or -1 when it has no
/// expiry.
/// Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent or expired); `BITGASK_E_NULL_ARG` (db, key,
/// remaining_ms); `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (key above
/// max_key_size); `BITGASK_E_CORRUPT`, `BITGASK_E_IO` (reading the record's header).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_ttl_ms(
    db: *const bitgask_db,
    key: *const u8,
    klen: usize,
    remaining_ms: *mut i64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_ttl_ms", |d| {
        let k = bytes(key, klen, "key")?;
        let o = arg_mut(remaining_ms, "remaining_ms")?;
        match d.ttl(k)? {
            None => Ok(BITGASK_NOT_FOUND),
            Some(t) => {
                *o = match t {
                    Ttl::Never => -1,
                    Ttl::Remaining(ms) => ms.min(i64::MAX as u64) as i64,
                };
                Ok(BITGASK_OK)
            }
        }
    })
}

/// Fills `*out` with the stamp, expiry and location of the key's record.
/// Returns: as `bitgask_ttl_ms` (out instead of remaining_ms).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_meta(
    db: *const bitgask_db,
    key: *const u8,
    klen: usize,
    out: *mut bitgask_record_meta,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_meta", |d| {
        let k = bytes(key, klen, "key")?;
        let o = arg_mut(out, "out")?;
        let Some(m) = d.meta(k)? else { return Ok(BITGASK_NOT_FOUND) };
        *o = bitgask_record_meta {
            ts_unix_nano: m.ts_unix_nano,
            expires_unix_nano: m.expires_unix_nano,
            file_id: m.file_id,
            offset: m.offset,
            size: m.size,
        };
        Ok(BITGASK_OK)
    })
}

/// Makes every write so far durable (fdatasync). Needed only with per-write sync off.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_IO` (the fsync failed: the
/// handle is now poisoned); `BITGASK_E_POISONED`.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_sync(db: *mut bitgask_db, err_out: *mut *mut bitgask_error) -> bitgask_status {
    with_db(db, err_out, "bitgask_sync", |d| d.sync().map(|_| BITGASK_OK))
}

/// Fills `*out` with key count, data file count, total and dead bytes, and merge figures.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, out).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_stats_get(
    db: *const bitgask_db,
    out: *mut bitgask_stats,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_stats_get", |d| {
        let o = arg_mut(out, "out")?;
        let s = d.stats()?;
        *o = bitgask_stats {
            keys: s.keys,
            data_files: s.data_files,
            total_bytes: s.total_bytes,
            dead_bytes: s.dead_bytes,
            last_merge_unix_nano: s.last_merge_unix_nano,
            merges: s.merges,
        };
        Ok(BITGASK_OK)
    })
}

fn found(present: bool) -> bitgask_status {
    if present {
        BITGASK_OK
    } else {
        BITGASK_NOT_FOUND
    }
}

pub(crate) unsafe fn db_ref<'a>(db: *const bitgask_db) -> Result<&'a Db> {
    arg_ref(db, "db").map(|h| &h.db)
}
