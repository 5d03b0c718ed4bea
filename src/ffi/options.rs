//! `bitgask_options`: tunables passed to `bitgask_open`.
//!
//! Create with `bitgask_options_new`, set fields, pass to `bitgask_open` (which copies them; the
//! object may be freed or reused right after), free with `bitgask_options_free`. Single-owner.
//! Every setter returns `BITGASK_E_NULL_ARG` for a NULL object and, where its comment gives a
//! range, `BITGASK_E_INVALID_ARG` (leaving the option unchanged) for a value outside it; the
//! others accept any value.

use super::boundary::{arg_mut, free_box, guard, value};
use super::error::bitgask_error;
use super::{bitgask_status, BITGASK_OK};
use crate::options::Options;

/// Options for `bitgask_open`. Opaque.
pub struct bitgask_options {
    pub(crate) opts: Options,
}

/// A copy of the options `opts` points at, or the defaults for NULL: every call that takes an
/// optional `bitgask_options` reads it this way.
///
/// # Safety
/// `opts` is NULL or points at a live `bitgask_options`.
pub(crate) unsafe fn options_or_default(opts: *const bitgask_options) -> Options {
    opts.as_ref().map_or_else(Options::default, |o| o.opts.clone())
}

/// A new options object with the defaults (sync on put and delete, 64 MiB files, 64 KiB keys,
/// 32 MiB values, hint files on, no compression, no TTL, lock timeout 0). Never NULL.
/// Threads: one thread at a time per options object.
#[no_mangle]
pub extern "C" fn bitgask_options_new() -> *mut bitgask_options {
    value(std::ptr::null_mut(), || Box::into_raw(Box::new(bitgask_options { opts: Options::default() })))
}

/// Frees an options object. NULL is a no-op.
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_free(o: *mut bitgask_options) {
    value((), || free_box(o))
}

/// Runs a setter on a non-NULL options object.
unsafe fn set(
    o: *mut bitgask_options,
    err_out: *mut *mut bitgask_error,
    f: impl FnOnce(&mut Options) -> crate::Result<()>,
) -> bitgask_status {
    guard(err_out, || {
        f(&mut arg_mut(o, "options")?.opts)?;
        Ok(BITGASK_OK)
    })
}

/// fdatasync before `bitgask_put` returns (default true). Concurrent writers share fsyncs.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_sync_on_put(
    o: *mut bitgask_options,
    v: bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_sync_on_put(v);
        Ok(())
    })
}

/// fdatasync before `bitgask_delete` returns (default true).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_sync_on_delete(
    o: *mut bitgask_options,
    v: bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_sync_on_delete(v);
        Ok(())
    })
}

/// Period of the background flusher in milliseconds (0, the default, disables it). Useful with
/// per-write sync off: a crash of the machine then loses at most about one period of writes.
/// Any value (a period too long to schedule never fires).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_sync_interval_ms(
    o: *mut bitgask_options,
    ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_sync_interval_ms(ms);
        Ok(())
    })
}

/// Size at which the active data file is sealed and a new one started (default 64 MiB).
/// Range: `BITGASK_FILE_SIZE_MIN` (256) to `BITGASK_FILE_SIZE_MAX` (4227858399, 4 GiB less room
/// for one largest record).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_max_file_size(
    o: *mut bitgask_options,
    bytes: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_max_file_size(bytes).map(drop))
}

/// Size of the reserve file preallocated beside the data and given back when the disk fills,
/// so that deletes and merges can still run there (default 4 MiB; 0: no reserve; see
/// `BITGASK_E_NO_SPACE`). Range: 0 to 1 TiB.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_reserve_bytes(
    o: *mut bitgask_options,
    bytes: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_reserve_bytes(bytes).map(drop))
}

/// Largest key accepted (default 64 KiB); longer keys give `BITGASK_E_TOO_LARGE`.
/// Range: 1 to `BITGASK_KEY_SIZE_LIMIT` (32 MiB).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_max_key_size(
    o: *mut bitgask_options,
    bytes: u32,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_max_key_size(bytes).map(drop))
}

/// Largest value accepted (default 32 MiB); longer values give `BITGASK_E_TOO_LARGE`.
/// Range: 0 to `BITGASK_VALUE_SIZE_LIMIT` (32 MiB).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_max_value_size(
    o: *mut bitgask_options,
    bytes: u32,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_max_value_size(bytes).map(drop))
}

/// TTL given to keys written with `bitgask_put` (0, the default: they never expire). Any value;
/// an expiry past the year 2554 saturates there.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_default_ttl_ms(
    o: *mut bitgask_options,
    ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_default_ttl_ms(ms);
        Ok(())
    })
}

