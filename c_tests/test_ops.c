/* The operations API: validate, repair and their reports, backup, delete_all and reopen. */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reports ---- */

static const char *const ops_kinds[] = {"torn_tail",     "unsynced_tail",  "corrupt_record", "corrupt_hint",
                                        "stale_hint",    "hint_mismatch",  "merge_leftover", "bad_meta",
                                        "unknown_file",  "quarantine",     "leftover",       "lost_range",
                                        "lost_key",      "foreign"};

static void ops_show_report(const char *what, const bitgask_report *r) {
    t_note("%s report:\n%s", what, bitgask_report_text(r));
}

/* bitgask_validate, or a note and NULL. */
static bitgask_report *ops_validate(const char *root) {
    bitgask_report *r = NULL;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_validate(root, NULL, &r, &err);
    if (s != BITGASK_OK || r == NULL || err != NULL) {
        t_note("bitgask_validate(%s): status %d (%s) %s", root, (int)s, bitgask_status_str(s),
               err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        bitgask_report_free(r);
        return NULL;
    }
    return r;
}

static bitgask_report *ops_repair(const char *root) {
    bitgask_report *r = NULL;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_repair(root, NULL, &r, &err);
    if (s != BITGASK_OK || r == NULL || err != NULL) {
        t_note("bitgask_repair(%s): status %d (%s) %s", root, (int)s, bitgask_status_str(s),
               err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        bitgask_report_free(r);
        return NULL;
    }
    return r;
}

static bool ops_problem(const bitgask_report *r, size_t i, bitgask_problem *p) {
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_report_problem(r, i, p, &err);
    if (s != BITGASK_OK || err != NULL) {
        t_note("bitgask_report_problem(%zu): status %d %s", i, (int)s, err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    return true;
}

static bool ops_counts(const bitgask_report *r, bitgask_report_counts *c) {
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_report_counts_get(r, c, &err);
    if (s != BITGASK_OK || err != NULL) {
        t_note("bitgask_report_counts_get: status %d %s", (int)s, err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    return true;
}

/* Every problem has a documented kind, non-NULL strings, a file, and notes exactly for the note
 * kinds. */
static bool ops_wellformed(const bitgask_report *r) {
    size_t n = bitgask_report_problem_count(r), i, k;
    for (i = 0; i < n; i++) {
        bitgask_problem p;
        bool known = false, is_note_kind;
        if (!ops_problem(r, i, &p))
            return false;
        if (p.kind == NULL || p.file == NULL || p.message == NULL) {
            t_note("problem %zu has a NULL string", i);
            return false;
        }
        for (k = 0; k < sizeof ops_kinds / sizeof ops_kinds[0]; k++)
            known = known || strcmp(p.kind, ops_kinds[k]) == 0;
        if (!known || p.file[0] == '\0' || p.message[0] == '\0') {
            t_note("problem %zu: kind \"%s\" file \"%s\" message \"%s\"", i, p.kind, p.file, p.message);
            return false;
        }
        is_note_kind = strcmp(p.kind, "unknown_file") == 0 || strcmp(p.kind, "quarantine") == 0 ||
                       strcmp(p.kind, "leftover") == 0;
        if (p.note != is_note_kind) {
            t_note("problem %zu (%s): note = %d", i, p.kind, (int)p.note);
            return false;
        }
    }
    return true;
}

/* The first problem of this kind (and file, unless NULL); false if none. */
static bool ops_find(const bitgask_report *r, const char *kind, const char *file, bitgask_problem *out) {
    size_t n = bitgask_report_problem_count(r), i;
    for (i = 0; i < n; i++) {
        bitgask_problem p;
        if (!ops_problem(r, i, &p))
            return false;
        if (strcmp(p.kind, kind) == 0 && (file == NULL || strcmp(p.file, file) == 0)) {
            *out = p;
            return true;
        }
    }
    return false;
}

static size_t ops_count_kind(const bitgask_report *r, const char *kind) {
    size_t n = bitgask_report_problem_count(r), i, c = 0;
    for (i = 0; i < n; i++) {
        bitgask_problem p;
        if (ops_problem(r, i, &p) && strcmp(p.kind, kind) == 0)
            c++;
    }
    return c;
}

/* Clean, and every problem is a note. */
static bool ops_only_notes(const bitgask_report *r) {
    size_t n = bitgask_report_problem_count(r), i;
    if (!bitgask_report_clean(r)) {
        ops_show_report("unexpectedly unclean", r);
        return false;
    }
    for (i = 0; i < n; i++) {
        bitgask_problem p;
        if (!ops_problem(r, i, &p))
            return false;
        if (!p.note) {
            ops_show_report("expected only notes", r);
            return false;
        }
    }
    return ops_wellformed(r);
}

/* Every problem of a repair report was mended (or is a note). */
static bool ops_all_mended(const bitgask_report *r) {
    size_t n = bitgask_report_problem_count(r), i;
    for (i = 0; i < n; i++) {
        bitgask_problem p;
        if (!ops_problem(r, i, &p))
            return false;
        if (!p.mended && !p.note) {
            ops_show_report("repair left a problem unmended", r);
            return false;
        }
    }
    return bitgask_report_clean(r);
}

/* Repairs and requires everything mended (or a note); the report is always freed. */
static bool ops_repair_mends_all(const char *root) {
    bitgask_report *r = ops_repair(root);
    bool ok = r != NULL && ops_all_mended(r);
    bitgask_report_free(r);
    return ok;
}

static bool ops_json_says_clean(const bitgask_report *r, bool clean) {
    const char *j = bitgask_report_json(r);
    const char *want = clean ? "\"clean\":true" : "\"clean\":false";
    if (j == NULL || j[0] != '{' || strstr(j, want) == NULL) {
        t_note("json lacks %s: %s", want, j ? j : "(NULL)");
        return false;
    }
    return true;
}

/* ---- directory snapshots: names, bytes and mtimes of one directory's entries ---- */

#define OPS_SNAP_MAX 256

typedef struct ops_entry {
    char name[256];
    bool is_dir;
    unsigned char *bytes;
    size_t len;
    struct timespec mtime;
} ops_entry;

typedef struct ops_snap {
    size_t n;
    struct timespec dir_mtime;
    ops_entry e[OPS_SNAP_MAX];
} ops_snap;

static int ops_cmp_entry(const void *a, const void *b) {
    return strcmp(((const ops_entry *)a)->name, ((const ops_entry *)b)->name);
}

static void ops_snap_free(ops_snap *s) {
    size_t i;
    if (s == NULL)
        return;
    for (i = 0; i < s->n; i++)
        free(s->e[i].bytes);
    free(s);
}

static ops_snap *ops_snap_take(const char *dir) {
    ops_snap *s = (ops_snap *)calloc(1, sizeof(ops_snap));
    DIR *d;
    struct dirent *de;
    struct stat st;
    if (s == NULL)
        return NULL;
    if (stat(dir, &st) != 0) {
        t_note("stat %s: %s", dir, strerror(errno));
        free(s);
        return NULL;
    }
    s->dir_mtime = st.st_mtim;
    d = opendir(dir);
    if (d == NULL) {
        t_note("opendir %s: %s", dir, strerror(errno));
        free(s);
        return NULL;
    }
    while ((de = readdir(d)) != NULL) {
        char p[T_PATH_MAX];
        ops_entry *e;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (s->n == OPS_SNAP_MAX) {
            t_note("more than %d entries in %s", OPS_SNAP_MAX, dir);
            closedir(d);
            ops_snap_free(s);
            return NULL;
        }
        e = &s->e[s->n++];
        snprintf(e->name, sizeof e->name, "%s", de->d_name);
        t_pathf(p, "%s/%s", dir, de->d_name);
        if (lstat(p, &st) != 0) {
            t_note("lstat %s: %s", p, strerror(errno));
            closedir(d);
            ops_snap_free(s);
            return NULL;
        }
        e->mtime = st.st_mtim;
        e->is_dir = S_ISDIR(st.st_mode);
        if (!e->is_dir && (e->bytes = t_read_file(p, &e->len)) == NULL) {
            closedir(d);
            ops_snap_free(s);
            return NULL;
        }
    }
    closedir(d);
    qsort(s->e, s->n, sizeof s->e[0], ops_cmp_entry);
    return s;
}

static bool ops_same_time(struct timespec a, struct timespec b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Same names, bytes and mtimes (and the directory's own mtime). */
static bool ops_snap_same(const ops_snap *a, const ops_snap *b, const char *what) {
    size_t i;
    if (a->n != b->n) {
        t_note("%s: %zu entries before, %zu after", what, a->n, b->n);
        for (i = 0; i < b->n; i++)
            t_note("  now: %s", b->e[i].name);
        return false;
    }
    for (i = 0; i < a->n; i++) {
        const ops_entry *x = &a->e[i], *y = &b->e[i];
        if (strcmp(x->name, y->name) != 0) {
            t_note("%s: entry %s became %s", what, x->name, y->name);
            return false;
        }
        if (x->is_dir != y->is_dir || x->len != y->len || (x->len > 0 && memcmp(x->bytes, y->bytes, x->len) != 0)) {
            t_note("%s: %s changed (%zu bytes before, %zu after)", what, x->name, x->len, y->len);
            return false;
        }
        if (!ops_same_time(x->mtime, y->mtime)) {
            t_note("%s: mtime of %s changed", what, x->name);
            return false;
        }
    }
    if (!ops_same_time(a->dir_mtime, b->dir_mtime)) {
        t_note("%s: the directory's mtime changed", what);
        return false;
    }
    return true;
}

/* Sets the mtime (and atime) of dir and of every entry in it to a fixed time long ago, so that any
 * later write is visible as a changed mtime. */
static bool ops_age(const char *dir) {
    struct timespec ts[2];
    DIR *d;
    struct dirent *de;
    bool ok = true;
    ts[0].tv_sec = 1000000000;
    ts[0].tv_nsec = 123456789;
    ts[1] = ts[0];
    d = opendir(dir);
    if (d == NULL)
        return false;
    while ((de = readdir(d)) != NULL) {
        char p[T_PATH_MAX];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        ok = utimensat(AT_FDCWD, t_pathf(p, "%s/%s", dir, de->d_name), ts, AT_SYMLINK_NOFOLLOW) == 0 && ok;
    }
    closedir(d);
    ok = utimensat(AT_FDCWD, dir, ts, 0) == 0 && ok;
    if (!ok)
        t_note("could not set mtimes in %s: %s", dir, strerror(errno));
    return ok;
}

/* Entries of a directory (without . and ..), -1 when it cannot be listed. */
static long ops_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    long n = 0;
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- data ---- */

/* Puts keys first..first+count-1 with version 0 values. */
static bool ops_fill(bitgask_db *db, uint32_t first, uint32_t count) {
    char k[32], v[256];
    uint32_t n;
    for (n = first; n < first + count; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        bitgask_error *err = NULL;
        bitgask_status s = bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
        if (s != BITGASK_OK) {
            t_note("put %s: status %d %s", k, (int)s, err ? bitgask_error_message(err) : "");
            bitgask_error_free(err);
            return false;
        }
    }
    return true;
}

/* Keys first..first+count-1 hold their version 0 values, except skip1 and skip2 (UINT32_MAX:
 * none), which must be absent. */
static bool ops_verify2(bitgask_db *db, uint32_t first, uint32_t count, uint32_t skip1, uint32_t skip2) {
    char k[32], v[256];
    uint32_t n;
    for (n = first; n < first + count; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        if (n == skip1 || n == skip2 ? !t_absent(db, k, kl) : !t_has(db, k, kl, v, vl)) {
            t_note("key %u wrong", (unsigned)n);
            return false;
        }
    }
    return true;
}

static bool ops_verify(bitgask_db *db, uint32_t first, uint32_t count, uint32_t skip) {
    return ops_verify2(db, first, count, skip, skip);
}

static bool ops_meta_of(bitgask_db *db, uint32_t n, bitgask_record_meta *m) {
    char k[32];
    size_t kl = t_key(k, sizeof k, n);
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_meta(db, (const uint8_t *)k, kl, m, &err);
    if (s != BITGASK_OK) {
        t_note("meta %s: status %d %s", k, (int)s, err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    return true;
}

/* A closed database of `count` keys in files of 4 KiB (several sealed files, with hints). */
#define OPS_KEYS 60u

static bool ops_make_db(const char *root, uint32_t count) {
    bitgask_options *o = t_opts(4096);
    bitgask_db *db = o ? t_open(root, o) : NULL;
    bool ok = db != NULL && ops_fill(db, 0, count);
    if (db != NULL)
        ok = t_close(db) && ok;
    bitgask_options_free(o);
    return ok;
}

/* After a repair: validate finds only notes, a second repair reports nothing and changes no
 * byte, name or mtime in data/, and the database opens and reads keys 0..count-1 (the skipped
 * ones absent). */
static bool ops_settled2(const char *root, uint32_t count, uint32_t skip1, uint32_t skip2) {
    bitgask_report *r;
    ops_snap *before, *after;
    bitgask_db *db;
    bitgask_report_counts c;
    char data[T_PATH_MAX];
    bool ok;
    if ((r = ops_validate(root)) == NULL)
        return false;
    ok = ops_only_notes(r) && ops_json_says_clean(r, true);
    bitgask_report_free(r);
    if (!ok) {
        t_note("validate after repair is not clean");
        return false;
    }
    t_pathf(data, "%s/data", root);
    if (!ops_age(data) || (before = ops_snap_take(data)) == NULL)
        return false;
    r = ops_repair(root);
    after = ops_snap_take(data);
    ok = r != NULL && after != NULL;
    if (ok && bitgask_report_problem_count(r) != 0) {
        ops_show_report("second repair", r);
        ok = false;
    }
    ok = ok && bitgask_report_clean(r) && ops_counts(r, &c);
    if (ok && (c.bytes_truncated != 0 || c.bytes_quarantined != 0)) {
        t_note("second repair: %llu bytes truncated, %llu quarantined", (unsigned long long)c.bytes_truncated,
               (unsigned long long)c.bytes_quarantined);
        ok = false;
    }
    ok = ok && ops_snap_same(before, after, "second repair");
    bitgask_report_free(r);
    ops_snap_free(before);
    ops_snap_free(after);
    if (!ok)
        return false;
    if ((db = t_open(root, NULL)) == NULL)
        return false;
    ok = ops_verify2(db, 0, count, skip1, skip2);
    return t_close(db) && ok;
}

static bool ops_settled(const char *root, uint32_t count, uint32_t skip) {
    return ops_settled2(root, count, skip, skip);
}

/* ---- validate ---- */

TEST(ops_validate_clean_database_reports_no_problems_and_right_counts) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    bitgask_report_counts c;
    char k[32], v[256];
    uint32_t n;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, 0, OPS_KEYS));
    for (n = 0; n < OPS_KEYS; n += 6) { /* 10 overwrites */
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 1);
        CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
    }
    for (n = 1; n < OPS_KEYS; n += 12) { /* 5 deletes */
        size_t kl = t_key(k, sizeof k, n);
        CHECK_OK(bitgask_delete(db, (const uint8_t *)k, kl, &err), err);
    }
    CHECK(t_close(db));
    CHECK(t_list_ids(root, "data", NULL, 0) > 2);
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    CHECK_MSG(bitgask_report_problem_count(r) == 0, "%s", bitgask_report_text(r));
    CHECK(ops_counts(r, &c));
    CHECK_MSG(c.files == t_list_ids(root, "data", NULL, 0), "files %llu, %zu on disk", (unsigned long long)c.files,
              t_list_ids(root, "data", NULL, 0));
    CHECK_MSG(c.records == OPS_KEYS + 10 + 5, "records %llu", (unsigned long long)c.records);
    CHECK_MSG(c.live_keys == OPS_KEYS - 5, "live_keys %llu", (unsigned long long)c.live_keys);
    CHECK(c.bytes_truncated == 0 && c.bytes_quarantined == 0);
    CHECK(ops_json_says_clean(r, true));
    CHECK(strstr(bitgask_report_text(r), "clean") != NULL);
    bitgask_report_free(r);
    bitgask_options_free(o);
}

TEST(ops_validate_of_an_empty_new_database_is_clean) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r;
    bitgask_report_counts c;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(t_close(db));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    CHECK(ops_counts(r, &c));
    CHECK(c.files == 0 && c.records == 0 && c.live_keys == 0);
    bitgask_report_free(r);
}

TEST(ops_validate_of_a_missing_path_is_an_error_without_report) {
    const char *tmp = t_tmpdir();
    char p[T_PATH_MAX];
    bitgask_report *r = NULL;
    bitgask_error *err = NULL;
    bitgask_status s;
    CHECK(tmp != NULL);
    t_pathf(p, "%s/does-not-exist", tmp);
    s = bitgask_validate(p, NULL, &r, &err);
    CHECK_MSG(s < 0, "validate of a missing path returned %d", (int)s);
    CHECK_ERR(s, s, err);
    CHECK_MSG(strstr(bitgask_error_message(err), "does-not-exist") != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    CHECK(r == NULL);
    CHECK(!t_file_exists(p)); /* nothing created */
    /* Nor is a regular file a database. */
    t_pathf(p, "%s/file", tmp);
    CHECK(t_write_file(p, "x", 1));
    s = bitgask_validate(p, NULL, &r, &err);
    CHECK_MSG(s < 0, "validate of a regular file returned %d", (int)s);
    CHECK_STATUS(s, s, err);
    CHECK(r == NULL);
    /* Repair the same. */
    t_pathf(p, "%s/does-not-exist", tmp);
    s = bitgask_repair(p, NULL, &r, &err);
    CHECK_MSG(s < 0, "repair of a missing path returned %d", (int)s);
    CHECK_STATUS(s, s, err);
    CHECK(r == NULL);
    CHECK(!t_file_exists(p));
}

TEST(ops_validate_is_read_only) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r, *r2;
    bitgask_record_meta m;
    uint32_t ids[64];
    size_t nd;
    char p[T_PATH_MAX], data[T_PATH_MAX], mt[T_PATH_MAX];
    ops_snap *rb, *ra, *db_, *da, *mb, *ma;
    CHECK(root && ops_make_db(root, OPS_KEYS));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_meta_of(db, 5, &m));
    CHECK(t_close(db));
    nd = t_list_ids(root, "data", ids, 64);
    CHECK(nd >= 3 && m.file_id == 1);
    /* Every kind of damage at once. */
    CHECK(t_xor_byte(t_data_path(p, root, 1, "data"), (size_t)m.offset + 40, 0x20));
    CHECK(t_truncate_file(t_data_path(p, root, ids[nd - 1], "data"),
                          (size_t)t_file_size(t_data_path(p, root, ids[nd - 1], "data")) - 3));
    CHECK(t_xor_byte(t_data_path(p, root, 2, "hint"), 20, 0x01));
    CHECK(t_write_file(t_pathf(p, "%s/data/notes.txt", root), "mine", 4));
    CHECK(t_write_file(t_pathf(p, "%s/data/bitgask.meta", root), "{broken", 7));
    t_pathf(mt, "%s/merge.tmp", root);
    CHECK(mkdir(mt, 0755) == 0);
    CHECK(t_write_file(t_pathf(p, "%s/junk", mt), "junk", 4));
    t_pathf(data, "%s/data", root);
    CHECK(ops_age(data) && ops_age(mt) && ops_age(root));
    CHECK((rb = ops_snap_take(root)) != NULL);
    CHECK((db_ = ops_snap_take(data)) != NULL);
    CHECK((mb = ops_snap_take(mt)) != NULL);
    CHECK((r = ops_validate(root)) != NULL);
    CHECK((r2 = ops_validate(root)) != NULL);
    CHECK((ra = ops_snap_take(root)) != NULL);
    CHECK((da = ops_snap_take(data)) != NULL);
    CHECK((ma = ops_snap_take(mt)) != NULL);
    CHECK(ops_snap_same(rb, ra, "root"));
    CHECK(ops_snap_same(db_, da, "data/"));
    CHECK(ops_snap_same(mb, ma, "merge.tmp/"));
    ops_snap_free(rb);
    ops_snap_free(ra);
    ops_snap_free(db_);
    ops_snap_free(da);
    ops_snap_free(mb);
    ops_snap_free(ma);
    /* It saw all of it, and said the same twice. */
    CHECK(ops_wellformed(r));
    CHECK(!bitgask_report_clean(r));
    CHECK(ops_json_says_clean(r, false));
    CHECK_MSG(ops_count_kind(r, "corrupt_record") == 1 && ops_count_kind(r, "torn_tail") == 1 &&
                  ops_count_kind(r, "corrupt_hint") == 1 && ops_count_kind(r, "unknown_file") == 1 &&
                  ops_count_kind(r, "merge_leftover") == 1 && ops_count_kind(r, "bad_meta") == 1,
              "%s", bitgask_report_text(r));
    CHECK(strcmp(bitgask_report_json(r), bitgask_report_json(r2)) == 0);
    bitgask_report_free(r);
    bitgask_report_free(r2);
}

/* ---- damage, validate, repair ---- */

TEST(ops_torn_tail_is_reported_and_truncated) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_record_meta m;
    bitgask_problem p;
    uint32_t ids[64];
    size_t nd;
    long long size;
    char path[T_PATH_MAX], rel[64];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_meta_of(db, OPS_KEYS - 1, &m));
    CHECK(t_close(db));
    nd = t_list_ids(root, "data", ids, 64);
    CHECK(nd >= 2 && m.file_id == ids[nd - 1]);
    t_data_path(path, root, m.file_id, "data");
    size = t_file_size(path);
    CHECK(size == (long long)(m.offset + m.size));
    CHECK(t_truncate_file(path, (size_t)size - 3));
    snprintf(rel, sizeof rel, "data/%09u.data", (unsigned)m.file_id);

    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_wellformed(r));
    CHECK(!bitgask_report_clean(r));
    CHECK_MSG(ops_find(r, "torn_tail", rel, &p), "%s", bitgask_report_text(r));
    CHECK_MSG(p.offset == m.offset && p.length == m.size - 3, "torn_tail at %llu+%llu, record at %llu+%llu",
              (unsigned long long)p.offset, (unsigned long long)p.length, (unsigned long long)m.offset,
              (unsigned long long)m.size);
    CHECK(!p.note && !p.mended);
    CHECK(ops_count_kind(r, "corrupt_record") == 0);
    CHECK(ops_json_says_clean(r, false));
    CHECK(strstr(bitgask_report_text(r), "torn_tail") != NULL);
    bitgask_report_free(r);

    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_wellformed(r));
    CHECK(ops_all_mended(r));
    CHECK_MSG(ops_find(r, "torn_tail", rel, &p) && p.mended, "%s", bitgask_report_text(r));
    CHECK(ops_counts(r, &c));
    CHECK_MSG(c.bytes_truncated == m.size - 3 && c.bytes_truncated > 0, "bytes_truncated %llu",
              (unsigned long long)c.bytes_truncated);
    CHECK(c.bytes_quarantined == 0);
    CHECK(c.live_keys == OPS_KEYS - 1);
    CHECK(ops_count_kind(r, "lost_range") == 0); /* nothing quarantined */
    CHECK(ops_json_says_clean(r, true));
    bitgask_report_free(r);
    CHECK(t_file_size(path) == (long long)m.offset);
    CHECK(!t_file_exists(t_data_path(path, root, m.file_id, "corrupt")));
    CHECK(ops_settled(root, OPS_KEYS, OPS_KEYS - 1));
}

