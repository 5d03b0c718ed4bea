//! Walking a data file batch by batch (docs/DESIGN.md section 2.7): like [`Scan`], but a batch's
//! members are yielded only once its commit record has been read and matches them, and commit
//! records themselves are never yielded. A scan that stops inside a batch reports the batch's
//! first byte as the end of the valid data, so cutting there drops the whole batch.
//!
//! [`Scan`]: crate::storage::scan::Scan

use std::collections::VecDeque;

use crate::format::batch::{Commit, FLAG_COMMIT, FLAG_MEMBER};
use crate::format::record::{Bad, Record};

/// The members read so far of a batch whose commit record has not been seen yet.
struct Open<'a> {
    start: u64,
    members: Vec<(u64, Record<'a>)>,
    bytes: u64,
}

/// Why and where a scan stopped early.
struct Stop {
    /// `(end of the valid data, what is wrong)`, as [`Scan::stopped_at`] gives it.
    ///
    /// [`Scan::stopped_at`]: crate::storage::scan::Scan::stopped_at
    cut: (u64, Bad),
    /// Where to look for valid records after the damage.
    resume: u64,
    /// Only records stamped after this count as valid data after the damage.
    newest_ts: u64,
}

/// Yields `(offset, record)` for every record outside a batch and every member of a committed
/// batch, in file order.
pub struct BatchScan<'a> {
    bytes: &'a [u8],
    pos: u64,
    valid_len: u64,
    newest_ts: u64,
    open: Option<Open<'a>>,
    ready: VecDeque<(u64, Record<'a>)>,
    stop: Option<Stop>,
    batches: u64,
}

