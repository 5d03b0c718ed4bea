/*
 * bench_util.h: what bitgask's benchmark programs share (bench.c, peers.c and its adapters):
 * the clock, the key and value generator every engine is fed with, recursive removal of temp
 * directories, and the facts that name the machine. Header-only (static inline) so that each
 * program stays one compile command.
 */
#ifndef BITGASK_BENCH_UTIL_H
#define BITGASK_BENCH_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define KEY_LEN 16
#define VAL_LEN 100

static inline void bench_die(const char *prog, const char *msg) {
    fprintf(stderr, "%s: %s\n", prog, msg);
    exit(1);
}

static inline double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* splitmix64's finalizer: a bijection on 64-bit integers. */
static inline uint64_t mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static inline void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Key of record i in stream `space`: mix(space, i) then the counter, both big-endian. Unique per
 * (space, i) because the second half is the counter and the first half is a function of space.
 * The mixed first half makes consecutive keys land in random places of an ordered store. */
static inline void make_key(uint8_t key[KEY_LEN], uint64_t space, uint64_t i) {
    put_be64(key, mix64(i ^ (space << 48)));
    put_be64(key + 8, (space << 48) | i);
}

/* The alphabet over and over: any 26 + VAL_LEN - 8 consecutive letters of make_value's filler. */
#define BENCH_ALPHABET "abcdefghijklmnopqrstuvwxyz"
static const char BENCH_FILLER[] = BENCH_ALPHABET BENCH_ALPHABET BENCH_ALPHABET BENCH_ALPHABET BENCH_ALPHABET;
_Static_assert(sizeof BENCH_FILLER - 1 >= 26 + VAL_LEN - 8, "BENCH_FILLER too short for VAL_LEN");

/* Value of record i: its index in the first 8 bytes (checked by reads), then filler: byte j is
 * 'a' + (i + j) % 26, copied from the repeated alphabet (one letter computed per byte took about
 * 60 ns a value, as much as some engines' whole put). */
static inline void make_value(uint8_t val[VAL_LEN], uint64_t i) {
    memcpy(val, &i, 8);
    memcpy(val + 8, BENCH_FILLER + (i + 8) % 26, VAL_LEN - 8);
}

/* True when v is the value make_value wrote for index i. */
static inline bool value_is(const uint8_t *v, size_t vlen, uint64_t i) {
    uint64_t got;
    if (vlen != VAL_LEN)
        return false;
    memcpy(&got, v, 8);
    return got == i;
}

/* ---- temp directories ---- */

static inline int bench_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline void rm_rf(const char *path) {
    if (nftw(path, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        fprintf(stderr, "bench: warning: could not remove %s: %s\n", path, strerror(errno));
}

/* ---- the machine ---- */

static inline double load_average(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1)
        l = -1;
    if (f)
        fclose(f);
    return l;
}

static inline void cpu_model(char *out, size_t cap) {
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, cap, "unknown CPU");
    while (f && fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && c) {
            c += 1 + strspn(c + 1, " \t");
            c[strcspn(c, "\n")] = 0;
            snprintf(out, cap, "%s", c);
            break;
        }
    }
    if (f)
        fclose(f);
}

/* File system type and source of the mount holding `path` (longest mount point prefix). */
static inline void fs_of(const char *path, char *out, size_t cap) {
    char line[4096], best[2048] = "", mnt[1024], type[64], src[512];
    size_t best_len = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    snprintf(out, cap, "unknown file system");
    while (f && fgets(line, sizeof line, f)) {
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
            sscanf(dash + 3, "%63s %511s", type, src) != 2)
            continue;
        size_t n = strlen(mnt);
        bool prefix = strncmp(path, mnt, n) == 0 && (n == 1 || path[n] == '/' || path[n] == 0);
        if (prefix && n >= best_len) {
            best_len = n;
            snprintf(best, sizeof best, "%s (%s, mounted on %s)", type, src, mnt);
        }
    }
    if (f)
        fclose(f);
    if (best_len)
        snprintf(out, cap, "%s", best);
}

#endif
