/* Many threads on one handle: durable puts (group commit), readers racing writers. */
#include "check.h"

#include <pthread.h>
#include <sched.h>

#define N_THREADS 8
#define PUTS_PER_THREAD 250

typedef struct writer_arg {
    bitgask_db *db;
    int id;
    int failures;
    bitgask_status first_error;
    char message[256];
} writer_arg;

static size_t thread_key(char *out, size_t cap, int thread, int i) {
    return (size_t)snprintf(out, cap, "thread-%d-key-%05d", thread, i);
}

static size_t thread_value(char *out, size_t cap, int thread, int i) {
    /* The value names its key, padded to a length that varies. */
    int n = snprintf(out, cap, "value-of-%d-%d:", thread, i);
    size_t len = n < 0 ? 0 : (size_t)n, pad = (size_t)((thread * 131 + i * 17) % 150), j;
    for (j = 0; j < pad && len + 1 < cap; j++)
        out[len++] = (char)('A' + (thread + i + (int)j) % 26);
    return len;
}

static void *writer_main(void *p) {
    writer_arg *a = (writer_arg *)p;
    char k[64], v[256];
    int i;
    for (i = 0; i < PUTS_PER_THREAD; i++) {
        bitgask_error *err = NULL;
        size_t kl = thread_key(k, sizeof k, a->id, i), vl = thread_value(v, sizeof v, a->id, i);
        bitgask_status s = bitgask_put(a->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
        if (s != BITGASK_OK) {
            if (a->failures++ == 0) {
                a->first_error = s;
                snprintf(a->message, sizeof a->message, "%s", bitgask_error_message(err));
            }
        }
        bitgask_error_free(err);
    }
    return NULL;
}

static void run_writers(uint64_t max_file_size) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(max_file_size);
    bitgask_db *db;
    pthread_t th[N_THREADS];
    writer_arg args[N_THREADS];
    char k[64], v[256];
    bitgask_stats st;
    int t, i;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    for (t = 0; t < N_THREADS; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t].db = db;
        args[t].id = t;
        CHECK(pthread_create(&th[t], NULL, writer_main, &args[t]) == 0);
    }
    for (t = 0; t < N_THREADS; t++)
        CHECK(pthread_join(th[t], NULL) == 0);
    for (t = 0; t < N_THREADS; t++)
        CHECK_MSG(args[t].failures == 0, "thread %d: %d puts failed, first %d (%s): %s", t, args[t].failures,
                  (int)args[t].first_error, bitgask_status_str(args[t].first_error), args[t].message);
    CHECK(t_stats(db, &st));
    CHECK(st.keys == N_THREADS * PUTS_PER_THREAD);
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    for (t = 0; t < N_THREADS; t++) {
        for (i = 0; i < PUTS_PER_THREAD; i++) {
            size_t kl = thread_key(k, sizeof k, t, i), vl = thread_value(v, sizeof v, t, i);
            CHECK_MSG(t_has(db, k, kl, v, vl), "thread %d key %d after reopen", t, i);
        }
    }
    CHECK(t_stats(db, &st));
    CHECK(st.keys == N_THREADS * PUTS_PER_THREAD);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(eight_threads_of_durable_puts_all_survive_reopen) {
    run_writers(0);
}

TEST(eight_threads_of_durable_puts_with_rotation) {
    run_writers(4096);
}

/* ---- readers racing writers on shared keys ---- */

#define SHARED_KEYS 16
#define ROUNDS 100

typedef struct race_arg {
    bitgask_db *db;
    int id;
    int *stop;
    long bad;  /* reads that returned something no writer ever wrote */
    long errors;
    long reads;
    char detail[256];
} race_arg;

/* Writer w, round r, key k: "k<k>|w<w>|r<r>|" then a checksum character. */
static size_t race_value(char *out, size_t cap, int k, int w, int r) {
    int n = snprintf(out, cap, "k%d|w%d|r%d|", k, w, r);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len + 2 <= cap) {
        out[len] = (char)('a' + (k * 7 + w * 3 + r) % 26);
        len++;
        out[len] = '\0';
    }
    return len;
}

static bool race_value_ok(const uint8_t *v, size_t vl, int key) {
    char buf[64];
    int k, w, r;
    if (vl == 0 || vl >= sizeof buf)
        return false;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    if (sscanf(buf, "k%d|w%d|r%d|", &k, &w, &r) != 3 || k != key)
        return false;
    {
        char again[64];
        size_t n = race_value(again, sizeof again, k, w, r);
        return n == vl && memcmp(again, v, vl) == 0;
    }
}

