//! An I/O thread: one mio event loop (epoll, edge-triggered) over its share of the connections.
//!
//! The accept loop hands it new sockets, and workers hand back connections whose waiting
//! command is done, through its inbox and its waker. Each event drives one connection
//! ([`Conn::drive`]) until its socket has nothing more to give; a command that may wait goes to
//! the worker pool with the connection, which is away (its events ignored) until it comes back.
//! A durable write runs here as a deferred commit and parks its connection ([`Step::Park`]):
//! the thread asks the [`Syncer`] for the ticket once per round of events, and when the syncer
//! wakes it after a group fsync it answers every parked connection whose ticket is settled.
//! Every [`TICK`] the thread closes connections idle past `--timeout` or whose replies have
//! made no progress for the write stall limit. On stop it answers what each connection has
//! read, gives slow readers [`GRACE`] to take their replies, then closes the rest.

use std::net::TcpStream as StdStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use super::conn::{Conn, Spares, Step};
use super::state::{ClientHandle, Shared};
use super::syncer::Syncer;
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
    /// Set by the syncer after a group fsync: parked connections may have their answer.
    synced: AtomicBool,
}

impl IoHandle {
    /// Puts something in the inbox, waking the thread only if the inbox was empty: the thread
    /// empties it whole after each wake-up, so a wake is pending for anything already there
    /// (after a group fsync, dozens of workers hand back connections with one wake-up).
    fn send(&self, f: impl FnOnce(&mut Inbox)) {
        let was_empty = {
            let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
            let empty = inbox.new.is_empty() && inbox.back.is_empty() && !inbox.stop;
            f(&mut inbox);
            empty
        };
        if was_empty {
            if let Err(e) = self.waker.wake() {
                eprintln!("bitgask serve: waking an I/O thread: {e}");
            }
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

    /// The syncer finished a group fsync this thread asked for: wake it (unless a wake for
    /// that is still pending) to answer its parked connections.
    pub fn synced(&self) {
        if !self.synced.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                eprintln!("bitgask serve: waking an I/O thread: {e}");
            }
        }
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
pub fn spawn(
    sh: Arc<Shared>,
    pool: Arc<Pool>,
    syncer: Arc<Syncer>,
    n: usize,
) -> std::io::Result<(Arc<IoHandle>, JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    let home = Arc::new(IoHandle {
        inbox: Mutex::new(Inbox::default()),
        waker,
        load: AtomicUsize::new(0),
        synced: AtomicBool::new(false),
    });
    let mut lp = Loop {
        sh,
        pool,
        syncer,
        parked: Vec::new(),
        want: None,
        parked_now: 0,
        home: Arc::clone(&home),
        poll,
        slots: Vec::new(),
        free: Vec::new(),
        live: 0,
        spares: Spares::default(),
        stop_at: None,
        again: Vec::new(),
    };
    let t = std::thread::Builder::new().name(format!("bitgask-io-{n}")).spawn(move || lp.run())?;
    Ok((home, t))
}

struct Loop {
    sh: Arc<Shared>,
    pool: Arc<Pool>,
    syncer: Arc<Syncer>,
    /// Parked connections (by slot), each waiting for its durable write's ticket.
    parked: Vec<usize>,
    /// The highest ticket parked this round, to ask the syncer for, and how many connections
    /// parked this round.
    want: Option<bitgask::Ticket>,
    parked_now: u64,
    home: Arc<IoHandle>,
    poll: Poll,
    /// Connections by token.
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Connections here or away.
    live: usize,
    spares: Spares,
    stop_at: Option<Instant>,
    /// Connections that gave up their turn with input left ([`Step::Again`]).
    again: Vec<usize>,
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        loop {
            let wait = if self.again.is_empty() { TICK } else { Duration::ZERO };
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
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
            for i in std::mem::take(&mut self.again) {
                self.drive(i);
            }
            self.take_inbox();
            let tick = last_sweep.elapsed() >= TICK;
            // Every tick too: a ticket another thread's group commit settled needs no wake.
            if self.home.synced.swap(false, Ordering::AcqRel) || tick {
                self.answer_parked();
            }
            if let Some(t) = self.want.take() {
                self.syncer.want(t, std::mem::take(&mut self.parked_now), &self.home);
            }
            if tick {
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
            Step::Again => self.again.push(i),
            Step::Park => {
                let Slot::Here(conn) = &self.slots[i] else { unreachable!() };
                let t = conn.parked().expect("parked");
                if !self.parked.contains(&i) {
                    self.parked.push(i);
                    self.parked_now += 1;
                }
                self.want = self.want.max(Some(t));
            }
            Step::HandOff => {
                let Slot::Here(conn) = std::mem::replace(&mut self.slots[i], Slot::Away) else { unreachable!() };
                self.pool.submit(Job { sh: Arc::clone(&self.sh), conn, slot: i, home: Arc::clone(&self.home) });
            }
            Step::Close => self.close(i),
        }
    }

    /// Answers and resumes each parked connection whose ticket has an outcome.
    fn answer_parked(&mut self) {
        for i in std::mem::take(&mut self.parked) {
            let Some(Slot::Here(conn)) = self.slots.get_mut(i) else { continue };
            let Some(t) = conn.parked() else { continue };
            match self.sh.db.ticket_outcome(t) {
                Some(outcome) => {
                    conn.unpark(&self.sh, outcome);
                    self.drive(i);
                }
                None => self.parked.push(i),
            }
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
        if conn.parked().is_some() {
            self.parked.retain(|&p| p != i);
        }
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
            if c.parked().is_some() && !past_grace {
                continue; // waiting for the disk, not for its client
            }
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::serve::state::Stopper;
    use crate::serve::{server, ServeArgs};

    /// A server over a fresh database, run in this process on a free port.
    struct TestServer {
        sh: Option<Arc<Shared>>,
        addr: SocketAddr,
        runner: Option<std::thread::JoinHandle<Result<(), String>>>,
        dir: PathBuf,
    }

    impl TestServer {
        fn start(name: &str, extra: &[&str]) -> TestServer {
            let dir = std::env::temp_dir().join(format!("bitgask-evloop-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let mut flags = vec!["--dir", dir.to_str().unwrap(), "--addr", "127.0.0.1:0", "--merge-interval-ms", "0"];
            flags.extend_from_slice(extra);
            let args = ServeArgs::from_flags(&flags).unwrap();
            let mut cfg = args.config().unwrap();
            let db = bitgask::Db::open(&dir, args.options().unwrap()).unwrap();
            let listener = server::bind(cfg.addr).unwrap();
            cfg.addr = listener.local_addr().unwrap();
            let stopper = Arc::new(Stopper::default());
            {
                use std::os::fd::AsRawFd;
                stopper.set_listener(listener.as_raw_fd());
            }
            let sh = Arc::new(Shared::new(db, cfg, stopper));
            let addr = sh.cfg.addr;
            let sh2 = Arc::clone(&sh);
            let runner = std::thread::spawn(move || crate::serve::serve(sh2, listener));
            TestServer { sh: Some(sh), addr, runner: Some(runner), dir }
        }

        fn connect(&self) -> TcpStream {
            let s = TcpStream::connect(self.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s
        }

        /// Stops the server the way SHUTDOWN does; the database must close cleanly.
        fn stop(self) {
            self.stop_with().unwrap();
        }

        /// Stops the server the way SHUTDOWN does; what closing the database gave.
        fn stop_with(mut self) -> Result<(), String> {
            // The test's own reference to the shared state goes before the stop: drain closes
            // the database only when it holds the last one, and it may get there before a
            // `drop` that follows `stop` has run.
            let stopper = Arc::clone(&self.sh.take().unwrap().stopper);
            stopper.stop();
            let closed = self.runner.take().unwrap().join().unwrap();
            std::fs::remove_dir_all(&self.dir).unwrap();
            closed
        }
    }

    /// Sends `req` and reads until `want.len()` bytes came back.
    fn ask(s: &mut TcpStream, req: &[u8], want: &[u8]) {
        s.write_all(req).unwrap();
        let mut got = vec![0; want.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    /// What arrives within `wait` (empty when nothing does).
    fn read_now(s: &mut TcpStream, wait: Duration) -> Vec<u8> {
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 256];
        let got = match s.read(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Vec::new(),
            Err(e) => panic!("read: {e}"),
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        got
    }

    /// Reads `n` reply lines (whatever their text).
    #[cfg(feature = "fault-injection")]
    fn read_lines(s: &mut TcpStream, n: usize) -> String {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while got.windows(2).filter(|w| w == b"\r\n").count() < n {
            s.read_exact(&mut byte).unwrap();
            got.push(byte[0]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn a_parked_durable_write_does_not_block_another_client_on_its_io_thread() {
        let srv = TestServer::start("parked", &["--io-threads", "1"]);
        let sh = Arc::clone(srv.sh.as_ref().unwrap());
        // No group fsync starts while the test holds this: the SET stays parked.
        let hold = sh.sync_hold.lock().unwrap();
        let mut writer = srv.connect();
        writer.write_all(b"SET k v\r\n").unwrap();
        let mut reader = srv.connect();
        for _ in 0..50 {
            // Its I/O thread (the only one) answers; the SET is not visible before its fsync.
            ask(&mut reader, b"PING\r\nGET k\r\n", b"+PONG\r\n$-1\r\n");
        }
        assert_eq!(read_now(&mut writer, Duration::from_millis(300)), b"", "acknowledged before its fsync");
        drop(hold);
        let mut ok = [0u8; 5];
        writer.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n");
        ask(&mut reader, b"GET k\r\n", b"$1\r\nv\r\n");
        drop(sh);
        srv.stop();
    }

    /// The EXEC gate is each server's own: another server's EXEC holding its gate (here, the
    /// test holding it) sends none of this server's durable writes to a worker, where they would
    /// be acknowledged after a fsync of the worker's own (what made the test above fail one run
    /// in twelve while the other tests of this process ran EXECs of their own).
    #[test]
    fn another_servers_exec_leaves_this_servers_durable_writes_parked() {
        let other = TestServer::start("parked-other-gate", &["--io-threads", "1"]);
        let srv = TestServer::start("parked-own-gate", &["--io-threads", "1"]);
        let sh = Arc::clone(srv.sh.as_ref().unwrap());
        let other_sh = Arc::clone(other.sh.as_ref().unwrap());
        let hold = sh.sync_hold.lock().unwrap();
        let mut writer = srv.connect();
        let gate = other_sh.exec_gate.write().unwrap();
        writer.write_all(b"SET k v\r\n").unwrap();
        // Long enough for the I/O thread to take the SET; a worker given it would now run it.
        std::thread::sleep(Duration::from_millis(100));
        drop(gate);
        assert_eq!(read_now(&mut writer, Duration::from_millis(300)), b"", "acknowledged before its fsync");
        drop(hold);
        let mut ok = [0u8; 5];
        writer.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n");
        drop((other_sh, sh));
        srv.stop();
        other.stop();
    }

    #[test]
    fn parked_writes_keep_the_pipelines_reply_order() {
        let srv = TestServer::start("parked-order", &["--io-threads", "1"]);
        let sh = Arc::clone(srv.sh.as_ref().unwrap());
        let hold = sh.sync_hold.lock().unwrap();
        let mut c = srv.connect();
        c.write_all(b"PING\r\nSET a 1\r\nGET a\r\nINCR a\r\nDEL a b\r\nECHO x\r\nSET b 2\r\nGET b\r\n").unwrap();
        // Even the PING before the SET waits: the replies go out together, in order.
        assert_eq!(read_now(&mut c, Duration::from_millis(300)), b"");
        drop(hold);
        let want = b"+PONG\r\n+OK\r\n$1\r\n1\r\n:2\r\n:1\r\n$1\r\nx\r\n+OK\r\n$1\r\n2\r\n";
        let mut got = vec![0; want.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
        drop(sh);
        srv.stop();
    }

    #[test]
    fn exec_sees_the_writes_parked_before_it() {
        let srv = TestServer::start("parked-exec", &["--io-threads", "1"]);
        let sh = Arc::clone(srv.sh.as_ref().unwrap());
        let hold = sh.sync_hold.lock().unwrap();
        let mut writer = srv.connect();
        writer.write_all(b"SET k v\r\n").unwrap();
        let mut reader = srv.connect();
        ask(&mut reader, b"PING\r\n", b"+PONG\r\n");
        // The EXEC's worker makes the parked SET durable itself; its DBSIZE and GET both see it.
        ask(
            &mut reader,
            b"MULTI\r\nDBSIZE\r\nGET k\r\nEXEC\r\n",
            b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\nv\r\n",
        );
        drop(hold);
        ask(&mut writer, b"", b"+OK\r\n");
        drop(sh);
        srv.stop();
    }

    #[cfg(feature = "fault-injection")]
    #[test]
    fn a_failed_fsync_answers_every_parked_write_with_an_error() {
        use bitgask::internal::storage::fault::{self, Failure, Op};
        let srv = TestServer::start("parked-eio", &["--io-threads", "1"]);
        let sh = Arc::clone(srv.sh.as_ref().unwrap());
        let hold = sh.sync_hold.lock().unwrap();
        let (mut a, mut b) = (srv.connect(), srv.connect());
        a.write_all(b"SET a 1\r\nPING\r\n").unwrap();
        b.write_all(b"PING\r\nSET b 2\r\n").unwrap();
        assert_eq!(read_now(&mut a, Duration::from_millis(300)), b"");
        fault::arm(&srv.dir, Some((Op::Fsync, 1, Failure::Io, true)));
        drop(hold);
        let (ra, rb) = (read_lines(&mut a, 2), read_lines(&mut b, 2));
        fault::disarm(&srv.dir);
        assert!(ra.starts_with("-ERR i/o error") && ra.ends_with("\r\n+PONG\r\n"), "{ra:?}");
        assert!(rb.starts_with("+PONG\r\n-ERR ") && rb.contains("i/o error"), "{rb:?}");
        ask(&mut a, b"GET a\r\n", b"$-1\r\n");
        drop(sh);
        assert!(srv.stop_with().is_err(), "the handle is poisoned");
    }

    #[test]
    fn a_waiting_durable_write_does_not_stall_its_io_threads_other_connections() {
        let srv = TestServer::start("waiting-write", &["--io-threads", "1"]);
        let sh = Arc::clone(srv.sh.as_ref().unwrap());
        // Hold the writer mutex for two seconds: a durable SET now waits as long.
        let (held, wait) = mpsc::channel();
        let holder = std::thread::spawn(move || {
            sh.db
                .update(b"other", |_| {
                    held.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(2000));
                    (bitgask::Update::Keep, ())
                })
                .unwrap();
        });
        wait.recv().unwrap();
        let t0 = Instant::now();
        let mut writer = srv.connect();
        writer.write_all(b"SET k v\r\n").unwrap();
        // The same (only) I/O thread answers another client meanwhile, many times.
        let mut reader = srv.connect();
        for _ in 0..50 {
            ask(&mut reader, b"PING\r\nGET k\r\n", b"+PONG\r\n$-1\r\n");
        }
        assert!(t0.elapsed() < Duration::from_millis(1500), "answers took {:?}", t0.elapsed());
        let mut ok = [0u8; 5];
        writer.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n");
        assert!(t0.elapsed() >= Duration::from_millis(1800), "the SET did not wait: {:?}", t0.elapsed());
        ask(&mut reader, b"GET k\r\n", b"$1\r\nv\r\n");
        holder.join().unwrap();
        srv.stop();
    }

    #[test]
    fn a_connection_resumes_its_pipeline_after_the_worker() {
        let srv = TestServer::start("resume", &["--io-threads", "1"]);
        let mut c = srv.connect();
        // Reads, durable writes and FLUSHDB interleaved in one pipeline: the replies come in
        // order whichever thread ran each command.
        ask(
            &mut c,
            b"PING\r\nSET a 1\r\nGET a\r\nINCR a\r\nMULTI\r\nSET b 2\r\nEXEC\r\nGET b\r\nFLUSHDB\r\nDBSIZE\r\nECHO x\r\n",
            b"+PONG\r\n+OK\r\n$1\r\n1\r\n:2\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n$1\r\n2\r\n+OK\r\n:0\r\n$1\r\nx\r\n",
        );
        srv.stop();
    }

    #[test]
    fn concurrent_durable_writers_are_all_answered() {
        let srv = TestServer::start("writers", &["--io-threads", "2"]);
        let addr = srv.addr;
        let clients: Vec<_> = (0..40)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    for j in 0..20 {
                        ask(&mut s, format!("SET k{i}:{j} {j}\r\n").as_bytes(), b"+OK\r\n");
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        let mut c = srv.connect();
        ask(&mut c, b"DBSIZE\r\n", b":800\r\n");
        srv.stop();
    }
}
