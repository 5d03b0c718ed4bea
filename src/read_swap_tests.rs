//! Gets on two threads racing the maintenance that swaps data files under them (full merges,
//! tail-first reclaims cutting a file chunk by chunk): every get must find its key's value, never
//! a missing file, an unmapped page or another record.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::reclaim_tail::reclaim_in_chunks_of;
use crate::testutil::TempDir;
use crate::{Db, Options};

const KEYS: u32 = 300;

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(16 << 10).unwrap().set_merge_max_file_size(16 << 10).unwrap();
    o.set_sync_on_put(false).set_sync_on_delete(false).set_merge_interval_ms(0);
    o.set_merge_min_total(0).set_min_merge_total(0).set_reserve_bytes(0).unwrap();
    o
}

fn key(i: u32) -> Vec<u8> {
    format!("key {i:05}").into_bytes()
}

/// Each key's one value (rewritten unchanged, so a reader always knows what it must find).
fn val(i: u32) -> Vec<u8> {
    format!("value {i:05} ").repeat(1 + i as usize % 7).into_bytes()
}

/// Rewrites the keys `i` with `i % 3 != skip` (those left out keep their older records, which a
/// merge or a reclaim then has to move).
fn rewrite(db: &Db, skip: u32) {
    for i in (0..KEYS).filter(|i| i % 3 != skip) {
        db.put(&key(i), &val(i)).unwrap();
    }
}

/// The oldest sealed data file.
fn first_sealed(db: &Db) -> Option<u32> {
    let e = db.engine();
    let active = e.active_id();
    let mut ids: Vec<u32> = e.read_index(|ix| ix.sizes.keys().copied().collect());
    ids.sort_unstable();
    ids.into_iter().find(|&id| Some(id) != active)
}

/// Reads random keys until `stop`, through both read paths; returns how many it read.
fn hammer(db: &Db, stop: &AtomicBool, seed: u32) -> u64 {
    let (mut n, mut x) = (0u64, seed | 1);
    while !stop.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let i = x % KEYS;
        let want = val(i);
        if n % 2 == 0 {
            assert_eq!(db.get(&key(i)).unwrap().as_deref(), Some(&want[..]), "key {i}");
        } else {
            assert_eq!(db.get_with(&key(i), |v| v == want).unwrap(), Some(true), "key {i} through get_with");
        }
        n += 1;
    }
    n
}

#[test]
fn gets_on_two_threads_find_every_value_while_merges_and_tail_reclaims_swap_files() {
    let dir = TempDir::new("read-swap");
    let db = Db::open(dir.path(), opts()).unwrap();
    rewrite(&db, 3);
    let stop = AtomicBool::new(false);
    let reads: Vec<u64> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|t| {
                s.spawn({
                    let (db, stop) = (&db, &stop);
                    move || hammer(db, stop, 7 + t)
                })
            })
            .collect();
        for round in 0..24 {
            rewrite(&db, round % 3);
            if round % 2 == 0 {
                assert!(db.merge(true).unwrap(), "round {round}: the merge ran");
            } else if let Some(id) = first_sealed(&db) {
                let e = db.engine();
                reclaim_in_chunks_of(e, &e.maintenance(), id, 700).unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(reads.iter().all(|&n| n > 0), "a reader never read: {reads:?}");
    for i in 0..KEYS {
        assert_eq!(db.get(&key(i)).unwrap(), Some(val(i)), "key {i} at the end");
    }
}

/// A `get_with` callback runs with nothing locked: it may write, even enough to rotate the active
/// file (which changes the file table the read found its file in).
#[test]
fn a_get_with_callback_may_write_and_rotate_the_active_file() {
    let dir = TempDir::new("read-swap");
    let db = Db::open(dir.path(), opts()).unwrap();
    rewrite(&db, 3);
    let files_before = db.engine().file_count();
    let seen = db
        .get_with(&key(3), |v| {
            for i in 0..KEYS {
                db.put(&key(i), &val(i)).unwrap();
            }
            v.to_vec()
        })
        .unwrap();
    assert_eq!(seen, Some(val(3)));
    assert!(db.engine().file_count() > files_before, "the callback's writes rotated");
    assert_eq!(db.get(&key(3)).unwrap(), Some(val(3)));
}
