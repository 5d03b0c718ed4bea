//! The keydir: for every live key, where its newest record lives.
//!
//! Memory is the budget that matters here (the whole key set lives in RAM), so a slot is 20
//! bytes: an 8-byte key reference, file id, offset, and record size with two flag bits. Keys of up
//! to 7 bytes are stored inline in the reference; longer keys live in an append-only arena of
//! chunks (64 KiB, then each twice the last up to 1 MiB), prefixed by a varint length, and
//! their reference carries 27 bits of the key's hash (the tag: its low 20 bits and the table's
//! 7 control bits), enough for a table of up to 2^20 buckets to grow without reading any key
//! back from the arena. Sequence stamps and expiry times are not kept in memory: they are in the
//! record header on disk, one map or `pread` away, and `HAS_TTL` says whether the expiry needs
//! looking at at all. Removed keys leave garbage in the arena, which is compacted when it
//! outgrows the live keys.
//!
//! The keys are split over sixteen shards of unequal shares (11 to 22 of 256) chosen by hash
//! bits: each shard is a table that doubles on its own, at different key counts, so memory per
//! key never jumps by the whole 2x of a single table, and a doubling, which holds the index lock
//! while it moves the shard's entries, moves at most 22/256 of the keys; and open loads disjoint
//! shards on several threads (docs/DESIGN.md sections 6.1, 6.3).
//!
//! Lookups hash once with a random seed (keys come from network clients via the server), fixed
//! for the life of a database handle (every keydir it builds takes the same seed, see
//! [`Keydir::with_seed`]), so a writer can hash its key with the handle's hasher before it takes
//! any lock and reuse the hash for the insert. A reader that is about to read the record anyway skips comparing against the arena
//! copy of the key ([`Keydir::probe`]): the table's 7-bit control tag and the reference's tag,
//! both in the probed slot's cache lines, pick the candidate, and the key is compared against
//! the record's. That saves the arena's cache miss per lookup.

use std::hash::BuildHasher;

use foldhash::quality::{FixedState, RandomState};

use hashbrown::hash_table::{Entry, HashTable};

use table_alloc::TableAlloc;

/// A shard's table: slots in memory from [`TableAlloc`] (2 MiB pages for a large table).
type Table = HashTable<Slot, TableAlloc>;

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
/// A shard's first chunk of small keys; each next one is twice the last, up to [`CHUNK`]. A
/// small keydir's sixteen shards then take 1 MiB of key storage between them, not 16 MiB.
const FIRST_CHUNK: usize = 64 << 10;

/// An arena reference: bits 0-19 the offset in its chunk, 20-35 the chunk, 36-62 the tag.
const OFFSET_BITS: u32 = 20;
const CHUNK_BITS: u32 = 16;
const TAG_SHIFT: u32 = OFFSET_BITS + CHUNK_BITS;
/// Low hash bits a tag keeps: every bucket bit of a table of up to 2^20 buckets.
const LOW_BITS: u32 = 20;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;
/// `hashbrown` takes a bucket's control byte from the hash's top 7 bits.
const CTRL_SHIFT: u32 = 57;
const TAG_MASK: u64 = ((1 << (LOW_BITS + 7)) - 1) << TAG_SHIFT;

/// The tag of a hash: its low 20 bits and its top 7 (the table's control tag). Together they are
/// every bit the table takes from a hash while it has at most 2^20 buckets, so a table that
/// grows rebuilds its entries' hashes from their tags ([`hash_of_tag`]) without reading one key
/// from the arena. A tag also tells keys apart: its low bits beyond the bucket index, and (with
/// the bucket's home) the rest.
fn tag_of(hash: u64) -> u64 {
    ((hash & LOW_MASK) | ((hash >> CTRL_SHIFT) << LOW_BITS)) << TAG_SHIFT
}

/// A hash that agrees with the key's on every bit a table of up to 2^20 buckets uses, from the
/// tag in arena reference `r`.
fn hash_of_tag(r: u64) -> u64 {
    let t = (r & TAG_MASK) >> TAG_SHIFT;
    (t & LOW_MASK) | ((t >> LOW_BITS) << CTRL_SHIFT)
}

/// Shards and their shares of the hash space, in 256ths (bits 49-56 of the hash). The shares
/// grow by about 2^(1/16) from one shard to the next, so each shard doubles its table at its own
/// key count, spread evenly over every doubling of the whole. Sixteen of them keep a growth,
/// which holds the index lock while it moves the shard's entries, to at most 22/256 of the keys.
pub const SHARDS: usize = 16;
const SHARD_SLOTS: usize = 256;
const SHARD_SHARES: [u8; SHARDS] = [11, 12, 12, 13, 13, 14, 15, 15, 16, 17, 18, 18, 19, 20, 21, 22];
const SHARD_OF: [u8; SHARD_SLOTS] = shard_table();
/// The shards open's first loading thread takes (the other takes the rest): half the hash
/// space each (pairs of shards i and 15 - i, about 32 each).
pub const FIRST_HALF: [bool; SHARDS] = {
    let mut t = [false; SHARDS];
    let mut i = 0;
    while i < SHARDS {
        let pair = if i < SHARDS / 2 { i } else { SHARDS - 1 - i };
        t[i] = matches!(pair, 0 | 2 | 5 | 7);
        i += 1;
    }
    t
};

const fn shard_table() -> [u8; SHARD_SLOTS] {
    let mut t = [0u8; SHARD_SLOTS];
    let (mut i, mut s, mut left) = (0, 0, SHARD_SHARES[0]);
    while i < SHARD_SLOTS {
        if left == 0 {
            s += 1;
            left = SHARD_SHARES[s];
        }
        t[i] = s as u8;
        left -= 1;
        i += 1;
    }
    t
}

/// Each shard's layout counter and the number of its first bucket, as [`Keydir::layouts`] took
/// them: bucket numbers from a walk stay valid in a shard while its counter has not moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layouts {
    shards: [(u64, usize); SHARDS],
    /// Buckets of all shards together.
    end: usize,
}

impl Layouts {
    /// The sum of the counters: [`Keydir::layout`] as it was then.
    pub fn layout(&self) -> u64 {
        self.shards.iter().map(|s| s.0).sum()
    }
}

/// The shard a hash belongs to.
pub fn shard_of(hash: u64) -> usize {
    SHARD_OF[((hash >> 49) as usize) & (SHARD_SLOTS - 1)] as usize
}

#[derive(Clone, Copy)]
struct Slot {
    key: [u32; 2],
    file_id: u32,
    offset: u32,
    size_flags: u32,
}

