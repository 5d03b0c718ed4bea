//! One keydir shard as bytes and back, for the keydir snapshot (docs/DESIGN.md section 6.7).
//!
//! A shard is written as its bucket count, its entries in bucket order (each with its key's hash,
//! so loading hashes nothing), which of them have inline keys, those inline keys' references, and
//! the longer keys as arena chunks: the bytes a fresh arena holds after adding them in entry
//! order, cut into chunks of at most [`CHUNK`] bytes. Loading makes a table of the same bucket
//! count and inserts the entries in that order: each insert lands at or just after the previous
//! one's bucket, so the table fills front to back instead of one cache miss per key. The arena is
//! not rebuilt key by key: each chunk is copied whole (when the walk over the entries reaches
//! it, so the walk finds it in cache), and an entry's reference is where the walk is in it.
//!
//! What this relies on in the keydir (`super`): the slot's fields (`key` as two words of the
//! reference, `file_id`, `offset`, `size_flags`), the arena's fields (`chunks`, `current`, `live`,
//! `garbage`), the reference layout ([`INLINE_BIT`], the inline length in bits 56-62,
//! [`OFFSET_BITS`], [`CHUNK_BITS`], [`tag_of`]), the varint key-length prefix in chunks
//! ([`put_varint`]), [`shard_of`], and `hashbrown`'s table (bucket count, `insert_unique`, and
//! where it keeps its slots: [`super::ctrl_of`]).
//!
//! The bytes come from disk: every length and position is checked, and whatever they say, the
//! result is a keydir that answers without panicking (a lying hash only makes its key unfindable;
//! the snapshot's CRCs keep honest damage out before anything is served).

use super::{
    inline_bytes, inline_ref, put_varint, shard_of, tag_of, Arena, HashTable, KeyHasher, Keydir, Loc, Shard, Slot,
    CHUNK, CHUNK_BITS, INLINE_BIT, INLINE_MAX, OFFSET_BITS, SHARDS,
};
use std::hash::BuildHasher;

/// Bytes before the chunk lengths: bucket count, entry count, inline keys, chunks (u64 each).
const HEAD: usize = 32;
/// Bytes of one entry: hash u64, file id, offset, size with flags (u32 each).
const ENTRY: usize = 20;

/// Why a shard's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, SnapshotError> {
    Err(SnapshotError(why.into()))
}

/// A shard's sections, apart, as [`Keydir::encode_shard`] builds them.
#[derive(Default)]
struct Parts {
    entries: Vec<u8>,
    inline_bits: Vec<u64>,
    inline_refs: Vec<u64>,
    chunks: Vec<Vec<u8>>,
}

impl Parts {
    /// Appends a longer key to the last chunk, or to a new one when it would not fit.
    fn add_long(&mut self, key: &[u8]) {
        let mut len = [0u8; 5];
        let n = put_varint(&mut len, key.len() as u32);
        let fits = self.chunks.last().is_some_and(|c| c.len() + n + key.len() <= CHUNK);
        if !fits {
            self.chunks.push(Vec::with_capacity(CHUNK.max(n + key.len())));
        }
        let c = self.chunks.last_mut().expect("a chunk");
        c.extend_from_slice(&len[..n]);
        c.extend_from_slice(key);
    }
}

impl Keydir {
    /// The seed of this keydir's hasher.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A keydir of the shards [`decode_shard`] made with the hasher of `seed`.
    pub fn from_shards(seed: u64, shards: [Shard; SHARDS]) -> Keydir {
        let mut k = Keydir::with_seed(seed);
        k.shards = shards;
        k
    }

