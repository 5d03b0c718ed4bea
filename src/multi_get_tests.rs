//! `Db::multi_get` against `Db::get`: the same answer for every key, whatever its state, and a
//! damaged record failing its own key only.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use crate::db::Db;
use crate::error::status;
use crate::format::record::Codec;
use crate::options::Options;
use crate::testutil::TempDir;

fn opts(max_file: u64) -> Options {
    let mut o = Options::default();
    o.set_max_file_size(max_file).unwrap();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    o.merge.interval_ms = 0;
    o
}

fn key(i: usize) -> Vec<u8> {
    // Short keys live inline in the keydir, longer ones in its arena: both kinds.
    if i % 3 == 0 {
        format!("k{i}").into_bytes()
    } else {
        format!("a rather longer key, number {i}").into_bytes()
    }
}

/// What each key reads as (`None`: absent).
type Values = Vec<Option<Vec<u8>>>;

/// Each key's `multi_get` result next to its `get` result, as comparable values.
fn both(db: &Db, keys: &[Vec<u8>]) -> (Values, Values) {
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let many = db.multi_get(&refs).unwrap().into_iter().map(|r| r.unwrap()).collect();
    let single = keys.iter().map(|k| db.get(k).unwrap()).collect();
    (many, single)
}

#[test]
fn present_absent_deleted_and_expired_keys_read_as_single_gets_do() {
    let dir = TempDir::new("mget");
    let db = Db::open(dir.path(), opts(64 << 20)).unwrap();
    for i in 0..100 {
        db.put(&key(i), format!("value {i}").as_bytes()).unwrap();
    }
    for i in (0..100).step_by(7) {
        db.delete(&key(i)).unwrap();
    }
    for i in (1..100).step_by(11) {
        db.put_ttl(&key(i), b"short-lived", 1).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    let keys: Vec<Vec<u8>> = (0..130).map(key).collect();
    let (many, single) = both(&db, &keys);
    assert_eq!(many, single);
    assert_eq!(many[2].as_deref(), Some(&b"value 2"[..]));
    assert_eq!((many[7].clone(), many[12].clone(), many[120].clone()), (None, None, None));
}

#[test]
fn an_expired_key_read_in_a_batch_leaves_the_keydir() {
    let dir = TempDir::new("mget");
    let db = Db::open(dir.path(), opts(64 << 20)).unwrap();
    db.put_ttl(b"brief", b"v", 1).unwrap();
    db.put(b"stays", b"w").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let got = db.multi_get(&[b"brief", b"stays"]).unwrap();
    assert_eq!(got.into_iter().map(|r| r.unwrap()).collect::<Vec<_>>(), vec![None, Some(b"w".to_vec())]);
    assert_eq!(db.engine().lookup(b"brief"), None);
}

#[test]
fn a_key_repeated_in_a_batch_reads_the_same_value_each_time() {
    let dir = TempDir::new("mget");
    let db = Db::open(dir.path(), opts(64 << 20)).unwrap();
    db.put(b"twice", b"v").unwrap();
    let got = db.multi_get(&[b"twice", b"absent", b"twice", b"twice"]).unwrap();
    let got: Vec<_> = got.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(got, vec![Some(b"v".to_vec()), None, Some(b"v".to_vec()), Some(b"v".to_vec())]);
}

#[test]
fn an_empty_batch_reads_nothing() {
    let dir = TempDir::new("mget");
    let db = Db::open(dir.path(), opts(64 << 20)).unwrap();
    assert!(db.multi_get(&[]).unwrap().is_empty());
}

#[test]
fn an_empty_or_oversized_key_fails_the_whole_call() {
    let dir = TempDir::new("mget");
    let mut o = opts(64 << 20);
    o.max_key_size = 8;
    let db = Db::open(dir.path(), o).unwrap();
    db.put(b"fine", b"v").unwrap();
    assert_eq!(db.multi_get(&[b"fine", b""]).unwrap_err().status(), status::E_INVALID_ARG);
    assert_eq!(db.multi_get(&[b"fine", b"far too long"]).unwrap_err().status(), status::E_TOO_LARGE);
}

/// Many sealed files and the active one, more keys than a group, compressed values too.
#[test]
fn keys_spread_over_many_files_read_back_in_large_batches() {
    let dir = TempDir::new("mget");
    let mut o = opts(4096);
    o.set_compression(Codec::Snappy).set_compression_threshold(64);
    let db = Db::open(dir.path(), o).unwrap();
    for i in 0..600 {
        let v = if i % 2 == 0 { format!("v{i}") } else { format!("{i:0>200}") };
        db.put(&key(i), v.as_bytes()).unwrap();
    }
    assert!(db.engine().file_count() > 5, "{} files", db.engine().file_count());
    let mut keys: Vec<Vec<u8>> = (0..650).rev().map(key).collect();
    keys.extend((0..40).map(|i| key(i * 13)));
    let (many, single) = both(&db, &keys);
    assert_eq!(many, single);
    assert_eq!(many.iter().filter(|v| v.is_some()).count(), 600 + 40);
}

#[test]
fn multi_get_with_passes_each_value_with_its_index() {
    let dir = TempDir::new("mget");
    let db = Db::open(dir.path(), opts(64 << 20)).unwrap();
    db.put(b"a", b"1").unwrap();
    db.put(b"c", b"333").unwrap();
    let mut seen = Vec::new();
    let lens = db
        .multi_get_with(&[b"a", b"b", b"c"], |i, v| {
            seen.push(i);
            v.len()
        })
        .unwrap();
    assert_eq!(seen, vec![0, 2]);
    assert_eq!(lens.into_iter().map(|r| r.unwrap()).collect::<Vec<_>>(), vec![Some(1), None, Some(3)]);
}

/// Flips the last byte of the first occurrence of `needle` in the data files, in place. The needle
/// holds the key too: a value alone may match a shorter one followed by the next record's CRC.
fn flip_in_data(root: &Path, needle: &[u8]) {
    for entry in std::fs::read_dir(root.join("data")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "data") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            let at = at + needle.len() - 1;
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.write_all_at(&[bytes[at] ^ 0x01], at as u64).unwrap();
            return;
        }
    }
    panic!("no record holds the bytes to flip");
}

