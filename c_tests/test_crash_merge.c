/*
 * kill -9 loops against a key model, with merges and in interval-sync mode.
 *
 * Per cycle a forked child opens the database and starts writer threads that put and delete
 * keys of a fixed key space; each writer owns its keys and announces every operation through a
 * pipe (an intent before the call, an acknowledgement after it returned), so it has at most one
 * operation in flight. The child's main thread merges in a loop (forced full merges and
 * selective passes of bitgask_compact_if_needed) or, in interval-sync mode, only waits. The
 * parent SIGKILLs the child a random few to tens of milliseconds after it started writing,
 * reopens the database and checks every key: its last acknowledged state (value or deleted), or
 * the result of its writer's operation in flight; no other key and no other value; no
 * merge.tmp/ or data.old/ after open. The same directory is reused for every cycle. The writers,
 * the model and the checker are crash_model.c's, shared with the merge kill-point sweep.
 *
 * 100 cycles per loop; BITGASK_SOAK=1 (make soak) runs 1,000. BITGASK_CRASH_SEED=<n> changes the
 * random delays; BITGASK_TEST_VERBOSE=1 (or BITGASK_SOAK=1) prints each loop's figures.
 */
#include "crash_model.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define KM_KEY_BASE 200000u

typedef struct km_cfg {
    unsigned cycles;
    bool sync;                  /* sync_on_put and sync_on_delete */
    uint64_t sync_interval_ms;  /* the child's background flusher (0: none) */
    uint64_t max_file_size;
    bool merges;                /* the child's main thread merges in a loop */
    cm_space space;
    unsigned writer_pause_us;   /* between two operations of one writer */
    unsigned min_delay_us;      /* the kill comes min..max after the child reported ready */
    unsigned max_delay_us;
    size_t compact_over_files;  /* the parent merges when data/ holds more files (0: never) */
} km_cfg;

static bool km_soak(void) {
    const char *s = getenv("BITGASK_SOAK");
    return s != NULL && strcmp(s, "0") != 0;
}