/* Picks a key of keys 0..count-1 in the middle of file `id` (records before and after it in that
 * file), and the last key in that file. */
static bool ops_middle_of_file(bitgask_db *db, uint32_t id, uint32_t count, uint32_t *key, bitgask_record_meta *m,
                               uint32_t *after) {
    uint32_t n, in[1024], found = 0;
    for (n = 0; n < count && n < 1024; n++) {
        bitgask_record_meta x;
        if (!ops_meta_of(db, n, &x))
            return false;
        if (x.file_id == id)
            in[found++] = n;
    }
    if (found < 3) {
        t_note("only %u keys in file %u", (unsigned)found, (unsigned)id);
        return false;
    }
    *key = in[found / 2];
    *after = in[found - 1];
    return ops_meta_of(db, *key, m);
}

static bool ops_middle_of_file_1(bitgask_db *db, uint32_t *key, bitgask_record_meta *m, uint32_t *after) {
    return ops_middle_of_file(db, 1, OPS_KEYS, key, m, after);
}

TEST(ops_corrupt_record_in_a_sealed_file_is_quarantined) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_record_meta m, ma;
    bitgask_problem p;
    uint32_t victim = 0, after = 0;
    unsigned char *file1, *q;
    size_t len1 = 0, qlen = 0;
    long long before_size;
    char path[T_PATH_MAX], k[32], want[64];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_middle_of_file_1(db, &victim, &m, &after));
    CHECK(ops_meta_of(db, after, &ma));
    CHECK(ma.offset > m.offset + m.size - 1); /* a record follows the damaged one in file 1 */
    CHECK(t_close(db));
    CHECK(t_list_ids(root, "data", NULL, 0) >= 3);
    t_data_path(path, root, 1, "data");
    before_size = t_file_size(path);
    /* A value byte: the header and key stay readable. */
    CHECK(t_xor_byte(path, (size_t)m.offset + 32 + 12 + 3, 0x40));
    CHECK((file1 = t_read_file(path, &len1)) != NULL);

    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_wellformed(r));
    CHECK(!bitgask_report_clean(r));
    CHECK_MSG(ops_find(r, "corrupt_record", "data/000000001.data", &p), "%s", bitgask_report_text(r));
    CHECK_MSG(p.offset == m.offset && p.length == m.size, "corrupt_record at %llu+%llu, record at %llu+%llu",
              (unsigned long long)p.offset, (unsigned long long)p.length, (unsigned long long)m.offset,
              (unsigned long long)m.size);
    CHECK(ops_count_kind(r, "corrupt_record") == 1);
    CHECK(ops_count_kind(r, "torn_tail") == 0);
    CHECK(ops_json_says_clean(r, false));
    bitgask_report_free(r);

    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_wellformed(r));
    CHECK(ops_all_mended(r));
    CHECK(ops_counts(r, &c));
    CHECK_MSG(c.bytes_quarantined == m.size, "bytes_quarantined %llu, record size %llu",
              (unsigned long long)c.bytes_quarantined, (unsigned long long)m.size);
    CHECK(c.bytes_truncated == 0);
    CHECK(c.live_keys == OPS_KEYS - 1);
    CHECK_MSG(ops_find(r, "lost_range", "data/000000001.data", &p), "%s", bitgask_report_text(r));
    CHECK(p.offset == m.offset && p.length == m.size && p.mended);
    CHECK(ops_count_kind(r, "lost_range") == 1);
    CHECK_MSG(ops_count_kind(r, "lost_key") == 1 && ops_find(r, "lost_key", NULL, &p), "%s", bitgask_report_text(r));
    t_key(k, sizeof k, victim);
    snprintf(want, sizeof want, "%s", k);
    CHECK_MSG(strstr(p.message, want) != NULL, "lost_key message \"%s\" does not name %s", p.message, want);
    bitgask_report_free(r);

    /* The quarantine file holds exactly the damaged record's bytes; the file lost exactly them. */
    CHECK((q = t_read_file(t_data_path(path, root, 1, "corrupt"), &qlen)) != NULL);
    CHECK(qlen == m.size && memcmp(q, file1 + m.offset, qlen) == 0);
    free(q);
    free(file1);
    CHECK(t_file_size(t_data_path(path, root, 1, "data")) == before_size - (long long)m.size);

    CHECK(ops_settled(root, OPS_KEYS, victim));
    /* The quarantine file is a note, and it is still there. */
    CHECK((r = ops_validate(root)) != NULL);
    CHECK_MSG(ops_find(r, "quarantine", "data/000000001.corrupt", &p) && p.note, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK(t_file_size(t_data_path(path, root, 1, "corrupt")) == (long long)m.size);
    /* Records after the damage, in the same file, read right. */
    CHECK((db = t_open(root, NULL)) != NULL);
    {
        char v[256];
        size_t kl = t_key(k, sizeof k, after), vl = t_value(v, sizeof v, after, 0);
        CHECK(t_has(db, k, kl, v, vl));
    }
    CHECK(t_close(db));
}

