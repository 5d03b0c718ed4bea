/*
 * peers.c: bitgask side by side with LevelDB, LMDB, RocksDB and SQLite, and the machine's own
 * limits, in one process and one run.
 *
 *   make bench-peers         full counts, 3 rounds, medians (several minutes)
 *   make bench-peers-smoke   tiny counts: every engine and phase runs, the numbers mean nothing
 *
 *   build/bench_peers [--smoke] [--rounds N] [--keys N] [--gets N] [--durable N] [--threads N]
 *                     [--per-thread N] [--batch-keys N] [--batch-sync-keys N] [--seq-mb N]
 *                     [--only ENGINE,...] [--phase PHASE,...] [--tsv]
 *   phases: puts gets reopen merge durable durable16 batch limits
 *
 * Every engine goes through bench/peers.h (one adapter file each) with the same 16-byte keys and
 * 100-byte values (bench_util.h). Each round runs every engine's phases and the machine limits,
 * starting with a different participant each round; the table prints the median of the rounds.
 * Files live in a temp directory under $BENCH_DIR (else $TMPDIR, else /tmp), removed at exit.
 * Nothing is asserted about time: the exit status is nonzero only when a call fails or a read
 * returns a wrong value.
 *
 * Per engine and round:
 *   main database (no-sync mode): N puts; N random gets (a random permutation of the loaded
 *   keys) on one thread, then on two; the same gets on one thread in batches of MULTI keys, for
 *   engines with a batched read (the row "multi_get / single gets" divides its keys/s by the
 *   one-thread gets'); close, then open + the first get, timed together; every key
 *   overwritten once (so half of the data is dead), then a full compaction, timed.
 *   durable puts: D puts on one thread into a fresh database; T threads x P puts into another.
 *   batches of 100 keys: into a fresh no-sync database, and a fresh durable one; the report adds
 *   their keys/s over the single puts' keys/s of the same mode (the rows "batches / single puts").
 *
 * Profiling one path: set BENCH_PERF_CTL to the control FIFO of `perf record --control
 * fifo:PATH --delay=-1` and pick the phase: events are then enabled only while that phase's timed
 * work runs (scripts/profile-bench-peers.sh does this).
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_util.h"
#include "limits.h"
#include "peers.h"

#define PROG "bench-peers"
#define MAX_ROUNDS 15
#define MAX_THREADS 64
#define BATCH 100
#define MULTI 32                      /* keys per batched read */
#define READERS 2                     /* the second random-get row */
#define SYNC_THREADS 4                /* the machine limit of fdatasyncs from several threads */
#define OVERWRITE_VBASE (1ULL << 40) /* value index offset of the second version of each key */

/* ---- counting syncs ----
 * The program defines fdatasync and fsync itself. The dynamic linker binds every call to them,
 * from the engines' shared libraries and from bitgask (linked in statically), to these
 * definitions, which count and then make the system call. The count covers every thread of
 * the process, background compaction threads included. */
static atomic_ulong g_syncs;

int fdatasync(int fd) {
    atomic_fetch_add_explicit(&g_syncs, 1, memory_order_relaxed);
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd) {
    atomic_fetch_add_explicit(&g_syncs, 1, memory_order_relaxed);
    return (int)syscall(SYS_fsync, fd);
}

_Noreturn void peer_fail(const char *engine, const char *what, const char *detail) {
    fprintf(stderr, PROG ": %s: %s: %s\n", engine, what, detail);
    exit(1);
}

void *peer_xmalloc(size_t n) {
    void *p = calloc(1, n);
    if (!p)
        bench_die(PROG, "out of memory");
    return p;
}

/* ---- what runs ---- */

static const struct peer_engine *const ENGINES[] = {&peer_bitgask, &peer_leveldb, &peer_lmdb, &peer_rocksdb,
                                                    &peer_sqlite};
#define N_ENGINES 5
#define BITGASK 0 /* index of bitgask in ENGINES */

enum phase {
    P_PUTS = 1 << 0,
    P_GETS = 1 << 1,
    P_REOPEN = 1 << 2,
    P_MERGE = 1 << 3,
    P_DURABLE = 1 << 4,
    P_DURABLE16 = 1 << 5,
    P_BATCH = 1 << 6,
    P_LIMITS = 1 << 7,
    P_ALL = (1 << 8) - 1,
};
static const char *const PHASE_NAMES[] = {"puts", "gets", "reopen", "merge", "durable", "durable16", "batch", "limits"};
#define P_MAIN_DB (P_PUTS | P_GETS | P_REOPEN | P_MERGE)

