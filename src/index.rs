//! The keydir together with per-file byte accounting, kept consistent under one lock.
//!
//! `sizes` counts every byte appended to a file, `live` the bytes of records the keydir points
//! at; the difference is what a merge could reclaim.

use crate::idmap::IdMap;
use crate::keydir::{Hashed, Keydir, Loc};

#[derive(Default)]
pub(crate) struct Index {
    pub keys: Keydir,
    pub live: IdMap<u64>,
    pub sizes: IdMap<u64>,
}

impl Index {
    /// Applies one appended record (a value or a tombstone) in append order.
    #[cfg(test)]
    pub fn apply(&mut self, key: &[u8], loc: Loc) {
        let k = self.keys.hashed(key);
        let live = if loc.tombstone { 0 } else { loc.size as u64 };
        self.count(loc.file_id, loc.size as u64, live);
        self.point(&k, loc);
    }

    /// Counts `bytes` appended to file `file_id`, `live` of them in records the keydir is about
    /// to point at ([`Index::point`]): a batch counts its whole run once.
    pub fn count(&mut self, file_id: u32, bytes: u64, live: u64) {
        *self.sizes.entry(file_id).or_insert(0) += bytes;
        if live > 0 {
            *self.live.entry(file_id).or_insert(0) += live;
        }
    }

    /// Applies one appended record to the keydir, in append order: `k` points at `loc` (or goes, for a
    /// tombstone), and the record it pointed at before becomes dead bytes. The bytes of `loc`
    /// were counted by [`Index::count`] (a record's own, or its batch's run with it).
    pub fn point(&mut self, k: &Hashed<'_>, loc: Loc) {
        let old = if loc.tombstone { self.keys.remove_hashed(k) } else { self.keys.insert_hashed(k, loc) };
        if let Some(old) = old {
            self.forget(old);
        }
    }

    /// Drops `key` if it still points at `loc` (lazy expiry); true if it did.
    pub fn remove_if(&mut self, key: &[u8], loc: Loc) -> bool {
        let removed = self.keys.remove_if(key, loc);
        if removed {
            self.forget(loc);
        }
        removed
    }

    fn forget(&mut self, old: Loc) {
        if let Some(l) = self.live.get_mut(&old.file_id) {
            *l = l.saturating_sub(old.size as u64);
        }
    }

    /// The highest-numbered data file and its size, if there is one.
    pub fn newest_file(&self) -> Option<(u32, u64)> {
        self.sizes.iter().max_by_key(|(&id, _)| id).map(|(&id, &len)| (id, len))
    }

    pub fn total_bytes(&self) -> u64 {
        self.sizes.values().sum()
    }

    pub fn dead_bytes(&self) -> u64 {
        self.total_bytes().saturating_sub(self.live.values().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file_id: u32, size: u32, tombstone: bool) -> Loc {
        Loc { file_id, offset: 0, size, tombstone, has_ttl: false }
    }

    #[test]
    fn overwrites_and_deletes_turn_live_bytes_dead() {
        let mut ix = Index::default();
        ix.apply(b"a", at(1, 100, false));
        ix.apply(b"b", at(1, 50, false));
        assert_eq!((ix.total_bytes(), ix.dead_bytes()), (150, 0));
        ix.apply(b"a", at(2, 100, false));
        assert_eq!((ix.total_bytes(), ix.dead_bytes()), (250, 100));
        ix.apply(b"b", at(2, 40, true));
        assert_eq!((ix.total_bytes(), ix.dead_bytes()), (290, 190));
        assert!(ix.remove_if(b"a", at(2, 100, false)));
        assert_eq!(ix.dead_bytes(), 290);
        assert!(ix.keys.is_empty());
    }
}
