//! Transactions: each conflict rule, own writes, atomic commit, and isolation under threads.

use super::*;
use crate::error::status;
use crate::options::Options;
use crate::testutil::TempDir;
use std::sync::atomic::{AtomicBool, Ordering};

fn open(dir: &TempDir) -> Db {
    let mut o = Options::default();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    o.merge.interval_ms = 0;
    Db::open(dir.path(), o).unwrap()
}

fn conflict(r: Result<()>) -> bool {
    matches!(r, Err(Error::Conflict(_)))
}

#[test]
fn a_key_read_then_written_by_another_conflicts_and_nothing_is_written() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    db.put(b"k", b"1").unwrap();
    let mut t = db.transaction().unwrap();
    assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"1"[..]));
    t.put(b"out", b"x").unwrap();
    db.put(b"k", b"2").unwrap();
    let err = t.commit().unwrap_err();
    assert_eq!(err.status(), status::E_CONFLICT, "{err}");
    assert_eq!(db.get(b"out").unwrap(), None);
}

#[test]
fn a_read_that_found_nothing_conflicts_with_an_insert() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    assert_eq!(t.get(b"k").unwrap(), None);
    t.put(b"k", b"mine").unwrap();
    db.put(b"k", b"theirs").unwrap();
    assert!(conflict(t.commit()));
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"theirs"[..]));
}

#[test]
fn an_absent_key_written_and_deleted_meanwhile_still_conflicts() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    assert!(!t.exists(b"k").unwrap());
    db.put(b"k", b"x").unwrap();
    db.delete(b"k").unwrap();
    t.put(b"other", b"1").unwrap();
    assert!(conflict(t.commit()));
}

#[test]
fn exists_counts_as_a_read() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    db.put(b"k", b"1").unwrap();
    let mut t = db.transaction().unwrap();
    assert!(t.exists(b"k").unwrap());
    db.delete(b"k").unwrap();
    assert!(conflict(t.commit()));
}

#[test]
fn a_key_the_iterator_returned_counts_as_a_read() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    db.put(b"p1", b"1").unwrap();
    db.put(b"p2", b"2").unwrap();
    let mut t = db.transaction().unwrap();
    let mut it = t.iter_prefix(b"p").unwrap();
    assert!(it.advance(true).unwrap());
    assert_eq!(it.key(), b"p1");
    drop(it);
    db.put(b"p2", b"changed").unwrap();
    t.put(b"x", b"1").unwrap();
    assert!(t.commit().is_ok(), "p2 was never returned, so not read");
    let mut t = db.transaction().unwrap();
    let keys: Vec<_> = t.iter_prefix(b"p").unwrap().map(|r| r.unwrap().0).collect();
    assert_eq!(keys, [b"p1".to_vec(), b"p2".to_vec()]);
    db.put(b"p1", b"changed").unwrap();
    assert!(conflict(t.commit()));
}

#[test]
fn blind_writes_never_conflict() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    t.put(b"k", b"mine").unwrap();
    t.delete(b"d").unwrap();
    db.put(b"k", b"theirs").unwrap();
    db.put(b"d", b"theirs").unwrap();
    t.commit().unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"mine"[..]));
    assert_eq!(db.get(b"d").unwrap(), None);
}

#[test]
fn a_write_before_the_read_does_not_conflict() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    db.put(b"k", b"1").unwrap();
    assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"1"[..]));
    t.put(b"k", b"2").unwrap();
    t.commit().unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"2"[..]));
}

#[test]
fn a_read_only_transaction_reports_a_conflict_too() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    t.get(b"k").unwrap();
    db.put(b"k", b"1").unwrap();
    assert!(conflict(t.commit()));
}

#[test]
fn delete_all_conflicts_with_every_read() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    db.put(b"k", b"1").unwrap();
    let mut t = db.transaction().unwrap();
    t.get(b"k").unwrap();
    db.delete_all().unwrap();
    assert!(conflict(t.commit()));
}

#[test]
fn own_writes_come_first_for_get_exists_and_iteration() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    db.put(b"a", b"db").unwrap();
    db.put(b"b", b"db").unwrap();
    db.put(b"c", b"db").unwrap();
    let mut t = db.transaction().unwrap();
    t.put(b"a", b"mine").unwrap();
    t.delete(b"b").unwrap();
    t.put(b"bb", b"new").unwrap();
    assert_eq!(t.get(b"a").unwrap().as_deref(), Some(&b"mine"[..]));
    assert_eq!(t.get(b"b").unwrap(), None);
    assert!(!t.exists(b"b").unwrap() && t.exists(b"bb").unwrap());
    let all: Vec<_> = t.iter_prefix(b"").unwrap().map(|r| r.unwrap()).collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = [("a", "mine"), ("bb", "new"), ("c", "db")]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(all, want);
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"db"[..]), "nothing written before commit");
    t.commit().unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"mine"[..]));
    assert_eq!(db.get(b"b").unwrap(), None);
}

