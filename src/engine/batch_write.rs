//! Appending a batch (docs/DESIGN.md sections 2.7 and 5.12): every member and the commit record
//! in one write, inside one data file, under one append sequence number, so that one group
//! commit makes all of it durable and one keydir update makes all of it visible.

use super::write::{Durability, Pending};
use super::Engine;
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::batch::{Commit, COMMIT_LEN};
use crate::format::record::{u64_at, Placed, FLAG_TOMBSTONE};
use crate::keydir::{Hashed, Loc};

/// Answers "is a write to this key appended but not yet visible?" while the writer mutex is held.
pub(crate) type PendingProbe<'a> = &'a dyn Fn(&[u8]) -> bool;

impl Engine {
    /// Appends `records` (key and where its record is in `buf`, flagged as a member, in order)
    /// as one batch, the commit record after them. `check` runs under the
    /// writer mutex before anything is written, so that a transaction can validate what it read
    /// against every write ordered before its own; an error from it writes nothing. An empty
    /// batch writes nothing (after `check`).
    pub fn write_batch(
        &self,
        records: Vec<(&[u8], Placed)>,
        mut buf: Vec<u8>,
        durability: Durability,
        check: impl FnOnce(PendingProbe<'_>) -> Result<()>,
    ) -> Result<()> {
        let member_bytes = buf.len() as u64;
        let total = member_bytes + COMMIT_LEN as u64;
        if total > self.opts.max_file_size {
            return Err(Error::TooLarge(format!(
                "a batch of {total} bytes does not fit in one data file (max_file_size {})",
                self.opts.max_file_size
            )));
        }
        let commit = Commit { members: records.len() as u32, member_bytes }.place(&mut buf);
        // Each key hashed once, its bucket loading while the batch is appended (section 5.12).
        let hashed: Vec<Hashed<'_>> = records.iter().map(|(k, _)| self.hash_key(k)).collect();
        for k in &hashed {
            self.bucket_hints.prefetch(k.hash);
        }
        let mut w = self.writer.lock();
        self.check_writable()?;
        check(&|k| w.pending_loc(k).is_some())?;
        if records.is_empty() {
            return Ok(());
        }
        let deletes_only = records.iter().all(|(_, p)| is_tombstone(p.bytes(&buf)));
        self.space.admit(deletes_only)?;
        let now = now_ns();
        for (_, p) in &records {
            p.stamp(&mut buf, w.next_ts_at(now)?);
        }
        commit.stamp(&mut buf, w.next_ts_at(now)?);
        let (file_id, start) = self.with_room(deletes_only, || {
            self.ensure_room(&mut w, total)?;
            self.append_locked(&mut w, &buf)
        })?;
        // The commit record's bytes belong to the file but to no key: dead from the start.
        *self.index.write().sizes.entry(file_id).or_insert(0) += COMMIT_LEN as u64;
        let locs = records.iter().map(|(_, p)| {
            let rec = p.bytes(&buf);
            Loc {
                file_id,
                offset: (start + p.at as u64) as u32,
                size: rec.len() as u32,
                tombstone: is_tombstone(rec),
                has_ttl: u64_at(rec, 12) != 0,
            }
        });
        w.seq += 1;
        let seq = w.seq;
        if durability == Durability::NoSync && w.pending.is_empty() {
            let mut index = self.index.write();
            for (k, loc) in hashed.iter().zip(locs) {
                self.publish(&mut index, k, loc);
            }
            return Ok(());
        }
        for (k, loc) in hashed.iter().zip(locs) {
            w.pending.push_back(Pending { seq, key: k.key.to_vec(), loc });
        }
        self.joined(&mut w);
        self.await_commit(&mut w, seq)
    }
}

/// Whether the record `rec` (encoded, perhaps unstamped) is a tombstone.
fn is_tombstone(rec: &[u8]) -> bool {
    rec[28] & FLAG_TOMBSTONE != 0
}