#[test]
fn a_flipped_bit_fails_its_own_key_with_corruption_and_no_other() {
    let dir = TempDir::new("mget");
    let db = Db::open(dir.path(), opts(64 << 20)).unwrap();
    for i in 0..40 {
        db.put(&key(i), format!("value number {i}").as_bytes()).unwrap();
    }
    db.close().unwrap();
    flip_in_data(dir.path(), &[key(17), b"value number 17".to_vec()].concat());
    let db = Db::open(dir.path(), opts(64 << 20)).unwrap();
    let keys: Vec<Vec<u8>> = (0..40).map(key).collect();
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    for (i, got) in db.multi_get(&refs).unwrap().into_iter().enumerate() {
        if i == 17 {
            assert_eq!(got.unwrap_err().status(), status::E_CORRUPT);
        } else {
            assert_eq!(got.unwrap().unwrap(), format!("value number {i}").as_bytes());
        }
    }
    assert_eq!(db.get(&key(17)).unwrap_err().status(), status::E_CORRUPT);
}

/// Batched reads beside a writer that overwrites every key and full merges that move them all:
/// each key reads as one of its own versions, never an error nor another key's value.
#[test]
fn batched_reads_beside_overwrites_and_merges_see_whole_versions() {
    let dir = TempDir::new("mget");
    let db = std::sync::Arc::new(Db::open(dir.path(), opts(16 << 10)).unwrap());
    let keys: Vec<Vec<u8>> = (0..200).map(key).collect();
    for k in &keys {
        db.put(k, &[k.as_slice(), b"@0"].concat()).unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, keys, stop) = (db.clone(), keys.clone(), stop.clone());
        std::thread::spawn(move || {
            for round in 1..=20u32 {
                for k in &keys {
                    db.put(k, &[k.as_slice(), format!("@{round}").as_bytes()].concat()).unwrap();
                }
                db.merge(true).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Release);
        })
    };
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut batches = 0;
    while !stop.load(std::sync::atomic::Ordering::Acquire) || batches == 0 {
        for (k, got) in refs.iter().zip(db.multi_get(&refs).unwrap()) {
            let v = got.unwrap().expect("every key stays present");
            assert!(v.starts_with(k) && v[k.len()] == b'@', "{:?} read {:?}", k, v);
        }
        batches += 1;
    }
    writer.join().unwrap();
}
