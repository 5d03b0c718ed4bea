//! A connection's memory budget: what it holds, part by part, against its limit.
//!
//! The limits on input (`--max-query-buffer`, the argument and bulk limits) bound each buffer
//! on its own; the budget bounds their sum, and the parts that grow with the database rather
//! than with the input (KEYS and SCAN results). Whoever owns a connection's state reports the
//! size of each part after it changes; commands that build results ask [`Budget::fits`] first
//! and refuse (or stop early) instead. A connection over its limit is closed by its driver,
//! with a log line naming the parts ([`Budget`]'s `Display`).
//!
//! Nothing here knows how connections are driven (a thread each today, an event loop maybe
//! tomorrow): it is plain arithmetic over sizes, owned by one connection.

use std::fmt;

/// What a connection holds memory for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The bytes read and not yet consumed (its allocated size).
    ReadBuffer,
    /// The parser's argument ranges and inline scratch.
    Arguments,
    /// Replies not yet written to the socket.
    Replies,
    /// Commands queued between MULTI and EXEC.
    Transaction,
    /// A command's results under construction (KEYS, SCAN) and its compiled pattern.
    Results,
    /// The client name and library name and version (CLIENT SETNAME, SETINFO, HELLO).
    Names,
}

const PARTS: [(Part, &str); 6] = [
    (Part::ReadBuffer, "read buffer"),
    (Part::Arguments, "arguments"),
    (Part::Replies, "replies"),
    (Part::Transaction, "transaction"),
    (Part::Results, "results"),
    (Part::Names, "names"),
];

#[derive(Clone, Debug)]
pub struct Budget {
    limit: usize,
    held: [usize; PARTS.len()],
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget { limit, held: [0; PARTS.len()] }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit (a client that authenticates gets the larger one).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Records that `part` now holds `bytes`.
    pub fn set(&mut self, part: Part, bytes: usize) {
        self.held[part as usize] = bytes;
    }

    pub fn held(&self, part: Part) -> usize {
        self.held[part as usize]
    }

    pub fn total(&self) -> usize {
        self.held.iter().fold(0usize, |a, &b| a.saturating_add(b))
    }

    /// Whether the connection holds more than its limit (and must be closed).
    pub fn over(&self) -> bool {
        self.total() > self.limit
    }

    /// Whether `more` bytes on top of what is held stay within the limit.
    pub fn fits(&self, more: usize) -> bool {
        self.total().saturating_add(more) <= self.limit
    }
}

/// "holds N bytes (read buffer a, arguments b, ...), over its limit of L bytes": the log line's
/// core when a connection is closed for it.
impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "holds {} bytes (", self.total())?;
        for (i, (part, name)) in PARTS.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name} {}", self.held(*part))?;
        }
        write!(f, "), over its limit of {} bytes", self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_and_replace() {
        let mut b = Budget::new(100);
        b.set(Part::ReadBuffer, 40);
        b.set(Part::Replies, 30);
        assert_eq!(b.total(), 70);
        assert!(b.fits(30) && !b.fits(31) && !b.over());
        b.set(Part::ReadBuffer, 80);
        assert_eq!(b.total(), 110);
        assert!(b.over() && !b.fits(0));
        b.set_limit(200);
        assert!(!b.over());
    }

    #[test]
    fn part_indices_follow_the_table() {
        for (i, (part, _)) in PARTS.iter().enumerate() {
            assert_eq!(*part as usize, i);
        }
    }

    #[test]
    fn sums_saturate() {
        let mut b = Budget::new(100);
        b.set(Part::Names, usize::MAX);
        b.set(Part::Results, 5);
        assert_eq!(b.total(), usize::MAX);
        assert!(b.over() && !b.fits(0));
        b.set(Part::Names, 0);
        assert!(!b.fits(usize::MAX));
    }

    #[test]
    fn display_names_every_part() {
        let mut b = Budget::new(10);
        b.set(Part::Transaction, 11);
        assert_eq!(
            b.to_string(),
            "holds 11 bytes (read buffer 0, arguments 0, replies 0, transaction 11, results 0, names 0), over its limit \
             of 10 bytes"
        );
    }
}
