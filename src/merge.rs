//! Merge (compaction), docs/DESIGN.md section 7: rewrite the live records of sealed files into new
//! files in `merge.tmp/`, then swap generations with directory renames.
//!
//! Step by step:
//! 1. Seal the active file (full merge; its fsync on the seal thread, which the swap waits for)
//!    and publish every pending write, so each input is
//!    immutable and the keydir says exactly which of its records are live.
//! 2. Copy each live record, byte for byte (stamp and expiry preserved), into output files with
//!    fresh ids from the shared counter. A full merge drops dead versions, tombstones and
//!    expired records. A selective merge also keeps tombstones and expired records of keys the
//!    keydir no longer has: they may be all that shadows an older version in a file outside the
//!    merge. A full merge takes its live records from a walk of the keydir (`merge_live`) and
//!    copies them in file order, in two shares on two threads when it is big; a selective one
//!    reads every record of its inputs.
//! 3. fsync every output, write its hint, write `MERGE_DONE` (inputs, outputs, sizes) and fsync
//!    it. `merge.tmp/` itself is fsynced by the swap, before anything depends on its entries.
//! 4. Under the writer mutex (the only time writers wait): fdatasync the active file, hard-link
//!    every file that is not an input into `merge.tmp/` and fsync it, rename `data` to `data.old`,
//!    rename `merge.tmp` to `data`, fsync the root, make the outputs readable, and seal
//!    the active file so the next write goes to a file numbered above every output.
//! 5. With writers running again, repoint keydir entries that still point at a merged record
//!    (compare-and-swap, by bucket after a walk, in small batches so no writer waits long for the index), then drop the
//!    inputs from the file table and unmap them. Until then the inputs stay readable, so every
//!    keydir entry stays valid. Removing `data.old/` (which frees the old files' page cache and
//!    blocks: the slow part) is left to the background thread; the next merge, delete-all or
//!    open finishes it if it has not happened yet.
//!
//! The directories and the steps between generations are `generation`'s; a crash anywhere leaves
//! a state that open settles (`generation::settle`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::clock::now_ns;
use crate::engine::{Engine, Maintenance, Moved, Moves, Relocation};
use crate::error::{Error, Result};
use crate::format::batch::{as_plain, FLAG_MEMBER};
use crate::format::hint::{HintBuilder, HintEntry};
use crate::format::merge_done::MergeDone;
use crate::format::record::{Header, Record};
use crate::generation;
use crate::hints::write_hint;
use crate::keydir::Loc;
use crate::killpoint;
use crate::merge_live::{self, Span, Walked};
use crate::prefetch;
use crate::storage::batch_scan::BatchScan;
use crate::storage::datafile::DataFile;
use crate::storage::fs::{self as dfs, create_new, data_name, hint_name, tmp_name, Checked};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeKind {
    /// Every sealed file.
    Full,
    /// The sealed files with the most garbage, as the selective policy picks them.
    Selective,
}

/// What the copy phase produced.
#[derive(Default)]
struct Copied {
    outputs: Vec<(u32, u64)>,
    /// An empty data file numbered above every output, created in the new generation so that
    /// its highest-numbered file is always one appended in stamp order (merge outputs are not:
    /// recovery's torn-tail rule relies on it).
    next_active: u32,
    /// One set per share of the copy that found its records the same way.
    moved: Vec<Moves>,
    /// Live but expired records a full merge did not copy; their keys leave the keydir.
    dropped: Vec<Loc>,
    /// Bytes of input records not copied: what this merge frees.
    reclaimed: u64,
    /// Bytes of input records a full merge's share copied. A share's spans may cut a record:
    /// it copies one that starts in its span whole, so its own freed bytes can be negative and
    /// only the sum over shares is (see [`copy_full`]).
    kept: u64,
    /// Streamed hints, written as `<id>.hint.tmp` beside their outputs but not synced: made
    /// durable and put in place by the background thread after the swap (section 7.3).
    hints: Vec<(u32, File)>,
}

impl Copied {
    /// Takes in what another share of the copy produced.
    fn absorb(&mut self, other: Copied) {
        self.outputs.extend(other.outputs);
        self.moved.extend(other.moved);
        self.dropped.extend(other.dropped);
        self.reclaimed += other.reclaimed;
        self.kept += other.kept;
        self.hints.extend(other.hints);
    }
}

