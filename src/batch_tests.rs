//! Batches through the public API: atomic visibility, recovery of torn and damaged batches,
//! and batches surviving rotation, hints and merges.

use super::*;
use crate::error::status;
use crate::options::Options;
use crate::testutil::{files_with_ext, TempDir};
use std::path::PathBuf;

fn opts(sync: bool, max_file: u64) -> Options {
    let mut o = Options::default();
    o.set_max_file_size(max_file).unwrap();
    o.set_sync_on_put(sync).set_sync_on_delete(sync);
    o.merge.interval_ms = 0;
    o
}

fn batch_of(keys: &[&str], value: &str) -> Batch {
    let mut b = Batch::new();
    for k in keys {
        b.put(k.as_bytes(), value.as_bytes()).unwrap();
    }
    b
}

fn get(db: &Db, k: &str) -> Option<String> {
    db.get(k.as_bytes()).unwrap().map(|v| String::from_utf8(v).unwrap())
}

#[test]
fn a_batch_writes_every_key_and_survives_reopen() {
    let dir = TempDir::new("batch");
    let db = Db::open(dir.path(), opts(true, 1 << 20)).unwrap();
    db.put(b"gone", b"x").unwrap();
    let mut b = batch_of(&["a", "b"], "1");
    b.delete(b"gone").unwrap();
    b.put_ttl(b"t", b"v", 60_000).unwrap();
    assert_eq!(b.len(), 4);
    db.write(&b).unwrap();
    assert_eq!((get(&db, "a"), get(&db, "b"), get(&db, "gone")), (Some("1".into()), Some("1".into()), None));
    assert!(matches!(db.ttl(b"t").unwrap(), Some(crate::Ttl::Remaining(_))));
    drop(db);
    let db = Db::open(dir.path(), opts(true, 1 << 20)).unwrap();
    assert_eq!((get(&db, "a"), get(&db, "gone"), get(&db, "t")), (Some("1".into()), None, Some("v".into())));
    assert!(db.open_report().torn_tails.is_empty());
}

#[test]
fn put_at_stores_the_absolute_expiry_and_zero_means_never_despite_a_default_ttl() {
    let dir = TempDir::new("batch");
    let mut o = opts(false, 1 << 20);
    o.set_default_ttl_ms(60_000);
    let db = Db::open(dir.path(), o).unwrap();
    let at = crate::clock::now_ns() + 3_600_000_000_000;
    let mut b = Batch::new();
    b.put_at(b"at", b"1", at).unwrap();
    b.put_at(b"never", b"2", 0).unwrap();
    b.put_at(b"past", b"3", 1).unwrap();
    assert!(b.put_at(b"", b"x", 0).is_err());
    db.write(&b).unwrap();
    assert_eq!(db.meta(b"at").unwrap().unwrap().expires_unix_nano, at);
    assert_eq!(db.ttl(b"never").unwrap(), Some(crate::Ttl::Never));
    assert_eq!(get(&db, "past"), None);
}

#[test]
fn a_key_twice_in_a_batch_ends_with_its_last_operation() {
    let dir = TempDir::new("batch");
    let db = Db::open(dir.path(), opts(false, 1 << 20)).unwrap();
    let mut b = Batch::new();
    b.put(b"k", b"1").unwrap();
    b.put(b"k", b"2").unwrap();
    b.put(b"d", b"1").unwrap();
    b.delete(b"d").unwrap();
    db.write(&b).unwrap();
    assert_eq!((get(&db, "k"), get(&db, "d")), (Some("2".into()), None));
    drop(db);
    let db = Db::open(dir.path(), opts(false, 1 << 20)).unwrap();
    assert_eq!((get(&db, "k"), get(&db, "d")), (Some("2".into()), None));
}

#[test]
fn a_batch_is_unchanged_by_writing_and_can_be_written_again_or_cleared() {
    let dir = TempDir::new("batch");
    let db = Db::open(dir.path(), opts(false, 1 << 20)).unwrap();
    let mut b = batch_of(&["a"], "1");
    db.write(&b).unwrap();
    db.put(b"a", b"2").unwrap();
    db.write(&b).unwrap();
    assert_eq!((b.len(), get(&db, "a")), (1, Some("1".into())));
    b.clear();
    assert!(b.is_empty());
    db.write(&b).unwrap();
}

