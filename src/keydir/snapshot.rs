//! One keydir shard as bytes and back, for the keydir snapshot (docs/DESIGN.md section 6.7).
//!
//! A shard is written as its bucket count, its entries in bucket order (each with its key's hash,
//! so loading hashes nothing), then the keys in the same order. Loading makes a table of the same
//! bucket count and inserts the entries in that order: each insert lands at or just after the
//! previous one's bucket, so the table fills front to back instead of one cache miss per key,
//! and the keys are read front to back too. The arena is rebuilt in that order (without the
//! garbage the old one carried).
//!
//! The bytes come from disk: every length and position is checked, and whatever they say, the
//! result is a keydir that answers without panicking (a lying hash only makes its key unfindable;
//! the snapshot's CRCs keep honest damage out before this runs).

use super::{
    put_varint, ref_words, shard_of, tag_of, HashTable, KeyHasher, Keydir, Loc, Shard, Slot, TableAlloc, SHARDS,
};
use std::hash::BuildHasher;

/// Bytes before the entries: bucket count, entry count, key bytes (u64 each).
const HEAD: usize = 24;
/// Bytes of one entry: hash u64, file id, offset, size with flags (u32 each).
const ENTRY: usize = 20;

/// Why a shard's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, SnapshotError> {
    Err(SnapshotError(why.into()))
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
        let mut keys = Vec::with_capacity(sh.arena.live + sh.table.len());
        out.reserve(HEAD + sh.table.len() * ENTRY);
        out.extend_from_slice(&(sh.table.num_buckets() as u64).to_le_bytes());
        out.extend_from_slice(&(sh.table.len() as u64).to_le_bytes());
        let keys_len_at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        for b in 0..sh.table.num_buckets() {
            let Some(s) = sh.table.get_bucket(b) else { continue };
            let key = sh.arena.get(&s.key);
            out.extend_from_slice(&self.hasher.hash_one(key).to_le_bytes());
            for v in [s.file_id, s.offset, s.size_flags] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            let mut len = [0u8; 5];
            let n = put_varint(&mut len, key.len() as u32);
            keys.extend_from_slice(&len[..n]);
            keys.extend_from_slice(key);
        }
        out[keys_len_at..keys_len_at + 8].copy_from_slice(&(keys.len() as u64).to_le_bytes());
        out.extend_from_slice(&keys);
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

/// Entries whose bytes (and their keys') go into the CRC together, right after they were read:
/// about 9 KiB for 16-byte keys, still in the cache.
const CRC_BLOCK: usize = 256;