/// Write hint files for sealed data files and use them at open (default true).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_hint_files(
    o: *mut bitgask_options,
    v: bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_hint_files(v);
        Ok(())
    })
}

/// Codec for new values: `BITGASK_CODEC_NONE` (default) or `BITGASK_CODEC_SNAPPY`.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (another number).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_compression(
    o: *mut bitgask_options,
    codec: u32,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_compression_number(codec).map(drop))
}

/// Values shorter than this are never compressed (default 4096 bytes). Any value.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_compression_threshold(
    o: *mut bitgask_options,
    bytes: u32,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_compression_threshold(bytes);
        Ok(())
    })
}

/// How long `bitgask_open` waits for a LOCK held by another handle (default 0: fail at once
/// with `BITGASK_E_LOCKED`). Any value; `UINT64_MAX` waits as long as it takes.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_lock_timeout_ms(
    o: *mut bitgask_options,
    ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_lock_timeout_ms(ms);
        Ok(())
    })
}

/// Full merge trigger: dead/total bytes at least this ratio (default 0.6).
/// Range: 0 to 1 (NaN is outside).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_merge_trigger_ratio(
    o: *mut bitgask_options,
    ratio: f64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_merge_trigger_ratio(ratio).map(drop))
}

/// Full merge trigger: at least this many bytes in data files (default 64 MiB). Any value.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_merge_min_total(
    o: *mut bitgask_options,
    bytes: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_merge_min_total(bytes);
        Ok(())
    })
}

/// Period of the background merge worker in milliseconds (default 600000; 0 disables it). Each
/// tick runs `bitgask_compact_if_needed`. Any value (a period too long to schedule never fires).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_merge_interval_ms(
    o: *mut bitgask_options,
    ms: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_merge_interval_ms(ms);
        Ok(())
    })
}

/// Run one pass of the merge policy inside `bitgask_open` (default false).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_merge_on_open(
    o: *mut bitgask_options,
    v: bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_merge_on_open(v);
        Ok(())
    })
}

/// Size at which merge output files are cut (default 64 MiB).
/// Range: `BITGASK_FILE_SIZE_MIN` to `BITGASK_FILE_SIZE_MAX`, as max_file_size.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_merge_max_file_size(
    o: *mut bitgask_options,
    bytes: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_merge_max_file_size(bytes).map(drop))
}

/// Selective merge: a sealed file qualifies when its own dead/size reaches this ratio (default
/// 0.4). Range: above 0, up to 1.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_garbage_ratio(
    o: *mut bitgask_options,
    ratio: f64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_garbage_ratio(ratio).map(drop))
}

/// Selective merge: fewest qualifying files worth a merge (default 3). Range: 1 and up; at open
/// it must not exceed max_merge_files (else `bitgask_open` returns `BITGASK_E_INVALID_ARG`).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (0).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_min_merge_files(
    o: *mut bitgask_options,
    n: u32,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_min_merge_files(n).map(drop))
}

/// Selective merge: fewest bytes worth a merge (default 256 MiB). Any value.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_min_merge_total(
    o: *mut bitgask_options,
    bytes: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_min_merge_total(bytes);
        Ok(())
    })
}

/// Selective merge: most files in one merge (default 5). Range: 1 and up; at open it must not be
/// below min_merge_files (else `bitgask_open` returns `BITGASK_E_INVALID_ARG`).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (0).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_max_merge_files(
    o: *mut bitgask_options,
    n: u32,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_max_merge_files(n).map(drop))
}

/// Selective merge: most bytes in one merge (default 2 GiB). Range: 1 and up.
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (0).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_max_merge_bytes(
    o: *mut bitgask_options,
    bytes: u64,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| x.set_max_merge_bytes(bytes).map(drop))
}

/// `bitgask_adopt` only: skip damaged byte ranges and keys over this options object's size
/// limits, listing each in the report, instead of refusing the whole adoption (default false).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_adopt_salvage(
    o: *mut bitgask_options,
    v: bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_adopt_salvage(v);
        Ok(())
    })
}

/// `bitgask_adopt` only: remove the Go system's files once the adopted database is in place,
/// instead of keeping them in `go-original/` (default false).
/// Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
/// Threads: one thread at a time per options object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_options_set_adopt_discard_original(
    o: *mut bitgask_options,
    v: bool,
    err_out: *mut *mut bitgask_error,
) -> bitgask_status {
    set(o, err_out, |x| {
        x.set_adopt_discard_original(v);
        Ok(())
    })
}
