//! `bitgask_db`, continued: merge (compaction), space accounting, delete-all and reopen
//! (docs/DESIGN.md sections 7 and 8).
//!
//! Merges run alongside reads and writes: writers wait only for the final directory swap. One
//! merge runs at a time per handle; a second caller waits for the first.

use std::ffi::c_char;

use super::boundary::{arg_mut, path as path_arg};
use super::db::{bitgask_db, with_db};
use super::error::bitgask_error;
use super::{bitgask_status, BITGASK_OK};

/// A full merge: rewrites the live records of every sealed file and drops dead versions,
/// tombstones and expired records. Without `force` it runs only when the trigger holds
/// (dead/total >= merge_trigger_ratio and total >= merge_min_total). `*merged_out` (may be
/// NULL) tells whether a merge ran. On a full disk (`BITGASK_E_NO_SPACE` from a write), or when
/// the live data would not fit in the free space, it merges file by file instead, each input
/// removed right after its swap, so space can be reclaimed without adding disk.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_NO_SPACE` (no file could be
/// merged in the room left; what was merged stays merged); `BITGASK_E_IO` (the merge is abandoned
/// and the database keeps its current files); `BITGASK_E_CORRUPT` (a sealed file turned out
/// damaged); `BITGASK_E_POISONED`.
/// Threads: safe to call concurrently on one handle (merges are serialized).
#[no_mangle]
pub unsafe extern "C" fn bitgask_merge(
    db: *mut bitgask_db,
    force: bool,
    merged_out: *mut bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_merge", |d| {
        let merged = d.merge(force)?;
        if let Some(out) = merged_out.as_mut() {
            *out = merged;
        }
        Ok(BITGASK_OK)
    })
}

/// One pass of the background policy: a full merge when its trigger holds, else a selective
/// merge of the sealed files with the most garbage when enough of them qualify
/// (garbage_ratio, min/max_merge_files, min_merge_total, max_merge_bytes). `*merged_out` (may
/// be NULL) tells whether a merge ran. While space is low (`bitgask_space_get`) it merges file
/// by file, as `bitgask_merge` does on a full disk.
/// Returns: as `bitgask_merge`.
/// Threads: safe to call concurrently on one handle (merges are serialized).
#[no_mangle]
pub unsafe extern "C" fn bitgask_compact_if_needed(
    db: *mut bitgask_db,
    merged_out: *mut bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_compact_if_needed", |d| {
        let merged = d.compact_if_needed()?;
        if let Some(out) = merged_out.as_mut() {
            *out = merged;
        }
        Ok(BITGASK_OK)
    })
}

/// Dead bytes, total bytes of the data files, and their ratio (0 for an empty database): what
/// a full merge would free. All three outputs are required.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, dead_bytes, total_bytes, ratio).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_reclaimable(
    db: *const bitgask_db,
    dead_bytes: *mut u64,
    total_bytes: *mut u64,
    ratio: *mut f64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_reclaimable", |d| {
        let (dead, total, r) =
            (arg_mut(dead_bytes, "dead_bytes")?, arg_mut(total_bytes, "total_bytes")?, arg_mut(ratio, "ratio")?);
        let rc = d.reclaimable()?;
        (*dead, *total, *r) = (rc.dead_bytes, rc.total_bytes, rc.ratio);
        Ok(BITGASK_OK)
    })
}

/// Drops every expired key from the keydir so its bytes count as dead (a merge then frees
/// them); `*removed_out` (may be NULL) receives how many keys were dropped.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_CORRUPT`, `BITGASK_E_IO` (reading
/// a record's expiry).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_run_gc(
    db: *mut bitgask_db,
    removed_out: *mut u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_run_gc", |d| {
        let removed = d.run_gc()?;
        if let Some(out) = removed_out.as_mut() {
            *out = removed;
        }
        Ok(BITGASK_OK)
    })
}

/// Deletes every key. Crash-safe: after a crash the database is either untouched or empty.
/// Writers wait while it runs; files in `data/` that are not bitgask's are kept.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_IO`; `BITGASK_E_POISONED`.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_delete_all(db: *mut bitgask_db, err_out: *mut *mut bitgask_error) -> bitgask_status {
    with_db(db, err_out, "bitgask_delete_all", |d| d.delete_all().map(|_| BITGASK_OK))
}

/// Rebuilds the in-memory index from the files on disk, as a fresh open would, keeping the
/// LOCK. Waits for in-flight writes and merges. Also clears a poisoned handle: writes that were
/// never made durable are not served afterwards.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_CORRUPT`,
/// `BITGASK_E_FORMAT_VERSION`, `BITGASK_E_IO` (as for `bitgask_open`).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_reopen(db: *mut bitgask_db, err_out: *mut *mut bitgask_error) -> bitgask_status {
    with_db(db, err_out, "bitgask_reopen", |d| d.reopen().map(|_| BITGASK_OK))
}

/// A point-in-time copy of the open database into directory `dst` (NUL-terminated UTF-8), taken
/// while writers keep writing: every write acknowledged before the call is in it. `dst` must not
/// exist or be an empty directory, and must not be the database directory or inside it
/// (`BITGASK_E_INVALID_ARG`); its parent must exist. The copy is built in a staging directory
/// beside `dst` (removed on failure) and renamed into place once everything is fsynced; it has
/// no LOCK and opens with `bitgask_open`. Merges wait for the backup.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, dst); `BITGASK_E_INVALID_ARG` (dst not UTF-8,
/// not empty, the database or inside it); `BITGASK_E_IO` (creating, copying or fsyncing the
/// copy; also when the staging name `.<name>.backup-<pid>` beside dst is taken).
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_backup(
    db: *const bitgask_db,
    dst: *const c_char,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_backup", |d| {
        d.backup(path_arg(dst)?)?;
        Ok(BITGASK_OK)
    })
}