static void *race_writer(void *p) {
    race_arg *a = (race_arg *)p;
    char k[16], v[64];
    int r, key;
    for (r = 0; r < ROUNDS; r++) {
        for (key = a->id % 2; key < SHARED_KEYS; key += 2) {
            size_t kl = (size_t)snprintf(k, sizeof k, "shared-%02d", key), vl = race_value(v, sizeof v, key, a->id, r);
            if (bitgask_put(a->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) != BITGASK_OK)
                a->errors++;
        }
    }
    return NULL;
}

static void *race_reader(void *p) {
    race_arg *a = (race_arg *)p;
    char k[16];
    uint64_t rng = (uint64_t)a->id * 7919u + 1u;
    while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE)) {
        int key = (int)(t_rand(&rng) % SHARED_KEYS);
        size_t kl = (size_t)snprintf(k, sizeof k, "shared-%02d", key);
        uint8_t *v = NULL;
        size_t vl = 0;
        bitgask_status s = bitgask_get(a->db, (const uint8_t *)k, kl, &v, &vl, NULL);
        a->reads++;
        if (s == BITGASK_OK) {
            if (!race_value_ok(v, vl, key) && a->bad++ == 0)
                snprintf(a->detail, sizeof a->detail, "key %d read %zu bytes: %.*s", key, vl, (int)(vl < 60 ? vl : 60),
                         (const char *)v);
            bitgask_free(v);
        } else if (s != BITGASK_NOT_FOUND) {
            a->errors++;
        }
        if (a->reads % 64 == 0)
            sched_yield(); /* leave the writers some CPU on small machines */
    }
    return NULL;
}

TEST(readers_racing_writers_never_see_a_torn_or_foreign_value) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(2048);
    bitgask_db *db;
    pthread_t th[8];
    race_arg args[8];
    int stop = 0;
    char k[16], v[64];
    int t, key;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    for (t = 0; t < 8; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t].db = db;
        args[t].id = t;
        args[t].stop = &stop;
        CHECK(pthread_create(&th[t], NULL, t < 4 ? race_writer : race_reader, &args[t]) == 0);
    }
    for (t = 0; t < 4; t++)
        CHECK(pthread_join(th[t], NULL) == 0);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (t = 4; t < 8; t++)
        CHECK(pthread_join(th[t], NULL) == 0);
    for (t = 0; t < 8; t++) {
        CHECK_MSG(args[t].errors == 0, "thread %d had %ld failed calls", t, args[t].errors);
        CHECK_MSG(args[t].bad == 0, "thread %d read %ld bad values, first: %s", t, args[t].bad, args[t].detail);
    }
    /* Each key ends with the last round of one of the writers that wrote it. */
    for (key = 0; key < SHARED_KEYS; key++) {
        uint8_t *got = NULL;
        size_t gl = 0;
        bool match = false;
        bitgask_error *err = NULL;
        size_t kl = (size_t)snprintf(k, sizeof k, "shared-%02d", key);
        CHECK_OK(bitgask_get(db, (const uint8_t *)k, kl, &got, &gl, &err), err);
        for (t = key % 2; t < 4; t += 2) {
            size_t vl = race_value(v, sizeof v, key, t, ROUNDS - 1);
            match = match || (vl == gl && memcmp(v, got, gl) == 0);
        }
        bitgask_free(got);
        CHECK_MSG(match, "key %d does not hold a final value", key);
    }
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- in-memory state versus the log ---- */

#define MIX_KEYS 12
#define MIX_OPS 400

typedef struct mix_arg {
    bitgask_db *db;
    int id;
    long errors;
    bitgask_status first_error;
} mix_arg;

