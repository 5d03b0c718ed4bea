/*
 * peer_sqlite.c: SQLite behind the bench/peers.h interface, over its C API (sqlite3.h).
 *
 * One table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, in WAL mode with a 64 MiB page cache
 * and a 1 GiB memory map (SQLite's own advice for read-heavy use).
 * Writes go through one connection shared by all threads under a mutex (SQLite allows one
 * writer at a time; separate writing connections would wait in its sleeping busy handler).
 * Each put is one INSERT OR REPLACE in autocommit mode: its own transaction.
 * Reads: each thread has its own connection (WAL readers run concurrently).
 * no sync: synchronous=OFF (a commit is in the WAL, in the page cache, on return).
 * durable: synchronous=FULL (the WAL is fsynced at each commit).
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "peers.h"

#define PRAGMAS "PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824; PRAGMA busy_timeout=10000;"

struct peer_db {
    char path[4096];
    sqlite3 *db; /* the writing connection */
    sqlite3_stmt *put, *begin, *commit;
    pthread_mutex_t mu; /* one writer at a time, one statement use at a time */
};

struct peer_thread {
    peer_db *p;
    sqlite3 *rdb; /* this thread's reading connection */
    sqlite3_stmt *get;
};

static void check(sqlite3 *db, const char *what, int rc) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        peer_fail("sqlite", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static sqlite3 *sq_connect(const char *path, const char *pragmas) {
    sqlite3 *db = NULL;
    check(db, "open", sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL));
    check(db, "pragmas", sqlite3_exec(db, pragmas, NULL, NULL, NULL));
    return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    check(db, sql, sqlite3_prepare_v2(db, sql, -1, &s, NULL));
    return s;
}

/* Runs a prepared statement that returns no rows, then resets it. */
static void run(sqlite3 *db, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        check(db, what, rc == SQLITE_OK ? SQLITE_ERROR : rc);
    sqlite3_reset(s);
}

static peer_db *sq_open(const char *dir, bool durable) {
    peer_db *p = peer_xmalloc(sizeof *p);
    char pragmas[512];
    snprintf(p->path, sizeof p->path, "%s/kv.sqlite", dir);
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; " PRAGMAS,
             durable ? "FULL" : "OFF");
    p->db = sq_connect(p->path, pragmas);
    check(p->db, "create table",
          sqlite3_exec(p->db, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
                       NULL, NULL, NULL));
    p->put = prepare(p->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)");
    p->begin = prepare(p->db, "BEGIN");
    p->commit = prepare(p->db, "COMMIT");
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

static void sq_close(peer_db *p) {
    sqlite3_finalize(p->put);
    sqlite3_finalize(p->begin);
    sqlite3_finalize(p->commit);
    check(p->db, "close", sqlite3_close(p->db));
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static peer_thread *sq_thread_new(peer_db *p) {
    peer_thread *t = peer_xmalloc(sizeof *t);
    t->p = p;
    t->rdb = sq_connect(p->path, PRAGMAS);
    t->get = prepare(t->rdb, "SELECT v FROM kv WHERE k = ?1");
    return t;
}

static void sq_thread_free(peer_thread *t) {
    sqlite3_finalize(t->get);
    check(t->rdb, "close", sqlite3_close(t->rdb));
    free(t);
}

/* Under p->mu. */
static void insert(peer_db *p, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    check(p->db, "bind", sqlite3_bind_blob(p->put, 1, key, (int)klen, SQLITE_STATIC));
    check(p->db, "bind", sqlite3_bind_blob(p->put, 2, val, (int)vlen, SQLITE_STATIC));
    run(p->db, p->put, "insert");
}

static void sq_put(peer_thread *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    pthread_mutex_lock(&t->p->mu);
    insert(t->p, key, klen, val, vlen);
    pthread_mutex_unlock(&t->p->mu);
}

static size_t sq_get(peer_thread *t, const uint8_t *key, size_t klen, uint8_t *buf, size_t cap) {
    check(t->rdb, "bind", sqlite3_bind_blob(t->get, 1, key, (int)klen, SQLITE_STATIC));
    int rc = sqlite3_step(t->get);
    if (rc != SQLITE_ROW)
        peer_fail("sqlite", "get", rc == SQLITE_DONE ? "key not found" : sqlite3_errmsg(t->rdb));
    size_t vlen = (size_t)sqlite3_column_bytes(t->get, 0);
    memcpy(buf, sqlite3_column_blob(t->get, 0), vlen < cap ? vlen : cap);
    sqlite3_reset(t->get);
    return vlen;
}

static void sq_batch(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, const uint8_t *vals, size_t vlen) {
    peer_db *p = t->p;
    pthread_mutex_lock(&p->mu);
    run(p->db, p->begin, "begin");
    for (size_t i = 0; i < n; i++)
        insert(p, keys + i * klen, klen, vals + i * vlen, vlen);
    run(p->db, p->commit, "commit");
    pthread_mutex_unlock(&p->mu);
}

static double sq_compact(peer_db *p) {
    check(p->db, "vacuum", sqlite3_exec(p->db, "VACUUM", NULL, NULL, NULL));
    return 0;
}

const struct peer_engine peer_sqlite = {
    .name = "sqlite",
    .modes = "no sync: WAL, synchronous=OFF; durable: WAL, synchronous=FULL; 64 MiB cache, 1 GiB mmap, "
             "one shared writing connection",
    .open = sq_open,
    .close = sq_close,
    .thread_new = sq_thread_new,
    .thread_free = sq_thread_free,
    .put = sq_put,
    .get = sq_get,
    .batch = sq_batch,
    .compact = sq_compact,
    .compact_name = "VACUUM",
};
