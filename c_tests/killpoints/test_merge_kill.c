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
 * its writer's pending intent, the intent's result.
 *
 * Workloads: the default is reduced (make kill-tests, part of make test); BITGASK_SOAK=1 (make
 * soak) uses more keys and rounds and, for every point, kills at several successive hits.
 */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define KP_WRITERS 3
#define KP_STATIC_BASE 0u
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
    bool soak = getenv("BITGASK_SOAK") != NULL && strcmp(getenv("BITGASK_SOAK"), "0") != 0;
    c->statics = soak ? 600 : 250;
    c->keys_per_writer = soak ? 250 : 120;
    c->rounds = soak ? 3 : 2;
    c->hits = soak ? 4 : 1;
    c->max_merges = soak ? 24 : 8;
    c->verbose = getenv("BITGASK_TEST_VERBOSE") != NULL;
}

/* ---- messages from the child ---- */

enum {
    MSG_INTENT_PUT = 1, /* writer, key index, version */
    MSG_INTENT_DEL = 2, /* writer, key index */
    MSG_ACK = 3,        /* writer: its pending intent returned */
    MSG_TTL_DONE = 4,   /* the main thread's TTL keys are written and expiring */
    MSG_MERGE = 5,      /* the main thread starts merge number `version` */
    MSG_MERGED = 6      /* ... which returned; key = whether it ran */
};

typedef struct kp_msg {
    uint32_t kind, writer, key, version;
} kp_msg;

static size_t kp_writer_key(char *out, size_t cap, uint32_t idx) {
    return t_key(out, cap, KP_WRITER_BASE + idx);
}

/* ---- the child ---- */

typedef struct kp_writer {
    bitgask_db *db;
    int fd;
    uint32_t id, nkeys, version;
    uint64_t rng;
} kp_writer;

static void kp_send(int fd, uint32_t kind, uint32_t writer, uint32_t key, uint32_t version) {
    kp_msg m;
    m.kind = kind;
    m.writer = writer;
    m.key = key;
    m.version = version;
    /* sizeof m < PIPE_BUF: atomic, never interleaved with another thread's message. */
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(13);
}

static void *kp_writer_main(void *p) {
    kp_writer *w = (kp_writer *)p;
    char k[32], v[256];
    for (;;) {
        uint32_t slot = (uint32_t)(t_rand(&w->rng) % w->nkeys), idx = w->id * w->nkeys + slot;
        size_t kl = kp_writer_key(k, sizeof k, idx);
        bitgask_error *err = NULL;
        bitgask_status s;
        if (t_rand(&w->rng) % 4 == 0) {
            kp_send(w->fd, MSG_INTENT_DEL, w->id, idx, 0);
            s = bitgask_delete(w->db, (const uint8_t *)k, kl, &err);
            if (s != BITGASK_OK && s != BITGASK_NOT_FOUND) {
                fprintf(stderr, "child writer %u: delete: %d %s\n", (unsigned)w->id, (int)s, bitgask_error_message(err));
                _exit(30);
            }
        } else {
            uint32_t ver = w->version++;
            size_t vl = t_value(v, sizeof v, KP_WRITER_BASE + idx, ver);
            kp_send(w->fd, MSG_INTENT_PUT, w->id, idx, ver);
            s = bitgask_put(w->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
            if (s != BITGASK_OK) {
                fprintf(stderr, "child writer %u: put: %d %s\n", (unsigned)w->id, (int)s, bitgask_error_message(err));
                _exit(31);
            }
        }
        kp_send(w->fd, MSG_ACK, w->id, idx, 0);
        t_sleep_us(100);
    }
    return NULL;
}

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
    kp_writer w[KP_WRITERS];
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
    for (i = 0; i < KP_WRITERS; i++) {
        w[i].db = db;
        w[i].fd = fd;
        w[i].id = i;
        w[i].nkeys = cfg->keys_per_writer;
        w[i].version = version_base;
        w[i].rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)round << 32) ^ ((uint64_t)i * 0x100000001B3ull) ^ (uint64_t)getpid();
        if (pthread_create(&th[i], NULL, kp_writer_main, &w[i]) != 0)
            _exit(40);
    }
    t_sleep_ms(20);
    for (i = 0; i < KP_TTL_KEYS; i++) {
        uint32_t n = KP_TTL_BASE + round * 1000u + i;
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 2);
        if (bitgask_put_ttl(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, KP_TTL_MS, NULL) != BITGASK_OK)
            _exit(12);
    }
    kp_send(fd, MSG_TTL_DONE, 0, 0, 0);
    t_sleep_ms(KP_TTL_MS + 40); /* past the TTL, and the writers fill more files */
    for (m = 0; m < cfg->max_merges; m++) {
        bool merged = false;
        bitgask_status s;
        kp_send(fd, MSG_MERGE, 0, 0, m);
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
        kp_send(fd, MSG_MERGED, 0, merged ? 1u : 0u, m);
        t_sleep_ms(15);
    }
    _exit(0);
}

