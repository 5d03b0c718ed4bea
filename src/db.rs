//! `Db`: the public Rust API of a database handle.
//!
//! A handle owns one database directory (see the crate docs for the layout) from `open` to
//! `close`. It is `Send + Sync`: every method may be called from any thread at the same time,
//! except `close`, which consumes the handle.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::background::{spawn, WorkQueue};
use crate::clock::{expiry_after_ms, now_ns};
use crate::engine::{Durability, Engine};
use crate::error::{Error, Result};
use crate::format::record::{Codec, Encoded, Record, FLAG_TOMBSTONE};
use crate::iter::{Iter, KeyFilter};
use crate::keydir::Loc;
use crate::options::Options;
use crate::reclaim;
use crate::recovery::OpenReport;
use crate::space::SpaceInfo;
use crate::storage::fs;

/// A put's record buffer is at most this large to be kept for the thread's next put (so a
/// thread that puts holds at most this much between puts).
const SCRATCH_MAX: usize = 4096;

thread_local! {
    /// The buffer of this thread's last put, reused by its next one.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Size and garbage figures of a database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Keys in the keydir (keys that expired but were not yet read or collected still count).
    pub keys: u64,
    pub data_files: u64,
    /// Bytes of every data file.
    pub total_bytes: u64,
    /// Bytes of records no key points at any more (overwritten, deleted, tombstones).
    pub dead_bytes: u64,
    /// Merges completed by this handle.
    pub merges: u64,
    /// When the last merge of this handle finished (Unix nanoseconds; 0 = none yet).
    pub last_merge_unix_nano: u64,
}

/// Space a full merge would free.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reclaimable {
    pub dead_bytes: u64,
    pub total_bytes: u64,
    /// dead / total (0 for an empty database).
    pub ratio: f64,
}

/// Where and when a key's current record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub ts_unix_nano: u64,
    /// 0 when the key never expires.
    pub expires_unix_nano: u64,
    pub file_id: u32,
    /// Offset of the record's first byte in its data file.
    pub offset: u64,
    /// Bytes of the record on disk (header, key and stored value).
    pub size: u64,
}

/// A key's current state, as [`Db::update`] shows it.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub value: &'a [u8],
    /// Absolute expiry in Unix nanoseconds; 0 when the key never expires.
    pub expires_unix_nano: u64,
}

/// What [`Db::update`] does with the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Leave it as it is.
    Keep,
    /// Store `value` with this absolute expiry (0: never expires).
    Put { value: Vec<u8>, expires_unix_nano: u64 },
    /// Delete it (nothing is written when it is already absent).
    Delete,
}

/// Remaining lifetime of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    Never,
    /// Milliseconds left, rounded up.
    Remaining(u64),
}

