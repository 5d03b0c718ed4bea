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
 * merge.tmp/ or data.old/ after open. The same directory is reused for every cycle.
 *
 * 100 cycles per loop; BITGASK_SOAK=1 (make soak) runs 1,000. BITGASK_CRASH_SEED=<n> changes the
 * random delays; BITGASK_TEST_VERBOSE=1 (or BITGASK_SOAK=1) prints each loop's figures.
 */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define KM_MAX_WRITERS 4
#define KM_KEY_BASE 200000u /* key numbers of the model: KM_KEY_BASE + index */

typedef struct km_cfg {
    unsigned cycles;
    bool sync;                  /* sync_on_put and sync_on_delete */
    uint64_t sync_interval_ms;  /* the child's background flusher (0: none) */
    uint64_t max_file_size;
    bool merges;                /* the child's main thread merges in a loop */
    uint32_t writers;
    uint32_t keys_per_writer;
    unsigned writer_pause_us;   /* between two operations of one writer */
    unsigned min_delay_us;      /* the kill comes min..max after the child reported ready */
    unsigned max_delay_us;
    size_t compact_over_files;  /* the parent merges when data/ holds more files (0: never) */
} km_cfg;

static bool km_soak(void) {
    const char *s = getenv("BITGASK_SOAK");
    return s != NULL && strcmp(s, "0") != 0;
}

/* ---- messages from the child ---- */

enum {
    KM_READY = 1,  /* opened, writers started */
    KM_PUT = 2,    /* writer, key index, version: intent */
    KM_DEL = 3,    /* writer, key index: intent */
    KM_ACK = 4,    /* writer, key index: the pending intent returned */
    KM_MERGE = 5,  /* a merge starts (version: number; key: 1 for compact_if_needed) */
    KM_MERGED = 6  /* ... and returned (key: whether it ran) */
};

typedef struct km_msg {
    uint32_t kind, writer, key, version;
} km_msg;

static void km_send(int fd, uint32_t kind, uint32_t writer, uint32_t key, uint32_t version) {
    km_msg m;
    m.kind = kind;
    m.writer = writer;
    m.key = key;
    m.version = version;
    /* sizeof m < PIPE_BUF: atomic, never interleaved with another thread's message. */
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(13);
}

static size_t km_key(char *out, size_t cap, uint32_t idx) {
    return t_key(out, cap, KM_KEY_BASE + idx);
}

