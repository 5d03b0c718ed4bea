//! What the tail-first reclaim (docs/DESIGN.md section 7.11, `crate::reclaim_tail`) does to the
//! engine's state, under the maintenance lock: append a chunk's surviving records to the active
//! file, make the sealed file shorter, remove it once empty.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Maintenance;
use crate::error::{Error, Result};
use crate::format::record::{Header, HEADER_LEN};
use crate::keydir::Loc;
use crate::killpoint;
use crate::storage::batch_scan::BatchScan;
use crate::storage::datafile::DataFile;
use crate::storage::fs::{data_name, fsync_dir, hint_name, open_nofollow, remove_if_exists, sync_file, truncate};

/// How long a shortened file waits for readers still holding its old map before it gives up on
/// cutting it this time (the cut happens with the next chunk, or the file stays longer).
const READERS_WAIT: Duration = Duration::from_secs(10);

/// A record of a chunk appended to the active file: where it starts in the appended buffer, and
/// where it was in the sealed file when the keydir pointed at it (`None` for a kept tombstone or
/// expired record the keydir has no entry for).
pub(crate) struct Copy {
    pub at: u32,
    pub old: Option<Loc>,
}

impl Maintenance<'_> {
    /// Removes sealed file `id`'s hint (and makes that durable): the file is about to get
    /// shorter, and a hint may only describe a file that does not change.
    pub fn drop_hint(&self, id: u32) -> Result<()> {
        let e = self.e;
        let _no_hint_writes = e.dirs.lock();
        if remove_if_exists(&e.dir.join(hint_name(id)))? {
            fsync_dir(&e.dir)?;
        }
        killpoint::hit("tail-hint-removed");
        Ok(())
    }

    /// Appends `buf` (whole plain records, stamps unchanged) to the active file with one write
    /// once no record awaits its group commit, fdatasyncs it, and points the keydir entries that
    /// still point at a copied record's old place at its copy. Writers wait for all of it.
    ///
    /// No record awaits its commit while the copies are appended, so a failed group fsync later
    /// (which cuts off the records it covered, section 5.5) never cuts the copies off after the
    /// sealed file lost its originals.
    pub fn append_copies(&self, buf: &[u8], copies: &[Copy]) -> Result<()> {
        let e = self.e;
        e.presync_active()?;
        let mut w = e.quiesce()?;
        e.check_writable()?;
        let (file_id, offset) = e.with_room(false, || {
            e.ensure_room(&mut w, buf.len() as u64)?;
            e.append_locked(&mut w, buf)
        })?;
        // A rotation for the copies: the new file's entry is durable once the seal has ended.
        e.settle_seals(&mut w)?;
        let active = w.active.as_ref().expect("just appended");
        if let Err(err) = active.sync() {
            let why = format!("fdatasync of copied records in {} failed: {err}", active.path.display());
            e.fsync_failed(&mut w, why);
            return Err(err);
        }
        e.watermark.advance(active.id, active.len);
        let mut ix = e.index.write();
        *ix.sizes.entry(file_id).or_insert(0) += buf.len() as u64;
        for c in copies {
            let Some(old) = c.old else { continue };
            let start = c.at as usize;
            let Ok(h) = Header::parse(&buf[start..]) else { continue };
            let key = &buf[start + HEADER_LEN..start + HEADER_LEN + h.key_len as usize];
            if ix.keys.get(key) != Some(old) {
                continue; // written or deleted since: the copy is dead on arrival
            }
            let new = Loc { file_id, offset: (offset + c.at as u64) as u32, ..old };
            ix.keys.insert(key, new);
            if let Some(l) = ix.live.get_mut(&old.file_id) {
                *l = l.saturating_sub(old.size as u64);
            }
            *ix.live.entry(file_id).or_insert(0) += old.size as u64;
        }
        drop(ix);
        drop(w);
        killpoint::hit("tail-copied");
        Ok(())
    }

    /// For each of `keys`, the greatest stamp of a durable, committed record of that key in a
    /// data file above `id` (the active file up to what is synced here). A record found is never
    /// lost to a crash and shadows at open whatever it beats, so an absence marker in `id` that
    /// it beats (a stamp at least the marker's) can go: the duplicates a kill between the copies
    /// and the cut of a chunk leaves (section 7.11) are such markers.
    ///
    /// It reads every file above `id` once. Only the tail-first reclaim calls it, at most once
    /// per file reclaimed and only when a chunk's surviving records do not fit: on a nearly full
    /// disk, where the alternative is `E_NO_SPACE` for good; the reads cost no room.
    pub fn later_stamps(&self, id: u32, keys: &HashSet<Vec<u8>>) -> Result<HashMap<Vec<u8>, u64>> {
        let e = self.e;
        let mut found = HashMap::new();
        if keys.is_empty() {
            return Ok(found);
        }
        let active = self.synced_active()?;
        let mut files: Vec<Arc<DataFile>> =
            e.files.read().iter().filter(|(&f, _)| f > id).map(|(_, f)| f.clone()).collect();
        files.sort_unstable_by_key(|f| f.id);
        for file in files {
            let bytes = match (file.mapped(), active) {
                (Some(b), _) => crate::storage::datafile::Bytes::Borrowed(b),
                (None, Some((aid, len))) if aid == file.id => file.read(0, len as usize)?,
                (None, _) => continue, // an active file made since: newer than anything here
            };
            for (_, rec) in BatchScan::new(&bytes) {
                if keys.contains(rec.key) {
                    let ts = found.entry(rec.key.to_vec()).or_insert(0);
                    *ts = (*ts).max(rec.header.ts);
                }
            }
        }
        Ok(found)
    }

    /// The active file's id and length once every record in it is committed and fdatasynced.
    fn synced_active(&self) -> Result<Option<(u32, u64)>> {
        let e = self.e;
        e.presync_active()?;
        let mut w = e.quiesce()?;
        e.check_writable()?;
        // The files below the active one are durable too (a rotation's seal may be running).
        e.settle_seals(&mut w)?;
        let Some(active) = w.active.as_ref() else { return Ok(None) };
        let (id, len) = (active.id, active.len);
        if let Err(err) = active.sync() {
            let why = format!("fdatasync of {} failed: {err}", active.path.display());
            e.fsync_failed(&mut w, why);
            return Err(err);
        }
        e.watermark.advance(id, len);
        Ok(Some((id, len)))
    }

    /// Makes the watermark name the newest data file at a durable length, on the disk: the file
    /// a reclaim shortens may be the second-newest, whose newest stamp the newest file's first
    /// record may be linked to (or copies with old stamps may have opened the newest file), and
    /// a mark that vouches for the newest file keeps open from checking that link
    /// (docs/DESIGN.md sections 4.5 and 7.11).
    fn vouch_for_newest(&self) -> Result<()> {
        let e = self.e;
        if self.synced_active()?.is_none() {
            // Every sealed file is durable now (its seal settled).
            if let Some((id, len)) = e.index.read().newest_file() {
                e.watermark.advance(id, len);
            }
        }
        e.watermark.sync()
    }

    /// Makes sealed file `id` end at `cut` (a record boundary outside any batch), once the keydir
    /// points at none of its records from there on: readers get a map of the shorter file, the
    /// old map is dropped once no reader holds it (a read of a mapped page past the end of a file
    /// is a SIGBUS), then the file is truncated and fsynced. Returns whether it was cut.
    pub fn shorten(&self, id: u32, cut: u64) -> Result<bool> {
        let e = self.e;
        self.vouch_for_newest()?;
        // The hint writer maps data files too.
        let _no_hint_writes = e.dirs.lock();
        let short = Arc::new(DataFile::sealed_prefix(&e.dir, id, cut)?);
        let old = e.files.write().insert(id, short);
        e.index.write().sizes.insert(id, cut);
        if let Some(old) = old {
            let since = Instant::now();
            while Arc::strong_count(&old) > 1 {
                if since.elapsed() > READERS_WAIT {
                    // Left long on disk: its records past `cut` are copies of records the
                    // active file holds with the same stamps, so nothing changes at open.
                    return Ok(false);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let path = e.dir.join(data_name(id));
        let f = open_nofollow(&path, true)?;
        truncate(&f, &path, cut)?;
        killpoint::hit("tail-truncated");
        sync_file(&f, &path)?;
        Ok(true)
    }

    /// Removes sealed file `id`, which [`Maintenance::shorten`] emptied.
    pub fn remove_emptied(&self, id: u32) -> Result<()> {
        let e = self.e;
        let _no_hint_writes = e.dirs.lock();
        let empty = e.files.read().get(&id).is_some_and(|f| f.mapped() == Some(&[]));
        if !empty {
            return Err(Error::Corrupt(format!("{} is not empty; not removed", data_name(id))));
        }
        {
            let mut ix = e.index.write();
            ix.sizes.remove(&id);
            ix.live.remove(&id);
        }
        e.files.write().remove(&id);
        e.irreducible.lock().remove(&id);
        remove_if_exists(&e.dir.join(data_name(id)))?;
        fsync_dir(&e.dir)
    }
}
