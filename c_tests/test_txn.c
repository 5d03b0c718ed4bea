/* Optimistic transactions: bitgask_txn_*, the conflict rules, own writes, isolation. */
#include "check.h"

#include <pthread.h>

static bitgask_txn *begin(bitgask_db *db) {
    bitgask_txn *t = NULL;
    return bitgask_txn_begin(db, &t, NULL) == BITGASK_OK ? t : NULL;
}

static bool txn_has(bitgask_txn *t, const char *key, const char *val) {
    uint8_t *v = NULL;
    size_t vl = 0;
    bool same;
    if (bitgask_txn_get(t, KS(key), &v, &vl, NULL) != BITGASK_OK)
        return false;
    same = vl == strlen(val) && memcmp(v, val, vl) == 0;
    bitgask_free(v);
    return same;
}

TEST(txn_commit_writes_everything_at_once) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_txn *t;
    bitgask_db *db;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "gone", "x", &err), err);
    CHECK((t = begin(db)) != NULL);
    CHECK_OK(bitgask_txn_put(t, KS("a"), (const uint8_t *)"1", 1, &err), err);
    CHECK_OK(bitgask_txn_put_ttl(t, KS("b"), (const uint8_t *)"2", 1, 60000, &err), err);
    CHECK_OK(bitgask_txn_delete(t, KS("gone"), &err), err);
    CHECK(t_absent_s(db, "a") && t_has_s(db, "gone", "x")); /* nothing before the commit */
    CHECK_OK(bitgask_txn_commit(t, &err), err);
    CHECK(t_has_s(db, "a", "1") && t_has_s(db, "b", "2") && t_absent_s(db, "gone"));
    CHECK(t_close(db));
}

TEST(txn_sees_its_own_writes_first) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_txn *t;
    bitgask_iter *it = NULL;
    bitgask_db *db;
    const uint8_t *k, *v;
    size_t kl, vl;
    uint8_t *got = NULL;
    bool ex = true;
    char seen[64] = "";
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "a", "db", &err), err);
    CHECK_OK(t_put_s(db, "b", "db", &err), err);
    CHECK_OK(t_put_s(db, "c", "db", &err), err);
    CHECK((t = begin(db)) != NULL);
    CHECK_OK(bitgask_txn_put(t, KS("a"), (const uint8_t *)"mine", 4, &err), err);
    CHECK_OK(bitgask_txn_delete(t, KS("b"), &err), err);
    CHECK(txn_has(t, "a", "mine") && txn_has(t, "c", "db"));
    CHECK_STATUS(bitgask_txn_get(t, KS("b"), &got, &vl, &err), BITGASK_NOT_FOUND, err);
    CHECK_OK(bitgask_txn_exists(t, KS("b"), &ex, &err), err);
    CHECK(!ex);
    CHECK_OK(bitgask_txn_iter_new(t, NULL, 0, &it, &err), err);
    while (bitgask_iter_next(it, &k, &kl, &v, &vl, &err) == BITGASK_OK) {
        strncat(seen, (const char *)k, kl);
        strcat(seen, "=");
        strncat(seen, (const char *)v, vl);
        strcat(seen, ";");
    }
    bitgask_iter_free(it);
    CHECK_MSG(strcmp(seen, "a=mine;c=db;") == 0, "iteration saw %s", seen);
    bitgask_txn_discard(t);
    CHECK(t_has_s(db, "a", "db") && t_has_s(db, "b", "db"));
    bitgask_txn_discard(NULL);
    CHECK(t_close(db));
}

