/*
 * Crash safety of merge: a child process opens the database with BITGASK_KILL_POINT=<point>[:N]
 * set (the library is built with the kill-points feature, see the Makefile), preloads keys,
 * starts writer threads that keep putting and deleting keys, and merges from its main thread
 * until the library SIGKILLs the process at the named point. The parent then opens the
 * database and checks that exactly one generation is live, every acknowledged write is there,
 * nothing deleted or expired came back, and that a second merge works.
 *
 * Writers report through a pipe: an intent ("put key version" / "delete key") before each
 * operation and an acknowledgement after it returned. A writer has at most one operation in
 * flight, so after the kill each key holds its last acknowledged state or, if it is the key of
 * its writer's pending intent, the intent's result. The writers, the model and the checker are
 * crash_model.c's, shared with the kill -9 loops of test_crash_merge.c.
 *
 * Workloads: the default is reduced (make kill-tests, part of make test); BITGASK_SOAK=1 (make
 * soak) uses more keys and rounds and, for every point, kills at several successive hits.
 */
#include "crash_model.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define KP_WRITERS 3
#define KP_WRITER_BASE 100000u
#define KP_TTL_BASE 500000u
#define KP_TTL_KEYS 20u
#define KP_TTL_MS 30u
#define KP_MAX_ROUNDS 16u

/* ---- configuration ---- */

typedef enum kp_kind { KP_FULL, KP_SELECTIVE } kp_kind;

typedef struct kp_cfg {
    uint32_t statics;         /* keys written once in the first round, never changed */
    uint32_t keys_per_writer; /* each writer owns this many keys */
    unsigned rounds;          /* crash + recovery cycles per hit, on the same directory */
    unsigned hits;            /* successive hits to kill at: base, base+1, ... */
    unsigned max_merges;      /* the child gives up (exit 0: point not reached) after this many */
    bool verbose;
} kp_cfg;

static void kp_config(kp_cfg *c) {
    bool soak = t_soak();
    c->statics = soak ? 600 : 250;
    c->keys_per_writer = soak ? 250 : 120;
    c->rounds = soak ? 3 : 2;
    c->hits = soak ? 4 : 1;
    c->max_merges = soak ? 24 : 8;
    c->verbose = getenv("BITGASK_TEST_VERBOSE") != NULL;
}

/* The key space: model keys are the writers' (crash_model.h); the statics are written once,
 * before the first child. */
static cm_space kp_space(const kp_cfg *cfg) {
    cm_space sp;
    sp.key_base = KP_WRITER_BASE;
    sp.writers = KP_WRITERS;
    sp.keys_per_writer = cfg->keys_per_writer;
    sp.statics = cfg->statics;
    return sp;
}

/* ---- the child ---- */