struct cfg {
    bool smoke, tsv;
    int rounds;
    uint64_t keys, gets, durable, threads, per_thread, batch_keys, batch_sync_keys, seq_mb;
    unsigned phases, engines; /* bit sets: enum phase, 1 << index in ENGINES */
};
static struct cfg g_cfg;

/* ---- the rows ---- */

enum unit { U_RATE, U_MBS, U_MS, U_NUM };

enum row {
    R_PUTS,
    R_GETS1,
    R_GETS2,
    R_MGET,
    R_MGET_X,
    R_DUR1,
    R_DUR1_SYNCS,
    R_DURN,
    R_DURN_WPS,
    R_REOPEN,
    R_MERGE,
    R_MERGE_DISK,
    R_BATCH,
    R_BATCH_SYNC,
    R_BATCH_X,
    R_BATCH_SYNC_X,
    N_ROWS
};

enum limit {
    L_APPEND,
    L_APPEND_SYNC,
    L_PREWRITTEN_SYNC,
    L_APPEND_DSYNC,
    L_PREWRITTEN_DSYNC,
    L_PARALLEL_SYNC,
    L_MMAP1,
    L_MMAP2,
    L_SEQ,
    N_LIMITS
};

struct row_def {
    const char *id, *label;
    enum unit unit;
    bool lower_better;
    bool info; /* a property, not a speed: no best peer, no ratio */
    int limit; /* enum limit, or -1 */
};

static const struct row_def ROWS[N_ROWS] = {
    [R_PUTS] = {"puts", "puts, no sync (/s)", U_RATE, false, false, L_APPEND},
    [R_GETS1] = {"gets1", "random gets, 1 thread (/s)", U_RATE, false, false, L_MMAP1},
    [R_GETS2] = {"gets2", "random gets, 2 threads (/s)", U_RATE, false, false, L_MMAP2},
    [R_MGET] = {"multi_get", "random gets, 32-key batches (keys/s)", U_RATE, false, false, L_MMAP1},
    [R_MGET_X] = {"multi_get_vs_gets1", "  multi_get / single gets (x)", U_NUM, false, true, -1},
    [R_DUR1] = {"durable1", "durable puts, 1 thread (/s)", U_RATE, false, false, L_PREWRITTEN_SYNC},
    [R_DUR1_SYNCS] = {"durable1_syncs_per_put", "  syncs per durable put", U_NUM, true, true, -1},
    [R_DURN] = {"durableN", "durable puts, %llu threads (/s)", U_RATE, false, false, -1},
    [R_DURN_WPS] = {"durableN_puts_per_sync", "  puts per sync, %llu threads", U_NUM, false, true, -1},
    [R_REOPEN] = {"reopen", "reopen + first get (ms, lower wins)", U_MS, true, false, -1},
    [R_MERGE] = {"merge", "full compaction, half dead (MB/s)", U_MBS, false, false, -1},
    [R_MERGE_DISK] = {"merge_disk", "  merge, live bytes on disk (MB/s)", U_MBS, false, true, L_SEQ},
    [R_BATCH] = {"batch", "100-key batches, no sync (keys/s)", U_RATE, false, false, -1},
    [R_BATCH_SYNC] = {"batch_sync", "100-key batches, durable (keys/s)", U_RATE, false, false, -1},
    [R_BATCH_X] = {"batch_vs_puts", "  batches / single puts, no sync (x)", U_NUM, false, true, -1},
    [R_BATCH_SYNC_X] = {"batch_sync_vs_durable1", "  batches / single puts, durable (x)", U_NUM, false, true, -1},
};

/* The derived rows: keys/s in 100-key batches over keys/s in single puts, in the same mode
 * (no sync: the main database's puts; durable: the one-thread durable puts), and keys/s of
 * batched reads over the one-thread random gets, per round. */
static const struct {
    enum row out, batch, single;
} RATIOS[] = {{R_BATCH_X, R_BATCH, R_PUTS}, {R_BATCH_SYNC_X, R_BATCH_SYNC, R_DUR1}, {R_MGET_X, R_MGET, R_GETS1}};

static const struct row_def LIMITS[N_LIMITS] = {
    [L_APPEND] = {"append", "append 132 B, one pwrite, no sync (/s)", U_RATE, false, false, -1},
    [L_APPEND_SYNC] = {"append_fdatasync", "append 132 B + fdatasync (/s)", U_RATE, false, false, -1},
    [L_PREWRITTEN_SYNC] = {"prewritten_fdatasync", "132 B into pre-written blocks + fdatasync (/s)", U_RATE,
                           false, false, -1},
    [L_APPEND_DSYNC] = {"append_rwf_dsync", "append 132 B, pwritev2 RWF_DSYNC (/s)", U_RATE, false, false, -1},
    [L_PREWRITTEN_DSYNC] = {"prewritten_rwf_dsync", "132 B into pre-written blocks, RWF_DSYNC (/s)", U_RATE,
                            false, false, -1},
    [L_PARALLEL_SYNC] = {"prewritten_fdatasync_4", "pre-written blocks + fdatasync, 4 threads (/s)", U_RATE, false,
                         false, -1},
    [L_MMAP1] = {"mmap_reads1", "random 100 B reads via mmap, 1 thread (/s)", U_RATE, false, false, -1},
    [L_MMAP2] = {"mmap_reads2", "random 100 B reads via mmap, 2 threads (/s)", U_RATE, false, false, -1},
    [L_SEQ] = {"seq_write", "sequential 1 MiB writes + fdatasync (MB/s)", U_MBS, false, false, -1},
};

