//! Merge behaviour through the public API: what survives, what is freed, what a crash leaves.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::testutil::TempDir;
use crate::{Db, Options};

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(4096).unwrap().set_merge_max_file_size(8192).unwrap();
    o.set_sync_on_put(false).set_sync_on_delete(false).set_merge_interval_ms(0);
    o.set_merge_min_total(0).set_min_merge_total(0);
    o
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn contents(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter_prefix(b"").unwrap().map(|r| r.unwrap()).collect()
}

/// Compares a database with its model, reporting the first difference readably.
fn assert_matches(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let got = contents(db);
    let show = |m: Option<&Vec<u8>>| m.map(|v| String::from_utf8_lossy(v).into_owned());
    for k in got.keys().chain(model.keys()) {
        if got.get(k) != model.get(k) {
            panic!(
                "key {:?}: database has {:?}, model has {:?}",
                String::from_utf8_lossy(k),
                show(got.get(k)),
                show(model.get(k))
            );
        }
    }
}

fn fill(db: &Db, rounds: u32, keys: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = BTreeMap::new();
    for r in 0..rounds {
        for k in 0..keys {
            let (key, val) = (format!("key{k:04}").into_bytes(), format!("value-{r}-{k}").into_bytes());
            db.put(&key, &val).unwrap();
            model.insert(key, val);
        }
    }
    model
}

#[test]
fn a_full_merge_keeps_every_live_value_and_frees_the_dead_bytes() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = fill(&db, 5, 200);
    let before = db.reclaimable().unwrap();
    assert!(before.ratio > 0.7, "{before:?}");
    assert!(db.merge(true).unwrap());
    let after = db.stats().unwrap();
    assert_eq!(after.dead_bytes, 0);
    assert_eq!(
        after.total_bytes,
        before.total_bytes - before.dead_bytes,
        "reclaimable must equal what the merge freed"
    );
    assert_eq!((after.merges, after.keys), (1, 200));
    assert!(after.last_merge_unix_nano > 0);
    assert_matches(&db, &model);
    db.close().unwrap();
    assert!(!dir.path().join("merge.tmp").exists() && !dir.path().join("data.old").exists());
    // The hints, written unsynced beside the outputs, were placed after the swap.
    let left: Vec<String> = names(&dir.path().join("data")).into_iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(left.is_empty(), "{left:?}");
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
    let report = db.open_report();
    assert!(report.hints_ignored.is_empty(), "{report:?}");
    assert_eq!(
        report.files_from_hints,
        report.files - 1,
        "every merge output has a valid hint (the newest file is empty)"
    );
}

#[test]
fn damage_in_a_merge_output_is_corruption_even_with_no_write_after_the_merge() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 3, 200);
    db.merge(true).unwrap();
    db.close().unwrap();
    let data = dir.path().join("data");
    let mut ids: Vec<u32> = names(&data).iter().filter_map(|n| n.strip_suffix(".data")?.parse().ok()).collect();
    ids.sort();
    let newest = *ids.last().unwrap();
    assert_eq!(
        std::fs::metadata(data.join(format!("{newest:09}.data"))).unwrap().len(),
        0,
        "the newest file is an empty one"
    );
    // Damage the last merge output in its middle, without its hint.
    let output = ids[ids.len() - 2];
    let f = data.join(format!("{output:09}.data"));
    std::fs::remove_file(f.with_extension("hint")).unwrap();
    let mut b = std::fs::read(&f).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&f, &b).unwrap();
    assert_eq!(Db::open(dir.path(), opts()).err().map(|e| e.status()), Some(crate::status::E_CORRUPT));
    assert_eq!(std::fs::read(&f).unwrap(), b, "nothing was cut off");
}

#[test]
fn merging_twice_then_reopening_changes_nothing() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = fill(&db, 3, 100);
    assert!(db.merge(true).unwrap());
    let once = db.stats().unwrap().total_bytes;
    assert!(db.merge(true).unwrap());
    assert_eq!(db.stats().unwrap().total_bytes, once);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
    assert_eq!(db.stats().unwrap().dead_bytes, 0);
}

#[test]
fn delete_everything_then_merge_leaves_zero_keys_after_reopen() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 2, 100);
    for k in 0..100 {
        db.delete(format!("key{k:04}").as_bytes()).unwrap();
    }
    assert!(db.merge(true).unwrap());
    assert_eq!(db.stats().unwrap().total_bytes, 0);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.stats().unwrap().keys, 0);
    assert!(contents(&db).is_empty());
}

#[test]
fn merge_of_an_empty_database_is_harmless() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(!db.merge(true).unwrap());
    db.put(b"k", b"v").unwrap();
    db.delete(b"k").unwrap();
    assert!(db.merge(true).unwrap());
    db.put(b"after", b"merge").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(contents(&db), BTreeMap::from([(b"after".to_vec(), b"merge".to_vec())]));
}

