//! The one error type of the crate.
//!
//! Every variant maps to exactly one `bitgask_status` error code (see [`Error::status`]); the
//! non-error outcomes (`OK`, `NOT_FOUND`, `ITER_DONE`, `STOPPED`) are `Ok(..)` shapes in Rust
//! (`Option::None`, `false`, the end of an iterator, a `Db::fold` closure that returned false),
//! never errors.

use std::fmt;
use std::io;
use std::path::Path;

/// Status codes shared with the C ABI. Numbers are stable and never reused.
pub mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const ITER_DONE: i32 = 2;
    /// `bitgask_fold` ended because its callback returned nonzero.
    pub const STOPPED: i32 = 3;
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
    /// A transaction's commit found a key it read written by someone else since.
    pub const E_CONFLICT: i32 = -12;
    /// A write found the file system full (`ENOSPC` or `EDQUOT`); nothing was lost and the
    /// handle stays usable (docs/DESIGN.md section 5.14).
    pub const E_NO_SPACE: i32 = -13;

    /// Static NUL-terminated text for a status; unknown numbers get a generic text, never a crash.
    pub fn ctext(s: i32) -> &'static std::ffi::CStr {
        match s {
            OK => c"ok",
            NOT_FOUND => c"not found",
            ITER_DONE => c"iteration done",
            STOPPED => c"stopped by the callback",
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
            E_CONFLICT => c"transaction conflict",
            E_NO_SPACE => c"no space left on the file system",
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
    BufferTooSmall {
        needed: usize,
    },
    Io {
        context: String,
        source: io::Error,
    },
    Corrupt(String),
    Locked(String),
    Closed,
    TooLarge(String),
    FormatVersion(String),
    Panic(String),
    Poisoned(String),
    /// A transaction's commit found a key it read written by someone else since; nothing was
    /// written.
    Conflict(String),
    /// The file system is full (`ENOSPC`, or `EDQUOT` for a quota): the operation was undone
    /// and nothing acknowledged was lost; the handle stays usable. A failed fsync is never this
    /// (what it covered may be lost): that is `Io`, and it poisons the handle.
    NoSpace {
        context: String,
        source: io::Error,
    },
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
            Error::Conflict(_) => E_CONFLICT,
            Error::NoSpace { .. } => E_NO_SPACE,
        }
    }

    /// An I/O error with the operation and path that failed; a full file system is `NoSpace`.
    pub fn io(what: &str, path: &Path, source: io::Error) -> Error {
        let context = format!("{what} {}", path.display());
        match is_no_space(&source) {
            true => Error::NoSpace { context, source },
            false => Error::Io { context, source },
        }
    }

    /// A failed fsync: always `Io`, even for `ENOSPC`, because the pages it covered may be lost
    /// (the caller poisons the handle), so it must not read as "free space and retry".
    pub fn io_lost(what: &str, path: &Path, source: io::Error) -> Error {
        Error::Io { context: format!("{what} {}", path.display()), source }
    }

    /// The same failure as `Io`: for a `NoSpace` whose clean-up failed, so the handle was
    /// poisoned and freeing space is not the remedy.
    pub fn lost(self) -> Error {
        match self {
            Error::NoSpace { context, source } => Error::Io { context, source },
            other => other,
        }
    }

    /// Whether this is a full file system (`NoSpace`).
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::NoSpace { .. })
    }

    /// Corruption at a byte offset of a file.
    pub fn corrupt_at(path: &Path, offset: u64, detail: impl fmt::Display) -> Error {
        Error::Corrupt(format!("{} at offset {offset}: {detail}", path.display()))
    }

    /// The message without the category: what the C API's `bitgask_error_message` returns,
    /// since a C caller prints `bitgask_status_str` beside it. `Display` is the category, ": "
    /// and this detail (`Closed` displays as its category alone).
    pub fn detail(&self) -> String {
        match self {
            Error::InvalidArg(m)
            | Error::Corrupt(m)
            | Error::Locked(m)
            | Error::TooLarge(m)
            | Error::FormatVersion(m)
            | Error::Panic(m)
            | Error::Poisoned(m)
            | Error::Conflict(m) => m.clone(),
            Error::NullArg(name) => format!("{name} is NULL"),
            Error::BufferTooSmall { needed } => format!("{needed} bytes needed"),
            Error::Io { context, source } | Error::NoSpace { context, source } => format!("{context}: {source}"),
            Error::Closed => "the handle was closed before this call".into(),
        }
    }

    fn category(&self) -> &'static str {
        match self {
            Error::InvalidArg(_) => "invalid argument",
            Error::NullArg(_) => "null argument",
            Error::BufferTooSmall { .. } => "buffer too small",
            Error::Io { .. } => "i/o error",
            Error::Corrupt(_) => "corruption",
            Error::Locked(_) => "locked",
            Error::Closed => "database is closed",
            Error::TooLarge(_) => "too large",
            Error::FormatVersion(_) => "format version",
            Error::Panic(_) => "internal panic",
            Error::Poisoned(_) => "handle poisoned",
            Error::Conflict(_) => "transaction conflict",
            Error::NoSpace { .. } => "no space",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => write!(f, "database is closed"),
            _ => write!(f, "{}: {}", self.category(), self.detail()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::NoSpace { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `ENOSPC`, or `EDQUOT` (a quota is a full file system for this user).
pub fn is_no_space(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_leaves_the_category_to_display() {
        let e = Error::InvalidArg("max_file_size 10 outside 256..=4227858399".into());
        assert_eq!(e.detail(), "max_file_size 10 outside 256..=4227858399");
        assert_eq!(e.to_string(), "invalid argument: max_file_size 10 outside 256..=4227858399");
        assert_eq!(Error::NullArg("key").detail(), "key is NULL");
        assert_eq!(Error::BufferTooSmall { needed: 9 }.to_string(), "buffer too small: 9 bytes needed");
        assert_eq!(Error::Closed.to_string(), "database is closed");
        assert!(!Error::Closed.detail().is_empty());
    }

    #[test]
    fn enospc_and_edquot_are_no_space_other_errors_io() {
        let p = Path::new("f");
        for code in [libc::ENOSPC, libc::EDQUOT] {
            let e = Error::io("write", p, io::Error::from_raw_os_error(code));
            assert_eq!(e.status(), status::E_NO_SPACE);
            assert!(e.is_no_space());
        }
        assert_eq!(Error::io("write", p, io::Error::from_raw_os_error(libc::EIO)).status(), status::E_IO);
    }

    #[test]
    fn a_failed_fsync_is_io_even_for_enospc() {
        let e = Error::io_lost("fdatasync", Path::new("f"), io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(e.status(), status::E_IO);
    }

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
            Error::Conflict(String::new()),
            Error::NoSpace { context: String::new(), source: io::Error::other("x") },
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
