//! The tail-first reclaim (docs/DESIGN.md section 7.11) on an ordinary file system, with chunks
//! made small so a file is cut many times; crash images taken at its kill points.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::testutil::TempDir;
use crate::{Batch, Db, Options};

fn opts() -> Options {
    let mut o = Options::default();
    o.set_max_file_size(16 << 10).unwrap().set_merge_interval_ms(0).set_reserve_bytes(0).unwrap();
    o
}

fn key(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

fn val(i: u32) -> Vec<u8> {
    vec![(i % 251) as u8; 90]
}

/// 600 keys (some written in batches of 5), then nine in ten deleted; the model of what is left.
fn populate(db: &Db) -> BTreeMap<u32, bool> {
    let mut model = BTreeMap::new();
    for i in (0..600u32).step_by(5) {
        if i % 20 == 0 {
            let mut b = Batch::new();
            for j in i..i + 5 {
                b.put(&key(j), &val(j)).unwrap();
            }
            db.write(&b).unwrap();
        } else {
            for j in i..i + 5 {
                db.put(&key(j), &val(j)).unwrap();
            }
        }
        model.extend((i..i + 5).map(|j| (j, true)));
    }
    for i in (0..600u32).filter(|i| i % 10 != 0) {
        db.delete(&key(i)).unwrap();
        model.insert(i, false);
    }
    model
}

fn check(db: &Db, model: &BTreeMap<u32, bool>, when: &str) {
    for (&i, &present) in model {
        let got = db.get(&key(i)).unwrap();
        assert_eq!(got, present.then(|| val(i)), "{when}: key {i}");
    }
}

fn first_sealed(db: &Db) -> u32 {
    let e = db.engine();
    let active = e.active_id();
    let mut ids: Vec<u32> = e.read_index(|ix| ix.sizes.keys().copied().collect());
    ids.sort_unstable();
    ids.into_iter().find(|&id| Some(id) != active).unwrap()
}

fn reclaim_first(db: &Db, cap: u64) -> (u32, u64) {
    let e = db.engine();
    let id = first_sealed(db);
    let m = e.maintenance();
    (id, reclaim_in_chunks_of(e, &m, id, cap).unwrap())
}

fn data_file(root: &Path, id: u32) -> std::path::PathBuf {
    root.join("data").join(crate::storage::fs::data_name(id))
}

#[test]
fn a_file_reclaimed_from_its_tail_is_removed_and_nothing_is_lost() {
    let dir = TempDir::new("tail");
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = populate(&db);
    let before = db.stats().unwrap();
    let (id, freed) = reclaim_first(&db, 600);
    assert!(freed > 8 << 10, "freed {freed}");
    assert!(!data_file(dir.path(), id).exists(), "the emptied file is removed");
    let after = db.stats().unwrap();
    assert_eq!(after.total_bytes + freed, before.total_bytes, "{before:?} -> {after:?}");
    check(&db, &model, "after the reclaim");
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    check(&db, &model, "reopened");
    let mut o = opts();
    o.set_hint_files(false);
    drop(db);
    let db = Db::open(dir.path(), o).unwrap();
    check(&db, &model, "reopened by scanning");
}

#[test]
fn a_file_of_kept_tombstones_only_is_irreducible_and_untouched() {
    let dir = TempDir::new("tail");
    let db = Db::open(dir.path(), opts()).unwrap();
    for i in 0..100u32 {
        db.put(&key(i), &val(i)).unwrap();
    }
    let e = db.engine();
    e.maintenance().sealed_files(true).unwrap(); // seal the puts
    for i in 0..100u32 {
        db.delete(&key(i)).unwrap();
    }
    let ids = e.maintenance().sealed_files(true).unwrap();
    let tombs = *ids.last().unwrap();
    let len = std::fs::metadata(data_file(dir.path(), tombs)).unwrap().len();
    let m = e.maintenance();
    assert_eq!(reclaim_in_chunks_of(e, &m, tombs, 300).unwrap(), 0);
    assert_eq!(std::fs::metadata(data_file(dir.path(), tombs)).unwrap().len(), len);
    assert!(m.irreducible().contains_key(&tombs));
}

#[test]
fn writes_during_the_reclaim_win_over_the_copies() {
    let dir = TempDir::new("tail");
    let db = std::sync::Arc::new(Db::open(dir.path(), opts()).unwrap());
    let mut model = populate(&db);
    // Between choosing each chunk's survivors and copying them, a key of the file being
    // reclaimed is written again and another deleted: the copies must not win.
    let (w, n) = (db.clone(), std::cell::Cell::new(0u32));
    killpoint::on_hit("tail-chosen", move || {
        let i = n.get() * 10;
        n.set(n.get() + 1);
        w.put(&key(i), b"newer").unwrap();
        w.delete(&key(i + 10)).unwrap();
    });
    reclaim_first(&db, 400);
    killpoint::clear_hook();
    // Which keys were rewritten depends on the chunk count: read them back from the handle.
    let mut newer = 0;
    for i in (0..600u32).step_by(10) {
        match db.get(&key(i)).unwrap() {
            Some(v) if v == b"newer" => {
                newer += 1;
                model.remove(&i);
            }
            None => {
                model.remove(&i);
            }
            Some(v) => assert_eq!(v, val(i), "key {i}"),
        }
    }
    assert!(newer >= 3, "the file was cut in {newer} chunks only");
    check(&db, &model, "after the reclaim");
    let snapshot: Vec<_> = (0..600u32).map(|i| db.get(&key(i)).unwrap()).collect();
    let db = std::sync::Arc::into_inner(db).unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    for (i, want) in snapshot.iter().enumerate() {
        assert_eq!(&db.get(&key(i as u32)).unwrap(), want, "reopened: key {i}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dst = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dst);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &dst).unwrap();
        }
    }
}

/// The directory as a kill -9 at each hit of `point` would leave it (what the process wrote is in
/// the page cache, so a copy sees it) opens with every acknowledged write.
fn crash_images_at(point: &'static str) {
    let dir = TempDir::new("tail-crash");
    let root = dir.path().join("db");
    let db = Db::open(&root, opts()).unwrap();
    let model = populate(&db);
    let images = dir.path().join("images");
    let (from, to, n) = (root.clone(), images.clone(), std::cell::Cell::new(0));
    killpoint::on_hit(point, move || {
        copy_dir(&from, &to.join(n.get().to_string()));
        n.set(n.get() + 1);
    });
    reclaim_first(&db, 500);
    killpoint::clear_hook();
    let taken = std::fs::read_dir(&images).map(|d| d.count()).unwrap_or(0);
    assert!(taken >= if point == "tail-hint-removed" { 1 } else { 3 }, "{point}: {taken} images");
    for n in 0..taken {
        let what = format!("killed at {point} #{n}");
        let image = Db::open(images.join(n.to_string()), opts()).unwrap_or_else(|e| panic!("{what}: {e}"));
        check(&image, &model, &what);
        assert!(image.merge(true).unwrap(), "{what}: a merge after");
        check(&image, &model, &format!("{what}, merged"));
    }
}

#[test]
fn a_kill_after_the_hint_is_removed_keeps_everything() {
    crash_images_at("tail-hint-removed");
}

#[test]
fn a_kill_after_the_copies_are_synced_keeps_everything() {
    crash_images_at("tail-copied");
}

#[test]
fn a_kill_after_a_cut_keeps_everything() {
    crash_images_at("tail-truncated");
}

/// Run by `make fault-tests` (its filter is the module name).
#[cfg(feature = "fault-injection")]
mod fault_tests {
    use super::*;
    use crate::storage::fault::{self, Loss};

    /// Power goes at the `at`th file operation of a tail-first reclaim (cut in chunks of 500 bytes of
    /// survivors): every acknowledged write is there after reopening, and a merge then works.
    #[test]
    fn power_loss_anywhere_in_a_tail_first_reclaim_keeps_everything() {
        let prepared = || {
            let dir = TempDir::new("tail-power");
            let mut o = opts();
            o.set_sync_on_put(false).set_sync_on_delete(false);
            let db = Db::open(dir.path().join("db"), o).unwrap();
            let model = populate(&db);
            db.close().unwrap();
            let db = Db::open(dir.path().join("db"), opts()).unwrap();
            (dir, db, model)
        };
        let census = {
            let (dir, db, _) = prepared();
            fault::arm(dir.path(), None);
            reclaim_first(&db, 500);
            drop(db);
            fault::disarm(dir.path()).values().sum::<u64>()
        };
        let stride = (census / 24).max(1);
        let mut lost = 0;
        for at in (1..=census).step_by(stride as usize) {
            let (dir, db, model) = prepared();
            fault::arm_power_loss(dir.path(), at, if at % 2 == 0 { Loss::Cut } else { Loss::Junk }, at);
            let id = first_sealed(&db);
            let _ = reclaim_in_chunks_of(db.engine(), &db.engine().maintenance(), id, 500);
            drop(db);
            lost += usize::from(fault::lost_power(dir.path()));
            fault::disarm(dir.path());
            let what = format!("power lost at operation {at} of {census}");
            let db = Db::open(dir.path().join("db"), opts()).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
            check(&db, &model, &what);
            assert!(db.merge(true).unwrap(), "{what}: a merge after recovery");
            check(&db, &model, &format!("{what}, merged again"));
        }
        assert!(lost > 18, "only {lost} runs lost power mid-reclaim");
    }
}

/// A database of 40 keys with the first 30 deleted, and the id of its oldest sealed file.
fn forty_keys_thirty_deleted(dir: &TempDir) -> (Db, u32) {
    let db = Db::open(dir.path(), opts()).unwrap();
    for i in 0..40u32 {
        db.put(&key(i), &val(i)).unwrap();
    }
    for i in 0..30u32 {
        db.delete(&key(i)).unwrap();
    }
    let id = *db.engine().maintenance().sealed_files(true).unwrap().first().unwrap();
    (db, id)
}

/// A file whose surviving records were all copied to the active file but which was not cut (a
/// kill at `tail-copied`): its tombstones have no keydir entry, yet their copies shadow as much,
/// so the reclaim drops them and cuts the file with no room at all (a budget of 0).
#[test]
fn a_file_whose_survivors_were_copied_but_not_cut_is_reclaimed_with_no_room() {
    let dir = TempDir::new("tail");
    let (db, id) = forty_keys_thirty_deleted(&dir);
    let e = db.engine();
    {
        // What a reclaim does up to the kill point `tail-copied`: every survivor copied.
        let m = e.maintenance();
        let file = e.file(id).unwrap();
        let layout = Layout::read(file.mapped().unwrap(), "test").unwrap();
        let (first, buf, copies) = chunk(e, id, &layout, layout.units.len(), u64::MAX, &Shadows::new()).unwrap();
        assert_eq!(first, 0);
        m.append_copies(&buf, &copies).unwrap();
    }
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    let e = db.engine();
    let m = e.maintenance();
    assert!(reclaim_in_chunks_of(e, &m, id, 0).unwrap() > 0);
    assert!(!data_file(dir.path(), id).exists());
    drop(m);
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    for i in 0..40u32 {
        assert_eq!(db.get(&key(i)).unwrap(), (i >= 30).then(|| val(i)), "key {i}");
    }
}

/// Tombstones no later file shadows still need room: with none, the reclaim leaves the file
/// whole and says `E_NO_SPACE`.
#[test]
fn tombstones_no_later_record_shadows_still_need_room() {
    let dir = TempDir::new("tail");
    let (db, id) = forty_keys_thirty_deleted(&dir);
    let e = db.engine();
    db.put(&key(101), &val(101)).unwrap(); // a later file, with a newer record of another key
    let len = std::fs::metadata(data_file(dir.path(), id)).unwrap().len();
    let m = e.maintenance();
    assert!(reclaim_in_chunks_of(e, &m, id, 0).unwrap_err().is_no_space());
    assert_eq!(std::fs::metadata(data_file(dir.path(), id)).unwrap().len(), len);
}

/// The file reclaimed may be the second-newest, whose newest stamp the newest file's first
/// record is linked to (docs/DESIGN.md section 4.5): before a cut the watermark vouches for the
/// newest file, on the disk, so that no power loss can leave open taking the shortened file for
/// one that lost its end (and setting the newest file aside). Without sync, so that no group
/// commit moves the mark.
#[test]
fn before_a_cut_the_watermark_vouches_for_the_newest_file() {
    let dir = TempDir::new("tail");
    let mut o = opts();
    o.set_sync_on_put(false).set_sync_on_delete(false);
    let db = Db::open(dir.path(), o).unwrap();
    // 128-byte records, 128 to a file: files 1 and 2, then file 3 overwriting all of file 2,
    // which has nothing left to copy: only its cuts can move the mark.
    for i in (0..256u32).chain(128..256) {
        db.put(&key(i), &val(i + 1)).unwrap();
    }
    let e = db.engine();
    let newest = e.active_id().unwrap();
    let second = db.meta(&key(0)).unwrap().unwrap().file_id + 1;
    assert_eq!((second, newest), (2, 3));
    let known = || crate::watermark::Known::read(&dir.path().join("data")).unwrap();
    assert!(!known().vouches_below(newest));
    assert!(reclaim_in_chunks_of(e, &e.maintenance(), second, 600).unwrap() > 0);
    assert!(known().vouches_below(newest));
}