static size_t km_value(char *out, size_t cap, uint32_t idx, uint32_t version) {
    return t_value(out, cap, KM_KEY_BASE + idx, version);
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

typedef struct km_writer {
    bitgask_db *db;
    int fd;
    uint32_t id, nkeys, version;
    unsigned pause_us;
    uint64_t rng;
} km_writer;

static void *km_writer_main(void *p) {
    km_writer *w = (km_writer *)p;
    char k[32], v[256];
    for (;;) {
        uint32_t idx = w->id * w->nkeys + (uint32_t)(t_rand(&w->rng) % w->nkeys);
        size_t kl = km_key(k, sizeof k, idx);
        bitgask_error *err = NULL;
        bitgask_status s;
        if (t_rand(&w->rng) % 5 == 0) {
            km_send(w->fd, KM_DEL, w->id, idx, 0);
            s = bitgask_delete(w->db, (const uint8_t *)k, kl, &err);
            if (s != BITGASK_OK && s != BITGASK_NOT_FOUND) {
                fprintf(stderr, "child writer %u: delete: %d %s\n", (unsigned)w->id, (int)s, bitgask_error_message(err));
                _exit(30);
            }
        } else {
            uint32_t ver = w->version++;
            size_t vl = km_value(v, sizeof v, idx, ver);
            km_send(w->fd, KM_PUT, w->id, idx, ver);
            s = bitgask_put(w->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
            if (s != BITGASK_OK) {
                fprintf(stderr, "child writer %u: put: %d %s\n", (unsigned)w->id, (int)s, bitgask_error_message(err));
                _exit(31);
            }
        }
        km_send(w->fd, KM_ACK, w->id, idx, 0);
        if (w->pause_us > 0)
            t_sleep_us(w->pause_us);
    }
    return NULL;
}

/* Never returns; the expected end is SIGKILL. Exit codes: 10 options, 11 open, 13 pipe, 20 merge
 * error, 30/31 writer errors, 40 thread. (A forced merge runs unless no file is sealed yet.) */
__attribute__((noreturn)) static void km_child(const char *root, int fd, const km_cfg *cfg, unsigned cycle,
                                               uint64_t seed);
static void km_child(const char *root, int fd, const km_cfg *cfg, unsigned cycle, uint64_t seed) {
    bitgask_options *o = km_opts(cfg, true);
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    km_writer w[KM_MAX_WRITERS];
    pthread_t th[KM_MAX_WRITERS];
    uint64_t rng = seed ^ ((uint64_t)cycle * 0x9E3779B97F4A7C15ull);
    uint32_t i, m;
    if (o == NULL)
        _exit(10);
    if (bitgask_open(root, o, &db, &err) != BITGASK_OK) {
        fprintf(stderr, "child: open: %s\n", bitgask_error_message(err));
        _exit(11);
    }
    for (i = 0; i < cfg->writers; i++) {
        w[i].db = db;
        w[i].fd = fd;
        w[i].id = i;
        w[i].nkeys = cfg->keys_per_writer;
        w[i].version = (uint32_t)(cycle + 1u) * 1000000u;
        w[i].pause_us = cfg->writer_pause_us;
        w[i].rng = rng ^ ((uint64_t)(i + 1u) * 0x100000001B3ull);
        if (pthread_create(&th[i], NULL, km_writer_main, &w[i]) != 0)
            _exit(40);
    }
    km_send(fd, KM_READY, 0, 0, 0);
    if (!cfg->merges)
        for (;;)
            pause();
    for (m = 0;; m++) {
        bool merged = false, selective = m % 3 == 2;
        bitgask_status s;
        km_send(fd, KM_MERGE, 0, selective ? 1u : 0u, m);
        s = selective ? bitgask_compact_if_needed(db, &merged, &err) : bitgask_merge(db, true, &merged, &err);
        if (s != BITGASK_OK) {
            fprintf(stderr, "child: %s %u: %d %s\n", selective ? "compact_if_needed" : "merge", (unsigned)m, (int)s,
                    bitgask_error_message(err));
            _exit(20);
        }
        km_send(fd, KM_MERGED, 0, merged ? 1u : 0u, m);
        t_sleep_us((unsigned)(t_rand(&rng) % 2000u));
    }
}

/* ---- the parent's model ---- */

typedef struct km_pending {
    bool active;
    uint32_t kind, key, version;
} km_pending;

typedef struct km_model {
    const km_cfg *cfg;
    uint32_t nkeys;
    int64_t *state; /* per key: -1 absent, else the version it holds */
    km_pending pending[KM_MAX_WRITERS];
    bool ready, merging;
    /* figures */
    uint64_t acks, puts_acked, dels_acked, merges_done, merges_ran, selective_ran;
    unsigned killed_in_merge, in_flight_seen, in_flight_applied;
    unsigned tmp_before_open, old_before_open, no_data_before_open;
    unsigned char carry[sizeof(km_msg)]; /* a message split across two reads */
    size_t ncarry;
} km_model;

static bool km_apply(km_model *md, const km_msg *m) {
    km_pending *p;
    switch (m->kind) {
    case KM_READY:
        md->ready = true;
        return true;
    case KM_PUT:
    case KM_DEL:
        if (m->writer >= md->cfg->writers || m->key >= md->nkeys || m->key / md->cfg->keys_per_writer != m->writer ||
            md->pending[m->writer].active) {
            t_note("bad intent message (writer %u, key %u)", (unsigned)m->writer, (unsigned)m->key);
            return false;
        }
        p = &md->pending[m->writer];
        p->active = true;
        p->kind = m->kind;
        p->key = m->key;
        p->version = m->version;
        return true;
    case KM_ACK:
        if (m->writer >= md->cfg->writers || !md->pending[m->writer].active || md->pending[m->writer].key != m->key) {
            t_note("acknowledgement without its intent (writer %u, key %u)", (unsigned)m->writer, (unsigned)m->key);
            return false;
        }
        p = &md->pending[m->writer];
        md->state[p->key] = p->kind == KM_PUT ? (int64_t)p->version : -1;
        if (p->kind == KM_PUT)
            md->puts_acked++;
        else
            md->dels_acked++;
        md->acks++;
        p->active = false;
        return true;
    case KM_MERGE:
        md->merging = true;
        return true;
    case KM_MERGED:
        md->merging = false;
        md->merges_done++;
        md->merges_ran += m->key;
        return true;
    default:
        t_note("unknown message kind %u", (unsigned)m->kind);
        return false;
    }
}

/* Reads what the pipe has (one read) and applies it; *eof when the child's end is closed. */
static bool km_read_some(int fd, km_model *md, bool *eof) {
    unsigned char buf[4096 + sizeof(km_msg)];
    size_t have = md->ncarry, used = 0;
    ssize_t r;
    memcpy(buf, md->carry, md->ncarry);
    do {
        r = read(fd, buf + have, 4096);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        t_note("read from the child: %s", strerror(errno));
        return false;
    }
    if (r == 0) {
        *eof = true;
        if (have != 0) {
            t_note("%zu stray bytes at the end of the pipe", have);
            return false;
        }
        return true;
    }
    have += (size_t)r;
    while (have - used >= sizeof(km_msg)) {
        km_msg m;
        memcpy(&m, buf + used, sizeof m);
        if (!km_apply(md, &m))
            return false;
        used += sizeof m;
    }
    md->ncarry = have - used;
    memcpy(md->carry, buf + used, md->ncarry);
    return true;
}

/* Applies messages until deadline_us (monotonic), or until the child reported ready when
 * until_ready, or until the pipe's end. */
static bool km_pump(int fd, km_model *md, uint64_t deadline_us, bool until_ready, bool *eof) {
    while (!*eof && !(until_ready && md->ready)) {
        uint64_t now = t_mono_us();
        struct pollfd p;
        int r;
        if (now >= deadline_us)
            return true;
        if (deadline_us - now < 1000 && !until_ready) {
            t_sleep_us((unsigned)(deadline_us - now));
            return true;
        }
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        r = poll(&p, 1, (int)((deadline_us - now + 999) / 1000));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            t_note("poll: %s", strerror(errno));
            return false;
        }
        if (r == 1 && !km_read_some(fd, md, eof))
            return false;
    }
    return true;
}

typedef struct km_fold {
    const km_model *md;
    uint64_t count, bad;
    char first_bad[160];
} km_fold;

/* Every key the database holds is a model key holding the model's value. */
static int km_fold_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    km_fold *f = (km_fold *)ctx;
    char kb[32], want[256];
    unsigned n = 0;
    bool ok = klen < sizeof kb;
    f->count++;
    if (ok) {
        memcpy(kb, key, klen);
        kb[klen] = '\0';
        ok = sscanf(kb, "key-%08u", &n) == 1 && n >= KM_KEY_BASE && n - KM_KEY_BASE < f->md->nkeys &&
             t_key(want, sizeof want, n) == klen && memcmp(want, key, klen) == 0;
    }
    if (ok) {
        int64_t st = f->md->state[n - KM_KEY_BASE];
        ok = st >= 0 && km_value(want, sizeof want, n - KM_KEY_BASE, (uint32_t)st) == vlen && memcmp(want, val, vlen) == 0;
    }
    if (!ok && f->bad++ == 0)
        snprintf(f->first_bad, sizeof f->first_bad, "%.*s = %.*s", (int)(klen < 40 ? klen : 40), (const char *)key,
                 (int)(vlen < 60 ? vlen : 60), (const char *)val);
    return 0;
}