/* ---- the parent's model ---- */

typedef struct kp_pending {
    bool active;
    uint32_t kind, key, version;
} kp_pending;

typedef struct kp_model {
    uint32_t nkeys;  /* KP_WRITERS * keys_per_writer */
    int64_t *state;  /* per writer key: -1 absent, else the version it holds */
    kp_pending pending[KP_WRITERS];
    uint64_t acks, intents;
    unsigned merges_started, merges_done, merges_ran;
    bool ttl_done;
    uint32_t ttl_rounds; /* TTL keys of rounds below this were written */
} kp_model;

/* Applies one message; false (after a note) on a protocol violation. */
static bool kp_apply(kp_model *md, const kp_msg *m) {
    kp_pending *p;
    switch (m->kind) {
    case MSG_INTENT_PUT:
    case MSG_INTENT_DEL:
        if (m->writer >= KP_WRITERS || m->key >= md->nkeys || md->pending[m->writer].active) {
            t_note("bad intent message (writer %u, key %u)", (unsigned)m->writer, (unsigned)m->key);
            return false;
        }
        p = &md->pending[m->writer];
        p->active = true;
        p->kind = m->kind;
        p->key = m->key;
        p->version = m->version;
        md->intents++;
        return true;
    case MSG_ACK:
        if (m->writer >= KP_WRITERS || !md->pending[m->writer].active || md->pending[m->writer].key != m->key) {
            t_note("acknowledgement without its intent (writer %u)", (unsigned)m->writer);
            return false;
        }
        p = &md->pending[m->writer];
        md->state[p->key] = p->kind == MSG_INTENT_PUT ? (int64_t)p->version : -1;
        p->active = false;
        md->acks++;
        return true;
    case MSG_TTL_DONE:
        md->ttl_done = true;
        return true;
    case MSG_MERGE:
        md->merges_started++;
        return true;
    case MSG_MERGED:
        md->merges_done++;
        md->merges_ran += m->key;
        return true;
    default:
        t_note("unknown message kind %u", (unsigned)m->kind);
        return false;
    }
}

static int kp_fold_cb(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    /* ctx: [0] statics, [1] writer keys, [2] foreign keys, [3] first foreign key number + 1 */
    uint64_t *c = (uint64_t *)ctx;
    char kb[32];
    unsigned n = 0;
    (void)v;
    (void)vl;
    if (kl < sizeof kb) {
        memcpy(kb, k, kl);
        kb[kl] = '\0';
    }
    if (kl >= sizeof kb || sscanf(kb, "key-%08u", &n) != 1) {
        c[2]++;
        return 0;
    }
    if (n < c[4])
        c[0]++;
    else if (n >= KP_WRITER_BASE && n < KP_WRITER_BASE + c[5])
        c[1]++;
    else if (c[2]++ == 0)
        c[3] = (uint64_t)n + 1;
    return 0;
}

/* The database matches the model: statics intact, every writer key in an allowed state, no TTL
 * key, nothing foreign. With resolve, each key's observed state becomes the model's. */
