/*
 * limits.c: the machine limits of limits.h, with plain system calls.
 */
#define _GNU_SOURCE

#include "limits.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench_util.h"

#define MIB (1u << 20)

static void die_errno(const char *what, const char *path) {
    fprintf(stderr, "bench-peers: limits: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static int create(const char *dir, char *path, size_t cap) {
    snprintf(path, cap, "%s/limit.dat", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die_errno("open", path);
    return fd;
}

static void finish(int fd, const char *path) {
    close(fd);
    unlink(path);
}

static void pwrite_all(int fd, const void *buf, size_t len, off_t off, const char *path) {
    if (pwrite(fd, buf, len, off) != (ssize_t)len)
        die_errno("pwrite", path);
}

static void datasync(int fd, const char *path) {
    if (fdatasync(fd) != 0)
        die_errno("fdatasync", path);
}

/* Writes `bytes` of `fill` from offset 0 in 1 MiB writes; not synced. */
static void fill_file(int fd, uint64_t bytes, int fill, const char *path) {
    char *buf = malloc(MIB);
    if (!buf)
        bench_die("bench-peers", "out of memory");
    memset(buf, fill, MIB);
    for (uint64_t off = 0; off < bytes; off += MIB)
        pwrite_all(fd, buf, bytes - off < MIB ? (size_t)(bytes - off) : MIB, (off_t)off, path);
    free(buf);
}

enum durability { NO_SYNC, FDATASYNC, RWF_DSYNC_WRITE };

/* One record at `off`, with pwritev2(RWF_DSYNC): the write returns once its data is durable. */
static void pwrite_dsync(int fd, const void *buf, size_t len, off_t off, const char *path) {
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    if (pwritev2(fd, &iov, 1, off, RWF_DSYNC) != (ssize_t)len)
        die_errno("pwritev2(RWF_DSYNC)", path);
}

/* n records written one after the other from the file's start, made durable as `how` says. */
static double append_records(int fd, uint64_t n, enum durability how, const char *path) {
    uint8_t rec[LIMIT_RECORD];
    memset(rec, 'r', sizeof rec);
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        off_t off = (off_t)(i * LIMIT_RECORD);
        if (how == RWF_DSYNC_WRITE) {
            pwrite_dsync(fd, rec, sizeof rec, off, path);
            continue;
        }
        pwrite_all(fd, rec, sizeof rec, off, path);
        if (how == FDATASYNC)
            datasync(fd, path);
    }
    return (double)n / (now_s() - t0);
}

/* n records into a fresh file, or one whose blocks were written with zeros and synced first. */
static double write_records(const char *dir, uint64_t n, bool prewritten, enum durability how) {
    char path[4200];
    int fd = create(dir, path, sizeof path);
    if (prewritten) {
        fill_file(fd, (n * LIMIT_RECORD + MIB) / MIB * MIB, 0, path);
        datasync(fd, path);
    }
    double r = append_records(fd, n, how, path);
    finish(fd, path);
    return r;
}

double limit_append(const char *dir, uint64_t n, bool sync) {
    return write_records(dir, n, false, sync ? FDATASYNC : NO_SYNC);
}

double limit_prewritten_fdatasync(const char *dir, uint64_t n) { return write_records(dir, n, true, FDATASYNC); }

double limit_dsync_write(const char *dir, uint64_t n, bool prewritten) {
    return write_records(dir, n, prewritten, RWF_DSYNC_WRITE);
}

struct syncer {
    int fd, index, threads;
    uint64_t n;
    const char *path;
    pthread_barrier_t *bar;
};

/* Record i of this thread goes in slot i * threads + index, so the threads fill one region. */
static void *syncer_main(void *arg) {
    struct syncer *s = arg;
    uint8_t rec[LIMIT_RECORD];
    memset(rec, 'r', sizeof rec);
    pthread_barrier_wait(s->bar);
    for (uint64_t i = 0; i < s->n; i++) {
        pwrite_all(s->fd, rec, sizeof rec, (off_t)((i * (uint64_t)s->threads + (uint64_t)s->index) * LIMIT_RECORD),
                   s->path);
        datasync(s->fd, s->path);
    }
    return NULL;
}

double limit_parallel_fdatasync(const char *dir, uint64_t n, int threads) {
    char path[4200];
    int fd = create(dir, path, sizeof path);
    uint64_t each = n / (uint64_t)threads;
    fill_file(fd, (each * (uint64_t)threads * LIMIT_RECORD + MIB) / MIB * MIB, 0, path);
    datasync(fd, path);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    struct syncer s[LIMIT_SYNC_THREADS_MAX];
    pthread_t tid[LIMIT_SYNC_THREADS_MAX];
    for (int i = 0; i < threads; i++) {
        s[i] = (struct syncer){.fd = fd, .index = i, .threads = threads, .n = each, .path = path, .bar = &bar};
        if (pthread_create(&tid[i], NULL, syncer_main, &s[i]) != 0)
            bench_die("bench-peers", "pthread_create failed");
    }
    pthread_barrier_wait(&bar);
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    double r = (double)(each * (uint64_t)threads) / (now_s() - t0);
    pthread_barrier_destroy(&bar);
    finish(fd, path);
    return r;
}

struct mmap_reader {
    const uint8_t *map;
    uint64_t records, reads, seed, sum;
    pthread_barrier_t *bar;
    double start, end;
};

static void *mmap_reader_main(void *arg) {
    struct mmap_reader *r = arg;
    uint8_t buf[VAL_LEN];
    uint64_t rng = r->seed, sum = 0;
    pthread_barrier_wait(r->bar);
    r->start = now_s();
    for (uint64_t i = 0; i < r->reads; i++) {
        uint64_t rec = xorshift64(&rng) % r->records;
        memcpy(buf, r->map + rec * LIMIT_RECORD + 32, VAL_LEN); /* the value after header + key */
        sum += buf[rng % VAL_LEN];
    }
    r->end = now_s();
    r->sum = sum; /* keeps the copies from being optimised away */
    return NULL;
}

double limit_mmap_reads(const char *dir, uint64_t records, uint64_t reads, int threads) {
    char path[4200];
    uint64_t bytes = records * LIMIT_RECORD;
    int fd = create(dir, path, sizeof path);
    fill_file(fd, bytes, 'v', path);
    const uint8_t *map = mmap(NULL, bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED)
        die_errno("mmap", path);
    pthread_t tid[64];
    struct mmap_reader r[64];
    pthread_barrier_t bar;
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        r[t] = (struct mmap_reader){map, records, reads / (uint64_t)threads, 0x9e3779b97f4a7c15ULL + (uint64_t)t, 0, &bar, 0, 0};
        if (pthread_create(&tid[t], NULL, mmap_reader_main, &r[t]) != 0)
            bench_die("bench-peers", "pthread_create failed");
    }
    pthread_barrier_wait(&bar);
    double first = 1e300, last = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        first = r[t].start < first ? r[t].start : first;
        last = r[t].end > last ? r[t].end : last;
    }
    double dt = last - first;
    pthread_barrier_destroy(&bar);
    munmap((void *)map, bytes);
    finish(fd, path);
    return (double)(reads / (uint64_t)threads * (uint64_t)threads) / dt;
}

double limit_seq_write(const char *dir, uint64_t mb) {
    char path[4200];
    int fd = create(dir, path, sizeof path);
    double t0 = now_s();
    fill_file(fd, mb * MIB, 's', path);
    datasync(fd, path);
    double dt = now_s() - t0;
    finish(fd, path);
    return (double)(mb * MIB) / 1e6 / dt;
}