#[test]
fn one_key_overwritten_a_million_times_merges_to_one_record() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_max_file_size(64 << 20).unwrap().set_merge_max_file_size(64 << 20).unwrap();
    let db = Db::open(dir.path(), o.clone()).unwrap();
    for i in 0..1_000_000u32 {
        db.put(b"hot", &i.to_le_bytes()).unwrap();
    }
    assert!(db.merge(true).unwrap());
    let s = db.stats().unwrap();
    assert_eq!((s.keys, s.dead_bytes, s.total_bytes), (1, 0, 32 + 3 + 4));
    db.close().unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.get(b"hot").unwrap().unwrap(), 999_999u32.to_le_bytes());
}

#[test]
fn the_trigger_decides_unforced_merges() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_merge_trigger_ratio(0.5).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 1, 100);
    assert!(!db.merge(false).unwrap(), "no garbage yet");
    fill(&db, 2, 100);
    assert!(db.merge(false).unwrap());
    assert!(!db.compact_if_needed().unwrap(), "nothing left to do");
}

#[test]
fn a_selective_merge_never_resurrects_a_key_deleted_in_a_merged_file() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_garbage_ratio(0.5).unwrap().set_min_merge_files(1).unwrap().set_merge_trigger_ratio(1.0).unwrap();
    let db = Db::open(dir.path(), o.clone()).unwrap();
    // The old value sits in early files that stay mostly live and are not merged.
    db.put(b"victim", b"old value").unwrap();
    for k in 0..100 {
        db.put(format!("stable{k:03}").as_bytes(), &[1u8; 60]).unwrap();
    }
    // Later files: garbage plus the tombstone.
    for r in 0..4 {
        for k in 0..60 {
            db.put(format!("churn{k:03}").as_bytes(), format!("r{r}").as_bytes()).unwrap();
        }
        if r == 1 {
            db.delete(b"victim").unwrap();
        }
    }
    let victim_file = 1;
    assert!(db.compact_if_needed().unwrap());
    assert!(dir.path().join(format!("data/{victim_file:09}.data")).exists(), "the old value's file was not merged");
    assert_eq!(db.get(b"victim").unwrap(), None);
    db.close().unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.get(b"victim").unwrap(), None, "a deleted key came back");
    assert_eq!(db.stats().unwrap().keys, 160);
}

#[test]
fn a_selective_merge_that_can_only_keep_tombstones_settles() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_garbage_ratio(0.5).unwrap().set_min_merge_files(1).unwrap().set_merge_trigger_ratio(1.0).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    // Old values in files that stay mostly live; their tombstones later, in their own files.
    for k in 0..60 {
        db.put(format!("victim{k:03}").as_bytes(), &[1u8; 80]).unwrap();
        db.put(format!("stable{k:03}").as_bytes(), &[2u8; 80]).unwrap();
    }
    for k in 0..60 {
        db.delete(format!("victim{k:03}").as_bytes()).unwrap();
    }
    db.put(b"last", b"x").unwrap();
    let mut passes = 0;
    while db.compact_if_needed().unwrap() {
        passes += 1;
        assert!(passes < 10, "the selective merge keeps rewriting the same tombstones");
    }
    assert!(!db.compact_if_needed().unwrap());
    for k in 0..60 {
        assert_eq!(db.get(format!("victim{k:03}").as_bytes()).unwrap(), None);
    }
}

#[test]
fn a_file_a_selective_merge_could_not_shrink_is_picked_again_once_its_records_die() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_garbage_ratio(0.4).unwrap().set_min_merge_files(1).unwrap().set_merge_trigger_ratio(1.0).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    for k in 0..60 {
        db.put(format!("victim{k:03}").as_bytes(), &[1u8; 80]).unwrap();
    }
    // Files of tombstones (kept: they shadow the victims) and small live values beside them.
    for k in 0..60 {
        db.delete(format!("victim{k:03}").as_bytes()).unwrap();
        db.put(format!("keeper{k:03}").as_bytes(), b"a").unwrap();
    }
    let settle = || {
        let mut passes = 0;
        while db.compact_if_needed().unwrap() {
            passes += 1;
            assert!(passes < 10, "the selective merge keeps rewriting the same tombstones");
        }
    };
    settle();
    // The keepers die: every file holding them can shrink now, down to the tombstones.
    for k in 0..60 {
        db.put(format!("keeper{k:03}").as_bytes(), b"b").unwrap();
    }
    settle();
    let tombstones = 60 * (crate::format::record::HEADER_LEN as u64 + 9);
    let dead = db.reclaimable().unwrap().dead_bytes;
    assert!(dead <= tombstones, "{dead} dead bytes left, only {tombstones} of tombstones must stay");
    for k in 0..60 {
        assert_eq!(db.get(format!("victim{k:03}").as_bytes()).unwrap(), None);
        assert_eq!(db.get(format!("keeper{k:03}").as_bytes()).unwrap().unwrap(), b"b");
    }
}

