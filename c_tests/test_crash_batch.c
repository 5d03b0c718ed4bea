/*
 * kill -9 loops with write batches: a child writes batches of 1 to 50 operations (puts and
 * deletes mixed, over a small key set, across file rotations) and acknowledges each batch that
 * bitgask_write returned OK for through a pipe; the parent SIGKILLs it after a random few
 * milliseconds, opens the database, and checks that every acknowledged batch is wholly there
 * and the one in flight (at most one: the child writes the next batch only after the
 * acknowledgement) wholly there or wholly absent: every key matches the model after the
 * acknowledged batches, or every key the model after the batch in flight.
 *
 * Batch contents depend only on the batch number, so the parent can rebuild any batch. The seed
 * of the kill delays is printed on failure; BITGASK_CRASH_SEED=<n> replays a run. BITGASK_SOAK=1
 * (make soak) runs 1,000 cycles.
 */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define B_KEYS 120u
#define B_MAX_OPS 50u
#define B_PER_CYCLE 400u

/* The state of each key: 0 absent, else 1 + the (batch, op) that wrote its value. */
typedef struct model {
    uint64_t v[B_KEYS];
} model;

typedef struct bop {
    uint32_t key;
    bool del;
} bop;

/* The operations of batch b (deterministic); returns how many. */
static size_t batch_ops(uint32_t b, bop *ops) {
    uint64_t r = 0x9E3779B97F4A7C15ull ^ ((uint64_t)b * 0xD1B54A32D192ED03ull);
    size_t n = 1 + (size_t)(t_rand(&r) % B_MAX_OPS), i;
    for (i = 0; i < n; i++) {
        ops[i].key = (uint32_t)(t_rand(&r) % B_KEYS);
        ops[i].del = t_rand(&r) % 4 == 0;
    }
    return n;
}

static size_t b_key(char *out, size_t cap, uint32_t k) {
    return (size_t)snprintf(out, cap, "bk%03u", (unsigned)k);
}

/* The value of (batch, op): names both and is padded so batches fill files. */
static size_t b_value(char *out, size_t cap, uint64_t tag) {
    int n = snprintf(out, cap, "value-%llu-", (unsigned long long)tag);
    size_t len = n < 0 ? 0 : (size_t)n;
    while (len < 40 + tag % 50 && len + 1 < cap)
        out[len++] = (char)('a' + tag % 26);
    return len;
}

static void apply_batch(model *m, uint32_t b) {
    bop ops[B_MAX_OPS];
    size_t n = batch_ops(b, ops), i;
    for (i = 0; i < n; i++)
        m->v[ops[i].key] = ops[i].del ? 0 : 1 + (uint64_t)b * 64u + i;
}

static bitgask_options *batch_opts(bool sync) {
    bitgask_options *o = t_opts(16384);
    if (o != NULL && (bitgask_options_set_sync_on_put(o, sync, NULL) != BITGASK_OK ||
                      bitgask_options_set_sync_on_delete(o, sync, NULL) != BITGASK_OK)) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

/* The child: writes batches from `start` on; never returns (SIGKILL is the expected end).
 * Exit codes: 10 options, 11 open, 12 batch, 13 write, 14 pipe. */
__attribute__((noreturn)) static void batch_child(const char *root, int fd, uint32_t start, bool sync);
static void batch_child(const char *root, int fd, uint32_t start, bool sync) {
    bitgask_options *o = batch_opts(sync);
    bitgask_batch *bt = bitgask_batch_new();
    bitgask_db *db = NULL;
    bop ops[B_MAX_OPS];
    char k[16], v[128];
    uint32_t b;
    if (o == NULL)
        _exit(10);
    if (bitgask_open(root, o, &db, NULL) != BITGASK_OK)
        _exit(11);
    for (b = start; b < start + B_PER_CYCLE; b++) {
        size_t n = batch_ops(b, ops), i;
        bitgask_batch_clear(bt);
        for (i = 0; i < n; i++) {
            size_t kl = b_key(k, sizeof k, ops[i].key);
            bitgask_status s = ops[i].del ? bitgask_batch_delete(bt, (const uint8_t *)k, kl, NULL)
                                          : bitgask_batch_put(bt, (const uint8_t *)k, kl, (const uint8_t *)v,
                                                              b_value(v, sizeof v, (uint64_t)b * 64u + i), NULL);
            if (s != BITGASK_OK)
                _exit(12);
        }
        if (bitgask_write(db, bt, NULL) != BITGASK_OK)
            _exit(13);
        if (write(fd, &b, sizeof b) != (ssize_t)sizeof b)
            _exit(14);
    }
    for (;;)
        pause();
}

/* Whether key k of db holds what model state `want` says. Quiet unless `loud`: the checker asks
 * it of two candidate states, one of which is expected not to match, and a passing test must not
 * print mismatches; `loud` (t_has, t_absent) says what differs once neither state matches. */
static bool key_is(bitgask_db *db, uint32_t k, uint64_t want, bool loud) {
    char key[16], v[128];
    size_t kl = b_key(key, sizeof key, k), vl, glen = 0;
    uint8_t *got = NULL;
    bitgask_status s;
    bool same;
    if (loud)
        return want == 0 ? t_absent(db, key, kl) : t_has(db, key, kl, v, b_value(v, sizeof v, want - 1));
    s = bitgask_get(db, (const uint8_t *)key, kl, &got, &glen, NULL);
    vl = want == 0 ? 0 : b_value(v, sizeof v, want - 1);
    same = want == 0 ? s == BITGASK_NOT_FOUND : s == BITGASK_OK && glen == vl && memcmp(got, v, vl) == 0;
    if (s == BITGASK_OK)
        bitgask_free(got);
    return same;
}

/* Reads the acknowledgements (in order from `next`); returns the end, or UINT32_MAX on a
 * protocol error. */
static uint32_t read_acks(int fd, uint32_t next) {
    uint32_t ack, end = next;
    for (;;) {
        ssize_t r = read(fd, &ack, sizeof ack);
        if (r == 0)
            return end;
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof ack || ack != end)
            return UINT32_MAX;
        end++;
    }
}

