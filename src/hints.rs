//! Building and writing hint files from sealed data files.

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
    let path = dir.join(data_name(id));
    let bytes = map_for_scan(&path)?;
    let mut records: Vec<(&[u8], u64, u32)> = Vec::new();
    let mut scan = BatchScan::new(&bytes);
    records.extend(scan.by_ref().map(|(offset, r)| (r.key, r.header.ts, offset as u32)));
    if let Some((at, bad)) = scan.stopped_at() {
        return Err(Error::corrupt_at(&path, *at, bad));
    }
    // Each key's newest record by (stamp, offset), found by hashing and kept in file order:
    // sorting every record by key compared key bytes log n times each, about twice the time.
    let mut newest: HashMap<&[u8], (u64, u32, usize), foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(records.len(), Default::default());
    for (i, &(key, ts, offset)) in records.iter().enumerate() {
        let rec = (ts, offset, i);
        newest.entry(key).and_modify(|e| *e = (*e).max(rec)).or_insert(rec);
    }
    let mut keep = vec![false; records.len()];
    for (_, (_, _, i)) in newest {
        keep[i] = true;
    }
    let last = records.iter().zip(&keep).filter(|(_, &k)| k).map(|(r, _)| *r);
    atomic_write_with(dir, &hint_name(id), |w| {
        let mut b = HintBuilder::new(w, id, bytes.len() as u64)?;
        for (key, _, offset) in last {
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
    })
}
