//! `bitgask adopt` (docs/DESIGN.md section 14.2): converts a database of the Go bitgask into a
//! bitgask database that returns, for every key, what the Go system returns.
//!
//! It reads every data file of the Go generation in the Go system's order (file id, then offset)
//! with the Go system's rules: the last record of a key in the log wins whatever its stamp, a
//! tombstone deletes, a key whose last record has expired (signed expiry, so a negative one has)
//! is absent. The survivors are written in key order through a fresh bitgask database in
//! `adopt.tmp/` (new monotonic stamps, the original expiry times), and `adopt_commit` swaps it in
//! crash-safely, keeping the Go files in `go-original/`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::adopt_commit::{self, AdoptDone, GO_ORIGINAL};
use crate::clock::now_ns;
use crate::db::{Db, Update};
use crate::error::{Error, Result};
use crate::foreign::{recognise, Marker, Ownership};
use crate::format::meta::{Meta, ADOPTED_FROM_GO};
use crate::format::record::{Record, FLAG_COMPRESSED};
use crate::generation::{DATA_DIR, DATA_OLD, MERGE_TMP};
use crate::options::Options;
use crate::report::{show_key, AdoptCounts, ProblemKind, Report};
use crate::storage::datafile::{map_for_scan, MappedFile};
use crate::storage::fs::{self as dfs, LOCK_FILE, META_FILE};
use crate::storage::lock::LockFile;
use crate::validate::walk;

/// Converts the Go bitgask's database at `path` (see the module docs). A directory that is
/// already bitgask's is left alone (the report says so); an adoption a crash interrupted is
/// finished first.
pub fn adopt(path: impl AsRef<Path>, opts: &Options) -> Result<Report> {
    let root = path.as_ref();
    if !root.is_dir() {
        return Err(Error::InvalidArg(format!("{} is not a database directory", root.display())));
    }
    let _lock = LockFile::acquire(&root.join(LOCK_FILE), Duration::from_millis(opts.lock_timeout_ms))?;
    let settled = adopt_commit::settle(root)?;
    let markers = match recognise(root)? {
        Ownership::Foreign(m) => m,
        _ => return Ok(already_ours(root, settled)),
    };
    if root.join(GO_ORIGINAL).exists() {
        return Err(Error::InvalidArg(format!(
            "{}: {GO_ORIGINAL}/ already exists; move it away before adopting again",
            root.display()
        )));
    }
    convert(root, &markers, opts)
}

/// Reads the Go generation, writes the new one into `adopt.tmp/` and commits it.
fn convert(root: &Path, markers: &[Marker], opts: &Options) -> Result<Report> {
    let source = pick_generation(root)?;
    let mut report = Report::default();
    let mut counts = AdoptCounts { source: source.to_string(), ..AdoptCounts::default() };
    for m in markers {
        report.mended(ProblemKind::Foreign, m.file.clone(), 0, 0, format!("{} [{}]", m.reason, m.name));
    }
    if source == DATA_OLD {
        let why = "no data/: the Go system would open this directory empty; adopted from data.old/, the whole log \
                   (merge.tmp/ holds a Go merge's output of the same keys)";
        report.mended(ProblemKind::Foreign, format!("{DATA_OLD}/"), 0, 0, why);
    }
    let sources: Vec<String> =
        [MERGE_TMP, DATA_OLD, DATA_DIR].iter().filter(|d| root.join(d).is_dir()).map(|d| d.to_string()).collect();
    let files = adopt_commit::inventory(root, &sources)?;
    let on_damage = if opts.adopt.salvage { OnDamage::Skip } else { OnDamage::Refuse };
    let log = read_log(root, source, on_damage, &mut report, &mut counts)?;
    let live = apply(&log, now_ns(), &mut counts);
    let live = drop_oversized(live, &log, opts, &mut report, &mut counts)?;
    report.live_keys = live.len() as u64;
    let tmp = adopt_commit::begin(root)?;
    write_generation(&tmp, &live, &log, opts)?;
    drop(live);
    drop(log);
    let discard = opts.adopt.discard_original;
    counts.original_dir = if discard { String::new() } else { format!("{GO_ORIGINAL}/") };
    adopt_commit::commit(root, &AdoptDone { sources, files, discard_original: discard })?;
    report.adopt = Some(counts);
    Ok(report)
}

