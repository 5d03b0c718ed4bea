/* Argument checking: NULLs, option ranges, size limits, untouched outputs, status texts, version. */
#include "check.h"

#include <limits.h>

/* Every call with a NULL where a pointer is required gives E_NULL_ARG with an error object; the
 * same call with err_out NULL gives the same status. */
#define CHECK_NULL_ARG(call_with_err, call_without_err)                                         \
    do {                                                                                        \
        CHECK_STATUS(call_with_err, BITGASK_E_NULL_ARG, err);                                   \
        CHECK((call_without_err) == BITGASK_E_NULL_ARG);                                        \
    } while (0)

TEST(null_db_gives_null_arg) {
    bitgask_error *err = NULL;
    uint8_t *v = NULL;
    size_t vl = 0;
    uint8_t buf[8];
    bool ex = false;
    int64_t ttl = 0;
    bitgask_record_meta m;
    bitgask_stats st;
    bitgask_iter *it = NULL;
    CHECK_NULL_ARG(bitgask_put(NULL, KS("k"), KS("v"), &err), bitgask_put(NULL, KS("k"), KS("v"), NULL));
    CHECK_NULL_ARG(bitgask_put_ttl(NULL, KS("k"), KS("v"), 10, &err), bitgask_put_ttl(NULL, KS("k"), KS("v"), 10, NULL));
    CHECK_NULL_ARG(bitgask_get(NULL, KS("k"), &v, &vl, &err), bitgask_get(NULL, KS("k"), &v, &vl, NULL));
    CHECK_NULL_ARG(bitgask_get_into(NULL, KS("k"), buf, sizeof buf, &vl, &err),
                   bitgask_get_into(NULL, KS("k"), buf, sizeof buf, &vl, NULL));
    CHECK_NULL_ARG(bitgask_delete(NULL, KS("k"), &err), bitgask_delete(NULL, KS("k"), NULL));
    CHECK_NULL_ARG(bitgask_exists(NULL, KS("k"), &ex, &err), bitgask_exists(NULL, KS("k"), &ex, NULL));
    CHECK_NULL_ARG(bitgask_expire(NULL, KS("k"), 5, &err), bitgask_expire(NULL, KS("k"), 5, NULL));
    CHECK_NULL_ARG(bitgask_persist(NULL, KS("k"), &err), bitgask_persist(NULL, KS("k"), NULL));
    CHECK_NULL_ARG(bitgask_ttl_ms(NULL, KS("k"), &ttl, &err), bitgask_ttl_ms(NULL, KS("k"), &ttl, NULL));
    CHECK_NULL_ARG(bitgask_meta(NULL, KS("k"), &m, &err), bitgask_meta(NULL, KS("k"), &m, NULL));
    CHECK_NULL_ARG(bitgask_sync(NULL, &err), bitgask_sync(NULL, NULL));
    CHECK_NULL_ARG(bitgask_stats_get(NULL, &st, &err), bitgask_stats_get(NULL, &st, NULL));
    CHECK_NULL_ARG(bitgask_iter_new(NULL, NULL, 0, &it, &err), bitgask_iter_new(NULL, NULL, 0, &it, NULL));
    CHECK_NULL_ARG(bitgask_iter_range(NULL, NULL, 0, NULL, 0, &it, &err),
                   bitgask_iter_range(NULL, NULL, 0, NULL, 0, &it, NULL));
    CHECK(it == NULL);
}

TEST(null_fold_db_and_callback_give_null_arg) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint64_t n = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK_NULL_ARG(bitgask_fold(NULL, NULL, 0, t_count_cb, &n, &err), bitgask_fold(NULL, NULL, 0, t_count_cb, &n, NULL));
    CHECK_NULL_ARG(bitgask_fold(db, NULL, 0, NULL, &n, &err), bitgask_fold(db, NULL, 0, NULL, &n, NULL));
    CHECK_NULL_ARG(bitgask_fold(db, NULL, 2, t_count_cb, &n, &err), bitgask_fold(db, NULL, 2, t_count_cb, &n, NULL));
    CHECK(n == 0);
    CHECK_OK(bitgask_fold(db, NULL, 0, t_count_cb, &n, &err), err);
    CHECK(n == 1);
    CHECK(t_close(db));
}