static double g_res[N_ROWS][N_ENGINES][MAX_ROUNDS];
static double g_lim[N_LIMITS][MAX_ROUNDS];

static void record(enum row r, int engine, int round, double v) { g_res[r][engine][round] = v; }

/* ---- temp directories ---- */

static char g_root[4096];

static void remove_root(void) { rm_rf(g_root); }

/* A fresh, empty directory for one phase of one engine. */
static void fresh_dir(char *out, size_t cap, const char *engine, const char *what) {
    snprintf(out, cap, "%s/%s-%s", g_root, engine, what);
    rm_rf(out);
    if (mkdir(out, 0755) != 0)
        bench_die(PROG, "cannot create a phase directory");
}

/* ---- profiling hook ---- */

static int g_perf_fd = -1;

/* Enables (on) or disables perf's events around the timed work of `phase`, when profiling. */
static void perf_mark(unsigned phase, bool on) {
    if (g_perf_fd < 0 || !(phase & g_cfg.phases))
        return;
    const char *cmd = on ? "enable\n" : "disable\n";
    if (write(g_perf_fd, cmd, strlen(cmd)) < 0)
        bench_die(PROG, "cannot write to BENCH_PERF_CTL");
}

/* ---- workers: every timed loop runs on threads started before the clock starts ---- */

enum work { W_PUTS, W_GETS, W_MULTI_GETS, W_BATCHES };

struct worker {
    const struct peer_engine *e;
    peer_db *db;
    pthread_barrier_t *bar;
    enum work work;
    uint64_t space, first, count, vbase;
    const uint32_t *perm; /* W_GETS, W_MULTI_GETS: the key order, nperm entries */
    uint64_t nperm;
    double start, end; /* this worker's own clock readings around its work */
};

static void do_puts(const struct worker *w, peer_thread *t) {
    uint8_t key[KEY_LEN], val[VAL_LEN];
    for (uint64_t i = w->first; i < w->first + w->count; i++) {
        make_key(key, w->space, i);
        make_value(val, w->vbase + i);
        w->e->put(t, key, KEY_LEN, val, VAL_LEN);
    }
}

static void do_gets(const struct worker *w, peer_thread *t) {
    uint8_t key[KEY_LEN], buf[VAL_LEN + 32];
    for (uint64_t c = 0; c < w->count; c++) {
        uint64_t i = w->perm[(w->first + c) % w->nperm];
        make_key(key, w->space, i);
        size_t len = w->e->get(t, key, KEY_LEN, buf, sizeof buf);
        if (!value_is(buf, len, w->vbase + i))
            peer_fail(w->e->name, "get", "returned a wrong value");
    }
}

/* The gets of do_gets, MULTI keys per call. */
static void do_multi_gets(const struct worker *w, peer_thread *t) {
    enum { CAP = VAL_LEN + 32 };
    uint8_t keys[MULTI * KEY_LEN], bufs[MULTI * CAP];
    uint64_t idx[MULTI];
    size_t lens[MULTI];
    for (uint64_t c = 0; c < w->count; c += MULTI) {
        size_t n = w->count - c < MULTI ? (size_t)(w->count - c) : MULTI;
        for (size_t j = 0; j < n; j++) {
            idx[j] = w->perm[(w->first + c + j) % w->nperm];
            make_key(keys + j * KEY_LEN, w->space, idx[j]);
        }
        w->e->multi_get(t, n, keys, KEY_LEN, bufs, CAP, lens);
        for (size_t j = 0; j < n; j++)
            if (!value_is(bufs + j * CAP, lens[j], w->vbase + idx[j]))
                peer_fail(w->e->name, "multi_get", "returned a wrong value");
    }
}

