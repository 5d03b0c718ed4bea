/*
 * quickstart.c: a short tour of the bitgask C API.
 *
 *   make run                       (builds the library, runs this in a fresh directory)
 *   ./build/quickstart /tmp/mydb   (or by hand: the directory is created if missing)
 *
 * Opens a database, writes and reads keys, lets a key expire, deletes one, iterates by prefix,
 * prints the stats and closes. Every call is checked; on an error the program prints the status
 * and the error's message and exits with status 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <bitgask.h>

/* Keys and values are (pointer, length) byte strings; these examples use C strings. */
#define BYTES(s) (const uint8_t *)(s), strlen(s)

/* Negative statuses are errors. Prints one and frees its error object; returns true on error.
 * Positive statuses (BITGASK_NOT_FOUND, BITGASK_ITER_DONE) are outcomes, not errors. */
static bool failed(bitgask_status s, bitgask_error **err, const char *what) {
    if (s >= 0)
        return false;
    fprintf(stderr, "%s failed: %s (%d): %s\n", what, bitgask_status_str(s), (int)s,
            bitgask_error_message(*err));
    bitgask_error_free(*err);
    *err = NULL;
    return true;
}

/* Looks a key up and prints its value, or that it is absent. Returns the status. */
static bitgask_status show(bitgask_db *db, const char *key, bitgask_error **err) {
    uint8_t *val = NULL; /* a malloc'd copy: release with bitgask_free */
    size_t vlen = 0;
    bitgask_status s = bitgask_get(db, BYTES(key), &val, &vlen, err);
    if (s == BITGASK_OK)
        printf("  get %-12s -> \"%.*s\"\n", key, (int)vlen, (const char *)val);
    else if (s == BITGASK_NOT_FOUND)
        printf("  get %-12s -> (not found)\n", key);
    bitgask_free(val); /* NULL is fine */
    return s;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <database-directory>\n", argv[0]);
        return 2;
    }
    bitgask_db *db = NULL;
    bitgask_iter *it = NULL;
    bitgask_error *err = NULL; /* filled only when a call fails */
    int rc = 1;

    printf("bitgask %s, database in %s\n", bitgask_version(), argv[1]);

    /* 1. Open (created if missing). NULL options = defaults: every put is fsynced before it returns. */
    if (failed(bitgask_open(argv[1], NULL, &db, &err), &err, "open"))
        return 1;

    /* 2. A few puts, then read one back. */
    printf("\nput four keys:\n");
    const char *kv[][2] = {
        {"user:1", "alice"}, {"user:2", "bob"}, {"user:3", "carol"}, {"config:theme", "dark"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (failed(bitgask_put(db, BYTES(kv[i][0]), BYTES(kv[i][1]), &err), &err, "put"))
            goto out;
        printf("  put %-12s <- \"%s\"\n", kv[i][0], kv[i][1]);
    }
    if (failed(show(db, "user:2", &err), &err, "get"))
        goto out;

    /* 3. A key with a time to live: present now, gone once the TTL has passed. */
    printf("\nput session:42 with a 100 ms TTL:\n");
    if (failed(bitgask_put_ttl(db, BYTES("session:42"), BYTES("token-xyz"), 100, &err), &err, "put_ttl"))
        goto out;
    int64_t left_ms = 0;
    if (failed(bitgask_ttl_ms(db, BYTES("session:42"), &left_ms, &err), &err, "ttl_ms"))
        goto out;
    bitgask_status s = show(db, "session:42", &err);
    if (failed(s, &err, "get"))
        goto out;
    printf("  ttl %-12s -> %lld ms left\n", "session:42", (long long)left_ms);
    nanosleep(&(struct timespec){.tv_nsec = 150 * 1000000L}, NULL);
    printf("after sleeping 150 ms:\n");
    s = show(db, "session:42", &err);
    if (failed(s, &err, "get"))
        goto out;
    if (s != BITGASK_NOT_FOUND) {
        fprintf(stderr, "session:42 should have expired\n");
        goto out;
    }

    /* 4. Delete. A second delete, or a get, says BITGASK_NOT_FOUND. */
    printf("\ndelete user:3:\n");
    if (failed(bitgask_delete(db, BYTES("user:3"), &err), &err, "delete"))
        goto out;
    s = show(db, "user:3", &err);
    if (failed(s, &err, "get"))
        goto out;
    if (s != BITGASK_NOT_FOUND) {
        fprintf(stderr, "user:3 should be gone\n");
        goto out;
    }

    /* 5. Iterate over the keys starting with "user:", in byte order. The key and value pointers
     *    are borrowed from the iterator and valid until the next call on it. */
    printf("\nkeys with prefix \"user:\":\n");
    if (failed(bitgask_iter_new(db, BYTES("user:"), &it, &err), &err, "iter_new"))
        goto out;
    for (;;) {
        const uint8_t *k, *v;
        size_t klen, vlen;
        s = bitgask_iter_next(it, &k, &klen, &v, &vlen, &err);
        if (s == BITGASK_ITER_DONE)
            break;
        if (failed(s, &err, "iter_next"))
            goto out;
        printf("  %.*s = \"%.*s\"\n", (int)klen, (const char *)k, (int)vlen, (const char *)v);
    }

    /* 6. Stats: dead bytes are overwritten/deleted records and tombstones a merge would reclaim. */
    bitgask_stats st;
    if (failed(bitgask_stats_get(db, &st, &err), &err, "stats_get"))
        goto out;
    printf("\nstats: %llu keys, %llu data file(s), %llu bytes on disk, %llu of them dead\n",
           (unsigned long long)st.keys, (unsigned long long)st.data_files,
           (unsigned long long)st.total_bytes, (unsigned long long)st.dead_bytes);
    rc = 0;

out:
    bitgask_iter_free(it); /* NULL-safe, like every release function */
    /* Close syncs, writes the hint file and frees the handle, even when it reports an error. */
    if (failed(bitgask_close(db, &err), &err, "close"))
        rc = 1;
    if (rc == 0)
        printf("closed.\n");
    return rc;
}
