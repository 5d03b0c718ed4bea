/*
 * bitgask_adopt through the C API: a directory as the Go bitgask writes it (the Go meta layout,
 * data file names six digits wide, a key whose last record in the log carries the older stamp)
 * is refused by bitgask_open, reported as foreign by bitgask_validate and converted by
 * bitgask_adopt with the Go system's answer. The full set of Go layouts is tested from Rust
 * (tests/go_fixtures.rs) with the fixture writer of tests/gofixtures.
 */
#include "check.h"

#include <sys/stat.h>

static uint32_t adopt_crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void adopt_le(unsigned char *p, uint64_t v, int n) {
    int i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Appends one record in the shared record layout to buf; returns its length. */
static size_t adopt_record(unsigned char *buf, uint64_t ts, uint8_t flags, const char *k, const char *v) {
    size_t kl = strlen(k), vl = strlen(v);
    memset(buf, 0, 32);
    adopt_le(buf + 4, ts, 8);
    adopt_le(buf + 20, kl, 4);
    adopt_le(buf + 24, vl, 4);
    buf[28] = flags;
    memcpy(buf + 32, k, kl);
    memcpy(buf + 32 + kl, v, vl);
    adopt_le(buf, adopt_crc32(buf + 4, 28 + kl + vl), 4);
    return 32 + kl + vl;
}

/* A Go directory: "k" written twice (the later record has the older stamp: two racing puts),
 * "gone" put then deleted, "plain" put once. */
static bool adopt_go_dir(const char *root) {
    char p[T_PATH_MAX];
    unsigned char buf[512];
    size_t n = 0;
    const char *meta = "{\n  \"version\": 1,\n  \"created\": \"2026-01-01T00:00:00.5Z\"\n}";
    n += adopt_record(buf + n, 2000, 0, "k", "newer stamp, appended first");
    n += adopt_record(buf + n, 1000, 0, "k", "older stamp, appended last");
    n += adopt_record(buf + n, 3000, 0, "gone", "x");
    n += adopt_record(buf + n, 4000, 1, "gone", "");
    n += adopt_record(buf + n, 5000, 0, "plain", "p");
    return mkdir(t_pathf(p, "%s/data", root), 0755) == 0 && t_write_file(t_pathf(p, "%s/LOCK", root), "", 0) &&
           t_write_file(t_pathf(p, "%s/data/bitgask.meta", root), meta, strlen(meta)) &&
           t_write_file(t_pathf(p, "%s/data/000001.data", root), buf, n) &&
           t_write_file(t_pathf(p, "%s/data/000001.hint", root), "", 0);
}

static bool adopt_value_is(bitgask_db *db, const char *k, const char *want) {
    uint8_t buf[64];
    size_t n = 0;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_get_into(db, KS(k), buf, sizeof buf, &n, &err);
    bitgask_error_free(err);
    if (want == NULL) return s == BITGASK_NOT_FOUND;
    return s == BITGASK_OK && n == strlen(want) && memcmp(buf, want, n) == 0;
}

TEST(adopt_a_go_directory_is_refused_by_open_and_reported_foreign_by_validate) {
    const char *root = t_tmpdir();
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_report *r = NULL;
    bitgask_problem p;
    CHECK(root && adopt_go_dir(root));
    CHECK_ERR(bitgask_open(root, NULL, &db, &err), BITGASK_E_FORMAT_VERSION, err);
    CHECK(db == NULL);
    CHECK_MSG(strstr(bitgask_error_message(err), "bitgask adopt") != NULL, "%s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    CHECK_OK(bitgask_validate(root, NULL, &r, &err), err);
    CHECK(!bitgask_report_clean(r) && bitgask_report_problem_count(r) > 0);
    CHECK_OK(bitgask_report_problem(r, 0, &p, &err), err);
    CHECK_MSG(strcmp(p.kind, "foreign") == 0, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
}

TEST(adopt_converts_with_the_go_systems_answers_and_keeps_the_originals) {
    const char *root = t_tmpdir();
    char path[T_PATH_MAX];
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_report *r = NULL;
    bitgask_adopt_counts c;
    CHECK(root && adopt_go_dir(root));
    CHECK_OK(bitgask_adopt(root, NULL, &r, &err), err);
    CHECK_OK(bitgask_report_adopt_counts_get(r, &c, &err), err);
    CHECK_MSG(!c.already_bitgask && c.file_id_width == 6 && c.deleted_keys == 1 && c.out_of_stamp_order_keys == 1,
              "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK(t_file_exists(t_pathf(path, "%s/go-original/data/000001.data", root)));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(adopt_value_is(db, "k", "older stamp, appended last"));
    CHECK(adopt_value_is(db, "gone", NULL));
    CHECK(adopt_value_is(db, "plain", "p"));
    CHECK(t_close(db));
    /* A second adopt converts nothing. */
    r = NULL;
    CHECK_OK(bitgask_adopt(root, NULL, &r, &err), err);
    CHECK_OK(bitgask_report_adopt_counts_get(r, &c, &err), err);
    CHECK(c.already_bitgask);
    bitgask_report_free(r);
}

TEST(adopt_arguments_are_checked) {
    const char *root = t_tmpdir();
    bitgask_error *err = NULL;
    bitgask_report *r = NULL;
    bitgask_adopt_counts c;
    bitgask_options *o = bitgask_options_new();
    CHECK(root && o);
    CHECK_ERR(bitgask_adopt(NULL, NULL, &r, &err), BITGASK_E_NULL_ARG, err);
    bitgask_error_free(err);
    err = NULL;
    CHECK_ERR(bitgask_adopt(root, NULL, NULL, &err), BITGASK_E_NULL_ARG, err);
    bitgask_error_free(err);
    err = NULL;
    CHECK_OK(bitgask_options_set_adopt_salvage(o, true, &err), err);
    CHECK_OK(bitgask_options_set_adopt_discard_original(o, true, &err), err);
    CHECK_OK(bitgask_validate(root, NULL, &r, &err), err);
    CHECK_ERR(bitgask_report_adopt_counts_get(r, &c, &err), BITGASK_E_INVALID_ARG, err);
    bitgask_error_free(err);
    bitgask_report_free(r);
    bitgask_options_free(o);
}
