/*
 * bench.c: the bitgask benchmark, over the public C API only.
 *
 *   make bench         ./build/bench          full run, prints a table of this machine's figures
 *   make bench-smoke   ./build/bench --smoke  tiny counts: every phase, well under a second
 *
 * 16-byte keys, 100-byte values. Each phase uses a fresh database directory under $TMPDIR (or
 * /tmp), removed at the end. Absolute speeds are this machine's alone: machines of the same kind
 * differ 2-3x, so no throughput row carries a target; performance claims are ratios from
 * make bench-peers, measured in one run. Only the two rows whose target does not scale with the
 * machine's speed (keydir bytes per key, the worst write stall beside a merge) show it. Nothing is
 * asserted: the exit status is nonzero only when a library call fails or returns wrong data.
 *
 *   a. N puts, per-write sync off, 1 thread
 *   b. N random gets over those keys: bitgask_get_into (stack buffer) and bitgask_get (malloc+free)
 *   c. durable puts (sync_on_put, the default), 1 thread
 *   d. durable puts from T threads at once (group commit), fresh database
 *   e. close the database of (a) and time bitgask_open on it (N keys, hints present, warm cache)
 *   f. resident memory per key: RSS just before and just after that open
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <bitgask.h>

#include "bench_util.h"

/* ---- plumbing ---- */

static void die_status(const char *what, bitgask_status s, bitgask_error *err) {
    fprintf(stderr, "bench: %s failed: %s (%d): %s\n", what, bitgask_status_str(s), (int)s,
            bitgask_error_message(err));
    bitgask_error_free(err);
    exit(1);
}

/* For calls whose only acceptable outcome is BITGASK_OK. */
#define CHECK(what, call)                                                                          \
    do {                                                                                           \
        bitgask_error *err_ = NULL;                                                                \
        bitgask_status s_ = (call);                                                                \
        if (s_ != BITGASK_OK)                                                                      \
            die_status(what, s_, err_);                                                            \
    } while (0)
#define ERR (&err_) /* the error out-argument, inside CHECK only */

static void die(const char *msg) {
    fprintf(stderr, "bench: %s\n", msg);
    exit(1);
}

static void check_value(const uint8_t *v, size_t vlen, uint64_t i) {
    if (!value_is(v, vlen, i))
        die("get returned a wrong value (another key's, or of the wrong length)");
}

/* ---- temp directories ---- */

static char g_root[4096]; /* the benchmark's own temp directory */

/* Runs at exit, also after a failure: leave nothing behind in the temp dir. */
static void remove_root(void) { rm_rf(g_root); }

static void phase_dir(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", g_root, name);
}

static bitgask_db *open_db(const char *path, bool sync_on_put) {
    bitgask_options *o = bitgask_options_new();
    CHECK("options_set_sync_on_put", bitgask_options_set_sync_on_put(o, sync_on_put, ERR));
    bitgask_db *db = NULL;
    CHECK("open", bitgask_open(path, o, &db, ERR));
    bitgask_options_free(o);
    return db;
}

/* ---- machine and memory ---- */

static long page_kib(void) { return sysconf(_SC_PAGESIZE) / 1024; }

/* Resident set from /proc/self/statm, in KiB: total, and the file-backed part ("shared"). */
static void rss_kib(long *total, long *file) {
    long size = 0, res = 0, shared = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld %ld", &size, &res, &shared) != 3)
        die("cannot read /proc/self/statm");
    fclose(f);
    *total = res * page_kib();
    *file = shared * page_kib();
}

/* Resident KiB of the mappings of files under `dir` (the data files open() maps), from smaps. */
static long mapped_rss_kib(const char *dir, int *mappings) {
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[4096];
    long kib = 0, v;
    bool ours = false;
    *mappings = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
            const char *p = strchr(line, '/');
            ours = p && strncmp(p, dir, strlen(dir)) == 0;
            *mappings += ours;
        } else if (ours && sscanf(line, "Rss: %ld kB", &v) == 1) {
            kib += v;
        }
    }
    fclose(f);
    return kib;
}

/* Bytes handed out by malloc (all arenas plus mmapped blocks), in KiB; -1 when unknown. */
static long malloc_in_use_kib(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
#else
    return -1;
#endif
}

/* ---- phases ---- */

struct cfg {
    bool smoke;
    uint64_t keys, gets, durable, threads, per_thread, merge_keys;
};