static bitgask_options *kp_opts(kp_kind kind) {
    bitgask_options *o = t_opts(4096);
    bool ok = o != NULL;
    ok = ok && bitgask_options_set_merge_max_file_size(o, 16384, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_merge_interval_ms(o, 0, NULL) == BITGASK_OK;
    if (kind == KP_SELECTIVE) {
        /* Only selective merges: a full merge would need everything dead. */
        ok = ok && bitgask_options_set_merge_trigger_ratio(o, 1.0, NULL) == BITGASK_OK;
        ok = ok && bitgask_options_set_min_merge_total(o, 0, NULL) == BITGASK_OK;
        ok = ok && bitgask_options_set_min_merge_files(o, 1, NULL) == BITGASK_OK;
        ok = ok && bitgask_options_set_garbage_ratio(o, 0.5, NULL) == BITGASK_OK;
    }
    if (!ok) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

/* Never returns. Exit codes: 10 options, 11 open, 12 TTL put, 13 pipe, 20 merge error, 21 a
 * forced merge did not run, 30/31 writer errors, 40 thread; 0 means every merge finished
 * without reaching the point. The expected end is SIGKILL from the library. */
__attribute__((noreturn)) static void kp_child(const char *root, int fd, const char *spec, kp_kind kind,
                                               const kp_cfg *cfg, uint32_t round, uint32_t version_base);
static void kp_child(const char *root, int fd, const char *spec, kp_kind kind, const kp_cfg *cfg, uint32_t round,
                     uint32_t version_base) {
    bitgask_options *o;
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    cm_space space = kp_space(cfg);
    cm_writer w[KP_WRITERS];
    pthread_t th[KP_WRITERS];
    char k[32], v[256];
    uint32_t i;
    unsigned m;
    alarm(60); /* a hang becomes SIGALRM, which the parent reports */
    if (setenv("BITGASK_KILL_POINT", spec, 1) != 0)
        _exit(10);
    o = kp_opts(kind);
    if (o == NULL)
        _exit(10);
    if (bitgask_open(root, o, &db, &err) != BITGASK_OK) {
        fprintf(stderr, "child: open: %s\n", bitgask_error_message(err));
        _exit(11);
    }
    /* Keys that get a TTL later: first an ordinary value, in an older file. */
    for (i = 0; i < KP_TTL_KEYS; i++) {
        uint32_t n = KP_TTL_BASE + round * 1000u + i;
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 1);
        if (bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) != BITGASK_OK)
            _exit(12);
    }
    if (!cm_start_writers(w, th, db, fd, &space, version_base, 4, 100,
                          0x9E3779B97F4A7C15ull ^ ((uint64_t)round << 32) ^ (uint64_t)getpid()))
        _exit(40);
    t_sleep_ms(20);
    for (i = 0; i < KP_TTL_KEYS; i++) {
        uint32_t n = KP_TTL_BASE + round * 1000u + i;
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 2);
        if (bitgask_put_ttl(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, KP_TTL_MS, NULL) != BITGASK_OK)
            _exit(12);
    }
    cm_send(fd, CM_MARK, 0, 0, 0); /* the TTL keys are written and expiring */
    t_sleep_ms(KP_TTL_MS + 40); /* past the TTL, and the writers fill more files */
    for (m = 0; m < cfg->max_merges; m++) {
        bool merged = false;
        bitgask_status s;
        cm_send(fd, CM_MERGE, 0, 0, m);
        if (kind == KP_FULL)
            s = bitgask_merge(db, true, &merged, &err);
        else
            s = bitgask_compact_if_needed(db, &merged, &err);
        if (s != BITGASK_OK) {
            fprintf(stderr, "child: merge %u: %d %s\n", m, (int)s, bitgask_error_message(err));
            _exit(20);
        }
        if (kind == KP_FULL && !merged)
            _exit(21);
        cm_send(fd, CM_MERGED, 0, merged ? 1u : 0u, m);
        t_sleep_ms(15);
    }
    _exit(0);
}

/* ---- the parent's checks ---- */

/* The model of one sweep: crash_model's, and how many rounds wrote TTL keys. */
typedef struct kp_model {
    cm_model cm;
    uint32_t ttl_rounds;
} kp_model;

/* The writers' keys and the statics (crash_model.h), plus the TTL keys of kp_child: none of them
 * comes back once expired, nor its older plain value. */
static bool kp_check(bitgask_db *db, kp_model *md, bool resolve, const char *when) {
    char k[32];
    uint32_t i, r;
    for (r = 0; r < md->ttl_rounds; r++)
        for (i = 0; i < KP_TTL_KEYS; i++) {
            size_t kl = t_key(k, sizeof k, KP_TTL_BASE + r * 1000u + i);
            if (!t_absent(db, k, kl)) {
                t_note("%s: expired key %s (round %u) is back", when, k, (unsigned)r);
                return false;
            }
        }
    return cm_check(db, &md->cm, resolve, when);
}

/* ---- directory states ---- */

typedef struct kp_point {
    const char *name;
    /* What the root holds when the process dies there: data/, merge.tmp/, data.old/ (1 or 0;
     * -1: either). */
    signed char data, tmp, old;
} kp_point;

static const kp_point kp_points[] = {
    {"merge-tmp-created", true, true, false},   {"merge-output-synced", true, true, false},
    {"merge-hint-written", true, true, false},  {"merge-done-written", true, true, false},
    {"merge-links-made", true, true, false},    {"merge-data-renamed", false, true, true},
    {"merge-tmp-renamed", true, false, true},   {"merge-old-removed", true, false, false},
    /* A full merge's hints, placed by the background thread after the swap under the merge
     * lock: no merge runs, and data.old/ is there unless the removal a later merge queued ran
     * first. */
    {"merge-hint-placed", true, false, -1},
};
#define KP_NPOINTS (sizeof kp_points / sizeof kp_points[0])

