//! Behaviour of `Db` through its public API: persistence, TTL, rotation, hints, recovery.

use super::*;
use crate::error::status;
use crate::testutil::{files_with_ext, TempDir};

fn small_files() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(4096).unwrap();
    o
}

fn fast() -> Options {
    let mut o = small_files();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    o
}

#[test]
fn put_get_delete_and_reopen() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"").unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b""[..]));
    assert!(db.delete(b"a").unwrap());
    assert!(!db.delete(b"a").unwrap());
    assert_eq!(db.get(b"a").unwrap(), None);
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(db.stats().unwrap().keys, 1);
}

#[test]
fn the_layout_follows_the_design() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    assert!(dir.path().join("LOCK").is_file());
    assert!(dir.path().join("data/bitgask.meta").is_file());
    assert!(dir.path().join("data/000000001.data").is_file());
    let meta = std::fs::read_to_string(dir.path().join("data/bitgask.meta")).unwrap();
    assert!(meta.contains("\"version\": 1"), "{meta}");
}

#[test]
fn bad_sizes_are_refused_and_write_nothing() {
    let dir = TempDir::new("db");
    let mut o = Options::default();
    o.set_max_key_size(8).unwrap().set_max_value_size(16).unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.put(b"123456789", b"v").unwrap_err().status(), status::E_TOO_LARGE);
    assert_eq!(db.put(b"k", &[0; 17]).unwrap_err().status(), status::E_TOO_LARGE);
    assert_eq!(db.put(b"", b"v").unwrap_err().status(), status::E_INVALID_ARG);
    assert_eq!(db.stats().unwrap().total_bytes, 0);
    assert!(files_with_ext(dir.path(), "data").is_empty());
}

#[test]
fn rotation_spreads_data_over_files_and_reopen_reads_all() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    for i in 0..1000u32 {
        db.put(format!("key{i}").as_bytes(), &[i as u8; 50]).unwrap();
    }
    let files = db.stats().unwrap().data_files;
    assert!(files > 10, "only {files} files");
    db.close().unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    assert!(db.open_report().files_from_hints > 10, "{:?}", db.open_report());
    for i in 0..1000u32 {
        assert_eq!(db.get(format!("key{i}").as_bytes()).unwrap().unwrap(), vec![i as u8; 50]);
    }
}

#[test]
fn overwrites_and_deletes_survive_reopen_with_and_without_hints() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    for round in 0..5u32 {
        for i in 0..200u32 {
            db.put(format!("k{i}").as_bytes(), format!("v{round}-{i}").as_bytes()).unwrap();
        }
    }
    for i in (0..200u32).step_by(3) {
        db.delete(format!("k{i}").as_bytes()).unwrap();
    }
    let expect = |db: &Db| {
        for i in 0..200u32 {
            let want = (i % 3 != 0).then(|| format!("v4-{i}").into_bytes());
            assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap(), want, "k{i}");
        }
    };
    expect(&db);
    let before = db.stats().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    expect(&db);
    let after = db.stats().unwrap();
    assert_eq!((before.keys, before.total_bytes, before.dead_bytes), (after.keys, after.total_bytes, after.dead_bytes));
    db.close().unwrap();
    let mut no_hints = fast();
    no_hints.set_hint_files(false);
    let db = Db::open(dir.path(), no_hints).unwrap();
    assert_eq!(db.open_report().files_from_hints, 0);
    expect(&db);
}

#[test]
fn damaged_hints_give_the_same_reads_as_no_hints() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    for i in 0..300u32 {
        db.put(format!("k{}", i % 50).as_bytes(), format!("v{i}").as_bytes()).unwrap();
    }
    db.close().unwrap();
    let hints = files_with_ext(dir.path(), "hint");
    assert!(hints.len() > 2);
    for (n, h) in hints.iter().enumerate() {
        let mut b = std::fs::read(h).unwrap();
        match n % 3 {
            0 => b.truncate(b.len() / 2),
            1 => b[30] ^= 0x40,
            _ => b.clear(),
        }
        std::fs::write(h, b).unwrap();
    }
    let db = Db::open(dir.path(), fast()).unwrap();
    assert_eq!(db.open_report().files_from_hints, 0);
    for k in 0..50u32 {
        let last = (0..300u32).filter(|i| i % 50 == k).max().unwrap();
        assert_eq!(db.get(format!("k{k}").as_bytes()).unwrap().unwrap(), format!("v{last}").into_bytes());
    }
}

