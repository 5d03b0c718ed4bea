/*
 * Crash safety of a rotation and of its seal on the bitgask-seal thread (docs/DESIGN.md section
 * 5.6): a child process opens the database with small data files, so that it rotates every
 * twenty-odd puts, and with BITGASK_KILL_POINT=<point>:<N> set (the library is built with the
 * kill-points feature, see the Makefile); writer threads put and delete keys until the library
 * SIGKILLs the process at the point. The parent then checks that the point was reached (a child
 * that was not killed fails the test) and left its trace (two data files; a hint), validates
 * the directory as the kill left it, opens the database, checks it against the crash model
 * (crash_model.c: every acknowledged write there with its latest acknowledged value, the write in
 * flight either way, nothing else), validates it once closed, and runs the next round on the
 * same directory (so the next child starts from a recovered database).
 *
 * Points (src/killpoint.rs ROTATION_POINTS): the full file trimmed and the next file created
 * under the writer mutex, the full file fsynced, data/ fsynced (group commits waiting for the
 * seal still held), a sealed file's hint filled into its temporary file and then written on the
 * background thread (after a reopen and a close no temporary file is left), and a step of the
 * active file's early write-back done (files of 2 MiB for that one: a step is 1 MiB). Each runs
 * in the default sync-on-put mode and without per-write sync, where every write that returned
 * must survive a kill -9 since it is in the page cache (the active file is a shared map).
 *
 * Workloads: the default is reduced (make kill-tests, part of make test); BITGASK_SOAK=1 (make
 * soak) runs more rounds and kills at several successive hits of each point.
 */
#include "crash_model.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define RT_WRITERS 3
#define RT_KEYS_PER_WRITER 150u
#define RT_STATICS 200u
#define RT_WRITER_BASE 100000u
#define RT_SMALL_FILE (4u << 10)
/* The statics' file: larger than RT_SMALL_FILE and than the statics (rt_preload). */
#define RT_PRELOAD_FILE (1u << 20)
/* Above the 1 MiB early write-back step near the rotation size. */
#define RT_WRITEBACK_FILE (2u << 20)
/* A child that was not killed by then gives up: the point was not reached. */
#define RT_GIVE_UP_MS 10000u

typedef struct rt_cfg {
    unsigned rounds; /* crash + recovery cycles per hit, on the same directory */
    unsigned hits;   /* successive hits to kill at: base, base+1, ... */
    bool verbose;
} rt_cfg;

static void rt_config(rt_cfg *c) {
    bool soak = t_soak();
    c->rounds = soak ? 5 : 3;
    c->hits = soak ? 4 : 1;
    c->verbose = getenv("BITGASK_TEST_VERBOSE") != NULL;
}

static cm_space rt_space(void) {
    cm_space sp;
    sp.key_base = RT_WRITER_BASE;
    sp.writers = RT_WRITERS;
    sp.keys_per_writer = RT_KEYS_PER_WRITER;
    sp.statics = RT_STATICS;
    return sp;
}

static uint64_t rt_file_size(const char *point) {
    return strcmp(point, "writeback-step-done") == 0 ? RT_WRITEBACK_FILE : RT_SMALL_FILE;
}

static bitgask_options *rt_opts_sized(uint64_t size, bool sync) {
    bitgask_options *o = sync ? t_opts(size) : t_opts_nosync(size);
    /* No merge of its own: the rotations are what this sweep is about. */
    if (o != NULL && bitgask_options_set_merge_interval_ms(o, 0, NULL) != BITGASK_OK) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

static bitgask_options *rt_opts(const char *point, bool sync) { return rt_opts_sized(rt_file_size(point), sync); }

/* ---- the child ---- */

/* Never returns. Exit codes: 10 options, 11 open, 30/31 writer errors, 40 thread; 0 means the
 * point was not reached in RT_GIVE_UP_MS. The expected end is SIGKILL from the library. */
__attribute__((noreturn)) static void rt_child(const char *root, int fd, const char *point, const char *spec,
                                               bool sync, uint32_t version_base, uint64_t seed);
static void rt_child(const char *root, int fd, const char *point, const char *spec, bool sync,
                     uint32_t version_base, uint64_t seed) {
    bitgask_options *o;
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    cm_space space = rt_space();
    cm_writer w[RT_WRITERS];
    pthread_t th[RT_WRITERS];
    alarm(RT_GIVE_UP_MS / 1000u + 20u); /* a hang becomes SIGALRM, which the parent reports */
    if (setenv("BITGASK_KILL_POINT", spec, 1) != 0)
        _exit(10);
    o = rt_opts(point, sync);
    if (o == NULL)
        _exit(10);
    if (bitgask_open(root, o, &db, &err) != BITGASK_OK) {
        fprintf(stderr, "child: open: %s\n", bitgask_error_message(err));
        _exit(11);
    }
    cm_send(fd, CM_READY, 0, 0, 0);
    if (!cm_start_writers(w, th, db, fd, &space, version_base, 8, 0, seed))
        _exit(40);
    t_sleep_ms(RT_GIVE_UP_MS);
    _exit(0);
}

/* ---- the parent ---- */

/* How many files in root/data/ end in `suffix`. */
static size_t rt_count_suffix(const char *root, const char *suffix) {
    char p[T_PATH_MAX];
    DIR *d = opendir(t_pathf(p, "%s/data", root));
    struct dirent *e;
    size_t n = 0, sl = strlen(suffix);
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > sl && strcmp(e->d_name + len - sl, suffix) == 0;
    }
    closedir(d);
    return n;
}

