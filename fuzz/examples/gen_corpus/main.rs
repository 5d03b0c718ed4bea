//! Writes the seed corpus (`fuzz/corpus/<target>/`) from files the library itself produces,
//! plus a few damaged variants. Run from the repository root:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//! ```
//!
//! It replaces the seeds it writes (names `seed-*`) and leaves any other file alone. The data
//! files come from a real database, so stamps differ from run to run; commit the outputs.
//! Naming targets (`-- resp_parse glob_match dispatch`) writes only theirs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use bitgask::internal::format::hint::{HintBuilder, HintEntry};
use bitgask::internal::format::merge_done::MergeDone;
use bitgask::internal::format::meta::Meta;
use bitgask::internal::format::record::{self, Record};
use bitgask::{Codec, Db, Options};
use bitgask_fuzz::*;

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let tmp = std::env::temp_dir().join(format!("bitgask-gen-corpus-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let files = make_database(&tmp.join("db"));
    let _ = fs::remove_dir_all(&tmp);

    let mut seeds: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    records(&files, seeds.entry("record_decode").or_default());
    hints(&files, seeds.entry("hint_parse").or_default());
    metas(&files, seeds.entry("meta_parse").or_default());
    snapshots(seeds.entry("snapshot_load").or_default());
    directories(&files, seeds.entry("directory").or_default());
    serve_seeds::requests(seeds.entry("resp_parse").or_default());
    serve_seeds::patterns(seeds.entry("glob_match").or_default());
    serve_seeds::sessions(seeds.entry("dispatch").or_default());

    let only: Vec<String> = std::env::args().skip(1).collect();
    for (target, list) in seeds {
        if !only.is_empty() && !only.iter().any(|t| t == target) {
            continue;
        }
        let dir = out.join(target);
        fs::create_dir_all(&dir).unwrap();
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with("seed-") {
                fs::remove_file(p).unwrap();
            }
        }
        let total: usize = list.iter().map(|(_, b)| b.len()).sum();
        for (name, bytes) in &list {
            // Every seed must pass its own target before it is committed.
            match target {
                "record_decode" => record_decode(bytes),
                "hint_parse" => hint_parse(bytes),
                "meta_parse" => meta_parse(bytes),
                "snapshot_load" => snapshot_load(bytes),
                "resp_parse" => resp_parse(bytes),
                "glob_match" => glob_match(bytes),
                "dispatch" => dispatch(bytes),
                _ => directory(bytes),
            }
            fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
        println!("{target}: {} seeds, {total} bytes", list.len());
    }
    bitgask_fuzz::serve::remove_dispatch_dirs();
}

mod serve_seeds;

/// The files of a small real database: meta, data files 1 and 2 (sealed), their hints.
struct Files {
    meta: Vec<u8>,
    data1: Vec<u8>,
    data2: Vec<u8>,
    hint1: Vec<u8>,
    hint2: Vec<u8>,
}

fn make_database(root: &Path) -> Files {
    let mut o = Options::new();
    o.set_merge_interval_ms(0).set_max_file_size(512).unwrap();
    o.set_compression(Codec::Snappy).set_compression_threshold(64);
    let db = Db::open(root, o).unwrap();
    db.put(b"user:1", b"alice").unwrap();
    db.put(b"user:2", b"bob").unwrap();
    db.put_ttl(b"session:9", b"token", 3_600_000).unwrap();
    db.put(b"blob", "compressible ".repeat(20).as_bytes()).unwrap();
    db.put(b"user:1", b"alice again").unwrap();
    db.delete(b"user:2").unwrap();
    db.put_ttl(b"gone", b"expired soon", 1).unwrap();
    for i in 0..12 {
        db.put(format!("k{i:02}").as_bytes(), format!("value {i}").as_bytes()).unwrap();
    }
    db.delete(b"k03").unwrap();
    db.close().unwrap();
    let dir = root.join("data");
    let read = |name: &str| fs::read(dir.join(name)).unwrap();
    let (data1, data2) = (read("000000001.data"), read("000000002.data"));
    Files { meta: read("bitgask.meta"), hint1: hint_for(1, &data1), hint2: hint_for(2, &data2), data1, data2 }
}

/// The hint the library writes for a sealed file: the last record of each key, in file order.
fn hint_for(id: u32, data: &[u8]) -> Vec<u8> {
    let mut last: BTreeMap<Vec<u8>, (u32, u64, u64, u32, u8)> = BTreeMap::new();
    let mut pos = 0;
    while pos < data.len() {
        let r = Record::decode(&data[pos..]).unwrap();
        let h = r.header;
        last.insert(r.key.to_vec(), (pos as u32, h.ts, h.expires, h.record_len() as u32, h.flags));
        pos += h.record_len() as usize;
    }
    let mut entries: Vec<_> = last.into_iter().collect();
    entries.sort_by_key(|(_, e)| e.0);
    let mut b = HintBuilder::new(Vec::new(), id, data.len() as u64).unwrap();
    for (key, (offset, ts, expires, record_len, flags)) in &entries {
        b.push(&HintEntry { ts: *ts, expires: *expires, offset: *offset, record_len: *record_len, flags: *flags, key })
            .unwrap();
    }
    b.finish().unwrap()
}

fn record_spans(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let len = Record::decode(&data[pos..]).unwrap().header.record_len() as usize;
        out.push(&data[pos..pos + len]);
        pos += len;
    }
    out
}