TEST(null_key_with_nonzero_length_gives_null_arg) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint8_t *v = NULL;
    size_t vl = 0;
    uint8_t buf[8];
    bool ex = false;
    int64_t ttl = 0;
    bitgask_record_meta m;
    bitgask_stats st;
    bitgask_iter *it = NULL;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_NULL_ARG(bitgask_put(db, NULL, 3, KS("v"), &err), bitgask_put(db, NULL, 3, KS("v"), NULL));
    CHECK_NULL_ARG(bitgask_put_ttl(db, NULL, 3, KS("v"), 10, &err), bitgask_put_ttl(db, NULL, 3, KS("v"), 10, NULL));
    CHECK_NULL_ARG(bitgask_get(db, NULL, 3, &v, &vl, &err), bitgask_get(db, NULL, 3, &v, &vl, NULL));
    CHECK_NULL_ARG(bitgask_get_into(db, NULL, 3, buf, sizeof buf, &vl, &err),
                   bitgask_get_into(db, NULL, 3, buf, sizeof buf, &vl, NULL));
    CHECK_NULL_ARG(bitgask_delete(db, NULL, 3, &err), bitgask_delete(db, NULL, 3, NULL));
    CHECK_NULL_ARG(bitgask_exists(db, NULL, 3, &ex, &err), bitgask_exists(db, NULL, 3, &ex, NULL));
    CHECK_NULL_ARG(bitgask_expire(db, NULL, 3, 5, &err), bitgask_expire(db, NULL, 3, 5, NULL));
    CHECK_NULL_ARG(bitgask_persist(db, NULL, 3, &err), bitgask_persist(db, NULL, 3, NULL));
    CHECK_NULL_ARG(bitgask_ttl_ms(db, NULL, 3, &ttl, &err), bitgask_ttl_ms(db, NULL, 3, &ttl, NULL));
    CHECK_NULL_ARG(bitgask_meta(db, NULL, 3, &m, &err), bitgask_meta(db, NULL, 3, &m, NULL));
    CHECK_NULL_ARG(bitgask_iter_new(db, NULL, 3, &it, &err), bitgask_iter_new(db, NULL, 3, &it, NULL));
    CHECK_NULL_ARG(bitgask_iter_range(db, NULL, 3, NULL, 0, &it, &err),
                   bitgask_iter_range(db, NULL, 3, NULL, 0, &it, NULL));
    CHECK_NULL_ARG(bitgask_iter_range(db, KS("a"), NULL, 0, NULL, &err), bitgask_iter_range(db, KS("a"), NULL, 0, NULL, NULL));
    CHECK(it == NULL);
    /* A value pointer may be NULL only with length 0. */
    CHECK_NULL_ARG(bitgask_put(db, KS("k"), NULL, 4, &err), bitgask_put(db, KS("k"), NULL, 4, NULL));
    CHECK_NULL_ARG(bitgask_put_ttl(db, KS("k"), NULL, 4, 10, &err), bitgask_put_ttl(db, KS("k"), NULL, 4, 10, NULL));
    /* Nothing was written by any of the refused calls. */
    CHECK(t_stats(db, &st));
    CHECK(st.total_bytes == 0 && st.keys == 0);
    CHECK(t_close(db));
}

TEST(empty_key_is_invalid) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats st;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_STATUS(bitgask_put(db, (const uint8_t *)"k", 0, KS("v"), &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_put(db, NULL, 0, KS("v"), &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_put_ttl(db, NULL, 0, KS("v"), 100, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(bitgask_put(db, NULL, 0, KS("v"), NULL) == BITGASK_E_INVALID_ARG);
    CHECK(t_stats(db, &st));
    CHECK(st.total_bytes == 0 && st.keys == 0);
    CHECK(t_close(db));
}

TEST(null_out_pointers_give_null_arg_and_change_nothing) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint8_t *v = NULL;
    size_t vl = 0;
    uint8_t buf[8];
    bitgask_iter *it = NULL;
    const uint8_t *k = NULL, *iv = NULL;
    size_t kl = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "value", &err), err);
    CHECK_NULL_ARG(bitgask_get(db, KS("k"), NULL, &vl, &err), bitgask_get(db, KS("k"), NULL, &vl, NULL));
    CHECK(vl == 0);
    CHECK_NULL_ARG(bitgask_get(db, KS("k"), &v, NULL, &err), bitgask_get(db, KS("k"), &v, NULL, NULL));
    CHECK(v == NULL); /* nothing was allocated for us to leak */
    CHECK_NULL_ARG(bitgask_get(db, KS("absent"), NULL, NULL, &err), bitgask_get(db, KS("absent"), NULL, NULL, NULL));
    CHECK_NULL_ARG(bitgask_get_into(db, KS("k"), buf, sizeof buf, NULL, &err),
                   bitgask_get_into(db, KS("k"), buf, sizeof buf, NULL, NULL));
    /* buf may be NULL only with cap 0 */
    CHECK_NULL_ARG(bitgask_get_into(db, KS("k"), NULL, 8, &vl, &err), bitgask_get_into(db, KS("k"), NULL, 8, &vl, NULL));
    CHECK(vl == 0);
    CHECK_NULL_ARG(bitgask_exists(db, KS("k"), NULL, &err), bitgask_exists(db, KS("k"), NULL, NULL));
    CHECK_NULL_ARG(bitgask_ttl_ms(db, KS("k"), NULL, &err), bitgask_ttl_ms(db, KS("k"), NULL, NULL));
    CHECK_NULL_ARG(bitgask_meta(db, KS("k"), NULL, &err), bitgask_meta(db, KS("k"), NULL, NULL));
    CHECK_NULL_ARG(bitgask_stats_get(db, NULL, &err), bitgask_stats_get(db, NULL, NULL));
    CHECK_NULL_ARG(bitgask_iter_new(db, NULL, 0, NULL, &err), bitgask_iter_new(db, NULL, 0, NULL, NULL));
    CHECK_NULL_ARG(bitgask_iter_range(db, NULL, 0, NULL, 0, NULL, &err),
                   bitgask_iter_range(db, NULL, 0, NULL, 0, NULL, NULL));
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK_NULL_ARG(bitgask_iter_next(it, NULL, &kl, NULL, NULL, &err), bitgask_iter_next(it, NULL, &kl, NULL, NULL, NULL));
    CHECK_NULL_ARG(bitgask_iter_next(it, &k, NULL, NULL, NULL, &err), bitgask_iter_next(it, &k, NULL, NULL, NULL, NULL));
    /* a value pointer without a length pointer */
    CHECK_NULL_ARG(bitgask_iter_next(it, &k, &kl, &iv, NULL, &err), bitgask_iter_next(it, &k, &kl, &iv, NULL, NULL));
    CHECK(k == NULL && kl == 0 && iv == NULL);
    /* None of the refused calls consumed the key: the iterator still yields it. */
    CHECK_OK(bitgask_iter_next(it, &k, &kl, &iv, &vl, &err), err);
    CHECK(kl == 1 && k[0] == 'k' && vl == 5 && memcmp(iv, "value", 5) == 0);
    CHECK_STATUS(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err), BITGASK_ITER_DONE, err);
    bitgask_iter_free(it);
    CHECK(t_has_s(db, "k", "value"));
    CHECK(t_close(db));
}