    /// Appends shard `i` to `out` (hashing every key: this runs at close, not at open).
    pub fn encode_shard(&self, i: usize, out: &mut Vec<u8>) {
        let sh = &self.shards[i];
        let n = sh.table.len();
        let mut p =
            Parts { entries: Vec::with_capacity(n * ENTRY), inline_bits: vec![0; n.div_ceil(64)], ..Parts::default() };
        let mut at = 0;
        for b in 0..sh.table.num_buckets() {
            let Some(s) = sh.table.get_bucket(b) else { continue };
            let key = sh.arena.get(&s.key);
            p.entries.extend_from_slice(&self.hasher.hash_one(key).to_le_bytes());
            for v in [s.file_id, s.offset, s.size_flags] {
                p.entries.extend_from_slice(&v.to_le_bytes());
            }
            if s.key_ref() & INLINE_BIT != 0 {
                p.inline_bits[at / 64] |= 1 << (at % 64);
                p.inline_refs.push(s.key_ref());
            } else {
                p.add_long(key);
            }
            at += 1;
        }
        let chunk_bytes: usize = p.chunks.iter().map(Vec::len).sum();
        out.reserve(
            HEAD + 4 * p.chunks.len() + p.entries.len() + 8 * (p.inline_bits.len() + p.inline_refs.len()) + chunk_bytes,
        );
        for v in [sh.table.num_buckets(), n, p.inline_refs.len(), p.chunks.len()] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        for c in &p.chunks {
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(&p.entries);
        for w in p.inline_bits.iter().chain(&p.inline_refs) {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for c in &p.chunks {
            out.extend_from_slice(c);
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// A varint key length at the front of `b`: (length, bytes it took), if well formed.
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().take(5).enumerate() {
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte < 0x80 {
            return u32::try_from(v).ok().map(|v| (v as usize, i + 1));
        }
    }
    None
}

/// The table capacity for `buckets` buckets holding `len` entries: the same bucket count as the
/// table that was written (so memory per key is what it was), unless that is implausibly large
/// for its entries (then a table sized for them).
fn capacity_for(buckets: u64, len: usize) -> usize {
    let plausible = buckets.is_power_of_two() && buckets <= 4 * len as u64 + 64;
    match buckets {
        _ if !plausible => len,
        0..=7 => buckets.saturating_sub(1) as usize,
        _ => (buckets / 8 * 7) as usize,
    }
}

/// Where a shard's sections lie in its bytes, every length checked against them.
struct Layout<'a> {
    buckets: u64,
    len: usize,
    entries: &'a [u8],
    inline_bits: &'a [u8],
    inline_refs: &'a [u8],
    /// Each chunk's bytes.
    chunks: Vec<&'a [u8]>,
}

/// Splits `bytes` into its sections; refuses counts and lengths that do not add up exactly.
fn layout(bytes: &[u8]) -> Result<Layout<'_>, SnapshotError> {
    if bytes.len() < HEAD {
        return refuse("shard shorter than its header");
    }
    let [buckets, len, inline, chunks] = [0, 8, 16, 24].map(|at| u64_at(bytes, at));
    let avail = (bytes.len() - HEAD) as u64;
    // Each count is checked against the bytes before anything is sized by it.
    let claimed = |n: u64, each: u64| n.checked_mul(each).filter(|&b| b <= avail);
    let (Some(chunk_lens), Some(entries), Some(refs)) =
        (claimed(chunks, 4), claimed(len, ENTRY as u64), claimed(inline, 8))
    else {
        return refuse("more entries, keys or chunks than bytes");
    };
    if chunks >= 1 << CHUNK_BITS || inline > len {
        return refuse("more chunks or inline keys than there can be");
    }
    let bits = len.div_ceil(64) * 8;
    let mut at = HEAD;
    let mut take = |n: u64| -> Result<&[u8], SnapshotError> {
        let end = (at as u64).checked_add(n).filter(|&e| e <= bytes.len() as u64);
        let Some(end) = end else { return refuse("shard length does not add up") };
        let s = &bytes[at..end as usize];
        at = end as usize;
        Ok(s)
    };
    let lens = take(chunk_lens)?;
    let entries = take(entries)?;
    let inline_bits = take(bits)?;
    let inline_refs = take(refs)?;
    let mut out = Vec::with_capacity(chunks as usize);
    for c in lens.chunks_exact(4) {
        let n = u32_at(c, 0) as u64;
        if n == 0 {
            return refuse("an empty arena chunk");
        }
        out.push(take(n)?);
    }
    if at != bytes.len() {
        return refuse("bytes after the last chunk");
    }
    Ok(Layout { buckets, len: len as usize, entries, inline_bits, inline_refs, chunks: out })
}

/// Rebuilds the arena while the entries are walked: where the walk is in the chunks, copying
/// each chunk when the walk reaches it.
struct ArenaWalk<'a> {
    src: &'a [&'a [u8]],
    /// The chunk being walked (its copy is the arena's last) and the offset in it.
    chunk: usize,
    off: usize,
}

