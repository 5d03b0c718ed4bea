//! Merging on a full disk (docs/DESIGN.md section 7.10): file by file, each input removed right
//! after its swap, so that a disk with no room for a full merge is compacted step by step.
//!
//! A full merge needs room for every live record before it frees anything (the inputs go only
//! after the swap). A merge of one file needs room for that file's live records (plus a hint),
//! and once its input is removed the file's dead bytes are free for the next one. So while the
//! handle is full (`space`), and whenever a full merge fails for lack of space, merges run as a
//! series of selective merges of one file each: the sealed file with the most dead bytes among
//! those whose live bytes fit in the free space (if none fits by the estimate, the one with the
//! most dead bytes anyway: a merge that runs out of room is discarded and costs nothing), plus
//! any empty sealed files. The steps write no hints before their swap (the background thread
//! writes them afterwards, when there is room). Then the reserve is written again if there is
//! room for it.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::HashSet;

use crate::engine::{Engine, Maintenance};
use crate::error::Result;
use crate::merge::{self, MergeKind, Plan};
use crate::reclaim_tail;

/// Room a merge needs besides the live records: its hint, the empty file, `MERGE_DONE` and the
/// directory entries of the swap.
const SLACK: u64 = 64 << 10;

/// `Db::merge`: a full merge (when `force` or its trigger holds), or merges file by file while
/// the disk is full, without `force` while space is low, when the free space cannot hold the
/// live bytes a full merge rewrites, or when the full merge ran out of room.
pub(crate) fn merge(e: &Engine, force: bool) -> Result<bool> {
    if e.space().is_full() || (!force && e.space().is_low()) {
        return file_by_file(e);
    }
    if !force && !merge::full_merge_due(e) {
        return Ok(false);
    }
    let live = e.read_index(|ix| ix.total_bytes().saturating_sub(ix.dead_bytes()));
    if need(e, live) > e.space().free() {
        return file_by_file(e);
    }
    fall_back(e, merge::run(e, MergeKind::Full))
}

/// `Db::compact_if_needed` and the merge thread: the policy, or file by file while space is
/// low (full, or less free than twice the reserve).
pub(crate) fn compact(e: &Engine) -> Result<bool> {
    if e.space().is_low() {
        return file_by_file(e);
    }
    fall_back(e, merge::compact_if_needed(e))
}

/// Room a full merge rewriting `live` bytes needs: the records, their hints, and [`SLACK`].
fn need(e: &Engine, live: u64) -> u64 {
    live + if e.opts().hint_files { live / 4 } else { 0 } + SLACK
}

/// Room one step of the file-by-file series needs: its records and [`SLACK`] (no hints).
fn step_need(live: u64) -> u64 {
    live + SLACK
}

/// A merge that failed for lack of space left nothing behind; the handle is full now and the
/// same work is done file by file.
fn fall_back(e: &Engine, outcome: Result<bool>) -> Result<bool> {
    match outcome {
        Err(err) if err.is_no_space() => {
            e.space().ran_out();
            file_by_file(e)
        }
        other => other,
    }
}