#[test]
fn selective_merge_respects_its_thresholds() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_garbage_ratio(0.9).unwrap().set_min_merge_files(2).unwrap().set_merge_trigger_ratio(1.0).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 1, 300);
    assert!(!db.compact_if_needed().unwrap(), "no file has 90% garbage");
}

#[test]
fn expired_keys_are_collected_and_dropped_by_a_full_merge() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    for k in 0..50 {
        db.put_ttl(format!("t{k}").as_bytes(), b"v", 20).unwrap();
        db.put(format!("p{k}").as_bytes(), b"v").unwrap();
    }
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(db.run_gc().unwrap(), 50);
    assert_eq!(db.run_gc().unwrap(), 0);
    assert_eq!(db.stats().unwrap().keys, 50);
    assert!(db.merge(true).unwrap());
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.stats().unwrap().keys, 50);
}

#[test]
fn a_merge_racing_writers_and_readers_ends_in_the_models_state() {
    let dir = TempDir::new("merge");
    let db = Arc::new(Db::open(dir.path(), opts()).unwrap());
    fill(&db, 2, 400);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut mine = BTreeMap::new();
                for i in 0..300u32 {
                    let key = format!("w{t}-{}", i % 50).into_bytes();
                    if i % 7 == 3 {
                        db.delete(&key).unwrap();
                        mine.remove(&key);
                    } else {
                        let v = format!("{t}-{i}").into_bytes();
                        db.put(&key, &v).unwrap();
                        mine.insert(key, v);
                    }
                }
                mine
            })
        })
        .collect();
    let readers: Vec<_> = (0..8u32)
        .map(|_| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for k in (0..400).step_by(37) {
                        let v = db.get(format!("key{k:04}").as_bytes()).unwrap().expect("a stable key vanished");
                        assert!(v.starts_with(b"value-1-"));
                    }
                }
            })
        })
        .collect();
    for _ in 0..3 {
        db.merge(true).unwrap();
    }
    let mut model = fill(&db, 0, 0);
    for k in 0..400 {
        model.insert(format!("key{k:04}").into_bytes(), format!("value-1-{k}").into_bytes());
    }
    for w in writers {
        model.extend(w.join().unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_matches(&db, &model);
    db.merge(true).unwrap();
    assert_matches(&db, &model);
    Arc::try_unwrap(db).ok().unwrap().close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
}

#[test]
fn files_and_directories_that_are_not_ours_survive_a_merge() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    std::fs::write(dir.path().join("data/notes.txt"), b"mine").unwrap();
    std::fs::create_dir(dir.path().join("data/keep")).unwrap();
    std::fs::write(dir.path().join("data/keep/inner"), b"x").unwrap();
    fill(&db, 3, 100);
    assert!(db.merge(true).unwrap());
    assert_eq!(std::fs::read(dir.path().join("data/notes.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read(dir.path().join("data/keep/inner")).unwrap(), b"x");
}

#[test]
fn the_inputs_are_unmapped_before_the_background_thread_removes_them() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 3, 200);
    db.merge(true).unwrap();
    // The background thread unmaps the inputs, then removes data.old/ (queued in that order).
    let old = dir.path().join("data.old");
    let t0 = std::time::Instant::now();
    while old.exists() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(20), "data.old/ never removed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let root = dir.path().to_string_lossy().into_owned();
    let stale: Vec<&str> =
        maps.lines().filter(|l| l.contains(&root) && (l.contains("(deleted)") || l.contains("data.old"))).collect();
    assert!(stale.is_empty(), "{stale:?}");
}

#[test]
fn the_file_being_appended_is_the_highest_numbered_after_a_merge() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 3, 100);
    db.merge(true).unwrap();
    db.put(b"after", b"merge").unwrap();
    let ids: Vec<u32> =
        names(&dir.path().join("data")).iter().filter_map(|n| n.strip_suffix(".data")?.parse().ok()).collect();
    let after = db.meta(b"after").unwrap().unwrap().file_id;
    assert_eq!(Some(&after), ids.iter().max());
}

/// Appends half a record's worth of junk to data file `id`: what a write cut short by a crash
/// leaves.
fn tear(dir: &Path, id: u32) {
    use std::io::Write;
    let path = dir.join("data").join(crate::storage::fs::data_name(id));
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(&[0x5a; 40]).unwrap();
}