pub struct Db {
    engine: Arc<Engine>,
    /// Stops the periodic workers (flusher, merger).
    stop: Arc<WorkQueue<()>>,
    periodic: Vec<JoinHandle<()>>,
    /// The engine's background threads (chores, prefaults, seals): close stops their queues
    /// after the periodic workers, which may still queue work for them.
    background: Vec<JoinHandle<()>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        opts.validate()?;
        fs::ensure_dir(path.as_ref())?;
        // Absolute from here on: the process may change its working directory while open.
        let root = std::fs::canonicalize(path.as_ref()).map_err(|e| Error::io("resolve", path.as_ref(), e))?;
        let engine = Arc::new(Engine::open(root, opts)?);
        let mut db = Db { engine, stop: Arc::new(WorkQueue::default()), periodic: Vec::new(), background: Vec::new() };
        db.start_workers();
        if db.engine.opts().merge.on_open {
            db.compact_if_needed()?;
        }
        Ok(db)
    }

    fn start_workers(&mut self) {
        let e = self.engine.clone();
        self.background.push(spawn("bitgask-background", move || e.run_chores()));
        let e = self.engine.clone();
        self.background.push(spawn("bitgask-prefault", move || e.run_prefaults()));
        let e = self.engine.clone();
        self.background.push(spawn("bitgask-seal", move || e.run_seals()));
        self.periodic("bitgask-flush", self.engine.opts().sync_interval_ms, |e| {
            // Errors poison the handle; the next write reports them.
            let _ = e.sync_all();
        });
        self.periodic("bitgask-merge", self.engine.opts().merge.interval_ms, |e| {
            // A failed background merge leaves the database as it was; the next pass retries.
            let _ = reclaim::compact(e);
        });
    }

    /// Runs `f` every `period_ms` (0: never) until the handle closes.
    fn periodic(&mut self, name: &str, period_ms: u64, f: fn(&Engine)) {
        if period_ms == 0 {
            return;
        }
        let (e, stop) = (self.engine.clone(), self.stop.clone());
        let period = Duration::from_millis(period_ms);
        self.periodic.push(spawn(name, move || {
            while stop.sleep(period) {
                f(&e);
            }
        }));
    }

    /// What open found: files loaded from hints, torn tails cut, unsynced tails set aside, hints
    /// ignored, unknown files.
    pub fn open_report(&self) -> OpenReport {
        self.engine.open_report()
    }

    /// Rebuilds the keydir from the files on disk, as a fresh open would, without giving up the
    /// LOCK: waits for in-flight writes and any merge, flushes, then reloads. Also the way back
    /// from a poisoned handle (writes that were never made durable are not served afterwards).
    pub fn reopen(&self) -> Result<()> {
        self.engine.check_open()?;
        self.engine.reload()
    }

    /// A point-in-time copy of the open database into `dst` (which must not exist, or be an
    /// empty directory, and must not be inside the database). Writers keep going; merges wait.
    /// The copy opens with `Db::open`. See `backup.rs` for the protocol.
    pub fn backup(&self, dst: impl AsRef<Path>) -> Result<()> {
        self.engine.check_open()?;
        crate::backup::backup(&self.engine, dst.as_ref())
    }

    /// Deletes every key, crash-safely: after a crash the database is either untouched or
    /// empty. It swaps in an empty generation exactly as a merge swaps in a new one.
    /// Writers wait for it; files that are not bitgask's are kept.
    pub fn delete_all(&self) -> Result<()> {
        self.engine.check_open()?;
        self.engine.delete_all()
    }

    /// The engine behind the handle (batches and transactions build on it).
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Poisons the handle after a panic crossed a C entry point: state may be half-updated.
    pub(crate) fn poison_after_panic(&self, what: &str) {
        self.engine.poison(format!("panic in {what}"));
    }

    pub fn path(&self) -> &Path {
        self.engine.root()
    }

    /// Syncs, writes the active file's hint, releases the LOCK. Also done (errors ignored) on drop.
    /// A poisoned handle is released all the same, without the sync and the hint, and returns
    /// `Error::Poisoned`.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let (stop, periodic, background) = (&self.stop, &mut self.periodic, &mut self.background);
        let join = |threads: &mut Vec<JoinHandle<()>>| {
            for t in threads.drain(..) {
                let _ = t.join();
            }
        };
        self.engine.close(
            || {
                stop.stop();
                join(periodic);
            },
            || join(background),
        )
    }

    // ---- writes ----

    fn check_sizes(&self, key: &[u8], value_len: usize) -> Result<()> {
        check_sizes(self.engine.opts(), key, value_len)
    }

    fn encode(&self, key: &[u8], value: &[u8], expires: u64) -> Encoded {
        encode(self.engine.opts(), key, value, expires)
    }

    fn put_durability(&self) -> Durability {
        if self.engine.opts().sync_on_put {
            Durability::Sync
        } else {
            Durability::NoSync
        }
    }

    fn delete_durability(&self) -> Durability {
        if self.engine.opts().sync_on_delete {
            Durability::Sync
        } else {
            Durability::NoSync
        }
    }

    /// Stores `value` under `key` (with the default TTL, if one is set).
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let ttl = self.engine.opts().default_ttl_ms;
        let expires = if ttl == 0 { 0 } else { expiry_after_ms(now_ns(), ttl) };
        self.put_expiring(key, value, expires)
    }

    /// Stores `value` under `key`, expiring `ttl_ms` milliseconds from now (`ttl_ms` > 0).
    pub fn put_ttl(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        check_ttl(ttl_ms)?;
        self.put_expiring(key, value, expiry_after_ms(now_ns(), ttl_ms))
    }

    fn put_expiring(&self, key: &[u8], value: &[u8], expires: u64) -> Result<()> {
        self.check_sizes(key, value.len())?;
        let mut enc =
            Encoded::reusing(SCRATCH.take(), key, value, expires, 0, codec_for(self.engine.opts(), value.len()));
        let done = self.engine.write(key, &mut enc, self.put_durability()).map(|_| ());
        // The buffer is kept for this thread's next put (no allocation and free per put),
        // unless a large value made it large.
        if enc.buf.capacity() <= SCRATCH_MAX {
            SCRATCH.set(std::mem::take(&mut enc.buf));
        }
        done
    }

    /// Deletes `key`; `Ok(false)` when it was absent (or already expired).
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check_sizes(key, 0)?;
        let x = self.engine.exclusive()?;
        if x.current(key)?.is_none() {
            return Ok(false);
        }
        let enc = Encoded::new(key, &[], 0, FLAG_TOMBSTONE, Codec::None);
        x.write(key, enc, self.delete_durability())?;
        Ok(true)
    }

    /// Atomically gives `key` a new lifetime of `ttl_ms` (> 0). `Ok(false)` if absent.
    pub fn expire(&self, key: &[u8], ttl_ms: u64) -> Result<bool> {
        check_ttl(ttl_ms)?;
        self.rewrite_expiry(key, Some(expiry_after_ms(now_ns(), ttl_ms)))
    }

    /// Atomically removes `key`'s expiry. `Ok(false)` if absent.
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        self.rewrite_expiry(key, None)
    }

    /// Rewrites the key's current value with a new expiry (`None`: no expiry), atomically.
    fn rewrite_expiry(&self, key: &[u8], expires: Option<u64>) -> Result<bool> {
        let expires = expires.unwrap_or(0);
        self.update(key, |cur| match cur {
            None => (Update::Keep, false),
            Some(c) if c.expires_unix_nano == expires => (Update::Keep, true),
            Some(c) => (Update::Put { value: c.value.to_vec(), expires_unix_nano: expires }, true),
        })
    }

    /// Atomic read-modify-write of one key: `f` sees the key's current value and expiry (`None`
    /// when absent or expired), decides what to do, and returns a result for the caller. No
    /// other write to the database can land between the read and the write. The new record is
    /// made durable as a put (or, for `Update::Delete`, a delete) would be.
    ///
    /// `f` runs with the writer mutex held: it must be quick and must not call back into this
    /// `Db` (that would deadlock).
    pub fn update<R>(&self, key: &[u8], f: impl FnOnce(Option<Current<'_>>) -> (Update, R)) -> Result<R> {
        self.check_sizes(key, 0)?;
        let x = self.engine.exclusive()?;
        let cur = x.current(key)?;
        let (action, out) = match cur {
            None => f(None),
            Some(l) => x.read(key, l, |r| {
                let value = r.value().map_err(|bad| Error::Corrupt(format!("key's value does not decode: {bad}")))?;
                Ok(f(Some(Current { value: &value, expires_unix_nano: r.header.expires })))
            })?,
        };
        match action {
            Update::Keep => {}
            Update::Put { value, expires_unix_nano } => {
                self.check_sizes(key, value.len())?;
                let enc = self.encode(key, &value, expires_unix_nano);
                x.write(key, enc, self.put_durability())?;
            }
            Update::Delete if cur.is_some() => {
                let enc = Encoded::new(key, &[], 0, FLAG_TOMBSTONE, Codec::None);
                x.write(key, enc, self.delete_durability())?;
            }
            Update::Delete => {}
        }
        Ok(out)
    }

    /// Flushes every write so far to stable storage.
    pub fn sync(&self) -> Result<()> {
        self.engine.sync_all()
    }

    // ---- reads ----

    /// The value of `key`, or `None` when it is absent or expired.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.copy_with(key, |v| v.to_vec())
    }

    /// [`Db::get_with`] for an `f` that copies the value out and does not call into the
    /// database: it runs while the file table is locked for reading, which spares the read a
    /// write to memory other threads' reads share (the C API's gets).
    pub(crate) fn copy_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.check_sizes(key, 0)?;
        copy_value(&self.engine, key, f)
    }

    /// Calls `f` with the value of `key` without copying it out of the data file when possible.
    /// `f` runs with no lock held: it may call into the database, even write.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.check_sizes(key, 0)?;
        read_value(&self.engine, key, f)
    }

    /// A hint before reading `keys` one by one (up to 16 are taken): loads what their reads
    /// will touch so that their cache misses overlap, as [`Db::multi_get`]'s do. Reads nothing
    /// and never fails (on a closed database it does nothing).
    pub fn prefetch_reads(&self, keys: &[&[u8]]) {
        if self.engine.check_open().is_ok() {
            self.engine.prefetch_reads(keys);
        }
    }

    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        self.check_sizes(key, 0)?;
        self.engine.check_open()?;
        Ok(self.engine.live_header(key)?.is_some())
    }

    /// Remaining lifetime of `key`; `None` when absent.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Ttl>> {
        Ok(self.meta(key)?.map(|m| match m.expires_unix_nano {
            0 => Ttl::Never,
            exp => Ttl::Remaining(exp.saturating_sub(now_ns()).div_ceil(1_000_000)),
        }))
    }

    /// Stamp, expiry and location of `key`'s current record; `None` when absent.
    pub fn meta(&self, key: &[u8]) -> Result<Option<RecordMeta>> {
        self.check_sizes(key, 0)?;
        let e = &self.engine;
        e.check_open()?;
        let Some((loc, h)) = e.live_header(key)? else { return Ok(None) };
        Ok(Some(RecordMeta {
            ts_unix_nano: h.ts,
            expires_unix_nano: h.expires,
            file_id: loc.file_id,
            offset: loc.offset as u64,
            size: loc.size as u64,
        }))
    }

    pub fn stats(&self) -> Result<Stats> {
        let e = &self.engine;
        e.check_open()?;
        let data_files = e.file_count() as u64;
        let (merges, last_merge_unix_nano) = e.merge_counters();
        Ok(e.read_index(|ix| Stats {
            keys: ix.keys.len() as u64,
            data_files,
            total_bytes: ix.total_bytes(),
            dead_bytes: ix.dead_bytes(),
            merges,
            last_merge_unix_nano,
        }))
    }

    // ---- space reclamation ----

    /// A full merge (docs/DESIGN.md section 7). Without `force` it runs only when the trigger holds
    /// (dead/total >= merge_trigger_ratio and total >= merge_min_total). Returns whether it ran.
    /// Reads and writes continue meanwhile; writers wait only for the final swap.
    ///
    /// On a full disk (docs/DESIGN.md section 5.14), without `force` while space is low, when
    /// the live data would not fit in the free space, or when the full merge runs out of room, it
    /// merges file by file instead, each input removed right after its swap (section 7.10).
    pub fn merge(&self, force: bool) -> Result<bool> {
        self.engine.check_open()?;
        reclaim::merge(&self.engine, force)
    }

    /// One pass of the background policy: a full merge when its trigger holds, else a
    /// selective merge of the files with the most garbage when enough qualify.
    /// While space is low (the disk full, or less free than twice the reserve) it merges file
    /// by file, as [`Db::merge`] does on a full disk.
    pub fn compact_if_needed(&self) -> Result<bool> {
        self.engine.check_open()?;
        reclaim::compact(&self.engine)
    }

    /// The reserve file and whether the disk is full (docs/DESIGN.md section 5.14).
    pub fn space(&self) -> Result<SpaceInfo> {
        self.engine.check_open()?;
        Ok(self.engine.space().snapshot())
    }

    /// Dead and total bytes: what a full merge would free.
    pub fn reclaimable(&self) -> Result<Reclaimable> {
        let s = self.stats()?;
        let ratio = if s.total_bytes == 0 { 0.0 } else { s.dead_bytes as f64 / s.total_bytes as f64 };
        Ok(Reclaimable { dead_bytes: s.dead_bytes, total_bytes: s.total_bytes, ratio })
    }

    /// Drops every expired key from the keydir (their bytes become dead); returns how many.
    pub fn run_gc(&self) -> Result<u64> {
        let e = &self.engine;
        e.check_open()?;
        let mut expiring = Vec::new();
        e.read_index(|ix| {
            ix.keys.for_each(|k, l| {
                if l.has_ttl {
                    expiring.push(k.to_vec());
                }
            })
        });
        let mut removed = 0;
        for k in expiring {
            if e.lookup(&k).is_some() && e.live_header(&k)?.is_none() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    // ---- iteration ----

    /// A cursor over the keys starting with `prefix`, in byte order, as of now.
    pub fn iter_prefix(&self, prefix: &[u8]) -> Result<Iter> {
        Iter::new(self.engine.clone(), KeyFilter::Prefix(prefix.to_vec()))
    }

    /// A cursor over the keys in `[start, end)` (no upper bound when `end` is `None`).
    pub fn iter_range(&self, start: &[u8], end: Option<&[u8]>) -> Result<Iter> {
        Iter::new(self.engine.clone(), KeyFilter::Range { start: start.to_vec(), end: end.map(<[u8]>::to_vec) })
    }

    /// One step of a stateless cursor over all keys, Redis `SCAN` style: pass 0 to start, then
    /// the cursor returned, until it is 0 again. Each step looks at about `count` keys (at least
    /// one) and returns those `filter` accepts, in no particular order, without copying the key
    /// set. A key present for the whole scan is returned at least once; keys written or
    /// deleted meanwhile may or may not be, and a key may come twice if the index grows during
    /// the scan. Expired keys are skipped.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut filter: impl FnMut(&[u8]) -> bool,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let e = &self.engine;
        e.check_open()?;
        let mut found = Vec::new();
        let next = e.read_index(|ix| {
            let (buckets, layout) = (ix.keys.num_buckets(), ix.keys.layout());
            let start = scan_cursor::resume(cursor, layout);
            let next = ix.keys.scan_buckets(start, count.max(1), |k, l| {
                if filter(k) {
                    found.push((k.to_vec(), l.has_ttl));
                }
            });
            if next >= buckets {
                0
            } else {
                scan_cursor::make(next, layout)
            }
        });
        let mut keys = Vec::with_capacity(found.len());
        for (k, has_ttl) in found {
            if !has_ttl || e.live_header(&k)?.is_some() {
                keys.push(k);
            }
        }
        Ok((next, keys))
    }

    /// Calls `f(key, value)` for every key with `prefix` in byte order until it returns false.
    pub fn fold(&self, prefix: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        let mut it = self.iter_prefix(prefix)?;
        while it.advance(true)? {
            if !f(it.key(), it.value()) {
                break;
            }
        }
        Ok(())
    }
}

