//! How long a group commit's leader waits before its fdatasync (docs/DESIGN.md section 5.3).
//!
//! Without a wait, the leader role goes to the first writer back after a group's fsync, which
//! syncs the one or two writes appended meanwhile while the rest of the writers the group just
//! released are still appending: small and large groups alternate. So the leader first waits
//! for as many queued writes as the last round brought: the last group plus the writes that
//! queued while its fsync ran, which is how many writers are busy. The wait ends as soon as
//! they are there, and at the latest after about one fsync's duration, so a writer that stopped
//! writing costs one such wait, after which the expectation follows what came. The write that
//! completes the group takes it over ([`Gather::take_over`]) and runs the fsync itself. A lone writer
//! expects only itself and never waits. The wait changes when an fsync starts, never what it
//! covers: nothing is acknowledged before its fsync, and publishing stays in append order.

use std::time::Duration;

/// The longest a leader waits, however slow the fsyncs are.
const MAX_WAIT: Duration = Duration::from_millis(2);
/// No group waits for more writes than this.
const MAX_EXPECT: u64 = 4096;

/// The leader's wait state; lives under the writer mutex.
#[derive(Debug)]
pub(super) struct Gather {
    /// Writes that have joined the pending queue (a batch is one), ever.
    queued: u64,
    /// `queued` when the last group leader took its target.
    taken: u64,
    /// How many queued writes the next group waits for.
    expect: u64,
    /// Moving average of the groups' fsync duration: the longest a leader waits.
    fsync_ns: u64,
    /// The `queued` count at which a waiting leader must be woken.
    wake_at: Option<u64>,
    /// Groups taken over from their waiting leader by the write that completed them, ever.
    taken_over: u64,
}

impl Default for Gather {
    fn default() -> Gather {
        Gather { queued: 0, taken: 0, expect: 1, fsync_ns: 0, wake_at: None, taken_over: 0 }
    }
}

impl Gather {
    /// A write joined the pending queue; true when the waiting leader now has what it waits for.
    pub(super) fn joined(&mut self) -> bool {
        self.queued += 1;
        if self.wake_at.is_some_and(|at| self.queued >= at) {
            self.wake_at = None;
            return true;
        }
        false
    }

    /// The `queued` count the leader should wait for (and be woken at), or `None` to sync now:
    /// when no queued write is waiting (an explicit sync with nothing to gather) or the
    /// expected writes are all there.
    pub(super) fn wait_for(&mut self) -> Option<u64> {
        let want = self.taken + self.expect;
        let wait = self.queued > self.taken && self.queued < want && self.fsync_ns > 0;
        self.wake_at = wait.then_some(want);
        self.wake_at
    }

    /// The longest the leader waits in all.
    pub(super) fn budget(&self) -> Duration {
        Duration::from_nanos(self.fsync_ns).min(MAX_WAIT)
    }

    /// The leader stops waiting and takes everything queued so far into its group; returns
    /// the mark to hand to [`Gather::done`].
    pub(super) fn take(&mut self) -> u64 {
        self.wake_at = None;
        self.queued
    }

    /// The write whose [`Gather::joined`] said it completes the group takes the group over
    /// from the waiting leader (and with it the fsync): returns the mark as [`Gather::take`].
    pub(super) fn take_over(&mut self) -> u64 {
        self.taken_over += 1;
        self.take()
    }

    /// How many groups were taken over so far: a waiting leader that sees this change has
    /// nothing left to do.
    pub(super) fn taken_over(&self) -> u64 {
        self.taken_over
    }

    /// The group taken at `mark` is durable and published, its fsync took `fsync`: the next
    /// group expects what this round brought (the group and what queued during its fsync).
    pub(super) fn done(&mut self, mark: u64, fsync: Duration) {
        self.expect = (self.queued - self.taken).clamp(1, MAX_EXPECT);
        self.taken = mark;
        let ns = u64::try_from(fsync.as_nanos()).unwrap_or(u64::MAX);
        self.fsync_ns =
            if self.fsync_ns == 0 { ns } else { (self.fsync_ns / 8).saturating_mul(7).saturating_add(ns / 8) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FSYNC: Duration = Duration::from_micros(200);

    /// One round: `n` writes join, the leader takes them, then `late` join during the fsync.
    fn round(g: &mut Gather, n: u64, late: u64) -> Option<u64> {
        for _ in 0..n {
            g.joined();
        }
        let wait = g.wait_for();
        let mark = g.take();
        for _ in 0..late {
            g.joined();
        }
        g.done(mark, FSYNC);
        wait
    }

    #[test]
    fn a_lone_writer_never_waits() {
        let mut g = Gather::default();
        for _ in 0..10 {
            assert_eq!(round(&mut g, 1, 0), None);
        }
    }

    #[test]
    fn the_first_group_does_not_wait_before_an_fsync_was_timed() {
        let mut g = Gather { expect: 16, ..Gather::default() };
        g.joined();
        assert_eq!(g.wait_for(), None);
    }

    #[test]
    fn after_a_round_of_sixteen_the_leader_waits_for_sixteen() {
        let mut g = Gather::default();
        round(&mut g, 14, 2);
        g.joined(); // the first writer back
        assert_eq!(g.wait_for(), Some(14 + 16), "the two late ones are queued already");
    }

    #[test]
    fn the_write_that_completes_the_group_wakes_the_leader_once() {
        let mut g = Gather::default();
        round(&mut g, 4, 0);
        g.joined();
        assert_eq!(g.wait_for(), Some(8));
        assert!(!g.joined());
        assert!(!g.joined());
        assert!(g.joined(), "the fourth write completes the group");
        assert!(!g.joined(), "the leader was woken already");
    }

    #[test]
    fn the_write_that_completes_the_group_takes_it_over_up_to_itself() {
        let mut g = Gather::default();
        round(&mut g, 4, 0);
        g.joined();
        let before = g.taken_over();
        assert!(g.wait_for().is_some());
        for _ in 0..2 {
            g.joined();
        }
        assert!(g.joined());
        assert_eq!(g.take_over(), 8, "the group holds every queued write, the last one too");
        assert_eq!(g.taken_over(), before + 1, "the waiting leader can tell");
        assert!(!g.joined(), "no leader waits any more");
    }

    #[test]
    fn an_explicit_sync_with_no_queued_write_does_not_wait() {
        let mut g = Gather::default();
        round(&mut g, 8, 0);
        assert_eq!(g.wait_for(), None);
    }

    #[test]
    fn a_group_that_timed_out_lowers_the_expectation() {
        let mut g = Gather::default();
        round(&mut g, 16, 0);
        assert_eq!(round(&mut g, 5, 0), Some(32), "waited for 16, five came");
        g.joined();
        assert_eq!(g.wait_for(), Some(21 + 5));
    }

    #[test]
    fn the_budget_follows_the_fsyncs_and_is_capped() {
        let mut g = Gather::default();
        assert_eq!(g.budget(), Duration::ZERO);
        let mark = g.take();
        g.done(mark, Duration::from_micros(400));
        assert_eq!(g.budget(), Duration::from_micros(400));
        let mark = g.take();
        g.done(mark, Duration::from_secs(1));
        assert_eq!(g.budget(), MAX_WAIT);
    }
}
