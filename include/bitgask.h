/*
 * bitgask: a Bitcask-style log-structured key-value store.
 *
 * API CONVENTIONS
 *
 *  1. Status codes. Every fallible call returns a bitgask_status: BITGASK_OK (0), a positive
 *     non-error outcome (BITGASK_NOT_FOUND, BITGASK_ITER_DONE, BITGASK_STOPPED), or a negative
 *     error code. Numbers are stable and never reused; each code's comment below says when it
 *     happens, and each function lists the codes it returns. BITGASK_E_PANIC (a library bug
 *     caught at the boundary) can come from any call taking err_out and is not repeated in the
 *     lists. bitgask_status_str() gives static text for any code.
 *
 *  2. Error detail. Fallible calls take a last argument bitgask_error **err_out, which may be
 *     NULL. On an error status, *err_out receives a new error object carrying the status and a
 *     message with the detail only (the file, offset, limit or process involved), not the
 *     status's own text, so print both:
 *         fprintf(stderr, "%s: %s
", bitgask_status_str(s), bitgask_error_message(err));
 *     Free it with bitgask_error_free(). On entry *err_out must be NULL or an error object
 *     from this library (never uninitialized, never already freed): an error already there is
 *     freed before the new one is written, so one variable can be reused in a loop without
 *     leaking. *err_out is not written on success or for the positive outcomes (an earlier
 *     error stays there). There is no thread-local "last error".
 *
 *  3. Ownership. Objects returned through an out-pointer or by a constructor (bitgask_db,
 *     bitgask_options, bitgask_iter, bitgask_report, bitgask_error, bitgask_batch, bitgask_txn,
 *     buffers from bitgask_get, bitgask_multi_get and bitgask_txn_get) belong to the caller,
 *     who releases each with its own function (bitgask_close, bitgask_options_free,
 *     bitgask_iter_free, bitgask_report_free, bitgask_error_free, bitgask_batch_free,
 *     bitgask_txn_commit or
 *     bitgask_txn_discard, bitgask_free). Every release function accepts NULL (except that
 *     bitgask_txn_commit of NULL returns BITGASK_E_NULL_ARG). Pointers the library returns inside an object (an error message,
 *     an iterator's key and value, a report's strings) are borrowed and valid only as long as
 *     that object, or until the next call on it.
 *
 *  4. Outputs are written only on success. The one exception: BITGASK_E_BUFFER_TOO_SMALL from
 *     bitgask_get_into() stores the length needed.
 *
 *  5. Arguments. Keys and values are (const uint8_t *ptr, size_t len) pairs; ptr may be NULL
 *     only when len is 0. A key must be 1 byte or longer. Paths are NUL-terminated UTF-8. Every
 *     pointer is checked: a NULL where a pointer is required gives BITGASK_E_NULL_ARG. Enum-like
 *     integers are validated: out of range gives BITGASK_E_INVALID_ARG, never undefined behavior.
 *     Lengths above the configured limits give BITGASK_E_TOO_LARGE before anything is written.
 *     Calls that change the database take bitgask_db *; calls that only read it take
 *     const bitgask_db *.
 *
 *  6. Threads. A bitgask_db * may be used by any number of threads at once; only
 *     bitgask_close() must not race other calls on the same handle. Iterators, options, reports,
 *     error objects, batches and transactions are single-owner: one thread at a time. Many
 *     transactions may be open at once on one handle, from many threads; an open transaction
 *     holds no lock.
 *
 *  7. Processes. One process per database directory: a LOCK file (flock) makes a second open,
 *     from another process or the same one, fail with BITGASK_E_LOCKED. See fork() below.
 *
 *  8. Panics. No Rust panic crosses this interface: a panic inside a call returns
 *     BITGASK_E_PANIC, and the handle it happened on is poisoned (later writes return
 *     BITGASK_E_POISONED until the database is reopened). An fsync failure poisons the same way.
 *
 *  9. Language. This header is C89-clean (block comments, no C99 syntax) but includes
 *     <stdbool.h>, <stddef.h> and <stdint.h>: it needs C99, or a C89/C90 compiler that ships
 *     those headers (gcc and clang do), or C++98 or later. make header-check compiles it with
 *     -std=c89, -std=c99 and -std=c++98 under -Wall -Wextra -Wpedantic -Werror.
 *
 * CAVEATS
 *
 *  - The whole key set lives in memory (about 45 bytes per key beyond the key bytes).
 *  - Local file systems only; data files must not be modified by anything but this library.
 *  - Sealed data files are read through mmap. If one is truncated or replaced behind the
 *    library's back (another program, a restore over a live database), the next read of the
 *    missing bytes raises SIGBUS in the reading process instead of returning an error; bytes
 *    changed in place are caught by the record CRC (BITGASK_E_CORRUPT).
 *  - fork(): a child must not use a handle or iterator inherited from its parent, not even to
 *    close it (bitgask_close in the child would release the parent's LOCK, whose flock belongs
 *    to the open file description both share); it opens the database itself once the parent
 *    has closed it (until then its bitgask_open returns BITGASK_E_LOCKED). The parent's
 *    bitgask_close releases the LOCK even while the child lives. The LOCK descriptor is
 *    close-on-exec; but if the parent exits without closing, a forked child that has not
 *    exec'd keeps the LOCK held until it exits. The library's background threads do not
 *    exist in the child.
 *  - bitgask_fold callbacks may call any function on the same handle, reads and writes (put,
 *    delete, expire, another fold, even merge), except bitgask_close. The fold sees such writes
 *    as an iterator does: its key set was fixed when it started, a key deleted before its turn
 *    is skipped, and an overwritten key is visited with its new value. A callback must return
 *    normally: no longjmp and no C++ exception out of it (library frames are below it).
 *  - After bitgask_close the handle is freed: passing it to any call is undefined behavior.
 *    Iterators made from it remain objects of their own: bitgask_iter_next returns
 *    BITGASK_E_CLOSED and each must still be freed with bitgask_iter_free. Reports, options,
 *    error objects and buffers from bitgask_get do not depend on a handle and stay valid until
 *    freed.
 *  - Creating an iterator walks every key (O(number of keys)); visiting is then O(1) per key.
 *  - Durability: with sync_on_put/sync_on_delete (the default) an acknowledged write survives a
 *    process crash and power loss. With per-write sync off, writes survive a process crash
 *    (kill -9) once the call returned, and power loss only after bitgask_sync() or the next tick
 *    of sync_interval_ms.
 */


#ifndef BITGASK_H
#define BITGASK_H

/* Generated by cbindgen from src/ffi/ (make header: tools/gen-header). Do not edit: change the Rust doc comments. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BITGASK_VERSION_MAJOR 0
#define BITGASK_VERSION_MINOR 1
#define BITGASK_VERSION_PATCH 0
#define BITGASK_VERSION_STRING "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH, as returned by bitgask_version_number(). */
#define BITGASK_VERSION_NUMBER 1000


/**
 * Values are stored as they are.
 */
#define BITGASK_CODEC_NONE 0

/**
 * Values at or above the compression threshold are stored snappy-compressed (raw block format)
 * when that makes them smaller.
 */
#define BITGASK_CODEC_SNAPPY 1

/**
 * Largest key any database accepts (32 MiB): the ceiling of max_key_size.
 */
