/* Rotation, hint files, torn tails and corruption: what open makes of the files on disk. */
#include "check.h"

#include <sys/stat.h>

/* ---- a model of a database written by write_model() ---- */

#define M_KEYS 300u

/* The state write_model leaves for key n: 0 absent, else 1 + the version of its value. */
static int model_state(uint32_t n) {
    if (n % 5u == 0u)
        return 0; /* deleted */
    if (n % 3u == 0u)
        return 2; /* overwritten with version 1 */
    return 1;
}

/* Puts every key, overwrites every third, deletes every fifth: later files hold newer versions
 * and tombstones of keys first written to earlier files. */
static bool write_model(bitgask_db *db) {
    char k[32], v[256];
    uint32_t n;
    for (n = 0; n < M_KEYS; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        if (bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) != BITGASK_OK)
            return false;
    }
    for (n = 0; n < M_KEYS; n += 3) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 1);
        if (bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) != BITGASK_OK)
            return false;
    }
    for (n = 0; n < M_KEYS; n += 5) {
        size_t kl = t_key(k, sizeof k, n);
        if (bitgask_delete(db, (const uint8_t *)k, kl, NULL) != BITGASK_OK)
            return false;
    }
    return true;
}

static uint64_t model_live_keys(void) {
    uint32_t n;
    uint64_t live = 0;
    for (n = 0; n < M_KEYS; n++)
        live += model_state(n) != 0;
    return live;
}

/* Every read agrees with the model: get, get_into, exists, key count, and a full iteration. */
static bool model_matches(bitgask_db *db) {
    char k[32], v[256];
    uint32_t n, seen = 0;
    bitgask_stats st;
    bitgask_iter *it = NULL;
    const uint8_t *ik;
    size_t ikl;
    bitgask_status s;
    for (n = 0; n < M_KEYS; n++) {
        size_t kl = t_key(k, sizeof k, n);
        int state = model_state(n);
        if (state == 0) {
            if (!t_absent(db, k, kl)) {
                t_note("key %u should be absent", (unsigned)n);
                return false;
            }
        } else {
            size_t vl = t_value(v, sizeof v, n, (uint32_t)state - 1u);
            if (!t_has(db, k, kl, v, vl)) {
                t_note("key %u should hold version %d", (unsigned)n, state - 1);
                return false;
            }
        }
    }
    if (!t_stats(db, &st))
        return false;
    if (st.keys != model_live_keys()) {
        t_note("stats.keys = %llu, expected %llu", (unsigned long long)st.keys, (unsigned long long)model_live_keys());
        return false;
    }
    if (bitgask_iter_new(db, NULL, 0, &it, NULL) != BITGASK_OK)
        return false;
    while ((s = bitgask_iter_next(it, &ik, &ikl, NULL, NULL, NULL)) == BITGASK_OK)
        seen++;
    bitgask_iter_free(it);
    if (s != BITGASK_ITER_DONE || seen != model_live_keys()) {
        t_note("iteration saw %u keys (status %d), expected %llu", (unsigned)seen, (int)s,
               (unsigned long long)model_live_keys());
        return false;
    }
    return true;
}

/* ---- rotation ---- */

