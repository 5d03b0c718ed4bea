//! The worker pool: threads that run the commands that may wait (EXEC of durable writes,
//! FLUSHDB, SAVE, ...: [`may_wait`](super::commands::may_wait), and a durable write that finds
//! the writer mutex or the EXEC gate taken; other durable writes are parked on their I/O thread
//! instead, see `syncer.rs`), so that an I/O thread never stalls its other connections.
//!
//! A connection goes to a worker whole, runs every complete command it has buffered, writes
//! what its socket takes of the replies, and goes back to its I/O thread. Threads are started
//! when a job finds none idle, up to [`MAX_WORKERS`], and end after [`IDLE_EXIT`] without
//! work. Concurrent durable writes on workers wait in the engine's group commit together.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::event_loop::IoHandle;
use super::state::Shared;

/// Most worker threads: the most durable writes sharing one fsync.
pub const MAX_WORKERS: usize = 256;
const IDLE_EXIT: Duration = Duration::from_secs(10);
/// A worker's stack: commands keep little on the stack.
const WORKER_STACK: usize = 256 << 10;

/// A connection whose next command may wait, and where it goes back to.
pub struct Job {
    pub sh: Arc<Shared>,
    pub conn: Box<Conn>,
    pub slot: usize,
    pub home: Arc<IoHandle>,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    live: usize,
    closed: bool,
}

pub struct Pool {
    st: Mutex<State>,
    /// Workers wait for jobs here; `shutdown` waits here for the last worker to leave.
    cv: Condvar,
    gone: Condvar,
}

impl Pool {
    pub fn new() -> Arc<Pool> {
        Arc::new(Pool { st: Mutex::new(State::default()), cv: Condvar::new(), gone: Condvar::new() })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a job, waking an idle worker or starting one.
    pub fn submit(self: &Arc<Self>, job: Job) {
        let mut st = self.lock();
        st.jobs.push_back(job);
        if st.idle >= st.jobs.len() {
            self.cv.notify_one();
            return;
        }
        if st.live >= MAX_WORKERS {
            return; // a busy worker takes it next
        }
        st.live += 1;
        drop(st);
        let me = Arc::clone(self);
        let spawned =
            std::thread::Builder::new().name("bitgask-worker".into()).stack_size(WORKER_STACK).spawn(move || me.work());
        if let Err(e) = spawned {
            eprintln!("bitgask serve: cannot start a worker thread: {e}");
            let mut st = self.lock();
            st.live -= 1;
            if st.live == 0 {
                // Nobody would ever run it: run it here.
                let jobs: Vec<Job> = st.jobs.drain(..).collect();
                drop(st);
                for job in jobs {
                    self.run(job);
                }
            }
        }
    }

    fn work(self: Arc<Self>) {
        while let Some(job) = self.next() {
            self.run(job);
        }
    }

    fn run(&self, mut job: Job) {
        if catch_unwind(AssertUnwindSafe(|| job.conn.run_on_worker(&job.sh))).is_err() {
            job.conn.kill();
        }
        let Job { sh, conn, slot, home } = job;
        // The shared state is let go of before the connection goes back: once every
        // connection is closed, no worker holds it.
        drop(sh);
        home.give_back(slot, conn);
    }

    /// The next job, or None when the worker is to end (idle too long, or the pool closed).
    fn next(&self) -> Option<Job> {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.jobs.pop_front() {
                return Some(job);
            }
            if st.closed {
                break;
            }
            st.idle += 1;
            let (g, to) = self.cv.wait_timeout(st, IDLE_EXIT).unwrap_or_else(PoisonError::into_inner);
            st = g;
            st.idle -= 1;
            if to.timed_out() && st.jobs.is_empty() {
                break;
            }
        }
        st.live -= 1;
        self.gone.notify_all();
        None
    }

    /// Ends the workers once the queue is empty; waits up to `limit` for them. Returns how
    /// many are still running (stuck in the engine).
    pub fn shutdown(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut st = self.lock();
        st.closed = true;
        self.cv.notify_all();
        while st.live > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self.gone.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        st.live
    }
}