/// Runs one merge of `kind`. Returns false when there was nothing to merge.
pub(crate) fn run(e: &Engine, kind: MergeKind) -> Result<bool> {
    let plan = Plan { kind, seal_active: kind == MergeKind::Full, remove_inputs_now: false, hints: true };
    run_with(e, plan, |m, sealed| match kind {
        MergeKind::Full => sealed.to_vec(),
        MergeKind::Selective => select(e, m, sealed),
    })
}

/// How [`run_with`] merges.
pub(crate) struct Plan {
    /// Full drops every record that is not live; selective keeps absence markers (section 7.3).
    pub kind: MergeKind,
    /// Seal the active file first, so it can be an input.
    pub seal_active: bool,
    /// Remove `data.old/` (the inputs) before returning instead of leaving it to the background
    /// thread: a merge on a full disk needs their blocks back for the next step.
    pub remove_inputs_now: bool,
    /// Write the outputs' hints before the swap (with `hint_files`). Without, they are queued for
    /// the background thread after it, so the merge needs no room for them.
    pub hints: bool,
}

/// Runs one merge of the files `pick` chooses among the sealed ones (ascending ids).
pub(crate) fn run_with(
    e: &Engine,
    plan: Plan,
    pick: impl FnOnce(&Maintenance<'_>, &[u32]) -> Vec<u32>,
) -> Result<bool> {
    let kind = plan.kind;
    let m = e.maintenance();
    e.check_writable()?;
    m.remove_old_generation()?;
    // Step 1: immutable inputs whose live records the keydir names exactly.
    let (sealed, unhinted) = m.sealed_files_unhinted(plan.seal_active)?;
    // The file just sealed gets its hint unless this merge consumes it.
    let mut hint_later = HintLater { e, id: unhinted, floor: false, skipped: Vec::new() };
    let inputs = pick(&m, &sealed);
    if inputs.is_empty() {
        return Ok(false);
    }
    if inputs == sealed {
        // Every sealed file is an input: the hints rotation queued for them would be written
        // beside the merge only to be removed with them.
        e.set_hint_floor(inputs.iter().max().map_or(0, |&id| id.saturating_add(1)));
        hint_later.floor = true;
        hint_later.skipped = inputs.clone();
    }
    let inputs_files = inputs.iter().map(|&id| e.file(id)).collect::<Result<Vec<_>>>()?;
    let live_before = m.live_bytes(&inputs);
    let hints = plan.hints && e.opts().hint_files;
    let built = build(e, kind, hints, &inputs_files, &live_before);
    let discard = || {
        // Nothing outside merge.tmp changed yet.
        let _ = generation::discard(e.root());
    };
    let mut copied = match built {
        Ok(c) => c,
        Err(err) => {
            discard();
            return Err(err);
        }
    };
    if kind == MergeKind::Selective && copied.reclaimed == 0 {
        // Everything had to be kept (tombstones shadowing older versions elsewhere): merging
        // these files again would only rewrite them, until more of their records die.
        discard();
        m.mark_irreducible(&live_before);
        return Ok(false);
    }
    // Steps 4 and 5.
    m.swap_in(&inputs, &copied.outputs, copied.next_active)?;
    // Off the merge's path: a third more bytes than the outputs' for 16-byte keys and 100-byte
    // values, which the disk took before the swap (docs/DESIGN.md section 7.3).
    e.place_hints_later(std::mem::take(&mut copied.hints));
    hint_later.id = hint_later.id.filter(|id| !inputs.contains(id));
    hint_later.skipped.clear();
    m.repoint(&inputs_files, &copied.moved, &copied.dropped);
    // Unmapped while the files are still linked in data.old/, which is cheap, and off the
    // merge's path: the background thread unmaps them before it removes data.old/. A merge on a
    // full disk removes them itself, now, and needs their blocks back: unmapped first.
    match plan.remove_inputs_now {
        true => drop(inputs_files),
        false => e.release_later(inputs_files),
    }
    m.merged();
    if !hints {
        e.queue_hints(&copied.outputs.iter().map(|&(id, _)| id).collect::<Vec<_>>());
    }
    if plan.remove_inputs_now {
        m.remove_old_generation()?;
    }
    Ok(true)
}

/// When dropped, at the end of a merge: lets the background thread write hints again, and queues
/// the hint of the file sealed for the merge and of the inputs whose hints were skipped, unless
/// the merge swapped them out (then both are emptied first).
struct HintLater<'a> {
    e: &'a Engine,
    id: Option<u32>,
    /// Whether this merge set the hint floor.
    floor: bool,
    skipped: Vec<u32>,
}

