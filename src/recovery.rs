//! Open-time recovery (docs/DESIGN.md section 4): load every data file in id order, from its hint
//! when the hint checks out and by a CRC-checked scan otherwise, keep the newest record of each
//! key by sequence stamp, cut a torn tail off the file being appended, set aside the unsynced
//! tail a power loss left in it (judged by the durable watermark), and refuse corruption.
//!
//! While loading, tombstones and expired records stay in the keydir: a merge can leave an older
//! version of a key in a higher-numbered file than the tombstone that deleted it, and only the
//! stamp comparison against the tombstone keeps that version dead. They are purged at the end.

use std::path::Path;
use std::sync::Arc;

use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::hint::HintView;
use crate::format::meta::{Meta, FORMAT_VERSION};
use crate::format::record::expired;
use crate::generation;
use crate::idmap::IdMap;
use crate::index::Index;
use crate::keydir::{Keydir, Loc};
use crate::loader::check_hints;
use crate::loader::header_of;
pub(crate) use crate::loader::{Loader, Maps, Seen};
use crate::options::Options;
use crate::quarantine;
use crate::rotation_link;
use crate::snapshot;
use crate::storage::batch_scan::BatchScan;
use crate::storage::datafile::map_for_scan;
use crate::storage::datafile::{ActiveFile, DataFile};
use crate::storage::fs::{self, atomic_write, data_name, hint_name, META_FILE};
use crate::storage::scan::zero_tail;
use crate::watermark::{Known, Tracker};

/// What open found and did; available from `Db::open_report`.
#[derive(Debug, Default, Clone)]
pub struct OpenReport {
    pub files: usize,
    pub files_from_hints: usize,
    pub records_scanned: u64,
    /// Hints that were present but not used, with the reason.
    pub hints_ignored: Vec<String>,
    /// Torn tails cut off: (file, offset, bytes removed).
    pub torn_tails: Vec<(String, u64, u64)>,
    /// Of those, the ones that began with an uncommitted batch: (file, offset, members dropped).
    pub torn_batches: Vec<(String, u64, u32)>,
    /// Unsynced tails set aside after a power loss (docs/DESIGN.md section 4.5).
    pub quarantined: Vec<Quarantined>,
    /// The unused preallocated tail (zeros from the end of the last record to the end of the
    /// file) trimmed off the newest file after a crash: (file, offset, bytes removed). Not
    /// damage: nothing was ever written there (docs/DESIGN.md section 4.5).
    pub unused_tails: Vec<(String, u64, u64)>,
    pub unknown_files: Vec<String>,
    /// The keydir came from the keydir snapshot of the last clean close
    /// (docs/DESIGN.md section 6.7) instead of hints and scans.
    pub snapshot_used: bool,
    /// A keydir snapshot was present but not used, and why (open loaded without it).
    pub snapshot_ignored: Option<String>,
}

/// Bytes open cut off the newest data file and kept in its quarantine file: damage after the
/// durable watermark with valid records after it, which only a power loss that persisted
/// unsynced writes out of order leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// The data file, e.g. `000000003.data`.
    pub file: String,
    /// Where the damage began; the file now ends here.
    pub offset: u64,
    /// Bytes moved: from `offset` to the old end of the file.
    pub length: u64,
    /// The quarantine file they were appended to, e.g. `000000003.corrupt`.
    pub into: String,
    /// Where in the quarantine file they begin.
    pub at: u64,
}

pub(crate) struct Recovered {
    pub keys: Keydir,
    /// Live record bytes per file.
    pub live: IdMap<u64>,
    /// Valid bytes per file.
    pub sizes: IdMap<u64>,
    pub max_ts: u64,
    pub max_id: u32,
    /// Files loaded by scanning (no usable hint): candidates for a fresh hint.
    pub unhinted: Vec<u32>,
    pub report: OpenReport,
    /// What the watermark file said when open began.
    pub known: Known,
    /// The watermark, settled already (while a keydir snapshot loaded; see [`settle_beside`]).
    pub settled: Option<Tracker>,
}

/// Everything open (and reopen) takes from disk.
pub(crate) struct Loaded {
    pub index: Index,
    pub files: IdMap<Arc<DataFile>>,
    pub active: Option<ActiveFile>,
    pub next_id: u32,
    pub max_ts: u64,
    /// Sealed files without a usable hint.
    pub unhinted: Vec<u32>,
    pub report: OpenReport,
    /// The durable watermark, settled at the newest file's valid length.
    pub watermark: Tracker,
}