/* a. */
static double bench_puts(bitgask_db *db, uint64_t n) {
    uint8_t key[KEY_LEN], val[VAL_LEN];
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        make_key(key, 0, i);
        make_value(val, i);
        CHECK("put", bitgask_put(db, key, KEY_LEN, val, VAL_LEN, ERR));
    }
    return now_s() - t0;
}

/* Reads every key of (a) once, in order: checks all N values, and maps in the data files' pages
 * so that neither get variant of (b) pays the first-touch page faults for the other. Untimed. */
static void verify_all(bitgask_db *db, uint64_t n) {
    uint8_t key[KEY_LEN], buf[VAL_LEN];
    for (uint64_t i = 0; i < n; i++) {
        size_t vlen = 0;
        make_key(key, 0, i);
        CHECK("get_into", bitgask_get_into(db, key, KEY_LEN, buf, sizeof buf, &vlen, ERR));
        check_value(buf, vlen, i);
    }
}

/* b. Random gets over keys 0..n-1 of space 0, into a stack buffer or through bitgask_get. */
static double bench_gets(bitgask_db *db, uint64_t n, uint64_t gets, bool into) {
    uint8_t key[KEY_LEN], buf[VAL_LEN + 28];
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (into ? 1 : 2);
    double t0 = now_s();
    for (uint64_t g = 0; g < gets; g++) {
        uint64_t i = xorshift64(&rng) % n;
        make_key(key, 0, i);
        size_t vlen = 0;
        if (into) {
            CHECK("get_into", bitgask_get_into(db, key, KEY_LEN, buf, sizeof buf, &vlen, ERR));
            check_value(buf, vlen, i);
        } else {
            uint8_t *v = NULL;
            CHECK("get", bitgask_get(db, key, KEY_LEN, &v, &vlen, ERR));
            check_value(v, vlen, i);
            bitgask_free(v);
        }
    }
    return now_s() - t0;
}

/* c. and d. */
struct writer {
    bitgask_db *db;
    pthread_barrier_t *start;
    uint64_t space, n;
};

/* b'. the same random gets from several threads at once (readers share the index lock). */
struct reader {
    bitgask_db *db;
    uint64_t n, gets, seed;
};

static void *get_reader(void *arg) {
    struct reader *r = (struct reader *)arg;
    uint8_t key[KEY_LEN], buf[VAL_LEN + 28];
    uint64_t rng = r->seed;
    for (uint64_t g = 0; g < r->gets; g++) {
        uint64_t i = xorshift64(&rng) % r->n;
        size_t vlen = 0;
        make_key(key, 0, i);
        CHECK("get_into", bitgask_get_into(r->db, key, KEY_LEN, buf, sizeof buf, &vlen, ERR));
        check_value(buf, vlen, i);
    }
    return NULL;
}

/* Returns the wall time for `threads` readers doing `gets` gets each. */
static double bench_gets_parallel(bitgask_db *db, uint64_t n, uint64_t gets, long threads) {
    pthread_t tid[64];
    struct reader r[64];
    if (threads > 64)
        threads = 64;
    double t0 = now_s();
    for (long t = 0; t < threads; t++) {
        r[t] = (struct reader){db, n, gets, 0x9e3779b97f4a7c15ULL + (uint64_t)t * 7919};
        if (pthread_create(&tid[t], NULL, get_reader, &r[t]) != 0)
            die("pthread_create failed");
    }
    for (long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    return now_s() - t0;
}

/* i. n puts written as batches of BATCH_KEYS (bitgask_write), with or without sync. */
#define BATCH_KEYS 100
static double bench_batches(const char *path, bool sync_on_put, uint64_t n) {
    bitgask_db *db = open_db(path, sync_on_put);
    bitgask_batch *b = bitgask_batch_new();
    uint8_t key[KEY_LEN], val[VAL_LEN];
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i += BATCH_KEYS) {
        bitgask_batch_clear(b);
        for (uint64_t j = i; j < i + BATCH_KEYS && j < n; j++) {
            make_key(key, 0, j);
            make_value(val, j);
            CHECK("batch_put", bitgask_batch_put(b, key, KEY_LEN, val, VAL_LEN, ERR));
        }
        CHECK("write", bitgask_write(db, b, ERR));
    }
    double t = now_s() - t0;
    bitgask_batch_free(b);
    CHECK("close", bitgask_close(db, ERR));
    return t;
}

