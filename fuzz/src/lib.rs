//! The bodies of bitgask's fuzz targets, shared by the libFuzzer binaries (`fuzz_targets/`), the
//! corpus generator (`examples/gen_corpus.rs`) and the plain replay test (`tests/replay.rs`).
//!
//! Every target checks properties, not just "no panic". The storage targets:
//!
//! - `record_decode`: a decoded record is consistent with its header, an uncompressed value
//!   always reads, and re-encoding gives the same bytes (or, compressed, the same value).
//! - `hint_parse`: an accepted hint's entries lie inside the data file, their count is the one
//!   `check` gave, and re-building the hint from its entries gives the same bytes.
//! - `meta_parse`: `Meta` and `MERGE_DONE` parse(encode(x)) == x.
//! - `snapshot_load`: an accepted keydir snapshot reads whole, and re-encoding what it decoded
//!   and decoding that again gives the same entries.
//! - `directory`: the input becomes a database directory (see [`DirCase`]); validate changes
//!   nothing; when it reports clean, open succeeds, every key reads, a write survives a reopen
//!   and the database is still clean; after repair, validate is clean, open succeeds, every key
//!   reads, and a second repair changes nothing.
//!
//! The targets for `bitgask serve`'s network-facing code (`resp_parse`, `glob_match`,
//! `dispatch`) are in [`serve`].
//!
//! Inputs start with a mode byte whose low bits ask the harness to fix checksums (record CRCs,
//! the hint trailer, the MERGE_DONE crc line) after mutation, so the fuzzer reaches what lies
//! behind them; with those bits clear the bytes are used exactly as given.

pub mod alloc;
pub mod serve;

pub use serve::{dispatch, glob_match, resp_parse};

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bitgask::internal::format::hint::{HintBuilder, HintError, HintView};
use bitgask::internal::format::merge_done::MergeDone;
use bitgask::internal::format::meta::Meta;
use bitgask::internal::format::record::{
    self, Codec, Encoded, Header, Record, FLAG_COMPRESSED, FLAG_TOMBSTONE, HARD_MAX_KEY, HARD_MAX_VALUE, HEADER_LEN,
};
use bitgask::{Db, Error, Options, Report};

// ---------------------------------------------------------------------------------------------
// Checksum fixing (mode bits)

/// Rewrites the CRC of a record at the start of `b` when its header parses and the record fits.
/// Returns the record's length.
pub fn fix_record_crc(b: &mut [u8]) -> Option<usize> {
    let h = Header::parse(b).ok()?;
    let len = usize::try_from(h.record_len()).ok().filter(|&l| l <= b.len())?;
    let crc = crc32fast::hash(&b[4..len]);
    b[..4].copy_from_slice(&crc.to_le_bytes());
    Some(len)
}

/// Fixes the CRC of every record of a data file: where a header parses and fits, its record is
/// fixed and skipped; elsewhere the walk moves on one byte, so records after damage get valid
/// CRCs too (damage in the middle of a file, not only a torn tail).
pub fn fix_data_crcs(b: &mut [u8]) {
    let mut pos = 0;
    while pos < b.len() {
        pos += fix_record_crc(&mut b[pos..]).unwrap_or(1);
    }
}

/// Sets a hint's file id and covered length (when `id_len` is given) and its trailer CRC.
pub fn fix_hint(b: &mut [u8], id_len: Option<(u32, u64)>) {
    if b.len() < 28 {
        return;
    }
    if let Some((id, len)) = id_len {
        b[12..16].copy_from_slice(&id.to_le_bytes());
        b[16..24].copy_from_slice(&len.to_le_bytes());
    }
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
}

/// Sets the sizes of `output ID SIZE` lines to the real sizes in `sizes` (by id) and rewrites the
/// crc line over everything before it. Text that is not UTF-8 is left alone.
pub fn fix_merge_done(b: &[u8], sizes: &BTreeMap<u32, u64>) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(b) else { return b.to_vec() };
    let body = match text.rfind("crc ") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::new();
    for line in body.split_inclusive('\n') {
        let f: Vec<&str> = line.trim_end_matches('\n').split(' ').collect();
        match f.as_slice() {
            ["output", id, _] if id.parse::<u32>().ok().and_then(|id| sizes.get(&id)).is_some() => {
                let size = sizes[&id.parse::<u32>().unwrap()];
                out.push_str(&format!("output {id} {size}"));
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(line),
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let crc = crc32fast::hash(out.as_bytes());
    out.push_str(&format!("crc {crc:08x}\n"));
    out.into_bytes()
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap()))
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap()))
}

