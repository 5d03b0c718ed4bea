//! Validate and repair on damage made by hand.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::*;
use crate::testutil::TempDir;
use crate::Db;

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(4096).unwrap().set_sync_on_put(false).set_merge_interval_ms(0);
    o
}

/// A closed database with `n` keys spread over several files.
fn populated(dir: &Path, n: u32) {
    let db = Db::open(dir, opts()).unwrap();
    for i in 0..n {
        db.put(format!("key{i:04}").as_bytes(), format!("value-{i}").as_bytes()).unwrap();
    }
    db.close().unwrap();
}

fn data(dir: &Path, id: u32, ext: &str) -> PathBuf {
    dir.join(format!("data/{id:09}.{ext}"))
}

fn kinds(r: &Report) -> Vec<&'static str> {
    r.problems.iter().map(|p| p.kind.name()).collect()
}

/// Every file's bytes and mtime, to prove validate changes nothing.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
    let mut v: Vec<_> = fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let m = fs::metadata(&p).unwrap().modified().unwrap();
            (p.clone(), fs::read(&p).unwrap(), m)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_clean_database_validates_clean_and_repair_changes_nothing() {
    let dir = TempDir::new("val");
    populated(dir.path(), 300);
    let r = validate(dir.path()).unwrap();
    assert!(r.clean(), "{}", r.text());
    assert_eq!((r.live_keys, r.records), (300, 300));
    assert!(r.files > 2);
    let before = fingerprint(dir.path());
    let fixed = repair(dir.path(), &opts()).unwrap();
    assert!(fixed.clean() && fixed.problems.is_empty(), "{}", fixed.text());
    assert_eq!(fingerprint(dir.path()), before);
}

#[test]
fn a_torn_tail_is_reported_then_truncated() {
    let dir = TempDir::new("val");
    populated(dir.path(), 300);
    let last = generation::list(&dir.path().join("data")).unwrap().data.pop().unwrap();
    let f = data(dir.path(), last, "data");
    let len = fs::metadata(&f).unwrap().len();
    fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len - 5).unwrap();
    let before = fingerprint(dir.path());
    let r = validate(dir.path()).unwrap();
    assert_eq!(fingerprint(dir.path()), before, "validate must not change anything");
    assert!(kinds(&r).contains(&"torn_tail"), "{}", r.text());
    let fixed = repair(dir.path(), &opts()).unwrap();
    assert!(fixed.bytes_truncated > 0 && fixed.clean(), "{}", fixed.text());
    assert!(validate(dir.path()).unwrap().clean());
    assert_eq!(Db::open(dir.path(), opts()).unwrap().stats().unwrap().keys, 299);
}

#[test]
fn damage_in_a_sealed_file_is_quarantined_and_the_records_around_it_kept() {
    let dir = TempDir::new("val");
    populated(dir.path(), 300);
    let f = data(dir.path(), 1, "data");
    let mut b = fs::read(&f).unwrap();
    let rec_len = Record::decode(&b).unwrap().header.record_len() as usize;
    b[rec_len * 3 + 40] ^= 0xff; // inside the fourth record's value
    fs::write(&f, &b).unwrap();
    let r = validate(dir.path()).unwrap();
    assert!(kinds(&r).contains(&"corrupt_record"), "{}", r.text());
    assert!(
        kinds(&r).contains(&"hint_mismatch") || kinds(&r).contains(&"stale_hint") || r.problems.len() == 1,
        "{}",
        r.text()
    );
    assert_eq!(
        Db::open(dir.path(), {
            let mut o = opts();
            o.set_hint_files(false);
            o
        })
        .err()
        .unwrap()
        .status(),
        crate::status::E_CORRUPT
    );

    let fixed = repair(dir.path(), &opts()).unwrap();
    assert_eq!(fixed.bytes_quarantined, rec_len as u64, "{}", fixed.text());
    assert!(kinds(&fixed).contains(&"lost_range") && kinds(&fixed).contains(&"lost_key"), "{}", fixed.text());
    assert!(fixed.problems.iter().any(|p| p.message.contains("key0003")), "{}", fixed.text());
    assert_eq!(fs::read(dir.path().join("data/000000001.corrupt")).unwrap(), b[rec_len * 3..rec_len * 4]);
    let after = validate(dir.path()).unwrap();
    assert!(after.clean(), "{}", after.text());
    assert!(kinds(&after).contains(&"quarantine"), "the quarantine file is listed as a note");
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.stats().unwrap().keys, 299);
    assert_eq!(db.get(b"key0003").unwrap(), None);
    assert_eq!(db.get(b"key0004").unwrap().unwrap(), b"value-4");
    drop(db);
    let again = repair(dir.path(), &opts()).unwrap();
    assert!(again.problems.is_empty(), "a second repair changes nothing: {}", again.text());
}

