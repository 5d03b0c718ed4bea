//! The keydir snapshot at open (docs/DESIGN.md section 6.7): used only when it matches the
//! directory exactly, and then giving the keydir hints give; every kind of staleness and damage
//! falls back to hints; a crash never leaves one to use.

use std::path::{Path, PathBuf};

use crate::db::Db;
use crate::options::Options;
use crate::snapshot::{MIN_KEYS, RETIRED_FILE, SNAPSHOT_FILE};
use crate::testutil::TempDir;

const KEYS: u32 = MIN_KEYS as u32 + 5_000;

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(256 << 10).unwrap();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    o
}

fn snapshot(root: &Path) -> PathBuf {
    root.join("data").join(SNAPSHOT_FILE)
}

/// Enough keys for a snapshot over several files, with overwrites, deletes and expiring keys;
/// closed cleanly.
fn fill(root: &Path) {
    let db = Db::open(root, opts()).unwrap();
    for i in 0..KEYS {
        let key = if i % 4 == 0 { format!("k{i}") } else { format!("a-longer-key-{i:07}") };
        db.put(key.as_bytes(), format!("value {i}").as_bytes()).unwrap();
    }
    for i in (0..KEYS).step_by(5) {
        db.put(format!("a-longer-key-{i:07}").as_bytes(), b"second").unwrap();
    }
    for i in (0..KEYS).step_by(7) {
        db.delete(format!("k{i}").as_bytes()).unwrap();
    }
    for i in (1..KEYS).step_by(11) {
        db.put_ttl(format!("a-longer-key-{i:07}").as_bytes(), b"expires late", 3_600_000).unwrap();
    }
    db.put_ttl(b"expired-soon", b"x", 1).unwrap();
    db.close().unwrap();
    assert!(snapshot(root).exists(), "a clean close of {KEYS} keys writes a snapshot");
}

type Seen = (Vec<(Vec<u8>, crate::keydir::Loc)>, u64, u64, u64);

/// The keydir and the byte counts of an open handle.
fn seen(db: &Db) -> Seen {
    let s = db.stats().unwrap();
    (db.engine().keydir_entries(), s.keys, s.total_bytes, s.dead_bytes)
}

/// Opens `root`, checks whether the snapshot was used, and returns what the handle holds.
fn open_expecting(root: &Path, used: bool) -> (Db, Seen) {
    let db = Db::open(root, opts()).unwrap();
    let r = db.open_report();
    assert_eq!(r.snapshot_used, used, "{r:?}");
    if used {
        assert!(r.snapshot_ignored.is_none() && r.files_from_hints == 0 && r.records_scanned == 0, "{r:?}");
    }
    assert!(!snapshot(root).exists(), "open takes the snapshot out of the way");
    let s = seen(&db);
    (db, s)
}

#[test]
fn a_matching_snapshot_is_used_and_gives_the_keydir_hints_give() {
    let dir = TempDir::new("snapshot");
    fill(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(2));
    let (db, from_snapshot) = open_expecting(dir.path(), true);
    assert_eq!(db.get(b"a-longer-key-0000005").unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(db.get(b"k28").unwrap(), None, "deleted");
    assert_eq!(db.get(b"expired-soon").unwrap(), None);
    db.close().unwrap();
    std::fs::remove_file(snapshot(dir.path())).unwrap();
    let (db, from_hints) = open_expecting(dir.path(), false);
    assert_eq!(db.open_report().files_from_hints, db.open_report().files);
    assert_eq!(from_snapshot, from_hints);
    assert!(from_hints.0.iter().all(|(k, _)| k != b"expired-soon"), "purged either way");
}

#[test]
fn a_handle_opened_from_a_snapshot_writes_and_reopens_correctly() {
    let dir = TempDir::new("snapshot");
    fill(dir.path());
    let (db, _) = open_expecting(dir.path(), true);
    db.put(b"after", b"the snapshot").unwrap();
    db.delete(b"k4").unwrap();
    db.close().unwrap();
    let (db, _) = open_expecting(dir.path(), true);
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"the snapshot"[..]));
    assert_eq!(db.get(b"k4").unwrap(), None);
}

