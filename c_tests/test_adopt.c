/*
 * bitgask_adopt through the C API: a directory as the Go bitgask writes it (the Go meta layout,
 * data file names six digits wide, a key whose last record in the log carries the older stamp)
 * is refused by bitgask_open, reported as foreign by bitgask_validate and converted by
 * bitgask_adopt with the Go system's answer. The full set of Go layouts is tested from Rust
 * (tests/go_fixtures.rs) with the fixture writer of tests/gofixtures. The directory is made by
 * t_go_dir (util.c).
 */
#include "check.h"

TEST(adopt_a_go_directory_is_refused_by_open_and_reported_foreign_by_validate) {
    const char *root = t_tmpdir();
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_report *r = NULL;
    bitgask_problem p;
    CHECK(root && t_go_dir(root, false));
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
    CHECK(root && t_go_dir(root, false));
    CHECK_OK(bitgask_adopt(root, NULL, &r, &err), err);
    CHECK_OK(bitgask_report_adopt_counts_get(r, &c, &err), err);
    CHECK_MSG(!c.already_bitgask && c.file_id_width == 6 && c.deleted_keys == 1 && c.out_of_stamp_order_keys == 1,
              "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK(t_file_exists(t_pathf(path, "%s/go-original/data/000001.data", root)));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_go_dir_adopted(db));
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
