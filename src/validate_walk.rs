//! Walking one data file tolerantly for validate and repair (docs/DESIGN.md sections 2.7, 8.2
//! and 8.3): valid records are kept, and where records fail their checks the walk looks for
//! the next valid record and reports the bytes in between as one damaged range. Batches count
//! as one unit: a batch whose commit record is missing or does not match is damage from its
//! first member on, so repair quarantines all of it and never keeps part of a batch.
//!
//! The newest file follows open's rules (docs/DESIGN.md section 4.5): damage with nothing valid
//! after it is a torn write, unless it lies below the durable watermark of a file still as long
//! as the mark; damage at or after the watermark with newer records after it is an unsynced tail
//! (a batch in it goes whole); zeros from a record boundary to the end are its unused
//! preallocated tail, not damage; anywhere else damage is corruption.

use crate::format::batch::{Commit, FLAG_COMMIT, FLAG_MEMBER};
use crate::format::record::{Bad, Record};
use crate::storage::scan::zero_tail;

/// One data file walked tolerantly.
#[derive(Default)]
pub(crate) struct Walk {
    /// (offset, length) of every valid record that describes a key (members of committed
    /// batches included, commit records not), in file order.
    pub records: Vec<(u64, u64)>,
    /// (offset, length) of every range a repaired file keeps: the records and the commit
    /// records of their batches, in file order.
    pub kept: Vec<(u64, u64)>,
    /// Damaged byte ranges (offset, length), in file order.
    pub damage: Vec<(u64, u64)>,
    /// The last range is a torn tail (newest file, nothing valid after it).
    pub torn_tail: bool,
    /// The only range is an unsynced tail (newest file, at or after the durable watermark, newer
    /// records after it): it runs to the end of the file, and nothing after it counts.
    pub unsynced_tail: bool,
    /// Where the newest file's unused preallocated tail begins: zeros from a record boundary to
    /// the end, not below the watermark of a file still as long as the mark. Not damage (open
    /// trims it, docs/DESIGN.md section 4.5).
    pub unused_tail: Option<u64>,
}

/// The members of a batch whose commit record has not been seen yet.
struct Open {
    start: u64,
    members: Vec<(u64, u64)>,
    bytes: u64,
}

/// A record with every check of section 2.4, the value and the stamp included: a value that
/// cannot be read would fail every read of its key, and the largest possible stamp would make
/// every later write fail.
fn checked(bytes: &[u8]) -> Result<Record<'_>, Bad> {
    let r = Record::decode(bytes)?;
    r.value()?;
    if r.header.ts == u64::MAX {
        return Err(Bad::StampExhausted);
    }
    Ok(r)
}

/// Walks `bytes`; `newest` (the durable watermark of the newest file) applies the torn-tail and
/// unsynced-tail rules.
pub(crate) fn walk(bytes: &[u8], newest: Option<u64>) -> Walk {
    let mut w = Walk::default();
    let mut open: Option<Open> = None;
    let (mut pos, mut last_ts) = (0u64, 0u64);
    while (pos as usize) < bytes.len() {
        let r = match checked(&bytes[pos as usize..]) {
            Ok(r) => r,
            Err(_) => {
                if open.is_none() && torn(bytes, pos, newest) && zero_tail(bytes, pos) {
                    w.unused_tail = Some(pos);
                    break;
                }
                let from = open.take().map_or(pos, |b| b.start);
                match damage(&mut w, bytes, from, pos, newest.map(|d| (d, last_ts))) {
                    Some(next) => pos = next,
                    None => break,
                }
                continue;
            }
        };
        let len = r.header.record_len();
        let flags = r.header.flags;
        if flags & FLAG_MEMBER != 0 {
            let b = open.get_or_insert(Open { start: pos, members: Vec::new(), bytes: 0 });
            b.members.push((pos, len));
            b.bytes += len;
        } else if flags == FLAG_COMMIT {
            let fits = |b: &Open| {
                Commit::parse(&r).is_ok_and(|c| c.members as usize == b.members.len() && c.member_bytes == b.bytes)
            };
            match open.take() {
                Some(b) if fits(&b) => {
                    w.records.extend_from_slice(&b.members);
                    w.kept.extend_from_slice(&b.members);
                    w.kept.push((pos, len));
                }
                // A commit that does not match: the batch and the commit record are damage.
                b => {
                    let from = b.map_or(pos, |b| b.start);
                    if unsynced(&mut w, bytes, from, pos, newest.map(|d| (d, last_ts))) {
                        break;
                    }
                    w.damage.push((from, pos + len - from));
                }
            }
        } else {
            if let Some(b) = open.take() {
                // Members without their commit record, followed by a record: corruption, or an
                // unsynced tail.
                if unsynced(&mut w, bytes, b.start, pos, newest.map(|d| (d, last_ts))) {
                    break;
                }
                w.damage.push((b.start, pos - b.start));
            }
            w.records.push((pos, len));
            w.kept.push((pos, len));
        }
        last_ts = last_ts.max(r.header.ts);
        pos += len;
    }
    if let Some(b) = open.filter(|_| !w.unsynced_tail) {
        // Members cut off by the end of the file.
        w.damage.push((b.start, bytes.len() as u64 - b.start));
        w.torn_tail = torn(bytes, b.start, newest) && w.damage.len() == 1;
    }
    w
}

