//! Building and writing hint files from sealed data files.

use std::path::Path;

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
/// sorted to find each key's newest record, and the hint streamed to disk.
pub fn write_hint(dir: &Path, id: u32) -> Result<()> {
    let path = dir.join(data_name(id));
    let bytes = map_for_scan(&path)?;
    let mut records: Vec<(&[u8], u64, u32)> = Vec::new();
    let mut scan = BatchScan::new(&bytes);
    records.extend(scan.by_ref().map(|(offset, r)| (r.key, r.header.ts, offset as u32)));
    if let Some((at, bad)) = scan.stopped_at() {
        return Err(Error::corrupt_at(&path, *at, bad));
    }
    // Keep the newest record of each key, then restore file order.
    records.sort_unstable();
    let mut last: Vec<(&[u8], u64, u32)> = Vec::with_capacity(records.len());
    for r in records {
        match last.last_mut() {
            Some(prev) if prev.0 == r.0 => *prev = r,
            _ => last.push(r),
        }
    }
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
