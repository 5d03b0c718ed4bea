//! A full disk simulated by the fault injector (docs/DESIGN.md section 5.14): `ENOSPC` at a
//! chosen write. The real small file system is in `fulldisk_tests`.

use crate::error::status;
use crate::space::RESERVE_FILE;
use crate::storage::fault::{self, Failure, Loss, Op};
use crate::testutil::TempDir;
use crate::{Db, Options};

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(4096).unwrap().set_merge_interval_ms(0).set_reserve_bytes(64 << 10).unwrap();
    o
}

#[test]
fn a_put_failing_for_space_is_e_no_space_and_does_not_poison() {
    let dir = TempDir::new("nospace");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    db.put(b"a", b"1").unwrap();
    fault::arm(dir.path(), Some((Op::Write, 1, Failure::NoSpace, false)));
    let err = db.put(b"b", b"2").unwrap_err();
    fault::disarm(dir.path());
    assert_eq!(err.status(), status::E_NO_SPACE, "{err}");
    assert!(err.to_string().contains("append to"), "the message names the file: {err}");
    assert_eq!(db.get(b"a").unwrap().unwrap(), b"1", "reads go on");
    assert!(db.space().unwrap().full);
    // The test's file system has room, so the next put restores the reserve and goes ahead.
    db.put(b"c", b"3").unwrap();
    assert!(!db.space().unwrap().full);
    db.close().unwrap();
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.get(b"c").unwrap().unwrap(), b"3");
}

#[test]
fn a_failed_put_gives_the_reserve_back() {
    let dir = TempDir::new("nospace");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    let reserve = dir.path().join("db").join(RESERVE_FILE);
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), 64 << 10);
    fault::arm(dir.path(), Some((Op::Write, 1, Failure::NoSpace, false)));
    assert_eq!(db.put(b"b", b"2").unwrap_err().status(), status::E_NO_SPACE);
    fault::disarm(dir.path());
    assert!(!reserve.exists());
    let s = db.space().unwrap();
    assert_eq!((s.reserve_bytes, s.reserve_size, s.no_space_errors), (0, 64 << 10, 1));
}

#[test]
fn a_delete_failing_for_space_tries_again_on_the_room_the_reserve_left() {
    let dir = TempDir::new("nospace");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    db.put(b"a", b"1").unwrap();
    // Only the first append fails: the retry after the reserve is given back succeeds.
    fault::arm(dir.path(), Some((Op::Write, 1, Failure::NoSpace, false)));
    assert!(db.delete(b"a").unwrap());
    fault::disarm(dir.path());
    assert_eq!(db.get(b"a").unwrap(), None);
    assert!(db.space().unwrap().full, "the reserve went to the delete");
}

#[test]
fn a_batch_failing_for_space_writes_none_of_it() {
    let dir = TempDir::new("nospace");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    let mut b = crate::Batch::new();
    b.put(b"x", b"1").unwrap();
    b.put(b"y", b"2").unwrap();
    fault::arm(dir.path(), Some((Op::Write, 1, Failure::NoSpace, false)));
    assert_eq!(db.write(&b).unwrap_err().status(), status::E_NO_SPACE);
    fault::disarm(dir.path());
    assert_eq!(db.get(b"x").unwrap(), None);
    db.close().unwrap();
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    assert_eq!(db.get(b"y").unwrap(), None);
}

#[test]
fn a_failed_fsync_for_space_is_e_io_and_poisons() {
    let dir = TempDir::new("nospace");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    db.put(b"k", b"old").unwrap();
    fault::arm(dir.path(), Some((Op::Fsync, 1, Failure::NoSpace, false)));
    assert_eq!(db.put(b"k", b"v").unwrap_err().status(), status::E_IO);
    fault::disarm(dir.path());
    assert_eq!(db.put(b"k", b"v").unwrap_err().status(), status::E_POISONED);
}

#[test]
fn a_merge_failing_for_space_leaves_no_output_and_loses_nothing() {
    let dir = TempDir::new("nospace");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    for i in 0..60u32 {
        db.put(format!("k{i}").as_bytes(), &[i as u8; 200]).unwrap();
    }
    // Every other key: each file keeps live records, so no reclaim can do without writing.
    for i in (0..60u32).filter(|i| i % 2 == 1) {
        db.delete(format!("k{i}").as_bytes()).unwrap();
    }
    // Every write fails; the merge falls back to file by file and to the tail-first reclaim,
    // which fail too.
    fault::arm(dir.path(), Some((Op::Write, 1, Failure::NoSpace, true)));
    let err = db.merge(true).unwrap_err();
    fault::disarm(dir.path());
    assert_eq!(err.status(), status::E_NO_SPACE, "{err}");
    assert!(!dir.path().join("db").join("merge.tmp").exists());
    assert!(db.space().unwrap().full);
    for i in (0..60u32).step_by(2) {
        assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap().unwrap(), vec![i as u8; 200]);
    }
    // With room again the same merge goes through (file by file while full).
    assert!(db.merge(true).unwrap());
    db.close().unwrap();
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    assert_eq!(db.get(b"k1").unwrap(), None);
    assert_eq!(db.get(b"k30").unwrap().unwrap(), vec![30u8; 200]);
}

