/*
 * peer_lmdb.c: LMDB behind the bench/peers.h interface, over its C API (lmdb.h).
 *
 * Every put is its own write transaction, committed before it returns; every get runs in a
 * read transaction the thread keeps and renews (mdb_txn_reset / mdb_txn_renew, LMDB's idiom
 * for many short reads). MDB_NOTLS lets a thread that keeps a read transaction also write.
 * no sync: MDB_NOSYNC (a commit writes its pages and meta page with pwrite into the page cache:
 * it survives kill -9, not a power loss).
 * durable: the default (a commit fdatasyncs the data pages, then writes the meta page through
 * an O_DSYNC descriptor: that second flush is not an fdatasync call and is not counted).
 * The map is 8 GiB (address space only: the file grows as pages are written).
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "peers.h"

struct peer_db {
    MDB_env *env;
    MDB_dbi dbi;
};

struct peer_thread {
    peer_db *p;
    MDB_txn *rtxn; /* reset between gets; NULL until the first get */
};

static void check(const char *what, int rc) {
    if (rc != MDB_SUCCESS)
        peer_fail("lmdb", what, mdb_strerror(rc));
}

static peer_db *lmdb_open(const char *dir, bool durable) {
    peer_db *p = peer_xmalloc(sizeof *p);
    MDB_txn *txn;
    check("env_create", mdb_env_create(&p->env));
    check("set_mapsize", mdb_env_set_mapsize(p->env, (size_t)8 << 30));
    check("set_maxreaders", mdb_env_set_maxreaders(p->env, 256));
    check("env_open", mdb_env_open(p->env, dir, MDB_NOTLS | (durable ? 0 : MDB_NOSYNC), 0644));
    check("txn_begin", mdb_txn_begin(p->env, NULL, 0, &txn));
    check("dbi_open", mdb_dbi_open(txn, NULL, 0, &p->dbi));
    check("txn_commit", mdb_txn_commit(txn));
    return p;
}

static void lmdb_close(peer_db *p) {
    mdb_env_close(p->env);
    free(p);
}

static peer_thread *lmdb_thread_new(peer_db *p) {
    peer_thread *t = peer_xmalloc(sizeof *t);
    t->p = p;
    t->rtxn = NULL;
    return t;
}

static void lmdb_thread_free(peer_thread *t) {
    if (t->rtxn)
        mdb_txn_abort(t->rtxn);
    free(t);
}

static void put_in(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    check("put", mdb_put(txn, dbi, &k, &v, 0));
}

static void lmdb_put(peer_thread *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    MDB_txn *txn;
    check("txn_begin", mdb_txn_begin(t->p->env, NULL, 0, &txn));
    put_in(txn, t->p->dbi, key, klen, val, vlen);
    check("txn_commit", mdb_txn_commit(txn));
}

static size_t lmdb_get(peer_thread *t, const uint8_t *key, size_t klen, uint8_t *buf, size_t cap) {
    MDB_val k = {klen, (void *)key}, v;
    if (t->rtxn)
        check("txn_renew", mdb_txn_renew(t->rtxn));
    else
        check("txn_begin(read)", mdb_txn_begin(t->p->env, NULL, MDB_RDONLY, &t->rtxn));
    check("get", mdb_get(t->rtxn, t->p->dbi, &k, &v));
    memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    mdb_txn_reset(t->rtxn);
    return v.mv_size;
}

static void lmdb_batch(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, const uint8_t *vals, size_t vlen) {
    MDB_txn *txn;
    check("txn_begin", mdb_txn_begin(t->p->env, NULL, 0, &txn));
    for (size_t i = 0; i < n; i++)
        put_in(txn, t->p->dbi, keys + i * klen, klen, vals + i * vlen, vlen);
    check("txn_commit", mdb_txn_commit(txn));
}

const struct peer_engine peer_lmdb = {
    .name = "lmdb",
    .modes = "no sync: MDB_NOSYNC; durable: default (fdatasync + O_DSYNC meta write per commit); "
             "one write txn per put",
    .open = lmdb_open,
    .close = lmdb_close,
    .thread_new = lmdb_thread_new,
    .thread_free = lmdb_thread_free,
    .put = lmdb_put,
    .get = lmdb_get,
    .batch = lmdb_batch,
    .compact = NULL, /* a B-tree reuses freed pages in place; it has no compaction */
    .compact_name = "n/a",
};
