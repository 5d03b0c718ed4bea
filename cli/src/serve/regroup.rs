//! How long the syncer waits before its next group fsync (docs/DESIGN.md section 5.15).
//!
//! Without a wait, the syncer starts the next fsync as soon as one ends, with the writes that
//! arrived while it ran: the clients it just answered are still reading their replies, and
//! their next writes wait for the fsync after. The connections split into two halves that take
//! turns, and each fsync serves half of them. So after an fsync the syncer first waits for as
//! many parked writes as the last round brought (the group plus what parked during its fsync,
//! which is how many clients are busy writing). The wait ends as soon as they are there, and at
//! the latest after a budget that follows how long the answered clients took to come back
//! (twice the moving average, within [`MIN_WAIT`] and [`MAX_WAIT`]), and never longer than two
//! fsyncs: a client that misses the group loses one fsync, while the wait holds up every client
//! that came early, so on storage whose fsync costs nothing the syncer hardly waits. A lone
//! client expects only itself and never waits; a client that stops writing costs one budget,
//! after which the expectation follows what came. The wait changes when an fsync starts, never what it covers:
//! no reply to a durable write is sent before its fsync.
//!
//! The engine's own leader wait (section 5.3) is bounded by one fsync's duration; a server's
//! clients take longer to come back than that (their replies cross the network stack and the
//! client's event loop), which is why the server has this wait instead: the syncer then skips
//! the engine's (`Db::wait_ticket_now`), which would only lengthen a round whose group differs
//! from what the engine expects.

use std::time::Duration;

/// The shortest budget however fast clients come back (unless fsyncs are faster still).
pub const MIN_WAIT: Duration = Duration::from_micros(100);
/// The longest the syncer waits, however slow the clients are.
pub const MAX_WAIT: Duration = Duration::from_millis(1);
/// No group waits for more writes than this.
const MAX_EXPECT: u64 = 4096;

/// The syncer's wait state (lives under the syncer's mutex).
#[derive(Debug, Default)]
pub struct Regroup {
    /// Durable writes parked (asked for), ever.
    asked: u64,
    /// `asked` when the last group was taken.
    taken: u64,
    /// How many parked writes the next group waits for (0: none, before the first fsync).
    expect: u64,
    /// Moving average of how long, after an fsync, the expected writes took to come.
    return_ns: u64,
    /// Moving average of the fsyncs' duration.
    fsync_ns: u64,
}

/// One step of a moving average over about eight samples (the first sample starts it).
fn average(avg: u64, sample: Duration) -> u64 {
    let ns = u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX);
    if avg == 0 {
        ns
    } else {
        avg / 8 * 7 + ns / 8
    }
}

impl Regroup {
    /// `n` more writes parked; true when that completes what the waiting syncer waits for.
    pub fn asked(&mut self, n: u64) -> bool {
        let before = self.asked;
        self.asked += n;
        let want = self.want();
        before < want && self.asked >= want
    }

    /// The `asked` count the next group waits for.
    fn want(&self) -> u64 {
        self.taken + self.expect
    }

    /// Whether the next group should wait (the expected writes are not all there).
    pub fn waits(&self) -> bool {
        self.asked < self.want()
    }

    /// The longest the next group waits, counted from the end of the last fsync: never more
    /// than two fsyncs, since a late client that misses the group loses one fsync, while the
    /// wait holds up everyone who came early.
    pub fn budget(&self) -> Duration {
        let back = Duration::from_nanos(self.return_ns.saturating_mul(2)).clamp(MIN_WAIT, MAX_WAIT);
        back.min(Duration::from_nanos(self.fsync_ns.saturating_mul(2)))
    }

    /// The syncer takes every write parked so far into its group, after waiting `waited` for
    /// them (the whole budget when they did not all come; `None`: they were there already);
    /// returns the mark to hand to [`Regroup::done`].
    pub fn take(&mut self, waited: Option<Duration>) -> u64 {
        if let Some(waited) = waited {
            self.return_ns = average(self.return_ns, waited.min(MAX_WAIT));
        }
        self.asked
    }

