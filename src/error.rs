//! The one error type of the crate.
//!
//! Every variant maps to exactly one `bitgask_status` error code (see [`Error::status`]); the
//! non-error outcomes (`OK`, `NOT_FOUND`, `ITER_DONE`) are `Ok(..)` shapes in Rust (`Option::None`,
//! `false`, the end of an iterator), never errors.

use std::fmt;
use std::io;
use std::path::Path;

/// Status codes shared with the C ABI. Numbers are stable and never reused.
pub mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const ITER_DONE: i32 = 2;
    pub const E_INVALID_ARG: i32 = -1;
    pub const E_NULL_ARG: i32 = -2;
    pub const E_BUFFER_TOO_SMALL: i32 = -3;
    pub const E_IO: i32 = -4;
    pub const E_CORRUPT: i32 = -5;
    pub const E_LOCKED: i32 = -6;
    pub const E_CLOSED: i32 = -7;
    pub const E_TOO_LARGE: i32 = -8;
    pub const E_FORMAT_VERSION: i32 = -9;
    pub const E_PANIC: i32 = -10;
    pub const E_POISONED: i32 = -11;

    /// Static NUL-terminated text for a status; unknown numbers get a generic text, never a crash.
    pub fn ctext(s: i32) -> &'static std::ffi::CStr {
        match s {
            OK => c"ok",
            NOT_FOUND => c"not found",
            ITER_DONE => c"iteration done",
            E_INVALID_ARG => c"invalid argument",
            E_NULL_ARG => c"null argument",
            E_BUFFER_TOO_SMALL => c"buffer too small",
            E_IO => c"i/o error",
            E_CORRUPT => c"data corruption",
            E_LOCKED => c"database is locked by another handle",
            E_CLOSED => c"database is closed",
            E_TOO_LARGE => c"key or value too large",
            E_FORMAT_VERSION => c"unsupported on-disk format version",
            E_PANIC => c"internal panic",
            E_POISONED => c"handle poisoned by an earlier fatal error",
            _ => c"unknown status",
        }
    }

    pub fn text(s: i32) -> &'static str {
        ctext(s).to_str().expect("status texts are ASCII")
    }
}

/// Everything that can go wrong. Messages name the file, offset or limit involved. New kinds of
/// failure may be added (each with a new status number), so a `match` needs a wildcard arm;
/// [`Error::status`] gives the stable number of any of them.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    InvalidArg(String),
    NullArg(&'static str),
    BufferTooSmall { needed: usize },
    Io { context: String, source: io::Error },
    Corrupt(String),
    Locked(String),
    Closed,
    TooLarge(String),
    FormatVersion(String),
    Panic(String),
    Poisoned(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn status(&self) -> i32 {
        use status::*;
        match self {
            Error::InvalidArg(_) => E_INVALID_ARG,
            Error::NullArg(_) => E_NULL_ARG,
            Error::BufferTooSmall { .. } => E_BUFFER_TOO_SMALL,
            Error::Io { .. } => E_IO,
            Error::Corrupt(_) => E_CORRUPT,
            Error::Locked(_) => E_LOCKED,
            Error::Closed => E_CLOSED,
            Error::TooLarge(_) => E_TOO_LARGE,
            Error::FormatVersion(_) => E_FORMAT_VERSION,
            Error::Panic(_) => E_PANIC,
            Error::Poisoned(_) => E_POISONED,
        }
    }

    /// An I/O error with the operation and path that failed.
    pub fn io(what: &str, path: &Path, source: io::Error) -> Error {
        Error::Io { context: format!("{what} {}", path.display()), source }
    }

    /// Corruption at a byte offset of a file.
    pub fn corrupt_at(path: &Path, offset: u64, detail: impl fmt::Display) -> Error {
        Error::Corrupt(format!("{} at offset {offset}: {detail}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArg(m) => write!(f, "invalid argument: {m}"),
            Error::NullArg(name) => write!(f, "null argument: {name}"),
            Error::BufferTooSmall { needed } => write!(f, "buffer too small: {needed} bytes needed"),
            Error::Io { context, source } => write!(f, "i/o error: {context}: {source}"),
            Error::Corrupt(m) => write!(f, "corruption: {m}"),
            Error::Locked(m) => write!(f, "locked: {m}"),
            Error::Closed => write!(f, "database is closed"),
            Error::TooLarge(m) => write!(f, "too large: {m}"),
            Error::FormatVersion(m) => write!(f, "format version: {m}"),
            Error::Panic(m) => write!(f, "internal panic: {m}"),
            Error::Poisoned(m) => write!(f, "handle poisoned: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_distinct_error_status() {
        let all = [
            Error::InvalidArg(String::new()),
            Error::NullArg("x"),
            Error::BufferTooSmall { needed: 1 },
            Error::Io { context: String::new(), source: io::Error::other("x") },
            Error::Corrupt(String::new()),
            Error::Locked(String::new()),
            Error::Closed,
            Error::TooLarge(String::new()),
            Error::FormatVersion(String::new()),
            Error::Panic(String::new()),
            Error::Poisoned(String::new()),
        ];
        let mut codes: Vec<i32> = all.iter().map(Error::status).collect();
        assert!(codes.iter().all(|&c| c < 0));
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for c in codes {
            assert_ne!(status::text(c), "unknown status");
        }
    }
}
