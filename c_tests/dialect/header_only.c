/*
 * The header in the oldest dialects it claims (API convention 9 of bitgask.h): make
 * header-check compiles this file with -std=c89, -std=c99 and as C++98, -Wpedantic -Werror.
 * Compiled only, never run. It touches every kind of declaration the header has: macros
 * (negative ones in expressions), opaque types, structs, the callback type and prototypes.
 * Written in C89 itself.
 */
#include "bitgask.h"

static int count_keys(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    ++*(unsigned long *)ctx;
    return 0;
}

int main(void) {
    bitgask_fold_fn fn = count_keys;
    bitgask_stats stats;
    bitgask_record_meta meta;
    bitgask_problem problem;
    bitgask_report_counts counts;
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    unsigned long n = 0;
    bitgask_status s = -BITGASK_E_IO + BITGASK_STOPPED;
    uint64_t limits = BITGASK_FILE_SIZE_MAX - BITGASK_FILE_SIZE_MIN + BITGASK_KEY_SIZE_LIMIT + BITGASK_VALUE_SIZE_LIMIT;
    stats.keys = meta.size = problem.offset = counts.files = limits;
    if (bitgask_version_number() != BITGASK_VERSION_NUMBER || s != 7 || stats.keys != limits)
        return 1;
    s = bitgask_open(".", NULL, &db, &err);
    if (s == BITGASK_OK)
        s = bitgask_fold(db, NULL, 0, fn, &n, &err);
    bitgask_error_free(err);
    return bitgask_close(db, NULL) == BITGASK_OK && s >= 0 ? 0 : 1;
}
