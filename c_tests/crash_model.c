/* The writers, model and checker of the kill -9 harnesses (crash_model.h). */
#include "crash_model.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>

void cm_send(int fd, uint32_t kind, uint32_t writer, uint32_t key, uint32_t version) {
    cm_msg m;
    m.kind = kind;
    m.writer = writer;
    m.key = key;
    m.version = version;
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(13);
}

static size_t cm_key(char *out, size_t cap, const cm_space *s, uint32_t i) {
    return t_key(out, cap, s->key_base + i);
}

static size_t cm_value(char *out, size_t cap, const cm_space *s, uint32_t i, uint32_t version) {
    return t_value(out, cap, s->key_base + i, version);
}

/* ---- the child's writers ---- */

static void *cm_writer_main(void *p) {
    cm_writer *w = (cm_writer *)p;
    char k[32], v[256];
    for (;;) {
        uint32_t idx = w->id * w->space->keys_per_writer + (uint32_t)(t_rand(&w->rng) % w->space->keys_per_writer);
        size_t kl = cm_key(k, sizeof k, w->space, idx);
        bitgask_error *err = NULL;
        bitgask_status s;
        if (t_rand(&w->rng) % w->delete_one_in == 0) {
            cm_send(w->fd, CM_DEL, w->id, idx, 0);
            s = bitgask_delete(w->db, (const uint8_t *)k, kl, &err);
            if (s != BITGASK_OK && s != BITGASK_NOT_FOUND) {
                fprintf(stderr, "child writer %u: delete: %s: %s\n", (unsigned)w->id, bitgask_status_str(s),
                        bitgask_error_message(err));
                _exit(30);
            }
        } else {
            uint32_t ver = w->version++;
            size_t vl = cm_value(v, sizeof v, w->space, idx, ver);
            cm_send(w->fd, CM_PUT, w->id, idx, ver);
            s = bitgask_put(w->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
            if (s != BITGASK_OK) {
                fprintf(stderr, "child writer %u: put: %s: %s\n", (unsigned)w->id, bitgask_status_str(s),
                        bitgask_error_message(err));
                _exit(31);
            }
        }
        cm_send(w->fd, CM_ACK, w->id, idx, 0);
        if (w->pause_us > 0)
            t_sleep_us(w->pause_us);
    }
    return NULL;
}

bool cm_start_writers(cm_writer *w, pthread_t *th, bitgask_db *db, int fd, const cm_space *space,
                      uint32_t version_base, unsigned delete_one_in, unsigned pause_us, uint64_t seed) {
    uint32_t i;
    for (i = 0; i < space->writers; i++) {
        w[i].db = db;
        w[i].space = space;
        w[i].fd = fd;
        w[i].id = i;
        w[i].version = version_base;
        w[i].delete_one_in = delete_one_in;
        w[i].pause_us = pause_us;
        w[i].rng = seed ^ ((uint64_t)(i + 1u) * 0x100000001B3ull);
        if (pthread_create(&th[i], NULL, cm_writer_main, &w[i]) != 0)
            return false;
    }
    return true;
}

/* ---- the parent's model ---- */

bool cm_model_init(cm_model *md, const cm_space *space) {
    memset(md, 0, sizeof *md);
    md->space = *space;
    md->nkeys = space->writers * space->keys_per_writer;
    if (space->writers > CM_MAX_WRITERS || space->key_base < space->statics) {
        t_note("crash model: %u writers (at most %d), key base %u below %u statics", (unsigned)space->writers,
               CM_MAX_WRITERS, (unsigned)space->key_base, (unsigned)space->statics);
        return false;
    }
    md->state = (int64_t *)malloc(md->nkeys * sizeof(int64_t));
    if (md->state == NULL) {
        t_note("crash model: out of memory");
        return false;
    }
    memset(md->state, 0xff, md->nkeys * sizeof(int64_t)); /* -1: absent */
    return true;
}

void cm_model_free(cm_model *md) {
    free(md->state);
    md->state = NULL;
}

void cm_new_child(cm_model *md) {
    md->ready = md->merging = false;
    md->marks = md->merges_started = md->merges_done = md->merges_ran = 0;
    md->ncarry = 0;
}

static bool cm_apply(cm_model *md, const cm_msg *m) {
    cm_pending *p;
    switch (m->kind) {
    case CM_READY:
        md->ready = true;
        return true;
    case CM_PUT:
    case CM_DEL:
        if (m->writer >= md->space.writers || m->key >= md->nkeys || m->key / md->space.keys_per_writer != m->writer ||
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
    case CM_ACK:
        if (m->writer >= md->space.writers || !md->pending[m->writer].active || md->pending[m->writer].key != m->key) {
            t_note("acknowledgement without its intent (writer %u, key %u)", (unsigned)m->writer, (unsigned)m->key);
            return false;
        }
        p = &md->pending[m->writer];
        md->state[p->key] = p->kind == CM_PUT ? (int64_t)p->version : -1;
        if (p->kind == CM_PUT)
            md->puts_acked++;
        else
            md->dels_acked++;
        md->acks++;
        p->active = false;
        return true;
    case CM_MERGE:
        md->merging = true;
        md->merges_started++;
        return true;
    case CM_MERGED:
        md->merging = false;
        md->merges_done++;
        md->merges_ran += m->key;
        return true;
    case CM_MARK:
        md->marks++;
        return true;
    default:
        t_note("unknown message kind %u", (unsigned)m->kind);
        return false;
    }
}

bool cm_read_some(int fd, cm_model *md, bool *eof) {
    unsigned char buf[4096 + sizeof(cm_msg)];
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
    while (have - used >= sizeof(cm_msg)) {
        cm_msg m;
        memcpy(&m, buf + used, sizeof m);
        if (!cm_apply(md, &m))
            return false;
        used += sizeof m;
    }
    md->ncarry = have - used;
    memcpy(md->carry, buf + used, md->ncarry);
    return true;
}

bool cm_pump(int fd, cm_model *md, uint64_t deadline_us, bool until_ready, bool *eof) {
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
        if (r == 1 && !cm_read_some(fd, md, eof))
            return false;
    }
    return true;
}

bool cm_drain(int fd, cm_model *md) {
    bool eof = false;
    while (!eof)
        if (!cm_read_some(fd, md, &eof))
            return false;
    return true;
}

/* ---- the checker ---- */

/* The state key i is observed in (-1 absent, else a version), or -2 when that is neither its
 * acknowledged state nor the result of its operation in flight. */
static int64_t cm_observe(bitgask_db *db, const cm_model *md, uint32_t i, const cm_pending *p, bool in_flight,
                          bitgask_status *status) {
    char k[32], v[256];
    int64_t acked = md->state[i], observed = -2;
    uint8_t *got = NULL;
    size_t gl = 0, vl, kl = cm_key(k, sizeof k, &md->space, i);
    *status = bitgask_get(db, (const uint8_t *)k, kl, &got, &gl, NULL);
    if (*status == BITGASK_NOT_FOUND) {
        if (acked < 0 || (in_flight && p->kind == CM_DEL))
            observed = -1;
    } else if (*status == BITGASK_OK) {
        if (acked >= 0) {
            vl = cm_value(v, sizeof v, &md->space, i, (uint32_t)acked);
            if (gl == vl && memcmp(got, v, vl) == 0)
                observed = acked;
        }
        if (observed == -2 && in_flight && p->kind == CM_PUT) {
            vl = cm_value(v, sizeof v, &md->space, i, p->version);
            if (gl == vl && memcmp(got, v, vl) == 0)
                observed = p->version;
        }
        bitgask_free(got);
    }
    return observed;
}

typedef struct cm_fold {
    const cm_model *md;
    uint64_t count, bad;
    char first_bad[160];
} cm_fold;

/* Every key the database holds is a static key with its value, or a model key holding the
 * model's value. */
static int cm_fold_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    cm_fold *f = (cm_fold *)ctx;
    const cm_space *s = &f->md->space;
    char want[256];
    uint32_t n = 0;
    bool ok = t_key_number(key, klen, &n);
    f->count++;
    if (ok && n < s->statics) {
        ok = t_value(want, sizeof want, n, 0) == vlen && memcmp(want, val, vlen) == 0;
    } else if (ok) {
        int64_t st = n >= s->key_base && n - s->key_base < f->md->nkeys ? f->md->state[n - s->key_base] : -1;
        ok = st >= 0 && t_value(want, sizeof want, n, (uint32_t)st) == vlen && memcmp(want, val, vlen) == 0;
    }
    if (!ok && f->bad++ == 0)
        snprintf(f->first_bad, sizeof f->first_bad, "%.*s = %.*s", (int)(klen < 40 ? klen : 40), (const char *)key,
                 (int)(vlen < 60 ? vlen : 60), (const char *)val);
    return 0;
}