impl Slot {
    fn key_ref(&self) -> u64 {
        ref_of(&self.key)
    }

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

/// Append-only key storage. A reference is either an inline key or (tag, chunk, offset).
#[derive(Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
    /// Chunk that small keys are appended to.
    current: Option<usize>,
    live: usize,
    garbage: usize,
}

impl Arena {
    /// Stores `key` (a longer one tagged with `tag`, from [`tag_of`]) and returns its reference.
    fn add(&mut self, key: &[u8], tag: u64) -> u64 {
        if key.len() <= INLINE_MAX {
            return inline_ref(key);
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
                    let next = self.current.map_or(FIRST_CHUNK, |i| (self.chunks[i].capacity() * 2).min(CHUNK));
                    self.chunks.push(Vec::with_capacity(next.max(need)));
                    self.current = Some(self.chunks.len() - 1);
                    self.chunks.len() - 1
                }
            }
        };
        // 2^16 chunks is 64 GiB of keys in one shard's memory (or 65,536 keys over 256 KiB).
        assert!(idx < 1 << CHUNK_BITS, "keydir arena exhausted");
        let chunk = &mut self.chunks[idx];
        let off = chunk.len();
        chunk.extend_from_slice(&len_buf[..n]);
        chunk.extend_from_slice(key);
        tag | ((idx as u64) << OFFSET_BITS) | off as u64
    }

    /// The key bytes of a slot's reference (inline keys are borrowed from the slot itself).
    fn get<'a>(&'a self, key: &'a [u32; 2]) -> &'a [u8] {
        let r = ref_of(key);
        if r & INLINE_BIT != 0 {
            return &inline_bytes(key)[..((r >> 56) & 0x7f) as usize];
        }
        let chunk = &self.chunks[((r >> OFFSET_BITS) & ((1 << CHUNK_BITS) - 1)) as usize];
        let off = (r & ((1 << OFFSET_BITS) - 1)) as usize;
        let (len, n) = get_varint(&chunk[off..]);
        &chunk[off + n..off + n + len as usize]
    }

    /// Starts loading the first bytes of an arena key (not an inline one).
    fn prefetch(&self, key: &[u32; 2]) {
        let r = ref_of(key);
        if let Some(chunk) = self.chunks.get(((r >> OFFSET_BITS) & ((1 << CHUNK_BITS) - 1)) as usize) {
            crate::prefetch::line(chunk.as_ptr() as usize + (r & ((1 << OFFSET_BITS) - 1)) as usize);
        }
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

    /// Bytes written into chunks, garbage included (the untouched tail of a chunk is address
    /// space, not memory).
    #[cfg(test)]
    fn used(&self) -> usize {
        self.live + self.garbage
    }
}

/// A reference as the two words a slot keeps it in.
fn ref_words(r: u64) -> [u32; 2] {
    [r as u32, (r >> 32) as u32]
}

/// The reference a slot's two words hold ([`ref_words`] undone).
fn ref_of(words: &[u32; 2]) -> u64 {
    (words[0] as u64) | ((words[1] as u64) << 32)
}

/// The reference of a key of at most 7 bytes: the key itself, with its length.
fn inline_ref(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..key.len()].copy_from_slice(key);
    INLINE_BIT | ((key.len() as u64) << 56) | u64::from_le_bytes(b)
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

/// What [`Keydir::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Inserted,
    Replaced(Loc),
    Kept,
}

/// A key with its hash, computed once for every lookup it takes part in.
#[derive(Clone, Copy)]
pub struct Hashed<'k> {
    pub key: &'k [u8],
    pub hash: u64,
    /// What a slot's reference must equal under `mask` to be a candidate: the whole inline key,
    /// or the tag of a longer one.
    want: u64,
    mask: u64,
}

impl Hashed<'_> {
    /// Whether `s` may hold this key (exact for inline keys, by tag for longer ones).
    fn candidate(&self, s: &Slot) -> bool {
        s.key_ref() & self.mask == self.want
    }

    fn is_inline(&self) -> bool {
        self.mask == u64::MAX
    }
}

/// Hashes `key` with a keydir's hasher (see [`Keydir::shards_mut`]).
pub fn hashed_with<'k>(hasher: &KeyHasher, key: &'k [u8]) -> Hashed<'k> {
    let hash = hasher.hash_one(key);
    if key.len() <= INLINE_MAX {
        Hashed { key, hash, want: inline_ref(key), mask: u64::MAX }
    } else {
        Hashed { key, hash, want: tag_of(hash), mask: INLINE_BIT | TAG_MASK }
    }
}

const SLOT_SIZE: usize = std::mem::size_of::<Slot>();

/// Where `hashbrown`'s control bytes are, given the slot of bucket `index`.
fn ctrl_of(slot: &Slot, index: usize) -> usize {
    (slot as *const Slot as usize).wrapping_add((index + 1) * SLOT_SIZE)
}

/// Starts loading the control group and first slots `hash` probes in a table whose control
/// bytes were at `ctrl` with bucket mask `mask` (from [`Keydir::bucket_hint`]; a stale hint only
/// wastes the prefetch).
#[inline]
pub fn prefetch_bucket(ctrl: usize, mask: usize, hash: u64) {
    if ctrl != 0 {
        let pos = hash as usize & mask;
        crate::prefetch::range(ctrl.wrapping_add(pos), 16);
        crate::prefetch::range(ctrl.wrapping_sub((pos + 4) * SLOT_SIZE), 4 * SLOT_SIZE);
    }
}

/// How many entries a grow that reads keys from the arena (a table past 2^20 buckets) keeps in
/// flight: enough for the cache misses of that many arena keys and new buckets to overlap.
const AHEAD: usize = 8;

/// Entries on their way into a grown table, in two steps `AHEAD` entries apart: an entry's
/// hash is taken (its arena key was prefetched when it joined, if the hash needs it) and its new
/// bucket prefetched; `AHEAD` entries later it is written there.
#[derive(Default)]
struct Mover {
    joined: std::collections::VecDeque<Slot>,
    hashed: std::collections::VecDeque<(u64, Slot)>,
}

impl Mover {
    fn push(&mut self, table: &mut Table, ctrl: &mut usize, slot: Slot, hash_of: &impl Fn(&Slot) -> u64) {
        self.joined.push_back(slot);
        if self.joined.len() > AHEAD {
            self.step(table, ctrl, hash_of);
        }
    }