impl Drop for HintLater<'_> {
    fn drop(&mut self) {
        if self.floor {
            self.e.set_hint_floor(0);
        }
        self.e.queue_missing_hints(&self.skipped);
        // The file sealed for the merge is fsynced by the seal thread: a hint must not be
        // durable before the records it describes (none if that seal failed).
        if self.id.is_some() && self.e.seals_settled() {
            self.e.queue_hints(self.id.as_slice());
        }
    }
}

/// Whether the full-merge trigger holds: dead/total >= `merge_trigger_ratio` and total >=
/// `merge_min_total`.
pub(crate) fn full_merge_due(e: &Engine) -> bool {
    let (total, dead) = e.read_index(|ix| (ix.total_bytes(), ix.dead_bytes()));
    let m = &e.opts().merge;
    total > 0 && total >= m.min_total && dead as f64 / total as f64 >= m.trigger_ratio
}

/// One pass of the policy: a full merge when its trigger holds, else a selective merge when
/// enough files qualify. Returns whether a merge ran.
pub(crate) fn compact_if_needed(e: &Engine) -> Result<bool> {
    if full_merge_due(e) {
        return run(e, MergeKind::Full);
    }
    run(e, MergeKind::Selective)
}

/// The selective policy: files whose own dead/size reaches `garbage_ratio`, most garbage first,
/// at most `max_files` and `max_bytes` of them, and only if there are at least `min_files` with
/// at least `min_bytes` between them.
fn select(e: &Engine, maintenance: &Maintenance<'_>, sealed: &[u32]) -> Vec<u32> {
    let m = &e.opts().merge;
    let irreducible = maintenance.irreducible();
    let mut candidates: Vec<(f64, u32, u64)> = e.read_index(|ix| {
        sealed
            .iter()
            .filter_map(|&id| {
                let size = *ix.sizes.get(&id)?;
                let live = ix.live.get(&id).copied().unwrap_or(0);
                if irreducible.get(&id) == Some(&live) {
                    return None;
                }
                let ratio = if size == 0 { 1.0 } else { size.saturating_sub(live) as f64 / size as f64 };
                (ratio >= m.garbage_ratio).then_some((ratio, id, size))
            })
            .collect()
    });
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

/// Steps 2 and 3: outputs, hints and MERGE_DONE, all inside a new `merge.tmp/`. `live` holds
/// each input's live bytes, in the order of `inputs`.
fn build(e: &Engine, kind: MergeKind, hints: bool, inputs: &[Arc<DataFile>], live: &[(u32, u64)]) -> Result<Copied> {
    let tmp = &generation::begin(e.root())?;
    killpoint::hit("merge-tmp-created");

    // A full merge copies each key at most once, so hints can be streamed while copying. A
    // selective one may keep several tombstones of one key; its hints come from a scan.
    let stream_hints = kind == MergeKind::Full && hints;
    let now = now_ns();
    let mut copied = match kind {
        MergeKind::Full => copy_full(e, tmp, stream_hints, inputs, live, now)?,
        // Selective merges scan: they must also find absence markers of keys the keydir lacks.
        MergeKind::Selective => copy_scanned(e, kind, tmp, false, inputs, now)?,
    };
    // Not fsynced here: the swap fsyncs `merge.tmp/` before anything depends on its entries.
    copied.outputs.sort_unstable();
    if !stream_hints && hints {
        for &(id, _) in &copied.outputs {
            write_hint(tmp, id)?;
            killpoint::hit("merge-hint-written");
        }
    }
    copied.next_active = e.allocate_id()?;
    // Empty: nothing to fsync but its entry, which the swap's fsync of `merge.tmp/` covers.
    create_new(&tmp.join(data_name(copied.next_active)))?;
    let mut outputs = copied.outputs.clone();
    outputs.push((copied.next_active, 0));
    let done = MergeDone { inputs: inputs.iter().map(|f| f.id).collect(), outputs };
    generation::mark_complete(tmp, &done)?;
    killpoint::hit("merge-done-written");
    Ok(copied)
}

/// Live bytes from which a full merge copies in two shares on two threads: below it, the
/// second output file and its fsync cost more than the thread saves. Test builds split every
/// merge, so that the kill-point and fault tests go through the two-share copy.
const SPLIT_MIN: u64 = if cfg!(any(test, feature = "kill-points", feature = "fault-injection")) { 1 } else { 16 << 20 };

/// A full merge's copy (section 7.3): the live records found by walking the keydir (once, half
/// the buckets on each thread), in two shares of about equal live bytes, each copied and fsynced
/// by its own thread into its own outputs; by scanning every input when a walk could not finish.
fn copy_full(
    e: &Engine,
    tmp: &Path,
    stream_hints: bool,
    inputs: &[Arc<DataFile>],
    live: &[(u32, u64)],
    now: u64,
) -> Result<Copied> {
    let files: Vec<(u32, u64, u64)> =
        inputs.iter().zip(live).map(|(f, &(_, l))| (f.id, f.mapped().map_or(0, |b| b.len() as u64), l)).collect();
    let parts = if live.iter().map(|l| l.1).sum::<u64>() >= SPLIT_MIN { 2 } else { 1 };
    let shares = merge_live::shares(&files, parts);
    let Some(walks) = merge_live::walk(e, &shares) else {
        return copy_scanned(e, MergeKind::Full, tmp, stream_hints, inputs, now);
    };
    // The active file this merge sealed is flushed on the seal thread while the keydir is
    // walked; the copy starts once it is done. Behind the copy's writes that flush took tens of
    // milliseconds, and a writer's next rotation waits for it (`make bench` row h).
    e.wait_seals()?;
    // A share that fails stops the other at its next record.
    let stop = AtomicBool::new(false);
    let (stop, share) = (&stop, Share { e, tmp, stream_hints, inputs, now });
    let jobs: Vec<_> =
        shares.iter().zip(walks).map(|(spans, walked)| move || share.copy(spans, walked, stop)).collect();
    let results = in_parallel(jobs);
    // The error of a share that failed, not the one it stopped.
    let mut all = Copied::default();
    let mut stopped = None;
    for r in results {
        match r {
            Ok(c) => all.absorb(c),
            Err(Error::Closed) => stopped = Some(Error::Closed),
            Err(err) => return Err(err),
        }
    }
    let input_bytes: u64 = files.iter().map(|f| f.1).sum();
    all.reclaimed = input_bytes.saturating_sub(all.kept);
    stopped.map_or(Ok(all), Err)
}

/// What every share of a full merge's copy shares.
#[derive(Clone, Copy)]
struct Share<'a> {
    e: &'a Engine,
    tmp: &'a Path,
    stream_hints: bool,
    inputs: &'a [Arc<DataFile>],
    now: u64,
}

