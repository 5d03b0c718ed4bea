//! Tail-first reclaim of one sealed file (docs/DESIGN.md section 7.11): for a full disk with no
//! room for even one file's merge.
//!
//! A merge of one file needs room for all of its live records before its input goes. This needs
//! room for the live records of a *chunk*: the records from some record boundary to the end of
//! the file. The chunk's surviving records (the live ones, and the absence markers a selective
//! merge keeps, section 7.3) are appended to the active file as they are (same stamps; a batch
//! member as a plain record), fdatasynced, and the keydir pointed at them; then the file is cut
//! where the chunk began, which frees the whole chunk. The next chunk has that room too, so
//! chunks grow as they go; an emptied file is removed.
//!
//! A crash anywhere leaves each record in the file, in its copy, or in both with one stamp (open
//! keeps either, they are the same), and the file cut at a record boundary outside any batch: a
//! state open loads as it is. After a crash between the copies and the cut, the file's absence
//! markers have copies in a later file; when a chunk does not fit, markers a later record
//! shadows are dropped too, so such a file is cut again with no room.

use std::collections::{HashMap, HashSet};

use crate::clock::now_ns;
use crate::engine::{Copy, Engine, Maintenance};
use crate::error::{Error, Result};
use crate::format::batch::{as_plain, FLAG_MEMBER};
use crate::format::record::Record;
use crate::keydir::Loc;
use crate::killpoint;
use crate::storage::batch_scan::BatchScan;

/// Room kept free besides the copies: a new active file if the copies make it rotate, and the
/// file system's rounding up to whole blocks.
pub(crate) const SLACK: u64 = 16 << 10;

/// The records of a file and where the chunks may begin.
struct Layout {
    /// (offset, length) of every valid record, in file order (commit records left out).
    records: Vec<(u64, u64)>,
    /// Index into `records` of each unit's first record: a record outside any batch, or a whole
    /// committed batch. A cut at a unit's start never splits a batch.
    units: Vec<usize>,
}

impl Layout {
    fn read(bytes: &[u8], what: &str) -> Result<Layout> {
        let (mut records, mut units) = (Vec::new(), Vec::new());
        let (mut prev_end, mut prev_member) = (u64::MAX, false);
        let mut scan = BatchScan::new(bytes);
        for (off, rec) in scan.by_ref() {
            let len = rec.header.record_len();
            let member = rec.header.flags & FLAG_MEMBER != 0;
            // A member right after a member (no commit record between) is in the same batch.
            if !(member && prev_member && prev_end == off) {
                units.push(records.len());
            }
            records.push((off, len));
            (prev_end, prev_member) = (off + len, member);
        }
        if let Some((at, bad)) = scan.stopped_at() {
            return Err(Error::Corrupt(format!("{what} at offset {at}: {bad} (not reclaimed; run repair)")));
        }
        Ok(Layout { records, units })
    }

    /// The records of units `from..to`.
    fn span(&self, from: usize, to: usize) -> std::ops::Range<usize> {
        self.units[from]..self.units.get(to).copied().unwrap_or(self.records.len())
    }

    fn unit_start(&self, u: usize) -> u64 {
        self.records[self.units[u]].0
    }
}

/// What happens to one record: kept with the keydir entry that points at it, kept as an absence
/// marker, or dropped.
enum Fate {
    Live(Loc),
    Marker,
    Dropped,
}

/// For keys of absence markers, the greatest stamp a durable record of the key has in a file
/// above the one reclaimed (`Maintenance::later_stamps`); empty until a chunk does not fit.
type Shadows = HashMap<Vec<u8>, u64>;

/// The selective merge's rule (section 7.3): live records stay; a tombstone or expired record
/// stays while the keydir has no entry for its key (it may shadow an older version elsewhere),
/// unless a later file holds a record of the key with a stamp at least its own, which shadows
/// all it shadows (a copy of it, left by a crash before its chunk was cut, is such a record).
fn fate(e: &Engine, id: u32, off: u64, rec: &Record<'_>, now: u64, shadows: &Shadows) -> Fate {
    let h = rec.header;
    let shadowed = || shadows.get(rec.key).is_some_and(|&ts| ts >= h.ts);
    match e.lookup(rec.key) {
        Some(l) if l.file_id == id && l.offset as u64 == off => Fate::Live(l),
        None if (h.is_tombstone() || h.is_expired(now)) && !shadowed() => Fate::Marker,
        _ => Fate::Dropped,
    }
}

fn decode<'a>(bytes: &'a [u8], off: u64) -> Result<Record<'a>> {
    Record::decode(&bytes[off as usize..]).map_err(|bad| Error::Corrupt(format!("record at {off}: {bad}")))
}

/// Reclaims sealed file `id` from its tail; returns the bytes freed (0: nothing in it could be
/// dropped, and it is remembered as irreducible). `E_NO_SPACE` when not even the last unit's
/// surviving records fit in the free space.
pub(crate) fn reclaim(e: &Engine, m: &Maintenance<'_>, id: u32) -> Result<u64> {
    reclaim_in_chunks_of(e, m, id, e.opts().max_file_size)
}