// ---------------------------------------------------------------------------------------------
// record_decode: mode byte (bit 0: fix the CRC), then the record's bytes.

pub fn record_decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut b = rest.to_vec();
    if mode & 1 != 0 {
        fix_record_crc(&mut b);
    }
    check_record(&b);
}

fn check_record(b: &[u8]) {
    let parsed = Header::parse(b);
    let Ok(r) = Record::decode(b) else { return };
    let h = r.header;
    assert_eq!(parsed.as_ref().ok(), Some(&h), "decode and Header::parse disagree");
    let len = usize::try_from(h.record_len()).unwrap();
    assert!(len <= b.len() && len > HEADER_LEN);
    assert!(!r.key.is_empty() && r.key.len() <= HARD_MAX_KEY as usize);
    assert_eq!(r.key, &b[HEADER_LEN..HEADER_LEN + h.key_len as usize]);
    assert_eq!(r.stored_value, &b[HEADER_LEN + h.key_len as usize..len]);
    match r.value() {
        Ok(v) if h.flags & FLAG_COMPRESSED == 0 => {
            assert_eq!(&*v, r.stored_value);
            if h.codec == Codec::None {
                let again = record::encode(h.ts, h.expires, h.flags, r.key, r.stored_value);
                assert_eq!(again, &b[..len], "re-encoding a decoded record gives other bytes");
            }
        }
        Ok(v) => {
            assert!(v.len() <= HARD_MAX_VALUE as usize);
            let mut e = Encoded::new(r.key, &v, h.expires, h.flags & FLAG_TOMBSTONE, Codec::Snappy);
            e.stamp(h.ts);
            let back = Record::decode(&e.buf).expect("a freshly encoded record decodes");
            assert_eq!((back.key, back.header.ts, back.header.expires), (r.key, h.ts, h.expires));
            assert_eq!(back.value().expect("a freshly encoded value reads"), v);
        }
        Err(bad) => assert!(h.flags & FLAG_COMPRESSED != 0, "an uncompressed value failed to read: {bad}"),
    }
}

// ---------------------------------------------------------------------------------------------
// hint_parse: mode byte (bit 0: fix the trailer CRC; bit 1: expect the file id and covered
// length the hint itself names), file id (u32 LE), data length (u64 LE), then the hint.

pub fn hint_parse(data: &[u8]) {
    if data.len() < 13 {
        return;
    }
    let mode = data[0];
    let mut hint = data[13..].to_vec();
    let (mut id, mut len) = (u32_le(data, 1), u64_le(data, 5));
    if mode & 2 != 0 && hint.len() >= 24 {
        (id, len) = (u32_le(&hint, 12), u64_le(&hint, 16));
    }
    if mode & 1 != 0 {
        fix_hint(&mut hint, None);
    }
    check_hint(&hint, id, len);
}

fn check_hint(bytes: &[u8], id: u32, data_len: u64) {
    let view = match HintView::check(bytes, id, data_len) {
        Ok(v) => v,
        Err(HintError::Stale(_)) => {
            // Stale means: well-formed but for another length. With the length it names it is
            // no longer stale (it may still be refused for its entries).
            let covered = u64_le(bytes, 16);
            assert!(
                !matches!(HintView::check(bytes, id, covered), Err(HintError::Stale(_))),
                "stale for its own length"
            );
            return;
        }
        Err(HintError::Corrupt(_)) => return,
    };
    let mut rebuilt = HintBuilder::new(Vec::new(), id, data_len).unwrap();
    let mut n = 0;
    for e in view.entries() {
        n += 1;
        assert!(!e.key.is_empty() && e.key.len() <= HARD_MAX_KEY as usize);
        assert!(e.offset as u64 + e.record_len as u64 <= data_len, "entry outside the data file");
        assert!(e.record_len as usize >= HEADER_LEN + e.key.len(), "entry shorter than its key");
        rebuilt.push(&e).unwrap();
    }
    assert_eq!(n, view.len(), "entries() and len() disagree");
    assert_eq!(view.is_empty(), n == 0);
    assert_eq!(rebuilt.finish().unwrap(), bytes, "re-building an accepted hint gives other bytes");
}

