/* Open/close/reopen, put/get/delete/exists, buffers, stats and metadata. */
#include "check.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TEST(open_creates_the_documented_layout) {
    const char *tmp = t_tmpdir();
    char root[T_PATH_MAX], p[T_PATH_MAX];
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    unsigned char *meta;
    size_t len = 0;
    CHECK(tmp != NULL);
    /* The directory does not exist yet: open creates it. */
    t_pathf(root, "%s/fresh/db", tmp);
    CHECK_OK(bitgask_open(root, NULL, &db, &err), err);
    CHECK(db != NULL);
    CHECK(t_file_exists(t_pathf(p, "%s/LOCK", root)));
    CHECK(t_file_exists(t_pathf(p, "%s/data/bitgask.meta", root)));
    /* Data files are created lazily, by the first write. */
    CHECK(t_list_ids(root, "data", NULL, 0) == 0);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(t_file_exists(t_data_path(p, root, 1, "data")));
    meta = t_read_file(t_pathf(p, "%s/data/bitgask.meta", root), &len);
    CHECK(meta != NULL);
    CHECK_MSG(strstr((const char *)meta, "\"version\": 1") != NULL, "meta is: %s", (const char *)meta);
    free(meta);
    CHECK_OK(bitgask_close(db, &err), err);
}

TEST(put_get_roundtrip_returns_a_malloced_copy) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint8_t *v1 = NULL, *v2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "alpha", "one", &err), err);
    CHECK_OK(bitgask_get(db, KS("alpha"), &v1, &l1, &err), err);
    CHECK_OK(bitgask_get(db, KS("alpha"), &v2, &l2, &err), err);
    CHECK(v1 != NULL && v2 != NULL);
    CHECK(v1 != v2); /* each call hands out its own buffer */
    CHECK(l1 == 3 && memcmp(v1, "one", 3) == 0);
    CHECK(l2 == 3 && memcmp(v2, "one", 3) == 0);
    v1[0] = 'X'; /* the copy is ours to scribble on */
    bitgask_free(v1);
    bitgask_free(v2);
    CHECK(t_has_s(db, "alpha", "one"));
    CHECK(t_close(db));
}

TEST(get_of_a_missing_key_is_not_found) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint8_t *v = (uint8_t *)&err;
    size_t vl = 777;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_STATUS(bitgask_get(db, KS("nope"), &v, &vl, &err), BITGASK_NOT_FOUND, err);
    CHECK(v == (uint8_t *)&err && vl == 777);
    CHECK_OK(t_put_s(db, "nope2", "x", &err), err);
    CHECK_STATUS(bitgask_get(db, KS("nope"), &v, &vl, &err), BITGASK_NOT_FOUND, err);
    CHECK(t_absent_s(db, "nope"));
    CHECK(t_close(db));
}

TEST(empty_value_get_returns_a_non_null_buffer) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint8_t *v = NULL;
    size_t vl = 99;
    bool ex = false;
    uint8_t buf[4] = {0xAA, 0xAA, 0xAA, 0xAA};
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_put(db, KS("empty"), NULL, 0, &err), err);
    CHECK_OK(bitgask_put(db, KS("empty2"), (const uint8_t *)"ignored", 0, &err), err);
    CHECK_OK(bitgask_get(db, KS("empty"), &v, &vl, &err), err);
    CHECK(v != NULL);
    CHECK(vl == 0);
    bitgask_free(v);
    CHECK_OK(bitgask_exists(db, KS("empty"), &ex, &err), err);
    CHECK(ex);
    vl = 99;
    CHECK_OK(bitgask_get_into(db, KS("empty2"), NULL, 0, &vl, &err), err);
    CHECK(vl == 0);
    vl = 99;
    CHECK_OK(bitgask_get_into(db, KS("empty2"), buf, sizeof buf, &vl, &err), err);
    CHECK(vl == 0 && buf[0] == 0xAA);
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "empty", ""));
    CHECK(t_has_s(db, "empty2", ""));
    CHECK(t_close(db));
}

TEST(overwrite_returns_the_latest_value) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    char v[64];
    int i;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 50; i++) {
        snprintf(v, sizeof v, "version-%d", i);
        CHECK_OK(t_put_s(db, "k", v, &err), err);
        CHECK(t_has_s(db, "k", v));
    }
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "k", "version-49"));
    CHECK(t_close(db));
}