    /// Hashes the oldest joined entry and prefetches its bucket; writes the oldest hashed one.
    fn step(&mut self, table: &mut Table, ctrl: &mut usize, hash_of: &impl Fn(&Slot) -> u64) {
        if let Some(s) = self.joined.pop_front() {
            let h = hash_of(&s);
            prefetch_bucket(*ctrl, table.num_buckets() - 1, h);
            self.hashed.push_back((h, s));
        }
        if self.hashed.len() > AHEAD || self.joined.is_empty() {
            if let Some((h, s)) = self.hashed.pop_front() {
                let o = table.insert_unique(h, s, hash_of);
                *ctrl = ctrl_of(o.get(), o.bucket_index());
            }
        }
    }

    fn finish(mut self, table: &mut Table, ctrl: &mut usize, hash_of: &impl Fn(&Slot) -> u64) {
        while !self.joined.is_empty() || !self.hashed.is_empty() {
            self.step(table, ctrl, hash_of);
        }
    }
}

/// One shard: a table and the arena of its longer keys.
#[derive(Default)]
pub struct Shard {
    table: Table,
    arena: Arena,
    /// Bumped whenever the table may rehash (entries may change buckets).
    layout: u64,
    /// Address of the table's control bytes (0: not known yet), learnt from the last insert:
    /// `hashbrown` keeps bucket `i`'s slot right below them, at `ctrl - (i + 1) * 20`, so a
    /// lookup can prefetch the slots of its first buckets while it loads the control bytes. A
    /// stale address (the table grew since) only wastes the prefetch.
    ctrl: usize,
}

impl Shard {
    /// Starts loading the slots of the first four buckets `hash` probes (80 bytes: where the
    /// entry usually is), so they arrive together with the control bytes instead of after them.
    #[inline]
    fn prefetch_slots(&self, hash: u64) {
        if self.ctrl != 0 {
            let pos = hash as usize & (self.table.num_buckets() - 1);
            let first = self.ctrl.wrapping_sub((pos + 4) * SLOT_SIZE);
            crate::prefetch::range(first, 4 * SLOT_SIZE);
        }
    }

    /// Starts loading everything a lookup or insert of `hash` touches first: its control group
    /// and its first slots (for a caller that knows its next keys ahead, such as open).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        prefetch_bucket(self.ctrl, self.table.num_buckets() - 1, hash);
    }

    /// Exact lookup: the candidate whose key bytes are `k`'s.
    fn get(&self, k: &Hashed<'_>) -> Option<Loc> {
        let arena = &self.arena;
        let exact = k.is_inline();
        self.table.find(k.hash, |s| k.candidate(s) && (exact || arena.get(&s.key) == k.key)).map(Slot::loc)
    }

    /// Points `k` at `loc` unless `keep(current)` says the current entry stays.
    pub fn upsert(&mut self, hasher: &KeyHasher, k: &Hashed<'_>, loc: Loc, keep: impl FnOnce(Loc) -> bool) -> Upsert {
        // With no room left, `entry` would rehash through its hasher (reading every key back
        // from the arena); growing here first rebuilds the hashes from the tags instead.
        if self.table.len() == self.table.capacity() {
            self.grow(hasher, self.table.len() + 1);
        }
        let Shard { table, arena, .. } = self;
        let exact = k.is_inline();
        let eq = |s: &Slot| k.candidate(s) && (exact || arena.get(&s.key) == k.key);
        // `entry` may have grown the table, found or not: either way the bucket tells where the
        // control bytes are now.
        let (outcome, ctrl) = match table.entry(k.hash, eq, |s| hasher.hash_one(arena.get(&s.key))) {
            Entry::Occupied(mut o) => {
                let old = o.get().loc();
                let ctrl = ctrl_of(o.get(), o.bucket_index());
                if keep(old) {
                    return Upsert::Kept;
                }
                o.get_mut().set_loc(loc);
                (Upsert::Replaced(old), ctrl)
            }
            Entry::Vacant(v) => {
                let r = arena.add(k.key, k.want);
                let mut slot = Slot { key: ref_words(r), file_id: 0, offset: 0, size_flags: 0 };
                slot.set_loc(loc);
                let o = v.insert(slot);
                (Upsert::Inserted, ctrl_of(o.get(), o.bucket_index()))
            }
        };
        self.ctrl = ctrl;
        outcome
    }

    /// Moves every entry into a new table with room for `need` entries, as `hashbrown` would
    /// (twice the buckets, or as many again when removals left the table at most half full),
    /// with hashes rebuilt from the slots: an inline key is hashed in place, a longer key's hash
    /// comes from its tag while the new table has at most 2^20 buckets (from its arena bytes
    /// beyond that). Entries change buckets, so `layout` moves on. Kept out of line: it runs
    /// once per doubling, and inlined it would crowd the insert's own code.
    #[inline(never)]
    #[cold]
    fn grow(&mut self, hasher: &KeyHasher, need: usize) {
        let buckets = self.table.num_buckets();
        // hashbrown's full capacity: 7/8 of the buckets, one less than them below 8.
        let full = if buckets <= 8 { buckets.saturating_sub(1) } else { buckets / 8 * 7 };
        let cap = if need <= full / 2 { full.max(need) } else { need.max(full + 1) };
        let old = std::mem::replace(&mut self.table, HashTable::with_capacity_in(cap, TableAlloc));
        self.layout += 1;
        self.ctrl = 0;
        let Shard { table, arena, ctrl, .. } = self;
        let from_tags = table.num_buckets() <= 1 << LOW_BITS;
        let hash_of = |s: &Slot| {
            let r = s.key_ref();
            if r & INLINE_BIT == 0 && from_tags {
                hash_of_tag(r)
            } else {
                hasher.hash_one(arena.get(&s.key))
            }
        };
        if from_tags {
            // The old table is walked in bucket order, so the new homes come in rising runs (two
            // when it doubles: bucket i goes to i or i + old buckets): the hardware prefetcher
            // follows them, and hints cost more than they save (29 -> 24 ns of CPU per moved
            // entry, `grow_timing`).
            for slot in old {
                table.insert_unique(hash_of(&slot), slot, hash_of);
            }
            return;
        }
        // Past 2^20 buckets a longer key's hash needs its arena bytes: random misses, overlapped.
        let mut mover = Mover::default();
        for slot in old {
            if slot.key_ref() & INLINE_BIT == 0 {
                arena.prefetch(&slot.key);
            }
            mover.push(table, ctrl, slot, &hash_of);
        }
        mover.finish(table, ctrl, &hash_of);
    }

    fn remove_where(&mut self, k: &Hashed<'_>, pred: impl FnOnce(Loc) -> bool) -> Option<Loc> {
        let arena = &self.arena;
        let exact = k.is_inline();
        let found = self.table.find_entry(k.hash, |s| k.candidate(s) && (exact || arena.get(&s.key) == k.key)).ok()?;
        let loc = found.get().loc();
        if !pred(loc) {
            return None;
        }
        let (slot, _) = found.remove();
        self.arena.release(&slot.key);
        self.maybe_compact();
        Some(loc)
    }

    fn retain(&mut self, keep: &mut impl FnMut(Loc) -> bool) {
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

    /// Copies live keys into a fresh arena once removed keys dominate it (tags move along).
    fn maybe_compact(&mut self) {
        if !self.arena.wants_compaction() {
            return;
        }
        let mut fresh = Arena::default();
        for s in self.table.iter_mut() {
            let r = fresh.add(self.arena.get(&s.key), s.key_ref() & TAG_MASK);
            s.key = ref_words(r);
        }
        self.arena = fresh;
    }

    /// Bytes of memory this shard uses: the table's allocation and the arena's written bytes.
    #[cfg(test)]
    fn memory(&self) -> usize {
        self.table.allocation_size() + self.arena.used()
    }
}

