//! Validate and repair (docs/DESIGN.md sections 8.2 and 8.3).
//!
//! Both walk every data file tolerantly (`validate_walk.rs`): valid records are kept, and where a
//! record (or a batch) fails its checks the walk looks for the next valid record and reports the
//! bytes in between as one damaged range. The newest file follows open's torn-tail and
//! unsynced-tail rules (docs/DESIGN.md section 4.5); anywhere else damage is corruption.
//!
//! `validate` only reads: it takes no lock and changes no byte, name or mtime. `repair` takes the
//! lock and mends what validate reports: it truncates torn tails, moves damaged ranges into a
//! `<id>.corrupt` quarantine file beside the data file (never deleting them) while keeping every
//! valid record before and after, rebuilds the hints it had to drop, settles merge leftovers,
//! rewrites a damaged meta file and removes its own temporary files. On a clean database, and on
//! a second run, it changes nothing.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::foreign::gate;
use crate::format::hint::{HintError, HintView};
use crate::format::meta::{Meta, FORMAT_VERSION};
use crate::format::record::{Header, Record, HEADER_LEN};
use crate::generation::{self, is_our_tmp, Listing, DATA_DIR, DATA_OLD, MERGE_TMP};
use crate::hints::write_hint;
use crate::options::Options;
use crate::recovery::{Loader, Maps, Seen};
use crate::report::{show_key, ProblemKind, Report};
use crate::storage::datafile::map_for_scan;
use crate::storage::fs::{self as dfs, data_name, hint_name, parse_name, LOCK_FILE, META_FILE};
use crate::storage::lock::LockFile;
use crate::watermark::{Known, Tracker};

fn rel(id: u32, ext: &str) -> String {
    format!("{DATA_DIR}/{id:09}.{ext}")
}

/// Reads a database and reports every problem; changes nothing. `Err` only when it cannot
/// read the database at all.
pub fn validate(path: impl AsRef<Path>) -> Result<Report> {
    let root = path.as_ref();
    if !root.is_dir() {
        return Err(Error::InvalidArg(format!("{} is not a database directory", root.display())));
    }
    let mut report = Report::default();
    merge_leftovers(root, &mut report);
    let dir = root.join(DATA_DIR);
    if !dir.is_dir() {
        report.add(ProblemKind::BadMeta, DATA_DIR, 0, 0, "data/ is missing");
        return Ok(report);
    }
    let listing = generation::list(&dir)?;
    if !meta_ok(&dir, !listing.data.is_empty(), &mut report) {
        return Ok(report);
    }
    notes_for_strangers(&listing.unknown, &mut report);
    let mut maps = Maps::default();
    for &id in &listing.data {
        maps.insert(id, map_for_scan(&dir.join(data_name(id)))?);
    }
    let mut loader = Loader::default();
    let known = Known::read(&dir)?;
    let (aside, mut second) = newest_set_aside(&listing.data, &known, &maps);
    for &id in &listing.data {
        let bytes = &maps[&id];
        let w = match (aside, second.take_if(|(s, _)| *s == id)) {
            (Some(newest), _) if newest == id => set_aside_whole(bytes.len() as u64),
            (_, Some((_, walked))) => walked,
            _ => walk(bytes, known.durable_in(&listing.data, id)),
        };
        report_damage(id, &w, &mut report);
        offer_records(id, bytes, &w, &maps, &mut loader);
        report.records += w.records.len() as u64;
        if listing.hints.contains(&id) {
            check_hint(&dir, id, bytes, &w, &mut report);
        }
    }
    for &id in listing.hints.iter().filter(|id| !maps.contains_key(id)) {
        report.add(ProblemKind::StaleHint, rel(id, "hint"), 0, 0, "hint without a data file");
    }
    report.files = listing.data.len() as u64;
    report.live_keys = loader.live_keys(&maps, now_ns());
    Ok(report)
}

