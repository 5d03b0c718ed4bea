/* Expiry: put_ttl, expire, persist, ttl_ms and the default TTL option. */
#include "check.h"

/* Short TTLs expire after SHORT_TTL_MS; tests sleep PAST_TTL_MS to be safely past them. */
#define SHORT_TTL_MS 50
#define PAST_TTL_MS 120

/* Tests that need a short-lived key alive for a few calls first run with a 50 ms TTL. When the
 * machine was too slow for that (the TTL passed before the calls were done), the body sets
 * too_slow, and it runs again with a longer TTL; only the calls' outcomes are checked, never the
 * machine's speed. */
static bool too_slow;

static bool young(uint64_t t0_us, unsigned ttl_ms) {
    if (t_mono_us() - t0_us < (uint64_t)ttl_ms * 1000u)
        return true;
    too_slow = true;
    return false;
}

static void with_short_ttls(void (*body)(unsigned ttl_ms)) {
    static const unsigned ttls[3] = {SHORT_TTL_MS, 400, 3000};
    size_t i;
    for (i = 0; i < 3; i++) {
        too_slow = false;
        body(ttls[i]);
        if (t_test_failed() || !too_slow)
            return;
        t_note("more than %u ms passed while the key had to be alive: again with a longer TTL", ttls[i]);
    }
    t_fail(__FILE__, __LINE__, "the machine was too slow even for a %u ms TTL", ttls[2]);
}

static void put_ttl_expires_body(unsigned ttl_ms) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bool ex = false, has;
    int64_t ttl = 12345;
    bitgask_record_meta m;
    bitgask_status se;
    uint64_t t0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "forever", "f", &err), err);
    t0 = t_mono_us();
    CHECK_OK(bitgask_put_ttl(db, KS("short"), (const uint8_t *)"v", 1, ttl_ms, &err), err);
    has = t_has_s(db, "short", "v");
    se = bitgask_exists(db, KS("short"), &ex, NULL);
    if (!young(t0, ttl_ms)) {
        CHECK(t_close(db));
        return;
    }
    CHECK(has);
    CHECK(se == BITGASK_OK && ex);
    t_sleep_ms(ttl_ms + PAST_TTL_MS - SHORT_TTL_MS);
    CHECK(t_absent_s(db, "short")); /* get NOT_FOUND and exists false */
    CHECK_STATUS(bitgask_ttl_ms(db, KS("short"), &ttl, &err), BITGASK_NOT_FOUND, err);
    CHECK(ttl == 12345);
    CHECK_STATUS(bitgask_meta(db, KS("short"), &m, &err), BITGASK_NOT_FOUND, err);
    CHECK(t_has_s(db, "forever", "f"));
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_absent_s(db, "short"));
    CHECK(t_has_s(db, "forever", "f"));
    CHECK(t_close(db));
}

TEST(put_ttl_expires) {
    with_short_ttls(put_ttl_expires_body);
}

TEST(expired_key_stays_gone_after_reopen_and_is_not_counted) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats s;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "old", &err), err);
    CHECK_OK(bitgask_put_ttl(db, KS("k"), (const uint8_t *)"new", 3, SHORT_TTL_MS, &err), err);
    CHECK_OK(t_put_s(db, "other", "o", &err), err);
    CHECK(t_close(db));
    t_sleep_ms(PAST_TTL_MS);
    CHECK((db = t_open(root, NULL)) != NULL);
    /* The newest version expired: the older value must not come back. */
    CHECK(t_absent_s(db, "k"));
    CHECK(t_stats(db, &s));
    CHECK_MSG(s.keys == 1, "keys = %llu", (unsigned long long)s.keys);
    CHECK(t_close(db));
}