TEST(rotation_spreads_data_over_many_small_files) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(4096);
    bitgask_db *db;
    bitgask_stats st, st2;
    uint32_t ids[256];
    size_t n, i;
    char p[T_PATH_MAX];
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(write_model(db));
    CHECK(t_stats(db, &st));
    n = t_list_ids(root, "data", ids, 256);
    CHECK_MSG(n > 10, "only %zu data files", n);
    CHECK_MSG(st.data_files == n, "stats.data_files = %llu, %zu files on disk", (unsigned long long)st.data_files, n);
    CHECK(st.dead_bytes > 0 && st.dead_bytes < st.total_bytes);
    /* Ids are consecutive from 1 and no file outgrew the limit. */
    for (i = 0; i < n && i < 256; i++) {
        CHECK(ids[i] == (uint32_t)i + 1u);
        CHECK(t_file_size(t_data_path(p, root, ids[i], "data")) <= 4096);
    }
    CHECK(model_matches(db));
    CHECK(t_close(db));
    /* Closed, the files hold the records and nothing else (open, the active file also holds
     * room preallocated for appends, up to the rotation size: docs/DESIGN.md section 5.6). */
    CHECK_MSG(st.total_bytes == t_data_bytes(root), "stats.total_bytes = %llu, files hold %llu",
              (unsigned long long)st.total_bytes, t_data_bytes(root));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(model_matches(db));
    CHECK(t_stats(db, &st2));
    CHECK(st2.data_files == st.data_files && st2.total_bytes == st.total_bytes && st2.dead_bytes == st.dead_bytes &&
          st2.keys == st.keys);
    CHECK(t_close(db));
    /* A reopen with default options (64 MiB files) reads the same. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(model_matches(db));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(a_record_larger_than_max_file_size_gets_a_file_of_its_own) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(256);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_record_meta m;
    uint8_t big[1000];
    char p[T_PATH_MAX];
    memset(big, 'B', sizeof big);
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK_OK(t_put_s(db, "small1", "s", &err), err);
    CHECK_OK(bitgask_put(db, KS("big"), big, sizeof big, &err), err);
    CHECK_OK(t_put_s(db, "small2", "s", &err), err);
    CHECK_OK(bitgask_meta(db, KS("big"), &m, &err), err);
    CHECK(m.file_id == 2 && m.offset == 0 && m.size == 32 + 3 + 1000);
    CHECK(t_file_size(t_data_path(p, root, 2, "data")) == (long long)m.size);
    CHECK_OK(bitgask_meta(db, KS("small2"), &m, &err), err);
    CHECK(m.file_id == 3 && m.offset == 0);
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_has(db, "big", 3, big, sizeof big));
    CHECK(t_has_s(db, "small1", "s"));
    CHECK(t_has_s(db, "small2", "s"));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- hint files ---- */