/// [`reclaim`] with chunks whose surviving records take at most `cap` bytes (tests use small
/// ones, to cut a file many times).
pub(crate) fn reclaim_in_chunks_of(e: &Engine, m: &Maintenance<'_>, id: u32, cap: u64) -> Result<u64> {
    let (layout, size) = {
        let file = e.file(id)?;
        let bytes = file.mapped().ok_or_else(|| Error::Corrupt(format!("file {id} is not sealed")))?;
        (Layout::read(bytes, &file.path.display().to_string())?, bytes.len() as u64)
    };
    let mut shadows = Shadows::new();
    if droppable(e, id, &layout)? == 0 {
        m.mark_irreducible(&m.live_bytes(&[id]));
        return Ok(0);
    }
    m.drop_hint(id)?;
    let (mut end, mut appended, mut retried, mut looked) = (layout.units.len(), 0u64, false, false);
    while end > 0 {
        if e.is_closing() {
            return Err(Error::Closed);
        }
        let budget = e.space().free().saturating_sub(SLACK).min(cap);
        let (first, buf, copies) = chunk(e, id, &layout, end, budget, &shadows)?;
        if first == end {
            if looked {
                return Err(no_room(e, id, budget));
            }
            // Before giving up: the markers a later file already shadows need no room.
            looked = true;
            shadows = m.later_stamps(id, &marker_keys(e, id, &layout, end)?)?;
            continue;
        }
        killpoint::hit("tail-chosen");
        if !buf.is_empty() {
            match m.append_copies(&buf, &copies) {
                // The reserve was given back just now: once more, with its room.
                Err(err) if err.is_no_space() && !retried => {
                    retried = true;
                    continue;
                }
                other => other?,
            }
            appended += buf.len() as u64;
        }
        m.shorten(id, layout.unit_start(first))?;
        end = first;
    }
    m.remove_emptied(id)?;
    Ok(size.saturating_sub(appended))
}

fn no_room(e: &Engine, id: u32, budget: u64) -> Error {
    Error::NoSpace {
        context: format!(
            "{}: the surviving records at the end of data file {id} need more than the {budget} bytes free",
            e.root().display()
        ),
        source: std::io::Error::from_raw_os_error(libc::ENOSPC),
    }
}

/// The keys of the absence markers among the records of units `..end`.
fn marker_keys(e: &Engine, id: u32, layout: &Layout, end: usize) -> Result<HashSet<Vec<u8>>> {
    let file = e.file(id)?;
    let bytes = file.mapped().unwrap_or(&[]);
    let now = now_ns();
    let mut keys = HashSet::new();
    for &(off, _) in &layout.records[layout.span(0, end)] {
        let rec = decode(bytes, off)?;
        if matches!(fate(e, id, off, &rec, now, &Shadows::new()), Fate::Marker) {
            keys.insert(rec.key.to_vec());
        }
    }
    Ok(keys)
}

/// Bytes of the file's records that the reclaim would drop now.
fn droppable(e: &Engine, id: u32, layout: &Layout) -> Result<u64> {
    let file = e.file(id)?;
    let bytes = file.mapped().unwrap_or(&[]);
    let now = now_ns();
    let mut n = 0;
    for &(off, len) in &layout.records {
        if matches!(fate(e, id, off, &decode(bytes, off)?, now, &Shadows::new()), Fate::Dropped) {
            n += len;
        }
    }
    Ok(n)
}

/// The next chunk below unit `end`: as many units as end there whose surviving records fit in
/// `budget` (at least one, or none at all when the last does not fit). Returns its first unit,
/// the surviving records as they will be appended, and what each copy replaces.
fn chunk(
    e: &Engine,
    id: u32,
    layout: &Layout,
    end: usize,
    budget: u64,
    shadows: &Shadows,
) -> Result<(usize, Vec<u8>, Vec<Copy>)> {
    let file = e.file(id)?;
    let bytes = file.mapped().unwrap_or(&[]);
    let now = now_ns();
    // Walking back from the end, the surviving records of each unit (file order within it).
    let mut kept: Vec<Vec<(u64, u64, Option<Loc>)>> = Vec::new();
    let (mut total, mut first) = (0u64, end);
    while first > 0 {
        let mut unit = Vec::new();
        let mut bytes_kept = 0;
        for r in layout.span(first - 1, first) {
            let (off, len) = layout.records[r];
            let old = match fate(e, id, off, &decode(bytes, off)?, now, shadows) {
                Fate::Live(l) => Some(l),
                Fate::Marker => None,
                Fate::Dropped => continue,
            };
            unit.push((off, len, old));
            bytes_kept += len;
        }
        if total + bytes_kept > budget {
            break;
        }
        total += bytes_kept;
        kept.push(unit);
        first -= 1;
    }
    let mut buf = Vec::with_capacity(total as usize);
    let mut copies = Vec::new();
    for (off, len, old) in kept.into_iter().rev().flatten() {
        copies.push(Copy { at: buf.len() as u32, old });
        buf.extend_from_slice(&as_plain(&bytes[off as usize..(off + len) as usize]));
    }
    Ok((first, buf, copies))
}

#[cfg(test)]
#[path = "reclaim_tail_tests.rs"]
mod tests;
