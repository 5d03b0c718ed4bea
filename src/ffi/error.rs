//! `bitgask_error`, status texts, version queries and `bitgask_free`.

use std::ffi::{c_char, c_void, CString};

use super::bitgask_status;
use crate::error::{status, Error};

/// Detail of a failed call: its status and a message naming the file, offset or limit involved.
/// Created by the library into a caller's `bitgask_error **err_out`; owned by the caller, who
/// frees it with `bitgask_error_free`. Single-owner: do not share between threads without a lock.
pub struct bitgask_error {
    status: bitgask_status,
    message: CString,
}

impl bitgask_error {
    pub(crate) fn boxed(e: &Error) -> *mut bitgask_error {
        let text = e.to_string().replace('\0', "\\0");
        let message = CString::new(text).unwrap_or_default();
        Box::into_raw(Box::new(bitgask_error { status: e.status(), message }))
    }
}

/// Static text for a status (never NULL; unknown numbers give "unknown status").
/// Thread-safe; the string is owned by the library and lives forever.
#[no_mangle]
pub extern "C" fn bitgask_status_str(s: bitgask_status) -> *const c_char {
    status::ctext(s).as_ptr()
}

/// The error's message, owned by the error (valid until `bitgask_error_free`); "" for NULL.
/// Threads: one thread at a time per error object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_error_message(err: *const bitgask_error) -> *const c_char {
    match err.as_ref() {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// The error's status code; `BITGASK_E_NULL_ARG` for NULL.
/// Threads: one thread at a time per error object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_error_status(err: *const bitgask_error) -> bitgask_status {
    err.as_ref().map_or(status::E_NULL_ARG, |e| e.status)
}

/// Frees an error object. NULL is a no-op.
/// Threads: one thread at a time per error object.
#[no_mangle]
pub unsafe extern "C" fn bitgask_error_free(err: *mut bitgask_error) {
    if !err.is_null() {
        drop(Box::from_raw(err));
    }
}

/// Frees a buffer returned by the library (`bitgask_get`). NULL is a no-op.
/// Threads: any (the buffer is the caller's).
#[no_mangle]
pub unsafe extern "C" fn bitgask_free(p: *mut c_void) {
    libc::free(p);
}

/// The library's version as "MAJOR.MINOR.PATCH" (static, never NULL). Compare with the
/// `BITGASK_VERSION_STRING` macro to detect a header/library mismatch.
/// Threads: any.
#[no_mangle]
pub extern "C" fn bitgask_version() -> *const c_char {
    crate::version::VERSION_NUL.as_ptr() as *const c_char
}

/// The library's version as MAJOR * 1000000 + MINOR * 1000 + PATCH, like `BITGASK_VERSION_NUMBER`.
/// Threads: any.
#[no_mangle]
pub extern "C" fn bitgask_version_number() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) * 1_000_000
        + part(env!("CARGO_PKG_VERSION_MINOR")) * 1000
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}
