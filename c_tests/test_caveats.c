/*
 * The CAVEATS of bitgask.h, each held by a test: SIGBUS from a sealed file truncated behind the
 * library's back, the LOCK across fork(), what a fold callback may call, and what outlives
 * bitgask_close.
 */
#include "check.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- mmap ---- */

static void exit_on_sigbus(int sig) {
    (void)sig;
    _exit(77);
}

/* The child's status for the read of key 0 after its sealed file was truncated to nothing:
 * 77 when the read raised SIGBUS (caught, so the sanitizer build behaves alike). */
static int read_after_truncate(const char *root) {
    bitgask_db *db;
    bitgask_record_meta m;
    char path[T_PATH_MAX], k[32];
    size_t kl = t_key(k, sizeof k, 0);
    uint8_t *v = NULL;
    size_t vl = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = exit_on_sigbus;
    if (sigaction(SIGBUS, &sa, NULL) != 0)
        return 10;
    db = t_open(root, NULL);
    if (db == NULL || bitgask_meta(db, (const uint8_t *)k, kl, &m, NULL) != BITGASK_OK)
        return 11;
    if (!t_truncate_file(t_data_path(path, root, m.file_id, "data"), 0))
        return 12;
    bitgask_get(db, (const uint8_t *)k, kl, &v, &vl, NULL);
    return 13; /* the read returned */
}

TEST(a_sealed_file_truncated_behind_the_librarys_back_raises_sigbus) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(4096);
    bitgask_db *db;
    int status = 0, pid;
    CHECK(root && o);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_put_keys(db, 0, 200, 0));
    CHECK(t_close(db));
    bitgask_options_free(o);
    CHECK(t_list_ids(root, "data", NULL, 0) > 2);
    fflush(NULL);
    pid = t_fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(read_after_truncate(root));
    CHECK(t_wait(pid, &status));
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 77, "the child %s %d (77: SIGBUS, as documented)",
              WIFEXITED(status) ? "exited with" : "died of signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* ---- fork ---- */

/* B opens the database, forks C (which only waits), reports C's pid and exits without closing:
 * C's copy of the LOCK descriptor keeps the lock until C exits. */
