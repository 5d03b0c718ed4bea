//! The protocol half of a connection: its parser and session (with the memory budget). It runs
//! every complete command at the start of a buffer and puts their replies into an [`Out`];
//! reading the socket and deciding when to write are the driver's business (`conn`), so the
//! same code runs under a test harness, a fuzz target or another way of driving connections.

use std::io;
use std::sync::Arc;

use super::budget::Part;
use super::commands::{self, Ctx, Multi, Session};
use super::reply::Out;
use super::resp::{Parsed, Parser};
use super::state::{ClientHandle, Shared};

/// Why a connection is to be closed after a batch (its replies, if any, are in the output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// QUIT or SHUTDOWN.
    Requested,
    /// Input that is not RESP (the error reply says what).
    ProtocolError,
    /// The connection holds more than its memory limit ([`Client::budget_line`] says what).
    OverBudget,
}

/// What [`Client::run`] did with a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Bytes of complete commands consumed from the start of the input.
    pub used: usize,
    /// Commands run (or queued inside MULTI): each put one reply into the output, but
    /// SHUTDOWN, which closes without one.
    pub commands: usize,
    pub close: Option<Close>,
}

pub struct Client {
    pub parser: Parser,
    pub sess: Session,
}

impl Client {
    pub fn new(sh: &Shared, id: u64) -> Client {
        Client { parser: Parser::default(), sess: Session::new(sh, id) }
    }

    /// Runs every complete command at the start of `input` (the unconsumed bytes of the read
    /// buffer), in order, replies going into `out` (written out as it passes its flush size).
    /// Stops at an incomplete command, or when the connection must close. Err only for
    /// socket errors while writing replies.
    pub fn run(
        &mut self,
        sh: &Arc<Shared>,
        handle: &ClientHandle,
        input: &[u8],
        out: &mut Out<'_>,
    ) -> io::Result<Batch> {
        let (mut used, mut ran) = (0, 0);
        loop {
            let (lim, _) = self.sess.limits(sh);
            let n = match self.parser.parse(&input[used..], lim) {
                Parsed::Command(n) => n,
                Parsed::Incomplete(_) => {
                    self.account(sh, out);
                    let close = self.sess.budget.over().then_some(Close::OverBudget);
                    return Ok(Batch { used, commands: ran, close });
                }
                Parsed::Error(msg) => {
                    out.err(&format!("ERR {msg}"));
                    return Ok(Batch { used, commands: ran, close: Some(Close::ProtocolError) });
                }
            };
            let args = self.parser.args(&input[used..]);
            if !args.is_empty() {
                self.sess.budget.set(Part::Arguments, self.parser.held_bytes());
                let mut ctx = Ctx { sh, s: &mut self.sess, out, client: handle };
                commands::execute(&mut ctx, args)?;
                ran += 1;
            }
            self.parser.reset();
            used += n;
            // The budget is checked with the replies still buffered: their peak, not what is
            // left after a flush.
            self.account(sh, out);
            if self.sess.budget.over() {
                return Ok(Batch { used, commands: ran, close: Some(Close::OverBudget) });
            }
            if self.sess.close {
                return Ok(Batch { used, commands: ran, close: Some(Close::Requested) });
            }
            out.maybe_flush()?;
        }
    }

    /// Records the size of the read buffer (the driver's) in the budget; true when the
    /// connection is now over its limit.
    pub fn read_buffer_is(&mut self, bytes: usize) -> bool {
        self.sess.budget.set(Part::ReadBuffer, bytes);
        self.sess.budget.over()
    }

    /// The log line's text for a connection closed for its memory.
    pub fn budget_line(&self) -> String {
        self.sess.budget.to_string()
    }

    /// Brings the budget up to date with the parts this side owns, and its limit with the
    /// authentication state.
    fn account(&mut self, sh: &Shared, out: &Out<'_>) {
        let (_, limit) = self.sess.limits(sh);
        let b = &mut self.sess.budget;
        b.set_limit(limit);
        b.set(Part::Arguments, self.parser.held_bytes());
        b.set(Part::Replies, out.held_bytes());
        b.set(Part::Transaction, self.sess.multi.as_ref().map_or(0, Multi::held_bytes));
    }
}