/// Writers hash their key with the handle's seed before any lock: a handle whose keydir came
/// from a snapshot (another process's seed) must hash as that keydir does, also after a reload
/// rebuilt the keydir from hints.
#[test]
fn a_handle_opened_from_a_snapshot_overwrites_its_keys_in_place_also_after_a_reload() {
    let dir = TempDir::new("snapshot");
    fill(dir.path());
    let (db, _) = open_expecting(dir.path(), true);
    let before = db.stats().unwrap().keys;
    db.put(b"a-longer-key-0000001", b"overwritten").unwrap();
    db.put(b"k8", b"overwritten too").unwrap();
    assert_eq!(db.stats().unwrap().keys, before, "an overwrite added a key");
    db.reopen().unwrap();
    db.put(b"a-longer-key-0000002", b"after the reload").unwrap();
    assert_eq!(db.stats().unwrap().keys, before);
    assert_eq!(db.get(b"a-longer-key-0000001").unwrap().as_deref(), Some(&b"overwritten"[..]));
    assert_eq!(db.get(b"a-longer-key-0000002").unwrap().as_deref(), Some(&b"after the reload"[..]));
    assert_eq!(db.get(b"k8").unwrap().as_deref(), Some(&b"overwritten too"[..]));
}

/// Runs `change` on the closed database, then puts back the snapshot of the close before it:
/// open must find it stale, load from hints, and hold what `change` left.
fn stale_after(change: impl FnOnce(&Path)) {
    let dir = TempDir::new("snapshot");
    fill(dir.path());
    let old = std::fs::read(snapshot(dir.path())).unwrap();
    change(dir.path());
    std::fs::write(snapshot(dir.path()), &old).unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let r = db.open_report();
    assert!(!r.snapshot_used, "{r:?}");
    assert!(r.snapshot_ignored.is_some(), "{r:?}");
    assert!(!snapshot(dir.path()).exists());
    let with_stale = seen(&db);
    drop(db);
    for p in [snapshot(dir.path()), dir.path().join("data").join(RETIRED_FILE)] {
        let _ = std::fs::remove_file(p);
    }
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(!db.open_report().snapshot_used);
    assert_eq!(seen(&db), with_stale, "the stale snapshot changed nothing");
}

#[test]
fn a_snapshot_is_stale_once_a_file_was_appended() {
    stale_after(|root| {
        let db = Db::open(root, opts()).unwrap();
        db.put(b"k0", b"appended to the newest file").unwrap();
        db.close().unwrap();
    });
}

#[test]
fn a_snapshot_is_stale_once_a_file_was_added() {
    stale_after(|root| {
        let db = Db::open(root, opts()).unwrap();
        let files = db.open_report().files;
        let big = vec![7u8; 64 << 10];
        for i in 0..8 {
            db.put(format!("big-{i}").as_bytes(), &big).unwrap();
        }
        db.close().unwrap();
        assert!(crate::testutil::files_with_ext(root, "data").len() > files);
    });
}

#[test]
fn a_snapshot_is_stale_once_a_file_was_removed() {
    stale_after(|root| {
        let data = crate::testutil::files_with_ext(root, "data");
        let db = Db::open(root, opts()).unwrap();
        // Every key of the oldest file written again, so a merge can drop that file.
        let mut keys = Vec::new();
        db.fold(b"", |k, _| {
            keys.push(k.to_vec());
            true
        })
        .unwrap();
        for k in &keys {
            if db.meta(k).unwrap().is_some_and(|m| m.file_id == 1) {
                db.put(k, b"moved").unwrap();
            }
        }
        db.close().unwrap();
        std::fs::remove_file(&data[0]).ok();
        let _ = std::fs::remove_file(root.join("data").join("000000001.hint"));
    });
}

#[test]
fn a_snapshot_is_stale_after_a_merge() {
    stale_after(|root| {
        let db = Db::open(root, opts()).unwrap();
        assert!(db.merge(true).unwrap());
        db.close().unwrap();
    });
}

#[test]
fn a_snapshot_in_a_copied_directory_is_not_used() {
    stale_after(|root| {
        let data = root.join("data");
        for p in crate::testutil::files_with_ext(root, "data") {
            let copy = data.join("copy.tmp");
            std::fs::copy(&p, &copy).unwrap();
            std::fs::rename(&copy, &p).unwrap();
        }
    });
}