static void do_batches(const struct worker *w, peer_thread *t) {
    uint8_t keys[BATCH * KEY_LEN], vals[BATCH * VAL_LEN];
    for (uint64_t b = 0; b < w->count; b += BATCH) {
        size_t n = w->count - b < BATCH ? (size_t)(w->count - b) : BATCH;
        for (size_t j = 0; j < n; j++) {
            make_key(keys + j * KEY_LEN, w->space, w->first + b + j);
            make_value(vals + j * VAL_LEN, w->vbase + w->first + b + j);
        }
        w->e->batch(t, n, keys, KEY_LEN, vals, VAL_LEN);
    }
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    peer_thread *t = w->e->thread_new(w->db);
    pthread_barrier_wait(w->bar);
    w->start = now_s();
    switch (w->work) {
    case W_PUTS:
        do_puts(w, t);
        break;
    case W_GETS:
        do_gets(w, t);
        break;
    case W_MULTI_GETS:
        do_multi_gets(w, t);
        break;
    case W_BATCHES:
        do_batches(w, t);
        break;
    }
    w->end = now_s();
    w->e->thread_free(t);
    return NULL;
}

/* Runs n workers at once; returns the seconds from the first one's start to the last one's end,
 * read by the workers themselves (a busy machine may run them before the main thread wakes).
 * `phase` names the work for the profiling hook (0: setup, never profiled). */
static double run_workers(struct worker *w, int n, unsigned phase) {
    pthread_t tid[MAX_THREADS];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        w[i].bar = &bar;
        if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
            bench_die(PROG, "pthread_create failed");
    }
    perf_mark(phase, true);
    pthread_barrier_wait(&bar);
    for (int i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
    perf_mark(phase, false);
    pthread_barrier_destroy(&bar);
    double first = w[0].start, last = w[0].end;
    for (int i = 1; i < n; i++) {
        first = w[i].start < first ? w[i].start : first;
        last = w[i].end > last ? w[i].end : last;
    }
    return last - first;
}

static double run_puts(const struct peer_engine *e, peer_db *db, uint64_t n, uint64_t vbase, unsigned phase) {
    struct worker w = {.e = e, .db = db, .work = W_PUTS, .space = 0, .first = 0, .count = n, .vbase = vbase};
    return run_workers(&w, 1, phase);
}

static uint32_t *g_perm; /* a random permutation of 0..keys-1: the order of the random gets */

/* Reads of the main database's keys by `work` (W_GETS or W_MULTI_GETS), as for run_gets. */
static double run_reads(const struct peer_engine *e, peer_db *db, enum work work, int threads, uint64_t gets,
                        uint64_t vbase, unsigned phase) {
    struct worker w[MAX_THREADS];
    for (int t = 0; t < threads; t++)
        w[t] = (struct worker){.e = e, .db = db, .work = work, .space = 0,
                               .first = g_cfg.keys / (uint64_t)threads * (uint64_t)t,
                               .count = gets / (uint64_t)threads, .vbase = vbase, .perm = g_perm,
                               .nperm = g_cfg.keys};
    return run_workers(w, threads, phase);
}

/* `gets` gets of the main database's keys split over `threads` threads, each starting at its
 * own place in the permutation. Returns the seconds taken. */
static double run_gets(const struct peer_engine *e, peer_db *db, int threads, uint64_t gets, uint64_t vbase,
                       unsigned phase) {
    return run_reads(e, db, W_GETS, threads, gets, vbase, phase);
}

static void make_perm(uint64_t n) {
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    g_perm = peer_xmalloc(n * sizeof *g_perm);
    for (uint64_t i = 0; i < n; i++)
        g_perm[i] = (uint32_t)i;
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = xorshift64(&rng) % (i + 1);
        uint32_t x = g_perm[i];
        g_perm[i] = g_perm[j];
        g_perm[j] = x;
    }
}

/* ---- one engine's phases ---- */

/* Close, then open again and serve the first get: the time until the database is usable. */
static peer_db *reopen(const struct peer_engine *e, peer_db *db, const char *dir, int ei, int round) {
    uint8_t key[KEY_LEN], buf[VAL_LEN + 32];
    e->close(db);
    double t0 = now_s();
    perf_mark(P_REOPEN, true);
    db = e->open(dir, false);
    peer_thread *t = e->thread_new(db);
    make_key(key, 0, g_perm[0]);
    size_t len = e->get(t, key, KEY_LEN, buf, sizeof buf);
    perf_mark(P_REOPEN, false);
    double dt = now_s() - t0;
    if (!value_is(buf, len, g_perm[0]))
        peer_fail(e->name, "get after reopen", "returned a wrong value");
    e->thread_free(t);
    if (g_cfg.phases & P_REOPEN)
        record(R_REOPEN, ei, round, dt * 1e3);
    return db;
}

