//! Merge (compaction), DESIGN.md section 7: rewrite the live records of sealed files into new
//! files in `merge.tmp/`, then swap generations with directory renames.
//!
//! Step by step:
//! 1. Seal the active file (full merge) and publish every pending write, so each input is
//!    immutable and the keydir says exactly which of its records are live.
//! 2. Copy each live record, byte for byte (stamp and expiry preserved), into output files with
//!    fresh ids from the shared counter. A full merge drops dead versions, tombstones and
//!    expired records. A selective merge also keeps tombstones and expired records of keys the
//!    keydir no longer has: they may be all that shadows an older version in a file outside the
//!    merge.
//! 3. fsync every output, write its hint, write `MERGE_DONE` (inputs, outputs, sizes), fsync it
//!    and `merge.tmp/`.
//! 4. Under the writer mutex (the only time writers wait): fdatasync the active file, hard-link
//!    every file that is not an input into `merge.tmp/`, rename `data` to `data.old`, rename
//!    `merge.tmp` to `data` (fsyncing the root after each), make the outputs readable, and seal
//!    the active file so the next write goes to a file numbered above every output.
//! 5. With writers running again, repoint keydir entries that still point at a merged record
//!    (compare-and-swap, in small batches so no writer waits long for the index), then drop the
//!    inputs from the file table and unmap them. Until then the inputs stay readable, so every
//!    keydir entry stays valid. Removing `data.old/` (which frees the old files' page cache and
//!    blocks: the slow part) is left to the background thread; the next merge, delete-all or
//!    open finishes it if it has not happened yet.
//!
//! The directories and the steps between generations are `generation`'s; a crash anywhere leaves
//! a state that open settles (`generation::settle`).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::clock::now_ns;
use crate::engine::{Chore, Engine};
use crate::error::{Error, Result};
use crate::format::hint::{HintBuilder, HintEntry};
use crate::format::merge_done::MergeDone;
use crate::format::record::{Header, HEADER_LEN};
use crate::generation;
use crate::hints::write_hint;
use crate::keydir::{Loc, Probe};
use crate::killpoint;
use crate::storage::datafile::{ActiveFile, DataFile};
use crate::storage::fs::{self as dfs, create_new, data_name, fsync_dir, hint_name, tmp_name, Checked};
use crate::storage::scan::Scan;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeKind {
    /// Every sealed file.
    Full,
    /// The sealed files with the most garbage, as the selective policy picks them.
    Selective,
}

/// A live record copied from `old` to `new`.
struct Moved {
    old: Loc,
    new: Loc,
}

/// What the copy phase produced.
#[derive(Default)]
struct Copied {
    outputs: Vec<(u32, u64)>,
    /// An empty data file numbered above every output, created in the new generation so that
    /// its highest-numbered file is always one appended in stamp order (merge outputs are not:
    /// recovery's torn-tail rule relies on it).
    next_active: u32,
    moved: Vec<Moved>,
    /// Live but expired records a full merge did not copy; their keys leave the keydir.
    dropped: Vec<Loc>,
    /// Bytes of input records not copied: what this merge frees.
    reclaimed: u64,
}

/// Runs one merge of `kind`. Returns false when there was nothing to merge.
pub(crate) fn run(e: &Engine, kind: MergeKind) -> Result<bool> {
    let _one_at_a_time = e.merge_lock.lock();
    e.check_writable()?;
    generation::remove_old(&e.root)?;
    let inputs = prepare(e, kind)?;
    if inputs.is_empty() {
        return Ok(false);
    }
    let inputs_files = inputs.iter().map(|&id| e.file(id)).collect::<Result<Vec<_>>>()?;
    let built = build(e, kind, &inputs_files);
    let discard = || {
        // Nothing outside merge.tmp changed yet.
        let _ = generation::discard(&e.root);
    };
    let copied = match built {
        Ok(c) => c,
        Err(err) => {
            discard();
            return Err(err);
        }
    };
    if kind == MergeKind::Selective && copied.reclaimed == 0 {
        // Everything had to be kept (tombstones shadowing older versions elsewhere): merging
        // these files again would only rewrite them. Sealed files never change, so remember.
        discard();
        e.irreducible.lock().extend(inputs.iter().copied());
        return Ok(false);
    }
    swap(e, inputs_files, copied)?;
    e.chores.push(Chore::RemoveOldGeneration);
    e.merges.fetch_add(1, Ordering::Relaxed);
    e.last_merge_ns.store(now_ns(), Ordering::Relaxed);
    Ok(true)
}