/// The newest data file, when open sets it aside whole because the second-newest file lost its
/// unsynced end (docs/DESIGN.md section 4.5, rule 3): open cuts it there, or the stamp link
/// says so (`crate::rotation_link`). `maps` holds both files. Corruption in the second-newest
/// file decides nothing: open refuses it, and repair mends it and then vouches for the files
/// below the newest. Also returns the second-newest file's id and walk, so that validate does
/// not walk it again.
fn newest_set_aside(data: &[u32], known: &Known, maps: &Maps) -> (Option<u32>, Option<(u32, Walk)>) {
    let [.., second, newest] = *data else { return (None, None) };
    let bytes = &maps[&second];
    let w = walk(bytes, known.durable_in(data, second));
    let cut = w.unsynced_tail || w.torn_tail || w.unused_tail.is_some_and(|at| at < bytes.len() as u64);
    // Undamaged: its valid records run from its start.
    let broken = w.damage.is_empty()
        && crate::rotation_link::broken(known, newest, &maps[&newest], || crate::rotation_link::newest_stamp(bytes));
    ((cut || broken).then_some(newest), Some((second, w)))
}

/// A whole file as one unsynced tail: what open sets aside.
fn set_aside_whole(len: u64) -> Walk {
    Walk { damage: vec![(0, len)], unsynced_tail: len > 0, ..Walk::default() }
}

fn merge_leftovers(root: &Path, report: &mut Report) {
    for name in [MERGE_TMP, DATA_OLD] {
        if root.join(name).exists() {
            let what = "left by an interrupted merge; open or repair settles it";
            report.add(ProblemKind::MergeLeftover, format!("{name}/"), 0, 0, what);
        }
    }
}

/// Checks `bitgask.meta`; false when the files cannot be interpreted (newer format).
fn meta_ok(dir: &Path, has_data: bool, report: &mut Report) -> bool {
    let name = format!("{DATA_DIR}/{META_FILE}");
    let bytes = match fs::read(dir.join(META_FILE)) {
        Ok(b) => b,
        Err(e) => {
            if has_data || e.kind() != std::io::ErrorKind::NotFound {
                report.add(ProblemKind::BadMeta, name, 0, 0, format!("cannot read meta: {e}"));
            }
            return true;
        }
    };
    match Meta::parse(&bytes) {
        Ok(m) if m.version > FORMAT_VERSION => {
            let msg = format!(
                "format version {} is newer than this library ({FORMAT_VERSION}); nothing else checked",
                m.version
            );
            report.add(ProblemKind::BadMeta, name, 0, 0, msg);
            false
        }
        Ok(m) if m.version == 0 => {
            report.add(ProblemKind::BadMeta, name, 0, 0, "format version 0 does not exist");
            true
        }
        Ok(_) => true,
        Err(why) => {
            report.add(ProblemKind::BadMeta, name, 0, bytes.len() as u64, why);
            true
        }
    }
}

/// Files in `data/` that are not data, hint or meta: quarantine files and our own temporary
/// files are named as such; anything else is someone else's.
fn notes_for_strangers(unknown: &[String], report: &mut Report) {
    for name in unknown {
        let file = format!("{DATA_DIR}/{name}");
        if parse_name(name).is_some_and(|(_, ext)| ext == "corrupt") {
            report.add(ProblemKind::Quarantine, file, 0, 0, "bytes quarantined by an earlier repair");
        } else if is_our_tmp(name) {
            report.add(ProblemKind::Leftover, file, 0, 0, "temporary file of an interrupted write");
        } else {
            report.add(ProblemKind::UnknownFile, file, 0, 0, "not a bitgask file; left alone");
        }
    }
}

fn report_damage(id: u32, w: &Walk, report: &mut Report) {
    for (i, &(off, len)) in w.damage.iter().enumerate() {
        if w.unsynced_tail {
            report.add(
                ProblemKind::UnsyncedTail,
                rel(id, "data"),
                off,
                len,
                "writes a power loss persisted out of order, or after writes it lost, beyond the durable watermark; open sets them aside",
            );
        } else if w.torn_tail && i == w.damage.len() - 1 {
            report.add(
                ProblemKind::TornTail,
                rel(id, "data"),
                off,
                len,
                "incomplete last record (an interrupted write)",
            );
        } else {
            report.add(ProblemKind::CorruptRecord, rel(id, "data"), off, len, "records fail their checks here");
        }
    }
}