#[test]
fn a_torn_tail_at_every_byte_keeps_every_earlier_record() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..5u32 {
        db.put(format!("k{i}").as_bytes(), format!("value-{i}").as_bytes()).unwrap();
    }
    let full_len = db.stats().unwrap().total_bytes;
    let last_len = db.meta(b"k4").unwrap().unwrap().size;
    db.close().unwrap();
    let file = files_with_ext(dir.path(), "data").pop().unwrap();
    let hint = file.with_extension("hint");
    let original = std::fs::read(&file).unwrap();
    for cut in (full_len - last_len)..full_len {
        std::fs::write(&file, &original[..cut as usize]).unwrap();
        let _ = std::fs::remove_file(&hint);
        let db = Db::open(dir.path(), Options::default()).unwrap();
        for i in 0..4u32 {
            assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap().unwrap(), format!("value-{i}").into_bytes());
        }
        assert_eq!(db.get(b"k4").unwrap(), None, "cut at {cut}");
        let torn = &db.open_report().torn_tails;
        assert_eq!(torn.len(), usize::from(cut > full_len - last_len), "cut at {cut}");
        drop(db);
    }
}

#[test]
fn a_flipped_byte_in_a_sealed_file_is_refused_with_file_and_offset() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), small_files()).unwrap();
    for i in 0..200u32 {
        db.put(format!("k{i}").as_bytes(), &[7u8; 40]).unwrap();
    }
    db.close().unwrap();
    let first = &files_with_ext(dir.path(), "data")[0];
    std::fs::remove_file(first.with_extension("hint")).unwrap();
    let mut b = std::fs::read(first).unwrap();
    b[100] ^= 1;
    std::fs::write(first, b).unwrap();
    let err = Db::open(dir.path(), small_files()).err().unwrap();
    assert_eq!(err.status(), status::E_CORRUPT);
    let msg = err.to_string();
    assert!(msg.contains("000000001.data") && msg.contains("offset"), "{msg}");
}

#[test]
fn damage_followed_by_valid_records_in_the_last_file_is_corruption_not_a_torn_tail() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..10u32 {
        db.put(format!("k{i}").as_bytes(), b"some value").unwrap();
    }
    let off = db.meta(b"k3").unwrap().unwrap().offset;
    db.close().unwrap();
    let file = files_with_ext(dir.path(), "data").pop().unwrap();
    std::fs::remove_file(file.with_extension("hint")).unwrap();
    let mut b = std::fs::read(&file).unwrap();
    b[off as usize + 35] ^= 0xff;
    std::fs::write(&file, &b).unwrap();
    let err = Db::open(dir.path(), Options::default()).err().unwrap();
    assert_eq!(err.status(), status::E_CORRUPT, "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b, "a refused open must not change the file");
}

#[test]
fn ttl_expire_persist_and_remaining() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put_ttl(b"t", b"v", 60).unwrap();
    match db.ttl(b"t").unwrap() {
        Some(Ttl::Remaining(ms)) => assert!((1..=60).contains(&ms)),
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(db.get(b"t").unwrap(), None);
    assert!(!db.exists(b"t").unwrap());
    db.put(b"p", b"v").unwrap();
    assert_eq!(db.ttl(b"p").unwrap(), Some(Ttl::Never));
    assert!(db.expire(b"p", 100_000).unwrap());
    assert!(matches!(db.ttl(b"p").unwrap(), Some(Ttl::Remaining(ms)) if ms > 99_000));
    assert!(db.persist(b"p").unwrap());
    assert_eq!(db.ttl(b"p").unwrap(), Some(Ttl::Never));
    assert_eq!(db.get(b"p").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.expire(b"p", 0).unwrap_err().status(), status::E_INVALID_ARG);
    assert_eq!(db.get(b"p").unwrap().as_deref(), Some(&b"v"[..]), "a refused expire changes nothing");
    assert!(!db.expire(b"missing", 10).unwrap());
    assert!(!db.persist(b"missing").unwrap());
    assert_eq!(db.put_ttl(b"x", b"v", 0).unwrap_err().status(), status::E_INVALID_ARG);
}