// ---------------------------------------------------------------------------------------------
// snapshot_load: mode byte (bit 0: fix the header and shard CRCs), then a keydir snapshot
// (`data/keydir.snapshot`). An accepted snapshot decodes to a keydir whose entries all read,
// and encoding that keydir and decoding it again gives the same entries and file list.

pub fn snapshot_load(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut bytes = rest.to_vec();
    if mode & 1 != 0 {
        bitgask::internal::snapshot::fix_crcs(&mut bytes);
    }
    bitgask::internal::snapshot::fuzz_check(&bytes);
}

// ---------------------------------------------------------------------------------------------
// meta_parse: the bytes as `bitgask.meta`, and as `MERGE_DONE` (the other text file).

pub fn meta_parse(data: &[u8]) {
    if let Ok(m) = Meta::parse(data) {
        assert_eq!(Meta::parse(&m.encode()), Ok(m), "meta does not round-trip");
    }
    if let Ok(d) = MergeDone::parse(data) {
        assert_eq!(MergeDone::parse(&d.encode()), Ok(d), "MERGE_DONE does not round-trip");
    }
    if data.len() >= 8 {
        let m = Meta::new(u64_le(data, 0));
        assert_eq!(Meta::parse(&m.encode()), Ok(m), "a new meta does not round-trip");
    }
}

// ---------------------------------------------------------------------------------------------
// directory

/// The files a directory input holds, in section order.
pub const META: usize = 0;
pub const DATA1: usize = 1;
pub const HINT1: usize = 2;
pub const DATA2: usize = 3;
pub const HINT2: usize = 4;
pub const MERGE_DONE: usize = 5;
pub const FILES: usize = 6;

/// Flags (byte 0 of a directory input).
pub const FIX_RECORDS: u8 = 1;
pub const FIX_HINTS: u8 = 2;
pub const FIX_MERGE_DONE: u8 = 4;
/// Bits 3-4: where the files go (see [`DirCase::write`]).
pub const LAYOUT_SHIFT: u8 = 3;
pub const NO_HINT_FILES: u8 = 0x20;
pub const SMALL_FILES: u8 = 0x40;
pub const STRANGERS: u8 = 0x80;

/// A directory input: `flags (1) | present (1, bit i: file i is there) | section*`, each
/// present file a section `u16 LE length | bytes` in the order meta, data 1, hint 1, data 2,
/// hint 2, MERGE_DONE. A length past the end takes what is left.
#[derive(Debug, Clone, Default)]
pub struct DirCase {
    pub flags: u8,
    pub files: [Option<Vec<u8>>; FILES],
}

impl DirCase {
    pub fn split(data: &[u8]) -> DirCase {
        let mut c = DirCase::default();
        let (Some(&flags), Some(&present)) = (data.first(), data.get(1)) else { return c };
        c.flags = flags;
        let mut rest = &data[2..];
        for i in 0..FILES {
            if present & (1 << i) == 0 {
                continue;
            }
            let n = if rest.len() >= 2 { u16::from_le_bytes([rest[0], rest[1]]) as usize } else { 0 };
            rest = &rest[rest.len().min(2)..];
            let n = n.min(rest.len());
            c.files[i] = Some(rest[..n].to_vec());
            rest = &rest[n..];
        }
        c
    }