TEST(null_path_and_null_db_out_give_null_arg) {
    const char *tmp = t_tmpdir();
    char root[T_PATH_MAX];
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    CHECK(tmp != NULL);
    CHECK_NULL_ARG(bitgask_open(NULL, NULL, &db, &err), bitgask_open(NULL, NULL, &db, NULL));
    CHECK(db == NULL);
    t_pathf(root, "%s/db", tmp);
    CHECK_NULL_ARG(bitgask_open(root, NULL, NULL, &err), bitgask_open(root, NULL, NULL, NULL));
    /* A path that is not UTF-8 is refused before anything is created. */
    {
        char bad[T_PATH_MAX];
        t_pathf(bad, "%s/bad\xff\xfe", tmp);
        CHECK_STATUS(bitgask_open(bad, NULL, &db, &err), BITGASK_E_INVALID_ARG, err);
        CHECK(db == NULL);
        CHECK(!t_file_exists(bad));
    }
    /* The refused open did not open (and keep locked) the database. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_close(db));
}

TEST(null_options_object_in_setters_gives_null_arg) {
    bitgask_error *err = NULL;
    CHECK_NULL_ARG(bitgask_options_set_sync_on_put(NULL, true, &err), bitgask_options_set_sync_on_put(NULL, true, NULL));
    CHECK_NULL_ARG(bitgask_options_set_sync_on_delete(NULL, true, &err),
                   bitgask_options_set_sync_on_delete(NULL, true, NULL));
    CHECK_NULL_ARG(bitgask_options_set_sync_interval_ms(NULL, 10, &err),
                   bitgask_options_set_sync_interval_ms(NULL, 10, NULL));
    CHECK_NULL_ARG(bitgask_options_set_max_file_size(NULL, 4096, &err),
                   bitgask_options_set_max_file_size(NULL, 4096, NULL));
    CHECK_NULL_ARG(bitgask_options_set_max_key_size(NULL, 10, &err), bitgask_options_set_max_key_size(NULL, 10, NULL));
    CHECK_NULL_ARG(bitgask_options_set_max_value_size(NULL, 10, &err),
                   bitgask_options_set_max_value_size(NULL, 10, NULL));
    CHECK_NULL_ARG(bitgask_options_set_default_ttl_ms(NULL, 10, &err),
                   bitgask_options_set_default_ttl_ms(NULL, 10, NULL));
    CHECK_NULL_ARG(bitgask_options_set_hint_files(NULL, false, &err), bitgask_options_set_hint_files(NULL, false, NULL));
    CHECK_NULL_ARG(bitgask_options_set_compression(NULL, BITGASK_CODEC_NONE, &err),
                   bitgask_options_set_compression(NULL, BITGASK_CODEC_NONE, NULL));
    CHECK_NULL_ARG(bitgask_options_set_compression_threshold(NULL, 10, &err),
                   bitgask_options_set_compression_threshold(NULL, 10, NULL));
    CHECK_NULL_ARG(bitgask_options_set_lock_timeout_ms(NULL, 10, &err),
                   bitgask_options_set_lock_timeout_ms(NULL, 10, NULL));
    /* An invalid value on a NULL object is still a NULL argument first. */
    CHECK_NULL_ARG(bitgask_options_set_compression(NULL, 7, &err), bitgask_options_set_compression(NULL, 7, NULL));
}

TEST(null_iterator_gives_null_arg) {
    bitgask_error *err = NULL;
    const uint8_t *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    CHECK_NULL_ARG(bitgask_iter_next(NULL, &k, &kl, &v, &vl, &err), bitgask_iter_next(NULL, &k, &kl, &v, &vl, NULL));
    CHECK(k == NULL && kl == 0 && v == NULL && vl == 0);
}

TEST(destructors_accept_null) {
    bitgask_error *err = NULL;
    CHECK_OK(bitgask_close(NULL, &err), err);
    CHECK(bitgask_close(NULL, NULL) == BITGASK_OK);
    bitgask_options_free(NULL);
    bitgask_iter_free(NULL);
    bitgask_error_free(NULL);
    bitgask_free(NULL);
    /* The error accessors document their NULL behavior too. */
    CHECK(bitgask_error_message(NULL) != NULL);
    CHECK(strcmp(bitgask_error_message(NULL), "") == 0);
    CHECK(bitgask_error_status(NULL) == BITGASK_E_NULL_ARG);
}

