/*
 * crash_model: the writers, the model and the checker shared by the kill -9 harnesses
 * (test_crash_merge.c: kill -9 loops; killpoints/test_merge_kill.c: kills at named points).
 *
 * A child process runs writer threads that put and delete keys of their own slice of a key space
 * and announce every operation through a pipe: an intent before the call, an acknowledgement
 * after it returned, so each writer has at most one operation in flight. The child's main thread
 * may announce merges and milestones on the same pipe. The parent applies the messages to a
 * model; after the kill it reopens the database and checks it against the model: every key holds
 * its last acknowledged state or, if it is the key of its writer's operation in flight, that
 * operation's result; the static keys are intact; no other key exists.
 *
 * Keys: model key i is t_key(key_base + i) holding t_value(key_base + i, version); static key i
 * (i < statics) is t_key(i) holding t_value(i, 0). key_base must be at least statics.
 */
#ifndef BITGASK_C_TESTS_CRASH_MODEL_H
#define BITGASK_C_TESTS_CRASH_MODEL_H

#include "check.h"

#include <pthread.h>

#define CM_MAX_WRITERS 4

/* The key space of a harness. */
typedef struct cm_space {
    uint32_t key_base;        /* model key i is t_key(key_base + i) */
    uint32_t writers;         /* 1..CM_MAX_WRITERS */
    uint32_t keys_per_writer; /* writer w owns model keys w * keys_per_writer .. + keys_per_writer - 1 */
    uint32_t statics;         /* keys written once before the first child, never changed (0: none) */
} cm_space;

/* ---- messages (child to parent; each write is atomic: smaller than PIPE_BUF) ---- */

enum {
    CM_READY = 1,  /* the child opened the database and started its writers */
    CM_PUT = 2,    /* writer, key, version: intent */
    CM_DEL = 3,    /* writer, key: intent */
    CM_ACK = 4,    /* writer, key: the pending intent returned */
    CM_MERGE = 5,  /* a merge starts (version: its number) */
    CM_MERGED = 6, /* ... and returned (key: whether it ran) */
    CM_MARK = 7    /* a milestone of the harness's own */
};

typedef struct cm_msg {
    uint32_t kind, writer, key, version;
} cm_msg;

/* Writes one message; _exit(13) when the pipe fails. */
void cm_send(int fd, uint32_t kind, uint32_t writer, uint32_t key, uint32_t version);

/* ---- the child's writers ---- */

typedef struct cm_writer {
    bitgask_db *db;
    const cm_space *space;
    int fd;
    uint32_t id, version;   /* the next version it puts */
    unsigned delete_one_in; /* one operation in this many is a delete */
    unsigned pause_us;      /* between two operations */
    uint64_t rng;
} cm_writer;

/* Starts space->writers threads writing forever (versions from version_base on; an error _exits
 * the process with 30 for a delete, 31 for a put). False when a thread could not start. */
bool cm_start_writers(cm_writer *w, pthread_t *th, bitgask_db *db, int fd, const cm_space *space,
                      uint32_t version_base, unsigned delete_one_in, unsigned pause_us, uint64_t seed);

/* ---- the parent's model ---- */

typedef struct cm_pending {
    bool active;
    uint32_t kind, key, version;
} cm_pending;

typedef struct cm_model {
    cm_space space;
    uint32_t nkeys;
    int64_t *state; /* per model key: -1 absent, else the version it holds */
    cm_pending pending[CM_MAX_WRITERS];
    /* this child (cm_new_child resets them) */
    bool ready, merging;
    unsigned marks, merges_started, merges_done, merges_ran;
    /* the whole run */
    uint64_t acks, puts_acked, dels_acked;
    unsigned in_flight_seen, in_flight_applied;
    unsigned char carry[sizeof(cm_msg)]; /* a message split across two reads */
    size_t ncarry;
} cm_model;

/* Every model key absent. False (after a note) when memory is short. */
bool cm_model_init(cm_model *md, const cm_space *space);
void cm_model_free(cm_model *md);
/* Before each child: forgets the previous child's per-child figures. */
void cm_new_child(cm_model *md);

/* Reads what the pipe has (one read) and applies it; *eof when the child's end is closed. */
bool cm_read_some(int fd, cm_model *md, bool *eof);
/* Applies messages until deadline_us (t_mono_us), or until the child reported ready when
 * until_ready, or until the pipe's end. */
bool cm_pump(int fd, cm_model *md, uint64_t deadline_us, bool until_ready, bool *eof);
/* Applies messages until the pipe's end. */
bool cm_drain(int fd, cm_model *md);

/* Checks the database against the model (keys by get, their count by stats, and by fold that no
 * other key exists). With settle, each key's observed state becomes the model's and the
 * operations in flight are forgotten. False after a note naming `when`. */
bool cm_check(bitgask_db *db, cm_model *md, bool settle, const char *when);

/* Whether root/name is a directory. */
bool cm_dir_exists(const char *root, const char *name);

#endif /* BITGASK_C_TESTS_CRASH_MODEL_H */