    pub fn pack(&self) -> Vec<u8> {
        let present = (0..FILES).filter(|&i| self.files[i].is_some()).fold(0u8, |m, i| m | 1 << i);
        let mut out = vec![self.flags, present];
        for f in self.files.iter().flatten() {
            let n = u16::try_from(f.len()).expect("a seed file above 64 KiB");
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    pub fn layout(&self) -> u8 {
        (self.flags >> LAYOUT_SHIFT) & 3
    }

    /// Applies the fix bits.
    pub fn fixed(mut self) -> DirCase {
        if self.flags & FIX_RECORDS != 0 {
            for i in [DATA1, DATA2] {
                if let Some(f) = &mut self.files[i] {
                    fix_data_crcs(f);
                }
            }
        }
        let len = |c: &DirCase, i: usize| c.files[i].as_ref().map(|f| f.len() as u64);
        if self.flags & FIX_HINTS != 0 {
            for (hint, data, id) in [(HINT1, DATA1, 1), (HINT2, DATA2, 2)] {
                let covered = len(&self, data).unwrap_or(0);
                if let Some(h) = &mut self.files[hint] {
                    fix_hint(h, Some((id, covered)));
                }
            }
        }
        if self.flags & FIX_MERGE_DONE != 0 {
            let sizes: BTreeMap<u32, u64> =
                [(1, DATA1), (2, DATA2)].into_iter().filter_map(|(id, i)| Some((id, len(&self, i)?))).collect();
            if let Some(m) = &self.files[MERGE_DONE] {
                self.files[MERGE_DONE] = Some(fix_merge_done(m, &sizes));
            }
        }
        self
    }

    /// Writes the files under `root`. Layouts: 0, everything in `data/`; 1, an unfinished merge
    /// (`data/` with meta, data 1, hint 1; `merge.tmp/` with meta, data 2, hint 2, MERGE_DONE);
    /// 2, an interrupted swap (no `data/`; `merge.tmp/` with everything; `data.old/` with a copy
    /// of data 1); 3, a finished swap (`data/` with all but MERGE_DONE; `data.old/` with data 1
    /// and MERGE_DONE).
    pub fn write(&self, root: &Path) {
        const NAMES: [&str; FILES] =
            ["bitgask.meta", "000000001.data", "000000001.hint", "000000002.data", "000000002.hint", "MERGE_DONE"];
        let put = |dir: &str, i: usize| {
            if let Some(bytes) = &self.files[i] {
                let d = root.join(dir);
                fs::create_dir_all(&d).unwrap();
                fs::write(d.join(NAMES[i]), bytes).unwrap();
            }
        };
        let all = [META, DATA1, HINT1, DATA2, HINT2, MERGE_DONE];
        match self.layout() {
            0 => all.iter().for_each(|&i| put("data", i)),
            1 => {
                [META, DATA1, HINT1].iter().for_each(|&i| put("data", i));
                [META, DATA2, HINT2, MERGE_DONE].iter().for_each(|&i| put("merge.tmp", i));
            }
            2 => {
                all.iter().for_each(|&i| put("merge.tmp", i));
                put("data.old", DATA1);
            }
            _ => {
                [META, DATA1, HINT1, DATA2, HINT2].iter().for_each(|&i| put("data", i));
                [DATA1, MERGE_DONE].iter().for_each(|&i| put("data.old", i));
            }
        }
        if self.flags & STRANGERS != 0 {
            let d = root.join(if self.layout() == 2 { "merge.tmp" } else { "data" });
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("000000001.hint.tmp"), b"half a hint").unwrap();
            fs::write(d.join("notes.txt"), b"not bitgask's").unwrap();
        }
    }

    pub fn options(&self) -> Options {
        let mut o = Options::new();
        o.set_merge_interval_ms(0).set_hint_files(self.flags & NO_HINT_FILES == 0);
        if self.flags & SMALL_FILES != 0 {
            o.set_max_file_size(256).unwrap();
        }
        o
    }
}

static CASES: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory for one case: under `$BITGASK_FUZZ_TMPDIR` (run.sh sets it), else
/// `/dev/shm` (fsync is free there), else the system temp directory. One per process, reused.
fn case_dir() -> PathBuf {
    let base = std::env::var_os("BITGASK_FUZZ_TMPDIR").map(PathBuf::from).unwrap_or_else(|| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    });
    let dir = base.join(format!("bitgask-fuzz-{}", std::process::id()));
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot clear {}: {e}", dir.display()),
    }
    CASES.fetch_add(1, Ordering::Relaxed);
    let root = dir.join("db");
    fs::create_dir_all(&root).unwrap();
    root
}

pub fn directory(data: &[u8]) {
    let case = DirCase::split(data).fixed();
    let root = case_dir();
    case.write(&root);
    check_directory(&root, &case.options());
    let _ = fs::remove_dir_all(root.parent().unwrap());
}

/// Every regular file under `root` (but LOCK) with its bytes and mtime, and every directory.
type Snapshot = BTreeMap<PathBuf, Option<(Vec<u8>, i64, i64)>>;

fn snapshot(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else if rel != Path::new("LOCK") {
                out.insert(rel, Some((fs::read(&p).unwrap(), m.mtime(), m.mtime_nsec())));
            }
        }
    }
    let mut out = Snapshot::new();
    walk(root, root, &mut out);
    out
}

