//! Deferred commits (`deferred.rs`): the ticket's records stay invisible until a group fsync
//! covers them, in append order, and a failed fsync fails the tickets.

use crate::testutil::TempDir;
use crate::{Batch, Db, Options, Update};

fn open(dir: &TempDir) -> Db {
    Db::open(dir.path(), Options::default()).unwrap()
}

#[test]
fn a_deferred_put_is_invisible_until_its_ticket_is_durable() {
    let dir = TempDir::new("defer-invisible");
    let db = open(&dir);
    let (r, t) = db.defer_commits(|| db.put(b"k", b"v"));
    r.unwrap();
    let t = t.expect("a durable put awaits its commit");
    assert_eq!(db.get(b"k").unwrap(), None);
    assert!(db.ticket_outcome(t).is_none());
    db.wait_ticket(t).unwrap();
    assert_eq!(db.ticket_outcome(t).map(|r| r.is_ok()), Some(true));
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn a_later_ticket_publishes_the_earlier_ones_in_append_order() {
    let dir = TempDir::new("defer-order");
    let db = open(&dir);
    let (_, t1) = db.defer_commits(|| db.put(b"k", b"1").unwrap());
    let (_, t2) = db.defer_commits(|| {
        let mut b = Batch::new();
        b.put(b"k", b"2").unwrap();
        b.put(b"j", b"2").unwrap();
        db.write(&b).unwrap();
    });
    let (t1, t2) = (t1.unwrap(), t2.unwrap());
    assert!(t1 < t2);
    db.wait_ticket(t2).unwrap();
    assert!(matches!(db.ticket_outcome(t1), Some(Ok(()))));
    assert_eq!((db.get(b"k").unwrap(), db.get(b"j").unwrap()), (Some(b"2".to_vec()), Some(b"2".to_vec())));
}

#[test]
fn read_modify_writes_see_deferred_records() {
    let dir = TempDir::new("defer-rmw");
    let db = open(&dir);
    let (_, t) = db.defer_commits(|| {
        db.put(b"n", b"1").unwrap();
        db.update(b"n", |c| {
            let v = c.expect("the pending put is seen").value.to_vec();
            (Update::Put { value: [v, b"1".to_vec()].concat(), expires_unix_nano: 0 }, ())
        })
        .unwrap();
        assert!(db.delete(b"n").unwrap(), "the pending update is seen");
    });
    db.wait_ticket(t.unwrap()).unwrap();
    assert_eq!(db.get(b"n").unwrap(), None);
}

#[test]
fn writes_that_do_not_wait_give_no_ticket() {
    let dir = TempDir::new("defer-nosync");
    let mut o = Options::default();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    let db = Db::open(dir.path(), o).unwrap();
    let (_, t) = db.defer_commits(|| db.put(b"k", b"v").unwrap());
    assert_eq!(t, None);
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    let durable = open(&TempDir::new("defer-nothing"));
    let (_, t) = durable.defer_commits(|| durable.get(b"k").unwrap());
    assert_eq!(t, None, "a read appends nothing");
}

#[test]
fn deferral_is_per_handle_and_ends_with_the_scope() {
    let (d1, d2) = (TempDir::new("defer-h1"), TempDir::new("defer-h2"));
    let (a, b) = (open(&d1), open(&d2));
    let (_, t) = a.defer_commits(|| b.put(b"k", b"v").unwrap());
    assert_eq!(t, None, "the other handle's put waited");
    assert_eq!(b.get(b"k").unwrap(), Some(b"v".to_vec()));
    a.put(b"k", b"v").unwrap();
    assert_eq!(a.get(b"k").unwrap(), Some(b"v".to_vec()), "outside the scope a put waits");
}

#[test]
fn writer_busy_says_whether_another_thread_holds_the_writer_too_long() {
    let dir = TempDir::new("defer-busy");
    let db = open(&dir);
    let patience = std::time::Duration::from_millis(1);
    assert!(!db.writer_busy(patience));
    let (held, go) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            db.update(b"k", |_| {
                held.wait();
                go.wait();
                (Update::Keep, ())
            })
            .unwrap()
        });
        held.wait();
        assert!(db.writer_busy(patience));
        go.wait();
    });
    assert!(!db.writer_busy(patience));
}

#[cfg(feature = "fault-injection")]
mod fault_tests {
    use super::*;
    use crate::error::status;
    use crate::storage::fault::{self, Failure, Op};

    #[test]
    fn a_failed_group_fsync_fails_every_ticket_it_covered_with_e_io() {
        let dir = TempDir::new("defer-fsync");
        let db = open(&dir);
        db.put(b"before", b"v").unwrap();
        fault::arm(dir.path(), Some((Op::Fsync, 1, Failure::Io, false)));
        let (_, t1) = db.defer_commits(|| db.put(b"a", b"1").unwrap());
        let (_, t2) = db.defer_commits(|| db.put(b"b", b"2").unwrap());
        let err = db.wait_ticket(t2.unwrap()).unwrap_err();
        fault::disarm(dir.path());
        assert_eq!(err.status(), status::E_IO);
        assert_eq!(db.ticket_outcome(t1.unwrap()).unwrap().unwrap_err().status(), status::E_IO);
        assert_eq!((db.get(b"a").unwrap(), db.get(b"b").unwrap()), (None, None), "never published");
        let (r, t3) = db.defer_commits(|| db.put(b"c", b"3"));
        assert_eq!((r.unwrap_err().status(), t3), (status::E_POISONED, None));
        // A reopen declares everything appended settled: the lost tickets stay failed.
        db.reopen().unwrap();
        assert_eq!(db.ticket_outcome(t2.unwrap()).unwrap().unwrap_err().status(), status::E_IO);
        assert_eq!(db.wait_ticket(t1.unwrap()).unwrap_err().status(), status::E_IO);
        assert_eq!(db.get(b"before").unwrap(), Some(b"v".to_vec()));
        assert_eq!(db.get(b"a").unwrap(), None);
    }
}

#[test]
fn wait_ticket_now_makes_the_ticket_durable_and_visible() {
    let dir = TempDir::new("defer-now");
    let db = open(&dir);
    let (_, t) = db.defer_commits(|| db.put(b"k", b"v").unwrap());
    let t = t.unwrap();
    db.wait_ticket_now(t).unwrap();
    assert!(matches!(db.ticket_outcome(t), Some(Ok(()))));
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn wait_ticket_now_syncs_everything_appended_before_it() {
    let dir = TempDir::new("defer-now-group");
    let db = open(&dir);
    // A first group of eight makes the engine's leader expect eight writes next time.
    let tickets: Vec<_> = (0..8).map(|i| db.defer_commits(|| db.put(&[i], b"x").unwrap()).1.unwrap()).collect();
    db.wait_ticket(tickets[7]).unwrap();
    let (_, t1) = db.defer_commits(|| db.put(b"a", b"1").unwrap());
    let (_, t2) = db.defer_commits(|| db.put(b"b", b"2").unwrap());
    // Two of the eight expected: the group starts at once and takes both.
    db.wait_ticket_now(t1.unwrap()).unwrap();
    assert!(matches!(db.ticket_outcome(t2.unwrap()), Some(Ok(()))));
    assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
}