/* Every key written a second time, then a full compaction; reads back a sample afterwards. */
static void merge_half_dead(const struct peer_engine *e, peer_db *db, int ei, int round) {
    uint64_t n = g_cfg.keys;
    run_puts(e, db, n, OVERWRITE_VBASE, 0);
    if (!e->compact)
        return;
    double t0 = now_s();
    perf_mark(P_MERGE, true);
    double live_disk = e->compact(db);
    perf_mark(P_MERGE, false);
    double dt = now_s() - t0;
    record(R_MERGE, ei, round, (double)n * (KEY_LEN + VAL_LEN) / 1e6 / dt);
    if (live_disk > 0)
        record(R_MERGE_DISK, ei, round, live_disk / 1e6 / dt);
    run_gets(e, db, 1, n < 1000 ? n : 1000, OVERWRITE_VBASE, 0);
}

static void suite_main_db(const struct peer_engine *e, int ei, int round) {
    char dir[4200];
    unsigned ph = g_cfg.phases;
    fresh_dir(dir, sizeof dir, e->name, "main");
    peer_db *db = e->open(dir, false);
    double dt = run_puts(e, db, g_cfg.keys, 0, P_PUTS);
    if (ph & P_PUTS)
        record(R_PUTS, ei, round, (double)g_cfg.keys / dt);
    if (ph & P_GETS) {
        uint64_t per1 = g_cfg.gets, per2 = g_cfg.gets / READERS * READERS;
        record(R_GETS1, ei, round, (double)per1 / run_gets(e, db, 1, per1, 0, P_GETS));
        record(R_GETS2, ei, round, (double)per2 / run_gets(e, db, READERS, per2, 0, P_GETS));
        if (e->multi_get)
            record(R_MGET, ei, round, (double)per1 / run_reads(e, db, W_MULTI_GETS, 1, per1, 0, P_GETS));
    }
    if (ph & (P_REOPEN | P_MERGE))
        db = reopen(e, db, dir, ei, round);
    if (ph & P_MERGE)
        merge_half_dead(e, db, ei, round);
    e->close(db);
    rm_rf(dir);
}

/* threads x per_thread durable puts into a fresh database, each thread its own keys. */
static void suite_durable(const struct peer_engine *e, int ei, int round, uint64_t threads, uint64_t per_thread) {
    char dir[4200];
    struct worker w[MAX_THREADS];
    bool one = threads == 1;
    fresh_dir(dir, sizeof dir, e->name, one ? "durable1" : "durableN");
    peer_db *db = e->open(dir, true);
    for (uint64_t t = 0; t < threads; t++)
        w[t] = (struct worker){.e = e, .db = db, .work = W_PUTS, .space = 1 + t, .first = 0, .count = per_thread};
    unsigned long s0 = atomic_load(&g_syncs);
    double dt = run_workers(w, (int)threads, one ? P_DURABLE : P_DURABLE16);
    double syncs = (double)(atomic_load(&g_syncs) - s0), puts = (double)(threads * per_thread);
    record(one ? R_DUR1 : R_DURN, ei, round, puts / dt);
    if (syncs > 0)
        record(one ? R_DUR1_SYNCS : R_DURN_WPS, ei, round, one ? syncs / puts : puts / syncs);
    e->close(db);
    rm_rf(dir);
}

/* `keys` keys in batches of BATCH into a fresh database. */
static void suite_batch(const struct peer_engine *e, int ei, int round, bool durable, uint64_t keys) {
    char dir[4200];
    if (!e->batch)
        return;
    fresh_dir(dir, sizeof dir, e->name, durable ? "batch-sync" : "batch");
    peer_db *db = e->open(dir, durable);
    struct worker w = {.e = e, .db = db, .work = W_BATCHES, .space = 9, .first = 0, .count = keys};
    double dt = run_workers(&w, 1, P_BATCH);
    record(durable ? R_BATCH_SYNC : R_BATCH, ei, round, (double)keys / dt);
    e->close(db);
    rm_rf(dir);
}

static void suite_engine(int ei, int round) {
    const struct peer_engine *e = ENGINES[ei];
    unsigned ph = g_cfg.phases;
    if (ph & P_MAIN_DB)
        suite_main_db(e, ei, round);
    if (ph & P_DURABLE)
        suite_durable(e, ei, round, 1, g_cfg.durable);
    if (ph & P_DURABLE16)
        suite_durable(e, ei, round, g_cfg.threads, g_cfg.per_thread);
    if (ph & P_BATCH) {
        suite_batch(e, ei, round, false, g_cfg.batch_keys);
        suite_batch(e, ei, round, true, g_cfg.batch_sync_keys);
    }
}