fn with_mode(mode: u8, b: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(b);
    v
}

fn records(f: &Files, out: &mut Vec<(String, Vec<u8>)>) {
    let all: Vec<&[u8]> = record_spans(&f.data1).into_iter().chain(record_spans(&f.data2)).collect();
    let mut kinds = BTreeMap::new();
    for r in &all {
        let d = Record::decode(r).unwrap();
        let kind = if d.header.flags & 2 != 0 {
            "compressed"
        } else if d.header.flags & 1 != 0 {
            "tombstone"
        } else if d.header.expires != 0 {
            "ttl"
        } else {
            "plain"
        };
        kinds.entry(kind).or_insert(*r);
    }
    for (kind, r) in &kinds {
        out.push((kind.to_string(), with_mode(0, r)));
    }
    let plain = kinds["plain"];
    let compressed = kinds["compressed"];
    // Damaged: cut in the header, cut in the value, a flipped value bit (bad CRC), the same with
    // the CRC fixed (mode 1: a valid record with other bytes), unknown flags and codec.
    out.push(("cut-header".into(), with_mode(0, &plain[..20])));
    out.push(("cut-value".into(), with_mode(0, &plain[..plain.len() - 1])));
    let mut flipped = plain.to_vec();
    *flipped.last_mut().unwrap() ^= 0x10;
    out.push(("bad-crc".into(), with_mode(0, &flipped)));
    out.push(("fixed-crc".into(), with_mode(1, &flipped)));
    let mut flags = plain.to_vec();
    flags[28] = 0x80;
    out.push(("bad-flags".into(), with_mode(1, &flags)));
    let mut codec = plain.to_vec();
    codec[29] = 7;
    out.push(("bad-codec".into(), with_mode(1, &codec)));
    // A compressed value whose snappy stream is damaged behind a valid CRC.
    let mut snappy = compressed.to_vec();
    let n = snappy.len();
    snappy[n - 3] ^= 0xff;
    out.push(("compressed-damaged".into(), with_mode(1, &snappy)));
    // Two records back to back: decode takes the first.
    out.push(("two".into(), with_mode(0, &[plain, plain].concat())));
    out.push(("encoded".into(), with_mode(0, &record::encode(7, 0, 0, b"k", b"v"))));
}

fn hints(f: &Files, out: &mut Vec<(String, Vec<u8>)>) {
    let prefix = |mode: u8, id: u32, len: u64, h: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(&id.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(h);
        v
    };
    out.push(("hint1".into(), prefix(0, 1, f.data1.len() as u64, &f.hint1)));
    out.push(("hint2".into(), prefix(2, 0, 0, &f.hint2)));
    out.push(("stale".into(), prefix(0, 1, f.data1.len() as u64 + 1, &f.hint1)));
    out.push(("wrong-id".into(), prefix(0, 2, f.data1.len() as u64, &f.hint1)));
    out.push(("cut".into(), prefix(2, 0, 0, &f.hint1[..f.hint1.len() - 5])));
    let mut flipped = f.hint2.clone();
    flipped[40] ^= 4;
    out.push(("bad-crc".into(), prefix(2, 0, 0, &flipped)));
    out.push(("fixed-crc".into(), prefix(3, 0, 0, &flipped)));
    let empty = HintBuilder::new(Vec::new(), 5, 0).unwrap().finish().unwrap();
    out.push(("empty".into(), prefix(2, 0, 0, &empty)));
}

/// Keydir snapshots of 0, 40 and 300 keys, as written (mode 0) and damaged with the CRCs fixed
/// (mode 1) or not.
fn snapshots(out: &mut Vec<(String, Vec<u8>)>) {
    use bitgask::internal::snapshot::sample;
    let with_mode = |mode: u8, b: &[u8]| [&[mode][..], b].concat();
    for n in [0, 40, 300] {
        out.push((format!("keys-{n}"), with_mode(0, &sample(n))));
    }
    let s = sample(40);
    out.push(("cut".into(), with_mode(0, &s[..s.len() - 9])));
    let mut flipped = s.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x40;
    out.push(("bad-crc".into(), with_mode(0, &flipped)));
    out.push(("fixed-crc".into(), with_mode(1, &flipped)));
}