static const kp_point *kp_find_point(const char *name) {
    size_t i;
    for (i = 0; i < KP_NPOINTS; i++)
        if (strcmp(kp_points[i].name, name) == 0)
            return &kp_points[i];
    return NULL;
}

/* Temporary files in data/ after open. A crash while the background thread writes a sealed
 * file's hint leaves <id>.hint.tmp; it is not a merge artifact (those live in merge.tmp/), so it
 * is only reported (verbose), not failed. */
static void kp_data_dir_leftovers(const char *root, const char *when) {
    char p[T_PATH_MAX];
    DIR *d = opendir(t_pathf(p, "%s/data", root));
    struct dirent *e;
    if (d == NULL || getenv("BITGASK_TEST_VERBOSE") == NULL) {
        if (d != NULL)
            closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0)
            t_note("%s: temporary file data/%s after open", when, e->d_name);
    }
    closedir(d);
}

/* ---- the sweep ---- */

static bool kp_in_subprocess(const char *root, kp_model *md, kp_kind kind, const char *when);

static const char *kp_kind_name(kp_kind kind) {
    return kind == KP_FULL ? "full" : "selective";
}

static bool kp_preload(const char *root, const kp_cfg *cfg, kp_kind kind) {
    bitgask_options *o = kp_opts(kind);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    cm_space space = kp_space(cfg);
    bool ok = db != NULL && t_put_keys(db, 0, space.statics, 0);
    ok = (db == NULL || t_close(db)) && ok;
    bitgask_options_free(o);
    return ok;
}

/* One crash + recovery cycle: the child dies at spec; the parent checks and repairs the model. */
static bool kp_cycle(const char *root, const char *spec, const kp_point *pt, kp_kind kind, const kp_cfg *cfg,
                     kp_model *md, uint32_t round, uint32_t version_base) {
    int fds[2], status = 0;
    pid_t pid;
    bitgask_options *o;
    bitgask_db *db;
    bool data, tmp, old, ok;
    char when[160];
    if (pipe(fds) != 0) {
        t_note("pipe: %s", strerror(errno));
        return false;
    }
    cm_new_child(&md->cm);
    fflush(NULL);
    pid = fork(); /* the parent has no database open and runs no other thread here */
    if (pid < 0) {
        t_note("fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        kp_child(root, fds[1], spec, kind, cfg, round, version_base);
    }
    close(fds[1]);
    ok = cm_drain(fds[0], &md->cm);
    close(fds[0]);
    if (!ok)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!ok)
        return false;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            t_note("%s (%s merge, round %u): the point was never reached in %u merges (%u ran)", spec,
                   kp_kind_name(kind), (unsigned)round, md->cm.merges_done, md->cm.merges_ran);
        else
            t_note("%s (%s merge, round %u): the child %s %d instead of being killed at the point", spec,
                   kp_kind_name(kind), (unsigned)round, WIFEXITED(status) ? "exited with" : "died of signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return false;
    }
    if (md->cm.marks == 0 || md->cm.merges_started == 0) {
        t_note("%s: the child was killed before it merged (TTL keys %s, %u merges started)", spec,
               md->cm.marks ? "done" : "not done", md->cm.merges_started);
        return false;
    }
    md->ttl_rounds = round + 1;
    snprintf(when, sizeof when, "%s, %s merge, round %u, merge #%u", spec, kp_kind_name(kind), (unsigned)round,
             md->cm.merges_started);

    /* The directories are where the point says the process died. */
    data = cm_dir_exists(root, "data");
    tmp = cm_dir_exists(root, "merge.tmp");
    old = cm_dir_exists(root, "data.old");
    if (data != pt->data || tmp != pt->tmp || (pt->old >= 0 && old != pt->old)) {
        t_note("%s: after the kill data/ %d, merge.tmp/ %d, data.old/ %d; expected %d %d %d", when, (int)data, (int)tmp,
               (int)old, (int)pt->data, (int)pt->tmp, (int)pt->old);
        return false;
    }

    o = kp_opts(kind);
    if (o == NULL)
        return false;
    db = t_open(root, o);
    if (db == NULL) {
        t_note("%s: open after the kill failed", when);
        bitgask_options_free(o);
        return false;
    }
    ok = true;
    if (cm_dir_exists(root, "merge.tmp") || cm_dir_exists(root, "data.old") || !cm_dir_exists(root, "data")) {
        t_note("%s: after open: data/ %d, merge.tmp/ %d, data.old/ %d (exactly one generation expected)", when,
               (int)cm_dir_exists(root, "data"), (int)cm_dir_exists(root, "merge.tmp"),
               (int)cm_dir_exists(root, "data.old"));
        ok = false;
    }
    kp_data_dir_leftovers(root, when);
    ok = ok && kp_check(db, md, true, when);
    ok = t_close(db) && ok;
    bitgask_options_free(o);
    /* A second merge after recovery works and keeps the data. It runs in a subprocess: a merge
     * in this process would fix the library's kill-point setting (read once, at the first point
     * reached) to "none" for every later child of this process. */
    return ok && kp_in_subprocess(root, md, kind, when);
}

