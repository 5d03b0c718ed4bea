//! What merge, backup and delete-all do to the engine's state, each under the maintenance lock
//! (rank 1), which [`Maintenance`] holds: only one of them runs at a time, and the files they
//! work on cannot be merged away underneath them.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use super::lock_order::MutexGuard;
use super::write::Writer;
use super::{Chore, Engine};
use crate::clock::now_ns;
use crate::error::Result;
use crate::format::merge_done::MergeDone;
use crate::format::record::{Header, HEADER_LEN};
use crate::generation;
use crate::hints::write_hint;
use crate::index::Index;
use crate::keydir::{Keydir, Layouts, Loc};
use crate::killpoint;
use crate::storage::datafile::{ActiveFile, DataFile};
use crate::storage::fs::{fsync_dir, hint_name, remove_if_exists, rename, sync_file, tmp_name, write_back_stepwise};

/// A live record a merge copied from `old` to `new`.
pub(crate) struct Moved {
    pub old: Loc,
    pub new: Loc,
}

/// A live record a full merge found by walking the keydir: the entry in `bucket` pointed at
/// `old`, and the merge copied the record to (file, offset) `new` (`None`: not copied, expired).
pub(crate) struct Relocation {
    pub bucket: u32,
    pub old: Loc,
    pub new: Option<(u32, u32)>,
}

/// The live records a merge copied, as its copy phase found them.
pub(crate) enum Moves {
    /// By scanning the inputs: repointed by key.
    Keyed(Vec<Moved>),
    /// By walking the keydir (full merges): repointed by bucket while the bucket's shard has
    /// not moved its entries since `layout`, by key after that shard rehashed.
    /// (The layouts boxed: one per shard, they outweigh the vector.)
    Walked { layout: Box<Layouts>, moves: Vec<Relocation> },
}

impl Default for Moves {
    fn default() -> Self {
        Moves::Keyed(Vec::new())
    }
}

/// What a backup copies: every data file (ascending ids), the active one only up to its
/// (id, length).
pub(crate) struct PointInTime {
    pub files: Vec<u32>,
    pub active: Option<(u32, u64)>,
}

/// The maintenance lock, held.
pub(crate) struct Maintenance<'a> {
    pub(super) e: &'a Engine,
    _held: MutexGuard<'a, ()>,
}

/// Keydir entries moved per index lock acquisition: short enough that a writer waiting to
/// publish its record is not held up for long.
const REPOINT_BATCH: usize = 4096;

/// Entries repointed by key per index lock acquisition: their buckets are loaded before the lock
/// is taken, and a batch's worth must still be in the cache once it is.
const KEYED_BATCH: usize = 1024;

impl Engine {
    /// Waits for any merge, backup or delete-all in progress, then keeps others out.
    pub fn maintenance(&self) -> Maintenance<'_> {
        Maintenance { e: self, _held: self.maintenance.lock() }
    }

    /// Empties the database in place: a merge whose inputs are every file and whose output is
    /// nothing, swapped in by the same protocol, so a crash leaves it untouched or empty. Writers
    /// wait for the whole of it (it is short: no data is copied).
    pub fn delete_all(&self) -> Result<()> {
        let m = self.maintenance();
        self.check_writable()?;
        m.remove_old_generation()?;
        let _no_hint_writes = self.dirs.lock();
        self.presync_active()?;
        let mut w = self.quiesce()?;
        self.seal_active(&mut w)?;
        let mut inputs: Vec<u32> = self.files.read().keys().copied().collect();
        inputs.sort_unstable();
        let tmp = generation::begin(&self.root)?;
        generation::mark_complete(&tmp, &MergeDone { inputs: inputs.clone(), outputs: Vec::new() })?;
        self.swap_generations(&inputs)?;
        self.irreducible.lock().clear();
        // Empty, hashed as before: writers hash with the handle's seed before any lock.
        *self.index.write() = Index { keys: Keydir::with_seed(self.seed), ..Default::default() };
        self.conflicts().note_everything();
        let old_files = std::mem::take(&mut *self.files.write());
        // No file is left for the next one to be linked to.
        w.unlinked();
        drop(w);
        drop(old_files);
        self.chores.push(Chore::RemoveOldGeneration);
        Ok(())
    }

    /// [`generation::swap`], for a caller holding the writer mutex and the directory lock. A
    /// failure poisons the handle: the directories may now be between generations, and open (or
    /// `Db::reopen`) knows how to finish or undo.
    fn swap_generations(&self, inputs: &[u32]) -> Result<()> {
        let swapped = generation::swap(&self.root, inputs);
        if let Err(err) = &swapped {
            self.poison(format!("generation swap failed, reopen to recover: {err}"));
        }
        swapped
    }
}