static void batch_kill9_loop(unsigned cycles, bool sync, unsigned max_delay_us) {
    const char *root = t_tmpdir();
    bitgask_options *o = batch_opts(sync);
    const char *env = getenv("BITGASK_CRASH_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : 0xBA7C4ull;
    uint64_t rng = seed;
    uint32_t next = 0; /* batches below next are in the database */
    unsigned in_flight_present = 0, cycle;
    model m;
    memset(&m, 0, sizeof m);
    CHECK(root && o);
    for (cycle = 0; cycle < cycles; cycle++) {
        int fds[2], status = 0;
        pid_t pid;
        uint32_t acked_end, b, k;
        model with_next;
        bool old_ok = true, new_ok = true;
        bitgask_db *db;
        CHECK(pipe(fds) == 0);
        pid = t_fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            batch_child(root, fds[1], next, sync);
        }
        close(fds[1]);
        if (cycle % 10 != 9)
            CHECK_MSG(t_wait_readable(fds[0], 20000), "cycle %u: no acknowledgement within 20 s", cycle);
        t_sleep_us((unsigned)(t_rand(&rng) % (max_delay_us + 1u)));
        CHECK(kill(pid, SIGKILL) == 0);
        CHECK(t_wait(pid, &status));
        acked_end = read_acks(fds[0], next);
        close(fds[0]);
        CHECK_MSG(WIFSIGNALED(status), "cycle %u: the child exited with %d", cycle,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        CHECK_MSG(acked_end != UINT32_MAX, "cycle %u: bad acknowledgements", cycle);
        for (b = next; b < acked_end; b++)
            apply_batch(&m, b);
        with_next = m;
        apply_batch(&with_next, acked_end);
        db = t_open(root, o);
        CHECK_MSG(db != NULL, "cycle %u (seed %llu): open after kill -9 failed", cycle, (unsigned long long)seed);
        for (k = 0; k < B_KEYS; k++) {
            old_ok = old_ok && key_is(db, k, m.v[k], false);
            new_ok = new_ok && key_is(db, k, with_next.v[k], false);
        }
        for (k = 0; !old_ok && !new_ok && k < B_KEYS; k++)
            (void)key_is(db, k, m.v[k], true); /* the keys that differ from the acknowledged state */
        CHECK(t_close(db));
        CHECK_MSG(old_ok || new_ok,
                  "cycle %u (seed %llu): the database matches neither the %u acknowledged batches nor them and "
                  "the batch in flight: a batch was applied in part or an acknowledged one lost",
                  cycle, (unsigned long long)seed, (unsigned)acked_end);
        if (!old_ok) {
            m = with_next;
            in_flight_present++;
            acked_end++;
        }
        next = acked_end;
    }
    CHECK_MSG(next >= cycles, "only %u batches in %u cycles", (unsigned)next, cycles);
    CHECK_MSG(t_list_ids(root, "data", NULL, 0) > 3, "only %zu data files", t_list_ids(root, "data", NULL, 0));
    if (getenv("BITGASK_TEST_VERBOSE"))
        t_note("%u cycles: %u batches, %u in-flight batches present, %zu data files, seed %llu", cycles,
               (unsigned)next, in_flight_present, t_list_ids(root, "data", NULL, 0), (unsigned long long)seed);
    bitgask_options_free(o);
}

static unsigned soak_or(unsigned cycles) {
    const char *soak = getenv("BITGASK_SOAK");
    return soak != NULL && strcmp(soak, "0") != 0 ? 1000 : cycles;
}

TEST(batch_kill9_loop_keeps_batches_whole_with_sync) {
    batch_kill9_loop(soak_or(40), true, 4000);
}

TEST(batch_kill9_loop_keeps_batches_whole_without_sync) {
    batch_kill9_loop(soak_or(25), false, 1500);
}
