//! The unused tail of the newest data file (docs/DESIGN.md section 4.5): a crash leaves the room
//! preallocated for appends as zeros after the last record. Open, validate, repair, backup, merge
//! and the hints must all read it as the end of the records, never as a torn write or damage,
//! while zeros over bytes that were flushed stay corruption.

use std::path::{Path, PathBuf};

use crate::error::status;
use crate::testutil::TempDir;
use crate::{Db, Options};

fn opts() -> Options {
    let mut o = Options::default();
    o.set_merge_interval_ms(0);
    o
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    format!("value-{i}-{}", "x".repeat(i as usize % 50)).into_bytes()
}

/// What a kill -9 leaves of `from` (its `data/` as the page cache holds it, the LOCK aside),
/// copied to `to`, with the newest data file ending in at least `zeros` zero bytes after its
/// last record. Returns the newest data file and where its records end.
fn killed_copy(from: &Path, to: &Path, end: u64, zeros: u64) -> PathBuf {
    crate::testutil::crash_image(from, to);
    let mut data: Vec<PathBuf> = std::fs::read_dir(to.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    data.sort();
    let newest = data.pop().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&newest).unwrap();
    let len = f.metadata().unwrap().len();
    assert!(len >= end, "the copy holds every record");
    f.set_len(len.max(end + zeros)).unwrap();
    newest
}

/// A live database with `n` keys written and synced; returns it and the newest file's true end.
fn written(root: &Path, n: u32) -> (Db, u64) {
    let db = Db::open(root, opts()).unwrap();
    for i in 0..n {
        db.put(&key(i), &value(i)).unwrap();
    }
    db.sync().unwrap();
    let last = db.meta(&key(n - 1)).unwrap().unwrap();
    (db, last.offset + last.size)
}

fn all_there(db: &Db, n: u32) {
    for i in 0..n {
        assert_eq!(db.get(&key(i)).unwrap().as_deref(), Some(&value(i)[..]), "key {i}");
    }
    assert_eq!(db.stats().unwrap().keys, n as u64);
}

#[test]
fn a_killed_database_with_an_unused_tail_validates_repairs_opens_and_backs_up_alike() {
    let dir = TempDir::new("unused");
    let (live, killed) = (dir.path().join("live"), dir.path().join("killed"));
    let (db, end) = written(&live, 300);
    let newest = killed_copy(&live, &killed, end, 64 << 10);
    drop(db);
    let before = std::fs::read(&newest).unwrap();

    let v = crate::validate(&killed).unwrap();
    assert!(v.problems.iter().all(|p| p.kind.is_note()), "validate: {:?}", v.problems);
    assert_eq!(v.live_keys, 300);
    let r = crate::repair(&killed, &opts()).unwrap();
    assert!(r.problems.is_empty(), "repair finds nothing to mend: {:?}", r.problems);
    assert_eq!(std::fs::read(&newest).unwrap(), before, "repair changes nothing");

    let db = Db::open(&killed, opts()).unwrap();
    let report = db.open_report();
    assert!(report.torn_tails.is_empty() && report.quarantined.is_empty(), "{report:?}");
    assert_eq!(report.unused_tails.len(), 1, "{report:?}");
    assert_eq!(report.unused_tails[0].1, end, "trimmed at the end of the last record");
    assert_eq!(std::fs::read(&newest).unwrap()[..end as usize], before[..end as usize], "records untouched");
    all_there(&db, 300);

    let copy = dir.path().join("backup");
    db.backup(&copy).unwrap();
    db.put(b"after", b"open").unwrap();
    db.close().unwrap();
    let v = crate::validate(&copy).unwrap();
    assert!(v.problems.iter().all(|p| p.kind.is_note()), "validate the backup: {:?}", v.problems);
    let b = Db::open(&copy, opts()).unwrap();
    assert!(b.open_report().unused_tails.is_empty(), "a backup has no unused tail");
    all_there(&b, 300);
    b.close().unwrap();
}

#[test]
fn after_the_trim_hints_and_merge_see_the_same_records() {
    let dir = TempDir::new("unused");
    let (live, killed) = (dir.path().join("live"), dir.path().join("killed"));
    let (db, end) = written(&live, 200);
    killed_copy(&live, &killed, end, 4096);
    drop(db);
    let db = Db::open(&killed, opts()).unwrap();
    for i in 0..100 {
        db.delete(&key(i)).unwrap();
    }
    db.close().unwrap();
    let db = Db::open(&killed, opts()).unwrap();
    assert!(db.open_report().files_from_hints >= 1, "the closed file's hint checks out: {:?}", db.open_report());
    assert!(db.merge(true).unwrap());
    for i in 100..200 {
        assert_eq!(db.get(&key(i)).unwrap().as_deref(), Some(&value(i)[..]), "key {i}");
    }
    assert_eq!(db.stats().unwrap().keys, 100);
    db.close().unwrap();
    assert!(crate::validate(&killed).unwrap().problems.iter().all(|p| p.kind.is_note()));
}

#[test]
fn zeros_over_flushed_records_are_still_corruption() {
    let dir = TempDir::new("unused");
    let (live, killed) = (dir.path().join("live"), dir.path().join("killed"));
    let (db, end) = written(&live, 50);
    let last = db.meta(&key(49)).unwrap().unwrap();
    let newest = killed_copy(&live, &killed, end, 4096);
    drop(db);
    // The last record was synced (the watermark covers it): zeros over it are not unused room.
    let mut b = std::fs::read(&newest).unwrap();
    b[last.offset as usize..end as usize].fill(0);
    std::fs::write(&newest, &b).unwrap();
    let err = Db::open(&killed, opts()).err().expect("refused");
    assert_eq!(err.status(), status::E_CORRUPT, "{err}");
    let v = crate::validate(&killed).unwrap();
    assert!(v.problems.iter().any(|p| !p.kind.is_note()), "validate agrees: {:?}", v.problems);
}

fn newest_len(root: &Path) -> u64 {
    let mut data: Vec<PathBuf> = crate::testutil::files_with_ext(root, "data");
    data.sort();
    std::fs::metadata(data.pop().unwrap()).unwrap().len()
}

#[test]
fn a_reopened_or_closed_database_has_nothing_after_its_last_record() {
    let dir = TempDir::new("unused");
    let (db, end) = written(dir.path(), 100);
    assert!(newest_len(dir.path()) >= end);
    if !cfg!(feature = "fault-injection") {
        assert!(newest_len(dir.path()) > end, "the active file has room preallocated");
    }
    db.reopen().unwrap();
    assert!(db.open_report().unused_tails.is_empty(), "a healthy reopen trims before it reloads");
    assert_eq!(newest_len(dir.path()), end);
    all_there(&db, 100);
    db.put(b"more", b"after the reopen").unwrap();
    let total = db.stats().unwrap().total_bytes;
    db.close().unwrap();
    assert_eq!(newest_len(dir.path()), total, "a clean close trims");
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().unused_tails.is_empty() && db.open_report().torn_tails.is_empty());
    assert_eq!(db.get(b"more").unwrap().as_deref(), Some(&b"after the reopen"[..]));
}
