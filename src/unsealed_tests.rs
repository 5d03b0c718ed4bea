//! Open after a crash that interrupted a rotation's seal (docs/DESIGN.md sections 4.5 and 5.6):
//! the second-newest file may then hold bytes that were never flushed, and the region a power
//! loss may have left unsynced starts in it (at the watermark when the mark names it, at its
//! first byte when the mark is older) and runs through the newest file. Damage there is cut at
//! its first byte and everything after it set aside, the whole newest file included; damage
//! below the mark, or in a file below the two newest, is still corruption.

use std::path::{Path, PathBuf};

use crate::error::status;
use crate::format::watermark::{Mark, WATERMARK_FILE};
use crate::testutil::TempDir;
use crate::watermark::Known;
use crate::{Db, Options};

/// Three values of about 1 KiB fill one 4 KiB file.
const VALUE: usize = 1000;

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(4096).unwrap().set_merge_interval_ms(0);
    o
}

fn value(i: u32) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; VALUE]
}

fn data(root: &Path, id: u32) -> PathBuf {
    root.join("data").join(format!("{id:09}.data"))
}

/// A closed database of `n` puts `k0..` (three to a file); returns each key's (file, offset, size).
fn written(root: &Path, n: u32) -> Vec<(u32, u64, u64)> {
    let db = Db::open(root, opts()).unwrap();
    let mut locs = Vec::new();
    for i in 0..n {
        let key = format!("k{i}");
        db.put(key.as_bytes(), &value(i)).unwrap();
        let m = db.meta(key.as_bytes()).unwrap().unwrap();
        locs.push((m.file_id, m.offset, m.size));
    }
    db.close().unwrap();
    locs
}

/// Makes file `id` look as a crash during its seal leaves it: no hint (it is written after the
/// seal), and no keydir snapshot (a crash leaves none).
fn unseal(root: &Path, id: u32) {
    let _ = std::fs::remove_file(data(root, id).with_extension("hint"));
    let _ = std::fs::remove_file(root.join("data").join("keydir.snapshot"));
}

fn set_mark(root: &Path, id: u32, len: u64) {
    set_mark_links(root, id, len, true);
}

/// [`set_mark`] by a writer that links rotations (`links`) or an earlier version.
fn set_mark_links(root: &Path, id: u32, len: u64, links: bool) {
    let seq = match Known::read(&root.join("data")).unwrap() {
        Known::At(m) => m.seq + 1,
        _ => 1,
    };
    std::fs::write(root.join("data").join(WATERMARK_FILE), Mark { seq, file_id: id, len, links }.encode_file())
        .unwrap();
}

fn edit(root: &Path, id: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(data(root, id)).unwrap();
    f(&mut b);
    std::fs::write(data(root, id), b).unwrap();
}

fn present(db: &Db, i: u32) -> bool {
    db.get(format!("k{i}").as_bytes()).unwrap().is_some_and(|v| v == value(i))
}

#[test]
fn an_unsealed_second_newest_file_that_scans_clean_keeps_everything() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    assert_eq!((locs[2].0, locs[3].0), (1, 2), "three puts to a file");
    unseal(dir.path(), 1);
    set_mark(dir.path(), 1, locs[0].2);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().quarantined.is_empty());
    assert!((0..5).all(|i| present(&db, i)));
    drop(db);
    assert!(crate::validate(dir.path()).unwrap().clean());
}

#[test]
fn a_zero_room_tail_in_the_second_newest_file_is_trimmed_and_the_newest_file_set_aside() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    unseal(dir.path(), 1);
    // The seal's trim never reached the disk, nor did anything after the last group commit.
    set_mark(dir.path(), 1, locs[1].1 + locs[1].2);
    let end1 = std::fs::metadata(data(dir.path(), 1)).unwrap().len();
    edit(dir.path(), 1, |b| b.resize(8192, 0));
    let newest = std::fs::read(data(dir.path(), 2)).unwrap();

    let report = crate::validate(dir.path()).unwrap();
    assert!(!report.problems.iter().any(|p| p.kind == crate::ProblemKind::CorruptRecord), "{}", report.text());
    let db = Db::open(dir.path(), opts()).unwrap();
    let r = db.open_report();
    assert_eq!(r.unused_tails, vec![("000000001.data".to_string(), end1, 8192 - end1)]);
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    let q = &r.quarantined[0];
    assert_eq!((q.file.as_str(), q.offset, q.length), ("000000002.data", 0, newest.len() as u64));
    assert!((0..3).all(|i| present(&db, i)), "the second-newest file's records stay");
    assert!(!present(&db, 3) && !present(&db, 4), "nothing written after the cut stays");
    assert_eq!(std::fs::read(dir.path().join("data/000000002.corrupt")).unwrap(), newest, "kept, not deleted");
    assert_eq!(std::fs::metadata(data(dir.path(), 1)).unwrap().len(), end1);
    db.put(b"after", b"x").unwrap();
    drop(db);
    let report = crate::validate(dir.path()).unwrap();
    assert!(report.clean(), "{}", report.text());
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"x"[..]));
    assert!((0..3).all(|i| present(&db, i)));
}

