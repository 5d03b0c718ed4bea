//! `bitgask serve`: a Redis-protocol (RESP2 and RESP3) server over one bitgask database.
//!
//! # Threading model: a few event loops, and workers for what may wait
//!
//! The main thread accepts connections and gives each to the least loaded of `--io-threads`
//! I/O threads (one per core by default). An I/O thread runs a mio event loop (epoll,
//! edge-triggered) over its connections: when a socket has input it reads it into the
//! connection's buffer, parses every complete command in it without copying arguments, runs
//! them against the shared `Db`, and writes all their replies with one `write`. Reads are a
//! hash lookup and a `pread` or a memory-mapped copy, a few microseconds: cheaper to run inline
//! than to hand off. A thread serves many clients with few context switches, and pipelining
//! amortises the per-batch costs (one wake-up, one read, one write) over the batch's commands.
//!
//! A command that may wait for something slower than memory (a durable write waiting for its
//! group fsync, EXEC of such writes, FLUSHDB, SAVE, BGREWRITEAOF: `commands::may_wait`) is not
//! run on the I/O thread: the connection goes whole to a worker thread (`worker`), which runs
//! it and whatever the connection has buffered after it, writes the replies, and hands the
//! connection back. Its I/O thread goes on serving its other connections meanwhile. The
//! workers (started on demand, up to 256) give the engine as many concurrent durable writers
//! as there are clients writing, and the engine gives them one fdatasync (group commit).
//!
//! There is no server-wide lock on the command path (counters are folded in once per batch).
//!
//! # Memory bounds
//!
//! Declared lengths (`*<n>`, `$<n>`) are checked against the limits before they influence
//! anything; the read buffer grows only as bytes arrive, doubling up to the query buffer
//! limit; replies are written out every 64 KiB, and while a client does not read them (its
//! socket takes no more) its connection runs no more commands, so a client that never reads
//! holds its own buffers and nobody else's time; it is closed when its replies make no
//! progress for `--timeout` seconds (60 when no timeout is set). What a connection holds in all
//! (read buffer, arguments, replies, MULTI queue, KEYS/SCAN results, names) is held to
//! `--max-client-memory` (1 MiB before AUTH); over it the connection is closed with a log
//! line. An idle connection holds no buffers (its I/O thread lends them while it is served).
//!
//! # Modules
//!
//! `resp` parses requests, `reply` encodes replies, `client` runs the commands of a buffer,
//! `conn` does a connection's I/O, `event_loop` runs an I/O thread, `worker` the pool for
//! commands that may wait, `budget` adds up what a connection holds, `commands` dispatches
//! and implements the commands, `glob` matches patterns, `info` renders INFO, `state` holds
//! what connections share, `server` accepts and drains, `signals` waits for SIGINT/SIGTERM.
//! The protocol modules are public so the fuzz targets drive them directly.

pub mod budget;
pub mod client;
pub mod commands;
mod conn;
mod event_loop;
pub mod glob;
mod info;
mod read_ahead;
mod regroup;
pub mod reply;
pub mod resp;
mod server;
mod signals;
pub mod state;
mod syncer;
#[cfg(test)]
mod test_state;
mod worker;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bitgask::{Codec, Db, Options};

use crate::commands::db_args::{Defaults, OptionFlags};
use crate::commands::error::CliError;
use resp::Limits;
use state::{Config, Shared, Stopper};

/// Serve a database over the Redis protocol (RESP2/RESP3).
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Database directory (created if missing).
    #[arg(short, long, env = "BITGASK_DIR", value_name = "DIR")]
    pub dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; the log line names it). Any address but
    /// loopback needs --requirepass, or --no-auth to accept unauthenticated clients from the
    /// network.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:6380")]
    pub addr: String,
    /// Password clients must give (AUTH or HELLO AUTH) before any other command.
    #[arg(long, value_name = "PASS", conflicts_with = "requirepass_file")]
    pub requirepass: Option<String>,
    /// Read the password from the first line of this file (keeps it out of `ps`).
    #[arg(long, value_name = "FILE")]
    pub requirepass_file: Option<PathBuf>,
    /// Allow listening on a non-loopback address without a password.
    #[arg(long)]
    pub no_auth: bool,
    /// Most simultaneous clients; more are refused with an error [default: 10000, lowered to
    /// what the descriptor limit allows].
    #[arg(long, value_name = "N")]
    pub maxclients: Option<usize>,
    /// Threads running the event loops that serve the connections [default: one per core].
    #[arg(long, value_name = "N")]
    pub io_threads: Option<usize>,
    /// Close a client idle for this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub timeout: u64,
    /// Largest command (all its arguments) one client may send, in bytes [default: 64 MiB, or
    /// the largest value plus 1 MiB if that is more].
    #[arg(long, value_name = "BYTES")]
    pub max_query_buffer: Option<usize>,
    /// Most memory one client may hold (read buffer, arguments, pending replies, MULTI queue,
    /// KEYS/SCAN results, names); a client over it is closed, with a log line [default: twice
    /// the query buffer limit plus the largest value plus 32 MiB: 192 MiB].
    #[arg(long, value_name = "BYTES")]
    pub max_client_memory: Option<usize>,

    /// fdatasync before each write is acknowledged (the default; concurrent clients share
    /// fsyncs).
    #[arg(long, conflicts_with = "no_sync")]
    pub sync_on_put: bool,
    #[command(flatten)]
    pub flags: OptionFlags,
}