    /// The group taken at `mark` is synced (its fsync took `fsync`) and its clients woken: the
    /// next group expects what this round brought (the group and what parked during its fsync).
    pub fn done(&mut self, mark: u64, fsync: Duration) {
        self.fsync_ns = average(self.fsync_ns, fsync);
        self.expect = (self.asked - self.taken).clamp(1, MAX_EXPECT);
        self.taken = mark;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACK: Duration = Duration::from_micros(300);
    const FSYNC: Duration = Duration::from_millis(10);

    /// One round: `n` writes park, the syncer takes them (after `waited`), then `late` park
    /// during the fsync. Returns whether the group would have waited.
    fn round(r: &mut Regroup, n: u64, late: u64) -> bool {
        r.asked(n);
        let waits = r.waits();
        let mark = r.take(waits.then_some(BACK));
        r.asked(late);
        r.done(mark, FSYNC);
        waits
    }

    #[test]
    fn the_first_group_does_not_wait() {
        let mut r = Regroup::default();
        r.asked(3);
        assert!(!r.waits());
    }

    #[test]
    fn a_lone_client_never_waits() {
        let mut r = Regroup::default();
        for _ in 0..10 {
            assert!(!round(&mut r, 1, 0));
        }
    }

    #[test]
    fn halves_taking_turns_merge_into_one_group() {
        let mut r = Regroup::default();
        round(&mut r, 25, 25);
        // The 25 that parked during the fsync are there; the 25 just answered are not yet.
        assert!(r.waits());
        assert!(!r.asked(24));
        assert!(r.asked(1), "the last of the fifty completes the group");
        assert!(!r.waits());
        assert!(!r.asked(1), "woken once");
    }

    #[test]
    fn a_client_that_stopped_costs_one_wait() {
        let mut r = Regroup::default();
        round(&mut r, 50, 0);
        assert!(round(&mut r, 49, 0), "the 50th does not come: one wait");
        assert!(!round(&mut r, 49, 0), "then the group expects 49");
    }

    #[test]
    fn a_lone_client_left_of_a_crowd_waits_once_then_never() {
        let mut r = Regroup::default();
        for _ in 0..5 {
            round(&mut r, 50, 0);
        }
        assert!(round(&mut r, 1, 0), "the crowd is gone: one wait, at most MAX_WAIT");
        for _ in 0..10 {
            assert!(!round(&mut r, 1, 0));
        }
    }

    #[test]
    fn the_budget_follows_the_returns_within_its_bounds() {
        let mut r = Regroup::default();
        assert_eq!(r.budget(), Duration::ZERO, "no fsync timed yet");
        round(&mut r, 2, 0);
        for _ in 0..50 {
            // The first client is back at once, the second after BACK.
            r.asked(1);
            assert!(r.waits());
            assert!(r.asked(1));
            let mark = r.take(Some(BACK));
            r.done(mark, FSYNC);
        }
        assert_eq!(r.budget(), 2 * BACK);
        round(&mut r, 1, 0);
        for _ in 0..4 {
            round(&mut r, 1, 0);
        }
        assert_eq!(r.budget(), 2 * BACK, "groups that need no wait time nothing");
        for _ in 0..50 {
            r.take(Some(Duration::from_secs(1)));
        }
        assert_eq!(r.budget(), MAX_WAIT, "capped however slow the clients");
        for _ in 0..100 {
            r.take(Some(Duration::ZERO));
        }
        assert_eq!(r.budget(), MIN_WAIT);
    }

    #[test]
    fn the_budget_is_at_most_two_fsyncs() {
        let mut r = Regroup::default();
        r.asked(1);
        let mark = r.take(None);
        r.done(mark, Duration::from_micros(20));
        for _ in 0..10 {
            r.take(Some(BACK));
        }
        assert_eq!(r.budget(), Duration::from_micros(40), "fsyncs cost less than the wait would");
    }

    #[test]
    fn no_group_waits_for_more_than_the_cap() {
        let mut r = Regroup::default();
        round(&mut r, 10_000, 0);
        r.asked(MAX_EXPECT - 1);
        assert!(r.waits());
        r.asked(1);
        assert!(!r.waits());
    }
}