static void suite_limits(int round) {
    char dir[4200];
    fresh_dir(dir, sizeof dir, "machine", "limits");
    g_lim[L_APPEND][round] = limit_append(dir, g_cfg.keys, false);
    g_lim[L_APPEND_SYNC][round] = limit_append(dir, g_cfg.durable, true);
    g_lim[L_PREWRITTEN_SYNC][round] = limit_prewritten_fdatasync(dir, g_cfg.durable);
    g_lim[L_APPEND_DSYNC][round] = limit_dsync_write(dir, g_cfg.durable, false);
    g_lim[L_PREWRITTEN_DSYNC][round] = limit_dsync_write(dir, g_cfg.durable, true);
    g_lim[L_PARALLEL_SYNC][round] = limit_parallel_fdatasync(dir, g_cfg.durable, SYNC_THREADS);
    g_lim[L_MMAP1][round] = limit_mmap_reads(dir, g_cfg.keys, g_cfg.gets, 1);
    g_lim[L_MMAP2][round] = limit_mmap_reads(dir, g_cfg.keys, g_cfg.gets, READERS);
    g_lim[L_SEQ][round] = limit_seq_write(dir, g_cfg.seq_mb);
    rm_rf(dir);
}

/* ---- the report ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the measured (non-NaN) values; NaN when none. *spread = (max - min) / median. */
static double median(const double *v, int n, double *spread) {
    double s[MAX_ROUNDS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            s[k++] = v[i];
    *spread = 0;
    if (k == 0)
        return NAN;
    qsort(s, (size_t)k, sizeof s[0], cmp_double);
    double m = k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
    *spread = m > 0 ? (s[k - 1] - s[0]) / m : 0;
    return m;
}

static const char *fmt(char *buf, size_t cap, double v, enum unit u) {
    if (isnan(v))
        snprintf(buf, cap, "n/a");
    else if (u == U_RATE && v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (u == U_RATE && v >= 1e5)
        snprintf(buf, cap, "%.0fk", v / 1e3);
    else if (u == U_RATE && v >= 1e3)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else if (u == U_MS || u == U_NUM)
        snprintf(buf, cap, v >= 100 ? "%.0f" : "%.2f", v);
    else
        snprintf(buf, cap, "%.0f", v);
    return buf;
}

static const char *fmt_ratio(char *buf, size_t cap, double r) {
    if (isnan(r))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, r >= 10 ? "%.1fx" : "%.2fx", r);
    return buf;
}

static void print_limits(double med[N_LIMITS]) {
    char a[32];
    printf("\nmachine limits, measured in the same run (median of %d):\n", g_cfg.rounds);
    for (int l = 0; l < N_LIMITS; l++) {
        double spread;
        med[l] = median(g_lim[l], g_cfg.rounds, &spread);
        printf("  %-48s %10s   spread %3.0f%%\n", LIMITS[l].label, fmt(a, sizeof a, med[l], LIMITS[l].unit),
               spread * 100);
        if (g_cfg.tsv && !isnan(med[l])) {
            printf("tsv\tlimit\t%s\t%.6g\t", LIMITS[l].id, med[l]);
            for (int r = 0; r < g_cfg.rounds; r++)
                printf("%s%.6g", r ? "," : "", g_lim[l][r]);
            printf("\n");
        }
    }
}

static void print_row(int r, const double lim[N_LIMITS]) {
    const struct row_def *d = &ROWS[r];
    char a[32], b[32], c[32], t[64];
    double med[N_ENGINES], spread, worst_spread = 0;
    int best = -1;
    for (int e = 0; e < N_ENGINES; e++) {
        med[e] = median(g_res[r][e], g_cfg.rounds, &spread);
        worst_spread = spread > worst_spread ? spread : worst_spread;
        bool better = best < 0 || (d->lower_better ? med[e] < med[best] : med[e] > med[best]);
        if (e != BITGASK && !isnan(med[e]) && better)
            best = e;
    }
    snprintf(t, sizeof t, d->label, (unsigned long long)g_cfg.threads); /* %llu: the writer threads */
    printf("%-36s", t);
    for (int e = 0; e < N_ENGINES; e++)
        printf(" %8s", fmt(a, sizeof a, med[e], d->unit));
    double bg = med[BITGASK], l = d->limit >= 0 ? lim[d->limit] : NAN;
    if (d->info || best < 0)
        printf(" %-16s %8s", "", "");
    else {
        snprintf(b, sizeof b, "%s %s", ENGINES[best]->name, fmt(a, sizeof a, med[best], d->unit));
        printf(" %-16s %8s", b, fmt_ratio(c, sizeof c, bg / med[best]));
    }
    printf(" %8s %8s %5.0f%%", fmt(a, sizeof a, l, d->unit), fmt_ratio(c, sizeof c, bg / l), worst_spread * 100);
    for (int e = 0; e < N_ENGINES; e++) {
        if ((r == R_BATCH || r == R_BATCH_SYNC) && !ENGINES[e]->batch)
            printf("  %s: n/a (no batch API yet)", ENGINES[e]->name);
        if (r == R_MGET && !ENGINES[e]->multi_get)
            printf("  %s: n/a (no batched read)", ENGINES[e]->name);
        if (r == R_MERGE && !ENGINES[e]->compact)
            printf("  %s: n/a (no compaction)", ENGINES[e]->name);
    }
    printf("\n");
    for (int e = 0; g_cfg.tsv && e < N_ENGINES; e++) {
        if (isnan(med[e]))
            continue;
        printf("tsv\t%s\t%s\t%.6g\t", d->id, ENGINES[e]->name, med[e]);
        for (int k = 0; k < g_cfg.rounds; k++)
            printf("%s%.6g", k ? "," : "", g_res[r][e][k]);
        printf("\n");
    }
}

static bool row_ran(int r) {
    for (int e = 0; e < N_ENGINES; e++)
        for (int k = 0; k < g_cfg.rounds; k++)
            if (!isnan(g_res[r][e][k]))
                return true;
    return false;
}

/* Fills the derived rows from the rounds in which both of their rows were measured. */
static void derive_ratios(void) {
    for (size_t i = 0; i < sizeof RATIOS / sizeof RATIOS[0]; i++)
        for (int e = 0; e < N_ENGINES; e++)
            for (int k = 0; k < g_cfg.rounds; k++) {
                double b = g_res[RATIOS[i].batch][e][k], s = g_res[RATIOS[i].single][e][k];
                if (!isnan(b) && !isnan(s) && s > 0)
                    record(RATIOS[i].out, e, k, b / s);
            }
}

static void print_report(void) {
    double lim[N_LIMITS];
    derive_ratios();
    print_limits(lim);
    printf("\nmedians of %d rounds; ratios are bitgask / the other figure in the row's unit (for the ms row\n"
           "lower is better: below 1x means bitgask is faster)\n\n",
           g_cfg.rounds);
    printf("%-36s", "row");
    for (int e = 0; e < N_ENGINES; e++)
        printf(" %8s", ENGINES[e]->name);
    printf(" %-16s %8s %8s %8s %6s\n", "best peer", "bg/best", "limit", "bg/limit", "spread");
    for (int r = 0; r < N_ROWS; r++)
        if (row_ran(r))
            print_row(r, lim);
    printf("\nspread: (slowest round - fastest round) / median, the largest of the row's engines\n");
}

/* ---- main ---- */

static unsigned parse_set(const char *arg, const char *const *names, int n, const char *what) {
    unsigned set = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int i = 0;
        while (i < n && strcmp(tok, names[i]) != 0)
            i++;
        if (i == n) {
            fprintf(stderr, PROG ": unknown %s '%s'\n", what, tok);
            exit(2);
        }
        set |= 1u << i;
    }
    return set;
}