/// Selective merges of one file each, until no sealed file has dead bytes that can be
/// reclaimed; when no file's merge fits in the free space, the file with the most dead bytes is
/// reclaimed from its tail instead (`reclaim_tail`, docs/DESIGN.md section 7.11), which needs
/// room only for the surviving records of a chunk at its end. Returns whether anything was
/// reclaimed. A merge step that runs out of room (the estimate was wrong, or the file's dead
/// bytes are tombstones a selective merge must keep) is discarded; the reserve is given back and
/// the step tried again, or if it was given back already, the file is left to the tail-first
/// reclaim. A file whose tail-first reclaim runs out of room is skipped for the rest of the
/// series. Any other error ends the series. What earlier steps freed stays freed. If nothing
/// could be reclaimed for lack of room, that is the error.
pub(crate) fn file_by_file(e: &Engine) -> Result<bool> {
    let mut any = false;
    let mut first = true;
    let (mut no_merge, mut no_tail) = (HashSet::new(), HashSet::new());
    let mut no_room = None;
    while !e.is_closing() {
        let picked = Cell::new(None);
        // The first step seals the active file if it holds dead bytes: the records just deleted
        // are often in it. (Not otherwise: the merge thread runs this every pass while space is
        // low, and would leave a small file behind each time.)
        let seal_active = first && active_has_dead_bytes(e);
        // No hints before the swap: the background thread writes them once there is room.
        let plan = Plan { kind: MergeKind::Selective, seal_active, remove_inputs_now: true, hints: false };
        let step = merge::run_with(e, plan, |m, sealed| {
            let (inputs, id) = pick(e, m, sealed, &no_merge);
            picked.set(id);
            inputs
        });
        first = false;
        let Some(id) = picked.get() else {
            step?;
            // No merge fits: the file with the most dead bytes, from its tail.
            match tail_step(e, &no_tail)? {
                None => break,
                Some((_, Ok(freed))) => any |= freed > 0,
                Some((id, Err(err))) if err.is_no_space() => {
                    no_tail.insert(id);
                    no_room = Some(err);
                }
                Some((_, Err(err))) => return Err(err),
            }
            continue;
        };
        // Merged, or found irreducible (remembered, and not picked again).
        match step {
            Ok(merged) => any |= merged,
            // The reserve's room first, for the same file; then its tail.
            Err(err) if err.is_no_space() => {
                if !e.space().ran_out() {
                    no_merge.insert(id);
                }
                no_room = Some(err);
            }
            Err(err) => return Err(err),
        }
    }
    e.space().try_restore();
    match (any, no_room) {
        (false, Some(err)) => Err(err),
        _ => Ok(any),
    }
}

/// The file to merge next with the empty sealed files (ascending), and that file's id; or
/// nothing when no file with dead bytes has a merge that fits in the free space.
fn pick(e: &Engine, m: &Maintenance<'_>, sealed: &[u32], skip: &HashSet<u32>) -> (Vec<u32>, Option<u32>) {
    let free = e.space().free();
    let (mut empties, candidates) = candidates(e, m, sealed, skip);
    let fits = candidates.into_iter().filter(|&(_, _, live)| step_need(live) <= free);
    let Some((id, _, _)) = fits.max_by_key(|&(id, dead, _)| (dead, Reverse(id))) else {
        return (Vec::new(), None);
    };
    empties.push(id);
    empties.sort_unstable();
    (empties, Some(id))
}

/// The empty sealed files, and the sealed files with dead bytes (id, dead, live) that are
/// neither remembered as irreducible nor in `skip`.
fn candidates(
    e: &Engine,
    m: &Maintenance<'_>,
    sealed: &[u32],
    skip: &HashSet<u32>,
) -> (Vec<u32>, Vec<(u32, u64, u64)>) {
    let irreducible = m.irreducible();
    e.read_index(|ix| {
        let (mut empties, mut candidates) = (Vec::new(), Vec::new());
        for &id in sealed {
            let Some(&size) = ix.sizes.get(&id) else { continue };
            let live = ix.live.get(&id).copied().unwrap_or(0);
            if size == 0 {
                empties.push(id);
            } else if live < size && irreducible.get(&id) != Some(&live) && !skip.contains(&id) {
                candidates.push((id, size - live, live));
            }
        }
        (empties, candidates)
    })
}

/// Reclaims the sealed file with the most dead bytes (not in `skip`) from its tail; returns its
/// id and the outcome, or nothing when no file has dead bytes.
fn tail_step(e: &Engine, skip: &HashSet<u32>) -> Result<Option<(u32, Result<u64>)>> {
    let m = e.maintenance();
    e.check_writable()?;
    m.remove_old_generation()?;
    let sealed = m.sealed_files(false)?;
    let (_, candidates) = candidates(e, &m, &sealed, skip);
    let Some((id, _, _)) = candidates.into_iter().max_by_key(|&(id, dead, _)| (dead, Reverse(id))) else {
        return Ok(None);
    };
    let outcome = reclaim_tail::reclaim(e, &m, id);
    if outcome.as_ref().is_ok_and(|&freed| freed > 0) {
        m.merged();
    }
    Ok(Some((id, outcome)))
}

/// Whether the file being appended holds records that are no longer live.
fn active_has_dead_bytes(e: &Engine) -> bool {
    let Some(id) = e.active_id() else { return false };
    e.read_index(|ix| ix.sizes.get(&id).copied().unwrap_or(0) > ix.live.get(&id).copied().unwrap_or(0))
}
