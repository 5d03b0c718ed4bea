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
use crate::keydir::{Layouts, Loc};
use crate::merge::in_parallel;

/// Buckets looked at per hold of the index read lock: about 128 KiB of slots, tens of
/// microseconds. A writer waiting for the write lock spins, then yields, until the walk lets
/// go: with 65,536 buckets a hold, a walk preempted while holding it made a writer beside it
/// wait 64 ms (traced at load 8).
const WALK_CHUNK: usize = 1 << 13;

/// Walks started over because the table rehashed, before the merge falls back to scanning.
const MAX_WALKS: u32 = 4;

/// The keydir entries pointing into one share of a full merge's inputs, in bucket order.
pub(crate) struct Walked {
    /// The table's shards during the walk: a bucket number stays valid while its shard's
    /// layout counter holds.
    pub layout: Layouts,
    /// What each run of buckets found, runs in bucket order. Not joined into one vector: the
    /// copy numbers the entries across the runs (see [`entry`]), and each run is repointed as a
    /// set of its own.
    pub runs: Vec<Vec<Relocation>>,
}

/// Entry `i` of `runs` numbered one after the other.
pub(crate) fn entry(runs: &mut [Vec<Relocation>], mut i: usize) -> &mut Relocation {
    for run in runs {
        if i < run.len() {
            return &mut run[i];
        }
        i -= run.len();
    }
    panic!("entry {i} past the runs' ends")
}

/// A stretch of one input: the records starting at offsets `from..to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub file_id: u32,
    pub from: u64,
    pub to: u64,
}

/// Which share an entry's record belongs to: by input, its spans as (from, to, share).
struct Wanted(IdMap<Vec<(u64, u64, usize)>>);

impl Wanted {
    fn new(shares: &[Vec<Span>]) -> Wanted {
        let mut map: IdMap<Vec<(u64, u64, usize)>> = IdMap::default();
        for (share, spans) in shares.iter().enumerate() {
            for s in spans {
                map.entry(s.file_id).or_default().push((s.from, s.to, share));
            }
        }
        Wanted(map)
    }

    fn share_of(&self, at: Loc) -> Option<usize> {
        let offset = at.offset as u64;
        let spans = self.0.get(&at.file_id)?;
        spans.iter().find(|s| (s.0..s.1).contains(&offset)).map(|s| s.2)
    }
}

/// Collects, for each of `shares`, every keydir entry pointing into one of its spans. The table
/// is walked once, its buckets cut into one run per share, each run walked on its own thread:
/// walking the whole table once per share took each thread through every bucket. `None` when
/// the table kept rehashing under the walk (or has more buckets than a `u32` numbers): then the
/// caller scans.
pub(crate) fn walk(e: &Engine, shares: &[Vec<Span>]) -> Option<Vec<Walked>> {
    let wanted = Wanted::new(shares);
    for _ in 0..MAX_WALKS {
        if let Some(w) = walk_once(e, &wanted, shares.len()) {
            return Some(w);
        }
    }
    None
}

fn walk_once(e: &Engine, wanted: &Wanted, parts: usize) -> Option<Vec<Walked>> {
    let (layouts, len, buckets) = e.read_index(|ix| (ix.keys.layouts(), ix.keys.len(), ix.keys.num_buckets()));
    if u32::try_from(buckets).is_err() {
        return None;
    }
    let parts = parts.max(1);
    let layout = layouts.layout();
    let runs: Vec<_> = (0..parts)
        .map(|r| {
            let (from, to) = (buckets * r / parts, buckets * (r + 1) / parts);
            move || walk_run(e, wanted, layout, from..to, parts, len)
        })
        .collect();
    let runs = in_parallel(runs).into_iter().collect::<Option<Vec<_>>>()?;
    // Every run saw the same layout counter at each of its holds, and the counter only grows:
    // no rehash happened between the first hold of any run and the last of any other.
    let mut walked: Vec<Walked> = (0..parts).map(|_| Walked { layout: layouts, runs: Vec::new() }).collect();
    for run in runs {
        for (w, found) in walked.iter_mut().zip(run) {
            w.runs.push(found);
        }
    }
    Some(walked)
}

