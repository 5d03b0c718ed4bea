//! Exit codes and the error type every command returns.

use std::fmt;
use std::io;

use bitgask::status;

/// The documented exit codes of `bitgask`.
pub mod exit {
    pub const OK: i32 = 0;
    /// get, exists or del of a key that is absent (or expired).
    pub const NOT_FOUND: i32 = 1;
    /// Bad arguments or options (clap's own code), an unconfirmed delete-all.
    pub const USAGE: i32 = 2;
    /// validate/repair/dump found damage, or the database refused to open as corrupt.
    pub const CORRUPT: i32 = 3;
    /// The database is open in another process (its LOCK is held).
    pub const LOCKED: i32 = 4;
    /// Anything else: I/O errors, bad import input, unsupported format version...
    pub const OTHER: i32 = 5;
    /// The disk is full (`E_NO_SPACE`): nothing acknowledged was lost; delete keys, then merge.
    pub const NO_SPACE: i32 = 6;
}

/// The text `--help` shows about exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  not found (get, exists or del of an absent or expired key)
  2  usage error: bad arguments or option values, unconfirmed delete-all
  3  corruption: validate/repair/dump found damage, or open refused a corrupt database
  4  locked: the database is open in another process
  5  any other error (I/O, bad import input, unsupported format version, ...)
  6  no space: the disk is full; delete keys (del), then `bitgask merge` reclaims their space";

/// A failure to report on stderr, with its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub msg: String,
    /// A closed stdout (e.g. piped into `head`): exit quietly.
    pub broken_pipe: bool,
}

impl CliError {
    pub fn new(code: i32, msg: impl Into<String>) -> CliError {
        CliError { code, msg: msg.into(), broken_pipe: false }
    }

    pub fn usage(msg: impl Into<String>) -> CliError {
        CliError::new(exit::USAGE, msg)
    }

    pub fn other(msg: impl Into<String>) -> CliError {
        CliError::new(exit::OTHER, msg)
    }

    /// The same error with `what` in front of its message.
    pub fn context(mut self, what: impl fmt::Display) -> CliError {
        self.msg = format!("{what}: {}", self.msg);
        self
    }
}

/// The exit code for a library error status.
pub fn code_for_status(s: i32) -> i32 {
    match s {
        status::E_CORRUPT => exit::CORRUPT,
        status::E_LOCKED => exit::LOCKED,
        status::E_INVALID_ARG | status::E_TOO_LARGE => exit::USAGE,
        status::E_NO_SPACE => exit::NO_SPACE,
        _ => exit::OTHER,
    }
}

impl From<bitgask::Error> for CliError {
    fn from(e: bitgask::Error) -> CliError {
        let mut msg = e.to_string();
        if e.status() == status::E_NO_SPACE {
            msg += " (the disk is full: delete keys with `bitgask del`, then `bitgask merge` reclaims their space)";
        }
        CliError::new(code_for_status(e.status()), msg)
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> CliError {
        let broken_pipe = e.kind() == io::ErrorKind::BrokenPipe;
        CliError { code: exit::OTHER, msg: e.to_string(), broken_pipe }
    }
}

impl From<String> for CliError {
    fn from(msg: String) -> CliError {
        CliError::other(msg)
    }
}

pub type CmdResult = Result<i32, CliError>;