/// Steps 2 to 6 of docs/DESIGN.md section 4 (the caller holds the LOCK): refuse a newer format,
/// settle an interrupted merge, check the meta file, load every data file, and pick the file to
/// append to. The keydir's hash seed is `seed` (a reload keeps its handle's), or else the keydir
/// snapshot's or a new random one.
pub(crate) fn load(root: &Path, opts: &Options, seed: Option<u64>) -> Result<Loaded> {
    refuse_newer_format(root)?;
    generation::settle(root)?;
    let dir = generation::data_dir(root);
    fs::ensure_dir(&dir)?;
    check_meta(&dir)?;
    let mut rec = recover(&dir, opts, seed)?;
    let watermark = match rec.settled.take() {
        Some(w) => w,
        None => {
            let newest = (rec.max_id > 0).then(|| (rec.max_id, rec.sizes[&rec.max_id]));
            let second = rec.sizes.keys().copied().filter(|&id| id < rec.max_id).max();
            let w = Tracker::settle(&dir, newest, second, rec.known)?;
            retire(&dir, newest, opts.max_file_size)?;
            w
        }
    };
    let mut active = None;
    if rec.max_id > 0 && rec.sizes[&rec.max_id] < opts.max_file_size {
        let reopened = ActiveFile::reopen(&dir, rec.max_id, rec.sizes[&rec.max_id])?;
        active = Some(reopened.limited(opts.max_file_size));
    }
    let mut files = IdMap::default();
    for &id in rec.sizes.keys() {
        let f = match &active {
            Some(a) if a.id == id => DataFile::active(a),
            _ => DataFile::sealed(&dir, id)?,
        };
        files.insert(id, Arc::new(f));
    }
    let next_id = rec.max_id.checked_add(1).ok_or_else(|| Error::InvalidArg("data file ids exhausted".into()))?;
    let active_id = active.as_ref().map(|a| a.id);
    Ok(Loaded {
        index: Index { keys: rec.keys, live: rec.live, sizes: rec.sizes },
        files,
        active,
        next_id,
        max_ts: rec.max_ts,
        unhinted: rec.unhinted.into_iter().filter(|&id| Some(id) != active_id).collect(),
        report: rec.report,
        watermark,
    })
}

/// The steps of open that must precede any write, for the newest data file `newest` (id and
/// valid length): the keydir snapshot retired (section 6.7), the newest file's hint removed when
/// it will be appended to (a hint may only describe a sealed file), and `data/` fsynced if
/// either changed it.
fn retire(dir: &Path, newest: Option<(u32, u64)>, max_file_size: u64) -> Result<()> {
    let mut removed = snapshot::retire(dir)?;
    if let Some((id, _)) = newest.filter(|&(_, len)| len < max_file_size) {
        removed |= fs::remove_if_exists(&dir.join(hint_name(id)))?;
    }
    if removed {
        fs::fsync_dir(dir)?;
    }
    Ok(())
}

/// What open does beside the loading of a keydir snapshot whose file list matched: the
/// watermark settled (or resumed: the files are as a clean close left them) and the snapshot
/// retired, on a thread of their own, so their fsyncs overlap the loading instead of following
/// it. Both only need the file list, which the snapshot just showed to be the directory's, and
/// both are what open does after loading anyway.
fn settle_beside(dir: &Path, files: &[snapshot::FileStamp], known: Known, max_file_size: u64) -> Result<Tracker> {
    let newest = files.last().map(|f| (f.id, f.size));
    let second = files.len().checked_sub(2).map(|i| files[i].id);
    let watermark = Tracker::resume(dir, newest, second, known)?;
    retire(dir, newest, max_file_size)?;
    Ok(watermark)
}

