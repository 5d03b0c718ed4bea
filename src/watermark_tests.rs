//! The durable watermark through the public API: where it stands after open, commits, close,
//! merge and delete-all, and what open and validate make of damage before and after it.

use super::*;
use crate::error::status;
use crate::format::watermark::{Mark, FILE_LEN};
use crate::testutil::TempDir;
use crate::{Db, Options, ProblemKind};

fn opts(sync: bool) -> Options {
    let mut o = Options::default();
    o.set_max_file_size(4096).unwrap().set_merge_interval_ms(0);
    o.set_sync_on_put(sync).set_sync_on_delete(sync);
    o
}

fn mark(root: &Path) -> Known {
    Known::read(&root.join("data")).unwrap()
}

fn at(root: &Path) -> (u32, u64) {
    match mark(root) {
        Known::At(m) => (m.file_id, m.len),
        other => panic!("no mark: {other:?}"),
    }
}

fn newest(root: &Path) -> PathBuf {
    let mut v: Vec<_> = std::fs::read_dir(root.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    v.sort();
    v.pop().unwrap()
}

/// Writes `n` small records, returns the handle (still open).
fn filled(root: &Path, sync: bool, n: u32) -> Db {
    let db = Db::open(root, opts(sync)).unwrap();
    for i in 0..n {
        db.put(format!("k{i}").as_bytes(), format!("value-{i}").as_bytes()).unwrap();
    }
    db
}

/// Sets the watermark of `root` to `len` bytes of file `id`, as a power loss before a later
/// mark reached the disk would leave it.
fn set_mark(root: &Path, id: u32, len: u64) {
    let seq = match mark(root) {
        Known::At(m) => m.seq + 1,
        _ => 1,
    };
    std::fs::write(root.join("data").join(WATERMARK_FILE), Mark { seq, file_id: id, len, links: true }.encode_file())
        .unwrap();
}

/// Zeros the record of `key` in the newest file (the handle is closed).
fn zero_record(root: &Path, off: u64, size: u64) {
    let file = newest(root);
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let mut b = std::fs::read(&file).unwrap();
    b[off as usize..(off + size) as usize].fill(0);
    std::fs::write(&file, b).unwrap();
}

#[test]
fn a_new_database_gets_a_watermark_at_open() {
    let dir = TempDir::new("wm");
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert_eq!(at(dir.path()), (0, 0));
    assert_eq!(std::fs::metadata(dir.path().join("data").join(WATERMARK_FILE)).unwrap().len(), FILE_LEN as u64);
    drop(db);
}

#[test]
fn each_group_commit_advances_the_watermark_and_close_keeps_it() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 3);
    let len = db.stats().unwrap().total_bytes;
    assert_eq!(at(dir.path()), (1, len), "after durable puts");
    db.close().unwrap();
    assert_eq!(at(dir.path()), (1, len));
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert_eq!(at(dir.path()), (1, len), "open settles at the valid length");
    drop(db);
}

#[test]
fn writes_without_sync_move_the_watermark_only_when_synced() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 2);
    let synced = at(dir.path());
    db.close().unwrap();
    let db = filled(dir.path(), false, 10);
    assert_eq!(at(dir.path()), synced, "no-sync puts are not durable");
    db.sync().unwrap();
    assert_eq!(at(dir.path()), (1, db.stats().unwrap().total_bytes));
    drop(db);
}

#[test]
fn rotation_moves_the_watermark_to_the_new_file() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 200);
    let (id, len) = at(dir.path());
    assert!(id > 1, "rotated");
    assert_eq!(len, db.meta(b"k199").unwrap().map(|m| m.offset + m.size).unwrap());
    drop(db);
}

#[test]
fn merge_and_delete_all_keep_the_watermark_true() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 200);
    db.merge(true).unwrap();
    db.put(b"after-merge", b"x").unwrap();
    let m = db.meta(b"after-merge").unwrap().unwrap();
    assert_eq!(at(dir.path()), (m.file_id, m.offset + m.size), "the swap carried the file along");
    db.delete_all().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert_eq!(at(dir.path()), (0, 0), "an empty generation: ids may start over, the mark with them");
    db.put(b"k", b"v").unwrap();
    assert_eq!(at(dir.path()).0, 1);
    drop(db);
}