/// Validate's report on a directory of the Go bitgask: one `foreign` problem per marker, the
/// Go data files checked record by record (damage reported with its offsets, so an operator
/// knows before adopting whether salvage will be needed), and what adopt would keep. Reads only.
pub fn inspect(root: &Path, markers: &[Marker]) -> Result<Report> {
    let mut report = Report::default();
    for m in markers {
        let why = format!("{} [{}]; convert it with `bitgask adopt`", m.reason, m.name);
        report.add(ProblemKind::Foreign, m.file.clone(), 0, 0, why);
    }
    let source = match pick_generation(root) {
        Ok(s) => s,
        Err(e) => {
            report.add(ProblemKind::Foreign, "", 0, 0, e.detail());
            return Ok(report);
        }
    };
    let mut counts = AdoptCounts::default();
    let log = match read_log(root, source, OnDamage::Report, &mut report, &mut counts) {
        Ok(log) => log,
        Err(e) => {
            report.add(ProblemKind::Foreign, format!("{source}/"), 0, 0, e.detail());
            return Ok(report);
        }
    };
    report.live_keys = apply(&log, now_ns(), &mut counts).len() as u64;
    let why = format!(
        "read with the Go system's rules, {source}/ holds {} live keys ({} deleted and {} expired dropped); \
         {} keys would read another value under bitgask's own recency rule; `bitgask adopt` converts it",
        report.live_keys, counts.deleted_keys, counts.expired_keys, counts.out_of_stamp_order_keys
    );
    report.add(ProblemKind::Foreign, format!("{source}/"), 0, 0, why);
    Ok(report)
}

/// The report of an adopt that had nothing to convert.
fn already_ours(root: &Path, settled: bool) -> Report {
    let adopted = std::fs::read(root.join(DATA_DIR).join(META_FILE))
        .ok()
        .and_then(|b| Meta::parse(&b).ok())
        .is_some_and(|m| m.adopted_from.is_some());
    let original = root.join(GO_ORIGINAL);
    let counts = AdoptCounts {
        already_bitgask: true,
        finished_interrupted: settled,
        original_dir: if adopted && original.is_dir() { format!("{GO_ORIGINAL}/") } else { String::new() },
        ..AdoptCounts::default()
    };
    Report { adopt: Some(counts), ..Report::default() }
}

/// The Go directory holding the committed data: `data/`, or `data.old/` when a Go merge was
/// killed between its renames (the whole log; `merge.tmp/` holds the same live set). A root with
/// `data/`, `merge.tmp/` and `data.old/` together is a Go merge interrupted and then opened
/// again: which one holds the user's data is for a person to decide.
fn pick_generation(root: &Path) -> Result<&'static str> {
    let has = |d: &str| root.join(d).is_dir();
    match (has(DATA_DIR), has(MERGE_TMP), has(DATA_OLD)) {
        (true, true, true) => Err(Error::FormatVersion(format!(
            "{}: data/, merge.tmp/ and data.old/ all exist (a Go merge was interrupted and the Go \
             system opened the directory again); decide by hand which holds your data",
            root.display()
        ))),
        (true, _, _) => Ok(DATA_DIR),
        (false, true, true) => Ok(DATA_OLD),
        _ => Err(Error::FormatVersion(format!("{}: no Go generation to adopt (no data/)", root.display()))),
    }
}

/// Where a key's last record is, and what its stamps say.
struct Last {
    file: usize,
    offset: u64,
    ts: i64,
    max_ts: i64,
}

struct Log {
    files: Vec<MappedFile>,
    last: HashMap<Vec<u8>, Last>,
}

/// Reads every record of `root/source` in log order, keeping each key's last one.
/// What reading does with damage that is not a torn last write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnDamage {
    /// Fail with `E_CORRUPT` (adopt).
    Refuse,
    /// Skip the range and list it (adopt with salvage).
    Skip,
    /// List it as damage and go on (validate).
    Report,
}