TEST(txn_conflicts_on_each_kind_of_read) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_txn *t;
    bitgask_iter *it = NULL;
    bitgask_db *db;
    const uint8_t *k;
    size_t kl;
    uint8_t *got = NULL;
    size_t gl;
    bool ex;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "1", &err), err);
    /* get */
    CHECK((t = begin(db)) != NULL && txn_has(t, "k", "1"));
    CHECK_OK(bitgask_txn_put(t, KS("out"), (const uint8_t *)"x", 1, &err), err);
    CHECK_OK(t_put_s(db, "k", "2", &err), err);
    CHECK_ERR(bitgask_txn_commit(t, &err), BITGASK_E_CONFLICT, err);
    bitgask_error_free(err);
    err = NULL;
    CHECK(t_absent_s(db, "out"));
    /* a read that found nothing */
    CHECK((t = begin(db)) != NULL);
    CHECK_STATUS(bitgask_txn_get(t, KS("new"), &got, &gl, &err), BITGASK_NOT_FOUND, err);
    CHECK_OK(t_put_s(db, "new", "theirs", &err), err);
    CHECK_ERR(bitgask_txn_commit(t, &err), BITGASK_E_CONFLICT, err);
    bitgask_error_free(err);
    err = NULL;
    /* exists */
    CHECK((t = begin(db)) != NULL);
    CHECK_OK(bitgask_txn_exists(t, KS("k"), &ex, &err), err);
    CHECK_OK(bitgask_delete(db, KS("k"), &err), err);
    CHECK_ERR(bitgask_txn_commit(t, &err), BITGASK_E_CONFLICT, err);
    bitgask_error_free(err);
    err = NULL;
    /* a key the iterator returned */
    CHECK_OK(t_put_s(db, "p1", "1", &err), err);
    CHECK((t = begin(db)) != NULL);
    CHECK_OK(bitgask_txn_iter_new(t, KS("p"), &it, &err), err);
    CHECK_OK(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), err);
    bitgask_iter_free(it);
    CHECK_OK(t_put_s(db, "p1", "2", &err), err);
    CHECK_ERR(bitgask_txn_commit(t, &err), BITGASK_E_CONFLICT, err);
    bitgask_error_free(err);
    err = NULL;
    /* blind writes never conflict */
    CHECK((t = begin(db)) != NULL);
    CHECK_OK(bitgask_txn_put(t, KS("p1"), (const uint8_t *)"mine", 4, &err), err);
    CHECK_OK(t_put_s(db, "p1", "theirs", &err), err);
    CHECK_OK(bitgask_txn_commit(t, &err), err);
    CHECK(t_has_s(db, "p1", "mine"));
    CHECK(t_close(db));
    bitgask_error_free(err);
}