#[test]
fn files_with_nothing_to_keep_are_reclaimed_even_when_no_write_can_succeed() {
    let dir = TempDir::new("nospace");
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    for i in 0..60u32 {
        db.put(format!("k{i}").as_bytes(), &[i as u8; 200]).unwrap();
    }
    for i in 0..30u32 {
        db.delete(format!("k{i}").as_bytes()).unwrap();
    }
    let before = db.stats().unwrap();
    // The files of k0..k29 hold nothing that survives: the tail-first reclaim only cuts them.
    fault::arm(dir.path(), Some((Op::Write, 1, Failure::NoSpace, true)));
    assert!(db.merge(true).unwrap());
    fault::disarm(dir.path());
    let after = db.stats().unwrap();
    assert!(after.total_bytes < before.total_bytes, "{before:?} -> {after:?}");
    db.close().unwrap();
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    for i in 0..60u32 {
        let want = (i >= 30).then(|| vec![i as u8; 200]);
        assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap(), want, "k{i}");
    }
}

/// A handle that starts full (a reserve no file system here can hold): puts refused, merges
/// file by file.
fn full_opts() -> Options {
    let mut o = opts();
    o.set_reserve_bytes(crate::options::MAX_RESERVE_BYTES).unwrap();
    o
}

/// 120 keys, four in five deleted, on a handle with room (synced once, at close); returns the
/// directory.
fn mostly_deleted() -> TempDir {
    let dir = TempDir::new("reclaim-power");
    let mut o = opts();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    let db = Db::open(dir.path().join("db"), o).unwrap();
    for i in 0..120u32 {
        db.put(format!("k{i}").as_bytes(), &[i as u8; 150]).unwrap();
    }
    for i in (0..120u32).filter(|i| i % 5 != 0) {
        db.delete(format!("k{i}").as_bytes()).unwrap();
    }
    db.close().unwrap();
    dir
}

fn check_mostly_deleted(db: &Db, what: &str) {
    for i in 0..120u32 {
        let got = db.get(format!("k{i}").as_bytes()).unwrap();
        match i % 5 {
            0 => assert_eq!(got, Some(vec![i as u8; 150]), "{what}: k{i} lost"),
            _ => assert_eq!(got, None, "{what}: deleted k{i} is back"),
        }
    }
}

#[test]
fn a_full_handle_refuses_puts_and_merges_file_by_file() {
    let dir = mostly_deleted();
    let db = Db::open(dir.path().join("db"), full_opts()).unwrap();
    assert!(db.space().unwrap().full);
    assert_eq!(db.put(b"x", b"y").unwrap_err().status(), status::E_NO_SPACE);
    let before = db.stats().unwrap();
    assert!(db.merge(false).unwrap(), "a full handle merges without force");
    let after = db.stats().unwrap();
    assert!(after.merges > 1, "one merge per file: {after:?}");
    assert!(after.total_bytes < before.total_bytes / 2, "{before:?} -> {after:?}");
    assert!(!dir.path().join("db").join("data.old").exists(), "each input is removed right after its swap");
    check_mostly_deleted(&db, "after merging file by file");
}

/// Power goes at the `at`th file operation of the file by file merge; every acknowledged write
/// is there after reopening, and a merge then works.
#[test]
fn power_loss_in_the_middle_of_merging_file_by_file_keeps_everything() {
    let census = {
        let dir = mostly_deleted();
        fault::arm(dir.path(), None);
        let db = Db::open(dir.path().join("db"), full_opts()).unwrap();
        assert!(db.merge(true).unwrap());
        drop(db);
        fault::disarm(dir.path()).values().sum::<u64>()
    };
    let stride = (census / 24).max(1);
    let mut lost = 0;
    for at in (1..=census).step_by(stride as usize) {
        let dir = mostly_deleted();
        let db = Db::open(dir.path().join("db"), full_opts()).unwrap();
        fault::arm_power_loss(dir.path(), at, if at % 2 == 0 { Loss::Cut } else { Loss::Junk }, at);
        let _ = db.merge(true);
        drop(db);
        lost += usize::from(fault::lost_power(dir.path()));
        fault::disarm(dir.path());
        let what = format!("power lost at operation {at} of {census}");
        let db = Db::open(dir.path().join("db"), opts()).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
        check_mostly_deleted(&db, &what);
        assert!(db.merge(true).unwrap(), "{what}: a merge after recovery");
        check_mostly_deleted(&db, &format!("{what}, merged again"));
    }
    assert!(lost > 18, "only {lost} runs lost power mid-merge");
}
