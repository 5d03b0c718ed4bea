//! uring-serve: a measurement tool, not a server. It answers redis-benchmark's GET and SET with
//! the work `bitgask serve` does per request (the server's RESP parser, the engine's `get_with`
//! or `put`, the reply) but does its socket I/O through io_uring: each thread has one ring with
//! a multishot accept, a multishot receive per connection into a ring of provided buffers, and
//! the replies of a whole pass of completions handed to the kernel in the same `io_uring_enter`
//! that waits for the next ones. So many connections' I/O costs one system call.
//! docs/DESIGN.md section 13 ("io_uring for unpipelined requests: measured") has the figures
//! and bench/uring-serve/README.md how to run it.
//!
//!   uring-serve --dir DIR [--port 6390] [--threads 1] [--min-wait-us 0] [--spin-us 0] [--no-defer-taskrun]

mod bufring;
mod conn;

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bitgask::{Db, Options};
use io_uring::{cqueue, opcode, squeue, types, IoUring};

use bufring::BufRing;
use conn::Conn;

/// What a completion is for: the low byte of its user data; the rest is the connection's slot.
const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;

/// IORING_ENTER_GETEVENTS (the crate's flag type is private to its own calls).
const ENTER_GETEVENTS: u32 = 1;

const BUF_GROUP: u16 = 0;
const BUF_COUNT: u16 = 1024;
const BUF_SIZE: usize = 4096;

struct Config {
    dir: String,
    port: u16,
    /// Threads, each with its own ring; they share the listening socket.
    threads: usize,
    /// io_uring's minimum batch wait (`min_wait_usec`, kernel 6.12) for every wait; 0: none.
    min_wait_us: u32,
    /// Poll the ring without sleeping until this long passes without a completion; 0: never.
    spin_us: u64,
    /// `DEFER_TASKRUN` (completions posted only when the thread waits), else `COOP_TASKRUN`.
    defer_taskrun: bool,
}

fn main() {
    let cfg = parse_args();
    let mut opts = Options::new();
    // As `bitgask serve --no-sync --sync-interval-ms 1000`.
    opts.set_sync_on_put(false).set_sync_on_delete(false).set_sync_interval_ms(1000);
    let db = Arc::new(Db::open(&cfg.dir, opts).expect("open the database"));
    let listener = TcpListener::bind(("127.0.0.1", cfg.port)).expect("bind");
    let lfd = listener.as_raw_fd();
    eprintln!("uring-serve: listening on 127.0.0.1:{}, {} thread(s)", cfg.port, cfg.threads);
    let cfg = Arc::new(cfg);
    let handles: Vec<_> = (0..cfg.threads)
        .map(|i| {
            let (db, cfg) = (Arc::clone(&db), Arc::clone(&cfg));
            std::thread::Builder::new()
                .name(format!("uring-{i}"))
                .spawn(move || Worker::new(&cfg).and_then(|mut w| w.run(&db, lfd, &cfg)))
                .expect("spawn")
        })
        .collect();
    for h in handles {
        if let Err(e) = h.join().expect("thread") {
            eprintln!("uring-serve: {e}");
            std::process::exit(1);
        }
    }
}

fn parse_args() -> Config {
    let mut cfg =
        Config { dir: String::new(), port: 6390, threads: 1, min_wait_us: 0, spin_us: 0, defer_taskrun: true };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--dir" => cfg.dir = value(),
            "--port" => cfg.port = value().parse().unwrap_or_else(|_| usage("bad --port")),
            "--threads" => cfg.threads = value().parse().unwrap_or_else(|_| usage("bad --threads")),
            "--min-wait-us" => cfg.min_wait_us = value().parse().unwrap_or_else(|_| usage("bad --min-wait-us")),
            "--spin-us" => cfg.spin_us = value().parse().unwrap_or_else(|_| usage("bad --spin-us")),
            "--no-defer-taskrun" => cfg.defer_taskrun = false,
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if cfg.dir.is_empty() || cfg.threads == 0 {
        usage("--dir is required, --threads at least 1");
    }
    cfg
}