bool cm_check(bitgask_db *db, cm_model *md, bool settle, const char *when) {
    char k[32], v[256];
    uint32_t i;
    uint64_t present = 0;
    bitgask_stats st;
    bitgask_error *err = NULL;
    bitgask_status s;
    cm_fold f;
    for (i = 0; i < md->space.statics; i++) {
        size_t kl = t_key(k, sizeof k, i), vl = t_value(v, sizeof v, i, 0);
        if (!t_has(db, k, kl, v, vl)) {
            t_note("%s: static key %u lost or wrong", when, (unsigned)i);
            return false;
        }
    }
    for (i = 0; i < md->nkeys; i++) {
        const cm_pending *p = &md->pending[i / md->space.keys_per_writer];
        bool in_flight = p->active && p->key == i;
        int64_t acked = md->state[i], observed = cm_observe(db, md, i, p, in_flight, &s);
        if (s != BITGASK_OK && s != BITGASK_NOT_FOUND) {
            t_note("%s: get of model key %u: %d (%s)", when, (unsigned)i, (int)s, bitgask_status_str(s));
            return false;
        }
        if (observed == -2) {
            cm_key(k, sizeof k, &md->space, i);
            t_note("%s: key %s (writer %u) is %s; acknowledged state: %s %lld; in flight: %s %u", when, k,
                   (unsigned)(i / md->space.keys_per_writer), s == BITGASK_OK ? "present with another value" : "absent",
                   acked < 0 ? "deleted" : "version", (long long)(acked < 0 ? 0 : acked),
                   in_flight ? (p->kind == CM_PUT ? "put of version" : "delete") : "nothing",
                   in_flight ? (unsigned)p->version : 0u);
            return false;
        }
        if (in_flight && settle) {
            md->in_flight_seen++;
            md->in_flight_applied += observed != acked;
        }
        if (settle)
            md->state[i] = observed;
        if (observed >= 0)
            present++;
    }
    if (settle)
        for (i = 0; i < md->space.writers; i++)
            md->pending[i].active = false;
    if (!t_stats(db, &st))
        return false;
    if (st.keys != md->space.statics + present) {
        t_note("%s: stats.keys %llu, the model has %llu keys", when, (unsigned long long)st.keys,
               (unsigned long long)(md->space.statics + present));
        return false;
    }
    memset(&f, 0, sizeof f);
    f.md = md;
    s = bitgask_fold(db, NULL, 0, cm_fold_cb, &f, &err);
    if (s != BITGASK_OK) {
        t_note("%s: fold: %s: %s", when, bitgask_status_str(s), bitgask_error_message(err));
        bitgask_error_free(err);
        return false;
    }
    if (f.bad != 0 || f.count != md->space.statics + present) {
        t_note("%s: fold saw %llu keys (%llu not in the model or with another value, first: %s); the model has %llu",
               when, (unsigned long long)f.count, (unsigned long long)f.bad, f.bad ? f.first_bad : "-",
               (unsigned long long)(md->space.statics + present));
        return false;
    }
    return true;
}

bool cm_dir_exists(const char *root, const char *name) {
    char p[T_PATH_MAX];
    DIR *d = opendir(t_pathf(p, "%s/%s", root, name));
    if (d == NULL)
        return false;
    closedir(d);
    return true;
}
