//! The one boundary every C entry point goes through: pointer checks, panic catching, and the
//! error object written to `err_out`. Outputs are written only after the work succeeded.
//!
//! Every `extern "C"` function's body is one call of [`run`], [`guard`] or [`value`] (directly or
//! through a wrapper whose body is one such call, like `with_db`), so no panic unwinds into C;
//! the test at the end of this file reads `src/ffi/` and fails when one is not.

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
        // SAFETY: the caller passed a writable `bitgask_error **` holding NULL or an error of
        // ours (API convention 2). An error already there is freed, so a loop that reuses one
        // variable never leaks.
        unsafe {
            free_box(*err_out);
            *err_out = bitgask_error::boxed(&err);
        }
    }
    status
}

/// Runs `f` with no handle to poison on panic.
pub(crate) fn guard(err_out: *mut *mut bitgask_error, f: impl FnOnce() -> Result<bitgask_status>) -> bitgask_status {
    run(err_out, || {}, f)
}

/// Runs `f` for an export that returns a value instead of a status (frees, getters, version
/// queries): a panic gives `fallback` instead of unwinding into C.
pub(crate) fn value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &'static str) -> Result<&'a T> {
    p.as_ref().ok_or(Error::NullArg(name))
}

pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T> {
    p.as_mut().ok_or(Error::NullArg(name))
}

/// Frees an object made by `Box::into_raw`; NULL is a no-op.
pub(crate) unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        drop(Box::from_raw(p));
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// A function of `src/ffi/`: where it is, whether it is exported, its doc comment, its
    /// signature after the name, and the start of its body.
    struct Func {
        file: String,
        exported: bool,
        doc: String,
        signature: String,
        body: String,
    }

    /// Every `fn` of the `src/ffi/` sources, from the text (the code is rustfmt-formatted: an
    /// item's body starts at the first `{` after its name).
    fn ffi_functions() -> BTreeMap<String, Func> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let src = std::fs::read_to_string(&path).unwrap();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut rest = src.as_str();
            while let Some(at) = rest.find("fn ") {
                let head = &rest[..at];
                let line_start = head.rfind('\n').map_or(0, |i| i + 1);
                let prefix = &head[line_start..];
                rest = &rest[at + 3..];
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                // Only items: `fn` at the start of a line after qualifiers, not in comments or types.
                let item = prefix
                    .split_whitespace()
                    .all(|w| ["pub", "pub(crate)", "unsafe", "extern", "\"C\"", "const"].contains(&w));
                if name.is_empty() || !item {
                    continue;
                }
                let Some(open) = rest.find('{') else { continue };
                let body = rest[open + 1..].trim_start().chars().take(200).collect();
                let signature = rest[..open].to_string();
                let exported = prefix.contains("extern \"C\"");
                let doc = doc_above(&head[..line_start]);
                out.insert(name, Func { file: file.clone(), exported, doc, signature, body });
            }
        }
        out
    }

    /// The `///` lines just above an item (skipping its attributes).
    fn doc_above(text: &str) -> String {
        let mut lines: Vec<&str> = Vec::new();
        for line in text.lines().rev().map(str::trim) {
            if let Some(d) = line.strip_prefix("///") {
                lines.push(d.trim());
            } else if !line.starts_with("#[") {
                break;
            }
        }
        lines.reverse();
        lines.join(" ")
    }

    /// Whether a body starts by calling a function that catches panics: `catch_unwind` itself,
    /// or a function whose own body does.
    fn guarded(name: &str, funcs: &BTreeMap<String, Func>, depth: usize) -> bool {
        let Some(f) = funcs.get(name) else { return false };
        if f.body.contains("catch_unwind(") && f.file == "boundary.rs" {
            return true;
        }
        let callee: String = f.body.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        depth < 4 && f.body[callee.len()..].starts_with('(') && guarded(&callee, funcs, depth + 1)
    }

    #[test]
    fn every_export_goes_through_the_boundary() {
        let funcs = ffi_functions();
        let exports: Vec<&String> = funcs.iter().filter(|(_, f)| f.exported).map(|(n, _)| n).collect();
        assert!(exports.len() > 50, "found only {} exports: the scan is broken", exports.len());
        let bypass: Vec<String> = exports
            .iter()
            .filter(|n| !guarded(n, &funcs, 0))
            .map(|n| format!("{} ({}): body starts `{}`", n, funcs[*n].file, funcs[*n].body.lines().next().unwrap()))
            .collect();
        assert!(bypass.is_empty(), "exports that do not start with a boundary call:\n{}", bypass.join("\n"));
    }

    #[test]
    fn the_scan_sees_a_bypass() {
        let mut funcs = ffi_functions();
        let f = funcs.get_mut("bitgask_free").unwrap();
        f.body = "libc::free(p)\n}".into();
        assert!(!guarded("bitgask_free", &funcs, 0));
        assert!(guarded("bitgask_put", &funcs, 0));
    }

    /// Each call that returns a status says which ones (API convention 1), naming only
    /// constants that exist.
    #[test]
    fn every_status_returning_export_lists_its_statuses() {
        let consts = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi/mod.rs")).unwrap();
        let known = |name: &str| consts.contains(&format!("pub const {name}:"));
        for (name, f) in ffi_functions().iter().filter(|(_, f)| f.exported) {
            if f.signature.contains("-> bitgask_status") {
                assert!(f.doc.contains("Returns:"), "{name} ({}) does not list its statuses", f.file);
            }
            for word in f.doc.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("BITGASK_") && word != "BITGASK_VERSION_STRING" && word != "BITGASK_VERSION_NUMBER"
                {
                    assert!(known(word), "{name} ({}) names {word}, which is not a constant", f.file);
                }
            }
        }
    }
}