TEST(close_leaves_a_hint_for_every_data_file) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint32_t data[256], hints[256];
    size_t nd, nh, i;
    char p[T_PATH_MAX];
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(write_model(db));
    CHECK(t_close(db));
    nd = t_list_ids(root, "data", data, 256);
    nh = t_list_ids(root, "hint", hints, 256);
    CHECK(nd > 10);
    CHECK_MSG(nh == nd, "%zu hint files for %zu data files", nh, nd);
    for (i = 0; i < nd && i < 256; i++)
        CHECK(hints[i] == data[i]);
    /* While open, the file being appended has no hint (a hint describes a sealed file only). */
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(!t_file_exists(t_data_path(p, root, data[nd - 1], "hint")));
    CHECK_OK(t_put_s(db, "more", "m", &err), err);
    CHECK(t_close(db));
    CHECK(t_file_exists(t_data_path(p, root, data[nd - 1], "hint")));
    /* With hint files off, none are written. */
    CHECK(t_rm_rf(t_pathf(p, "%s", root)));
    CHECK_OK(bitgask_options_set_hint_files(o, false, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(write_model(db));
    CHECK(t_close(db));
    CHECK(t_list_ids(root, "data", NULL, 0) > 10);
    CHECK(t_list_ids(root, "hint", NULL, 0) == 0);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(model_matches(db));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

enum hint_damage {
    HD_TRUNCATE_HALF,
    HD_TRUNCATE_ONE,
    HD_EMPTY,
    HD_FLIP_MIDDLE,
    HD_FLIP_FIRST,
    HD_FLIP_LAST,
    HD_GARBAGE,
    HD_APPEND,
    HD_SWAP, /* a well-formed hint of another data file */
    HD_REMOVE,
    HD_COUNT
};

static const char *const hint_damage_names[HD_COUNT] = {"truncate to half", "drop last byte", "empty",
                                                        "flip a middle byte", "flip the first byte",
                                                        "flip the last byte", "random garbage",
                                                        "extra bytes appended", "swapped with another hint",
                                                        "removed"};

static bool damage_hints(const char *root, enum hint_damage how, uint64_t *rng) {
    uint32_t ids[256];
    size_t n = t_list_ids(root, "hint", ids, 256), i;
    unsigned char *first = NULL;
    size_t first_len = 0;
    char p[T_PATH_MAX], q[T_PATH_MAX];
    bool ok = true;
    if (n < 2 || n > 256) {
        t_note("%zu hint files to damage", n);
        return false;
    }
    if (how == HD_SWAP) {
        /* hint[i] <- hint[i+1], the last one <- the first one */
        first = t_read_file(t_data_path(p, root, ids[0], "hint"), &first_len);
        if (first == NULL)
            return false;
    }
    for (i = 0; i < n && ok; i++) {
        unsigned char *b;
        size_t len = 0, j;
        t_data_path(p, root, ids[i], "hint");
        b = t_read_file(p, &len);
        if (b == NULL || len < 8)
            return false;
        switch (how) {
        case HD_TRUNCATE_HALF:
            ok = t_truncate_file(p, len / 2);
            break;
        case HD_TRUNCATE_ONE:
            ok = t_truncate_file(p, len - 1);
            break;
        case HD_EMPTY:
            ok = t_truncate_file(p, 0);
            break;
        case HD_FLIP_MIDDLE:
            ok = t_xor_byte(p, len / 2, 0x10);
            break;
        case HD_FLIP_FIRST:
            ok = t_xor_byte(p, 0, 0x01);
            break;
        case HD_FLIP_LAST:
            ok = t_xor_byte(p, len - 1, 0x80);
            break;
        case HD_GARBAGE:
            for (j = 0; j < len; j++)
                b[j] = (unsigned char)(t_rand(rng) >> 56);
            ok = t_write_file(p, b, len);
            break;
        case HD_APPEND: {
            unsigned char *c = (unsigned char *)malloc(len + 7);
            ok = c != NULL;
            if (ok) {
                memcpy(c, b, len);
                memset(c + len, 0, 7);
                ok = t_write_file(p, c, len + 7);
            }
            free(c);
            break;
        }
        case HD_SWAP:
            if (i + 1 < n) {
                unsigned char *next;
                size_t nlen = 0;
                next = t_read_file(t_data_path(q, root, ids[i + 1], "hint"), &nlen);
                ok = next != NULL && t_write_file(p, next, nlen);
                free(next);
            } else {
                ok = t_write_file(p, first, first_len);
            }
            break;
        case HD_REMOVE:
            ok = t_remove_file(p);
            break;
        case HD_COUNT:
            break;
        }
        free(b);
    }
    free(first);
    return ok;
}

TEST(damaged_hints_give_the_same_reads_as_no_hints) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts_nosync(4096);
    bitgask_options *nohints = t_opts_nosync(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint64_t rng = 99;
    int how;
    CHECK(root && o && nohints);
    CHECK_OK(bitgask_options_set_hint_files(nohints, false, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(write_model(db));
    CHECK(model_matches(db));
    CHECK(t_close(db));
    /* Baseline: with hints ignored, and with hints (that open and close write every hint again;
     * with hints off the reopened active file lost its hint). */
    CHECK((db = t_open(root, nohints)) != NULL);
    CHECK(model_matches(db));
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(model_matches(db));
    CHECK(t_close(db));
    for (how = 0; how < HD_COUNT; how++) {
        /* close wrote every hint again (the background writer replaced ignored ones too) */
        CHECK_MSG(t_list_ids(root, "hint", NULL, 0) == t_list_ids(root, "data", NULL, 0),
                  "before \"%s\": %zu hints, %zu data files", hint_damage_names[how], t_list_ids(root, "hint", NULL, 0),
                  t_list_ids(root, "data", NULL, 0));
        CHECK_MSG(damage_hints(root, (enum hint_damage)how, &rng), "damaging: %s", hint_damage_names[how]);
        db = t_open(root, o);
        CHECK_MSG(db != NULL, "open after hint damage \"%s\"", hint_damage_names[how]);
        CHECK_MSG(model_matches(db), "reads after hint damage \"%s\"", hint_damage_names[how]);
        CHECK(t_close(db));
        /* And the hints written in its place work. */
        CHECK((db = t_open(root, o)) != NULL);
        CHECK_MSG(model_matches(db), "reads after the hints were rewritten (\"%s\")", hint_damage_names[how]);
        CHECK(t_close(db));
    }
    bitgask_options_free(o);
    bitgask_options_free(nohints);
}

/* ---- torn tails ---- */

/* Writes n keys "t<i>" (durably), returns the meta of the last one; the data lands in files of
 * max_file_size bytes (0: default). */
static bool write_torn_setup(const char *root, uint64_t max_file_size, uint32_t n, bitgask_record_meta *last) {
    bitgask_options *o = t_opts(max_file_size);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    char k[32], v[256];
    uint32_t i;
    bool ok = db != NULL;
    for (i = 0; ok && i < n; i++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "t%u", (unsigned)i), vl = t_value(v, sizeof v, i, 7);
        ok = bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) == BITGASK_OK;
    }
    ok = ok && snprintf(k, sizeof k, "t%u", (unsigned)(n - 1)) > 0 &&
         bitgask_meta(db, (const uint8_t *)k, strlen(k), last, NULL) == BITGASK_OK;
    if (db && !t_close(db))
        ok = false;
    bitgask_options_free(o);
    return ok;
}

static bool earlier_records_intact(bitgask_db *db, uint32_t n) {
    char k[32], v[256];
    uint32_t i;
    for (i = 0; i < n; i++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "t%u", (unsigned)i), vl = t_value(v, sizeof v, i, 7);
        if (!t_has(db, k, kl, v, vl))
            return false;
    }
    return true;
}

/* Removes data and hint files with ids above id. */
static bool remove_files_after(const char *root, uint32_t id) {
    uint32_t ids[256];
    size_t n = t_list_ids(root, "data", ids, 256), i;
    char p[T_PATH_MAX];
    bool ok = n <= 256;
    for (i = 0; ok && i < n; i++)
        if (ids[i] > id)
            ok = t_remove_file(t_data_path(p, root, ids[i], "data")) && t_remove_file(t_data_path(p, root, ids[i], "hint"));
    return ok;
}

/* Cuts the last record at every byte and checks what open makes of it. */
static void cut_last_record_everywhere(uint64_t max_file_size, uint32_t n, bool alone_in_file) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(max_file_size);
    bitgask_record_meta last;
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats st;
    char data[T_PATH_MAX], hint[T_PATH_MAX], mark[T_PATH_MAX], lastkey[32];
    unsigned char *orig, *orig_mark;
    size_t orig_len = 0, mark_len = 0, cut;
    uint32_t nfiles;
    CHECK(root && o);
    CHECK(write_torn_setup(root, max_file_size, n, &last));
    snprintf(lastkey, sizeof lastkey, "t%u", (unsigned)(n - 1));
    nfiles = (uint32_t)t_list_ids(root, "data", NULL, 0);
    CHECK_MSG(last.file_id == nfiles, "the last record is in file %u of %u", (unsigned)last.file_id, (unsigned)nfiles);
    CHECK_MSG(!alone_in_file || (last.offset == 0 && nfiles > 1), "the last record is at offset %llu of file %u",
              (unsigned long long)last.offset, (unsigned)last.file_id);
    CHECK(alone_in_file || last.offset > 0);
    t_data_path(data, root, last.file_id, "data");
    t_data_path(hint, root, last.file_id, "hint");
    orig = t_read_file(data, &orig_len);
    CHECK(orig != NULL);
    /* The durable watermark of the closed database: restored with the file in each round, since a
     * mark describing other bytes would make the cut look like damage to flushed data. */
    t_pathf(mark, "%s/data/bitgask.watermark", root);
    CHECK((orig_mark = t_read_file(mark, &mark_len)) != NULL);
    CHECK_MSG(orig_len == last.offset + last.size, "file of %zu bytes, last record ends at %llu", orig_len,
              (unsigned long long)(last.offset + last.size));
    for (cut = (size_t)last.offset; cut < orig_len; cut++) {
        CHECK(t_write_file(data, orig, cut));
        CHECK(t_remove_file(hint));
        db = t_open(root, o);
        CHECK_MSG(db != NULL, "open after a cut at %zu (record at %llu..%zu)", cut, (unsigned long long)last.offset,
                  orig_len);
        CHECK_MSG(earlier_records_intact(db, n - 1), "cut at %zu", cut);
        CHECK_MSG(t_absent_s(db, lastkey), "cut at %zu: the torn record is visible", cut);
        CHECK(t_stats(db, &st));
        CHECK_MSG(st.keys == n - 1, "cut at %zu: %llu keys", cut, (unsigned long long)st.keys);
        /* The torn bytes were cut off: a new write lands right after the last good record. */
        CHECK_MSG(t_file_size(data) == (long long)last.offset, "cut at %zu: file is %lld bytes after open", cut,
                  t_file_size(data));
        CHECK_OK(t_put_s(db, "after", "the cut", &err), err);
        CHECK(t_close(db));
        db = t_open(root, o);
        CHECK_MSG(db != NULL, "second open after a cut at %zu", cut);
        CHECK_MSG(earlier_records_intact(db, n - 1), "cut at %zu, after a write", cut);
        CHECK(t_has_s(db, "after", "the cut"));
        CHECK(t_absent_s(db, lastkey));
        CHECK(t_close(db));
        /* Undo "after" for the next round: the file and watermark as they were, no file after it. */
        CHECK(t_write_file(data, orig, cut) && t_write_file(mark, orig_mark, mark_len));
        CHECK(t_remove_file(hint));
        CHECK(remove_files_after(root, last.file_id));
    }
    /* Untouched, the last record is there. */
    CHECK(t_write_file(data, orig, orig_len));
    CHECK(t_remove_file(hint));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(earlier_records_intact(db, n));
    CHECK(t_close(db));
    free(orig);
    free(orig_mark);
    bitgask_options_free(o);
}