fn read_log(root: &Path, source: &str, on: OnDamage, report: &mut Report, counts: &mut AdoptCounts) -> Result<Log> {
    let dir = root.join(source);
    let (width, ids) = data_files(&dir)?;
    counts.file_id_width = width;
    let mut log = Log { files: Vec::new(), last: HashMap::new() };
    for (i, (_, name)) in ids.iter().enumerate() {
        let map = map_for_scan(&dir.join(name))?;
        let rel = format!("{source}/{name}");
        let newest = i + 1 == ids.len();
        let w = walk(&map, None);
        for (n, &(off, len)) in w.damage.iter().enumerate() {
            let torn = newest && n + 1 == w.damage.len() && off + len == map.len() as u64;
            if torn && on == OnDamage::Report {
                report.add(ProblemKind::TornTail, rel.clone(), off, len, "an unfinished last write; adopt drops it");
            } else if torn {
                counts.torn_bytes += len;
                report.mended(ProblemKind::TornTail, rel.clone(), off, len, "an unfinished last write; dropped");
            } else if on == OnDamage::Report {
                let why = "records fail their checks; adopt refuses them unless salvage skips them";
                report.add(ProblemKind::CorruptRecord, rel.clone(), off, len, why);
            } else if on == OnDamage::Skip {
                counts.skipped_bytes += len;
                report.mended(ProblemKind::LostRange, rel.clone(), off, len, "damaged records skipped (--salvage)");
            } else {
                return Err(Error::corrupt_at(
                    &dir.join(name),
                    off,
                    format!("{len} bytes fail their checks; nothing was changed (adopt with salvage skips them)"),
                ));
            }
        }
        for &(off, _) in &w.records {
            let r = Record::decode(&map[off as usize..]).expect("walked");
            let ts = r.header.ts as i64;
            report.records += 1;
            match log.last.get_mut(r.key) {
                Some(l) => {
                    counts.superseded_records += 1;
                    *l = Last { file: i, offset: off, ts, max_ts: l.max_ts.max(ts) };
                }
                None => {
                    log.last.insert(r.key.to_vec(), Last { file: i, offset: off, ts, max_ts: ts });
                }
            }
        }
        log.files.push(map);
    }
    report.files = ids.len() as u64;
    Ok(log)
}

/// The Go system's data files in id order, and the one width every name was written with
/// (`%0*d.data`): names with a leading zero are exactly the width, others at least as long.
fn data_files(dir: &Path) -> Result<(u32, Vec<(u32, String)>)> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let name = e.map_err(|e| Error::io("list", dir, e))?.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".data") else { continue };
        if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let id: u32 = stem.parse().map_err(|_| Error::FormatVersion(format!("{name}: file id out of range")))?;
        ids.push((id, name));
    }
    ids.sort();
    let stem_len = |n: &String| n.len() - ".data".len();
    let padded: Vec<usize> = ids.iter().filter(|(_, n)| n.starts_with('0')).map(|(_, n)| stem_len(n)).collect();
    let width = match padded.first() {
        Some(&w) => w,
        None => ids.iter().map(|(_, n)| stem_len(n)).min().unwrap_or(9),
    };
    let odd: Vec<&str> =
        ids.iter().filter(|(id, n)| **n != format!("{id:0width$}.data")).map(|(_, n)| n.as_str()).collect();
    if !odd.is_empty() || ids.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::FormatVersion(format!(
            "{}: data file names of more than one width ({}); the Go system reads only one",
            dir.display(),
            odd.join(", ")
        )));
    }
    Ok((width as u32, ids))
}

/// One key of the adopted database: where its last record is.
struct Live<'a> {
    key: &'a [u8],
    file: usize,
    offset: u64,
}

impl Live<'_> {
    fn record<'m>(&self, log: &'m Log) -> Record<'m> {
        Record::decode(&log.files[self.file][self.offset as usize..]).expect("walked")
    }
}

