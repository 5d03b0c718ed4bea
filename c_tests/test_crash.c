/*
 * kill -9 loops: a child writes keys with increasing sequence numbers and acknowledges each put
 * that returned OK through a pipe; the parent SIGKILLs it after a random few milliseconds, then
 * opens the database itself and checks that every acknowledged put is there with its value and
 * that nothing else was invented. The same directory is reused for every cycle.
 *
 * The seed of the random delays is printed on failure; BITGASK_CRASH_SEED=<n> replays a run.
 * test_crash_merge.c has the loops with merges and in interval-sync mode.
 */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct crash_cfg {
    unsigned cycles;
    bool sync_on_put;
    uint64_t max_file_size;
    uint32_t max_puts_per_cycle; /* the child idles after this many puts (bounds the key count) */
    unsigned max_delay_us;       /* kill after 0..max_delay_us once the first put was acknowledged */
} crash_cfg;

static bitgask_options *crash_opts(const crash_cfg *cfg) {
    bitgask_options *o = t_opts(cfg->max_file_size);
    if (o != NULL && bitgask_options_set_sync_on_put(o, cfg->sync_on_put, NULL) != BITGASK_OK) {
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

/* The child: never returns. Exit codes: 10 options, 11 open (then 100 + -status), 12 put,
 * 13 pipe; SIGKILL is the expected end. */
__attribute__((noreturn)) static void crash_child(const char *root, int fd, uint32_t start, const crash_cfg *cfg);
static void crash_child(const char *root, int fd, uint32_t start, const crash_cfg *cfg) {
    bitgask_options *o = crash_opts(cfg);
    bitgask_db *db = NULL;
    bitgask_status s;
    char k[32], v[256];
    uint32_t n;
    if (o == NULL)
        _exit(10);
    s = bitgask_open(root, o, &db, NULL);
    if (s != BITGASK_OK)
        _exit(s < 0 && s > -100 ? 100 - s : 11);
    for (n = start; n < start + cfg->max_puts_per_cycle; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        if (bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) != BITGASK_OK)
            _exit(12);
        if (write(fd, &n, sizeof n) != (ssize_t)sizeof n)
            _exit(13);
    }
    for (;;)
        pause();
}

typedef struct fold_check {
    uint32_t limit; /* keys must be below this */
    uint64_t count;
    uint64_t bad;
    char first_bad[128];
} fold_check;

static int check_every_key(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    fold_check *c = (fold_check *)ctx;
    char want[256];
    uint32_t n = 0;
    bool ok = t_key_number(key, klen, &n) && n < c->limit;
    c->count++;
    if (ok)
        ok = t_value(want, sizeof want, n, 0) == vlen && memcmp(want, val, vlen) == 0;
    if (!ok && c->bad++ == 0)
        snprintf(c->first_bad, sizeof c->first_bad, "%.*s = %.*s", (int)(klen < 40 ? klen : 40), (const char *)key,
                 (int)(vlen < 60 ? vlen : 60), (const char *)val);
    return 0;
}

static void kill9_loop(const crash_cfg *cfg) {
    const char *root = t_tmpdir();
    bitgask_options *o = crash_opts(cfg);
    const char *env = getenv("BITGASK_CRASH_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5EEDC0FFEEull;
    uint64_t rng = seed;
    uint32_t next = 0; /* every key below next is durable */
    uint64_t total_acks = 0;
    unsigned no_ack_cycles = 0, in_flight_cycles = 0;
    unsigned cycle;
    char k[32], v[256];
    CHECK(root && o);
    for (cycle = 0; cycle < cfg->cycles; cycle++) {
        int fds[2], status = 0;
        pid_t pid;
        bool early = cycle % 10 == 9; /* sometimes kill without waiting for a first ack */
        uint32_t ack, acked_end = next, n;
        bool in_flight_present = false;
        bitgask_db *db;
        bitgask_stats st;
        CHECK(pipe(fds) == 0);
        pid = t_fork(); /* the parent has no database open here */
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(root, fds[1], next, cfg);
        }
        close(fds[1]);
        if (!early)
            CHECK_MSG(t_wait_readable(fds[0], 20000), "cycle %u: no acknowledgement within 20 s", cycle);
        t_sleep_us((unsigned)(t_rand(&rng) % (cfg->max_delay_us + 1u)));
        CHECK(kill(pid, SIGKILL) == 0);
        CHECK(t_wait(pid, &status));
        if (!WIFSIGNALED(status)) {
            close(fds[0]);
            CHECK_MSG(false, "cycle %u (seed %llu): the child exited with %d instead of being killed", cycle,
                      (unsigned long long)seed, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        /* Every acknowledgement, in order. */
        for (;;) {
            ssize_t r = read(fds[0], &ack, sizeof ack);
            if (r == 0)
                break;
            if (r < 0 && errno == EINTR)
                continue;
            if (r != (ssize_t)sizeof ack) {
                close(fds[0]);
                CHECK_MSG(false, "cycle %u: short read %zd from the pipe", cycle, r);
            }
            if (ack != acked_end) {
                close(fds[0]);
                CHECK_MSG(false, "cycle %u: acknowledgement %u, expected %u", cycle, (unsigned)ack, (unsigned)acked_end);
            }
            acked_end++;
        }
        close(fds[0]);
        total_acks += acked_end - next;
        no_ack_cycles += acked_end == next;

        db = t_open(root, o);
        CHECK_MSG(db != NULL, "cycle %u (seed %llu): open after kill -9 failed", cycle, (unsigned long long)seed);
        /* Every acknowledged put, from this and every earlier cycle. */
        for (n = 0; n < acked_end; n++) {
            size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
            CHECK_MSG(t_has(db, k, kl, v, vl), "cycle %u (seed %llu): acknowledged key %u lost or wrong", cycle,
                      (unsigned long long)seed, (unsigned)n);
        }
        /* The put in flight at the kill may or may not have made it, but only with its value. */
        {
            size_t kl = t_key(k, sizeof k, acked_end), vl = t_value(v, sizeof v, acked_end, 0);
            uint8_t *got = NULL;
            size_t gl = 0;
            bitgask_error *err = NULL;
            bitgask_status s = bitgask_get(db, (const uint8_t *)k, kl, &got, &gl, &err);
            if (s == BITGASK_OK) {
                in_flight_present = true;
                CHECK_MSG(gl == vl && memcmp(got, v, vl) == 0, "cycle %u: unacknowledged key %u has a wrong value", cycle,
                          (unsigned)acked_end);
                bitgask_free(got);
            } else {
                CHECK_STATUS(s, BITGASK_NOT_FOUND, err);
            }
        }
        /* Nothing beyond it, and no other key: the key count is exact. */
        for (n = acked_end + 1; n < acked_end + 4; n++) {
            size_t kl = t_key(k, sizeof k, n);
            CHECK_MSG(t_absent(db, k, kl), "cycle %u: key %u was never written but exists", cycle, (unsigned)n);
        }
        CHECK(t_stats(db, &st));
        CHECK_MSG(st.keys == (uint64_t)acked_end + (in_flight_present ? 1u : 0u),
                  "cycle %u (seed %llu): %llu keys, expected %u%s", cycle, (unsigned long long)seed,
                  (unsigned long long)st.keys, (unsigned)acked_end, in_flight_present ? " + 1" : "");
        if (cycle % 10 == 0 || cycle + 1 == cfg->cycles) {
            fold_check fc;
            bitgask_error *err = NULL;
            memset(&fc, 0, sizeof fc);
            fc.limit = acked_end + (in_flight_present ? 1u : 0u);
            CHECK_OK(bitgask_fold(db, NULL, 0, check_every_key, &fc, &err), err);
            CHECK_MSG(fc.bad == 0, "cycle %u: %llu keys with invented contents, first: %s", cycle,
                      (unsigned long long)fc.bad, fc.first_bad);
            CHECK(fc.count == st.keys);
        }
        CHECK(t_close(db));
        in_flight_cycles += in_flight_present;
        next = acked_end + (in_flight_present ? 1u : 0u);
    }
    /* The loop must have exercised something: many acknowledged puts and several files. */
    CHECK_MSG(total_acks >= cfg->cycles, "only %llu acknowledged puts in %u cycles", (unsigned long long)total_acks,
              cfg->cycles);
    CHECK_MSG(t_list_ids(root, "data", NULL, 0) > 3, "only %zu data files", t_list_ids(root, "data", NULL, 0));
    if (getenv("BITGASK_TEST_VERBOSE"))
        t_note("%u cycles: %llu acknowledged puts, %u keys, %u cycles killed before any ack, %u with the put in flight "
               "present, %zu data files, seed %llu",
               cfg->cycles, (unsigned long long)total_acks, (unsigned)next, no_ack_cycles, in_flight_cycles,
               t_list_ids(root, "data", NULL, 0), (unsigned long long)seed);
    bitgask_options_free(o);
}

TEST(kill9_loop_keeps_every_acknowledged_put) {
    /* 1,000 cycles with BITGASK_SOAK=1 (make soak). */
    const char *soak = getenv("BITGASK_SOAK");
    crash_cfg cfg;
    cfg.cycles = soak != NULL && strcmp(soak, "0") != 0 ? 1000 : 100;
    cfg.sync_on_put = true;
    cfg.max_file_size = 4096;
    cfg.max_puts_per_cycle = 150;
    cfg.max_delay_us = 4000;
    kill9_loop(&cfg);
}

TEST(kill9_loop_without_per_write_sync_keeps_returned_puts) {
    /* Without fdatasync a returned put is in the page cache: a process crash must not lose it. */
    crash_cfg cfg;
    cfg.cycles = 30;
    cfg.sync_on_put = false;
    cfg.max_file_size = 4096;
    cfg.max_puts_per_cycle = 150;
    cfg.max_delay_us = 2000;
    kill9_loop(&cfg);
}