TEST(txn_arguments_are_checked) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_txn *t;
    bitgask_db *db;
    uint8_t *got;
    size_t gl;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_ERR(bitgask_txn_begin(NULL, &t, &err), BITGASK_E_NULL_ARG, err);
    CHECK_ERR(bitgask_txn_begin(db, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK_ERR(bitgask_txn_commit(NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK((t = begin(db)) != NULL);
    CHECK_ERR(bitgask_txn_put(t, (const uint8_t *)"", 0, (const uint8_t *)"v", 1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_ERR(bitgask_txn_put_ttl(t, KS("k"), (const uint8_t *)"v", 1, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_ERR(bitgask_txn_get(t, KS("k"), NULL, &gl, &err), BITGASK_E_NULL_ARG, err);
    CHECK_ERR(bitgask_txn_get(NULL, KS("k"), &got, &gl, &err), BITGASK_E_NULL_ARG, err);
    CHECK_ERR(bitgask_txn_delete(t, NULL, 1, &err), BITGASK_E_NULL_ARG, err);
    bitgask_txn_discard(t);
    CHECK(t_close(db));
    bitgask_error_free(err);
}

#define ACCOUNTS 6
#define START_BALANCE 100
#define MOVES 150

static long balance_of(bitgask_txn *t, int account, bool *ok) {
    char k[16], buf[32];
    uint8_t *v = NULL;
    size_t vl = 0;
    snprintf(k, sizeof k, "acct%d", account);
    if (bitgask_txn_get(t, KS(k), &v, &vl, NULL) != BITGASK_OK || vl >= sizeof buf) {
        *ok = false;
        return 0;
    }
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    bitgask_free(v);
    return atol(buf);
}

static bool set_balance(bitgask_txn *t, int account, long amount) {
    char k[16], v[32];
    snprintf(k, sizeof k, "acct%d", account);
    snprintf(v, sizeof v, "%ld", amount);
    return bitgask_txn_put(t, KS(k), KS(v), NULL) == BITGASK_OK;
}

typedef struct mover_arg {
    bitgask_db *db;
    uint64_t seed;
    int errors;
} mover_arg;

/* Moves amounts between random accounts, each move a transaction run again on conflict. */
static void *mover_main(void *p) {
    mover_arg *a = (mover_arg *)p;
    int i;
    for (i = 0; i < MOVES; i++) {
        int from = (int)(t_rand(&a->seed) % ACCOUNTS), to = (int)(t_rand(&a->seed) % ACCOUNTS);
        long amount = (long)(t_rand(&a->seed) % 10);
        bitgask_status s;
        do {
            bitgask_txn *t = begin(a->db);
            bool ok = t != NULL;
            long f = ok ? balance_of(t, from, &ok) : 0, g;
            amount = amount < f ? amount : f;
            ok = ok && set_balance(t, from, f - amount);
            g = ok ? balance_of(t, to, &ok) : 0;
            ok = ok && set_balance(t, to, g + amount);
            if (!ok) {
                bitgask_txn_discard(t);
                a->errors++;
                return NULL;
            }
            s = bitgask_txn_commit(t, NULL);
        } while (s == BITGASK_E_CONFLICT);
        if (s != BITGASK_OK)
            a->errors++;
    }
    return NULL;
}

/* A reader sums all accounts in one transaction and commits it: every sum that commits is the
 * total, while movers run. */
TEST(txn_transfers_keep_the_total) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(1 << 20);
    pthread_t th[3];
    mover_arg args[3];
    bitgask_db *db;
    bitgask_error *err = NULL;
    int i, committed = 0, rounds = 0;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    for (i = 0; i < ACCOUNTS; i++) {
        char k[16];
        snprintf(k, sizeof k, "acct%d", i);
        CHECK_OK(t_put_s(db, k, "100", &err), err);
    }
    for (i = 0; i < 3; i++) {
        args[i].db = db;
        args[i].seed = (uint64_t)i * 7919u + 1u;
        args[i].errors = 0;
        CHECK(pthread_create(&th[i], NULL, mover_main, &args[i]) == 0);
    }
    while (rounds++ < 200 || committed == 0) {
        bitgask_txn *t = begin(db);
        bitgask_iter *it = NULL;
        const uint8_t *k, *v;
        size_t kl, vl;
        long sum = 0;
        CHECK(t != NULL && bitgask_txn_iter_new(t, KS("acct"), &it, NULL) == BITGASK_OK);
        while (bitgask_iter_next(it, &k, &kl, &v, &vl, NULL) == BITGASK_OK) {
            char buf[32];
            memcpy(buf, v, vl < 31 ? vl : 31);
            buf[vl < 31 ? vl : 31] = '\0';
            sum += atol(buf);
        }
        bitgask_iter_free(it);
        if (bitgask_txn_commit(t, NULL) == BITGASK_OK) {
            CHECK_MSG(sum == ACCOUNTS * START_BALANCE, "a committed read summed %ld", sum);
            committed++;
        }
        if (t_test_failed())
            break;
    }
    for (i = 0; i < 3; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(args[i].errors == 0);
    }
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(txn_calls_after_close_return_closed_even_for_its_own_writes) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_txn *t;
    bitgask_db *db;
    uint8_t *v = NULL;
    size_t vl = 0;
    bool found = false;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK((t = begin(db)) != NULL);
    CHECK_OK(bitgask_txn_put(t, KS("k"), (const uint8_t *)"v", 1, &err), err);
    CHECK(t_close(db));
    CHECK_STATUS(bitgask_txn_get(t, KS("k"), &v, &vl, &err), BITGASK_E_CLOSED, err);
    CHECK_STATUS(bitgask_txn_exists(t, KS("k"), &found, &err), BITGASK_E_CLOSED, err);
    CHECK_STATUS(bitgask_txn_put(t, KS("j"), (const uint8_t *)"v", 1, &err), BITGASK_E_CLOSED, err);
    CHECK_STATUS(bitgask_txn_commit(t, &err), BITGASK_E_CLOSED, err); /* frees it all the same */
}