static void *durable_writer(void *arg) {
    struct writer *w = arg;
    uint8_t key[KEY_LEN], val[VAL_LEN];
    if (w->start)
        pthread_barrier_wait(w->start);
    for (uint64_t i = 0; i < w->n; i++) {
        make_key(key, w->space, i);
        make_value(val, i);
        CHECK("durable put", bitgask_put(w->db, key, KEY_LEN, val, VAL_LEN, ERR));
    }
    return NULL;
}

static double bench_durable(const char *path, uint64_t threads, uint64_t per_thread) {
    bitgask_db *db = open_db(path, true);
    pthread_t tid[64];
    struct writer w[64];
    pthread_barrier_t start;
    double t0, dt;
    if (threads == 1) {
        w[0] = (struct writer){db, NULL, 1, per_thread};
        t0 = now_s();
        durable_writer(&w[0]);
        dt = now_s() - t0;
    } else {
        if (threads > 64)
            die("at most 64 threads");
        pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
        for (uint64_t t = 0; t < threads; t++) {
            w[t] = (struct writer){db, &start, 1 + t, per_thread};
            if (pthread_create(&tid[t], NULL, durable_writer, &w[t]) != 0)
                die("pthread_create failed");
        }
        pthread_barrier_wait(&start);
        t0 = now_s();
        for (uint64_t t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        dt = now_s() - t0;
        pthread_barrier_destroy(&start);
    }
    bitgask_stats st;
    CHECK("stats_get", bitgask_stats_get(db, &st, ERR));
    if (st.keys != threads * per_thread)
        die("durable phase: wrong key count");
    CHECK("close", bitgask_close(db, ERR));
    rm_rf(path);
    return dt;
}

/* g. merge: a database of big values with half of it dead, merged while a writer keeps
 * writing; the writer records its slowest put. */
#define MERGE_VAL_LEN 1024

struct stall_probe {
    bitgask_db *db;
    volatile int stop;
    double worst_s;
    uint64_t puts;
};

static void *stall_writer(void *arg) {
    struct stall_probe *p = arg;
    uint8_t key[KEY_LEN], val[VAL_LEN];
    pthread_setname_np(pthread_self(), "stall-writer"); /* findable in perf sched timehist */
    for (uint64_t i = 0; !p->stop; i++) {
        make_key(key, 99, i % 100000);
        make_value(val, i);
        double t0 = now_s();
        CHECK("put during merge", bitgask_put(p->db, key, KEY_LEN, val, VAL_LEN, ERR));
        double dt = now_s() - t0;
        if (dt > p->worst_s)
            p->worst_s = dt;
        p->puts++;
    }
    return NULL;
}

struct merge_result {
    double secs, live_mb, worst_stall_ms;
    uint64_t puts_during;
};

static struct merge_result bench_merge(const char *path, uint64_t keys, bool with_writer) {
    bitgask_db *db = open_db(path, false);
    uint8_t key[KEY_LEN];
    uint8_t *val = (uint8_t *)malloc(MERGE_VAL_LEN);
    if (!val)
        die("out of memory");
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 0; i < keys; i++) {
            make_key(key, 7, i);
            memset(val, (int)(i + (uint64_t)round), MERGE_VAL_LEN);
            CHECK("put", bitgask_put(db, key, KEY_LEN, val, MERGE_VAL_LEN, ERR));
        }
    }
    free(val);
    CHECK("sync", bitgask_sync(db, ERR));
    uint64_t dead, total;
    double ratio;
    CHECK("reclaimable", bitgask_reclaimable(db, &dead, &total, &ratio, ERR));
    struct stall_probe probe = {db, 0, 0.0, 0};
    pthread_t tid;
    if (with_writer) {
        if (pthread_create(&tid, NULL, stall_writer, &probe) != 0)
            die("pthread_create failed");
        sleep_ms(20);
    }
    bool merged = false;
    double t0 = now_s();
    CHECK("merge", bitgask_merge(db, true, &merged, ERR));
    double secs = now_s() - t0;
    probe.stop = 1;
    if (with_writer)
        pthread_join(tid, NULL);
    if (!merged)
        die("merge did not run");
    bitgask_stats st;
    CHECK("stats_get", bitgask_stats_get(db, &st, ERR));
    if (st.keys < keys)
        die("merge phase: keys lost");
    CHECK("close", bitgask_close(db, ERR));
    rm_rf(path);
    struct merge_result r = {secs, (double)(total - dead) / 1e6, probe.worst_s * 1e3, probe.puts};
    return r;
}

