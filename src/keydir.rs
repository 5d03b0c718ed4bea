//! The keydir: for every live key, where its newest record lives.
//!
//! Memory is the budget that matters here (the whole key set lives in RAM), so a slot is 20
//! bytes: an 8-byte key reference, file id, offset, and record size with two flag bits. Keys of up
//! to 7 bytes are stored inline in the reference; longer keys live in an append-only arena of
//! 1 MiB chunks, prefixed by a varint length. Sequence stamps and expiry times are not kept in
//! memory: they are in the record header on disk, one map or `pread` away, and `HAS_TTL` says
//! whether the expiry needs looking at at all. Removed keys leave garbage in the arena, which is
//! compacted when it outgrows the live keys.
//!
//! Lookups hash with a per-process random seed (keys come from network clients via the server).
//! A reader that is about to read the record anyway can skip comparing against the arena copy
//! of the key ([`Keydir::probe`]) and compare against the record's key instead: that saves one
//! cache miss per lookup.

use std::hash::BuildHasher;

use foldhash::quality::RandomState;

use hashbrown::hash_table::{Entry, HashTable};

/// Where a key's newest record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub file_id: u32,
    pub offset: u32,
    /// Bytes of the whole record on disk.
    pub size: u32,
    /// The record is a tombstone (only kept while recovery is loading files).
    pub tombstone: bool,
    /// The record has an expiry time (read it from the header when it matters).
    pub has_ttl: bool,
}

const TOMBSTONE_BIT: u32 = 1 << 31;
const TTL_BIT: u32 = 1 << 30;
const SIZE_MASK: u32 = TTL_BIT - 1;

const INLINE_BIT: u64 = 1 << 63;
const INLINE_MAX: usize = 7;
const CHUNK: usize = 1 << 20;

#[derive(Clone, Copy)]
struct Slot {
    key: [u32; 2],
    file_id: u32,
    offset: u32,
    size_flags: u32,
}

impl Slot {
    fn loc(&self) -> Loc {
        Loc {
            file_id: self.file_id,
            offset: self.offset,
            size: self.size_flags & SIZE_MASK,
            tombstone: self.size_flags & TOMBSTONE_BIT != 0,
            has_ttl: self.size_flags & TTL_BIT != 0,
        }
    }

    fn set_loc(&mut self, l: Loc) {
        debug_assert!(l.size <= SIZE_MASK);
        self.file_id = l.file_id;
        self.offset = l.offset;
        self.size_flags = l.size | if l.tombstone { TOMBSTONE_BIT } else { 0 } | if l.has_ttl { TTL_BIT } else { 0 };
    }
}

/// Append-only key storage. A reference is either an inline key or (chunk, offset).
#[derive(Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
    /// Chunk that small keys are appended to.
    current: Option<usize>,
    live: usize,
    garbage: usize,
}

impl Arena {
    fn add(&mut self, key: &[u8]) -> u64 {
        if key.len() <= INLINE_MAX {
            let mut b = [0u8; 8];
            b[..key.len()].copy_from_slice(key);
            return INLINE_BIT | ((key.len() as u64) << 56) | u64::from_le_bytes(b);
        }
        let mut len_buf = [0u8; 5];
        let n = put_varint(&mut len_buf, key.len() as u32);
        let need = n + key.len();
        self.live += need;
        let idx = if need > CHUNK / 4 {
            self.chunks.push(Vec::with_capacity(need));
            self.chunks.len() - 1
        } else {
            match self.current {
                Some(i) if self.chunks[i].capacity() - self.chunks[i].len() >= need => i,
                _ => {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                    self.current = Some(self.chunks.len() - 1);
                    self.chunks.len() - 1
                }
            }
        };
        let chunk = &mut self.chunks[idx];
        let off = chunk.len();
        chunk.extend_from_slice(&len_buf[..n]);
        chunk.extend_from_slice(key);
        ((idx as u64) << 32) | off as u64
    }

    /// The key bytes of a slot's reference (inline keys are borrowed from the slot itself).
    fn get<'a>(&'a self, key: &'a [u32; 2]) -> &'a [u8] {
        let r = (key[0] as u64) | ((key[1] as u64) << 32);
        if r & INLINE_BIT != 0 {
            return &inline_bytes(key)[..((r >> 56) & 0x7f) as usize];
        }
        let chunk = &self.chunks[(r >> 32) as usize];
        let off = (r & 0xffff_ffff) as usize;
        let (len, n) = get_varint(&chunk[off..]);
        &chunk[off + n..off + n + len as usize]
    }