/* What the directory shows of the point right after the kill: a rotation leaves at least two
 * data files, a written hint its file, a hint killed before its rename its temporary file. */
static bool rt_point_left_its_trace(const char *root, const char *point, const char *when) {
    size_t data = t_list_ids(root, "data", NULL, 0), hints = t_list_ids(root, "hint", NULL, 0);
    bool rotated = strncmp(point, "writeback-", 10) != 0 && strcmp(point, "rotation-trimmed") != 0;
    if (rotated && data < 2) {
        t_note("%s: %zu data files after a kill at a rotation point", when, data);
        return false;
    }
    if (strcmp(point, "hint-written") == 0 && hints == 0) {
        t_note("%s: no hint file after a kill once a hint was written", when);
        return false;
    }
    if (strcmp(point, "hint-tmp-written") == 0 && rt_count_suffix(root, ".hint.tmp") == 0) {
        t_note("%s: no .hint.tmp file after a kill before a hint's rename", when);
        return false;
    }
    return true;
}

/* The child's end: killed at the point, after it opened the database. */
static bool rt_killed_at_the_point(int status, const cm_model *md, const char *when) {
    if (!t_killed_at_point(status, when))
        return false;
    if (!md->ready) {
        t_note("%s: the child was killed before it opened the database", when);
        return false;
    }
    return true;
}

/* After the kill: open, the model, close, validate. */
static bool rt_recovered(const char *root, const char *point, bool sync, cm_model *md, const char *when) {
    bitgask_options *o = rt_opts(point, sync);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    bool ok = db != NULL;
    if (!ok)
        t_note("%s: open after the kill failed", when);
    ok = ok && cm_check(db, md, true, when);
    ok = (db == NULL || t_close(db)) && ok;
    ok = ok && t_validate_clean(root, when);
    /* Open queued the hint the kill interrupted, and close wrote it, replacing the leftover. */
    if (ok && rt_count_suffix(root, ".tmp") != 0) {
        t_note("%s: %zu temporary files in data/ after a reopen and a close", when, rt_count_suffix(root, ".tmp"));
        ok = false;
    }
    bitgask_options_free(o);
    return ok;
}

/* One crash + recovery cycle. */
static bool rt_cycle(const char *root, const char *point, const char *spec, bool sync, cm_model *md, unsigned round) {
    int fds[2], status = 0;
    pid_t pid;
    bool ok;
    char when[160], raw[200];
    snprintf(when, sizeof when, "%s (%s), round %u", spec, sync ? "sync" : "no sync", round);
    snprintf(raw, sizeof raw, "%s, as the kill left it", when);
    if (pipe(fds) != 0) {
        t_note("pipe: %s", strerror(errno));
        return false;
    }
    cm_new_child(md);
    fflush(NULL);
    pid = t_fork(); /* the parent has no database open and runs no other thread here */
    if (pid < 0) {
        t_note("fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        rt_child(root, fds[1], point, spec, sync, (round + 1u) * 1000000u,
                 0x9E3779B97F4A7C15ull ^ ((uint64_t)round << 32) ^ (uint64_t)getpid());
    }
    close(fds[1]);
    ok = cm_drain(fds[0], md);
    close(fds[0]);
    if (!ok)
        kill(pid, SIGKILL);
    if (!t_wait(pid, &status) || !ok)
        return false;
    return rt_killed_at_the_point(status, md, when) && rt_point_left_its_trace(root, point, when) &&
           t_validate_clean(root, raw) && rt_recovered(root, point, sync, md, when);
}

/* The statics, without per-write sync (close makes them durable): 200 fsyncs in a row took
 * most of a sweep's time on a loaded disk. In a file larger than the sweep's small ones, so that
 * the first child starts a file of its own: appending to the preload's last file, which could
 * have room for a record or two, its first rotation (a kill at "rotation-trimmed") could come
 * before any write was acknowledged, and every later round's child starts from that full file. */
