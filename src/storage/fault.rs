//! Fault injection for tests, compiled only with the `fault-injection` feature (without it,
//! [`check`] and the hooks are empty inline functions and cost nothing).
//!
//! Every file and directory operation of the library goes through `storage::fs`, which calls
//! [`check`] first. A test arms a fault for the operations under one directory tree (so tests
//! running in parallel do not disturb each other): the Nth operation of a kind fails with
//! `ENOSPC` or `EIO`, or (for writes) writes half its bytes and then fails, once or from then
//! on. [`counts`] tells how many operations of each kind a workload performed, so a test can
//! sweep a fault over every one of them.
//!
//! **Simulated power loss** ([`arm_power_loss`]): while armed, the injector remembers what is
//! durable: each file's length when its last fsync began (bytes written while an fsync runs are
//! not covered by it), the writes since, each directory's entries at its last directory fsync
//! (everything that existed when it was armed counts as durable). Files about
//! to be unlinked or replaced are first hard-linked into a stash, so their old contents can come
//! back. At the Nth operation it "loses power": it waits for operations in flight, rebuilds the
//! tree from the durable state alone (entries never made durable gone, removed ones back; each
//! file's bytes past its durable length dropped, partly replaced by junk, or, with
//! [`Loss::Reorder`], persisted write by write and sector by sector in any order), and fails
//! every later operation, as a machine that is off would. Overwrites below a file's durable
//! length (only the watermark file does them) are taken as persisted.

use std::io;
use std::path::Path;

/// The kinds of operation that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Write,
    Fsync,
    Rename,
    Create,
    Unlink,
    Read,
    Truncate,
}

pub const ALL_OPS: [Op; 7] = [Op::Write, Op::Fsync, Op::Rename, Op::Create, Op::Unlink, Op::Read, Op::Truncate];

/// What a simulated power loss does with the bytes written after a file's last fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// They are gone: the file ends at its durable length.
    Cut,
    /// A prefix of them comes back as junk (zeros or random bytes, as the seed picks), as torn
    /// sectors would.
    Junk,
    /// The disk and page cache wrote them back in any order: each unsynced write independently
    /// persisted whole, not at all, or sector (512 bytes) by sector; what did not persist reads
    /// as zeros or junk, and the file is as long as it was or ends at its last persisted byte.
    /// So a later record can be on disk where an earlier one is not.
    Reorder,
}

/// How an armed operation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NoSpace,
    Io,
    /// A write that puts only part of its bytes on disk, then reports `EIO`.
    ShortWrite,
}

/// What `check` tells the caller to do.
#[derive(Debug)]
pub enum Verdict {
    Proceed,
    /// Write only this many bytes, then fail with the error.
    Short(usize, io::Error),
}

/// Held for the duration of an operation, so a simulated power loss waits for operations in
/// flight to finish.
pub struct Guard {
    #[cfg(feature = "fault-injection")]
    _held: Option<parking_lot::RwLockReadGuard<'static, ()>>,
}

/// The verdict, and the guard to hold while doing the operation.
pub struct Pass {
    pub verdict: Verdict,
    pub guard: Guard,
}

#[cfg(feature = "fault-injection")]
mod imp {
    use super::*;
    use parking_lot::Mutex;
    use std::collections::HashMap;
    use std::path::PathBuf;

    struct Plan {
        root: PathBuf,
        target: Option<(Op, u64, Failure, bool)>,
        counts: HashMap<Op, u64>,
        fired: bool,
        power: Option<Power>,
        /// Every fsync under the root first sleeps this long (a slow disk, for group commit).
        fsync_delay: Option<std::time::Duration>,
    }

    /// A plan's power-loss state, shared so the crash can run without holding `PLANS`.
    #[derive(Clone)]
    struct Power {
        at: u64,
        seen: std::sync::Arc<std::sync::atomic::AtomicU64>,
        crashed: std::sync::Arc<std::sync::atomic::AtomicBool>,
        durable: std::sync::Arc<Mutex<super::power::Durable>>,
    }