    fn release(&mut self, key: &[u32; 2]) {
        if key[1] & (INLINE_BIT >> 32) as u32 == 0 {
            let len = self.get(key).len();
            let bytes = len + varint_len(len as u32);
            self.live -= bytes;
            self.garbage += bytes;
        }
    }

    fn wants_compaction(&self) -> bool {
        self.garbage > CHUNK && self.garbage > self.live
    }
}

/// The bytes of an inline reference, viewed in place.
fn inline_bytes(key: &[u32; 2]) -> &[u8; 8] {
    // SAFETY: [u32; 2] and [u8; 8] have the same size and u8 has no alignment needs. On a
    // little-endian target (checked below) the low word's low byte comes first, which is the
    // order `Arena::add` packed the key bytes in.
    unsafe { &*(key as *const [u32; 2] as *const [u8; 8]) }
}

#[cfg(not(target_endian = "little"))]
compile_error!("bitgask's keydir assumes a little-endian target");

fn put_varint(buf: &mut [u8; 5], mut v: u32) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        buf[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    i + 1
}

fn get_varint(b: &[u8]) -> (u32, usize) {
    let (mut v, mut shift, mut i) = (0u32, 0, 0);
    loop {
        let byte = b[i];
        v |= ((byte & 0x7f) as u32) << shift;
        i += 1;
        if byte < 0x80 {
            return (v, i);
        }
        shift += 7;
    }
}

fn varint_len(v: u32) -> usize {
    put_varint(&mut [0u8; 5], v)
}

/// Result of [`Keydir::probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    None,
    One(Loc),
    Many,
}

/// What [`Keydir::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Inserted,
    Replaced(Loc),
    Kept,
}

/// The in-memory index from key to [`Loc`].
pub struct Keydir {
    table: HashTable<Slot>,
    arena: Arena,
    hasher: RandomState,
    /// Bumped whenever the table may rehash (entries may change buckets): scan cursors from
    /// before then are no longer positions in this table.
    layout: u64,
}

impl Default for Keydir {
    fn default() -> Self {
        Keydir::new()
    }
}