#[test]
fn damaged_and_stale_hints_are_reported_and_rebuilt() {
    let dir = TempDir::new("val");
    populated(dir.path(), 300);
    let h1 = data(dir.path(), 1, "hint");
    let h2 = data(dir.path(), 2, "hint");
    let b = fs::read(&h1).unwrap();
    fs::write(&h1, &b[..b.len() / 2]).unwrap();
    let mut b2 = fs::read(&h2).unwrap();
    b2[40] ^= 1;
    fs::write(&h2, &b2).unwrap();
    fs::write(data(dir.path(), 999, "hint"), b"orphan").unwrap();
    let r = validate(dir.path()).unwrap();
    let k = kinds(&r);
    assert!(k.iter().filter(|k| **k == "corrupt_hint").count() == 2 && k.contains(&"stale_hint"), "{}", r.text());
    let fixed = repair(dir.path(), &opts()).unwrap();
    assert!(fixed.clean(), "{}", fixed.text());
    assert!(validate(dir.path()).unwrap().clean());
    assert!(!data(dir.path(), 999, "hint").exists());
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().hints_ignored.is_empty());
}

#[test]
fn a_hint_that_disagrees_with_its_file_is_caught() {
    let dir = TempDir::new("val");
    populated(dir.path(), 300);
    // Swap two files' hints: each is well-formed but describes the wrong file.
    let (h1, h2) = (data(dir.path(), 1, "hint"), data(dir.path(), 2, "hint"));
    let mut b = fs::read(&h2).unwrap();
    // Make hint 2 claim to be hint 1 with file 1's length: only the entries are wrong then.
    let len1 = fs::metadata(data(dir.path(), 1, "data")).unwrap().len();
    b[12..16].copy_from_slice(&1u32.to_le_bytes());
    b[16..24].copy_from_slice(&len1.to_le_bytes());
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
    fs::write(&h1, &b).unwrap();
    let r = validate(dir.path()).unwrap();
    assert!(kinds(&r).contains(&"hint_mismatch"), "{}", r.text());
}

#[test]
fn strangers_and_leftovers_are_notes_and_repair_removes_only_our_temporary_files() {
    let dir = TempDir::new("val");
    populated(dir.path(), 50);
    fs::write(dir.path().join("data/README.txt"), b"mine").unwrap();
    fs::write(dir.path().join("data/000000001.hint.tmp"), b"half").unwrap();
    let r = validate(dir.path()).unwrap();
    assert!(r.clean(), "{}", r.text());
    assert!(kinds(&r).contains(&"unknown_file") && kinds(&r).contains(&"leftover"));
    repair(dir.path(), &opts()).unwrap();
    assert!(dir.path().join("data/README.txt").exists());
    assert!(!dir.path().join("data/000000001.hint.tmp").exists());
}

#[test]
fn merge_leftovers_are_reported_and_settled() {
    let dir = TempDir::new("val");
    populated(dir.path(), 50);
    fs::create_dir(dir.path().join("merge.tmp")).unwrap();
    fs::write(dir.path().join("merge.tmp/000000099.data"), b"partial").unwrap();
    let r = validate(dir.path()).unwrap();
    assert!(kinds(&r).contains(&"merge_leftover"), "{}", r.text());
    assert!(dir.path().join("merge.tmp").exists(), "validate changes nothing");
    let fixed = repair(dir.path(), &opts()).unwrap();
    assert!(fixed.clean(), "{}", fixed.text());
    assert!(!dir.path().join("merge.tmp").exists());
    assert!(validate(dir.path()).unwrap().clean());
}

#[test]
fn bad_meta_is_reported_and_rewritten() {
    let dir = TempDir::new("val");
    populated(dir.path(), 20);
    fs::write(dir.path().join("data/bitgask.meta"), b"{broken").unwrap();
    assert!(kinds(&validate(dir.path()).unwrap()).contains(&"bad_meta"));
    let fixed = repair(dir.path(), &opts()).unwrap();
    assert!(fixed.clean(), "{}", fixed.text());
    assert_eq!(Db::open(dir.path(), opts()).unwrap().stats().unwrap().keys, 20);
    fs::write(dir.path().join("data/bitgask.meta"), br#"{"version": 7}"#).unwrap();
    assert_eq!(repair(dir.path(), &opts()).unwrap_err().status(), crate::status::E_FORMAT_VERSION);
}

#[test]
fn repair_needs_the_lock_and_validate_does_not() {
    let dir = TempDir::new("val");
    populated(dir.path(), 20);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(repair(dir.path(), &opts()).unwrap_err().status(), crate::status::E_LOCKED);
    assert!(validate(dir.path()).is_ok());
    drop(db);
    assert_eq!(validate(dir.path().join("missing")).unwrap_err().status(), crate::status::E_INVALID_ARG);
}

#[test]
fn damage_then_valid_records_in_the_newest_file_is_repaired_not_truncated() {
    let dir = TempDir::new("val");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..10u32 {
        db.put(format!("k{i}").as_bytes(), b"some value").unwrap();
    }
    let off = db.meta(b"k3").unwrap().unwrap().offset;
    db.close().unwrap();
    let f = data(dir.path(), 1, "data");
    fs::remove_file(data(dir.path(), 1, "hint")).unwrap();
    let mut b = fs::read(&f).unwrap();
    b[off as usize + 35] ^= 0xff;
    fs::write(&f, &b).unwrap();
    let fixed = repair(dir.path(), &Options::default()).unwrap();
    assert_eq!(fixed.bytes_truncated, 0, "{}", fixed.text());
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.stats().unwrap().keys, 9);
    assert_eq!(db.get(b"k9").unwrap().unwrap(), b"some value");
}