/// Whether damage from `from` with nothing valid after it may be a torn write: in the newest
/// file, unless it lies below the watermark of a file still as long as the mark (bytes that were
/// flushed changed).
fn torn(bytes: &[u8], from: u64, newest: Option<u64>) -> bool {
    newest.is_some_and(|d| !(from < d && bytes.len() as u64 >= d))
}

/// The first valid record at or after `at` stamped after `after`.
fn valid_after(bytes: &[u8], at: u64, after: u64) -> Option<u64> {
    (at as usize..bytes.len()).find_map(|at| match Record::decode(&bytes[at..]) {
        Ok(r) if r.header.ts > after => Some(at as u64),
        _ => None,
    })
}

/// Damage from `from` (found at `bad`) in the newest file (`newest`: its watermark and the
/// newest stamp read before the damage) is an unsynced tail when it is the first damage, lies at
/// or after the watermark, and newer records follow it: records the range to the end of the
/// file and says so.
fn unsynced(w: &mut Walk, bytes: &[u8], from: u64, bad: u64, newest: Option<(u64, u64)>) -> bool {
    let Some((durable, newest_ts)) = newest else { return false };
    if !w.damage.is_empty() || from < durable || valid_after(bytes, bad, newest_ts).is_none() {
        return false;
    }
    w.damage.push((from, bytes.len() as u64 - from));
    w.unsynced_tail = true;
    true
}

