//! For the server's unit tests: a server state over a fresh database, without a socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::serve::state::{ClientHandle, ClientMeta, Shared, Stopper};
use crate::serve::ServeArgs;

/// A server state over a fresh database in the temporary directory (named by `tag` and `name`),
/// with `extra` flags, and a client handle for it.
pub fn shared(tag: &str, name: &str, extra: &[&str]) -> (Arc<Shared>, ClientHandle, PathBuf) {
    let dir = std::env::temp_dir().join(format!("bitgask-{tag}-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut flags = vec!["--dir", dir.to_str().unwrap(), "--no-sync", "--merge-interval-ms", "0"];
    flags.extend_from_slice(extra);
    let args = ServeArgs::from_flags(&flags).unwrap();
    let db = bitgask::Db::open(&dir, args.options().unwrap()).unwrap();
    let sh = Arc::new(Shared::new(db, args.config().unwrap(), Arc::new(Stopper::default())));
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let meta = Mutex::new(ClientMeta::default());
    let handle = ClientHandle { id: 1, addr, laddr: addr, created: Instant::now(), sock: None, meta };
    (sh, handle, dir)
}