TEST(err_out_null_is_allowed_for_every_kind_of_failure) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db, *db2 = NULL;
    uint8_t *v = NULL;
    size_t vl = 0;
    uint8_t small[2];
    CHECK(root && o);
    CHECK(bitgask_options_set_max_key_size(o, 4, NULL) == BITGASK_OK);
    CHECK(bitgask_options_set_max_key_size(o, 0, NULL) == BITGASK_E_INVALID_ARG);
    CHECK(bitgask_options_set_compression(o, 7, NULL) == BITGASK_E_INVALID_ARG);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(bitgask_open(root, o, &db2, NULL) == BITGASK_E_LOCKED);
    CHECK(db2 == NULL);
    CHECK(bitgask_put(db, KS("12345"), KS("v"), NULL) == BITGASK_E_TOO_LARGE);
    CHECK(bitgask_put(db, KS("k"), KS("value"), NULL) == BITGASK_OK);
    CHECK(bitgask_get(db, KS("none"), &v, &vl, NULL) == BITGASK_NOT_FOUND);
    CHECK(bitgask_get_into(db, KS("k"), small, sizeof small, &vl, NULL) == BITGASK_E_BUFFER_TOO_SMALL);
    CHECK(vl == 5);
    CHECK(bitgask_delete(db, KS("none"), NULL) == BITGASK_NOT_FOUND);
    CHECK(bitgask_put_ttl(db, KS("k"), KS("v"), 0, NULL) == BITGASK_E_INVALID_ARG);
    CHECK(bitgask_close(db, NULL) == BITGASK_OK);
    bitgask_options_free(o);
}