#[test]
fn operations_are_checked_when_added() {
    let mut b = Batch::new();
    assert_eq!(b.put(b"", b"v").unwrap_err().status(), status::E_INVALID_ARG);
    assert_eq!(b.delete(b"").unwrap_err().status(), status::E_INVALID_ARG);
    assert_eq!(b.put_ttl(b"k", b"v", 0).unwrap_err().status(), status::E_INVALID_ARG);
    let huge = vec![0u8; HARD_MAX_VALUE as usize + 1];
    assert_eq!(b.put(b"k", &huge).unwrap_err().status(), status::E_TOO_LARGE);
    assert!(b.is_empty());
}

#[test]
fn a_batch_over_the_handles_limits_writes_nothing() {
    let dir = TempDir::new("batch");
    let mut o = opts(false, 4096);
    o.set_max_key_size(8).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    let mut b = batch_of(&["a"], "1");
    b.put(b"much-too-long-key", b"v").unwrap();
    assert_eq!(db.write(&b).unwrap_err().status(), status::E_TOO_LARGE);
    let big = batch_of(&["a", "b", "c"], &"x".repeat(1500));
    assert_eq!(db.write(&big).unwrap_err().status(), status::E_TOO_LARGE);
    assert_eq!(get(&db, "a"), None);
    assert_eq!(db.stats().unwrap().total_bytes, 0);
}

#[test]
fn a_batch_that_does_not_fit_rotates_first_and_stays_in_one_file() {
    let dir = TempDir::new("batch");
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    for i in 0..10 {
        let keys: Vec<String> = (0..8).map(|j| format!("k{i}-{j}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        db.write(&batch_of(&refs, &"v".repeat(40))).unwrap();
    }
    drop(db);
    assert!(files_with_ext(dir.path(), "data").len() > 1);
    for f in files_with_ext(dir.path(), "data") {
        let bytes = std::fs::read(&f).unwrap();
        let mut s = crate::storage::batch_scan::BatchScan::new(&bytes);
        assert_eq!(s.by_ref().count() % 8, 0, "{}", f.display());
        assert!(s.stopped_at().is_none());
    }
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    assert_eq!(db.stats().unwrap().keys, 80);
}

/// Writes `a` plainly, then one batch, and returns the database's newest file and where the
/// batch starts in it.
fn db_with_batch(dir: &TempDir) -> (PathBuf, u64) {
    let db = Db::open(dir.path(), opts(false, 1 << 20)).unwrap();
    db.put(b"a", b"old").unwrap();
    // Where the records end (while the file is active it may also hold room for appends).
    let start = db.stats().unwrap().total_bytes;
    let mut b = batch_of(&["a", "b", "c"], "new");
    b.delete(b"zz").unwrap();
    db.write(&b).unwrap();
    drop(db);
    (files_with_ext(dir.path(), "data")[0].clone(), start)
}

fn no_hints() -> Options {
    let mut o = opts(false, 1 << 20);
    o.hint_files = false;
    o
}

#[test]
fn a_batch_cut_at_every_byte_opens_wholly_absent() {
    let dir = TempDir::new("batch");
    let (file, start) = db_with_batch(&dir);
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let full = std::fs::read(&file).unwrap();
    for cut in start..full.len() as u64 {
        std::fs::write(&file, &full[..cut as usize]).unwrap();
        let db = Db::open(dir.path(), no_hints()).unwrap();
        assert_eq!((get(&db, "a"), get(&db, "b"), get(&db, "c")), (Some("old".into()), None, None), "cut {cut}");
        let r = db.open_report();
        // A cut that leaves only zero bytes after the records (the first bytes of the batch's
        // CRC may be zero: one run in 256) is an unused tail, trimmed the same way.
        let zeros = full[start as usize..cut as usize].iter().all(|&b| b == 0);
        if cut > start && zeros {
            assert_eq!(r.unused_tails.len(), 1, "cut {cut}");
        } else if cut > start {
            assert_eq!(r.torn_tails.len(), 1, "cut {cut}");
            assert_eq!(r.torn_tails[0].1, start, "cut {cut}");
        }
        drop(db);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), start, "cut {cut}");
    }
    std::fs::write(&file, &full).unwrap();
    let db = Db::open(dir.path(), no_hints()).unwrap();
    assert_eq!(get(&db, "b"), Some("new".into()));
}

