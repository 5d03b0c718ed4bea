//! The keydir snapshot, `data/keydir.snapshot` (docs/DESIGN.md section 6.7): the keydir as it
//! was at a clean close, with the exact data files it describes, so the next open loads it with
//! a few large reads instead of offering every hint entry. It is only ever a shortcut: open uses
//! it when its CRCs hold and every data file is the one it names (id, size, inode, mtime,
//! ctime), and removes it in every case before the handle can write; anything else loads from
//! hints and data files as without it.
//!
//! ```text
//! magic "BGKSNAP1" | version u32 | file count u32 | seed u64 | max stamp u64
//! | files: id u32, reserved u32, size u64, inode u64, mtime ns i64, ctime ns i64
//! | shards: offset u64, length u64, crc32 u32, reserved u32 (one per keydir shard, sixteen)
//! | crc32 of everything before it u32 | the shards (keydir::snapshot)
//! ```
//! All integers are little-endian.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::generation;
use crate::keydir::{decode_shard, KeyHasher, Keydir, Shard, SHARDS};
use crate::loader::Tally;
use crate::storage::fs::{self, atomic_write_with, data_name, tmp_name};

pub use crate::storage::fs::SNAPSHOT_FILE;
const MAGIC: &[u8; 8] = b"BGKSNAP1";
/// 2: sixteen shards (version 1 had four; such a snapshot is not used, open loads from hints).
const VERSION: u32 = 2;
/// Keys below which close writes no snapshot: their hints load in a few milliseconds anyway.
pub const MIN_KEYS: usize = 20_000;
/// Entries below which one thread loads the whole snapshot.
const PARALLEL_MIN_KEYS: u64 = 50_000;

const FIXED: usize = 32;
const FILE: usize = 40;
const SHARD: usize = 24;