/* ---- report ---- */

static bool g_smoke;
static void row(const char *metric, const char *value, const char *target, bool met);

/* g. and h.: the merge alone, then with a writer putting as fast as it can (taking one of the
 * cores); prints their lines and returns the writer's result. */
static struct merge_result run_merges(const struct cfg *c, struct merge_result *alone) {
    char dir[4200];
    phase_dir(dir, sizeof dir, "g");
    *alone = bench_merge(dir, c->merge_keys, false);
    printf("g. merge of %.0f MB live (of %.0f MB), nothing else running: %.3f s\n", alone->live_mb,
           2 * alone->live_mb, alone->secs);
    phase_dir(dir, sizeof dir, "h");
    struct merge_result mr = bench_merge(dir, c->merge_keys, true);
    printf("h. the same merge beside an unthrottled writer: %.3f s; the writer did %llu puts, worst %.1f ms\n",
           mr.secs, (unsigned long long)mr.puts_during, mr.worst_stall_ms);
    fflush(stdout);
    return mr;
}

/* The rows of g. and h. */
static void merge_rows(const struct merge_result *alone, const struct merge_result *mr) {
    char a[32];
    snprintf(a, sizeof a, "%.0f MB/s", alone->live_mb / alone->secs);
    row("g. merge, live data rewritten", a, NULL, false);
    snprintf(a, sizeof a, "%.0f MB/s", mr->live_mb / mr->secs);
    row("h. merge beside an unthrottled writer", a, NULL, false);
    snprintf(a, sizeof a, "%.1f ms", mr->worst_stall_ms);
    row("h. worst write stall during merge", a, "<= 50 ms", mr->worst_stall_ms <= 50);
}

/* --merge: rows g and h alone. */
static int bench_merge_rows(const struct cfg *c) {
    struct merge_result alone;
    struct merge_result mr = run_merges(c, &alone);
    printf("\n  %-40s %14s   %s\n", "metric", "value", c->smoke ? "(smoke run: no targets)" : "target");
    merge_rows(&alone, &mr);
    return 0;
}

/* A row; `target` (NULL for none) is shown, with whether this run met it, only on full runs: a
 * smoke run's counts are too small to hold against anything. */
static void row(const char *metric, const char *value, const char *target, bool met) {
    if (g_smoke || !target) {
        printf("  %-40s %14s\n", metric, value);
        return;
    }
    printf("  %-40s %14s   %-12s %s\n", metric, value, target, met ? "met" : "missed");
}

static const char *fmt_rate(char *buf, double ops, double secs) {
    double r = ops / secs;
    if (r >= 1e6)
        snprintf(buf, 32, "%.2f M/s", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, 32, "%.1f k/s", r / 1e3);
    else
        snprintf(buf, 32, "%.0f /s", r);
    return buf;
}

static const char *fmt_count(char *buf, uint64_t n) {
    if (n >= 1000000 && n % 1000000 == 0)
        snprintf(buf, 32, "%lluM", (unsigned long long)(n / 1000000));
    else if (n >= 1000 && n % 1000 == 0)
        snprintf(buf, 32, "%lluk", (unsigned long long)(n / 1000));
    else
        snprintf(buf, 32, "%llu", (unsigned long long)n);
    return buf;
}

