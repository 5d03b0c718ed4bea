//! The live records of a full merge, taken from the keydir (docs/DESIGN.md section 7.3).
//!
//! A full merge keeps exactly the records the keydir points at. Asking the keydir about each
//! record of each input probes the hash table in file order, which is random order for the table:
//! two cache misses per record, most of a merge's time. So a full merge walks the table instead,
//! bucket by bucket (sequential memory, no key read), in chunks under the index read lock so
//! writers are not held up for long, and collects the entries that point into the inputs. It
//! copies them in (file, offset) order, so the inputs are read front to back, and repoints them
//! in the walk's (bucket) order, so repointing walks the table sequentially too.
//!
//! Writers run during the walk. They only append to files that are not inputs, so no entry
//! starts pointing into an input; an entry the walk collected may change or go afterwards, and the
//! compare-and-swap at repoint time leaves it alone (as on the scanning path). What the chunks
//! must not miss is an entry that moved to another bucket between two of them: a rehash, which
//! bumps the table's layout counter. The walk then starts over.

use crate::engine::{Engine, Relocation};
use crate::idmap::IdMap;

/// Buckets looked at per hold of the index read lock: about a megabyte of slots, well under a
/// millisecond.
const WALK_CHUNK: usize = 1 << 16;

/// Walks started over because the table rehashed, before the merge falls back to scanning.
const MAX_WALKS: u32 = 4;

/// The keydir entries pointing into a full merge's inputs, in bucket order.
pub(crate) struct Walked {
    /// The table's layout counter during the walk: bucket numbers are valid while it holds.
    pub layout: u64,
    pub moves: Vec<Relocation>,
}

/// Collects every keydir entry pointing into one of `inputs`; `None` when the table kept
/// rehashing under the walk (or has more buckets than a `u32` numbers): then the caller scans.
pub(crate) fn walk(e: &Engine, inputs: &[u32]) -> Option<Walked> {
    let wanted: IdMap<()> = inputs.iter().map(|&id| (id, ())).collect();
    for _ in 0..MAX_WALKS {
        if let Some(w) = walk_once(e, &wanted) {
            return Some(w);
        }
    }
    None
}

fn walk_once(e: &Engine, wanted: &IdMap<()>) -> Option<Walked> {
    let (layout, len, buckets) = e.read_index(|ix| (ix.keys.layout(), ix.keys.len(), ix.keys.num_buckets()));
    if u32::try_from(buckets).is_err() {
        return None;
    }
    let mut moves = Vec::with_capacity(len);
    let mut at = 0;
    while at < buckets {
        let same = e.read_index(|ix| {
            if ix.keys.layout() != layout {
                return false;
            }
            at = ix.keys.walk_locs(at, WALK_CHUNK, |bucket, old| {
                if wanted.contains_key(&old.file_id) {
                    moves.push(Relocation { bucket: bucket as u32, old, new: None });
                }
            });
            true
        });
        if !same {
            return None;
        }
    }
    Some(Walked { layout, moves })
}

/// The copy order: for each of `inputs` (ascending ids), `offset << 32 | index into moves` of
/// its live records, ascending. Returns the keys and where each input's run ends.
pub(crate) fn copy_order(inputs: &[u32], moves: &[Relocation]) -> (Vec<u64>, Vec<usize>) {
    let rank: IdMap<usize> = inputs.iter().enumerate().map(|(r, &id)| (id, r)).collect();
    let mut ends = vec![0usize; inputs.len()];
    for m in moves {
        ends[rank[&m.old.file_id]] += 1;
    }
    let mut start = 0;
    for n in ends.iter_mut() {
        start += *n;
        *n = start;
    }
    // Filled from each run's end backwards (a counting sort on the input).
    let mut fill = ends.clone();
    let mut order = vec![0u64; moves.len()];
    for (i, m) in moves.iter().enumerate() {
        let r = rank[&m.old.file_id];
        fill[r] -= 1;
        order[fill[r]] = (m.old.offset as u64) << 32 | i as u64;
    }
    let mut from = 0;
    for &to in &ends {
        order[from..to].sort_unstable();
        from = to;
    }
    (order, ends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keydir::Loc;

    fn reloc(file_id: u32, offset: u32) -> Relocation {
        let old = Loc { file_id, offset, size: 10, tombstone: false, has_ttl: false };
        Relocation { bucket: 0, old, new: None }
    }

    #[test]
    fn the_copy_order_is_by_file_then_offset() {
        let moves = vec![reloc(7, 50), reloc(3, 20), reloc(7, 0), reloc(3, 10), reloc(7, 30)];
        let (order, ends) = copy_order(&[3, 5, 7], &moves);
        assert_eq!(ends, vec![2, 2, 5]);
        let got: Vec<(u32, u32)> = order
            .iter()
            .map(|&k| {
                let m = &moves[k as u32 as usize];
                assert_eq!((k >> 32) as u32, m.old.offset);
                (m.old.file_id, m.old.offset)
            })
            .collect();
        assert_eq!(got, vec![(3, 10), (3, 20), (7, 0), (7, 30), (7, 50)]);
    }
}
