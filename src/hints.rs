//! Building and writing hint files from sealed data files.

use std::collections::HashMap;
use std::path::Path;

use foldhash::fast::RandomState;

use crate::error::{Error, Result};
use crate::format::hint::{HintBuilder, HintEntry};
use crate::storage::datafile::map_for_scan;
use crate::storage::fs::{atomic_write, data_name, hint_name};
use crate::storage::scan::Scan;

/// Scans data file `id` (checking every CRC) and writes its hint: the last record of each key,
/// tombstones included. A file with a bad record gets no hint; the error says where.
pub fn write_hint(dir: &Path, id: u32) -> Result<()> {
    let path = dir.join(data_name(id));
    let bytes = map_for_scan(&path)?;
    let mut last: HashMap<&[u8], HintEntry<'_>, RandomState> = HashMap::default();
    let mut scan = Scan::new(&bytes);
    for (offset, r) in scan.by_ref() {
        let e = HintEntry {
            ts: r.header.ts,
            expires: r.header.expires,
            offset: offset as u32,
            record_len: r.header.record_len() as u32,
            flags: r.header.flags,
            key: r.key,
        };
        last.insert(r.key, e);
    }
    if let Some((at, bad)) = scan.stopped_at() {
        return Err(Error::corrupt_at(&path, *at, bad));
    }
    let mut entries: Vec<_> = last.into_values().collect();
    entries.sort_unstable_by_key(|e| e.offset);
    let mut b = HintBuilder::new(id, bytes.len() as u64);
    for e in &entries {
        b.push(e);
    }
    atomic_write(dir, &hint_name(id), &b.finish())
}