fn usage(msg: &str) -> ! {
    eprintln!("uring-serve: {msg}\nusage: uring-serve --dir DIR [--port 6390] [--threads 1] [--min-wait-us 0] [--spin-us 0] [--no-defer-taskrun]");
    std::process::exit(2);
}

/// One thread's ring, its buffers and its connections.
struct Worker {
    // Declared first so the ring (and its registration of the buffers) goes before them.
    ring: IoUring,
    bufs: BufRing,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Connections with replies to hand to the kernel at the end of this pass.
    to_send: Vec<usize>,
    cqes: Vec<cqueue::Entry>,
}

impl Worker {
    fn new(cfg: &Config) -> io::Result<Worker> {
        let mut b = IoUring::builder();
        b.setup_single_issuer().setup_cqsize(8192);
        if cfg.defer_taskrun {
            // Completions are posted only when this thread waits for them: the network stack's
            // work for the ring runs in its system call, not as task work that interrupts it.
            b.setup_defer_taskrun();
        } else {
            b.setup_coop_taskrun();
        }
        let ring = b.build(1024)?;
        let bufs = BufRing::new(&ring.submitter(), BUF_COUNT, BUF_SIZE, BUF_GROUP)?;
        Ok(Worker { ring, bufs, conns: Vec::new(), free: Vec::new(), to_send: Vec::new(), cqes: Vec::new() })
    }

