//! One client connection's state and I/O on a non-blocking socket: read what is available, let
//! the [`Client`] run every complete command in the buffer, write all their replies with one
//! `write`, repeat until the socket has nothing more to give ([`Conn::drive`]).
//!
//! Memory per connection is bounded: the read buffer grows only as bytes arrive (doubling, up
//! to the query limit); the output buffer is written out whenever it passes
//! [`FLUSH_AT`](super::reply::FLUSH_AT), and while the client does not read, no more commands
//! run, so it holds at most that plus one command's replies (and never more than the memory
//! limit); the sum of everything the connection holds is held to its budget (`budget.rs`):
//! over it, the connection is closed with a log line. An idle connection holds no buffers:
//! they go back to its I/O thread's spares ([`Spares`]).

use std::io::{self, ErrorKind, Read};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use super::client::{Batch, Client, Close, Park};
use super::reply::{Out, OVER_CAP};
use super::state::{ClientHandle, Shared};

const INITIAL_BUF: usize = 16 << 10;
/// A read buffer larger than this is given back once it is empty.
const SHRINK_ABOVE: usize = 256 << 10;

/// The unconsumed input of a connection: `buf[start..end]`.
#[derive(Default)]
struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > SHRINK_ABOVE {
                // After a large command: the next read takes a spare of the usual size.
                self.buf = Vec::new();
            }
        }
    }

    /// Reads more input. When the buffer is full it is compacted, or else doubled (up to
    /// `max`): a declared length never buys more memory than twice the bytes received.
    /// Returns the bytes read and the room there was (a short read drained the socket).
    /// `Ok((0, _))` is end of input.
    fn fill(&mut self, sock: &mut &TcpStream, max: usize) -> io::Result<(usize, usize)> {
        if self.end == self.buf.len() {
            let pending = self.end - self.start;
            if pending >= max {
                return Err(io::Error::new(ErrorKind::InvalidData, "query buffer limit exceeded"));
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end = pending;
                self.start = 0;
            } else {
                self.buf.resize((self.buf.len() * 2).clamp(INITIAL_BUF, max), 0);
            }
        }
        let room = self.buf.len() - self.end;
        let n = sock.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok((n, room))
    }
}

/// An I/O thread's spare buffers, lent to the connection it is driving and taken back when the
/// connection goes idle with them empty: steady traffic allocates nothing, and 10,000 idle
/// connections hold no buffers.
#[derive(Default)]
pub struct Spares {
    read: Vec<Vec<u8>>,
    out: Vec<Vec<u8>>,
}

/// Buffers of each kind an I/O thread keeps: enough for a round of parked durable writes, each
/// holding its reply buffer until its group fsync (at most a few MiB per thread, kept after a
/// burst of that many connections served at once; idle connections still hold none).
const SPARES: usize = 64;

impl Spares {
    fn take_read(&mut self) -> Vec<u8> {
        self.read.pop().unwrap_or_else(|| vec![0; INITIAL_BUF])
    }

    fn take_out(&mut self) -> Vec<u8> {
        self.out.pop().unwrap_or_else(|| Vec::with_capacity(INITIAL_BUF))
    }

    fn give_read(&mut self, rd: Vec<u8>) {
        if rd.len() == INITIAL_BUF && self.read.len() < SPARES {
            self.read.push(rd);
        }
    }

    /// Reply buffers of a usual size are kept (empty); large ones are freed.
    fn give_out(&mut self, mut out: Vec<u8>) {
        if out.capacity() >= INITIAL_BUF && out.capacity() <= 4 * INITIAL_BUF && self.out.len() < SPARES {
            out.clear();
            self.out.push(out);
        }
    }
}

/// What the connection waits for after [`Conn::drive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// More input (or its idle timeout).
    Input,
    /// The socket to take its pending replies.
    Output,
    /// A worker to run its next command, which may wait ([`Client::defer_waiting`]).
    HandOff,
    /// Its turn again after the others': it had input all along ([`FAIR_READS`]).
    Again,
    /// Its durable write to be durable ([`Conn::parked`]): it runs nothing and writes nothing
    /// until [`Conn::unpark`].
    Park,
    /// Nothing: close it.
    Close,
}