/// Builds shard `index` of a keydir hashed by `hasher` from the bytes [`Keydir::encode_shard`]
/// wrote, which must have the CRC-32 `crc`, calling `each` with every entry's location (it
/// refuses the shard by returning false). The CRC is taken on the same pass, block by block
/// while the bytes are in the cache, instead of on a pass of its own first: whatever the bytes
/// say, building from them stays in bounds, and a shard whose CRC fails is refused (and its
/// table dropped) before anything sees it.
pub fn decode_shard(
    hasher: &KeyHasher,
    index: usize,
    bytes: &[u8],
    crc: u32,
    mut each: impl FnMut(Loc) -> bool,
) -> Result<Shard, SnapshotError> {
    if bytes.len() < HEAD {
        return refuse("shard shorter than its header");
    }
    let (buckets, len, keys_len) = (u64_at(bytes, 0), u64_at(bytes, 8), u64_at(bytes, 16));
    let entries_len = len.checked_mul(ENTRY as u64).filter(|&n| n <= (bytes.len() - HEAD) as u64);
    let Some(entries_len) = entries_len else { return refuse("more entries than bytes") };
    if (HEAD as u64 + entries_len).checked_add(keys_len) != Some(bytes.len() as u64) {
        return refuse("shard length does not add up");
    }
    let entries = &bytes[HEAD..HEAD + entries_len as usize];
    let keys = &bytes[HEAD + entries_len as usize..];
    let mut sh = Shard {
        table: HashTable::with_capacity_in(capacity_for(buckets, len as usize), TableAlloc),
        ..Shard::default()
    };
    let Shard { table, arena, ctrl, .. } = &mut sh;
    // The shard's bytes are its head, entries and keys in that order: one CRC runs over the head
    // and entries, another over the keys, and the two are combined at the end.
    let (mut crc_entries, mut crc_keys) = (crc32fast::Hasher::new(), crc32fast::Hasher::new());
    crc_entries.update(&bytes[..HEAD]);
    let mut at = 0;
    for block in entries.chunks(ENTRY * CRC_BLOCK) {
        let from = at;
        for e in block.chunks_exact(ENTRY) {
            let hash = u64_at(e, 0);
            if shard_of(hash) != index {
                return refuse("an entry's hash belongs to another shard");
            }
            let Some((n, m)) = varint(&keys[at..]) else { return refuse("a key length does not decode") };
            let Some(key) = keys.get(at + m..at + m + n) else { return refuse("a key runs past the keys") };
            at += m + n;
            let r = arena.add(key, tag_of(hash));
            let slot =
                Slot { key: ref_words(r), file_id: u32_at(e, 8), offset: u32_at(e, 12), size_flags: u32_at(e, 16) };
            if !each(slot.loc()) {
                return refuse("an entry points at a file the snapshot does not name");
            }
            let o = table.insert_unique(hash, slot, |s| hasher.hash_one(arena.get(&s.key)));
            *ctrl = super::ctrl_of(o.get(), o.bucket_index());
        }
        crc_entries.update(block);
        crc_keys.update(&keys[from..at]);
    }
    if at != keys.len() {
        return refuse("bytes after the last key");
    }
    crc_entries.combine(&crc_keys);
    if crc_entries.finalize() != crc {
        return refuse("CRC mismatch");
    }
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
            decode_shard(&KeyHasher::with_seed(k.seed()), i, &b, crc32fast::hash(&b), |_| true).unwrap()
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
        assert_eq!(back.len(), 39_999);
        assert_eq!(back.get(b"a-longer-key-00039999"), Some(loc(39_999)));
    }

    #[test]
    fn damaged_shards_are_refused_without_panicking() {
        let k = sample(2_000);
        let mut b = Vec::new();
        k.encode_shard(1, &mut b);
        let h = KeyHasher::with_seed(k.seed());
        // Each damaged copy carries its own CRC: the structure alone must refuse it.
        let decode = |i, b: &[u8]| decode_shard(&h, i, b, crc32fast::hash(b), |_| true);
        assert!(decode(0, &b).is_err(), "another shard's entries");
        assert!(decode(1, &b[..b.len() - 1]).is_err(), "truncated");
        let mut longer = b.clone();
        longer.push(0);
        assert!(decode(1, &longer).is_err(), "trailing byte");
        let mut huge = b.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(1, &huge).is_err(), "a key length that overflows");
        for at in (0..b.len()).step_by(7) {
            let mut bad = b.clone();
            bad[at] ^= 0xff;
            let _ = decode(1, &bad);
        }
    }

    #[test]
    fn a_shard_whose_crc_fails_anywhere_is_refused_after_its_one_pass() {
        // Enough keys that shard 2 has more than one CRC block of entries.
        let k = sample(20_000);
        let mut b = Vec::new();
        k.encode_shard(2, &mut b);
        let h = KeyHasher::with_seed(k.seed());
        let crc = crc32fast::hash(&b);
        assert!(decode_shard(&h, 2, &b, crc, |_| true).is_ok());
        assert_eq!(decode_shard(&h, 2, &b, crc ^ 1, |_| true).err(), Some(SnapshotError("CRC mismatch".into())));
        // A flipped bit in a location, a key's bytes or the bucket count (all of which decode
        // fine) is caught by the CRC alone, in the entries' blocks and in the keys alike.
        let entries_end = HEAD + k.shards[2].table.len() * ENTRY;
        for at in [1, HEAD + 9, HEAD + ENTRY * CRC_BLOCK + 13, entries_end - 3, entries_end + 5, b.len() - 1] {
            let mut bad = b.clone();
            bad[at] ^= 0x10;
            assert!(decode_shard(&h, 2, &bad, crc, |_| true).is_err(), "a flipped bit at {at}");
        }
    }
    fn thread_cpu_ms() -> f64 {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid clock id and a valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
    }

    /// A measurement, not a check (`cargo test --release --lib -- --ignored
    /// decode_cpu_of_a_million_keys --nocapture`): CPU of one thread decoding the shards of
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
            keep.extend(
                shards.iter().enumerate().map(|(i, b)| decode_shard(&h, i, b, crc32fast::hash(b), |_| true).unwrap()),
            );
            let t2 = thread_cpu_ms();
            println!("round {round}: CRCs {:.2} ms, decode {:.2} ms CPU ({crc:08x})", t1 - t0, t2 - t1);
        }
    }
}
