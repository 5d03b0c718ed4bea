/*
 * peer_leveldb.c: LevelDB behind the bench/peers.h interface, over its C API (leveldb/c.h).
 *
 * Configured as its documentation suggests for point reads: a 10-bit bloom filter and a 64 MiB
 * block cache; everything else default (4 MiB write buffer, snappy compression).
 * no sync: WriteOptions.sync=false (the write is in the log, in the page cache, on return).
 * durable: WriteOptions.sync=true (the log is fdatasynced; concurrent writers share it).
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "peers.h"

struct peer_db {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *bloom;
    leveldb_writeoptions_t *wo;
    leveldb_readoptions_t *ro;
};

struct peer_thread {
    peer_db *p;
    leveldb_writebatch_t *wb;
};

static void check(const char *what, char *err) {
    if (err)
        peer_fail("leveldb", what, err); /* exits: err is not freed */
}

static peer_db *ldb_open(const char *dir, bool durable) {
    peer_db *p = peer_xmalloc(sizeof *p);
    char *err = NULL;
    p->opts = leveldb_options_create();
    p->cache = leveldb_cache_create_lru(64 << 20);
    p->bloom = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_create_if_missing(p->opts, 1);
    leveldb_options_set_cache(p->opts, p->cache);
    leveldb_options_set_filter_policy(p->opts, p->bloom);
    p->wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(p->wo, durable);
    p->ro = leveldb_readoptions_create();
    p->db = leveldb_open(p->opts, dir, &err);
    check("open", err);
    return p;
}

static void ldb_close(peer_db *p) {
    leveldb_close(p->db);
    leveldb_readoptions_destroy(p->ro);
    leveldb_writeoptions_destroy(p->wo);
    leveldb_options_destroy(p->opts);
    leveldb_filterpolicy_destroy(p->bloom);
    leveldb_cache_destroy(p->cache);
    free(p);
}

static peer_thread *ldb_thread_new(peer_db *p) {
    peer_thread *t = peer_xmalloc(sizeof *t);
    t->p = p;
    t->wb = leveldb_writebatch_create();
    return t;
}

static void ldb_thread_free(peer_thread *t) {
    leveldb_writebatch_destroy(t->wb);
    free(t);
}

static void ldb_put(peer_thread *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    char *err = NULL;
    leveldb_put(t->p->db, t->p->wo, (const char *)key, klen, (const char *)val, vlen, &err);
    check("put", err);
}

/* leveldb_get returns a malloc'd copy: the C API has no way to read into the caller's buffer. */
static size_t ldb_get(peer_thread *t, const uint8_t *key, size_t klen, uint8_t *buf, size_t cap) {
    char *err = NULL;
    size_t vlen = 0;
    char *v = leveldb_get(t->p->db, t->p->ro, (const char *)key, klen, &vlen, &err);
    check("get", err);
    if (!v)
        peer_fail("leveldb", "get", "key not found");
    memcpy(buf, v, vlen < cap ? vlen : cap);
    leveldb_free(v);
    return vlen;
}

static void ldb_batch(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, const uint8_t *vals, size_t vlen) {
    char *err = NULL;
    leveldb_writebatch_clear(t->wb);
    for (size_t i = 0; i < n; i++)
        leveldb_writebatch_put(t->wb, (const char *)keys + i * klen, klen, (const char *)vals + i * vlen, vlen);
    leveldb_write(t->p->db, t->p->wo, t->wb, &err);
    check("write batch", err);
}

static double ldb_compact(peer_db *p) {
    leveldb_compact_range(p->db, NULL, 0, NULL, 0);
    return 0;
}

const struct peer_engine peer_leveldb = {
    .name = "leveldb",
    .modes = "no sync: sync=false; durable: sync=true; bloom 10 bits/key, 64 MiB block cache",
    .open = ldb_open,
    .close = ldb_close,
    .thread_new = ldb_thread_new,
    .thread_free = ldb_thread_free,
    .put = ldb_put,
    .get = ldb_get,
    .batch = ldb_batch,
    .compact = ldb_compact,
    .compact_name = "leveldb_compact_range(all)",
};