/// The keydir's hasher: foldhash seeded with a random 64-bit seed per keydir, kept so that a
/// keydir snapshot (docs/DESIGN.md section 6.7) can be loaded without hashing its keys again.
pub type KeyHasher = FixedState;

/// The in-memory index from key to [`Loc`].
pub struct Keydir {
    shards: [Shard; SHARDS],
    hasher: KeyHasher,
    seed: u64,
}

impl Default for Keydir {
    fn default() -> Self {
        Keydir::new()
    }
}

impl Keydir {
    pub fn new() -> Keydir {
        Keydir::with_seed(Keydir::random_seed())
    }

    /// A random seed for [`Keydir::with_seed`]: foldhash's process-wide random seed, mixed with
    /// a per-call counter.
    pub fn random_seed() -> u64 {
        RandomState::default().hash_one(0x6b65_7964_6972u64)
    }

    /// An empty keydir whose hasher has `seed`.
    pub fn with_seed(seed: u64) -> Keydir {
        Keydir { shards: Default::default(), hasher: KeyHasher::with_seed(seed), seed }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.len()).sum()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hashes `key` once for the lookups that follow.
    pub fn hashed<'k>(&self, key: &'k [u8]) -> Hashed<'k> {
        hashed_with(&self.hasher, key)
    }

    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[shard_of(hash)]
    }

    /// The entry that may hold `k` without comparing key bytes: exact for keys of up to 7 bytes,
    /// by hash tag for longer ones. The caller compares the key of the record it reads, and on a
    /// mismatch asks [`Keydir::get_hashed`]. A mismatch needs another key with the same home
    /// bucket, control byte and tag: about one lookup in 146 * 2^(20 - b) for a shard of 2^b
    /// buckets (one in 290 at b = 19, a 1 M-key keydir's largest shard), one in 146 past 2^20.
    pub fn probe(&self, k: &Hashed<'_>) -> Option<Loc> {
        let shard = self.shard(k.hash);
        shard.prefetch_slots(k.hash);
        shard.table.find(k.hash, |s| k.candidate(s)).map(Slot::loc)
    }

    /// Starts loading the control group and first slots a lookup of `k` touches, so a caller
    /// that looks up several keys in a row (a batched read) has their cache misses overlap.
    #[inline]
    pub fn prefetch(&self, k: &Hashed<'_>) {
        self.shard(k.hash).prefetch(k.hash);
    }

    pub fn get(&self, key: &[u8]) -> Option<Loc> {
        self.get_hashed(&self.hashed(key))
    }

    pub fn get_hashed(&self, k: &Hashed<'_>) -> Option<Loc> {
        let shard = self.shard(k.hash);
        shard.prefetch_slots(k.hash);
        shard.get(k)
    }

    /// Whether `key`'s entry points at `file_id`/`offset`. A slot only ever points at a record of
    /// its own key, so no key bytes are compared.
    pub fn points_at(&self, key: &[u8], file_id: u32, offset: u32) -> bool {
        let h = self.hasher.hash_one(key);
        self.shard(h).table.find(h, |s| s.file_id == file_id && s.offset == offset).is_some()
    }

    /// Room for `additional` more keys without rehashing, spread by the shards' shares.
    pub fn reserve(&mut self, additional: usize) {
        let Keydir { shards, hasher, .. } = self;
        for (s, share) in shards.iter_mut().zip(SHARD_SHARES) {
            // A little over the share: the keys of a shard vary around their expected count.
            let n = additional / SHARD_SLOTS * share as usize + additional / 256 + 16;
            if s.table.capacity() - s.table.len() < n {
                s.grow(hasher, s.table.len() + n);
            }
        }
    }

    /// Points `key` at `loc`; returns where it pointed before.
    pub fn insert(&mut self, key: &[u8], loc: Loc) -> Option<Loc> {
        self.insert_hashed(&self.hashed(key), loc)
    }

    /// [`Keydir::insert`] of a key hashed already (by [`Keydir::hashed`] or with the same hasher).
    pub fn insert_hashed(&mut self, k: &Hashed<'_>, loc: Loc) -> Option<Loc> {
        let Keydir { shards, hasher, .. } = self;
        match shards[shard_of(k.hash)].upsert(hasher, k, loc, |_| false) {
            Upsert::Replaced(old) => Some(old),
            _ => None,
        }
    }

    /// Where the table of `hash`'s shard keeps its control bytes (0: not known yet) and its
    /// bucket mask: what [`prefetch_bucket`] needs, for a writer that learns them under the
    /// index lock and prefetches its key's bucket before it takes the lock again.
    pub fn bucket_hint(&self, hash: u64) -> (usize, usize) {
        let s = self.shard(hash);
        (s.ctrl, s.table.num_buckets() - 1)
    }

    /// The hasher and the shards, for loading disjoint shards on several threads at open.
    pub fn shards_mut(&mut self) -> (&KeyHasher, &mut [Shard; SHARDS]) {
        (&self.hasher, &mut self.shards)
    }

    #[cfg(test)]
    pub fn remove(&mut self, key: &[u8]) -> Option<Loc> {
        self.remove_where(key, |_| true)
    }

    /// [`Keydir::remove`] of a key hashed already.
    pub fn remove_hashed(&mut self, k: &Hashed<'_>) -> Option<Loc> {
        self.shards[shard_of(k.hash)].remove_where(k, |_| true)
    }

    /// Removes `key` only if it still points at `expected` (used when an expired record is
    /// dropped lazily while a writer may have replaced it).
    pub fn remove_if(&mut self, key: &[u8], expected: Loc) -> bool {
        self.remove_where(key, |l| l == expected).is_some()
    }

    fn remove_where(&mut self, key: &[u8], pred: impl FnOnce(Loc) -> bool) -> Option<Loc> {
        let k = self.hashed(key);
        self.shards[shard_of(k.hash)].remove_where(&k, pred)
    }

    /// Keeps only the entries whose location `keep` accepts (keys are not read: no arena misses).
    pub fn retain(&mut self, mut keep: impl FnMut(Loc) -> bool) {
        for s in &mut self.shards {
            s.retain(&mut keep);
        }
    }

    /// Number of buckets of all shards together (for scan cursors: shard after shard).
    pub fn num_buckets(&self) -> usize {
        self.shards.iter().map(|s| s.table.num_buckets()).sum()
    }

    /// Changes whenever entries may have moved between buckets (growth or an in-place rehash).
    pub fn layout(&self) -> u64 {
        self.shards.iter().map(|s| s.layout).sum()
    }

    /// Visits buckets from `start` on (numbered across the shards in order), calling `f` for
    /// each entry, until `min_entries` entries were seen or the last shard ends; returns the next
    /// bucket to visit (`num_buckets()` at the end).
    pub fn scan_buckets(&self, start: usize, min_entries: usize, mut f: impl FnMut(&[u8], Loc)) -> usize {
        let mut seen = 0;
        let mut i = start;
        let mut base = 0;
        for s in &self.shards {
            let n = s.table.num_buckets();
            while i < base + n && seen < min_entries {
                if let Some(slot) = s.table.get_bucket(i - base) {
                    f(s.arena.get(&slot.key), slot.loc());
                    seen += 1;
                }
                i += 1;
            }
            base += n;
        }
        i
    }

    /// Visits the buckets `start..start + count` (numbered across the shards as for
    /// `scan_buckets`, clamped to the table), calling `f(bucket, loc)` for each entry; returns
    /// the next bucket to visit (`num_buckets()` at the end). Keys are not read and buckets are
    /// visited in memory order, so a whole-table walk costs no random cache misses (a full merge
    /// takes its live records this way).
    pub fn walk_locs(&self, start: usize, count: usize, mut f: impl FnMut(usize, Loc)) -> usize {
        let end = start.saturating_add(count).min(self.num_buckets());
        let mut base = 0;
        for s in &self.shards {
            let n = s.table.num_buckets();
            for i in start.max(base)..end.min(base + n) {
                if let Some(slot) = s.table.get_bucket(i - base) {
                    f(i, slot.loc());
                }
            }
            base += n;
        }
        end.max(start)
    }

    /// Each shard's layout counter and first bucket now: what a walk's bucket numbers mean.
    pub fn layouts(&self) -> Layouts {
        let mut start = 0;
        let shards = self.shards.each_ref().map(|s| {
            let at = (s.layout, start);
            start += s.table.num_buckets();
            at
        });
        Layouts { shards, end: start }
    }

    /// Points the entry in `bucket` (numbered as when `then` was taken) at `new` if it points at
    /// `old` now; false otherwise (its key was written again or removed). `None` when the
    /// bucket's shard has moved its entries since `then` (or there is no such bucket): the caller
    /// looks the key up instead. Shards grow one at a time, so a writer adding keys during a
    /// merge leaves the other shards' bucket numbers valid. Since a location names one record and
    /// a record has one key, a match is `old`'s key.
    pub fn replace_at(&mut self, then: &Layouts, bucket: usize, old: Loc, new: Loc) -> Option<bool> {
        if bucket >= then.end {
            return None;
        }
        let i = then.shards.partition_point(|&(_, start)| start <= bucket) - 1;
        let (layout, start) = then.shards[i];
        let s = &mut self.shards[i];
        if s.layout != layout {
            return None;
        }
        Some(match s.table.get_bucket_mut(bucket - start) {
            Some(slot) if slot.loc() == old => {
                slot.set_loc(new);
                true
            }
            _ => false,
        })
    }

    /// Points the entry of the key hashing to `hash` at `new` if it points at `old` now; false
    /// otherwise (its key was written again or removed). A slot only ever points at a record of
    /// its own key, so no key bytes are compared: one probe, no read of the key arena.
    pub fn replace_hashed(&mut self, hash: u64, old: Loc, new: Loc) -> bool {
        match self.shards[shard_of(hash)].table.find_mut(hash, |s| s.loc() == old) {
            Some(slot) => {
                slot.set_loc(new);
                true
            }
            None => false,
        }
    }

    /// Calls `f` for every entry, in no particular order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Loc)) {
        for sh in &self.shards {
            for s in sh.table.iter() {
                f(sh.arena.get(&s.key), s.loc());
            }
        }
    }

    /// Bytes of memory the keydir uses: tables (slots, control bytes, empty buckets) and the
    /// arena bytes written (key bytes, their lengths, garbage).
    #[cfg(test)]
    pub fn memory(&self) -> usize {
        self.shards.iter().map(Shard::memory).sum()
    }
}