/* In a forked process: merge, check, close, reopen, check. */
static bool kp_merge_and_check(const char *root, kp_model *md, kp_kind kind, const char *when) {
    bitgask_options *o = kp_opts(kind);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    bitgask_error *err = NULL;
    bool merged = false, ok = db != NULL;
    uint64_t dead = 1, total = 0;
    double ratio = 0;
    if (ok) {
        bitgask_status s = bitgask_merge(db, true, &merged, &err);
        if (s != BITGASK_OK || !merged) {
            t_note("%s: merge after recovery: status %d, merged %d %s", when, (int)s, (int)merged,
                   err ? bitgask_error_message(err) : "");
            bitgask_error_free(err);
            ok = false;
        }
    }
    ok = ok && kp_check(db, md, false, "after the merge that follows recovery");
    if (ok && (bitgask_reclaimable(db, &dead, &total, &ratio, NULL) != BITGASK_OK || dead != 0)) {
        t_note("%s: %llu dead bytes after a merge on a quiet database", when, (unsigned long long)dead);
        ok = false;
    }
    ok = (db == NULL || t_close(db)) && ok;
    if (ok) {
        db = t_open(root, o);
        ok = db != NULL && kp_check(db, md, false, "reopened after the merge that follows recovery");
        ok = (db == NULL || t_close(db)) && ok;
    }
    if (ok && (cm_dir_exists(root, "merge.tmp") || cm_dir_exists(root, "data.old"))) {
        t_note("%s: merge.tmp/ or data.old/ left after the second merge", when);
        ok = false;
    }
    bitgask_options_free(o);
    return ok;
}