/// Writes a data file by hand, for records a normal write could not produce.
fn handmade(dir: &Path, records: &[Vec<u8>]) {
    Db::open(dir, opts()).unwrap().close().unwrap();
    fs::write(data(dir, 1, "data"), records.concat()).unwrap();
    let _ = fs::remove_file(data(dir, 1, "hint"));
}

#[test]
fn hints_and_validate_pick_the_newest_stamp_not_the_last_position() {
    use crate::format::record::{encode, FLAG_TOMBSTONE};
    let dir = TempDir::new("val");
    // A tombstone stamped after the value it deletes, but written before it in the file.
    handmade(dir.path(), &[encode(5, 0, FLAG_TOMBSTONE, b"k", b""), encode(3, 0, 0, b"k", b"old")]);
    crate::hints::write_hint(&dir.path().join("data"), 1).unwrap();
    assert!(validate(dir.path()).unwrap().clean());
    let mut two_files = opts();
    two_files.set_max_file_size(256).unwrap();
    // Open through the hint: the deleted key stays deleted.
    fs::write(data(dir.path(), 2, "data"), b"").unwrap();
    let db = Db::open(dir.path(), two_files).unwrap();
    assert_eq!(db.open_report().files_from_hints, 1);
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn a_hint_takes_the_later_record_of_a_key_on_a_stamp_tie() {
    use crate::format::record::encode;
    let dir = TempDir::new("val");
    handmade(
        dir.path(),
        &[encode(5, 0, 0, b"k", b"first"), encode(2, 0, 0, b"j", b"j"), encode(5, 0, 0, b"k", b"second")],
    );
    crate::hints::write_hint(&dir.path().join("data"), 1).unwrap();
    let mut two_files = opts();
    two_files.set_max_file_size(256).unwrap();
    fs::write(data(dir.path(), 2, "data"), b"").unwrap();
    let db = Db::open(dir.path(), two_files).unwrap();
    assert_eq!(db.open_report().files_from_hints, 1);
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"second", "as a scan decides");
    assert_eq!(db.get(b"j").unwrap().unwrap(), b"j");
}

#[test]
fn a_compressed_value_that_does_not_decode_is_damage() {
    use crate::format::record::{Codec, Encoded, FLAG_COMPRESSED};
    let dir = TempDir::new("val");
    // Claims snappy compression, carries bytes that are not snappy, has a valid CRC.
    let mut e = Encoded::new(b"k", b"\xff\xff\xff\xff not snappy", 0, FLAG_COMPRESSED, Codec::Snappy);
    e.buf[29] = Codec::Snappy as u8;
    e.stamp(1);
    handmade(dir.path(), &[crate::format::record::encode(1, 0, 0, b"a", b"fine"), e.buf]);
    let r = validate(dir.path()).unwrap();
    assert!(kinds(&r).contains(&"torn_tail") || kinds(&r).contains(&"corrupt_record"), "{}", r.text());
    let fixed = repair(dir.path(), &opts()).unwrap();
    assert!(fixed.clean(), "{}", fixed.text());
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.get(b"a").unwrap().unwrap(), b"fine");
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn a_record_stamped_at_the_maximum_refuses_later_writes_and_repair_quarantines_it() {
    let dir = TempDir::new("val");
    handmade(
        dir.path(),
        &[
            crate::format::record::encode(1, 0, 0, b"a", b"fine"),
            crate::format::record::encode(u64::MAX, 0, 0, b"k", b"from the far future"),
        ],
    );
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.put(b"k", b"new").unwrap_err().status(), crate::status::E_CORRUPT, "refused, not lost");
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"from the far future");
    drop(db);
    assert!(!validate(dir.path()).unwrap().clean(), "validate does not call it clean");
    assert!(repair(dir.path(), &opts()).unwrap().clean());
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put(b"k", b"new").unwrap();
    assert_eq!(db.get(b"a").unwrap().unwrap(), b"fine");
}
