/*
 * Write batches killed at the rotation points (test_rotation_kill.c has the single puts): a
 * child opens the database with 8 KiB data files and BITGASK_KILL_POINT=<point>:<N> set; two
 * threads each write batches that put every one of their 20 keys with the batch's version (a
 * batch of about 3 KiB, so a rotation every two or three batches; a batch never spans two
 * files) and announce each batch before bitgask_write and once it returned. The library SIGKILLs the child
 * at the point; the parent checks the point was reached, opens the database and checks that
 * each thread's keys all hold one version: the last acknowledged batch's or the one in flight
 * (never a mix), and no other key exists; then validates, and runs the next round on the same
 * directory: 3 rounds, 12 with BITGASK_SOAK=1 (make soak).
 */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define RB_WRITERS 2u
#define RB_KEYS 20u
#define RB_KEY_BASE 200000u
#define RB_FILE (8u << 10)
#define RB_GIVE_UP_MS 10000u

enum { RB_INTENT = 1, RB_ACK = 2 };

typedef struct rb_msg {
    uint32_t kind, writer, version;
} rb_msg;

/* Per writer: the version its keys hold after the acknowledged batches (0: none yet) and the
 * batch in flight (0: none). */
typedef struct rb_model {
    uint32_t acked[RB_WRITERS], flight[RB_WRITERS];
    uint64_t batches; /* acknowledged, all rounds */
} rb_model;

static bitgask_options *rb_opts(bool sync) {
    bitgask_options *o = sync ? t_opts(RB_FILE) : t_opts_nosync(RB_FILE);
    if (o != NULL && bitgask_options_set_merge_interval_ms(o, 0, NULL) != BITGASK_OK) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

/* ---- the child ---- */

typedef struct rb_writer {
    bitgask_db *db;
    int fd;
    uint32_t id, version;
} rb_writer;

static void rb_send(int fd, uint32_t kind, uint32_t writer, uint32_t version) {
    rb_msg m;
    m.kind = kind;
    m.writer = writer;
    m.version = version;
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(13);
}

static uint32_t rb_key_number(uint32_t writer, uint32_t i) {
    return RB_KEY_BASE + writer * RB_KEYS + i;
}

static void *rb_writer_main(void *p) {
    rb_writer *w = (rb_writer *)p;
    bitgask_batch *b = bitgask_batch_new();
    char k[32], v[256];
    uint32_t i;
    for (;;) {
        bitgask_error *err = NULL;
        bitgask_status s;
        bitgask_batch_clear(b);
        for (i = 0; i < RB_KEYS; i++) {
            uint32_t n = rb_key_number(w->id, i);
            size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, w->version);
            if (bitgask_batch_put(b, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) != BITGASK_OK)
                _exit(32);
        }
        rb_send(w->fd, RB_INTENT, w->id, w->version);
        s = bitgask_write(w->db, b, &err);
        if (s != BITGASK_OK) {
            fprintf(stderr, "child writer %u: write: %s: %s\n", (unsigned)w->id, bitgask_status_str(s),
                    bitgask_error_message(err));
            _exit(31);
        }
        rb_send(w->fd, RB_ACK, w->id, w->version);
        w->version++;
    }
    return NULL;
}

/* Never returns: 10 options, 11 open, 40 thread; 0 when the point was not reached. */
__attribute__((noreturn)) static void rb_child(const char *root, int fd, const char *spec, bool sync,
                                               uint32_t version_base);
static void rb_child(const char *root, int fd, const char *spec, bool sync, uint32_t version_base) {
    bitgask_options *o;
    bitgask_db *db = NULL;
    rb_writer w[RB_WRITERS];
    pthread_t th[RB_WRITERS];
    uint32_t i;
    alarm(RB_GIVE_UP_MS / 1000u + 20u);
    if (setenv("BITGASK_KILL_POINT", spec, 1) != 0 || (o = rb_opts(sync)) == NULL)
        _exit(10);
    if (bitgask_open(root, o, &db, NULL) != BITGASK_OK)
        _exit(11);
    for (i = 0; i < RB_WRITERS; i++) {
        w[i].db = db;
        w[i].fd = fd;
        w[i].id = i;
        w[i].version = version_base;
        if (pthread_create(&th[i], NULL, rb_writer_main, &w[i]) != 0)
            _exit(40);
    }
    t_sleep_ms(RB_GIVE_UP_MS);
    _exit(0);
}

/* ---- the parent ---- */

/* Applies the child's messages until the pipe's end. */
static bool rb_drain(int fd, rb_model *md) {
    rb_msg m;
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, (char *)&m + have, sizeof m - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            t_note("read from the child: %s", strerror(errno));
            return false;
        }
        if (r == 0)
            return have == 0;
        have += (size_t)r;
        if (have < sizeof m)
            continue;
        have = 0;
        if (m.writer >= RB_WRITERS) {
            t_note("bad message from the child");
            return false;
        }
        if (m.kind == RB_INTENT) {
            md->flight[m.writer] = m.version;
        } else {
            md->acked[m.writer] = m.version;
            md->flight[m.writer] = 0;
            md->batches++;
        }
    }
}

