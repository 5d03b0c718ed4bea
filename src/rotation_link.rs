//! The stamp link between the two newest data files (docs/DESIGN.md sections 4.5 and 5.6): how
//! open and validate tell that the second-newest file lost its unsynced end to a power loss
//! while records of the newest file survived it.
//!
//! A rotation hands the full file to the seal thread and goes on appending to the next file, so
//! until that seal's fsync returns both files hold unsynced bytes, which a power loss may
//! persist in any order. The full file can then come back ending early at a record boundary, a
//! clean end that no scan can tell from its true one, while the next file kept records written
//! after the lost ones: a state the database was never in. So the first record a rotation
//! appends to the next file is stamped exactly one above the newest stamp of the full file (the
//! writer's last). At open, when the watermark does not vouch for the second-newest file (it
//! names neither the newest file nor a higher id) and its writer promised links, the
//! newest file's first record must carry the second-newest's newest stamp plus one; otherwise
//! the second-newest lost records, and the whole newest file is set aside.
//!
//! A new file whose first record cannot be linked (one open, a merge or a failed rotation
//! made) is named in the watermark instead, durably before any write in it is acknowledged as
//! durable, so that the rule never applies to it.

use crate::format::record::Record;
use crate::storage::scan::Scan;
use crate::watermark::Known;

/// Whether the newest data file `newest` (its bytes) must be set aside whole because the
/// second-newest file lost its end: the mark promises links and does not vouch for the files
/// below `newest` (it names neither `newest` nor a higher id), the
/// file begins with a valid record, and that record's stamp is not one above the greatest stamp
/// of the second-newest file's valid records (`second_newest_stamp`, asked only then; `None`
/// when it has none).
pub(crate) fn broken(
    known: &Known,
    newest: u32,
    newest_bytes: &[u8],
    second_newest_stamp: impl FnOnce() -> Option<u64>,
) -> bool {
    if !known.links() || known.vouches_below(newest) {
        return false;
    }
    let Ok(first) = Record::decode(newest_bytes) else { return false };
    second_newest_stamp().and_then(|ts| ts.checked_add(1)) != Some(first.header.ts)
}

/// The greatest stamp among the valid records from the start of `bytes` (commit records of
/// batches included: a batch's commit record carries its newest stamp); `None` when there are
/// none.
pub(crate) fn newest_stamp(bytes: &[u8]) -> Option<u64> {
    Scan::new(bytes).map(|(_, r)| r.header.ts).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{Codec, Encoded};
    use crate::format::watermark::Mark;

    fn record(ts: u64) -> Vec<u8> {
        let mut e = Encoded::new(b"k", b"value", 0, 0, Codec::None);
        e.stamp(ts);
        e.buf
    }

    fn mark(file_id: u32, links: bool) -> Known {
        Known::At(Mark { seq: 1, file_id, len: 0, links })
    }

    #[test]
    fn a_first_record_one_above_the_file_below_is_linked() {
        assert!(!broken(&mark(1, true), 2, &record(11), || Some(10)));
    }

    #[test]
    fn a_first_record_further_above_means_the_file_below_lost_records() {
        assert!(broken(&mark(1, true), 2, &record(12), || Some(10)));
        assert!(broken(&mark(1, true), 2, &record(12), || None));
    }

    #[test]
    fn a_mark_naming_the_newest_file_or_without_links_vouches_for_the_file_below() {
        assert!(!broken(&mark(2, true), 2, &record(12), || Some(10)));
        // A file named before its creation failed: everything below it was durable.
        assert!(!broken(&mark(3, true), 2, &record(12), || Some(10)));
        assert!(!broken(&mark(1, false), 2, &record(12), || Some(10)));
        assert!(!broken(&Known::Absent, 2, &record(12), || Some(10)));
        assert!(!broken(&Known::Unreadable, 2, &record(12), || Some(10)));
    }

    #[test]
    fn a_newest_file_without_a_valid_first_record_is_left_to_the_damage_rules() {
        assert!(!broken(&mark(1, true), 2, &[0u8; 64], || Some(10)));
        assert!(!broken(&mark(1, true), 2, &[], || Some(10)));
    }

    #[test]
    fn the_newest_stamp_of_a_run_of_records_is_the_greatest() {
        let mut b = record(5);
        b.extend(record(9));
        b.extend(record(7));
        assert_eq!(newest_stamp(&b), Some(9));
        assert_eq!(newest_stamp(&b[..0]), None);
    }
}