fn problems(r: &Report) -> String {
    r.problems
        .iter()
        .map(|p| {
            format!(
                "\n  {} {} @{}+{}: {}{}",
                p.kind.name(),
                p.file,
                p.offset,
                p.length,
                p.message,
                if p.mended { " (mended)" } else { "" }
            )
        })
        .collect()
}

/// Reads every key with its value; returns the count and a key to write to (an existing one
/// when there is a short one, so the write must win over a recovered record).
fn read_all(db: &Db) -> bitgask::Result<(u64, Vec<u8>)> {
    let mut n = 0;
    let mut target = None;
    for kv in db.iter_prefix(b"")? {
        let (k, _v) = kv?;
        n += 1;
        if target.is_none() && k.len() <= 1024 {
            target = Some(k);
        }
    }
    Ok((n, target.unwrap_or_else(|| b"fuzz-key".to_vec())))
}

/// On a database that validate called clean: open, read everything, write one key, reopen and
/// read it back, close; the database must still be clean. `what` names the phase.
fn check_clean_database(root: &Path, opts: &Options, v: &Report, what: &str) {
    let db = Db::open(root, opts.clone())
        .unwrap_or_else(|e| panic!("{what}: validate was clean but open failed: {e}{}", problems(v)));
    let (n, key) = read_all(&db).unwrap_or_else(|e| panic!("{what}: validate was clean but a read failed: {e}"));
    assert!(n <= v.live_keys, "{what}: open found {n} keys, validate {} (keys only expire)", v.live_keys);
    let existed = db.exists(&key).unwrap();
    let value = b"written by the fuzz harness".to_vec();
    db.put(&key, &value).unwrap_or_else(|e| panic!("{what}: put after open failed: {e}"));
    assert_eq!(db.get(&key).unwrap().as_deref(), Some(&value[..]), "{what}: a put is not read back");
    db.close().unwrap_or_else(|e| panic!("{what}: close failed: {e}"));
    let db = Db::open(root, opts.clone()).unwrap_or_else(|e| panic!("{what}: reopen after a put failed: {e}"));
    assert_eq!(
        db.get(&key).unwrap().as_deref(),
        Some(&value[..]),
        "{what}: an acknowledged put is lost after reopen (key {key:?})"
    );
    db.close().unwrap_or_else(|e| panic!("{what}: close failed: {e}"));
    let after = bitgask::validate(root).unwrap();
    assert!(after.clean(), "{what}: a clean database is damaged after open, put and close:{}", problems(&after));
    assert!(
        after.live_keys <= n + u64::from(!existed),
        "{what}: more live keys after one put ({} > {n} + 1)",
        after.live_keys
    );
}

pub fn check_directory(root: &Path, opts: &Options) {
    // Validate only reads.
    let before = snapshot(root);
    let v1 = bitgask::validate(root).unwrap_or_else(|e| panic!("validate failed: {e}"));
    assert_eq!(snapshot(root), before, "validate changed the directory");

    if v1.clean() {
        check_clean_database(root, opts, &v1, "as found");
    } else {
        match Db::open(root, opts.clone()) {
            Ok(db) => {
                // Damage validate saw (a lying hint, say) may fail reads; it must not panic.
                let _ = read_all(&db);
                let _ = db.close();
            }
            Err(e) => assert!(
                matches!(e, Error::Corrupt(_) | Error::FormatVersion(_)),
                "open failed with an unexpected error: {e:?}"
            ),
        }
    }

    let r = match bitgask::repair(root, opts) {
        Ok(r) => r,
        Err(Error::FormatVersion(_)) => return,
        Err(Error::Corrupt(m)) if m.contains("interrupted merge") => return,
        Err(e) => panic!("repair failed: {e:?}"),
    };
    assert!(r.clean(), "repair left problems:{}", problems(&r));
    let v2 = bitgask::validate(root).unwrap();
    assert!(v2.clean(), "validate after repair is not clean:{}\nrepair said:{}", problems(&v2), problems(&r));
    check_clean_database(root, opts, &v2, "after repair");

    // A second repair changes nothing.
    let before = snapshot(root);
    let r2 = bitgask::repair(root, opts).unwrap_or_else(|e| panic!("second repair failed: {e}"));
    assert!(
        r2.problems.iter().all(|p| p.kind.is_note()) && r2.bytes_truncated == 0 && r2.bytes_quarantined == 0,
        "second repair did something:{}",
        problems(&r2)
    );
    assert_eq!(snapshot(root), before, "second repair changed the directory");
}