TEST(a_forked_child_keeps_the_lock_when_the_parent_exits_without_closing) {
    const char *root = t_tmpdir();
    bitgask_options *o = bitgask_options_new();
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_status locked;
    int fds[2], status = 0, b;
    int32_t c = 0;
    ssize_t n;
    CHECK(root && o && pipe(fds) == 0);
    b = t_fork();
    CHECK(b >= 0);
    if (b == 0) {
        bitgask_db *held = NULL;
        int32_t grandchild;
        close(fds[0]);
        if (bitgask_open(root, NULL, &held, NULL) != BITGASK_OK)
            _exit(1);
        grandchild = (int32_t)fork();
        if (grandchild == 0) {
            close(fds[1]);
            for (;;)
                pause(); /* never touches the handle */
        }
        n = write(fds[1], &grandchild, sizeof grandchild);
        _exit(n == (ssize_t)sizeof grandchild && grandchild > 0 ? 0 : 2); /* no bitgask_close */
    }
    close(fds[1]);
    n = read(fds[0], &c, sizeof c);
    close(fds[0]);
    CHECK(t_wait(b, &status));
    CHECK_MSG(n == (ssize_t)sizeof c && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child B failed (%d)",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    /* B is gone; C still holds the LOCK. C is not our child (t_fork cannot reap it): kill it
     * before any check can return. */
    locked = bitgask_open(root, NULL, &db, NULL);
    CHECK(kill((pid_t)c, SIGKILL) == 0);
    CHECK_MSG(locked == BITGASK_E_LOCKED, "open while the grandchild lives returned %d", (int)locked);
    /* Once C has exited, the lock is free: wait for it. */
    CHECK_OK(bitgask_options_set_lock_timeout_ms(o, 10000, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- fold callbacks ---- */

typedef struct busy_fold {
    bitgask_db *db;
    uint32_t calls, failures;
    uint64_t nested_keys;
    bool merged;
} busy_fold;

/* On the first key: a forced merge and a nested fold; on every key: a read and an overwrite of
 * a key not visited yet (its new value must be what the fold sees). */
static int busy_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    busy_fold *b = (busy_fold *)ctx;
    char k[32], want[256];
    uint32_t n = 0;
    bool ran = false;
    if (!t_key_number(key, klen, &n))
        return 1;
    /* Keys 0..49 hold version 0, except those the previous call overwrote with version 1. */
    if (t_value(want, sizeof want, n, n == 0 ? 0u : 1u) != vlen || memcmp(want, val, vlen) != 0)
        b->failures++;
    if (b->calls++ == 0) {
        if (bitgask_merge(b->db, true, &ran, NULL) != BITGASK_OK)
            b->failures++;
        b->merged = ran;
        if (bitgask_fold(b->db, NULL, 0, t_count_cb, &b->nested_keys, NULL) != BITGASK_OK)
            b->failures++;
    }
    if (!t_has(b->db, key, klen, val, vlen))
        b->failures++;
    if (n + 1 < 50) {
        size_t nl = t_key(k, sizeof k, n + 1), vl = t_value(want, sizeof want, n + 1, 1);
        if (bitgask_put(b->db, (const uint8_t *)k, nl, (const uint8_t *)want, vl, NULL) != BITGASK_OK)
            b->failures++;
    }
    return 0;
}

TEST(a_fold_callback_may_merge_fold_read_and_write) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    busy_fold b;
    CHECK(root && o);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_put_keys(db, 0, 50, 0));
    memset(&b, 0, sizeof b);
    b.db = db;
    CHECK_OK(bitgask_fold(db, NULL, 0, busy_cb, &b, &err), err);
    CHECK_MSG(b.calls == 50 && b.failures == 0 && b.merged && b.nested_keys == 50,
              "calls %u, failures %u, merged %d, nested fold saw %llu keys", (unsigned)b.calls, (unsigned)b.failures,
              (int)b.merged, (unsigned long long)b.nested_keys);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- after bitgask_close ---- */

TEST(what_outlives_close_stays_usable) {
    const char *root = t_tmpdir(), *other = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_iter *it = NULL;
    bitgask_report *r = NULL;
    bitgask_error *err = NULL, *kept = NULL;
    uint8_t *buf = NULL;
    char want[256];
    size_t bl = 0, kl = 0, wl = t_value(want, sizeof want, 1, 0);
    const uint8_t *k = NULL;
    char path[T_PATH_MAX];
    CHECK(root && other && o);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_put_keys(db, 0, 3, 0));
    CHECK_OK(bitgask_get(db, KS("key-00000001"), &buf, &bl, &err), err);
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK_ERR(bitgask_put(db, KS(""), KS("v"), &kept), BITGASK_E_INVALID_ARG, kept);
    CHECK_OK(bitgask_validate(root, NULL, &r, &err), err);
    CHECK(t_close(db));
    /* The iterator reports the close and is still freed as usual. */
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_E_CLOSED, err);
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_E_CLOSED, err);
    bitgask_iter_free(it);
    /* Buffers, errors, reports and options do not depend on the handle. */
    CHECK(bl == wl && memcmp(buf, want, wl) == 0);
    bitgask_free(buf);
    CHECK(bitgask_error_status(kept) == BITGASK_E_INVALID_ARG && bitgask_error_message(kept)[0] != '\0');
    bitgask_error_free(kept);
    CHECK(bitgask_report_clean(r) && strstr(bitgask_report_text(r), "clean") != NULL);
    bitgask_report_free(r);
    CHECK((db = t_open(t_pathf(path, "%s/db", other), o)) != NULL);
    CHECK(t_close(db));
    bitgask_options_free(o);
}