static bool kp_in_subprocess(const char *root, kp_model *md, kp_kind kind, const char *when) {
    int status = 0;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        t_note("fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        bool ok = kp_merge_and_check(root, md, kind, when);
        fflush(NULL);
        _exit(ok ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        t_note("%s: the merge-after-recovery check failed (status 0x%x)", when, (unsigned)status);
        return false;
    }
    return true;
}

/* Kills at point `name`, hits base..base+hits-1, rounds cycles each, on one directory per hit. */
static void kp_sweep(const char *name, unsigned base, kp_kind kind) {
    kp_cfg cfg;
    const kp_point *pt = kp_find_point(name);
    unsigned h, r;
    uint64_t start = t_mono_ms();
    kp_config(&cfg);
    unsetenv("BITGASK_KILL_POINT"); /* only the child may have it */
    CHECK_MSG(pt != NULL, "unknown point %s", name);
    CHECK(cfg.rounds <= KP_MAX_ROUNDS);
    for (h = base; h < base + cfg.hits; h++) {
        const char *root = t_tmpdir();
        cm_space space = kp_space(&cfg);
        kp_model md;
        char spec[96];
        CHECK(root != NULL);
        md.ttl_rounds = 0;
        CHECK(cm_model_init(&md.cm, &space));
        snprintf(spec, sizeof spec, "%s:%u", name, h);
        if (!kp_preload(root, &cfg, kind)) {
            cm_model_free(&md.cm);
            CHECK_MSG(false, "preload failed");
        }
        for (r = 0; r < cfg.rounds; r++) {
            bool ok = kp_cycle(root, spec, pt, kind, &cfg, &md, r, (r + 1) * 1000000u);
            if (!ok) {
                cm_model_free(&md.cm);
                CHECK_MSG(false, "kill at %s (%s merge), round %u: see above (directory %s)", spec, kp_kind_name(kind), r,
                          root);
            }
        }
        if (cfg.verbose)
            t_note("%s (%s): %u rounds, %llu acknowledged writes", spec, kp_kind_name(kind), cfg.rounds,
                   (unsigned long long)md.cm.acks);
        cm_model_free(&md.cm);
        CHECK_MSG(md.cm.acks > 0, "%s: no write was acknowledged while merging", spec);
    }
    if (cfg.verbose)
        t_note("%s (%s) took %llu ms", name, kp_kind_name(kind), (unsigned long long)(t_mono_ms() - start));
}

/* Full merges (forced): every point, and later hits of the points hit once per output. */
TEST(merge_kill_tmp_created) { kp_sweep("merge-tmp-created", 1, KP_FULL); }
TEST(merge_kill_output_synced) { kp_sweep("merge-output-synced", 1, KP_FULL); }
TEST(merge_kill_output_synced_2) { kp_sweep("merge-output-synced", 2, KP_FULL); }
TEST(merge_kill_output_synced_4) { kp_sweep("merge-output-synced", 4, KP_FULL); }
/* A full merge's hints are placed after its swap (selective merges write theirs before it). */
TEST(merge_kill_hint_placed) { kp_sweep("merge-hint-placed", 1, KP_FULL); }
TEST(merge_kill_hint_placed_3) { kp_sweep("merge-hint-placed", 3, KP_FULL); }
TEST(merge_kill_done_written) { kp_sweep("merge-done-written", 1, KP_FULL); }
TEST(merge_kill_links_made) { kp_sweep("merge-links-made", 1, KP_FULL); }
TEST(merge_kill_data_renamed) { kp_sweep("merge-data-renamed", 1, KP_FULL); }
TEST(merge_kill_tmp_renamed) { kp_sweep("merge-tmp-renamed", 1, KP_FULL); }
TEST(merge_kill_old_removed) { kp_sweep("merge-old-removed", 1, KP_FULL); }
/* A kill in the second merge of one process: the first one's generation is the old one. */
TEST(merge_kill_data_renamed_in_second_merge) { kp_sweep("merge-data-renamed", 2, KP_FULL); }

/* Selective merges (compact_if_needed): hints written after the copy, tombstones kept. */
TEST(selective_merge_kill_tmp_created) { kp_sweep("merge-tmp-created", 1, KP_SELECTIVE); }
TEST(selective_merge_kill_output_synced) { kp_sweep("merge-output-synced", 1, KP_SELECTIVE); }
TEST(selective_merge_kill_hint_written) { kp_sweep("merge-hint-written", 1, KP_SELECTIVE); }
TEST(selective_merge_kill_done_written) { kp_sweep("merge-done-written", 1, KP_SELECTIVE); }
TEST(selective_merge_kill_links_made) { kp_sweep("merge-links-made", 1, KP_SELECTIVE); }
TEST(selective_merge_kill_data_renamed) { kp_sweep("merge-data-renamed", 1, KP_SELECTIVE); }
TEST(selective_merge_kill_tmp_renamed) { kp_sweep("merge-tmp-renamed", 1, KP_SELECTIVE); }
TEST(selective_merge_kill_old_removed) { kp_sweep("merge-old-removed", 1, KP_SELECTIVE); }

/* Every point the library declares has a sweep here: reads MERGE_POINTS from src/killpoint.rs
 * (found from this file's compile-time path; skipped with a note when the sources are absent). */
TEST(kill_points_cover_every_merge_point) {
    const char *names[KP_NPOINTS];
    size_t i;
    for (i = 0; i < KP_NPOINTS; i++)
        names[i] = kp_points[i].name;
    CHECK(t_points_covered(__FILE__, "MERGE_POINTS", names, KP_NPOINTS));
}
