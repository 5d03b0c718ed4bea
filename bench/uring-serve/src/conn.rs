//! One client: the bytes of an incomplete command carried between receives, the replies not yet
//! handed to the kernel, and those the kernel is sending. Commands are parsed with the server's
//! own parser (`bitgask_cli::serve::resp`) and run against the engine as `bitgask serve` runs
//! GET and SET: a `get_with` that copies the value into the reply, a `put`.

use std::os::fd::RawFd;

use bitgask::Db;
use bitgask_cli::serve::reply::push_int;
use bitgask_cli::serve::resp::{Args, Limits, Parsed, Parser};

/// `bitgask serve`'s limits for an authenticated client (cli/src/serve/mod.rs).
const LIMITS: Limits = Limits { max_args: 1 << 20, max_bulk: 64 << 20, max_inline: 64 << 10 };

pub struct Conn {
    pub fd: RawFd,
    parser: Parser,
    /// The unconsumed bytes of an incomplete command, from its first byte.
    pending: Vec<u8>,
    /// Replies produced since the last send was handed to the kernel.
    pub out: Vec<u8>,
    /// Replies the kernel is sending (kept alive until the send completes), and how many of
    /// them it has sent.
    pub inflight: Vec<u8>,
    pub sent: usize,
    /// The multishot receive is armed (its last completion had IORING_CQE_F_MORE).
    pub recv_armed: bool,
    /// The client is gone or broke the protocol: close once nothing is in flight.
    pub closing: bool,
    /// On this pass's list of connections with replies to send.
    pub queued: bool,
}

impl Conn {
    pub fn new(fd: RawFd) -> Conn {
        Conn {
            fd,
            parser: Parser::default(),
            pending: Vec::new(),
            out: Vec::with_capacity(4096),
            inflight: Vec::with_capacity(4096),
            sent: 0,
            recv_armed: false,
            closing: false,
            queued: false,
        }
    }

    /// Runs every complete command in `data` (the bytes of one receive) and keeps the rest.
    pub fn received(&mut self, db: &Db, data: &[u8]) {
        if self.pending.is_empty() {
            let used = self.run(db, data);
            self.pending.extend_from_slice(&data[used..]);
        } else {
            let mut input = std::mem::take(&mut self.pending);
            input.extend_from_slice(data);
            let used = self.run(db, &input);
            input.drain(..used);
            self.pending = input;
        }
    }

    /// Runs the complete commands at the start of `input`; returns the bytes they took.
    fn run(&mut self, db: &Db, input: &[u8]) -> usize {
        let mut pos = 0;
        while pos < input.len() && !self.closing {
            match self.parser.parse(&input[pos..], &LIMITS) {
                Parsed::Command(n) => {
                    let args = self.parser.args(&input[pos..]);
                    if !args.is_empty() {
                        execute(db, args, &mut self.out);
                    }
                    self.parser.reset();
                    pos += n;
                }
                Parsed::Incomplete(_) => break,
                Parsed::Error(msg) => {
                    self.out.extend_from_slice(b"-ERR ");
                    self.out.extend_from_slice(msg.as_bytes());
                    self.out.extend_from_slice(b"\r\n");
                    self.closing = true;
                    // The receive ends with 0 bytes, which closes the connection.
                    unsafe { libc::shutdown(self.fd, libc::SHUT_RD) };
                }
            }
        }
        pos
    }
}

/// GET, SET, PING, and what redis-benchmark asks before it starts (CONFIG GET).
fn execute(db: &Db, a: Args<'_>, out: &mut Vec<u8>) {
    let name = a.get(0);
    if name.eq_ignore_ascii_case(b"GET") && a.len() == 2 {
        match db.get_with(a.get(1), |v| bulk(out, v)) {
            Ok(Some(())) => {}
            Ok(None) => out.extend_from_slice(b"$-1\r\n"),
            Err(e) => error(out, &e.to_string()),
        }
    } else if name.eq_ignore_ascii_case(b"SET") && a.len() == 3 {
        match db.put(a.get(1), a.get(2)) {
            Ok(()) => out.extend_from_slice(b"+OK\r\n"),
            Err(e) => error(out, &e.to_string()),
        }
    } else if name.eq_ignore_ascii_case(b"PING") {
        out.extend_from_slice(b"+PONG\r\n");
    } else if name.eq_ignore_ascii_case(b"CONFIG") && a.len() == 3 {
        out.extend_from_slice(b"*2\r\n");
        bulk(out, a.get(2));
        bulk(out, b"");
    } else {
        error(out, "ERR unknown command (this measurement tool answers GET, SET and PING)");
    }
}

fn bulk(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'$');
    push_int(out, v.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
}

fn error(out: &mut Vec<u8>, msg: &str) {
    out.push(b'-');
    out.extend(msg.bytes().map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
    out.extend_from_slice(b"\r\n");
}