#[test]
fn expired_keys_stay_gone_after_reopen_and_a_huge_ttl_saturates() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put_ttl(b"short", b"v", 1).unwrap();
    db.put_ttl(b"huge", b"v", u64::MAX).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    db.close().unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    assert_eq!(db.get(b"short").unwrap(), None);
    assert_eq!(db.get(b"huge").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.meta(b"huge").unwrap().unwrap().expires_unix_nano, u64::MAX);
}

#[test]
fn default_ttl_applies_to_plain_puts() {
    let dir = TempDir::new("db");
    let mut o = fast();
    o.set_default_ttl_ms(30);
    let db = Db::open(dir.path(), o).unwrap();
    db.put(b"k", b"v").unwrap();
    assert!(matches!(db.ttl(b"k").unwrap(), Some(Ttl::Remaining(_))));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn sequence_stamps_strictly_increase() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    let mut last = 0;
    for i in 0..1000u32 {
        db.put(&i.to_be_bytes(), b"v").unwrap();
        let ts = db.meta(&i.to_be_bytes()).unwrap().unwrap().ts_unix_nano;
        assert!(ts > last);
        last = ts;
    }
    db.close().unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put(b"after", b"v").unwrap();
    assert!(db.meta(b"after").unwrap().unwrap().ts_unix_nano > last);
}

#[test]
fn compressed_values_round_trip_and_take_less_space() {
    let dir = TempDir::new("db");
    let mut o = fast();
    o.set_compression(crate::Codec::Snappy).set_compression_threshold(64);
    let db = Db::open(dir.path(), o.clone()).unwrap();
    let big = vec![b'z'; 10_000];
    db.put(b"big", &big).unwrap();
    db.put(b"small", b"tiny").unwrap();
    assert!(db.meta(b"big").unwrap().unwrap().size < 1000);
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"big").unwrap().unwrap(), big);
    assert_eq!(db.get(b"small").unwrap().unwrap(), b"tiny");
}

#[test]
fn a_second_open_is_locked_and_a_timeout_waits() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(Db::open(dir.path(), Options::default()).err().unwrap().status(), status::E_LOCKED);
    let root = dir.path().to_path_buf();
    let waiter = std::thread::spawn(move || {
        let mut o = Options::default();
        o.set_lock_timeout_ms(5_000);
        Db::open(root, o).map(|_| ())
    });
    std::thread::sleep(Duration::from_millis(50));
    db.close().unwrap();
    waiter.join().unwrap().unwrap();
}

#[test]
fn prefix_and_range_iteration_are_in_byte_order_and_skip_deleted_keys() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    for k in ["b2", "a1", "b1", "c", "b10", "b"] {
        db.put(k.as_bytes(), k.as_bytes()).unwrap();
    }
    let keys = |it: Iter| it.map(|r| String::from_utf8(r.unwrap().0).unwrap()).collect::<Vec<_>>();
    assert_eq!(keys(db.iter_prefix(b"b").unwrap()), ["b", "b1", "b10", "b2"]);
    assert_eq!(keys(db.iter_range(b"a1", Some(b"b10")).unwrap()), ["a1", "b", "b1"]);
    assert_eq!(keys(db.iter_range(b"b2", None).unwrap()), ["b2", "c"]);
    let mut it = db.iter_prefix(b"").unwrap();
    db.delete(b"b1").unwrap();
    db.put(b"new", b"x").unwrap();
    let mut seen = Vec::new();
    while it.advance(false).unwrap() {
        seen.push(String::from_utf8(it.key().to_vec()).unwrap());
    }
    assert_eq!(seen, ["a1", "b", "b10", "b2", "c"]);
    let mut n = 0;
    db.fold(b"b", |_, _| {
        n += 1;
        n < 2
    })
    .unwrap();
    assert_eq!(n, 2);
}

