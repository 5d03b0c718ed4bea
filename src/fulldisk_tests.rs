//! A full disk for real (docs/DESIGN.md sections 5.14 and 7.10): each test runs on a tmpfs of a
//! few MiB, mounted in a user and mount namespace of its own (`unshare -rm`), so it needs no
//! root. The test re-runs itself there: the child finds the mount in `BITGASK_SMALL_FS`. Where
//! user namespaces are not allowed the test says so and passes (the fault-injected stand-ins in
//! `fulldisk_fault_tests` still run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::status;
use crate::testutil::TempDir;
use crate::{Db, Options};

/// Size of the test file system.
const FS_SIZE: &str = "6m";

/// The mounted small file system when this is the child run, else `None` after running `test`
/// in a child with one (or skipping when that is impossible).
fn small_fs(test: &str) -> Option<PathBuf> {
    small_fs_of(test, FS_SIZE)
}

/// [`small_fs`] with a file system of `size` (a tmpfs `size=` value).
fn small_fs_of(test: &str, size: &str) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("BITGASK_SMALL_FS") {
        return Some(PathBuf::from(dir));
    }
    let probe = Command::new("unshare").args(["-rm", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("{test}: skipped, no unprivileged user namespaces (unshare -rm) here");
        return None;
    }
    let dir = TempDir::new("smallfs");
    let exe = std::env::current_exe().unwrap();
    let script = format!("mount -t tmpfs -o size={size} bitgask-test \"$1\" && shift && exec \"$@\"");
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script, "sh"])
        .arg(dir.path())
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1", "--include-ignored"])
        .env("BITGASK_SMALL_FS", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{test} on a small file system failed:\n{text}");
    // (The harness's "test name ... " may precede the first line on the same line.)
    text.lines().filter_map(|l| l.find("FIGURE").map(|at| &l[at..])).for_each(|l| println!("{l}"));
    None
}

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(256 << 10)
        .unwrap()
        .set_merge_max_file_size(256 << 10)
        .unwrap()
        .set_merge_interval_ms(0)
        .set_reserve_bytes(512 << 10)
        .unwrap();
    o
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; 1024];
    v[..4].copy_from_slice(&i.to_le_bytes());
    v
}

/// Puts 1 KiB values until the disk is full; returns the keys acknowledged.
fn fill(db: &Db) -> Vec<u32> {
    let mut acked = Vec::new();
    for i in 0.. {
        match db.put(&key(i), &value(i)) {
            Ok(()) => acked.push(i),
            Err(e) => {
                assert_eq!(e.status(), status::E_NO_SPACE, "a full disk is E_NO_SPACE: {e}");
                assert!(e.to_string().contains("No space left on device"), "{e}");
                break;
            }
        }
    }
    acked
}

fn check(db: &Db, live: &BTreeMap<u32, bool>, when: &str) {
    check_values(db, live, when, value);
}

/// Every key of `live` holds `value_of(key)` when present and reads as absent when deleted.
fn check_values(db: &Db, live: &BTreeMap<u32, bool>, when: &str, value_of: fn(u32) -> Vec<u8>) {
    for (&i, &present) in live {
        let got = db.get(&key(i)).unwrap();
        match present {
            true => assert_eq!(got.as_deref(), Some(&value_of(i)[..]), "{when}: key {i} lost"),
            false => assert_eq!(got, None, "{when}: deleted key {i} is back"),
        }
    }
}

/// Fill, reopen full, delete most keys, reclaim with `reclaim`, write again, reopen.
fn fill_delete_reclaim_write(root: &Path, reclaim: impl Fn(&Db) -> crate::Result<bool>) {
    let path = root.join("db");
    let db = Db::open(&path, opts()).unwrap();
    let acked = fill(&db);
    assert!(acked.len() > 1000, "only {} puts fit", acked.len());
    assert!(db.space().unwrap().full);
    assert_eq!(db.put(b"more", b"x").unwrap_err().status(), status::E_NO_SPACE, "puts are refused while full");
    let mut live: BTreeMap<u32, bool> = acked.iter().map(|&i| (i, true)).collect();
    check(&db, &live, "full, still open");
    db.close().unwrap();

    // Opening a full disk works. The reserve the first handle gave back is written again if
    // nothing took its room (then the first delete that finds no room gives it back again).
    let db = Db::open(&path, opts()).unwrap();
    check(&db, &live, "full, reopened");
    for &i in acked.iter().filter(|&&i| i % 5 != 0) {
        db.delete(&key(i)).unwrap_or_else(|e| panic!("delete {i} on a full disk: {e}"));
        live.insert(i, false);
    }
    let before = db.space().unwrap();
    let stats = db.stats().unwrap();
    assert!(reclaim(&db).unwrap_or_else(|e| panic!("{e}: {before:?} {stats:?}")), "a merge ran");
    let s = db.space().unwrap();
    assert!(!s.full, "room came back: {s:?}");
    assert_eq!(s.reserve_bytes, 512 << 10, "the reserve is written again");
    check(&db, &live, "after reclaiming");
    let base = acked.len() as u32 + 10;
    for i in base..base + 1000 {
        db.put(&key(i), &value(i)).unwrap_or_else(|e| panic!("put {i} after reclaiming: {e}"));
        live.insert(i, true);
    }
    db.close().unwrap();
    let db = Db::open(&path, opts()).unwrap();
    check(&db, &live, "reopened at the end");
}