/// Checks a key and value length against the handle's limits.
pub(crate) fn check_sizes(o: &Options, key: &[u8], value_len: usize) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArg("empty key".into()));
    }
    if key.len() > o.max_key_size as usize {
        return Err(Error::TooLarge(format!("key of {} bytes exceeds max_key_size {}", key.len(), o.max_key_size)));
    }
    if value_len > o.max_value_size as usize {
        return Err(Error::TooLarge(format!("value of {value_len} bytes exceeds max_value_size {}", o.max_value_size)));
    }
    Ok(())
}

/// Encodes a put (compressed as the options say), stamp and CRC left for the writer.
pub(crate) fn encode(o: &Options, key: &[u8], value: &[u8], expires: u64) -> Encoded {
    Encoded::new(key, value, expires, 0, codec_for(o, value.len()))
}

/// The codec a value of `len` bytes is offered to: the handle's compression above its threshold.
pub(crate) fn codec_for(o: &Options, len: usize) -> Codec {
    if len >= o.compression_threshold as usize {
        o.compression
    } else {
        Codec::None
    }
}

/// Calls `f` with the current value of `key` (`None` when absent or expired; an expired key is
/// dropped from the keydir on the way). `f` may call into the engine.
pub(crate) fn read_value<R>(e: &Engine, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
    e.check_open()?;
    let found = e.with_current(key, |loc, r| value_of(loc, r, f))?;
    Ok(forget_if_expired(e, key, found))
}