TEST(delete_and_exists) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bool ex = false;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_STATUS(bitgask_delete(db, KS("never"), &err), BITGASK_NOT_FOUND, err);
    CHECK_OK(t_put_s(db, "a", "1", &err), err);
    CHECK_OK(t_put_s(db, "b", "2", &err), err);
    CHECK_OK(bitgask_exists(db, KS("a"), &ex, &err), err);
    CHECK(ex);
    CHECK_OK(bitgask_delete(db, KS("a"), &err), err);
    CHECK(t_absent_s(db, "a"));
    CHECK_STATUS(bitgask_delete(db, KS("a"), &err), BITGASK_NOT_FOUND, err);
    CHECK(t_has_s(db, "b", "2"));
    /* A deleted key can come back. */
    CHECK_OK(t_put_s(db, "a", "again", &err), err);
    CHECK(t_has_s(db, "a", "again"));
    CHECK_OK(bitgask_delete(db, KS("a"), &err), err);
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_absent_s(db, "a"));
    CHECK_STATUS(bitgask_delete(db, KS("a"), &err), BITGASK_NOT_FOUND, err);
    CHECK(t_has_s(db, "b", "2"));
    CHECK(t_close(db));
}

TEST(reopen_keeps_every_write) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    char k[32], v[256];
    uint32_t i;
    int round;
    CHECK(root != NULL);
    /* Several open/write/close rounds on the same directory. */
    for (round = 0; round < 5; round++) {
        CHECK((db = t_open(root, NULL)) != NULL);
        for (i = 0; i < 40; i++) {
            uint32_t n = (uint32_t)round * 40u + i;
            size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
            CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
        }
        /* Delete one key of the previous round, overwrite another. */
        if (round > 0) {
            size_t kl = t_key(k, sizeof k, (uint32_t)(round - 1) * 40u + 3u);
            CHECK_OK(bitgask_delete(db, (const uint8_t *)k, kl, &err), err);
            kl = t_key(k, sizeof k, (uint32_t)(round - 1) * 40u + 5u);
            size_t vl = t_value(v, sizeof v, (uint32_t)(round - 1) * 40u + 5u, 1);
            CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
        }
        CHECK(t_close(db));
    }
    CHECK((db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 200; i++) {
        size_t kl = t_key(k, sizeof k, i);
        uint32_t r = i / 40u, j = i % 40u;
        if (j == 3 && r < 4) {
            CHECK_MSG(t_absent(db, k, kl), "key %u", (unsigned)i);
        } else {
            size_t vl = t_value(v, sizeof v, i, (j == 5 && r < 4) ? 1u : 0u);
            CHECK_MSG(t_has(db, k, kl, v, vl), "key %u", (unsigned)i);
        }
    }
    CHECK(t_close(db));
}

TEST(binary_keys_and_values_roundtrip) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint8_t all[256];
    uint8_t k1[3] = {'a', 0, 'b'};
    uint8_t k2[1] = {'a'};
    uint8_t k3[2] = {0xFF, 0x00};
    uint8_t k4[1] = {0};
    int i;
    for (i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_put(db, k1, sizeof k1, all, sizeof all, &err), err);
    CHECK_OK(bitgask_put(db, k2, sizeof k2, all, 10, &err), err);
    CHECK_OK(bitgask_put(db, k3, sizeof k3, all + 100, 1, &err), err);
    CHECK_OK(bitgask_put(db, k4, sizeof k4, all + 200, 56, &err), err);
    for (i = 0; i < 2; i++) {
        CHECK(t_has(db, k1, sizeof k1, all, sizeof all));
        CHECK(t_has(db, k2, sizeof k2, all, 10));
        CHECK(t_has(db, k3, sizeof k3, all + 100, 1));
        CHECK(t_has(db, k4, sizeof k4, all + 200, 56));
        CHECK(t_absent(db, k3, 1)); /* "\xff" alone is a different key */
        CHECK(t_close(db));
        CHECK((db = t_open(root, NULL)) != NULL);
    }
    CHECK(t_close(db));
}

TEST(large_value_roundtrip) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    size_t n = (size_t)3 << 20, i, vl = 0;
    uint8_t *big = (uint8_t *)malloc(n), *back = (uint8_t *)malloc(n);
    uint64_t r = 42;
    CHECK(big != NULL && back != NULL);
    for (i = 0; i < n; i++)
        big[i] = (uint8_t)(t_rand(&r) >> 56);
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_put(db, KS("big"), big, n, &err), err);
    CHECK(t_has(db, "big", 3, big, n));
    CHECK_OK(bitgask_get_into(db, KS("big"), back, n, &vl, &err), err);
    CHECK(vl == n && memcmp(back, big, n) == 0);
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has(db, "big", 3, big, n));
    CHECK(t_close(db));
    free(big);
    free(back);
}