impl Share<'_> {
    /// Copies the records `walked` found in `spans` into outputs of its own, and fsyncs them.
    fn copy(self, spans: &[Span], walked: Walked, stop: &AtomicBool) -> Result<Copied> {
        let inputs = self.inputs;
        let mut out = Outputs::new(self.e, self.tmp, self.stream_hints, stop);
        let files: Vec<(&DataFile, Span)> =
            spans.iter().map(|s| (&*inputs[inputs.partition_point(|f| f.id < s.file_id)], *s)).collect();
        let copied = copy_walked(&files, walked, self.now, &mut out).and_then(|mut c| {
            (c.outputs, c.hints) = out.finish()?;
            Ok(c)
        });
        if copied.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        copied
    }
}

/// Copies every input by reading each record and asking the keydir about it.
fn copy_scanned(
    e: &Engine,
    kind: MergeKind,
    tmp: &Path,
    stream_hints: bool,
    inputs: &[Arc<DataFile>],
    now: u64,
) -> Result<Copied> {
    let stop = AtomicBool::new(false);
    let mut out = Outputs::new(e, tmp, stream_hints, &stop);
    let mut copied = Copied::default();
    let mut moved = Vec::new();
    for file in inputs {
        copy_file(e, kind, file, now, &mut out, &mut copied, &mut moved)?;
    }
    copied.moved = vec![Moves::Keyed(moved)];
    (copied.outputs, copied.hints) = out.finish()?;
    Ok(copied)
}