/// The Go rule over each key's last record, in key order (values stay in the mapped files).
fn apply<'a>(log: &'a Log, now: u64, counts: &mut AdoptCounts) -> Vec<Live<'a>> {
    let mut keys: Vec<&Vec<u8>> = log.last.keys().collect();
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let l = &log.last[key];
        if l.ts < l.max_ts {
            counts.out_of_stamp_order_keys += 1;
        }
        let live = Live { key, file: l.file, offset: l.offset };
        let h = live.record(log).header;
        let expires = h.expires as i64;
        if h.is_tombstone() {
            counts.deleted_keys += 1;
        } else if expires < 0 || (expires > 0 && now >= expires as u64) {
            counts.expired_keys += 1;
        } else {
            out.push(live);
        }
    }
    out
}

/// The value's length once decompressed (the walk has checked that it decompresses).
fn value_len(r: &Record<'_>) -> usize {
    if r.header.flags & FLAG_COMPRESSED == 0 {
        r.stored_value.len()
    } else {
        snap::raw::decompress_len(r.stored_value).unwrap_or(usize::MAX)
    }
}

/// Keys and values over the new database's limits: refused before anything is written, or
/// skipped and listed with salvage.
fn drop_oversized<'a>(
    live: Vec<Live<'a>>,
    log: &Log,
    opts: &Options,
    report: &mut Report,
    counts: &mut AdoptCounts,
) -> Result<Vec<Live<'a>>> {
    let mut out = Vec::with_capacity(live.len());
    for l in live {
        let vlen = value_len(&l.record(log));
        let why = if l.key.len() > opts.max_key_size as usize {
            format!("key of {} bytes exceeds max_key_size {}", l.key.len(), opts.max_key_size)
        } else if vlen > opts.max_value_size as usize {
            format!("value of {vlen} bytes exceeds max_value_size {}", opts.max_value_size)
        } else {
            out.push(l);
            continue;
        };
        let msg = format!("key {}: {why}", show_key(l.key));
        if !opts.adopt.salvage {
            return Err(Error::TooLarge(format!("{msg}; nothing was changed")));
        }
        counts.oversized_keys += 1;
        report.mended(ProblemKind::LostKey, "", 0, 0, format!("{msg}; skipped (--salvage)"));
    }
    Ok(out)
}

/// Writes the survivors through a bitgask database in `tmp` (fresh stamps, original expiry,
/// the caller's compression and file size), one value in memory at a time, then marks its meta
/// as adopted.
fn write_generation(tmp: &Path, live: &[Live<'_>], log: &Log, opts: &Options) -> Result<()> {
    let mut o = opts.clone();
    o.sync_on_put = false;
    o.sync_on_delete = false;
    o.sync_interval_ms = 0;
    o.default_ttl_ms = 0;
    o.merge.interval_ms = 0;
    o.merge.on_open = false;
    let db = Db::open(tmp, o)?;
    for l in live {
        let r = l.record(log);
        let value = r.value().map_err(|bad| Error::Corrupt(format!("key {}: {bad}", show_key(l.key))))?;
        let put = Update::Put { value: value.into_owned(), expires_unix_nano: r.header.expires };
        db.update(l.key, |_| (put, ()))?;
    }
    db.close()?;
    let dir = tmp.join(DATA_DIR);
    let meta_path = dir.join(META_FILE);
    let bytes = std::fs::read(&meta_path).map_err(|e| Error::io("read", &meta_path, e))?;
    let mut meta = Meta::parse(&bytes).map_err(Error::Corrupt)?;
    meta.adopted_from = Some(ADOPTED_FROM_GO.into());
    dfs::atomic_write(&dir, META_FILE, &meta.encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn names(dir: &Path, files: &[&str]) -> Result<(u32, Vec<(u32, String)>)> {
        for f in files {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        data_files(dir)
    }

    #[test]
    fn the_width_is_inferred_from_the_names() {
        let t = TempDir::new("adopt-width");
        let (w, ids) = names(t.path(), &["000001.data", "000002.data", "1234567.data", "000002.hint"]).unwrap();
        assert_eq!(w, 6);
        assert_eq!(ids.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 1234567]);
    }

    #[test]
    fn names_of_two_widths_are_refused() {
        let t = TempDir::new("adopt-widths");
        let e = names(t.path(), &["000001.data", "0000002.data"]).unwrap_err();
        assert_eq!(e.status(), crate::status::E_FORMAT_VERSION);
        assert!(e.to_string().contains("0000002.data"), "{e}");
    }
}