/// Reads one drive may do before the connection lets its thread's others have a turn.
const FAIR_READS: usize = 16;

/// A client connection: its socket, protocol state and buffers.
pub struct Conn {
    pub sock: TcpStream,
    pub handle: Arc<ClientHandle>,
    client: Client,
    rd: ReadBuf,
    out: Vec<u8>,
    resp3: bool,
    net_in: u64,
    /// When input last arrived (the idle timeout counts from there).
    pub last_read: Instant,
    /// Since when pending replies have made no progress (None: nothing pending).
    pub stalled_since: Option<Instant>,
    /// The client closed its side: close once the replies are out.
    eof: bool,
    /// Close once the replies are out (QUIT, a protocol error, a query over the limit).
    closing: bool,
    /// A socket error or a reply over the cap on a worker: close at once.
    dead: bool,
    /// A durable write run as a deferred commit, whose reply (and those before it, in `out`)
    /// waits for its ticket to be durable.
    parked: Option<Park>,
}

impl Conn {
    pub fn new(sh: &Shared, sock: TcpStream, handle: Arc<ClientHandle>) -> Conn {
        let _ = sock.set_nodelay(true);
        let mut client = Client::new(sh, handle.id);
        client.defer_waiting = true;
        let now = Instant::now();
        Conn {
            sock,
            handle,
            client,
            rd: ReadBuf::default(),
            out: Vec::new(),
            resp3: false,
            net_in: 0,
            last_read: now,
            stalled_since: None,
            eof: false,
            closing: false,
            dead: false,
            parked: None,
        }
    }

    /// Whether replies wait for the socket.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Runs what is buffered, writes the replies, reads more, until the socket has no more
    /// input, the client does not read its replies, a command must go to a worker, or the
    /// connection is to close. With `stopping` no more input is read: the commands already
    /// read are answered, then the connection closes.
    pub fn drive(&mut self, sh: &Arc<Shared>, spares: &mut Spares, stopping: bool) -> Step {
        let (mut drained, mut reads) = (false, 0);
        loop {
            if self.dead {
                return Step::Close;
            }
            if self.parked.is_some() {
                return Step::Park;
            }
            let hand_off = if self.closing { self.flush(sh).map(|_| false) } else { self.run_batch(sh, spares, true) };
            match hand_off {
                Ok(_) if self.parked.is_some() => {
                    // Its held replies keep their buffer; an empty read buffer goes back now, or
                    // a round of parked clients would each take a new one.
                    self.release_read(spares);
                    return Step::Park;
                }
                Ok(true) if self.out.is_empty() => return Step::HandOff,
                Ok(_) => {}
                Err(_) => return Step::Close,
            }
            if !self.out.is_empty() {
                return Step::Output;
            }
            if self.closing || self.eof || stopping {
                return Step::Close;
            }
            if drained {
                self.go_idle(spares);
                return Step::Input;
            }
            if reads == FAIR_READS {
                return Step::Again;
            }
            reads += 1;
            match self.read(sh, spares) {
                Ok(Some(short)) => drained = short,
                Ok(None) => self.eof = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.go_idle(spares);
                    return Step::Input;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::InvalidData => {
                    // The query buffer limit: say why, then close (as Redis does).
                    self.reply_error("ERR Protocol error: query buffer limit exceeded", spares);
                    self.closing = true;
                }
                Err(e) if e.kind() == ErrorKind::OutOfMemory => {
                    log_over_budget(&self.handle, &self.client);
                    return Step::Close;
                }
                Err(_) => return Step::Close,
            }
        }
    }

    /// The ticket its parked write waits for.
    pub fn parked(&self) -> Option<bitgask::Ticket> {
        self.parked.map(|p| p.ticket)
    }

