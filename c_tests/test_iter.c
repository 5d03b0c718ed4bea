/* Cursors and fold: byte order, prefixes, ranges, snapshots, skipped values, early stop. */
#include "check.h"

typedef struct bkey {
    uint8_t b[8];
    size_t n;
} bkey;

/* Keys chosen to trip signed-char comparisons and length-first orders: bytes >= 0x80, a NUL
 * byte, and keys that are prefixes of others. */
static const bkey t_keys[] = {
    {{'a'}, 1},
    {{'a', 'b'}, 2},
    {{'a', 'b', 'c'}, 3},
    {{'a', 0x00}, 2},
    {{'a', 0xFF}, 2},
    {{'a', 0x80, 'z'}, 3},
    {{'b'}, 1},
    {{'b', 'a'}, 2},
    {{0x7F}, 1},
    {{0x80}, 1},
    {{0x80, 0x00}, 2},
    {{0xC3, 0xA9}, 2},
    {{0xFF}, 1},
    {{0xFF, 0xFF, 0xFF}, 3},
    {{0x00}, 1},
    {{'0', '1'}, 2},
    {{'Z'}, 1},
};
#define T_NKEYS (sizeof t_keys / sizeof t_keys[0])

static int bkey_cmp(const bkey *a, const bkey *b) {
    size_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->b, b->b, n);
    if (c != 0)
        return c;
    return (a->n > b->n) - (a->n < b->n);
}

static int bkey_qsort_cmp(const void *a, const void *b) {
    return bkey_cmp((const bkey *)a, (const bkey *)b);
}

/* The value stored under a key: its bytes reversed, then its length as a letter. */
static size_t value_of(const bkey *k, uint8_t *out) {
    size_t i;
    for (i = 0; i < k->n; i++)
        out[i] = k->b[k->n - 1 - i];
    out[k->n] = (uint8_t)('A' + k->n);
    return k->n + 1;
}

static bool fill(bitgask_db *db) {
    size_t i;
    for (i = 0; i < T_NKEYS; i++) {
        uint8_t v[16];
        size_t vl = value_of(&t_keys[i], v);
        if (bitgask_put(db, t_keys[i].b, t_keys[i].n, v, vl, NULL) != BITGASK_OK)
            return false;
    }
    return true;
}

static bool has_prefix(const bkey *k, const uint8_t *p, size_t pl) {
    return k->n >= pl && memcmp(k->b, p, pl) == 0;
}

/* Expected keys in order: every test key that passes the filter, sorted. */
typedef bool (*key_filter)(const bkey *k, const void *arg);

static size_t expected(key_filter f, const void *arg, bkey *out) {
    size_t i, n = 0;
    for (i = 0; i < T_NKEYS; i++)
        if (f(&t_keys[i], arg))
            out[n++] = t_keys[i];
    qsort(out, n, sizeof out[0], bkey_qsort_cmp);
    return n;
}

/* Drains an iterator and compares with want[0..n): keys in order and their values. */
static bool drain_matches(bitgask_iter *it, const bkey *want, size_t n, bool with_values) {
    size_t i = 0;
    for (;;) {
        const uint8_t *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        bitgask_error *err = NULL;
        bitgask_status s = with_values ? bitgask_iter_next(it, &k, &kl, &v, &vl, &err)
                                       : bitgask_iter_next(it, &k, &kl, NULL, NULL, &err);
        if (s == BITGASK_ITER_DONE)
            break;
        if (s != BITGASK_OK) {
            t_note("iter_next: %d (%s) %s", (int)s, bitgask_status_str(s), bitgask_error_message(err));
            bitgask_error_free(err);
            return false;
        }
        if (i >= n) {
            t_note("iterator yielded more than the %zu expected keys", n);
            return false;
        }
        if (kl != want[i].n || memcmp(k, want[i].b, kl) != 0) {
            t_note("key #%zu: got %zu bytes starting 0x%02x, expected %zu bytes starting 0x%02x", i, kl,
                   kl ? k[0] : 0u, want[i].n, want[i].b[0]);
            return false;
        }
        if (with_values) {
            uint8_t ev[16];
            size_t evl = value_of(&want[i], ev);
            if (vl != evl || memcmp(v, ev, evl) != 0) {
                t_note("value of key #%zu is wrong", i);
                return false;
            }
        }
        i++;
    }
    if (i != n) {
        t_note("iterator yielded %zu keys, expected %zu", i, n);
        return false;
    }
    return true;
}

