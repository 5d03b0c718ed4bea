//! Walking the records of a data file, and the torn-tail rule of docs/DESIGN.md section 4.5.

use crate::format::record::{Bad, Record};

/// Yields `(offset, record)` for each valid record from the start of `bytes`; stops at the end
/// or at the first bad record, which is then available from [`Scan::stopped_at`].
pub struct Scan<'a> {
    bytes: &'a [u8],
    pos: u64,
    bad: Option<(u64, Bad)>,
}

impl<'a> Scan<'a> {
    pub fn new(bytes: &'a [u8]) -> Scan<'a> {
        Scan { bytes, pos: 0, bad: None }
    }

    /// Where the scan stopped early and why; `None` when it reached the end cleanly.
    pub fn stopped_at(&self) -> Option<&(u64, Bad)> {
        self.bad.as_ref()
    }

    /// Offset just past the last valid record seen.
    pub fn valid_len(&self) -> u64 {
        self.pos
    }
}

impl<'a> Iterator for Scan<'a> {
    type Item = (u64, Record<'a>);
    fn next(&mut self) -> Option<(u64, Record<'a>)> {
        if self.bad.is_some() || self.pos as usize >= self.bytes.len() {
            return None;
        }
        match Record::decode(&self.bytes[self.pos as usize..]) {
            Ok(r) => {
                let at = self.pos;
                self.pos += r.header.record_len();
                Some((at, r))
            }
            Err(bad) => {
                self.bad = Some((self.pos, bad));
                None
            }
        }
    }
}

/// Whether every byte from `at` to the end of `bytes` is zero (and there is at least one): the
/// unused, preallocated tail of the file being appended (docs/DESIGN.md section 4.5), which ends
/// the file's records like the end of the file does.
pub fn zero_tail(bytes: &[u8], at: u64) -> bool {
    match bytes.get(at as usize..) {
        // Chunks of 64 bytes OR-ed together vectorize; a byte-by-byte early exit does not.
        Some(t) if !t.is_empty() => t.chunks(64).all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0),
        _ => false,
    }
}

/// After a bad record at `bad_at` in the file being appended: is there a valid record later on?
/// If so the damage is corruption, not a torn write. Only records stamped after `last_ts` (the
/// newest valid record before the damage) count, because append order is stamp order; this
/// keeps a record that happens to sit inside a torn value from being mistaken for live data.
pub fn valid_record_after(bytes: &[u8], bad_at: u64, last_ts: u64) -> Option<u64> {
    let start = bad_at as usize + 1;
    (start..bytes.len()).find_map(|at| match Record::decode(&bytes[at..]) {
        Ok(r) if r.header.ts > last_ts => Some(at as u64),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::encode;

    fn log(n: u64) -> Vec<u8> {
        (1..=n).flat_map(|i| encode(i, 0, 0, format!("k{i}").as_bytes(), b"value")).collect()
    }

    #[test]
    fn scan_yields_every_record_then_stops_cleanly() {
        let b = log(3);
        let mut s = Scan::new(&b);
        assert_eq!(s.by_ref().count(), 3);
        assert!(s.stopped_at().is_none());
        assert_eq!(s.valid_len(), b.len() as u64);
    }

    #[test]
    fn a_cut_anywhere_in_the_last_record_is_a_torn_tail() {
        let b = log(3);
        let last = encode(4, 0, 0, b"k4", b"value");
        for cut in 1..last.len() {
            let mut t = b.clone();
            t.extend_from_slice(&last[..cut]);
            let mut s = Scan::new(&t);
            assert_eq!(s.by_ref().count(), 3);
            let (at, _) = s.stopped_at().unwrap();
            assert_eq!(*at, b.len() as u64);
            assert_eq!(valid_record_after(&t, *at, 3), None, "cut {cut}");
        }
    }

    #[test]
    fn zeros_to_the_end_after_a_record_boundary_are_a_zero_tail() {
        let mut b = log(2);
        let end = b.len() as u64;
        assert!(!zero_tail(&b, end), "nothing after the end is no tail");
        b.resize(b.len() + 4096 + 3, 0);
        assert!(zero_tail(&b, end));
        assert!(!zero_tail(&b, end - 1), "the last record's bytes are not zeros");
        b[end as usize + 4000] = 1;
        assert!(!zero_tail(&b, end), "one byte set anywhere in it");
    }

    #[test]
    fn damage_followed_by_valid_records_is_corruption() {
        let mut b = log(3);
        let second = encode(1, 0, 0, b"k1", b"value").len();
        b[second + 35] ^= 0xff;
        let mut s = Scan::new(&b);
        assert_eq!(s.by_ref().count(), 1);
        let (at, _) = s.stopped_at().unwrap();
        assert_eq!(valid_record_after(&b, *at, 1), Some(2 * second as u64));
    }
}
