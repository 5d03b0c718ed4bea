/*
 * peers.h: the one interface every engine of bench/peers.c is driven through.
 *
 * An adapter (bench/peer_<engine>.c) maps these calls onto its library's public C API and dies
 * (peer_fail) on any error: the benchmark measures only runs in which every call succeeded.
 *
 * Conventions every adapter keeps:
 *  1. open(dir, durable) creates the database in the empty directory dir, or opens the one
 *     there. durable=false: an acknowledged write survives a crash of the process (kill -9),
 *     not a power loss. durable=true: it survives a power loss too. `modes` says how.
 *  2. A peer_thread belongs to one thread; a peer_db is shared by all of them. thread_new and
 *     thread_free run outside the timed regions.
 *  3. put and every batch are atomic and acknowledged when they return (each is its own
 *     transaction in engines that have transactions). get copies the value into the caller's
 *     buffer and returns its length; a missing key is an error.
 *  4. A NULL batch, multi_get or compact means the engine has no such API: the row prints "n/a".
 *  5. compact rewrites the whole database so that dead versions are dropped, and returns the
 *     bytes of live data it wrote when the engine reports them (0 when it does not).
 */
#ifndef BITGASK_BENCH_PEERS_H
#define BITGASK_BENCH_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct peer_db peer_db;
typedef struct peer_thread peer_thread;

struct peer_engine {
    const char *name;
    const char *modes; /* one line: the no-sync and durable settings */
    peer_db *(*open)(const char *dir, bool durable);
    void (*close)(peer_db *db);
    peer_thread *(*thread_new)(peer_db *db);
    void (*thread_free)(peer_thread *t);
    void (*put)(peer_thread *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
    size_t (*get)(peer_thread *t, const uint8_t *key, size_t klen, uint8_t *buf, size_t cap);
    /* n pairs: keys[i * klen], vals[i * vlen] */
    void (*batch)(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, const uint8_t *vals, size_t vlen);
    /* n gets in one call: keys[i * klen]; value i is copied into bufs[i * cap], its length into
     * lens[i] (a missing key is an error, as for get) */
    void (*multi_get)(peer_thread *t, size_t n, const uint8_t *keys, size_t klen, uint8_t *bufs, size_t cap,
                      size_t *lens);
    double (*compact)(peer_db *db);
    const char *compact_name;
};

extern const struct peer_engine peer_bitgask, peer_leveldb, peer_lmdb, peer_rocksdb, peer_sqlite;

/* Prints "bench-peers: <engine>: <what>: <detail>" and exits 1. */
_Noreturn void peer_fail(const char *engine, const char *what, const char *detail);

/* Dies when allocation fails. */
void *peer_xmalloc(size_t n);

#endif
