//! An I/O thread: one mio event loop (epoll, edge-triggered) over its share of the connections.
//!
//! The accept loop hands it new sockets, and workers hand back connections whose waiting
//! command is done, through its inbox and its waker. Each event drives one connection
//! ([`Conn::drive`]) until its socket has nothing more to give; a command that may wait goes to
//! the worker pool with the connection, which is away (its events ignored) until it comes back.
//! Every [`TICK`] the thread closes connections idle past `--timeout` or whose replies have
//! made no progress for the write stall limit. On stop it answers what each connection has
//! read, gives slow readers [`GRACE`] to take their replies, then closes the rest.

use std::net::TcpStream as StdStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use super::conn::{Conn, Spares, Step};
use super::state::{ClientHandle, Shared};
use super::worker::{Job, Pool};

/// How often timeouts are checked (and the longest a stop waits to be noticed).
const TICK: Duration = Duration::from_millis(250);
/// How long a stopping server lets clients take their last replies.
const GRACE: Duration = Duration::from_secs(5);
/// How long a stopping I/O thread waits for connections still at a worker.
const HARD_STOP: Duration = Duration::from_secs(15);
const WAKE: Token = Token(usize::MAX);

/// What other threads send an I/O thread.
#[derive(Default)]
struct Inbox {
    new: Vec<(StdStream, Arc<ClientHandle>)>,
    back: Vec<(usize, Box<Conn>)>,
    stop: bool,
}

/// The side of an I/O thread other threads see.
pub struct IoHandle {
    inbox: Mutex<Inbox>,
    waker: Waker,
    /// Connections it owns (new ones go to the least loaded thread).
    load: AtomicUsize,
}

impl IoHandle {
    fn send(&self, f: impl FnOnce(&mut Inbox)) {
        f(&mut self.inbox.lock().unwrap_or_else(PoisonError::into_inner));
        if let Err(e) = self.waker.wake() {
            eprintln!("bitgask serve: waking an I/O thread: {e}");
        }
    }

    pub fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    /// A new client's socket (already in the registry).
    pub fn admit(&self, sock: StdStream, handle: Arc<ClientHandle>) {
        self.load.fetch_add(1, Ordering::Relaxed);
        self.send(|i| i.new.push((sock, handle)));
    }

    /// A connection back from a worker, to slot `slot`.
    pub fn give_back(&self, slot: usize, conn: Box<Conn>) {
        self.send(|i| i.back.push((slot, conn)));
    }

    /// Starts the graceful stop.
    pub fn stop(&self) {
        self.send(|i| i.stop = true);
    }
}

enum Slot {
    Free,
    Here(Box<Conn>),
    /// At a worker.
    Away,
}

/// Starts an I/O thread.
pub fn spawn(sh: Arc<Shared>, pool: Arc<Pool>, n: usize) -> std::io::Result<(Arc<IoHandle>, JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    let home = Arc::new(IoHandle { inbox: Mutex::new(Inbox::default()), waker, load: AtomicUsize::new(0) });
    let mut lp = Loop {
        sh,
        pool,
        home: Arc::clone(&home),
        poll,
        slots: Vec::new(),
        free: Vec::new(),
        live: 0,
        spares: Spares::default(),
        stop_at: None,
    };
    let t = std::thread::Builder::new().name(format!("bitgask-io-{n}")).spawn(move || lp.run())?;
    Ok((home, t))
}

struct Loop {
    sh: Arc<Shared>,
    pool: Arc<Pool>,
    home: Arc<IoHandle>,
    poll: Poll,
    /// Connections by token.
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Connections here or away.
    live: usize,
    spares: Spares,
    stop_at: Option<Instant>,
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        loop {
            if let Err(e) = self.poll.poll(&mut events, Some(TICK)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    eprintln!("bitgask serve: epoll: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            for ev in events.iter() {
                if ev.token() != WAKE {
                    self.drive(ev.token().0);
                }
            }
            self.take_inbox();
            if last_sweep.elapsed() >= TICK {
                self.sweep();
                last_sweep = Instant::now();
            }
            if let Some(t) = self.stop_at {
                if self.live == 0 || t.elapsed() > HARD_STOP {
                    break;
                }
            }
        }
        for i in 0..self.slots.len() {
            if matches!(self.slots[i], Slot::Here(_)) {
                self.close(i);
            }
        }
    }