#[test]
fn damage_after_the_watermark_with_records_after_it_is_set_aside() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 4);
    let durable = db.stats().unwrap().total_bytes;
    for i in 4..8u32 {
        db.put(format!("k{i}").as_bytes(), format!("value-{i}").as_bytes()).unwrap();
    }
    let lost = db.meta(b"k5").unwrap().unwrap();
    let old_len = db.stats().unwrap().total_bytes;
    db.close().unwrap();
    let before = std::fs::read(newest(dir.path())).unwrap();
    set_mark(dir.path(), 1, durable);
    zero_record(dir.path(), lost.offset, lost.size);

    let report = crate::validate(dir.path()).unwrap();
    let p = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::UnsyncedTail)
        .unwrap_or_else(|| panic!("{}", report.text()));
    assert_eq!((p.offset, p.length), (lost.offset, old_len - lost.offset));
    assert!(!report.clean());

    let db = Db::open(dir.path(), opts(true)).unwrap();
    let q = &db.open_report().quarantined;
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].offset, q[0].length, q[0].at), (lost.offset, old_len - lost.offset, 0));
    assert_eq!(q[0].into, "000000001.corrupt");
    for i in 0..5u32 {
        assert!(db.get(format!("k{i}").as_bytes()).unwrap().is_some(), "k{i}: before the damage");
    }
    for i in 5..8u32 {
        assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap(), None, "k{i}: after the damage");
    }
    let kept = std::fs::read(dir.path().join("data/000000001.corrupt")).unwrap();
    let mut zeroed = before.clone();
    zeroed[lost.offset as usize..(lost.offset + lost.size) as usize].fill(0);
    assert_eq!(kept, &zeroed[lost.offset as usize..], "the quarantine holds the cut bytes exactly");
    assert_eq!(std::fs::metadata(newest(dir.path())).unwrap().len(), lost.offset);
    assert_eq!(at(dir.path()), (1, lost.offset), "open settled the watermark at the new end");
    drop(db);
    let report = crate::validate(dir.path()).unwrap();
    assert!(report.clean(), "{}", report.text());
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::Quarantine));
}

#[test]
fn repair_sets_an_unsynced_tail_aside_as_open_would() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 6);
    let lost = db.meta(b"k3").unwrap().unwrap();
    let old_len = db.stats().unwrap().total_bytes;
    db.close().unwrap();
    set_mark(dir.path(), 1, lost.offset);
    zero_record(dir.path(), lost.offset, lost.size);
    let fixed = crate::repair(dir.path(), &opts(true)).unwrap();
    assert!(fixed.clean(), "{}", fixed.text());
    assert!(fixed.problems.iter().any(|p| p.kind == ProblemKind::UnsyncedTail && p.mended), "{}", fixed.text());
    assert_eq!(fixed.bytes_quarantined, old_len - lost.offset);
    assert_eq!(std::fs::metadata(newest(dir.path())).unwrap().len(), lost.offset);
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert!(db.open_report().quarantined.is_empty());
    assert_eq!(db.get(b"k2").unwrap().unwrap(), b"value-2");
    assert_eq!(db.get(b"k4").unwrap(), None);
    drop(db);
}

#[test]
fn damage_below_the_watermark_is_still_corruption() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 8);
    let hit = db.meta(b"k3").unwrap().unwrap();
    db.close().unwrap();
    set_mark(dir.path(), 1, hit.offset + 1);
    zero_record(dir.path(), hit.offset, hit.size);
    let before = std::fs::read(newest(dir.path())).unwrap();
    let err = Db::open(dir.path(), opts(true)).err().expect("open must refuse");
    assert_eq!(err.status(), status::E_CORRUPT);
    assert!(err.to_string().contains("watermark"), "{err}");
    assert_eq!(std::fs::read(newest(dir.path())).unwrap(), before, "a refused open changes nothing");
    assert!(!dir.path().join("data/000000001.corrupt").exists());
    let report = crate::validate(dir.path()).unwrap();
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::CorruptRecord), "{}", report.text());
    assert!(!report.problems.iter().any(|p| p.kind == ProblemKind::UnsyncedTail));
}

#[test]
fn without_a_watermark_file_the_whole_newest_file_counts_as_durable() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 8);
    let hit = db.meta(b"k6").unwrap().unwrap();
    db.close().unwrap();
    std::fs::remove_file(dir.path().join("data").join(WATERMARK_FILE)).unwrap();
    zero_record(dir.path(), hit.offset, hit.size);
    assert_eq!(Db::open(dir.path(), opts(true)).err().unwrap().status(), status::E_CORRUPT);
}