TEST(put_ttl_zero_is_invalid_and_writes_nothing) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats s;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_STATUS(bitgask_put_ttl(db, KS("k"), (const uint8_t *)"v", 1, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(t_stats(db, &s));
    CHECK(s.total_bytes == 0 && s.keys == 0);
    CHECK(t_absent_s(db, "k"));
    CHECK(t_close(db));
}

TEST(ttl_ms_reports_remaining_never_and_absent) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    int64_t ttl = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "plain", "p", &err), err);
    CHECK_OK(bitgask_put_ttl(db, KS("timed"), (const uint8_t *)"t", 1, 10000, &err), err);
    CHECK_OK(bitgask_ttl_ms(db, KS("plain"), &ttl, &err), err);
    CHECK(ttl == -1);
    CHECK_OK(bitgask_ttl_ms(db, KS("timed"), &ttl, &err), err);
    CHECK_MSG(ttl > 9000 && ttl <= 10000, "remaining %lld", (long long)ttl);
    ttl = 4242;
    CHECK_STATUS(bitgask_ttl_ms(db, KS("absent"), &ttl, &err), BITGASK_NOT_FOUND, err);
    CHECK(ttl == 4242);
    /* Deleted is absent too. */
    CHECK_OK(bitgask_delete(db, KS("plain"), &err), err);
    CHECK_STATUS(bitgask_ttl_ms(db, KS("plain"), &ttl, &err), BITGASK_NOT_FOUND, err);
    CHECK(t_close(db));
    /* The expiry is on disk: it survives a reopen. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_ttl_ms(db, KS("timed"), &ttl, &err), err);
    CHECK_MSG(ttl > 8000 && ttl <= 10000, "remaining %lld", (long long)ttl);
    CHECK(t_close(db));
}

static void expire_body(unsigned ttl_ms) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    int64_t ttl = 0;
    bitgask_record_meta m;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "value", &err), err);
    CHECK_OK(bitgask_expire(db, KS("k"), 60000, &err), err);
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK_MSG(ttl > 59000 && ttl <= 60000, "remaining %lld", (long long)ttl);
    CHECK_OK(bitgask_meta(db, KS("k"), &m, &err), err);
    CHECK(m.expires_unix_nano != 0);
    CHECK(t_has_s(db, "k", "value"));
    /* A shorter TTL replaces the longer one. */
    CHECK_OK(bitgask_expire(db, KS("k"), 30000, &err), err);
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK_MSG(ttl > 29000 && ttl <= 30000, "remaining %lld", (long long)ttl);
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "k", "value"));
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK_MSG(ttl > 28000 && ttl <= 30000, "remaining %lld", (long long)ttl);
    {
        uint64_t t0 = t_mono_us();
        bitgask_status se = bitgask_expire(db, KS("k"), ttl_ms, NULL);
        bool has = t_has_s(db, "k", "value");
        if (!young(t0, ttl_ms)) {
            CHECK(t_close(db));
            return;
        }
        CHECK(se == BITGASK_OK && has);
    }
    t_sleep_ms(ttl_ms + PAST_TTL_MS - SHORT_TTL_MS);
    CHECK(t_absent_s(db, "k"));
    CHECK(t_close(db));
}

TEST(expire_sets_a_new_ttl_and_keeps_the_value) {
    with_short_ttls(expire_body);
}

/* A zero TTL means the same in every call: none at all (E_INVALID_ARG, nothing written). */
TEST(expire_zero_is_invalid_and_changes_nothing) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats before, after;
    int64_t ms = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(t_stats(db, &before));
    CHECK_STATUS(bitgask_expire(db, KS("k"), 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(t_stats(db, &after));
    CHECK(after.total_bytes == before.total_bytes);
    CHECK(t_has_s(db, "k", "v"));
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ms, &err), err);
    CHECK(ms == -1);
    CHECK_STATUS(bitgask_expire(db, KS("absent"), 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(t_close(db));
}

TEST(expire_and_persist_of_absent_keys_are_not_found) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_STATUS(bitgask_expire(db, KS("nope"), 1000, &err), BITGASK_NOT_FOUND, err);
    CHECK_STATUS(bitgask_persist(db, KS("nope"), &err), BITGASK_NOT_FOUND, err);
    /* expire must not create the key */
    CHECK(t_absent_s(db, "nope"));
    CHECK_OK(t_put_s(db, "gone", "v", &err), err);
    CHECK_OK(bitgask_delete(db, KS("gone"), &err), err);
    CHECK_STATUS(bitgask_expire(db, KS("gone"), 1000, &err), BITGASK_NOT_FOUND, err);
    CHECK_STATUS(bitgask_persist(db, KS("gone"), &err), BITGASK_NOT_FOUND, err);
    CHECK(t_absent_s(db, "gone"));
    CHECK(t_close(db));
}