TEST(last_record_truncated_at_every_byte_offset) {
    cut_last_record_everywhere(0, 20, false);
}

TEST(last_record_alone_in_its_file_truncated_at_every_byte_offset) {
    /* With 256-byte files the 7th record (176 bytes) starts file 5 on its own. */
    cut_last_record_everywhere(256, 7, true);
}

/* ---- corruption ---- */

/* Fills a database of 4 KiB files and returns the meta of a key in the middle of file 1. */
static bool write_corruption_setup(const char *root, bitgask_record_meta *victim, char *victim_key, size_t cap) {
    bitgask_options *o = t_opts_nosync(4096);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    char k[32], v[256];
    uint32_t n;
    bool ok = db != NULL, found = false;
    for (n = 0; ok && n < 120; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        ok = bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL) == BITGASK_OK;
    }
    /* A record of file 1 with records after it (so it is not at the file's end). */
    for (n = 5; ok && !found && n < 120; n++) {
        bitgask_record_meta m, next;
        char k2[32];
        size_t kl = t_key(k, sizeof k, n), kl2 = t_key(k2, sizeof k2, n + 1);
        ok = bitgask_meta(db, (const uint8_t *)k, kl, &m, NULL) == BITGASK_OK &&
             bitgask_meta(db, (const uint8_t *)k2, kl2, &next, NULL) == BITGASK_OK;
        if (ok && m.file_id == 1 && next.file_id == 1 && m.size > 32 + kl + 20 && kl < cap) {
            *victim = m;
            memcpy(victim_key, k, kl + 1);
            found = true;
        }
    }
    if (db && !t_close(db))
        ok = false;
    bitgask_options_free(o);
    return ok && found && t_list_ids(root, "data", NULL, 0) >= 3;
}