TEST(snappy_compression_roundtrip_and_saves_space) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_record_meta m;
    size_t n = 64 * 1024, i;
    uint8_t *text = (uint8_t *)malloc(n), *noise = (uint8_t *)malloc(n);
    uint64_t r = 7;
    CHECK(root && o && text && noise);
    for (i = 0; i < n; i++) {
        text[i] = (uint8_t)("the quick brown fox jumps over the lazy dog "[i % 44]);
        noise[i] = (uint8_t)(t_rand(&r) >> 56);
    }
    CHECK_OK(bitgask_options_set_compression(o, BITGASK_CODEC_SNAPPY, &err), err);
    CHECK_OK(bitgask_options_set_compression_threshold(o, 128, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_OK(bitgask_put(db, KS("text"), text, n, &err), err);
    CHECK_OK(bitgask_put(db, KS("noise"), noise, n, &err), err);
    CHECK_OK(bitgask_put(db, KS("small"), text, 100, &err), err); /* below the threshold */
    CHECK_OK(bitgask_meta(db, KS("text"), &m, &err), err);
    CHECK_MSG(m.size < n / 4, "compressible 64 KiB value takes %llu bytes on disk", (unsigned long long)m.size);
    CHECK_OK(bitgask_meta(db, KS("small"), &m, &err), err);
    CHECK(m.size == 32 + 5 + 100);
    CHECK(t_has(db, "text", 4, text, n));
    CHECK(t_has(db, "noise", 5, noise, n));
    CHECK(t_has(db, "small", 5, text, 100));
    CHECK(t_close(db));
    /* Compressed records read back without the option too. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has(db, "text", 4, text, n));
    CHECK(t_has(db, "noise", 5, noise, n));
    CHECK(t_close(db));
    bitgask_options_free(o);
    free(text);
    free(noise);
}

TEST(meta_reports_location_size_and_increasing_stamps) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_record_meta a, b, c;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "a", "12345", &err), err);
    CHECK_OK(t_put_s(db, "bb", "", &err), err);
    CHECK_OK(t_put_s(db, "a", "xyz", &err), err);
    CHECK_OK(bitgask_meta(db, KS("bb"), &b, &err), err);
    CHECK_OK(bitgask_meta(db, KS("a"), &a, &err), err);
    CHECK(b.file_id == 1 && a.file_id == 1);
    /* Record layout: 32-byte header, key, value; appended back to back. */
    CHECK(b.offset == 32 + 1 + 5);
    CHECK(b.size == 32 + 2 + 0);
    CHECK(a.offset == b.offset + b.size);
    CHECK(a.size == 32 + 1 + 3);
    CHECK(a.ts_unix_nano > b.ts_unix_nano);
    CHECK(a.expires_unix_nano == 0 && b.expires_unix_nano == 0);
    CHECK(t_close(db));
    /* Stamps keep increasing after a reopen. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "c", "1", &err), err);
    CHECK_OK(bitgask_meta(db, KS("c"), &c, &err), err);
    CHECK(c.ts_unix_nano > a.ts_unix_nano);
    CHECK(c.offset == a.offset + a.size);
    CHECK(t_close(db));
}

TEST(stats_count_keys_files_and_dead_bytes) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats s, s2;
    bitgask_record_meta ma, mb, mt;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(t_stats(db, &s));
    CHECK(s.keys == 0 && s.data_files == 0 && s.total_bytes == 0 && s.dead_bytes == 0);
    CHECK_OK(t_put_s(db, "a", "aaaa", &err), err);
    CHECK_OK(t_put_s(db, "b", "bbbbbbbb", &err), err);
    CHECK_OK(bitgask_meta(db, KS("a"), &ma, &err), err);
    CHECK_OK(bitgask_meta(db, KS("b"), &mb, &err), err);
    CHECK(t_stats(db, &s));
    CHECK(s.keys == 2 && s.data_files == 1);
    CHECK(s.total_bytes == ma.size + mb.size);
    CHECK(s.dead_bytes == 0);
    /* An overwrite kills the old record. */
    CHECK_OK(t_put_s(db, "a", "A", &err), err);
    CHECK_OK(bitgask_meta(db, KS("a"), &mt, &err), err);
    CHECK(t_stats(db, &s));
    CHECK(s.keys == 2);
    CHECK(s.total_bytes == ma.size + mb.size + mt.size);
    CHECK_MSG(s.dead_bytes == ma.size, "dead %llu, expected %llu", (unsigned long long)s.dead_bytes,
              (unsigned long long)ma.size);
    /* A delete kills the record and its tombstone (32-byte header + key). */
    CHECK_OK(bitgask_delete(db, KS("b"), &err), err);
    CHECK(t_stats(db, &s));
    CHECK(s.keys == 1);
    CHECK(s.total_bytes == ma.size + mb.size + mt.size + 33);
    CHECK(s.dead_bytes == ma.size + mb.size + 33);
    CHECK(t_close(db));
    /* Closed, the files hold the records and nothing else (open, the active file also holds
     * room preallocated for appends, docs/DESIGN.md section 5.6). */
    CHECK(s.total_bytes == t_data_bytes(root));
    /* The same figures after a reopen. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_stats(db, &s2));
    CHECK(s2.keys == s.keys && s2.data_files == s.data_files && s2.total_bytes == s.total_bytes &&
          s2.dead_bytes == s.dead_bytes);
    CHECK(t_close(db));
}

TEST(sync_with_per_write_sync_off) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_sync_on_put(o, false, &err), err);
    CHECK_OK(bitgask_options_set_sync_on_delete(o, false, &err), err);
    CHECK_OK(bitgask_options_set_sync_interval_ms(o, 5, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_OK(t_put_s(db, "a", "1", &err), err);
    CHECK_OK(t_put_s(db, "b", "2", &err), err);
    CHECK(t_has_s(db, "a", "1"));
    CHECK_OK(bitgask_delete(db, KS("b"), &err), err);
    CHECK(t_absent_s(db, "b"));
    CHECK_OK(bitgask_sync(db, &err), err);
    t_sleep_ms(20); /* let the interval flusher run a few times */
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "a", "1"));
    CHECK(t_absent_s(db, "b"));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(close_null_is_a_noop_returning_ok) {
    bitgask_error *err = NULL;
    CHECK_OK(bitgask_close(NULL, &err), err);
    CHECK(bitgask_close(NULL, NULL) == BITGASK_OK);
}