#[test]
fn an_iterator_outliving_close_reports_closed() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put(b"k", b"v").unwrap();
    let mut it = db.iter_prefix(b"").unwrap();
    db.close().unwrap();
    assert_eq!(it.advance(true).unwrap_err().status(), status::E_CLOSED);
    Db::open(dir.path(), fast()).unwrap();
}

#[test]
fn concurrent_durable_writers_share_fsyncs_and_lose_nothing() {
    let dir = TempDir::new("db");
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..100u32 {
                    db.put(format!("t{t}-{i}").as_bytes(), &i.to_le_bytes()).unwrap();
                    assert_eq!(db.get(format!("t{t}-{i}").as_bytes()).unwrap().unwrap(), i.to_le_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    Arc::try_unwrap(db).ok().unwrap().close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.stats().unwrap().keys, 800);
}

#[test]
fn the_interval_flusher_and_explicit_sync_run() {
    let dir = TempDir::new("db");
    let mut o = fast();
    o.set_sync_interval_ms(10);
    let db = Db::open(dir.path(), o).unwrap();
    db.put(b"k", b"v").unwrap();
    std::thread::sleep(Duration::from_millis(30));
    db.sync().unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = TempDir::new("db");
    Db::open(dir.path(), Options::default()).unwrap().close().unwrap();
    std::fs::write(dir.path().join("data/bitgask.meta"), br#"{"version": 2, "created": "x"}"#).unwrap();
    assert_eq!(Db::open(dir.path(), Options::default()).err().unwrap().status(), status::E_FORMAT_VERSION);
    std::fs::write(dir.path().join("data/bitgask.meta"), b"garbage").unwrap();
    assert_eq!(Db::open(dir.path(), Options::default()).err().unwrap().status(), status::E_CORRUPT);
}

#[test]
fn unknown_files_in_data_are_left_alone() {
    let dir = TempDir::new("db");
    Db::open(dir.path(), Options::default()).unwrap().close().unwrap();
    std::fs::write(dir.path().join("data/notes.txt"), b"mine").unwrap();
    std::fs::create_dir(dir.path().join("data/sub")).unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    assert_eq!(db.open_report().unknown_files.len(), 2);
    db.close().unwrap();
    assert_eq!(std::fs::read(dir.path().join("data/notes.txt")).unwrap(), b"mine");
    assert!(dir.path().join("data/sub").is_dir());
}

#[test]
fn a_group_fsync_that_succeeds_after_the_handle_was_poisoned_acknowledges_nothing() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k", b"old").unwrap();
    // Another fsync of the file fails while this group's runs: the error may have been reported
    // there only, so this one's success proves nothing.
    let e = db.engine.clone();
    crate::killpoint::on_hit("group-synced", move || e.poison("simulated fsync failure while sealing".into()));
    let put = db.put(b"k", b"new");
    crate::killpoint::clear_hook();
    assert_eq!(put.unwrap_err().status(), status::E_IO);
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(db.close().unwrap_err().status(), status::E_POISONED);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"old"[..]), "the unacknowledged value came back");
}