    fn drive(&mut self, i: usize) {
        let stopping = self.stop_at.is_some();
        let Some(Slot::Here(conn)) = self.slots.get_mut(i) else { return };
        let (sh, spares) = (&self.sh, &mut self.spares);
        // A panic in a command ends its connection, not the thread's others.
        let step = catch_unwind(AssertUnwindSafe(|| conn.drive(sh, spares, stopping))).unwrap_or(Step::Close);
        match step {
            Step::Input | Step::Output => {}
            Step::HandOff => {
                let Slot::Here(conn) = std::mem::replace(&mut self.slots[i], Slot::Away) else { unreachable!() };
                self.pool.submit(Job { sh: Arc::clone(&self.sh), conn, slot: i, home: Arc::clone(&self.home) });
            }
            Step::Close => self.close(i),
        }
    }

    fn take_inbox(&mut self) {
        let inbox = std::mem::take(&mut *self.home.inbox.lock().unwrap_or_else(PoisonError::into_inner));
        for (sock, handle) in inbox.new {
            self.add(sock, handle);
        }
        for (i, conn) in inbox.back {
            self.slots[i] = Slot::Here(conn);
            self.drive(i);
        }
        if inbox.stop && self.stop_at.is_none() {
            self.stop_at = Some(Instant::now());
            for i in 0..self.slots.len() {
                self.drive(i);
            }
        }
    }

    fn add(&mut self, sock: StdStream, handle: Arc<ClientHandle>) {
        if sock.set_nonblocking(true).is_err() {
            self.sh.reg.remove(handle.id);
            self.home.load.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let i = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::Free);
            self.slots.len() - 1
        });
        self.live += 1;
        let mut conn = Box::new(Conn::new(&self.sh, mio::net::TcpStream::from_std(sock), handle));
        // Input already there is reported by the registration itself (epoll checks readiness
        // when a socket is added).
        let r = self.poll.registry().register(&mut conn.sock, Token(i), Interest::READABLE | Interest::WRITABLE);
        self.slots[i] = Slot::Here(conn);
        if let Err(e) = r {
            eprintln!("bitgask serve: epoll registration: {e}");
            self.close(i);
        }
    }

    fn close(&mut self, i: usize) {
        let Slot::Here(mut conn) = std::mem::replace(&mut self.slots[i], Slot::Free) else { return };
        let _ = self.poll.registry().deregister(&mut conn.sock);
        conn.close(&self.sh);
        self.sh.reg.remove(conn.handle.id);
        self.free.push(i);
        self.live -= 1;
        self.home.load.fetch_sub(1, Ordering::Relaxed);
    }

    /// Closes connections idle past the timeout, stalled writers, and after the grace period
    /// of a stop, every connection still here.
    fn sweep(&mut self) {
        let now = Instant::now();
        let (stall_limit, timeout) = (self.sh.cfg.write_stall, self.sh.cfg.timeout);
        let past_grace = self.stop_at.is_some_and(|t| now.duration_since(t) > GRACE);
        let mut late = 0;
        for i in 0..self.slots.len() {
            let Slot::Here(c) = &self.slots[i] else { continue };
            let stalled = c.stalled_since.is_some_and(|t| now.duration_since(t) > stall_limit);
            let idle = !c.has_output() && timeout.is_some_and(|to| now.duration_since(c.last_read) > to);
            if past_grace {
                late += 1;
            }
            if stalled || idle || past_grace {
                self.close(i);
            }
        }
        if late > 0 {
            eprintln!("bitgask serve: {late} connection(s) still writing after the grace period; closed them");
        }
    }
}