impl Keydir {
    pub fn new() -> Keydir {
        Keydir { table: HashTable::new(), arena: Arena::default(), hasher: RandomState::default(), layout: 0 }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entries that may hold `key` without comparing keys: the caller must check the key
    /// of the record it reads. `Probe::Many` (two keys sharing a hash tag) is rare; use `get`.
    pub fn probe(&self, key: &[u8]) -> Probe {
        let mut it = self.table.iter_hash(self.hash(key));
        match (it.next(), it.next()) {
            (None, _) => Probe::None,
            (Some(s), None) => Probe::One(s.loc()),
            _ => Probe::Many,
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<Loc> {
        let arena = &self.arena;
        self.table.find(self.hash(key), |s| arena.get(&s.key) == key).map(Slot::loc)
    }

    /// Room for `additional` more keys without rehashing.
    pub fn reserve(&mut self, additional: usize) {
        self.layout += 1;
        let Keydir { table, arena, hasher, .. } = self;
        table.reserve(additional, |s| hasher.hash_one(arena.get(&s.key)));
    }

    /// Points `key` at `loc`; returns where it pointed before.
    pub fn insert(&mut self, key: &[u8], loc: Loc) -> Option<Loc> {
        match self.upsert(key, loc, |_| false) {
            Upsert::Replaced(old) => Some(old),
            _ => None,
        }
    }

    /// Points `key` at `loc` unless `keep(current)` says the current entry stays, with a single
    /// hash lookup.
    pub fn upsert(&mut self, key: &[u8], loc: Loc, keep: impl FnOnce(Loc) -> bool) -> Upsert {
        let h = self.hash(key);
        // `entry` makes room for one more entry first; with none left, that is a rehash.
        if self.table.len() == self.table.capacity() {
            self.layout += 1;
        }
        let Keydir { table, arena, hasher, .. } = self;
        let entry = table.entry(h, |s| arena.get(&s.key) == key, |s| hasher.hash_one(arena.get(&s.key)));
        match entry {
            Entry::Occupied(mut o) => {
                let old = o.get().loc();
                if keep(old) {
                    return Upsert::Kept;
                }
                o.get_mut().set_loc(loc);
                Upsert::Replaced(old)
            }
            Entry::Vacant(v) => {
                let r = arena.add(key);
                let mut slot = Slot { key: [r as u32, (r >> 32) as u32], file_id: 0, offset: 0, size_flags: 0 };
                slot.set_loc(loc);
                v.insert(slot);
                Upsert::Inserted
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Loc> {
        self.remove_where(key, |_| true)
    }

    /// Removes `key` only if it still points at `expected` (used when an expired record is
    /// dropped lazily while a writer may have replaced it).
    pub fn remove_if(&mut self, key: &[u8], expected: Loc) -> bool {
        self.remove_where(key, |l| l == expected).is_some()
    }

    fn remove_where(&mut self, key: &[u8], pred: impl FnOnce(Loc) -> bool) -> Option<Loc> {
        let h = self.hash(key);
        let arena = &self.arena;
        let found = self.table.find_entry(h, |s| arena.get(&s.key) == key).ok()?;
        let loc = found.get().loc();
        if !pred(loc) {
            return None;
        }
        let (slot, _) = found.remove();
        self.arena.release(&slot.key);
        self.maybe_compact();
        Some(loc)
    }

    /// Keeps only the entries whose location `keep` accepts (keys are not read: no arena misses).
    pub fn retain(&mut self, mut keep: impl FnMut(Loc) -> bool) {
        let mut released = Vec::new();
        self.table.retain(|s| {
            let k = keep(s.loc());
            if !k {
                released.push(s.key);
            }
            k
        });
        for r in released {
            self.arena.release(&r);
        }
        self.maybe_compact();
    }

    /// Number of buckets of the table (for scan cursors).
    pub fn num_buckets(&self) -> usize {
        self.table.num_buckets()
    }

    /// Changes whenever entries may have moved between buckets (growth or an in-place rehash).
    pub fn layout(&self) -> u64 {
        self.layout
    }

    /// Visits buckets from `start` on, calling `f` for each entry, until `min_entries` entries
    /// were seen or the table ends; returns the next bucket to visit (`num_buckets()` at the end).
    pub fn scan_buckets(&self, start: usize, min_entries: usize, mut f: impl FnMut(&[u8], Loc)) -> usize {
        let mut seen = 0;
        let mut i = start;
        while i < self.table.num_buckets() && seen < min_entries {
            if let Some(s) = self.table.get_bucket(i) {
                f(self.arena.get(&s.key), s.loc());
                seen += 1;
            }
            i += 1;
        }
        i
    }

    /// Visits the buckets `start..start + count` (clamped to the table), calling `f(bucket,
    /// loc)` for each entry; returns the next bucket to visit (`num_buckets()` at the end). Keys
    /// are not read and buckets are visited in memory order, so a whole-table walk costs no
    /// random cache misses (a full merge takes its live records this way).
    pub fn walk_locs(&self, start: usize, count: usize, mut f: impl FnMut(usize, Loc)) -> usize {
        let end = start.saturating_add(count).min(self.table.num_buckets());
        for i in start..end {
            if let Some(s) = self.table.get_bucket(i) {
                f(i, s.loc());
            }
        }
        end.max(start)
    }

    /// Points the entry in `bucket` at `new` if it points at `old` now; false otherwise (its
    /// key was written again or removed, or the table moved entries since the bucket was read).
    /// Since a location names one record and a record has one key, a match is `old`'s key.
    pub fn replace_at(&mut self, bucket: usize, old: Loc, new: Loc) -> bool {
        match self.table.get_bucket_mut(bucket) {
            Some(s) if s.loc() == old => {
                s.set_loc(new);
                true
            }
            _ => false,
        }
    }

    /// Calls `f` for every entry, in no particular order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Loc)) {
        for s in self.table.iter() {
            f(self.arena.get(&s.key), s.loc());
        }
    }

    /// Copies live keys into a fresh arena once removed keys dominate it.
    fn maybe_compact(&mut self) {
        if !self.arena.wants_compaction() {
            return;
        }
        let mut fresh = Arena::default();
        for s in self.table.iter_mut() {
            let r = fresh.add(self.arena.get(&s.key));
            s.key = [r as u32, (r >> 32) as u32];
        }
        self.arena = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn loc(i: u32) -> Loc {
        Loc { file_id: i, offset: i * 2, size: 40 + i, tombstone: i % 3 == 0, has_ttl: i % 2 == 0 }
    }

    #[test]
    fn slots_stay_at_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 20);
    }

    #[test]
    fn inline_and_arena_keys_round_trip() {
        let mut k = Keydir::new();
        let keys: Vec<Vec<u8>> = (0..200usize).map(|n| (0..n).map(|i| (i * 7 + n) as u8).collect()).collect();
        for (i, key) in keys.iter().enumerate().skip(1) {
            assert_eq!(k.insert(key, loc(i as u32)), None);
        }
        for (i, key) in keys.iter().enumerate().skip(1) {
            assert_eq!(k.get(key), Some(loc(i as u32)), "key of len {i}");
        }
        assert_eq!(k.len(), 199);
    }

    #[test]
    fn behaves_like_a_hash_map_under_random_operations() {
        let mut k = Keydir::new();
        let mut model: HashMap<Vec<u8>, Loc> = HashMap::new();
        let mut seed = 12345u64;
        for i in 0..200_000u32 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let key = format!("key-{:0width$}", (seed >> 33) % 5000, width = ((seed >> 20) % 30) as usize);
            let key = key.as_bytes();
            match (seed >> 60) % 4 {
                0 => assert_eq!(k.remove(key), model.remove(key)),
                1 => {
                    let expected = model.get(key).copied().unwrap_or(loc(0));
                    let removed = k.remove_if(key, expected);
                    assert_eq!(removed, model.get(key) == Some(&expected));
                    if removed {
                        model.remove(key);
                    }
                }
                _ => assert_eq!(k.insert(key, loc(i % 1000)), model.insert(key.to_vec(), loc(i % 1000))),
            }
        }
        assert_eq!(k.len(), model.len());
        k.for_each(|key, l| assert_eq!(model.get(key), Some(&l)));
    }

    #[test]
    fn compaction_reclaims_removed_keys_and_keeps_live_ones() {
        let mut k = Keydir::new();
        let key = |i: u32| format!("a-rather-long-key-number-{i:08}").into_bytes();
        for round in 0..4 {
            for i in 0..100_000 {
                k.insert(&key(i + round * 100_000), loc(i));
            }
            k.retain(|l| l.file_id % 10 == 0);
        }
        assert!(k.arena.garbage <= k.arena.live.max(CHUNK));
        assert_eq!(k.get(&key(300_010)), Some(loc(10)));
        assert_eq!(k.get(&key(300_011)), None);
    }

    #[test]
    fn a_walk_in_chunks_sees_every_entry_once_with_its_bucket() {
        let mut k = Keydir::new();
        for i in 0..5000u32 {
            k.insert(format!("walk-key-{i}").as_bytes(), loc(i));
        }
        let mut seen = HashMap::new();
        let mut at = 0;
        while at < k.num_buckets() {
            at = k.walk_locs(at, 100, |b, l| assert!(seen.insert(l.file_id, b).is_none()));
        }
        assert_eq!(seen.len(), 5000);
        assert_eq!(k.walk_locs(at, 100, |_, _| panic!("past the end")), at);
        // Each bucket holds the entry the walk reported there.
        let (&i, &bucket) = seen.iter().next().unwrap();
        assert!(k.replace_at(bucket, loc(i), loc(9999)));
        assert_eq!(k.get(format!("walk-key-{i}").as_bytes()), Some(loc(9999)));
    }

    #[test]
    fn replace_at_changes_nothing_unless_the_bucket_holds_the_expected_location() {
        let mut k = Keydir::new();
        k.insert(b"a-key-longer-than-inline", loc(1));
        let mut bucket = None;
        k.walk_locs(0, usize::MAX, |b, _| bucket = Some(b));
        let b = bucket.unwrap();
        assert!(!k.replace_at(b, loc(2), loc(3)), "another location");
        assert!(!k.replace_at(b + 1, loc(1), loc(3)), "another bucket");
        assert!(!k.replace_at(usize::MAX, loc(1), loc(3)), "no such bucket");
        assert_eq!(k.get(b"a-key-longer-than-inline"), Some(loc(1)));
        assert!(k.replace_at(b, loc(1), loc(3)));
        assert_eq!(k.get(b"a-key-longer-than-inline"), Some(loc(3)));
    }
}