#[test]
fn a_watermark_of_another_file_or_unreadable_protects_nothing_of_the_newest() {
    for spoil in [true, false] {
        let dir = TempDir::new("wm");
        let db = filled(dir.path(), true, 8);
        let hit = db.meta(b"k2").unwrap().unwrap();
        db.close().unwrap();
        if spoil {
            std::fs::write(dir.path().join("data").join(WATERMARK_FILE), [7u8; FILE_LEN]).unwrap();
        } else {
            set_mark(dir.path(), 9, 1 << 20);
        }
        zero_record(dir.path(), hit.offset, hit.size);
        let db = Db::open(dir.path(), opts(true)).unwrap();
        assert_eq!(db.open_report().quarantined.len(), 1, "spoiled {spoil}");
        assert_eq!(db.get(b"k1").unwrap().unwrap(), b"value-1");
        assert_eq!(db.get(b"k3").unwrap(), None);
        drop(db);
    }
}

#[test]
fn a_second_power_loss_appends_to_the_same_quarantine_file() {
    let dir = TempDir::new("wm");
    let mut expect_at = 0;
    for round in 0..2u32 {
        let db = Db::open(dir.path(), opts(true)).unwrap();
        let base = db.stats().unwrap().total_bytes;
        for i in 0..3u32 {
            db.put(format!("r{round}-{i}").as_bytes(), b"v").unwrap();
        }
        let lost = db.meta(format!("r{round}-1").as_bytes()).unwrap().unwrap();
        let len = db.stats().unwrap().total_bytes;
        db.close().unwrap();
        set_mark(dir.path(), 1, base);
        zero_record(dir.path(), lost.offset, lost.size);
        let db = Db::open(dir.path(), opts(true)).unwrap();
        let q = &db.open_report().quarantined;
        assert_eq!(q[0].at, expect_at, "round {round}");
        expect_at += len - lost.offset;
        drop(db);
    }
    assert_eq!(std::fs::metadata(dir.path().join("data/000000001.corrupt")).unwrap().len(), expect_at);
}

#[test]
fn a_backup_carries_no_watermark_so_its_whole_newest_file_counts_as_durable() {
    let dir = TempDir::new("wm");
    let db = filled(&dir.path().join("db"), false, 8);
    let hit = db.meta(b"k3").unwrap().unwrap();
    let copy = dir.path().join("copy");
    db.backup(&copy).unwrap();
    drop(db);
    assert_eq!(mark(&copy), Known::Absent);
    zero_record(&copy, hit.offset, hit.size);
    let err = Db::open(&copy, opts(false)).err().expect("damage in a backup is corruption");
    assert_eq!(err.status(), status::E_CORRUPT);
}

#[test]
fn a_flipped_byte_in_the_last_flushed_record_is_corruption_but_a_cut_file_is_a_torn_tail() {
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 6);
    let last = db.meta(b"k5").unwrap().unwrap();
    db.close().unwrap();
    let file = newest(dir.path());
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let original = std::fs::read(&file).unwrap();
    let mut flipped = original.clone();
    flipped[(last.offset + last.size - 1) as usize] ^= 1;
    std::fs::write(&file, &flipped).unwrap();
    let err = Db::open(dir.path(), opts(true)).err().expect("a flushed record changed");
    assert_eq!(err.status(), status::E_CORRUPT);
    assert_eq!(std::fs::read(&file).unwrap(), flipped, "a refused open changes nothing");
    let report = crate::validate(dir.path()).unwrap();
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::CorruptRecord), "{}", report.text());
    let fixed = crate::repair(dir.path(), &opts(true)).unwrap();
    assert!(fixed.clean() && fixed.bytes_quarantined == last.size, "{}", fixed.text());
    assert_eq!(Db::open(dir.path(), opts(true)).unwrap().get(b"k4").unwrap().unwrap(), b"value-4");

    // The same file cut short (the torn-write simulation the older tests use) is a torn tail.
    let dir = TempDir::new("wm");
    let db = filled(dir.path(), true, 6);
    let last = db.meta(b"k5").unwrap().unwrap();
    db.close().unwrap();
    let file = newest(dir.path());
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let b = std::fs::read(&file).unwrap();
    std::fs::write(&file, &b[..(last.offset + last.size - 1) as usize]).unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert_eq!(db.open_report().torn_tails.len(), 1);
    assert_eq!(db.get(b"k5").unwrap(), None);
}