#[test]
fn small_fs_fill_delete_then_merge_reclaims_and_writes_resume() {
    let Some(root) = small_fs("fulldisk_tests::small_fs_fill_delete_then_merge_reclaims_and_writes_resume") else {
        return;
    };
    fill_delete_reclaim_write(&root, |db| db.merge(true));
}

#[test]
fn small_fs_fill_delete_then_compact_if_needed_reclaims_and_writes_resume() {
    let Some(root) = small_fs("fulldisk_tests::small_fs_fill_delete_then_compact_if_needed_reclaims_and_writes_resume")
    else {
        return;
    };
    fill_delete_reclaim_write(&root, |db| db.compact_if_needed());
}

#[test]
fn small_fs_deletes_run_on_a_full_disk_without_a_merge() {
    let Some(root) = small_fs("fulldisk_tests::small_fs_deletes_run_on_a_full_disk_without_a_merge") else {
        return;
    };
    let db = Db::open(root.join("db"), opts()).unwrap();
    let acked = fill(&db);
    // 512 KiB of reserve is room for about 11,000 tombstones of these 12-byte keys.
    for &i in &acked {
        db.delete(&key(i)).unwrap_or_else(|e| panic!("delete {i} of {}: {e}", acked.len()));
    }
    assert_eq!(db.stats().unwrap().keys, 0);
    assert!(db.space().unwrap().full, "no merge yet: still full");
}

/// Files of 2 MiB on the 6 MiB file system: no file's live bytes fit in what is free once
/// deletes have used the reserve up, so only the tail-first reclaim (docs/DESIGN.md section 7.11)
/// gets the disk back.
fn big_file_opts() -> Options {
    let mut o = opts();
    o.set_max_file_size(2 << 20).unwrap().set_merge_max_file_size(2 << 20).unwrap();
    o
}

fn small_value(i: u32) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; 100];
    v[..4].copy_from_slice(&i.to_le_bytes());
    v
}

/// Deletes nine keys in ten of `keys` (those still present) until one is refused for space;
/// returns whether all were deleted.
fn delete_until_refused(db: &Db, keys: &[u32], live: &mut BTreeMap<u32, bool>) -> bool {
    for &i in keys {
        if i % 10 == 0 || !live[&i] {
            continue;
        }
        match db.delete(&key(i)) {
            Ok(_) => {
                live.insert(i, false);
            }
            Err(e) => {
                assert_eq!(e.status(), status::E_NO_SPACE, "delete {i}: {e}");
                return false;
            }
        }
    }
    true
}

fn check_small(db: &Db, live: &BTreeMap<u32, bool>, when: &str) {
    check_values(db, live, when, small_value);
}

/// Fill with 100-byte values, delete nine in ten until refused, reclaim with `reclaim`, repeat
/// until every one is deleted, write again, reopen.
fn small_values_tail_first(root: &Path, reclaim: impl Fn(&Db) -> crate::Result<bool>) {
    let path = root.join("db");
    let db = Db::open(&path, big_file_opts()).unwrap();
    let mut acked = Vec::new();
    for i in 0.. {
        match db.put(&key(i), &small_value(i)) {
            Ok(()) => acked.push(i),
            Err(e) => {
                assert_eq!(e.status(), status::E_NO_SPACE, "{e}");
                break;
            }
        }
    }
    assert!(acked.len() > 20_000, "only {} puts fit", acked.len());
    let mut live: BTreeMap<u32, bool> = acked.iter().map(|&i| (i, true)).collect();
    let mut rounds = 0;
    while !delete_until_refused(&db, &acked, &mut live) {
        rounds += 1;
        assert!(rounds < 20, "deletes still refused after {rounds} reclaims: {:?}", db.space().unwrap());
        let before = db.space().unwrap();
        // The floor is checked before each delete: the last one may take a page of it.
        assert!(before.free_bytes >= 56 << 10, "deletes leave the floor free: {before:?}");
        let stats = db.stats().unwrap();
        assert!(reclaim(&db).unwrap_or_else(|e| panic!("{e}: {before:?} {stats:?}")), "a merge ran");
        check_small(&db, &live, "after reclaiming");
    }
    assert!(rounds > 0, "deletes were never refused: the test no longer fills the reserve");
    reclaim(&db).unwrap();
    let s = db.space().unwrap();
    assert!(!s.full, "room came back: {s:?}");
    check_small(&db, &live, "all deleted and reclaimed");
    let base = acked.len() as u32 + 10;
    for i in base..base + 5000 {
        db.put(&key(i), &small_value(i)).unwrap_or_else(|e| panic!("put {i} after reclaiming: {e}"));
        live.insert(i, true);
    }
    db.close().unwrap();
    let db = Db::open(&path, big_file_opts()).unwrap();
    check_small(&db, &live, "reopened at the end");
}