int main(int argc, char **argv) {
    /* merge: 2 x 512Ki keys of 1 KiB values = 1.1 GB of data files, half of it dead */
    struct cfg c = {false, 1000000, 1000000, 10000, 16, 5000, 512 * 1024};
    bool merge_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            c = (struct cfg){true, 2000, 2000, 200, 2, 100, 2000};
        else if (strcmp(argv[i], "--merge") == 0)
            merge_only = true;
        else {
            fprintf(stderr, "usage: %s [--smoke] [--merge]\n"
                            "  --smoke  tiny counts: proves every phase runs, measures nothing\n"
                            "  --merge  rows g and h only (the merge alone, then beside a writer)\n",
                    argv[0]);
            return 2;
        }
    }
    g_smoke = c.smoke;

    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/bitgask-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_root)) {
        fprintf(stderr, "bench: mkdtemp %s: %s\n", g_root, strerror(errno));
        return 1;
    }
    atexit(remove_root);
    char real_root[4096], cpu[256], fs[4096], dir[4200], a[32], b[32], m[64];
    if (!realpath(g_root, real_root))
        snprintf(real_root, sizeof real_root, "%s", g_root);
    cpu_model(cpu, sizeof cpu);
    fs_of(real_root, fs, sizeof fs);

    printf("bitgask %s benchmark%s: %d-byte keys, %d-byte values\n", bitgask_version(),
           c.smoke ? " (SMOKE: tiny counts, numbers mean nothing)" : "", KEY_LEN, VAL_LEN);
    printf("machine: %ld CPUs online, %s; load average %.2f at start\n",
           sysconf(_SC_NPROCESSORS_ONLN), cpu, load_average());
    printf("temp dir: %s on %s\n\n", real_root, fs);
    fflush(stdout);
    if (merge_only)
        return bench_merge_rows(&c);

    /* a. puts without per-write sync */
    char path_a[4200];
    phase_dir(path_a, sizeof path_a, "a");
    bitgask_db *db = open_db(path_a, false);
    double t_put = bench_puts(db, c.keys);
    double t0 = now_s();
    CHECK("sync", bitgask_sync(db, ERR));
    double t_sync = now_s() - t0;
    printf("a. %llu puts (no sync): %.3f s, then bitgask_sync %.1f ms\n", (unsigned long long)c.keys,
           t_put, t_sync * 1e3);
    fflush(stdout);

    /* b. random gets */
    verify_all(db, c.keys);
    double t_get_into = bench_gets(db, c.keys, c.gets, true);
    double t_get = bench_gets(db, c.keys, c.gets, false);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpus = cpus < 1 ? 1 : cpus;
    double t_get_par = bench_gets_parallel(db, c.keys, c.gets, cpus);
    printf("b. %llu random gets: get_into %.3f s, get+free %.3f s; %ld threads x %llu: %.3f s\n",
           (unsigned long long)c.gets, t_get_into, t_get, cpus, (unsigned long long)c.gets, t_get_par);
    fflush(stdout);

    /* e./f. close, then time the reopen and the resident memory it adds */
    t0 = now_s();
    CHECK("close", bitgask_close(db, ERR));
    double t_close = now_s() - t0;
#ifdef __GLIBC__
    malloc_trim(0); /* hand memory freed by the close back to the OS: a clean baseline */
