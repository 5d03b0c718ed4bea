//! The one boundary every C entry point goes through: pointer checks, panic catching, and the
//! error object written to `err_out`. Outputs are written only after the work succeeded.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::bitgask_status;
use super::error::bitgask_error;
use crate::error::{Error, Result};
use crate::format::record::{HARD_MAX_KEY, HARD_MAX_VALUE};

/// Runs `f`, turning its error or panic into a status and an error object. `on_panic` runs
/// after a panic was caught (to poison the handle whose state it may have left half-done).
pub(crate) fn run(
    err_out: *mut *mut bitgask_error,
    on_panic: impl FnOnce(),
    f: impl FnOnce() -> Result<bitgask_status>,
) -> bitgask_status {
    let err = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => return status,
        Ok(Err(e)) => e,
        Err(payload) => {
            on_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Error::Panic(msg)
        }
    };
    let status = err.status();
    if !err_out.is_null() {
        // SAFETY: the caller passed a writable `bitgask_error **` (documented contract).
        unsafe { *err_out = bitgask_error::boxed(&err) };
    }
    status
}

/// Runs `f` with no handle to poison on panic.
pub(crate) fn guard(err_out: *mut *mut bitgask_error, f: impl FnOnce() -> Result<bitgask_status>) -> bitgask_status {
    run(err_out, || {}, f)
}

pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &'static str) -> Result<&'a T> {
    p.as_ref().ok_or(Error::NullArg(name))
}

pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T> {
    p.as_mut().ok_or(Error::NullArg(name))
}

/// A `(ptr, len)` byte argument. NULL is allowed only with length 0. Lengths above any limit of
/// the library are refused before a slice is formed, so a wild length never reaches memory.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, name: &'static str) -> Result<&'a [u8]> {
    let limit = HARD_MAX_KEY.max(HARD_MAX_VALUE) as usize;
    if len > limit {
        return Err(Error::TooLarge(format!("{name} of {len} bytes exceeds the hard limit of {limit}")));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::NullArg(name));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// A NUL-terminated UTF-8 path.
pub(crate) unsafe fn path<'a>(p: *const c_char) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::NullArg("path"));
    }
    CStr::from_ptr(p).to_str().map_err(|_| Error::InvalidArg("path is not valid UTF-8".into()))
}

/// Copies `v` into a new `malloc` block (at least one byte, so an empty value is not NULL).
pub(crate) fn malloc_copy(v: &[u8]) -> Result<*mut u8> {
    // SAFETY: malloc of a positive size; checked for NULL; copy of exactly v.len() bytes.
    unsafe {
        let p = libc::malloc(v.len().max(1)) as *mut u8;
        if p.is_null() {
            return Err(Error::Io {
                context: format!("malloc of {} bytes", v.len()),
                source: std::io::Error::from(std::io::ErrorKind::OutOfMemory),
            });
        }
        std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len());
        Ok(p)
    }
}