#[test]
fn a_poisoned_handle_refuses_writes_but_still_reads() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.engine.poison("simulated fsync failure".into());
    let err = db.put(b"k2", b"v").unwrap_err();
    assert_eq!(err.status(), status::E_POISONED);
    assert!(err.to_string().contains("simulated fsync failure"), "{err}");
    assert_eq!(db.delete(b"k").unwrap_err().status(), status::E_POISONED);
    assert_eq!(db.sync().unwrap_err().status(), status::E_POISONED);
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.close().unwrap_err().status(), status::E_POISONED, "close reports the poisoning");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k2", b"v").unwrap();
    assert_eq!(db.get(b"k2").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn update_is_an_atomic_read_modify_write() {
    let dir = TempDir::new("db");
    let db = Arc::new(Db::open(dir.path(), fast()).unwrap());
    let incr = |db: &Db| {
        db.update(b"counter", |cur| {
            let n = cur.map_or(0, |c| u64::from_le_bytes(c.value.try_into().unwrap()));
            (Update::Put { value: (n + 1).to_le_bytes().to_vec(), expires_unix_nano: 0 }, n + 1)
        })
        .unwrap()
    };
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || (0..500).map(|_| incr(&db)).max().unwrap())
        })
        .collect();
    let top = threads.into_iter().map(|t| t.join().unwrap()).max().unwrap();
    assert_eq!(top, 4000, "an increment was lost");
    assert_eq!(db.get(b"counter").unwrap().unwrap(), 4000u64.to_le_bytes());
    // Keep leaves the key alone; Delete removes it and reports what it saw.
    assert!(db.update(b"counter", |c| (Update::Keep, c.is_some())).unwrap());
    let seen = db.update(b"counter", |c| (Update::Delete, c.map(|c| c.value.to_vec()))).unwrap();
    assert_eq!(seen.unwrap(), 4000u64.to_le_bytes());
    assert_eq!(db.get(b"counter").unwrap(), None);
    assert!(!db.update(b"counter", |c| (Update::Delete, c.is_some())).unwrap());
}

#[test]
fn update_sees_the_expiry_and_can_keep_it() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put_ttl(b"k", b"1", 100_000).unwrap();
    let exp = db.update(b"k", |c| {
        let c = c.unwrap();
        (Update::Put { value: b"2".to_vec(), expires_unix_nano: c.expires_unix_nano }, c.expires_unix_nano)
    });
    let exp = exp.unwrap();
    assert!(exp > 0);
    assert_eq!(db.meta(b"k").unwrap().unwrap().expires_unix_nano, exp);
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"2");
}

#[test]
fn scan_visits_every_key_once_without_growth_and_at_least_once_with_it() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    for i in 0..5000u32 {
        db.put(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    let mut seen = std::collections::HashMap::new();
    let mut cursor = 0;
    let mut steps = 0;
    loop {
        let (next, keys) = db.scan(cursor, 100, |k| !k.ends_with(b"7")).unwrap();
        for k in keys {
            *seen.entry(k).or_insert(0) += 1;
        }
        // Grow the index in the middle of the scan.
        if steps == 10 {
            for i in 0..20_000u32 {
                db.put(format!("new{i}").as_bytes(), b"v").unwrap();
            }
        }
        steps += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for i in (0..5000u32).filter(|i| i % 10 != 7) {
        assert!(seen.contains_key(format!("k{i}").as_bytes()), "k{i} was missed");
    }
    assert!(seen.keys().all(|k| !k.ends_with(b"7")));
    // Without growth, every key exactly once.
    let mut count = 0;
    let mut cursor = 0;
    loop {
        let (next, keys) = db.scan(cursor, 1000, |_| true).unwrap();
        count += keys.len();
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(count as u64, db.stats().unwrap().keys);
}

#[test]
fn delete_all_empties_the_database_and_it_stays_empty() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    for i in 0..500u32 {
        db.put(format!("k{i}").as_bytes(), &[1u8; 40]).unwrap();
    }
    std::fs::write(dir.path().join("data/notes.txt"), b"mine").unwrap();
    db.delete_all().unwrap();
    let s = db.stats().unwrap();
    assert_eq!((s.keys, s.data_files, s.total_bytes), (0, 0, 0));
    assert_eq!(db.get(b"k1").unwrap(), None);
    // Written and read on the same handle: the new keydir hashes as the handle's writers do.
    db.put(b"after", b"first").unwrap();
    db.put(b"after", b"v").unwrap();
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.stats().unwrap().keys, 1);
    db.close().unwrap();
    assert!(!dir.path().join("merge.tmp").exists() && !dir.path().join("data.old").exists());
    assert_eq!(std::fs::read(dir.path().join("data/notes.txt")).unwrap(), b"mine");
    let db = Db::open(dir.path(), fast()).unwrap();
    assert_eq!(db.stats().unwrap().keys, 1);
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn delete_all_of_an_empty_database_works() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.delete_all().unwrap();
    db.delete_all().unwrap();
    assert_eq!(db.stats().unwrap().keys, 0);
}

#[test]
fn reopen_rebuilds_the_keydir_from_disk() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    for i in 0..300u32 {
        db.put(format!("k{i}").as_bytes(), format!("v{i}").as_bytes()).unwrap();
    }
    db.delete(b"k7").unwrap();
    let before = db.stats().unwrap();
    db.reopen().unwrap();
    let after = db.stats().unwrap();
    assert_eq!((before.keys, before.total_bytes, before.dead_bytes), (after.keys, after.total_bytes, after.dead_bytes));
    assert_eq!(db.get(b"k8").unwrap().unwrap(), b"v8");
    assert_eq!(db.get(b"k7").unwrap(), None);
    db.put(b"new", b"x").unwrap();
    db.reopen().unwrap();
    assert_eq!(db.get(b"new").unwrap().unwrap(), b"x");
    // Hints are written by the background thread, which a reopen does not wait for (a loaded
    // machine showed it); a close drains it.
    db.close().unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    assert!(db.open_report().files_from_hints > 0, "sealed files get hints again");
}

