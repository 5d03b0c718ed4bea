/*
 * Crash safety of merging file by file on a full disk (docs/DESIGN.md section 7.10): keys are
 * written and most of them deleted; then a child opens the database with a reserve larger than
 * the file system can hold, so the handle starts full (puts refused, merges file by file), and
 * merges with BITGASK_KILL_POINT=<point>:<N> set until the library SIGKILLs it. The parent opens
 * the database again and checks that exactly one generation is live, every key kept holds its
 * value, no deleted key came back, and that a merge after recovery works.
 *
 * The series of one-file merges passes each point once per step, so hit N kills in step N (or,
 * for the points a step passes per output, in an earlier one). Its steps write no hints before
 * their swap, so merge-hint-written is never reached.
 */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RK_KEYS 400u
/* Larger than any file system the tests run on: the handle starts full. */
#define RK_HUGE_RESERVE (1ull << 40)

static bitgask_options *rk_opts(uint64_t reserve, bool sync) {
    bitgask_options *o = sync ? t_opts(4096) : t_opts_nosync(4096);
    bool ok = o != NULL;
    ok = ok && bitgask_options_set_merge_max_file_size(o, 16384, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_merge_interval_ms(o, 0, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_reserve_bytes(o, reserve, NULL) == BITGASK_OK;
    if (!ok) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

static bool rk_kept(uint32_t n) {
    return n % 5u == 0;
}

/* Every key, then a delete of four in five (synced once, at close). */
static bool rk_preload(const char *root) {
    bitgask_options *o = rk_opts(0, false);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    char k[32];
    uint32_t n;
    bool ok = db != NULL && t_put_keys(db, 0, RK_KEYS, 0);
    for (n = 0; ok && n < RK_KEYS; n++) {
        size_t kl = t_key(k, sizeof k, n);
        if (!rk_kept(n))
            ok = bitgask_delete(db, (const uint8_t *)k, kl, NULL) == BITGASK_OK;
    }
    ok = (db == NULL || t_close(db)) && ok;
    bitgask_options_free(o);
    return ok;
}

/* Never returns: 0 when the merge finished without reaching the point, 1x on errors. */
__attribute__((noreturn)) static void rk_child(const char *root, const char *spec);
static void rk_child(const char *root, const char *spec) {
    bitgask_options *o;
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_space sp;
    bool merged = false;
    alarm(60);
    if (setenv("BITGASK_KILL_POINT", spec, 1) != 0)
        _exit(10);
    o = rk_opts(RK_HUGE_RESERVE, true);
    if (o == NULL || bitgask_open(root, o, &db, &err) != BITGASK_OK)
        _exit(11);
    if (bitgask_space_get(db, &sp, NULL) != BITGASK_OK || !sp.full)
        _exit(12);
    if (t_put_s(db, "refused", "x", NULL) != BITGASK_E_NO_SPACE)
        _exit(13);
    if (bitgask_merge(db, true, &merged, &err) != BITGASK_OK) {
        fprintf(stderr, "child: merge: %s\n", bitgask_error_message(err));
        _exit(14);
    }
    _exit(0);
}

static bool rk_dir(const char *root, const char *name) {
    char p[T_PATH_MAX];
    struct stat st;
    return stat(t_pathf(p, "%s/%s", root, name), &st) == 0 && S_ISDIR(st.st_mode);
}

static bool rk_check(bitgask_db *db, const char *when) {
    char k[32], v[256];
    uint32_t n;
    for (n = 0; n < RK_KEYS; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        bool ok = rk_kept(n) ? t_has(db, k, kl, v, vl) : t_absent(db, k, kl);
        if (!ok) {
            t_note("%s: key %u %s", when, (unsigned)n, rk_kept(n) ? "lost" : "came back");
            return false;
        }
    }
    return true;
}

/* Runs `f(root, spec)` in a child; its exit status, or -1 when it died of a signal. */
static int rk_in_child(void (*f)(const char *, const char *), const char *root, const char *spec, int *sig) {
    int status = 0, pid;
    fflush(NULL);
    pid = t_fork();
    if (pid < 0)
        return -2;
    if (pid == 0)
        f(root, spec);
    if (!t_wait(pid, &status))
        return -2;
    *sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

__attribute__((noreturn)) static void rk_preload_child(const char *root, const char *spec) {
    (void)spec;
    _exit(rk_preload(root) ? 0 : 1);
}

/* After the kill: one generation, every key as it should be, and a merge that works. */
static bool rk_recovered(const char *root, const char *spec) {
    bitgask_options *o = rk_opts(4096, true);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    bool merged = false, ok = db != NULL;
    if (!ok)
        t_note("%s: open after the kill failed", spec);
    if (ok && !(rk_dir(root, "data") && !rk_dir(root, "merge.tmp") && !rk_dir(root, "data.old"))) {
        t_note("%s: not exactly one generation after open", spec);
        ok = false;
    }
    ok = ok && rk_check(db, spec);
    if (ok && (bitgask_merge(db, true, &merged, NULL) != BITGASK_OK || !merged)) {
        t_note("%s: the merge after recovery failed", spec);
        ok = false;
    }
    ok = ok && rk_check(db, "after the merge that follows recovery");
    ok = (db == NULL || t_close(db)) && ok;
    db = ok ? t_open(root, o) : NULL;
    ok = ok && db != NULL && rk_check(db, "reopened");
    ok = (db == NULL || t_close(db)) && ok;
    bitgask_options_free(o);
    return ok;
}

/* The supervisor: preload in one child, kill another at spec, then check. Every process that
 * reaches a kill point is a fresh fork of the test runner: the library reads the setting once
 * per process, at the first point reached (every group commit is one). */
__attribute__((noreturn)) static void rk_supervise(const char *root, const char *spec) {
    int sig = 0, code;
    code = rk_in_child(rk_preload_child, root, spec, &sig);
    if (code != 0) {
        t_note("%s: preload failed (%d)", spec, code);
        _exit(1);
    }
    code = rk_in_child(rk_child, root, spec, &sig);
    if (code != -1 || sig != SIGKILL) {
        t_note("%s: the child %s %d instead of being killed", spec, code >= 0 ? "exited with" : "died of signal",
               code >= 0 ? code : sig);
        _exit(1);
    }
    fflush(NULL);
    _exit(rk_recovered(root, spec) ? 0 : 1);
}

/* Kills the file-by-file merge at spec, then checks the database and merges it again. */
static void rk_sweep(const char *spec) {
    const char *root = t_tmpdir();
    int sig = 0;
    CHECK(root != NULL);
    unsetenv("BITGASK_KILL_POINT");
    CHECK_MSG(rk_in_child(rk_supervise, root, spec, &sig) == 0, "%s: see above (directory %s)", spec, root);
}

TEST(reclaim_kill_tmp_created) { rk_sweep("merge-tmp-created:1"); }
TEST(reclaim_kill_tmp_created_3) { rk_sweep("merge-tmp-created:3"); }
TEST(reclaim_kill_output_synced) { rk_sweep("merge-output-synced:1"); }
TEST(reclaim_kill_output_synced_3) { rk_sweep("merge-output-synced:3"); }
TEST(reclaim_kill_done_written_2) { rk_sweep("merge-done-written:2"); }
TEST(reclaim_kill_links_made) { rk_sweep("merge-links-made:1"); }
TEST(reclaim_kill_data_renamed_2) { rk_sweep("merge-data-renamed:2"); }
TEST(reclaim_kill_tmp_renamed_3) { rk_sweep("merge-tmp-renamed:3"); }
TEST(reclaim_kill_old_removed_2) { rk_sweep("merge-old-removed:2"); }