/* Checks the database against the model and makes each key's observed state the model's (the
 * operations in flight are settled). */
static bool km_check(bitgask_db *db, km_model *md, const char *when) {
    char k[32], v[256];
    uint32_t i;
    uint64_t present = 0;
    bitgask_stats st;
    bitgask_error *err = NULL;
    km_fold f;
    for (i = 0; i < md->nkeys; i++) {
        const km_pending *p = &md->pending[i / md->cfg->keys_per_writer];
        bool in_flight = p->active && p->key == i;
        int64_t acked = md->state[i], observed = -2;
        uint8_t *got = NULL;
        size_t gl = 0, kl = km_key(k, sizeof k, i), vl;
        bitgask_status s = bitgask_get(db, (const uint8_t *)k, kl, &got, &gl, &err);
        if (s == BITGASK_NOT_FOUND) {
            if (acked < 0 || (in_flight && p->kind == KM_DEL))
                observed = -1;
        } else if (s == BITGASK_OK) {
            if (acked >= 0) {
                vl = km_value(v, sizeof v, i, (uint32_t)acked);
                if (gl == vl && memcmp(got, v, vl) == 0)
                    observed = acked;
            }
            if (observed == -2 && in_flight && p->kind == KM_PUT) {
                vl = km_value(v, sizeof v, i, p->version);
                if (gl == vl && memcmp(got, v, vl) == 0)
                    observed = p->version;
            }
            bitgask_free(got);
        } else {
            t_note("%s: get key %u: status %d (%s) %s", when, (unsigned)i, (int)s, bitgask_status_str(s),
                   err ? bitgask_error_message(err) : "");
            bitgask_error_free(err);
            return false;
        }
        if (observed == -2) {
            t_note("%s: key %s is %s; acknowledged state: %s %lld; in flight: %s %u", when, k,
                   s == BITGASK_OK ? "present with another value" : "absent", acked < 0 ? "deleted" : "version",
                   (long long)(acked < 0 ? 0 : acked),
                   in_flight ? (p->kind == KM_PUT ? "put of version" : "delete") : "nothing",
                   in_flight ? (unsigned)p->version : 0u);
            return false;
        }
        if (in_flight) {
            md->in_flight_seen++;
            md->in_flight_applied += observed != acked;
        }
        md->state[i] = observed;
        if (observed >= 0)
            present++;
    }
    for (i = 0; i < md->cfg->writers; i++)
        md->pending[i].active = false;
    if (!t_stats(db, &st))
        return false;
    if (st.keys != present) {
        t_note("%s: stats.keys %llu, the model has %llu keys", when, (unsigned long long)st.keys,
               (unsigned long long)present);
        return false;
    }
    memset(&f, 0, sizeof f);
    f.md = md;
    if (bitgask_fold(db, NULL, 0, km_fold_cb, &f, &err) != BITGASK_OK) {
        t_note("%s: fold: %s", when, bitgask_error_message(err));
        bitgask_error_free(err);
        return false;
    }
    if (f.bad != 0 || f.count != present) {
        t_note("%s: fold saw %llu keys (%llu not in the model or with another value, first: %s); the model has %llu",
               when, (unsigned long long)f.count, (unsigned long long)f.bad, f.bad ? f.first_bad : "-",
               (unsigned long long)present);
        return false;
    }
    return true;
}

