//! The syncer: one thread per server that makes durable writes durable. An I/O thread appends a
//! durable write without waiting (a deferred commit, docs/DESIGN.md section 5.15), parks the
//! connection with its ticket and asks the syncer for it ([`Syncer::want`]); the syncer leads a
//! group fdatasync of everything appended so far, then wakes the I/O threads that asked
//! ([`IoHandle::synced`]), which answer each parked connection whose ticket is now durable (or
//! failed). Writes appended while an fsync runs wait for the next one, so one fsync serves every
//! connection that wrote meanwhile, however many there are, with no thread per waiting write.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bitgask::Ticket;

use super::event_loop::IoHandle;
use super::state::Shared;

#[derive(Default)]
struct State {
    /// The highest ticket asked for.
    want: Option<Ticket>,
    /// The I/O threads to wake after the next fsync.
    homes: Vec<Arc<IoHandle>>,
    /// The syncer waits on the condition variable (only then is it notified: a write that
    /// arrives while an fsync runs costs no system call).
    sleeping: bool,
    stop: bool,
}

#[derive(Default)]
pub struct Syncer {
    st: Mutex<State>,
    cv: Condvar,
}

impl Syncer {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for `t` to be made durable, and for `home` to be woken once it is (or failed).
    pub fn want(&self, t: Ticket, home: &Arc<IoHandle>) {
        let mut st = self.lock();
        st.want = st.want.max(Some(t));
        if !st.homes.iter().any(|h| Arc::ptr_eq(h, home)) {
            st.homes.push(Arc::clone(home));
        }
        if st.sleeping {
            st.sleeping = false;
            self.cv.notify_one();
        }
    }

    /// Ends [`Syncer::run`] once nothing is asked for.
    pub fn stop(&self) {
        let mut st = self.lock();
        st.stop = true;
        self.cv.notify_one();
    }

    /// The syncer thread's loop, until [`Syncer::stop`].
    pub fn run(&self, sh: &Shared) {
        let mut done: Option<Ticket> = None;
        while let Some((target, homes)) = self.next() {
            if done < Some(target) {
                #[cfg(test)]
                let _held = sh.sync_hold.lock().unwrap_or_else(PoisonError::into_inner);
                // The outcome is each ticket's, read by the I/O threads: a failed fsync poisons
                // the handle, and every later wait fails at once.
                let _ = sh.db.wait_ticket(target);
                done = Some(target);
            }
            for h in homes {
                h.synced();
            }
        }
    }

    /// The highest ticket asked for and who asked, once someone has.
    fn next(&self) -> Option<(Ticket, Vec<Arc<IoHandle>>)> {
        let mut st = self.lock();
        loop {
            if !st.homes.is_empty() {
                let homes = std::mem::take(&mut st.homes);
                return Some((st.want.expect("set with the homes"), homes));
            }
            if st.stop {
                return None;
            }
            st.sleeping = true;
            st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
            st.sleeping = false;
        }
    }
}