TEST(options_are_copied_at_open) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_max_key_size(o, 4, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    /* Changing or freeing the options object after open changes nothing. */
    CHECK_OK(bitgask_options_set_max_key_size(o, 100, &err), err);
    bitgask_options_free(o);
    CHECK_STATUS(t_put_s(db, "12345", "v", &err), BITGASK_E_TOO_LARGE, err);
    CHECK_OK(t_put_s(db, "1234", "v", &err), err);
    CHECK(t_close(db));
}

TEST(a_newer_format_version_is_refused) {
    const char *root = t_tmpdir();
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    char p[T_PATH_MAX];
    const char *meta = "{\"version\": 2, \"created\": \"2030-01-01T00:00:00Z\"}\n";
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(t_close(db));
    CHECK(t_write_file(t_pathf(p, "%s/data/bitgask.meta", root), meta, strlen(meta)));
    db = NULL;
    CHECK_ERR(bitgask_open(root, NULL, &db, &err), BITGASK_E_FORMAT_VERSION, err);
    CHECK(db == NULL);
    CHECK_MSG(strstr(bitgask_error_message(err), "bitgask.meta") != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    /* The refusal left the database alone: a LOCK is not left behind either. */
    CHECK_ERR(bitgask_open(root, NULL, &db, &err), BITGASK_E_FORMAT_VERSION, err);
    bitgask_error_free(err);
}

TEST(opening_a_regular_file_fails_cleanly) {
    const char *tmp = t_tmpdir();
    char p[T_PATH_MAX];
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_status s;
    CHECK(tmp != NULL);
    CHECK(t_write_file(t_pathf(p, "%s/not-a-dir", tmp), "x", 1));
    s = bitgask_open(p, NULL, &db, &err);
    CHECK_MSG(s < 0, "open of a regular file returned %d", (int)s);
    CHECK(db == NULL);
    CHECK(err != NULL && bitgask_error_status(err) == s);
    CHECK_MSG(strstr(bitgask_error_message(err), "not-a-dir") != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
}

TEST(unknown_files_in_data_are_left_alone) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    char p[T_PATH_MAX];
    unsigned char *back;
    size_t len = 0;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(t_close(db));
    CHECK(t_write_file(t_pathf(p, "%s/data/notes.txt", root), "hello", 5));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "k", "v"));
    CHECK_OK(t_put_s(db, "k2", "v2", &err), err);
    CHECK(t_close(db));
    back = t_read_file(p, &len);
    CHECK(back != NULL);
    CHECK(len == 5 && memcmp(back, "hello", 5) == 0);
    free(back);
}