TEST(a_flipped_byte_in_a_sealed_file_fails_open_with_file_and_offset) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_record_meta m;
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    char key[32], data[T_PATH_MAX], hint[T_PATH_MAX], where[64];
    size_t i;
    CHECK(root && o);
    CHECK(write_corruption_setup(root, &m, key, sizeof key));
    t_data_path(data, root, 1, "data");
    t_data_path(hint, root, 1, "hint");
    CHECK(t_remove_file(hint));
    snprintf(where, sizeof where, "offset %llu", (unsigned long long)m.offset);
    /* Every byte of the record: header, key and value. */
    for (i = 0; i < m.size; i++) {
        const char *msg;
        CHECK(t_xor_byte(data, (size_t)m.offset + i, 0x04));
        db = NULL;
        CHECK_ERR(bitgask_open(root, o, &db, &err), BITGASK_E_CORRUPT, err);
        CHECK(db == NULL);
        msg = bitgask_error_message(err);
        CHECK_MSG(strstr(msg, "000000001.data") != NULL && strstr(msg, "offset") != NULL,
                  "byte %zu: message does not name the file and offset: %s", i, msg);
        CHECK_MSG(strstr(msg, where) != NULL, "byte %zu: expected \"%s\" in: %s", i, where, msg);
        bitgask_error_free(err);
        err = NULL;
        CHECK(t_xor_byte(data, (size_t)m.offset + i, 0x04));
        CHECK_MSG(!t_file_exists(hint), "a refused open wrote a hint for the damaged file");
    }
    /* Repaired by hand, it opens again. */
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(a_flipped_value_byte_behind_a_valid_hint_is_corrupt_on_read) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_record_meta m;
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    char key[32], data[T_PATH_MAX], hint[T_PATH_MAX], k[32], v[256];
    size_t klen, value_start, positions[3], pi, vl = 0;
    uint8_t *got = NULL;
    uint8_t buf[512];
    const uint8_t *ik, *iv;
    size_t ikl, ivl;
    bitgask_status s;
    uint32_t n;
    CHECK(root && o);
    CHECK(write_corruption_setup(root, &m, key, sizeof key));
    klen = strlen(key);
    t_data_path(data, root, 1, "data");
    t_data_path(hint, root, 1, "hint");
    CHECK(t_file_exists(hint));
    value_start = (size_t)m.offset + 32 + klen;
    positions[0] = value_start;
    positions[1] = value_start + ((size_t)m.offset + (size_t)m.size - value_start) / 2;
    positions[2] = (size_t)m.offset + (size_t)m.size - 1;
    for (pi = 0; pi < 3; pi++) {
        const char *msg;
        CHECK(t_xor_byte(data, positions[pi], 0x20));
        db = t_open(root, o);
        CHECK_MSG(db != NULL, "open with a valid hint should not read values");
        got = NULL;
        CHECK_ERR(bitgask_get(db, (const uint8_t *)key, klen, &got, &vl, &err), BITGASK_E_CORRUPT, err);
        CHECK(got == NULL);
        msg = bitgask_error_message(err);
        CHECK_MSG(strstr(msg, "000000001.data") != NULL && strstr(msg, "offset") != NULL, "message: %s", msg);
        bitgask_error_free(err);
        err = NULL;
        CHECK_STATUS(bitgask_get_into(db, (const uint8_t *)key, klen, buf, sizeof buf, &vl, &err), BITGASK_E_CORRUPT,
                     err);
        /* An iterator reading values hits it too; one skipping values does not read it. */
        CHECK_OK(bitgask_iter_new(db, (const uint8_t *)key, klen, &it, &err), err);
        CHECK_STATUS(bitgask_iter_next(it, &ik, &ikl, &iv, &ivl, &err), BITGASK_E_CORRUPT, err);
        bitgask_iter_free(it);
        CHECK_OK(bitgask_iter_new(db, (const uint8_t *)key, klen, &it, &err), err);
        CHECK_OK(bitgask_iter_next(it, &ik, &ikl, NULL, NULL, &err), err);
        CHECK(ikl == klen && memcmp(ik, key, klen) == 0);
        bitgask_iter_free(it);
        /* Every other key still reads fine. */
        for (n = 0; n < 120; n++) {
            size_t kl = t_key(k, sizeof k, n), vl2 = t_value(v, sizeof v, n, 0);
            if (kl == klen && memcmp(k, key, kl) == 0)
                continue;
            CHECK_MSG(t_has(db, k, kl, v, vl2), "key %u", (unsigned)n);
        }
        /* Overwriting the damaged key heals it. */
        s = t_put_s(db, key, "fresh", &err);
        CHECK_OK(s, err);
        CHECK(t_has_s(db, key, "fresh"));
        CHECK(t_close(db));
        /* Undo both the flip and the overwrite for the next position: rebuild from scratch. */
        CHECK(t_rm_rf(root));
        CHECK(write_corruption_setup(root, &m, key, sizeof key));
    }
    bitgask_options_free(o);
}