static bool any_key(const bkey *k, const void *arg) {
    (void)k;
    (void)arg;
    return true;
}

typedef struct prefix_arg {
    const uint8_t *p;
    size_t n;
} prefix_arg;

static bool with_prefix(const bkey *k, const void *arg) {
    const prefix_arg *pa = (const prefix_arg *)arg;
    return has_prefix(k, pa->p, pa->n);
}

typedef struct range_arg {
    bkey start;
    bkey end;
    bool has_end;
} range_arg;

static bool in_range(const bkey *k, const void *arg) {
    const range_arg *r = (const range_arg *)arg;
    return bkey_cmp(k, &r->start) >= 0 && (!r->has_end || bkey_cmp(k, &r->end) < 0);
}

TEST(iter_all_keys_come_out_in_byte_order) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    bkey want[T_NKEYS];
    size_t n;
    int round;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(fill(db));
    n = expected(any_key, NULL, want);
    CHECK(n == T_NKEYS);
    for (round = 0; round < 2; round++) {
        CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
        CHECK(drain_matches(it, want, n, true));
        bitgask_iter_free(it);
        it = NULL;
        /* And after a reopen (keys now come from the recovered keydir). */
        CHECK(t_close(db));
        CHECK((db = t_open(root, NULL)) != NULL);
    }
    CHECK(t_close(db));
}

TEST(iter_prefix_selects_and_orders) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    static const uint8_t p_a[] = {'a'};
    static const uint8_t p_ab[] = {'a', 'b'};
    static const uint8_t p_ff[] = {0xFF};
    static const uint8_t p_80[] = {0x80};
    static const uint8_t p_abc[] = {'a', 'b', 'c'};
    static const uint8_t p_none[] = {'q'};
    static const uint8_t p_long[] = {'a', 'b', 'c', 'd'};
    const uint8_t *prefixes[7] = {p_a, p_ab, p_ff, p_80, p_abc, p_none, p_long};
    size_t lens[7] = {1, 2, 1, 1, 3, 1, 4};
    bkey want[T_NKEYS];
    size_t n, i;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(fill(db));
    for (i = 0; i < 7; i++) {
        prefix_arg pa;
        pa.p = prefixes[i];
        pa.n = lens[i];
        n = expected(with_prefix, &pa, want);
        CHECK_OK(bitgask_iter_new(db, prefixes[i], lens[i], &it, &err), err);
        CHECK_MSG(drain_matches(it, want, n, true), "prefix #%zu", i);
        bitgask_iter_free(it);
        it = NULL;
    }
    /* Sanity of the expectations themselves: "a" matches 6 keys, "q" none. */
    {
        prefix_arg pa;
        pa.p = p_a;
        pa.n = 1;
        CHECK(expected(with_prefix, &pa, want) == 6);
    }
    CHECK(t_close(db));
}

TEST(iter_range_with_and_without_end) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    bkey want[T_NKEYS];
    range_arg r;
    size_t n;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(fill(db));

    /* ["ab", "b") */
    memset(&r, 0, sizeof r);
    r.start.b[0] = 'a';
    r.start.b[1] = 'b';
    r.start.n = 2;
    r.end.b[0] = 'b';
    r.end.n = 1;
    r.has_end = true;
    n = expected(in_range, &r, want);
    CHECK(n == 4); /* ab, abc, a\x80z, a\xff */
    CHECK_OK(bitgask_iter_range(db, r.start.b, r.start.n, r.end.b, r.end.n, &it, &err), err);
    CHECK(drain_matches(it, want, n, true));
    bitgask_iter_free(it);

    /* ["ab", no end) */
    r.has_end = false;
    n = expected(in_range, &r, want);
    CHECK_OK(bitgask_iter_range(db, r.start.b, r.start.n, NULL, 0, &it, &err), err);
    CHECK(drain_matches(it, want, n, true));
    bitgask_iter_free(it);
    /* end NULL means no bound even with a nonzero length */
    CHECK_OK(bitgask_iter_range(db, r.start.b, r.start.n, NULL, 5, &it, &err), err);
    CHECK(drain_matches(it, want, n, false));
    bitgask_iter_free(it);

    /* [first key, 0x80) with start NULL */
    memset(&r, 0, sizeof r);
    r.end.b[0] = 0x80;
    r.end.n = 1;
    r.has_end = true;
    n = expected(in_range, &r, want);
    CHECK_OK(bitgask_iter_range(db, NULL, 0, r.end.b, r.end.n, &it, &err), err);
    CHECK(drain_matches(it, want, n, true));
    bitgask_iter_free(it);

    /* [0x80, no end): only the high keys */
    memset(&r, 0, sizeof r);
    r.start.b[0] = 0x80;
    r.start.n = 1;
    n = expected(in_range, &r, want);
    CHECK(n == 5);
    CHECK_OK(bitgask_iter_range(db, r.start.b, 1, NULL, 0, &it, &err), err);
    CHECK(drain_matches(it, want, n, true));
    bitgask_iter_free(it);

    /* NULL start, NULL end: everything */
    n = expected(any_key, NULL, want);
    CHECK_OK(bitgask_iter_range(db, NULL, 0, NULL, 0, &it, &err), err);
    CHECK(drain_matches(it, want, n, true));
    bitgask_iter_free(it);

    /* Empty ranges: start == end, start > end. */
    CHECK_OK(bitgask_iter_range(db, (const uint8_t *)"b", 1, (const uint8_t *)"b", 1, &it, &err), err);
    CHECK(drain_matches(it, want, 0, true));
    bitgask_iter_free(it);
    CHECK_OK(bitgask_iter_range(db, (const uint8_t *)"b", 1, (const uint8_t *)"a", 1, &it, &err), err);
    CHECK(drain_matches(it, want, 0, true));
    bitgask_iter_free(it);
    CHECK(t_close(db));
}