static uint64_t parse_count(const char *s) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v == 0) {
        fprintf(stderr, PROG ": not a positive count: '%s'\n", s);
        exit(2);
    }
    return v;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_peers [--smoke] [--rounds N] [--keys N] [--gets N] [--durable N] [--threads N]\n"
                    "         [--per-thread N] [--batch-keys N] [--batch-sync-keys N] [--seq-mb N]\n"
                    "         [--only bitgask,leveldb,lmdb,rocksdb,sqlite] [--phase puts,gets,reopen,merge,\n"
                    "         durable,durable16,batch,limits] [--tsv]\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    const char *engine_names[N_ENGINES];
    for (int e = 0; e < N_ENGINES; e++)
        engine_names[e] = ENGINES[e]->name;
    g_cfg = (struct cfg){false, false, 3, 1000000, 1000000, 10000, 16, 1000, 1000000, 100000, 512, P_ALL,
                         (1u << N_ENGINES) - 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--smoke") == 0) {
            g_cfg.smoke = true;
            g_cfg.rounds = 2;
            g_cfg.keys = g_cfg.gets = g_cfg.batch_keys = 2000;
            g_cfg.durable = 20, g_cfg.threads = 4, g_cfg.per_thread = 5, g_cfg.batch_sync_keys = 200;
            g_cfg.seq_mb = 4;
            continue;
        }
        if (strcmp(a, "--tsv") == 0) {
            g_cfg.tsv = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--rounds") == 0)
            g_cfg.rounds = (int)parse_count(v);
        else if (strcmp(a, "--keys") == 0)
            g_cfg.keys = parse_count(v);
        else if (strcmp(a, "--gets") == 0)
            g_cfg.gets = parse_count(v);
        else if (strcmp(a, "--durable") == 0)
            g_cfg.durable = parse_count(v);
        else if (strcmp(a, "--threads") == 0)
            g_cfg.threads = parse_count(v);
        else if (strcmp(a, "--per-thread") == 0)
            g_cfg.per_thread = parse_count(v);
        else if (strcmp(a, "--batch-keys") == 0)
            g_cfg.batch_keys = parse_count(v);
        else if (strcmp(a, "--batch-sync-keys") == 0)
            g_cfg.batch_sync_keys = parse_count(v);
        else if (strcmp(a, "--seq-mb") == 0)
            g_cfg.seq_mb = parse_count(v);
        else if (strcmp(a, "--only") == 0)
            g_cfg.engines = parse_set(v, engine_names, N_ENGINES, "engine");
        else if (strcmp(a, "--phase") == 0)
            g_cfg.phases = parse_set(v, PHASE_NAMES, (int)(sizeof PHASE_NAMES / sizeof PHASE_NAMES[0]), "phase");
        else
            usage();
    }
    if (g_cfg.rounds > MAX_ROUNDS || g_cfg.threads > MAX_THREADS || g_cfg.keys > UINT32_MAX)
        bench_die(PROG, "at most 15 rounds, 64 threads and 2^32 - 1 keys");
}