#define BITGASK_KEY_SIZE_LIMIT 33554432

/**
 * Largest value any database accepts (32 MiB): the ceiling of max_value_size.
 */
#define BITGASK_VALUE_SIZE_LIMIT 33554432

/**
 * Smallest max_file_size and merge_max_file_size.
 */
#define BITGASK_FILE_SIZE_MIN 256

/**
 * Largest max_file_size and merge_max_file_size: 4 GiB - 1 less room for one record of the
 * largest size (a file may overrun its limit by one record; offsets are 32-bit).
 */
#define BITGASK_FILE_SIZE_MAX 4227858399

/**
 * A write batch. Opaque; single-owner.
 */
typedef struct bitgask_batch bitgask_batch;

/**
 * An open database. Opaque; safe to share between threads.
 */
typedef struct bitgask_db bitgask_db;

/**
 * Detail of a failed call: its status and a message with the detail (the file, offset, limit or
 * process involved; not the status's own text, which `bitgask_status_str` gives).
 * Created by the library into a caller's `bitgask_error **err_out`; owned by the caller, who
 * frees it with `bitgask_error_free`. Single-owner: do not share between threads without a lock.
 */
typedef struct bitgask_error bitgask_error;

/**
 * A cursor. Opaque.
 */
typedef struct bitgask_iter bitgask_iter;

/**
 * Options for `bitgask_open`. Opaque.
 */
typedef struct bitgask_options bitgask_options;

/**
 * A validate or repair report. Opaque.
 */
typedef struct bitgask_report bitgask_report;

/**
 * A transaction. Opaque; single-owner.
 */
typedef struct bitgask_txn bitgask_txn;

/**
 * Result of every fallible call: `BITGASK_OK` (0), a positive non-error outcome
 * (`BITGASK_NOT_FOUND`, `BITGASK_ITER_DONE`, `BITGASK_STOPPED`) or a negative error code.
 * Numbers are stable and never reused; `bitgask_status_str` gives each one's text.
 */
typedef int32_t bitgask_status;

/**
 * Metadata of a key's current record, filled by `bitgask_meta`.
 */
typedef struct bitgask_record_meta {
  /**
   * The record's sequence stamp (wall-clock nanoseconds, strictly increasing per database).
   */
  uint64_t ts_unix_nano;
  /**
   * Absolute expiry in Unix nanoseconds; 0 when the key never expires.
   */
  uint64_t expires_unix_nano;
  uint32_t file_id;
  /**
   * Offset of the record's first byte in its data file.
   */
  uint64_t offset;
  /**
   * Bytes of the record on disk.
   */
  uint64_t size;
} bitgask_record_meta;

/**
 * Size and garbage figures, filled by `bitgask_stats_get`.
 */
typedef struct bitgask_stats {
  /**
   * Keys in the keydir (expired keys not yet read or collected still count).
   */
  uint64_t keys;
  uint64_t data_files;
  /**
   * Bytes of records in all data files (not the room the active file holds preallocated for
   * appends while the handle is open).
   */
  uint64_t total_bytes;
  /**
   * Bytes of overwritten or deleted records and tombstones (what a merge would reclaim).
   */
  uint64_t dead_bytes;
  /**
   * When this handle last completed a merge (Unix nanoseconds; 0 when it has not).
   */
  uint64_t last_merge_unix_nano;
  /**
   * Merges completed by this handle.
   */
  uint64_t merges;
} bitgask_stats;

/**
 * Callback of `bitgask_fold`: return 0 to continue, nonzero to stop (the fold then returns
 * `BITGASK_STOPPED`). The key and value pointers are valid only during the call. It may read
 * and write through the same handle, but not close it (see CAVEATS).
 */
typedef int (*bitgask_fold_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);

/**
 * What `bitgask_adopt` read, kept and dropped (the report's counters give the Go data files
 * read, their valid records and the keys written).
 */
typedef struct bitgask_adopt_counts {
  /**
   * The directory was already bitgask's: nothing was converted.
   */
  bool already_bitgask;
  /**
   * An adoption interrupted by a crash was finished (or undone) first.
   */
  bool finished_interrupted;
  /**
   * The width of the Go data file names (`%0*d.data`).
   */
  uint32_t file_id_width;
  /**
   * Keys whose last record is a tombstone (dropped).
   */
  uint64_t deleted_keys;
  /**
   * Keys whose last record had expired (dropped).
   */
  uint64_t expired_keys;
  /**
   * Records a later record of the same key replaced.
   */
  uint64_t superseded_records;
  /**
   * Keys whose last record is not their highest-stamped one: bitgask's own recency rule would
   * have returned another value for them.
   */
  uint64_t out_of_stamp_order_keys;
  /**
   * Bytes of an unfinished last write dropped from the newest Go file.
   */
  uint64_t torn_bytes;
  /**
   * Damaged bytes skipped (salvage only).
   */
  uint64_t skipped_bytes;
  /**
   * Keys over the size limits, skipped (salvage only).
   */
  uint64_t oversized_keys;
} bitgask_adopt_counts;

/**
 * One problem of a report; the strings are owned by the report.
 */
typedef struct bitgask_problem {
  /**
   * Stable lowercase name: "torn_tail", "unsynced_tail", "corrupt_record", "corrupt_hint",
   * "stale_hint", "hint_mismatch", "merge_leftover", "bad_meta", "unknown_file", "quarantine",
   * "leftover", "lost_range", "lost_key", "foreign" (written by the Go bitgask: convert it
   * with `bitgask_adopt`).
   */
  const char *kind;
  /**
   * Path relative to the database directory, e.g. "data/000000003.data".
   */
  const char *file;
  const char *message;
  uint64_t offset;
  uint64_t length;
  /**
   * A note (unknown file, quarantine file, leftover): describes, does not make it unclean.
   */
  bool note;
  /**
   * Repair dealt with it; the message says how.
   */
  bool mended;
} bitgask_problem;

/**
 * The counters of a report.
 */
typedef struct bitgask_report_counts {
  uint64_t files;
  uint64_t records;
  uint64_t live_keys;
  uint64_t bytes_truncated;
  uint64_t bytes_quarantined;
} bitgask_report_counts;

/**
 * The reserve file and whether the disk is full, filled by `bitgask_space_get`.
 */
typedef struct bitgask_space {
  /**
   * The configured reserve size (`bitgask_options_set_reserve_bytes`).
   */
  uint64_t reserve_size;
  /**
   * Bytes the reserve file holds now: `reserve_size`, or 0 once it was given back to let
   * deletes and merges run on a full disk.
   */
  uint64_t reserve_bytes;
  /**
   * Bytes available on the database's file system (0 when unknown).
   */
  uint64_t free_bytes;
  /**
   * Writes that failed or were refused with `BITGASK_E_NO_SPACE` since the handle opened.
   */
  uint64_t no_space_errors;
  /**
   * 1 while the handle is full (a write failed for lack of space and room has not come
   * back): puts are refused with `BITGASK_E_NO_SPACE`, deletes and merges run. Else 0.
   */
  uint32_t full;
  /**
   * 1 while space is low: full, or less free than twice the reserve. Merges then run file by
   * file (`bitgask_compact_if_needed` always, `bitgask_merge` when the live data would not
   * fit). Else 0.
   */
  uint32_t low;
} bitgask_space;

