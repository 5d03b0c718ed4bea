//! Batched reads: the current records of many keys in one call. A single read waits for two
//! cache misses in turn (the keydir's bucket, then the record); a batch overlaps them across its
//! keys, a group at a time: hash every key of the group and prefetch its bucket, then probe them
//! all and prefetch their records, then read and CRC-check each record. Each record is checked
//! exactly as a single read checks it, and a failure belongs to its key alone.

use std::sync::Arc;

use super::read::missing;
use super::Engine;
use crate::error::Result;
use crate::format::record::Record;
use crate::keydir::{Hashed, Keydir, Loc};
use crate::storage::datafile::DataFile;

/// Keys whose loads are in flight together: enough to hide a miss behind the others' work, few
/// enough that their lines (a bucket and a record each) stay in the L1 cache.
pub(crate) const GROUP: usize = 16;

/// Where one key of a group is: absent, a location in `Group::files[i]`, or a failure.
type Found = Result<Option<(Loc, usize)>>;

/// One group's locations and the file handles they point into (each file pinned once, however
/// many of the group's keys it holds: one reference count change per file, not per key).
#[derive(Default)]
struct Group {
    found: Vec<Found>,
    files: Vec<Arc<DataFile>>,
}

impl Engine {
    /// For each `keys[i]`, `f(i, loc, record)` on its current record: the result is `Ok(None)`
    /// when the key is absent, and an error (`Corrupt`, `Io`) concerns that key only. As for
    /// [`Engine::with_current`], the key is compared against the record read, `f` runs with no
    /// lock held, and keys are read in order.
    pub fn with_current_many<R>(
        &self,
        keys: &[&[u8]],
        mut f: impl FnMut(usize, Loc, Record<'_>) -> Result<R>,
    ) -> Vec<Result<Option<R>>> {
        let mut out = Vec::with_capacity(keys.len());
        let mut group = Group::default();
        for (g, chunk) in keys.chunks(GROUP).enumerate() {
            self.locate_group(chunk, &mut group);
            for (j, (key, found)) in chunk.iter().zip(group.found.drain(..)).enumerate() {
                let i = g * GROUP + j;
                out.push(self.read_found(key, found, &group.files, |loc, r| f(i, loc, r)));
            }
        }
        out
    }

    /// Fills `group` with the locations of `keys` (at most [`GROUP`]), prefetching their
    /// buckets and then their records, under the index lock taken once. Files are pinned under
    /// it as in [`Engine::with_current`], so no location outlives its file.
    fn locate_group(&self, keys: &[&[u8]], group: &mut Group) {
        group.files.clear();
        let index = self.index.read();
        let hashed = hash_group(&index.keys, keys);
        let files = self.files.read();
        for k in hashed.iter().take(keys.len()).flatten() {
            let found = index.keys.probe(k).map(|loc| {
                let at = match group.files.iter().position(|f| f.id == loc.file_id) {
                    Some(at) => at,
                    None => {
                        let file = files.get(&loc.file_id).ok_or_else(|| missing(loc.file_id))?;
                        group.files.push(file.clone());
                        group.files.len() - 1
                    }
                };
                group.files[at].prefetch(loc.offset as u64, loc.size as usize);
                Ok((loc, at))
            });
            group.found.push(found.transpose());
        }
    }

    /// Loads the cache lines that reads of `keys` (their first [`GROUP`]) will touch, their
    /// keydir buckets and then their records, and reads nothing: a hint for a caller about to
    /// read the keys one by one (the server's pipelined GETs), whose reads then overlap their
    /// cache misses as a batched read does. A prefetch never faults, so a record's file may go
    /// away meanwhile.
    pub fn prefetch_reads(&self, keys: &[&[u8]]) {
        let index = self.index.read();
        let hashed = hash_group(&index.keys, keys);
        let files = self.files.read();
        for loc in hashed.iter().flatten().filter_map(|k| index.keys.probe(k)) {
            if let Some(file) = files.get(&loc.file_id) {
                file.prefetch(loc.offset as u64, loc.size as usize);
            }
        }
    }

    /// Reads one key's record as [`Engine::with_current`] does: a record of another key (a
    /// probe matched by tag) sends the key to the single read, which compares exactly.
    fn read_found<R>(
        &self,
        key: &[u8],
        found: Found,
        files: &[Arc<DataFile>],
        mut f: impl FnMut(Loc, Record<'_>) -> Result<R>,
    ) -> Result<Option<R>> {
        let Some((loc, at)) = found? else { return Ok(None) };
        if let Some(r) = Self::read_record(&files[at], key, loc, false, |rec| f(loc, rec))? {
            return Ok(Some(r));
        }
        self.with_current(key, f)
    }
}

/// The first [`GROUP`] of `keys` hashed, each key's bucket prefetched.
fn hash_group<'k>(keydir: &Keydir, keys: &[&'k [u8]]) -> [Option<Hashed<'k>>; GROUP] {
    let mut hashed = [None; GROUP];
    for (h, key) in hashed.iter_mut().zip(keys) {
        let k = keydir.hashed(key);
        keydir.prefetch(&k);
        *h = Some(k);
    }
    hashed
}