/// [`read_value`] for an `f` that does not call into the engine (it copies the value out): the
/// faster read that leaves no trace on memory other threads' reads use (`Engine::locate_pinned`).
pub(crate) fn copy_value<R>(e: &Engine, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
    e.check_open()?;
    let found = e.with_current_pinned(key, |loc, r| value_of(loc, r, f))?;
    Ok(forget_if_expired(e, key, found))
}

/// A current record's value, or the location of an expired record.
enum Value<R> {
    Live(R),
    Expired(Loc),
}

fn value_of<R>(loc: Loc, r: Record<'_>, f: impl FnOnce(&[u8]) -> R) -> Result<Value<R>> {
    if r.header.expires != 0 && r.header.is_expired(now_ns()) {
        return Ok(Value::Expired(loc));
    }
    let value = r.value().map_err(|bad| Error::Corrupt(format!("key's value does not decode: {bad}")))?;
    Ok(Value::Live(f(&value)))
}

/// Drops an expired key from the keydir (after the read let go of the file, so this may lock).
fn forget_if_expired<R>(e: &Engine, key: &[u8], found: Option<Value<R>>) -> Option<R> {
    match found? {
        Value::Live(v) => Some(v),
        Value::Expired(loc) => {
            e.forget_expired(key, loc);
            None
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Scan cursors: the next bucket index (low 40 bits), tagged with the keydir's layout number
/// (high 24 bits). If the table has rehashed since the cursor was issued, entries may have
/// moved to buckets already visited, so the scan starts over: keys may repeat, none is missed.
/// (Under heavy insert and delete churn a scan may restart several times.)
mod scan_cursor {
    const INDEX_BITS: u32 = 40;

    fn tag(layout: u64) -> u64 {
        (layout & ((1 << (64 - INDEX_BITS)) - 1)) << INDEX_BITS
    }

    pub fn make(index: usize, layout: u64) -> u64 {
        tag(layout) | index as u64
    }

    pub fn resume(cursor: u64, layout: u64) -> usize {
        let index = (cursor & ((1 << INDEX_BITS) - 1)) as usize;
        if cursor != 0 && cursor & !((1 << INDEX_BITS) - 1) == tag(layout) {
            index
        } else {
            0
        }
    }
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;

/// A TTL is a lifetime of at least 1 ms. Zero is refused rather than read as "no expiry" (what 0
/// means for the default TTL option) or "expire now" (Redis' EXPIRE 0): a TTL variable left at
/// zero must not silently delete a key or keep it forever. `delete` and `persist` say those.
fn check_ttl(ttl_ms: u64) -> Result<()> {
    if ttl_ms == 0 {
        return Err(Error::InvalidArg(
            "ttl_ms must be at least 1 (delete removes a key, persist its expiry, put stores one without)".into(),
        ));
    }
    Ok(())
}