#[test]
fn files_rotated_while_a_merge_finishes_stay_below_the_file_being_appended() {
    let dir = TempDir::new("merge");
    let db = Arc::new(Db::open(dir.path(), opts()).unwrap());
    let mut model = fill(&db, 3, 100);
    // Writers rotating between the merge's last id and its swap (several files' worth).
    let during = db.clone();
    crate::killpoint::on_hit("merge-done-written", move || {
        for i in 0..120 {
            during.put(format!("during{i:03}").as_bytes(), &[7u8; 100]).unwrap();
        }
    });
    let merged = db.merge(true);
    crate::killpoint::clear_hook();
    assert!(merged.unwrap());
    for i in 0..120 {
        model.insert(format!("during{i:03}").into_bytes(), vec![7u8; 100]);
    }
    db.put(b"after", b"merge").unwrap();
    model.insert(b"after".to_vec(), b"merge".to_vec());
    let ids: Vec<u32> =
        names(&dir.path().join("data")).iter().filter_map(|n| n.strip_suffix(".data")?.parse().ok()).collect();
    let active = db.meta(b"after").unwrap().unwrap().file_id;
    assert_eq!(Some(&active), ids.iter().max(), "the file being appended is not the highest-numbered");
    // A crash in the middle of the next append: open must cut the torn tail, not refuse.
    Arc::try_unwrap(db).ok().unwrap().close().unwrap();
    tear(dir.path(), active);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.open_report().torn_tails.len(), 1);
    assert_matches(&db, &model);
}

/// A swap that puts the merge's empty file right below the one file writers rotated into during
/// the merge: that file's first record is linked to the stamps of the file it followed, which
/// is no longer below it, so the mark on the disk must name it before the swap
/// (docs/DESIGN.md section 1.6), or a power loss right after the swap makes open set that
/// durable file aside.
#[test]
fn a_swap_below_the_file_writers_rotated_into_leaves_a_mark_naming_that_file() {
    let dir = TempDir::new("merge");
    let db = Arc::new(Db::open(dir.path(), opts()).unwrap());
    fill(&db, 3, 100);
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (wdb, data, wseen) = (db.clone(), dir.path().join("data"), seen.clone());
    crate::killpoint::on_hit("merge-done-written", move || {
        // The merge has taken its empty file's id: one rotation (or first write) now makes the
        // only file above it.
        let before = wdb.engine().active_id();
        for i in 0.. {
            if wdb.engine().active_id() != before {
                break;
            }
            wdb.put(format!("during{i:04}").as_bytes(), &[7u8; 100]).unwrap();
        }
        let newest = wdb.engine().active_id().unwrap();
        let (data, seen) = (data.clone(), wseen.clone());
        crate::killpoint::on_hit("merge-tmp-renamed", move || {
            *seen.lock().unwrap() = Some((newest, crate::watermark::Known::read(&data).unwrap()));
        });
    });
    let merged = db.merge(true);
    crate::killpoint::clear_hook();
    assert!(merged.unwrap());
    let (newest, known) = seen.lock().unwrap().take().expect("the swap was reached");
    let mut ids: Vec<u32> =
        names(&dir.path().join("data")).iter().filter_map(|n| n.strip_suffix(".data")?.parse().ok()).collect();
    ids.sort_unstable();
    let below = ids[ids.iter().position(|&id| id == newest).unwrap() - 1];
    let empty = std::fs::metadata(dir.path().join("data").join(crate::storage::fs::data_name(below))).unwrap();
    assert_eq!(empty.len(), 0, "the merge's empty file is right below the writers' file");
    assert!(known.vouches_below(newest), "the mark at the swap does not name file {newest}: {known:?}");
}

#[test]
fn writers_rotating_through_merges_lose_nothing_even_with_a_torn_last_write() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_max_file_size(1024).unwrap();
    let db = Arc::new(Db::open(dir.path(), o.clone()).unwrap());
    fill(&db, 2, 50);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|t| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = BTreeMap::new();
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let (k, v) = (format!("w{t}-{}", i % 40).into_bytes(), format!("{t}-{i}").into_bytes());
                    db.put(&k, &v).unwrap();
                    acked.insert(k, v);
                    i += 1;
                }
                acked
            })
        })
        .collect();
    for _ in 0..5 {
        db.merge(true).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let mut model = contents(&db);
    for (k, v) in acked.iter().flatten() {
        assert_eq!(model.get(k), Some(v), "an acknowledged write is missing before reopen");
    }
    db.put(b"last", b"write").unwrap();
    model.insert(b"last".to_vec(), b"write".to_vec());
    let active = db.meta(b"last").unwrap().unwrap().file_id;
    Arc::try_unwrap(db).ok().unwrap().close().unwrap();
    tear(dir.path(), active);
    let db = Db::open(dir.path(), o).unwrap();
    assert_matches(&db, &model);
}