/// Whether the full-merge trigger holds: dead/total >= `merge_trigger_ratio` and total >=
/// `merge_min_total`.
pub(crate) fn full_merge_due(e: &Engine) -> bool {
    let ix = e.index.read();
    let (total, dead) = (ix.total_bytes(), ix.dead_bytes());
    total > 0 && total >= e.opts.merge.min_total && dead as f64 / total as f64 >= e.opts.merge.trigger_ratio
}

/// One pass of the policy: a full merge when its trigger holds, else a selective merge when
/// enough files qualify. Returns whether a merge ran.
pub(crate) fn compact_if_needed(e: &Engine) -> Result<bool> {
    if full_merge_due(e) {
        return run(e, MergeKind::Full);
    }
    run(e, MergeKind::Selective)
}

/// Step 1: seal, publish pending writes, pick the inputs (ascending ids).
fn prepare(e: &Engine, kind: MergeKind) -> Result<Vec<u32>> {
    e.presync_active()?;
    let seq = {
        let mut w = e.writer.lock();
        if kind == MergeKind::Full {
            e.seal_active(&mut w)?;
        }
        w.seq
    };
    e.commit(seq)?;
    // The active file and the file table are read under the writer mutex together: a rotation
    // in between would add a new active file that is not sealed.
    let mut sealed: Vec<u32> = {
        let w = e.writer.lock();
        let active = w.active.as_ref().map(|a| a.id);
        e.files.read().keys().copied().filter(|&id| Some(id) != active).collect()
    };
    sealed.sort_unstable();
    Ok(match kind {
        MergeKind::Full => sealed,
        MergeKind::Selective => select(e, &sealed),
    })
}

/// The selective policy: files whose own dead/size reaches `garbage_ratio`, most garbage first,
/// at most `max_files` and `max_bytes` of them, and only if there are at least `min_files` with
/// at least `min_bytes` between them.
pub(crate) fn select(e: &Engine, sealed: &[u32]) -> Vec<u32> {
    let m = &e.opts.merge;
    let irreducible = e.irreducible.lock();
    let ix = e.index.read();
    let mut candidates: Vec<(f64, u32, u64)> = sealed
        .iter()
        .filter(|id| !irreducible.contains(id))
        .filter_map(|&id| {
            let size = *ix.sizes.get(&id)?;
            let live = ix.live.get(&id).copied().unwrap_or(0);
            let ratio = if size == 0 { 1.0 } else { size.saturating_sub(live) as f64 / size as f64 };
            (ratio >= m.garbage_ratio).then_some((ratio, id, size))
        })
        .collect();
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let (mut picked, mut bytes) = (Vec::new(), 0u64);
    for (_, id, size) in candidates {
        if picked.len() as u32 >= m.max_files || bytes + size > m.max_bytes {
            break;
        }
        picked.push(id);
        bytes += size;
    }
    if (picked.len() as u32) < m.min_files || bytes < m.min_bytes {
        return Vec::new();
    }
    picked.sort_unstable();
    picked
}