impl Maintenance<'_> {
    /// Removes a `data.old/` that an earlier swap left for the background thread.
    pub fn remove_old_generation(&self) -> Result<()> {
        generation::remove_old(&self.e.root)
    }

    /// Makes every write so far visible (sealing the active file first if `seal_active`), and
    /// returns the files sealed by then, ascending: each is immutable, and the keydir says
    /// exactly which of its records are live.
    pub fn sealed_files(&self, seal_active: bool) -> Result<Vec<u32>> {
        let (sealed, unhinted) = self.listed(seal_active, false)?;
        self.e.queue_hints(unhinted.as_slice());
        Ok(sealed)
    }

    /// [`Maintenance::sealed_files`] for a full merge: the active file is sealed as a rotation
    /// seals (its fsync on the seal thread, which the merge's swap waits for), and its hint is
    /// left to the caller (the id returned): the merge consumes that file, and writing its hint
    /// beside the merge took a fifth to a third of the CPU a merge of freshly written data used.
    pub fn sealed_files_unhinted(&self, seal_active: bool) -> Result<(Vec<u32>, Option<u32>)> {
        self.listed(seal_active, true)
    }

    /// The files sealed once every write so far is visible, sealing the active file first if
    /// `seal_active` (on the seal thread if `later`); returns the id of the file it sealed.
    fn listed(&self, seal_active: bool, later: bool) -> Result<(Vec<u32>, Option<u32>)> {
        let e = self.e;
        if seal_active && !later {
            e.presync_active()?;
        }
        // The files and the sequence number are read under one hold of the writer mutex, so
        // every record in a file listed here is at or below `seq`, which the commit below
        // publishes. A file that rotation seals after this hold may hold records still awaiting
        // their group commit: as an input, the merge would find them dead and drop them, and
        // their publication would then point the keydir into a file the swap removed.
        // With no record awaiting its group commit, every write up to `seq` is visible already,
        // and the commit is skipped: with the active file's seal still running it would wait
        // for it (a group's records may lie in the file being sealed).
        let (seq, settled, mut sealed, unhinted) = {
            let mut w = e.writer.lock();
            let unhinted = match (seal_active, later) {
                (true, true) => e.seal_active_later(&mut w)?,
                (true, false) => e.seal_active_unhinted(&mut w)?,
                (false, _) => None,
            };
            let active = w.active.as_ref().map(|a| a.id);
            let sealed: Vec<u32> = e.files.read().keys().copied().filter(|&id| Some(id) != active).collect();
            (w.seq, w.pending.is_empty(), sealed, unhinted)
        };
        if let Err(err) = if settled { Ok(()) } else { e.commit(seq) } {
            // A hint is never durable before the records it describes.
            if !later || e.seals_settled() {
                e.queue_hints(unhinted.as_slice());
            }
            return Err(err);
        }
        sealed.sort_unstable();
        Ok((sealed, unhinted))
    }

    /// Sealed files a selective merge found nothing to reclaim in, with their live bytes then.
    pub fn irreducible(&self) -> HashMap<u32, u64> {
        self.e.irreducible.lock().clone()
    }

    /// The live bytes of each of `ids` now.
    pub fn live_bytes(&self, ids: &[u32]) -> Vec<(u32, u64)> {
        self.e.read_index(|ix| ids.iter().map(|&id| (id, ix.live.get(&id).copied().unwrap_or(0))).collect())
    }

    /// Remembers sealed files a selective merge could not shrink, with their live bytes from
    /// before it copied them. A sealed file never changes, but its records die as their keys are
    /// written again: it is worth another look once its live bytes differ.
    pub fn mark_irreducible(&self, live: &[(u32, u64)]) {
        self.e.irreducible.lock().extend(live.iter().copied());
    }

    /// Step 4 of a merge, the only time writers wait: under the directory lock and the writer
    /// mutex, fdatasync the active file and trim its unused room, swap `merge.tmp/` in for
    /// `data/` (the `inputs` stay in `data.old/`), make the `outputs` (id, size) readable, and
    /// seal the active file so the next
    /// write goes to `next_active`, an empty file numbered above every output, or to a file
    /// rotation creates (see [`Maintenance::adopt_empty`]). Returns the outputs.
    pub fn swap_in(&self, inputs: &[u32], outputs: &[(u32, u64)], next_active: u32) -> Result<Vec<Arc<DataFile>>> {
        let e = self.e;
        let _no_hint_writes = e.dirs.lock();
        e.presync_active()?;
        let mut w = e.writer.lock();
        // Every linked file must be durable at step 6: the one a rotation is sealing too.
        e.settle_seals(&mut w)?;
        // Trimmed too, before the swap: the outputs and the empty file come in with higher ids,
        // and a crash after the swap must find the active file ending at its last record, as
        // every file below the newest does (docs/DESIGN.md section 4.5, rule 1).
        if let Some(a) = &mut w.active {
            if let Err(err) = a.seal() {
                e.fsync_failed(&mut w, format!("fdatasync and trim before merge swap failed: {err}"));
                return Err(err);
            }
        }
        if w.next_id.checked_sub(1) != Some(next_active) {
            self.vouch_before_swap(&w)?;
        }
        e.swap_generations(inputs)?;
        // The new generation is live: a handle that failed to take it in half-knows its files.
        let files = self.adopt(&mut w, outputs, next_active).inspect_err(|err| {
            e.poison(format!("taking in the merge's new generation failed, reopen to recover: {err}"))
        })?;
        drop(w);
        drop(_no_hint_writes);
        // Every file of the new generation is durable: the mark (advanced in `adopt`) may name
        // its newest, so that open never takes a merge output for a file whose seal a crash
        // interrupted (docs/DESIGN.md section 4.5). Flushed by the background thread: an
        // fdatasync with a device flush here cost the merge tens of milliseconds on a busy
        // disk. A failure leaves the older mark, which stays true.
        e.chores.push(Chore::FlushWatermark);
        Ok(files)
    }

    /// Step 11 of the swap: the outputs readable, the old active file sealed, the empty file in.
    fn adopt(&self, w: &mut Writer, outputs: &[(u32, u64)], next_active: u32) -> Result<Vec<Arc<DataFile>>> {
        let e = self.e;
        let mut files = Vec::new();
        for &(id, size) in outputs {
            files.push(Arc::new(DataFile::sealed(&e.dir, id)?));
            e.index.write().sizes.insert(id, size);
        }
        e.files.write().extend(files.iter().map(|f| (f.id, f.clone())));
        e.seal_active(w)?;
        self.adopt_empty(w, next_active)?;
        if let Some((newest, size)) = e.index.read().newest_file() {
            e.watermark.advance(newest, size);
        }
        Ok(files)
    }

    /// Before a swap that puts the merge's empty file below files writers made meanwhile: the
    /// mark names the newest of them (durable: the active file was just sealed, every seal
    /// settled), on the disk. The empty file becomes the second-newest and holds no stamp the
    /// newest file's first record could be linked to, so without a mark that vouches for the
    /// newest file, open after a power loss would set that durable file aside
    /// (docs/DESIGN.md section 4.5).
    fn vouch_before_swap(&self, w: &Writer) -> Result<()> {
        let e = self.e;
        let newest = match &w.active {
            Some(a) => Some((a.id, a.len)),
            None => e.index.read().newest_file(),
        };
        if let Some((id, len)) = newest {
            e.watermark.advance(id, len);
        }
        e.watermark.sync()
    }

    /// Makes the merge's empty file `id` part of the handle. It becomes the active file only if
    /// it is still the highest id: writers rotating after the merge took it made higher-numbered
    /// files, and the file being appended must be the highest (the torn-tail rule). Then it stays
    /// an empty sealed file and the next write creates a file, as rotation does.
    fn adopt_empty(&self, w: &mut Writer, id: u32) -> Result<()> {
        let e = self.e;
        let highest = w.next_id.checked_sub(1) == Some(id);
        let file = match highest {
            true => {
                let fresh = ActiveFile::reopen(&e.dir, id, 0)?.limited(e.opts.max_file_size);
                let f = DataFile::active(&fresh);
                w.active = Some(fresh);
                // Not linked to the merge output below it (not in stamp order).
                w.unlinked();
                e.watermark.name(id)?;
                f
            }
            false => DataFile::sealed(&e.dir, id)?,
        };
        e.index.write().sizes.insert(id, 0);
        e.files.write().insert(id, Arc::new(file));
        Ok(())
    }

    /// Step 5 of a merge, with writers running again: repoint the keydir entries that still point
    /// at a `moved` record (compare-and-swap, in small batches so no writer waits long for the
    /// index), drop the keys of `dropped` (expired) records, then drop the inputs from the file
    /// table. Until then the inputs stay readable, so every keydir entry stays valid.
    pub fn repoint(&self, inputs: &[Arc<DataFile>], moved: &[Moves], dropped: &[Loc]) {
        for moved in moved {
            self.repoint_moves(inputs, moved);
        }
        self.drop_expired(inputs, dropped);
        self.drop_inputs(inputs);
    }

    /// Repoints one set of moved records, in batches.
    fn repoint_moves(&self, inputs: &[Arc<DataFile>], moved: &Moves) {
        let e = self.e;
        match moved {
            Moves::Keyed(moved) => self.repoint_by_key(inputs, moved),
            Moves::Walked { layout, moves } => {
                let mut by_key = Vec::new();
                let mut live = LiveTally::default();
                for batch in moves.chunks(REPOINT_BATCH) {
                    let mut ix = e.index.write();
                    for r in batch {
                        let Some((file_id, offset)) = r.new else { continue };
                        let new = Loc { file_id, offset, ..r.old };
                        // The entry is still in its bucket if its key still points at the
                        // record, unless its shard rehashed since the walk: then by key.
                        match ix.keys.replace_at(layout, r.bucket as usize, r.old, new) {
                            Some(true) => live.add(new.file_id, new.size),
                            Some(false) => {}
                            None => by_key.push(Moved { old: r.old, new }),
                        }
                    }
                    live.settle(&mut ix);
                }
                self.repoint_by_key(inputs, &by_key);
            }
        }
    }

    /// Repoints moved records by key, in batches. Each key is read from its input's map (which
    /// the copy has just read: an output's fresh map would fault its pages in, about 4 us a
    /// record) and hashed, and its bucket loaded, before the index lock is taken: read under the
    /// lock, the keys held a writer beside the merge up for tens of milliseconds.
    fn repoint_by_key(&self, inputs: &[Arc<DataFile>], moved: &[Moved]) {
        let e = self.e;
        let mut hashed = Vec::with_capacity(KEYED_BATCH.min(moved.len()));
        for batch in moved.chunks(KEYED_BATCH) {
            hashed.clear();
            hashed.extend(batch.iter().filter_map(|m| {
                let hash = e.hash_key(key_at(inputs, m.old)?).hash;
                e.bucket_hints.prefetch(hash);
                Some((hash, m))
            }));
            let mut ix = e.index.write();
            for &(hash, m) in &hashed {
                if ix.keys.replace_hashed(hash, m.old, m.new) {
                    *ix.live.entry(m.new.file_id).or_insert(0) += m.new.size as u64;
                }
            }
        }
    }

    /// Removes the keys of live records a full merge dropped as expired, if they still point there.
    fn drop_expired(&self, inputs: &[Arc<DataFile>], dropped: &[Loc]) {
        let e = self.e;
        for batch in dropped.chunks(REPOINT_BATCH) {
            let mut ix = e.index.write();
            for &l in batch {
                if let Some(key) = key_at(inputs, l) {
                    ix.keys.remove_if(key, l);
                }
            }
        }
    }

    /// Takes the inputs out of the byte accounting, then out of the file table.
    fn drop_inputs(&self, inputs: &[Arc<DataFile>]) {
        let e = self.e;
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
        drop(files);
        let mut irreducible = e.irreducible.lock();
        for f in inputs {
            irreducible.remove(&f.id);
        }
    }

    /// Counts a finished merge and leaves `data.old/` to the background thread.
    pub fn merged(&self) {
        let e = self.e;
        e.chores.push(Chore::RemoveOldGeneration);
        e.merges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        e.last_merge_ns.store(now_ns(), std::sync::atomic::Ordering::Relaxed);
    }

    /// A backup's point in time, taken once no write awaits its group commit. Writers carry on
    /// right after.
    pub fn freeze(&self) -> Result<PointInTime> {
        let e = self.e;
        e.presync_active()?;
        let (mut ids, active) = {
            let w = e.quiesce()?;
            let active = w.active.as_ref().map(|a| (a.id, a.len));
            let ids: Vec<u32> = e.files.read().keys().copied().collect();
            (ids, active)
        };
        ids.sort_unstable();
        Ok(PointInTime { files: ids, active })
    }
}

