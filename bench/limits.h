/*
 * limits.h: the machine's own limits, measured by bench/peers.c in the same run as the engines,
 * so that every engine's figure can be read as a fraction of what the hardware allows.
 * Each function works on one file in `dir`, removes it, and dies on any I/O error.
 */
#ifndef BITGASK_BENCH_LIMITS_H
#define BITGASK_BENCH_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

/* A bitgask record of a 16-byte key and a 100-byte value: 16-byte header + key + value. */
#define LIMIT_RECORD 132

/* n appends of one record, one pwrite each, each followed by fdatasync when `sync` (the file
 * grows: metadata to flush): records/s. */
double limit_append(const char *dir, uint64_t n, bool sync);

/* The same into a file whose blocks were written (zeros) and synced beforehand, so fdatasync
 * has only data to flush: records/s. */
double limit_prewritten_fdatasync(const char *dir, uint64_t n);

/* n records each written with one pwritev2(RWF_DSYNC) (the write and its data sync in one call,
 * as a lone durable writer could do instead of pwrite + fdatasync), appended to a fresh file, or
 * into pre-written blocks when `prewritten`: records/s. */
double limit_dsync_write(const char *dir, uint64_t n, bool prewritten);

/* n records into pre-written blocks of one file by `threads` threads at once (at most
 * LIMIT_SYNC_THREADS_MAX), each record followed by the writing thread's fdatasync: fdatasyncs/s in
 * all. Above limit_prewritten_fdatasync when the disk overlaps fdatasyncs. */
#define LIMIT_SYNC_THREADS_MAX 16
double limit_parallel_fdatasync(const char *dir, uint64_t n, int threads);

/* `reads` random 100-byte reads (memcpy) from a MAP_SHARED mapping of a file of `records`
 * records, its pages resident and mapped beforehand, split over `threads` threads: reads/s. */
double limit_mmap_reads(const char *dir, uint64_t records, uint64_t reads, int threads);

/* `mb` MiB written in 1 MiB writes, then one fdatasync: MB/s (10^6 bytes). */
double limit_seq_write(const char *dir, uint64_t mb);

#endif