#[test]
fn small_fs_small_values_files_larger_than_the_room_reclaim_tail_first_with_merge() {
    let Some(root) =
        small_fs("fulldisk_tests::small_fs_small_values_files_larger_than_the_room_reclaim_tail_first_with_merge")
    else {
        return;
    };
    small_values_tail_first(&root, |db| db.merge(true));
}

#[test]
fn small_fs_small_values_files_larger_than_the_room_reclaim_tail_first_with_compact_if_needed() {
    let Some(root) = small_fs(
        "fulldisk_tests::small_fs_small_values_files_larger_than_the_room_reclaim_tail_first_with_compact_if_needed",
    ) else {
        return;
    };
    small_values_tail_first(&root, |db| db.compact_if_needed());
}

/// One figure: with the default options on the file system at `root`, fill with values of
/// `vlen` bytes, delete `percent`% of the keys evenly until refused, merge, repeat while that
/// frees room; prints what happened.
fn figure(root: &Path, vlen: usize, percent: u32) {
    let path = root.join(format!("db-{vlen}-{percent}"));
    let mut o = Options::default();
    o.set_merge_interval_ms(0).set_sync_on_put(false).set_sync_on_delete(false);
    let db = Db::open(&path, o).unwrap();
    let v = |i: u32| {
        let mut v = vec![(i % 251) as u8; vlen];
        v[..4].copy_from_slice(&i.to_le_bytes());
        v
    };
    let mut n = 0u32;
    while db.put(&key(n), &v(n)).is_ok() {
        n += 1;
    }
    db.sync().unwrap();
    let doomed = |i: u32| (i % 100) < percent;
    let (mut next, mut merges, mut secs, mut refused) = (0u32, 0, 0.0, 0);
    let full_free = db.space().unwrap().free_bytes;
    loop {
        while next < n && (!doomed(next) || db.delete(&key(next)).is_ok()) {
            next += 1;
        }
        if next < n {
            refused += 1;
        }
        let t = std::time::Instant::now();
        let merged = db.merge(true);
        secs += t.elapsed().as_secs_f64();
        merges += 1;
        let s = db.space().unwrap();
        match merged {
            Ok(true) if next < n => continue,
            Ok(_) => {
                let ok = db.put(b"after", b"x").is_ok();
                let again = db.merge(true);
                let st = db.stats().unwrap();
                println!(
                    "FIGURE   then merge again: {again:?}, free {} KiB, {} files, {} KiB dead of {} KiB",
                    db.space().unwrap().free_bytes >> 10,
                    st.data_files,
                    st.dead_bytes >> 10,
                    st.total_bytes >> 10
                );
                println!(
                    "FIGURE values {vlen} B, {percent}% deleted: {n} puts, deletes refused {refused} times, \
                     {merges} merge calls, {secs:.2} s merging, free {} KiB when full -> {} KiB after; \
                     full {}, puts resume {ok}",
                    full_free >> 10,
                    s.free_bytes >> 10,
                    s.full
                );
                break;
            }
            Err(e) => {
                println!(
                    "FIGURE values {vlen} B, {percent}% deleted: {n} puts, {next} keys visited, STUCK after {merges} \
                     merge calls ({secs:.2} s): {e}; free {} KiB",
                    s.free_bytes >> 10
                );
                break;
            }
        }
    }
    let check_every = if vlen < 1000 { 97 } else { 7 };
    for i in (0..n).step_by(check_every) {
        let got = db.get(&key(i)).unwrap();
        let deleted = doomed(i) && i < next;
        assert_eq!(got, (!deleted).then(|| v(i)), "key {i}");
    }
    db.close().unwrap();
    std::fs::remove_dir_all(&path).unwrap();
}

/// The figures of the README's full-disk table: default options (64 MiB files, 4 MiB reserve)
/// on a 160 MiB file system. Slow; run by hand: `cargo test --release --lib figures -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn figures_with_the_defaults_on_160_mib() {
    let Some(root) = small_fs_of("fulldisk_tests::figures_with_the_defaults_on_160_mib", "160m") else {
        return;
    };
    for (vlen, percent) in [(100, 90), (100, 95), (4096, 90), (4096, 95)] {
        figure(&root, vlen, percent);
    }
}