fn offer_records(id: u32, bytes: &[u8], w: &Walk, maps: &Maps, loader: &mut Loader) {
    for &(off, _) in &w.records {
        let r = Record::decode(&bytes[off as usize..]).expect("walked");
        loader.offer(maps, Seen::from_record(id, off, &r));
    }
}

/// A hint must check out and list exactly the last record of each key of its data file.
fn check_hint(dir: &Path, id: u32, data: &[u8], w: &Walk, report: &mut Report) {
    let file = rel(id, "hint");
    let bytes = match map_for_scan(&dir.join(hint_name(id))) {
        Ok(b) => b,
        Err(e) => return report.add(ProblemKind::CorruptHint, file, 0, 0, e.to_string()),
    };
    let view = match HintView::check(&bytes, id, data.len() as u64) {
        Ok(v) => v,
        Err(HintError::Stale(why)) => return report.add(ProblemKind::StaleHint, file, 0, bytes.len() as u64, why),
        Err(HintError::Corrupt(why)) => return report.add(ProblemKind::CorruptHint, file, 0, bytes.len() as u64, why),
    };
    // Per key the newest record (as recovery and the hint writer decide).
    let mut last: HashMap<&[u8], (u64, Header)> = HashMap::new();
    for &(off, _) in &w.records {
        let r = Record::decode(&data[off as usize..]).expect("walked");
        match last.get(r.key) {
            Some((_, h)) if h.ts > r.header.ts => {}
            _ => {
                last.insert(r.key, (off, r.header));
            }
        }
    }
    let agrees = view.len() == last.len()
        && view.entries().all(|e| {
            last.get(e.key).is_some_and(|(off, h)| {
                *off == e.offset as u64
                    && h.record_len() == e.record_len as u64
                    && h.ts == e.ts
                    && h.expires == e.expires
                    && h.flags == e.flags
            })
        });
    if !agrees {
        report.add(ProblemKind::HintMismatch, file, 0, bytes.len() as u64, "entries disagree with the data file");
    }
}

/// Mends what validate reports (see the module docs). Takes the LOCK: `E_LOCKED` while the
/// database is open elsewhere.
pub fn repair(path: impl AsRef<Path>, opts: &Options) -> Result<Report> {
    let root = path.as_ref();
    if !root.is_dir() {
        return Err(Error::InvalidArg(format!("{} is not a database directory", root.display())));
    }
    // Before the LOCK: repair must not rewrite a Go directory's hints or meta.
    gate(root, Duration::from_millis(opts.lock_timeout_ms))?;
    let _lock = LockFile::acquire(&root.join(LOCK_FILE), Duration::from_millis(opts.lock_timeout_ms))?;
    crate::recovery::refuse_newer_format(root)?;
    let mut done = Report { repaired: true, ..Report::default() };
    let before = validate(root)?;
    if before.problems.iter().any(|p| p.kind == ProblemKind::MergeLeftover) {
        generation::settle(root)?;
        done.mended(
            ProblemKind::MergeLeftover,
            format!("{MERGE_TMP}/ {DATA_OLD}/"),
            0,
            0,
            "interrupted merge settled as open would",
        );
    }
    let dir = root.join(DATA_DIR);
    dfs::ensure_dir(&dir)?;
    let listing = generation::list(&dir)?;
    repair_meta(&dir, &before, &mut done)?;
    remove_leftovers(&dir, &listing.unknown, &mut done)?;
    // A keydir snapshot describes the files as they were; repair may change them (section 6.7).
    if crate::snapshot::discard(&dir)? {
        dfs::fsync_dir(&dir)?;
    }
    let newest = listing.data.last().copied();
    let known = Known::read(&dir)?;
    let aside = {
        let mut maps = Maps::default();
        for &id in listing.data.iter().rev().take(2) {
            maps.insert(id, map_for_scan(&dir.join(data_name(id)))?);
        }
        newest_set_aside(&listing.data, &known, &maps).0
    };
    for &id in &listing.data {
        let durable = (Some(id) == newest).then(|| known.durable_below(id));
        repair_file(&dir, id, durable, aside == Some(id), opts, &mut done)?;
    }
    repair_hints(&dir, &generation::list(&dir)?, newest, opts, &mut done)?;
    if !done.problems.is_empty() {
        vouch_after_repair(&dir)?;
    }
    let after = validate(root)?;
    done.files = after.files;
    done.records = after.records;
    done.live_keys = after.live_keys;
    done.problems.extend(after.problems.into_iter().filter(|p| !p.kind.is_note()));
    Ok(done)
}

