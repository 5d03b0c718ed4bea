//! The C ABI (docs/DESIGN.md section 9). One module per C object; every export goes through the
//! boundary helpers in `boundary`, which check pointers, catch panics and fill `err_out` (a test
//! there holds every export to it).
//! `include/bitgask.h` is generated from these modules by cbindgen (`make header`, tools/gen-header).

#![allow(non_camel_case_types, clippy::missing_safety_doc)]

pub mod batch;
mod boundary;
pub mod db;
pub mod error;
pub mod iter;
pub mod maintenance;
pub mod multi_get;
pub mod options;
pub mod report;
pub mod space;
pub mod txn;

/// Result of every fallible call: `BITGASK_OK` (0), a positive non-error outcome
/// (`BITGASK_NOT_FOUND`, `BITGASK_ITER_DONE`, `BITGASK_STOPPED`) or a negative error code.
/// Numbers are stable and never reused; `bitgask_status_str` gives each one's text.
pub type bitgask_status = i32;

/// The call did what it says.
pub const BITGASK_OK: bitgask_status = 0;
/// The key is absent, deleted or expired (`bitgask_get`, `bitgask_get_into`, `bitgask_delete`,
/// `bitgask_expire`, `bitgask_persist`, `bitgask_ttl_ms`, `bitgask_meta`). Not an error:
/// `*err_out` is not written and nothing was changed.
pub const BITGASK_NOT_FOUND: bitgask_status = 1;
/// `bitgask_iter_next` has visited every key; later calls keep returning it. Not an error.
pub const BITGASK_ITER_DONE: bitgask_status = 2;
/// `bitgask_fold` ended early because its callback returned nonzero (a fold that ran out of
/// keys returns `BITGASK_OK`). Not an error.
pub const BITGASK_STOPPED: bitgask_status = 3;
/// An argument has a value the call does not accept: an empty key; a path that is not UTF-8; an
/// option outside its documented range (the setter leaves the option unchanged) or options that
/// contradict each other at open; `ttl_ms` 0 for `bitgask_put_ttl` or `bitgask_expire`; a backup
/// destination that is not empty or lies inside the database; a problem index past the end.
/// Nothing was changed.
pub const BITGASK_E_INVALID_ARG: bitgask_status = -1;
/// A pointer the call needs is NULL (the message names the argument). Nothing was changed.
pub const BITGASK_E_NULL_ARG: bitgask_status = -2;
/// `bitgask_get_into`: the value is longer than `cap`. `*vlen_out` holds the length needed and
/// `buf` is untouched.
pub const BITGASK_E_BUFFER_TOO_SMALL: bitgask_status = -3;
/// The operating system refused an operation (open, read, write, fsync, mkdir, rename, ...); the
/// message names the operation, the path and the OS error. A write whose fsync failed is not
/// durable, and the handle is then poisoned (`BITGASK_E_POISONED`).
pub const BITGASK_E_IO: bitgask_status = -4;
/// Bytes on disk are not what the library wrote: a sealed data file whose record fails its CRC
/// or has impossible lengths (found at open or by a read), a damaged meta file, a value that does
/// not decode. The message names the file and offset; `bitgask_repair` mends what it can. (A
/// torn tail left by a crash in the file being written is not corruption: open cuts it; nor are
/// unsynced writes a power loss persisted out of order: open sets them aside.)
pub const BITGASK_E_CORRUPT: bitgask_status = -5;
/// Another handle has the database open: another process (the message gives its pid, from the
/// LOCK file) or another `bitgask_open` of this process; with a lock timeout, after waiting that
/// long. Also `bitgask_repair` of an open database.
pub const BITGASK_E_LOCKED: bitgask_status = -6;
/// A call on an iterator whose database has been closed.
pub const BITGASK_E_CLOSED: bitgask_status = -7;
/// A key longer than max_key_size, a value longer than max_value_size, or a length above
/// `BITGASK_KEY_SIZE_LIMIT` / `BITGASK_VALUE_SIZE_LIMIT`. Nothing was written.
pub const BITGASK_E_TOO_LARGE: bitgask_status = -8;
/// The directory was written by a newer on-disk format than this library reads (its
/// `bitgask.meta` names a higher version). Nothing was changed.
pub const BITGASK_E_FORMAT_VERSION: bitgask_status = -9;
/// A bug in the library was caught at the boundary (the message has the panic text); the handle
/// it happened on is poisoned. Any call taking `err_out` can return it; the per-function lists
/// leave it out.
pub const BITGASK_E_PANIC: bitgask_status = -10;
/// Writes are refused on this handle: an earlier fsync failure (or a panic) means it can no
/// longer promise durability. Reads still work; `bitgask_reopen` (or close and open) clears it
/// and serves what is on disk.
pub const BITGASK_E_POISONED: bitgask_status = -11;
/// `bitgask_txn_commit`: a key the transaction read (by get, exists, or as a key its iterator
/// returned, including reads that found nothing) was written by someone else after the
/// transaction read it. Nothing of the transaction was written; run it again.
pub const BITGASK_E_CONFLICT: bitgask_status = -12;
/// The file system is full (`ENOSPC`, or `EDQUOT` for a quota). A write: nothing was written
/// and nothing acknowledged was lost; the handle stays usable and reads go on. While the disk is
/// full, puts are refused with this status at once and deletes still run (on the space the
/// reserve file gave back) until less than a floor of it is left, then they are refused too;
/// delete keys, then `bitgask_merge` or `bitgask_compact_if_needed` reclaim their space file by
/// file (or from a file's tail), and writes resume once there is room again (section 5.14 of
/// the design). A merge: its partial output was removed. `bitgask_space_get` says more.
pub const BITGASK_E_NO_SPACE: bitgask_status = -13;