#[test]
fn reopen_clears_a_poisoned_handle() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.engine.poison("simulated".into());
    assert_eq!(db.put(b"x", b"y").unwrap_err().status(), status::E_POISONED);
    db.reopen().unwrap();
    db.put(b"x", b"y").unwrap();
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"v");
    assert_eq!(db.get(b"x").unwrap().unwrap(), b"y");
}

#[test]
fn a_backup_taken_during_writes_holds_every_write_acknowledged_before_it() {
    let dir = TempDir::new("db");
    let out = TempDir::new("backup");
    let db = Arc::new(Db::open(dir.path(), small_files()).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked: Vec<_> = (0..4u32).map(|_| Arc::new(std::sync::atomic::AtomicU32::new(0))).collect();
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let (db, stop, acked) = (db.clone(), stop.clone(), acked[t as usize].clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    db.put(format!("t{t}-{i}").as_bytes(), &i.to_le_bytes()).unwrap();
                    acked.store(i + 1, std::sync::atomic::Ordering::SeqCst);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let before: Vec<u32> = acked.iter().map(|a| a.load(std::sync::atomic::Ordering::SeqCst)).collect();
    let dst = out.path().join("copy");
    db.backup(&dst).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(!dst.join("LOCK").exists(), "the LOCK is not copied");
    assert!(crate::validate(&dst).unwrap().clean());
    let copy = Db::open(&dst, small_files()).unwrap();
    for (t, &n) in before.iter().enumerate() {
        for i in 0..n {
            assert_eq!(copy.get(format!("t{t}-{i}").as_bytes()).unwrap().unwrap(), i.to_le_bytes(), "t{t}-{i}");
        }
    }
}

#[test]
fn backup_refuses_bad_destinations_and_writes_nothing_there() {
    let dir = TempDir::new("db");
    let out = TempDir::new("backup");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put(b"k", b"v").unwrap();
    let invalid = |p: &Path| db.backup(p).unwrap_err().status();
    std::fs::create_dir(out.path().join("full")).unwrap();
    std::fs::write(out.path().join("full/x"), b"x").unwrap();
    assert_eq!(invalid(&out.path().join("full")), status::E_INVALID_ARG);
    assert_eq!(invalid(dir.path()), status::E_INVALID_ARG);
    assert_eq!(invalid(&dir.path().join("data/inside")), status::E_INVALID_ARG);
    assert_eq!(invalid(&dir.path().join("inside")), status::E_INVALID_ARG);
    assert_eq!(invalid(&out.path().join("no/such/parent")), status::E_INVALID_ARG);
    assert!(!dir.path().join("inside").exists());
    std::fs::create_dir(out.path().join("empty")).unwrap();
    db.backup(out.path().join("empty")).unwrap();
    let names: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no staging directory is left behind: {names:?}");
    assert_eq!(Db::open(out.path().join("empty"), fast()).unwrap().get(b"k").unwrap().unwrap(), b"v");
}

#[test]
fn a_clock_stepping_backwards_never_lets_an_older_write_win() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put(b"k", b"first").unwrap();
    let first = db.meta(b"k").unwrap().unwrap().ts_unix_nano;
    crate::clock::shift_for_tests(-3_600_000_000_000);
    db.put(b"k", b"second, written with the clock an hour behind").unwrap();
    let second = db.meta(b"k").unwrap().unwrap().ts_unix_nano;
    assert!(second > first, "the sequence stamp still increases");
    db.close().unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"second, written with the clock an hour behind");
    db.merge(true).unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    assert_eq!(db.get(b"k").unwrap().unwrap(), b"second, written with the clock an hour behind");
}