/// After repair changed something (every file it changed fsynced): a watermark naming the
/// newest file at length 0, durably, when there is a watermark. It vouches for every file below
/// the newest, so the next open checks no stamp link that repair's changes broke (repair judged
/// the link before changing anything, docs/DESIGN.md section 4.5), and it counts no byte of the
/// newest file as durable, so no mark is left past a shortened end.
fn vouch_after_repair(dir: &Path) -> Result<()> {
    let listing = generation::list(dir)?;
    let known = Known::read(dir)?;
    let (Some(&newest), Known::At(_)) = (listing.data.last(), known) else { return Ok(()) };
    let second = listing.data.len().checked_sub(2).map(|i| listing.data[i]);
    Tracker::settle(dir, Some((newest, 0)), second, known).map(drop)
}

fn repair_meta(dir: &Path, before: &Report, done: &mut Report) -> Result<()> {
    let Some(p) = before.problems.iter().find(|p| p.kind == ProblemKind::BadMeta) else { return Ok(()) };
    if p.message.contains("newer than this library") {
        return Err(Error::FormatVersion(p.message.clone()));
    }
    dfs::atomic_write(dir, META_FILE, &Meta::new(now_ns()).encode())?;
    done.mended(
        ProblemKind::BadMeta,
        p.file.clone(),
        0,
        0,
        format!("{}; rewritten for format version {FORMAT_VERSION}", p.message),
    );
    Ok(())
}

fn remove_leftovers(dir: &Path, unknown: &[String], done: &mut Report) -> Result<()> {
    for name in unknown.iter().filter(|n| is_our_tmp(n)) {
        let p = dir.join(name);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
            dfs::remove_if_exists(&p)?;
            done.mended(ProblemKind::Leftover, format!("{DATA_DIR}/{name}"), 0, 0, "temporary file removed");
        }
    }
    Ok(())
}

/// Cuts a torn tail, or rewrites the file without its damaged ranges after quarantining them
/// (an unsynced tail is one such range, running to the end; with `whole`, the whole file).
/// `durable`: the newest file's watermark.
fn repair_file(
    dir: &Path,
    id: u32,
    durable: Option<u64>,
    whole: bool,
    opts: &Options,
    done: &mut Report,
) -> Result<()> {
    let newest = durable.is_some();
    let path = dir.join(data_name(id));
    let bytes = map_for_scan(&path)?;
    let w = if whole { set_aside_whole(bytes.len() as u64) } else { walk(&bytes, durable) };
    if w.damage.is_empty() {
        return Ok(());
    }
    dfs::remove_if_exists(&dir.join(hint_name(id)))?;
    if w.torn_tail {
        let (off, len) = w.damage[0];
        // Read what is readable before the bytes go (the map must not outlive them).
        let lost = readable_key(&bytes[off as usize..(off + len) as usize]).map(show_key);
        drop(bytes);
        let f = dfs::open_nofollow(&path, true)?;
        dfs::truncate(&f, &path, off)?;
        dfs::sync_file(&f, &path)?;
        done.bytes_truncated += len;
        done.mended(ProblemKind::TornTail, rel(id, "data"), off, len, "torn tail truncated");
        if let Some(key) = lost {
            done.mended(
                ProblemKind::LostKey,
                rel(id, "data"),
                off,
                len,
                format!("key {key} lost its incomplete record"),
            );
        }
        return dfs::fsync_dir(dir);
    }
    if w.unsynced_tail {
        let (off, len) = w.damage[0];
        done.mended(ProblemKind::UnsyncedTail, rel(id, "data"), off, len, "unsynced tail set aside, as open would");
    }
    quarantine(dir, id, &bytes, &w, done)?;
    rewrite_without_damage(dir, id, &bytes, &w)?;
    drop(bytes);
    if opts.hint_files && !newest {
        write_hint(dir, id)?;
    }
    Ok(())
}

