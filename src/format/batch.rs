//! Batch framing in data records (docs/DESIGN.md section 2.7). Pure code, no I/O.
//!
//! A batch is a run of *member* records (flag bit 2 set, otherwise ordinary records) followed
//! at once by one *commit* record (flag bit 3 set, nothing else). The commit record's key is
//! [`COMMIT_KEY`] and its 12-byte value says how many members and member bytes precede it, so a
//! reader can check that the run it collected is exactly the batch that was committed. Records
//! written outside a batch use neither bit and stay byte for byte the records of section 2.1.

use super::record::{u32_at, u64_at, Codec, Encoded, Placed, Record, FLAG_COMPRESSED, FLAG_TOMBSTONE, HEADER_LEN};

/// Set on every record of a batch except its commit record.
pub const FLAG_MEMBER: u8 = 4;
/// Set (alone) on the record that commits a batch.
pub const FLAG_COMMIT: u8 = 8;
/// The key of every commit record; never a user key (commit records never reach the keydir).
pub const COMMIT_KEY: &[u8] = b"bitgask-commit";
/// Length of a commit record's value: member count (u32) and member bytes (u64).
pub const COMMIT_VALUE_LEN: usize = 12;
/// Bytes of a whole commit record on disk.
pub const COMMIT_LEN: usize = HEADER_LEN + COMMIT_KEY.len() + COMMIT_VALUE_LEN;

/// What a commit record says about the batch it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    pub members: u32,
    pub member_bytes: u64,
}

impl Commit {
    /// The commit record for a batch, to be stamped under the writer mutex.
    pub fn encode(self) -> Encoded {
        Encoded::new(COMMIT_KEY, &self.value(), 0, FLAG_COMMIT, Codec::None)
    }

    /// [`Commit::encode`] into a batch's buffer, after its members.
    pub fn place(self, buf: &mut Vec<u8>) -> Placed {
        Placed::encode(buf, COMMIT_KEY, &self.value(), 0, FLAG_COMMIT, Codec::None)
    }

    fn value(&self) -> [u8; COMMIT_VALUE_LEN] {
        let mut v = [0u8; COMMIT_VALUE_LEN];
        v[..4].copy_from_slice(&self.members.to_le_bytes());
        v[4..].copy_from_slice(&self.member_bytes.to_le_bytes());
        v
    }

    /// Reads a commit record (flags already known to be `FLAG_COMMIT`); `Err` says what is wrong.
    pub fn parse(r: &Record<'_>) -> Result<Commit, String> {
        let h = r.header;
        if r.key != COMMIT_KEY || r.stored_value.len() != COMMIT_VALUE_LEN || h.expires != 0 || h.codec != Codec::None {
            return Err("malformed commit record".into());
        }
        let c = Commit { members: u32_at(r.stored_value, 0), member_bytes: u64_at(r.stored_value, 4) };
        if c.members == 0 {
            return Err("commit record of an empty batch".into());
        }
        Ok(c)
    }
}

/// Whether a flags byte is allowed at all: the commit bit only alone, the member bit with the
/// tombstone and compressed bits. Bits 4 to 7 stay reserved.
pub fn flags_valid(flags: u8) -> bool {
    match flags {
        FLAG_COMMIT => true,
        f => f & !(FLAG_TOMBSTONE | FLAG_COMPRESSED | FLAG_MEMBER) == 0,
    }
}

/// Marks an encoded record (not yet stamped) as a batch member.
pub fn mark_member(enc: &mut Encoded) {
    enc.buf[28] |= FLAG_MEMBER;
}

/// The record as it is written outside a batch: a member's bytes with the member bit cleared
/// and the CRC computed again (merge copies live members this way); other records unchanged.
pub fn as_plain(rec: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if rec[28] & FLAG_MEMBER == 0 {
        return std::borrow::Cow::Borrowed(rec);
    }
    let mut v = rec.to_vec();
    v[28] &= !FLAG_MEMBER;
    let crc = crc32fast::hash(&v[4..]);
    v[0..4].copy_from_slice(&crc.to_le_bytes());
    std::borrow::Cow::Owned(v)
}

/// The bytes of a committed batch as the writer lays it out: a member record per key (value
/// "value", stamped from `ts` on) and then its commit record. The readers' tests build batches
/// with it.
#[cfg(test)]
pub fn committed_batch(ts: u64, keys: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        v.extend(super::record::encode(ts + i as u64, 0, FLAG_MEMBER, k.as_bytes(), b"value"));
    }
    let mut c = Commit { members: keys.len() as u32, member_bytes: v.len() as u64 }.encode();
    c.stamp(ts + keys.len() as u64);
    v.extend(c.buf);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{encode, Record};

    #[test]
    fn a_commit_record_round_trips() {
        let c = Commit { members: 3, member_bytes: 120 };
        let mut e = c.encode();
        e.stamp(9);
        assert_eq!(e.len(), COMMIT_LEN);
        let r = Record::decode(&e.buf).unwrap();
        assert_eq!(r.header.flags, FLAG_COMMIT);
        assert_eq!(Commit::parse(&r), Ok(c));
    }

    #[test]
    fn an_empty_or_malformed_commit_is_refused() {
        let mut e = Commit { members: 0, member_bytes: 0 }.encode();
        e.stamp(1);
        assert!(Commit::parse(&Record::decode(&e.buf).unwrap()).is_err());
        let b = encode(1, 0, FLAG_COMMIT, b"other", &[0; 12]);
        assert!(Commit::parse(&Record::decode(&b).unwrap()).is_err());
    }

    #[test]
    fn the_commit_bit_is_valid_only_alone() {
        assert!(flags_valid(FLAG_COMMIT));
        assert!(flags_valid(FLAG_MEMBER | FLAG_TOMBSTONE | FLAG_COMPRESSED));
        assert!(!flags_valid(FLAG_COMMIT | FLAG_TOMBSTONE));
        assert!(!flags_valid(FLAG_COMMIT | FLAG_MEMBER));
        assert!(!flags_valid(0x10));
    }

    #[test]
    fn as_plain_clears_the_member_bit_and_keeps_the_record_valid() {
        let plain = encode(5, 0, 0, b"k", b"v");
        let member = encode(5, 0, FLAG_MEMBER, b"k", b"v");
        assert_eq!(&*as_plain(&member), &plain[..]);
        assert!(matches!(as_plain(&plain), std::borrow::Cow::Borrowed(_)));
    }
}
