//! `data/bitgask.watermark` (docs/DESIGN.md section 1.6): how much of the newest data file is
//! known to be durable. Two 32-byte slots, at offsets 0 and 512 (different sectors), each:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic: `BGKWMRK` and a version byte, 1 (or 0 from versions before rotation links) |
//! | 8 | 8 | `seq`: which write this is; slot `seq % 2` holds it |
//! | 16 | 4 | data file id |
//! | 20 | 8 | durable length of that file |
//! | 28 | 4 | CRC-32 (IEEE) of bytes 0..28 |
//!
//! Updates overwrite the slot the previous one did not use, so a write torn by a power loss
//! spoils at most one slot and the other still holds the previous mark. The reader takes the
//! valid slot with the greater `seq`.
//!
//! The version byte says what the writer promised about rotations: with 1, the first record of
//! every file a rotation made is stamped exactly one above the newest stamp of the file before
//! it, unless the mark naming the new file was made durable before any of its records counted
//! (docs/DESIGN.md section 5.6), so open can tell that file below lost its unsynced end.

pub const WATERMARK_FILE: &str = "bitgask.watermark";
/// The whole file: two slots, 512 bytes apart.
pub const FILE_LEN: usize = 1024;
pub const SLOT_LEN: usize = 32;
const SLOT_SPACING: u64 = 512;
/// The magic without its version byte.
const MAGIC: &[u8; 7] = b"BGKWMRK";
/// The version byte of marks written with rotation links.
const LINKS: u8 = 1;

/// One mark: the data file `file_id` was durable up to `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub seq: u64,
    pub file_id: u32,
    pub len: u64,
    /// Written by a version that links each rotation's files by their stamps (version byte 1).
    pub links: bool,
}

impl Mark {
    pub fn encode(&self) -> [u8; SLOT_LEN] {
        let mut b = [0u8; SLOT_LEN];
        b[..7].copy_from_slice(MAGIC);
        b[7] = if self.links { LINKS } else { 0 };
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..20].copy_from_slice(&self.file_id.to_le_bytes());
        b[20..28].copy_from_slice(&self.len.to_le_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Where in the file this mark's slot is.
    pub fn slot_offset(&self) -> u64 {
        (self.seq % 2) * SLOT_SPACING
    }

    /// A whole file holding only this mark (the other slot zero, hence invalid).
    pub fn encode_file(&self) -> Vec<u8> {
        let mut f = vec![0u8; FILE_LEN];
        let at = self.slot_offset() as usize;
        f[at..at + SLOT_LEN].copy_from_slice(&self.encode());
        f
    }

    fn parse_slot(b: &[u8]) -> Option<Mark> {
        let b: &[u8; SLOT_LEN] = b.get(..SLOT_LEN)?.try_into().ok()?;
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| u64::from(u32_at(at)) | u64::from(u32_at(at + 4)) << 32;
        if &b[..7] != MAGIC || b[7] > LINKS || crc32fast::hash(&b[..28]) != u32_at(28) {
            return None;
        }
        Some(Mark { seq: u64_at(8), file_id: u32_at(16), len: u64_at(20), links: b[7] == LINKS })
    }

    /// The newest valid mark of a watermark file; `None` if neither slot is valid. A slot found
    /// at the other slot's place (its `seq` says so) is not valid.
    pub fn parse_file(b: &[u8]) -> Option<Mark> {
        [0, SLOT_SPACING]
            .iter()
            .filter_map(|&at| {
                let m = Mark::parse_slot(b.get(at as usize..)?)?;
                (m.slot_offset() == at).then_some(m)
            })
            .max_by_key(|m| m.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(seq: u64, file_id: u32, len: u64) -> Mark {
        Mark { seq, file_id, len, links: true }
    }

    fn put(file: &mut [u8], m: Mark) {
        let at = m.slot_offset() as usize;
        file[at..at + SLOT_LEN].copy_from_slice(&m.encode());
    }

    #[test]
    fn a_fresh_file_holds_its_one_mark() {
        let m = mark(7, 3, 4096);
        let f = m.encode_file();
        assert_eq!(f.len(), FILE_LEN);
        assert_eq!(Mark::parse_file(&f), Some(m));
    }

    #[test]
    fn the_newer_of_two_slots_wins() {
        let mut f = vec![0u8; FILE_LEN];
        put(&mut f, mark(4, 2, 10));
        put(&mut f, mark(5, 2, 99));
        assert_eq!(Mark::parse_file(&f), Some(mark(5, 2, 99)));
    }

    #[test]
    fn a_torn_slot_leaves_the_previous_mark() {
        let mut f = vec![0u8; FILE_LEN];
        put(&mut f, mark(4, 2, 10));
        put(&mut f, mark(5, 2, 99));
        f[512 + 21] ^= 1;
        assert_eq!(Mark::parse_file(&f), Some(mark(4, 2, 10)));
        f[3] = 0;
        assert_eq!(Mark::parse_file(&f), None);
    }

    #[test]
    fn short_empty_or_foreign_bytes_hold_no_mark() {
        assert_eq!(Mark::parse_file(&[]), None);
        assert_eq!(Mark::parse_file(&[0u8; 40]), None);
        let mut f = vec![0u8; FILE_LEN];
        // A valid slot copied to the wrong place is not believed.
        let m = mark(1, 1, 1);
        f[..SLOT_LEN].copy_from_slice(&m.encode());
        assert_eq!(Mark::parse_file(&f), None);
    }

    #[test]
    fn a_mark_of_a_version_without_rotation_links_says_so_and_a_later_version_is_no_mark() {
        let old = Mark { links: false, ..mark(3, 2, 10) };
        let b = old.encode_file();
        assert_eq!(&b[old.slot_offset() as usize..][..8], b"BGKWMRK\0");
        assert_eq!(Mark::parse_file(&b), Some(old));
        let mut later = mark(3, 2, 10).encode();
        later[7] = 2;
        let crc = crc32fast::hash(&later[..28]);
        later[28..].copy_from_slice(&crc.to_le_bytes());
        let mut f = vec![0u8; FILE_LEN];
        f[512..512 + SLOT_LEN].copy_from_slice(&later);
        assert_eq!(Mark::parse_file(&f), None);
    }
}