static void ops_hint_damage_case(bool truncate) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_problem p;
    char path[T_PATH_MAX], data[T_PATH_MAX];
    long long hsize;
    unsigned char *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(root && ops_make_db(root, OPS_KEYS));
    t_data_path(path, root, 1, "hint");
    hsize = t_file_size(path);
    CHECK(hsize > 40);
    if (truncate)
        CHECK(t_truncate_file(path, (size_t)hsize / 2));
    else
        CHECK(t_xor_byte(path, (size_t)hsize / 2, 0x08));
    CHECK((d1 = t_read_file(t_data_path(data, root, 1, "data"), &l1)) != NULL);

    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_wellformed(r));
    CHECK(!bitgask_report_clean(r));
    CHECK_MSG(ops_find(r, "corrupt_hint", "data/000000001.hint", &p), "%s", bitgask_report_text(r));
    CHECK(!p.note && !p.mended);
    CHECK(ops_count_kind(r, "corrupt_record") == 0 && ops_count_kind(r, "torn_tail") == 0);
    bitgask_report_free(r);

    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK_MSG(ops_find(r, "corrupt_hint", "data/000000001.hint", &p) && p.mended, "%s", bitgask_report_text(r));
    CHECK(ops_counts(r, &c));
    CHECK(c.bytes_truncated == 0 && c.bytes_quarantined == 0 && c.live_keys == OPS_KEYS);
    CHECK(ops_count_kind(r, "lost_range") == 0 && ops_count_kind(r, "lost_key") == 0);
    bitgask_report_free(r);
    /* The hint was rebuilt; the data file was not touched. */
    CHECK(t_file_exists(path));
    CHECK((d2 = t_read_file(data, &l2)) != NULL);
    CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);
    free(d1);
    free(d2);
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
    /* Reads right with the rebuilt hint after reopen too. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_reopen(db, &err), err);
    CHECK(ops_verify(db, 0, OPS_KEYS, UINT32_MAX));
    CHECK(t_close(db));
}

TEST(ops_truncated_hint_is_corrupt_and_rebuilt) {
    ops_hint_damage_case(true);
}

TEST(ops_flipped_hint_byte_is_corrupt_and_rebuilt) {
    ops_hint_damage_case(false);
}

TEST(ops_unknown_file_is_a_note_and_left_alone) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_problem p;
    unsigned char *b;
    size_t len = 0;
    char path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    t_pathf(path, "%s/data/README.txt", root);
    CHECK(t_write_file(path, "not bitgask's", 13));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    CHECK(ops_json_says_clean(r, true));
    CHECK_MSG(ops_find(r, "unknown_file", "data/README.txt", &p), "%s", bitgask_report_text(r));
    CHECK(p.note && !p.mended);
    CHECK(bitgask_report_problem_count(r) == 1);
    bitgask_report_free(r);
    CHECK(ops_repair_mends_all(root));
    CHECK((b = t_read_file(path, &len)) != NULL);
    CHECK(len == 13 && memcmp(b, "not bitgask's", 13) == 0);
    free(b);
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
    CHECK(t_file_size(path) == 13);
}

TEST(ops_merge_leftover_is_reported_and_removed) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_problem p;
    char mt[T_PATH_MAX], path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    t_pathf(mt, "%s/merge.tmp", root);
    CHECK(mkdir(mt, 0755) == 0);
    CHECK(t_write_file(t_pathf(path, "%s/000000009.data", mt), "half a merge output", 19));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_wellformed(r));
    CHECK(!bitgask_report_clean(r));
    CHECK_MSG(ops_find(r, "merge_leftover", NULL, &p), "%s", bitgask_report_text(r));
    CHECK(!p.note && !p.mended && strstr(p.file, "merge.tmp") != NULL);
    CHECK(ops_json_says_clean(r, false));
    bitgask_report_free(r);
    CHECK(t_file_exists(mt)); /* validate left it */
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK_MSG(ops_find(r, "merge_leftover", NULL, &p) && p.mended, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK(!t_file_exists(mt));
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
}

