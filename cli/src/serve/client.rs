//! The protocol half of a connection: its parser and session (with the memory budget). It runs
//! every complete command at the start of a buffer and puts their replies into an [`Out`];
//! reading the socket and deciding when to write are the driver's business (`conn`), so the
//! same code runs under a test harness, a fuzz target or another way of driving connections.

use std::io;
use std::sync::Arc;

use super::budget::Part;
use super::commands::{self, Ctx, Multi, Session};
use super::read_ahead;
use super::reply::Out;
use super::resp::{Args, Parsed, Parser};
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
    /// Stopped before a command that may wait (see [`Client::defer_waiting`]): it is the first
    /// of the unconsumed input, for a worker thread to run.
    pub hand_off: bool,
    /// Stopped after a durable write run as a deferred commit: the replies in the output (its
    /// own from `reply_at` on) must not be written before the ticket is durable.
    pub park: Option<Park>,
}

/// A durable write whose reply waits for its fsync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Park {
    pub ticket: bitgask::Ticket,
    /// Where its reply starts in the output buffer (replaced by an error if the fsync fails).
    pub reply_at: usize,
}

pub struct Client {
    pub parser: Parser,
    pub sess: Session,
    /// Stop before a command that may wait (a durable write, FLUSHDB, ...: see
    /// [`commands::may_wait`]) instead of running it: set by an event loop, which must not
    /// stall its other connections, and which hands such a command to a worker.
    pub defer_waiting: bool,
}

impl Client {
    pub fn new(sh: &Shared, id: u64) -> Client {
        Client { parser: Parser::default(), sess: Session::new(sh, id), defer_waiting: false }
    }