pub(crate) fn recover(dir: &Path, opts: &Options, seed: Option<u64>) -> Result<Recovered> {
    let mut listing = generation::list(dir)?;
    let known = Known::read(dir)?;
    let mut report =
        OpenReport { files: listing.data.len(), unknown_files: listing.unknown.clone(), ..Default::default() };
    let use_hints = opts.hint_files;
    if use_hints {
        let beside = |files: &[snapshot::FileStamp]| settle_beside(dir, files, known, opts.max_file_size);
        match snapshot::load(dir, &listing.data, seed, beside) {
            snapshot::Found::Matched(snap, settled) => match *snap {
                Ok(snap) => {
                    let mut rec = from_snapshot(dir, snap, &listing, known, report)?;
                    rec.settled = Some(settled?);
                    return Ok(rec);
                }
                Err(why) => {
                    // The newest file's hint may be gone: list again (that file is scanned).
                    settled?;
                    listing = generation::list(dir)?;
                    report.snapshot_ignored = Some(why);
                }
            },
            snapshot::Found::Refused(why) => report.snapshot_ignored = Some(why),
            snapshot::Found::None => {}
        }
    }

    // Map every data file, and every hint that will be considered.
    let mut maps = Maps::default();
    let mut hint_maps = IdMap::default();
    for &id in &listing.data {
        let map = map_for_scan(&dir.join(data_name(id)))?;
        maps.insert(id, map);
        if use_hints && listing.hints.contains(&id) {
            match map_for_scan(&dir.join(hint_name(id))) {
                Ok(h) => {
                    hint_maps.insert(id, h);
                }
                Err(e) => report.hints_ignored.push(format!("{}: {e}", hint_name(id))),
            }
        }
    }
    // Check hints up front: the check counts their keys, so the keydir is sized once.
    let mut views = IdMap::default();
    let mut to_check: Vec<_> = hint_maps.iter().map(|(&id, bytes)| (id, &bytes[..], maps[&id].len() as u64)).collect();
    to_check.sort_unstable_by_key(|&(id, ..)| id);
    for (id, checked) in check_hints(&to_check) {
        match checked {
            Ok(v) => {
                views.insert(id, v);
            }
            Err(why) => report.hints_ignored.push(format!("{}: {why}", hint_name(id))),
        }
    }
    let mut loader = Loader { keys: Keydir::with_seed(seed.unwrap_or_else(Keydir::random_seed)), ..Loader::default() };
    loader.keys.reserve(views.values().map(HintView::len).sum());

    let last = listing.data.last().copied();
    let second = listing.data.len().checked_sub(2).map(|i| listing.data[i]);
    // Where a crash may have left bytes unsynced: from here through the end of the newest file.
    let region = last.map(|newest| known.unsynced_from(second, newest));
    let mut sizes = IdMap::default();
    let mut cuts = Vec::new();
    let mut unhinted = Vec::new();
    // Consecutive hinted files are offered together (on two threads when large), before the
    // next scanned file: offers keep their file order either way.
    let mut run = Vec::new();
    for (i, &id) in listing.data.iter().enumerate() {
        let len = maps[&id].len() as u64;
        let second_cut = || cuts.iter().any(|c: &(u32, u64, u64, Tail)| Some(c.0) == second);
        if Some(id) == last && (second_cut() || lost_link(&known, id, second, &maps, &sizes)) {
            // The second-newest file was cut, or lost its end (the stamp link says so): nothing
            // written after the loss may stay (a point in time), so the whole newest file goes,
            // unread.
            let tail = if zero_tail(&maps[&id], 0) { Tail::Unused } else { Tail::Unsynced };
            if len > 0 {
                cuts.push((id, 0, len, tail));
            }
            sizes.insert(id, 0);
            unhinted.push(id);
            continue;
        }
        if let Some(view) = views.get(&id) {
            run.push((id, view));
            report.files_from_hints += 1;
            sizes.insert(id, len);
            let run_ends = listing.data.get(i + 1).is_none_or(|next| !views.contains_key(next));
            if run_ends {
                loader.offer_hints(&maps, &run);
                run.clear();
            }
            continue;
        }
        let judge = match region {
            Some((from, _)) if id < from => Judge::Sealed,
            Some((from, at)) if id == from => Judge::Unsynced { durable: at, newest: Some(id) == last },
            Some(_) => Judge::Unsynced { durable: 0, newest: true },
            None => Judge::Sealed,
        };
        let (valid, tail) = scan_file(dir, id, judge, &known, &maps, &mut loader, &mut report)?;
        if tail != Tail::Clean {
            cuts.push((id, valid, len - valid, tail));
        }
        sizes.insert(id, valid);
        unhinted.push(id);
    }

    purge(&mut loader, &maps);
    let Loader { keys, tally } = loader;
    let (max_ts, live) = (tally.max_ts, tally.live);
    drop(views);
    // An unsynced tail goes into quarantine before it is cut off: a crash in between leaves it
    // in both places, and the next open sets it aside again.
    for &(id, at, length, _) in cuts.iter().filter(|c| c.3 == Tail::Unsynced) {
        let into = quarantine::append(dir, id, &maps[&id][at as usize..])?;
        report.quarantined.push(Quarantined {
            file: data_name(id),
            offset: at,
            length,
            into: quarantine::name(id),
            at: into,
        });
    }
    drop(maps);

    for &(id, at, cut, tail) in &cuts {
        truncate(dir, id, at)?;
        match tail {
            Tail::Torn => report.torn_tails.push((data_name(id), at, cut)),
            Tail::Unused => report.unused_tails.push((data_name(id), at, cut)),
            Tail::Unsynced | Tail::Clean => {}
        }
    }
    Ok(Recovered { keys, live, sizes, max_ts, max_id: last.unwrap_or(0), unhinted, report, known, settled: None })
}

