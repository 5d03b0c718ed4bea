//! RESP2/RESP3 reply encoding into a connection's output buffer.
//!
//! Replies accumulate in one buffer that is written to the socket once per batch of pipelined
//! commands. When the buffer passes [`FLUSH_AT`] in the middle of a batch (or in the middle of a
//! large reply such as MGET of big values) it is written out right away. The socket is
//! non-blocking: what it does not take stays buffered, the output is then *blocked*, and the
//! connection stops running commands until the client reads ([`Out::backlogged`]). A reply
//! that alone grows past the buffer's cap (the connection's memory limit) while blocked fails
//! the command with an error that closes the connection, so a client that never reads costs
//! the server at most its memory limit, and never a thread.

use std::io::{self, ErrorKind, Write};

/// Output bytes at which the buffer is written out before the batch ends.
pub const FLUSH_AT: usize = 64 << 10;

/// The error [`Out::maybe_flush`] gives when the buffer passes its cap while blocked.
pub const OVER_CAP: &str = "reply buffer over the client memory limit while the client does not read";

pub struct Out<'a> {
    buf: Vec<u8>,
    /// The connection's socket (or, in tests and fuzz targets, any writer).
    sink: &'a mut (dyn Write + 'a),
    /// RESP3 after `HELLO 3`.
    pub resp3: bool,
    /// Bytes written to the socket so far (for INFO), and error replies sent.
    pub written: u64,
    pub errors: u64,
    /// The last flush left bytes the socket would not take.
    blocked: bool,
    /// Most bytes the buffer may hold once blocked.
    cap: usize,
    /// Set while EXEC runs its commands: [`Out::maybe_flush`] keeps their replies, which the
    /// commit then either lets go or replaces with an error ([`Out::rewind`]).
    hold: bool,
}

/// Where the buffer was (see [`Out::mark`]).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: usize,
    errors: u64,
}

impl<'a> Out<'a> {
    pub fn new(sink: &'a mut (dyn Write + 'a)) -> Out<'a> {
        Out::resume(sink, Vec::with_capacity(16 << 10), false)
    }

    /// An output over a buffer kept from an earlier batch (it may still hold unwritten bytes).
    pub fn resume(sink: &'a mut (dyn Write + 'a), buf: Vec<u8>, resp3: bool) -> Out<'a> {
        Out { buf, sink, resp3, written: 0, errors: 0, blocked: false, cap: usize::MAX, hold: false }
    }

    /// Gives the buffer (and the protocol version) back, for the next batch.
    pub fn suspend(self) -> (Vec<u8>, bool) {
        (self.buf, self.resp3)
    }

    /// Sets the most bytes the buffer may hold while the socket takes none.
    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// Bytes the reply buffer holds (its allocated size, for the memory budget).
    pub fn held_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Whether the client is not reading and a flush' worth of replies waits: the connection
    /// runs no more commands until the socket takes them.
    pub fn backlogged(&self) -> bool {
        self.blocked && self.buf.len() >= FLUSH_AT
    }

    /// Writes everything buffered (one `write` call unless the socket takes less). A
    /// non-blocking socket that takes less keeps the rest buffered: `Ok`, and the output is
    /// blocked until a later flush gets through.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut done = 0;
        let mut res = Ok(());
        self.blocked = false;
        while done < self.buf.len() {
            match self.sink.write(&self.buf[done..]) {
                Ok(0) => {
                    res = Err(io::Error::from(ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.blocked = true;
                    break;
                }
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        self.written += done as u64;
        if done == self.buf.len() {
            self.buf.clear();
            if self.buf.capacity() > 4 * FLUSH_AT {
                self.buf = Vec::with_capacity(16 << 10);
            }
        } else {
            self.buf.drain(..done);
        }
        res
    }

    /// Writes the buffer out if it has grown past [`FLUSH_AT`]. Fails when the socket is
    /// blocked and the buffer has passed its cap.
    #[inline]
    pub fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT && !self.hold {
            self.flush()?;
            if self.blocked && self.buf.len() > self.cap {
                return Err(io::Error::other(OVER_CAP));
            }
        }
        Ok(())
    }

    /// Keeps (true) or again lets go (false) the replies that follow, whatever their size.
    pub fn hold(&mut self, on: bool) {
        self.hold = on;
    }

    /// The buffer's end now, to [`Out::rewind`] to.
    pub fn mark(&self) -> Mark {
        Mark { len: self.buf.len(), errors: self.errors }
    }

    /// Drops every reply added since `mark` (nothing since was written out: the caller held
    /// them), and the memory a large one took.
    pub fn rewind(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.errors = mark.errors;
        if self.buf.capacity() > 4 * FLUSH_AT {
            self.buf.shrink_to((16 << 10).max(mark.len));
        }
    }

    #[inline]
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    #[inline]
    fn header(&mut self, tag: u8, n: i64) {
        self.buf.push(tag);
        push_int(&mut self.buf, n);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.raw(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        push_line_safe(&mut self.buf, s.as_bytes());
        self.raw(b"\r\n");
    }

    /// An error reply; `msg` starts with its code (`ERR ...`, `NOAUTH ...`). Line breaks in it
    /// (say, from a client-supplied name) become spaces.
    pub fn err(&mut self, msg: &str) {
        self.errors += 1;
        self.buf.push(b'-');
        push_line_safe(&mut self.buf, msg.as_bytes());
        self.raw(b"\r\n");
    }

    pub fn int(&mut self, v: i64) {
        self.header(b':', v);
    }

    pub fn bulk(&mut self, b: &[u8]) {
        self.header(b'$', b.len() as i64);
        self.raw(b);
        self.raw(b"\r\n");
    }

    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    /// A missing value: `$-1` (RESP2) or `_` (RESP3).
    pub fn null(&mut self) {
        if self.resp3 {
            self.raw(b"_\r\n")
        } else {
            self.raw(b"$-1\r\n")
        }
    }

    /// A missing array (EXEC after an aborted transaction, ...): `*-1` or `_`.
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.raw(b"_\r\n")
        } else {
            self.raw(b"*-1\r\n")
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of `2n` elements in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64)
        } else {
            self.header(b'*', 2 * n as i64)
        }
    }

    /// A set: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'~', n as i64)
        } else {
            self.header(b'*', n as i64)
        }
    }

    /// Free text (INFO and the like): a verbatim string in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &str) {
        if self.resp3 {
            self.header(b'=', text.len() as i64 + 4);
            self.raw(b"txt:");
            self.raw(text.as_bytes());
            self.raw(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }
}

fn push_line_safe(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend(s.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
}

/// Appends the decimal form of `v` (no allocation).
pub fn push_int(buf: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::{push_int, Out, FLUSH_AT};

    #[test]
    fn held_replies_stay_buffered_and_rewind_drops_them() {
        let mut sink = Vec::new();
        let mut out = Out::new(&mut sink);
        out.ok();
        let mark = out.mark();
        out.hold(true);
        out.bulk(&vec![b'x'; 2 * FLUSH_AT]);
        out.err("ERR x");
        out.maybe_flush().unwrap();
        assert!(out.held_bytes() > FLUSH_AT, "held, not written");
        out.rewind(mark);
        out.hold(false);
        assert_eq!(out.errors, 0);
        out.flush().unwrap();
        drop(out);
        assert_eq!(sink, b"+OK\r\n");
    }

    #[test]
    fn integers() {
        for v in [0, 1, -1, 42, i64::MAX, i64::MIN, 1000000] {
            let mut b = Vec::new();
            push_int(&mut b, v);
            assert_eq!(b, v.to_string().into_bytes());
        }
    }
}