#[test]
fn a_background_merge_runs_on_its_interval() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_merge_interval_ms(10).set_merge_trigger_ratio(0.5).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 4, 100);
    for _ in 0..200 {
        if db.stats().unwrap().merges > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(db.stats().unwrap().merges > 0);
}

#[test]
fn merge_on_open_runs_the_policy() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = fill(&db, 4, 100);
    db.close().unwrap();
    let mut o = opts();
    o.set_merge_on_open(true).set_merge_trigger_ratio(0.5).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.stats().unwrap().merges, 1);
    assert_matches(&db, &model);
}

// ---- the recovery table, built by hand ----

/// A database with some data, closed, and a copy of its `data/` in `name`.
fn closed_db_with_copy(dir: &Path, name: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let db = Db::open(dir, opts()).unwrap();
    let model = fill(&db, 2, 50);
    db.close().unwrap();
    copy_dir(&dir.join("data"), &dir.join(name));
    model
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn valid_merge_done(tmp: &Path) {
    let mut done = crate::format::merge_done::MergeDone::default();
    for n in names(tmp) {
        if let Some(id) = n.strip_suffix(".data") {
            done.outputs.push((id.parse().unwrap(), std::fs::metadata(tmp.join(&n)).unwrap().len()));
        }
    }
    std::fs::write(tmp.join("MERGE_DONE"), done.encode()).unwrap();
}

#[test]
fn recovery_discards_a_merge_that_never_reached_the_swap() {
    let dir = TempDir::new("merge");
    let model = closed_db_with_copy(dir.path(), "merge.tmp");
    valid_merge_done(&dir.path().join("merge.tmp"));
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
    assert!(!dir.path().join("merge.tmp").exists());
}

#[test]
fn recovery_finishes_a_swap_cut_between_the_renames() {
    let dir = TempDir::new("merge");
    let model = closed_db_with_copy(dir.path(), "merge.tmp");
    valid_merge_done(&dir.path().join("merge.tmp"));
    std::fs::rename(dir.path().join("data"), dir.path().join("data.old")).unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
    assert!(!dir.path().join("merge.tmp").exists() && !dir.path().join("data.old").exists());
}

#[test]
fn recovery_removes_the_old_generation_after_a_finished_swap() {
    let dir = TempDir::new("merge");
    let model = closed_db_with_copy(dir.path(), "data.old");
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
    assert!(!dir.path().join("data.old").exists());
}

#[test]
fn recovery_refuses_states_it_cannot_resolve_safely() {
    let status = |dir: &Path| Db::open(dir, opts()).err().map(|e| e.status());
    let corrupt = Some(crate::status::E_CORRUPT);
    // merge.tmp and data.old without data/, but MERGE_DONE missing or wrong.
    let dir = TempDir::new("merge");
    closed_db_with_copy(dir.path(), "merge.tmp");
    std::fs::rename(dir.path().join("data"), dir.path().join("data.old")).unwrap();
    assert_eq!(status(dir.path()), corrupt);
    std::fs::write(dir.path().join("merge.tmp/MERGE_DONE"), b"garbage").unwrap();
    assert_eq!(status(dir.path()), corrupt);
    valid_merge_done(&dir.path().join("merge.tmp"));
    let some_output = names(&dir.path().join("merge.tmp")).into_iter().find(|n| n.ends_with(".data")).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("merge.tmp").join(some_output))
        .unwrap()
        .set_len(1)
        .unwrap();
    assert_eq!(status(dir.path()), corrupt, "an output of the wrong size");
    assert!(dir.path().join("data.old").exists(), "a refused open changes nothing");
    // data/, merge.tmp/ and data.old/ all present.
    let dir = TempDir::new("merge");
    closed_db_with_copy(dir.path(), "merge.tmp");
    copy_dir(&dir.path().join("data"), &dir.path().join("data.old"));
    assert_eq!(status(dir.path()), corrupt);
    // Only data.old/.
    let dir = TempDir::new("merge");
    closed_db_with_copy(dir.path(), "data.old");
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    assert_eq!(status(dir.path()), corrupt);
}

