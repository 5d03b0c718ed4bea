/* bitgask_multi_get: each key's status and value as bitgask_get gives them, buffers owned by the
 * caller, a damaged record failing its own key only, and argument errors writing nothing. */
#include "check.h"

#define MG_KEYS 40

/* Key i of these tests (short and long keys, so inline and arena keys both appear). */
static size_t mg_key(char *out, size_t cap, int i) {
    return (size_t)snprintf(out, cap, i % 3 ? "a rather longer key, number %d" : "k%d", i);
}

/* Opens the database at root without per-write syncs, files of max_file bytes. */
static bitgask_db *mg_open(const char *root, uint64_t max_file) {
    bitgask_options *o = t_opts_nosync(max_file);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    bitgask_options_free(o);
    return db;
}

/* Checks one key's multi_get result against bitgask_get of the same key. */
static bool mg_matches_get(bitgask_db *db, const char *key, bitgask_status st, const uint8_t *v, size_t vl) {
    bitgask_error *err = NULL;
    uint8_t *want = NULL;
    size_t wl = 0;
    bitgask_status s = bitgask_get(db, (const uint8_t *)key, strlen(key), &want, &wl, &err);
    bool same = s == st && (s != BITGASK_OK || (vl == wl && memcmp(v, want, vl) == 0)) &&
                (s == BITGASK_OK || (v == NULL && vl == 0));
    if (!same)
        t_note("key %s: multi_get status %d (%zu bytes), get status %d (%zu bytes)", key, st, vl, s, wl);
    bitgask_free(want);
    bitgask_error_free(err);
    return same;
}

TEST(multi_get_answers_each_key_as_get_does) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    char names[MG_KEYS + 3][48], val[48];
    const uint8_t *keys[MG_KEYS + 3];
    size_t klens[MG_KEYS + 3], vlens[MG_KEYS + 3];
    uint8_t *vals[MG_KEYS + 3];
    bitgask_status st[MG_KEYS + 3];
    int i, n = MG_KEYS + 3;
    CHECK(root && (db = mg_open(root, 4096)) != NULL);
    for (i = 0; i < MG_KEYS; i++) {
        mg_key(names[i], sizeof names[i], i);
        snprintf(val, sizeof val, "value %d", i);
        if (i % 5 != 4) /* every fifth key is never written */
            CHECK_OK(t_put_s(db, names[i], val, &err), err);
    }
    CHECK_OK(bitgask_delete(db, KS(names[7]), &err), err);
    CHECK_OK(bitgask_put(db, KS(names[8]), NULL, 0, &err), err); /* an empty value */
    snprintf(names[MG_KEYS], sizeof names[0], "%s", names[2]); /* repeats */
    snprintf(names[MG_KEYS + 1], sizeof names[0], "%s", names[4]);
    snprintf(names[MG_KEYS + 2], sizeof names[0], "%s", names[2]);
    for (i = 0; i < n; i++) {
        keys[i] = (const uint8_t *)names[i];
        klens[i] = strlen(names[i]);
    }
    CHECK_OK(bitgask_multi_get(db, (size_t)n, keys, klens, vals, vlens, st, &err), err);
    for (i = 0; i < n; i++)
        CHECK_MSG(mg_matches_get(db, names[i], st[i], vals[i], vlens[i]), "key %d", i);
    CHECK(st[7] == BITGASK_NOT_FOUND && st[4] == BITGASK_NOT_FOUND && st[MG_KEYS + 1] == BITGASK_NOT_FOUND);
    CHECK(st[8] == BITGASK_OK && vals[8] != NULL && vlens[8] == 0);
    CHECK(st[MG_KEYS] == BITGASK_OK && vals[MG_KEYS] != vals[2]); /* a repeat gets its own buffer */
    for (i = 0; i < n; i++)
        bitgask_free(vals[i]); /* NULL for the keys not found */
    CHECK(t_close(db));
}

