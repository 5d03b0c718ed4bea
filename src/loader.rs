//! Offering records to the keydir at open (docs/DESIGN.md section 4.4, steps 5 and 6): the newest
//! stamp of each key wins, the later offer on a tie, and tombstones and expiring records stay
//! until the caller purges them.
//!
//! Runs of hinted files load on several threads: each thread owns a disjoint group of keydir
//! shards and reads every entry of the run, offering only the keys of its shards. A key lives in
//! exactly one shard, so its offers still arrive in file order, one thread deciding them all,
//! and the outcome is the one a single thread would reach.

use crate::format::hint::{HintError, HintView};
use crate::format::record::{Header, Record, FLAG_TOMBSTONE};
use crate::idmap::IdMap;
use crate::keydir::{hashed_with, shard_of, Hashed, KeyHasher, Keydir, Loc, Shard, Upsert, FIRST_HALF, SHARDS};
use crate::storage::datafile::MappedFile;

/// Every data file, mapped for the duration of recovery.
pub(crate) type Maps = IdMap<MappedFile>;

/// Entries in a run of hints below which one thread loads them (a thread costs more).
const PARALLEL_MIN_ENTRIES: usize = 50_000;

/// One record as recovery sees it, from a hint entry or a scanned header.
pub(crate) struct Seen<'a> {
    pub key: &'a [u8],
    pub ts: u64,
    pub loc: Loc,
}

impl<'a> Seen<'a> {
    pub fn from_record(file_id: u32, offset: u64, r: &Record<'a>) -> Seen<'a> {
        let h = r.header;
        Seen { key: r.key, ts: h.ts, loc: loc(file_id, offset, h.record_len(), h.flags, h.expires) }
    }
}

pub(crate) fn loc(file_id: u32, offset: u64, size: u64, flags: u8, expires: u64) -> Loc {
    Loc {
        file_id,
        offset: offset as u32,
        size: size as u32,
        tombstone: flags & FLAG_TOMBSTONE != 0,
        has_ttl: expires != 0,
    }
}

/// The header a keydir entry points at (recovery has already validated it).
pub(crate) fn header_of(maps: &Maps, loc: Loc) -> Option<Header> {
    Header::parse(&maps[&loc.file_id][loc.offset as usize..]).ok()
}

/// What loading learns beside the keydir; one per loading thread, added up at the end.
#[derive(Default)]
pub(crate) struct Tally {
    pub max_ts: u64,
    /// Live bytes per file, kept up to date as entries are replaced (wrapping: a thread's
    /// share of a file may dip below zero before another thread's is added).
    pub live: IdMap<u64>,
    /// Whether any tombstone or expiring record was loaded (else there is nothing to purge).
    pub purge: bool,
}

impl Tally {
    /// Keeps the record in `shard` (the one `k` hashes to) if it is newer than what it has.
    fn offer(&mut self, shard: &mut Shard, hasher: &KeyHasher, maps: &Maps, k: &Hashed<'_>, s: Seen<'_>) {
        self.max_ts = self.max_ts.max(s.ts);
        self.purge |= s.loc.tombstone || s.loc.has_ttl;
        let newer = |old: Loc| header_of(maps, old).map_or(0, |h| h.ts) > s.ts;
        let old = match shard.upsert(hasher, k, s.loc, newer) {
            Upsert::Kept => return,
            Upsert::Inserted => None,
            Upsert::Replaced(old) => Some(old),
        };
        self.count(s.loc, 1);
        if let Some(old) = old {
            self.count(old, -1);
        }
    }

    /// Adds (`sign` 1) or removes (-1) a value record's bytes from its file's live bytes.
    pub fn count(&mut self, l: Loc, sign: i64) {
        if !l.tombstone {
            let v = self.live.entry(l.file_id).or_insert(0);
            *v = v.wrapping_add_signed(sign * l.size as i64);
        }
    }

    pub fn add(&mut self, other: Tally) {
        self.max_ts = self.max_ts.max(other.max_ts);
        self.purge |= other.purge;
        for (id, v) in other.live {
            let mine = self.live.entry(id).or_insert(0);
            *mine = mine.wrapping_add(v);
        }
    }
}

#[derive(Default)]
pub(crate) struct Loader {
    pub keys: Keydir,
    pub tally: Tally,
}

impl Loader {
    /// Keys whose newest record is neither a tombstone nor expired at `now`.
    pub fn live_keys(&self, maps: &Maps, now: u64) -> u64 {
        let mut n = 0;
        self.keys.for_each(|_, l| {
            let gone = l.tombstone
                || (l.has_ttl && header_of(maps, l).is_some_and(|h| crate::format::record::expired(h.expires, now)));
            n += u64::from(!gone);
        });
        n
    }