TEST(err_out_is_not_written_on_success_or_positive_outcomes) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    static char marker;
    bitgask_error *const sentinel = (bitgask_error *)(void *)&marker;
    bitgask_error *err = sentinel;
    bitgask_iter *it = NULL;
    const uint8_t *k;
    size_t kl;
    uint8_t *v;
    size_t vl;
    bool ex;
    int64_t ttl;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(t_put_s(db, "a", "1", &err) == BITGASK_OK && err == sentinel);
    CHECK(bitgask_get(db, KS("a"), &v, &vl, &err) == BITGASK_OK && err == sentinel);
    bitgask_free(v);
    CHECK(bitgask_get(db, KS("zz"), &v, &vl, &err) == BITGASK_NOT_FOUND && err == sentinel);
    CHECK(bitgask_exists(db, KS("zz"), &ex, &err) == BITGASK_OK && err == sentinel);
    CHECK(bitgask_delete(db, KS("zz"), &err) == BITGASK_NOT_FOUND && err == sentinel);
    CHECK(bitgask_ttl_ms(db, KS("zz"), &ttl, &err) == BITGASK_NOT_FOUND && err == sentinel);
    CHECK(bitgask_expire(db, KS("zz"), 10, &err) == BITGASK_NOT_FOUND && err == sentinel);
    CHECK(bitgask_persist(db, KS("zz"), &err) == BITGASK_NOT_FOUND && err == sentinel);
    CHECK(bitgask_iter_new(db, NULL, 0, &it, &err) == BITGASK_OK && err == sentinel);
    CHECK(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err) == BITGASK_OK && err == sentinel);
    CHECK(bitgask_iter_next(it, &k, &kl, NULL, NULL, &err) == BITGASK_ITER_DONE && err == sentinel);
    bitgask_iter_free(it);
    CHECK(bitgask_delete(db, KS("a"), &err) == BITGASK_OK && err == sentinel);
    CHECK(bitgask_sync(db, &err) == BITGASK_OK && err == sentinel);
    CHECK(bitgask_close(db, &err) == BITGASK_OK && err == sentinel);
}

/* Keys of every length from 1 to 80 bytes (the keydir stores short keys inline and long ones
 * elsewhere) plus one of the maximum default size, through writes, hints and scans. */
TEST(keys_of_many_lengths_roundtrip_through_hints_and_scans) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(4096), *nohints = t_opts_nosync(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats st;
    uint8_t key[80], val[16];
    uint8_t *huge = (uint8_t *)malloc(64u << 10);
    size_t len, i;
    int round;
    CHECK(root && o && nohints && huge);
    CHECK_OK(bitgask_options_set_hint_files(nohints, false, &err), err);
    for (i = 0; i < (64u << 10); i++)
        huge[i] = (uint8_t)(i * 31u + 7u);
    CHECK((db = t_open(root, o)) != NULL);
    for (len = 1; len <= sizeof key; len++) {
        for (i = 0; i < len; i++)
            key[i] = (uint8_t)(0xF0u - len + i * 13u);
        memset(val, (int)len, sizeof val);
        CHECK_OK(bitgask_put(db, key, len, val, len % 16, &err), err);
    }
    CHECK_OK(bitgask_put(db, huge, 64u << 10, (const uint8_t *)"huge", 4, &err), err);
    for (round = 0; round < 3; round++) {
        for (len = 1; len <= sizeof key; len++) {
            for (i = 0; i < len; i++)
                key[i] = (uint8_t)(0xF0u - len + i * 13u);
            memset(val, (int)len, sizeof val);
            CHECK_MSG(t_has(db, key, len, val, len % 16), "key of %zu bytes, round %d", len, round);
            /* its prefix one byte shorter is not a key (the stored key of that length has other
             * bytes) */
            if (len > 1)
                CHECK_MSG(t_absent(db, key, len - 1), "prefix of %zu bytes", len - 1);
        }
        CHECK_MSG(t_has(db, huge, 64u << 10, "huge", 4), "64 KiB key, round %d", round);
        CHECK(t_stats(db, &st));
        CHECK(st.keys == sizeof key + 1);
        CHECK(t_close(db));
        /* round 1 reads through hints, round 2 through scans */
        CHECK((db = t_open(root, round == 0 ? o : nohints)) != NULL);
    }
    CHECK(t_close(db));
    bitgask_options_free(o);
    bitgask_options_free(nohints);
    free(huge);
}