/// Records the damage that starts at `from` (a batch's first member, or the bad record at
/// `bad`) and returns where the next valid record is, if any (`None` also after an unsynced
/// tail, which runs to the end). In the newest file (`newest`: its watermark and the newest
/// stamp read before the damage) only records stamped after that stamp count (as at open);
/// merge outputs elsewhere are not in stamp order.
fn damage(w: &mut Walk, bytes: &[u8], from: u64, bad: u64, newest: Option<(u64, u64)>) -> Option<u64> {
    if unsynced(w, bytes, from, bad + 1, newest) {
        return None;
    }
    let next = valid_after(bytes, bad + 1, newest.map_or(0, |n| n.1));
    let end = next.unwrap_or(bytes.len() as u64);
    w.damage.push((from, end - from));
    if next.is_none() {
        w.torn_tail = torn(bytes, from, newest.map(|n| n.0)) && w.damage.len() == 1;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch::{committed_batch as batch, COMMIT_LEN};
    use crate::format::record::encode;

    #[test]
    fn a_committed_batch_is_records_and_its_commit_is_kept() {
        let mut b = encode(1, 0, 0, b"a", b"v");
        b.extend(batch(2, &["b", "c"]));
        let w = walk(&b, Some(u64::MAX));
        assert!(w.damage.is_empty());
        assert_eq!((w.records.len(), w.kept.len()), (3, 4));
    }

    #[test]
    fn a_batch_cut_at_the_end_of_the_newest_file_is_a_torn_tail_from_its_first_member() {
        let head = encode(1, 0, 0, b"a", b"v");
        let full = batch(2, &["b", "c"]);
        for cut in 1..full.len() {
            let mut b = head.clone();
            b.extend_from_slice(&full[..cut]);
            let w = walk(&b, Some(u64::MAX));
            assert_eq!(w.damage, vec![(head.len() as u64, cut as u64)], "cut {cut}");
            assert!(w.torn_tail, "cut {cut}");
            assert_eq!(w.records.len(), 1);
        }
    }

    #[test]
    fn a_batch_without_its_commit_before_a_record_is_corruption_of_the_whole_batch() {
        let mut b = encode(1, 0, 0, b"a", b"v");
        let full = batch(2, &["b", "c"]);
        let start = b.len() as u64;
        b.extend_from_slice(&full[..full.len() - COMMIT_LEN]);
        let members = b.len() as u64 - start;
        b.extend(encode(9, 0, 0, b"d", b"v"));
        let w = walk(&b, Some(u64::MAX));
        assert_eq!(w.damage, vec![(start, members)]);
        assert!(!w.torn_tail);
        assert_eq!(w.records.len(), 2);
    }

    #[test]
    fn a_damaged_member_takes_its_whole_batch_with_it() {
        let mut b = encode(1, 0, 0, b"a", b"v");
        let start = b.len();
        b.extend(batch(2, &["b", "c"]));
        let end = b.len();
        b.extend(encode(9, 0, 0, b"d", b"v"));
        b[start + 40] ^= 0xff; // inside member b
        let w = walk(&b, Some(u64::MAX));
        let damaged: u64 = w.damage.iter().map(|d| d.1).sum();
        assert_eq!(damaged, (end - start) as u64, "{:?}", w.damage);
        assert_eq!(w.records.len(), 2, "a and d");
    }

    /// A batch without its commit record, then a newer record: members a power loss kept while
    /// their commit record was lost.
    fn batch_then_record() -> (Vec<u8>, u64) {
        let mut b = encode(1, 0, 0, b"a", b"v");
        let start = b.len() as u64;
        let full = batch(2, &["b", "c"]);
        b.extend_from_slice(&full[..full.len() - COMMIT_LEN]);
        b.extend(encode(9, 0, 0, b"d", b"v"));
        (b, start)
    }

    #[test]
    fn a_broken_batch_at_or_after_the_watermark_is_an_unsynced_tail_taken_whole() {
        let (b, start) = batch_then_record();
        let w = walk(&b, Some(start));
        assert_eq!(w.damage, vec![(start, b.len() as u64 - start)]);
        assert!(w.unsynced_tail && !w.torn_tail);
        assert_eq!(w.records.len(), 1, "only the record before the batch");
    }

    #[test]
    fn zeros_after_the_last_record_of_the_newest_file_are_an_unused_tail_not_damage() {
        let mut b = encode(1, 0, 0, b"a", b"v");
        b.extend(batch(2, &["b", "c"]));
        let end = b.len() as u64;
        b.resize(b.len() + 8192, 0);
        let w = walk(&b, Some(end));
        assert!(w.damage.is_empty() && !w.torn_tail && !w.unsynced_tail);
        assert_eq!((w.unused_tail, w.records.len()), (Some(end), 3));
        let sealed = walk(&b, None);
        assert_eq!((sealed.unused_tail, sealed.damage.len()), (None, 1), "in a sealed file zeros are damage");
        let below = walk(&b, Some(end + 1));
        assert_eq!((below.unused_tail, below.damage.len()), (None, 1), "zeros below the watermark are damage");
    }

    #[test]
    fn zeros_after_a_batch_without_its_commit_are_a_torn_batch() {
        let mut b = encode(1, 0, 0, b"a", b"v");
        let start = b.len() as u64;
        let full = batch(2, &["b", "c"]);
        b.extend_from_slice(&full[..full.len() - COMMIT_LEN]);
        b.resize(b.len() + 4096, 0);
        let w = walk(&b, Some(start));
        assert_eq!(w.unused_tail, None);
        assert!(w.torn_tail);
        assert_eq!(w.damage, vec![(start, b.len() as u64 - start)]);
    }

    #[test]
    fn a_broken_batch_below_the_watermark_is_corruption() {
        let (b, start) = batch_then_record();
        let w = walk(&b, Some(start + 1));
        assert!(!w.unsynced_tail && !w.torn_tail);
        assert_eq!(w.records.len(), 2, "a and d");
    }

    #[test]
    fn a_batch_cut_below_the_watermark_of_a_full_length_file_is_not_torn() {
        let head = encode(1, 0, 0, b"a", b"v");
        let full = batch(2, &["b", "c"]);
        let mut b = head.clone();
        b.extend_from_slice(&full[..full.len() - 1]);
        assert!(!walk(&b, Some(b.len() as u64)).torn_tail, "flushed bytes changed");
        assert!(walk(&b, Some(head.len() as u64)).torn_tail, "after the mark: torn");
    }
}
