//! The listening socket, the accept loop (maxclients; each admitted client goes to the least
//! loaded I/O thread) and the graceful stop.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::event_loop::IoHandle;
use super::state::{ClientHandle, ClientMeta, Shared};
use super::syncer::Syncer;
use super::worker::Pool;

const BACKLOG: i32 = 4096;

/// The running I/O threads, the worker pool and the syncer.
pub struct Threads {
    pub io: Vec<(Arc<IoHandle>, JoinHandle<()>)>,
    pub pool: Arc<Pool>,
    pub syncer: Arc<Syncer>,
    pub sync_thread: JoinHandle<()>,
}

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s.into())
}

/// Accepts until the stopper fires (its shutdown of the listening socket fails `accept`).
pub fn accept_loop(sh: &Arc<Shared>, listener: &TcpListener, threads: &Threads) {
    let mut last_warning: Option<Instant> = None;
    loop {
        match listener.accept() {
            Ok((sock, addr)) => {
                if sh.stopper.stopping() {
                    break;
                }
                admit(sh, sock, addr, threads);
            }
            Err(e) => {
                if sh.stopper.stopping() {
                    break;
                }
                // Out of descriptors or memory: back off instead of spinning.
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    eprintln!("bitgask serve: accept: {e}");
                    last_warning = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn reject(sh: &Shared, sock: TcpStream, msg: &[u8]) {
    sh.stats.rejected.fetch_add(1, Ordering::Relaxed);
    let _ = sock.set_nonblocking(true);
    let _ = (&sock).write_all(msg);
}

fn admit(sh: &Arc<Shared>, sock: TcpStream, addr: SocketAddr, threads: &Threads) {
    sh.stats.connections.fetch_add(1, Ordering::Relaxed);
    let laddr = sock.local_addr().unwrap_or(sh.cfg.addr);
    let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
    let handle = Arc::new(ClientHandle {
        id,
        addr,
        laddr,
        created: Instant::now(),
        sock: None,
        meta: std::sync::Mutex::new(ClientMeta { resp: 2, ..ClientMeta::default() }),
    });
    {
        let mut clients = sh.reg.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= sh.cfg.maxclients {
            drop(clients);
            reject(sh, sock, b"-ERR max number of clients reached\r\n");
            return;
        }
        clients.insert(id, handle.clone());
    }
    let io = threads.io.iter().map(|(h, _)| h).min_by_key(|h| h.load()).expect("at least one I/O thread");
    io.admit(sock, handle);
}

/// After the accept loop: every I/O thread answers the commands its connections have read (no
/// more input is read) and closes them, giving slow readers a grace period; then the workers
/// end, a background merge is waited for, and the database is synced and closed, which
/// releases its LOCK.
pub fn drain(sh: Arc<Shared>, threads: Threads) -> Result<(), String> {
    for (h, _) in &threads.io {
        h.stop();
    }
    for (_, t) in threads.io {
        let _ = t.join();
    }
    // No connection is parked any more: the syncer has nothing left to sync.
    threads.syncer.stop();
    let _ = threads.sync_thread.join();
    let stuck = threads.pool.shutdown(Duration::from_secs(10));
    let merge = sh.merge_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(h) = merge {
        let _ = h.join();
    }
    let left = sh.reg.len();
    match Arc::try_unwrap(sh) {
        Ok(shared) => shared.db.close().map_err(|e| format!("close: {e}")),
        Err(sh) => {
            // Some command is stuck inside the engine: make the data durable anyway; the LOCK
            // goes with the process.
            let synced = sh.db.sync();
            let others = Arc::strong_count(&sh) - 1;
            Err(format!(
                "{left} connection(s) did not finish ({stuck} worker(s) busy, {others} other holder(s) of the \
                 server state); database synced ({synced:?}) but not closed"
            ))
        }
    }
}