    /// Runs every complete command at the start of `input` (the unconsumed bytes of the read
    /// buffer), in order, replies going into `out` (written out as it passes its flush size).
    /// Stops at an incomplete command, when the connection must close, when the client does
    /// not read its replies ([`Out::backlogged`]), or before a command that may wait when
    /// [`Client::defer_waiting`] is set. Err only for socket errors while writing replies (and
    /// a reply over the cap of a blocked output).
    pub fn run(
        &mut self,
        sh: &Arc<Shared>,
        handle: &ClientHandle,
        input: &[u8],
        out: &mut Out<'_>,
    ) -> io::Result<Batch> {
        let (mut used, mut ran, mut read_ahead) = (0, 0, 0);
        loop {
            if used >= read_ahead && self.sess.authed {
                read_ahead = used + read_ahead::prefetch_gets(&sh.db, &input[used..]);
            }
            let (lim, _) = self.sess.limits(sh);
            let n = match self.parser.parse(&input[used..], lim) {
                Parsed::Command(n) => n,
                Parsed::Incomplete(_) => {
                    self.account(sh, out);
                    let close = self.sess.budget.over().then_some(Close::OverBudget);
                    return Ok(Batch { used, commands: ran, close, hand_off: false, park: None });
                }
                Parsed::Error(msg) => {
                    out.err(&format!("ERR {msg}"));
                    return Ok(Batch {
                        used,
                        commands: ran,
                        close: Some(Close::ProtocolError),
                        hand_off: false,
                        park: None,
                    });
                }
            };
            let args = self.parser.args(&input[used..]);
            let mut park = None;
            if self.defer_waiting && commands::may_wait(sh, &self.sess, args) {
                let reply_at = out.pending();
                match run_deferred(sh, &mut self.sess, self.parser.held_bytes(), handle, args, out) {
                    Some(ticket) => park = ticket?.map(|ticket| Park { ticket, reply_at }),
                    None => {
                        // Parsed again by whoever runs it: cheaper than carrying the parser's state.
                        self.parser.reset();
                        self.account(sh, out);
                        return Ok(Batch { used, commands: ran, close: None, hand_off: true, park: None });
                    }
                }
                ran += 1;
            } else if !args.is_empty() {
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
            if park.is_some() {
                // Nothing more runs, and nothing is written, before the write is durable.
                return Ok(Batch { used, commands: ran, close: None, hand_off: false, park });
            }
            if self.sess.budget.over() {
                return Ok(Batch { used, commands: ran, close: Some(Close::OverBudget), hand_off: false, park: None });
            }
            if self.sess.close {
                return Ok(Batch { used, commands: ran, close: Some(Close::Requested), hand_off: false, park: None });
            }
            out.maybe_flush()?;
            if out.backlogged() {
                return Ok(Batch { used, commands: ran, close: None, hand_off: false, park: None });
            }
        }
    }

    /// Records the size of the read buffer (the driver's) in the budget; true when the
    /// connection is now over its limit.
    pub fn read_buffer_is(&mut self, bytes: usize) -> bool {
        self.sess.budget.set(Part::ReadBuffer, bytes);
        self.sess.budget.over()
    }

    /// The log line's text for a connection closed for its memory: what it holds, and which
    /// limit it passed.
    pub fn budget_line(&self) -> String {
        let which = if self.sess.authed { "--max-client-memory" } else { "the limit before AUTH" };
        format!("{} ({which})", self.sess.budget)
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

/// Runs a command that may wait on this thread when it is a plain durable write and runs
/// without waiting ([`commands::execute_deferred`]): Some(ticket to wait for, if any). `None`:
/// not run, for a worker. Its reply is held in `out` whatever its size.
fn run_deferred(
    sh: &Arc<Shared>,
    sess: &mut Session,
    arg_bytes: usize,
    handle: &ClientHandle,
    args: Args<'_>,
    out: &mut Out<'_>,
) -> Option<io::Result<Option<bitgask::Ticket>>> {
    if !commands::defers(sess, args) {
        return None;
    }
    sess.budget.set(Part::Arguments, arg_bytes);
    out.hold(true);
    let r = commands::execute_deferred(&mut Ctx { sh, s: sess, out, client: handle }, args);
    out.hold(false);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server state over a fresh database, with `extra` flags.
    fn shared(name: &str, extra: &[&str]) -> (Arc<Shared>, ClientHandle, std::path::PathBuf) {
        crate::serve::test_state::shared("client", name, extra)
    }

    /// Feeds `input` in pieces of `piece` bytes; returns the replies and the last batch.
    fn run_in_pieces(sh: &Arc<Shared>, h: &ClientHandle, input: &[u8], piece: usize) -> (Vec<u8>, Batch) {
        let mut sink = Vec::new();
        let mut out = Out::new(&mut sink);
        let mut c = Client::new(sh, h.id);
        let (mut start, mut avail) = (0, 0);
        let last = loop {
            avail = (avail + piece).min(input.len());
            let b = c.run(sh, h, &input[start..avail], &mut out).unwrap();
            start += b.used;
            if b.close.is_some() || avail == input.len() {
                break b;
            }
        };
        out.flush().unwrap();
        drop(out);
        (sink, last)
    }

    #[test]
    fn replies_do_not_depend_on_how_the_input_arrives() {
        let (sh, h, dir) = shared("pieces", &[]);
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\nGET k\r\n\0\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nPING\r\n";
        let want = b"+OK\r\n$2\r\nv1\r\n$0\r\n\r\n+PONG\r\n".to_vec();
        for piece in [1, 2, 7, input.len()] {
            let (replies, last) = run_in_pieces(&sh, &h, input, piece);
            assert_eq!(replies, want, "in pieces of {piece}");
            assert_eq!(last.close, None);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn nul_newline_runs_nothing_and_the_connection_goes_on() {
        let (sh, h, dir) = shared("nul", &["--requirepass", "pw"]);
        let (replies, last) = run_in_pieces(&sh, &h, b"\0\n\0\r\nPING\r\nAUTH pw\r\n\0\nPING\r\n", 1);
        assert_eq!(replies, b"-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n");
        assert_eq!((last.commands, last.close), (1, None));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn shutdown_inside_multi_is_refused_and_exec_aborts() {
        let (sh, h, dir) = shared("multi-shutdown", &[]);
        let (replies, last) = run_in_pieces(
            &sh,
            &h,
            b"MULTI
SHUTDOWN
EXEC
PING
",
            64,
        );
        assert_eq!(
            String::from_utf8_lossy(&replies),
            "+OK\r\n-ERR Command not allowed inside a transaction\r\n-EXECABORT Transaction discarded because of \
             previous errors.\r\n+PONG\r\n"
        );
        assert_eq!(last.close, None);
        assert!(!sh.stopper.stopping());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_read_buffer_counts_against_the_limit_in_force() {
        let (sh, h, dir) = shared("budget", &["--requirepass", "pw", "--max-client-memory", "4194304"]);
        let mut c = Client::new(&sh, h.id);
        assert!(!c.read_buffer_is(512 << 10));
        assert!(c.read_buffer_is(2 << 20), "1 MiB before AUTH");
        assert!(c.budget_line().ends_with("over its limit of 1048576 bytes (the limit before AUTH)"));
        let mut sink = Vec::new();
        let mut out = Out::new(&mut sink);
        let b = c.run(&sh, &h, b"AUTH pw\r\n", &mut out).unwrap();
        assert_eq!(b.close, None, "the larger limit applies once authenticated");
        assert!(!c.read_buffer_is(2 << 20) && c.read_buffer_is(5 << 20));
        drop(out);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
