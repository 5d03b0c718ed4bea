/*
 * A full disk through the C API (docs/DESIGN.md sections 5.14 and 7.10): a child process enters
 * a user and mount namespace of its own (no root needed), mounts a 6 MiB tmpfs, fills it with
 * puts until BITGASK_E_NO_SPACE, checks every acknowledged value (also after reopening), deletes
 * four keys in five, reclaims their space with bitgask_merge and bitgask_compact_if_needed, and
 * writes again. Where user namespaces are not allowed the test notes it and passes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define FD_VLEN 1024u
#define FD_SKIPPED 77

static bitgask_options *fd_opts(void) {
    bitgask_options *o = t_opts(256u << 10);
    bool ok = o != NULL;
    ok = ok && bitgask_options_set_merge_max_file_size(o, 256u << 10, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_merge_interval_ms(o, 0, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_reserve_bytes(o, 512u << 10, NULL) == BITGASK_OK;
    if (!ok) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

static bool fd_put(bitgask_db *db, uint32_t n, bitgask_status *s) {
    char k[32], v[FD_VLEN];
    size_t kl = t_key(k, sizeof k, n), vl = t_fill_value(v, FD_VLEN, n);
    *s = bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL);
    return *s == BITGASK_OK;
}

/* Keys below `acked` hold their value unless deleted (every key not a multiple of 5, when
 * `deleted`); keys from `extra` to `extra_end` too. */
static bool fd_check(bitgask_db *db, uint32_t acked, bool deleted, uint32_t extra, uint32_t extra_end,
                     const char *when) {
    char k[32], v[FD_VLEN];
    uint32_t n;
    for (n = 0; n < extra_end; n++) {
        size_t kl, vl;
        bool gone = deleted && n < acked && n % 5u != 0;
        if (n >= acked && n < extra)
            continue;
        kl = t_key(k, sizeof k, n);
        vl = t_fill_value(v, FD_VLEN, n);
        if (!(gone ? t_absent(db, k, kl) : t_has(db, k, kl, v, vl))) {
            t_note("%s: key %u %s", when, (unsigned)n, gone ? "came back" : "lost");
            return false;
        }
    }
    return true;
}

static bool fd_full(bitgask_db *db, uint32_t want) {
    bitgask_space sp;
    if (bitgask_space_get(db, &sp, NULL) != BITGASK_OK)
        return false;
    if (sp.full != want)
        t_note("space: full %u (want %u), reserve %llu of %llu, %llu free", (unsigned)sp.full, (unsigned)want,
               (unsigned long long)sp.reserve_bytes, (unsigned long long)sp.reserve_size,
               (unsigned long long)sp.free_bytes);
    return sp.full == want;
}

/* The cycle on the mounted file system; `compact` reclaims with bitgask_compact_if_needed. */
static bool fd_cycle(const char *root, bool compact) {
    char path[T_PATH_MAX];
    bitgask_options *o = fd_opts();
    bitgask_db *db;
    bitgask_status s = BITGASK_OK;
    bitgask_error *err = NULL;
    uint32_t n, acked = 0, extra;
    bool merged = false, ok;
    t_pathf(path, "%s/db-%d", root, (int)compact);
    db = o ? t_open(path, o) : NULL;
    if (db == NULL)
        return false;
    while (fd_put(db, acked, &s))
        acked++;
    ok = s == BITGASK_E_NO_SPACE && acked > 1000;
    if (!ok)
        t_note("filling stopped at %u puts with status %d", (unsigned)acked, (int)s);
    ok = ok && fd_full(db, 1);
    ok = ok && !fd_put(db, 1000000u, &s) && s == BITGASK_E_NO_SPACE;
    ok = ok && fd_check(db, acked, false, acked, acked, "full");
    ok = t_close(db) && ok;
    db = ok ? t_open(path, o) : NULL;
    ok = ok && db != NULL && fd_check(db, acked, false, acked, acked, "full, reopened");
    for (n = 0; ok && n < acked; n++) {
        char k[32];
        size_t kl = t_key(k, sizeof k, n);
        if (n % 5u != 0 && (s = bitgask_delete(db, (const uint8_t *)k, kl, NULL)) != BITGASK_OK) {
            t_note("delete %u on a full disk: status %d", (unsigned)n, (int)s);
            ok = false;
        }
    }
    if (ok) {
        s = compact ? bitgask_compact_if_needed(db, &merged, &err) : bitgask_merge(db, false, &merged, &err);
        if (s != BITGASK_OK || !merged) {
            t_note("reclaiming: status %d, merged %d: %s", (int)s, (int)merged, err ? bitgask_error_message(err) : "");
            ok = false;
        }
        bitgask_error_free(err);
    }
    ok = ok && fd_full(db, 0);
    extra = acked + 100;
    for (n = extra; ok && n < extra + 500; n++)
        ok = fd_put(db, n, &s) || (t_note("put %u after reclaiming: status %d", (unsigned)n, (int)s), false);
    ok = ok && fd_check(db, acked, true, extra, extra + 500, "after reclaiming");
    ok = (db == NULL || t_close(db)) && ok;
    db = ok ? t_open(path, o) : NULL;
    ok = ok && db != NULL && fd_check(db, acked, true, extra, extra + 500, "reopened at the end");
    ok = (db == NULL || t_close(db)) && ok;
    bitgask_options_free(o);
    return ok;
}

/* In the child: a user and mount namespace, a tmpfs at `dir`, the cycle. */
static int fd_child(const char *dir, bool compact) {
    if (!t_small_tmpfs(dir, "6m"))
        return FD_SKIPPED;
    return fd_cycle(dir, compact) ? 0 : 1;
}

static void fd_run(bool compact) {
    const char *dir = t_tmpdir();
    int status = 0, pid;
    CHECK(dir != NULL);
    fflush(NULL);
    pid = t_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int code = fd_child(dir, compact);
        fflush(NULL);
        _exit(code);
    }
    CHECK(t_wait(pid, &status));
    CHECK_MSG(WIFEXITED(status), "the child died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (WEXITSTATUS(status) == FD_SKIPPED) {
        t_note("skipped: no unprivileged user namespaces here");
        return;
    }
    CHECK_MSG(WEXITSTATUS(status) == 0, "the full-disk cycle failed (see above)");
}

TEST(full_disk_fill_delete_merge_write_through_the_c_api) { fd_run(false); }
TEST(full_disk_fill_delete_compact_if_needed_write_through_the_c_api) { fd_run(true); }