#[test]
fn a_newer_format_is_refused_before_an_interrupted_merge_is_settled() {
    let newer = br#"{"version": 99, "created": "x"}"#;
    let refused = |dir: &Path| {
        assert_eq!(Db::open(dir, opts()).err().map(|e| e.status()), Some(crate::status::E_FORMAT_VERSION));
        assert_eq!(crate::repair(dir, &opts()).err().map(|e| e.status()), Some(crate::status::E_FORMAT_VERSION));
    };
    // A merge that never reached the swap: open would discard merge.tmp/.
    let dir = TempDir::new("merge");
    closed_db_with_copy(dir.path(), "merge.tmp");
    std::fs::write(dir.path().join("data/bitgask.meta"), newer).unwrap();
    refused(dir.path());
    assert!(dir.path().join("merge.tmp").is_dir(), "merge.tmp/ of a newer format was discarded");
    // A swap cut between the renames: open would rename merge.tmp/ to data/.
    let dir = TempDir::new("merge");
    closed_db_with_copy(dir.path(), "merge.tmp");
    valid_merge_done(&dir.path().join("merge.tmp"));
    std::fs::write(dir.path().join("merge.tmp/bitgask.meta"), newer).unwrap();
    std::fs::rename(dir.path().join("data"), dir.path().join("data.old")).unwrap();
    refused(dir.path());
    assert!(!dir.path().join("data").exists() && dir.path().join("merge.tmp").is_dir());
    assert!(dir.path().join("data.old").is_dir());
}

/// Waits (bounded) until `flag` is set.
fn wait_for(flag: &AtomicBool, what: &str) {
    for _ in 0..5000 {
        if flag.load(Ordering::Acquire) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("timed out waiting for {what}");
}

/// Waits (bounded) until the active file's id satisfies `ok`.
fn wait_for_active(e: &crate::engine::Engine, ok: impl Fn(Option<u32>) -> bool) -> Option<u32> {
    for _ in 0..5000 {
        let id = e.active_id();
        if ok(id) {
            return id;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("timed out waiting for a write to reach the active file");
}

/// A merge publishes every write made before it chose its inputs. A file that writers filled and
/// rotated out while it waited for that publication holds records whose own group commit has not
/// published them yet: were it an input, the merge would find them dead and drop them, and
/// their publication would then point the keydir into a file the swap removed.
#[test]
fn a_file_rotated_out_while_the_merge_waits_for_its_commit_is_not_an_input() {
    let dir = TempDir::new("merge");
    let mut o = opts();
    o.set_sync_on_put(true);
    let db = Arc::new(Db::open(dir.path(), o.clone()).unwrap());
    let mut model = fill(&db, 2, 50);
    let copied = Arc::new(AtomicBool::new(false));
    let e = db.engine().clone();
    let (wdb, wcopied) = (db.clone(), copied.clone());
    let spawn_writer = move |key: &'static [u8], fill: u8| {
        let (db, copied) = (wdb.clone(), wcopied.clone());
        std::thread::spawn(move || {
            // The writers' group commit publishes only once the merge has copied its inputs.
            crate::killpoint::on_hit("group-synced", move || wait_for(&copied, "the merge's copy"));
            db.put(key, &[fill; 3000]).unwrap();
        })
    };
    let writers = Arc::new(std::sync::Mutex::new(Vec::new()));
    // A durable write held between its fsync and its publication: the merge seals the file that
    // holds it, finds it awaiting its group commit and waits for that commit (with nothing
    // awaiting one, the merge does not commit at all).
    let in_commit = Arc::new(AtomicBool::new(false));
    let (pdb, pe, held, flag) = (db.clone(), e.clone(), writers.clone(), in_commit.clone());
    let pending = std::thread::spawn(move || {
        let mut first = true;
        crate::killpoint::on_hit("group-synced", move || {
            if !std::mem::take(&mut first) {
                return;
            }
            flag.store(true, Ordering::Release);
            // The merge has sealed the active file and waits for this commit: one write opens a
            // file, a second fills it past the limit and rotates it out, both awaiting a commit.
            wait_for_active(&pe, |id| id.is_none());
            held.lock().unwrap().push(spawn_writer(b"key0001", 1));
            let a = wait_for_active(&pe, |id| id.is_some());
            held.lock().unwrap().push(spawn_writer(b"key0002", 2));
            wait_for_active(&pe, |id| id.is_some() && id != a);
        });
        pdb.put(b"key0003", &[3; 10]).unwrap();
        crate::killpoint::clear_hook();
    });
    wait_for(&in_commit, "a durable write in its group commit");
    let done = copied.clone();
    crate::killpoint::on_hit("merge-done-written", move || done.store(true, Ordering::Release));
    let merged = db.merge(true);
    crate::killpoint::clear_hook();
    copied.store(true, Ordering::Release);
    pending.join().unwrap();
    for w in std::mem::take(&mut *writers.lock().unwrap()) {
        w.join().unwrap();
    }
    assert!(merged.unwrap());
    model.insert(b"key0001".to_vec(), vec![1; 3000]);
    model.insert(b"key0002".to_vec(), vec![2; 3000]);
    model.insert(b"key0003".to_vec(), vec![3; 10]);
    assert_eq!(db.get(b"key0001").unwrap(), Some(vec![1; 3000]));
    assert_matches(&db, &model);
    Arc::try_unwrap(db).ok().unwrap().close().unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_matches(&db, &model);
}

/// Flips one byte inside the first occurrence of `needle` in the database's data files; returns
/// whether it found one. A needle of the key's bytes and then its value's is one record's: a value
/// alone may also match a shorter value followed by the next record's CRC byte.
fn flip_in_data(dir: &Path, needle: &[u8]) -> bool {
    let data = dir.join("data");
    for name in names(&data).iter().filter(|n| n.ends_with(".data")) {
        let f = data.join(name);
        let mut b = std::fs::read(&f).unwrap();
        if let Some(at) = b.windows(needle.len()).position(|w| w == needle) {
            b[at + needle.len() - 1] ^= 0x01;
            std::fs::write(&f, &b).unwrap();
            return true;
        }
    }
    false
}

#[test]
fn a_bit_flipped_in_a_live_record_stops_a_full_merge_with_corruption() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = fill(&db, 2, 200);
    db.close().unwrap();
    // Open reads the hints, not the damaged record: only the merge's own check can see it.
    assert!(flip_in_data(dir.path(), b"key0123value-1-123"));
    let db = Db::open(dir.path(), opts()).unwrap();
    let err = db.merge(true).unwrap_err();
    assert_eq!(err.status(), crate::status::E_CORRUPT, "{err}");
    assert!(err.to_string().contains("merge stopped"), "{err}");
    assert!(!dir.path().join("merge.tmp").exists(), "the failed merge's output is discarded");
    let mut others = model.clone();
    others.remove(&b"key0123"[..]);
    for (k, v) in &others {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "{k:?}");
    }
}