impl<'a> BatchScan<'a> {
    pub fn new(bytes: &'a [u8]) -> BatchScan<'a> {
        BatchScan {
            bytes,
            pos: 0,
            valid_len: 0,
            newest_ts: 0,
            open: None,
            ready: VecDeque::new(),
            stop: None,
            batches: 0,
        }
    }

    /// Where the valid data ends and why, when the scan stopped early (for a stop inside a
    /// batch, the batch's first byte); `None` when it reached the end cleanly.
    pub fn stopped_at(&self) -> Option<&(u64, Bad)> {
        self.stop.as_ref().map(|s| &s.cut)
    }

    /// Offset just past the last record yielded or commit record accepted.
    pub fn valid_len(&self) -> u64 {
        self.valid_len
    }

    /// Committed batches read so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Whether the scan stopped inside a batch (members read, no valid commit).
    pub fn stopped_in_batch(&self) -> bool {
        matches!(self.stopped_at(), Some((_, Bad::UnfinishedBatch { .. } | Bad::BatchCommit(_))))
    }

    /// The members read of a batch the scan stopped in before its commit record, if it did.
    pub fn unfinished_batch(&self) -> Option<u32> {
        match self.stopped_at() {
            Some((_, Bad::UnfinishedBatch { members, .. })) => Some(*members),
            _ => None,
        }
    }

    /// After a stop: the offset of a valid record, stamped after everything read before the
    /// damage, that lies after it. Such a record means the damage is not a torn write
    /// (docs/DESIGN.md section 4.5, rule 2): a batch cut off by a crash has nothing after it.
    pub fn later_valid_record(&self) -> Option<u64> {
        let s = self.stop.as_ref()?;
        (s.resume as usize..self.bytes.len()).find_map(|at| match Record::decode(&self.bytes[at..]) {
            Ok(r) if r.header.ts > s.newest_ts => Some(at as u64),
            _ => None,
        })
    }

    fn stop(&mut self, cut: u64, bad: Bad, newest_ts: u64) {
        self.stop = Some(Stop { cut: (cut, bad), resume: self.pos, newest_ts });
    }

    /// Ends the open batch early: everything from its first member on is not valid data.
    fn unfinished(&mut self, why: String) {
        let b = self.open.take().expect("a batch is open");
        let members = b.members.len() as u32;
        self.stop(b.start, Bad::UnfinishedBatch { members, why }, self.newest_ts);
    }

    /// Handles one decoded record; returns it when it can be yielded at once.
    fn take(&mut self, at: u64, r: Record<'a>) -> Option<(u64, Record<'a>)> {
        let flags = r.header.flags;
        if flags & FLAG_MEMBER != 0 {
            let b = self.open.get_or_insert_with(|| Open { start: at, members: Vec::new(), bytes: 0 });
            b.members.push((at, r));
            b.bytes += r.header.record_len();
            self.advance_past(&r, false);
            return None;
        }
        if flags == FLAG_COMMIT {
            self.commit(at, r);
            return None;
        }
        if self.open.is_some() {
            self.unfinished(format!("a record outside the batch at offset {at}"));
            return None;
        }
        self.advance_past(&r, true);
        Some((at, r))
    }

    fn commit(&mut self, at: u64, r: Record<'a>) {
        let wrong = match (Commit::parse(&r), &self.open) {
            (Err(why), _) => Some(why),
            (Ok(_), None) => Some("no batch members before it".into()),
            (Ok(c), Some(b)) if c.members as usize != b.members.len() || c.member_bytes != b.bytes => Some(format!(
                "says {} members in {} bytes, found {} in {}",
                c.members,
                c.member_bytes,
                b.members.len(),
                b.bytes
            )),
            (Ok(_), Some(_)) => None,
        };
        if let Some(why) = wrong {
            // The commit record itself then counts as valid data after the damage.
            let cut = self.open.as_ref().map_or(at, |b| b.start);
            self.stop(cut, Bad::BatchCommit(format!("at offset {at}: {why}")), self.newest_ts);
            return;
        }
        let b = self.open.take().expect("matched above");
        self.ready.extend(b.members);
        self.batches += 1;
        self.advance_past(&r, true);
    }

    fn advance_past(&mut self, r: &Record<'_>, valid: bool) {
        self.pos += r.header.record_len();
        self.newest_ts = self.newest_ts.max(r.header.ts);
        if valid {
            self.valid_len = self.pos;
        }
    }
}

impl<'a> Iterator for BatchScan<'a> {
    type Item = (u64, Record<'a>);
    fn next(&mut self) -> Option<(u64, Record<'a>)> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            if self.stop.is_some() {
                return None;
            }
            if self.pos as usize >= self.bytes.len() {
                if self.open.is_some() {
                    self.unfinished("the file ends".into());
                }
                return None;
            }
            let at = self.pos;
            match Record::decode(&self.bytes[at as usize..]) {
                Ok(r) => {
                    if let Some(out) = self.take(at, r) {
                        return Some(out);
                    }
                }
                Err(bad) if self.open.is_some() => self.unfinished(format!("bad record at offset {at}: {bad}")),
                Err(bad) => self.stop(at, bad, self.newest_ts),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch::committed_batch as batch;
    use crate::format::record::encode;

    fn plain(ts: u64, key: &str) -> Vec<u8> {
        encode(ts, 0, 0, key.as_bytes(), b"value")
    }

    fn keys(b: &[u8]) -> (Vec<String>, BatchScan<'_>) {
        let mut s = BatchScan::new(b);
        let k = s.by_ref().map(|(_, r)| String::from_utf8(r.key.to_vec()).unwrap()).collect();
        (k, s)
    }

    #[test]
    fn committed_members_are_yielded_in_order_and_commits_are_not() {
        let mut b = plain(1, "a");
        b.extend(batch(2, &["b", "c"]));
        b.extend(plain(10, "d"));
        let (k, s) = keys(&b);
        assert_eq!(k, ["a", "b", "c", "d"]);
        assert!(s.stopped_at().is_none());
        assert_eq!((s.valid_len(), s.batches()), (b.len() as u64, 1));
    }

    #[test]
    fn a_batch_cut_at_every_byte_is_wholly_absent_and_a_torn_tail() {
        let head = plain(1, "a");
        let full = batch(2, &["b", "c", "d"]);
        for cut in 0..full.len() {
            let mut b = head.clone();
            b.extend_from_slice(&full[..cut]);
            let (k, s) = keys(&b);
            assert_eq!(k, ["a"], "cut {cut}");
            assert_eq!(s.valid_len(), head.len() as u64, "cut {cut}");
            if cut > 0 {
                assert_eq!(s.stopped_at().unwrap().0, head.len() as u64, "cut {cut}");
            }
            assert_eq!(s.later_valid_record(), None, "cut {cut}");
        }
    }

    #[test]
    fn members_without_a_commit_followed_by_a_record_are_corruption() {
        let mut b = plain(1, "a");
        let bat = batch(2, &["b", "c"]);
        b.extend_from_slice(&bat[..bat.len() - crate::format::batch::COMMIT_LEN]);
        let later = b.len() as u64;
        b.extend(plain(10, "d"));
        let (k, s) = keys(&b);
        assert_eq!(k, ["a"]);
        assert!(s.stopped_in_batch());
        assert_eq!(s.later_valid_record(), Some(later));
    }

    #[test]
    fn a_commit_that_does_not_match_its_members_is_corruption() {
        let mut b = plain(1, "a");
        b.extend(encode(2, 0, FLAG_MEMBER, b"b", b"value"));
        let mut c = Commit { members: 2, member_bytes: 99 }.encode();
        c.stamp(3);
        let commit_at = b.len() as u64;
        b.extend(c.buf);
        let (k, s) = keys(&b);
        assert_eq!(k, ["a"]);
        assert!(matches!(s.stopped_at(), Some((_, Bad::BatchCommit(_)))));
        assert_eq!(s.later_valid_record(), Some(commit_at));
    }

    #[test]
    fn a_commit_without_members_is_corruption() {
        let mut c = Commit { members: 1, member_bytes: 10 }.encode();
        c.stamp(3);
        let (k, s) = keys(&c.buf);
        assert!(k.is_empty());
        assert_eq!(s.later_valid_record(), Some(0));
    }
}