/// Runs each job on its own thread, the first on this one, and returns their results in order. A
/// job whose thread cannot be started runs on this thread after the others.
pub(crate) fn in_parallel<T: Send, F: FnOnce() -> T + Send>(jobs: Vec<F>) -> Vec<T> {
    let slots: Vec<Mutex<Option<F>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let run = |slot: &Mutex<Option<F>>| {
        let job = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        job.map(|j| j())
    };
    std::thread::scope(|s| {
        let spawned: Vec<_> = (slots.iter().skip(1))
            .map(|slot| {
                std::thread::Builder::new().name("bitgask-merge-copy".into()).spawn_scoped(s, move || run(slot))
            })
            .collect();
        let mut done: Vec<Option<T>> = slots.first().map(run).into_iter().collect();
        for h in spawned {
            done.push(h.ok().and_then(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        }
        slots.iter().zip(done).map(|(slot, r)| r.or_else(|| run(slot)).expect("every job runs once")).collect()
    })
}

/// Copies what must survive from one input file.
fn copy_file<'a>(
    e: &Engine,
    kind: MergeKind,
    file: &'a DataFile,
    now: u64,
    out: &mut Outputs<'a>,
    copied: &mut Copied,
    moved: &mut Vec<Moved>,
) -> Result<()> {
    let bytes =
        file.mapped().ok_or_else(|| Error::Corrupt(format!("merge input {} is not sealed", file.path.display())))?;
    let mut scan = BatchScan::new(bytes);
    for (offset, rec) in scan.by_ref() {
        out.check()?;
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
        let (id, at) = out.append(bytes, offset as usize, rec.key, &h)?;
        if live {
            moved.push(Moved { old: here, new: Loc { file_id: id, offset: at, ..here } });
        }
    }
    match scan.stopped_at() {
        Some((at, bad)) => Err(Error::corrupt_at(&file.path, *at, format!("{bad} (merge stopped; run repair)"))),
        None => Ok(()),
    }
}

/// A full merge's copy of the live records `walked` found in `files` (section 7.3): each read
/// front to back, only where the keydir points, each record CRC-checked before it is copied.
fn copy_walked<'a>(files: &[(&'a DataFile, Span)], walked: Walked, now: u64, out: &mut Outputs<'a>) -> Result<Copied> {
    let Walked { layout, mut runs } = walked;
    let ids: Vec<u32> = files.iter().map(|f| f.0.id).collect();
    let (mut order, ends) = merge_live::copy_order(&ids, &runs);
    let mut copied = Copied::default();
    let mut placed = Vec::with_capacity(order.len());
    let mut from = 0;
    for (&(file, _), &to) in files.iter().zip(&ends) {
        // Sorted only now: the previous input's writes are on their way to the disk meanwhile.
        order[from..to].sort_unstable();
        copied.kept += copy_live(file, &order[from..to], now, out, &mut placed)?;
        from = to;
    }
    // The walk's entries are in bucket order, the copy went in file order: each entry is written
    // only now, in a loop of independent stores, not read record by record while copying (a
    // cache miss each). Entries are still visited in random order, so each is fetched well
    // ahead: waiting for them was half of this loop's time, 8% of the merge's CPU.
    for (j, (&k, p)) in order.iter().zip(&placed).enumerate() {
        if let Some(&ahead) = order.get(j + FETCH_AHEAD) {
            let m: *const Relocation = merge_live::entry(&mut runs, ahead as u32 as usize);
            prefetch::range(m as usize, std::mem::size_of::<Relocation>());
        }
        let m = merge_live::entry(&mut runs, k as u32 as usize);
        if p.len == 0 {
            copied.dropped.push(m.old);
        } else if p.len != m.old.size {
            let file = files[files.partition_point(|f| f.0.id < m.old.file_id)].0;
            let why =
                format!("record of {} bytes where the keydir says {} (merge stopped; run repair)", p.len, m.old.size);
            return Err(Error::corrupt_at(&file.path, m.old.offset as u64, why));
        } else {
            m.new = Some((p.file_id, p.offset));
        }
    }
    copied.moved = runs.into_iter().map(|moves| Moves::Walked { layout: Box::new(layout), moves }).collect();
    Ok(copied)
}

/// How many entries ahead of its update [`copy_walked`] fetches a keydir entry's relocation.
const FETCH_AHEAD: usize = 16;

/// Where [`copy_live`] put one record: (file, offset) and its length, 0 when it was not copied
/// (expired).
struct Placed {
    file_id: u32,
    offset: u32,
    len: u32,
}

