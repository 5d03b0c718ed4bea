//! Durable writes that are not waited for (docs/DESIGN.md section 5.15): an event loop appends
//! on its own thread inside [`Db::defer_commits`], keeps the [`Ticket`] it gets, and answers
//! its client once [`Db::ticket_outcome`] says the ticket is durable, while one syncer thread
//! does the group fsyncs ([`Db::wait_ticket`]). Every promise of a waited-for write holds: the
//! record is invisible to readers until its fsync, records become visible in append order, and
//! a failed fsync poisons the handle and fails the ticket with `Error::Io`.

use crate::db::Db;
use crate::error::Result;

/// A deferred write's place in the append order: its records (and every record appended
/// before them) are durable once a group commit passes it. Tickets of one handle are ordered:
/// waiting for the larger one waits for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

impl Ticket {
    /// The append sequence number it stands for (for logs and tests).
    pub fn seq(self) -> u64 {
        self.0
    }
}

impl Db {
    /// Runs `f`, in which every write of this handle on this thread that would wait for its
    /// group fsync returns as soon as it is appended instead (`Ok` meaning "appended and
    /// queued"). Returns what `f` returned and, when such a write was made, the ticket of the
    /// last one (`None`: nothing in `f` awaits a commit; its writes are visible already).
    ///
    /// Until the ticket is durable its records are invisible to `get` and friends, exactly as
    /// while a waiting writer waits; read-modify-writes (`update`, `delete`, transactions) see
    /// them, as they see a waiting writer's. Writes may still wait for the writer mutex (see
    /// [`Db::writer_busy`]); nothing else waits.
    pub fn defer_commits<R>(&self, f: impl FnOnce() -> R) -> (R, Option<Ticket>) {
        let (r, seq) = self.engine().deferring(f);
        (r, (seq > 0).then_some(Ticket(seq)))
    }

    /// The ticket's outcome if it is known, without waiting: `Some(Ok(()))` once its writes are
    /// durable and visible, `Some(Err(_))` once they never will be (`Error::Io` after a failed
    /// fsync, `Error::Closed` after close), `None` while they await a group commit.
    pub fn ticket_outcome(&self, t: Ticket) -> Option<Result<()>> {
        self.engine().ticket_outcome(t.0)
    }

    /// Waits until the ticket is durable and visible, leading a group fsync of everything
    /// appended so far if no other thread is doing one; the error is the one its writer would
    /// have got had it waited.
    pub fn wait_ticket(&self, t: Ticket) -> Result<()> {
        self.engine().wait_ticket(t.0)
    }

    /// [`Db::wait_ticket`], except that a group fsync this call leads starts at once, without
    /// the leader's wait for more writes (docs/DESIGN.md section 5.3): for a caller that
    /// gathered its group itself, such as `bitgask serve`'s syncer.
    pub fn wait_ticket_now(&self, t: Ticket) -> Result<()> {
        self.engine().wait_ticket_as(t.0, false)
    }

    /// Whether another thread holds the writer mutex for longer than `patience` (waiting that
    /// long at most): a rotation sealing its file, a merge or `delete_all` swapping files, a
    /// long `update`, while appends hold it for microseconds. A thread that must not block can
    /// then give its write to one that may. Only a hint: the mutex may be taken right after.
    pub fn writer_busy(&self, patience: std::time::Duration) -> bool {
        self.engine().writer_busy(patience)
    }
}