mod snapshot;
mod table_alloc;
pub(crate) use snapshot::decode_shard;

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
    fn an_arena_takes_its_chunks_64_kib_first_then_doubling_up_to_1_mib() {
        let mut a = Arena::default();
        let key = [7u8; 1000];
        let mut refs = Vec::new();
        while a.chunks.len() < 7 {
            refs.push(a.add(&key, 0));
        }
        let sizes: Vec<usize> = a.chunks.iter().map(|c| c.capacity()).collect();
        assert_eq!(sizes, [64 << 10, 128 << 10, 256 << 10, 512 << 10, CHUNK, CHUNK, CHUNK]);
        assert!(refs.iter().all(|&r| a.get(&ref_words(r)) == key), "every key reads back");
    }

    #[test]
    fn a_small_keydir_reserves_one_first_chunk_per_shard() {
        // The server's fuzzer found a batch of a few SETs into a fresh database allocating a
        // megabyte per shard it touched, with sixteen shards over its per-batch bound.
        let mut k = Keydir::new();
        let mut i = 0u32;
        while k.shards.iter().any(|s| s.arena.chunks.is_empty()) {
            k.insert(format!("a-longer-key-{i}").as_bytes(), loc(i));
            i += 1;
        }
        let reserved: usize = k.shards.iter().flat_map(|s| &s.arena.chunks).map(|c| c.capacity()).sum();
        assert_eq!(reserved, SHARDS * FIRST_CHUNK, "after {i} keys");
    }

    #[test]
    fn a_key_bigger_than_the_next_chunk_gets_a_chunk_that_holds_it() {
        let mut a = Arena::default();
        a.add(b"a small key", 0);
        let big = vec![9u8; CHUNK / 4 - 10];
        let r = a.add(&big, 0);
        // Sized for the key at once (its varint length takes 3 bytes), not grown by a copy.
        assert_eq!(a.chunks.iter().map(|c| c.capacity()).collect::<Vec<_>>(), [FIRST_CHUNK, 3 + big.len()]);
        assert_eq!(a.get(&ref_words(r)), &big[..]);
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
        for sh in &k.shards {
            assert!(sh.arena.garbage <= sh.arena.live.max(CHUNK));
        }
        assert_eq!(k.get(&key(300_010)), Some(loc(10)));
        assert_eq!(k.get(&key(300_011)), None);
    }

    #[test]
    fn the_first_loading_thread_takes_half_the_hash_space() {
        let first: u32 = (0..SHARDS).filter(|&i| FIRST_HALF[i]).map(|i| SHARD_SHARES[i] as u32).sum();
        assert_eq!(first, SHARD_SLOTS as u32 / 2);
    }

    #[test]
    fn shares_grow_from_shard_to_shard_within_a_doubling() {
        assert!(SHARD_SHARES.windows(2).all(|w| w[0] <= w[1]), "{SHARD_SHARES:?}");
        assert!(SHARD_SHARES[SHARDS - 1] <= 2 * SHARD_SHARES[0], "{SHARD_SHARES:?}");
    }

    #[test]
    fn shard_shares_add_up_to_the_whole_hash_space() {
        let counts = (0..SHARD_SLOTS as u64).fold([0u8; SHARDS], |mut c, i| {
            c[shard_of(i << 49)] += 1;
            c
        });
        assert_eq!(counts, SHARD_SHARES);
    }

    #[test]
    fn probe_finds_inline_keys_exactly_and_long_keys_by_tag() {
        let mut k = Keydir::new();
        k.insert(b"short", loc(1));
        k.insert(b"a key longer than seven bytes", loc(2));
        assert_eq!(k.probe(&k.hashed(b"short")), Some(loc(1)));
        assert_eq!(k.probe(&k.hashed(b"shorT")), None);
        assert_eq!(k.probe(&k.hashed(b"a key longer than seven bytes")), Some(loc(2)));
        assert_eq!(k.get(b"a key longer than seven bytes!"), None);
    }

    #[test]
    fn a_tag_collision_is_a_candidate_for_probe_but_not_for_get() {
        let mut k = Keydir::new();
        let real = k.hashed(b"the key that is stored");
        k.insert(b"the key that is stored", loc(4));
        // Another key that happens to share hash and tag: forge its Hashed.
        let other = Hashed { key: b"another key, same tag!", ..real };
        assert_eq!(k.probe(&other), Some(loc(4)));
        assert_eq!(k.get_hashed(&other), None);
    }

    #[test]
    fn points_at_compares_locations_not_keys() {
        let mut k = Keydir::new();
        k.insert(b"some long key 1", loc(7));
        assert!(k.points_at(b"some long key 1", 7, 14));
        assert!(!k.points_at(b"some long key 1", 7, 15));
        assert!(!k.points_at(b"some long key 2", 7, 14));
    }

    #[test]
    fn scans_cover_every_shard_once() {
        let mut k = Keydir::new();
        for i in 0..10_000u32 {
            k.insert(format!("scan-key-{i}").as_bytes(), loc(i));
        }
        let (mut seen, mut at) = (0, 0);
        while at < k.num_buckets() {
            at = k.scan_buckets(at, 100, |_, _| seen += 1);
        }
        assert_eq!(seen, 10_000);
    }

    #[test]
    fn compaction_keeps_tags_so_probes_still_find_keys() {
        let mut k = Keydir::new();
        let key = |i: u32| format!("another-rather-long-key-{i:08}").into_bytes();
        for i in 0..300_000 {
            k.insert(&key(i), loc(i % 50));
        }
        k.retain(|l| l.file_id == 0);
        for i in (0..300_000).step_by(50) {
            assert_eq!(k.probe(&k.hashed(&key(i))), Some(loc(0)));
        }
    }

    #[test]
    fn a_tag_keeps_every_hash_bit_a_table_of_up_to_2_20_buckets_uses() {
        let used = LOW_MASK | (0x7f << CTRL_SHIFT);
        let mut h = 0x0123_4567_89ab_cdefu64;
        for _ in 0..10_000 {
            h = h.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // An arena reference: the tag beside a chunk and offset of all ones.
            let r = tag_of(h) | ((1 << TAG_SHIFT) - 1);
            assert_eq!(r & INLINE_BIT, 0);
            assert_eq!(hash_of_tag(r) & used, h & used, "{h:#x}");
        }
    }

    #[test]
    fn tables_grown_past_2_20_buckets_rehash_from_the_keys_and_still_find_every_one() {
        let mut k = Keydir::new();
        let key = |i: u32| if i % 4 == 0 { format!("s{i}") } else { format!("long-enough-key-{i:08}") };
        for i in 0..20_000 {
            k.insert(key(i).as_bytes(), loc(i));
        }
        // The smallest share (11 of 256) stays within 2^20 buckets (tags); the largest (22)
        // goes past (keys).
        k.reserve(14_000_000);
        let buckets: Vec<usize> = k.shards.iter().map(|s| s.table.num_buckets()).collect();
        assert!(buckets[0] <= 1 << LOW_BITS && buckets[SHARDS - 1] > 1 << LOW_BITS, "{buckets:?}");
        for i in 0..20_000 {
            assert_eq!(k.get(key(i).as_bytes()), Some(loc(i)), "key {i}");
            // Past 2^20 buckets a tag adds nothing to the bucket's home and control byte, so a
            // probe may stop at another key's entry (its caller compares the record's key).
            assert!(k.probe(&k.hashed(key(i).as_bytes())).is_some());
        }
        for i in 20_000..30_000 {
            k.insert(key(i).as_bytes(), loc(i));
        }
        assert_eq!(k.remove(key(7).as_bytes()), Some(loc(7)));
        assert_eq!(k.len(), 29_999);
        assert_eq!(k.get(key(29_999).as_bytes()), Some(loc(29_999)));
    }

    #[test]
    fn growing_after_many_removals_keeps_every_key_without_doubling_again_and_again() {
        let mut k = Keydir::new();
        let key = |i: u32| format!("churned-key-{i:08}").into_bytes();
        for i in 0..50_000 {
            k.insert(&key(i), loc(i));
        }
        let buckets = k.num_buckets();
        // Remove and add in turns: the table fills with deleted markers and rebuilds, doubling
        // at most once (a shard over half full) and then at its size.
        for i in 50_000..400_000 {
            k.remove(&key(i - 50_000));
            k.insert(&key(i), loc(i));
        }
        assert!(k.num_buckets() <= 2 * buckets, "{} buckets, {buckets} before", k.num_buckets());
        assert_eq!(k.len(), 50_000);
        for i in (350_000..400_000).step_by(97) {
            assert_eq!(k.get(&key(i)), Some(loc(i)));
        }
    }

    /// The largest memory per key beyond the key bytes at any count in `from..=to`, inserting
    /// 16-byte keys one by one (the worst count is just after a shard doubles).
    fn worst_bytes_per_key(k: &mut Keydir, from: usize, to: usize) -> f64 {
        let mut worst = 0f64;
        for i in k.len()..to {
            k.insert(format!("key-{i:012}").as_bytes(), loc(1));
            if i + 1 >= from {
                let n = (i + 1) as f64;
                worst = worst.max((k.memory() as f64 - 16.0 * n) / n);
            }
        }
        worst
    }

    #[test]
    fn a_table_past_the_huge_page_threshold_starts_on_a_2_mib_boundary_and_keeps_its_keys() {
        let mut k = Keydir::new();
        k.reserve(1_000_000);
        let keys: Vec<Vec<u8>> = (0..20_000u32).map(|i| format!("huge-page-key-{i}").into_bytes()).collect();
        for (i, key) in keys.iter().enumerate() {
            k.insert(key, loc(i as u32));
        }
        let mut mapped = 0;
        for s in &k.shards {
            if s.table.allocation_size() >= table_alloc::HUGE_MIN {
                // hashbrown keeps the slots right below the control bytes, from the block's start.
                let start = s.ctrl - s.table.num_buckets() * SLOT_SIZE;
                assert_eq!(start % (2 << 20), 0, "a mapped table starts on a huge page");
                mapped += 1;
            }
        }
        assert!(mapped > 0, "a 1 M-key reservation maps some shard's table on its own");
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(k.get(key), Some(loc(i as u32)));
        }
        // Growing past the reservation moves the entries into a larger mapped table.
        let s = shard_of(k.hashed(&keys[0]).hash);
        let need = k.shards[s].table.capacity() + 1;
        let (hasher, shards) = k.shards_mut();
        shards[s].grow(hasher, need);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(k.get(key), Some(loc(i as u32)));
        }
    }

    #[test]
    fn memory_per_key_stays_within_48_bytes_beyond_the_key() {
        let mut k = Keydir::new();
        let worst = worst_bytes_per_key(&mut k, 5_000, 150_000);
        assert!(worst <= 48.0, "{worst:.1} B/key");
    }

    /// `make keydir-curve`: the memory per key from 100 k to 10 M keys (ignored by `cargo test`:
    /// it inserts 10 M keys).
    #[test]
    #[ignore]
    fn keydir_curve() {
        let mut k = Keydir::new();
        worst_bytes_per_key(&mut k, 0, 100_000);
        println!("keydir memory beyond the 16 key bytes, 16-byte keys inserted one by one");
        println!("{:>10} {:>10} {:>12} {:>12}", "from", "to", "at end B/key", "worst B/key");
        let mut overall = 0f64;
        let mut from = 100_000;
        while from < 10_000_000 {
            let to = (from * 5 / 4).min(10_000_000);
            let worst = worst_bytes_per_key(&mut k, from, to);
            let end = (k.memory() as f64 - 16.0 * to as f64) / to as f64;
            println!("{from:>10} {to:>10} {end:>12.1} {worst:>12.1}");
            overall = overall.max(worst);
            from = to;
        }
        println!("worst over 100k..10M: {overall:.1} B/key (target <= 48)");
        assert!(overall <= 48.0);
    }

    /// `cargo test --release --lib keydir::tests::insert_timing -- --ignored --nocapture`: time
    /// per insert of 1 M new 16-byte keys, rehashes included (the puts benchmark's keys).
    #[test]
    #[ignore]
    fn insert_timing() {
        let keys: Vec<[u8; 16]> = (0..1_000_000u64)
            .map(|i| {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
                b[8..].copy_from_slice(&i.to_be_bytes());
                b
            })
            .collect();
        for round in 0..6 {
            // Odd rounds start with room for every key: the cost without growing.
            let mut k = Keydir::new();
            if round % 2 == 1 {
                k.reserve(keys.len());
            }
            // Thread CPU time: the machine may be shared.
            let cpu_ns = || {
                let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                // SAFETY: ts is a valid timespec for clock_gettime to write.
                unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
                ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
            };
            let t = cpu_ns();
            for (i, key) in keys.iter().enumerate() {
                k.insert(key, loc(i as u32));
            }
            let ns = (cpu_ns() - t) / keys.len() as f64;
            let how = if round % 2 == 1 { "presized" } else { "growing" };
            println!("round {round}: {ns:.1} ns of CPU per insert ({how})");
        }
    }

    #[test]
    fn a_growth_by_tags_moves_every_entry_to_where_a_lookup_finds_it() {
        let mut k = Keydir::new();
        let key = |i: u32| if i % 3 == 0 { format!("i{i}") } else { format!("grown-key-{i:08}") };
        for i in 0..30_000 {
            k.insert(key(i).as_bytes(), loc(i));
        }
        let (hasher, shards) = k.shards_mut();
        for s in shards.iter_mut() {
            let (buckets, len) = (s.table.num_buckets(), s.table.len());
            s.grow(hasher, s.table.capacity() + 1);
            assert_eq!((s.table.num_buckets(), s.table.len()), (2 * buckets, len));
        }
        for i in 0..30_000 {
            assert_eq!(k.get(key(i).as_bytes()), Some(loc(i)), "key {i}");
            // By tag only: another key sharing the tag may come first (the read path then asks
            // `get`), but never none.
            assert!(k.probe(&k.hashed(key(i).as_bytes())).is_some(), "key {i}");
        }
        assert_eq!(k.remove(key(5).as_bytes()), Some(loc(5)));
        assert_eq!(k.insert(key(5).as_bytes(), loc(9)), None);
        assert_eq!(k.len(), 30_000);
    }

    #[test]
    fn keys_sharing_one_hash_keep_their_own_entries_through_a_growth() {
        let mut k = Keydir::new();
        let base = k.hashed(b"the first colliding key");
        let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("colliding key number {i:04}").into_bytes()).collect();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(k.insert_hashed(&Hashed { key, ..base }, loc(i as u32)), None);
        }
        let s = shard_of(base.hash);
        let layout = k.shards[s].layout;
        let mut i = 0;
        while k.shards[s].layout == layout {
            k.insert(format!("filler-{i}").as_bytes(), loc(7));
            i += 1;
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(k.get_hashed(&Hashed { key, ..base }), Some(loc(i as u32)), "key {i}");
        }
        assert_eq!(k.insert_hashed(&Hashed { key: &keys[3], ..base }, loc(99)), Some(loc(3)));
        assert_eq!(k.get_hashed(&Hashed { key: &keys[4], ..base }), Some(loc(4)));
    }

    /// `cargo test --release --lib keydir::tests::grow_timing -- --ignored --nocapture`: CPU per
    /// moved entry of rebuilding every shard of a 900 k-key keydir (16-byte keys, tables of up
    /// to 2^20 buckets: hashes from the tags), the new tables' page faults included.
    #[test]
    #[ignore]
    fn grow_timing() {
        let cpu_ns = || {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: ts is a valid timespec for clock_gettime to write.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
        };
        let mut k = Keydir::new();
        k.reserve(2_000_000);
        for i in 0..900_000u64 {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
            b[8..].copy_from_slice(&i.to_be_bytes());
            k.insert(&b, loc(1));
        }
        for round in 0..8 {
            let (hasher, shards) = k.shards_mut();
            let (t, mut moved) = (cpu_ns(), 0);
            for s in shards.iter_mut() {
                // At most half full: a rebuild into as many buckets, every entry moved.
                moved += s.table.len();
                s.grow(hasher, s.table.len());
            }
            println!("round {round}: {:.1} ns of CPU per moved entry", (cpu_ns() - t) / moved as f64);
        }
    }

    #[test]
    fn the_learnt_control_address_matches_every_occupied_bucket() {
        let mut k = Keydir::new();
        for i in 0..20_000u32 {
            k.insert(format!("ctrl-key-{i}").as_bytes(), loc(i));
        }
        for sh in &k.shards {
            let mut checked = 0;
            for i in 0..sh.table.num_buckets() {
                if let Some(s) = sh.table.get_bucket(i) {
                    assert_eq!(ctrl_of(s, i), sh.ctrl, "bucket {i}");
                    checked += 1;
                }
            }
            assert_eq!(checked, sh.table.len());
        }
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
        assert_eq!(k.replace_at(&k.layouts(), bucket, loc(i), loc(9999)), Some(true));
        assert_eq!(k.get(format!("walk-key-{i}").as_bytes()), Some(loc(9999)));
    }

    #[test]
    fn replace_at_changes_nothing_unless_the_bucket_holds_the_expected_location() {
        let mut k = Keydir::new();
        k.insert(b"a-key-longer-than-inline", loc(1));
        let mut bucket = None;
        k.walk_locs(0, usize::MAX, |b, _| bucket = Some(b));
        let b = bucket.unwrap();
        let then = k.layouts();
        assert_eq!(k.replace_at(&then, b, loc(2), loc(3)), Some(false), "another location");
        // A bucket that exists (the key's own may be the table's last; the hash seed is random).
        let other = if b == 0 { 1 } else { b - 1 };
        assert_eq!(k.replace_at(&then, other, loc(1), loc(3)), Some(false), "another bucket");
        assert_eq!(k.replace_at(&then, usize::MAX, loc(1), loc(3)), None, "no such bucket");
        assert_eq!(k.get(b"a-key-longer-than-inline"), Some(loc(1)));
        assert_eq!(k.replace_at(&then, b, loc(1), loc(3)), Some(true));
        assert_eq!(k.get(b"a-key-longer-than-inline"), Some(loc(3)));
    }

    #[test]
    fn replace_hashed_changes_nothing_unless_the_key_points_at_the_expected_location() {
        let mut k = Keydir::new();
        let key = b"a-key-longer-than-inline";
        k.insert(key, loc(1));
        let h = k.hashed(key).hash;
        assert!(!k.replace_hashed(h, loc(2), loc(3)), "another location");
        // Another key in another shard: within one shard a hash whose 7-bit tag matches could
        // reach this slot, which is sound only because no other key can point at loc(1).
        let other = (0..)
            .map(|i| k.hashed(format!("another key {i}").as_bytes()).hash)
            .find(|&o| shard_of(o) != shard_of(h))
            .unwrap();
        assert!(!k.replace_hashed(other, loc(1), loc(3)), "another key");
        assert_eq!(k.get(key), Some(loc(1)));
        assert!(k.replace_hashed(h, loc(1), loc(3)));
        assert_eq!(k.get(key), Some(loc(3)));
        assert_eq!(k.len(), 1);
    }

    /// A walk's bucket numbers, for each key: (key, bucket, loc).
    fn walked(k: &Keydir) -> Vec<(Vec<u8>, usize, Loc)> {
        let mut at = Vec::new();
        k.walk_locs(0, usize::MAX, |b, l| at.push((b, l)));
        let mut keys = Vec::new();
        k.for_each(|key, l| keys.push((key.to_vec(), l)));
        at.into_iter().map(|(b, l)| (keys.iter().find(|k| k.1 == l).unwrap().0.clone(), b, l)).collect()
    }

    #[test]
    fn replace_at_keeps_the_bucket_numbers_of_shards_that_did_not_grow_since() {
        let mut k = Keydir::new();
        for i in 0..64 {
            k.insert(format!("walked-key-{i}").as_bytes(), loc(i));
        }
        let then = k.layouts();
        let before = walked(&k);
        // Grow one shard only: keys that hash into it, enough to double its table.
        let grown = shard_of(k.hashed(b"walked-key-0").hash);
        let mut i = 0;
        while k.layouts().shards[grown].0 == then.shards[grown].0 {
            let key = format!("new-key-{i}");
            if shard_of(k.hashed(key.as_bytes()).hash) == grown {
                k.insert(key.as_bytes(), loc(100_000 + i));
            }
            i += 1;
        }
        let (mut kept, mut moved) = (0, 0);
        for (n, (key, b, l)) in before.into_iter().enumerate() {
            let new = loc(50_000 + n as u32);
            match k.replace_at(&then, b, l, new) {
                Some(true) => {
                    assert_ne!(shard_of(k.hashed(&key).hash), grown);
                    assert_eq!(k.get(&key), Some(new));
                    kept += 1;
                }
                None => {
                    assert_eq!(shard_of(k.hashed(&key).hash), grown);
                    assert_eq!(k.get(&key), Some(l), "left for a lookup by key");
                    moved += 1;
                }
                Some(false) => panic!("{key:?} still points at {l:?}"),
            }
        }
        assert!(kept > 0 && moved > 0, "{kept} kept, {moved} left to a lookup");
    }
}