/// Copies the records of one input at the offsets `order` names (ascending), saying in `placed`
/// where each went; returns the bytes copied.
fn copy_live<'a>(
    file: &'a DataFile,
    order: &[u64],
    now: u64,
    out: &mut Outputs<'a>,
    placed: &mut Vec<Placed>,
) -> Result<u64> {
    let bytes =
        file.mapped().ok_or_else(|| Error::Corrupt(format!("merge input {} is not sealed", file.path.display())))?;
    file.advise_sequential();
    let mut kept = 0;
    for &k in order {
        out.check()?;
        let offset = (k >> 32) as usize;
        let rec = live_record(file, bytes, offset)?;
        let h = rec.header;
        let len = h.record_len() as u32;
        if h.is_expired(now) {
            placed.push(Placed { file_id: 0, offset: 0, len: 0 });
            continue;
        }
        let (file_id, at) = out.append(bytes, offset, rec.key, &h)?;
        placed.push(Placed { file_id, offset: at, len });
        kept += len as u64;
    }
    Ok(kept)
}

/// The record a keydir entry points at, checked as a scan would check it (CRC included).
fn live_record<'a>(file: &DataFile, bytes: &'a [u8], offset: usize) -> Result<Record<'a>> {
    let rec = Record::decode(bytes.get(offset..).unwrap_or_default());
    rec.map_err(|bad| Error::corrupt_at(&file.path, offset as u64, format!("{bad} (merge stopped; run repair)")))
}

/// Whether the keydir points at exactly this record. A slot can only point at a record of its
/// own key, so the lookup compares locations, not key bytes.
fn is_live(e: &Engine, key: &[u8], here: Loc) -> bool {
    e.read_index(|ix| ix.keys.points_at(key, here.file_id, here.offset))
}

/// The output file being written, and its hint when hints are streamed.
struct Current {
    id: u32,
    data: BufWriter<Paced>,
    /// Bytes appended, the pending run included.
    len: u64,
    /// Bytes handed to `data`.
    written: u64,
    /// Not paced: it is synced only after the swap, by the background thread.
    hint: Option<HintBuilder<BufWriter<Checked>>>,
}

/// An output file written front to back whose writeback is started every `WRITEBACK_STEP`
/// bytes (on Linux, `sync_file_range`), and for the rest when it is closed: the disk works
/// while the merge copies, and the fsyncs at the end find little left to write.
struct Paced {
    out: Checked,
    /// Bytes handed to the kernel.
    written: u64,
    /// Bytes whose writeback has been started.
    kicked: u64,
}

impl Paced {
    fn new(out: Checked) -> Paced {
        Paced { out, written: 0, kicked: 0 }
    }

    /// Starts writeback of everything not started yet; returns the file.
    fn done(self) -> Checked {
        dfs::start_writeback(self.out.file(), self.kicked, self.written.max(self.kicked));
        self.out
    }
}

impl Write for Paced {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        if self.written - self.kicked >= dfs::WRITEBACK_STEP {
            dfs::start_writeback(self.out.file(), self.kicked, self.written);
            self.kicked = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A written output: data file, still to be fsynced, and (streamed) hint tmp file.
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
    /// Set when another share of the copy failed.
    stop: &'a AtomicBool,
    current: Option<Current>,
    /// Records appended to `current` but not written yet: one stretch of an input's map.
    run: Option<Run<'a>>,
    finished: Vec<Finished>,
}

/// Consecutive records of one input (`src[from..to]`, each already CRC-checked) that go to the
/// output in one write: a merge of mostly live files writes megabytes per call, not a record.
struct Run<'a> {
    src: &'a [u8],
    from: usize,
    to: usize,
}

/// The longest run written in one call: long enough that the per-call cost vanishes, short
/// enough that early writeback starts at its usual step.
const RUN_MAX: usize = 1 << 20;

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |err| Error::io("write merge output", path, err)
}

impl<'a> Outputs<'a> {
    fn new(e: &'a Engine, tmp: &'a Path, stream_hints: bool, stop: &'a AtomicBool) -> Self {
        Outputs { e, tmp, stream_hints, stop, current: None, run: None, finished: Vec::new() }
    }

    /// Err when the merge must stop: the handle is closing, or another share failed.
    fn check(&self) -> Result<()> {
        match self.e.is_closing() || self.stop.load(Ordering::Relaxed) {
            true => Err(Error::Closed),
            false => Ok(()),
        }
    }