    fn run(&mut self, db: &Db, lfd: RawFd, cfg: &Config) -> io::Result<()> {
        self.push(opcode::AcceptMulti::new(types::Fd(lfd)).build().user_data(ACCEPT))?;
        let args = types::SubmitArgs::new().min_wait_usec(cfg.min_wait_us);
        let spin = std::time::Duration::from_micros(cfg.spin_us);
        let mut idle_since: Option<std::time::Instant> = None;
        loop {
            self.send_replies()?;
            self.bufs.publish();
            let spinning = !spin.is_zero() && idle_since.is_none_or(|t| t.elapsed() < spin);
            let r = if spinning {
                self.poll_once()
            } else if cfg.min_wait_us > 0 {
                self.ring.submitter().submit_with_args(1, &args)
            } else {
                self.ring.submit_and_wait(1)
            };
            match r {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) || e.raw_os_error() == Some(libc::ETIME) => {}
                Err(e) => return Err(e),
            }
            self.cqes.clear();
            self.cqes.extend(self.ring.completion());
            if self.cqes.is_empty() {
                idle_since.get_or_insert_with(std::time::Instant::now);
            } else {
                idle_since = None;
            }
            for i in 0..self.cqes.len() {
                let c = self.cqes[i].clone();
                self.complete(db, lfd, c.user_data(), c.result(), c.flags())?;
            }
        }
    }

    /// Submits what is queued and posts the completions that are ready, without sleeping: a
    /// client's request then finds this thread running, and its send need not wake it.
    fn poll_once(&mut self) -> io::Result<usize> {
        let queued = self.ring.submission().len() as u32;
        // With IORING_ENTER_GETEVENTS and nothing to wait for, the kernel runs the ring's
        // deferred work (the receives that arrived) and returns.
        // SAFETY: no extra argument is passed.
        unsafe { self.ring.submitter().enter::<libc::sigset_t>(queued, 0, ENTER_GETEVENTS, None) }
    }

    /// Queues one submission, making room by submitting what is queued when the queue is full.
    fn push(&mut self, e: squeue::Entry) -> io::Result<()> {
        // SAFETY: every buffer a submission names (a connection's in-flight replies, the
        // provided buffers) lives until its completion arrives.
        unsafe {
            if self.ring.submission().push(&e).is_err() {
                self.ring.submit()?;
                self.ring.submission().push(&e).map_err(|_| io::Error::other("submission queue full"))?;
            }
        }
        Ok(())
    }

    fn complete(&mut self, db: &Db, lfd: RawFd, ud: u64, res: i32, flags: u32) -> io::Result<()> {
        let slot = (ud >> 8) as usize;
        match ud & 0xff {
            ACCEPT => self.accepted(lfd, res, flags),
            RECV => self.received(db, slot, res, flags),
            SEND => self.sent(slot, res),
            _ => Ok(()),
        }
    }

    fn accepted(&mut self, lfd: RawFd, res: i32, flags: u32) -> io::Result<()> {
        if !cqueue::more(flags) {
            self.push(opcode::AcceptMulti::new(types::Fd(lfd)).build().user_data(ACCEPT))?;
        }
        if res < 0 {
            return Ok(());
        }
        let one: libc::c_int = 1;
        // SAFETY: a socket just accepted; the option is an int.
        unsafe {
            libc::setsockopt(res, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&one as *const libc::c_int).cast(), 4);
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        self.conns[slot] = Some(Conn::new(res));
        self.arm_recv(slot)
    }

    fn arm_recv(&mut self, slot: usize) -> io::Result<()> {
        let c = self.conns[slot].as_mut().expect("live connection");
        c.recv_armed = true;
        let fd = c.fd;
        self.push(opcode::RecvMulti::new(types::Fd(fd), BUF_GROUP).build().user_data(RECV | (slot as u64) << 8))
    }

    fn received(&mut self, db: &Db, slot: usize, res: i32, flags: u32) -> io::Result<()> {
        let Some(c) = self.conns[slot].as_mut() else { return Ok(()) };
        c.recv_armed = cqueue::more(flags);
        if res > 0 {
            let bid = cqueue::buffer_select(flags).expect("a receive into a provided buffer");
            c.received(db, self.bufs.data(bid, res as usize));
            self.bufs.give_back(bid);
            if !c.out.is_empty() && !c.queued {
                c.queued = true;
                self.to_send.push(slot);
            }
        } else if res != -libc::ENOBUFS {
            c.closing = true; // end of stream, or an error
        }
        if !c.recv_armed && !c.closing {
            return self.arm_recv(slot);
        }
        self.maybe_close(slot);
        Ok(())
    }

    fn sent(&mut self, slot: usize, res: i32) -> io::Result<()> {
        let Some(c) = self.conns[slot].as_mut() else { return Ok(()) };
        if res < 0 {
            c.closing = true;
            c.inflight.clear();
            c.out.clear();
        } else {
            c.sent += res as usize;
            if c.sent < c.inflight.len() {
                let rest = &c.inflight[c.sent..];
                let e = opcode::Send::new(types::Fd(c.fd), rest.as_ptr(), rest.len() as u32).build();
                return self.push(e.user_data(SEND | (slot as u64) << 8));
            }
            c.inflight.clear();
            if !c.out.is_empty() && !c.queued {
                c.queued = true;
                self.to_send.push(slot);
            }
        }
        self.maybe_close(slot);
        Ok(())
    }

    /// Hands every queued connection's replies to the kernel, one send each; they go with the
    /// next wait's system call. A connection whose last send is still under way waits for it.
    fn send_replies(&mut self) -> io::Result<()> {
        while let Some(slot) = self.to_send.pop() {
            let Some(c) = self.conns[slot].as_mut() else { continue };
            c.queued = false;
            if !c.inflight.is_empty() || c.out.is_empty() {
                continue;
            }
            std::mem::swap(&mut c.out, &mut c.inflight);
            c.sent = 0;
            let e = opcode::Send::new(types::Fd(c.fd), c.inflight.as_ptr(), c.inflight.len() as u32).build();
            self.push(e.user_data(SEND | (slot as u64) << 8))?;
        }
        Ok(())
    }

    /// Closes a connection that is done once neither its receive nor a send is in flight and
    /// its last replies are sent.
    fn maybe_close(&mut self, slot: usize) {
        let done = matches!(&self.conns[slot],
            Some(c) if c.closing && !c.recv_armed && c.inflight.is_empty() && c.out.is_empty());
        if done {
            let c = self.conns[slot].take().expect("live connection");
            // SAFETY: our descriptor, closed once; nothing of it is in flight.
            unsafe { libc::close(c.fd) };
            self.free.push(slot);
        }
    }
}