TEST(multi_get_of_expired_keys_is_not_found) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    const uint8_t *keys[2];
    size_t klens[2], vlens[2];
    uint8_t *vals[2];
    bitgask_status st[2];
    CHECK(root && (db = mg_open(root, 1 << 20)) != NULL);
    CHECK_OK(bitgask_put_ttl(db, KS("brief"), (const uint8_t *)"v", 1, 1, &err), err);
    CHECK_OK(t_put_s(db, "stays", "w", &err), err);
    t_sleep_ms(5);
    keys[0] = (const uint8_t *)"brief";
    keys[1] = (const uint8_t *)"stays";
    klens[0] = klens[1] = 5;
    CHECK_OK(bitgask_multi_get(db, 2, keys, klens, vals, vlens, st, &err), err);
    CHECK(st[0] == BITGASK_NOT_FOUND && vals[0] == NULL && vlens[0] == 0);
    CHECK(st[1] == BITGASK_OK && vlens[1] == 1 && vals[1][0] == 'w');
    bitgask_free(vals[1]);
    CHECK(t_close(db));
}

TEST(multi_get_of_a_flipped_bit_is_corrupt_for_that_key_only) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_record_meta m;
    char names[MG_KEYS][48], val[48], path[T_PATH_MAX];
    const uint8_t *keys[MG_KEYS];
    size_t klens[MG_KEYS], vlens[MG_KEYS];
    uint8_t *vals[MG_KEYS];
    bitgask_status st[MG_KEYS];
    int i;
    CHECK(root && (db = mg_open(root, 1 << 20)) != NULL);
    for (i = 0; i < MG_KEYS; i++) {
        keys[i] = (const uint8_t *)names[i];
        klens[i] = mg_key(names[i], sizeof names[i], i);
        snprintf(val, sizeof val, "value %d", i);
        CHECK_OK(t_put_s(db, names[i], val, &err), err);
    }
    CHECK_OK(bitgask_meta(db, KS(names[17]), &m, &err), err);
    CHECK(t_close(db));
    /* The last byte of the record: its value's, past the header and the key. */
    CHECK(t_xor_byte(t_data_path(path, root, m.file_id, "data"), (size_t)(m.offset + m.size - 1), 0x01));
    CHECK((db = mg_open(root, 1 << 20)) != NULL);
    CHECK_OK(bitgask_multi_get(db, MG_KEYS, keys, klens, vals, vlens, st, &err), err);
    for (i = 0; i < MG_KEYS; i++) {
        if (i == 17) {
            CHECK(st[i] == BITGASK_E_CORRUPT && vals[i] == NULL && vlens[i] == 0);
            continue;
        }
        snprintf(val, sizeof val, "value %d", i);
        CHECK_MSG(st[i] == BITGASK_OK && vlens[i] == strlen(val) && memcmp(vals[i], val, vlens[i]) == 0,
                  "key %d: status %d", i, st[i]);
        bitgask_free(vals[i]);
    }
    CHECK_STATUS(bitgask_get(db, KS(names[17]), &vals[0], &vlens[0], &err), BITGASK_E_CORRUPT, err);
    CHECK(t_close(db));
}

TEST(multi_get_argument_errors_write_nothing) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    const uint8_t *keys[2];
    size_t klens[2], vlens[2] = {7, 7};
    uint8_t *vals[2] = {NULL, NULL};
    bitgask_status st[2] = {99, 99};
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    keys[0] = (const uint8_t *)"k";
    keys[1] = (const uint8_t *)"";
    klens[0] = 1;
    klens[1] = 0;
    CHECK_STATUS(bitgask_multi_get(db, 2, keys, klens, vals, vlens, st, &err), BITGASK_E_INVALID_ARG, err);
    keys[1] = NULL;
    klens[1] = 3;
    CHECK_STATUS(bitgask_multi_get(db, 2, keys, klens, vals, vlens, st, &err), BITGASK_E_NULL_ARG, err);
    klens[1] = 1;
    CHECK_STATUS(bitgask_multi_get(NULL, 1, keys, klens, vals, vlens, st, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_multi_get(db, 1, NULL, klens, vals, vlens, st, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_multi_get(db, 1, keys, NULL, vals, vlens, st, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_multi_get(db, 1, keys, klens, NULL, vlens, st, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_multi_get(db, 1, keys, klens, vals, NULL, st, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_multi_get(db, 1, keys, klens, vals, vlens, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_multi_get(db, (size_t)-1, keys, klens, vals, vlens, st, &err), BITGASK_E_INVALID_ARG,
                 err);
    CHECK(vals[0] == NULL && vals[1] == NULL && vlens[0] == 7 && st[0] == 99 && st[1] == 99);
    /* No keys: nothing to read, and the arrays may be NULL. */
    CHECK_OK(bitgask_multi_get(db, 0, NULL, NULL, NULL, NULL, NULL, &err), err);
    CHECK(t_close(db));
}