TEST(damage_in_the_last_file_followed_by_valid_records_is_corruption) {
    const char *root = t_tmpdir();
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_record_meta m;
    char data[T_PATH_MAX], hint[T_PATH_MAX];
    unsigned char *before, *after;
    size_t lb = 0, la = 0;
    int i;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(t_put_s(db, k, "some value", &err), err);
    }
    CHECK_OK(bitgask_meta(db, KS("k3"), &m, &err), err);
    CHECK(t_close(db));
    t_data_path(data, root, 1, "data");
    t_data_path(hint, root, 1, "hint");
    CHECK(t_remove_file(hint));
    CHECK(t_xor_byte(data, (size_t)m.offset + 35, 0xFF));
    before = t_read_file(data, &lb);
    CHECK(before != NULL);
    db = NULL;
    /* Acknowledged records follow the damage: cutting them off as a "torn tail" would lose them. */
    CHECK_ERR(bitgask_open(root, NULL, &db, &err), BITGASK_E_CORRUPT, err);
    CHECK_MSG(strstr(bitgask_error_message(err), "000000001.data") != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    after = t_read_file(data, &la);
    CHECK(after != NULL);
    CHECK_MSG(la == lb && memcmp(before, after, lb) == 0, "a refused open changed the data file");
    free(before);
    free(after);
}