static void ops_meta_damage_case(bool remove) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_problem p;
    unsigned char *b;
    size_t len = 0;
    char path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    t_pathf(path, "%s/data/bitgask.meta", root);
    if (remove)
        CHECK(t_remove_file(path));
    else
        CHECK(t_write_file(path, "{\"version\": \"one\"", 17));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_wellformed(r));
    CHECK(!bitgask_report_clean(r));
    CHECK_MSG(ops_find(r, "bad_meta", "data/bitgask.meta", &p), "%s", bitgask_report_text(r));
    CHECK(!p.note && !p.mended);
    bitgask_report_free(r);
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK_MSG(ops_find(r, "bad_meta", NULL, &p) && p.mended, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK((b = t_read_file(path, &len)) != NULL);
    CHECK_MSG(strstr((const char *)b, "\"version\": 1") != NULL, "meta is now: %s", (const char *)b);
    free(b);
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
}

TEST(ops_corrupt_meta_is_reported_and_rewritten) {
    ops_meta_damage_case(false);
}

TEST(ops_missing_meta_is_reported_and_rewritten) {
    ops_meta_damage_case(true);
}

TEST(ops_repair_of_a_clean_database_changes_nothing) {
    const char *root = t_tmpdir();
    CHECK(root && ops_make_db(root, OPS_KEYS));
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
}

TEST(ops_two_damaged_ranges_in_one_sealed_file_are_both_quarantined) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_record_meta m1, m2;
    bitgask_problem p;
    uint32_t n, in1[OPS_KEYS], count = 0, a, b;
    unsigned char *file1, *q;
    size_t len1 = 0, qlen = 0;
    char path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    CHECK((db = t_open(root, NULL)) != NULL);
    for (n = 0; n < OPS_KEYS; n++) {
        bitgask_record_meta x;
        CHECK(ops_meta_of(db, n, &x));
        if (x.file_id == 1)
            in1[count++] = n;
    }
    CHECK(count >= 6);
    a = in1[1];
    b = in1[count - 2];
    CHECK(ops_meta_of(db, a, &m1) && ops_meta_of(db, b, &m2));
    CHECK(t_close(db));
    t_data_path(path, root, 1, "data");
    CHECK(t_xor_byte(path, (size_t)m1.offset + m1.size - 1, 0x01)); /* last value byte */
    CHECK(t_xor_byte(path, (size_t)m2.offset, 0xff));                /* a CRC byte */
    CHECK((file1 = t_read_file(path, &len1)) != NULL);
    CHECK((r = ops_validate(root)) != NULL);
    CHECK_MSG(ops_count_kind(r, "corrupt_record") == 2, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK(ops_counts(r, &c));
    CHECK_MSG(c.bytes_quarantined == m1.size + m2.size, "quarantined %llu, expected %llu",
              (unsigned long long)c.bytes_quarantined, (unsigned long long)(m1.size + m2.size));
    CHECK(ops_count_kind(r, "lost_range") == 2);
    CHECK_MSG(ops_count_kind(r, "lost_key") == 2, "%s", bitgask_report_text(r));
    CHECK(c.live_keys == OPS_KEYS - 2);
    CHECK(ops_find(r, "lost_range", "data/000000001.data", &p) && p.offset == m1.offset && p.length == m1.size);
    bitgask_report_free(r);
    /* The quarantine file holds both ranges, in file order. */
    CHECK((q = t_read_file(t_data_path(path, root, 1, "corrupt"), &qlen)) != NULL);
    CHECK(qlen == m1.size + m2.size);
    CHECK(memcmp(q, file1 + m1.offset, m1.size) == 0 && memcmp(q + m1.size, file1 + m2.offset, m2.size) == 0);
    free(q);
    free(file1);
    /* Every other key reads right, those after each damaged range in file 1 included. */
    CHECK(ops_settled2(root, OPS_KEYS, a, b));
}

TEST(ops_damage_in_the_newest_file_with_records_after_it_is_corruption) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_record_meta m, last;
    bitgask_problem p;
    uint32_t victim = 0, after = 0, ids[64];
    size_t nd;
    char path[T_PATH_MAX], rel[64];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    nd = t_list_ids(root, "data", ids, 64);
    CHECK(nd >= 2);
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_meta_of(db, OPS_KEYS - 1, &last));
    CHECK(last.file_id == ids[nd - 1]);
    CHECK(ops_middle_of_file(db, last.file_id, OPS_KEYS, &victim, &m, &after));
    CHECK(t_close(db));
    t_data_path(path, root, m.file_id, "data");
    snprintf(rel, sizeof rel, "data/%09u.data", (unsigned)m.file_id);
    CHECK(t_xor_byte(path, (size_t)m.offset + 34, 0x02));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK_MSG(ops_find(r, "corrupt_record", rel, &p), "%s", bitgask_report_text(r));
    CHECK(p.offset == m.offset && p.length == m.size);
    CHECK(ops_count_kind(r, "torn_tail") == 0);
    bitgask_report_free(r);
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK(ops_counts(r, &c));
    CHECK(c.bytes_quarantined == m.size && c.bytes_truncated == 0);
    CHECK(ops_count_kind(r, "lost_key") == 1);
    bitgask_report_free(r);
    CHECK(t_file_size(t_data_path(path, root, m.file_id, "corrupt")) == (long long)m.size);
    CHECK(ops_settled(root, OPS_KEYS, victim));
}