impl ArenaWalk<'_> {
    /// The reference of the next longer key, with `hash`'s tag; refuses a key that does not lie
    /// wholly in its chunk or would fit inline.
    fn next(&mut self, arena: &mut Arena, hash: u64) -> Result<u64, SnapshotError> {
        if self.off == 0 {
            let Some(src) = self.src.get(self.chunk) else { return refuse("more long keys than the chunks hold") };
            let mut copy = Vec::with_capacity(src.len());
            populate(copy.as_mut_ptr() as usize, src.len());
            copy.extend_from_slice(src);
            arena.chunks.push(copy);
        }
        let c = &arena.chunks[self.chunk];
        let Some((n, m)) = varint(&c[self.off..]) else { return refuse("a key length does not decode") };
        if n <= INLINE_MAX || self.off >= 1 << OFFSET_BITS {
            return refuse("a short key in a chunk, or a key past a chunk's reach");
        }
        let end = self.off + m + n;
        if end > c.len() {
            return refuse("a key runs past its chunk");
        }
        let r = tag_of(hash) | ((self.chunk as u64) << OFFSET_BITS) | self.off as u64;
        self.off = end;
        if end == c.len() {
            (self.chunk, self.off) = (self.chunk + 1, 0);
        }
        Ok(r)
    }

    fn finished(&self) -> bool {
        self.chunk == self.src.len() && self.off == 0
    }
}

/// Faults in the whole pages of `len` bytes at `addr` (memory this shard just allocated and is
/// about to fill), writable, with one system call instead of a page fault per page as they are
/// first written: that saves about a seventh of the CPU of a load. Without `MADV_POPULATE_WRITE`
/// (Linux before 5.14) the call fails and the pages fault in as they are written.
fn populate(addr: usize, len: usize) {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
    let start = addr.div_ceil(page) * page;
    let end = (addr + len) / page * page;
    if end > start {
        // SAFETY: whole pages inside an allocation this thread owns; faulting them in changes
        // no byte of them.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
    }
}

/// The reference of an inline key as stored; refuses one that is not exactly what
/// [`inline_ref`] makes of its bytes.
fn checked_inline(r: u64) -> Result<u64, SnapshotError> {
    let len = ((r >> 56) & 0x7f) as usize;
    let words = [r as u32, (r >> 32) as u32];
    if r & INLINE_BIT == 0 || len > INLINE_MAX || inline_ref(&inline_bytes(&words)[..len]) != r {
        return refuse("an inline key reference that is not one");
    }
    Ok(r)
}