/* Random puts, put_ttls (long), deletes, expires (long) and persists on a few shared keys. */
static void *mixer(void *p) {
    mix_arg *a = (mix_arg *)p;
    uint64_t rng = (uint64_t)a->id * 0x9E3779B97F4A7C15ull + 12345u;
    char k[16], v[64];
    int i;
    for (i = 0; i < MIX_OPS; i++) {
        uint64_t r = t_rand(&rng);
        size_t kl = (size_t)snprintf(k, sizeof k, "mix-%02d", (int)(r % MIX_KEYS));
        size_t vl = (size_t)snprintf(v, sizeof v, "t%d-op%d-%.*s", a->id, i, (int)((r >> 20) % 40), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        bitgask_status s;
        switch ((r >> 8) % 6) {
        case 0:
        case 1:
            s = bitgask_put(a->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL);
            break;
        case 2:
            s = bitgask_put_ttl(a->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, 3600000, NULL);
            break;
        case 3:
            s = bitgask_delete(a->db, (const uint8_t *)k, kl, NULL);
            break;
        case 4:
            s = bitgask_expire(a->db, (const uint8_t *)k, kl, (r >> 40) % 2 ? 3600000 : 7200000, NULL);
            break;
        default:
            s = bitgask_persist(a->db, (const uint8_t *)k, kl, NULL);
            break;
        }
        if (s != BITGASK_OK && s != BITGASK_NOT_FOUND && a->errors++ == 0)
            a->first_error = s;
    }
    return NULL;
}

typedef struct key_state {
    bool present;
    bool has_ttl;
    size_t vlen;
    uint8_t val[64];
} key_state;

static bool snapshot(bitgask_db *db, key_state *out) {
    int i;
    for (i = 0; i < MIX_KEYS; i++) {
        char k[16];
        size_t kl = (size_t)snprintf(k, sizeof k, "mix-%02d", i);
        uint8_t *v = NULL;
        size_t vl = 0;
        int64_t ttl = 0;
        bitgask_status s = bitgask_get(db, (const uint8_t *)k, kl, &v, &vl, NULL);
        memset(&out[i], 0, sizeof out[i]);
        if (s == BITGASK_NOT_FOUND)
            continue;
        if (s != BITGASK_OK || vl > sizeof out[i].val) {
            bitgask_free(v);
            t_note("snapshot: get %s: %d", k, (int)s);
            return false;
        }
        out[i].present = true;
        out[i].vlen = vl;
        memcpy(out[i].val, v, vl);
        bitgask_free(v);
        if (bitgask_ttl_ms(db, (const uint8_t *)k, kl, &ttl, NULL) != BITGASK_OK)
            return false;
        out[i].has_ttl = ttl != -1;
    }
    return true;
}

static void mixed_writers(bool sync) {
    const char *root = t_tmpdir();
    bitgask_options *o = sync ? t_opts(2048) : t_opts_nosync(2048);
    bitgask_db *db;
    pthread_t th[4];
    mix_arg args[4];
    key_state before[MIX_KEYS], after[MIX_KEYS];
    int t, i, round;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    for (round = 0; round < 3; round++) {
        for (t = 0; t < 4; t++) {
            memset(&args[t], 0, sizeof args[t]);
            args[t].db = db;
            args[t].id = t + 4 * round;
            CHECK(pthread_create(&th[t], NULL, mixer, &args[t]) == 0);
        }
        for (t = 0; t < 4; t++)
            CHECK(pthread_join(th[t], NULL) == 0);
        for (t = 0; t < 4; t++)
            CHECK_MSG(args[t].errors == 0, "thread %d: %ld failed calls, first %d (%s)", t, args[t].errors,
                      (int)args[t].first_error, bitgask_status_str(args[t].first_error));
        CHECK(snapshot(db, before));
        CHECK(t_close(db));
        /* What recovery rebuilds from the files must be exactly what the handle served. */
        CHECK((db = t_open(root, o)) != NULL);
        CHECK(snapshot(db, after));
        for (i = 0; i < MIX_KEYS; i++) {
            CHECK_MSG(before[i].present == after[i].present, "round %d key %d: present %d before close, %d after reopen",
                      round, i, (int)before[i].present, (int)after[i].present);
            CHECK_MSG(before[i].vlen == after[i].vlen && memcmp(before[i].val, after[i].val, before[i].vlen) == 0,
                      "round %d key %d: value %.*s before close, %.*s after reopen", round, i, (int)before[i].vlen,
                      (const char *)before[i].val, (int)after[i].vlen, (const char *)after[i].val);
            CHECK_MSG(before[i].has_ttl == after[i].has_ttl, "round %d key %d: expiry differs after reopen", round, i);
        }
    }
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(concurrent_mixed_writes_leave_the_state_recovery_rebuilds) {
    mixed_writers(true);
}

TEST(concurrent_mixed_writes_without_sync_leave_the_state_recovery_rebuilds) {
    mixed_writers(false);
}