TEST(ops_lost_newest_version_reads_as_the_previous_one) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    bitgask_record_meta m0, m1;
    bitgask_problem p;
    char path[T_PATH_MAX], k[32], v[256];
    size_t kl, vl;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, 0, OPS_KEYS));
    kl = t_key(k, sizeof k, 7);
    vl = t_value(v, sizeof v, 7, 1);
    CHECK(ops_meta_of(db, 7, &m0));
    CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
    CHECK(ops_fill(db, OPS_KEYS, 30)); /* the new version's file gets sealed */
    CHECK(ops_meta_of(db, 7, &m1));
    CHECK(m1.file_id > m0.file_id);
    CHECK(t_close(db));
    CHECK(t_list_ids(root, "data", NULL, 0) > m1.file_id);
    CHECK(t_xor_byte(t_data_path(path, root, m1.file_id, "data"), (size_t)m1.offset + m1.size - 2, 0x10));
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK_MSG(ops_find(r, "lost_key", NULL, &p) && strstr(p.message, k) != NULL, "%s", bitgask_report_text(r));
    CHECK(ops_count_kind(r, "lost_key") == 1);
    bitgask_report_free(r);
    CHECK((db = t_open(root, o)) != NULL);
    vl = t_value(v, sizeof v, 7, 0);
    CHECK(t_has(db, k, kl, v, vl));
    CHECK(ops_verify(db, 0, 7, UINT32_MAX) && ops_verify(db, 8, OPS_KEYS + 30 - 8, UINT32_MAX));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(ops_torn_tail_inside_a_header_is_cut_and_trailing_zeros_are_an_unused_tail) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_record_meta m;
    bitgask_problem p;
    char path[T_PATH_MAX], hint[T_PATH_MAX];
    unsigned char *b, *z;
    size_t len = 0;
    CHECK(root && ops_make_db(root, OPS_KEYS));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_meta_of(db, OPS_KEYS - 1, &m));
    CHECK(t_close(db));
    t_data_path(path, root, m.file_id, "data");
    /* Only 10 bytes of the last record's header remain. */
    CHECK(t_truncate_file(path, (size_t)m.offset + 10));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK_MSG(ops_find(r, "torn_tail", NULL, &p) && p.offset == m.offset && p.length == 10, "%s",
              bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r) && ops_counts(r, &c) && c.bytes_truncated == 10);
    bitgask_report_free(r);
    CHECK(t_file_size(path) == (long long)m.offset);
    CHECK(ops_settled(root, OPS_KEYS, OPS_KEYS - 1));
    /* Zeros after the last record of the newest file: the room preallocated for appends that a
     * crash left unused (docs/DESIGN.md section 4.5). Not damage: validate and repair find
     * nothing to report or mend, open trims it, nothing is lost. A crash leaves no hint beside
     * the file being appended, so the closed file's hint goes first. */
    CHECK(remove(t_data_path(hint, root, m.file_id, "hint")) == 0);
    CHECK((b = t_read_file(path, &len)) != NULL);
    z = (unsigned char *)calloc(len + 100, 1);
    CHECK(z != NULL);
    memcpy(z, b, len);
    free(b);
    CHECK(t_write_file(path, z, len + 100));
    free(z);
    CHECK(ops_settled(root, OPS_KEYS, OPS_KEYS - 1));
    CHECK(t_file_size(path) == (long long)len);
}

TEST(ops_stale_hint_without_data_file_is_removed) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_problem p;
    unsigned char *h;
    size_t len = 0;
    char path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    CHECK((h = t_read_file(t_data_path(path, root, 1, "hint"), &len)) != NULL);
    CHECK(t_write_file(t_data_path(path, root, 99, "hint"), h, len));
    free(h);
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(!bitgask_report_clean(r));
    CHECK_MSG(ops_find(r, "stale_hint", "data/000000099.hint", &p) && !p.note, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK(ops_find(r, "stale_hint", "data/000000099.hint", &p) && p.mended);
    bitgask_report_free(r);
    CHECK(!t_file_exists(path));
    CHECK(t_file_exists(t_data_path(path, root, 1, "hint")));
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
}

TEST(ops_leftover_tmp_file_is_a_note_and_repair_removes_it) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_problem p;
    char path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    t_pathf(path, "%s/data/000000002.hint.tmp", root);
    CHECK(t_write_file(path, "half", 4));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    CHECK_MSG(ops_find(r, "leftover", "data/000000002.hint.tmp", &p) && p.note, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK(t_file_exists(path));
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_all_mended(r));
    CHECK(ops_find(r, "leftover", "data/000000002.hint.tmp", &p) && p.mended);
    bitgask_report_free(r);
    CHECK(!t_file_exists(path));
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
}

TEST(ops_unknown_directory_in_data_is_a_note_and_left_alone) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_problem p;
    char dir[T_PATH_MAX], path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    t_pathf(dir, "%s/data/mine", root);
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(t_write_file(t_pathf(path, "%s/000000001.data", dir), "not a data file", 15));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    CHECK_MSG(ops_find(r, "unknown_file", "data/mine", &p) && p.note, "%s", bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK(ops_repair_mends_all(root));
    CHECK(t_file_size(path) == 15);
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
    CHECK(t_file_size(path) == 15);
}

TEST(ops_old_generation_leftover_is_removed_keeping_foreign_directories) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_problem p;
    char old[T_PATH_MAX], path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, OPS_KEYS));
    t_pathf(old, "%s/data.old", root);
    CHECK(mkdir(old, 0755) == 0);
    CHECK(t_write_file(t_pathf(path, "%s/000000001.data", old), "old generation", 14));
    CHECK(mkdir(t_pathf(path, "%s/userdir", old), 0755) == 0);
    CHECK(t_write_file(t_pathf(path, "%s/userdir/f", old), "user", 4));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(!bitgask_report_clean(r));
    CHECK_MSG(ops_find(r, "merge_leftover", NULL, &p) && strstr(p.file, "data.old") != NULL, "%s",
              bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK(ops_repair_mends_all(root));
    CHECK(!t_file_exists(old));
    CHECK(t_file_size(t_pathf(path, "%s/data/userdir/f", root)) == 4);
    CHECK(ops_settled(root, OPS_KEYS, UINT32_MAX));
}

/* A full merge copies its inputs in id order. After a selective merge, the sealed active file
 * has a lower id than the selective merge's output but newer records, so the next full merge
 * writes records out of stamp order; with no write after it, that output is the newest file.
 * One flipped byte in it must still cost only the damaged record. */
TEST(ops_damage_in_an_unordered_merge_output_loses_only_the_damaged_record) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_record_meta m, x;
    bitgask_problem p;
    uint32_t n, version[200], early[200], victim = UINT32_MAX, ids[64];
    size_t nd;
    bool merged = false, inverted = false, found, exact;
    char path[T_PATH_MAX], rel[64], k[32], v[256];
    memset(&m, 0, sizeof m);
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_merge_interval_ms(o, 0, &err), err);
    CHECK_OK(bitgask_options_set_merge_trigger_ratio(o, 1.0, &err), err);
    CHECK_OK(bitgask_options_set_merge_min_total(o, (uint64_t)1 << 40, &err), err);
    CHECK_OK(bitgask_options_set_garbage_ratio(o, 0.3, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_files(o, 1, &err), err);
    CHECK_OK(bitgask_options_set_max_merge_files(o, 2, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_total(o, 1, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, 0, 200));
    /* Half the keys of files 1 and 2 get a second version: those two files turn to garbage. */
    for (n = 0; n < 200; n++) {
        CHECK(ops_meta_of(db, n, &x));
        early[n] = x.file_id <= 2;
        version[n] = 0;
        if (early[n] && n % 2 == 0) {
            size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 1);
            CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
            version[n] = 1;
        }
    }
    CHECK_OK(bitgask_compact_if_needed(db, &merged, &err), err);
    CHECK_MSG(merged, "no selective merge ran");
    CHECK_OK(bitgask_merge(db, true, &merged, &err), err);
    CHECK(merged);
    /* The victim: the first record (in file order) of the keys that stayed in files 1 and 2. */
    for (n = 1; n < 200; n += 2) {
        CHECK(ops_meta_of(db, n, &x));
        if (early[n] && (victim == UINT32_MAX || x.offset < m.offset)) {
            victim = n;
            m = x;
        }
    }
    CHECK(victim != UINT32_MAX);
    /* Precondition: a record before it in its file carries a newer stamp. */
    for (n = 0; n < 200; n++) {
        CHECK(ops_meta_of(db, n, &x));
        inverted = inverted || (x.file_id == m.file_id && x.offset < m.offset && x.ts_unix_nano > m.ts_unix_nano);
    }
    CHECK_MSG(inverted, "the merge output is in stamp order; the scenario did not arise");
    CHECK(t_close(db));
    nd = t_list_ids(root, "data", ids, 64);
    /* A merge leaves an empty data file above its outputs, so the out-of-order output is never
     * the newest file (where damage could pass for a torn tail). */
    CHECK(nd >= 2 && ids[nd - 1] > m.file_id);
    t_data_path(path, root, ids[nd - 1], "data");
    CHECK(t_file_size(path) == 0);
    t_data_path(path, root, m.file_id, "data");
    snprintf(rel, sizeof rel, "data/%09u.data", (unsigned)m.file_id);
    CHECK(t_xor_byte(path, (size_t)(m.offset + m.size - 1), 0x01));

    bitgask_options_free(o); /* from here on the defaults do; nothing is left to free on failure */
    o = NULL;
    CHECK((r = ops_validate(root)) != NULL);
    found = ops_find(r, "corrupt_record", rel, &p) || ops_find(r, "torn_tail", rel, &p);
    exact = found && p.offset == m.offset && p.length == m.size;
    if (!exact)
        t_note("validate reports %s at %llu length %llu; the damaged record is %llu bytes at %llu:\n%s",
               found ? p.kind : "nothing", (unsigned long long)(found ? p.offset : 0),
               (unsigned long long)(found ? p.length : 0), (unsigned long long)m.size, (unsigned long long)m.offset,
               bitgask_report_text(r));
    bitgask_report_free(r);
    CHECK_MSG(exact, "validate's damaged range is not the damaged record");

    CHECK((r = ops_repair(root)) != NULL);
    exact = ops_all_mended(r) && ops_counts(r, &c) && c.bytes_truncated + c.bytes_quarantined == m.size &&
            c.live_keys == 199 && ops_count_kind(r, "lost_key") == 1;
    if (!exact)
        ops_show_report("repair", r);
    bitgask_report_free(r);
    CHECK_MSG(exact, "repair lost more than the damaged record");
    CHECK((db = t_open(root, NULL)) != NULL);
    for (n = 0, exact = true; n < 200; n++) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, version[n]);
        if (n == victim ? !t_absent(db, k, kl) : !t_has(db, k, kl, v, vl)) {
            t_note("key %u wrong after repair", (unsigned)n);
            exact = false;
        }
    }
    CHECK(t_close(db));
    CHECK(exact);
}