#[test]
fn a_ttl_ends_exactly_when_the_clock_reaches_it() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), fast()).unwrap();
    db.put_ttl(b"k", b"v", 60_000).unwrap();
    let expires = db.meta(b"k").unwrap().unwrap().expires_unix_nano;
    let aim = |at: u64| crate::clock::shift_for_tests(at as i64 - crate::clock::now_ns() as i64);
    aim(expires - 100_000_000);
    assert!(db.exists(b"k").unwrap(), "alive 100 ms before its expiry");
    aim(expires);
    assert_eq!(db.get(b"k").unwrap(), None, "gone once the clock reaches its expiry");
    assert!(!db.exists(b"k").unwrap());
}

/// Files pre-planted as symlinks to files outside the database are never written, truncated
/// or deleted through: the target keeps its bytes.
#[test]
fn symlinks_planted_in_the_database_never_touch_their_targets() {
    let outside = TempDir::new("outside");
    let target = outside.path().join("precious");
    std::fs::write(&target, b"keep me").unwrap();
    let intact = || assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    let link = |at: &Path| std::os::unix::fs::symlink(&target, at).unwrap();

    // LOCK and meta as symlinks: open refuses rather than following them.
    let dir = TempDir::new("db");
    link(&dir.path().join("LOCK"));
    assert!(Db::open(dir.path(), fast()).is_err());
    intact();
    let dir = TempDir::new("db");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    link(&dir.path().join("data/bitgask.meta"));
    assert!(Db::open(dir.path(), fast()).is_err());
    intact();

    // Data and hint files as symlinks are not ours: ignored through writes, rotation, hints,
    // merge, validate and repair.
    let dir = TempDir::new("db");
    Db::open(dir.path(), fast()).unwrap().close().unwrap();
    link(&dir.path().join("data/000000001.hint"));
    link(&dir.path().join("data/000000050.data"));
    let db = Db::open(dir.path(), small_files()).unwrap();
    for i in 0..300u32 {
        db.put(format!("k{i}").as_bytes(), &[3u8; 40]).unwrap();
    }
    db.merge(true).unwrap();
    db.close().unwrap();
    crate::validate(dir.path()).unwrap();
    crate::repair(dir.path(), &fast()).unwrap();
    let db = Db::open(dir.path(), fast()).unwrap();
    assert_eq!(db.stats().unwrap().keys, 300);
    intact();
}

#[test]
fn the_lock_holds_while_the_library_opens_and_closes_many_descriptors() {
    let dir = TempDir::new("db");
    let db = Db::open(dir.path(), small_files()).unwrap();
    for i in 0..500u32 {
        db.put(format!("k{i}").as_bytes(), &[1u8; 60]).unwrap();
    }
    db.merge(true).unwrap();
    db.reopen().unwrap();
    crate::validate(dir.path()).unwrap();
    assert_eq!(Db::open(dir.path(), fast()).err().map(|e| e.status()), Some(status::E_LOCKED));
}