static bool kp_check(bitgask_db *db, kp_model *md, const kp_cfg *cfg, bool resolve, const char *when) {
    char k[32], v[256];
    uint32_t i, r;
    uint64_t present = 0, counts[6];
    bitgask_stats st;
    bitgask_error *err = NULL;
    for (i = 0; i < cfg->statics; i++) {
        size_t kl = t_key(k, sizeof k, KP_STATIC_BASE + i), vl = t_value(v, sizeof v, KP_STATIC_BASE + i, 0);
        if (!t_has(db, k, kl, v, vl)) {
            t_note("%s: static key %u lost or wrong", when, (unsigned)i);
            return false;
        }
    }
    for (i = 0; i < md->nkeys; i++) {
        const kp_pending *p = &md->pending[i / cfg->keys_per_writer];
        bool in_flight = p->active && p->key == i;
        int64_t acked = md->state[i];
        uint8_t *got = NULL;
        size_t gl = 0, kl = kp_writer_key(k, sizeof k, i);
        bitgask_status s = bitgask_get(db, (const uint8_t *)k, kl, &got, &gl, &err);
        int64_t observed = -2;
        if (s == BITGASK_NOT_FOUND) {
            if (acked < 0 || (in_flight && p->kind == MSG_INTENT_DEL))
                observed = -1;
        } else if (s == BITGASK_OK) {
            size_t vl;
            if (acked >= 0) {
                vl = t_value(v, sizeof v, KP_WRITER_BASE + i, (uint32_t)acked);
                if (gl == vl && memcmp(got, v, vl) == 0)
                    observed = acked;
            }
            if (observed == -2 && in_flight && p->kind == MSG_INTENT_PUT) {
                vl = t_value(v, sizeof v, KP_WRITER_BASE + i, p->version);
                if (gl == vl && memcmp(got, v, vl) == 0)
                    observed = p->version;
            }
            bitgask_free(got);
        } else {
            t_note("%s: get writer key %u: status %d %s", when, (unsigned)i, (int)s, err ? bitgask_error_message(err) : "");
            bitgask_error_free(err);
            return false;
        }
        if (observed == -2) {
            t_note("%s: writer key %u (writer %u) is %s; acknowledged state %s%lld, in flight: %s %u", when, (unsigned)i,
                   (unsigned)(i / cfg->keys_per_writer), s == BITGASK_OK ? "present with another value" : "absent",
                   acked < 0 ? "deleted" : "version ", (long long)(acked < 0 ? 0 : acked),
                   in_flight ? (p->kind == MSG_INTENT_PUT ? "put version" : "delete") : "nothing",
                   in_flight ? (unsigned)p->version : 0u);
            return false;
        }
        if (observed >= 0)
            present++;
        if (resolve)
            md->state[i] = observed;
    }
    if (resolve)
        for (i = 0; i < KP_WRITERS; i++)
            md->pending[i].active = false;
    /* Expired keys never come back, nor their older plain values. */
    for (r = 0; r < md->ttl_rounds; r++)
        for (i = 0; i < KP_TTL_KEYS; i++) {
            size_t kl = t_key(k, sizeof k, KP_TTL_BASE + r * 1000u + i);
            if (!t_absent(db, k, kl)) {
                t_note("%s: expired key %s (round %u) is back", when, k, (unsigned)r);
                return false;
            }
        }
    if (!t_stats(db, &st))
        return false;
    if (st.keys != cfg->statics + present) {
        t_note("%s: stats.keys %llu, expected %llu", when, (unsigned long long)st.keys,
               (unsigned long long)(cfg->statics + present));
        return false;
    }
    memset(counts, 0, sizeof counts);
    counts[4] = cfg->statics;
    counts[5] = md->nkeys;
    if (bitgask_fold(db, NULL, 0, kp_fold_cb, counts, &err) != BITGASK_OK) {
        t_note("%s: fold failed: %s", when, bitgask_error_message(err));
        bitgask_error_free(err);
        return false;
    }
    if (counts[0] != cfg->statics || counts[1] != present || counts[2] != 0) {
        t_note("%s: fold saw %llu static, %llu writer and %llu foreign keys (first foreign number %lld); expected %u, "
               "%llu, 0",
               when, (unsigned long long)counts[0], (unsigned long long)counts[1], (unsigned long long)counts[2],
               (long long)counts[3] - 1, (unsigned)cfg->statics, (unsigned long long)present);
        return false;
    }
    return true;
}

/* ---- directory states ---- */

typedef struct kp_point {
    const char *name;
    /* What the root holds when the process dies there: data/, merge.tmp/, data.old/. */
    bool data, tmp, old;
} kp_point;

static const kp_point kp_points[] = {
    {"merge-tmp-created", true, true, false},   {"merge-output-synced", true, true, false},
    {"merge-hint-written", true, true, false},  {"merge-done-written", true, true, false},
    {"merge-links-made", true, true, false},    {"merge-data-renamed", false, true, true},
    {"merge-tmp-renamed", true, false, true},   {"merge-old-removed", true, false, false},
};
#define KP_NPOINTS (sizeof kp_points / sizeof kp_points[0])

static const kp_point *kp_find_point(const char *name) {
    size_t i;
    for (i = 0; i < KP_NPOINTS; i++)
        if (strcmp(kp_points[i].name, name) == 0)
            return &kp_points[i];
    return NULL;
}

