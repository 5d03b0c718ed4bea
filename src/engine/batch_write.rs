//! Appending a batch (docs/DESIGN.md sections 2.7 and 5.12): every member and the commit record
//! in one write, inside one data file, under one append sequence number, so that one group
//! commit makes all of it durable and one keydir update makes all of it visible.

use super::write::{Durability, Pending};
use super::Engine;
use crate::error::Result;
use crate::format::batch::{Commit, COMMIT_LEN};
use crate::format::record::{u64_at, Placed, FLAG_TOMBSTONE};
use crate::index::Index;
use crate::keydir::{Hashed, Loc};

/// Answers "is a write to this key appended but not yet visible?" while the writer mutex is held.
pub(crate) type PendingProbe<'a> = &'a dyn Fn(&[u8]) -> bool;

/// One member of a batch: its key, hashed by [`Engine::hash_member`], and where its record
/// (flagged as a member) is in the batch's buffer.
pub(crate) struct Member<'k> {
    pub key: Hashed<'k>,
    pub placed: Placed,
}

/// How many members ahead of the one being inserted a no-sync batch prefetches keydir buckets
/// (section 5.12): far enough for a miss and its page walk to complete behind the inserts in
/// between, few enough for their lines to stay in the L1 cache. Measured: prefetching as the
/// records are encoded, before the writer mutex, cost 7% more writer CPU per key; 12 ahead was
/// worse than 16, and 24 or 32 no better.
const AHEAD: usize = 16;

impl Engine {
    /// Hashes a batch member's key with the handle's hasher, outside any lock (section 6.1).
    pub(crate) fn hash_member<'k>(&self, key: &'k [u8]) -> Hashed<'k> {
        self.hash_key(key)
    }

    /// Appends `members` (in order) as one batch, the commit record after them, stamped from
    /// the clock reading `now`. `check` runs under the writer mutex before anything is written,
    /// so that a transaction can validate what it read against every write ordered before its
    /// own; an error from it writes nothing. An empty batch writes nothing (after `check`).
    pub fn write_batch(
        &self,
        members: Vec<Member<'_>>,
        mut buf: Vec<u8>,
        now: u64,
        durability: Durability,
        check: impl FnOnce(PendingProbe<'_>) -> Result<()>,
    ) -> Result<()> {
        let member_bytes = buf.len() as u64;
        let total = member_bytes + COMMIT_LEN as u64;
        if total > self.opts.max_file_size {
            return Err(crate::batch::too_long(total as usize, self.opts.max_file_size));
        }
        let commit = Commit { members: members.len() as u32, member_bytes }.place(&mut buf);
        let mut w = self.writer.lock();
        self.check_writable()?;
        check(&|k| w.pending_loc(k).is_some())?;
        if members.is_empty() {
            return Ok(());
        }
        let deletes_only = members.iter().all(|m| is_tombstone(m.placed.bytes(&buf)));
        self.space.admit(deletes_only)?;
        let (file_id, start) = self.with_room(deletes_only, || {
            // Stamped once the file the batch goes to is known: a rotation may link its first
            // member (docs/DESIGN.md section 5.6).
            self.ensure_room(&mut w, total)?;
            for (i, m) in members.iter().enumerate() {
                let ts = if i == 0 { w.first_ts_at(now)? } else { w.next_ts_at(now)? };
                m.placed.stamp(&mut buf, ts);
            }
            commit.stamp(&mut buf, w.next_ts_at(now)?);
            self.append_stamped(&mut w, &buf)
        })?;
        let locs = members.iter().map(|m| loc_of(&m.placed, &buf, file_id, start));
        w.seq += 1;
        let seq = w.seq;
        if durability == Durability::NoSync && w.pending.is_empty() {
            // The whole run counted once; the commit record's bytes belong to the file but to no
            // key: dead from the start, as a tombstone's are.
            let live: u64 =
                members.iter().filter(|m| !is_tombstone(m.placed.bytes(&buf))).map(|m| m.placed.len as u64).sum();
            let mut index = self.index.write();
            index.count(file_id, total, live);
            self.publish_members(&mut index, &members, locs);
            return Ok(());
        }
        *self.index.write().sizes.entry(file_id).or_insert(0) += COMMIT_LEN as u64;
        for (m, loc) in members.iter().zip(locs) {
            w.pending.push_back(Pending { seq, key: m.key.key.to_vec(), loc });
        }
        self.await_commit(&mut w, seq)
    }

    /// Publishes `members` at `locs` in batch order (their bytes counted already, with the run's),
    /// each bucket prefetched [`AHEAD`] inserts
    /// before its own, from where the table is now (a rehash during the batch moves it).
    fn publish_members(&self, index: &mut Index, members: &[Member<'_>], locs: impl Iterator<Item = Loc>) {
        for m in members.iter().take(AHEAD) {
            index.keys.prefetch(&m.key);
        }
        for (i, (m, loc)) in members.iter().zip(locs).enumerate() {
            if let Some(next) = members.get(i + AHEAD) {
                index.keys.prefetch(&next.key);
            }
            self.publish_counted(index, &m.key, loc);
        }
    }
}

/// Where the member record `p` of a batch appended at `start` of file `file_id` is.
fn loc_of(p: &Placed, buf: &[u8], file_id: u32, start: u64) -> Loc {
    let rec = p.bytes(buf);
    Loc {
        file_id,
        offset: (start + p.at as u64) as u32,
        size: rec.len() as u32,
        tombstone: is_tombstone(rec),
        has_ttl: u64_at(rec, 12) != 0,
    }
}

/// Whether the record `rec` (encoded, perhaps unstamped) is a tombstone.
fn is_tombstone(rec: &[u8]) -> bool {
    rec[28] & FLAG_TOMBSTONE != 0
}