/// Whether the second-newest file (`second`, loaded already: its valid length is in `sizes`)
/// lost its unsynced end while the newest file `newest` kept records written after it
/// (`crate::rotation_link`).
fn lost_link(known: &Known, newest: u32, second: Option<u32>, maps: &Maps, sizes: &IdMap<u64>) -> bool {
    let Some(second) = second else { return false };
    let below = &maps[&second][..sizes[&second] as usize];
    rotation_link::broken(known, newest, &maps[&newest], || rotation_link::newest_stamp(below))
}

/// Purges what is absent: tombstones, and records expired as their key's newest version.
fn purge(loader: &mut Loader, maps: &Maps) {
    if !loader.tally.purge {
        return;
    }
    let now = now_ns();
    let absent = |l: Loc| l.tombstone || (l.has_ttl && header_of(maps, l).is_some_and(|h| expired(h.expires, now)));
    let mut gone = Vec::new();
    loader.keys.retain(|l| {
        let keep = !absent(l);
        if !keep {
            gone.push(l);
        }
        keep
    });
    for l in gone {
        loader.tally.count(l, -1);
    }
}

/// What open takes from a keydir snapshot that matched the directory: the keydir as hints
/// would have built it (expired records purged the same way), the files' sizes it checked.
fn from_snapshot(
    dir: &Path,
    snap: snapshot::Loaded,
    listing: &generation::Listing,
    known: Known,
    mut report: OpenReport,
) -> Result<Recovered> {
    let mut loader = Loader { keys: snap.keys, tally: snap.tally };
    if loader.tally.purge {
        let mut maps = Maps::default();
        for &id in &listing.data {
            maps.insert(id, map_for_scan(&dir.join(data_name(id)))?);
        }
        purge(&mut loader, &maps);
    }
    report.snapshot_used = true;
    let sizes = snap.files.iter().map(|f| (f.id, f.size)).collect();
    let unhinted = listing.data.iter().copied().filter(|id| !listing.hints.contains(id)).collect();
    Ok(Recovered {
        keys: loader.keys,
        live: loader.tally.live,
        sizes,
        max_ts: loader.tally.max_ts,
        max_id: listing.data.last().copied().unwrap_or(0),
        unhinted,
        report,
        known,
        settled: None,
    })
}

/// How a scan of a data file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// At the end of the file.
    Clean,
    /// At damage with nothing newer after it, in the newest file: a torn write, cut off.
    Torn,
    /// At damage after the durable watermark with newer records after it, in the newest file,
    /// or at any damage in the second-newest one: writes a power loss persisted out of order
    /// (or never persisted), set aside.
    Unsynced,
    /// At zeros running to the end of the file, from a record boundary at or after the
    /// watermark: the preallocated room a crash left unused, trimmed.
    Unused,
}

/// How a scan judges damage in a file (docs/DESIGN.md section 4.5).
#[derive(Debug, Clone, Copy)]
enum Judge {
    /// Below the region a crash may have left unsynced: any damage is corruption.
    Sealed,
    /// In that region from offset `durable` on: one of the two newest files. Only the `newest`
    /// may end in a torn write; damage in the second-newest is always set aside whole.
    Unsynced { durable: u64, newest: bool },
}