    /// Its parked write's ticket has an outcome: the replies may go out (after a failed fsync,
    /// with the write's reply replaced by the error); [`Conn::drive`] then carries on.
    pub fn unpark(&mut self, sh: &Shared, outcome: bitgask::Result<()>) {
        let Some(p) = self.parked.take() else { return };
        if let Err(e) = outcome {
            self.out.truncate(p.reply_at);
            let mut sink = io::sink();
            let mut out = Out::resume(&mut sink, std::mem::take(&mut self.out), self.resp3);
            super::commands::db_err(&mut out, &e);
            let errors = out.errors;
            (self.out, self.resp3) = out.suspend();
            sh.add(&mut self.client.sess.tally, 0, 0, errors);
        }
    }

    /// On a worker: runs every complete command buffered, the waiting ones included, and
    /// writes what the socket takes of the replies. The connection then goes back to its I/O
    /// thread, which carries on with [`Conn::drive`] (and closes it if this failed).
    pub fn run_on_worker(&mut self, sh: &Arc<Shared>) {
        let mut spares = Spares::default();
        if self.run_batch(sh, &mut spares, false).is_err() {
            self.dead = true;
        }
        // The idle timeout counts from the end of the command, however long it took.
        self.last_read = Instant::now();
    }

    /// Runs the buffered commands ([`run_all`]) with the connection's output. Ok(true) when
    /// it stopped before a command for a worker.
    fn run_batch(&mut self, sh: &Arc<Shared>, spares: &mut Spares, defer: bool) -> io::Result<bool> {
        if self.out.capacity() == 0 {
            self.out = spares.take_out();
        }
        self.client.defer_waiting = defer;
        let mut writer = &self.sock;
        let mut out = Out::resume(&mut writer, std::mem::take(&mut self.out), self.resp3);
        out.set_cap(self.client.sess.budget.limit());
        let result = run_all(sh, &mut self.client, &self.handle, &mut self.rd, &mut out);
        let progress = out.written > 0;
        sh.add(&mut self.client.sess.tally, std::mem::take(&mut self.net_in), out.written, out.errors);
        (self.out, self.resp3) = out.suspend();
        self.note_progress(progress);
        let (close, hand_off, park) = match result {
            Ok(r) => r,
            Err(e) => {
                if e.to_string() == OVER_CAP {
                    eprintln!(
                        "bitgask serve: closing client id={} addr={}: its replies passed its memory limit of {} bytes \
                         while it did not read them",
                        self.handle.id,
                        self.handle.addr,
                        self.client.sess.budget.limit()
                    );
                }
                return Err(e);
            }
        };
        if let Some(why) = close {
            if why == Close::OverBudget {
                log_over_budget(&self.handle, &self.client);
            }
            self.closing = true;
        }
        self.parked = park;
        Ok(hand_off)
    }

    /// Writes pending replies (of a connection that runs nothing more).
    fn flush(&mut self, sh: &Shared) -> io::Result<()> {
        let mut writer = &self.sock;
        let mut out = Out::resume(&mut writer, std::mem::take(&mut self.out), self.resp3);
        let r = out.flush();
        let progress = out.written > 0;
        sh.add(&mut self.client.sess.tally, 0, out.written, 0);
        (self.out, self.resp3) = out.suspend();
        self.note_progress(progress);
        r
    }

    /// Queues an error reply outside a command (the query buffer limit).
    fn reply_error(&mut self, msg: &str, spares: &mut Spares) {
        if self.out.capacity() == 0 {
            self.out = spares.take_out();
        }
        let mut sink = io::sink();
        let mut out = Out::resume(&mut sink, std::mem::take(&mut self.out), self.resp3);
        out.err(msg);
        (self.out, self.resp3) = out.suspend();
    }

    /// Starts or restarts the stall clock of pending replies.
    fn note_progress(&mut self, progress: bool) {
        if self.out.is_empty() {
            self.stalled_since = None;
        } else if progress || self.stalled_since.is_none() {
            self.stalled_since = Some(Instant::now());
        }
    }