    /// Appends the record (already CRC-checked) at `offset` in `src`, an input's map, whose
    /// header is `h` and key `key`; returns where it goes. The bytes may only be written at the
    /// next call that cannot extend the same run.
    fn append(&mut self, src: &'a [u8], offset: usize, key: &[u8], h: &Header) -> Result<(u32, u32)> {
        let len = h.record_len() as usize;
        let full =
            self.current.as_ref().is_some_and(|c| c.len > 0 && c.len + len as u64 > self.e.opts().merge.max_file_size);
        if full {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open_next()?);
        }
        let rec = &src[offset..offset + len];
        // Members of committed batches are copied as ordinary records: the outputs are durable
        // before they are published, so a batch needs no framing there.
        let member = h.flags & FLAG_MEMBER != 0;
        let extends = self.run.as_ref().is_some_and(|r| std::ptr::eq(r.src, src) && r.to == offset);
        if member || !extends || self.run.as_ref().is_some_and(|r| r.to - r.from >= RUN_MAX) {
            self.write_run()?;
        }
        if member {
            self.write_now(&as_plain(rec))?;
        } else if let Some(r) = &mut self.run {
            r.to = offset + len;
        } else {
            self.run = Some(Run { src, from: offset, to: offset + len });
        }
        let c = self.current.as_mut().unwrap();
        let at = c.len as u32;
        c.len += len as u64;
        if let Some(hint) = &mut c.hint {
            let flags = h.flags & !FLAG_MEMBER;
            let e = HintEntry { ts: h.ts, expires: h.expires, offset: at, record_len: len as u32, flags, key };
            let tmp = self.tmp;
            hint.push(&e).map_err(|err| write_err(&tmp.join(hint_tmp_name(c.id)))(err))?;
        }
        Ok((c.id, at))
    }

    /// Writes the pending run, if any, to the current output.
    fn write_run(&mut self) -> Result<()> {
        match self.run.take() {
            Some(r) => self.write_now(&r.src[r.from..r.to]),
            None => Ok(()),
        }
    }

    /// Writes `bytes` to the current output (whose `len` does not count them yet when they are a
    /// record being appended, and does when they are a run).
    fn write_now(&mut self, bytes: &[u8]) -> Result<()> {
        let c = self.current.as_mut().expect("a run belongs to an open output");
        // The path only for an error: formatting it per record was a tenth of a merge's time.
        let tmp = self.tmp;
        c.data.write_all(bytes).map_err(|err| write_err(&tmp.join(data_name(c.id)))(err))?;
        c.written += bytes.len() as u64;
        Ok(())
    }

    fn open_next(&self) -> Result<Current> {
        let id = self.e.allocate_id()?;
        let path = self.tmp.join(data_name(id));
        let data = BufWriter::with_capacity(1 << 20, Paced::new(Checked::new(create_new(&path)?, &path)));
        let hint = match self.stream_hints {
            true => {
                let hpath = self.tmp.join(hint_tmp_name(id));
                let f = BufWriter::with_capacity(1 << 16, Checked::new(create_new(&hpath)?, &hpath));
                // The covered length is patched in when the file is closed.
                Some(HintBuilder::new(f, id, 0).map_err(write_err(&self.tmp.join(hint_tmp_name(id))))?)
            }
            false => None,
        };
        Ok(Current { id, data, len: 0, written: 0, hint })
    }

    fn close_current(&mut self) -> Result<()> {
        self.write_run()?;
        let Some(c) = self.current.take() else { return Ok(()) };
        debug_assert_eq!(c.written, c.len);
        let path = self.tmp.join(data_name(c.id));
        let data = c.data.into_inner().map_err(|err| write_err(&path)(err.into_error()))?.done();
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

    /// Flushes and fsyncs every output; returns (id, size) of each output, and each streamed
    /// hint's file, written but not synced (section 7.3: the background thread makes it durable
    /// after the swap). `merge.tmp/` is fsynced by the swap.
    #[allow(clippy::type_complexity)]
    fn finish(mut self) -> Result<(Vec<(u32, u64)>, Vec<(u32, File)>)> {
        self.close_current()?;
        let (mut done, mut hints) = (Vec::new(), Vec::new());
        for f in self.finished {
            dfs::sync_file(f.data.file(), &self.tmp.join(data_name(f.id)))?;
            killpoint::hit("merge-output-synced");
            if let Some(h) = f.hint {
                hints.push((f.id, h.into_file()));
            }
            done.push((f.id, f.len));
        }
        Ok((done, hints))
    }
}

fn hint_tmp_name(id: u32) -> String {
    tmp_name(&hint_name(id))
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