fn metas(f: &Files, out: &mut Vec<(String, Vec<u8>)>) {
    out.push(("library".into(), f.meta.clone()));
    out.push(("new".into(), Meta::new(0).encode()));
    out.push(("v2-extra".into(), br#"{"version": 2, "created": "x", "extra": true, "n": 5, "z": null}"#.to_vec()));
    out.push(("no-version".into(), br#"{"created": "2026-01-01T00:00:00Z"}"#.to_vec()));
    out.push(("string-version".into(), br#"{"version": "1"}"#.to_vec()));
    out.push(("trailing".into(), br#"{"version": 1} x"#.to_vec()));
    out.push(("empty-object".into(), b"{}".to_vec()));
    out.push(("cut".into(), f.meta[..f.meta.len() / 2].to_vec()));
    let done = MergeDone { inputs: vec![1, 2], outputs: vec![(3, f.data1.len() as u64), (4, 0)] };
    out.push(("merge-done".into(), done.encode()));
}

fn directories(f: &Files, out: &mut Vec<(String, Vec<u8>)>) {
    let full = || DirCase {
        flags: 0,
        files: [
            Some(f.meta.clone()),
            Some(f.data1.clone()),
            Some(f.hint1.clone()),
            Some(f.data2.clone()),
            Some(f.hint2.clone()),
            None,
        ],
    };
    let mut push = |name: &str, c: DirCase| out.push((name.to_string(), c.pack()));
    push("clean", full());
    push("empty", DirCase::default());
    let mut c = full();
    c.files[HINT1] = None;
    c.files[HINT2] = None;
    push("no-hints", c);
    // The newest file cut in its last record: a torn tail.
    let mut c = full();
    let d2 = c.files[DATA2].as_mut().unwrap();
    d2.truncate(d2.len() - 3);
    c.files[HINT2] = None;
    push("torn-tail", c);
    // A bit flipped in the middle of the sealed file: corruption, mended by repair.
    let mut c = full();
    c.files[DATA1].as_mut().unwrap()[40] ^= 1;
    push("corrupt-sealed", c);
    // Garbage in the middle of the newest file with valid records after it.
    let mut c = full();
    let d2 = c.files[DATA2].as_mut().unwrap();
    d2.splice(0..0, [0xAB; 9]);
    c.files[HINT2] = None;
    push("garbage-newest", c);
    // Stale and damaged hints.
    let mut c = full();
    c.files[DATA1].as_mut().unwrap().extend_from_slice(&[0; 4]);
    push("stale-hint", c);
    let mut c = full();
    c.files[HINT1].as_mut().unwrap()[30] ^= 0x40;
    push("corrupt-hint", c);
    // A hint with a valid CRC whose entries disagree with the data (fix bits set).
    let mut c = full();
    c.flags = FIX_HINTS;
    c.files[HINT1].as_mut().unwrap()[24] ^= 1;
    push("lying-hint", c);
    // Meta missing, newer, damaged.
    let mut c = full();
    c.files[META] = None;
    push("no-meta", c);
    let mut c = full();
    c.files[META] = Some(br#"{"version": 2, "created": "x"}"#.to_vec());
    push("meta-v2", c);
    let mut c = full();
    c.files[META] = Some(b"{\"version\": ".to_vec());
    push("meta-cut", c);
    // Interrupted merges: before the swap, mid-swap (valid and invalid MERGE_DONE), after it.
    let done =
        MergeDone { inputs: vec![7], outputs: vec![(1, f.data1.len() as u64), (2, f.data2.len() as u64)] }.encode();
    for (layout, name) in [(1, "merge-unfinished"), (2, "merge-swap"), (3, "merge-swapped")] {
        let mut c = full();
        c.flags = layout << LAYOUT_SHIFT;
        c.files[MERGE_DONE] = Some(done.clone());
        push(name, c);
    }
    let mut c = full();
    c.flags = 2 << LAYOUT_SHIFT | FIX_MERGE_DONE;
    c.files[MERGE_DONE] = Some(b"bitgask-merge 1\ninput 7\noutput 1 0\noutput 2 0\n".to_vec());
    push("merge-swap-fixed", c);
    let mut c = full();
    c.flags = 2 << LAYOUT_SHIFT;
    c.files[MERGE_DONE] = Some(done[..done.len() - 4].to_vec());
    push("merge-swap-bad-done", c);
    // Options and strangers: no hint files, small files, leftovers and unknown files.
    let mut c = full();
    c.flags = NO_HINT_FILES | SMALL_FILES | STRANGERS;
    push("options-strangers", c);
}