#[cfg(test)]
mod tests {
    use crate::db::Db;
    use crate::error::Error;
    use crate::options::Options;
    use crate::testutil::TempDir;

    fn open_nosync(dir: &TempDir) -> Db {
        let mut o = Options::default();
        o.set_sync_on_put(false);
        Db::open(dir.path(), o).unwrap()
    }

    /// A tag-matched entry whose record holds another key goes back to the exact lookup, which
    /// finds the same entry: the keydir really points at a wrong record, and that key alone fails.
    #[test]
    fn an_entry_pointing_at_another_keys_record_fails_that_key_only() {
        let dir = TempDir::new("mread");
        let db = open_nosync(&dir);
        let (a, b): (&[u8], &[u8]) = (b"the first rather long key", b"the second rather long key");
        db.put(a, b"1").unwrap();
        db.put(b, b"2").unwrap();
        let e = db.engine();
        let at_b = e.lookup(b).unwrap();
        e.index.write().keys.insert(a, at_b);
        let got = e.with_current_many(&[b, a, b], |_, _, r| Ok(r.stored_value.to_vec()));
        assert!(matches!(&got[1], Err(Error::Corrupt(m)) if m.contains("different key")), "{:?}", got[1]);
        assert_eq!(got[0].as_ref().unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(got[2].as_ref().unwrap().as_deref(), Some(&b"2"[..]));
    }

    /// The prefetch hint takes any keys (none, absent ones, more than a group) and changes
    /// nothing a read then sees.
    #[test]
    fn prefetching_reads_takes_any_keys_and_changes_nothing() {
        let dir = TempDir::new("mread");
        let db = open_nosync(&dir);
        for i in 0..40u32 {
            db.put(&i.to_le_bytes(), &i.to_be_bytes()).unwrap();
        }
        let keys: Vec<[u8; 4]> = (0..80u32).map(|i| i.to_le_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        let e = db.engine();
        for n in [0, 1, super::GROUP, refs.len()] {
            e.prefetch_reads(&refs[..n]);
        }
        for (i, k) in refs.iter().enumerate() {
            let want = (i < 40).then(|| (i as u32).to_be_bytes().to_vec());
            assert_eq!(db.get(k).unwrap(), want, "key {i}");
        }
    }

    /// More keys than a group, in groups of every fill, each answered at its own index.
    #[test]
    fn every_group_size_answers_each_key_at_its_index() {
        let dir = TempDir::new("mread");
        let db = open_nosync(&dir);
        for i in (0..100u32).step_by(2) {
            db.put(&i.to_le_bytes(), &i.to_be_bytes()).unwrap();
        }
        let e = db.engine();
        for n in [1, super::GROUP - 1, super::GROUP, super::GROUP + 1, 3 * super::GROUP + 5] {
            let keys: Vec<[u8; 4]> = (0..n as u32).map(|i| i.to_le_bytes()).collect();
            let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
            let got = e.with_current_many(&refs, |i, _, r| {
                assert_eq!(r.key, refs[i]);
                Ok(r.stored_value.to_vec())
            });
            assert_eq!(got.len(), n);
            for (i, g) in got.into_iter().enumerate() {
                let want = (i % 2 == 0).then(|| (i as u32).to_be_bytes().to_vec());
                assert_eq!(g.unwrap(), want, "key {i} of {n}");
            }
        }
    }
}
