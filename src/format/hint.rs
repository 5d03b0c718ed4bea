//! Hint files: a summary of one sealed data file so open need not read values
//! (docs/DESIGN.md section 3). Layout, little-endian:
//!
//! ```text
//! magic "BGKHINT\0" (8) | version u32 | data file id u32 | covered data length u64
//! entry*: ts u64 | expires u64 | offset u32 | record_len u32 | flags u8 | key_len u32 | key
//! trailer: CRC32 of every byte before it (4)
//! ```
//!
//! One entry per key: the newest record of that key in the data file (greatest stamp; the later
//! one on a tie, as open decides), which is not always the last one (merge outputs and repaired
//! files need not be in stamp order), tombstones included. A hint is trusted only after
//! [`HintView::check`] accepted all of it; otherwise the data file is scanned, so a damaged hint
//! (which the CRC catches) only slows open down. The check does not compare entries with the
//! data file (that would cost the scan a hint saves): a hint that is well-formed but wrong, which
//! only a bug or a deliberate edit makes, can make a key look absent or let an older version win
//! (docs/DESIGN.md section 3.3). Validate reports it as `hint_mismatch`; repair rebuilds it.

use std::io::{self, Seek, SeekFrom, Write};

use super::record::{u32_at, u64_at, HARD_MAX_KEY, HEADER_LEN};

const MAGIC: &[u8; 8] = b"BGKHINT\0";
const VERSION: u32 = 1;
const PREFIX_LEN: usize = 24;
const ENTRY_FIXED: usize = 29;
const TRAILER_LEN: usize = 4;

/// Whether `bytes` start like a hint file (its magic), whatever follows.
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The fixed prefix of a hint file. Reading it checks nothing but the magic and the length: a
/// hint is trusted only through [`HintView::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintPrefix {
    pub version: u32,
    /// The data file the hint describes.
    pub file_id: u32,
    /// The data file's length the hint covers.
    pub covered: u64,
}

impl HintPrefix {
    /// The prefix at the start of `bytes`, when they have the magic and are long enough.
    pub fn read(bytes: &[u8]) -> Option<HintPrefix> {
        if bytes.len() < PREFIX_LEN || !has_magic(bytes) {
            return None;
        }
        Some(HintPrefix { version: u32_at(bytes, 8), file_id: u32_at(bytes, 12), covered: u64_at(bytes, 16) })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintEntry<'a> {
    pub ts: u64,
    pub expires: u64,
    pub offset: u32,
    pub record_len: u32,
    pub flags: u8,
    pub key: &'a [u8],
}

/// Streams a hint file into any writer, checksumming as it goes (no copy of the whole file is
/// held in memory). The CRC of the entries is kept apart from the prefix's so the covered length
/// can still be filled in at the end ([`HintBuilder::finish_covering`]).
pub struct HintBuilder<W: Write> {
    out: W,
    prefix: [u8; PREFIX_LEN],
    body_crc: crc32fast::Hasher,
    /// Entry bytes not yet checksummed nor written (see [`CRC_BLOCK`]).
    block: Vec<u8>,
}

/// Entries are checksummed (and handed to the writer) in blocks of about this many bytes, not one
/// by one: every update of a CRC pays a fixed setup and final reduction, and for entries of
/// 16-byte keys that was half the CRC time of a full merge streaming its hints.
const CRC_BLOCK: usize = 16 << 10;

impl<W: Write> HintBuilder<W> {
    pub fn new(mut out: W, file_id: u32, data_len: u64) -> io::Result<HintBuilder<W>> {
        let mut prefix = [0u8; PREFIX_LEN];
        prefix[..8].copy_from_slice(MAGIC);
        prefix[8..12].copy_from_slice(&VERSION.to_le_bytes());
        prefix[12..16].copy_from_slice(&file_id.to_le_bytes());
        prefix[16..24].copy_from_slice(&data_len.to_le_bytes());
        out.write_all(&prefix)?;
        let block = Vec::with_capacity(2 * CRC_BLOCK);
        Ok(HintBuilder { out, prefix, body_crc: crc32fast::Hasher::new(), block })
    }

    /// Checksums and writes the entries held in `block`.
    fn put_block(&mut self) -> io::Result<()> {
        self.body_crc.update(&self.block);
        let written = self.out.write_all(&self.block);
        self.block.clear();
        written
    }

    fn crc(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.prefix);
        h.combine(&self.body_crc);
        h.finalize()
    }

