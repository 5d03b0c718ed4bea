//! The syncer: one thread per server that makes durable writes durable. An I/O thread appends a
//! durable write without waiting (a deferred commit, docs/DESIGN.md section 5.15), parks the
//! connection with its ticket and asks the syncer for it ([`Syncer::want`]); the syncer leads a
//! group fdatasync of everything appended so far, then wakes the I/O threads that asked
//! ([`IoHandle::synced`]), which answer each parked connection whose ticket is now durable (or
//! failed). Writes appended while an fsync runs wait for the next one, so one fsync serves every
//! connection that wrote meanwhile, however many there are, with no thread per waiting write.
//! Before an fsync the syncer waits (briefly, see `regroup.rs`) for the clients it just
//! answered to write again, so that they share one fsync with those that wrote meanwhile.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bitgask::Ticket;

use super::event_loop::IoHandle;
use super::regroup::Regroup;
use super::state::Shared;

#[derive(Default)]
struct State {
    /// The highest ticket asked for.
    want: Option<Ticket>,
    /// The I/O threads to wake after the next fsync.
    homes: Vec<Arc<IoHandle>>,
    /// When the next fsync starts.
    regroup: Regroup,
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

    /// Asks for `t` to be made durable, and for `home` to be woken once it is (or failed);
    /// `parked` connections parked since the last ask.
    pub fn want(&self, t: Ticket, parked: u64, home: &Arc<IoHandle>) {
        let mut st = self.lock();
        st.want = st.want.max(Some(t));
        let was_idle = st.homes.is_empty();
        if !st.homes.iter().any(|h| Arc::ptr_eq(h, home)) {
            st.homes.push(Arc::clone(home));
        }
        // The syncer sleeps for want of work, or waits for more writes: wake it when this
        // brings either.
        let complete = st.regroup.asked(parked);
        if st.sleeping && (was_idle || complete) {
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
        let mut synced_at = Instant::now();
        while let Some((target, homes, mark)) = self.next(synced_at) {
            let started = Instant::now();
            if done < Some(target) {
                #[cfg(test)]
                let _held = sh.sync_hold.lock().unwrap_or_else(PoisonError::into_inner);
                // The outcome is each ticket's, read by the I/O threads: a failed fsync poisons
                // the handle, and every later wait fails at once.
                // The group is what was appended by now: the engine's leader does not wait for
                // more (the wait, if any, was this thread's).
                let _ = sh.db.wait_ticket_now(target);
                done = Some(target);
            }
            for h in homes {
                h.synced();
            }
            synced_at = Instant::now();
            self.lock().regroup.done(mark, synced_at - started);
        }
    }

    /// Once someone asked: the highest ticket asked for, who asked, and the group's mark, after
    /// the wait for the writes the group expects (counted from `synced_at`, the last fsync's end).
    fn next(&self, synced_at: Instant) -> Option<(Ticket, Vec<Arc<IoHandle>>, u64)> {
        let mut st = self.lock();
        let mut waited = false;
        loop {
            if st.homes.is_empty() {
                if st.stop {
                    return None;
                }
                st = self.sleep(st, None);
                continue;
            }
            let deadline = synced_at + st.regroup.budget();
            if st.regroup.waits() && !st.stop && Instant::now() < deadline {
                waited = true;
                st = self.sleep(st, Some(deadline));
                continue;
            }
            let mark = st.regroup.take(waited.then(|| synced_at.elapsed()));
            let homes = std::mem::take(&mut st.homes);
            return Some((st.want.expect("set with the homes"), homes, mark));
        }
    }

    /// Waits for a notification (or until `deadline`).
    fn sleep<'a>(&self, mut st: MutexGuard<'a, State>, deadline: Option<Instant>) -> MutexGuard<'a, State> {
        st.sleeping = true;
        st = match deadline {
            None => self.cv.wait(st).unwrap_or_else(PoisonError::into_inner),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                self.cv.wait_timeout(st, left).unwrap_or_else(PoisonError::into_inner).0
            }
        };
        st.sleeping = false;
        st
    }
}