    static PLANS: Mutex<Vec<Plan>> = Mutex::new(Vec::new());
    /// Operations hold it shared; a simulated power loss takes it exclusively.
    static OPS: parking_lot::RwLock<()> = parking_lot::RwLock::new(());

    /// Starts counting operations under `root`; with `target` = (op, n, failure, persistent)
    /// the nth operation of `op` (1-based) fails, and with `persistent` every later one too.
    pub fn arm(root: &Path, target: Option<(Op, u64, Failure, bool)>) {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut plans = PLANS.lock();
        plans.retain(|p| p.root != root);
        plans.push(Plan { root, target, counts: HashMap::new(), fired: false, power: None, fsync_delay: None });
    }

    /// Arms a simulated power loss at the `at`th operation (of any kind) under `root`; `loss`
    /// says what becomes of unsynced bytes, `seed` picks the junk and the order.
    pub fn arm_power_loss(root: &Path, at: u64, loss: Loss, seed: u64) {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let durable = super::power::Durable::baseline(&root, loss, seed);
        let power = Power {
            at,
            seen: Default::default(),
            crashed: Default::default(),
            durable: std::sync::Arc::new(Mutex::new(durable)),
        };
        let mut plans = PLANS.lock();
        plans.retain(|p| p.root != root);
        plans.push(Plan {
            root,
            target: None,
            counts: HashMap::new(),
            fired: false,
            power: Some(power),
            fsync_delay: None,
        });
    }

    /// Makes every fsync under `root` (armed with [`arm`]) take at least `delay` longer.
    pub fn slow_fsyncs(root: &Path, delay: std::time::Duration) {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        if let Some(p) = PLANS.lock().iter_mut().find(|p| p.root == root) {
            p.fsync_delay = Some(delay);
        }
    }

    /// Whether the simulated power loss has happened.
    pub fn lost_power(root: &Path) -> bool {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        PLANS.lock().iter().any(|p| {
            p.root == root && p.power.as_ref().is_some_and(|w| w.crashed.load(std::sync::atomic::Ordering::SeqCst))
        })
    }

    /// Runs `f` on the durable-state tracker of the plan covering `path`, if any. Called by an
    /// operation that holds its guard: even when power went while it was in flight, it finished
    /// first (the crash waits for it), so what it made durable counts.
    pub fn with_durable(path: &Path, f: impl FnOnce(&mut super::power::Durable)) {
        let power = PLANS.lock().iter().find(|p| path.starts_with(&p.root)).and_then(|p| p.power.clone());
        if let Some(w) = power {
            f(&mut w.durable.lock());
        }
    }

    /// Stops injecting under `root`; returns the operation counts seen.
    pub fn disarm(root: &Path) -> HashMap<Op, u64> {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut plans = PLANS.lock();
        let pos = plans.iter().position(|p| p.root == root);
        pos.map(|i| plans.remove(i).counts).unwrap_or_default()
    }

    /// Whether the armed fault has fired.
    pub fn fired(root: &Path) -> bool {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        PLANS.lock().iter().any(|p| p.root == root && p.fired)
    }

    pub fn check(op: Op, path: &Path, len: usize) -> io::Result<Pass> {
        use std::sync::atomic::Ordering::SeqCst;
        if op == Op::Fsync {
            let delay = PLANS.lock().iter().find(|p| path.starts_with(&p.root)).and_then(|p| p.fsync_delay);
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
        }
        let (verdict, power) = decide(op, path, len)?;
        let held = OPS.read();
        // Power may have gone between the decision and now: then this operation never happens.
        if power.is_some_and(|w| w.crashed.load(SeqCst)) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(Pass { verdict, guard: Guard { _held: Some(held) } })
    }