TEST(outputs_are_not_written_on_failure) {
    const char *root = t_tmpdir();
    bitgask_db *db, *db2;
    bitgask_error *err = NULL;
    static char marker;
    uint8_t *v = (uint8_t *)&marker;
    size_t vl = 4242;
    bool ex = true;
    int64_t ttl = -77;
    bitgask_record_meta m, m0;
    bitgask_stats st, st0;
    bitgask_iter *it = (bitgask_iter *)(void *)&marker, *it2 = NULL;
    const uint8_t *k = (const uint8_t *)&marker, *iv = (const uint8_t *)&marker;
    size_t kl = 31, ivl = 32;
    bitgask_options *o = (bitgask_options *)(void *)&marker;
    memset(&m, 0x5A, sizeof m);
    memcpy(&m0, &m, sizeof m);
    memset(&st, 0x5A, sizeof st);
    memcpy(&st0, &st, sizeof st);
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "value", &err), err);
    /* NOT_FOUND */
    CHECK_STATUS(bitgask_get(db, KS("x"), &v, &vl, &err), BITGASK_NOT_FOUND, err);
    CHECK(v == (uint8_t *)&marker && vl == 4242);
    CHECK_STATUS(bitgask_get_into(db, KS("x"), NULL, 0, &vl, &err), BITGASK_NOT_FOUND, err);
    CHECK(vl == 4242);
    CHECK_STATUS(bitgask_ttl_ms(db, KS("x"), &ttl, &err), BITGASK_NOT_FOUND, err);
    CHECK(ttl == -77);
    CHECK_STATUS(bitgask_meta(db, KS("x"), &m, &err), BITGASK_NOT_FOUND, err);
    CHECK(memcmp(&m, &m0, sizeof m) == 0);
    /* errors */
    CHECK_STATUS(bitgask_get(db, NULL, 1, &v, &vl, &err), BITGASK_E_NULL_ARG, err);
    CHECK(v == (uint8_t *)&marker && vl == 4242);
    CHECK_STATUS(bitgask_get(db, (const uint8_t *)"k", 0, &v, &vl, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(v == (uint8_t *)&marker && vl == 4242);
    CHECK_STATUS(bitgask_exists(db, NULL, 1, &ex, &err), BITGASK_E_NULL_ARG, err);
    CHECK(ex == true);
    CHECK_STATUS(bitgask_ttl_ms(db, NULL, 1, &ttl, &err), BITGASK_E_NULL_ARG, err);
    CHECK(ttl == -77);
    CHECK_STATUS(bitgask_meta(db, NULL, 1, &m, &err), BITGASK_E_NULL_ARG, err);
    CHECK(memcmp(&m, &m0, sizeof m) == 0);
    CHECK_STATUS(bitgask_stats_get(NULL, &st, &err), BITGASK_E_NULL_ARG, err);
    CHECK(memcmp(&st, &st0, sizeof st) == 0);
    CHECK_STATUS(bitgask_iter_new(db, NULL, 1, &it, &err), BITGASK_E_NULL_ARG, err);
    CHECK(it == (bitgask_iter *)(void *)&marker);
    CHECK_STATUS(bitgask_iter_range(NULL, NULL, 0, NULL, 0, &it, &err), BITGASK_E_NULL_ARG, err);
    CHECK(it == (bitgask_iter *)(void *)&marker);
    db2 = (bitgask_db *)(void *)&marker;
    CHECK_STATUS(bitgask_open(root, NULL, &db2, &err), BITGASK_E_LOCKED, err);
    CHECK(db2 == (bitgask_db *)(void *)&marker);
    CHECK_STATUS(bitgask_open(NULL, NULL, &db2, &err), BITGASK_E_NULL_ARG, err);
    CHECK(db2 == (bitgask_db *)(void *)&marker);
    /* ITER_DONE leaves the key and value outputs alone. */
    CHECK_OK(bitgask_iter_new(db, KS("k"), &it2, &err), err);
    CHECK_OK(bitgask_iter_next(it2, &k, &kl, &iv, &ivl, &err), err);
    k = (const uint8_t *)&marker;
    iv = (const uint8_t *)&marker;
    kl = 31;
    ivl = 32;
    CHECK_STATUS(bitgask_iter_next(it2, &k, &kl, &iv, &ivl, &err), BITGASK_ITER_DONE, err);
    CHECK(k == (const uint8_t *)&marker && kl == 31 && iv == (const uint8_t *)&marker && ivl == 32);
    bitgask_iter_free(it2);
    (void)o;
    CHECK(t_close(db));
}

TEST(option_values_out_of_range_are_invalid) {
    bitgask_options *o = bitgask_options_new();
    bitgask_error *err = NULL;
    CHECK(o != NULL);
    CHECK_STATUS(bitgask_options_set_compression(o, 7, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_compression(o, 2, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_compression(o, UINT32_MAX, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_compression(o, BITGASK_CODEC_SNAPPY, &err), err);
    CHECK_OK(bitgask_options_set_compression(o, BITGASK_CODEC_NONE, &err), err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, 1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, 255, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_max_file_size(o, 256, &err), err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, (uint64_t)1 << 32, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, UINT64_MAX, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_max_file_size(o, (uint64_t)1 << 30, &err), err);
    CHECK_STATUS(bitgask_options_set_max_key_size(o, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_key_size(o, (32u << 20) + 1u, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_key_size(o, UINT32_MAX, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_max_key_size(o, 1, &err), err);
    CHECK_OK(bitgask_options_set_max_key_size(o, 32u << 20, &err), err);
    CHECK_STATUS(bitgask_options_set_max_value_size(o, (32u << 20) + 1u, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_value_size(o, UINT32_MAX, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_max_value_size(o, 0, &err), err);
    CHECK_OK(bitgask_options_set_max_value_size(o, 32u << 20, &err), err);
    bitgask_options_free(o);
}

/* The limits the header states next to the setters are the ones the setters apply. */
TEST(the_header_limits_are_the_setters_limits) {
    bitgask_options *o = bitgask_options_new();
    bitgask_error *err = NULL;
    CHECK(o != NULL);
    CHECK_OK(bitgask_options_set_max_file_size(o, BITGASK_FILE_SIZE_MIN, &err), err);
    CHECK_OK(bitgask_options_set_max_file_size(o, BITGASK_FILE_SIZE_MAX, &err), err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, BITGASK_FILE_SIZE_MIN - 1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, BITGASK_FILE_SIZE_MAX + 1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_merge_max_file_size(o, BITGASK_FILE_SIZE_MIN, &err), err);
    CHECK_OK(bitgask_options_set_merge_max_file_size(o, BITGASK_FILE_SIZE_MAX, &err), err);
    CHECK_STATUS(bitgask_options_set_merge_max_file_size(o, BITGASK_FILE_SIZE_MIN - 1, &err), BITGASK_E_INVALID_ARG,
                 err);
    CHECK_STATUS(bitgask_options_set_merge_max_file_size(o, BITGASK_FILE_SIZE_MAX + 1, &err), BITGASK_E_INVALID_ARG,
                 err);
    CHECK_OK(bitgask_options_set_max_key_size(o, BITGASK_KEY_SIZE_LIMIT, &err), err);
    CHECK_STATUS(bitgask_options_set_max_key_size(o, BITGASK_KEY_SIZE_LIMIT + 1u, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_max_value_size(o, BITGASK_VALUE_SIZE_LIMIT, &err), err);
    CHECK_STATUS(bitgask_options_set_max_value_size(o, BITGASK_VALUE_SIZE_LIMIT + 1u, &err), BITGASK_E_INVALID_ARG,
                 err);
    bitgask_options_free(o);
}

/* The setters the header says accept any value do, and a database opens and works with the
 * largest of each (UINT64_MAX lock timeout: wait as long as it takes, not a panic). */
TEST(options_without_a_range_accept_their_largest_value) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    int64_t ttl = 0;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_sync_interval_ms(o, UINT64_MAX, &err), err);
    CHECK_OK(bitgask_options_set_default_ttl_ms(o, UINT64_MAX, &err), err);
    CHECK_OK(bitgask_options_set_compression_threshold(o, UINT32_MAX, &err), err);
    CHECK_OK(bitgask_options_set_lock_timeout_ms(o, UINT64_MAX, &err), err);
    CHECK_OK(bitgask_options_set_merge_min_total(o, UINT64_MAX, &err), err);
    CHECK_OK(bitgask_options_set_merge_interval_ms(o, UINT64_MAX, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_total(o, UINT64_MAX, &err), err);
    CHECK_OK(bitgask_options_set_max_merge_bytes(o, UINT64_MAX, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_files(o, UINT32_MAX, &err), err);
    CHECK_OK(bitgask_options_set_max_merge_files(o, UINT32_MAX, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(t_has_s(db, "k", "v"));
    CHECK_OK(bitgask_ttl_ms(db, KS("k"), &ttl, &err), err);
    CHECK_MSG(ttl > 0, "ttl %lld", (long long)ttl);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* API convention 2: an error already in *err_out is freed before a new one is written, so one
 * variable reused in a loop never leaks (valgrind runs every test of this file), and success
 * leaves it alone. */
TEST(err_out_reused_in_a_loop_frees_the_previous_error) {
    const char *root = t_tmpdir();
    bitgask_options *o = bitgask_options_new();
    bitgask_db *db;
    bitgask_error *err = NULL, *kept;
    int i;
    CHECK(root && o);
    CHECK((db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 1000; i++) {
        bitgask_status s = i % 3 == 0   ? bitgask_options_set_max_file_size(o, 1, &err)
                           : i % 3 == 1 ? bitgask_put(db, KS(""), KS("v"), &err)
                                        : bitgask_options_set_compression(o, 99, &err);
        CHECK_MSG(s == BITGASK_E_INVALID_ARG && err != NULL && bitgask_error_status(err) == s, "call %d: %d", i,
                  (int)s);
    }
    /* The error left is the last call's. */
    CHECK_MSG(strstr(bitgask_error_message(err), "max_file_size 1 ") != NULL, "message: %s", bitgask_error_message(err));
    kept = err;
    CHECK(bitgask_options_set_max_file_size(o, 4096, &err) == BITGASK_OK && err == kept);
    CHECK(t_put_s(db, "k", "v", &err) == BITGASK_OK && err == kept);
    CHECK(bitgask_delete(db, KS("absent"), &err) == BITGASK_NOT_FOUND && err == kept);
    CHECK(bitgask_put(db, KS(""), KS("v"), &err) == BITGASK_E_INVALID_ARG && err != NULL);
    bitgask_error_free(err);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* The message is the detail: the status's own text is not repeated in it. */
TEST(error_messages_do_not_repeat_the_status_text) {
    const char *root = t_tmpdir();
    bitgask_options *o = bitgask_options_new();
    bitgask_db *db, *db2 = NULL;
    bitgask_error *err = NULL;
    uint8_t small[1];
    size_t vl = 0;
    CHECK(root && o);
    CHECK_ERR(bitgask_options_set_max_file_size(o, 10, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_MSG(strncmp(bitgask_error_message(err), "max_file_size 10 outside", 24) == 0, "message: %s",
              bitgask_error_message(err));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK_ERR(bitgask_open(root, NULL, &db2, &err), BITGASK_E_LOCKED, err);
    CHECK_MSG(strstr(bitgask_error_message(err), "locked") == NULL, "message: %s", bitgask_error_message(err));
    CHECK_ERR(bitgask_put(db, KS("k"), NULL, 3, &err), BITGASK_E_NULL_ARG, err);
    CHECK_MSG(strcmp(bitgask_error_message(err), "value is NULL") == 0, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    CHECK_OK(t_put_s(db, "k", "vv", &err), err);
    CHECK_ERR(bitgask_get_into(db, KS("k"), small, sizeof small, &vl, &err), BITGASK_E_BUFFER_TOO_SMALL, err);
    CHECK_MSG(strcmp(bitgask_error_message(err), "2 bytes needed") == 0, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(a_refused_option_value_leaves_the_option_unchanged) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint32_t ids[64];
    size_t n, i;
    char k[32], v[512], p[T_PATH_MAX];
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_max_key_size(o, 8, &err), err);
    CHECK_STATUS(bitgask_options_set_max_key_size(o, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_max_value_size(o, 300, &err), err);
    CHECK_STATUS(bitgask_options_set_max_value_size(o, (32u << 20) + 1u, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_max_file_size(o, 1024, &err), err);
    CHECK_STATUS(bitgask_options_set_max_file_size(o, 1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_compression(o, BITGASK_CODEC_NONE, &err), err);
    CHECK_STATUS(bitgask_options_set_compression(o, 7, &err), BITGASK_E_INVALID_ARG, err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_OK(t_put_s(db, "12345678", "v", &err), err);
    CHECK_STATUS(t_put_s(db, "123456789", "v", &err), BITGASK_E_TOO_LARGE, err);
    memset(v, 'x', sizeof v);
    CHECK_OK(bitgask_put(db, KS("a"), (const uint8_t *)v, 300, &err), err);
    CHECK_STATUS(bitgask_put(db, KS("a"), (const uint8_t *)v, 301, &err), BITGASK_E_TOO_LARGE, err);
    for (i = 0; i < 40; i++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "f%u", (unsigned)i);
        CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, 100, &err), err);
    }
    CHECK(t_close(db));
    /* max_file_size stayed 1024: the data went into several files of at most that size. */
    n = t_list_ids(root, "data", ids, 64);
    CHECK_MSG(n >= 4, "%zu data files", n);
    for (i = 0; i < n && i < 64; i++)
        CHECK(t_file_size(t_data_path(p, root, ids[i], "data")) <= 1024);
    bitgask_options_free(o);
}

TEST(oversized_key_or_value_is_too_large_and_writes_nothing) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats st;
    uint8_t key[17], val[65];
    const char *msg;
    CHECK(root && o);
    memset(key, 'k', sizeof key);
    memset(val, 'v', sizeof val);
    CHECK_OK(bitgask_options_set_max_key_size(o, 16, &err), err);
    CHECK_OK(bitgask_options_set_max_value_size(o, 64, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_ERR(bitgask_put(db, key, 17, val, 1, &err), BITGASK_E_TOO_LARGE, err);
    msg = bitgask_error_message(err);
    CHECK_MSG(strstr(msg, "16") != NULL, "the message should name the limit: %s", msg);
    bitgask_error_free(err);
    err = NULL;
    CHECK_ERR(bitgask_put(db, key, 1, val, 65, &err), BITGASK_E_TOO_LARGE, err);
    msg = bitgask_error_message(err);
    CHECK_MSG(strstr(msg, "64") != NULL, "the message should name the limit: %s", msg);
    bitgask_error_free(err);
    err = NULL;
    CHECK_STATUS(bitgask_put_ttl(db, key, 17, val, 1, 1000, &err), BITGASK_E_TOO_LARGE, err);
    CHECK_STATUS(bitgask_put_ttl(db, key, 1, val, 65, 1000, &err), BITGASK_E_TOO_LARGE, err);
    /* Nothing reached the disk: no record, not even a data file. */
    CHECK(t_stats(db, &st));
    CHECK(st.total_bytes == 0 && st.keys == 0 && st.data_files == 0);
    CHECK(t_list_ids(root, "data", NULL, 0) == 0);
    CHECK(t_absent(db, key, 1));
    /* Exactly at the limits is fine. */
    CHECK_OK(bitgask_put(db, key, 16, val, 64, &err), err);
    CHECK(t_has(db, key, 16, val, 64));
    CHECK(t_stats(db, &st));
    CHECK(st.total_bytes == 32 + 16 + 64);
    /* And a refused write after that leaves the byte count alone. */
    CHECK_STATUS(bitgask_put(db, key, 16, val, 65, &err), BITGASK_E_TOO_LARGE, err);
    CHECK(t_stats(db, &st));
    CHECK(st.total_bytes == 32 + 16 + 64);
    CHECK(t_has(db, key, 16, val, 64));
    CHECK(t_close(db));
    CHECK(t_data_bytes(root) == 32 + 16 + 64);
    bitgask_options_free(o);
}

TEST(lengths_beyond_the_hard_caps_are_too_large) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats st;
    size_t big = ((size_t)32 << 20) + 1;
    uint8_t *val = (uint8_t *)calloc(big, 1);
    uint8_t *key = (uint8_t *)calloc((64u << 10) + 1u, 1);
    uint8_t tiny[1] = {0};
    CHECK(root && val && key);
    CHECK((db = t_open(root, NULL)) != NULL);
    /* Default limits: 64 KiB keys, 32 MiB values. */
    CHECK_STATUS(bitgask_put(db, key, (64u << 10) + 1u, tiny, 1, &err), BITGASK_E_TOO_LARGE, err);
    CHECK_STATUS(bitgask_put(db, KS("k"), val, big, &err), BITGASK_E_TOO_LARGE, err);
    /* A wild length is refused before the library reads through the pointer. */
    CHECK_STATUS(bitgask_put(db, KS("k"), tiny, SIZE_MAX, &err), BITGASK_E_TOO_LARGE, err);
    CHECK_STATUS(bitgask_put(db, tiny, SIZE_MAX / 2, tiny, 1, &err), BITGASK_E_TOO_LARGE, err);
    CHECK(t_stats(db, &st));
    CHECK(st.total_bytes == 0 && st.data_files == 0);
    CHECK(t_close(db));
    free(val);
    free(key);
}

TEST(get_into_buffer_too_small_protocol) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint8_t buf[64];
    size_t vl = 0, i;
    const char *val = "0123456789abcdefghij"; /* 20 bytes */
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", val, &err), err);
    /* Too small: the length needed, the buffer untouched. */
    memset(buf, 0xAA, sizeof buf);
    CHECK_STATUS(bitgask_get_into(db, KS("k"), buf, 19, &vl, &err), BITGASK_E_BUFFER_TOO_SMALL, err);
    CHECK(vl == 20);
    for (i = 0; i < sizeof buf; i++)
        CHECK_MSG(buf[i] == 0xAA, "byte %zu of the buffer was written", i);
    vl = 0;
    CHECK_STATUS(bitgask_get_into(db, KS("k"), buf, 1, &vl, &err), BITGASK_E_BUFFER_TOO_SMALL, err);
    CHECK(vl == 20 && buf[0] == 0xAA);
    /* NULL buffer with cap 0 asks for the length. */
    vl = 0;
    CHECK_STATUS(bitgask_get_into(db, KS("k"), NULL, 0, &vl, &err), BITGASK_E_BUFFER_TOO_SMALL, err);
    CHECK(vl == 20);
    /* A non-NULL buffer with cap 0 too. */
    vl = 0;
    CHECK_STATUS(bitgask_get_into(db, KS("k"), buf, 0, &vl, &err), BITGASK_E_BUFFER_TOO_SMALL, err);
    CHECK(vl == 20 && buf[0] == 0xAA);
    /* Exactly big enough, then bigger: OK, the bytes, the length; nothing past it written. */
    vl = 0;
    CHECK_OK(bitgask_get_into(db, KS("k"), buf, 20, &vl, &err), err);
    CHECK(vl == 20 && memcmp(buf, val, 20) == 0 && buf[20] == 0xAA);
    memset(buf, 0xAA, sizeof buf);
    vl = 0;
    CHECK_OK(bitgask_get_into(db, KS("k"), buf, sizeof buf, &vl, &err), err);
    CHECK(vl == 20 && memcmp(buf, val, 20) == 0);
    for (i = 20; i < sizeof buf; i++)
        CHECK_MSG(buf[i] == 0xAA, "byte %zu past the value was written", i);
    /* The error object of BUFFER_TOO_SMALL says how much is needed. */
    CHECK_ERR(bitgask_get_into(db, KS("k"), buf, 3, &vl, &err), BITGASK_E_BUFFER_TOO_SMALL, err);
    CHECK_MSG(strstr(bitgask_error_message(err), "20") != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    CHECK(t_close(db));
}

TEST(status_strings_are_distinct_and_never_null) {
    static const bitgask_status codes[] = {
        BITGASK_OK,          BITGASK_NOT_FOUND,    BITGASK_ITER_DONE,          BITGASK_STOPPED, BITGASK_E_INVALID_ARG,
        BITGASK_E_NULL_ARG,  BITGASK_E_BUFFER_TOO_SMALL, BITGASK_E_IO,         BITGASK_E_CORRUPT,
        BITGASK_E_LOCKED,    BITGASK_E_CLOSED,     BITGASK_E_TOO_LARGE,        BITGASK_E_FORMAT_VERSION,
        BITGASK_E_PANIC,     BITGASK_E_POISONED,   BITGASK_E_CONFLICT,         BITGASK_E_NO_SPACE,
    };
    static const bitgask_status unknown[] = {4, 100, -14, -100, INT32_MAX, INT32_MIN};
    size_t n = sizeof codes / sizeof codes[0], i, j;
    for (i = 0; i < n; i++) {
        const char *s = bitgask_status_str(codes[i]);
        CHECK_MSG(s != NULL, "status %d has no text", (int)codes[i]);
        CHECK_MSG(s[0] != '\0', "status %d has an empty text", (int)codes[i]);
        CHECK_MSG(strcmp(s, "unknown status") != 0, "status %d is \"unknown status\"", (int)codes[i]);
        for (j = 0; j < i; j++)
            CHECK_MSG(strcmp(s, bitgask_status_str(codes[j])) != 0, "statuses %d and %d share the text \"%s\"",
                      (int)codes[i], (int)codes[j], s);
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = bitgask_status_str(unknown[i]);
        CHECK_MSG(s != NULL, "unknown status %d gives NULL", (int)unknown[i]);
        CHECK_MSG(strcmp(s, "unknown status") == 0, "unknown status %d gives \"%s\"", (int)unknown[i], s);
    }
    /* The numbers are part of the ABI. */
    CHECK(BITGASK_OK == 0 && BITGASK_NOT_FOUND == 1 && BITGASK_ITER_DONE == 2 && BITGASK_STOPPED == 3);
    CHECK(BITGASK_E_INVALID_ARG == -1 && BITGASK_E_NULL_ARG == -2 && BITGASK_E_BUFFER_TOO_SMALL == -3);
    CHECK(BITGASK_E_IO == -4 && BITGASK_E_CORRUPT == -5 && BITGASK_E_LOCKED == -6 && BITGASK_E_CLOSED == -7);
    CHECK(BITGASK_E_TOO_LARGE == -8 && BITGASK_E_FORMAT_VERSION == -9 && BITGASK_E_PANIC == -10);
    CHECK(BITGASK_E_POISONED == -11 && BITGASK_E_CONFLICT == -12 && BITGASK_E_NO_SPACE == -13);
}

TEST(version_matches_the_header) {
    const char *v = bitgask_version();
    char expect[32];
    CHECK(v != NULL);
    CHECK_MSG(strcmp(v, BITGASK_VERSION_STRING) == 0, "library %s, header %s", v, BITGASK_VERSION_STRING);
    CHECK_MSG(bitgask_version_number() == BITGASK_VERSION_NUMBER, "library %u, header %u",
              (unsigned)bitgask_version_number(), (unsigned)BITGASK_VERSION_NUMBER);
    CHECK(BITGASK_VERSION_NUMBER ==
          BITGASK_VERSION_MAJOR * 1000000 + BITGASK_VERSION_MINOR * 1000 + BITGASK_VERSION_PATCH);
    snprintf(expect, sizeof expect, "%d.%d.%d", BITGASK_VERSION_MAJOR, BITGASK_VERSION_MINOR, BITGASK_VERSION_PATCH);
    CHECK(strcmp(expect, BITGASK_VERSION_STRING) == 0);
}

TEST(error_objects_carry_status_and_message) {
    bitgask_options *o = bitgask_options_new();
    bitgask_error *err = NULL;
    CHECK(o != NULL);
    CHECK(bitgask_options_set_max_file_size(o, 1, &err) == BITGASK_E_INVALID_ARG);
    CHECK(err != NULL);
    CHECK(bitgask_error_status(err) == BITGASK_E_INVALID_ARG);
    CHECK_MSG(strstr(bitgask_error_message(err), "max_file_size") != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    CHECK(bitgask_options_set_sync_on_put(NULL, true, &err) == BITGASK_E_NULL_ARG);
    CHECK(err != NULL && bitgask_error_status(err) == BITGASK_E_NULL_ARG);
    CHECK(bitgask_error_message(err)[0] != '\0');
    bitgask_error_free(err);
    bitgask_options_free(o);
}