static void make_root(void) {
    const char *base = getenv("BENCH_DIR");
    if (!base || !*base)
        base = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/bitgask-bench-peers-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_root)) {
        fprintf(stderr, PROG ": mkdtemp %s: %s\n", g_root, strerror(errno));
        exit(1);
    }
    atexit(remove_root);
}

static void print_header(void) {
    char cpu[256], fs[4096], real[4096];
    if (!realpath(g_root, real))
        snprintf(real, sizeof real, "%s", g_root);
    cpu_model(cpu, sizeof cpu);
    fs_of(real, fs, sizeof fs);
    printf("bench-peers%s: %d-byte keys, %d-byte values, %d rounds\n",
           g_cfg.smoke ? " (SMOKE: tiny counts, the numbers mean nothing)" : "", KEY_LEN, VAL_LEN, g_cfg.rounds);
    printf("machine: %s, %ld cores online; load average %.2f at start\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           load_average());
    printf("bench dir: %s on %s\n", real, fs);
    printf("counts: %llu keys, %llu gets, %llu durable puts, %llu threads x %llu durable puts, batches: %llu keys "
           "(no sync), %llu keys (durable), sequential write %llu MiB\n",
           (unsigned long long)g_cfg.keys, (unsigned long long)g_cfg.gets, (unsigned long long)g_cfg.durable,
           (unsigned long long)g_cfg.threads, (unsigned long long)g_cfg.per_thread,
           (unsigned long long)g_cfg.batch_keys, (unsigned long long)g_cfg.batch_sync_keys,
           (unsigned long long)g_cfg.seq_mb);
    for (int e = 0; e < N_ENGINES; e++)
        if (g_cfg.engines & (1u << e))
            printf("  %-8s %s; compaction: %s\n", ENGINES[e]->name, ENGINES[e]->modes, ENGINES[e]->compact_name);
    fflush(stdout);
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    for (int r = 0; r < N_ROWS; r++)
        for (int e = 0; e < N_ENGINES; e++)
            for (int k = 0; k < MAX_ROUNDS; k++)
                g_res[r][e][k] = NAN;
    for (int l = 0; l < N_LIMITS; l++)
        for (int k = 0; k < MAX_ROUNDS; k++)
            g_lim[l][k] = NAN;
    const char *ctl = getenv("BENCH_PERF_CTL");
    if (ctl && *ctl && (g_perf_fd = open(ctl, O_WRONLY | O_CLOEXEC)) < 0)
        bench_die(PROG, "cannot open BENCH_PERF_CTL");
    make_root();
    print_header();
    make_perm(g_cfg.keys);

    /* Each round starts with a different participant (the machine limits are the last one). */
    int n = N_ENGINES + 1;
    for (int round = 0; round < g_cfg.rounds; round++) {
        printf("round %d:", round + 1);
        for (int k = 0; k < n; k++) {
            int p = (k + round) % n;
            double t0 = now_s();
            if (p == N_ENGINES && (g_cfg.phases & P_LIMITS))
                suite_limits(round);
            else if (p < N_ENGINES && (g_cfg.engines & (1u << p)))
                suite_engine(p, round);
            else
                continue;
            printf(" %s %.1f s", p == N_ENGINES ? "machine" : ENGINES[p]->name, now_s() - t0);
            fflush(stdout);
        }
        printf("\n");
    }
    print_report();
    printf("\nload average %.2f at the end\n", load_average());
    if (g_cfg.smoke)
        printf("smoke run: every engine and phase ran; the counts are too small for the numbers to mean anything.\n");
    free(g_perm);
    return 0;
}
