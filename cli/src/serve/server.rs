//! The listening socket, the accept loop (maxclients, one thread per admitted client) and the
//! graceful stop.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::conn;
use super::state::{ClientHandle, ClientMeta, Shared};

/// Stack of a connection thread: the command path keeps little on the stack, and 1,000
/// connections then reserve 256 MiB of address space, not 8 GiB.
const CONN_STACK: usize = 256 << 10;
const BACKLOG: i32 = 4096;

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s.into())
}

/// Accepts until the stopper fires (its shutdown of the listening socket fails `accept`).
pub fn accept_loop(sh: &Arc<Shared>, listener: &TcpListener) {
    let mut last_warning: Option<Instant> = None;
    loop {
        match listener.accept() {
            Ok((sock, addr)) => {
                if sh.stopper.stopping() {
                    break;
                }
                admit(sh, sock, addr);
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

fn admit(sh: &Arc<Shared>, sock: TcpStream, addr: SocketAddr) {
    sh.stats.connections.fetch_add(1, Ordering::Relaxed);
    let laddr = sock.local_addr().unwrap_or(sh.cfg.addr);
    let Ok(dup) = sock.try_clone() else {
        reject(sh, sock, b"-ERR server out of file descriptors\r\n");
        return;
    };
    let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
    let handle = Arc::new(ClientHandle {
        id,
        addr,
        laddr,
        created: Instant::now(),
        sock: Some(dup),
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
    let (sh2, reg) = (Arc::clone(sh), Arc::clone(&sh.reg));
    let spawned = std::thread::Builder::new().name("bitgask-conn".into()).stack_size(CONN_STACK).spawn(move || {
        // Dropped last, even when a command panics: once the registry is empty no connection
        // thread holds the database any more.
        let _leave = Leave { reg, id };
        conn::serve(sh2, sock, handle);
    });
    if let Err(e) = spawned {
        // The closure (and the socket in it) is gone: the client sees the connection close.
        sh.reg.remove(id);
        sh.stats.rejected.fetch_add(1, Ordering::Relaxed);
        eprintln!("bitgask serve: cannot start a connection thread: {e}");
    }
}

/// Takes a connection out of the registry when its thread ends, however it ends.
struct Leave {
    reg: Arc<super::state::Registry>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.reg.remove(self.id);
    }
}

/// After the accept loop: lets every connection finish the commands it has read (no more
/// input is read), waits for them, waits for a background merge, then syncs and closes the
/// database, which releases its LOCK.
pub fn drain(sh: Arc<Shared>) -> Result<(), String> {
    let reg = Arc::clone(&sh.reg);
    for c in reg.snapshot() {
        if let Some(s) = &c.sock {
            let _ = s.shutdown(Shutdown::Read);
        }
    }
    let mut left = reg.wait_empty(Duration::from_secs(5));
    if left > 0 {
        // Clients that do not read their replies: stop writing to them too.
        eprintln!("bitgask serve: {left} connection(s) still writing; closing them");
        for c in reg.snapshot() {
            if let Some(s) = &c.sock {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        left = reg.wait_empty(Duration::from_secs(10));
    }
    let merge = sh.merge_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(h) = merge {
        let _ = h.join();
    }
    match Arc::try_unwrap(sh) {
        Ok(shared) => shared.db.close().map_err(|e| format!("close: {e}")),
        Err(sh) => {
            // Some connection thread is stuck inside the engine: make the data durable anyway;
            // the LOCK goes with the process.
            let synced = sh.db.sync();
            Err(format!("{left} connection(s) did not finish; database synced ({synced:?}) but not closed"))
        }
    }
}
