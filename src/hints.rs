//! Building and writing hint files from sealed data files.

use std::cell::Cell;
use std::io::ErrorKind;
use std::path::Path;

use hashbrown::HashMap;

use crate::error::{Error, Result};
use crate::format::hint::{HintBuilder, HintEntry};
use crate::format::record::Header;
use crate::storage::batch_scan::BatchScan;
use crate::storage::datafile::map_for_scan;
use crate::storage::fs::{atomic_write_with, data_name, hint_name};

/// Scans data file `id` (checking every CRC) and writes its hint: the newest record of each key
/// (highest sequence stamp; the later one on a tie, as recovery decides), tombstones included.
/// Records of a key are usually in stamp order within a file, but a file need not be, and a
/// hint must never pick a different record than a scan would. Members of committed batches are
/// entries like any other record; commit records are not. A file with a bad record (or an
/// unfinished batch) gets no hint; the error says where.
///
/// Memory stays small: one (key slice, stamp, offset) per record borrowed from the mapped file,
/// a hash map from each key to its newest record, and the hint streamed to disk.
pub fn write_hint(dir: &Path, id: u32) -> Result<()> {
    write_hint_unless(dir, id, || false).map(|_| ())
}

/// Records between two looks at whether a hint is still wanted (the background thread's look is
/// one atomic load): a hint given up stops within this many records of any of its three passes.
const LOOK_EVERY: usize = 4096;

/// [`write_hint`], given up as soon as `unwanted()` says so (asked every [`LOOK_EVERY`] records):
/// then nothing is left behind and it returns `Ok(false)`. This is how the background thread's
/// hint gives way to a full merge that will remove its file: on two cores a hint written beside
/// the merge's two copy threads took a sixth of the merge's CPU.
pub fn write_hint_unless(dir: &Path, id: u32, unwanted: impl Fn() -> bool) -> Result<bool> {
    let path = dir.join(data_name(id));
    let bytes = map_for_scan(&path)?;
    let given_up = |i: usize| i % LOOK_EVERY == LOOK_EVERY - 1 && unwanted();
    let mut records: Vec<(&[u8], u64, u32)> = Vec::new();
    let mut scan = BatchScan::new(&bytes);
    for (i, (offset, r)) in scan.by_ref().enumerate() {
        if given_up(i) {
            return Ok(false);
        }
        records.push((r.key, r.header.ts, offset as u32));
    }
    if let Some((at, bad)) = scan.stopped_at() {
        return Err(Error::corrupt_at(&path, *at, bad));
    }
    // Each key's newest record by (stamp, offset), found by hashing and kept in file order:
    // sorting every record by key compared key bytes log n times each, about twice the time.
    let mut newest: HashMap<&[u8], (u64, u32, usize), foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(records.len(), Default::default());
    for (i, &(key, ts, offset)) in records.iter().enumerate() {
        if given_up(i) {
            return Ok(false);
        }
        let rec = (ts, offset, i);
        newest.entry(key).and_modify(|e| *e = (*e).max(rec)).or_insert(rec);
    }
    let mut keep = vec![false; records.len()];
    for (_, (_, _, i)) in newest {
        keep[i] = true;
    }
    let last = records.iter().zip(&keep).filter(|(_, &k)| k).map(|(r, _)| *r);
    let abandoned = Cell::new(false);
    let written = atomic_write_with(dir, &hint_name(id), |w| {
        let mut b = HintBuilder::new(w, id, bytes.len() as u64)?;
        for (n, (key, _, offset)) in last.enumerate() {
            if given_up(n) {
                // atomic_write_with removes what was written.
                abandoned.set(true);
                return Err(std::io::Error::from(ErrorKind::Interrupted));
            }
            let h = Header::parse(&bytes[offset as usize..]).expect("scanned above");
            b.push(&HintEntry {
                ts: h.ts,
                expires: h.expires,
                offset,
                record_len: h.record_len() as u32,
                flags: h.flags,
                key,
            })?;
        }
        b.finish()?;
        // Written, neither synced nor renamed: a crash here leaves `<id>.hint.tmp` beside no hint.
        crate::killpoint::hit("hint-tmp-written");
        Ok(())
    });
    match written {
        Err(_) if abandoned.get() => Ok(false),
        w => w.map(|()| true),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::format::record::encode;
    use crate::testutil::TempDir;

    /// A data file of `n` records of distinct keys in `dir`, as id 1.
    fn data_file(dir: &Path, n: usize) {
        let records: Vec<Vec<u8>> =
            (0..n).map(|i| encode(i as u64 + 1, 0, 0, format!("k{i}").as_bytes(), b"v")).collect();
        fs::write(dir.join(data_name(1)), records.concat()).unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_hint_still_wanted_is_written_as_write_hint_writes_it() {
        let dir = TempDir::new("hints");
        data_file(dir.path(), 3 * LOOK_EVERY);
        write_hint(dir.path(), 1).unwrap();
        let whole = fs::read(dir.path().join(hint_name(1))).unwrap();
        fs::remove_file(dir.path().join(hint_name(1))).unwrap();
        assert!(write_hint_unless(dir.path(), 1, || false).unwrap());
        assert_eq!(fs::read(dir.path().join(hint_name(1))).unwrap(), whole);
    }

    /// Unwanted from the `n`th look on: in the scan, the newest-record pass, or the writing.
    #[test]
    fn a_hint_given_up_at_any_look_leaves_nothing_behind() {
        let dir = TempDir::new("hints");
        data_file(dir.path(), 3 * LOOK_EVERY);
        let before = names(dir.path());
        // Three looks in each of the three passes (every record is live).
        for n in 1..=9 {
            let looks = Cell::new(0);
            let unwanted = || {
                looks.set(looks.get() + 1);
                looks.get() >= n
            };
            assert!(!write_hint_unless(dir.path(), 1, unwanted).unwrap(), "look {n}");
            assert_eq!(looks.get(), n, "it stops at the first look that says so");
            assert_eq!(names(dir.path()), before, "look {n}");
        }
        // Never unwanted: nine looks, so each one above came before the hint was in place.
        let looks = Cell::new(0);
        assert!(write_hint_unless(dir.path(), 1, || {
            looks.set(looks.get() + 1);
            false
        })
        .unwrap());
        assert_eq!(looks.get(), 9);
    }
}