TEST(operations_on_an_expired_key_are_not_found) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    const char *keys[4] = {"d", "e", "p", "t"};
    int64_t ttl = 5;
    int i;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 4; i++)
        CHECK_OK(bitgask_put_ttl(db, KS(keys[i]), (const uint8_t *)"v", 1, SHORT_TTL_MS, &err), err);
    t_sleep_ms(PAST_TTL_MS);
    CHECK_STATUS(bitgask_delete(db, KS("d"), &err), BITGASK_NOT_FOUND, err);
    CHECK_STATUS(bitgask_expire(db, KS("e"), 60000, &err), BITGASK_NOT_FOUND, err);
    CHECK_STATUS(bitgask_persist(db, KS("p"), &err), BITGASK_NOT_FOUND, err);
    CHECK_STATUS(bitgask_ttl_ms(db, KS("t"), &ttl, &err), BITGASK_NOT_FOUND, err);
    CHECK(ttl == 5);
    /* None of them was revived by the calls above. */
    for (i = 0; i < 4; i++)
        CHECK(t_absent_s(db, keys[i]));
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 4; i++)
        CHECK(t_absent_s(db, keys[i]));
    CHECK(t_close(db));
}

static void persist_body(unsigned ttl_ms) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    int64_t ttl = 0;
    bitgask_record_meta m;
    uint64_t t0;
    bitgask_status sp;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    t0 = t_mono_us();
    CHECK_OK(bitgask_put_ttl(db, KS("k"), (const uint8_t *)"kept", 4, ttl_ms, &err), err);
    sp = bitgask_persist(db, KS("k"), NULL);
    if (!young(t0, ttl_ms)) {
        CHECK(t_close(db));
        return;
    }
    CHECK_STATUS(sp, BITGASK_OK, err);
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK(ttl == -1);
    CHECK_OK(bitgask_meta(db, KS("k"), &m, &err), err);
    CHECK(m.expires_unix_nano == 0);
    t_sleep_ms(ttl_ms + PAST_TTL_MS - SHORT_TTL_MS);
    CHECK(t_has_s(db, "k", "kept"));
    /* Persist of a key without expiry is fine and changes nothing. */
    CHECK_OK(t_put_s(db, "plain", "p", &err), err);
    CHECK_OK(bitgask_persist(db, KS("plain"), &err), err);
    CHECK(t_has_s(db, "plain", "p"));
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "k", "kept"));
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK(ttl == -1);
    CHECK(t_close(db));
}

TEST(persist_removes_the_expiry) {
    with_short_ttls(persist_body);
}

static void persist_reopen_body(unsigned ttl_ms) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint64_t t0;
    bitgask_status sp;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    t0 = t_mono_us();
    CHECK_OK(bitgask_put_ttl(db, KS("k"), (const uint8_t *)"v", 1, ttl_ms, &err), err);
    sp = bitgask_persist(db, KS("k"), NULL);
    if (!young(t0, ttl_ms)) {
        CHECK(t_close(db));
        return;
    }
    CHECK_STATUS(sp, BITGASK_OK, err);
    CHECK(t_close(db));
    t_sleep_ms(ttl_ms + PAST_TTL_MS - SHORT_TTL_MS);
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "k", "v"));
    CHECK(t_close(db));
}

TEST(persist_survives_reopen_after_the_old_expiry) {
    with_short_ttls(persist_reopen_body);
}

static void default_ttl_body(unsigned ttl_ms) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    int64_t ttl = 0;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_default_ttl_ms(o, 10000, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_OK(t_put_s(db, "d", "v", &err), err);
    CHECK_OK(bitgask_ttl_ms(db, KS("d"), &ttl, &err), err);
    CHECK_MSG(ttl > 9000 && ttl <= 10000, "remaining %lld", (long long)ttl);
    /* An explicit TTL wins over the default. */
    CHECK_OK(bitgask_put_ttl(db, KS("x"), (const uint8_t *)"v", 1, 60000, &err), err);
    CHECK_OK(bitgask_ttl_ms(db, KS("x"), &ttl, &err), err);
    CHECK_MSG(ttl > 59000 && ttl <= 60000, "remaining %lld", (long long)ttl);
    CHECK(t_close(db));

    CHECK_OK(bitgask_options_set_default_ttl_ms(o, ttl_ms, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    {
        uint64_t t0 = t_mono_us();
        bitgask_status s1 = t_put_s(db, "short", "s", NULL);
        bitgask_status s2 = t_put_s(db, "saved", "s", NULL);
        bitgask_status s3 = bitgask_persist(db, KS("saved"), NULL);
        bool has = t_has_s(db, "short", "s");
        if (!young(t0, ttl_ms)) {
            CHECK(t_close(db));
            bitgask_options_free(o);
            return;
        }
        CHECK(s1 == BITGASK_OK && s2 == BITGASK_OK && s3 == BITGASK_OK && has);
    }
    t_sleep_ms(ttl_ms + PAST_TTL_MS - SHORT_TTL_MS);
    CHECK(t_absent_s(db, "short"));
    CHECK(t_has_s(db, "saved", "s"));
    CHECK(t_has_s(db, "d", "v")); /* written with the 10 s default */
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(default_ttl_option_applies_to_plain_puts) {
    with_short_ttls(default_ttl_body);
}

TEST(huge_ttl_saturates_instead_of_wrapping) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    int64_t ttl = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_put_ttl(db, KS("a"), (const uint8_t *)"v", 1, UINT64_MAX, &err), err);
    CHECK(t_has_s(db, "a", "v"));
    CHECK_OK(bitgask_ttl_ms(db, KS("a"), &ttl, &err), err);
    CHECK_MSG(ttl > (int64_t)1000 * 3600 * 24 * 365, "remaining %lld", (long long)ttl);
    CHECK_OK(t_put_s(db, "b", "w", &err), err);
    CHECK_OK(bitgask_expire(db, KS("b"), UINT64_MAX / 2, &err), err);
    CHECK(t_has_s(db, "b", "w"));
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "a", "v"));
    CHECK(t_has_s(db, "b", "w"));
    CHECK(t_close(db));
}