/* The version key n holds (0: absent), or UINT32_MAX when its value is neither candidate's (or
 * the read failed). */
static uint32_t rb_observe(bitgask_db *db, uint32_t n, uint32_t a, uint32_t f) {
    char k[32], v[256];
    size_t kl = t_key(k, sizeof k, n), vl, gl = 0;
    uint8_t *got = NULL;
    uint32_t cand[2], i, found = UINT32_MAX;
    bitgask_status s = bitgask_get(db, (const uint8_t *)k, kl, &got, &gl, NULL);
    if (s == BITGASK_NOT_FOUND)
        return 0;
    if (s != BITGASK_OK)
        return UINT32_MAX;
    cand[0] = a;
    cand[1] = f;
    for (i = 0; i < 2 && found == UINT32_MAX; i++) {
        if (cand[i] == 0)
            continue;
        vl = t_value(v, sizeof v, n, cand[i]);
        if (gl == vl && memcmp(got, v, vl) == 0)
            found = cand[i];
    }
    bitgask_free(got);
    return found;
}

/* Each writer's keys hold one version: the acknowledged one or the one in flight. That becomes
 * the model's; the key count is checked by stats. */
static bool rb_check(bitgask_db *db, rb_model *md, const char *when) {
    bitgask_stats st;
    uint64_t present = 0;
    uint32_t w, i;
    for (w = 0; w < RB_WRITERS; w++) {
        uint32_t first = rb_observe(db, rb_key_number(w, 0), md->acked[w], md->flight[w]);
        if (first != md->acked[w] && first != md->flight[w]) {
            t_note("%s: writer %u's key 0 holds version %d; acknowledged %u, in flight %u", when, (unsigned)w,
                   first == UINT32_MAX ? -1 : (int)first, (unsigned)md->acked[w], (unsigned)md->flight[w]);
            return false;
        }
        for (i = 1; i < RB_KEYS; i++) {
            uint32_t got = rb_observe(db, rb_key_number(w, i), md->acked[w], md->flight[w]);
            if (got != first) {
                t_note("%s: writer %u's batch is split: key 0 at version %u, key %u at %d", when, (unsigned)w,
                       (unsigned)first, (unsigned)i, got == UINT32_MAX ? -1 : (int)got);
                return false;
            }
        }
        md->acked[w] = first;
        md->flight[w] = 0;
        present += first != 0 ? RB_KEYS : 0;
    }
    if (!t_stats(db, &st))
        return false;
    if (st.keys != present) {
        t_note("%s: stats.keys %llu, the batches account for %llu", when, (unsigned long long)st.keys,
               (unsigned long long)present);
        return false;
    }
    return true;
}

/* One crash + recovery cycle. */
static bool rb_cycle(const char *root, const char *spec, bool sync, rb_model *md, unsigned round) {
    int fds[2], status = 0;
    pid_t pid;
    bitgask_options *o;
    bitgask_db *db;
    bool ok;
    char when[160];
    snprintf(when, sizeof when, "batches, %s (%s), round %u", spec, sync ? "sync" : "no sync", round);
    if (pipe(fds) != 0)
        return false;
    fflush(NULL);
    pid = t_fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        rb_child(root, fds[1], spec, sync, (round + 1u) * 1000000u);
    }
    close(fds[1]);
    ok = rb_drain(fds[0], md);
    close(fds[0]);
    if (!ok)
        kill(pid, SIGKILL);
    if (!t_wait(pid, &status) || !ok)
        return false;
    if (!t_killed_at_point(status, when))
        return false;
    if (!t_validate_clean(root, when) || (o = rb_opts(sync)) == NULL)
        return false;
    db = t_open(root, o);
    ok = db != NULL && rb_check(db, md, when);
    ok = (db == NULL || t_close(db)) && ok;
    bitgask_options_free(o);
    return ok && t_validate_clean(root, when);
}

static void rb_sweep(const char *spec, bool sync) {
    const char *root = t_tmpdir();
    rb_model md;
    unsigned r, rounds = t_soak() ? 12 : 3;
    unsetenv("BITGASK_KILL_POINT");
    CHECK(root != NULL);
    memset(&md, 0, sizeof md);
    for (r = 0; r < rounds; r++)
        CHECK_MSG(rb_cycle(root, spec, sync, &md, r), "batches killed at %s, round %u: see above (directory %s)",
                  spec, r, root);
    CHECK_MSG(md.batches > 0, "%s: no batch was acknowledged before the kills", spec);
}

TEST(rotation_batch_kill_trimmed) { rb_sweep("rotation-trimmed:2", true); }
TEST(rotation_batch_kill_created) { rb_sweep("rotation-created:2", true); }
TEST(rotation_batch_kill_file_synced) { rb_sweep("rotation-file-synced:2", true); }
TEST(rotation_batch_kill_dir_synced) { rb_sweep("rotation-dir-synced:2", true); }
TEST(rotation_batch_kill_nosync_created) { rb_sweep("rotation-created:3", false); }
TEST(rotation_batch_kill_nosync_dir_synced) { rb_sweep("rotation-dir-synced:3", false); }