TEST(iter_next_with_null_value_skips_the_value) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    const uint8_t *k = NULL;
    size_t kl = 0, vl = 999;
    bkey want[T_NKEYS];
    size_t n;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(fill(db));
    n = expected(any_key, NULL, want);
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK(drain_matches(it, want, n, false));
    bitgask_iter_free(it);
    /* val NULL with a vlen pointer: vlen is left alone. */
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK_OK(bitgask_iter_next(it, &k, &kl, NULL, &vl, &err), err);
    CHECK(kl == want[0].n && memcmp(k, want[0].b, kl) == 0);
    CHECK(vl == 999);
    bitgask_iter_free(it);
    CHECK(t_close(db));
}

TEST(iter_is_a_snapshot_of_keys_and_skips_later_deletes) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    const uint8_t *k, *v;
    size_t kl, vl;
    char seen[16][8];
    size_t nseen = 0;
    bitgask_status s;
    const char *keys[6] = {"k1", "k2", "k3", "k4", "k5", "k6"};
    int i;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 6; i++)
        CHECK_OK(t_put_s(db, keys[i], "old", &err), err);
    CHECK_OK(bitgask_iter_new(db, KS("k"), &it, &err), err);
    /* Changes after the snapshot: delete two keys (one already visited later), overwrite one,
     * add one, expire one. */
    CHECK_OK(bitgask_iter_next(it, &k, &kl, &v, &vl, &err), err);
    CHECK(kl == 2 && memcmp(k, "k1", 2) == 0 && vl == 3 && memcmp(v, "old", 3) == 0);
    CHECK_OK(bitgask_delete(db, KS("k2"), &err), err);
    CHECK_OK(bitgask_delete(db, KS("k5"), &err), err);
    CHECK_OK(t_put_s(db, "k3", "new", &err), err);
    CHECK_OK(t_put_s(db, "k0", "added", &err), err);
    CHECK_OK(t_put_s(db, "k9", "added", &err), err);
    CHECK_OK(bitgask_expire(db, KS("k6"), 1, &err), err); /* the shortest TTL there is */
    t_sleep_ms(5);
    while ((s = bitgask_iter_next(it, &k, &kl, &v, &vl, &err)) == BITGASK_OK) {
        CHECK(nseen < 16 && kl < 8);
        memcpy(seen[nseen], k, kl);
        seen[nseen][kl] = '\0';
        if (strcmp(seen[nseen], "k3") == 0)
            CHECK_MSG(vl == 3 && memcmp(v, "new", 3) == 0, "k3 should show the value current at visit time");
        nseen++;
    }
    CHECK_STATUS(s, BITGASK_ITER_DONE, err);
    CHECK_MSG(nseen == 2, "visited %zu more keys, expected k3 and k4", nseen);
    CHECK(strcmp(seen[0], "k3") == 0 && strcmp(seen[1], "k4") == 0);
    /* ITER_DONE is sticky. */
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, &v, &vl, &err), BITGASK_ITER_DONE, err);
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_ITER_DONE, err);
    bitgask_iter_free(it);
    CHECK(t_close(db));
}

