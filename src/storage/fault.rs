//! Fault injection for tests, compiled only with the `fault-injection` feature (without it,
//! [`check`] is an empty inline function and costs nothing).
//!
//! Every file and directory operation of the library goes through `storage::fs`, which calls
//! [`check`] first. A test arms a fault for the operations under one directory tree (so tests
//! running in parallel do not disturb each other): the Nth operation of a kind fails with
//! `ENOSPC` or `EIO`, or (for writes) writes half its bytes and then fails, once or from then
//! on. [`counts`] tells how many operations of each kind a workload performed, so a test can
//! sweep a fault over every one of them.

use std::io;
use std::path::Path;

/// The kinds of operation that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Write,
    Fsync,
    Rename,
    Create,
    Unlink,
    Read,
    Truncate,
}

pub const ALL_OPS: [Op; 7] = [Op::Write, Op::Fsync, Op::Rename, Op::Create, Op::Unlink, Op::Read, Op::Truncate];

/// How an armed operation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NoSpace,
    Io,
    /// A write that puts only part of its bytes on disk, then reports `EIO`.
    ShortWrite,
}

/// What `check` tells the caller to do.
#[derive(Debug)]
pub enum Verdict {
    Proceed,
    /// Write only this many bytes, then fail with the error.
    Short(usize, io::Error),
}

#[cfg(feature = "fault-injection")]
mod imp {
    use super::*;
    use parking_lot::Mutex;
    use std::collections::HashMap;
    use std::path::PathBuf;

    struct Plan {
        root: PathBuf,
        target: Option<(Op, u64, Failure, bool)>,
        counts: HashMap<Op, u64>,
        fired: bool,
    }

    static PLANS: Mutex<Vec<Plan>> = Mutex::new(Vec::new());

    /// Starts counting operations under `root`; with `target` = (op, n, failure, persistent)
    /// the nth operation of `op` (1-based) fails, and with `persistent` every later one too.
    pub fn arm(root: &Path, target: Option<(Op, u64, Failure, bool)>) {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut plans = PLANS.lock();
        plans.retain(|p| p.root != root);
        plans.push(Plan { root, target, counts: HashMap::new(), fired: false });
    }

    /// Stops injecting under `root`; returns the operation counts seen.
    pub fn disarm(root: &Path) -> HashMap<Op, u64> {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut plans = PLANS.lock();
        let pos = plans.iter().position(|p| p.root == root);
        pos.map(|i| plans.remove(i).counts).unwrap_or_default()
    }

    /// Whether the armed fault has fired.
    pub fn fired(root: &Path) -> bool {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        PLANS.lock().iter().any(|p| p.root == root && p.fired)
    }

    pub fn check(op: Op, path: &Path, len: usize) -> io::Result<Verdict> {
        let mut plans = PLANS.lock();
        let Some(plan) = plans.iter_mut().find(|p| path.starts_with(&p.root)) else { return Ok(Verdict::Proceed) };
        let n = plan.counts.entry(op).or_insert(0);
        *n += 1;
        let Some((t_op, t_n, failure, persistent)) = plan.target else { return Ok(Verdict::Proceed) };
        if t_op != op || *n < t_n || (*n > t_n && !persistent) {
            return Ok(Verdict::Proceed);
        }
        plan.fired = true;
        let err = |code| io::Error::from_raw_os_error(code);
        match failure {
            Failure::NoSpace => Err(err(libc::ENOSPC)),
            Failure::Io => Err(err(libc::EIO)),
            Failure::ShortWrite if op == Op::Write && len > 1 => Ok(Verdict::Short(len / 2, err(libc::EIO))),
            Failure::ShortWrite => Err(err(libc::EIO)),
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::{arm, disarm, fired};

/// Called before every file and directory operation on `path` (`len`: bytes to write).
#[cfg(feature = "fault-injection")]
pub fn check(op: Op, path: &Path, len: usize) -> io::Result<Verdict> {
    imp::check(op, path, len)
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn check(_op: Op, _path: &Path, _len: usize) -> io::Result<Verdict> {
    Ok(Verdict::Proceed)
}
