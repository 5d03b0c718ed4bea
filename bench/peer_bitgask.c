/*
 * peer_bitgask.c: bitgask behind the bench/peers.h interface, over its public C API.
 *
 * no sync: sync_on_put off (each put is one pwrite into the page cache before it returns).
 * durable: sync_on_put on, the default (fdatasync before the put returns; concurrent writers
 * share one fdatasync). Every other option keeps its default. A batch is one bitgask_write: one
 * append and, when durable, one fdatasync for all its keys. A multi_get is one bitgask_multi_get,
 * each value then copied out of its buffer and the buffer freed (the C API's ownership).
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include <bitgask.h>

#include "peers.h"

struct peer_db {
    bitgask_db *db;
};

#define MULTI_MAX 256 /* the most keys one multi_get takes */

/* bitgask's handle is shared by all threads; a thread has its own reusable batch and
 * multi_get arrays. */
struct peer_thread {
    bitgask_db *db;
    bitgask_batch *batch;
    const uint8_t *keys[MULTI_MAX];
    size_t klens[MULTI_MAX], vlens[MULTI_MAX];
    uint8_t *vals[MULTI_MAX];
    bitgask_status statuses[MULTI_MAX];
};

static void check(const char *what, bitgask_status s, bitgask_error *err) {
    if (s != BITGASK_OK)
        peer_fail("bitgask", what, err ? bitgask_error_message(err) : bitgask_status_str(s));
}

static peer_db *bg_open(const char *dir, bool durable) {
    bitgask_error *err = NULL;
    bitgask_options *o = bitgask_options_new();
    check("options", bitgask_options_set_sync_on_put(o, durable, &err), err);
    check("options", bitgask_options_set_sync_on_delete(o, durable, &err), err);
    peer_db *p = peer_xmalloc(sizeof *p);
    check("open", bitgask_open(dir, o, &p->db, &err), err);
    bitgask_options_free(o);
    return p;
}

static void bg_close(peer_db *p) {
    bitgask_error *err = NULL;
    check("close", bitgask_close(p->db, &err), err);
    free(p);
}

static peer_thread *bg_thread_new(peer_db *p) {
    peer_thread *t = peer_xmalloc(sizeof *t);
    t->db = p->db;
    t->batch = bitgask_batch_new();
    return t;
}

static void bg_thread_free(peer_thread *t) {
    bitgask_batch_free(t->batch);
    free(t);
}

static void bg_put(peer_thread *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    bitgask_error *err = NULL;
    check("put", bitgask_put(t->db, key, klen, val, vlen, &err), err);
}

static size_t bg_get(peer_thread *t, const uint8_t *key, size_t klen, uint8_t *buf, size_t cap) {
    bitgask_error *err = NULL;
    size_t vlen = 0;
    check("get_into", bitgask_get_into(t->db, key, klen, buf, cap, &vlen, &err), err);
    return vlen;
}

/* One bitgask_multi_get of n keys; every key must be found. */
static void bg_multi_get(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, uint8_t *bufs, size_t cap,
                         size_t *lens) {
    bitgask_error *err = NULL;
    if (n > MULTI_MAX)
        peer_fail("bitgask", "multi_get", "more keys than the adapter's arrays hold");
    for (size_t i = 0; i < n; i++) {
        t->keys[i] = keys + i * klen;
        t->klens[i] = klen;
    }
    check("multi_get", bitgask_multi_get(t->db, n, t->keys, t->klens, t->vals, t->vlens, t->statuses, &err), err);
    for (size_t i = 0; i < n; i++) {
        check("multi_get key", t->statuses[i], NULL);
        if (t->vlens[i] > cap)
            peer_fail("bitgask", "multi_get", "a value is larger than the buffer");
        memcpy(bufs + i * cap, t->vals[i], t->vlens[i]);
        lens[i] = t->vlens[i];
        bitgask_free(t->vals[i]);
    }
}

/* One bitgask_write of n puts (the batch's bytes are copied in, as LevelDB's WriteBatch does). */
static void bg_batch(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, const uint8_t *vals, size_t vlen) {
    bitgask_error *err = NULL;
    bitgask_batch_clear(t->batch);
    for (size_t i = 0; i < n; i++)
        check("batch_put", bitgask_batch_put(t->batch, keys + i * klen, klen, vals + i * vlen, vlen, &err), err);
    check("write", bitgask_write(t->db, t->batch, &err), err);
}

/* A forced full merge; returns the live bytes on disk before it (what it rewrites). */
static double bg_compact(peer_db *p) {
    bitgask_error *err = NULL;
    uint64_t dead = 0, total = 0;
    double ratio = 0;
    bool merged = false;
    check("reclaimable", bitgask_reclaimable(p->db, &dead, &total, &ratio, &err), err);
    check("merge", bitgask_merge(p->db, true, &merged, &err), err);
    if (!merged)
        peer_fail("bitgask", "merge", "a forced merge did not run");
    return (double)(total - dead);
}

const struct peer_engine peer_bitgask = {
    .name = "bitgask",
    .modes = "no sync: sync_on_put=false; durable: sync_on_put=true (default, group commit)",
    .open = bg_open,
    .close = bg_close,
    .thread_new = bg_thread_new,
    .thread_free = bg_thread_free,
    .put = bg_put,
    .get = bg_get,
    .batch = bg_batch,
    .multi_get = bg_multi_get,
    .compact = bg_compact,
    .compact_name = "bitgask_merge(force)",
};