/// Issue 12 point 4: between two flushes the disk persisted a later unsynced record but not an
/// earlier one, so the newest file holds zeros where the earlier record was and a valid record
/// after it. Open keeps every synced record and sets the unsynced tail aside instead of refusing.
#[test]
fn zeros_where_an_unsynced_record_was_and_a_valid_record_after_it_still_open() {
    let dir = TempDir::new("db");
    let (live, crashed) = (dir.path().join("live"), dir.path().join("crashed"));
    let db = Db::open(&live, fast()).unwrap();
    for i in 0..5u32 {
        db.put(format!("k{i}").as_bytes(), format!("synced-{i}").as_bytes()).unwrap();
    }
    db.sync().unwrap();
    db.put(b"u0", b"unsynced, lost").unwrap();
    db.put(b"u1", b"unsynced, on disk").unwrap();
    let lost = db.meta(b"u0").unwrap().unwrap();
    crate::testutil::crash_image(&live, &crashed);
    drop(db);
    let file = files_with_ext(&crashed, "data").pop().unwrap();
    let mut b = std::fs::read(&file).unwrap();
    b[lost.offset as usize..(lost.offset + lost.size) as usize].fill(0);
    std::fs::write(&file, &b).unwrap();

    let db = Db::open(&crashed, fast()).unwrap_or_else(|e| panic!("open after the power loss: {e}"));
    for i in 0..5u32 {
        assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap().unwrap(), format!("synced-{i}").into_bytes());
    }
    assert_eq!(db.get(b"u0").unwrap(), None);
    assert_eq!(db.get(b"u1").unwrap(), None, "a record after the damage would break the prefix");
    let q = &db.open_report().quarantined;
    assert_eq!(q.len(), 1, "the unsynced tail is reported");
    assert_eq!((q[0].offset, q[0].into.as_str()), (lost.offset, "000000001.corrupt"));
    let kept = std::fs::read(crashed.join("data/000000001.corrupt")).unwrap();
    assert_eq!(kept, &b[lost.offset as usize..], "set aside byte for byte, never deleted");
    db.put(b"after", b"ok").unwrap();
    db.close().unwrap();
    let db = Db::open(&crashed, fast()).unwrap();
    assert_eq!(db.get(b"after").unwrap().unwrap(), b"ok");
}

#[test]
fn puts_reuse_their_threads_record_buffer_but_keep_no_large_one() {
    let dir = TempDir::new("db");
    let mut o = Options::default();
    o.set_sync_on_put(false);
    let db = Db::open(dir.path(), o).unwrap();
    db.put(b"a", b"first value").unwrap();
    let kept = SCRATCH.take();
    assert!(kept.capacity() > 0, "a small put's buffer is kept");
    let at = kept.as_ptr();
    SCRATCH.set(kept);
    db.put(b"b", b"second").unwrap();
    let again = SCRATCH.take();
    assert_eq!(again.as_ptr(), at, "the next put wrote its record into the same buffer");
    SCRATCH.set(again);
    let big = vec![7u8; 2 * SCRATCH_MAX];
    db.put(b"c", &big).unwrap();
    assert_eq!(SCRATCH.take().capacity(), 0, "a large value's buffer is freed, not kept");
    db.put(b"a", b"third").unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"third"[..]));
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(db.get(b"c").unwrap().as_deref(), Some(&big[..]));
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"third"[..]));
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(db.get(b"c").unwrap().as_deref(), Some(&big[..]));
}

/// A merge that the periodic merger runs while the handle closes may queue the seal of the
/// active file (a full merge's first step) after close began: close stops the periodic workers
/// while the seal thread still runs. Stopping the seal thread first left the merger waiting for
/// its seal for ever, and close with it (seen once as a C test that timed out).
#[test]
fn a_merge_running_as_close_begins_gets_its_seal_and_close_returns() {
    let dir = TempDir::new("db");
    let mut o = fast();
    o.set_merge_interval_ms(0);
    let mut db = Db::open(dir.path(), o).unwrap();
    for i in 0..200u32 {
        db.put(format!("k{}", i % 20).as_bytes(), &[7u8; 100]).unwrap();
    }
    // A periodic worker whose merge starts once close has begun. The pause gives a seal thread
    // stopped before it time to exit (the window was once that wide); the merge itself gives up
    // once it sees the handle closing, after its first step.
    let e = db.engine.clone();
    db.periodic.push(spawn("late-merge", move || {
        while !e.is_closing() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        let _ = reclaim::merge(&e, true);
    }));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(db.close()));
    let closed = rx.recv_timeout(Duration::from_secs(60)).expect("close waited for the merge's seal for a minute");
    closed.unwrap();
}