/* Expiry times travel through hint files and scans alike: keys with short and long TTLs spread
 * over many sealed files. */
TEST(ttl_survives_reopen_through_hints_and_scans) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(1024), *nohints = t_opts_nosync(1024);
    bitgask_db *db;
    bitgask_error *err = NULL;
    char k[32], v[256];
    uint32_t n;
    int64_t ttl;
    int round;
    CHECK(root && o && nohints);
    CHECK_OK(bitgask_options_set_hint_files(nohints, false, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    for (n = 0; n < 60; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        if (n % 3 == 0)
            CHECK_OK(bitgask_put_ttl(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, SHORT_TTL_MS, &err), err);
        else if (n % 3 == 1)
            CHECK_OK(bitgask_put_ttl(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, 600000, &err), err);
        else
            CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
    }
    CHECK(t_close(db));
    CHECK(t_list_ids(root, "data", NULL, 0) > 5);
    CHECK(t_list_ids(root, "hint", NULL, 0) == t_list_ids(root, "data", NULL, 0));
    t_sleep_ms(PAST_TTL_MS);
    for (round = 0; round < 2; round++) {
        CHECK((db = t_open(root, round == 0 ? o : nohints)) != NULL);
        for (n = 0; n < 60; n++) {
            size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
            if (n % 3 == 0) {
                CHECK_MSG(t_absent(db, k, kl), "key %u (round %d) should have expired", (unsigned)n, round);
                continue;
            }
            CHECK_MSG(t_has(db, k, kl, v, vl), "key %u (round %d)", (unsigned)n, round);
            CHECK_OK(bitgask_ttl_ms(db, (const uint8_t *)k, kl, &ttl, &err), err);
            if (n % 3 == 1)
                CHECK_MSG(ttl > 500000 && ttl <= 600000, "key %u: %lld ms left", (unsigned)n, (long long)ttl);
            else
                CHECK(ttl == -1);
        }
        CHECK(t_close(db));
    }
    bitgask_options_free(o);
    bitgask_options_free(nohints);
}

TEST(a_plain_put_replaces_the_expiry_and_expire_keeps_compressed_values) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    int64_t ttl = 0;
    uint8_t *big = (uint8_t *)malloc(20000);
    size_t i;
    CHECK(root && o && big);
    for (i = 0; i < 20000; i++)
        big[i] = (uint8_t)("abcabcabd"[i % 9]);
    CHECK_OK(bitgask_options_set_compression(o, BITGASK_CODEC_SNAPPY, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_OK(bitgask_put_ttl(db, KS("k"), KS("timed"), 10000, &err), err);
    CHECK_OK(t_put_s(db, "k", "plain", &err), err);
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK(ttl == -1);
    CHECK(t_has_s(db, "k", "plain"));
    /* expire and persist rewrite the record: a compressed value must come back intact */
    CHECK_OK(bitgask_put(db, KS("big"), big, 20000, &err), err);
    CHECK_OK(bitgask_expire(db, KS("big"), 60000, &err), err);
    CHECK(t_has(db, "big", 3, big, 20000));
    CHECK_OK(bitgask_persist(db, KS("big"), &err), err);
    CHECK(t_has(db, "big", 3, big, 20000));
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has(db, "big", 3, big, 20000));
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK(ttl == -1);
    CHECK(t_close(db));
    bitgask_options_free(o);
    free(big);
}