#[test]
fn a_full_merge_drops_a_damaged_dead_record_with_the_rest_of_the_garbage() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = fill(&db, 2, 200);
    db.close().unwrap();
    assert!(flip_in_data(dir.path(), b"key0123value-0-123"));
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.merge(true).unwrap());
    assert_eq!(db.stats().unwrap().dead_bytes, 0);
    assert_matches(&db, &model);
}

#[test]
fn a_full_merge_beside_writers_growing_the_keydir_ends_with_every_key_at_its_newest_value() {
    let dir = TempDir::new("merge");
    let db = Arc::new(Db::open(dir.path(), opts()).unwrap());
    let mut model = fill(&db, 2, 3000);
    // New keys make the table grow (and move its entries) while the merge walks and repoints
    // it; overwrites (each writer its own keys) change entries the walk has collected.
    let writers: Vec<_> = (0..2u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut mine = BTreeMap::new();
                for i in 0..20_000u32 {
                    let key = match i % 2 {
                        0 => format!("new{t}-{i}").into_bytes(),
                        _ => format!("key{:04}", (i / 2 * 2 + t) % 3000).into_bytes(),
                    };
                    let v = format!("w{t}-{i}").into_bytes();
                    db.put(&key, &v).unwrap();
                    mine.insert(key, v);
                }
                mine
            })
        })
        .collect();
    while writers.iter().any(|w| !w.is_finished()) {
        db.merge(true).unwrap();
    }
    for w in writers {
        model.extend(w.join().unwrap());
    }
    assert_matches(&db, &model);
    db.merge(true).unwrap();
    assert_eq!(db.stats().unwrap().dead_bytes, 0);
    Arc::try_unwrap(db).ok().unwrap().close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
}

/// Every record in the data files of `dir`, as bytes, with the batch-member flag cleared (and
/// the CRC redone) as a merge copies it; commit records left out.
fn plain_records(dir: &Path) -> Vec<Vec<u8>> {
    use crate::format::batch::{as_plain, FLAG_COMMIT};
    let data = dir.join("data");
    let mut v = Vec::new();
    for name in names(&data).iter().filter(|n| n.ends_with(".data")) {
        let b = std::fs::read(data.join(name)).unwrap();
        for (at, r) in crate::storage::scan::Scan::new(&b) {
            if r.header.flags & FLAG_COMMIT == 0 {
                let at = at as usize;
                v.push(as_plain(&b[at..at + r.header.record_len() as usize]).into_owned());
            }
        }
    }
    v
}

