//! The rotation seal off the writer's path (docs/DESIGN.md section 5.6), on a disk whose fsyncs
//! the fault injector makes slow: a no-sync writer does not wait for the seal of the file it
//! rotated away from; a durable write, `sync()` and the next rotation do.

use std::time::{Duration, Instant};

use crate::storage::fault;
use crate::testutil::TempDir;
use crate::{Db, Options};

const SLOW: Duration = Duration::from_millis(400);

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(16 << 10).unwrap().set_merge_interval_ms(0);
    o.set_sync_on_put(false).set_sync_on_delete(false);
    o
}

/// A no-sync database written once, then every fsync made [`SLOW`] slower.
fn on_a_slow_disk() -> (TempDir, Db) {
    let dir = TempDir::new("seal");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    db.put(b"warm", b"up").unwrap();
    fault::arm(dir.path(), None);
    fault::slow_fsyncs(dir.path(), SLOW);
    (dir, db)
}

/// Puts 100-byte values until the put that created file `id` returns: (that put's time, the
/// slowest put's time).
fn put_until_file(db: &Db, id: u32) -> (Duration, Duration) {
    let mut worst = Duration::ZERO;
    for i in 0.. {
        let key = format!("k{id}-{i}");
        let t = Instant::now();
        db.put(key.as_bytes(), &[7u8; 100]).unwrap();
        let took = t.elapsed();
        worst = worst.max(took);
        if db.meta(key.as_bytes()).unwrap().unwrap().file_id == id {
            return (took, worst);
        }
    }
    unreachable!()
}

#[test]
fn a_no_sync_put_does_not_wait_for_the_seal_of_the_file_it_rotated_away_from() {
    let (dir, db) = on_a_slow_disk();
    let (rotating, worst) = put_until_file(&db, 2);
    // Waiting for the seal would take at least one slow fsync; the margin is for a loaded machine.
    assert!(rotating < SLOW / 2, "the rotating put took {rotating:?} beside a {SLOW:?} seal");
    assert!(worst < SLOW / 2, "a put took {worst:?}");
    // The next rotation waits for that seal (at most one runs): by now it has long ended or
    // is about to, so only check that everything reads back and syncs.
    let t = Instant::now();
    db.sync().unwrap();
    assert!(t.elapsed() >= SLOW / 2, "sync() waited for the seal and its own fsync");
    fault::disarm(dir.path());
    assert_eq!(db.get(b"warm").unwrap().as_deref(), Some(&b"up"[..]));
}

#[test]
fn a_second_rotation_waits_for_the_first_seal() {
    let (dir, db) = on_a_slow_disk();
    let started = Instant::now();
    put_until_file(&db, 2);
    put_until_file(&db, 3);
    // The seal of file 1 fsyncs the file and `data/`: two slow fsyncs.
    assert!(started.elapsed() >= SLOW * 2, "file 3 was created before file 1's seal ended");
    fault::disarm(dir.path());
}

#[test]
fn a_durable_put_after_a_rotation_is_acknowledged_only_once_the_seal_ended() {
    let (dir, db) = on_a_slow_disk();
    let started = Instant::now();
    put_until_file(&db, 2);
    db.sync().unwrap();
    assert!(started.elapsed() >= SLOW * 2, "acknowledged before file 1 and data/ were synced");
    fault::disarm(dir.path());
}