/// One put, a batch of two puts, one more put; returns (batch start, commit start, file end).
fn batch_between_puts(root: &Path) -> (u64, u64, u64) {
    let db = filled(root, true, 1);
    // Where the records end (the active file may also hold room for appends).
    let len = || db.stats().unwrap().total_bytes;
    let start = len();
    let mut b = crate::Batch::new();
    b.put(b"b1", b"in the batch").unwrap();
    b.put(b"b2", b"in the batch").unwrap();
    db.write(&b).unwrap();
    let commit = len() - crate::format::batch::COMMIT_LEN as u64;
    db.put(b"after", b"the batch").unwrap();
    let end = len();
    db.close().unwrap();
    (start, commit, end)
}

#[test]
fn a_batch_whose_commit_a_power_loss_lost_after_the_watermark_is_set_aside_whole() {
    let dir = TempDir::new("wm-batch");
    let (start, commit, end) = batch_between_puts(dir.path());
    set_mark(dir.path(), 1, start);
    zero_record(dir.path(), commit, crate::format::batch::COMMIT_LEN as u64);
    let report = crate::validate(dir.path()).unwrap();
    let unsynced: Vec<_> = report.problems.iter().filter(|p| p.kind == ProblemKind::UnsyncedTail).collect();
    assert_eq!((unsynced.len(), unsynced[0].offset), (1, start), "{}", report.text());
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let q = &db.open_report().quarantined;
    assert_eq!((q.len(), q[0].offset, q[0].length), (1, start, end - start));
    assert!(db.get(b"k0").unwrap().is_some());
    for k in [&b"b1"[..], b"b2", b"after"] {
        assert_eq!(db.get(k).unwrap(), None, "{}", String::from_utf8_lossy(k));
    }
}

#[test]
fn a_batch_whose_commit_is_damaged_below_the_watermark_is_corruption() {
    let dir = TempDir::new("wm-batch-below");
    let (_, commit, end) = batch_between_puts(dir.path());
    set_mark(dir.path(), 1, end);
    zero_record(dir.path(), commit, crate::format::batch::COMMIT_LEN as u64);
    let err = Db::open(dir.path(), opts(true)).err().expect("open must refuse");
    assert_eq!(err.status(), status::E_CORRUPT, "{err}");
    assert!(!dir.path().join("data/000000001.corrupt").exists());
}

/// A database of enough keys for close to write the keydir snapshot, closed cleanly; returns
/// the watermark file's bytes and the mark.
fn closed_with_snapshot(root: &Path) -> (Vec<u8>, Mark) {
    let mut o = opts(false);
    o.set_max_file_size(1 << 20).unwrap();
    let db = Db::open(root, o).unwrap();
    for i in 0..crate::snapshot::MIN_KEYS as u32 + 10 {
        db.put(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    db.close().unwrap();
    let Known::At(m) = mark(root) else { panic!("no mark after close") };
    (std::fs::read(root.join("data").join(WATERMARK_FILE)).unwrap(), m)
}

fn reopened(root: &Path) -> Db {
    let mut o = opts(true);
    o.set_max_file_size(1 << 20).unwrap();
    let db = Db::open(root, o).unwrap();
    assert!(db.open_report().snapshot_used, "{:?}", db.open_report());
    db
}

#[test]
fn a_clean_reopen_takes_the_mark_over_as_it_stands() {
    let dir = TempDir::new("wm");
    let (bytes, m) = closed_with_snapshot(dir.path());
    let db = reopened(dir.path());
    assert_eq!(std::fs::read(dir.path().join("data").join(WATERMARK_FILE)).unwrap(), bytes, "not rewritten");
    // The next mark goes in the other slot, past the one taken over.
    db.put(b"after", b"reopen").unwrap();
    let Known::At(next) = mark(dir.path()) else { panic!("no mark") };
    assert_eq!((next.seq, next.file_id), (m.seq + 1, m.file_id));
    assert!(next.len > m.len);
    db.close().unwrap();
    assert_eq!(reopened(dir.path()).get(b"after").unwrap().as_deref(), Some(&b"reopen"[..]));
}

#[test]
fn a_reopen_whose_mark_is_short_of_the_newest_file_settles_a_new_one() {
    let dir = TempDir::new("wm");
    let (_, m) = closed_with_snapshot(dir.path());
    // As a power loss that lost the last mark would leave it: the file list still matches.
    set_mark(dir.path(), m.file_id, m.len - 1);
    let db = reopened(dir.path());
    let Known::At(now) = mark(dir.path()) else { panic!("no mark") };
    assert_eq!((now.file_id, now.len), (m.file_id, m.len), "settled at the valid length");
    assert_eq!(now.seq, m.seq + 2, "written by this open");
    drop(db);
}
