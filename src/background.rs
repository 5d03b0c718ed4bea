//! Background threads (interval flusher, hint writer) and the signal that wakes and stops them.

use std::collections::VecDeque;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A stop flag plus a queue of work items, with a condition variable to wait on either.
pub struct WorkQueue<T> {
    state: Mutex<(bool, VecDeque<T>)>,
    cv: Condvar,
}

impl<T> Default for WorkQueue<T> {
    fn default() -> Self {
        WorkQueue { state: Mutex::new((false, VecDeque::new())), cv: Condvar::new() }
    }
}

impl<T> WorkQueue<T> {
    pub fn push(&self, item: T) {
        self.state.lock().1.push_back(item);
        self.cv.notify_all();
    }

    pub fn stop(&self) {
        self.state.lock().0 = true;
        self.cv.notify_all();
    }

    /// Next item, or `None` once stopped and drained.
    pub fn pop(&self) -> Option<T> {
        let mut s = self.state.lock();
        loop {
            if let Some(item) = s.1.pop_front() {
                return Some(item);
            }
            if s.0 {
                return None;
            }
            self.cv.wait(&mut s);
        }
    }

    /// Sleeps for `period` unless stopped first; returns false once stopped.
    pub fn sleep(&self, period: Duration) -> bool {
        let mut s = self.state.lock();
        if !s.0 {
            self.cv.wait_for(&mut s, period);
        }
        !s.0
    }
}

pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new().name(name.into()).spawn(f).expect("spawn background thread")
}
