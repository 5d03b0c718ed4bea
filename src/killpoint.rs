//! Named crash points for crash-safety tests, compiled only with the `kill-points` feature.
//!
//! `BITGASK_KILL_POINT=name` kills the process (SIGKILL, no clean-up of any kind) the first time
//! it reaches `hit("name")`; `name:N` kills on the Nth time. Without the feature `hit` is an
//! empty inline function. The library's own tests can also run code of their own at a point
//! ([`on_hit`]), to make a race or a panic happen exactly there; `iter-next` (an iterator about
//! to visit a key) and `group-synced` (a group commit's fsync returned) are such points, outside
//! [`MERGE_POINTS`] and [`ROTATION_POINTS`].

/// Crash point `name` (and, in the library's tests, the hook set for it on this thread).
#[inline(always)]
pub fn hit(name: &str) {
    #[cfg(test)]
    hook::run(name);
    #[cfg(feature = "kill-points")]
    kill_if_chosen(name);
    let _ = name;
}

#[cfg(feature = "kill-points")]
fn kill_if_chosen(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    // The choice is read once per process, not once per program: a test harness that reached a
    // point itself (the write path's `group-synced` does, on every group commit) before forking
    // its children must not hand them its own empty choice.
    type PerProcess = Option<(u32, Option<(String, u64)>)>;
    static TARGET: Mutex<PerProcess> = Mutex::new(None);
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut t = TARGET.lock().unwrap_or_else(|e| e.into_inner());
    if t.as_ref().is_none_or(|(p, _)| *p != pid) {
        *t = Some((pid, chosen()));
        SEEN.store(0, Ordering::SeqCst);
    }
    if let Some((_, Some((n, count)))) = t.as_ref() {
        if n == name && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *count {
            // SAFETY: sending a signal to ourselves.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
}

/// `BITGASK_KILL_POINT` as (point, the how-manyth time it kills).
#[cfg(feature = "kill-points")]
fn chosen() -> Option<(String, u64)> {
    let v = std::env::var("BITGASK_KILL_POINT").ok()?;
    Some(match v.rsplit_once(':') {
        Some((n, c)) => (n.to_string(), c.parse().unwrap_or(1)),
        None => (v, 1),
    })
}

/// The points of a rotation and its seal on the `bitgask-seal` thread (docs/DESIGN.md section
/// 5.6), in the order one rotation reaches them: the full file trimmed and the next file
/// created (writer mutex held), the
/// full file fsynced, `data/` fsynced (the group commits waiting for the seal still held), its
/// hint filled into `<id>.hint.tmp` (not yet synced nor renamed) and then written, on the
/// background thread (any hint: open, the synchronous seals, close and merges write them too);
/// and a step of the active file's early write-back done on the seal thread.
/// `c_tests/killpoints/test_rotation_kill.c` sweeps every one (and checks it knows this list).
pub const ROTATION_POINTS: &[&str] = &[
    "rotation-trimmed",
    "rotation-created",
    "rotation-file-synced",
    "rotation-dir-synced",
    "hint-tmp-written",
    "hint-written",
    "writeback-step-done",
];

/// Every merge point, for tests that sweep them all.
pub const MERGE_POINTS: &[&str] = &[
    "merge-tmp-created",
    "merge-output-synced",
    "merge-hint-written",
    "merge-done-written",
    "merge-links-made",
    "merge-data-renamed",
    "merge-tmp-renamed",
    "merge-old-removed",
    "merge-hint-placed",
];

/// Runs `f` on this thread each time it reaches point `name`, until [`clear_hook`].
#[cfg(test)]
pub fn on_hit(name: &'static str, f: impl FnMut() + 'static) {
    hook::HOOK.with(|h| *h.borrow_mut() = Some((name, Box::new(f))));
}

/// Removes this thread's hook (dropping what it holds).
#[cfg(test)]
pub fn clear_hook() {
    hook::HOOK.with(|h| h.borrow_mut().take());
}

#[cfg(test)]
mod hook {
    use std::cell::RefCell;

    type Hook = (&'static str, Box<dyn FnMut()>);

    thread_local! {
        pub(super) static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Runs the hook for `name`, taken out meanwhile so that it may reach points itself.
    pub(super) fn run(name: &str) {
        let Some((at, mut f)) = HOOK.with(|h| h.borrow_mut().take_if(|(at, _)| *at == name)) else { return };
        f();
        // Put back, unless `f` set another hook.
        HOOK.with(|h| {
            h.borrow_mut().get_or_insert((at, f));
        });
    }
}