    /// One read. Ok(Some(short)): bytes arrived (`short`: fewer than there was room for, so
    /// the socket is drained for now); Ok(None): end of input.
    fn read(&mut self, sh: &Shared, spares: &mut Spares) -> io::Result<Option<bool>> {
        if self.rd.buf.is_empty() {
            self.rd.buf = spares.take_read();
        }
        let mut reader = &self.sock;
        let (n, room) = self.rd.fill(&mut reader, sh.cfg.max_query)?;
        if n == 0 {
            return Ok(None);
        }
        self.net_in += n as u64;
        self.last_read = Instant::now();
        // The read buffer grows only in `fill`: its new size counts before anything is parsed.
        if self.client.read_buffer_is(self.rd.buf.len()) {
            return Err(io::Error::from(ErrorKind::OutOfMemory));
        }
        Ok(Some(n < room))
    }

    /// Gives empty buffers back to the thread's spares while the connection waits for input.
    fn go_idle(&mut self, spares: &mut Spares) {
        self.release_read(spares);
        if self.out.is_empty() {
            spares.give_out(std::mem::take(&mut self.out));
        }
    }

    /// Gives the read buffer back to the thread's spares when it holds no input.
    fn release_read(&mut self, spares: &mut Spares) {
        if self.rd.pending().is_empty() {
            spares.give_read(std::mem::take(&mut self.rd.buf));
            self.rd.start = 0;
            self.rd.end = 0;
            self.client.read_buffer_is(0);
        }
    }

    /// Marks the connection for closing (a command panicked on a worker).
    pub fn kill(&mut self) {
        self.dead = true;
    }

    /// Shuts the socket down and folds the last counts into the server's.
    pub fn close(&mut self, sh: &Shared) {
        sh.add(&mut self.client.sess.tally, std::mem::take(&mut self.net_in), 0, 0);
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

/// Runs the complete commands at the start of `rd`, writing their replies: until the input
/// ends in an incomplete command (or nothing), the connection is to close, a command is for a
/// worker (true), a durable write is parked (its [`Park`]), or the client does not take its
/// replies. Replies pending from before go
/// first; while they wait, no more commands run.
fn run_all(
    sh: &Arc<Shared>,
    client: &mut Client,
    handle: &ClientHandle,
    rd: &mut ReadBuf,
    out: &mut Out<'_>,
) -> io::Result<(Option<Close>, bool, Option<Park>)> {
    loop {
        if out.pending() > 0 {
            out.flush()?;
            if out.backlogged() {
                return Ok((None, false, None));
            }
        }
        let b: Batch = client.run(sh, handle, rd.pending(), out)?;
        rd.consume(b.used);
        if b.park.is_some() {
            // Held, replies before it included: they go out together once it is durable.
            return Ok((None, false, b.park));
        }
        if b.close.is_some() || b.hand_off || !out.backlogged() {
            out.flush()?;
            return Ok((b.close, b.hand_off, None));
        }
        // Stopped for a client that does not read: run on if the socket now takes the replies.
    }
}

fn log_over_budget(handle: &ClientHandle, client: &Client) {
    eprintln!("bitgask serve: closing client id={} addr={}: it {}", handle.id, handle.addr, client.budget_line());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spares_keep_the_reply_buffers_of_a_round_of_parked_writes() {
        let mut spares = Spares::default();
        // Fifty clients parked at once each held a reply buffer; all come back.
        let held: Vec<Vec<u8>> = (0..50).map(|_| spares.take_out()).collect();
        for mut out in held {
            out.extend_from_slice(b"+OK\r\n");
            spares.give_out(out);
        }
        assert_eq!(spares.out.len(), 50);
        assert!(spares.out.iter().all(|b| b.is_empty() && b.capacity() >= INITIAL_BUF));
    }

    #[test]
    fn spares_are_bounded_and_keep_no_odd_sizes() {
        let mut spares = Spares::default();
        for _ in 0..2 * SPARES {
            spares.give_read(vec![0; INITIAL_BUF]);
            spares.give_out(Vec::with_capacity(INITIAL_BUF));
        }
        spares.give_read(vec![0; 2 * INITIAL_BUF]);
        spares.give_out(Vec::with_capacity(8 * INITIAL_BUF));
        assert_eq!((spares.read.len(), spares.out.len()), (SPARES, SPARES));
        assert!(spares.read.iter().all(|b| b.len() == INITIAL_BUF));
    }
}