#[test]
fn a_full_merge_copies_live_records_byte_for_byte_across_runs_gaps_cuts_and_batches() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 1, 300);
    // Every third key written again: the first files become runs of live records with gaps.
    for k in (0..300).step_by(3) {
        db.put(format!("key{k:04}").as_bytes(), format!("again-{k}").as_bytes()).unwrap();
    }
    let mut b = crate::Batch::new();
    for k in 0..20 {
        b.put(format!("batch{k:02}").as_bytes(), b"member").unwrap();
    }
    db.write(&b).unwrap();
    db.put(b"after-the-batch", b"plain").unwrap();
    let model = contents(&db);
    db.close().unwrap();
    let before = plain_records(dir.path());
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.merge(true).unwrap());
    assert_matches(&db, &model);
    let after = plain_records(dir.path());
    assert_eq!(after.len(), model.len(), "one record per live key");
    let live: std::collections::HashSet<&Vec<u8>> = before.iter().collect();
    for rec in &after {
        assert!(live.contains(rec), "a merged record differs from every input record");
    }
    assert!(names(&dir.path().join("data")).iter().filter(|n| n.ends_with(".data")).count() > 2, "outputs cut");
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_matches(&db, &model);
}

#[test]
fn a_file_sealed_for_a_merge_that_does_not_take_it_still_gets_its_hint() {
    use super::{run_with, MergeKind, Plan};
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put(b"k", b"v").unwrap();
    let plan = Plan { kind: MergeKind::Full, seal_active: true, remove_inputs_now: false, hints: true };
    assert!(!run_with(db.engine(), plan, |_, _| Vec::new()).unwrap(), "nothing picked, nothing merged");
    let data = dir.path().join("data");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !names(&data).iter().any(|n| n.ends_with(".hint")) {
        assert!(std::time::Instant::now() < deadline, "no hint for the sealed file: {:?}", names(&data));
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until every data file of `dir` below the newest, `damaged` aside, has a hint.
fn wait_for_hints(dir: &Path, damaged: &str) {
    let data = dir.join("data");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let all = names(&data);
        let mut ids: Vec<&str> = all.iter().filter_map(|n| n.strip_suffix(".data")).collect();
        ids.pop();
        ids.retain(|id| format!("{id}.data") != damaged);
        if ids.iter().all(|id| all.contains(&format!("{id}.hint"))) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "sealed files without a hint: {all:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_full_merge_that_fails_leaves_every_input_with_its_hint() {
    let dir = TempDir::new("merge");
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 2, 200);
    db.close().unwrap();
    // Without hints, open scans every file and queues their hints, which the merge then skips.
    let data = dir.path().join("data");
    for n in names(&data).iter().filter(|n| n.ends_with(".hint")) {
        std::fs::remove_file(data.join(n)).unwrap();
    }
    let db = Db::open(dir.path(), opts()).unwrap();
    // Damage a live record in place (the maps see it; the length stays), so the merge fails.
    let needle = b"key0123value-1-123";
    let hit = names(&data).into_iter().filter(|n| n.ends_with(".data")).find_map(|n| {
        let b = std::fs::read(data.join(&n)).unwrap();
        b.windows(needle.len()).position(|w| w == needle).map(|at| (n, at + needle.len() - 1, b[at + needle.len() - 1]))
    });
    let (name, at, byte) = hit.expect("the record is on disk");
    let f = std::fs::OpenOptions::new().write(true).open(data.join(&name)).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[byte ^ 1], at as u64).unwrap();
    assert!(db.merge(true).is_err());
    // The damaged file gets none: the hint writer checks every record.
    wait_for_hints(dir.path(), &name);
}

#[test]
fn a_full_merge_cut_inside_its_one_input_copies_two_shares_into_outputs_of_their_own() {
    let dir = TempDir::new("merge");
    let big = || {
        let mut o = opts();
        o.set_max_file_size(1 << 20).unwrap().set_merge_max_file_size(1 << 20).unwrap();
        o
    };
    let db = Db::open(dir.path(), big()).unwrap();
    // Every other key written again: live records all along the one file, so both shares of the
    // cut (made inside it) have some.
    let mut model = fill(&db, 1, 2000);
    for k in (1..2000).step_by(2) {
        let (key, val) = (format!("key{k:04}").into_bytes(), format!("again-{k}").into_bytes());
        db.put(&key, &val).unwrap();
        model.insert(key, val);
    }
    assert!(db.merge(true).unwrap());
    let data = dir.path().join("data");
    let written = (names(&data).iter().filter(|n| n.ends_with(".data")))
        .filter(|n| std::fs::metadata(data.join(n)).unwrap().len() > 0)
        .count();
    assert_eq!(written, 2, "one output per share: {:?}", names(&data));
    assert_eq!(db.stats().unwrap().dead_bytes, 0);
    assert_matches(&db, &model);
    db.close().unwrap();
    let db = Db::open(dir.path(), big()).unwrap();
    assert_matches(&db, &model);
}