#[test]
fn out_of_order_writes_in_the_second_newest_file_cut_it_and_set_aside_the_newest() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    unseal(dir.path(), 1);
    // An older mark: the whole second-newest file is in the region.
    set_mark(dir.path(), 1, 0);
    let (_, off, size) = locs[1];
    let old1 = std::fs::read(data(dir.path(), 1)).unwrap();
    edit(dir.path(), 1, |b| b[off as usize..(off + size) as usize].fill(0));
    let db = Db::open(dir.path(), opts()).unwrap();
    let q = &db.open_report().quarantined;
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!((q[0].file.as_str(), q[0].offset, q[0].length), ("000000001.data", off, old1.len() as u64 - off));
    assert_eq!((q[1].file.as_str(), q[1].offset), ("000000002.data", 0));
    assert!(present(&db, 0));
    assert!((1..5).all(|i| !present(&db, i)), "a point in time: nothing after the first lost record");
    assert_eq!(std::fs::metadata(data(dir.path(), 2)).unwrap().len(), 0, "the newest file stays, empty");
}

#[test]
fn garbage_at_the_end_of_the_second_newest_file_is_set_aside_not_cut_away() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    unseal(dir.path(), 1);
    set_mark(dir.path(), 0, 0);
    let (_, off, size) = locs[2];
    edit(dir.path(), 1, |b| b[(off + size / 2) as usize] ^= 0x55);
    let db = Db::open(dir.path(), opts()).unwrap();
    let r = db.open_report();
    assert!(r.torn_tails.is_empty(), "only the newest file can hold a torn write: {r:?}");
    assert_eq!(r.quarantined.len(), 2, "{r:?}");
    assert_eq!((r.quarantined[0].offset, r.quarantined[0].length), (off, size));
    assert!(present(&db, 0) && present(&db, 1));
    assert!((2..5).all(|i| !present(&db, i)));
}

#[test]
fn damage_below_the_mark_of_the_second_newest_file_is_corruption() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    unseal(dir.path(), 1);
    let end1 = std::fs::metadata(data(dir.path(), 1)).unwrap().len();
    set_mark(dir.path(), 1, end1);
    let (_, off, size) = locs[1];
    edit(dir.path(), 1, |b| b[off as usize..(off + size) as usize].fill(0));
    let err = Db::open(dir.path(), opts()).err().expect("refused");
    assert_eq!(err.status(), status::E_CORRUPT, "{err}");
    assert!(std::fs::metadata(data(dir.path(), 2)).unwrap().len() > 0, "a refused open changes nothing");
}

#[test]
fn a_mark_of_the_newest_file_makes_the_second_newest_durable() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    unseal(dir.path(), 1);
    set_mark(dir.path(), 2, 0);
    edit(dir.path(), 1, |b| b.resize(8192, 0));
    let err = Db::open(dir.path(), opts()).err().expect("refused");
    assert_eq!(err.status(), status::E_CORRUPT, "{err}");
    let _ = locs;
}

#[test]
fn a_file_below_the_two_newest_is_sealed_whatever_the_mark() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 8);
    assert_eq!(locs[7].0, 3);
    unseal(dir.path(), 1);
    unseal(dir.path(), 2);
    set_mark(dir.path(), 1, 0);
    let (_, off, size) = locs[1];
    edit(dir.path(), 1, |b| b[off as usize..(off + size) as usize].fill(0));
    let err = Db::open(dir.path(), opts()).err().expect("refused");
    assert_eq!(err.status(), status::E_CORRUPT, "{err}");
}

#[test]
fn open_makes_the_second_newest_file_durable_before_its_mark_names_the_newest() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    unseal(dir.path(), 1);
    set_mark(dir.path(), 1, 0);
    let db = Db::open(dir.path(), opts()).unwrap();
    match Known::read(&dir.path().join("data")).unwrap() {
        Known::At(m) => assert_eq!((m.file_id, m.len), (2, locs[4].1 + locs[4].2)),
        other => panic!("{other:?}"),
    }
    drop(db);
}

/// Five puts (k0-k2 in file 1, k3 and k4 in file 2), then file 1 as a power loss during its seal
/// can leave it: no hint, the mark naming it after its first record (written by a version that
/// links rotations, or not), and k2 gone cleanly, the file ending at a record boundary.
fn lost_the_end_of_file_1(root: &Path, links: bool) {
    let locs = written(root, 5);
    unseal(root, 1);
    set_mark_links(root, 1, locs[0].2, links);
    edit(root, 1, |b| b.truncate(locs[2].1 as usize));
}

