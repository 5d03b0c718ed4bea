//! One client connection's I/O: read, let the [`Client`] run every complete command in the
//! buffer, write all their replies with one `write`, repeat.
//!
//! Memory per connection is bounded: the read buffer grows only as bytes arrive (doubling, up
//! to the query limit, and shrinks back when a large command is done); the output buffer is
//! written out whenever it passes [`FLUSH_AT`](super::reply::FLUSH_AT), so its size is at most
//! that plus one value; and the sum of everything the connection holds is held to its budget
//! (`budget.rs`): over it, the connection is closed with a log line.

use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use super::client::{Client, Close};
use super::reply::Out;
use super::state::{ClientHandle, Shared};

const INITIAL_BUF: usize = 16 << 10;
/// A read buffer larger than this is given back once it is empty.
const SHRINK_ABOVE: usize = 256 << 10;

/// The unconsumed input of a connection: `buf[start..end]`.
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
                self.buf = vec![0; INITIAL_BUF];
            }
        }
    }

    /// Reads more input. When the buffer is full it is compacted, or else doubled (up to
    /// `max`): a declared length never buys more memory than twice the bytes received.
    /// `Ok(0)` is end of input.
    fn fill(&mut self, sock: &mut &TcpStream, max: usize) -> io::Result<usize> {
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
                self.buf.resize((self.buf.len() * 2).min(max), 0);
            }
        }
        let n = sock.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }
}

/// Serves one client until it quits, fails, idles out, outgrows its memory budget or the
/// server stops.
pub fn serve(sh: Arc<Shared>, sock: TcpStream, handle: Arc<ClientHandle>) {
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(sh.cfg.timeout);
    let _ = sock.set_write_timeout(Some(sh.cfg.write_stall));
    let mut writer = &sock;
    let mut out = Out::new(&mut writer);
    let mut client = Client::new(&sh, handle.id);
    let mut rd = ReadBuf { buf: vec![0; INITIAL_BUF], start: 0, end: 0 };
    let mut net_in = 0u64;
    let mut reader = &sock;
    let result: io::Result<()> = (|| loop {
        // Run every complete command already buffered; their replies go out together.
        let batch = client.run(&sh, &handle, rd.pending(), &mut out)?;
        rd.consume(batch.used);
        out.flush()?;
        sh.add(
            &mut client.sess.tally,
            std::mem::take(&mut net_in),
            std::mem::take(&mut out.written),
            std::mem::take(&mut out.errors),
        );
        if let Some(why) = batch.close {
            if why == Close::OverBudget {
                log_over_budget(&handle, &client);
            }
            return Ok(());
        }
        if sh.stopper.stopping() {
            return Ok(());
        }
        match rd.fill(&mut reader, sh.cfg.max_query) {
            Ok(0) => return Ok(()),
            Ok(n) => net_in += n as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::InvalidData => {
                // The query buffer limit: say why, then close (as Redis does).
                out.err("ERR Protocol error: query buffer limit exceeded");
                let _ = out.flush();
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        // The read buffer grows only here: its new size counts before anything is parsed.
        if client.read_buffer_is(rd.buf.len()) {
            log_over_budget(&handle, &client);
            return Ok(());
        }
    })();
    let _ = result; // idle timeouts, resets and stalled writes all end the connection the same way
    sh.add(&mut client.sess.tally, net_in, out.written, out.errors);
    let _ = sock.shutdown(Shutdown::Both);
}

fn log_over_budget(handle: &ClientHandle, client: &Client) {
    eprintln!("bitgask serve: closing client id={} addr={}: it {}", handle.id, handle.addr, client.budget_line());
}