impl Engine {
    /// Hands a full merge's hints to the background thread, after its swap: each was written
    /// as `data/<id>.hint.tmp` (it came in with `merge.tmp/`) and not synced
    /// (docs/DESIGN.md section 7.3). A crash first leaves the output without a hint, which
    /// costs a scan at the next open, as after a crash while any hint is written.
    pub(crate) fn place_hints_later(&self, hints: Vec<(u32, File)>) {
        if !hints.is_empty() {
            self.chores.push(Chore::PlaceHints(hints));
        }
    }

    /// Makes each hint durable and renames it to `<id>.hint`, as the atomic replace of section
    /// 1.5 does, for the outputs still in the file table. Under the maintenance lock, so that no
    /// merge or delete-all runs meanwhile (no generation is renamed under it, and the directory
    /// states the kill-point sweeps expect hold). A hint that cannot be placed is removed and
    /// written again by scanning its output (the file is scanned at open otherwise).
    pub(super) fn place_hints(&self, hints: Vec<(u32, File)>) {
        let _m = self.maintenance();
        let _dirs = self.dirs.lock();
        let mut placed = false;
        for (id, file) in hints {
            if !self.files.read().contains_key(&id) {
                continue;
            }
            let tmp = self.dir.join(tmp_name(&hint_name(id)));
            let placed_now = write_back_stepwise(&file, &tmp)
                .and_then(|()| sync_file(&file, &tmp))
                .and_then(|()| rename(&tmp, &self.dir.join(hint_name(id))));
            match placed_now {
                Ok(()) => {
                    placed = true;
                    killpoint::hit("merge-hint-placed");
                }
                Err(_) => {
                    let _ = remove_if_exists(&tmp);
                    if !self.space.is_low() {
                        let _ = write_hint(&self.dir, id);
                    }
                }
            }
        }
        if placed {
            // A failure costs a scan at the next open, nothing else.
            let _ = fsync_dir(&self.dir);
        }
    }
}

/// Live bytes repointed into each output during one batch, added to the index's accounting
/// once per output at the batch's end: a merge has a few outputs, and a map update per record
/// took about a tenth of the repoint's time (1 ms of 15 for 1 M records).
#[derive(Default)]
struct LiveTally(Vec<(u32, u64)>);

impl LiveTally {
    fn add(&mut self, file_id: u32, size: u32) {
        match self.0.iter_mut().find(|t| t.0 == file_id) {
            Some(t) => t.1 += size as u64,
            None => self.0.push((file_id, size as u64)),
        }
    }

    /// Adds the tally to `ix` and empties it (before the index lock is let go).
    fn settle(&mut self, ix: &mut Index) {
        for (id, bytes) in self.0.drain(..) {
            *ix.live.entry(id).or_insert(0) += bytes;
        }
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