/// Builds shard `index` of a keydir hashed by `hasher` from the bytes [`Keydir::encode_shard`]
/// wrote, calling `each` with every entry's location (it refuses the shard by returning false).
pub fn decode_shard(
    hasher: &KeyHasher,
    index: usize,
    bytes: &[u8],
    mut each: impl FnMut(Loc) -> bool,
) -> Result<Shard, SnapshotError> {
    let l = layout(bytes)?;
    let mut sh = Shard { table: HashTable::with_capacity(capacity_for(l.buckets, l.len)), ..Shard::default() };
    let Shard { table, arena, ctrl, .. } = &mut sh;
    arena.chunks.reserve_exact(l.chunks.len());
    let mut walk = ArenaWalk { src: &l.chunks, chunk: 0, off: 0 };
    let mut inline = l.inline_refs.chunks_exact(8);
    let mut populated = false;
    for (i, e) in l.entries.chunks_exact(ENTRY).enumerate() {
        let hash = u64_at(e, 0);
        if shard_of(hash) != index {
            return refuse("an entry's hash belongs to another shard");
        }
        let r = match (l.inline_bits[i / 8] >> (i % 8)) & 1 {
            1 => checked_inline(inline.next().map_or(0, |w| u64_at(w, 0)))?,
            _ => walk.next(arena, hash)?,
        };
        let slot = Slot {
            key: [r as u32, (r >> 32) as u32],
            file_id: u32_at(e, 8),
            offset: u32_at(e, 12),
            size_flags: u32_at(e, 16),
        };
        if !each(slot.loc()) {
            return refuse("an entry points at a file the snapshot does not name");
        }
        let o = table.insert_unique(hash, slot, |s| hasher.hash_one(arena.get(&s.key)));
        *ctrl = super::ctrl_of(o.get(), o.bucket_index());
        if !populated {
            // The slots lie right below the control bytes (`super::ctrl_of`).
            let buckets = table.num_buckets() * super::SLOT_SIZE;
            populate(*ctrl - buckets, buckets);
            populated = true;
        }
    }
    if !walk.finished() || inline.next().is_some() {
        return refuse("keys left over after the last entry");
    }
    arena.live = arena.chunks.iter().map(Vec::len).sum();
    Ok(sh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(i: u32) -> Loc {
        Loc { file_id: i % 7, offset: i * 3, size: 30 + i % 100, tombstone: false, has_ttl: i % 5 == 0 }
    }

    fn sample(n: u32) -> Keydir {
        let mut k = Keydir::new();
        for i in 0..n {
            let key = if i % 3 == 0 { format!("k{i}") } else { format!("a-longer-key-{i:08}") };
            k.insert(key.as_bytes(), loc(i));
        }
        k
    }

    fn round_trip(k: &Keydir) -> Keydir {
        let shards = std::array::from_fn(|i| {
            let mut b = Vec::new();
            k.encode_shard(i, &mut b);
            decode_shard(&KeyHasher::with_seed(k.seed()), i, &b, |_| true).unwrap()
        });
        Keydir::from_shards(k.seed(), shards)
    }

    fn entries(k: &Keydir) -> Vec<(Vec<u8>, Loc)> {
        let mut v = Vec::new();
        k.for_each(|key, l| v.push((key.to_vec(), l)));
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn a_decoded_shard_holds_the_same_entries_and_finds_them() {
        let k = sample(30_000);
        let back = round_trip(&k);
        assert_eq!(entries(&back), entries(&k));
        assert_eq!(back.get(b"a-longer-key-00000001"), Some(loc(1)));
        assert_eq!(back.probe(&back.hashed(b"k3")), Some(loc(3)));
    }

    #[test]
    fn a_decoded_keydir_keeps_its_bucket_counts_and_takes_no_more_memory() {
        let mut k = sample(50_000);
        k.retain(|l| l.file_id != 3);
        let back = round_trip(&k);
        for (a, b) in k.shards.iter().zip(&back.shards) {
            assert_eq!(a.table.num_buckets(), b.table.num_buckets());
        }
        assert!(back.memory() <= k.memory());
    }

    #[test]
    fn a_decoded_keydir_takes_new_keys_and_removals() {
        let mut back = round_trip(&sample(10_000));
        for i in 10_000..40_000 {
            back.insert(format!("a-longer-key-{i:08}").as_bytes(), loc(i));
        }
        assert_eq!(back.remove(b"k0"), Some(loc(0)));
        assert_eq!(back.remove(b"a-longer-key-00000001"), Some(loc(1)));
        assert_eq!(back.len(), 39_998);
        assert_eq!(back.get(b"a-longer-key-00039999"), Some(loc(39_999)));
    }

    #[test]
    fn keys_of_every_length_fill_chunks_without_straddling_them() {
        let mut k = Keydir::new();
        // Keys up to 300 bytes, and a few longer than a chunk's quarter and than a chunk.
        for i in 0..20_000u32 {
            let len = 1 + (i as usize * 37) % 300;
            let key: Vec<u8> = (0..len).map(|j| (i as usize + j * 11) as u8).chain(i.to_le_bytes()).collect();
            k.insert(&key, loc(i));
        }
        for big in [CHUNK / 4 + 1, CHUNK - 3, CHUNK + 10] {
            k.insert(&vec![big as u8; big], loc(big as u32));
        }
        let back = round_trip(&k);
        assert_eq!(entries(&back), entries(&k));
        // A chunk is at most CHUNK bytes, unless it holds one key alone.
        let alone = |c: &Vec<u8>| varint(c).is_some_and(|(n, m)| n + m == c.len());
        let chunks = back.shards.iter().flat_map(|s| &s.arena.chunks);
        assert!(chunks.clone().all(|c| c.len() <= CHUNK || alone(c)));
        assert!(chunks.clone().any(|c| c.len() > CHUNK), "the longest key");
    }

    #[test]
    fn a_keydir_of_inline_keys_only_has_no_chunks() {
        let mut k = Keydir::new();
        for i in 0..3000u32 {
            k.insert(format!("s{i}").as_bytes(), loc(i));
        }
        let back = round_trip(&k);
        assert!(back.shards.iter().all(|s| s.arena.chunks.is_empty()));
        assert_eq!(entries(&back), entries(&k));
    }

    #[test]
    fn damaged_shards_are_refused_without_panicking() {
        let k = sample(2_000);
        let mut b = Vec::new();
        k.encode_shard(1, &mut b);
        let h = KeyHasher::with_seed(k.seed());
        assert!(decode_shard(&h, 0, &b, |_| true).is_err(), "another shard's entries");
        assert!(decode_shard(&h, 1, &b[..b.len() - 1], |_| true).is_err(), "truncated");
        let mut longer = b.clone();
        longer.push(0);
        assert!(decode_shard(&h, 1, &longer, |_| true).is_err(), "trailing byte");
        for at in [8, 16, 24] {
            let mut huge = b.clone();
            huge[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            assert!(decode_shard(&h, 1, &huge, |_| true).is_err(), "a count that overflows, at {at}");
        }
        for at in (0..b.len()).step_by(7) {
            let mut bad = b.clone();
            bad[at] ^= 0xff;
            let _ = decode_shard(&h, 1, &bad, |_| true);
        }
    }

    #[test]
    fn an_inline_reference_with_bytes_past_its_length_is_refused() {
        let r = inline_ref(b"abc");
        assert_eq!(checked_inline(r), Ok(r));
        assert!(checked_inline(r | 0xff << 24).is_err(), "a byte past the length");
        assert!(checked_inline(r & !INLINE_BIT).is_err(), "not inline");
        assert!(checked_inline(INLINE_BIT | 9 << 56).is_err(), "longer than inline keys");
    }

    fn thread_cpu_ms() -> f64 {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid clock id and a valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
    }

    /// A measurement, not a check (`cargo test --release --lib -- --ignored
    /// decode_cpu_of_a_million_keys --nocapture`): CPU of one thread decoding the four shards of
    /// 1,000,000 16-byte keys, and of the CRCs open checks first. Every decoded keydir is kept,
    /// so each round's memory is fresh from the kernel, as at open.
    #[test]
    #[ignore]
    fn decode_cpu_of_a_million_keys() {
        let mut k = Keydir::new();
        for i in 0..1_000_000u64 {
            let key = [i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes(), i.to_be_bytes()].concat();
            k.insert(&key, loc(i as u32));
        }
        let shards: Vec<Vec<u8>> = (0..SHARDS)
            .map(|i| {
                let mut b = Vec::new();
                k.encode_shard(i, &mut b);
                b
            })
            .collect();
        let h = KeyHasher::with_seed(k.seed());
        let mut keep = Vec::new();
        for round in 0..8 {
            let t0 = thread_cpu_ms();
            let crc = shards.iter().fold(0, |c, b| c ^ crc32fast::hash(b));
            let t1 = thread_cpu_ms();
            keep.extend(shards.iter().enumerate().map(|(i, b)| decode_shard(&h, i, b, |_| true).unwrap()));
            let t2 = thread_cpu_ms();
            println!("round {round}: CRCs {:.2} ms, decode {:.2} ms CPU ({crc:08x})", t1 - t0, t2 - t1);
        }
    }
}