/**
 * The call did what it says.
 */
#define BITGASK_OK 0

/**
 * The key is absent, deleted or expired (`bitgask_get`, `bitgask_get_into`, `bitgask_delete`,
 * `bitgask_expire`, `bitgask_persist`, `bitgask_ttl_ms`, `bitgask_meta`). Not an error:
 * `*err_out` is not written and nothing was changed.
 */
#define BITGASK_NOT_FOUND 1

/**
 * `bitgask_iter_next` has visited every key; later calls keep returning it. Not an error.
 */
#define BITGASK_ITER_DONE 2

/**
 * `bitgask_fold` ended early because its callback returned nonzero (a fold that ran out of
 * keys returns `BITGASK_OK`). Not an error.
 */
#define BITGASK_STOPPED 3

/**
 * An argument has a value the call does not accept: an empty key; a path that is not UTF-8; an
 * option outside its documented range (the setter leaves the option unchanged) or options that
 * contradict each other at open; `ttl_ms` 0 for `bitgask_put_ttl` or `bitgask_expire`; a backup
 * destination that is not empty or lies inside the database; a problem index past the end.
 * Nothing was changed.
 */
#define BITGASK_E_INVALID_ARG (-1)

/**
 * A pointer the call needs is NULL (the message names the argument). Nothing was changed.
 */
#define BITGASK_E_NULL_ARG (-2)

/**
 * `bitgask_get_into`: the value is longer than `cap`. `*vlen_out` holds the length needed and
 * `buf` is untouched.
 */
#define BITGASK_E_BUFFER_TOO_SMALL (-3)

/**
 * The operating system refused an operation (open, read, write, fsync, mkdir, rename, ...); the
 * message names the operation, the path and the OS error. A write whose fsync failed is not
 * durable, and the handle is then poisoned (`BITGASK_E_POISONED`).
 */
#define BITGASK_E_IO (-4)

/**
 * Bytes on disk are not what the library wrote: a sealed data file whose record fails its CRC
 * or has impossible lengths (found at open or by a read), a damaged meta file, a value that does
 * not decode. The message names the file and offset; `bitgask_repair` mends what it can. (A
 * torn tail left by a crash in the file being written is not corruption: open cuts it; nor are
 * unsynced writes a power loss persisted out of order: open sets them aside.)
 */
#define BITGASK_E_CORRUPT (-5)

/**
 * Another handle has the database open: another process (the message gives its pid, from the
 * LOCK file) or another `bitgask_open` of this process; with a lock timeout, after waiting that
 * long. Also `bitgask_repair` of an open database.
 */
#define BITGASK_E_LOCKED (-6)

/**
 * A call on an iterator whose database has been closed.
 */
#define BITGASK_E_CLOSED (-7)

/**
 * A key longer than max_key_size, a value longer than max_value_size, or a length above
 * `BITGASK_KEY_SIZE_LIMIT` / `BITGASK_VALUE_SIZE_LIMIT`. Nothing was written.
 */
#define BITGASK_E_TOO_LARGE (-8)

/**
 * The directory was written by a newer on-disk format than this library reads (its
 * `bitgask.meta` names a higher version). Nothing was changed.
 */
#define BITGASK_E_FORMAT_VERSION (-9)

/**
 * A bug in the library was caught at the boundary (the message has the panic text); the handle
 * it happened on is poisoned. Any call taking `err_out` can return it; the per-function lists
 * leave it out.
 */
#define BITGASK_E_PANIC (-10)

/**
 * Writes are refused on this handle: an earlier fsync failure (or a panic) means it can no
 * longer promise durability. Reads still work; `bitgask_reopen` (or close and open) clears it
 * and serves what is on disk.
 */
#define BITGASK_E_POISONED (-11)

/**
 * `bitgask_txn_commit`: a key the transaction read (by get, exists, or as a key its iterator
 * returned, including reads that found nothing) was written by someone else after the
 * transaction read it. Nothing of the transaction was written; run it again.
 */
#define BITGASK_E_CONFLICT (-12)

/**
 * The file system is full (`ENOSPC`, or `EDQUOT` for a quota). A write: nothing was written
 * and nothing acknowledged was lost; the handle stays usable and reads go on. While the disk is
 * full, puts are refused with this status at once and deletes still run (on the space the
 * reserve file gave back) until less than a floor of it is left, then they are refused too;
 * delete keys, then `bitgask_merge` or `bitgask_compact_if_needed` reclaim their space file by
 * file (or from a file's tail), and writes resume once there is room again (section 5.14 of
 * the design). A merge: its partial output was removed. `bitgask_space_get` says more.
 */
#define BITGASK_E_NO_SPACE (-13)