/// Walks the buckets `range` in chunks, each under one hold of the index read lock, sorting the
/// entries that point into the inputs by share. `None` when the table's layout left `layout`.
fn walk_run(
    e: &Engine,
    wanted: &Wanted,
    layout: u64,
    range: std::ops::Range<usize>,
    parts: usize,
    len: usize,
) -> Option<Vec<Vec<Relocation>>> {
    // Reserved, not touched: pages are only used as entries are found. A run sees about
    // `len / parts` entries, spread over the shares: `parts` times the even share each, and all runs'
    // reservations together stay at `parts * len`, what one walk per share reserved.
    let mut found: Vec<Vec<Relocation>> = (0..parts).map(|_| Vec::with_capacity(len / parts)).collect();
    let mut at = range.start;
    while at < range.end {
        let same = e.read_index(|ix| {
            if ix.keys.layout() != layout {
                return false;
            }
            at = ix.keys.walk_locs(at, WALK_CHUNK.min(range.end - at), |bucket, old| {
                if let Some(share) = wanted.share_of(old) {
                    found[share].push(Relocation { bucket: bucket as u32, old, new: None });
                }
            });
            true
        });
        if !same {
            return None;
        }
    }
    Some(found)
}

/// Cuts the inputs, given as (id, length, live bytes) in ascending ids, into at most `parts`
/// shares of about equal live bytes, each copied by its own thread into its own outputs. A cut
/// may fall inside a file: live bytes are taken as spread evenly over it. Files with nothing
/// live go to whichever share they fall in (they cost no copying).
pub(crate) fn shares(files: &[(u32, u64, u64)], parts: usize) -> Vec<Vec<Span>> {
    let total: u64 = files.iter().map(|f| f.2).sum();
    let mut out = vec![Vec::new()];
    let mut before = 0u64;
    for &(file_id, len, live) in files {
        let mut from = 0;
        // Where the next share starts, in live bytes, while it starts inside this file.
        while out.len() < parts && live > 0 {
            let goal = (total as u128 * out.len() as u128 / parts as u128) as u64;
            if before + live <= goal {
                break;
            }
            let at = (len as u128 * goal.saturating_sub(before) as u128 / live as u128) as u64;
            if at > from {
                out.last_mut().unwrap().push(Span { file_id, from, to: at });
                from = at;
            }
            out.push(Vec::new());
        }
        out.last_mut().unwrap().push(Span { file_id, from, to: u64::MAX });
        before += live;
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The copy order: for each of `inputs` (ascending ids), `offset << 32 | index` of its live
/// records, where `index` numbers the entries of `runs` one after the other (see [`entry`]).
/// Returns the keys and where each input's run ends. Each input's run is left for the caller to
/// sort just before it copies that input: the disk, idle until the first write, then starts
/// taking the first input's records while the others are still unsorted.
pub(crate) fn copy_order(inputs: &[u32], runs: &[Vec<Relocation>]) -> (Vec<u64>, Vec<usize>) {
    let moves = || runs.iter().flatten();
    let rank = Ranks::new(inputs);
    let mut ends = vec![0usize; inputs.len()];
    for m in moves() {
        ends[rank.of(m.old.file_id)] += 1;
    }
    let mut start = 0;
    for n in ends.iter_mut() {
        start += *n;
        *n = start;
    }
    // Filled from each run's end backwards (a counting sort on the input).
    let mut fill = ends.clone();
    let mut order = vec![0u64; runs.iter().map(Vec::len).sum()];
    for (i, m) in moves().enumerate() {
        let r = rank.of(m.old.file_id);
        fill[r] -= 1;
        order[fill[r]] = (m.old.offset as u64) << 32 | i as u64;
    }
    (order, ends)
}

/// Each input's place among the inputs (ascending ids), looked up twice per live record: by
/// a table indexed by id when the ids span a small range (hash lookups took about a fifth of
/// building the copy order: 3-4 ms of 17 for 500,000 records), else by binary search.
struct Ranks<'a> {
    inputs: &'a [u32],
    table: Vec<u32>,
}

/// The widest span of ids looked up by table: 256 KiB of it.
const RANK_TABLE_MAX: usize = 1 << 16;

impl<'a> Ranks<'a> {
    fn new(inputs: &'a [u32]) -> Ranks<'a> {
        let span = match (inputs.first(), inputs.last()) {
            (Some(&lo), Some(&hi)) => (hi - lo) as usize + 1,
            _ => 0,
        };
        let mut table = Vec::new();
        if span <= RANK_TABLE_MAX {
            table.resize(span, 0);
            for (r, &id) in inputs.iter().enumerate() {
                table[(id - inputs[0]) as usize] = r as u32;
            }
        }
        Ranks { inputs, table }
    }

    /// The rank of `id`, which must be one of the inputs.
    #[inline]
    fn of(&self, id: u32) -> usize {
        match self.table.get(id.wrapping_sub(self.inputs[0]) as usize) {
            Some(&r) => r as usize,
            None => self.inputs.partition_point(|&i| i < id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reloc(file_id: u32, offset: u32) -> Relocation {
        let old = Loc { file_id, offset, size: 10, tombstone: false, has_ttl: false };
        Relocation { bucket: 0, old, new: None }
    }

    #[test]
    fn the_copy_order_is_by_file_then_offset() {
        let mut runs = vec![vec![reloc(7, 50), reloc(3, 20)], vec![reloc(7, 0), reloc(3, 10), reloc(7, 30)]];
        let (mut order, ends) = copy_order(&[3, 5, 7], &runs);
        assert_eq!(ends, vec![2, 2, 5]);
        let mut from = 0;
        for &to in &ends {
            order[from..to].sort_unstable();
            from = to;
        }
        let got: Vec<(u32, u32)> = order
            .iter()
            .map(|&k| {
                let m = entry(&mut runs, k as u32 as usize);
                assert_eq!((k >> 32) as u32, m.old.offset);
                (m.old.file_id, m.old.offset)
            })
            .collect();
        assert_eq!(got, vec![(3, 10), (3, 20), (7, 0), (7, 30), (7, 50)]);
    }

    #[test]
    fn an_input_has_the_same_rank_by_table_and_by_search() {
        for inputs in [vec![3u32, 4, 9], vec![7, 7 + RANK_TABLE_MAX as u32, u32::MAX]] {
            let ranks = Ranks::new(&inputs);
            for (r, &id) in inputs.iter().enumerate() {
                assert_eq!(ranks.of(id), r, "{inputs:?}");
            }
        }
        assert!(Ranks::new(&[3, 4, 9]).table.len() == 7 && Ranks::new(&[1, u32::MAX]).table.is_empty());
    }

    #[test]
    fn an_entry_goes_to_the_share_whose_span_holds_its_offset() {
        let wanted = Wanted::new(&[vec![span(1, 0, u64::MAX), span(3, 0, 100)], vec![span(3, 100, u64::MAX)]]);
        let at = |file_id, offset| wanted.share_of(reloc(file_id, offset).old);
        assert_eq!((at(1, 5000), at(3, 99), at(3, 100), at(3, 7000)), (Some(0), Some(0), Some(1), Some(1)));
        assert_eq!(at(2, 0), None);
    }

    fn span(file_id: u32, from: u64, to: u64) -> Span {
        Span { file_id, from, to }
    }

    #[test]
    fn one_share_takes_every_file_whole() {
        let got = shares(&[(1, 100, 10), (2, 100, 0), (3, 50, 50)], 1);
        assert_eq!(got, vec![vec![span(1, 0, u64::MAX), span(2, 0, u64::MAX), span(3, 0, u64::MAX)]]);
    }

    #[test]
    fn two_shares_cut_inside_the_file_holding_the_middle_live_byte() {
        // 0 + 40 + 120 live bytes: the middle (80) lies 40 bytes into file 3's 120, a third of it.
        let got = shares(&[(1, 100, 0), (2, 100, 40), (3, 300, 120)], 2);
        assert_eq!(
            got,
            vec![vec![span(1, 0, u64::MAX), span(2, 0, u64::MAX), span(3, 0, 100)], vec![span(3, 100, u64::MAX)]]
        );
    }

    #[test]
    fn a_cut_at_a_file_boundary_leaves_no_empty_span() {
        let got = shares(&[(1, 100, 50), (2, 100, 50)], 2);
        assert_eq!(got, vec![vec![span(1, 0, u64::MAX)], vec![span(2, 0, u64::MAX)]]);
    }

    #[test]
    fn nothing_live_makes_one_share() {
        assert_eq!(shares(&[(1, 100, 0), (2, 100, 0)], 2), vec![vec![span(1, 0, u64::MAX), span(2, 0, u64::MAX)]]);
        assert!(shares(&[], 2).is_empty());
    }

    #[test]
    fn every_offset_falls_in_exactly_one_share() {
        let files = [(4, 1000, 300), (5, 1000, 700), (9, 10, 10)];
        for parts in 1..4 {
            let got = shares(&files, parts);
            assert!(got.len() <= parts);
            for &(id, len, _) in &files {
                for at in 0..len {
                    let n = got.iter().flatten().filter(|s| s.file_id == id && (s.from..s.to).contains(&at)).count();
                    assert_eq!(n, 1, "file {id} offset {at}, {parts} parts");
                }
            }
        }
    }
}