/* MERGE_DONE is bitgask's own file: validate must not call it "not a bitgask file". */
TEST(ops_validate_after_a_merge_reports_no_unknown_file) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    bitgask_report_counts c;
    bitgask_problem p;
    char k[32], v[256];
    uint32_t n;
    bool merged = false;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, 0, OPS_KEYS));
    for (n = 0; n < OPS_KEYS; n += 2) {
        size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 1);
        CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
    }
    CHECK_OK(bitgask_merge(db, true, &merged, &err), err);
    CHECK(merged);
    CHECK(t_close(db));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    CHECK(ops_counts(r, &c));
    CHECK(c.live_keys == OPS_KEYS && c.records == OPS_KEYS);
    bitgask_options_free(o);
    if (ops_find(r, "unknown_file", NULL, &p)) {
        ops_show_report("after a merge", r);
        bitgask_report_free(r);
        CHECK_MSG(false, "validate calls a file bitgask's merge left in data/ unknown");
    }
    bitgask_report_free(r);
}

/* ---- reports ---- */

TEST(ops_report_accessors_check_their_arguments) {
    const char *root = t_tmpdir();
    bitgask_report *r;
    bitgask_error *err = NULL;
    bitgask_problem p, sentinel;
    bitgask_report_counts c;
    size_t n;
    char path[T_PATH_MAX];
    CHECK(root && ops_make_db(root, 20));
    CHECK(t_write_file(t_pathf(path, "%s/data/bitgask.meta", root), "x", 1));
    CHECK((r = ops_validate(root)) != NULL);
    n = bitgask_report_problem_count(r);
    CHECK(n >= 1);
    memset(&sentinel, 0xA5, sizeof sentinel);
    p = sentinel;
    CHECK_STATUS(bitgask_report_problem(r, n, &p, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_report_problem(r, n + 100, &p, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_report_problem(r, (size_t)-1, &p, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(memcmp(&p, &sentinel, sizeof p) == 0); /* outputs only on success */
    CHECK_STATUS(bitgask_report_problem(NULL, 0, &p, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_report_problem(r, 0, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_report_counts_get(NULL, &c, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_report_counts_get(r, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK(memcmp(&p, &sentinel, sizeof p) == 0);
    CHECK_OK(bitgask_report_problem(r, n - 1, &p, &err), err);
    CHECK(bitgask_report_problem(r, n, &p, NULL) == BITGASK_E_INVALID_ARG); /* err_out may be NULL */
    /* text and JSON */
    CHECK(bitgask_report_text(r)[0] != '\0');
    CHECK(strstr(bitgask_report_text(r), "bad_meta") != NULL);
    CHECK(ops_json_says_clean(r, false));
    CHECK(strstr(bitgask_report_json(r), "\"kind\":\"bad_meta\"") != NULL);
    CHECK(bitgask_report_json(r)[strlen(bitgask_report_json(r)) - 1] == '}');
    /* NULL reports */
    CHECK(!bitgask_report_clean(NULL));
    CHECK(bitgask_report_problem_count(NULL) == 0);
    CHECK(bitgask_report_text(NULL) != NULL && bitgask_report_text(NULL)[0] == '\0');
    CHECK(bitgask_report_json(NULL) != NULL && bitgask_report_json(NULL)[0] == '\0');
    bitgask_report_free(NULL);
    bitgask_report_free(r);
    /* A clean one. */
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(ops_json_says_clean(r, true));
    CHECK(bitgask_report_text(r)[0] != '\0');
    bitgask_report_free(r);
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_json_says_clean(r, true));
    CHECK(bitgask_report_text(r)[0] != '\0');
    CHECK(bitgask_report_clean(r));
    bitgask_report_free(r);
}

/* ---- locking ---- */

TEST(ops_repair_while_open_is_locked_and_validate_works) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_report *r = NULL;
    bitgask_error *err = NULL;
    bitgask_options *o = bitgask_options_new();
    uint64_t t0;
    CHECK(root && o && (db = t_open(root, NULL)) != NULL);
    CHECK(ops_fill(db, 0, 10));
    CHECK_STATUS(bitgask_repair(root, NULL, &r, &err), BITGASK_E_LOCKED, err);
    CHECK(r == NULL);
    /* With a lock timeout it waits, then gives up. */
    CHECK_OK(bitgask_options_set_lock_timeout_ms(o, 150, &err), err);
    t0 = t_mono_ms();
    CHECK_STATUS(bitgask_repair(root, o, &r, &err), BITGASK_E_LOCKED, err);
    CHECK(t_mono_ms() - t0 >= 100);
    CHECK(r == NULL);
    /* Validate takes no lock. */
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    bitgask_report_free(r);
    r = NULL;
    CHECK(ops_verify(db, 0, 10, UINT32_MAX));
    CHECK(t_close(db));
    CHECK((r = ops_repair(root)) != NULL);
    CHECK(bitgask_report_clean(r));
    bitgask_report_free(r);
    /* Repair released the lock. */
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_verify(db, 0, 10, UINT32_MAX));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- backup ---- */

#define OPS_WRITERS 4
#define OPS_WRITER_CAP 1000000u

typedef struct ops_writer {
    bitgask_db *db;
    unsigned id;
    pthread_mutex_t mu;
    uint32_t acked; /* guarded by mu */
    bool stop;      /* guarded by mu */
    bitgask_status failed;
} ops_writer;

static size_t ops_wkey(char *out, size_t cap, unsigned writer, uint32_t n) {
    int len = snprintf(out, cap, "w%u-%08u", writer, (unsigned)n);
    return len < 0 ? 0 : (size_t)len;
}

static void *ops_writer_main(void *arg) {
    ops_writer *w = (ops_writer *)arg;
    char k[32], v[256];
    uint32_t n;
    for (n = 0; n < OPS_WRITER_CAP; n++) {
        bool stop;
        size_t kl, vl;
        bitgask_status s;
        pthread_mutex_lock(&w->mu);
        stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            break;
        kl = ops_wkey(k, sizeof k, w->id, n);
        vl = t_value(v, sizeof v, n, w->id);
        s = bitgask_put(w->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, NULL);
        if (s != BITGASK_OK) {
            w->failed = s;
            break;
        }
        pthread_mutex_lock(&w->mu);
        w->acked = n + 1;
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

static uint32_t ops_acked(ops_writer *w) {
    uint32_t a;
    pthread_mutex_lock(&w->mu);
    a = w->acked;
    pthread_mutex_unlock(&w->mu);
    return a;
}

TEST(ops_backup_during_four_writers_holds_every_acknowledged_write) {
    const char *root = t_tmpdir(), *tmp = t_tmpdir();
    bitgask_options *o = t_opts(16384);
    bitgask_db *db, *bdb;
    bitgask_error *err = NULL;
    bitgask_report *r;
    bitgask_report_counts c;
    ops_writer w[OPS_WRITERS];
    pthread_t th[OPS_WRITERS];
    uint32_t before[OPS_WRITERS], after[OPS_WRITERS], have[OPS_WRITERS], total = 0;
    char dst[T_PATH_MAX], p[T_PATH_MAX];
    unsigned i;
    uint64_t t0;
    bool started_all = true, ok;
    CHECK(root && tmp && o && (db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, 0, 100)); /* some sealed files before the writers start */
    for (i = 0; i < OPS_WRITERS; i++) {
        w[i].db = db;
        w[i].id = i;
        w[i].acked = 0;
        w[i].stop = false;
        w[i].failed = BITGASK_OK;
        pthread_mutex_init(&w[i].mu, NULL);
    }
    for (i = 0; i < OPS_WRITERS; i++)
        started_all = pthread_create(&th[i], NULL, ops_writer_main, &w[i]) == 0 && started_all;
    CHECK(started_all);
    /* Let every writer get going. */
    t0 = t_mono_ms();
    for (;;) {
        bool all = true;
        for (i = 0; i < OPS_WRITERS; i++)
            all = all && ops_acked(&w[i]) >= 200;
        if (all || t_mono_ms() - t0 > 20000)
            break;
        t_sleep_ms(2);
    }
    for (i = 0; i < OPS_WRITERS; i++)
        before[i] = ops_acked(&w[i]);
    t_pathf(dst, "%s/bk", tmp);
    {
        bitgask_status s = bitgask_backup(db, dst, &err);
        for (i = 0; i < OPS_WRITERS; i++) {
            after[i] = ops_acked(&w[i]);
            pthread_mutex_lock(&w[i].mu);
            w[i].stop = true;
            pthread_mutex_unlock(&w[i].mu);
        }
        for (i = 0; i < OPS_WRITERS; i++)
            pthread_join(th[i], NULL);
        CHECK_OK(s, err);
    }
    for (i = 0; i < OPS_WRITERS; i++) {
        pthread_mutex_destroy(&w[i].mu);
        CHECK_MSG(w[i].failed == BITGASK_OK, "writer %u: status %d", i, (int)w[i].failed);
        CHECK_MSG(before[i] >= 200, "writer %u acknowledged only %u writes before the backup", i, (unsigned)before[i]);
        if (getenv("BITGASK_TEST_VERBOSE"))
            t_note("writer %u: %u acked before the backup, %u after", i, (unsigned)before[i], (unsigned)after[i]);
    }
    CHECK(t_close(db));
    /* The backup: no LOCK, nothing but data/ at its top, no staging directory left beside it. */
    CHECK(!t_file_exists(t_pathf(p, "%s/LOCK", dst)));
    CHECK(ops_dir_entries(dst) == 1 && t_file_exists(t_pathf(p, "%s/data/bitgask.meta", dst)));
    CHECK(ops_dir_entries(tmp) == 1);
    CHECK((r = ops_validate(dst)) != NULL);
    CHECK(ops_only_notes(r));
    CHECK(bitgask_report_problem_count(r) == 0);
    CHECK(ops_counts(r, &c));
    bitgask_report_free(r);
    CHECK((bdb = t_open(dst, o)) != NULL);
    CHECK(ops_verify(bdb, 0, 100, UINT32_MAX));
    for (i = 0; i < OPS_WRITERS; i++) {
        char k[32], v[256];
        uint32_t n;
        bool ex = false;
        for (n = 0; n < before[i]; n++) {
            size_t kl = ops_wkey(k, sizeof k, i, n), vl = t_value(v, sizeof v, n, i);
            CHECK_MSG(t_has(bdb, k, kl, v, vl), "writer %u write %u (acked before the backup) missing", i, (unsigned)n);
        }
        /* A point in time: each writer's keys in the copy are a prefix of what it wrote. */
        have[i] = before[i];
        for (n = before[i]; n <= after[i]; n++) {
            size_t kl = ops_wkey(k, sizeof k, i, n);
            CHECK_OK(bitgask_exists(bdb, (const uint8_t *)k, kl, &ex, &err), err);
            if (!ex)
                break;
            have[i] = n + 1;
        }
        for (ok = true; n < after[i] + 2; n++) {
            size_t kl = ops_wkey(k, sizeof k, i, n);
            CHECK_OK(bitgask_exists(bdb, (const uint8_t *)k, kl, &ex, &err), err);
            ok = ok && !ex;
        }
        CHECK_MSG(ok, "writer %u: the copy has a gap in its keys after %u", i, (unsigned)have[i]);
        total += have[i];
    }
    CHECK_MSG(c.live_keys == 100u + total, "backup validate: %llu live keys, %u expected",
              (unsigned long long)c.live_keys, (unsigned)(100u + total));
    CHECK(t_close(bdb));
    /* The original still opens and holds at least as much. */
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(ops_verify(db, 0, 100, UINT32_MAX));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(ops_backup_refuses_bad_destinations_and_creates_nothing) {
    const char *root = t_tmpdir(), *tmp = t_tmpdir();
    bitgask_db *db, *bdb;
    bitgask_error *err = NULL;
    bitgask_report *r;
    char dst[T_PATH_MAX], p[T_PATH_MAX], data[T_PATH_MAX];
    long long root_entries, data_entries;
    CHECK(root && tmp && (db = t_open(root, NULL)) != NULL);
    CHECK(ops_fill(db, 0, 20));
    t_pathf(data, "%s/data", root);
    root_entries = ops_dir_entries(root);
    data_entries = ops_dir_entries(data);

    /* An existing non-empty directory. */
    t_pathf(dst, "%s/full", tmp);
    CHECK(mkdir(dst, 0755) == 0);
    CHECK(t_write_file(t_pathf(p, "%s/x", dst), "x", 1));
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(ops_dir_entries(dst) == 1 && t_file_size(p) == 1);
    CHECK(ops_dir_entries(tmp) == 1);
    /* A regular file. */
    t_pathf(dst, "%s/afile", tmp);
    CHECK(t_write_file(dst, "y", 1));
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(t_file_size(dst) == 1 && ops_dir_entries(tmp) == 2);
    /* The database directory itself (it is not empty, but also the database). */
    CHECK_STATUS(bitgask_backup(db, root, &err), BITGASK_E_INVALID_ARG, err);
    /* Paths inside it: new ones, and through a symlink. */
    t_pathf(dst, "%s/bk", root);
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(!t_file_exists(dst));
    t_pathf(dst, "%s/data/bk", root);
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(!t_file_exists(dst));
    t_pathf(p, "%s/link", tmp);
    CHECK(symlink(root, p) == 0);
    t_pathf(dst, "%s/link/bk2", tmp);
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(!t_file_exists(t_pathf(p, "%s/bk2", root)));
    CHECK(ops_dir_entries(root) == root_entries);
    CHECK(ops_dir_entries(data) == data_entries);
    /* A parent that does not exist. */
    t_pathf(dst, "%s/nope/bk", tmp);
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(!t_file_exists(t_pathf(p, "%s/nope", tmp)));
    CHECK(ops_dir_entries(tmp) == 3); /* full, afile, link */

    /* An existing empty directory is fine. */
    t_pathf(dst, "%s/empty", tmp);
    CHECK(mkdir(dst, 0755) == 0);
    CHECK_OK(bitgask_backup(db, dst, &err), err);
    CHECK(ops_dir_entries(tmp) == 4);
    CHECK(!t_file_exists(t_pathf(p, "%s/LOCK", dst)));
    /* The source keeps working. */
    CHECK_OK(t_put_s(db, "after", "backup", &err), err);
    CHECK(t_close(db));
    CHECK((r = ops_validate(dst)) != NULL);
    CHECK(ops_only_notes(r));
    bitgask_report_free(r);
    CHECK((bdb = t_open(dst, NULL)) != NULL);
    CHECK(ops_verify(bdb, 0, 20, UINT32_MAX));
    CHECK(t_absent_s(bdb, "after"));
    CHECK(t_close(bdb));
}

TEST(ops_backup_of_a_multi_file_database_with_hints_validates_clean) {
    const char *root = t_tmpdir(), *tmp = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    bitgask_report_counts c;
    char dst[T_PATH_MAX];
    CHECK(root && tmp && ops_make_db(root, OPS_KEYS));
    CHECK(o && (db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, OPS_KEYS, 10));
    t_pathf(dst, "%s/bk", tmp);
    CHECK_OK(bitgask_backup(db, dst, &err), err);
    CHECK(t_list_ids(dst, "data", NULL, 0) == t_list_ids(root, "data", NULL, 0));
    CHECK(t_list_ids(dst, "hint", NULL, 0) >= 1);
    CHECK((r = ops_validate(dst)) != NULL);
    CHECK(ops_only_notes(r) && bitgask_report_problem_count(r) == 0);
    CHECK(ops_counts(r, &c));
    CHECK(c.live_keys == OPS_KEYS + 10);
    bitgask_report_free(r);
    /* A second backup to the same (now non-empty) destination is refused. */
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(t_close(db));
    CHECK((db = t_open(dst, o)) != NULL);
    CHECK(ops_verify(db, 0, OPS_KEYS + 10, UINT32_MAX));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(ops_backup_of_an_empty_database_opens) {
    const char *root = t_tmpdir(), *tmp = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    char dst[T_PATH_MAX];
    CHECK(root && tmp && (db = t_open(root, NULL)) != NULL);
    t_pathf(dst, "%s/bk", tmp);
    CHECK_OK(bitgask_backup(db, dst, &err), err);
    CHECK(t_close(db));
    CHECK((r = ops_validate(dst)) != NULL);
    CHECK(ops_only_notes(r));
    bitgask_report_free(r);
    CHECK((db = t_open(dst, NULL)) != NULL);
    CHECK(t_absent_s(db, "anything"));
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(t_close(db));
}

TEST(ops_backup_does_not_copy_a_damaged_hint) {
    const char *root = t_tmpdir(), *tmp = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r;
    char dst[T_PATH_MAX], path[T_PATH_MAX];
    CHECK(root && tmp && ops_make_db(root, OPS_KEYS));
    CHECK(t_xor_byte(t_data_path(path, root, 1, "hint"), 30, 0x04));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_verify(db, 0, OPS_KEYS, UINT32_MAX));
    t_pathf(dst, "%s/bk", tmp);
    CHECK_OK(bitgask_backup(db, dst, &err), err);
    CHECK(t_close(db));
    CHECK((r = ops_validate(dst)) != NULL);
    CHECK(ops_only_notes(r));
    bitgask_report_free(r);
    CHECK((db = t_open(dst, NULL)) != NULL);
    CHECK(ops_verify(db, 0, OPS_KEYS, UINT32_MAX));
    CHECK(t_close(db));
}

TEST(ops_backup_refuses_an_empty_directory_inside_the_database) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    char dst[T_PATH_MAX];
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(ops_fill(db, 0, 5));
    t_pathf(dst, "%s/empty", root);
    CHECK(mkdir(dst, 0755) == 0);
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(ops_dir_entries(dst) == 0);
    t_pathf(dst, "%s/data/empty", root);
    CHECK(mkdir(dst, 0755) == 0);
    CHECK_STATUS(bitgask_backup(db, dst, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(ops_dir_entries(dst) == 0);
    CHECK(t_close(db));
}

/* The staging directory is named .<name>.backup-<pid> beside the destination. Whatever already
 * has that name was not made by this call: backup refuses with E_IO naming it (the mkdir fails
 * with EEXIST), and neither deletes nor fills it, nor creates the destination. */
TEST(ops_backup_leaves_a_foreign_entry_at_its_staging_name_alone) {
    const char *root = t_tmpdir(), *tmp = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    char dst[T_PATH_MAX], staging[T_PATH_MAX], path[T_PATH_MAX];
    CHECK(root && tmp && (db = t_open(root, NULL)) != NULL);
    CHECK(ops_fill(db, 0, 5));
    t_pathf(dst, "%s/bk", tmp);
    t_pathf(staging, "%s/.bk.backup-%d", tmp, (int)getpid());
    CHECK(mkdir(staging, 0755) == 0);
    CHECK(t_write_file(t_pathf(path, "%s/precious", staging), "keep", 4));
    CHECK_ERR(bitgask_backup(db, dst, &err), BITGASK_E_IO, err);
    CHECK_MSG(strstr(bitgask_error_message(err), staging) != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    CHECK(t_close(db));
    CHECK_MSG(t_file_size(path) == 4, "backup deleted %s, which it did not create", path);
    CHECK(ops_dir_entries(staging) == 1);
    CHECK(!t_file_exists(dst));
}

/* ---- delete_all ---- */

TEST(ops_delete_all_removes_every_key_and_later_writes_survive) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats st;
    bitgask_iter *it = NULL;
    bitgask_report *r;
    const uint8_t *ik;
    size_t ikl;
    uint32_t n;
    char k[32];
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, 0, OPS_KEYS));
    CHECK(t_list_ids(root, "data", NULL, 0) > 2);
    CHECK_OK(bitgask_delete_all(db, &err), err);
    for (n = 0; n < OPS_KEYS; n++) {
        size_t kl = t_key(k, sizeof k, n);
        CHECK_MSG(t_absent(db, k, kl), "key %u survived delete_all", (unsigned)n);
    }
    CHECK(t_stats(db, &st));
    CHECK_MSG(st.keys == 0 && st.total_bytes == 0 && st.dead_bytes == 0,
              "after delete_all: keys %llu, total %llu, dead %llu, files %llu", (unsigned long long)st.keys,
              (unsigned long long)st.total_bytes, (unsigned long long)st.dead_bytes,
              (unsigned long long)st.data_files);
    CHECK(t_data_bytes(root) == 0);
    CHECK_OK(bitgask_iter_new(db, NULL, 0, &it, &err), err);
    CHECK_STATUS(bitgask_iter_next(it, &ik, &ikl, NULL, NULL, &err), BITGASK_ITER_DONE, err);
    bitgask_iter_free(it);
    /* Twice is fine. */
    CHECK_OK(bitgask_delete_all(db, &err), err);
    /* Writes after it survive a reopen; nothing deleted comes back. */
    CHECK(ops_fill(db, 1000, 30));
    CHECK(t_stats(db, &st));
    CHECK(st.keys == 30);
    CHECK(t_close(db));
    CHECK((r = ops_validate(root)) != NULL);
    CHECK(ops_only_notes(r));
    bitgask_report_free(r);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(ops_verify(db, 1000, 30, UINT32_MAX));
    for (n = 0; n < OPS_KEYS; n++) {
        size_t kl = t_key(k, sizeof k, n);
        CHECK_MSG(t_absent(db, k, kl), "key %u came back after delete_all and reopen", (unsigned)n);
    }
    CHECK(t_stats(db, &st));
    CHECK(st.keys == 30);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(ops_delete_all_keeps_unknown_files_in_data) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    unsigned char *b;
    size_t len = 0;
    char path[T_PATH_MAX], sub[T_PATH_MAX];
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK(ops_fill(db, 0, 20));
    t_pathf(path, "%s/data/notes.txt", root);
    CHECK(t_write_file(path, "keep me", 7));
    t_pathf(sub, "%s/data/mydir", root);
    CHECK(mkdir(sub, 0755) == 0);
    CHECK(t_write_file(t_pathf(sub, "%s/data/mydir/inner", root), "in", 2));
    CHECK_OK(bitgask_delete_all(db, &err), err);
    CHECK((b = t_read_file(path, &len)) != NULL);
    CHECK(len == 7 && memcmp(b, "keep me", 7) == 0);
    free(b);
    CHECK(t_file_size(sub) == 2);
    CHECK(ops_verify(db, 0, 0, UINT32_MAX));
    CHECK(t_absent_s(db, "key-00000000"));
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_file_size(path) == 7 && t_file_size(sub) == 2);
    CHECK(t_absent_s(db, "key-00000000"));
    CHECK(t_close(db));
}

/* ---- reopen ---- */

TEST(ops_reopen_keeps_the_handle_working_with_the_same_data) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats a, b;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(ops_fill(db, 0, OPS_KEYS));
    CHECK_OK(bitgask_delete(db, KS("key-00000003"), &err), err);
    CHECK(t_stats(db, &a));
    CHECK_OK(bitgask_reopen(db, &err), err);
    CHECK(t_stats(db, &b));
    CHECK_MSG(a.keys == b.keys && a.total_bytes == b.total_bytes && a.data_files == b.data_files,
              "stats before reopen: keys %llu total %llu files %llu; after: %llu %llu %llu",
              (unsigned long long)a.keys, (unsigned long long)a.total_bytes, (unsigned long long)a.data_files,
              (unsigned long long)b.keys, (unsigned long long)b.total_bytes, (unsigned long long)b.data_files);
    CHECK(ops_verify(db, 0, OPS_KEYS, 3));
    /* Reopen again, straight away. */
    CHECK_OK(bitgask_reopen(db, &err), err);
    CHECK(ops_verify(db, 0, OPS_KEYS, 3));
    /* Writes after it work and survive a real close and open. */
    CHECK(ops_fill(db, OPS_KEYS, 10));
    CHECK_OK(bitgask_delete(db, KS("key-00000004"), &err), err);
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_absent_s(db, "key-00000003") && t_absent_s(db, "key-00000004"));
    CHECK(ops_verify(db, 5, OPS_KEYS + 5, UINT32_MAX));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(ops_reopen_after_writes_serves_them) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_stats st;
    uint32_t round;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    for (round = 0; round < 5; round++) {
        char v[32];
        CHECK(ops_fill(db, round * 10, 10));
        snprintf(v, sizeof v, "round-%u", (unsigned)round);
        CHECK_OK(t_put_s(db, "shared", v, &err), err);
        CHECK_OK(bitgask_reopen(db, &err), err);
        CHECK(ops_verify(db, 0, (round + 1) * 10, UINT32_MAX));
        CHECK(t_has_s(db, "shared", v));
        CHECK(t_stats(db, &st));
        CHECK(st.keys == (round + 1) * 10 + 1);
    }
    CHECK(t_close(db));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(ops_verify(db, 0, 50, UINT32_MAX));
    CHECK(t_has_s(db, "shared", "round-4"));
    CHECK(t_close(db));
}

/* ---- NULL arguments ---- */

TEST(ops_null_arguments_are_null_arg) {
    const char *root = t_tmpdir(), *tmp = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bitgask_report *r = NULL;
    bitgask_problem p;
    bitgask_report_counts c;
    char dst[T_PATH_MAX];
    CHECK(root && tmp && (db = t_open(root, NULL)) != NULL);
    CHECK(ops_fill(db, 0, 5));
    t_pathf(dst, "%s/bk", tmp);
    CHECK_STATUS(bitgask_validate(NULL, NULL, &r, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_validate(root, NULL, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_repair(NULL, NULL, &r, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_repair(root, NULL, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK(r == NULL);
    CHECK_STATUS(bitgask_report_problem(NULL, 0, &p, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_report_counts_get(NULL, &c, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_backup(NULL, dst, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_backup(db, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK(!t_file_exists(dst));
    CHECK_STATUS(bitgask_delete_all(NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_reopen(NULL, &err), BITGASK_E_NULL_ARG, err);
    /* err_out may be NULL too. */
    CHECK(bitgask_validate(NULL, NULL, &r, NULL) == BITGASK_E_NULL_ARG);
    CHECK(bitgask_backup(db, NULL, NULL) == BITGASK_E_NULL_ARG);
    CHECK(bitgask_reopen(NULL, NULL) == BITGASK_E_NULL_ARG);
    /* Nothing happened to the database. */
    CHECK(ops_verify(db, 0, 5, UINT32_MAX));
    CHECK(t_close(db));
}
