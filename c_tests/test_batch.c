/* Write batches: bitgask_batch_* and bitgask_write, all or nothing, across reopen and cuts. */
#include "check.h"

static bitgask_batch *abc_batch(const char *value) {
    bitgask_batch *b = bitgask_batch_new();
    const uint8_t *v = (const uint8_t *)value;
    if (bitgask_batch_put(b, KS("a"), v, strlen(value), NULL) != BITGASK_OK ||
        bitgask_batch_put(b, KS("b"), v, strlen(value), NULL) != BITGASK_OK ||
        bitgask_batch_put_ttl(b, KS("c"), v, strlen(value), 60000, NULL) != BITGASK_OK) {
        bitgask_batch_free(b);
        return NULL;
    }
    return b;
}

TEST(batch_writes_every_operation_and_survives_reopen) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_batch *b;
    bitgask_db *db;
    int64_t ttl = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "gone", "x", &err), err);
    CHECK((b = abc_batch("1")) != NULL);
    CHECK_OK(bitgask_batch_delete(b, KS("gone"), &err), err);
    CHECK(bitgask_batch_count(b) == 4);
    CHECK_OK(bitgask_write(db, b, &err), err);
    CHECK(t_has_s(db, "a", "1") && t_has_s(db, "b", "1") && t_has_s(db, "c", "1"));
    CHECK(t_absent_s(db, "gone"));
    CHECK_OK(bitgask_ttl_ms(db, KS("c"), &ttl, &err), err);
    CHECK(ttl > 0);
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "a", "1") && t_has_s(db, "c", "1") && t_absent_s(db, "gone"));
    CHECK(t_close(db));
    bitgask_batch_free(b);
}

TEST(batch_is_unchanged_by_write_and_can_be_written_again_or_cleared) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_batch *b;
    bitgask_db *db;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK((b = abc_batch("1")) != NULL);
    CHECK_OK(bitgask_write(db, b, &err), err);
    CHECK_OK(t_put_s(db, "a", "2", &err), err);
    CHECK_OK(bitgask_write(db, b, &err), err);
    CHECK(bitgask_batch_count(b) == 3 && t_has_s(db, "a", "1"));
    bitgask_batch_clear(b);
    CHECK(bitgask_batch_count(b) == 0);
    CHECK_OK(bitgask_write(db, b, &err), err);
    CHECK(t_close(db));
    bitgask_batch_free(b);
}

TEST(batch_key_twice_ends_with_its_last_operation) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_batch *b = bitgask_batch_new();
    bitgask_db *db;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_batch_put(b, KS("k"), (const uint8_t *)"1", 1, &err), err);
    CHECK_OK(bitgask_batch_put(b, KS("k"), (const uint8_t *)"2", 1, &err), err);
    CHECK_OK(bitgask_batch_put(b, KS("d"), (const uint8_t *)"1", 1, &err), err);
    CHECK_OK(bitgask_batch_delete(b, KS("d"), &err), err);
    CHECK_OK(bitgask_write(db, b, &err), err);
    CHECK(t_has_s(db, "k", "2") && t_absent_s(db, "d"));
    CHECK(t_close(db));
    bitgask_batch_free(b);
}

TEST(batch_arguments_are_checked) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_batch *b = bitgask_batch_new();
    bitgask_db *db;
    CHECK(b != NULL);
    CHECK_ERR(bitgask_batch_put(b, (const uint8_t *)"", 0, (const uint8_t *)"v", 1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_ERR(bitgask_batch_delete(b, (const uint8_t *)"", 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_ERR(bitgask_batch_put_ttl(b, KS("k"), (const uint8_t *)"v", 1, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_ERR(bitgask_batch_put(b, KS("k"), (const uint8_t *)"v", (size_t)BITGASK_VALUE_SIZE_LIMIT + 1, &err),
              BITGASK_E_TOO_LARGE, err);
    CHECK_ERR(bitgask_batch_put(NULL, KS("k"), (const uint8_t *)"v", 1, &err), BITGASK_E_NULL_ARG, err);
    CHECK_ERR(bitgask_batch_put(b, NULL, 1, (const uint8_t *)"v", 1, &err), BITGASK_E_NULL_ARG, err);
    CHECK(bitgask_batch_count(b) == 0 && bitgask_batch_count(NULL) == 0);
    bitgask_batch_clear(NULL);
    bitgask_batch_free(NULL);
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_ERR(bitgask_write(db, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK_ERR(bitgask_write(NULL, b, &err), BITGASK_E_NULL_ARG, err);
    CHECK(t_close(db));
    bitgask_batch_free(b);
    bitgask_error_free(err);
}

TEST(batch_over_the_handles_limits_writes_nothing) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_batch *b = bitgask_batch_new();
    bitgask_options *o = t_opts(4096);
    static uint8_t big[1500];
    bitgask_stats st;
    bitgask_db *db;
    int i;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    for (i = 0; i < 3; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(bitgask_batch_put(b, KS(k), big, sizeof big, &err), err);
    }
    CHECK_ERR(bitgask_write(db, b, &err), BITGASK_E_TOO_LARGE, err);
    CHECK(t_absent_s(db, "k0") && t_stats(db, &st) && st.total_bytes == 0);
    CHECK(t_close(db));
    bitgask_batch_free(b);
    bitgask_options_free(o);
    bitgask_error_free(err);
}

/* The newest data file cut at every byte inside a batch: open succeeds, the batch is wholly
 * absent, and what was written before it is intact. */
TEST(batch_cut_at_every_byte_opens_wholly_absent) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_batch *b;
    bitgask_db *db;
    char path[T_PATH_MAX], hint[T_PATH_MAX];
    unsigned char *full;
    size_t len, cut;
    long long start;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "a", "old", &err), err);
    CHECK((start = t_file_size(t_data_path(path, root, 1, "data"))) > 0);
    CHECK((b = abc_batch("new")) != NULL);
    CHECK_OK(bitgask_write(db, b, &err), err);
    CHECK(t_close(db));
    bitgask_batch_free(b);
    CHECK((full = t_read_file(path, &len)) != NULL);
    t_data_path(hint, root, 1, "hint");
    for (cut = (size_t)start; cut < len && !t_test_failed(); cut++) {
        CHECK(t_remove_file(hint) && t_write_file(path, full, cut));
        CHECK((db = t_open(root, NULL)) != NULL);
        CHECK_MSG(t_has_s(db, "a", "old") && t_absent_s(db, "b") && t_absent_s(db, "c"), "cut at %zu", cut);
        CHECK(t_close(db));
        CHECK_MSG(t_file_size(path) == start, "cut at %zu", cut);
    }
    CHECK(t_remove_file(hint) && t_write_file(path, full, len));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "a", "new") && t_has_s(db, "b", "new"));
    CHECK(t_close(db));
    free(full);
}