/// A data file as the snapshot saw it: anything that changes it changes one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub id: u32,
    pub size: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileStamp {
    fn of(dir: &Path, id: u32) -> Result<FileStamp> {
        let path = dir.join(data_name(id));
        let m = std::fs::symlink_metadata(&path).map_err(|e| Error::io("stat", &path, e))?;
        let ns = |s: i64, n: i64| s.wrapping_mul(1_000_000_000).wrapping_add(n);
        Ok(FileStamp {
            id,
            size: m.len(),
            ino: m.ino(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The stamps of every data file of `dir`, in id order.
fn stamps(dir: &Path) -> Result<Vec<FileStamp>> {
    generation::list(dir)?.data.iter().map(|&id| FileStamp::of(dir, id)).collect()
}

/// What a snapshot gives open.
pub(crate) struct Loaded {
    pub keys: Keydir,
    pub tally: Tally,
    pub files: Vec<FileStamp>,
}

/// The header, parsed, and the shards' bytes.
struct Parsed<'a> {
    seed: u64,
    max_ts: u64,
    files: Vec<FileStamp>,
    shards: [(&'a [u8], u32); SHARDS],
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The snapshot file's bytes for `keys` and the data files `files`.
pub fn encode(keys: &Keydir, max_ts: u64, files: &[FileStamp]) -> Vec<u8> {
    let (mut out, shards) = encode_parts(keys, max_ts, files);
    for s in shards {
        out.extend_from_slice(&s);
    }
    out
}

/// The header and the shards, apart (close writes them one after the other, without
/// copying the shards into one buffer).
fn encode_parts(keys: &Keydir, max_ts: u64, files: &[FileStamp]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let shards: Vec<Vec<u8>> = (0..SHARDS)
        .map(|i| {
            let mut b = Vec::new();
            keys.encode_shard(i, &mut b);
            b
        })
        .collect();
    let head_len = FIXED + files.len() * FILE + SHARDS * SHARD + 4;
    let mut out = Vec::with_capacity(head_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(files.len() as u32).to_le_bytes());
    out.extend_from_slice(&keys.seed().to_le_bytes());
    out.extend_from_slice(&max_ts.to_le_bytes());
    for f in files {
        out.extend_from_slice(&f.id.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for v in [f.size, f.ino, f.mtime_ns as u64, f.ctime_ns as u64] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut at = head_len as u64;
    for s in &shards {
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(s).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        at += s.len() as u64;
    }
    out.extend_from_slice(&crc32fast::hash(&out).to_le_bytes());
    (out, shards)
}

/// Checks the header (its CRC, the version, where the shards are); shard CRCs are left to the
/// loading threads.
fn parse(b: &[u8]) -> std::result::Result<Parsed<'_>, String> {
    if b.len() < FIXED || &b[..8] != MAGIC {
        return Err("not a keydir snapshot".into());
    }
    if u32_at(b, 8) != VERSION {
        return Err(format!("snapshot version {} is not {VERSION}", u32_at(b, 8)));
    }
    let n = u32_at(b, 12) as usize;
    let head_len = n.checked_mul(FILE).and_then(|f| f.checked_add(FIXED + SHARDS * SHARD + 4));
    let Some(head_len) = head_len.filter(|&h| h <= b.len()) else { return Err("truncated header".into()) };
    if crc32fast::hash(&b[..head_len - 4]) != u32_at(b, head_len - 4) {
        return Err("header CRC mismatch".into());
    }
    let files = (0..n)
        .map(|i| {
            let f = FIXED + i * FILE;
            FileStamp {
                id: u32_at(b, f),
                size: u64_at(b, f + 8),
                ino: u64_at(b, f + 16),
                mtime_ns: u64_at(b, f + 24) as i64,
                ctime_ns: u64_at(b, f + 32) as i64,
            }
        })
        .collect();
    let table = FIXED + n * FILE;
    let mut shards = [(&b[..0], 0u32); SHARDS];
    let mut expect = head_len as u64;
    for (i, s) in shards.iter_mut().enumerate() {
        let e = table + i * SHARD;
        let (off, len) = (u64_at(b, e), u64_at(b, e + 8));
        if off != expect || len > (b.len() as u64).saturating_sub(off) {
            return Err(format!("shard {i} is not where the header says"));
        }
        *s = (&b[off as usize..(off + len) as usize], u32_at(b, e + 16));
        expect = off + len;
    }
    if expect != b.len() as u64 {
        return Err("bytes after the last shard".into());
    }
    Ok(Parsed { seed: u64_at(b, 16), max_ts: u64_at(b, 24), files, shards })
}

/// Shards built by one thread (with their indexes), live bytes per file of the snapshot's list,
/// and whether any entry is a tombstone or expires.
type Built = (Vec<(usize, Shard)>, Vec<u64>, bool);

/// The shards in the order the loading threads claim them: the largest first, so whichever
/// thread finishes first takes the next one and the two end close together.
fn claim_order(parsed: &Parsed<'_>) -> [usize; SHARDS] {
    let mut order: [usize; SHARDS] = std::array::from_fn(|i| i);
    order.sort_by_key(|&i| std::cmp::Reverse(parsed.shards[i].0.len()));
    order
}

/// Checks and builds shards, claiming the next of `order` through `next` until none is left
/// (a thread that starts late or runs slower leaves the other more shards, not idle time), and
/// counts the live bytes of the files (in the order of `parsed.files`; an entry in a file it
/// does not name refuses its shard). A refused shard stops every thread's claims.
fn build(
    hasher: &KeyHasher,
    parsed: &Parsed<'_>,
    order: &[usize],
    next: &AtomicUsize,
) -> std::result::Result<Built, String> {
    let mut live = vec![0u64; parsed.files.len()];
    let mut purge = false;
    let mut out = Vec::with_capacity(order.len());
    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
        match build_one(hasher, parsed, i, &mut live, &mut purge) {
            Ok(shard) => out.push((i, shard)),
            Err(why) => {
                next.store(order.len(), Ordering::Relaxed);
                return Err(why);
            }
        }
    }
    Ok((out, live, purge))
}

/// Checks and builds shard `i`, adding its entries' bytes to `live`.
fn build_one(
    hasher: &KeyHasher,
    parsed: &Parsed<'_>,
    i: usize,
    live: &mut [u64],
    purge: &mut bool,
) -> std::result::Result<Shard, String> {
    let (bytes, crc) = parsed.shards[i];
    let shard = decode_shard(hasher, i, bytes, crc, |l| {
        *purge |= l.tombstone || l.has_ttl;
        // A few dozen files: a binary search in a cache-resident list beats a hash map.
        let Ok(f) = parsed.files.binary_search_by_key(&l.file_id, |f| f.id) else { return false };
        if !l.tombstone {
            live[f] = live[f].wrapping_add(l.size as u64);
        }
        true
    })
    .map_err(|e| format!("shard {i}: {}", e.0))?;
    Ok(shard)
}

/// Decodes a whole snapshot (on two threads when it is large and the machine has the cores).
pub(crate) fn decode(b: &[u8]) -> std::result::Result<Loaded, String> {
    let parsed = parse(b)?;
    decode_parsed(&parsed, || ()).0
}

/// Checks and builds the shards (on two threads when they are large and the machine has the
/// cores), running `beside` on a thread of its own meanwhile; returns both outcomes.
fn decode_parsed<T: Send>(
    parsed: &Parsed<'_>,
    beside: impl FnOnce() -> T + Send,
) -> (std::result::Result<Loaded, String>, T) {
    let hasher = KeyHasher::with_seed(parsed.seed);
    // Claimed counts, not checked yet: only a hint for how many threads to use.
    let keys = parsed.shards.iter().map(|s| s.0.get(8..16).map_or(0, |n| u64_at(n, 0))).fold(0u64, u64::saturating_add);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (order, next) = (claim_order(parsed), AtomicUsize::new(0));
    let (built, other) = std::thread::scope(|scope| {
        // The helper first: `beside` mostly waits on the disk.
        let helper =
            (keys >= PARALLEL_MIN_KEYS && cores >= 2).then(|| scope.spawn(|| build(&hasher, parsed, &order, &next)));
        let other = scope.spawn(beside);
        let mine = build(&hasher, parsed, &order, &next);
        let built = match helper {
            None => mine,
            Some(h) => {
                let theirs = h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                mine.and_then(|a| theirs.map(|b| merge_built(a, b)))
            }
        };
        (built, other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    (built.map(|b| loaded(parsed, b)), other)
}

/// What two threads built, together.
fn merge_built((mut a, mut live, purge): Built, (b, other, p): Built) -> Built {
    a.extend(b);
    live.iter_mut().zip(other).for_each(|(l, o)| *l = l.wrapping_add(o));
    (a, live, purge || p)
}

fn loaded(parsed: &Parsed<'_>, (mut built, live, purge): Built) -> Loaded {
    built.sort_unstable_by_key(|s| s.0);
    let mut shards = built.into_iter().map(|s| s.1);
    let shards = std::array::from_fn(|_| shards.next().expect("every shard"));
    let mut tally = Tally { max_ts: parsed.max_ts, purge, ..Tally::default() };
    for (f, l) in parsed.files.iter().zip(live) {
        if l != 0 {
            tally.live.insert(f.id, l);
        }
    }
    Loaded { keys: Keydir::from_shards(parsed.seed, shards), tally, files: parsed.files.clone() }
}

/// Writes the snapshot of `keys` for the data files of `dir` as they are now (the caller holds
/// the LOCK, every file is synced and sealed, and nothing writes until the LOCK is released).
pub(crate) fn write(dir: &Path, keys: &Keydir, max_ts: u64) -> Result<()> {
    // Else the next open's rename would replace it, freeing it on open's time.
    remove_retired(dir)?;
    let (head, shards) = encode_parts(keys, max_ts, &stamps(dir)?);
    atomic_write_with(dir, SNAPSHOT_FILE, |w| {
        use std::io::Write;
        w.write_all(&head)?;
        shards.iter().try_for_each(|s| w.write_all(s))
    })
}

/// What [`load`] found.
pub(crate) enum Found<T> {
    /// No snapshot.
    None,
    /// A snapshot that was not used, and why.
    Refused(String),
    /// A snapshot that describes exactly the data files and the seed asked for, with what its
    /// shards gave (`Err`: a shard was damaged) and what `beside` returned.
    Matched(Box<std::result::Result<Loaded, String>>, T),
}

/// The snapshot of `dir`, if there is one that describes exactly its data files (`data`, in id
/// order), has the hash seed `seed` (if one is asked for), and whose CRCs hold. Once the file
/// list matched, `beside` runs on a thread of its own with that list while the shards are
/// checked and built (the caller's own work that needs only the list: its result comes back
/// whatever the shards turn out to be).
pub(crate) fn load<T: Send>(
    dir: &Path,
    data: &[u32],
    seed: Option<u64>,
    beside: impl FnOnce(&[FileStamp]) -> T + Send,
) -> Found<T> {
    let path = dir.join(SNAPSHOT_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Found::None;
    }
    let map = match map_populated(&path) {
        Ok(m) => m,
        Err(e) => return Found::Refused(e.to_string()),
    };
    let parsed = match parse(&map).and_then(|p| matches(dir, data, seed, p)) {
        Ok(p) => p,
        Err(why) => return Found::Refused(why),
    };
    let (keys, other) = decode_parsed(&parsed, || beside(&parsed.files));
    Found::Matched(Box::new(keys), other)
}

/// `parsed`, if it names exactly the data files `data` of `dir` as they are now and has the hash
/// seed `seed` (when one is asked for). The files are compared before any shard is read, so a
/// stale snapshot costs a few `stat`s.
fn matches<'a>(
    dir: &Path,
    data: &[u32],
    seed: Option<u64>,
    parsed: Parsed<'a>,
) -> std::result::Result<Parsed<'a>, String> {
    if seed.is_some_and(|s| s != parsed.seed) {
        return Err("its hash seed is not this handle's".into());
    }
    if parsed.files.len() != data.len() {
        return Err(format!("{} data files, the snapshot has {}", data.len(), parsed.files.len()));
    }
    for (f, &id) in parsed.files.iter().zip(data) {
        let now = FileStamp::of(dir, id).map_err(|e| e.to_string())?;
        if *f != now {
            return Err(format!("{} changed since the snapshot", data_name(id)));
        }
    }
    Ok(parsed)
}

/// Maps the whole snapshot with its pages mapped up front: one call instead of a page fault
/// every few pages while the shards are read.
fn map_populated(path: &Path) -> Result<memmap2::Mmap> {
    let file = fs::open_nofollow(path, false)?;
    if file.metadata().map_err(|e| Error::io("stat", path, e))?.len() == 0 {
        return Err(Error::Corrupt(format!("{}: empty", path.display())));
    }
    // SAFETY: only bitgask writes `data/`, and not while this handle holds the LOCK; the map is
    // read once, here, and dropped before open returns.
    unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(|e| Error::io("mmap", path, e))
}

/// What open renames the snapshot to: removing a large file takes a while (its page cache and
/// blocks are freed), so the background thread does it once the handle is open.
pub use crate::storage::fs::RETIRED_SNAPSHOT_FILE as RETIRED_FILE;

/// Takes the snapshot out of open's way before the handle can write: renames it to
/// [`RETIRED_FILE`] and removes its temporary file. True if the directory changed (the caller
/// fsyncs it).
pub(crate) fn retire(dir: &Path) -> Result<bool> {
    let path = dir.join(SNAPSHOT_FILE);
    let present = std::fs::symlink_metadata(&path).is_ok();
    if present {
        fs::rename(&path, &dir.join(RETIRED_FILE))?;
    }
    let tmp = fs::remove_if_exists(&dir.join(tmp_name(SNAPSHOT_FILE)))?;
    Ok(present || tmp)
}

/// Removes a retired snapshot (background work; a failure leaves it to the next open or close).
pub(crate) fn remove_retired(dir: &Path) -> Result<bool> {
    fs::remove_if_exists(&dir.join(RETIRED_FILE))
}

/// Removes the snapshot, a retired one and the temporary file (repair); true if there was any
/// (the caller fsyncs the directory).
pub(crate) fn discard(dir: &Path) -> Result<bool> {
    let mut any = false;
    for name in [SNAPSHOT_FILE, RETIRED_FILE, &tmp_name(SNAPSHOT_FILE)] {
        any |= fs::remove_if_exists(&dir.join(name))?;
    }
    Ok(any)
}

/// Whether `b` begins like a keydir snapshot.
pub fn has_magic(b: &[u8]) -> bool {
    b.starts_with(MAGIC)
}

/// One shard as `bitgask dump` shows it.
#[derive(Debug, Clone)]
pub struct ShardSummary {
    pub buckets: u64,
    pub entries: u64,
    pub bytes: u64,
    pub crc_ok: bool,
}

/// What `bitgask dump` shows of a snapshot: its header, its shards' sizes and CRCs, and, given
/// its directory, whether open would take it (`Ok`) or why not.
#[derive(Debug, Clone)]
pub struct Summary {
    pub max_ts: u64,
    pub files: Vec<FileStamp>,
    pub shards: Vec<ShardSummary>,
    pub matches: Option<std::result::Result<(), String>>,
}

/// Reads the header and the shards' heads and CRCs of snapshot bytes `b` (no keydir is built);
/// `dir` is the `data/` directory the snapshot lies in, if it should be compared with it.
pub fn summary(b: &[u8], dir: Option<&Path>) -> std::result::Result<Summary, String> {
    let parsed = parse(b)?;
    let shards = parsed
        .shards
        .iter()
        .map(|&(s, crc)| ShardSummary {
            buckets: s.get(..8).map_or(0, |h| u64_at(h, 0)),
            entries: s.get(8..16).map_or(0, |h| u64_at(h, 0)),
            bytes: s.len() as u64,
            crc_ok: crc32fast::hash(s) == crc,
        })
        .collect();
    let matches = dir.map(|d| {
        let now = stamps(d).map_err(|e| e.to_string())?;
        match parsed.files.iter().zip(&now).find(|(a, b)| a != b) {
            _ if now.len() != parsed.files.len() => {
                Err(format!("{} data files, the snapshot has {}", now.len(), parsed.files.len()))
            }
            Some((_, f)) => Err(format!("{} changed since the snapshot", data_name(f.id))),
            None => Ok(()),
        }
    });
    Ok(Summary { max_ts: parsed.max_ts, files: parsed.files, shards, matches })
}

/// For the fuzz target: recomputes the CRCs of what looks like a snapshot (as far as it can be
/// parsed), so mutated contents get past them.
pub fn fix_crcs(b: &mut [u8]) {
    if b.len() < FIXED {
        return;
    }
    let n = u32_at(b, 12) as usize;
    let Some(head_len) = n.checked_mul(FILE).and_then(|f| f.checked_add(FIXED + SHARDS * SHARD + 4)) else {
        return;
    };
    if head_len > b.len() {
        return;
    }
    let table = FIXED + n * FILE;
    for i in 0..SHARDS {
        let e = table + i * SHARD;
        let (off, len) = (u64_at(b, e) as usize, u64_at(b, e + 8) as usize);
        if let Some(s) = off.checked_add(len).filter(|&end| end <= b.len()).map(|end| &b[off..end]) {
            let crc = crc32fast::hash(s);
            b[e + 16..e + 20].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b[..head_len - 4]);
    b[head_len - 4..head_len].copy_from_slice(&crc.to_le_bytes());
}

/// For the fuzz target: decodes `b`; if it is accepted, every entry must be looked up without
/// panicking, and, when every key is there once and found (no stored hash lied), encoding what was decoded and
/// decoding that again gives the same entries. Returns whether `b` was accepted.
pub fn fuzz_check(b: &[u8]) -> bool {
    let Ok(first) = decode(b) else { return false };
    let mut seen = Vec::new();
    first.keys.for_each(|k, l| seen.push((k.to_vec(), l.file_id, l.offset, l.size)));
    assert_eq!(seen.len(), first.keys.len());
    // Honest: every key once, and found where its true hash leads (so in its true shard).
    let distinct = seen.iter().map(|e| &e.0).collect::<std::collections::HashSet<_>>().len() == seen.len();
    let honest = distinct && seen.iter().all(|(k, ..)| first.keys.get(k).is_some());
    let again = encode(&first.keys, first.tally.max_ts, &first.files);
    // A lying hash put its key in another shard: re-encoding that (with the true hash) may be
    // refused, and not panicking is all that is asked of such input.
    let second = match decode(&again) {
        Ok(s) => s,
        Err(_) if !honest => return true,
        Err(e) => panic!("a re-encoded snapshot of honest hashes does not decode: {e}"),
    };
    let mut back = Vec::new();
    second.keys.for_each(|k, l| back.push((k.to_vec(), l.file_id, l.offset, l.size)));
    seen.sort();
    back.sort();
    assert_eq!(seen, back, "re-encoding changed the entries");
    assert_eq!(second.files, first.files);
    true
}

/// For the fuzz corpus: the snapshot of a keydir of `n` keys (some inline, some in the arena)
/// over two made-up files.
pub fn sample(n: u32) -> Vec<u8> {
    let mut k = Keydir::new();
    for i in 0..n {
        let key = if i % 2 == 0 { format!("k{i}") } else { format!("key-number-{i}") };
        let loc =
            crate::keydir::Loc { file_id: 1 + i % 2, offset: i * 40, size: 40, tombstone: false, has_ttl: i % 9 == 0 };
        k.insert(key.as_bytes(), loc);
    }
    let files = [1, 2].map(|id| FileStamp { id, size: 4096, ino: 7 + id as u64, mtime_ns: 1, ctime_ns: 2 });
    encode(&k, 99, &files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed_sample(b: &[u8]) -> Parsed<'_> {
        parse(b).unwrap()
    }

    fn build_alone(parsed: &Parsed<'_>, next: &AtomicUsize) -> std::result::Result<Built, String> {
        build(&KeyHasher::with_seed(parsed.seed), parsed, &claim_order(parsed), next)
    }

    #[test]
    fn shards_are_claimed_largest_first() {
        let b = sample(30_000);
        let parsed = parsed_sample(&b);
        let order = claim_order(&parsed);
        let mut sorted = order;
        sorted.sort_unstable();
        assert_eq!(sorted, std::array::from_fn(|i| i));
        let lens = order.map(|i| parsed.shards[i].0.len());
        assert!(lens.windows(2).all(|w| w[0] >= w[1]), "{lens:?}");
    }

    #[test]
    fn a_thread_builds_every_shard_a_late_helper_did_not_claim() {
        let b = sample(30_000);
        let parsed = parsed_sample(&b);
        let next = AtomicUsize::new(0);
        let (first, live, _) = build_alone(&parsed, &next).unwrap();
        let mut got: Vec<usize> = first.iter().map(|s| s.0).collect();
        got.sort_unstable();
        assert_eq!(got, (0..SHARDS).collect::<Vec<_>>());
        assert_eq!(live.iter().sum::<u64>(), 30_000 * 40);
        let (late, live, _) = build_alone(&parsed, &next).unwrap();
        assert!(late.is_empty() && live.iter().all(|&l| l == 0), "nothing left to claim");
        assert_eq!(decode(&b).unwrap().keys.len(), 30_000);
    }

    #[test]
    fn a_damaged_shard_stops_every_threads_claims() {
        let mut b = sample(30_000);
        let order = claim_order(&parsed_sample(&b));
        // Damage the shard claimed first, past its head: its CRC fails.
        let (off, len) = {
            let p = parsed_sample(&b);
            let s = p.shards[order[0]].0;
            (s.as_ptr() as usize - b.as_ptr() as usize, s.len())
        };
        b[off + len - 1] ^= 1;
        let parsed = parsed_sample(&b);
        let next = AtomicUsize::new(0);
        let Err(err) = build_alone(&parsed, &next) else { panic!("a damaged shard was built") };
        assert!(err.contains("CRC"), "{err}");
        let (other, ..) = build_alone(&parsed, &next).unwrap();
        assert!(other.is_empty(), "the other thread claims nothing after a refusal");
        assert!(decode(&b).is_err());
    }
}
