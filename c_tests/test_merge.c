/* Merge: full and selective merges, the trigger, reclaimable bytes, GC of expired keys, merge
 * options, NULL arguments, a merge racing writers and readers, the background merger. Crash
 * points inside a merge are tested by the kill-point runner (c_tests/killpoints/). */
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

/* ---- helpers ---- */

/* Options with max_file_size (0: default) and the background merger off, so only the test
 * merges. NULL (after a note) on failure. */
static bitgask_options *m_opts(uint64_t max_file_size) {
    bitgask_options *o = t_opts(max_file_size);
    if (o == NULL)
        return NULL;
    if (bitgask_options_set_merge_interval_ms(o, 0, NULL) != BITGASK_OK) {
        t_note("bitgask_options_set_merge_interval_ms(0) failed");
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

static bool m_put(bitgask_db *db, uint32_t n, int32_t version) {
    char k[32], v[256];
    size_t kl = t_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, (uint32_t)version);
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
    if (s != BITGASK_OK) {
        t_note("put %s: status %d (%s) %s", k, (int)s, bitgask_status_str(s), err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    return true;
}

/* Deletes key n; want is BITGASK_OK or BITGASK_NOT_FOUND. */
static bool m_del(bitgask_db *db, uint32_t n, bitgask_status want) {
    char k[32];
    size_t kl = t_key(k, sizeof k, n);
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_delete(db, (const uint8_t *)k, kl, &err);
    if (s != want) {
        t_note("delete %s: status %d (%s), expected %d %s", k, (int)s, bitgask_status_str(s), (int)want,
               err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    bitgask_error_free(err);
    return true;
}

static bool m_merge(bitgask_db *db, bool force, bool *merged) {
    bitgask_error *err = NULL;
    bool m = false;
    bitgask_status s = bitgask_merge(db, force, &m, &err);
    if (s != BITGASK_OK || err != NULL) {
        t_note("bitgask_merge(force=%d): status %d (%s) %s", (int)force, (int)s, bitgask_status_str(s),
               err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    if (merged)
        *merged = m;
    return true;
}

static bool m_reclaimable(bitgask_db *db, uint64_t *dead, uint64_t *total, double *ratio) {
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_reclaimable(db, dead, total, ratio, &err);
    if (s != BITGASK_OK) {
        t_note("bitgask_reclaimable: status %d (%s) %s", (int)s, bitgask_status_str(s),
               err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    return true;
}

/* Keys base..base+n-1 match ver[] (-1: absent, else the t_value version), and the database holds
 * exactly those present plus `others` keys: by stats, by fold and by an iterator. */
static bool m_matches(bitgask_db *db, uint32_t base, const int32_t *ver, uint32_t n, uint64_t others) {
    char k[32], v[256];
    uint64_t present = 0, folded = 0, iterated = 0;
    uint32_t i;
    bitgask_stats st;
    bitgask_error *err = NULL;
    bitgask_iter *it = NULL;
    bitgask_status s;
    for (i = 0; i < n; i++) {
        size_t kl = t_key(k, sizeof k, base + i);
        if (ver[i] < 0) {
            if (!t_absent(db, k, kl)) {
                t_note("key %u should be absent", (unsigned)(base + i));
                return false;
            }
        } else {
            size_t vl = t_value(v, sizeof v, base + i, (uint32_t)ver[i]);
            if (!t_has(db, k, kl, v, vl)) {
                t_note("key %u should hold version %d", (unsigned)(base + i), (int)ver[i]);
                return false;
            }
            present++;
        }
    }
    if (!t_stats(db, &st))
        return false;
    if (st.keys != present + others) {
        t_note("stats.keys = %llu, expected %llu", (unsigned long long)st.keys, (unsigned long long)(present + others));
        return false;
    }
    s = bitgask_fold(db, NULL, 0, t_count_cb, &folded, &err);
    if (s != BITGASK_OK || folded != present + others) {
        t_note("fold: status %d, %llu keys, expected %llu", (int)s, (unsigned long long)folded,
               (unsigned long long)(present + others));
        bitgask_error_free(err);
        return false;
    }
    s = bitgask_iter_new(db, NULL, 0, &it, &err);
    if (s != BITGASK_OK) {
        t_note("iter_new: status %d", (int)s);
        bitgask_error_free(err);
        return false;
    }
    for (;;) {
        const uint8_t *ik, *iv;
        size_t ikl, ivl;
        s = bitgask_iter_next(it, &ik, &ikl, &iv, &ivl, &err);
        if (s != BITGASK_OK)
            break;
        iterated++;
    }
    bitgask_iter_free(it);
    if (s != BITGASK_ITER_DONE || iterated != present + others) {
        t_note("iteration: status %d, %llu keys, expected %llu", (int)s, (unsigned long long)iterated,
               (unsigned long long)(present + others));
        bitgask_error_free(err);
        return false;
    }
    return true;
}

/* A mixed history over keys 0..n-1: every key put, every third overwritten twice, every
 * seventh deleted. ver[] receives the model. */
static bool m_history(bitgask_db *db, int32_t *ver, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (!m_put(db, i, 0))
            return false;
        ver[i] = 0;
    }
    for (i = 0; i < n; i += 3) {
        if (!m_put(db, i, 1) || !m_put(db, i, 2))
            return false;
        ver[i] = 2;
    }
    for (i = 0; i < n; i += 7) {
        if (!m_del(db, i, BITGASK_OK))
            return false;
        ver[i] = -1;
    }
    return true;
}

static uint64_t m_wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exactly one generation on disk: neither merge.tmp/ nor data.old/ is left. */
static bool m_one_generation(const char *root) {
    char p[T_PATH_MAX];
    if (t_file_exists(t_pathf(p, "%s/merge.tmp", root)) || t_file_exists(t_pathf(p, "%s/data.old", root))) {
        t_note("%s: merge.tmp/ or data.old/ left behind", root);
        return false;
    }
    return true;
}

#define HIST_KEYS 400

/* ---- contents across merges ---- */

TEST(merge_twice_then_reopen_keeps_contents) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    int32_t ver[HIST_KEYS];
    bool merged = false;
    uint64_t dead = 1, total = 0;
    double ratio = 1;
    bitgask_stats st;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(m_history(db, ver, HIST_KEYS));
    CHECK(t_stats(db, &st));
    CHECK_MSG(st.dead_bytes > 0 && st.data_files > 3, "history left %llu dead bytes in %llu files",
              (unsigned long long)st.dead_bytes, (unsigned long long)st.data_files);

    CHECK(m_merge(db, true, &merged));
    CHECK_MSG(merged, "a forced merge of a database with sealed files did not run");
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    CHECK(m_reclaimable(db, &dead, &total, &ratio));
    CHECK_MSG(dead == 0 && ratio == 0.0, "after a forced merge on a quiet database: %llu dead of %llu (ratio %g)",
              (unsigned long long)dead, (unsigned long long)total, ratio);

    CHECK(m_merge(db, true, &merged));
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    CHECK(m_reclaimable(db, &dead, &total, &ratio));
    CHECK_MSG(dead == 0, "after a second forced merge: %llu dead bytes", (unsigned long long)dead);
    CHECK_MSG(total == t_data_bytes(root), "total_bytes %llu, data files on disk %llu", (unsigned long long)total,
              t_data_bytes(root));
    CHECK(t_close(db));

    CHECK((db = t_open(root, o)) != NULL);
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    CHECK(m_reclaimable(db, &dead, &total, &ratio));
    CHECK_MSG(dead == 0, "after reopen: %llu dead bytes", (unsigned long long)dead);
    CHECK(m_one_generation(root));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(delete_every_key_then_merge_leaves_zero_keys) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    int32_t ver[HIST_KEYS];
    uint32_t i;
    bool merged = false;
    uint64_t dead = 1, total = 1;
    double ratio = 1;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    for (i = 0; i < HIST_KEYS; i++) {
        CHECK(m_put(db, i, 0));
        ver[i] = -1;
    }
    for (i = 0; i < HIST_KEYS; i++)
        CHECK(m_del(db, i, BITGASK_OK));
    CHECK(m_merge(db, true, &merged));
    CHECK(merged);
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0)); /* stats.keys 0, fold and iteration empty */
    CHECK(m_reclaimable(db, &dead, &total, &ratio));
    /* Every record was dead (values deleted, tombstones of absent keys): nothing is left. */
    CHECK_MSG(dead == 0 && total == 0, "after merging an all-deleted database: %llu dead, %llu total",
              (unsigned long long)dead, (unsigned long long)total);
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    CHECK(m_one_generation(root));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(merge_with_zero_live_keys_then_writes_survive_reopen) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    int32_t ver[HIST_KEYS];
    uint32_t i;
    bool merged = true;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    /* A brand-new database: nothing to merge, and that is not an error. */
    CHECK(m_merge(db, true, &merged));
    CHECK_MSG(!merged, "a merge of an empty database reported that it ran");
    CHECK(m_merge(db, true, NULL));
    /* Everything written, then everything deleted: zero live keys, then merged. */
    for (i = 0; i < HIST_KEYS; i++)
        CHECK(m_put(db, i, 0));
    for (i = 0; i < HIST_KEYS; i++) {
        CHECK(m_del(db, i, BITGASK_OK));
        ver[i] = -1;
    }
    CHECK(m_merge(db, true, &merged));
    CHECK(m_merge(db, true, &merged));
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    /* Writes after it: re-puts of deleted keys and new ones. */
    for (i = 0; i < HIST_KEYS; i += 2) {
        CHECK(m_put(db, i, 5));
        ver[i] = 5;
    }
    CHECK(m_del(db, 10, BITGASK_OK));
    ver[10] = -1;
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    /* And a merge after the reopen keeps them. */
    CHECK(m_merge(db, true, &merged));
    CHECK(merged);
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- accounting ---- */

TEST(reclaimable_equals_bytes_freed_by_full_merge) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    int32_t ver[HIST_KEYS];
    uint64_t dead0 = 0, total0 = 0, dead1 = 1, total1 = 0;
    double ratio0 = 0, ratio1 = 1;
    unsigned long long disk0, disk1;
    bitgask_stats st;
    bool merged = false;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    /* An empty database: nothing to reclaim, ratio 0. */
    CHECK(m_reclaimable(db, &dead0, &total0, &ratio0));
    CHECK(dead0 == 0 && total0 == 0 && ratio0 == 0.0);
    CHECK(m_history(db, ver, HIST_KEYS));
    /* While a handle appends, its active file also holds room preallocated for appends, which
     * is not records (docs/DESIGN.md section 5.6): a reopen trims it, and nothing is appended
     * again before the files are measured. */
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(m_reclaimable(db, &dead0, &total0, &ratio0));
    CHECK(t_stats(db, &st));
    disk0 = t_data_bytes(root);
    CHECK_MSG(dead0 > 0 && dead0 < total0, "dead %llu of %llu", (unsigned long long)dead0, (unsigned long long)total0);
    CHECK(st.dead_bytes == dead0 && st.total_bytes == total0);
    CHECK_MSG(fabs(ratio0 - (double)dead0 / (double)total0) < 1e-12, "ratio %g, dead/total %g", ratio0,
              (double)dead0 / (double)total0);
    CHECK_MSG(total0 == disk0, "total_bytes %llu, data files on disk %llu", (unsigned long long)total0, disk0);

    CHECK(m_merge(db, true, &merged));
    CHECK(merged);
    CHECK(m_reclaimable(db, &dead1, &total1, &ratio1));
    disk1 = t_data_bytes(root);
    CHECK_MSG(total0 - total1 == dead0,
              "reclaimable said %llu bytes; the merge freed %llu (total %llu -> %llu)", (unsigned long long)dead0,
              (unsigned long long)(total0 - total1), (unsigned long long)total0, (unsigned long long)total1);
    CHECK_MSG(disk0 - disk1 == dead0, "on disk %llu -> %llu bytes, reclaimable said %llu", disk0, disk1,
              (unsigned long long)dead0);
    CHECK(dead1 == 0 && ratio1 == 0.0);
    CHECK(m_matches(db, 0, ver, HIST_KEYS, 0));
    CHECK(t_close(db));
    /* The figures are rebuilt the same at open. */
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(m_reclaimable(db, &dead0, &total0, &ratio0));
    CHECK_MSG(dead0 == 0 && total0 == total1, "after reopen: %llu dead, %llu total (expected 0, %llu)",
              (unsigned long long)dead0, (unsigned long long)total0, (unsigned long long)total1);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

#define GC_SHORT 60
#define GC_FOREVER 25
#define GC_LONG 15
#define GC_TTL_MS 400

TEST(run_gc_removes_every_expired_key) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    char k[32], v[256];
    uint32_t i;
    uint64_t removed = 999, early = 999, dead0 = 0, dead1 = 0, total = 0, start, written;
    double ratio = 0;
    bitgask_stats st;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    start = t_mono_ms();
    for (i = 0; i < GC_SHORT + GC_FOREVER + GC_LONG; i++) {
        size_t kl = t_key(k, sizeof k, i), vl = t_value(v, sizeof v, i, 0);
        if (i < GC_SHORT) /* some of them overwrite an older version without a TTL */
            CHECK(i % 4 != 0 || m_put(db, i, 9));
        if (i < GC_SHORT)
            CHECK_OK(bitgask_put_ttl(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, GC_TTL_MS, &err), err);
        else if (i < GC_SHORT + GC_FOREVER)
            CHECK_OK(bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
        else
            CHECK_OK(bitgask_put_ttl(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, 3600000, &err), err);
    }
    written = t_mono_ms();
    /* Nothing expired yet: nothing to collect (checked only if the writes were quick enough). */
    CHECK_OK(bitgask_run_gc(db, &early, &err), err);
    CHECK_MSG(early == 0 || t_mono_ms() >= start + GC_TTL_MS, "run_gc removed %llu keys before any expired",
              (unsigned long long)early);
    CHECK(m_reclaimable(db, &dead0, &total, &ratio));
    while (t_mono_ms() < written + GC_TTL_MS + 80) /* past the TTL of the last short key */
        t_sleep_ms(10);
    CHECK_OK(bitgask_run_gc(db, &removed, &err), err);
    CHECK_MSG(early + removed == GC_SHORT, "run_gc removed %llu (+%llu earlier) keys, expected %d",
              (unsigned long long)removed, (unsigned long long)early, GC_SHORT);
    CHECK_OK(bitgask_run_gc(db, &removed, &err), err);
    CHECK_MSG(removed == 0, "a second run_gc removed %llu keys", (unsigned long long)removed);
    CHECK_OK(bitgask_run_gc(db, NULL, &err), err); /* removed_out may be NULL */
    CHECK(t_stats(db, &st));
    CHECK_MSG(st.keys == GC_FOREVER + GC_LONG, "stats.keys %llu after GC", (unsigned long long)st.keys);
    CHECK(m_reclaimable(db, &dead1, &total, &ratio));
    CHECK_MSG(dead1 > dead0 || early == GC_SHORT, "the expired keys' bytes did not become dead (%llu -> %llu)", (unsigned long long)dead0,
              (unsigned long long)dead1);
    /* A merge frees them; the expired keys stay gone, the others stay. */
    CHECK(m_merge(db, true, NULL));
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    for (i = 0; i < GC_SHORT + GC_FOREVER + GC_LONG; i++) {
        size_t kl = t_key(k, sizeof k, i), vl = t_value(v, sizeof v, i, 0);
        if (i < GC_SHORT)
            CHECK_MSG(t_absent(db, k, kl), "expired key %u came back", (unsigned)i);
        else
            CHECK(t_has(db, k, kl, v, vl));
    }
    CHECK_OK(bitgask_run_gc(db, &removed, &err), err);
    CHECK(removed == 0);
    CHECK(t_stats(db, &st));
    CHECK(st.keys == GC_FOREVER + GC_LONG);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- policy ---- */

TEST(unforced_merge_runs_only_when_trigger_holds) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    int32_t ver[200];
    uint32_t i, ids_before[256], ids_after[256];
    size_t nb, na;
    bool merged = true;
    bitgask_stats st;
    uint64_t dead = 0, total = 0;
    double ratio = 0;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_merge_trigger_ratio(o, 0.5, &err), err);
    CHECK_OK(bitgask_options_set_merge_min_total(o, 0, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    for (i = 0; i < 200; i++) {
        CHECK(m_put(db, i, 0));
        ver[i] = 0;
    }
    /* No garbage: the trigger does not hold, nothing changes on disk. */
    nb = t_list_ids(root, "data", ids_before, 256);
    CHECK(m_merge(db, false, &merged));
    CHECK_MSG(!merged, "an unforced merge ran with no garbage");
    CHECK(m_merge(db, false, NULL));
    na = t_list_ids(root, "data", ids_after, 256);
    CHECK(na == nb && memcmp(ids_before, ids_after, nb * sizeof ids_before[0]) == 0);
    CHECK(t_stats(db, &st));
    CHECK(st.merges == 0);
    /* Overwrite a third: still below 0.5. */
    for (i = 0; i < 200; i += 3) {
        CHECK(m_put(db, i, 1));
        ver[i] = 1;
    }
    CHECK(m_reclaimable(db, &dead, &total, &ratio));
    CHECK_MSG(ratio < 0.5, "ratio %g", ratio);
    CHECK(m_merge(db, false, &merged));
    CHECK_MSG(!merged, "an unforced merge ran at ratio %g < 0.5", ratio);
    /* Overwrite everything twice: about 3/4 garbage. */
    for (i = 0; i < 200; i++) {
        CHECK(m_put(db, i, 2) && m_put(db, i, 3));
        ver[i] = 3;
    }
    CHECK(m_reclaimable(db, &dead, &total, &ratio));
    CHECK_MSG(ratio >= 0.5, "ratio %g", ratio);
    CHECK(m_merge(db, false, &merged));
    CHECK_MSG(merged, "an unforced merge did not run at ratio %g >= 0.5", ratio);
    CHECK(t_stats(db, &st));
    CHECK(st.merges == 1 && st.dead_bytes == 0);
    /* Right after it the ratio is 0 again. */
    CHECK(m_merge(db, false, &merged));
    CHECK(!merged);
    CHECK(m_matches(db, 0, ver, 200, 0));
    CHECK(t_close(db));

    /* The size floor: with merge_min_total above the data, a high ratio is not enough. */
    CHECK_OK(bitgask_options_set_merge_min_total(o, 1ull << 40, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    for (i = 0; i < 200; i++) {
        CHECK(m_put(db, i, 4) && m_put(db, i, 5));
        ver[i] = 5;
    }
    CHECK(m_reclaimable(db, &dead, &total, &ratio));
    CHECK(ratio >= 0.5);
    CHECK(m_merge(db, false, &merged));
    CHECK_MSG(!merged, "an unforced merge ran below merge_min_total");
    CHECK(m_merge(db, true, &merged)); /* force ignores the trigger */
    CHECK(merged);
    CHECK(m_matches(db, 0, ver, 200, 0));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* Selective merge must keep the tombstone of a deleted key whose older value sits in a file the
 * merge does not touch: otherwise the next open finds the old value and the key comes back. */
#define SEL_STATIC 300 /* keys 1..300, never overwritten; key 0 is the victim */
#define SEL_CHURN 40   /* keys 1000..1039, overwritten many times */

TEST(selective_merge_never_resurrects_deleted_key) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    char k[32], p[T_PATH_MAX];
    bitgask_record_meta vm, before, after;
    uint32_t i, round, tomb_file;
    int32_t statics[SEL_STATIC + 1], churn[SEL_CHURN];
    unsigned merges = 0;
    bool merged = true;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_min_merge_total(o, 0, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_files(o, 1, &err), err);
    CHECK_OK(bitgask_options_set_garbage_ratio(o, 0.5, &err), err);
    CHECK_OK(bitgask_options_set_merge_trigger_ratio(o, 1.0, &err), err); /* never a full merge */
    CHECK_OK(bitgask_options_set_merge_min_total(o, 0, &err), err);
    CHECK((db = t_open(root, o)) != NULL);

    /* The victim, then many keys that are never overwritten: the victim's file stays mostly live. */
    for (i = 0; i <= SEL_STATIC; i++) {
        CHECK(m_put(db, i, 0));
        statics[i] = 0;
    }
    CHECK_OK(bitgask_meta(db, (const uint8_t *)k, t_key(k, sizeof k, 0), &vm, &err), err);
    /* Churn, with the victim's delete in the middle of it. */
    for (round = 0; round < 8; round++) {
        for (i = 0; i < SEL_CHURN; i++) {
            CHECK(m_put(db, 1000 + i, (int32_t)round));
            churn[i] = (int32_t)round;
        }
        if (round == 3) {
            CHECK_OK(bitgask_meta(db, (const uint8_t *)k, t_key(k, sizeof k, 1000 + SEL_CHURN - 1), &before, &err), err);
            CHECK(m_del(db, 0, BITGASK_OK));
            statics[0] = -1;
            CHECK(m_put(db, 2000, 0)); /* a neighbor of the tombstone, to find its file */
            CHECK_OK(bitgask_meta(db, (const uint8_t *)k, t_key(k, sizeof k, 2000), &after, &err), err);
            CHECK(m_del(db, 2000, BITGASK_OK));
        }
    }
    CHECK_MSG(before.file_id == after.file_id && before.file_id != vm.file_id,
              "setup: the tombstone's file is not known (%u, %u) or is the victim's (%u)", (unsigned)before.file_id,
              (unsigned)after.file_id, (unsigned)vm.file_id);
    tomb_file = before.file_id;
    CHECK(t_absent(db, k, t_key(k, sizeof k, 0)));

    /* Selective merges until nothing more qualifies (bounded: whether the policy stops by itself
     * is selective_merge_reaches_a_fixed_point). */
    for (merges = 0; merges < 6; merges++) {
        CHECK_OK(bitgask_compact_if_needed(db, &merged, &err), err);
        if (!merged)
            break;
    }
    CHECK_MSG(merges > 0, "no selective merge ran");
    CHECK_MSG(t_file_exists(t_data_path(p, root, vm.file_id, "data")),
              "setup: the victim's original file %u was merged (a full merge?)", (unsigned)vm.file_id);
    CHECK_MSG(!t_file_exists(t_data_path(p, root, tomb_file, "data")),
              "setup: the tombstone's file %u was not merged", (unsigned)tomb_file);
    CHECK(t_absent(db, k, t_key(k, sizeof k, 0)));
    CHECK(m_matches(db, 0, statics, SEL_STATIC + 1, SEL_CHURN));
    CHECK(m_matches(db, 1000, churn, SEL_CHURN, SEL_STATIC));
    CHECK(t_close(db));

    CHECK((db = t_open(root, o)) != NULL);
    CHECK_MSG(t_absent(db, k, t_key(k, sizeof k, 0)), "the deleted victim came back after a selective merge and reopen");
    CHECK(t_absent(db, k, t_key(k, sizeof k, 2000)));
    CHECK(m_matches(db, 0, statics, SEL_STATIC + 1, SEL_CHURN));
    CHECK(m_matches(db, 1000, churn, SEL_CHURN, SEL_STATIC));
    /* A second selective pass over the merged outputs (more churn) still keeps it dead. */
    for (round = 8; round < 14; round++)
        for (i = 0; i < SEL_CHURN; i++) {
            CHECK(m_put(db, 1000 + i, (int32_t)round));
            churn[i] = (int32_t)round;
        }
    for (merges = 0; merges < 6; merges++) {
        CHECK_OK(bitgask_compact_if_needed(db, &merged, &err), err);
        if (!merged)
            break;
    }
    CHECK(t_close(db));
    CHECK((db = t_open(root, o)) != NULL);
    CHECK_MSG(t_absent(db, k, t_key(k, sizeof k, 0)), "the deleted victim came back after a second selective pass");
    CHECK(m_matches(db, 0, statics, SEL_STATIC + 1, SEL_CHURN));
    CHECK(m_matches(db, 1000, churn, SEL_CHURN, SEL_STATIC));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* With nothing written, repeated policy passes must stop merging once every qualifying file has
 * been merged: otherwise the background merger rewrites the same files on every tick forever.
 * A file left holding only the tombstones a selective merge keeps (deleted keys whose older
 * values sit in files outside the merge) counts as 100% garbage, so it qualifies again after
 * every merge that rewrites it. */
TEST(selective_merge_reaches_a_fixed_point) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    uint32_t i, round, passes;
    uint32_t ids[256];
    size_t nfiles;
    char p[T_PATH_MAX];
    bool merged = true;
    bitgask_stats st;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_min_merge_total(o, 0, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_files(o, 1, &err), err);
    CHECK_OK(bitgask_options_set_garbage_ratio(o, 0.5, &err), err);
    CHECK_OK(bitgask_options_set_merge_trigger_ratio(o, 1.0, &err), err);
    CHECK_OK(bitgask_options_set_merge_min_total(o, 0, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    for (i = 0; i <= SEL_STATIC; i++)
        CHECK(m_put(db, i, 0));
    for (round = 0; round < 8; round++) {
        for (i = 0; i < SEL_CHURN; i++)
            CHECK(m_put(db, 1000 + i, (int32_t)round));
        if (round == 3) /* the victim's value stays in a mostly-live file; its tombstone lands in churn */
            CHECK(m_del(db, 0, BITGASK_OK));
    }
    /* Every churned key deleted too, then fresh keys so those tombstones end up in sealed files. */
    for (i = 0; i < SEL_CHURN; i++)
        CHECK(m_del(db, 1000 + i, BITGASK_OK));
    for (i = 0; i < 60; i++)
        CHECK(m_put(db, 3000 + i, 0));
    for (passes = 0; passes < 10; passes++) {
        CHECK_OK(bitgask_compact_if_needed(db, &merged, &err), err);
        if (!merged)
            break;
    }
    if (merged) {
        /* One more pass, to name what it rewrites: the inputs vanish, an output appears. */
        uint32_t after[256];
        size_t na, x, y;
        char gone[256] = "", sz[48];
        long long gone_bytes = 0;
        nfiles = t_list_ids(root, "data", ids, 256);
        for (x = 0; x < nfiles && x < 256; x++) /* sizes before the pass */
            after[x] = (uint32_t)t_file_size(t_data_path(p, root, ids[x], "data"));
        CHECK_OK(bitgask_compact_if_needed(db, &merged, &err), err);
        for (x = 0; x < nfiles && x < 256; x++) {
            if (t_file_exists(t_data_path(p, root, ids[x], "data")))
                continue;
            snprintf(sz, sizeof sz, " %u (%u bytes)", (unsigned)ids[x], (unsigned)after[x]);
            if (strlen(gone) + strlen(sz) < sizeof gone)
                strcat(gone, sz);
            gone_bytes += after[x];
        }
        na = t_list_ids(root, "data", after, 256);
        y = na > 0 ? na - 1 : 0;
        CHECK(t_stats(db, &st));
        CHECK(t_close(db));
        bitgask_options_free(o);
        CHECK_MSG(false,
                  "compact_if_needed still merges after %u passes with no writes in between (merges %llu, dead %llu "
                  "of %llu bytes); pass %u rewrote%s into %u (%lld bytes)",
                  passes, (unsigned long long)st.merges, (unsigned long long)st.dead_bytes,
                  (unsigned long long)st.total_bytes, passes + 1, gone, (unsigned)after[y],
                  t_file_size(t_data_path(p, root, after[y], "data")));
    }
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- a merge racing writers and readers ---- */

#define RACE_WRITERS 8
#define RACE_READERS 8
#define RACE_KEYS_PER_WRITER 64
#define RACE_WRITER_BASE 100000u
#define RACE_STABLE 200
#define RACE_MERGES 4

typedef struct race_shared {
    bitgask_db *db;
    volatile int stop; /* accessed with __atomic builtins */
} race_shared;

typedef struct race_arg {
    race_shared *sh;
    int id;
    uint64_t ops;
    uint64_t failures;
    char first_failure[256];
    int32_t ver[RACE_KEYS_PER_WRITER]; /* writer model: -1 absent */
} race_arg;

static bool race_stopped(race_shared *sh) {
    return __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) != 0;
}

static void race_fail(race_arg *a, const char *what, uint32_t n, bitgask_status s, bitgask_error *err) {
    if (a->failures++ == 0)
        snprintf(a->first_failure, sizeof a->first_failure, "%s key %u: status %d (%s) %s", what, (unsigned)n, (int)s,
                 bitgask_status_str(s), err ? bitgask_error_message(err) : "");
}

static size_t stable_key(char *out, size_t cap, uint32_t n) {
    int len = snprintf(out, cap, "stable-%04u", (unsigned)n);
    return len < 0 ? 0 : (size_t)len;
}

static void *race_writer(void *p) {
    race_arg *a = (race_arg *)p;
    uint64_t rng = 0x1234567ull + (uint64_t)a->id * 7919u;
    int32_t next_version = 1;
    char k[32], v[256];
    while (!race_stopped(a->sh) || a->ops < 100) {
        uint32_t slot = (uint32_t)(t_rand(&rng) % RACE_KEYS_PER_WRITER);
        uint32_t n = RACE_WRITER_BASE + (uint32_t)a->id * RACE_KEYS_PER_WRITER + slot;
        size_t kl = t_key(k, sizeof k, n), vl;
        bitgask_error *err = NULL;
        bitgask_status s;
        if (t_rand(&rng) % 4 == 0) {
            s = bitgask_delete(a->sh->db, (const uint8_t *)k, kl, &err);
            if (s != (a->ver[slot] < 0 ? BITGASK_NOT_FOUND : BITGASK_OK))
                race_fail(a, "delete", n, s, err);
            a->ver[slot] = -1;
        } else {
            vl = t_value(v, sizeof v, n, (uint32_t)next_version);
            s = bitgask_put(a->sh->db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
            if (s != BITGASK_OK)
                race_fail(a, "put", n, s, err);
            a->ver[slot] = next_version++;
        }
        bitgask_error_free(err);
        err = NULL;
        /* Read your own write back, every few operations. */
        if (a->ops % 3 == 0) {
            uint8_t *got = NULL;
            size_t gl = 0;
            s = bitgask_get(a->sh->db, (const uint8_t *)k, kl, &got, &gl, &err);
            if (a->ver[slot] < 0) {
                if (s != BITGASK_NOT_FOUND)
                    race_fail(a, "read-back of a deleted", n, s, err);
            } else {
                vl = t_value(v, sizeof v, n, (uint32_t)a->ver[slot]);
                if (s != BITGASK_OK || gl != vl || memcmp(got, v, vl) != 0)
                    race_fail(a, "read-back (wrong or missing value)", n, s, err);
            }
            if (s == BITGASK_OK)
                bitgask_free(got);
            bitgask_error_free(err);
        }
        a->ops++;
    }
    return NULL;
}

typedef struct stable_fold {
    uint64_t count, bad;
} stable_fold;

static int stable_fold_cb(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    stable_fold *f = (stable_fold *)ctx;
    char want[256];
    unsigned n = 0;
    char kb[32];
    size_t wl;
    f->count++;
    if (kl >= sizeof kb) {
        f->bad++;
        return 0;
    }
    memcpy(kb, k, kl);
    kb[kl] = '\0';
    if (sscanf(kb, "stable-%04u", &n) != 1) {
        f->bad++;
        return 0;
    }
    wl = t_value(want, sizeof want, n, 0);
    if (wl != vl || memcmp(want, v, vl) != 0)
        f->bad++;
    return 0;
}

static void *race_reader(void *p) {
    race_arg *a = (race_arg *)p;
    uint64_t rng = 0xABCDEFull + (uint64_t)a->id * 104729u;
    char k[32], v[256];
    while (!race_stopped(a->sh) || a->ops < 100) {
        uint32_t n = (uint32_t)(t_rand(&rng) % RACE_STABLE);
        size_t kl = stable_key(k, sizeof k, n), vl = t_value(v, sizeof v, n, 0);
        uint8_t *got = NULL;
        size_t gl = 0;
        bitgask_error *err = NULL;
        bitgask_status s = bitgask_get(a->sh->db, (const uint8_t *)k, kl, &got, &gl, &err);
        if (s != BITGASK_OK || gl != vl || memcmp(got, v, vl) != 0)
            race_fail(a, "stable read", n, s, err);
        if (s == BITGASK_OK)
            bitgask_free(got);
        bitgask_error_free(err);
        err = NULL;
        if (a->ops % 64 == 0) {
            /* The whole stable set through fold: exactly RACE_STABLE keys, all right. */
            stable_fold f;
            memset(&f, 0, sizeof f);
            s = bitgask_fold(a->sh->db, (const uint8_t *)"stable-", 7, stable_fold_cb, &f, &err);
            if (s != BITGASK_OK || f.count != RACE_STABLE || f.bad != 0) {
                race_fail(a, "stable fold (count/bad in message)", (uint32_t)(f.count * 1000 + f.bad), s, err);
            }
            bitgask_error_free(err);
        }
        a->ops++;
    }
    return NULL;
}

static bool race_matches(bitgask_db *db, race_arg *w) {
    char k[32], v[256];
    int t;
    uint32_t i, n;
    uint64_t present = 0;
    bitgask_stats st;
    for (i = 0; i < RACE_STABLE; i++) {
        size_t kl = stable_key(k, sizeof k, i), vl = t_value(v, sizeof v, i, 0);
        if (!t_has(db, k, kl, v, vl))
            return false;
    }
    for (t = 0; t < RACE_WRITERS; t++) {
        for (i = 0; i < RACE_KEYS_PER_WRITER; i++) {
            size_t kl, vl;
            n = RACE_WRITER_BASE + (uint32_t)t * RACE_KEYS_PER_WRITER + i;
            kl = t_key(k, sizeof k, n);
            if (w[t].ver[i] < 0) {
                if (!t_absent(db, k, kl)) {
                    t_note("writer %d key %u: deleted in the model but present", t, (unsigned)n);
                    return false;
                }
            } else {
                vl = t_value(v, sizeof v, n, (uint32_t)w[t].ver[i]);
                if (!t_has(db, k, kl, v, vl)) {
                    t_note("writer %d key %u: model version %d", t, (unsigned)n, (int)w[t].ver[i]);
                    return false;
                }
                present++;
            }
        }
    }
    if (!t_stats(db, &st))
        return false;
    if (st.keys != RACE_STABLE + present) {
        t_note("stats.keys %llu, model %llu", (unsigned long long)st.keys, (unsigned long long)(RACE_STABLE + present));
        return false;
    }
    return true;
}

TEST(merge_racing_writers_and_readers_ends_in_model_state) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_error *err = NULL;
    race_shared sh;
    race_arg *w = (race_arg *)calloc(RACE_WRITERS, sizeof(race_arg));
    race_arg *r = (race_arg *)calloc(RACE_READERS, sizeof(race_arg));
    pthread_t wt[RACE_WRITERS], rt[RACE_READERS];
    char k[32], v[256];
    int t, m;
    uint32_t i;
    bool merged = false;
    bitgask_stats st;
    uint64_t wops = 0, rops = 0;
    CHECK(root && o && w && r);
    CHECK_OK(bitgask_options_set_merge_max_file_size(o, 16384, &err), err);
    memset(&sh, 0, sizeof sh);
    CHECK((sh.db = t_open(root, o)) != NULL);
    for (i = 0; i < RACE_STABLE; i++) {
        size_t kl = stable_key(k, sizeof k, i), vl = t_value(v, sizeof v, i, 0);
        CHECK_OK(bitgask_put(sh.db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err), err);
    }
    for (t = 0; t < RACE_WRITERS; t++) {
        w[t].sh = &sh;
        w[t].id = t;
        for (i = 0; i < RACE_KEYS_PER_WRITER; i++)
            w[t].ver[i] = -1;
        CHECK(pthread_create(&wt[t], NULL, race_writer, &w[t]) == 0);
    }
    for (t = 0; t < RACE_READERS; t++) {
        r[t].sh = &sh;
        r[t].id = t;
        CHECK(pthread_create(&rt[t], NULL, race_reader, &r[t]) == 0);
    }
    for (m = 0; m < RACE_MERGES; m++) {
        t_sleep_ms(30);
        err = NULL;
        if (bitgask_merge(sh.db, true, &merged, &err) != BITGASK_OK || !merged) {
            t_fail(__FILE__, __LINE__, "merge %d during the race failed or did not run: %s", m,
                   err ? bitgask_error_message(err) : "(merged false)");
            bitgask_error_free(err);
            break;
        }
    }
    t_sleep_ms(20);
    __atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
    for (t = 0; t < RACE_WRITERS; t++)
        pthread_join(wt[t], NULL);
    for (t = 0; t < RACE_READERS; t++)
        pthread_join(rt[t], NULL);
    for (t = 0; t < RACE_WRITERS; t++) {
        wops += w[t].ops;
        CHECK_MSG(w[t].failures == 0, "writer %d: %llu failures, first: %s", t, (unsigned long long)w[t].failures,
                  w[t].first_failure);
    }
    for (t = 0; t < RACE_READERS; t++) {
        rops += r[t].ops;
        CHECK_MSG(r[t].failures == 0, "reader %d: %llu failures, first: %s", t, (unsigned long long)r[t].failures,
                  r[t].first_failure);
    }
    CHECK(m == RACE_MERGES);
    CHECK(t_stats(sh.db, &st));
    CHECK_MSG(st.merges == RACE_MERGES, "stats.merges %llu", (unsigned long long)st.merges);
    CHECK(race_matches(sh.db, w));
    /* A last merge on the quiet database, then a reopen. */
    CHECK(m_merge(sh.db, true, &merged));
    CHECK(race_matches(sh.db, w));
    CHECK(t_close(sh.db));
    CHECK((sh.db = t_open(root, o)) != NULL);
    CHECK(race_matches(sh.db, w));
    CHECK(m_one_generation(root));
    CHECK(t_close(sh.db));
    if (getenv("BITGASK_TEST_VERBOSE"))
        t_note("%llu writer ops, %llu reader ops during %d merges", (unsigned long long)wops, (unsigned long long)rops,
               RACE_MERGES);
    free(w);
    free(r);
    bitgask_options_free(o);
}

/* ---- stats ---- */

TEST(stats_merges_and_last_merge_time_move) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(4096);
    bitgask_db *db;
    int32_t ver[HIST_KEYS];
    bitgask_error *err = NULL;
    bitgask_stats st;
    uint64_t t0, t1, first;
    bool merged = false;
    CHECK(root && o && (db = t_open(root, o)) != NULL);
    CHECK(t_stats(db, &st));
    CHECK(st.merges == 0 && st.last_merge_unix_nano == 0);
    CHECK(m_history(db, ver, HIST_KEYS));
    /* A merge that does not run moves nothing. */
    CHECK(m_merge(db, false, &merged));
    CHECK(!merged);
    CHECK(t_stats(db, &st));
    CHECK(st.merges == 0 && st.last_merge_unix_nano == 0);
    t0 = m_wall_ns();
    CHECK(m_merge(db, true, &merged));
    t1 = m_wall_ns();
    CHECK(merged);
    CHECK(t_stats(db, &st));
    CHECK_MSG(st.merges == 1, "merges %llu", (unsigned long long)st.merges);
    CHECK_MSG(st.last_merge_unix_nano >= t0 && st.last_merge_unix_nano <= t1,
              "last_merge_unix_nano %llu outside [%llu, %llu]", (unsigned long long)st.last_merge_unix_nano,
              (unsigned long long)t0, (unsigned long long)t1);
    first = st.last_merge_unix_nano;
    CHECK(m_put(db, 1, 77));
    t_sleep_ms(2);
    CHECK(m_merge(db, true, &merged));
    CHECK(merged);
    CHECK(t_stats(db, &st));
    CHECK(st.merges == 2 && st.last_merge_unix_nano > first);
    /* A policy pass with nothing due (default thresholds) leaves the counters alone. */
    CHECK_OK(bitgask_compact_if_needed(db, &merged, &err), err);
    CHECK(!merged);
    CHECK(t_stats(db, &st));
    CHECK(st.merges == 2 && st.last_merge_unix_nano >= first);
    CHECK(t_close(db));
    /* Per handle: a new handle starts at zero. */
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_stats(db, &st));
    CHECK(st.merges == 0 && st.last_merge_unix_nano == 0);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

/* ---- options and arguments ---- */

TEST(merge_option_ranges_are_checked) {
    bitgask_options *o = bitgask_options_new();
    bitgask_error *err = NULL;
    CHECK(o != NULL);
    /* Ratios: NaN, out of [0, 1]. */
    CHECK_STATUS(bitgask_options_set_merge_trigger_ratio(o, NAN, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_trigger_ratio(o, 1.5, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_trigger_ratio(o, -0.1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_trigger_ratio(o, INFINITY, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(bitgask_options_set_merge_trigger_ratio(o, NAN, NULL) == BITGASK_E_INVALID_ARG);
    CHECK_OK(bitgask_options_set_merge_trigger_ratio(o, 0.0, &err), err);
    CHECK_OK(bitgask_options_set_merge_trigger_ratio(o, 1.0, &err), err);
    /* The garbage ratio is in (0, 1]. */
    CHECK_STATUS(bitgask_options_set_garbage_ratio(o, 0.0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_garbage_ratio(o, NAN, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_garbage_ratio(o, 1.5, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_garbage_ratio(o, -1.0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_garbage_ratio(o, 1.0, &err), err);
    CHECK_OK(bitgask_options_set_garbage_ratio(o, 0.001, &err), err);
    /* File counts and byte limits. */
    CHECK_STATUS(bitgask_options_set_min_merge_files(o, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_merge_files(o, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_merge_bytes(o, 0, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_min_merge_files(o, 1, &err), err);
    CHECK_OK(bitgask_options_set_max_merge_files(o, 1, &err), err);
    CHECK_OK(bitgask_options_set_max_merge_bytes(o, 1, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_total(o, 0, &err), err);
    CHECK_OK(bitgask_options_set_merge_min_total(o, 0, &err), err);
    CHECK_OK(bitgask_options_set_merge_interval_ms(o, 0, &err), err);
    /* Merge output size: same range as max_file_size. */
    CHECK_STATUS(bitgask_options_set_merge_max_file_size(o, 1, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_max_file_size(o, 255, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_max_file_size(o, UINT64_MAX, &err), BITGASK_E_INVALID_ARG, err);
    CHECK_OK(bitgask_options_set_merge_max_file_size(o, 256, &err), err);
    /* NULL options. */
    CHECK_STATUS(bitgask_options_set_merge_trigger_ratio(NULL, 0.5, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_min_total(NULL, 0, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_interval_ms(NULL, 0, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_on_open(NULL, false, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_merge_max_file_size(NULL, 4096, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_garbage_ratio(NULL, 0.5, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_min_merge_files(NULL, 1, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_min_merge_total(NULL, 1, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_merge_files(NULL, 1, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_options_set_max_merge_bytes(NULL, 1, &err), BITGASK_E_NULL_ARG, err);
    bitgask_options_free(o);
}

TEST(max_merge_files_below_min_merge_files_fails_open) {
    const char *root = t_tmpdir();
    bitgask_options *o = m_opts(0);
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_min_merge_files(o, 4, &err), err);
    CHECK_OK(bitgask_options_set_max_merge_files(o, 3, &err), err); /* each alone is fine */
    CHECK_STATUS(bitgask_open(root, o, &db, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(db == NULL);
    /* min above the default max (5) alone is the same mistake. */
    CHECK_OK(bitgask_options_set_max_merge_files(o, 5, &err), err);
    CHECK_OK(bitgask_options_set_min_merge_files(o, 6, &err), err);
    CHECK_STATUS(bitgask_open(root, o, &db, &err), BITGASK_E_INVALID_ARG, err);
    CHECK(db == NULL);
    /* Equal is allowed, and the failed opens left no lock behind. */
    CHECK_OK(bitgask_options_set_max_merge_files(o, 6, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(merge_calls_null_args) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    bool merged = true;
    uint64_t dead = 7, total = 7, removed = 7;
    double ratio = 7;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_STATUS(bitgask_merge(NULL, true, &merged, &err), BITGASK_E_NULL_ARG, err);
    CHECK(bitgask_merge(NULL, false, NULL, NULL) == BITGASK_E_NULL_ARG);
    CHECK_STATUS(bitgask_compact_if_needed(NULL, &merged, &err), BITGASK_E_NULL_ARG, err);
    CHECK(bitgask_compact_if_needed(NULL, NULL, NULL) == BITGASK_E_NULL_ARG);
    CHECK_STATUS(bitgask_reclaimable(NULL, &dead, &total, &ratio, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_run_gc(NULL, &removed, &err), BITGASK_E_NULL_ARG, err);
    CHECK(bitgask_run_gc(NULL, NULL, NULL) == BITGASK_E_NULL_ARG);
    CHECK(merged && removed == 7);
    /* reclaimable needs all three outputs; none is written when one is missing. */
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK_STATUS(bitgask_reclaimable(db, NULL, &total, &ratio, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_reclaimable(db, &dead, NULL, &ratio, &err), BITGASK_E_NULL_ARG, err);
    CHECK_STATUS(bitgask_reclaimable(db, &dead, &total, NULL, &err), BITGASK_E_NULL_ARG, err);
    CHECK(bitgask_reclaimable(db, NULL, NULL, NULL, NULL) == BITGASK_E_NULL_ARG);
    CHECK(dead == 7 && total == 7 && ratio == 7);
    /* merged_out and removed_out may be NULL. */
    CHECK_OK(bitgask_merge(db, true, NULL, &err), err);
    CHECK_OK(bitgask_merge(db, false, NULL, &err), err);
    CHECK_OK(bitgask_compact_if_needed(db, NULL, &err), err);
    CHECK_OK(bitgask_run_gc(db, NULL, &err), err);
    CHECK_OK(bitgask_reclaimable(db, &dead, &total, &ratio, &err), err);
    CHECK(t_has_s(db, "k", "v"));
    CHECK(t_close(db));
}

/* ---- the background merger ---- */

TEST(background_merger_runs) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(4096);
    bitgask_db *db;
    bitgask_error *err = NULL;
    int32_t ver[200];
    uint32_t i;
    uint64_t deadline;
    bitgask_stats st;
    CHECK(root && o);
    CHECK_OK(bitgask_options_set_merge_interval_ms(o, 10, &err), err);
    CHECK_OK(bitgask_options_set_merge_trigger_ratio(o, 0.5, &err), err);
    CHECK_OK(bitgask_options_set_merge_min_total(o, 0, &err), err);
    CHECK((db = t_open(root, o)) != NULL);
    for (i = 0; i < 200; i++) {
        CHECK(m_put(db, i, 0) && m_put(db, i, 1) && m_put(db, i, 2));
        ver[i] = 2;
    }
    deadline = t_mono_ms() + 2000;
    do {
        CHECK(t_stats(db, &st));
        if (st.merges > 0)
            break;
        t_sleep_ms(5);
    } while (t_mono_ms() < deadline);
    CHECK_MSG(st.merges > 0, "the background merger did not merge within 2 s (dead %llu of %llu)",
              (unsigned long long)st.dead_bytes, (unsigned long long)st.total_bytes);
    CHECK(st.last_merge_unix_nano > 0);
    CHECK(m_matches(db, 0, ver, 200, 0));
    CHECK(t_close(db)); /* stops the worker */
    CHECK((db = t_open(root, o)) != NULL);
    CHECK(m_matches(db, 0, ver, 200, 0));
    CHECK(t_close(db));
    bitgask_options_free(o);
}