static bool rt_preload(const char *root, const char *point) {
    uint64_t size = rt_file_size(point) == RT_SMALL_FILE ? RT_PRELOAD_FILE : rt_file_size(point);
    bitgask_options *o = rt_opts_sized(size, false);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    bool ok = db != NULL && t_put_keys(db, 0, RT_STATICS, 0);
    ok = (db == NULL || t_close(db)) && ok;
    bitgask_options_free(o);
    return ok;
}

/* Kills at `point`, hits base..base+hits-1, rounds cycles each, on one directory per hit. */
static void rt_sweep(const char *point, unsigned base, bool sync) {
    rt_cfg cfg;
    cm_space space = rt_space();
    unsigned h, r;
    uint64_t acks = 0, start = t_mono_ms();
    rt_config(&cfg);
    unsetenv("BITGASK_KILL_POINT"); /* only the child may have it */
    for (h = base; h < base + cfg.hits; h++) {
        const char *root = t_tmpdir();
        cm_model md;
        char spec[96];
        CHECK(root != NULL);
        CHECK(cm_model_init(&md, &space));
        snprintf(spec, sizeof spec, "%s:%u", point, h);
        if (!rt_preload(root, point)) {
            cm_model_free(&md);
            CHECK_MSG(false, "preload failed");
        }
        for (r = 0; r < cfg.rounds; r++) {
            if (!rt_cycle(root, point, spec, sync, &md, r)) {
                cm_model_free(&md);
                CHECK_MSG(false, "kill at %s (%s), round %u: see above (directory %s)", spec,
                          sync ? "sync" : "no sync", r, root);
            }
        }
        acks += md.acks;
        cm_model_free(&md);
    }
    CHECK_MSG(acks > 0, "%s: no write was acknowledged before the kills", point);
    if (cfg.verbose)
        t_note("%s (%s): %llu acknowledged writes, %llu ms", point, sync ? "sync" : "no sync",
               (unsigned long long)acks, (unsigned long long)(t_mono_ms() - start));
}

/* Sync on put: group commits wait for the seal of a rotation their records span. */
TEST(rotation_kill_trimmed) { rt_sweep("rotation-trimmed", 1, true); }
TEST(rotation_kill_trimmed_3) { rt_sweep("rotation-trimmed", 3, true); }
TEST(rotation_kill_created) { rt_sweep("rotation-created", 1, true); }
TEST(rotation_kill_created_3) { rt_sweep("rotation-created", 3, true); }
TEST(rotation_kill_file_synced) { rt_sweep("rotation-file-synced", 1, true); }
TEST(rotation_kill_file_synced_3) { rt_sweep("rotation-file-synced", 3, true); }
TEST(rotation_kill_dir_synced) { rt_sweep("rotation-dir-synced", 1, true); }
TEST(rotation_kill_dir_synced_3) { rt_sweep("rotation-dir-synced", 3, true); }
TEST(rotation_kill_hint_tmp_written) { rt_sweep("hint-tmp-written", 1, true); }
TEST(rotation_kill_hint_tmp_written_3) { rt_sweep("hint-tmp-written", 3, true); }
TEST(rotation_kill_hint_written) { rt_sweep("hint-written", 1, true); }
TEST(rotation_kill_hint_written_3) { rt_sweep("hint-written", 3, true); }

/* Without per-write sync: every put that returned is in the page cache and survives. */
TEST(rotation_kill_nosync_trimmed) { rt_sweep("rotation-trimmed", 2, false); }
TEST(rotation_kill_nosync_created) { rt_sweep("rotation-created", 2, false); }
TEST(rotation_kill_nosync_file_synced) { rt_sweep("rotation-file-synced", 2, false); }
TEST(rotation_kill_nosync_dir_synced) { rt_sweep("rotation-dir-synced", 2, false); }
TEST(rotation_kill_nosync_hint_tmp_written) { rt_sweep("hint-tmp-written", 2, false); }
TEST(rotation_kill_nosync_hint_written) { rt_sweep("hint-written", 2, false); }
TEST(rotation_kill_nosync_writeback_step_done) { rt_sweep("writeback-step-done", 1, false); }
TEST(rotation_kill_nosync_writeback_step_done_3) { rt_sweep("writeback-step-done", 3, false); }

/* Every point the library declares has a sweep here: reads ROTATION_POINTS from
 * src/killpoint.rs (found from this file's compile-time path; skipped with a note when the
 * sources are absent). */
static const char *const rt_points[] = {"rotation-trimmed", "rotation-created", "rotation-file-synced",
                                        "rotation-dir-synced", "hint-tmp-written", "hint-written",
                                        "writeback-step-done"};
#define RT_NPOINTS (sizeof rt_points / sizeof rt_points[0])

TEST(kill_points_cover_every_rotation_point) {
    CHECK(t_points_covered(__FILE__, "ROTATION_POINTS", rt_points, RT_NPOINTS));
}
