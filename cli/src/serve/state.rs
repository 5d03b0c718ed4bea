//! State shared by every connection: the database, the configuration, the client registry and
//! the server-wide counters INFO reports.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitgask::Db;

use super::resp::Limits;

/// Everything the server was started with (after validation).
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub requirepass: Option<Vec<u8>>,
    pub maxclients: usize,
    /// Threads running event loops.
    pub io_threads: usize,
    /// Idle clients are closed after this long (None: never).
    pub timeout: Option<Duration>,
    /// A reply write that makes no progress this long closes the client.
    pub write_stall: Duration,
    /// Input limits of an authenticated client, and of one that still has to AUTH.
    pub limits: Limits,
    pub unauth_limits: Limits,
    /// Most bytes of one command that may sit in a read buffer (and in a MULTI queue).
    pub max_query: usize,
    /// Most bytes one connection may hold (budget.rs), once authenticated and before.
    pub client_memory: usize,
    pub unauth_client_memory: usize,
    pub sync_on_put: bool,
    pub sync_interval_ms: u64,
    pub merge_interval_ms: u64,
    pub compression: &'static str,
    pub max_file_size: u64,
    pub max_key_size: u32,
    pub max_value_size: u32,
}

/// Server-wide counters. Connections add their own tallies once per batch of commands, not per
/// command, so the hot path never bounces these cache lines between cores.
#[derive(Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub rejected: AtomicU64,
    pub commands: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub net_in: AtomicU64,
    pub net_out: AtomicU64,
    pub errors: AtomicU64,
    /// Writes since the last SAVE/BGSAVE.
    pub dirty: AtomicU64,
}

impl Counters {
    pub fn reset(&self) {
        for c in [
            &self.connections,
            &self.rejected,
            &self.commands,
            &self.hits,
            &self.misses,
            &self.net_in,
            &self.net_out,
            &self.errors,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Per-connection tallies, folded into [`Counters`] after each batch.
#[derive(Default)]
pub struct Tally {
    pub commands: u64,
    pub hits: u64,
    pub misses: u64,
    pub dirty: u64,
}

/// What CLIENT LIST shows about a connection, and the socket the server uses to end it.
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    /// A duplicate of the connection's socket, for whoever drives the connection from
    /// elsewhere (None: the server's event loops own their sockets; tests and fuzz targets
    /// have none).
    pub sock: Option<TcpStream>,
    pub meta: Mutex<ClientMeta>,
}

#[derive(Default, Clone)]
pub struct ClientMeta {
    pub name: Vec<u8>,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    pub resp: u8,
}

impl ClientMeta {
    /// Bytes the names hold (a connection's memory budget counts them).
    pub fn held_bytes(&self) -> usize {
        self.name.capacity() + self.lib_name.capacity() + self.lib_ver.capacity()
    }
}

/// The live connections (for maxclients, CLIENT LIST and INFO). An I/O thread takes a
/// connection out when it closes it.
#[derive(Default)]
pub struct Registry {
    pub clients: Mutex<HashMap<u64, Arc<ClientHandle>>>,
    pub changed: Condvar,
}

impl Registry {
    pub fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn remove(&self, id: u64) {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        self.changed.notify_all();
    }

    pub fn snapshot(&self) -> Vec<Arc<ClientHandle>> {
        let mut v: Vec<_> = self.clients.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Waits until no connection is left or `limit` passes; returns how many are left.
    pub fn wait_empty(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut g = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        while !g.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = self.changed.wait_timeout(g, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        g.len()
    }
}

/// Stops the accept loop: from a signal, from SHUTDOWN, from anywhere.
#[derive(Default)]
pub struct Stopper {
    stopping: AtomicBool,
    listener_fd: AtomicI32,
}

impl Stopper {
    pub fn set_listener(&self, fd: i32) {
        self.listener_fd.store(fd, Ordering::Release);
    }

    pub fn stop(&self) {
        if !self.stopping.swap(true, Ordering::AcqRel) {
            let fd = self.listener_fd.load(Ordering::Acquire);
            if fd > 0 {
                // Wakes the blocked accept() (it fails with EINVAL); the socket is closed later
                // by its owner.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
        }
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

pub struct Shared {
    pub db: Db,
    pub cfg: Config,
    pub stats: Counters,
    pub reg: Arc<Registry>,
    pub stopper: Arc<Stopper>,
    pub next_id: AtomicU64,
    pub started: Instant,
    pub run_id: String,
    pub last_save_unix: AtomicU64,
    pub merge_running: Arc<AtomicBool>,
    /// Whether the last BGREWRITEAOF merge succeeded.
    pub merge_ok: AtomicBool,
    pub merge_thread: Mutex<Option<JoinHandle<()>>>,
    /// Taken for reading by every write command and for writing by EXEC, so that no other
    /// client's write lands between EXEC's commands (or between its WATCH check, its reads and
    /// its commit). Readers are not held up, and never see part of an EXEC: its writes go to an
    /// overlay that is committed as one batch. While EXEC holds it, other clients' writes wait.
    /// One per server: the tests run many servers in one process, and one's EXEC must not send
    /// another's writes to a worker.
    pub exec_gate: RwLock<()>,
    /// Tests hold it to keep the syncer's fsyncs from starting (`syncer.rs`).
    #[cfg(test)]
    pub sync_hold: Mutex<()>,
}

impl Shared {
    pub fn new(db: Db, cfg: Config, stopper: Arc<Stopper>) -> Shared {
        Shared {
            db,
            cfg,
            stats: Counters::default(),
            reg: Arc::new(Registry::default()),
            stopper,
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            run_id: run_id(),
            last_save_unix: AtomicU64::new(unix_secs()),
            merge_running: Arc::new(AtomicBool::new(false)),
            merge_ok: AtomicBool::new(true),
            merge_thread: Mutex::new(None),
            exec_gate: RwLock::new(()),
            #[cfg(test)]
            sync_hold: Mutex::new(()),
        }
    }

    pub fn add(&self, t: &mut Tally, net_in: u64, net_out: u64, errors: u64) {
        let s = &self.stats;
        for (c, v) in [
            (&s.commands, t.commands),
            (&s.hits, t.hits),
            (&s.misses, t.misses),
            (&s.dirty, t.dirty),
            (&s.net_in, net_in),
            (&s.net_out, net_out),
            (&s.errors, errors),
        ] {
            if v != 0 {
                c.fetch_add(v, Ordering::Relaxed);
            }
        }
        *t = Tally::default();
    }
}

pub fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// 40 hex digits, different for every start (std's per-process random hash keys and the time).
fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut x = std::collections::hash_map::RandomState::new().build_hasher().finish() ^ unix_nanos();
    let mut s = String::with_capacity(40);
    while s.len() < 40 {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        s.push_str(&format!("{z:016x}"));
    }
    s.truncate(40);
    s
}