static bool kp_dir_exists(const char *root, const char *name) {
    char p[T_PATH_MAX];
    DIR *d = opendir(t_pathf(p, "%s/%s", root, name));
    if (d == NULL)
        return false;
    closedir(d);
    return true;
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

static bool kp_in_subprocess(const char *root, kp_model *md, const kp_cfg *cfg, kp_kind kind, const char *when);

static const char *kp_kind_name(kp_kind kind) {
    return kind == KP_FULL ? "full" : "selective";
}

static bool kp_preload(const char *root, const kp_cfg *cfg, kp_kind kind) {
    bitgask_options *o = kp_opts(kind);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    char k[32], v[256];
    uint32_t i;
    bool ok = db != NULL;
    for (i = 0; ok && i < cfg->statics; i++) {
        size_t kl = t_key(k, sizeof k, KP_STATIC_BASE + i), vl = t_value(v, sizeof v, KP_STATIC_BASE + i, 0);
        ok = bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) == BITGASK_OK;
    }
    ok = (db == NULL || t_close(db)) && ok;
    bitgask_options_free(o);
    return ok;
}

/* Reads every message until the child's end of the pipe is closed. */
static bool kp_drain(int fd, kp_model *md) {
    static unsigned char buf[65536];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        size_t used = 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            t_note("read from the child: %s", strerror(errno));
            return false;
        }
        if (r == 0)
            break;
        have += (size_t)r;
        while (have - used >= sizeof(kp_msg)) {
            kp_msg m;
            memcpy(&m, buf + used, sizeof m);
            if (!kp_apply(md, &m))
                return false;
            used += sizeof m;
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    if (have != 0) {
        t_note("%zu stray bytes at the end of the pipe", have);
        return false;
    }
    return true;
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
    md->ttl_done = false;
    md->merges_started = md->merges_done = md->merges_ran = 0;
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
    ok = kp_drain(fds[0], md);
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
                   kp_kind_name(kind), (unsigned)round, md->merges_done, md->merges_ran);
        else
            t_note("%s (%s merge, round %u): the child %s %d instead of being killed at the point", spec,
                   kp_kind_name(kind), (unsigned)round, WIFEXITED(status) ? "exited with" : "died of signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return false;
    }
    if (!md->ttl_done || md->merges_started == 0) {
        t_note("%s: the child was killed before it merged (TTL keys %s, %u merges started)", spec,
               md->ttl_done ? "done" : "not done", md->merges_started);
        return false;
    }
    md->ttl_rounds = round + 1;
    snprintf(when, sizeof when, "%s, %s merge, round %u, merge #%u", spec, kp_kind_name(kind), (unsigned)round,
             md->merges_started);

    /* The directories are where the point says the process died. */
    data = kp_dir_exists(root, "data");
    tmp = kp_dir_exists(root, "merge.tmp");
    old = kp_dir_exists(root, "data.old");
    if (data != pt->data || tmp != pt->tmp || old != pt->old) {
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
    if (kp_dir_exists(root, "merge.tmp") || kp_dir_exists(root, "data.old") || !kp_dir_exists(root, "data")) {
        t_note("%s: after open: data/ %d, merge.tmp/ %d, data.old/ %d (exactly one generation expected)", when,
               (int)kp_dir_exists(root, "data"), (int)kp_dir_exists(root, "merge.tmp"),
               (int)kp_dir_exists(root, "data.old"));
        ok = false;
    }
    kp_data_dir_leftovers(root, when);
    ok = ok && kp_check(db, md, cfg, true, when);
    ok = t_close(db) && ok;
    bitgask_options_free(o);
    /* A second merge after recovery works and keeps the data. It runs in a subprocess: a merge
     * in this process would fix the library's kill-point setting (read once, at the first point
     * reached) to "none" for every later child of this process. */
    return ok && kp_in_subprocess(root, md, cfg, kind, when);
}

/* In a forked process: merge, check, close, reopen, check. */
static bool kp_merge_and_check(const char *root, kp_model *md, const kp_cfg *cfg, kp_kind kind, const char *when) {
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
    ok = ok && kp_check(db, md, cfg, false, "after the merge that follows recovery");
    if (ok && (bitgask_reclaimable(db, &dead, &total, &ratio, NULL) != BITGASK_OK || dead != 0)) {
        t_note("%s: %llu dead bytes after a merge on a quiet database", when, (unsigned long long)dead);
        ok = false;
    }
    ok = (db == NULL || t_close(db)) && ok;
    if (ok) {
        db = t_open(root, o);
        ok = db != NULL && kp_check(db, md, cfg, false, "reopened after the merge that follows recovery");
        ok = (db == NULL || t_close(db)) && ok;
    }
    if (ok && (kp_dir_exists(root, "merge.tmp") || kp_dir_exists(root, "data.old"))) {
        t_note("%s: merge.tmp/ or data.old/ left after the second merge", when);
        ok = false;
    }
    bitgask_options_free(o);
    return ok;
}