    /// Keeps the record if it is newer than what the keydir has; later offers win ties.
    pub fn offer(&mut self, maps: &Maps, s: Seen<'_>) {
        let (hasher, shards) = self.keys.shards_mut();
        let k = hashed_with(hasher, s.key);
        self.tally.offer(&mut shards[shard_of(k.hash)], hasher, maps, &k, s);
    }

    /// Offers every entry of `run` (hints of consecutive files, in id order), on two threads
    /// when the run is large and the machine has the cores.
    pub fn offer_hints(&mut self, maps: &Maps, run: &[(u32, &HintView<'_>)]) {
        let entries: usize = run.iter().map(|(_, v)| v.len()).sum();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if entries < PARALLEL_MIN_ENTRIES || cores < 2 {
            let (hasher, shards) = self.keys.shards_mut();
            let mut all: [Option<&mut Shard>; SHARDS] = shards.each_mut().map(Some);
            offer_run(&mut self.tally, hasher, &mut all, maps, run);
            return;
        }
        let (hasher, shards) = self.keys.shards_mut();
        // The two threads get half the keys each (`FIRST_HALF`).
        let (mut first, mut second): ([Option<&mut Shard>; SHARDS], [Option<&mut Shard>; SHARDS]) = Default::default();
        for (i, shard) in shards.iter_mut().enumerate() {
            match FIRST_HALF[i] {
                true => first[i] = Some(shard),
                false => second[i] = Some(shard),
            }
        }
        let other = std::thread::scope(|scope| {
            let helper = scope.spawn(|| {
                let mut t = Tally::default();
                offer_run(&mut t, hasher, &mut second, maps, run);
                t
            });
            offer_run(&mut self.tally, hasher, &mut first, maps, run);
            helper.join()
        });
        match other {
            Ok(t) => self.tally.add(t),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Hint bytes below which one thread checks every hint.
const PARALLEL_MIN_HINT_BYTES: usize = 4 << 20;

/// Checks hints (id, bytes, data file length) with [`HintView::check`], on two threads when
/// there are several and they are large; results come in the order of `hints`.
pub(crate) fn check_hints<'a>(hints: &[(u32, &'a [u8], u64)]) -> Vec<(u32, Result<HintView<'a>, HintError>)> {
    let check = |&(id, bytes, len): &(u32, &'a [u8], u64)| (id, HintView::check(bytes, id, len));
    let bytes: usize = hints.iter().map(|h| h.1.len()).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if hints.len() < 2 || bytes < PARALLEL_MIN_HINT_BYTES || cores < 2 {
        return hints.iter().map(check).collect();
    }
    // Split where the first part reaches half the bytes (hint sizes are often alike).
    let mut acc = 0;
    let split = hints.iter().position(|h| {
        acc += h.1.len();
        acc * 2 >= bytes
    });
    let split = split.map_or(hints.len() / 2, |i| (i + 1).min(hints.len() - 1)).max(1);
    let (first, second) = hints.split_at(split);
    let (mut out, rest) = std::thread::scope(|scope| {
        let helper = scope.spawn(|| second.iter().map(check).collect::<Vec<_>>());
        let mine: Vec<_> = first.iter().map(check).collect();
        (mine, helper.join())
    });
    match rest {
        Ok(rest) => out.extend(rest),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    out
}

/// Offers the entries of `run` whose keys fall in the shards present in `mine`.
fn offer_run(
    tally: &mut Tally,
    hasher: &KeyHasher,
    mine: &mut [Option<&mut Shard>; SHARDS],
    maps: &Maps,
    run: &[(u32, &HintView<'_>)],
) {
    // Keys are hashed and their buckets prefetched AHEAD entries before they are offered, so
    // the cache misses of several inserts overlap instead of following one another.
    const AHEAD: usize = 8;
    let mut pending = std::collections::VecDeque::with_capacity(AHEAD + 1);
    for &(id, view) in run {
        for e in view.entries() {
            let k = hashed_with(hasher, e.key);
            let s = shard_of(k.hash);
            let Some(shard) = mine[s].as_deref() else { continue };
            shard.prefetch(k.hash);
            let l = loc(id, e.offset as u64, e.record_len as u64, e.flags, e.expires);
            pending.push_back((s, k, Seen { key: e.key, ts: e.ts, loc: l }));
            if pending.len() > AHEAD {
                let (s, k, seen) = pending.pop_front().expect("not empty");
                offer_to(tally, hasher, mine, maps, s, &k, seen);
            }
        }
    }
    for (s, k, seen) in pending {
        offer_to(tally, hasher, mine, maps, s, &k, seen);
    }
}

fn offer_to(
    tally: &mut Tally,
    hasher: &KeyHasher,
    mine: &mut [Option<&mut Shard>; SHARDS],
    maps: &Maps,
    s: usize,
    k: &Hashed<'_>,
    seen: Seen<'_>,
) {
    let shard = mine[s].as_deref_mut().expect("the caller owns this shard");
    tally.offer(shard, hasher, maps, k, seen);
}

#[cfg(test)]
mod tests {
    use crate::db::Db;
    use crate::options::Options;
    use crate::testutil::{files_with_ext, TempDir};

    fn opts(hints: bool) -> Options {
        let mut o = Options::default();
        o.set_max_file_size(1 << 20).unwrap();
        o.set_sync_on_put(false).set_sync_on_delete(false).set_hint_files(hints);
        o
    }

    /// More keys than `PARALLEL_MIN_ENTRIES` over several files, with overwrites in later
    /// files, deletes and expiring keys: the cases where offer order decides.
    fn fill(root: &std::path::Path) {
        let db = Db::open(root, opts(true)).unwrap();
        for i in 0..70_000u32 {
            db.put(format!("key-{i:06}").as_bytes(), b"first version").unwrap();
        }
        for i in (0..70_000u32).step_by(3) {
            db.put(format!("key-{i:06}").as_bytes(), format!("second {i}").as_bytes()).unwrap();
        }
        for i in (0..70_000u32).step_by(7) {
            db.delete(format!("key-{i:06}").as_bytes()).unwrap();
        }
        for i in (1..70_000u32).step_by(11) {
            db.put_ttl(format!("key-{i:06}").as_bytes(), b"expires late", 3_600_000).unwrap();
        }
        db.close().unwrap();
    }

    fn summary(db: &Db) -> (u64, u64, u64, Vec<Option<Vec<u8>>>) {
        let s = db.stats().unwrap();
        let probes = [0u32, 1, 3, 6, 7, 12, 21, 22, 33, 69_999];
        let values = probes.iter().map(|i| db.get(format!("key-{i:06}").as_bytes()).unwrap()).collect();
        (s.keys, s.total_bytes, s.dead_bytes, values)
    }

    #[test]
    fn hints_checked_on_two_threads_come_back_in_order() {
        let junk = vec![0u8; 3 << 20];
        let hints: Vec<(u32, &[u8], u64)> = (1..=5).map(|id| (id, &junk[..], 0)).collect();
        let checked = super::check_hints(&hints);
        assert_eq!(checked.iter().map(|c| c.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert!(checked.iter().all(|c| c.1.is_err()), "zeros are no hint");
    }

    #[test]
    fn hints_loaded_on_two_threads_match_a_scan_of_every_file() {
        let dir = TempDir::new("loader");
        fill(dir.path());
        // Without the keydir snapshot of the clean close, so the hints are what loads.
        std::fs::remove_file(dir.path().join("data").join(crate::snapshot::SNAPSHOT_FILE)).unwrap();
        let db = Db::open(dir.path(), opts(true)).unwrap();
        assert_eq!(db.open_report().files_from_hints, db.open_report().files);
        let from_hints = summary(&db);
        db.close().unwrap();
        let db = Db::open(dir.path(), opts(false)).unwrap();
        assert_eq!(db.open_report().files_from_hints, 0);
        assert_eq!(summary(&db), from_hints);
        assert_eq!(from_hints.3[0], None, "deleted");
        assert_eq!(from_hints.3[2].as_deref(), Some(&b"second 3"[..]));
        assert_eq!(from_hints.3[1].as_deref(), Some(&b"expires late"[..]));
    }

    #[test]
    fn a_scanned_file_between_hinted_runs_keeps_file_order() {
        let dir = TempDir::new("loader");
        fill(dir.path());
        let db = Db::open(dir.path(), opts(false)).unwrap();
        let scanned = summary(&db);
        db.close().unwrap();
        let hints = files_with_ext(dir.path(), "hint");
        assert!(hints.len() >= 3, "several files: {hints:?}");
        std::fs::remove_file(&hints[hints.len() / 2]).unwrap();
        let db = Db::open(dir.path(), opts(true)).unwrap();
        assert_eq!(db.open_report().files_from_hints, hints.len() - 1);
        assert_eq!(summary(&db), scanned);
    }
}