/// Damages the snapshot of a clean close with `damage`: open must refuse it and load hints.
fn damaged(damage: impl FnOnce(&mut Vec<u8>)) {
    let dir = TempDir::new("snapshot");
    fill(dir.path());
    let mut b = std::fs::read(snapshot(dir.path())).unwrap();
    damage(&mut b);
    std::fs::write(snapshot(dir.path()), &b).unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let r = db.open_report();
    assert!(!r.snapshot_used && r.snapshot_ignored.is_some(), "{r:?}");
    // Damage in a shard is found while open retires the snapshot beside the loading, which also
    // removes the hint of the newest file (it is appended to next): that file is scanned.
    assert!(r.files_from_hints + 1 >= r.files, "{r:?}");
    assert_eq!(db.get(b"a-longer-key-0000005").unwrap().as_deref(), Some(&b"second"[..]));
}

#[test]
fn a_truncated_snapshot_falls_back_to_hints() {
    damaged(|b| b.truncate(b.len() - 100));
    damaged(|b| b.truncate(50));
    damaged(|b| b.clear());
}

#[test]
fn a_flipped_bit_anywhere_falls_back_to_hints() {
    damaged(|b| b[20] ^= 1);
    damaged(|b| {
        let mid = b.len() / 2;
        b[mid] ^= 0x10;
    });
    damaged(|b| *b.last_mut().unwrap() ^= 0x80);
}

/// Issue 13: a crash (no clean close) never leaves a snapshot to use: open retires it before
/// the handle can write, and only a clean close writes the next one.
#[test]
fn a_crash_after_open_leaves_no_snapshot_to_use() {
    let dir = TempDir::new("snapshot");
    let (live, crashed) = (dir.path().join("live"), dir.path().join("crashed"));
    fill(&live);
    let db = Db::open(&live, opts()).unwrap();
    assert!(db.open_report().snapshot_used);
    db.put(b"k0", b"written after open").unwrap();
    db.sync().unwrap();
    // What a power loss could leave: the files as they are, the LOCK not taken.
    crate::testutil::crash_image(&live, &crashed);
    assert!(!snapshot(&crashed).exists());
    let after = Db::open(&crashed, opts()).unwrap();
    assert!(!after.open_report().snapshot_used);
    assert_eq!(after.get(b"k0").unwrap().as_deref(), Some(&b"written after open"[..]));
    drop(db);
}

#[test]
fn small_databases_and_hintless_ones_get_no_snapshot() {
    let dir = TempDir::new("snapshot");
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put(b"one", b"key").unwrap();
    db.close().unwrap();
    assert!(!snapshot(dir.path()).exists());
    fill(dir.path());
    let mut no_hints = opts();
    no_hints.set_hint_files(false);
    let db = Db::open(dir.path(), no_hints.clone()).unwrap();
    assert!(!db.open_report().snapshot_used, "hints off: the snapshot is not used");
    assert!(!snapshot(dir.path()).exists(), "but it is retired all the same");
    db.close().unwrap();
    assert!(!snapshot(dir.path()).exists());
}

#[test]
fn repair_removes_the_snapshot_and_validate_accepts_it() {
    let dir = TempDir::new("snapshot");
    fill(dir.path());
    let report = crate::validate(dir.path()).unwrap();
    assert!(report.problems.iter().all(|p| p.kind.is_note()), "{:?}", report.problems);
    crate::repair(dir.path(), &opts()).unwrap();
    assert!(!snapshot(dir.path()).exists());
}

/// A measurement, not a check (ignored by `cargo test`; run it with `cargo test --release --lib
/// -- --ignored reopen_of_a_million_keys --nocapture`): reopen of 1,000,000 16-byte keys with
/// the snapshot and from hints, alternating, so both see the same machine load.
#[test]
#[ignore]
fn reopen_of_a_million_keys_with_and_without_the_snapshot() {
    let dir = TempDir::new("snapab");
    let mut o = Options::default();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    let db = Db::open(dir.path(), o.clone()).unwrap();
    for i in 0..1_000_000u32 {
        db.put(format!("key-{i:012}").as_bytes(), &[b'v'; 100]).unwrap();
    }
    db.close().unwrap();
    // Let the background hint writers finish: reopen once and close.
    Db::open(dir.path(), o.clone()).unwrap().close().unwrap();
    for round in 0..5 {
        for use_snap in [true, false] {
            if !use_snap {
                std::fs::remove_file(snapshot(dir.path())).unwrap();
            }
            let t = std::time::Instant::now();
            let db = Db::open(dir.path(), o.clone()).unwrap();
            db.get(b"key-000000000007").unwrap().unwrap();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let r = db.open_report();
            println!("round {round} snapshot={} {ms:.1} ms (hints {})", r.snapshot_used, r.files_from_hints);
            db.close().unwrap();
        }
    }
}