/// Steps 2 and 3: outputs, hints and MERGE_DONE, all inside a new `merge.tmp/`.
fn build(e: &Engine, kind: MergeKind, inputs: &[Arc<DataFile>]) -> Result<Copied> {
    let tmp = &generation::begin(&e.root)?;
    killpoint::hit("merge-tmp-created");

    // A full merge copies each key at most once, so hints can be streamed while copying. A
    // selective one may keep several tombstones of one key; its hints come from a scan.
    let stream_hints = kind == MergeKind::Full && e.opts.hint_files;
    let mut out = Outputs { e, tmp, stream_hints, current: None, finished: Vec::new() };
    let mut copied = Copied::default();
    let now = now_ns();
    for file in inputs {
        copy_file(e, kind, file, now, &mut out, &mut copied)?;
    }
    copied.outputs = out.finish()?;
    if !stream_hints && e.opts.hint_files {
        for &(id, _) in &copied.outputs {
            write_hint(tmp, id)?;
            killpoint::hit("merge-hint-written");
        }
    }
    copied.next_active = e.writer.lock().allocate_id()?;
    let next = tmp.join(data_name(copied.next_active));
    dfs::sync_file(&create_new(&next)?, &next)?;
    let mut outputs = copied.outputs.clone();
    outputs.push((copied.next_active, 0));
    let done = MergeDone { inputs: inputs.iter().map(|f| f.id).collect(), outputs };
    generation::mark_complete(tmp, &done)?;
    killpoint::hit("merge-done-written");
    Ok(copied)
}

/// Copies what must survive from one input file.
fn copy_file(
    e: &Engine,
    kind: MergeKind,
    file: &DataFile,
    now: u64,
    out: &mut Outputs<'_>,
    copied: &mut Copied,
) -> Result<()> {
    let bytes =
        file.mapped().ok_or_else(|| Error::Corrupt(format!("merge input {} is not sealed", file.path.display())))?;
    let mut scan = Scan::new(bytes);
    for (offset, rec) in scan.by_ref() {
        if e.closing.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let h = rec.header;
        let here = Loc {
            file_id: file.id,
            offset: offset as u32,
            size: h.record_len() as u32,
            tombstone: h.is_tombstone(),
            has_ttl: h.expires != 0,
        };
        let live = is_live(e, rec.key, here);
        let expired = h.is_expired(now);
        let keep = match (kind, live) {
            (MergeKind::Full, true) => !expired,
            (MergeKind::Full, false) => false,
            (MergeKind::Selective, true) => true,
            // An absence marker of a key the keydir no longer has may shadow an older version
            // in a file this merge does not touch.
            (MergeKind::Selective, false) => (h.is_tombstone() || expired) && e.lookup(rec.key).is_none(),
        };
        if live && !keep {
            copied.dropped.push(here);
        }
        if !keep {
            copied.reclaimed += here.size as u64;
            continue;
        }
        let (id, at) = out.append(&bytes[offset as usize..offset as usize + here.size as usize], rec.key, &h)?;
        if live {
            copied.moved.push(Moved { old: here, new: Loc { file_id: id, offset: at, ..here } });
        }
    }
    match scan.stopped_at() {
        Some((at, bad)) => Err(Error::corrupt_at(&file.path, *at, format!("{bad} (merge stopped; run repair)"))),
        None => Ok(()),
    }
}

/// Whether the keydir points at exactly this record. A slot can only point at a record of its
/// own key, so a hash probe that lands on this location needs no key comparison.
fn is_live(e: &Engine, key: &[u8], here: Loc) -> bool {
    let at = |l: Loc| l.file_id == here.file_id && l.offset == here.offset;
    let ix = e.index.read();
    match ix.keys.probe(key) {
        Probe::None => false,
        Probe::One(l) => at(l),
        Probe::Many => ix.keys.get(key).is_some_and(at),
    }
}

/// The output file being written, and its hint when hints are streamed.
struct Current {
    id: u32,
    data: BufWriter<Checked>,
    len: u64,
    hint: Option<HintBuilder<BufWriter<Checked>>>,
}

/// A written output: data file and (streamed) hint tmp file, both still to be fsynced.
struct Finished {
    id: u32,
    data: Checked,
    len: u64,
    hint: Option<Checked>,
}

/// The output files of a merge, cut at `merge_max_file_size`.
struct Outputs<'a> {
    e: &'a Engine,
    tmp: &'a Path,
    stream_hints: bool,
    current: Option<Current>,
    finished: Vec<Finished>,
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |err| Error::io("write merge output", path, err)
}

