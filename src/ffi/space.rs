//! A full disk (docs/DESIGN.md section 5.14): the reserve file and the full state, through
//! `bitgask_space_get`. Its own struct rather than new fields of `bitgask_stats`, whose size is
//! compiled into callers.

use super::boundary::arg_mut;
use super::db::{bitgask_db, with_db};
use super::error::bitgask_error;
use super::{bitgask_status, BITGASK_OK};

/// The reserve file and whether the disk is full, filled by `bitgask_space_get`.
#[repr(C)]
pub struct bitgask_space {
    /// The configured reserve size (`bitgask_options_set_reserve_bytes`).
    pub reserve_size: u64,
    /// Bytes the reserve file holds now: `reserve_size`, or 0 once it was given back to let
    /// deletes and merges run on a full disk.
    pub reserve_bytes: u64,
    /// Bytes available on the database's file system (0 when unknown).
    pub free_bytes: u64,
    /// Writes that failed or were refused with `BITGASK_E_NO_SPACE` since the handle opened.
    pub no_space_errors: u64,
    /// 1 while the handle is full (a write failed for lack of space and room has not come
    /// back): puts are refused with `BITGASK_E_NO_SPACE`, deletes and merges run. Else 0.
    pub full: u32,
    /// 1 while space is low: full, or less free than twice the reserve. Merges then run file by
    /// file (`bitgask_compact_if_needed` always, `bitgask_merge` when the live data would not
    /// fit). Else 0.
    pub low: u32,
}

/// Fills `*out` with the reserve's size and content, the free bytes, and whether the handle is
/// full.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, out); `BITGASK_E_CLOSED`.
/// Threads: safe to call concurrently on one handle.
#[no_mangle]
pub unsafe extern "C" fn bitgask_space_get(
    db: *const bitgask_db,
    out: *mut bitgask_space,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    with_db(db, err_out, "bitgask_space_get", |d| {
        let o = arg_mut(out, "out")?;
        let s = d.space()?;
        *o = bitgask_space {
            reserve_size: s.reserve_size,
            reserve_bytes: s.reserve_bytes,
            free_bytes: s.free_bytes,
            no_space_errors: s.no_space_errors,
            full: s.full as u32,
            low: s.low as u32,
        };
        Ok(BITGASK_OK)
    })
}