TEST(iter_skips_keys_that_expire_after_creation) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    const uint8_t *k;
    size_t kl;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_put_ttl(db, KS("a-short"), KS("x"), 50, &err), err);
    CHECK_OK(t_put_s(db, "b-long", "y", &err), err);
    CHECK_OK(bitgask_put_ttl(db, KS("c-short"), KS("x"), 50, &err), err);
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    t_sleep_ms(120);
    CHECK_OK(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), err);
    CHECK(kl == 6 && memcmp(k, "b-long", 6) == 0);
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_ITER_DONE, err);
    bitgask_iter_free(it);
    /* A fresh cursor does not see them either. */
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK_OK(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), err);
    CHECK(kl == 6 && memcmp(k, "b-long", 6) == 0);
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_ITER_DONE, err);
    bitgask_iter_free(it);
    CHECK(t_close(db));
}

TEST(iter_on_an_empty_database_is_done_at_once) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    const uint8_t *k;
    size_t kl;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK(it != NULL);
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_ITER_DONE, err);
    bitgask_iter_free(it);
    CHECK(t_close(db));
}

TEST(iter_outliving_close_reports_closed) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    const uint8_t *k = NULL;
    size_t kl = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "a", "1", &err), err);
    CHECK_OK(t_put_s(db, "b", "2", &err), err);
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK_OK(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), err);
    CHECK(t_close(db));
    k = NULL;
    kl = 0;
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_E_CLOSED, err);
    CHECK(k == NULL && kl == 0);
    bitgask_iter_free(it);
    /* The database is really closed: it can be opened again. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_close(db));
}

TEST(iter_over_many_keys_in_many_files) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    const uint8_t *k, *v;
    size_t kl, vl;
    char key[32], val[256];
    uint32_t i, n = 0;
    bitgask_status s;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    /* Insert in a scrambled order; 1000 is coprime with 7919. */
    for (i = 0; i < 1000; i++) {
        uint32_t j = (i * 7919u) % 1000u;
        size_t kl2 = t_key(key, sizeof key, j), vl2 = t_value(val, sizeof val, j, 0);
        CHECK_OK(bitgask_put(db, (const uint8_t *)key, kl2, (const uint8_t *)val, vl2, &err), err);
    }
    CHECK(t_list_ids(root, "data", NULL, 0) > 10);
    CHECK_OK(bitgask_iter_new(db, KS("key-"), &it, &err), err);
    while ((s = bitgask_iter_next(it, &k, &kl, &v, &vl, &err)) == BITGASK_OK) {
        size_t ekl = t_key(key, sizeof key, n), evl = t_value(val, sizeof val, n, 0);
        CHECK_MSG(kl == ekl && memcmp(k, key, kl) == 0, "key #%u out of order", (unsigned)n);
        CHECK_MSG(vl == evl && memcmp(v, val, vl) == 0, "value of key #%u", (unsigned)n);
        n++;
    }
    CHECK_STATUS(s, BITGASK_ITER_DONE, err);
    CHECK(n == 1000);
    bitgask_iter_free(it);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- fold ---- */

typedef struct fold_ctx {
    size_t calls;
    size_t stop_at; /* return nonzero on this call (1-based); 0: never */
    bkey seen[T_NKEYS + 4];
    bool values_ok;
    bitgask_db *db; /* when set, the callback reads the key back through bitgask_get */
    bool reads_ok;
} fold_ctx;

static int fold_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    fold_ctx *c = (fold_ctx *)ctx;
    uint8_t ev[16];
    size_t evl;
    if (c->calls < T_NKEYS + 4 && klen <= sizeof c->seen[0].b) {
        memcpy(c->seen[c->calls].b, key, klen);
        c->seen[c->calls].n = klen;
        evl = value_of(&c->seen[c->calls], ev);
        if (vlen != evl || memcmp(val, ev, evl) != 0)
            c->values_ok = false;
    }
    if (c->db != NULL) {
        uint8_t *got = NULL;
        size_t gl = 0;
        if (bitgask_get(c->db, key, klen, &got, &gl, NULL) != BITGASK_OK || gl != vlen || memcmp(got, val, gl) != 0)
            c->reads_ok = false;
        bitgask_free(got);
    }
    c->calls++;
    return c->stop_at != 0 && c->calls == c->stop_at;
}