/// Values are stored as they are.
pub const BITGASK_CODEC_NONE: u32 = 0;
/// Values at or above the compression threshold are stored snappy-compressed (raw block format)
/// when that makes them smaller.
pub const BITGASK_CODEC_SNAPPY: u32 = 1;

/// Largest key any database accepts (32 MiB): the ceiling of max_key_size.
pub const BITGASK_KEY_SIZE_LIMIT: u32 = 33554432;
/// Largest value any database accepts (32 MiB): the ceiling of max_value_size.
pub const BITGASK_VALUE_SIZE_LIMIT: u32 = 33554432;
/// Smallest max_file_size and merge_max_file_size.
pub const BITGASK_FILE_SIZE_MIN: u64 = 256;
/// Largest max_file_size and merge_max_file_size: 4 GiB - 1 less room for one record of the
/// largest size (a file may overrun its limit by one record; offsets are 32-bit).
pub const BITGASK_FILE_SIZE_MAX: u64 = 4227858399;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::status as s;

    /// The header's numbers are literals (cbindgen cannot follow paths); they must stay equal
    /// to the crate's own.
    #[test]
    fn c_constants_match_the_crate() {
        let pairs = [
            (BITGASK_OK, s::OK),
            (BITGASK_NOT_FOUND, s::NOT_FOUND),
            (BITGASK_ITER_DONE, s::ITER_DONE),
            (BITGASK_STOPPED, s::STOPPED),
            (BITGASK_E_INVALID_ARG, s::E_INVALID_ARG),
            (BITGASK_E_NULL_ARG, s::E_NULL_ARG),
            (BITGASK_E_BUFFER_TOO_SMALL, s::E_BUFFER_TOO_SMALL),
            (BITGASK_E_IO, s::E_IO),
            (BITGASK_E_CORRUPT, s::E_CORRUPT),
            (BITGASK_E_LOCKED, s::E_LOCKED),
            (BITGASK_E_CLOSED, s::E_CLOSED),
            (BITGASK_E_TOO_LARGE, s::E_TOO_LARGE),
            (BITGASK_E_FORMAT_VERSION, s::E_FORMAT_VERSION),
            (BITGASK_E_PANIC, s::E_PANIC),
            (BITGASK_E_POISONED, s::E_POISONED),
            (BITGASK_E_CONFLICT, s::E_CONFLICT),
            (BITGASK_E_NO_SPACE, s::E_NO_SPACE),
        ];
        for (c, r) in pairs {
            assert_eq!(c, r);
        }
        assert_eq!(BITGASK_KEY_SIZE_LIMIT, crate::format::record::HARD_MAX_KEY);
        assert_eq!(BITGASK_VALUE_SIZE_LIMIT, crate::format::record::HARD_MAX_VALUE);
        assert_eq!(BITGASK_FILE_SIZE_MIN, crate::options::MIN_FILE_SIZE);
        assert_eq!(BITGASK_FILE_SIZE_MAX, crate::options::MAX_FILE_SIZE);
        assert_eq!(BITGASK_CODEC_NONE, crate::Codec::None as u32);
        assert_eq!(BITGASK_CODEC_SNAPPY, crate::Codec::Snappy as u32);
    }
}
