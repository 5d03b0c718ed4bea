/*
 * peer_rocksdb.c: RocksDB behind the bench/peers.h interface, over its C API (rocksdb/c.h).
 *
 * Configured as its tuning guide suggests for point reads on a small machine: background
 * threads for every core (increase_parallelism), a 10-bit bloom filter and a 64 MiB block
 * cache; everything else default. Reads use rocksdb_get_pinned (no copy inside RocksDB); a
 * multi_get is one rocksdb_multi_get (its values are malloc'ed copies, copied out and freed).
 * no sync: WriteOptions.sync=false (the write is in the WAL, in the page cache, on return).
 * durable: WriteOptions.sync=true (the WAL is fdatasynced; concurrent writers share it).
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "peers.h"

struct peer_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
};

#define MULTI_MAX 256 /* the most keys one multi_get takes */

struct peer_thread {
    peer_db *p;
    rocksdb_writebatch_t *wb;
    const char *keys[MULTI_MAX];
    size_t klens[MULTI_MAX], vlens[MULTI_MAX];
    char *vals[MULTI_MAX], *errs[MULTI_MAX];
};

static void check(const char *what, char *err) {
    if (err)
        peer_fail("rocksdb", what, err); /* exits: err is not freed */
}

static peer_db *rdb_open(const char *dir, bool durable) {
    peer_db *p = peer_xmalloc(sizeof *p);
    char *err = NULL;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    p->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(p->opts, 1);
    rocksdb_options_increase_parallelism(p->opts, cores > 1 ? (int)cores : 1);
    p->cache = rocksdb_cache_create_lru(64 << 20);
    p->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(p->table, p->cache);
    rocksdb_block_based_options_set_filter_policy(p->table, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(p->opts, p->table);
    p->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(p->wo, durable);
    p->ro = rocksdb_readoptions_create();
    p->db = rocksdb_open(p->opts, dir, &err);
    check("open", err);
    return p;
}

static void rdb_close(peer_db *p) {
    rocksdb_close(p->db);
    rocksdb_readoptions_destroy(p->ro);
    rocksdb_writeoptions_destroy(p->wo);
    rocksdb_options_destroy(p->opts);
    rocksdb_block_based_options_destroy(p->table); /* also releases the filter policy */
    rocksdb_cache_destroy(p->cache);
    free(p);
}

static peer_thread *rdb_thread_new(peer_db *p) {
    peer_thread *t = peer_xmalloc(sizeof *t);
    t->p = p;
    t->wb = rocksdb_writebatch_create();
    return t;
}

static void rdb_thread_free(peer_thread *t) {
    rocksdb_writebatch_destroy(t->wb);
    free(t);
}

static void rdb_put(peer_thread *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    char *err = NULL;
    rocksdb_put(t->p->db, t->p->wo, (const char *)key, klen, (const char *)val, vlen, &err);
    check("put", err);
}

static size_t rdb_get(peer_thread *t, const uint8_t *key, size_t klen, uint8_t *buf, size_t cap) {
    char *err = NULL;
    size_t vlen = 0;
    rocksdb_pinnableslice_t *s = rocksdb_get_pinned(t->p->db, t->p->ro, (const char *)key, klen, &err);
    check("get", err);
    if (!s)
        peer_fail("rocksdb", "get", "key not found");
    const char *v = rocksdb_pinnableslice_value(s, &vlen);
    memcpy(buf, v, vlen < cap ? vlen : cap);
    rocksdb_pinnableslice_destroy(s);
    return vlen;
}

/* One rocksdb_multi_get of n keys; every key must be found. */
static void rdb_multi_get(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, uint8_t *bufs, size_t cap,
                          size_t *lens) {
    if (n > MULTI_MAX)
        peer_fail("rocksdb", "multi_get", "more keys than the adapter's arrays hold");
    for (size_t i = 0; i < n; i++) {
        t->keys[i] = (const char *)keys + i * klen;
        t->klens[i] = klen;
    }
    rocksdb_multi_get(t->p->db, t->p->ro, n, t->keys, t->klens, t->vals, t->vlens, t->errs);
    for (size_t i = 0; i < n; i++) {
        check("multi_get", t->errs[i]);
        if (!t->vals[i])
            peer_fail("rocksdb", "multi_get", "key not found");
        memcpy(bufs + i * cap, t->vals[i], t->vlens[i] < cap ? t->vlens[i] : cap);
        lens[i] = t->vlens[i];
        rocksdb_free(t->vals[i]);
    }
}

static void rdb_batch(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, const uint8_t *vals, size_t vlen) {
    char *err = NULL;
    rocksdb_writebatch_clear(t->wb);
    for (size_t i = 0; i < n; i++)
        rocksdb_writebatch_put(t->wb, (const char *)keys + i * klen, klen, (const char *)vals + i * vlen, vlen);
    rocksdb_write(t->p->db, t->p->wo, t->wb, &err);
    check("write batch", err);
}

/* A manual compaction of the whole key range that also rewrites the bottommost level
 * (BottommostLevelCompaction::kForce = 2): the default skips it, leaving dead versions there. */
static double rdb_compact(peer_db *p) {
    rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_bottommost_level_compaction(co, 2);
    rocksdb_compact_range_opt(p->db, co, NULL, 0, NULL, 0);
    rocksdb_compactoptions_destroy(co);
    return 0;
}

const struct peer_engine peer_rocksdb = {
    .name = "rocksdb",
    .modes = "no sync: sync=false; durable: sync=true; bloom 10 bits/key, 64 MiB block cache, "
             "increase_parallelism(cores)",
    .open = rdb_open,
    .close = rdb_close,
    .thread_new = rdb_thread_new,
    .thread_free = rdb_thread_free,
    .put = rdb_put,
    .get = rdb_get,
    .multi_get = rdb_multi_get,
    .batch = rdb_batch,
    .compact = rdb_compact,
    .compact_name = "rocksdb_compact_range(all, bottommost forced)",
};