static bool km_dir_exists(const char *root, const char *name) {
    char p[T_PATH_MAX];
    DIR *d = opendir(t_pathf(p, "%s/%s", root, name));
    if (d == NULL)
        return false;
    closedir(d);
    return true;
}

/* ---- the loop ---- */

/* One cycle: fork, kill, reopen, check. False after a note. */
static bool km_cycle(const char *root, const km_cfg *cfg, const bitgask_options *o, km_model *md, unsigned cycle,
                     uint64_t seed, uint64_t *rng) {
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
    md->ready = md->merging = false;
    md->ncarry = 0;
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
        ok = km_pump(fds[0], md, t_mono_us() + t_rand(rng) % 3000u, false, &eof);
    } else {
        ok = km_pump(fds[0], md, t_mono_us() + 20000000u, true, &eof);
        if (ok && !md->ready) {
            t_note("%s: the child did not report ready within 20 s%s", when, eof ? " (it ended)" : "");
            ok = false;
        }
        deadline = t_mono_us() + cfg->min_delay_us + t_rand(rng) % (cfg->max_delay_us - cfg->min_delay_us + 1u);
        ok = ok && km_pump(fds[0], md, deadline, false, &eof);
    }
    md->killed_in_merge += md->merging;
    kill(pid, SIGKILL);
    if (!t_wait(pid, &status)) {
        close(fds[0]);
        t_note("%s: waitpid failed", when);
        return false;
    }
    while (ok && !eof)
        ok = km_read_some(fds[0], md, &eof);
    close(fds[0]);
    if (!ok)
        return false;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        t_note("%s: the child %s %d instead of being killed", when, WIFEXITED(status) ? "exited with" : "died of signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return false;
    }
    md->tmp_before_open += km_dir_exists(root, "merge.tmp");
    md->old_before_open += km_dir_exists(root, "data.old");
    md->no_data_before_open += !km_dir_exists(root, "data");

    db = t_open(root, o);
    if (db == NULL) {
        t_note("%s: open after kill -9 failed", when);
        return false;
    }
    ok = true;
    if (km_dir_exists(root, "merge.tmp") || km_dir_exists(root, "data.old") || !km_dir_exists(root, "data")) {
        t_note("%s: after open: data/ %d, merge.tmp/ %d, data.old/ %d (exactly one generation expected)", when,
               (int)km_dir_exists(root, "data"), (int)km_dir_exists(root, "merge.tmp"),
               (int)km_dir_exists(root, "data.old"));
        ok = false;
    }
    ok = ok && km_check(db, md, when);
    /* Bounds the directory of the loops without merges in the child. */
    if (ok && cfg->compact_over_files > 0 && t_list_ids(root, "data", NULL, 0) > cfg->compact_over_files) {
        bitgask_error *err = NULL;
        bool merged = false;
        if (bitgask_merge(db, true, &merged, &err) != BITGASK_OK || !merged) {
            t_note("%s: the parent's merge failed: %s", when, err ? bitgask_error_message(err) : "did not run");
            bitgask_error_free(err);
            ok = false;
        }
        ok = ok && km_check(db, md, "after the parent's merge");
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
    km_model md;
    unsigned cycle;
    bool ok = true;
    CHECK(root != NULL && o != NULL && cfg->writers <= KM_MAX_WRITERS && cfg->max_delay_us >= cfg->min_delay_us);
    memset(&md, 0, sizeof md);
    md.cfg = cfg;
    md.nkeys = cfg->writers * cfg->keys_per_writer;
    md.state = (int64_t *)malloc(md.nkeys * sizeof(int64_t));
    if (md.state == NULL) {
        bitgask_options_free(o);
        CHECK(md.state != NULL);
    }
    memset(md.state, 0xff, md.nkeys * sizeof(int64_t)); /* -1: absent */
    for (cycle = 0; ok && cycle < cfg->cycles; cycle++)
        ok = km_cycle(root, cfg, o, &md, cycle, seed, &rng);
    free(md.state);
    bitgask_options_free(o);
    CHECK_MSG(ok, "%s: cycle %u failed, see above (rerun with BITGASK_CRASH_SEED=%llu BITGASK_KEEP_TMP=1)", name,
              cycle - 1, (unsigned long long)seed);
    if (getenv("BITGASK_TEST_VERBOSE") || km_soak())
        t_note("%s: %u cycles in %.1f s: %llu acknowledged operations checked (%llu puts, %llu deletes), %u operations "
               "in flight at the kill (%u of them took effect), %llu merges returned (%llu ran, %u killed in a merge), "
               "before open: merge.tmp/ %u, data.old/ %u, no data/ %u times; %zu data files at the end",
               name, cfg->cycles, (double)(t_mono_ms() - start) / 1000.0, (unsigned long long)md.acks,
               (unsigned long long)md.puts_acked, (unsigned long long)md.dels_acked, md.in_flight_seen,
               md.in_flight_applied, (unsigned long long)md.merges_done, (unsigned long long)md.merges_ran,
               md.killed_in_merge, md.tmp_before_open, md.old_before_open, md.no_data_before_open,
               t_list_ids(root, "data", NULL, 0));
    /* The loop must have exercised something. */
    CHECK_MSG(md.acks >= cfg->cycles, "%s: only %llu acknowledged operations in %u cycles", name,
              (unsigned long long)md.acks, cfg->cycles);
    CHECK_MSG(md.dels_acked > 0, "%s: no delete was acknowledged", name);
    if (cfg->merges) {
        CHECK_MSG(md.merges_ran >= cfg->cycles / 10, "%s: only %llu merges ran in %u cycles", name,
                  (unsigned long long)md.merges_ran, cfg->cycles);
        CHECK_MSG(md.killed_in_merge >= cfg->cycles / 10, "%s: only %u of %u kills came during a merge", name,
                  md.killed_in_merge, cfg->cycles);
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
    cfg.writers = 2;
    cfg.keys_per_writer = 150;
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
    cfg.writers = 2;
    cfg.keys_per_writer = 250;
    cfg.writer_pause_us = 100;
    cfg.min_delay_us = 1000;
    cfg.max_delay_us = 30000;
    cfg.compact_over_files = 40;
    kill9_model_loop("interval sync", &cfg);
}