static bitgask_options *km_opts(const km_cfg *cfg, bool child) {
    bitgask_options *o = t_opts(cfg->max_file_size);
    bool ok = o != NULL;
    ok = ok && bitgask_options_set_sync_on_put(o, cfg->sync, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_sync_on_delete(o, cfg->sync, NULL) == BITGASK_OK;
    /* The parent runs no flusher: it forks the next child right after closing. */
    ok = ok && bitgask_options_set_sync_interval_ms(o, child ? cfg->sync_interval_ms : 0, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_merge_interval_ms(o, 0, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_merge_max_file_size(o, 16384, NULL) == BITGASK_OK;
    /* Selective merges whenever a sealed file is 30% garbage; the full trigger stays at its
     * defaults (64 MiB), so compact_if_needed always chooses the selective path here. */
    ok = ok && bitgask_options_set_min_merge_total(o, 0, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_min_merge_files(o, 1, NULL) == BITGASK_OK;
    ok = ok && bitgask_options_set_garbage_ratio(o, 0.3, NULL) == BITGASK_OK;
    if (!ok) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

/* ---- the child ---- */

/* Never returns; the expected end is SIGKILL. Exit codes: 10 options, 11 open, 13 pipe, 20 merge
 * error, 30/31 writer errors, 40 thread. (A forced merge runs unless no file is sealed yet.) */
__attribute__((noreturn)) static void km_child(const char *root, int fd, const km_cfg *cfg, unsigned cycle,
                                               uint64_t seed);
static void km_child(const char *root, int fd, const km_cfg *cfg, unsigned cycle, uint64_t seed) {
    bitgask_options *o = km_opts(cfg, true);
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    cm_writer w[CM_MAX_WRITERS];
    pthread_t th[CM_MAX_WRITERS];
    uint64_t rng = seed ^ ((uint64_t)cycle * 0x9E3779B97F4A7C15ull);
    uint32_t m;
    if (o == NULL)
        _exit(10);
    if (bitgask_open(root, o, &db, &err) != BITGASK_OK) {
        fprintf(stderr, "child: open: %s\n", bitgask_error_message(err));
        _exit(11);
    }
    if (!cm_start_writers(w, th, db, fd, &cfg->space, (uint32_t)(cycle + 1u) * 1000000u, 5, cfg->writer_pause_us, rng))
        _exit(40);
    cm_send(fd, CM_READY, 0, 0, 0);
    if (!cfg->merges)
        for (;;)
            pause();
    for (m = 0;; m++) {
        bool merged = false, selective = m % 3 == 2;
        bitgask_status s;
        cm_send(fd, CM_MERGE, 0, selective ? 1u : 0u, m);
        s = selective ? bitgask_compact_if_needed(db, &merged, &err) : bitgask_merge(db, true, &merged, &err);
        if (s != BITGASK_OK) {
            fprintf(stderr, "child: %s %u: %d %s\n", selective ? "compact_if_needed" : "merge", (unsigned)m, (int)s,
                    bitgask_error_message(err));
            _exit(20);
        }
        cm_send(fd, CM_MERGED, 0, merged ? 1u : 0u, m);
        t_sleep_us((unsigned)(t_rand(&rng) % 2000u));
    }
}

/* ---- the loop ---- */

/* Figures of a whole loop, beyond the model's own. */
typedef struct km_totals {
    uint64_t merges_done, merges_ran;
    unsigned killed_in_merge, tmp_before_open, old_before_open, no_data_before_open;
} km_totals;

/* One cycle: fork, kill, reopen, check. False after a note. */
static bool km_cycle(const char *root, const km_cfg *cfg, const bitgask_options *o, cm_model *md, km_totals *tot,
                     unsigned cycle, uint64_t seed, uint64_t *rng) {
    int fds[2], status = 0;
    pid_t pid;
    bool early = cycle % 10 == 9; /* sometimes kill without waiting: during open and its recovery */
    bool eof = false, ok;
    uint64_t deadline;
    bitgask_db *db;
    char when[160];
    snprintf(when, sizeof when, "cycle %u (seed %llu)", cycle, (unsigned long long)seed);
    if (pipe(fds) != 0) {
        t_note("pipe: %s", strerror(errno));
        return false;
    }
    cm_new_child(md);
    pid = t_fork(); /* the parent has no database open here and runs no other thread */
    if (pid < 0) {
        t_note("fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        km_child(root, fds[1], cfg, cycle, seed);
    }
    close(fds[1]);
    if (early) {
        ok = cm_pump(fds[0], md, t_mono_us() + t_rand(rng) % 3000u, false, &eof);
    } else {
        ok = cm_pump(fds[0], md, t_mono_us() + 20000000u, true, &eof);
        if (ok && !md->ready) {
            t_note("%s: the child did not report ready within 20 s%s", when, eof ? " (it ended)" : "");
            ok = false;
        }
        deadline = t_mono_us() + cfg->min_delay_us + t_rand(rng) % (cfg->max_delay_us - cfg->min_delay_us + 1u);
        ok = ok && cm_pump(fds[0], md, deadline, false, &eof);
    }
    tot->killed_in_merge += md->merging;
    kill(pid, SIGKILL);
    if (!t_wait(pid, &status)) {
        close(fds[0]);
        t_note("%s: waitpid failed", when);
        return false;
    }
    while (ok && !eof)
        ok = cm_read_some(fds[0], md, &eof);
    close(fds[0]);
    tot->merges_done += md->merges_done;
    tot->merges_ran += md->merges_ran;
    if (!ok)
        return false;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        t_note("%s: the child %s %d instead of being killed", when, WIFEXITED(status) ? "exited with" : "died of signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return false;
    }
    tot->tmp_before_open += cm_dir_exists(root, "merge.tmp");
    tot->old_before_open += cm_dir_exists(root, "data.old");
    tot->no_data_before_open += !cm_dir_exists(root, "data");

    db = t_open(root, o);
    if (db == NULL) {
        t_note("%s: open after kill -9 failed", when);
        return false;
    }
    ok = true;
    if (cm_dir_exists(root, "merge.tmp") || cm_dir_exists(root, "data.old") || !cm_dir_exists(root, "data")) {
        t_note("%s: after open: data/ %d, merge.tmp/ %d, data.old/ %d (exactly one generation expected)", when,
               (int)cm_dir_exists(root, "data"), (int)cm_dir_exists(root, "merge.tmp"),
               (int)cm_dir_exists(root, "data.old"));
        ok = false;
    }
    ok = ok && cm_check(db, md, true, when);
    /* Bounds the directory of the loops without merges in the child. */
    if (ok && cfg->compact_over_files > 0 && t_list_ids(root, "data", NULL, 0) > cfg->compact_over_files) {
        bitgask_error *err = NULL;
        bool merged = false;
        if (bitgask_merge(db, true, &merged, &err) != BITGASK_OK || !merged) {
            t_note("%s: the parent's merge failed: %s", when, err ? bitgask_error_message(err) : "did not run");
            bitgask_error_free(err);
            ok = false;
        }
        ok = ok && cm_check(db, md, true, "after the parent's merge");
    }
    ok = t_close(db) && ok;
    return ok;
}

static void kill9_model_loop(const char *name, const km_cfg *cfg) {
    const char *root = t_tmpdir();
    bitgask_options *o = km_opts(cfg, false);
    const char *env = getenv("BITGASK_CRASH_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5EEDC0FFEEull;
    uint64_t rng = seed, start = t_mono_ms();
    cm_model md;
    km_totals tot;
    unsigned cycle;
    bool ok = true;
    CHECK(root != NULL && o != NULL && cfg->max_delay_us >= cfg->min_delay_us);
    memset(&tot, 0, sizeof tot);
    if (!cm_model_init(&md, &cfg->space)) {
        bitgask_options_free(o);
        CHECK_MSG(false, "%s: no model", name);
    }
    for (cycle = 0; ok && cycle < cfg->cycles; cycle++)
        ok = km_cycle(root, cfg, o, &md, &tot, cycle, seed, &rng);
    cm_model_free(&md);
    bitgask_options_free(o);
    CHECK_MSG(ok, "%s: cycle %u failed, see above (rerun with BITGASK_CRASH_SEED=%llu BITGASK_KEEP_TMP=1)", name,
              cycle - 1, (unsigned long long)seed);
    if (getenv("BITGASK_TEST_VERBOSE") || km_soak())
        t_note("%s: %u cycles in %.1f s: %llu acknowledged operations checked (%llu puts, %llu deletes), %u operations "
               "in flight at the kill (%u of them took effect), %llu merges returned (%llu ran, %u killed in a merge), "
               "before open: merge.tmp/ %u, data.old/ %u, no data/ %u times; %zu data files at the end",
               name, cfg->cycles, (double)(t_mono_ms() - start) / 1000.0, (unsigned long long)md.acks,
               (unsigned long long)md.puts_acked, (unsigned long long)md.dels_acked, md.in_flight_seen,
               md.in_flight_applied, (unsigned long long)tot.merges_done, (unsigned long long)tot.merges_ran,
               tot.killed_in_merge, tot.tmp_before_open, tot.old_before_open, tot.no_data_before_open,
               t_list_ids(root, "data", NULL, 0));
    /* The loop must have exercised something. */
    CHECK_MSG(md.acks >= cfg->cycles, "%s: only %llu acknowledged operations in %u cycles", name,
              (unsigned long long)md.acks, cfg->cycles);
    CHECK_MSG(md.dels_acked > 0, "%s: no delete was acknowledged", name);
    if (cfg->merges) {
        /* How many merges finish before the kill depends on how much CPU the child gets: on a
         * loaded machine few do. Kills during merges are what this loop is for. */
        CHECK_MSG(tot.merges_ran > 0, "%s: no merge ran in %u cycles", name, cfg->cycles);
        CHECK_MSG(tot.killed_in_merge >= cfg->cycles / 10, "%s: only %u of %u kills came during a merge", name,
                  tot.killed_in_merge, cfg->cycles);
    }
}

TEST(kill9_loop_with_merges_keeps_acknowledged_puts_and_deletes) {
    km_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cycles = km_soak() ? 1000 : 100;
    cfg.sync = true;
    cfg.sync_interval_ms = 0;
    cfg.max_file_size = 4096;
    cfg.merges = true;
    cfg.space.key_base = KM_KEY_BASE;
    cfg.space.writers = 2;
    cfg.space.keys_per_writer = 150;
    cfg.writer_pause_us = 0;
    cfg.min_delay_us = 2000;
    cfg.max_delay_us = 40000;
    cfg.compact_over_files = 0;
    kill9_model_loop("merges", &cfg);
}

TEST(kill9_loop_interval_sync_keeps_every_returned_write) {
    /* Per-write sync off, flusher every 5 ms: a returned write is in the page cache, which a
     * process crash does not lose. */
    km_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cycles = km_soak() ? 1000 : 100;
    cfg.sync = false;
    cfg.sync_interval_ms = 5;
    cfg.max_file_size = 4096;
    cfg.merges = false;
    cfg.space.key_base = KM_KEY_BASE;
    cfg.space.writers = 2;
    cfg.space.keys_per_writer = 250;
    cfg.writer_pause_us = 100;
    cfg.min_delay_us = 1000;
    cfg.max_delay_us = 30000;
    cfg.compact_over_files = 40;
    kill9_model_loop("interval sync", &cfg);
}