/// Scans a data file, returning the length of its valid prefix and how the scan ended. In the
/// region a crash may have left unsynced (`judge`), from its durable offset on: damage with
/// nothing newer after it is a torn tail in the newest file, damage with newer records after it
/// (and any damage in the second-newest file) an unsynced tail, and zeros from a record boundary
/// to the end (not over flushed bytes) the unused preallocated tail; anything else is
/// corruption (docs/DESIGN.md section 4.5).
fn scan_file(
    dir: &Path,
    id: u32,
    judge: Judge,
    known: &Known,
    maps: &Maps,
    loader: &mut Loader,
    report: &mut OpenReport,
) -> Result<(u64, Tail)> {
    let bytes = &maps[&id];
    let mut scan = BatchScan::new(bytes);
    for (offset, r) in scan.by_ref() {
        report.records_scanned += 1;
        loader.offer(maps, Seen::from_record(id, offset, &r));
    }
    let Some(&(at, ref bad)) = scan.stopped_at() else { return Ok((scan.valid_len(), Tail::Clean)) };
    let path = dir.join(data_name(id));
    let Judge::Unsynced { durable, newest } = judge else {
        return Err(Error::corrupt_at(&path, at, format!("{bad} (in a sealed file; run repair)")));
    };
    // Bytes that were on disk, in a file still as long as it was, changed (rule 2).
    let flushed_changed = at < durable && bytes.len() as u64 >= durable;
    if zero_tail(bytes, at) && !flushed_changed {
        return Ok((at, Tail::Unused));
    }
    // `at` is a batch's first member when the scan stopped inside a batch: the batch goes whole.
    match scan.later_valid_record() {
        None if flushed_changed => {
            Err(Error::corrupt_at(&path, at, format!("{bad}, below the {} (run repair)", known.describe(id))))
        }
        None if newest => {
            if let Some(members) = scan.unfinished_batch() {
                report.torn_batches.push((data_name(id), at, members));
            }
            Ok((at, Tail::Torn))
        }
        None => Ok((at, Tail::Unsynced)),
        Some(_) if at >= durable => Ok((at, Tail::Unsynced)),
        Some(next) => Err(Error::corrupt_at(
            &path,
            at,
            format!(
                "{bad}, followed by a valid record at offset {next}, below the {} (run repair)",
                known.describe(id)
            ),
        )),
    }
}

fn truncate(dir: &Path, id: u32, len: u64) -> Result<()> {
    let path = dir.join(data_name(id));
    let f = fs::open_nofollow(&path, true)?;
    fs::truncate(&f, &path, len)?;
    fs::sync_file(&f, &path)
}

/// Reads `bitgask.meta`, creating it for a new database; refuses newer format versions.
fn check_meta(dir: &Path) -> Result<()> {
    let path = dir.join(META_FILE);
    let bytes = match fs::open_nofollow(&path, false) {
        Ok(f) => read_all(f, &path)?,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            if !generation::list(dir)?.data.is_empty() {
                return Err(Error::Corrupt(format!("{} is missing but data files exist", path.display())));
            }
            return atomic_write(dir, META_FILE, &Meta::new(now_ns()).encode());
        }
        Err(e) => return Err(e),
    };
    let meta = Meta::parse(&bytes).map_err(|why| Error::Corrupt(format!("{}: {why}", path.display())))?;
    if meta.version > FORMAT_VERSION {
        return Err(newer_format(&path, meta.version));
    }
    if meta.version == 0 {
        return Err(Error::Corrupt(format!("{}: format version 0 does not exist", path.display())));
    }
    Ok(())
}

fn newer_format(path: &Path, version: u64) -> Error {
    Error::FormatVersion(format!(
        "{} has format version {version}, this library reads up to {FORMAT_VERSION}",
        path.display()
    ))
}

/// Refuses a database any of whose generations (`data/`, or what an interrupted merge left in
/// `merge.tmp/` and `data.old/`) has a meta file of a newer format, before anything settles the
/// merge: a newer library's directories are never changed. A meta file that is missing or does
/// not parse is left to [`check_meta`] once the merge is settled.
pub(crate) fn refuse_newer_format(root: &Path) -> Result<()> {
    for dir in [generation::DATA_DIR, generation::MERGE_TMP, generation::DATA_OLD] {
        let path = root.join(dir).join(META_FILE);
        let Ok(bytes) = fs::open_nofollow(&path, false).and_then(|f| read_all(f, &path)) else { continue };
        if let Ok(meta) = Meta::parse(&bytes) {
            if meta.version > FORMAT_VERSION {
                return Err(newer_format(&path, meta.version));
            }
        }
    }
    Ok(())
}

fn read_all(mut f: std::fs::File, path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut v = Vec::new();
    f.read_to_end(&mut v).map_err(|e| Error::io("read", path, e))?;
    Ok(v)
}
