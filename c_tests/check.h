/*
 * check.h: the tiny harness of the bitgask C test suite.
 *
 * Every file in c_tests/ is compiled as C11 and as C++17 (see the Makefile), so everything here
 * and in the tests stays in the common subset: casts on malloc, no VLAs, no compound literals,
 * no designated initializers.
 *
 *   TEST(name) { ... }                 defines and registers a test (run by main.c)
 *   CHECK(cond)                        fails the test and returns from the function if !cond
 *   CHECK_MSG(cond, fmt, ...)          same, with a printf-style explanation
 *   CHECK_OK(expr, err)                expr must return BITGASK_OK and leave err NULL
 *   CHECK_STATUS(expr, want, err)      expr must return want; for an error status err must hold
 *                                      an error object with that status (it is then freed and
 *                                      reset to NULL); for OK and the positive outcomes err must
 *                                      stay NULL
 *   CHECK_ERR(expr, want, err)         like CHECK_STATUS for an error, but err is kept for the
 *                                      test to inspect; the test frees it
 *
 * On failure the macros print file:line, the expression, the status number, its
 * bitgask_status_str() text and the error message, then mark the test failed and `return;`
 * (so they are for functions returning void; helpers return bool and use t_note()).
 */
#ifndef BITGASK_C_TESTS_CHECK_H
#define BITGASK_C_TESTS_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitgask.h"

#define T_PATH_MAX 1024

/* ---- registry (main.c) ---- */

typedef void (*t_test_fn)(void);
void t_register(const char *name, t_test_fn fn, const char *file, int line);

#define TEST(name)                                                                              \
    static void test_##name(void);                                                              \
    __attribute__((constructor)) static void t_register_##name(void) {                          \
        t_register(#name, test_##name, __FILE__, __LINE__);                                     \
    }                                                                                           \
    static void test_##name(void)

/* ---- failure reporting (main.c) ---- */

void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Compares a status with the wanted one and reports a mismatch; see CHECK_STATUS. Frees *errp
 * unless keep is true and the status matched. */
bool t_status_is(const char *file, int line, const char *expr, bitgask_status got, bitgask_status want,
                 bitgask_error **errp, bool keep);
/* The name of the test running now, and whether it has failed so far. */
const char *t_current_test(void);
bool t_test_failed(void);

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                     \
            return;                                                                             \
        }                                                                                       \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                    \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            t_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
            return;                                                                             \
        }                                                                                       \
    } while (0)