/* How many problems of `kind` a validate of `root` reports (-1 if validate fails). */
static long rec_count_kind(const char *root, const char *kind) {
    bitgask_report *r = NULL;
    bitgask_problem p;
    size_t i;
    long n = 0;
    if (bitgask_validate(root, NULL, &r, NULL) != BITGASK_OK)
        return -1;
    for (i = 0; i < bitgask_report_problem_count(r); i++)
        if (bitgask_report_problem(r, i, &p, NULL) == BITGASK_OK && strcmp(p.kind, kind) == 0)
            n++;
    bitgask_report_free(r);
    return n;
}

/* Copies data/<name> of `from` to `to` (created), as a power loss could leave the file. */
static bool rec_copy(const char *from, const char *to, const char *name) {
    char src[T_PATH_MAX], dst[T_PATH_MAX];
    size_t len = 0;
    unsigned char *b = t_read_file(t_pathf(src, "%s/data/%s", from, name), &len);
    bool ok = b != NULL && t_write_file(t_pathf(dst, "%s/data/%s", to, name), b, len);
    free(b);
    return ok;
}

/* Issue 12: a power loss persisted a later unsynced record but not an earlier one (zeros where it
 * was). Open keeps every synced record, moves the rest of the file to data/<id>.corrupt and
 * succeeds; validate calls it an unsynced tail before and notes the quarantine file after. */