TEST(fold_visits_in_byte_order_and_stops_on_nonzero) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    fold_ctx *c = (fold_ctx *)calloc(1, sizeof(fold_ctx));
    bkey want[T_NKEYS];
    size_t n, i;
    prefix_arg pa;
    CHECK(c != NULL);
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(fill(db));
    n = expected(any_key, NULL, want);

    c->values_ok = true;
    CHECK_OK(bitgask_fold(db, NULL, 0, fold_cb, c, &err), err);
    CHECK(c->calls == n && c->values_ok);
    for (i = 0; i < n; i++)
        CHECK_MSG(bkey_cmp(&c->seen[i], &want[i]) == 0, "fold key #%zu out of order", i);

    /* Stop after the third call: exactly three calls, and the caller can tell it was stopped. */
    memset(c, 0, sizeof *c);
    c->values_ok = true;
    c->stop_at = 3;
    CHECK_STATUS(bitgask_fold(db, NULL, 0, fold_cb, c, &err), BITGASK_STOPPED, err);
    CHECK_MSG(c->calls == 3, "%zu calls", c->calls);
    for (i = 0; i < 3; i++)
        CHECK(bkey_cmp(&c->seen[i], &want[i]) == 0);
    /* Stop on the first. */
    memset(c, 0, sizeof *c);
    c->stop_at = 1;
    CHECK_STATUS(bitgask_fold(db, NULL, 0, fold_cb, c, &err), BITGASK_STOPPED, err);
    CHECK(c->calls == 1);
    /* Stopping at the last key is still a stop; a fold that ran out of keys is OK. */
    memset(c, 0, sizeof *c);
    c->stop_at = n;
    CHECK_STATUS(bitgask_fold(db, NULL, 0, fold_cb, c, &err), BITGASK_STOPPED, err);
    CHECK(c->calls == n);

    /* With a prefix. */
    memset(c, 0, sizeof *c);
    c->values_ok = true;
    pa.p = (const uint8_t *)"a";
    pa.n = 1;
    n = expected(with_prefix, &pa, want);
    CHECK_OK(bitgask_fold(db, (const uint8_t *)"a", 1, fold_cb, c, &err), err);
    CHECK(c->calls == n && c->values_ok);
    for (i = 0; i < n; i++)
        CHECK(bkey_cmp(&c->seen[i], &want[i]) == 0);
    CHECK(t_close(db));
    free(c);
}

TEST(fold_callback_may_read_the_database) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    fold_ctx *c = (fold_ctx *)calloc(1, sizeof(fold_ctx));
    CHECK(c != NULL);
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(fill(db));
    c->values_ok = true;
    c->reads_ok = true;
    c->db = db;
    CHECK_OK(bitgask_fold(db, NULL, 0, fold_cb, c, &err), err);
    CHECK(c->calls == T_NKEYS && c->values_ok && c->reads_ok);
    CHECK(t_close(db));
    free(c);
}

typedef struct writing_fold {
    bitgask_db *db;
    size_t calls;
    int failures;
} writing_fold;

/* Deletes the next key, rewrites the current one, and adds keys outside the snapshot. */
static int writing_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    writing_fold *c = (writing_fold *)ctx;
    uint8_t next[16], added[16];
    (void)val;
    (void)vlen;
    c->calls++;
    if (klen != 2 || key[0] != 'k')
        return 1;
    memcpy(next, key, klen);
    next[1] = (uint8_t)(key[1] + 1);
    /* deleted after the snapshot: must not be visited (NOT_FOUND past the last key) */
    if (bitgask_delete(c->db, next, 2, NULL) < 0)
        c->failures++;
    if (bitgask_put(c->db, key, klen, (const uint8_t *)"seen", 4, NULL) != BITGASK_OK)
        c->failures++;
    added[0] = 'z';
    added[1] = key[1];
    if (bitgask_put(c->db, added, 2, (const uint8_t *)"new", 3, NULL) != BITGASK_OK)
        c->failures++;
    return 0;
}

TEST(fold_callback_may_write_to_the_database) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    writing_fold c;
    char k[3];
    int i;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "k%c", 'a' + i);
        CHECK_OK(t_put_s(db, k, "orig", &err), err);
    }
    memset(&c, 0, sizeof c);
    c.db = db;
    CHECK_OK(bitgask_fold(db, (const uint8_t *)"k", 1, writing_cb, &c, &err), err);
    CHECK(c.failures == 0);
    /* ka visited (deletes kb), kc visited (deletes kd), ... : 4 visits */
    CHECK_MSG(c.calls == 4, "%zu calls", c.calls);
    for (i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "k%c", 'a' + i);
        if (i % 2 == 0)
            CHECK(t_has_s(db, k, "seen"));
        else
            CHECK(t_absent_s(db, k));
    }
    CHECK(t_close(db));
}