/// What serve does with option flags left unset: with --no-sync, flush every second; merge in
/// the background as the library does by default.
const SERVE_DEFAULTS: Defaults = Defaults { merge_interval_ms: None, sync_interval_ms_without_sync: Some(1000) };

const DEFAULT_MAXCLIENTS: usize = 10_000;
const MAX_IO_THREADS: usize = 64;

/// Limits for clients that have not authenticated yet (as Redis: small commands only).
const UNAUTH_LIMITS: Limits = Limits { max_args: 16, max_bulk: 16 << 10, max_inline: 16 << 10 };

/// What a client that has not authenticated may hold: its largest command (16 arguments of
/// 16 KiB) in a read buffer that doubles to 512 KiB, and a reply buffer flushed at 64 KiB.
const UNAUTH_CLIENT_MEMORY: usize = 1 << 20;

/// The smallest `--max-client-memory`: the buffers an idle connection starts with, and room.
const MIN_CLIENT_MEMORY: usize = 256 << 10;

/// `bitgask serve`'s flags on their own (for [`ServeArgs::from_flags`]).
#[derive(clap::Parser)]
#[command(name = "serve", no_binary_name = true)]
struct FlagsOnly {
    #[command(flatten)]
    args: ServeArgs,
}

impl ServeArgs {
    /// Parses `bitgask serve`'s flags (without the command names): for tests and fuzz targets
    /// that need the configuration a server would run with.
    pub fn from_flags(flags: &[&str]) -> Result<ServeArgs, String> {
        use clap::Parser;
        FlagsOnly::try_parse_from(flags).map(|f| f.args).map_err(|e| e.to_string())
    }

    fn resolve_addr(&self) -> Result<SocketAddr, String> {
        let addrs: Vec<SocketAddr> =
            self.addr.to_socket_addrs().map_err(|e| format!("--addr {}: {e}", self.addr))?.collect();
        let first = *addrs.first().ok_or_else(|| format!("--addr {}: no address", self.addr))?;
        Ok(first)
    }

    fn password(&self) -> Result<Option<Vec<u8>>, String> {
        let pass = match (&self.requirepass, &self.requirepass_file) {
            (Some(p), _) => Some(p.clone().into_bytes()),
            (None, Some(f)) => {
                let text =
                    std::fs::read_to_string(f).map_err(|e| format!("--requirepass-file {}: {e}", f.display()))?;
                Some(text.lines().next().unwrap_or("").as_bytes().to_vec())
            }
            (None, None) => None,
        };
        if pass.as_ref().is_some_and(|p| p.is_empty()) {
            return Err("the password must not be empty".into());
        }
        Ok(pass)
    }

    /// The database options the flags ask for.
    pub fn options(&self) -> Result<Options, String> {
        self.flags.options(SERVE_DEFAULTS).map_err(|b| format!("{}: {}", b.flag, b.err))
    }

    /// The server configuration the flags ask for (checked).
    pub fn config(&self) -> Result<Config, String> {
        let addr = self.resolve_addr()?;
        let requirepass = self.password()?;
        if !addr.ip().is_loopback() && requirepass.is_none() && !self.no_auth {
            return Err(format!(
                "refusing to listen on {addr} without a password: anyone who can reach it could read and \
                 delete every key. Set --requirepass (or --requirepass-file), or pass --no-auth to accept that"
            ));
        }
        if self.maxclients == Some(0) {
            return Err("--maxclients must be at least 1".into());
        }
        let io_threads = match self.io_threads {
            Some(0) => return Err("--io-threads must be at least 1".into()),
            Some(n) if n > MAX_IO_THREADS => return Err(format!("--io-threads must be at most {MAX_IO_THREADS}")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_IO_THREADS),
        };
        let f = &self.flags;
        let max_key_size = f.max_key_size.unwrap_or(64 << 10);
        let max_value_size = f.max_value_size.unwrap_or(32 << 20);
        let max_bulk = max_key_size.max(max_value_size) as usize;
        let max_query = self.max_query_buffer.unwrap_or((64usize << 20).max(max_bulk + (1 << 20)));
        if max_query < 64 << 10 {
            return Err("--max-query-buffer must be at least 65536".into());
        }
        let client_memory = self
            .max_client_memory
            .unwrap_or((2 * max_query).saturating_add(max_value_size as usize).saturating_add(32 << 20));
        if client_memory < MIN_CLIENT_MEMORY {
            return Err(format!("--max-client-memory must be at least {MIN_CLIENT_MEMORY}"));
        }
        let timeout = (self.timeout > 0).then(|| Duration::from_secs(self.timeout));
        Ok(Config {
            addr,
            dir: self.dir.clone(),
            requirepass,
            maxclients: self.maxclients.unwrap_or(DEFAULT_MAXCLIENTS),
            io_threads,
            timeout,
            write_stall: timeout.unwrap_or(Duration::from_secs(60)),
            limits: Limits { max_args: 1 << 20, max_bulk, max_inline: 64 << 10 },
            unauth_limits: UNAUTH_LIMITS,
            max_query,
            client_memory,
            unauth_client_memory: UNAUTH_CLIENT_MEMORY.min(client_memory),
            sync_on_put: !f.no_sync,
            sync_interval_ms: f.sync_interval(SERVE_DEFAULTS).unwrap_or(0),
            merge_interval_ms: f.merge_interval(SERVE_DEFAULTS).unwrap_or(600_000),
            compression: f.compression.map_or(Codec::None, Codec::from).name(),
            max_file_size: f.max_file_size.unwrap_or(64 << 20),
            max_key_size,
            max_value_size,
        })
    }
}