impl Outputs<'_> {
    fn append(&mut self, rec: &[u8], key: &[u8], h: &Header) -> Result<(u32, u32)> {
        let full = self
            .current
            .as_ref()
            .is_some_and(|c| c.len > 0 && c.len + rec.len() as u64 > self.e.opts.merge.max_file_size);
        if full {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open_next()?);
        }
        let c = self.current.as_mut().unwrap();
        let at = c.len as u32;
        let path = self.tmp.join(data_name(c.id));
        c.data.write_all(rec).map_err(write_err(&path))?;
        c.len += rec.len() as u64;
        if let Some(hint) = &mut c.hint {
            let e = HintEntry {
                ts: h.ts,
                expires: h.expires,
                offset: at,
                record_len: rec.len() as u32,
                flags: h.flags,
                key,
            };
            hint.push(&e).map_err(write_err(&path))?;
        }
        Ok((c.id, at))
    }

    fn open_next(&self) -> Result<Current> {
        let id = self.e.writer.lock().allocate_id()?;
        let path = self.tmp.join(data_name(id));
        let data = BufWriter::with_capacity(1 << 20, Checked::new(create_new(&path)?, &path));
        let hint = match self.stream_hints {
            true => {
                let hpath = self.tmp.join(hint_tmp_name(id));
                let f = BufWriter::with_capacity(1 << 16, Checked::new(create_new(&hpath)?, &hpath));
                // The covered length is patched in when the file is closed.
                Some(HintBuilder::new(f, id, 0).map_err(write_err(&self.tmp.join(hint_tmp_name(id))))?)
            }
            false => None,
        };
        Ok(Current { id, data, len: 0, hint })
    }

    fn close_current(&mut self) -> Result<()> {
        let Some(c) = self.current.take() else { return Ok(()) };
        let path = self.tmp.join(data_name(c.id));
        let data = c.data.into_inner().map_err(|err| write_err(&path)(err.into_error()))?;
        let hint = match c.hint {
            Some(h) => {
                let hpath = self.tmp.join(hint_tmp_name(c.id));
                let w = h.finish_covering(c.len).map_err(write_err(&hpath))?;
                Some(w.into_inner().map_err(|err| write_err(&hpath)(err.into_error()))?)
            }
            None => None,
        };
        self.finished.push(Finished { id: c.id, data, len: c.len, hint });
        Ok(())
    }

    /// Flushes and fsyncs every output and puts streamed hints in place; returns (id, size) of
    /// each output.
    fn finish(mut self) -> Result<Vec<(u32, u64)>> {
        self.close_current()?;
        let mut done = Vec::new();
        for f in self.finished {
            dfs::sync_file(f.data.file(), &self.tmp.join(data_name(f.id)))?;
            killpoint::hit("merge-output-synced");
            if let Some(h) = f.hint {
                let tmp_path = self.tmp.join(hint_tmp_name(f.id));
                dfs::sync_file(h.file(), &tmp_path)?;
                dfs::rename(&tmp_path, &self.tmp.join(hint_name(f.id)))?;
                killpoint::hit("merge-hint-written");
            }
            done.push((f.id, f.len));
        }
        fsync_dir(self.tmp)?;
        Ok(done)
    }
}

fn hint_tmp_name(id: u32) -> String {
    tmp_name(&hint_name(id))
}

/// Steps 4 and 5.
fn swap(e: &Engine, inputs: Vec<Arc<DataFile>>, copied: Copied) -> Result<()> {
    let outputs = swap_directories(e, &inputs, &copied)?;
    repoint(e, &inputs, &outputs, &copied);
    // Unmapped while the files are still linked in data.old/, which is cheap; once the merge
    // returns no map refers to a removed file.
    drop(inputs);
    Ok(())
}