TEST(zeros_where_an_unsynced_record_was_and_a_valid_record_after_it_are_set_aside_at_open) {
    const char *live = t_tmpdir(), *crashed = t_tmpdir();
    bitgask_options *o = t_opts_nosync(0);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_record_meta lost;
    char data[T_PATH_MAX], q[T_PATH_MAX];
    unsigned char *b;
    size_t len = 0;
    CHECK(live && crashed && o && (db = t_open(live, o)) != NULL);
    CHECK_OK(t_put_s(db, "synced", "on disk", &err), err);
    CHECK_OK(bitgask_sync(db, &err), err);
    CHECK_OK(t_put_s(db, "u0", "unsynced, lost", &err), err);
    CHECK_OK(t_put_s(db, "u1", "unsynced, written back first", &err), err);
    CHECK_OK(bitgask_meta(db, KS("u0"), &lost, &err), err);
    /* The image a power loss leaves: the files as they are, u0's record zeros. */
    CHECK(mkdir(t_pathf(data, "%s/data", crashed), 0755) == 0);
    CHECK(rec_copy(live, crashed, "bitgask.meta") && rec_copy(live, crashed, "bitgask.watermark") &&
          rec_copy(live, crashed, "000000001.data"));
    CHECK(t_close(db));
    t_data_path(data, crashed, 1, "data");
    CHECK((b = t_read_file(data, &len)) != NULL);
    memset(b + lost.offset, 0, (size_t)lost.size);
    CHECK(t_write_file(data, b, len));
    free(b);
    CHECK_MSG(rec_count_kind(crashed, "unsynced_tail") == 1, "validate before open");
    CHECK((db = t_open(crashed, o)) != NULL);
    CHECK(t_has_s(db, "synced", "on disk"));
    CHECK(t_absent_s(db, "u0") && t_absent_s(db, "u1"));
    CHECK(t_close(db));
    CHECK(t_file_size(data) == (long long)lost.offset);
    CHECK(t_file_size(t_data_path(q, crashed, 1, "corrupt")) == (long long)(len - lost.offset));
    CHECK_MSG(rec_count_kind(crashed, "unsynced_tail") == 0 && rec_count_kind(crashed, "quarantine") == 1,
              "validate after open");
    bitgask_options_free(o);
}

TEST(reopen_after_every_write_sees_every_write) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(512);
    bitgask_db *db;
    bitgask_error *err = NULL;
    char k[32], v[256];
    uint32_t i, j;
    CHECK(root && o);
    for (i = 0; i < 30; i++) {
        size_t kl = t_key(k, sizeof k, i), vl = t_value(v, sizeof v, i, 0);
        CHECK((db = t_open(root, o)) != NULL);
        CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
        if (i % 4 == 3) {
            kl = t_key(k, sizeof k, i - 1);
            CHECK_OK(bitgask_delete(db, (const uint8_t *)k, kl, &err), err);
        }
        CHECK(t_close(db));
    }
    CHECK((db = t_open(root, o)) != NULL);
    for (j = 0; j < 30; j++) {
        size_t kl = t_key(k, sizeof k, j), vl = t_value(v, sizeof v, j, 0);
        if (j % 4 == 2)
            CHECK_MSG(t_absent(db, k, kl), "key %u", (unsigned)j);
        else
            CHECK_MSG(t_has(db, k, kl, v, vl), "key %u", (unsigned)j);
    }
    CHECK(t_close(db));
    bitgask_options_free(o);
}