/// Raises the descriptor limit to its hard maximum and returns the soft limit now in force.
fn raise_nofile_limit() -> u64 {
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit { rlim_cur: rl.rlim_max.min(1 << 20), rlim_max: rl.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur as u64;
            }
        }
        rl.rlim_cur as u64
    }
}

/// Runs the server until SIGINT, SIGTERM or SHUTDOWN; then finishes the commands in flight,
/// syncs and closes the database. Errors carry the command's exit codes: flags (2), the
/// database's own (locked 4, corrupt 3), anything else (5).
pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let mut cfg = args.config().map_err(CliError::usage)?;
    let opts = args.options().map_err(CliError::usage)?;
    signals::block();
    // A descriptor per client, plus the database's and the event loops'.
    let nofile = raise_nofile_limit();
    let fit = nofile.saturating_sub(128) as usize;
    if cfg.maxclients > fit {
        if args.maxclients.is_some() {
            eprintln!(
                "bitgask serve: descriptor limit {nofile} fits {fit} clients; lowering --maxclients from {}",
                cfg.maxclients
            );
        }
        cfg.maxclients = fit.max(1);
    }
    // The port first: a server that cannot listen must not create (or recover) the database.
    let listener = server::bind(cfg.addr).map_err(|e| CliError::other(format!("listen on {}: {e}", cfg.addr)))?;
    let db = Db::open(&cfg.dir, opts).map_err(|e| CliError::from(e).context(format!("open {}", cfg.dir.display())))?;
    cfg.addr = listener.local_addr().map_err(|e| CliError::other(e.to_string()))?;
    let stopper = Arc::new(Stopper::default());
    {
        use std::os::fd::AsRawFd;
        stopper.set_listener(listener.as_raw_fd());
    }
    signals::spawn_waiter(stopper.clone()).map_err(|e| CliError::other(format!("signal thread: {e}")))?;
    let auth = if cfg.requirepass.is_some() { "password required" } else { "no password" };
    eprintln!(
        "bitgask serve: listening on {} (dir {}, {auth}, pid {})",
        cfg.addr,
        cfg.dir.display(),
        std::process::id()
    );
    let r = serve(Arc::new(Shared::new(db, cfg, stopper)), listener);
    if r.is_ok() {
        eprintln!("bitgask serve: stopped; database closed");
    }
    r.map_err(CliError::other)
}

/// Serves on `listener` until the stopper fires, then drains and closes the database.
fn serve(sh: Arc<Shared>, listener: std::net::TcpListener) -> Result<(), String> {
    let threads = match start_threads(&sh) {
        Ok(t) => t,
        Err(e) => {
            let _ = sh.db.sync();
            return Err(format!("cannot start the I/O threads: {e}"));
        }
    };
    server::accept_loop(&sh, &listener, &threads);
    drop(listener);
    server::drain(sh, threads)
}

/// The worker pool, the syncer and `--io-threads` event loops.
fn start_threads(sh: &Arc<Shared>) -> std::io::Result<server::Threads> {
    let pool = worker::Pool::new();
    let syncer = Arc::new(syncer::Syncer::default());
    let (sh2, s2) = (Arc::clone(sh), Arc::clone(&syncer));
    let sync_thread = std::thread::Builder::new().name("bitgask-syncer".into()).spawn(move || s2.run(&sh2))?;
    let mut io = Vec::new();
    for n in 0..sh.cfg.io_threads {
        match event_loop::spawn(Arc::clone(sh), Arc::clone(&pool), Arc::clone(&syncer), n) {
            Ok(t) => io.push(t),
            Err(e) => {
                syncer.stop();
                let _ = sync_thread.join();
                return Err(e);
            }
        }
    }
    Ok(server::Threads { io, pool, syncer, sync_thread })
}