#ifdef __cplusplus
extern "C" {
#endif /* __cplusplus */

/**
 * A new, empty batch, owned by the caller and freed with `bitgask_batch_free`. Never NULL.
 * Threads: any thread; the batch is then single-owner.
 */
struct bitgask_batch *bitgask_batch_new(void);

/**
 * Adds a put of `val[0..vlen)` under `key[0..klen)` (with the default TTL of the handle it is
 * written to, if set). The bytes are copied. Sizes are checked against the library's limits
 * now and against the handle's limits by `bitgask_write`. On error the batch is unchanged.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (b, key, val with vlen > 0);
 * `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (klen above
 * `BITGASK_KEY_SIZE_LIMIT`, vlen above `BITGASK_VALUE_SIZE_LIMIT`).
 * Threads: one thread at a time per batch.
 */
bitgask_status bitgask_batch_put(struct bitgask_batch *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, struct bitgask_error **err_out);

/**
 * Like `bitgask_batch_put`, the key expiring `ttl_ms` (> 0) milliseconds after the batch is
 * written.
 * Returns: as `bitgask_batch_put`, and `BITGASK_E_INVALID_ARG` for `ttl_ms` 0.
 * Threads: one thread at a time per batch.
 */
bitgask_status bitgask_batch_put_ttl(struct bitgask_batch *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, uint64_t ttl_ms, struct bitgask_error **err_out);

/**
 * Adds a delete of `key[0..klen)`. Deleting a key that is absent when the batch is written
 * changes nothing (and is not an error).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (b, key); `BITGASK_E_INVALID_ARG` (empty key);
 * `BITGASK_E_TOO_LARGE` (klen above `BITGASK_KEY_SIZE_LIMIT`).
 * Threads: one thread at a time per batch.
 */
bitgask_status bitgask_batch_delete(struct bitgask_batch *b, const uint8_t *key, size_t klen, struct bitgask_error **err_out);

/**
 * The number of operations added since the batch was made or cleared (0 for NULL).
 * Threads: one thread at a time per batch.
 */
size_t bitgask_batch_count(const struct bitgask_batch *b);

/**
 * Removes every operation, so the batch can be reused. NULL is a no-op.
 * Threads: one thread at a time per batch.
 */
void bitgask_batch_clear(struct bitgask_batch *b);

/**
 * Frees a batch. NULL is a no-op.
 * Threads: one thread at a time per batch.
 */
void bitgask_batch_free(struct bitgask_batch *b);

/**
 * Writes every operation of `b` to `db`, all or nothing: after a crash (even a power loss,
 * when the batch took an fsync) either every operation is there or none, and readers never
 * see some of them without the others. A key that appears twice ends with its last
 * operation. The batch takes one fsync (shared with concurrent writers) when sync_on_put (for
 * its puts) or sync_on_delete (for its deletes) is on, and returns once it is durable and
 * visible. `b` is left unchanged: it can be written again or cleared. An empty batch writes
 * nothing.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, b); `BITGASK_E_TOO_LARGE` (a key or value
 * above the handle's limits, or the whole batch larger than max_file_size: nothing written);
 * `BITGASK_E_IO` (the write or its fsync failed: nothing of it is served);
 * `BITGASK_E_POISONED`; `BITGASK_E_CORRUPT` (sequence stamps exhausted).
 * Threads: safe to call concurrently on one handle; `b` must not be changed meanwhile.
 */
bitgask_status bitgask_write(struct bitgask_db *db, const struct bitgask_batch *b, struct bitgask_error **err_out);

/**
 * Opens (creating if missing) the database in directory `path` (NUL-terminated UTF-8).
 * `opts` may be NULL for defaults; it is copied and can be freed right after. On success
 * `*db_out` receives a handle owned by the caller, to be released with `bitgask_close`.
 * A torn tail left by a crash is cut; unsynced writes a power loss left out of order (damage
 * after the durable watermark with records after it) are moved to `data/<id>.corrupt`, never
 * deleted (docs/DESIGN.md section 4.5); hint files are used where valid.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (path, db_out); `BITGASK_E_INVALID_ARG` (path not
 * UTF-8, options that contradict each other); `BITGASK_E_LOCKED` (another handle, in this or
 * another process, has it open); `BITGASK_E_CORRUPT` (a damaged sealed file or meta file, or
 * damage below the newest file's durable watermark);
 * `BITGASK_E_FORMAT_VERSION` (a newer format); `BITGASK_E_IO` (the directory cannot be created
 * or read).
 * Threads: any thread; the new handle may then be shared.
 */
bitgask_status bitgask_open(const char *path, const struct bitgask_options *opts, struct bitgask_db **db_out, struct bitgask_error **err_out);

/**
 * Syncs outstanding writes, writes the active file's hint, releases the LOCK and frees the
 * handle (always, even when an error is returned). NULL is a no-op returning `BITGASK_OK`.
 * Iterators still open on the handle return `BITGASK_E_CLOSED` afterwards (see CAVEATS).
 * Returns: `BITGASK_OK`; `BITGASK_E_IO` (the final sync failed: writes since the last
 * successful sync may not be durable); `BITGASK_E_POISONED` (the handle was poisoned: it is
 * closed and freed all the same, without the final sync and hint, and writes since the last
 * successful sync may not be durable).
 * Threads: must not race any other call on the same handle.
 */
bitgask_status bitgask_close(struct bitgask_db *db, struct bitgask_error **err_out);

/**
 * Stores `val[0..vlen)` under `key[0..klen)` (with the default TTL, if set). Returns after the
 * write is durable when sync_on_put is on. `val` may be NULL when `vlen` is 0.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, key, val); `BITGASK_E_INVALID_ARG` (empty
 * key); `BITGASK_E_TOO_LARGE` (key or value above its limit); `BITGASK_E_NO_SPACE` (the disk
 * is full: nothing written, the handle stays usable); `BITGASK_E_IO` (the write or its fsync
 * failed); `BITGASK_E_POISONED`.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_put(struct bitgask_db *db, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, struct bitgask_error **err_out);

/**
 * Like `bitgask_put`, expiring `ttl_ms` milliseconds from now (`ttl_ms` must be > 0, as for
 * `bitgask_expire`; a TTL so large that the expiry would pass the year 2554 saturates at the
 * largest expiry).
 * Returns: as `bitgask_put`, and `BITGASK_E_INVALID_ARG` for `ttl_ms` 0.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_put_ttl(struct bitgask_db *db, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, uint64_t ttl_ms, struct bitgask_error **err_out);

/**
 * Reads a value into a new buffer: `*val_out` (free with `bitgask_free`; never NULL on success,
 * even for an empty value) and `*vlen_out`.
 * Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent or expired); `BITGASK_E_NULL_ARG` (db, key,
 * val_out, vlen_out); `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (key above
 * max_key_size); `BITGASK_E_CORRUPT` (the record fails its CRC or does not decode);
 * `BITGASK_E_IO` (the read or the buffer's allocation failed).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_get(const struct bitgask_db *db, const uint8_t *key, size_t klen, uint8_t **val_out, size_t *vlen_out, struct bitgask_error **err_out);

/**
 * Reads a value into the caller's buffer `buf[0..cap)`; `*vlen_out` gets its length. When the
 * value does not fit, returns `BITGASK_E_BUFFER_TOO_SMALL`, sets `*vlen_out` to the length
 * needed and leaves `buf` untouched (`buf` may be NULL with `cap` 0 to ask for the length).
 * Returns: as `bitgask_get` (`buf` NULL with `cap` > 0 is `BITGASK_E_NULL_ARG`), and
 * `BITGASK_E_BUFFER_TOO_SMALL`.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_get_into(const struct bitgask_db *db, const uint8_t *key, size_t klen, uint8_t *buf, size_t cap, size_t *vlen_out, struct bitgask_error **err_out);

/**
 * Deletes a key (a tombstone is appended). Returns after the tombstone is durable when
 * sync_on_delete is on.
 * Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (it was absent or expired: nothing written);
 * `BITGASK_E_NULL_ARG` (db, key); `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE`
 * (key above max_key_size); `BITGASK_E_NO_SPACE` (not even the reserve had room for the
 * tombstone); `BITGASK_E_IO`; `BITGASK_E_POISONED`.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_delete(struct bitgask_db *db, const uint8_t *key, size_t klen, struct bitgask_error **err_out);

/**
 * `*out` = whether the key is present and not expired.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, key, out); `BITGASK_E_INVALID_ARG` (empty
 * key); `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT`, `BITGASK_E_IO`
 * (reading the record's header).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_exists(const struct bitgask_db *db, const uint8_t *key, size_t klen, bool *out, struct bitgask_error **err_out);

/**
 * Atomically sets the key to expire `ttl_ms` from now, keeping its value (the value is
 * rewritten with the new expiry). `ttl_ms` must be > 0, as for `bitgask_put_ttl`: a zero TTL is
 * refused everywhere (use `bitgask_delete` to remove a key, `bitgask_persist` to drop its expiry).
 * Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent or expired); `BITGASK_E_NULL_ARG` (db,
 * key); `BITGASK_E_INVALID_ARG` (empty key; `ttl_ms` 0, and nothing is changed);
 * `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT` (the current value does
 * not decode); `BITGASK_E_IO`; `BITGASK_E_POISONED`.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_expire(struct bitgask_db *db, const uint8_t *key, size_t klen, uint64_t ttl_ms, struct bitgask_error **err_out);

/**
 * Atomically removes the key's expiry (a key without one is left as it is).
 * Returns: as `bitgask_expire` (but for its `ttl_ms` 0).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_persist(struct bitgask_db *db, const uint8_t *key, size_t klen, struct bitgask_error **err_out);

/**
 * `*remaining_ms` = milliseconds until the key expires (rounded up), or -1 when it has no
 * expiry.
 * Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent or expired); `BITGASK_E_NULL_ARG` (db, key,
 * remaining_ms); `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (key above
 * max_key_size); `BITGASK_E_CORRUPT`, `BITGASK_E_IO` (reading the record's header).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_ttl_ms(const struct bitgask_db *db, const uint8_t *key, size_t klen, int64_t *remaining_ms, struct bitgask_error **err_out);

/**
 * Fills `*out` with the stamp, expiry and location of the key's record.
 * Returns: as `bitgask_ttl_ms` (out instead of remaining_ms).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_meta(const struct bitgask_db *db, const uint8_t *key, size_t klen, struct bitgask_record_meta *out, struct bitgask_error **err_out);

/**
 * Makes every write so far durable (fdatasync). Needed only with per-write sync off.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_IO` (the fsync failed: the
 * handle is now poisoned); `BITGASK_E_POISONED`.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_sync(struct bitgask_db *db, struct bitgask_error **err_out);

/**
 * Fills `*out` with key count, data file count, total and dead bytes, and merge figures.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, out).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_stats_get(const struct bitgask_db *db, struct bitgask_stats *out, struct bitgask_error **err_out);

/**
 * Static text for a status (never NULL; unknown numbers give "unknown status").
 * Thread-safe; the string is owned by the library and lives forever.
 */
const char *bitgask_status_str(bitgask_status s);

/**
 * The error's message, the detail only (print `bitgask_status_str` of its status beside it),
 * owned by the error (valid until `bitgask_error_free`); "" for NULL. Never NULL.
 * Threads: one thread at a time per error object.
 */
const char *bitgask_error_message(const struct bitgask_error *err);

/**
 * The status of the call that made the error.
 * Returns: that status (always negative); `BITGASK_E_NULL_ARG` for a NULL `err`.
 * Threads: one thread at a time per error object.
 */
bitgask_status bitgask_error_status(const struct bitgask_error *err);

/**
 * Frees an error object. NULL is a no-op.
 * Threads: one thread at a time per error object.
 */
void bitgask_error_free(struct bitgask_error *err);

/**
 * Frees a buffer returned by the library (`bitgask_get`). NULL is a no-op.
 * Threads: any (the buffer is the caller's).
 */
void bitgask_free(void *p);

/**
 * The library's version as "MAJOR.MINOR.PATCH" (static, never NULL). Compare with the
 * `BITGASK_VERSION_STRING` macro to detect a header/library mismatch.
 * Threads: any.
 */
const char *bitgask_version(void);

/**
 * The library's version as MAJOR * 1000000 + MINOR * 1000 + PATCH, like `BITGASK_VERSION_NUMBER`.
 * Threads: any.
 */
uint32_t bitgask_version_number(void);

/**
 * A cursor over keys starting with `prefix[0..plen)` (NULL/0 for all keys). On success
 * `*it_out` receives an iterator owned by the caller.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, it_out, prefix with plen > 0);
 * `BITGASK_E_TOO_LARGE` (plen above `BITGASK_KEY_SIZE_LIMIT`).
 * Threads: safe on a shared handle; the iterator is single-owner.
 */
bitgask_status bitgask_iter_new(const struct bitgask_db *db, const uint8_t *prefix, size_t plen, struct bitgask_iter **it_out, struct bitgask_error **err_out);

/**
 * A cursor over keys in `[start, end)`; `end` NULL means no upper bound (`start` may be NULL
 * with `slen` 0 for "from the first key").
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, it_out, start with slen > 0);
 * `BITGASK_E_TOO_LARGE` (slen or elen above `BITGASK_KEY_SIZE_LIMIT`).
 * Threads: safe on a shared handle; the iterator is single-owner.
 */
bitgask_status bitgask_iter_range(const struct bitgask_db *db, const uint8_t *start, size_t slen, const uint8_t *end, size_t elen, struct bitgask_iter **it_out, struct bitgask_error **err_out);

/**
 * Advances to the next key: `BITGASK_OK` with `*key`/`*klen` (and `*val`/`*vlen` unless `val`
 * is NULL, which skips reading the value) or `BITGASK_ITER_DONE`. The pointers are borrowed
 * from the iterator and valid until the next call on it or `bitgask_iter_free`.
 * Returns: `BITGASK_OK`; `BITGASK_ITER_DONE`; `BITGASK_E_NULL_ARG` (it, key, klen; vlen when val
 * is set); `BITGASK_E_CLOSED` (its database was closed); `BITGASK_E_CORRUPT`, `BITGASK_E_IO`
 * (reading a value).
 * Threads: one thread at a time per iterator.
 */
bitgask_status bitgask_iter_next(struct bitgask_iter *it, const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen, struct bitgask_error **err_out);

/**
 * Frees an iterator. NULL is a no-op.
 * Threads: one thread at a time per iterator.
 */
void bitgask_iter_free(struct bitgask_iter *it);

/**
 * Calls `fn(ctx, key, klen, val, vlen)` for every key starting with `prefix` (NULL/0: all),
 * in byte order, until it returns nonzero. The keys are fixed when the fold starts, as for an
 * iterator. The callback may read and write through the same handle but must not close it
 * (see CAVEATS).
 * Returns: `BITGASK_OK` (every key visited); `BITGASK_STOPPED` (the callback returned nonzero);
 * `BITGASK_E_NULL_ARG` (db, fn, prefix with plen > 0); `BITGASK_E_TOO_LARGE` (plen above
 * `BITGASK_KEY_SIZE_LIMIT`); `BITGASK_E_CORRUPT`, `BITGASK_E_IO` (reading a value).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_fold(const struct bitgask_db *db, const uint8_t *prefix, size_t plen, bitgask_fold_fn f, void *ctx, struct bitgask_error **err_out);

/**
 * A full merge: rewrites the live records of every sealed file and drops dead versions,
 * tombstones and expired records. Without `force` it runs only when the trigger holds
 * (dead/total >= merge_trigger_ratio and total >= merge_min_total). `*merged_out` (may be
 * NULL) tells whether a merge ran. On a full disk (`BITGASK_E_NO_SPACE` from a write), or when
 * the live data would not fit in the free space, it merges file by file instead, each input
 * removed right after its swap, so space can be reclaimed without adding disk.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_NO_SPACE` (no file could be
 * merged in the room left; what was merged stays merged); `BITGASK_E_IO` (the merge is abandoned
 * and the database keeps its current files); `BITGASK_E_CORRUPT` (a sealed file turned out
 * damaged); `BITGASK_E_POISONED`.
 * Threads: safe to call concurrently on one handle (merges are serialized).
 */
bitgask_status bitgask_merge(struct bitgask_db *db, bool force, bool *merged_out, struct bitgask_error **err_out);

/**
 * One pass of the background policy: a full merge when its trigger holds, else a selective
 * merge of the sealed files with the most garbage when enough of them qualify
 * (garbage_ratio, min/max_merge_files, min_merge_total, max_merge_bytes). `*merged_out` (may
 * be NULL) tells whether a merge ran. While space is low (`bitgask_space_get`) it merges file
 * by file, as `bitgask_merge` does on a full disk.
 * Returns: as `bitgask_merge`.
 * Threads: safe to call concurrently on one handle (merges are serialized).
 */
bitgask_status bitgask_compact_if_needed(struct bitgask_db *db, bool *merged_out, struct bitgask_error **err_out);

/**
 * Dead bytes, total bytes of the data files, and their ratio (0 for an empty database): what
 * a full merge would free. All three outputs are required.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, dead_bytes, total_bytes, ratio).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_reclaimable(const struct bitgask_db *db, uint64_t *dead_bytes, uint64_t *total_bytes, double *ratio, struct bitgask_error **err_out);

/**
 * Drops every expired key from the keydir so its bytes count as dead (a merge then frees
 * them); `*removed_out` (may be NULL) receives how many keys were dropped.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_CORRUPT`, `BITGASK_E_IO` (reading
 * a record's expiry).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_run_gc(struct bitgask_db *db, uint64_t *removed_out, struct bitgask_error **err_out);

/**
 * Deletes every key. Crash-safe: after a crash the database is either untouched or empty.
 * Writers wait while it runs; files in `data/` that are not bitgask's are kept.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_IO`; `BITGASK_E_POISONED`.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_delete_all(struct bitgask_db *db, struct bitgask_error **err_out);

/**
 * Rebuilds the in-memory index from the files on disk, as a fresh open would, keeping the
 * LOCK. Waits for in-flight writes and merges. Also clears a poisoned handle: writes that were
 * never made durable are not served afterwards.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db); `BITGASK_E_CORRUPT`,
 * `BITGASK_E_FORMAT_VERSION`, `BITGASK_E_IO` (as for `bitgask_open`).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_reopen(struct bitgask_db *db, struct bitgask_error **err_out);

/**
 * A point-in-time copy of the open database into directory `dst` (NUL-terminated UTF-8), taken
 * while writers keep writing: every write acknowledged before the call is in it. `dst` must not
 * exist or be an empty directory, and must not be the database directory or inside it
 * (`BITGASK_E_INVALID_ARG`); its parent must exist. The copy is built in a staging directory
 * beside `dst` (removed on failure) and renamed into place once everything is fsynced; it has
 * no LOCK and opens with `bitgask_open`. Merges wait for the backup.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, dst); `BITGASK_E_INVALID_ARG` (dst not UTF-8,
 * not empty, the database or inside it); `BITGASK_E_IO` (creating, copying or fsyncing the
 * copy; also when the staging name `.<name>.backup-<pid>` beside dst is taken).
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_backup(const struct bitgask_db *db, const char *dst, struct bitgask_error **err_out);

/**
 * Reads the values of `n` keys in one call: key `i` is `keys[i][0..klens[i])`. The keys'
 * lookups and record reads overlap (their memory loads are prefetched together), so a batch
 * reads many keys faster than as many `bitgask_get` calls; each key's answer is the one
 * `bitgask_get` would give, its record CRC-checked the same way. Keys may repeat.
 * For each key: `statuses_out[i]` = `BITGASK_OK`, and then `vals_out[i]` is a new buffer as
 * from `bitgask_get` (free each with `bitgask_free`; never NULL, even for an empty value) and
 * `vlens_out[i]` its length; or `BITGASK_NOT_FOUND` (absent or expired), `BITGASK_E_CORRUPT`
 * (its record fails its CRC or does not decode) or `BITGASK_E_IO` (its read or its buffer's
 * allocation failed), and then `vals_out[i]` is NULL and `vlens_out[i]` 0. A key's failure
 * does not stop the others; `bitgask_get` of that key gives the detail in an error object.
 * The arrays are written only when the call returns `BITGASK_OK`; `n` may be 0 (the arrays may
 * then be NULL).
 * Returns: `BITGASK_OK` (every key has its status); `BITGASK_E_NULL_ARG` (db, and when n > 0
 * keys, klens, vals_out, vlens_out, statuses_out, or a key NULL with a nonzero length);
 * `BITGASK_E_INVALID_ARG` (an empty key, or n too large for an array); `BITGASK_E_TOO_LARGE`
 * (a key above max_key_size). On these errors nothing is read and nothing is written.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_multi_get(const struct bitgask_db *db, size_t n, const uint8_t *const *keys, const size_t *klens, uint8_t **vals_out, size_t *vlens_out, bitgask_status *statuses_out, struct bitgask_error **err_out);

/**
 * A new options object with the defaults (sync on put and delete, 64 MiB files, 64 KiB keys,
 * 32 MiB values, hint files on, no compression, no TTL, lock timeout 0). Never NULL.
 * Threads: one thread at a time per options object.
 */
struct bitgask_options *bitgask_options_new(void);

/**
 * Frees an options object. NULL is a no-op.
 * Threads: one thread at a time per options object.
 */
void bitgask_options_free(struct bitgask_options *o);

/**
 * fdatasync before `bitgask_put` returns (default true). Concurrent writers share fsyncs.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_sync_on_put(struct bitgask_options *o, bool v, struct bitgask_error **err_out);

/**
 * fdatasync before `bitgask_delete` returns (default true).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_sync_on_delete(struct bitgask_options *o, bool v, struct bitgask_error **err_out);

/**
 * Period of the background flusher in milliseconds (0, the default, disables it). Useful with
 * per-write sync off: a crash of the machine then loses at most about one period of writes.
 * Any value (a period too long to schedule never fires).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_sync_interval_ms(struct bitgask_options *o, uint64_t ms, struct bitgask_error **err_out);

/**
 * Size at which the active data file is sealed and a new one started (default 64 MiB).
 * Range: `BITGASK_FILE_SIZE_MIN` (256) to `BITGASK_FILE_SIZE_MAX` (4227858399, 4 GiB less room
 * for one largest record).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_max_file_size(struct bitgask_options *o, uint64_t bytes, struct bitgask_error **err_out);

/**
 * Size of the reserve file preallocated beside the data and given back when the disk fills,
 * so that deletes and merges can still run there (default 4 MiB; 0: no reserve; see
 * `BITGASK_E_NO_SPACE`). Range: 0 to 1 TiB.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_reserve_bytes(struct bitgask_options *o, uint64_t bytes, struct bitgask_error **err_out);

/**
 * Largest key accepted (default 64 KiB); longer keys give `BITGASK_E_TOO_LARGE`.
 * Range: 1 to `BITGASK_KEY_SIZE_LIMIT` (32 MiB).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_max_key_size(struct bitgask_options *o, uint32_t bytes, struct bitgask_error **err_out);

/**
 * Largest value accepted (default 32 MiB); longer values give `BITGASK_E_TOO_LARGE`.
 * Range: 0 to `BITGASK_VALUE_SIZE_LIMIT` (32 MiB).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_max_value_size(struct bitgask_options *o, uint32_t bytes, struct bitgask_error **err_out);

/**
 * TTL given to keys written with `bitgask_put` (0, the default: they never expire). Any value;
 * an expiry past the year 2554 saturates there.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_default_ttl_ms(struct bitgask_options *o, uint64_t ms, struct bitgask_error **err_out);

/**
 * Write hint files for sealed data files and use them at open (default true).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_hint_files(struct bitgask_options *o, bool v, struct bitgask_error **err_out);

/**
 * Codec for new values: `BITGASK_CODEC_NONE` (default) or `BITGASK_CODEC_SNAPPY`.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (another number).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_compression(struct bitgask_options *o, uint32_t codec, struct bitgask_error **err_out);

/**
 * Values shorter than this are never compressed (default 4096 bytes). Any value.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_compression_threshold(struct bitgask_options *o, uint32_t bytes, struct bitgask_error **err_out);

/**
 * How long `bitgask_open` waits for a LOCK held by another handle (default 0: fail at once
 * with `BITGASK_E_LOCKED`). Any value; `UINT64_MAX` waits as long as it takes.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_lock_timeout_ms(struct bitgask_options *o, uint64_t ms, struct bitgask_error **err_out);

/**
 * Full merge trigger: dead/total bytes at least this ratio (default 0.6).
 * Range: 0 to 1 (NaN is outside).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_merge_trigger_ratio(struct bitgask_options *o, double ratio, struct bitgask_error **err_out);

/**
 * Full merge trigger: at least this many bytes in data files (default 64 MiB). Any value.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_merge_min_total(struct bitgask_options *o, uint64_t bytes, struct bitgask_error **err_out);

/**
 * Period of the background merge worker in milliseconds (default 600000; 0 disables it). Each
 * tick runs `bitgask_compact_if_needed`. Any value (a period too long to schedule never fires).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_merge_interval_ms(struct bitgask_options *o, uint64_t ms, struct bitgask_error **err_out);

/**
 * Run one pass of the merge policy inside `bitgask_open` (default false).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_merge_on_open(struct bitgask_options *o, bool v, struct bitgask_error **err_out);

/**
 * Size at which merge output files are cut (default 64 MiB).
 * Range: `BITGASK_FILE_SIZE_MIN` to `BITGASK_FILE_SIZE_MAX`, as max_file_size.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_merge_max_file_size(struct bitgask_options *o, uint64_t bytes, struct bitgask_error **err_out);

/**
 * Selective merge: a sealed file qualifies when its own dead/size reaches this ratio (default
 * 0.4). Range: above 0, up to 1.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (outside the range).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_garbage_ratio(struct bitgask_options *o, double ratio, struct bitgask_error **err_out);

/**
 * Selective merge: fewest qualifying files worth a merge (default 3). Range: 1 and up; at open
 * it must not exceed max_merge_files (else `bitgask_open` returns `BITGASK_E_INVALID_ARG`).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (0).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_min_merge_files(struct bitgask_options *o, uint32_t n, struct bitgask_error **err_out);

/**
 * Selective merge: fewest bytes worth a merge (default 256 MiB). Any value.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_min_merge_total(struct bitgask_options *o, uint64_t bytes, struct bitgask_error **err_out);

/**
 * Selective merge: most files in one merge (default 5). Range: 1 and up; at open it must not be
 * below min_merge_files (else `bitgask_open` returns `BITGASK_E_INVALID_ARG`).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (0).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_max_merge_files(struct bitgask_options *o, uint32_t n, struct bitgask_error **err_out);

/**
 * Selective merge: most bytes in one merge (default 2 GiB). Range: 1 and up.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o); `BITGASK_E_INVALID_ARG` (0).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_max_merge_bytes(struct bitgask_options *o, uint64_t bytes, struct bitgask_error **err_out);

/**
 * `bitgask_adopt` only: skip damaged byte ranges and keys over this options object's size
 * limits, listing each in the report, instead of refusing the whole adoption (default false).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_adopt_salvage(struct bitgask_options *o, bool v, struct bitgask_error **err_out);

/**
 * `bitgask_adopt` only: remove the Go system's files once the adopted database is in place,
 * instead of keeping them in `go-original/` (default false).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (o).
 * Threads: one thread at a time per options object.
 */
bitgask_status bitgask_options_set_adopt_discard_original(struct bitgask_options *o, bool v, struct bitgask_error **err_out);

/**
 * Checks the database in directory `path` without changing anything (no byte, name or mtime)
 * and without taking the LOCK, so it also works on a database open elsewhere. Returns
 * `BITGASK_OK` with `*report_out` whenever it could scan, damaged or not; an error only when
 * it could not scan at all. `opts` may be NULL (validate uses no option today).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (path, report_out); `BITGASK_E_INVALID_ARG` (path
 * not UTF-8); `BITGASK_E_IO` (the directory is missing or unreadable).
 * Threads: any.
 */
bitgask_status bitgask_validate(const char *path, const struct bitgask_options *opts, struct bitgask_report **report_out, struct bitgask_error **err_out);

/**
 * Mends the database in directory `path`: truncates torn tails, moves damaged byte ranges into
 * `<id>.corrupt` quarantine files (keeping every valid record around them), rebuilds hints,
 * settles an interrupted merge, rewrites a damaged meta file. Takes the LOCK
 * (`BITGASK_E_LOCKED` while the database is open; `opts` may set a lock timeout, NULL for
 * defaults). The report lists every byte range and key lost. Running it again changes nothing.
 * Returns: `BITGASK_OK` (with a report, mended or not); `BITGASK_E_NULL_ARG` (path, report_out);
 * `BITGASK_E_INVALID_ARG` (path not UTF-8); `BITGASK_E_LOCKED`; `BITGASK_E_FORMAT_VERSION`;
 * `BITGASK_E_IO` (reading, truncating, renaming or fsyncing failed: run it again).
 * Threads: any.
 */
bitgask_status bitgask_repair(const char *path, const struct bitgask_options *opts, struct bitgask_report **report_out, struct bitgask_error **err_out);

/**
 * Converts the Go bitgask's database in directory `path` into a bitgask database that returns
 * what the Go system returns for every key: the Go data files are read in log order (the last
 * record of a key wins, tombstones delete, expired keys are absent), the result is written as a
 * fresh bitgask generation, and the Go directories are kept in `path/go-original/` (see
 * `bitgask_options_set_adopt_discard_original`). Crash-safe: after a crash the directory is the
 * Go one (untouched) or the adopted one; `bitgask_open` or a second call finishes the swap. A
 * directory that is already bitgask's is left alone (`BITGASK_OK`, `already_bitgask` in
 * `bitgask_report_adopt_counts_get`). Takes the LOCK. `opts` (may be NULL) sets the new
 * database's limits, compression and file size and adopt's switches.
 * Returns: `BITGASK_OK` (with a report); `BITGASK_E_NULL_ARG` (path, report_out);
 * `BITGASK_E_INVALID_ARG` (path not UTF-8 or not a directory, or `go-original/` already
 * exists); `BITGASK_E_CORRUPT` (damaged records, without salvage: nothing was changed; the
 * message names file and offset); `BITGASK_E_TOO_LARGE` (a key or value over the limits,
 * without salvage: nothing was changed; the message names the key); `BITGASK_E_FORMAT_VERSION`
 * (not a Go directory adopt can read: names of several widths, or a Go merge interrupted and
 * then reopened); `BITGASK_E_LOCKED`; `BITGASK_E_IO` (run it again: it resumes).
 * Threads: any.
 */
bitgask_status bitgask_adopt(const char *path, const struct bitgask_options *opts, struct bitgask_report **report_out, struct bitgask_error **err_out);

/**
 * Fills `*out` with adopt's counters.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (r, out); `BITGASK_E_INVALID_ARG` (the report is
 * not from `bitgask_adopt`).
 * Threads: one thread at a time per report.
 */
bitgask_status bitgask_report_adopt_counts_get(const struct bitgask_report *r, struct bitgask_adopt_counts *out, struct bitgask_error **err_out);

/**
 * True when nothing wrong is left: every problem is a note or was mended. False for NULL.
 * Threads: one thread at a time per report.
 */
bool bitgask_report_clean(const struct bitgask_report *r);

/**
 * Number of problems (notes included); 0 for NULL.
 * Threads: one thread at a time per report.
 */
size_t bitgask_report_problem_count(const struct bitgask_report *r);

/**
 * Fills `*out` with problem `i` (0-based).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (r, out); `BITGASK_E_INVALID_ARG` (`i` past the
 * end).
 * Threads: one thread at a time per report.
 */
bitgask_status bitgask_report_problem(const struct bitgask_report *r, size_t i, struct bitgask_problem *out, struct bitgask_error **err_out);

/**
 * Fills `*out` with the report's counters.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (r, out).
 * Threads: one thread at a time per report.
 */
bitgask_status bitgask_report_counts_get(const struct bitgask_report *r, struct bitgask_report_counts *out, struct bitgask_error **err_out);

/**
 * The report as human-readable text, one problem per line ("" for NULL).
 * Threads: one thread at a time per report.
 */
const char *bitgask_report_text(const struct bitgask_report *r);

/**
 * The report as one JSON object ("" for NULL).
 * Threads: one thread at a time per report.
 */
const char *bitgask_report_json(const struct bitgask_report *r);

/**
 * Frees a report and every string it handed out. NULL is a no-op.
 * Threads: one thread at a time per report.
 */
void bitgask_report_free(struct bitgask_report *r);

/**
 * Fills `*out` with the reserve's size and content, the free bytes, and whether the handle is
 * full.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, out); `BITGASK_E_CLOSED`.
 * Threads: safe to call concurrently on one handle.
 */
bitgask_status bitgask_space_get(const struct bitgask_db *db, struct bitgask_space *out, struct bitgask_error **err_out);

/**
 * Begins a transaction on `db`. On success `*out` receives a transaction owned by the
 * caller, ended (and freed) by `bitgask_txn_commit` or `bitgask_txn_discard`. It holds no
 * lock; it must be ended before `db` is closed (calls on it afterwards return
 * `BITGASK_E_CLOSED`, and it must still be ended to free it).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (db, out); `BITGASK_E_POISONED`.
 * Threads: safe to call concurrently on one handle; the transaction is single-owner.
 */
bitgask_status bitgask_txn_begin(struct bitgask_db *db, struct bitgask_txn **out, struct bitgask_error **err_out);

/**
 * Reads a value as the transaction sees it: its own write of the key if it has one, else the
 * database's current value. `*val` receives a malloc'd copy (free with `bitgask_free`; never
 * NULL on success) and `*vlen` its length. A read of the database is checked at commit, also
 * when it found nothing.
 * Returns: `BITGASK_OK`; `BITGASK_NOT_FOUND` (absent, expired, or deleted by the transaction);
 * `BITGASK_E_NULL_ARG` (txn, key, val, vlen); `BITGASK_E_INVALID_ARG` (empty key);
 * `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT`; `BITGASK_E_IO`;
 * `BITGASK_E_CLOSED` (its database was closed).
 * Threads: one thread at a time per transaction.
 */
bitgask_status bitgask_txn_get(struct bitgask_txn *txn, const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen, struct bitgask_error **err_out);

/**
 * Sets `*out` to whether the key exists as the transaction sees it (its own writes first).
 * Checked at commit as `bitgask_txn_get` is.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, key, out); `BITGASK_E_INVALID_ARG` (empty
 * key); `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CORRUPT`; `BITGASK_E_IO`;
 * `BITGASK_E_CLOSED`.
 * Threads: one thread at a time per transaction.
 */
bitgask_status bitgask_txn_exists(struct bitgask_txn *txn, const uint8_t *key, size_t klen, bool *out, struct bitgask_error **err_out);

/**
 * Buffers a put of `val[0..vlen)` under `key[0..klen)` (with the handle's default TTL, if
 * set); nothing is written before the commit. A key written but not read never conflicts.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, key, val with vlen > 0);
 * `BITGASK_E_INVALID_ARG` (empty key); `BITGASK_E_TOO_LARGE` (key or value above its limit);
 * `BITGASK_E_CLOSED`.
 * Threads: one thread at a time per transaction.
 */
bitgask_status bitgask_txn_put(struct bitgask_txn *txn, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, struct bitgask_error **err_out);

/**
 * Like `bitgask_txn_put`, the key expiring `ttl_ms` (> 0) milliseconds after the commit.
 * Returns: as `bitgask_txn_put`, and `BITGASK_E_INVALID_ARG` for `ttl_ms` 0.
 * Threads: one thread at a time per transaction.
 */
bitgask_status bitgask_txn_put_ttl(struct bitgask_txn *txn, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, uint64_t ttl_ms, struct bitgask_error **err_out);

/**
 * Buffers a delete of `key[0..klen)` (an absent key is fine: the delete changes nothing).
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, key); `BITGASK_E_INVALID_ARG` (empty key);
 * `BITGASK_E_TOO_LARGE` (key above max_key_size); `BITGASK_E_CLOSED`.
 * Threads: one thread at a time per transaction.
 */
bitgask_status bitgask_txn_delete(struct bitgask_txn *txn, const uint8_t *key, size_t klen, struct bitgask_error **err_out);

/**
 * A cursor over keys starting with `prefix[0..plen)` (NULL/0 for all keys): the database's
 * keys as of now merged with the transaction's own writes (its puts with their values, its
 * deletes hidden), used with `bitgask_iter_next` and freed with `bitgask_iter_free`. Every key
 * it returns from the database counts as read by the transaction. Keys others insert into the
 * range are not detected at commit (no phantom protection). The transaction's writes after
 * this call are not seen by the cursor.
 * Returns: `BITGASK_OK`; `BITGASK_E_NULL_ARG` (txn, out, prefix with plen > 0);
 * `BITGASK_E_TOO_LARGE` (plen above `BITGASK_KEY_SIZE_LIMIT`); `BITGASK_E_CLOSED`.
 * Threads: one thread at a time per transaction; the iterator is single-owner and may outlive
 * the transaction (its reads then no longer matter).
 */
bitgask_status bitgask_txn_iter_new(struct bitgask_txn *txn, const uint8_t *prefix, size_t plen, struct bitgask_iter **out, struct bitgask_error **err_out);

/**
 * Commits: writes the transaction's writes as one batch (all or nothing, durable as
 * `bitgask_write` is) unless a key it read was written by someone else after it read it. Ends
 * the transaction and frees `txn` whatever the result.
 * Returns: `BITGASK_OK`; `BITGASK_E_CONFLICT` (nothing written); `BITGASK_E_NULL_ARG` (txn);
 * `BITGASK_E_TOO_LARGE` (the writes do not fit in one data file); `BITGASK_E_IO`;
 * `BITGASK_E_POISONED`; `BITGASK_E_CLOSED`.
 * Threads: one thread at a time per transaction.
 */
bitgask_status bitgask_txn_commit(struct bitgask_txn *txn, struct bitgask_error **err_out);

/**
 * Ends the transaction without writing anything and frees it. NULL is a no-op.
 * Threads: one thread at a time per transaction.
 */
void bitgask_txn_discard(struct bitgask_txn *txn);

#ifdef __cplusplus
}  /* extern "C" */
#endif  /* __cplusplus */

#endif  /* BITGASK_H */