#[test]
fn a_torn_batch_is_named_in_the_open_report() {
    let dir = TempDir::new("batch");
    let (file, start) = db_with_batch(&dir);
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let full = std::fs::read(&file).unwrap();
    std::fs::write(&file, &full[..full.len() - 1]).unwrap();
    let db = Db::open(dir.path(), no_hints()).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(db.open_report().torn_batches, vec![(name, start, 4)]);
}

#[test]
fn a_batch_without_its_commit_followed_by_valid_data_is_corruption() {
    let dir = TempDir::new("batch");
    let (file, _) = db_with_batch(&dir);
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let mut bytes = std::fs::read(&file).unwrap();
    let commit = crate::format::batch::COMMIT_LEN;
    bytes.truncate(bytes.len() - commit);
    bytes.extend(crate::format::record::encode(u64::MAX - 1, 0, 0, b"later", b"v"));
    std::fs::write(&file, &bytes).unwrap();
    let err = Db::open(dir.path(), no_hints()).err().unwrap();
    assert_eq!(err.status(), status::E_CORRUPT, "{err}");
    assert!(err.to_string().contains("commit record"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "a refused open changes nothing");
}

#[test]
fn batches_survive_sealing_hints_and_a_merge_as_plain_records() {
    let dir = TempDir::new("batch");
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    for round in 0..3 {
        for i in 0..6 {
            let keys: Vec<String> = (0..5).map(|j| format!("k{i}-{j}")).collect();
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            db.write(&batch_of(&refs, &format!("r{round}{}", "v".repeat(60)))).unwrap();
        }
    }
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    assert!(db.open_report().files_from_hints > 0);
    assert_eq!(db.stats().unwrap().keys, 30);
    assert!(db.merge(true).unwrap());
    assert_eq!(get(&db, "k3-4").unwrap(), format!("r2{}", "v".repeat(60)));
    drop(db);
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    assert_eq!(db.stats().unwrap().keys, 30);
    assert_eq!(get(&db, "k0-0").unwrap(), format!("r2{}", "v".repeat(60)));
    // Merge outputs hold no batch framing.
    drop(db);
    for f in files_with_ext(dir.path(), "data") {
        for (_, r) in crate::storage::scan::Scan::new(&std::fs::read(&f).unwrap()) {
            assert_eq!(r.header.flags & (crate::format::batch::FLAG_MEMBER | crate::format::batch::FLAG_COMMIT), 0);
        }
    }
}

#[test]
fn concurrent_readers_never_see_part_of_a_batch() {
    let dir = TempDir::new("batch");
    let db = std::sync::Arc::new(Db::open(dir.path(), opts(false, 1 << 16)).unwrap());
    db.write(&batch_of(&["x", "y"], "0")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // y is written after x in every batch: seeing y's round means x has it too.
                let y = get(&db, "y").unwrap();
                let x = get(&db, "x").unwrap();
                assert!(x.parse::<u32>().unwrap() >= y.parse::<u32>().unwrap(), "x {x} y {y}");
            }
        })
    };
    for i in 1..2000u32 {
        db.write(&batch_of(&["x", "y"], &i.to_string())).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
}