/// A power loss during a rotation's seal that dropped the full file's last records cleanly (the
/// file back at a record boundary, nothing damaged) while the next file's records reached the
/// disk: a state the database was never in. The newest file's first record is linked to a
/// stamp no longer in the file below (docs/DESIGN.md section 4.5), so the whole newest file is
/// set aside, by open and by repair, and validate reports it. (The soak's power-loss cycles
/// found this state: open had kept the newest file.)
#[test]
fn a_second_newest_file_that_lost_its_last_records_cleanly_sets_the_newest_aside() {
    let dir = TempDir::new("unsealed");
    lost_the_end_of_file_1(dir.path(), true);
    let newest = std::fs::read(data(dir.path(), 2)).unwrap();

    let report = crate::validate(dir.path()).unwrap();
    let aside = |kind| report.problems.iter().any(|p| p.kind == kind && p.file == "data/000000002.data");
    assert!(aside(crate::ProblemKind::UnsyncedTail), "{}", report.text());
    let db = Db::open(dir.path(), opts()).unwrap();
    let r = db.open_report();
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    let q = &r.quarantined[0];
    assert_eq!((q.file.as_str(), q.offset, q.length), ("000000002.data", 0, newest.len() as u64));
    assert!(present(&db, 0) && present(&db, 1), "what stayed durable stays");
    assert!((2..5).all(|i| !present(&db, i)), "nothing written after the lost records stays");
    assert_eq!(std::fs::read(dir.path().join("data/000000002.corrupt")).unwrap(), newest, "kept, not deleted");
    db.put(b"after", b"x").unwrap();
    drop(db);
    assert!(crate::validate(dir.path()).unwrap().clean());
}

#[test]
fn repair_sets_the_newest_file_aside_as_open_would_when_the_file_below_lost_its_end() {
    let dir = TempDir::new("unsealed");
    lost_the_end_of_file_1(dir.path(), true);
    let done = crate::repair(dir.path(), &opts()).unwrap();
    assert!(done.text().starts_with("repair: clean"), "{}", done.text());
    assert_eq!(std::fs::metadata(data(dir.path(), 2)).unwrap().len(), 0);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().quarantined.is_empty());
    assert!(present(&db, 0) && present(&db, 1) && (2..5).all(|i| !present(&db, i)));
}

/// A mark written by a version without rotation links (version byte 0) promises no link: the
/// newest file stays, as before links existed.
#[test]
fn without_rotation_links_a_clean_end_of_the_file_below_keeps_the_newest_file() {
    let dir = TempDir::new("unsealed");
    lost_the_end_of_file_1(dir.path(), false);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().quarantined.is_empty());
    assert!(present(&db, 3) && present(&db, 4) && !present(&db, 2));
}

fn stamp(db: &Db, i: u32) -> u64 {
    db.meta(format!("k{i}").as_bytes()).unwrap().unwrap().ts_unix_nano
}

fn no_sync() -> Options {
    let mut o = opts();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    o
}

/// The link itself (docs/DESIGN.md section 5.6): without sync, so that no group commit moves the
/// watermark, a rotation leaves the mark where open put it and stamps the next file's first
/// record exactly one above the full file's newest.
#[test]
fn a_rotation_stamps_the_next_files_first_record_one_above_the_full_files_newest() {
    let dir = TempDir::new("unsealed");
    let db = Db::open(dir.path(), no_sync()).unwrap();
    for i in 0..7 {
        db.put(format!("k{i}").as_bytes(), &value(i)).unwrap();
    }
    let file = |i: u32| db.meta(format!("k{i}").as_bytes()).unwrap().unwrap().file_id;
    assert_eq!((file(2), file(3), file(5), file(6)), (1, 2, 2, 3), "three puts to a file");
    assert_eq!(stamp(&db, 3), stamp(&db, 2) + 1);
    assert_eq!(stamp(&db, 6), stamp(&db, 5) + 1);
    assert!(!Known::read(&dir.path().join("data")).unwrap().vouches_below(2), "no rotation moved the mark");
}

/// A rotation whose full file was reopened (its newest stamp need not be the writer's last)
/// cannot link: it waits for the seal, and the watermark names the next file before it exists.
#[test]
fn a_rotation_that_cannot_link_names_the_next_file_in_the_watermark() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 6);
    assert_eq!(locs[5].0, 2, "file 2 is full");
    let db = Db::open(dir.path(), no_sync()).unwrap();
    db.put(b"k6", &value(6)).unwrap();
    assert_eq!(db.meta(b"k6").unwrap().unwrap().file_id, 3);
    assert!(Known::read(&dir.path().join("data")).unwrap().vouches_below(3));
}

/// Repair judges the stamp link before it changes anything, then writes a mark that vouches for
/// the files below the newest: removing a corrupt last record of the second-newest file breaks
/// the link, and the next open must not set the newest file aside for it.
#[test]
fn after_repair_removed_the_last_record_below_the_newest_file_open_keeps_the_newest() {
    let dir = TempDir::new("unsealed");
    let locs = written(dir.path(), 5);
    unseal(dir.path(), 1);
    set_mark(dir.path(), 1, locs[2].1 + locs[2].2);
    edit(dir.path(), 1, |b| b[locs[2].1 as usize + 40] ^= 1);
    let done = crate::repair(dir.path(), &opts()).unwrap();
    assert!(done.text().starts_with("repair: clean"), "{}", done.text());
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().quarantined.is_empty(), "{:?}", db.open_report());
    let got: Vec<bool> = (0..5).map(|i| present(&db, i)).collect();
    assert_eq!(got, [true, true, false, true, true]);
}