/// Step 4, under the writer mutex. Returns the outputs, now readable.
fn swap_directories(e: &Engine, inputs: &[Arc<DataFile>], copied: &Copied) -> Result<Vec<Arc<DataFile>>> {
    let _no_hint_writes = e.dir_lock.lock();
    e.presync_active()?;
    let mut w = e.writer.lock();
    if let Some(a) = &w.active {
        if let Err(err) = a.sync() {
            e.poison(format!("fdatasync before merge swap failed: {err}"));
            return Err(err);
        }
    }
    let input_ids: Vec<u32> = inputs.iter().map(|f| f.id).collect();
    swap_generations(e, &input_ids)?;
    let mut outputs = Vec::new();
    for &(id, size) in &copied.outputs {
        outputs.push(Arc::new(DataFile::sealed(&e.dir, id)?));
        e.index.write().sizes.insert(id, size);
    }
    e.files.write().extend(outputs.iter().map(|f| (f.id, f.clone())));
    e.seal_active(&mut w)?;
    let fresh = ActiveFile::reopen(&e.dir, copied.next_active, 0)?;
    e.files.write().insert(fresh.id, Arc::new(DataFile::active(&fresh)));
    w.active = Some(fresh);
    Ok(outputs)
}

/// [`generation::swap`], for a caller holding the writer mutex and the directory lock. A failure
/// poisons the handle: the directories may now be between generations, and open (or
/// `Db::reopen`) knows how to finish or undo.
fn swap_generations(e: &Engine, inputs: &[u32]) -> Result<()> {
    let swapped = generation::swap(&e.root, inputs);
    if let Err(err) = &swapped {
        e.poison(format!("generation swap failed, reopen to recover: {err}"));
    }
    swapped
}

/// Empties the database in place: a merge whose inputs are every file and whose output is
/// nothing, swapped in by the same protocol, so a crash leaves it untouched or empty. Writers
/// wait for the whole of it (it is short: no data is copied).
pub(crate) fn delete_all(e: &Engine) -> Result<()> {
    let _one_at_a_time = e.merge_lock.lock();
    e.check_writable()?;
    generation::remove_old(&e.root)?;
    let _no_hint_writes = e.dir_lock.lock();
    e.presync_active()?;
    let mut w = e.quiesce()?;
    e.seal_active(&mut w)?;
    let mut inputs: Vec<u32> = e.files.read().keys().copied().collect();
    inputs.sort_unstable();
    let tmp = generation::begin(&e.root)?;
    generation::mark_complete(&tmp, &MergeDone { inputs: inputs.clone(), outputs: Vec::new() })?;
    swap_generations(e, &inputs)?;
    *e.index.write() = Default::default();
    let old_files = std::mem::take(&mut *e.files.write());
    drop(w);
    drop(old_files);
    e.chores.push(Chore::RemoveOldGeneration);
    Ok(())
}

/// Keydir entries moved per index lock acquisition: short enough that a writer waiting to
/// publish its record is not held up for long.
const REPOINT_BATCH: usize = 4096;

/// Step 5: repoint the keydir (compare-and-swap on location), then drop the inputs.
fn repoint(e: &Engine, inputs: &[Arc<DataFile>], outputs: &[Arc<DataFile>], copied: &Copied) {
    for batch in copied.moved.chunks(REPOINT_BATCH) {
        let mut ix = e.index.write();
        for m in batch {
            let Some(key) = key_at(outputs, m.new) else { continue };
            if ix.keys.get(key) == Some(m.old) {
                ix.keys.insert(key, m.new);
                *ix.live.entry(m.new.file_id).or_insert(0) += m.new.size as u64;
            }
        }
    }
    for batch in copied.dropped.chunks(REPOINT_BATCH) {
        let mut ix = e.index.write();
        for &l in batch {
            if let Some(key) = key_at(inputs, l) {
                ix.keys.remove_if(key, l);
            }
        }
    }
    {
        let mut ix = e.index.write();
        for f in inputs {
            ix.sizes.remove(&f.id);
            ix.live.remove(&f.id);
        }
    }
    let mut files = e.files.write();
    for f in inputs {
        files.remove(&f.id);
    }
}

/// The key of the record at `l` in one of `files` (all mapped).
fn key_at(files: &[Arc<DataFile>], l: Loc) -> Option<&[u8]> {
    let f = files.iter().find(|f| f.id == l.file_id)?;
    let b = f.mapped()?;
    let h = Header::parse(&b[l.offset as usize..]).ok()?;
    let start = l.offset as usize + HEADER_LEN;
    Some(&b[start..start + h.key_len as usize])
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
