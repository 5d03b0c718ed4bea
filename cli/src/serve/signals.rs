//! SIGINT/SIGTERM: blocked in every thread (the mask is set before any thread starts and is
//! inherited), and taken by one thread with `sigwait`, which starts the graceful stop. A second
//! signal while stopping exits at once.

use std::sync::Arc;

use super::state::Stopper;

fn stop_signals() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards.
pub fn block() {
    let set = stop_signals();
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Starts the thread that waits for the signals.
pub fn spawn_waiter(stopper: Arc<Stopper>) -> std::io::Result<()> {
    std::thread::Builder::new().name("bitgask-signals".into()).spawn(move || {
        let set = stop_signals();
        let mut first = true;
        loop {
            let mut sig = 0;
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
            if first {
                eprintln!("bitgask serve: {name}: finishing commands in flight, syncing, closing");
                stopper.stop();
                first = false;
            } else {
                eprintln!("bitgask serve: second {name}: exiting now (writes are in the page cache)");
                std::process::exit(1);
            }
        }
    })?;
    Ok(())
}