static bool kp_in_subprocess(const char *root, kp_model *md, const kp_cfg *cfg, kp_kind kind, const char *when) {
    int status = 0;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        t_note("fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        bool ok = kp_merge_and_check(root, md, cfg, kind, when);
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
        kp_model md;
        char spec[96];
        uint64_t acks = 0;
        CHECK(root != NULL);
        memset(&md, 0, sizeof md);
        md.nkeys = KP_WRITERS * cfg.keys_per_writer;
        md.state = (int64_t *)malloc(md.nkeys * sizeof(int64_t));
        CHECK(md.state != NULL);
        memset(md.state, 0xff, md.nkeys * sizeof(int64_t)); /* -1: absent */
        snprintf(spec, sizeof spec, "%s:%u", name, h);
        if (!kp_preload(root, &cfg, kind)) {
            free(md.state);
            CHECK_MSG(false, "preload failed");
        }
        for (r = 0; r < cfg.rounds; r++) {
            bool ok = kp_cycle(root, spec, pt, kind, &cfg, &md, r, (r + 1) * 1000000u);
            acks += md.acks;
            md.acks = 0;
            if (!ok) {
                free(md.state);
                CHECK_MSG(false, "kill at %s (%s merge), round %u: see above (directory %s)", spec, kp_kind_name(kind), r,
                          root);
            }
        }
        if (cfg.verbose)
            t_note("%s (%s): %u rounds, %llu acknowledged writes", spec, kp_kind_name(kind), cfg.rounds,
                   (unsigned long long)acks);
        free(md.state);
        CHECK_MSG(acks > 0, "%s: no write was acknowledged while merging", spec);
    }
    if (cfg.verbose)
        t_note("%s (%s) took %llu ms", name, kp_kind_name(kind), (unsigned long long)(t_mono_ms() - start));
}

/* Full merges (forced): every point, and later hits of the points hit once per output. */
TEST(merge_kill_tmp_created) { kp_sweep("merge-tmp-created", 1, KP_FULL); }
TEST(merge_kill_output_synced) { kp_sweep("merge-output-synced", 1, KP_FULL); }
TEST(merge_kill_output_synced_2) { kp_sweep("merge-output-synced", 2, KP_FULL); }
TEST(merge_kill_output_synced_4) { kp_sweep("merge-output-synced", 4, KP_FULL); }
TEST(merge_kill_hint_written) { kp_sweep("merge-hint-written", 1, KP_FULL); }
TEST(merge_kill_hint_written_3) { kp_sweep("merge-hint-written", 3, KP_FULL); }
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
    char path[T_PATH_MAX];
    const char *self = __FILE__, *slash = strrchr(self, '/');
    unsigned char *src;
    size_t len = 0, found = 0;
    const char *p, *end;
    if (slash == NULL)
        t_pathf(path, "../../src/killpoint.rs");
    else
        t_pathf(path, "%.*s/../../src/killpoint.rs", (int)(slash - self), self);
    if (!t_file_exists(path)) {
        t_note("%s not found: coverage of the point list not checked", path);
        return;
    }
    src = t_read_file(path, &len);
    CHECK(src != NULL);
    p = strstr((const char *)src, "MERGE_POINTS");
    end = p ? strstr(p, "];") : NULL;
    if (p == NULL || end == NULL) {
        free(src);
        CHECK_MSG(false, "no MERGE_POINTS list in %s", path);
    }
    p = strchr(p, '[');
    while (p != NULL && p < end) {
        const char *q = strchr(p, '"'), *qe;
        char name[96];
        if (q == NULL || q > end)
            break;
        qe = strchr(q + 1, '"');
        if (qe == NULL || qe > end || (size_t)(qe - q - 1) >= sizeof name)
            break;
        memcpy(name, q + 1, (size_t)(qe - q - 1));
        name[qe - q - 1] = '\0';
        found++;
        if (kp_find_point(name) == NULL) {
            free(src);
            CHECK_MSG(false, "kill point %s (src/killpoint.rs) has no sweep in %s", name, __FILE__);
        }
        p = qe + 1;
    }
    free(src);
    CHECK_MSG(found == KP_NPOINTS, "src/killpoint.rs lists %zu merge points, the sweep knows %zu", found,
              (size_t)KP_NPOINTS);
}
