//! The C ABI (docs/DESIGN.md section 9). One module per C object; every export goes through the
//! boundary helpers in `boundary`, which check pointers, catch panics and fill `err_out`.
//! `include/bitgask.h` is generated from these modules by cbindgen (see build.rs).

#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod boundary;
pub mod db;
pub mod error;
pub mod iter;
pub mod maintenance;
pub mod options;
pub mod report;

/// Result of every fallible call: `BITGASK_OK` (0), a positive non-error outcome
/// (`BITGASK_NOT_FOUND`, `BITGASK_ITER_DONE`) or a negative error code. Numbers are stable.
pub type bitgask_status = i32;

pub const BITGASK_OK: bitgask_status = 0;
/// The key is absent (or expired).
pub const BITGASK_NOT_FOUND: bitgask_status = 1;
/// An iterator has no more keys.
pub const BITGASK_ITER_DONE: bitgask_status = 2;
pub const BITGASK_E_INVALID_ARG: bitgask_status = -1;
pub const BITGASK_E_NULL_ARG: bitgask_status = -2;
pub const BITGASK_E_BUFFER_TOO_SMALL: bitgask_status = -3;
pub const BITGASK_E_IO: bitgask_status = -4;
pub const BITGASK_E_CORRUPT: bitgask_status = -5;
pub const BITGASK_E_LOCKED: bitgask_status = -6;
pub const BITGASK_E_CLOSED: bitgask_status = -7;
pub const BITGASK_E_TOO_LARGE: bitgask_status = -8;
pub const BITGASK_E_FORMAT_VERSION: bitgask_status = -9;
pub const BITGASK_E_PANIC: bitgask_status = -10;
pub const BITGASK_E_POISONED: bitgask_status = -11;

/// Values are stored as they are.
pub const BITGASK_CODEC_NONE: u32 = 0;
/// Values at or above the compression threshold are stored snappy-compressed (raw block format)
/// when that makes them smaller.
pub const BITGASK_CODEC_SNAPPY: u32 = 1;

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
        ];
        for (c, r) in pairs {
            assert_eq!(c, r);
        }
        assert_eq!(BITGASK_CODEC_NONE, crate::Codec::None as u32);
        assert_eq!(BITGASK_CODEC_SNAPPY, crate::Codec::Snappy as u32);
    }
}