#endif
    long rss0, file0, rss1, file1, heap0 = malloc_in_use_kib();
    rss_kib(&rss0, &file0);
    t0 = now_s();
    CHECK("reopen", bitgask_open(path_a, NULL, &db, ERR));
    double t_open = now_s() - t0;
    rss_kib(&rss1, &file1);
    long heap1 = malloc_in_use_kib();
    int maps = 0;
    long mapped_kib = mapped_rss_kib(real_root, &maps);
    bitgask_stats st;
    CHECK("stats_get", bitgask_stats_get(db, &st, ERR));
    if (st.keys != c.keys)
        die("reopen: wrong key count");
    bench_gets(db, c.keys, c.gets < 1000 ? c.gets : 1000, true); /* the data still reads back */
    CHECK("close", bitgask_close(db, ERR));
    rm_rf(path_a);
    long anon_kib = (rss1 - file1) - (rss0 - file0);
    double per_key = (double)anon_kib * 1024.0 / (double)c.keys - KEY_LEN;
    printf("e. close %.1f ms (sync + active file's hint); reopen of %llu keys %.1f ms\n",
           t_close * 1e3, (unsigned long long)st.keys, t_open * 1e3);
    printf("f. RSS before reopen %ld KiB, after %ld KiB: +%ld KiB, of which anonymous +%ld, "
           "file-backed +%ld\n", rss0, rss1, rss1 - rss0, anon_kib, file1 - file0);
    if (heap0 >= 0)
        printf("   malloc in use: %ld KiB before, +%ld KiB after\n", heap0, heap1 - heap0);
    printf("   %d mappings of files in the database directory, %ld KiB of them resident\n", maps,
           mapped_kib);
    fflush(stdout);

    /* c. durable puts, 1 thread */
    phase_dir(dir, sizeof dir, "c");
    double t_dur1 = bench_durable(dir, 1, c.durable);
    printf("c. %llu durable puts, 1 thread: %.3f s\n", (unsigned long long)c.durable, t_dur1);
    fflush(stdout);

    /* d. durable puts, many threads */
    phase_dir(dir, sizeof dir, "d");
    double t_durn = bench_durable(dir, c.threads, c.per_thread);
    printf("d. %llu x %llu durable puts: %.3f s\n", (unsigned long long)c.threads,
           (unsigned long long)c.per_thread, t_durn);

    /* i. the same puts as (a) and (c), in batches of BATCH_KEYS */
    phase_dir(dir, sizeof dir, "i");
    double t_batch = bench_batches(dir, false, c.keys);
    rm_rf(dir);
    phase_dir(dir, sizeof dir, "j");
    double t_batch_dur = bench_batches(dir, true, c.durable * 10);
    rm_rf(dir);
    printf("i. %llu puts in batches of %d (no sync): %.3f s; %llu durable puts in batches of %d: %.3f s\n",
           (unsigned long long)c.keys, BATCH_KEYS, t_batch, (unsigned long long)c.durable * 10, BATCH_KEYS,
           t_batch_dur);
    fflush(stdout);

    /* g. and h. */
    struct merge_result alone;
    struct merge_result mr = run_merges(&c, &alone);

    /* The table. */
    double n_dn = (double)(c.threads * c.per_thread);
    printf("\n  %-40s %14s   %s\n", "metric", "value", c.smoke ? "(smoke run: no targets)" : "target");
    snprintf(m, sizeof m, "a. put, no sync, %s keys", fmt_count(b, c.keys));
    row(m, fmt_rate(a, (double)c.keys, t_put), NULL, false);
    snprintf(m, sizeof m, "b. get_into, random, %s gets", fmt_count(b, c.gets));
    row(m, fmt_rate(a, (double)c.gets, t_get_into), NULL, false);
    row("   get + bitgask_free, random", fmt_rate(a, (double)c.gets, t_get), NULL, false);
    snprintf(m, sizeof m, "   get_into, random, %ld threads", cpus);
    row(m, fmt_rate(a, (double)c.gets * (double)cpus, t_get_par), NULL, false);
    snprintf(m, sizeof m, "c. durable put, 1 thread, %s puts", fmt_count(b, c.durable));
    row(m, fmt_rate(a, (double)c.durable, t_dur1), NULL, false);
    snprintf(m, sizeof m, "d. durable put, %llu threads x %s", (unsigned long long)c.threads,
             fmt_count(b, c.per_thread));
    row(m, fmt_rate(a, n_dn, t_durn), NULL, false);
    snprintf(m, sizeof m, "i. put in batches of %d, no sync", BATCH_KEYS);
    row(m, fmt_rate(a, (double)c.keys, t_batch), NULL, false);
    snprintf(m, sizeof m, "i. put in batches of %d, durable", BATCH_KEYS);
    row(m, fmt_rate(a, (double)c.durable * 10, t_batch_dur), NULL, false);
    snprintf(m, sizeof m, "e. reopen, %s keys", fmt_count(b, c.keys));
    snprintf(a, sizeof a, "%.1f ms", t_open * 1e3);
    row(m, a, NULL, false);
    snprintf(a, sizeof a, "%.1f B/key", per_key);
    row("f. keydir memory beyond the key", a, "<= 48 B/key", per_key <= 48.0);
    merge_rows(&alone, &mr);
    printf("\n");
    printf("e. is a warm-cache open (hint files in the page cache), timed around bitgask_open alone.\n");
    printf("f. = (anonymous RSS after reopen - before) / keys - %d: the keydir (index slots and key\n"
           "   arena) and whatever else open allocates; it should match the malloc-in-use growth.\n",
           KEY_LEN);
    if (file1 > file0 || mapped_kib > 0)
        printf("   File pages DID become resident during open (%ld KiB file-backed growth, %ld KiB in\n"
               "   mappings of the database's files): they are page cache, not keydir, and are left out.\n",
               file1 - file0, mapped_kib);
    else
        printf("   File-backed RSS did not grow: the data files open() maps stay untouched until read,\n"
               "   and the hint files it reads are unmapped before it returns.\n");
    if (c.smoke)
        printf("smoke run: every phase ran; the counts are too small for the numbers to mean anything.\n");
    return 0;
}