    pub fn push(&mut self, e: &HintEntry<'_>) -> io::Result<()> {
        let mut fixed = [0u8; ENTRY_FIXED];
        fixed[0..8].copy_from_slice(&e.ts.to_le_bytes());
        fixed[8..16].copy_from_slice(&e.expires.to_le_bytes());
        fixed[16..20].copy_from_slice(&e.offset.to_le_bytes());
        fixed[20..24].copy_from_slice(&e.record_len.to_le_bytes());
        fixed[24] = e.flags;
        fixed[25..29].copy_from_slice(&(e.key.len() as u32).to_le_bytes());
        self.block.extend_from_slice(&fixed);
        self.block.extend_from_slice(e.key);
        if self.block.len() >= CRC_BLOCK {
            self.put_block()?;
        }
        Ok(())
    }

    /// Writes the CRC trailer and hands the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.put_block()?;
        let crc = self.crc();
        self.out.write_all(&crc.to_le_bytes())?;
        Ok(self.out)
    }
}

impl<W: Write + Seek> HintBuilder<W> {
    /// Like [`HintBuilder::finish`], first setting the covered data length, for hints written
    /// while their data file was still growing.
    pub fn finish_covering(mut self, data_len: u64) -> io::Result<W> {
        self.put_block()?;
        self.prefix[16..24].copy_from_slice(&data_len.to_le_bytes());
        let crc = self.crc();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&self.prefix)?;
        self.out.seek(SeekFrom::End(0))?;
        Ok(self.out)
    }
}

/// Why a hint was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HintError {
    /// Well-formed, but it describes another length of its data file.
    Stale(String),
    /// Damaged.
    Corrupt(String),
}

impl std::fmt::Display for HintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HintError::Stale(m) | HintError::Corrupt(m) => f.write_str(m),
        }
    }
}

impl From<String> for HintError {
    fn from(m: String) -> Self {
        HintError::Corrupt(m)
    }
}

impl From<&str> for HintError {
    fn from(m: &str) -> Self {
        HintError::Corrupt(m.to_string())
    }
}

/// A hint file whose every byte has been checked.
pub struct HintView<'a> {
    body: &'a [u8],
    count: usize,
}

impl<'a> HintView<'a> {
    /// Accepts the hint only if magic, version, trailer CRC, file id and covered length match,
    /// and every entry is well-formed and lies inside the data file. The error says why not.
    pub fn check(bytes: &'a [u8], file_id: u32, data_len: u64) -> Result<HintView<'a>, HintError> {
        if bytes.len() < PREFIX_LEN + TRAILER_LEN {
            return Err(format!("hint is {} bytes, shorter than its fixed header", bytes.len()).into());
        }
        let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        let Some(prefix) = HintPrefix::read(body) else { return Err("bad magic".into()) };
        let stored = u32_at(trailer, 0);
        if crc32fast::hash(body) != stored {
            return Err("trailer crc mismatch".into());
        }
        if prefix.version != VERSION {
            return Err(format!("unknown hint version {}", prefix.version).into());
        }
        if prefix.file_id != file_id {
            return Err(format!("hint names file id {}, expected {file_id}", prefix.file_id).into());
        }
        if prefix.covered != data_len {
            let why = format!("hint covers {} bytes but the data file has {data_len}", prefix.covered);
            return Err(HintError::Stale(why));
        }
        let mut count = 0;
        let mut pos = PREFIX_LEN;
        while pos < body.len() {
            let (e, next) = parse_entry(body, pos)
                .ok_or_else(|| HintError::Corrupt(format!("malformed entry at hint offset {pos}")))?;
            let end = e.offset as u64 + e.record_len as u64;
            if end > data_len || (e.record_len as usize) < HEADER_LEN + e.key.len() {
                return Err(format!("entry at hint offset {pos} points outside the data file").into());
            }
            pos = next;
            count += 1;
        }
        Ok(HintView { body, count })
    }

    /// Number of entries (keys) in the hint.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn entries(&self) -> HintEntries<'a> {
        HintEntries { body: self.body, pos: PREFIX_LEN }
    }
}

pub struct HintEntries<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for HintEntries<'a> {
    type Item = HintEntry<'a>;
    fn next(&mut self) -> Option<HintEntry<'a>> {
        let (e, next) = parse_entry(self.body, self.pos)?;
        self.pos = next;
        Some(e)
    }
}

