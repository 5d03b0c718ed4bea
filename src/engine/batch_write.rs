//! Appending a batch (docs/DESIGN.md sections 2.7 and 5.12): every member and the commit record
//! in one write, inside one data file, under one append sequence number, so that one group
//! commit makes all of it durable and one keydir update makes all of it visible.

use super::write::{Durability, Pending};
use super::Engine;
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::batch::{mark_member, Commit, COMMIT_LEN};
use crate::format::record::Encoded;
use crate::keydir::{hash_key, Hashed, Loc};

/// Answers "is a write to this key appended but not yet visible?" while the writer mutex is held.
pub(crate) type PendingProbe<'a> = &'a dyn Fn(&[u8]) -> bool;

impl Engine {
    /// Appends `records` (key, encoded record, in order) as one batch. `check` runs under the
    /// writer mutex before anything is written, so that a transaction can validate what it read
    /// against every write ordered before its own; an error from it writes nothing. An empty
    /// batch writes nothing (after `check`).
    pub fn write_batch(
        &self,
        mut records: Vec<(&[u8], Encoded)>,
        durability: Durability,
        check: impl FnOnce(PendingProbe<'_>) -> Result<()>,
    ) -> Result<()> {
        let member_bytes: u64 = records.iter().map(|(_, e)| e.len() as u64).sum();
        let total = member_bytes + COMMIT_LEN as u64;
        if total > self.opts.max_file_size {
            return Err(Error::TooLarge(format!(
                "a batch of {total} bytes does not fit in one data file (max_file_size {})",
                self.opts.max_file_size
            )));
        }
        for (_, e) in &mut records {
            mark_member(e);
        }
        let mut commit = Commit { members: records.len() as u32, member_bytes }.encode();
        // Each key hashed once, its bucket loading while the batch is appended (section 5.12).
        let hashed: Vec<Hashed<'_>> = records.iter().map(|(k, _)| hash_key(k)).collect();
        for k in &hashed {
            self.bucket_hints.prefetch(k.hash);
        }
        let mut w = self.writer.lock();
        self.check_writable()?;
        check(&|k| w.pending_loc(k).is_some())?;
        if records.is_empty() {
            return Ok(());
        }
        let deletes_only = records.iter().all(|(_, e)| e.is_tombstone());
        self.space.admit(deletes_only)?;
        let mut buf = Vec::with_capacity(total as usize);
        let now = now_ns();
        for (_, e) in &mut records {
            e.stamp(w.next_ts_at(now)?);
            buf.extend_from_slice(&e.buf);
        }
        commit.stamp(w.next_ts_at(now)?);
        buf.extend_from_slice(&commit.buf);
        let (file_id, start) = self.with_room(deletes_only, || {
            self.ensure_room(&mut w, total)?;
            self.append_locked(&mut w, &buf)
        })?;
        // The commit record's bytes belong to the file but to no key: dead from the start.
        *self.index.write().sizes.entry(file_id).or_insert(0) += COMMIT_LEN as u64;
        let mut at = start;
        let locs = records.iter().map(|(_, e)| {
            let loc = Loc {
                file_id,
                offset: at as u32,
                size: e.len() as u32,
                tombstone: e.is_tombstone(),
                has_ttl: e.expires() != 0,
            };
            at += e.len() as u64;
            loc
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
