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
/// hashed to find each key's newest record, and the hint streamed to disk.
pub fn write_hint(dir: &Path, id: u32) -> Result<()> {
    let path = dir.join(data_name(id));
    let bytes = map_for_scan(&path)?;
    // Each key's newest record by (stamp, offset), found by hashing: sorting every record by key
    // compared key bytes log n times each, and took a core's fifth under a write load.
    let mut newest: HashMap<&[u8], (u64, u32), foldhash::fast::RandomState> = HashMap::default();
    let mut scan = BatchScan::new(&bytes);
    for (offset, r) in scan.by_ref() {
        let rec = (r.header.ts, offset as u32);
        newest.entry(r.key).and_modify(|e| *e = (*e).max(rec)).or_insert(rec);
    }
    if let Some((at, bad)) = scan.stopped_at() {
        return Err(Error::corrupt_at(&path, *at, bad));
    }
    // In file order.
    let mut last: Vec<(&[u8], u64, u32)> = newest.into_iter().map(|(key, (ts, offset))| (key, ts, offset)).collect();
    last.sort_unstable_by_key(|r| r.2);
    atomic_write_with(dir, &hint_name(id), |w| {
        let mut b = HintBuilder::new(w, id, bytes.len() as u64)?;
        for &(key, _, offset) in &last {
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
        b.finish().map(drop)
    })
}