TEST(stamps_and_expiry_are_unix_nanoseconds) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_record_meta m;
    struct timespec now;
    uint64_t now_ns;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_put_ttl(db, KS("k"), KS("v"), 60000, &err), err);
    CHECK_OK(bitgask_meta(db, KS("k"), &m, &err), err);
    CHECK(clock_gettime(CLOCK_REALTIME, &now) == 0);
    now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    CHECK_MSG(m.ts_unix_nano <= now_ns + 1000000000u && m.ts_unix_nano + 5000000000u >= now_ns,
              "stamp %llu, wall clock %llu", (unsigned long long)m.ts_unix_nano, (unsigned long long)now_ns);
    CHECK_MSG(m.expires_unix_nano >= m.ts_unix_nano + 59000000000u && m.expires_unix_nano <= m.ts_unix_nano + 60000000000u,
              "expiry %llu for a stamp of %llu and a 60 s TTL", (unsigned long long)m.expires_unix_nano,
              (unsigned long long)m.ts_unix_nano);
    CHECK(t_close(db));
}

/* A database opened through a relative path keeps working after the process changes its
 * working directory (SQLite resolves the full path at open for the same reason): rotation,
 * hints and close must not create or look for files relative to the new directory. The chdir
 * happens in a child process so the runner's working directory is never touched. */
TEST(relative_path_keeps_working_after_chdir) {
    const char *home = t_tmpdir(), *elsewhere = t_tmpdir();
    char abs_root[T_PATH_MAX], k[16], p[T_PATH_MAX];
    int fds[2], status = 0, i;
    int32_t report[3] = {0, 0, 0}; /* step, key, status */
    pid_t pid;
    bitgask_db *db;
    static const char v70[] = "0123456789012345678901234567890123456789012345678901234567890123456789";
    CHECK(home && elsewhere);
    CHECK(pipe(fds) == 0);
    pid = t_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        bitgask_options *o = bitgask_options_new();
        bitgask_db *c = NULL;
        int32_t r[3] = {0, 0, 0};
        close(fds[0]);
        r[2] = bitgask_options_set_max_file_size(o, 256, NULL);
        if (r[2] == BITGASK_OK && chdir(home) != 0)
            r[2] = -1000;
        if (r[2] == BITGASK_OK) {
            r[0] = 1;
            r[2] = bitgask_open("rel", o, &c, NULL);
        }
        if (r[2] == BITGASK_OK && chdir(elsewhere) != 0)
            r[2] = -1000;
        for (i = 0; r[2] == BITGASK_OK && i < 20; i++) {
            snprintf(k, sizeof k, "k%d", i);
            r[0] = 2;
            r[1] = i;
            r[2] = bitgask_put(c, KS(k), (const uint8_t *)v70, 70, NULL);
        }
        if (r[2] == BITGASK_OK) {
            r[0] = 3;
            r[2] = bitgask_close(c, NULL);
        }
        if (write(fds[1], r, sizeof r) != (ssize_t)sizeof r)
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    CHECK(read(fds[0], report, sizeof report) == (ssize_t)sizeof report);
    close(fds[0]);
    CHECK(t_wait(pid, &status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_MSG(report[2] == BITGASK_OK, "after chdir: %s failed with %d (%s)",
              report[0] == 1 ? "open" : report[0] == 2 ? "put" : report[0] == 3 ? "close" : "setup", (int)report[2],
              bitgask_status_str(report[2]));
    /* Nothing was created in the new working directory, and everything is in the database. */
    CHECK_MSG(!t_file_exists(t_pathf(p, "%s/rel", elsewhere)), "files were created under %s", elsewhere);
    t_pathf(abs_root, "%s/rel", home);
    CHECK((db = t_open(abs_root, NULL)) != NULL);
    for (i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_MSG(t_has_s(db, k, v70), "key %d", i);
    }
    CHECK(t_close(db));
}