#define CHECK_STATUS(expr, want, err)                                                           \
    do {                                                                                        \
        bitgask_status t_got_ = (expr);                                                         \
        if (!t_status_is(__FILE__, __LINE__, #expr, t_got_, (want), &(err), false))             \
            return;                                                                             \
    } while (0)

#define CHECK_OK(expr, err) CHECK_STATUS(expr, BITGASK_OK, err)

#define CHECK_ERR(expr, want, err)                                                              \
    do {                                                                                        \
        bitgask_status t_got_ = (expr);                                                         \
        if (!t_status_is(__FILE__, __LINE__, #expr, t_got_, (want), &(err), true))              \
            return;                                                                             \
    } while (0)

/* A NUL-terminated string as a (const uint8_t *, size_t) argument pair. */
#define KS(s) (const uint8_t *)(s), strlen(s)

/* ---- helpers (util.c) ---- */

/* A fresh empty directory under $TMPDIR (or /tmp), removed recursively after the test (kept when
 * BITGASK_KEEP_TMP is set). The returned string lives until then. NULL on failure. */
const char *t_tmpdir(void);
/* Removes everything t_tmpdir handed out (main.c calls it after each test). */
void t_cleanup_tmpdirs(void);
bool t_rm_rf(const char *path);

/* snprintf into out[T_PATH_MAX]; returns out. */
char *t_pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* <root>/data/<id as 9 digits>.<ext> */
char *t_data_path(char *out, const char *root, uint32_t id, const char *ext);

/* Whole-file helpers. t_read_file returns a malloc'd buffer (free()) or NULL. */
unsigned char *t_read_file(const char *path, size_t *len);
bool t_write_file(const char *path, const void *data, size_t len);
bool t_truncate_file(const char *path, size_t len);
long long t_file_size(const char *path); /* -1 when missing */
bool t_file_exists(const char *path);
bool t_remove_file(const char *path); /* true when removed or already absent */
/* In a child process only: enters a user and mount namespace of its own (no root needed) and
 * mounts a tmpfs of `size` (tmpfs syntax, e.g. "4m") at `dir`, so a test can fill a small file
 * system. False where unprivileged user namespaces are not allowed (the test then skips). */
bool t_small_tmpfs(const char *dir, const char *size);
/* Flips bits of one byte of a file in place. */
bool t_xor_byte(const char *path, size_t offset, unsigned char mask);

/* Ids of <root>/data/NNNNNNNNN.<ext> files in numeric order; returns how many there are (ids
 * beyond cap are counted but not stored). */
size_t t_list_ids(const char *root, const char *ext, uint32_t *ids, size_t cap);
/* Sum of the sizes of every data file. */
unsigned long long t_data_bytes(const char *root);

/* fork() that remembers the child: whatever a test leaves unreaped (a CHECK failed between fork
 * and wait, or the watchdog fired) is SIGKILLed and reaped by the runner. Reap with t_wait. */
int t_fork(void);
/* waitpid(pid, status, 0) retrying on EINTR; forgets the child. False when waitpid failed. */
bool t_wait(int pid, int *status);
/* Waits up to timeout_ms for fd to become readable (data or EOF), retrying on EINTR. The kill -9
 * harnesses wait for a child's acknowledgement with it. */
bool t_wait_readable(int fd, int timeout_ms);
/* Kills and reaps every child t_fork made that t_wait did not reap (main.c calls it). */
void t_reap_children(void);
/* Async-signal-safe: SIGKILLs the remembered children (the watchdog calls it). */
void t_kill_children_now(void);

/* A database directory as the Go bitgask writes it (its meta layout, file names 6 digits wide,
 * an empty hint for the active file): "k" written twice, the later record with the older stamp
 * (the Go system returns the later one), "gone" put then deleted, "plain" put once. With
 * with_merge_tmp, also the half-written merge.tmp/ of a Go merge killed while copying. */
bool t_go_dir(const char *root, bool with_merge_tmp);
/* Whether key k reads as want (NULL: absent). */
bool t_go_dir_value_is(bitgask_db *db, const char *k, const char *want);
/* Whether db holds exactly what the Go system returns for t_go_dir's keys. */
bool t_go_dir_adopted(bitgask_db *db);

void t_sleep_ms(unsigned ms);
void t_sleep_us(unsigned us);
uint64_t t_mono_ms(void);
uint64_t t_mono_us(void);

/* A small deterministic PRNG (xorshift64*). */
uint64_t t_rand(uint64_t *state);

/* ---- database helpers (util.c); they print details with t_note and return false ---- */

/* A new options object with max_file_size set (0: keep the default); NULL on failure. */
bitgask_options *t_opts(uint64_t max_file_size);
/* The same with per-write sync off, for tests about something other than durability (close
 * still syncs everything). */
bitgask_options *t_opts_nosync(uint64_t max_file_size);
/* Opens root with opts (may be NULL); NULL (after a note) on failure. */
bitgask_db *t_open(const char *root, const bitgask_options *opts);
/* Closes; false (after a note) when close reports an error. */
bool t_close(bitgask_db *db);

bitgask_status t_put_s(bitgask_db *db, const char *key, const char *val, bitgask_error **err);
/* The key holds exactly val[0..vlen), by bitgask_get and by bitgask_get_into. */
bool t_has(bitgask_db *db, const void *key, size_t klen, const void *val, size_t vlen);
bool t_has_s(bitgask_db *db, const char *key, const char *val);
/* The key is absent: get NOT_FOUND (outputs untouched), exists false. */
bool t_absent(bitgask_db *db, const void *key, size_t klen);
bool t_absent_s(bitgask_db *db, const char *key);
/* bitgask_stats_get, or a note and false. */
bool t_stats(bitgask_db *db, bitgask_stats *out);

/* Key and value families used by several tests: key "key-%08u" and a value derived from the
 * key number and a version, with a length that varies with n. */
size_t t_key(char *out, size_t cap, uint32_t n);
size_t t_value(char *out, size_t cap, uint32_t n, uint32_t version);
/* Fills v[0..len) with a value that depends on n (n's bytes first, len >= 4); returns len. */
size_t t_fill_value(char *v, size_t len, uint32_t n);
/* The n of a key exactly as t_key spells it; false for any other key. */
bool t_key_number(const uint8_t *key, size_t klen, uint32_t *n);
/* A bitgask_fold callback counting keys into the uint64_t at ctx. */
int t_count_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
/* Puts keys first..first+count-1 with their t_value of the given version; false on an error. */
bool t_put_keys(bitgask_db *db, uint32_t first, uint32_t count, uint32_t version);
/* BITGASK_SOAK is set and not "0" (make soak): the long versions of the loops and sweeps. */
bool t_soak(void);
/* A kill-point child's wait status says SIGKILL; otherwise a note naming `when` (a child that
 * exited 0 gave up: its point was never reached), and false. */
bool t_killed_at_point(int status, const char *when);
/* bitgask_validate on root reports it clean; otherwise a note naming `when`, and false. */
bool t_validate_clean(const char *root, const char *when);
/* The kill-point sweeps' coverage check: every name in the `pub const <list>` array of
 * src/killpoint.rs (found from `self`, the caller's __FILE__, two folders up) is one of
 * known[0..n), and the array has n names. False after a note when not; true with a note when the
 * sources are absent (an installed test binary). */
bool t_points_covered(const char *self, const char *list, const char *const *known, size_t n);

#endif /* BITGASK_C_TESTS_CHECK_H */