/// Appends every damaged range to `<id>.corrupt` and reports it, with the key when the damaged
/// record's header and key are still readable.
fn quarantine(dir: &Path, id: u32, bytes: &[u8], w: &Walk, done: &mut Report) -> Result<()> {
    let qpath = dir.join(format!("{id:09}.corrupt"));
    let q = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&qpath)
        .map_err(|e| Error::io("open quarantine", &qpath, e))?;
    let mut q = dfs::Checked::new(q, &qpath);
    for &(off, len) in &w.damage {
        let range = &bytes[off as usize..(off + len) as usize];
        q.write_all(range).map_err(|e| Error::io("write quarantine", &qpath, e))?;
        done.bytes_quarantined += len;
        let msg = format!("moved to {}", format_args!("{DATA_DIR}/{id:09}.corrupt"));
        done.mended(ProblemKind::LostRange, rel(id, "data"), off, len, msg);
        if let Some(key) = readable_key(range) {
            done.mended(
                ProblemKind::LostKey,
                rel(id, "data"),
                off,
                len,
                format!("key {} lost its record here", show_key(key)),
            );
        }
    }
    dfs::sync_file(q.file(), &qpath)?;
    dfs::fsync_dir(dir)
}

/// The key of a damaged record, when its header still parses and the key lies inside the range.
fn readable_key(range: &[u8]) -> Option<&[u8]> {
    let h = Header::parse(range).ok()?;
    range.get(HEADER_LEN..HEADER_LEN + h.key_len as usize)
}

/// Writes the valid records to a new file and renames it over the old one.
fn rewrite_without_damage(dir: &Path, id: u32, bytes: &[u8], w: &Walk) -> Result<()> {
    let name = data_name(id);
    dfs::atomic_write_with(dir, &name, |out| {
        for &(off, len) in &w.kept {
            out.write_all(&bytes[off as usize..(off + len) as usize])?;
        }
        Ok(())
    })
}

/// Drops hints that are stale, corrupt, disagree with their file or have no file, and writes
/// fresh ones for those sealed files.
fn repair_hints(dir: &Path, listing: &Listing, newest: Option<u32>, opts: &Options, done: &mut Report) -> Result<()> {
    let check = validate_hints_only(dir, listing)?;
    for p in check.problems {
        let Some(id) = p.file.strip_prefix("data/").and_then(parse_name).map(|(id, _)| id) else { continue };
        dfs::remove_if_exists(&dir.join(hint_name(id)))?;
        let has_data = dir.join(data_name(id)).exists();
        if has_data && opts.hint_files && Some(id) != newest {
            write_hint(dir, id)?;
        }
        done.mended(
            p.kind,
            p.file,
            p.offset,
            p.length,
            format!("{}; {}", p.message, if has_data { "hint rebuilt" } else { "hint removed" }),
        );
    }
    dfs::fsync_dir(dir)
}

/// The hint problems of the data directory as it is now.
fn validate_hints_only(dir: &Path, listing: &Listing) -> Result<Report> {
    let mut report = Report::default();
    for &id in &listing.hints {
        if !dir.join(data_name(id)).exists() {
            report.add(ProblemKind::StaleHint, rel(id, "hint"), 0, 0, "hint without a data file");
            continue;
        }
        let bytes = map_for_scan(&dir.join(data_name(id)))?;
        let known = Known::read(dir)?;
        let w = walk(&bytes, known.durable_in(&listing.data, id));
        check_hint(dir, id, &bytes, &w, &mut report);
    }
    Ok(report)
}

#[path = "validate_walk.rs"]
mod walk;
// Adoption walks Go files with the same tolerant walk.
pub(crate) use walk::walk;
use walk::Walk;

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