#[test]
fn discard_and_drop_write_nothing() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    t.put(b"k", b"1").unwrap();
    t.discard();
    let mut t = db.transaction().unwrap();
    t.put(b"k", b"1").unwrap();
    drop(t);
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn inserts_into_an_iterated_range_are_not_detected() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    assert_eq!(t.iter_prefix(b"p").unwrap().count(), 0);
    db.put(b"p1", b"phantom").unwrap();
    t.put(b"x", b"1").unwrap();
    t.commit().unwrap();
}

#[test]
fn update_txn_runs_again_after_a_conflict() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    db.put(b"n", b"0").unwrap();
    let mut runs = 0;
    db.update_txn(|t| {
        runs += 1;
        let n: u32 = String::from_utf8(t.get(b"n")?.unwrap()).unwrap().parse().unwrap();
        if runs == 1 {
            db.put(b"n", b"10").unwrap();
        }
        t.put(b"n", (n + 1).to_string().as_bytes())
    })
    .unwrap();
    assert_eq!((runs, db.get(b"n").unwrap().as_deref()), (2, Some(&b"11"[..])));
}

#[test]
fn update_txn_gives_up_after_its_attempts() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut runs = 0;
    let r = db.update_txn(|t| {
        runs += 1;
        t.get(b"k")?;
        db.put(b"k", b"again").unwrap();
        Ok(())
    });
    assert!(conflict(r));
    assert_eq!(runs, UPDATE_TXN_ATTEMPTS);
}

#[test]
fn a_transaction_on_a_closed_handle_fails() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    t.put(b"k", b"v").unwrap();
    db.close().unwrap();
    assert_eq!(t.commit().unwrap_err().status(), status::E_CLOSED);
}

#[test]
fn reads_of_its_own_writes_fail_once_the_handle_is_closed() {
    let dir = TempDir::new("txn");
    let db = open(&dir);
    let mut t = db.transaction().unwrap();
    t.put(b"k", b"v").unwrap();
    db.close().unwrap();
    assert_eq!(t.get(b"k").unwrap_err().status(), status::E_CLOSED);
    assert_eq!(t.exists(b"k").unwrap_err().status(), status::E_CLOSED);
}

const ACCOUNTS: u32 = 8;
const TOTAL: u64 = 8000;

fn balance(v: Option<Vec<u8>>) -> u64 {
    String::from_utf8(v.unwrap()).unwrap().parse().unwrap()
}

/// Threads move amounts between random accounts inside transactions (retrying on conflict)
/// while a reader sums every account in one transaction's iteration and commits it: every sum
/// that commits is the invariant total.
#[test]
fn transfers_in_transactions_keep_the_total() {
    let dir = TempDir::new("txn");
    let db = Arc::new(open(&dir));
    for a in 0..ACCOUNTS {
        db.put(format!("acct{a}").as_bytes(), (TOTAL / ACCOUNTS as u64).to_string().as_bytes()).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..3u64)
        .map(|seed| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut x = seed * 7919 + 1;
                for _ in 0..300 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let (from, to) = ((x >> 33) as u32 % ACCOUNTS, (x >> 13) as u32 % ACCOUNTS);
                    let amount = (x >> 50) % 20;
                    db.update_txn(|t| {
                        let (kf, kt) = (format!("acct{from}"), format!("acct{to}"));
                        let f = balance(t.get(kf.as_bytes())?);
                        let moved = amount.min(f);
                        t.put(kf.as_bytes(), (f - moved).to_string().as_bytes())?;
                        let g = balance(t.get(kt.as_bytes())?);
                        t.put(kt.as_bytes(), (g + moved).to_string().as_bytes())
                    })
                    .or_else(|e| if matches!(e, Error::Conflict(_)) { Ok(()) } else { Err(e) })
                    .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut committed = 0;
            while !stop.load(Ordering::Relaxed) || committed == 0 {
                let mut t = db.transaction().unwrap();
                let sum: u64 = t.iter_prefix(b"acct").unwrap().map(|r| balance(Some(r.unwrap().1))).sum();
                if t.commit().is_ok() {
                    assert_eq!(sum, TOTAL);
                    committed += 1;
                }
            }
        })
    };
    for m in movers {
        m.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let sum: u64 = db.iter_prefix(b"acct").unwrap().map(|r| balance(Some(r.unwrap().1))).sum();
    assert_eq!(sum, TOTAL);
}
