//! Where each keydir shard's table lives, readable without the index lock, so a writer can start
//! loading its key's bucket before it takes the writer mutex: the cache misses of the keydir
//! insert then overlap the record's encoding and copy instead of following them.
//!
//! The hints are learnt under the index lock after each insert and read with relaxed loads; a
//! stale hint (the table grew or the index was reloaded since) only wastes a prefetch.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::keydir::{prefetch_bucket, shard_of, Keydir, SHARDS};

#[derive(Default)]
pub(super) struct BucketHints {
    /// Per shard: the table's control bytes' address and its bucket mask.
    ctrl: [AtomicUsize; SHARDS],
    mask: [AtomicUsize; SHARDS],
}

impl BucketHints {
    /// Notes where `hash`'s shard keeps its table now (called under the index lock).
    #[inline]
    pub(super) fn learn(&self, keys: &Keydir, hash: u64) {
        let s = shard_of(hash);
        let (ctrl, mask) = keys.bucket_hint(hash);
        if self.ctrl[s].load(Ordering::Relaxed) != ctrl {
            self.ctrl[s].store(ctrl, Ordering::Relaxed);
        }
        if self.mask[s].load(Ordering::Relaxed) != mask {
            self.mask[s].store(mask, Ordering::Relaxed);
        }
    }

    /// Starts loading the bucket `hash` will be inserted at (no lock held).
    #[inline]
    pub(super) fn prefetch(&self, hash: u64) {
        let s = shard_of(hash);
        prefetch_bucket(self.ctrl[s].load(Ordering::Relaxed), self.mask[s].load(Ordering::Relaxed), hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keydir::Loc;

    #[test]
    fn hints_follow_the_table_of_the_key_s_shard() {
        let mut keys = Keydir::new();
        let hints = BucketHints::default();
        let loc = Loc { file_id: 1, offset: 0, size: 40, tombstone: false, has_ttl: false };
        for i in 0..5000u32 {
            let key = format!("hint-key-{i}");
            let k = keys.hashed(key.as_bytes());
            hints.prefetch(k.hash);
            keys.insert_hashed(&k, loc);
            hints.learn(&keys, k.hash);
            let s = shard_of(k.hash);
            let (ctrl, mask) = keys.bucket_hint(k.hash);
            assert_eq!((hints.ctrl[s].load(Ordering::Relaxed), hints.mask[s].load(Ordering::Relaxed)), (ctrl, mask));
            assert_ne!(ctrl, 0, "an insert teaches the control address");
        }
    }
}