    fn decide(op: Op, path: &Path, len: usize) -> io::Result<(Verdict, Option<Power>)> {
        use std::sync::atomic::Ordering::SeqCst;
        let mut plans = PLANS.lock();
        let Some(plan) = plans.iter_mut().find(|p| path.starts_with(&p.root)) else {
            return Ok((Verdict::Proceed, None));
        };
        if let Some(w) = plan.power.clone() {
            if w.crashed.load(SeqCst) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            if w.seen.fetch_add(1, SeqCst) + 1 == w.at {
                // Power goes: no operation starts from now on; wait for those in flight, then
                // leave only what was durable.
                w.crashed.store(true, SeqCst);
                let root = plan.root.clone();
                drop(plans);
                let _all = OPS.write();
                w.durable.lock().crash(&root);
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            return Ok((Verdict::Proceed, Some(w)));
        }
        let n = plan.counts.entry(op).or_insert(0);
        *n += 1;
        let Some((t_op, t_n, failure, persistent)) = plan.target else { return Ok((Verdict::Proceed, None)) };
        if t_op != op || *n < t_n || (*n > t_n && !persistent) {
            return Ok((Verdict::Proceed, None));
        }
        plan.fired = true;
        let err = |code| io::Error::from_raw_os_error(code);
        match failure {
            Failure::NoSpace => Err(err(libc::ENOSPC)),
            Failure::Io => Err(err(libc::EIO)),
            Failure::ShortWrite if op == Op::Write && len > 1 => Ok((Verdict::Short(len / 2, err(libc::EIO)), None)),
            Failure::ShortWrite => Err(err(libc::EIO)),
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::{arm, arm_power_loss, disarm, fired, lost_power, slow_fsyncs};

/// Called before every file and directory operation on `path` (`len`: bytes to write); hold
/// the returned guard while doing the operation.
#[cfg(feature = "fault-injection")]
pub fn check(op: Op, path: &Path, len: usize) -> io::Result<Pass> {
    imp::check(op, path, len)
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn check(_op: Op, _path: &Path, _len: usize) -> io::Result<Pass> {
    Ok(Pass { verdict: Verdict::Proceed, guard: Guard {} })
}

/// A file's length before an fsync (0 without fault injection): what that fsync covers. Bytes
/// written while it runs may or may not be on disk after it.
#[cfg(feature = "fault-injection")]
pub fn length(file: &std::fs::File) -> u64 {
    file.metadata().map(|m| m.len()).unwrap_or(0)
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn length(_file: &std::fs::File) -> u64 {
    0
}

/// After a file's fsync: its first `covered` bytes (its length when the fsync began) are durable.
#[inline(always)]
pub fn synced(_path: &Path, _file: &std::fs::File, _covered: u64) {
    #[cfg(feature = "fault-injection")]
    imp::with_durable(_path, |d| d.file_synced(_file, _covered));
}

/// After a directory's fsync: its current entries are durable.
#[inline(always)]
pub fn dir_synced(_dir: &Path) {
    #[cfg(feature = "fault-injection")]
    imp::with_durable(_dir, |d| d.dir_synced(_dir));
}

/// After a write of `len` bytes to `file` at `offset` (`None`: appended at its end): remembered
/// until the next fsync, so a power loss can persist unsynced writes out of order.
#[inline(always)]
pub fn wrote(_path: &Path, _file: &std::fs::File, _offset: Option<u64>, _len: usize) {
    #[cfg(feature = "fault-injection")]
    imp::with_durable(_path, |d| d.wrote(_file, _offset, _len));
}

/// Before `path` (a file or a tree) is unlinked or replaced: keep its files for a power loss.
#[inline(always)]
pub fn removing(_path: &Path) {
    #[cfg(feature = "fault-injection")]
    imp::with_durable(_path, |d| d.stash(_path));
}

#[cfg(feature = "fault-injection")]
mod power {
    //! The durable state of a tree and its reconstruction after a simulated power loss.

    use std::collections::{HashMap, HashSet};
    use std::ffi::OsString;
    use std::fs;
    use std::os::unix::fs::{FileExt, MetadataExt};
    use std::path::{Path, PathBuf};

    const STASH: &str = ".powerloss-stash";
    const REBUILT: &str = ".powerloss-rebuilt";

    pub struct Durable {
        loss: super::Loss,
        seed: u64,
        root_ino: u64,
        /// inode -> length made durable by its last fsync
        lengths: HashMap<u64, u64>,
        /// inode -> byte ranges written since its last fsync, in write order
        unsynced: HashMap<u64, Vec<(u64, u64)>>,
        /// directory inode -> its entries (name, inode, is a directory) at its last fsync
        dirs: HashMap<u64, Vec<(OsString, u64, bool)>>,
        stash: PathBuf,
    }

    fn entries(dir: &Path) -> Vec<(OsString, u64, bool)> {
        let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_name() != STASH && e.file_name() != REBUILT)
            .filter_map(|e| {
                let m = fs::symlink_metadata(e.path()).ok()?;
                Some((e.file_name(), m.ino(), m.is_dir()))
            })
            .collect()
    }

    impl Durable {
        /// Everything under `root` as it is now counts as durable.
        pub fn baseline(root: &Path, loss: super::Loss, seed: u64) -> Durable {
            let stash = root.join(STASH);
            let _ = fs::create_dir_all(&stash);
            let root_ino = fs::metadata(root).map(|m| m.ino()).unwrap_or(0);
            let mut d = Durable {
                loss,
                seed,
                root_ino,
                lengths: HashMap::new(),
                unsynced: HashMap::new(),
                dirs: HashMap::new(),
                stash,
            };
            d.snapshot_tree(root);
            d
        }

        fn snapshot_tree(&mut self, dir: &Path) {
            let Ok(m) = fs::metadata(dir) else { return };
            let list = entries(dir);
            for (name, ino, is_dir) in &list {
                let p = dir.join(name);
                if *is_dir {
                    self.snapshot_tree(&p);
                } else if let Ok(fm) = fs::symlink_metadata(&p) {
                    self.lengths.insert(*ino, fm.len());
                }
            }
            self.dirs.insert(m.ino(), list);
        }

        pub fn file_synced(&mut self, f: &fs::File, covered: u64) {
            if let Ok(m) = f.metadata() {
                // Two fsyncs may overlap (a group commit's and a rotation's): the later to end
                // may have covered less. A file cut shorter since is only as long as it is now.
                let was = self.lengths.get(&m.ino()).copied().unwrap_or(0);
                self.lengths.insert(m.ino(), covered.max(was).min(m.len()));
                if let Some(w) = self.unsynced.get_mut(&m.ino()) {
                    w.retain(|&(_, end)| end > covered);
                }
            }
        }

        pub fn wrote(&mut self, f: &fs::File, offset: Option<u64>, len: usize) {
            if let Ok(m) = f.metadata() {
                let start = offset.unwrap_or(m.len().saturating_sub(len as u64));
                self.unsynced.entry(m.ino()).or_default().push((start, start + len as u64));
            }
        }

        pub fn dir_synced(&mut self, dir: &Path) {
            if let Ok(m) = fs::metadata(dir) {
                self.dirs.insert(m.ino(), entries(dir));
            }
        }

        /// Hard-links every file of `path` into the stash (named by inode).
        pub fn stash(&mut self, path: &Path) {
            let Ok(m) = fs::symlink_metadata(path) else { return };
            if m.is_dir() {
                for (name, _, _) in entries(path) {
                    self.stash(&path.join(name));
                }
            } else {
                let _ = fs::hard_link(path, self.stash.join(m.ino().to_string()));
            }
        }

        /// Leaves under `root` only what was durable.
        pub fn crash(&mut self, root: &Path) {
            // Every file that still exists, by inode: in the tree or in the stash.
            let mut paths: HashMap<u64, PathBuf> = HashMap::new();
            index(root, &mut paths);
            let rebuilt = root.join(REBUILT);
            let _ = fs::remove_dir_all(&rebuilt);
            fs::create_dir(&rebuilt).expect("power-loss rebuild directory");
            let mut done = HashSet::new();
            self.rebuild(self.root_ino, &rebuilt, &paths, &mut done);
            for (name, _, _) in entries(root) {
                let p = root.join(&name);
                if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                    let _ = fs::remove_dir_all(&p);
                } else {
                    let _ = fs::remove_file(&p);
                }
            }
            for (name, _, _) in entries(&rebuilt) {
                let _ = fs::rename(rebuilt.join(&name), root.join(&name));
            }
            let _ = fs::remove_dir_all(&rebuilt);
        }

        fn rebuild(&self, dir_ino: u64, dest: &Path, paths: &HashMap<u64, PathBuf>, done: &mut HashSet<u64>) {
            let Some(list) = self.dirs.get(&dir_ino) else { return };
            for (name, ino, is_dir) in list {
                let to = dest.join(name);
                if *is_dir {
                    if fs::create_dir(&to).is_ok() {
                        self.rebuild(*ino, &to, paths, done);
                    }
                    continue;
                }
                let Some(from) = paths.get(ino) else { continue };
                if fs::hard_link(from, &to).is_err() || !done.insert(*ino) {
                    continue;
                }
                // Once per inode: cut to the durable length, maybe garbage after it.
                let durable = self.lengths.get(ino).copied().unwrap_or(0);
                let Ok(f) = fs::OpenOptions::new().read(true).write(true).open(&to) else { continue };
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if len > durable && self.loss == super::Loss::Reorder {
                    self.reorder(&f, *ino, durable, len);
                } else if len > durable {
                    let _ = f.set_len(durable);
                    if self.loss == super::Loss::Junk {
                        // Part of the lost tail comes back as junk, as torn sectors would:
                        // zeros (a preallocated extent) or random bytes, as the seed picks.
                        let lost = len - durable;
                        let zeros = self.seed % 2 == 0;
                        let mut x = self.seed ^ ino.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                        let n = (x % (lost + 1)) as usize;
                        let junk: Vec<u8> = (0..n)
                            .map(|_| {
                                x ^= x << 13;
                                x ^= x >> 7;
                                x ^= x << 17;
                                if zeros {
                                    0
                                } else {
                                    x as u8
                                }
                            })
                            .collect();
                        let _ = f.write_all_at(&junk, durable);
                    }
                }
            }
        }
    }

    impl Durable {
        /// The unsynced bytes `durable..len` of inode `ino` as a disk that wrote them back in any
        /// order leaves them: split at the boundaries of the writes, each piece kept whole,
        /// dropped, or kept sector by sector; the length is the old one or the end of the last
        /// byte kept.
        fn reorder(&self, f: &fs::File, ino: u64, durable: u64, len: u64) {
            let mut tail = vec![0u8; (len - durable) as usize];
            if f.read_exact_at(&mut tail, durable).is_err() {
                return;
            }
            let mut cuts = vec![durable, len];
            for &(s, e) in self.unsynced.get(&ino).into_iter().flatten() {
                cuts.extend([s, e].into_iter().filter(|&c| c > durable && c < len));
            }
            cuts.sort_unstable();
            cuts.dedup();
            let mut x = self.seed ^ ino.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut rng = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let zeros = self.seed % 2 == 0;
            let mut out: Vec<u8> = tail.iter().map(|_| if zeros { 0 } else { rng() as u8 }).collect();
            let mut end = durable;
            for w in cuts.windows(2) {
                let (s, e) = (w[0], w[1]);
                let how = rng() % 3;
                let mut at = s;
                while at < e {
                    let next = ((at / 512 + 1) * 512).min(e);
                    if how == 0 || (how == 2 && rng() % 2 == 0) {
                        let r = (at - durable) as usize..(next - durable) as usize;
                        out[r.clone()].copy_from_slice(&tail[r]);
                        end = next;
                    }
                    at = next;
                }
            }
            let keep_len = if rng() % 2 == 0 { len } else { end };
            let _ = f.write_all_at(&out[..(keep_len - durable) as usize], durable);
            let _ = f.set_len(keep_len);
        }
    }

    fn index(dir: &Path, out: &mut HashMap<u64, PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.filter_map(|e| e.ok()) {
            if e.file_name() == REBUILT {
                continue;
            }
            let p = e.path();
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => index(&p, out),
                Ok(m) => {
                    out.entry(m.ino()).or_insert(p);
                }
                Err(_) => {}
            }
        }
    }
}