/// A closed database of batches over several files (sealed files with hints).
fn batched_db(dir: &TempDir) {
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    for i in 0..12 {
        let keys: Vec<String> = (0..4).map(|j| format!("k{i}-{j}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        db.write(&batch_of(&refs, &"v".repeat(50))).unwrap();
    }
    db.close().unwrap();
}

#[test]
fn validate_finds_a_database_of_batches_clean() {
    let dir = TempDir::new("batch");
    batched_db(&dir);
    let r = crate::validate(dir.path()).unwrap();
    assert!(r.clean(), "{}", r.text());
    assert_eq!((r.records, r.live_keys), (48, 48));
}

#[test]
fn repair_quarantines_a_batch_without_its_commit_and_keeps_what_follows() {
    let dir = TempDir::new("batch");
    let (file, start) = db_with_batch(&dir);
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(bytes.len() - crate::format::batch::COMMIT_LEN);
    let members = bytes.len() as u64 - start;
    bytes.extend(crate::format::record::encode(u64::MAX - 1, 0, 0, b"later", b"v"));
    std::fs::write(&file, &bytes).unwrap();
    let r = crate::validate(dir.path()).unwrap();
    let p: Vec<_> = r.problems.iter().map(|p| (p.kind.name(), p.offset, p.length)).collect();
    assert_eq!(p, vec![("corrupt_record", start, members)]);
    let fixed = crate::repair(dir.path(), &no_hints()).unwrap();
    assert!(fixed.bytes_quarantined == members, "{}", fixed.text());
    let db = Db::open(dir.path(), no_hints()).unwrap();
    assert_eq!((get(&db, "a"), get(&db, "b"), get(&db, "later")), (Some("old".into()), None, Some("v".into())));
    drop(db);
    assert!(crate::validate(dir.path()).unwrap().problems.iter().all(|p| p.kind.is_note()));
}

#[test]
fn repair_truncates_a_torn_batch_at_its_first_member() {
    let dir = TempDir::new("batch");
    let (file, start) = db_with_batch(&dir);
    let _ = std::fs::remove_file(file.with_extension("hint"));
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
    let r = crate::validate(dir.path()).unwrap();
    assert_eq!(r.problems.iter().map(|p| (p.kind.name(), p.offset)).collect::<Vec<_>>(), vec![("torn_tail", start)]);
    crate::repair(dir.path(), &no_hints()).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().len(), start);
}

#[test]
fn a_backup_of_batches_opens_with_every_batch() {
    let dir = TempDir::new("batch");
    batched_db(&dir);
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    db.write(&batch_of(&["x", "y"], "last")).unwrap();
    let copy = TempDir::new("batch-copy");
    let dst = copy.path().join("b");
    db.backup(&dst).unwrap();
    drop(db);
    assert!(crate::validate(&dst).unwrap().clean());
    let c = Db::open(&dst, opts(false, 4096)).unwrap();
    assert_eq!((c.stats().unwrap().keys, get(&c, "y")), (50, Some("last".into())));
}

#[test]
fn stats_count_commit_records_as_dead_bytes_of_their_file() {
    let dir = TempDir::new("batch");
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    for i in 0..20 {
        db.write(&batch_of(&[&format!("a{i}"), &format!("b{i}")], &"v".repeat(80))).unwrap();
    }
    let s = db.stats().unwrap();
    assert_eq!(s.dead_bytes, 20 * crate::format::batch::COMMIT_LEN as u64);
    drop(db);
    // Closed, the files end at their last record (the active one's room for appends is gone).
    let on_disk: u64 = files_with_ext(dir.path(), "data").iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    assert_eq!(s.total_bytes, on_disk);
    let db = Db::open(dir.path(), opts(false, 4096)).unwrap();
    assert_eq!(db.stats().unwrap().total_bytes, on_disk);
    assert_eq!(db.stats().unwrap().dead_bytes, 20 * crate::format::batch::COMMIT_LEN as u64);
}

#[test]
fn a_batch_hands_out_its_operations_in_order_and_clear_empties_it() {
    let mut b = Batch::new();
    b.put(b"k1", b"v1").unwrap();
    b.put_ttl(b"k2", b"", 5).unwrap();
    b.delete(b"k3").unwrap();
    b.put_at(b"k4", b"v4", 9).unwrap();
    let got: Vec<String> = b.iter().map(|op| format!("{op:?}")).collect();
    let want = [
        OpRef::Put { key: b"k1", value: b"v1", ttl_ms: 0, at: None },
        OpRef::Put { key: b"k2", value: b"", ttl_ms: 5, at: None },
        OpRef::Delete { key: b"k3" },
        OpRef::Put { key: b"k4", value: b"v4", ttl_ms: 0, at: Some(9) },
    ];
    assert_eq!(got, want.iter().map(|op| format!("{op:?}")).collect::<Vec<_>>());
    b.clear();
    assert!(b.is_empty() && b.iter().next().is_none());
}

/// A batch far longer than the publish's prefetch distance, into an empty keydir whose tables
/// grow several times while it is published, overwriting and deleting its own keys: every key
/// ends with its last operation, and the byte accounting matches the same writes made one by one
/// (plus the commit record).
#[test]
fn a_long_batch_that_grows_the_keydir_ends_each_key_with_its_last_operation() {
    let (dir, one_dir) = (TempDir::new("batch"), TempDir::new("batch"));
    let db = Db::open(dir.path(), opts(false, 1 << 24)).unwrap();
    let one = Db::open(one_dir.path(), opts(false, 1 << 24)).unwrap();
    let mut b = Batch::new();
    let mut want = std::collections::BTreeMap::new();
    for i in 0..3000u32 {
        let (key, value) = (format!("long-batch-key-{}", i % 2400), format!("value-{i}"));
        if i % 11 == 10 && want.contains_key(&key) {
            b.delete(key.as_bytes()).unwrap();
            one.delete(key.as_bytes()).unwrap();
            want.insert(key, None);
        } else {
            b.put(key.as_bytes(), value.as_bytes()).unwrap();
            one.put(key.as_bytes(), value.as_bytes()).unwrap();
            want.insert(key, Some(value));
        }
    }
    db.write(&b).unwrap();
    for (key, value) in &want {
        assert_eq!(&get(&db, key), value, "{key}");
    }
    let (s, s1) = (db.stats().unwrap(), one.stats().unwrap());
    assert_eq!(s.total_bytes, s1.total_bytes + crate::format::batch::COMMIT_LEN as u64);
    assert_eq!(s.dead_bytes, s1.dead_bytes + crate::format::batch::COMMIT_LEN as u64);
}

/// Each operation is kept as its member record as it is added (section 5.12): the bytes
/// `Placed::encode` would give, unstamped, uncompressed and with no expiry yet.
#[test]
fn each_added_operation_is_its_member_record_unstamped() {
    use crate::format::batch::FLAG_MEMBER;
    use crate::format::record::{Codec, Placed, FLAG_TOMBSTONE};
    let mut b = Batch::new();
    b.put(b"key-1", b"value").unwrap();
    b.put_ttl(b"key-2", b"", 5).unwrap();
    b.delete(b"key-3").unwrap();
    let mut want = Vec::new();
    Placed::encode(&mut want, b"key-1", b"value", 0, FLAG_MEMBER, Codec::None);
    Placed::encode(&mut want, b"key-2", b"", 0, FLAG_MEMBER, Codec::None);
    Placed::encode(&mut want, b"key-3", b"", 0, FLAG_MEMBER | FLAG_TOMBSTONE, Codec::None);
    assert_eq!(b.bytes, want);
}

/// A handle that compresses large values re-encodes the batch (its records were kept
/// uncompressed); one that compresses none of them writes the kept records with their expiry.
#[test]
fn a_compressing_handle_compresses_a_batchs_large_values_and_ttls_count_from_the_write() {
    let dir = TempDir::new("batch");
    let mut o = opts(false, 1 << 20);
    o.set_compression(crate::format::record::Codec::Snappy).set_compression_threshold(1024);
    let db = Db::open(dir.path(), o).unwrap();
    let big = "abcd".repeat(4096);
    db.write(&batch_of(&["big"], &big)).unwrap();
    let file: u64 = files_with_ext(dir.path(), "data").iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    drop(db);
    let db = Db::open(dir.path(), opts(false, 1 << 20)).unwrap();
    assert_eq!(get(&db, "big"), Some(big.clone()));
    let on_disk: u64 = files_with_ext(dir.path(), "data").iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    assert!(on_disk < big.len() as u64 / 4, "{on_disk} bytes on disk for {} of value (file {file})", big.len());
    let mut o = opts(false, 1 << 20);
    o.set_default_ttl_ms(60_000);
    let db2 = TempDir::new("batch");
    let db2 = Db::open(db2.path(), o).unwrap();
    let mut b = batch_of(&["default"], "1");
    b.put_ttl(b"own", b"2", 5_000).unwrap();
    db2.write(&b).unwrap();
    let remaining = |k: &[u8]| match db2.ttl(k).unwrap() {
        Some(crate::Ttl::Remaining(ms)) => ms,
        other => panic!("{other:?}"),
    };
    assert!((55_000..=60_000).contains(&remaining(b"default")));
    assert!((1..=5_000).contains(&remaining(b"own")));
}