fn parse_entry(b: &[u8], pos: usize) -> Option<(HintEntry<'_>, usize)> {
    let fixed = b.get(pos..pos.checked_add(ENTRY_FIXED)?)?;
    let key_len = u32_at(fixed, 25);
    if key_len == 0 || key_len > HARD_MAX_KEY {
        return None;
    }
    let key_start = pos + ENTRY_FIXED;
    let key = b.get(key_start..key_start + key_len as usize)?;
    let e = HintEntry {
        ts: u64_at(fixed, 0),
        expires: u64_at(fixed, 8),
        offset: u32_at(fixed, 16),
        record_len: u32_at(fixed, 20),
        flags: fixed[24],
        key,
    };
    Some((e, key_start + key_len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut h = HintBuilder::new(Vec::new(), 3, 1000).unwrap();
        h.push(&HintEntry { ts: 1, expires: 0, offset: 0, record_len: 40, flags: 0, key: b"a" }).unwrap();
        h.push(&HintEntry { ts: 2, expires: 9, offset: 40, record_len: 33, flags: 1, key: b"b" }).unwrap();
        h.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let v = HintView::check(&bytes, 3, 1000).unwrap();
        let all: Vec<_> = v.entries().collect();
        assert_eq!((all.len(), v.len()), (2, 2));
        assert_eq!(all[1].key, b"b");
        assert_eq!((all[1].ts, all[1].expires, all[1].flags), (2, 9, 1));
    }

    #[test]
    fn a_length_filled_in_at_the_end_gives_the_same_file() {
        let mut h = HintBuilder::new(io::Cursor::new(Vec::new()), 3, 0).unwrap();
        h.push(&HintEntry { ts: 1, expires: 0, offset: 0, record_len: 40, flags: 0, key: b"a" }).unwrap();
        h.push(&HintEntry { ts: 2, expires: 9, offset: 40, record_len: 33, flags: 1, key: b"b" }).unwrap();
        assert_eq!(h.finish_covering(1000).unwrap().into_inner(), sample());
    }

    /// Entries of keys from 1 byte to two whole blocks, so that blocks end at every kind of
    /// place: the reader, which checks the CRC over the whole file, gets each entry back in order.
    #[test]
    fn entries_spanning_many_crc_blocks_read_back_in_order() {
        let keys: Vec<Vec<u8>> =
            (0..3000).map(|i| vec![b'k'; 1 + (i * 37) % 300]).chain([vec![b'x'; 2 * CRC_BLOCK]]).collect();
        let entry = |i: usize| HintEntry {
            ts: i as u64,
            expires: 0,
            offset: 0,
            record_len: 40 + keys[i].len() as u32,
            flags: 0,
            key: &keys[i],
        };
        let mut h = HintBuilder::new(io::Cursor::new(Vec::new()), 3, 0).unwrap();
        for i in 0..keys.len() {
            h.push(&entry(i)).unwrap();
        }
        let bytes = h.finish_covering(1 << 20).unwrap().into_inner();
        assert!(bytes.len() > 20 * CRC_BLOCK);
        let v = HintView::check(&bytes, 3, 1 << 20).unwrap();
        assert_eq!(v.len(), keys.len());
        for (i, e) in v.entries().enumerate() {
            assert_eq!((e.ts, e.record_len, e.key), (i as u64, entry(i).record_len, &keys[i][..]));
        }
    }

    #[test]
    fn the_prefix_reads_without_checking_the_rest() {
        let bytes = sample();
        assert!(has_magic(&bytes));
        assert_eq!(HintPrefix::read(&bytes), Some(HintPrefix { version: VERSION, file_id: 3, covered: 1000 }));
        assert_eq!(HintPrefix::read(&bytes[..PREFIX_LEN - 1]), None);
        assert_eq!(HintPrefix::read(b"not a hint, though long enough for one"), None);
    }

    #[test]
    fn wrong_file_or_length_is_refused() {
        let bytes = sample();
        assert!(HintView::check(&bytes, 4, 1000).is_err());
        assert!(HintView::check(&bytes, 3, 999).is_err());
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_refused() {
        let bytes = sample();
        for n in 0..bytes.len() {
            assert!(HintView::check(&bytes[..n], 3, 1000).is_err(), "truncation to {n}");
        }
        for i in 0..bytes.len() * 8 {
            let mut c = bytes.clone();
            c[i / 8] ^= 1 << (i % 8);
            assert!(HintView::check(&c, 3, 1000).is_err(), "bit {i}");
        }
    }

    #[test]
    fn entries_outside_the_data_file_are_refused_even_with_a_good_crc() {
        let mut h = HintBuilder::new(Vec::new(), 1, 100).unwrap();
        h.push(&HintEntry { ts: 1, expires: 0, offset: 90, record_len: 40, flags: 0, key: b"a" }).unwrap();
        let bytes = h.finish().unwrap();
        assert!(HintView::check(&bytes, 1, 100).is_err());
    }
}
