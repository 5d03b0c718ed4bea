/* Helpers of the C test suite: temporary directories, file surgery, clocks, database shortcuts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- temporary directories ---- */

#define T_MAX_TMPDIRS 64

static char t_dirs[T_MAX_TMPDIRS][T_PATH_MAX];
static size_t t_ndirs;

const char *t_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *d;
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (t_ndirs == T_MAX_TMPDIRS) {
        t_note("t_tmpdir: more than %d directories in one test", T_MAX_TMPDIRS);
        return NULL;
    }
    d = t_dirs[t_ndirs];
    t_pathf(d, "%s/bitgask-ctest-XXXXXX", base);
    if (mkdtemp(d) == NULL) {
        t_note("mkdtemp(%s): %s", d, strerror(errno));
        return NULL;
    }
    t_ndirs++;
    return d;
}

void t_cleanup_tmpdirs(void) {
    bool keep = getenv("BITGASK_KEEP_TMP") != NULL;
    while (t_ndirs > 0) {
        t_ndirs--;
        if (keep)
            t_note("kept %s", t_dirs[t_ndirs]);
        else if (!t_rm_rf(t_dirs[t_ndirs]))
            t_note("could not remove %s", t_dirs[t_ndirs]);
    }
}

bool t_rm_rf(const char *path) {
    struct stat st;
    DIR *d;
    struct dirent *e;
    bool ok = true;
    if (lstat(path, &st) != 0)
        return errno == ENOENT;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0;
    d = opendir(path);
    if (d == NULL)
        return false;
    while ((e = readdir(d)) != NULL) {
        char child[T_PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        t_pathf(child, "%s/%s", path, e->d_name);
        ok = t_rm_rf(child) && ok;
    }
    closedir(d);
    return rmdir(path) == 0 && ok;
}

/* ---- paths and files ---- */

char *t_pathf(char *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, T_PATH_MAX, fmt, ap);
    va_end(ap);
    return out;
}

char *t_data_path(char *out, const char *root, uint32_t id, const char *ext) {
    return t_pathf(out, "%s/data/%09u.%s", root, (unsigned)id, ext);
}

unsigned char *t_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    if (f == NULL) {
        t_note("open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = (unsigned char *)malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        t_note("read %s failed", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[size] = 0;
    *len = (size_t)size;
    return buf;
}

bool t_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    bool ok;
    if (f == NULL) {
        t_note("create %s: %s", path, strerror(errno));
        return false;
    }
    ok = len == 0 || fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok)
        t_note("write %s failed", path);
    return ok;
}

/* One write() of `text`: the id map files of /proc take their whole content in one write. */
static bool write_proc(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    return ok;
}

bool t_small_tmpfs(const char *dir, const char *size) {
    char map[64], opts[64];
    unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return false;
    snprintf(map, sizeof map, "0 %u 1", uid);
    if (!write_proc("/proc/self/uid_map", map))
        return false;
    (void)write_proc("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", gid);
    if (!write_proc("/proc/self/gid_map", map))
        return false;
    (void)mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL); /* nothing mounted here leaks out */
    snprintf(opts, sizeof opts, "size=%s", size);
    return mount("bitgask-test", dir, "tmpfs", 0, opts) == 0;
}

bool t_truncate_file(const char *path, size_t len) {
    if (truncate(path, (off_t)len) != 0) {
        t_note("truncate %s to %zu: %s", path, len, strerror(errno));
        return false;
    }
    return true;
}

long long t_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

bool t_file_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

bool t_remove_file(const char *path) {
    if (unlink(path) == 0 || errno == ENOENT)
        return true;
    t_note("unlink %s: %s", path, strerror(errno));
    return false;
}

bool t_xor_byte(const char *path, size_t offset, unsigned char mask) {
    int fd = open(path, O_RDWR);
    unsigned char b;
    bool ok;
    if (fd < 0) {
        t_note("open %s: %s", path, strerror(errno));
        return false;
    }
    ok = pread(fd, &b, 1, (off_t)offset) == 1;
    b ^= mask;
    ok = ok && pwrite(fd, &b, 1, (off_t)offset) == 1;
    ok = close(fd) == 0 && ok;
    if (!ok)
        t_note("flipping byte %zu of %s failed", offset, path);
    return ok;
}

static int t_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

size_t t_list_ids(const char *root, const char *ext, uint32_t *ids, size_t cap) {
    char dir[T_PATH_MAX];
    DIR *d;
    struct dirent *e;
    size_t n = 0;
    size_t extlen = strlen(ext);
    d = opendir(t_pathf(dir, "%s/data", root));
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name), i;
        bool digits = len == 10 + extlen && name[9] == '.' && strcmp(name + 10, ext) == 0;
        for (i = 0; digits && i < 9; i++)
            digits = name[i] >= '0' && name[i] <= '9';
        if (!digits)
            continue;
        if (n < cap)
            ids[n] = (uint32_t)strtoul(name, NULL, 10);
        n++;
    }
    closedir(d);
    if (ids != NULL && n > 0 && cap > 0)
        qsort(ids, n < cap ? n : cap, sizeof ids[0], t_cmp_u32);
    return n;
}

unsigned long long t_data_bytes(const char *root) {
    uint32_t ids[4096];
    size_t n = t_list_ids(root, "data", ids, 4096), i;
    unsigned long long sum = 0;
    char p[T_PATH_MAX];
    for (i = 0; i < n && i < 4096; i++)
        sum += (unsigned long long)t_file_size(t_data_path(p, root, ids[i], "data"));
    return sum;
}

/* ---- child processes ---- */

#define T_MAX_CHILDREN 16

static volatile pid_t t_children[T_MAX_CHILDREN];

int t_fork(void) {
    pid_t pid;
    size_t i;
    fflush(NULL); /* nothing buffered is written twice */
    pid = fork();
    if (pid > 0) {
        for (i = 0; i < T_MAX_CHILDREN; i++) {
            if (t_children[i] == 0) {
                t_children[i] = pid;
                break;
            }
        }
    }
    return (int)pid;
}

static void t_forget(pid_t pid) {
    size_t i;
    for (i = 0; i < T_MAX_CHILDREN; i++)
        if (t_children[i] == pid)
            t_children[i] = 0;
}

bool t_wait(int pid, int *status) {
    pid_t r;
    do {
        r = waitpid((pid_t)pid, status, 0);
    } while (r < 0 && errno == EINTR);
    if (r == (pid_t)pid)
        t_forget((pid_t)pid);
    return r == (pid_t)pid;
}

bool t_wait_readable(int fd, int timeout_ms) {
    struct pollfd p;
    int r;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r == 1;
}

void t_kill_children_now(void) {
    size_t i;
    for (i = 0; i < T_MAX_CHILDREN; i++)
        if (t_children[i] > 0)
            kill(t_children[i], SIGKILL);
}

void t_reap_children(void) {
    size_t i;
    for (i = 0; i < T_MAX_CHILDREN; i++) {
        pid_t pid = t_children[i];
        int status;
        if (pid <= 0)
            continue;
        t_note("killing child %d left behind by the test", (int)pid);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        t_children[i] = 0;
    }
}

/* ---- clocks and randomness ---- */

void t_sleep_us(unsigned us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000u;
    ts.tv_nsec = (long)(us % 1000000u) * 1000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void t_sleep_ms(unsigned ms) {
    t_sleep_us(ms * 1000u);
}

uint64_t t_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t t_mono_ms(void) {
    return t_mono_us() / 1000u;
}

uint64_t t_rand(uint64_t *state) {
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- database helpers ---- */

static void t_note_err(const char *what, bitgask_status s, bitgask_error *err) {
    t_note("%s: status %d (%s): %s", what, (int)s, bitgask_status_str(s), err ? bitgask_error_message(err) : "");
}

bitgask_options *t_opts(uint64_t max_file_size) {
    bitgask_options *o = bitgask_options_new();
    bitgask_error *err = NULL;
    bitgask_status s;
    if (o == NULL) {
        t_note("bitgask_options_new returned NULL");
        return NULL;
    }
    if (max_file_size != 0) {
        s = bitgask_options_set_max_file_size(o, max_file_size, &err);
        if (s != BITGASK_OK) {
            t_note_err("bitgask_options_set_max_file_size", s, err);
            bitgask_error_free(err);
            bitgask_options_free(o);
            return NULL;
        }
    }
    return o;
}

bitgask_options *t_opts_nosync(uint64_t max_file_size) {
    bitgask_options *o = t_opts(max_file_size);
    if (o != NULL && (bitgask_options_set_sync_on_put(o, false, NULL) != BITGASK_OK ||
                      bitgask_options_set_sync_on_delete(o, false, NULL) != BITGASK_OK)) {
        t_note("turning per-write sync off failed");
        bitgask_options_free(o);
        return NULL;
    }
    return o;
}

bitgask_db *t_open(const char *root, const bitgask_options *opts) {
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_open(root, opts, &db, &err);
    if (s != BITGASK_OK || db == NULL) {
        t_note_err("bitgask_open", s, err);
        bitgask_error_free(err);
        return NULL;
    }
    return db;
}

bool t_close(bitgask_db *db) {
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_close(db, &err);
    if (s != BITGASK_OK) {
        t_note_err("bitgask_close", s, err);
        bitgask_error_free(err);
        return false;
    }
    return true;
}

bitgask_status t_put_s(bitgask_db *db, const char *key, const char *val, bitgask_error **err) {
    return bitgask_put(db, (const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val), err);
}

static void t_show(char *out, size_t cap, const void *p, size_t len) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i, o = 0;
    for (i = 0; i < len && o + 8 < cap; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            out[o++] = (char)b[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", b[i]);
    }
    if (i < len && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

bool t_has(bitgask_db *db, const void *key, size_t klen, const void *val, size_t vlen) {
    uint8_t *got = NULL;
    size_t glen = 0, ilen = 0;
    bitgask_error *err = NULL;
    char ks[200], vs[200], gs[200];
    bitgask_status s = bitgask_get(db, (const uint8_t *)key, klen, &got, &glen, &err);
    uint8_t *buf;
    bool ok;
    t_show(ks, sizeof ks, key, klen);
    if (s != BITGASK_OK) {
        t_note("get \"%s\": status %d (%s) %s", ks, (int)s, bitgask_status_str(s), err ? bitgask_error_message(err) : "");
        bitgask_error_free(err);
        return false;
    }
    if (got == NULL || glen != vlen || (vlen > 0 && memcmp(got, val, vlen) != 0)) {
        t_show(vs, sizeof vs, val, vlen);
        t_show(gs, sizeof gs, got, got ? glen : 0);
        t_note("get \"%s\": got %zu bytes \"%s\"%s, expected %zu bytes \"%s\"", ks, glen, gs, got ? "" : " (NULL buffer)",
               vlen, vs);
        bitgask_free(got);
        return false;
    }
    bitgask_free(got);
    /* The same through the caller-buffer path, with exactly the room needed. */
    buf = (uint8_t *)malloc(vlen + 1);
    if (buf == NULL)
        return false;
    s = bitgask_get_into(db, (const uint8_t *)key, klen, vlen ? buf : NULL, vlen, &ilen, &err);
    ok = s == BITGASK_OK && ilen == vlen && (vlen == 0 || memcmp(buf, val, vlen) == 0);
    if (!ok)
        t_note("get_into \"%s\": status %d (%s), %zu bytes %s", ks, (int)s, bitgask_status_str(s), ilen,
               err ? bitgask_error_message(err) : "");
    bitgask_error_free(err);
    free(buf);
    return ok;
}

bool t_has_s(bitgask_db *db, const char *key, const char *val) {
    return t_has(db, key, strlen(key), val, strlen(val));
}

static uint8_t t_sentinel_byte;

bool t_absent(bitgask_db *db, const void *key, size_t klen) {
    uint8_t *got = &t_sentinel_byte;
    size_t glen = 12345;
    bool ex = true;
    bitgask_error *err = NULL;
    char ks[200];
    bitgask_status s = bitgask_get(db, (const uint8_t *)key, klen, &got, &glen, &err);
    t_show(ks, sizeof ks, key, klen);
    if (s != BITGASK_NOT_FOUND) {
        t_note("get \"%s\": status %d (%s), expected NOT_FOUND %s", ks, (int)s, bitgask_status_str(s),
               err ? bitgask_error_message(err) : "");
        if (s == BITGASK_OK)
            bitgask_free(got);
        bitgask_error_free(err);
        return false;
    }
    if (err != NULL || got != &t_sentinel_byte || glen != 12345) {
        t_note("get \"%s\" NOT_FOUND wrote its outputs or an error object", ks);
        bitgask_error_free(err);
        return false;
    }
    s = bitgask_exists(db, (const uint8_t *)key, klen, &ex, &err);
    if (s != BITGASK_OK || ex) {
        t_note("exists \"%s\": status %d, exists=%d (expected OK and false)", ks, (int)s, (int)ex);
        bitgask_error_free(err);
        return false;
    }
    return true;
}

bool t_absent_s(bitgask_db *db, const char *key) {
    return t_absent(db, key, strlen(key));
}

bool t_stats(bitgask_db *db, bitgask_stats *out) {
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_stats_get(db, out, &err);
    if (s != BITGASK_OK) {
        t_note_err("bitgask_stats_get", s, err);
        bitgask_error_free(err);
        return false;
    }
    return true;
}

size_t t_key(char *out, size_t cap, uint32_t n) {
    int len = snprintf(out, cap, "key-%08u", (unsigned)n);
    return len < 0 ? 0 : (size_t)len;
}

size_t t_fill_value(char *v, size_t len, uint32_t n) {
    size_t i;
    for (i = 0; i < len; i++)
        v[i] = (char)('a' + (n + i) % 26u);
    memcpy(v, &n, sizeof n);
    return len;
}

size_t t_value(char *out, size_t cap, uint32_t n, uint32_t version) {
    /* "value-<n>-v<version>-" then n-dependent padding of 0..199 bytes. */
    int head = snprintf(out, cap, "value-%u-v%u-", (unsigned)n, (unsigned)version);
    size_t len = head < 0 ? 0 : (size_t)head, pad = ((size_t)n * 7919u + version * 31u) % 200u, i;
    for (i = 0; i < pad && len + 1 < cap; i++)
        out[len++] = (char)('a' + (n + i) % 26u);
    if (len < cap)
        out[len] = '\0';
    return len;
}

bool t_key_number(const uint8_t *key, size_t klen, uint32_t *n) {
    char kb[32], canon[32];
    unsigned v = 0;
    if (klen >= sizeof kb)
        return false;
    memcpy(kb, key, klen);
    kb[klen] = '\0';
    if (sscanf(kb, "key-%08u", &v) != 1 || t_key(canon, sizeof canon, v) != klen || memcmp(canon, key, klen) != 0)
        return false;
    *n = v;
    return true;
}

bool t_put_keys(bitgask_db *db, uint32_t first, uint32_t count, uint32_t version) {
    char k[32], v[256];
    uint32_t i;
    for (i = first; i < first + count; i++) {
        size_t kl = t_key(k, sizeof k, i), vl = t_value(v, sizeof v, i, version);
        bitgask_error *err = NULL;
        bitgask_status s = bitgask_put(db, (const uint8_t *)k, kl, (const uint8_t *)v, vl, &err);
        if (s != BITGASK_OK) {
            t_note("put %s: %s: %s", k, bitgask_status_str(s), bitgask_error_message(err));
            bitgask_error_free(err);
            return false;
        }
    }
    return true;
}

int t_count_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    ++*(uint64_t *)ctx;
    return 0;
}

/* ---- a directory as the Go bitgask writes it ---- */

static uint32_t t_crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void t_le(unsigned char *p, uint64_t v, int n) {
    int i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* One record in the shared record layout (docs/DESIGN.md section 2.1); returns its length. */
static size_t t_go_record(unsigned char *buf, uint64_t ts, uint8_t flags, const char *k, const char *v) {
    size_t kl = strlen(k), vl = strlen(v);
    memset(buf, 0, 32);
    t_le(buf + 4, ts, 8);
    t_le(buf + 20, kl, 4);
    t_le(buf + 24, vl, 4);
    buf[28] = flags;
    memcpy(buf + 32, k, kl);
    memcpy(buf + 32 + kl, v, vl);
    t_le(buf, t_crc32(buf + 4, 28 + kl + vl), 4);
    return 32 + kl + vl;
}

bool t_go_dir(const char *root, bool with_merge_tmp) {
    char p[T_PATH_MAX];
    unsigned char buf[512];
    size_t n = 0, m;
    const char *meta = "{\n  \"version\": 1,\n  \"created\": \"2026-01-01T00:00:00.5Z\"\n}";
    n += t_go_record(buf + n, 2000, 0, "k", "newer stamp, appended first");
    n += t_go_record(buf + n, 1000, 0, "k", "older stamp, appended last");
    n += t_go_record(buf + n, 3000, 0, "gone", "x");
    n += t_go_record(buf + n, 4000, 1, "gone", "");
    n += t_go_record(buf + n, 5000, 0, "plain", "p");
    if (mkdir(t_pathf(p, "%s/data", root), 0755) != 0 || !t_write_file(t_pathf(p, "%s/LOCK", root), "", 0) ||
        !t_write_file(t_pathf(p, "%s/data/bitgask.meta", root), meta, strlen(meta)) ||
        !t_write_file(t_pathf(p, "%s/data/000001.data", root), buf, n) ||
        !t_write_file(t_pathf(p, "%s/data/000001.hint", root), "", 0))
        return false;
    if (!with_merge_tmp)
        return true;
    /* A Go merge killed while copying: its half-written output must be ignored. */
    m = t_go_record(buf, 2000, 0, "k", "newer stamp, appended first");
    return mkdir(t_pathf(p, "%s/merge.tmp", root), 0755) == 0 &&
           t_write_file(t_pathf(p, "%s/merge.tmp/000001.data", root), buf, m) &&
           t_write_file(t_pathf(p, "%s/merge.tmp/000001.hint", root), "", 0);
}

bool t_go_dir_value_is(bitgask_db *db, const char *k, const char *want) {
    uint8_t buf[64];
    size_t n = 0;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_get_into(db, (const uint8_t *)k, strlen(k), buf, sizeof buf, &n, &err);
    bitgask_error_free(err);
    if (want == NULL)
        return s == BITGASK_NOT_FOUND;
    return s == BITGASK_OK && n == strlen(want) && memcmp(buf, want, n) == 0;
}

bool t_go_dir_adopted(bitgask_db *db) {
    return t_go_dir_value_is(db, "k", "older stamp, appended last") && t_go_dir_value_is(db, "gone", NULL) &&
           t_go_dir_value_is(db, "plain", "p");
}

bool t_soak(void) {
    const char *soak = getenv("BITGASK_SOAK");
    return soak != NULL && strcmp(soak, "0") != 0;
}

bool t_killed_at_point(int status, const char *when) {
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return true;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        t_note("%s: the point was never reached", when);
    else
        t_note("%s: the child %s %d instead of being killed at the point", when,
               WIFEXITED(status) ? "exited with" : "died of signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return false;
}

bool t_validate_clean(const char *root, const char *when) {
    bitgask_report *r = NULL;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_validate(root, NULL, &r, &err);
    bool ok = s == BITGASK_OK && r != NULL && bitgask_report_clean(r);
    if (!ok)
        t_note("%s: validate: status %d %s\n%s", when, (int)s, err ? bitgask_error_message(err) : "",
               r ? bitgask_report_text(r) : "");
    bitgask_error_free(err);
    bitgask_report_free(r);
    return ok;
}

static bool t_is_known(const char *name, const char *const *known, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(known[i], name) == 0)
            return true;
    return false;
}

bool t_points_covered(const char *self, const char *list, const char *const *known, size_t n) {
    char path[T_PATH_MAX], decl[96], name[96];
    const char *slash = strrchr(self, '/'), *p, *end;
    unsigned char *src;
    size_t len = 0, found = 0;
    bool ok = true;
    if (slash == NULL)
        t_pathf(path, "../../src/killpoint.rs");
    else
        t_pathf(path, "%.*s/../../src/killpoint.rs", (int)(slash - self), self);
    if (!t_file_exists(path)) {
        t_note("%s not found: coverage of the point list not checked", path);
        return true;
    }
    if ((src = t_read_file(path, &len)) == NULL) {
        t_note("cannot read %s", path);
        return false;
    }
    snprintf(decl, sizeof decl, "pub const %s", list);
    p = strstr((const char *)src, decl);
    end = p ? strstr(p, "];") : NULL;
    if (p == NULL || end == NULL) {
        t_note("no %s list in %s", list, path);
        free(src);
        return false;
    }
    for (p = strchr(p, '['); ok && p != NULL && p < end;) {
        const char *q = strchr(p, '"'), *qe;
        if (q == NULL || q > end)
            break;
        qe = strchr(q + 1, '"');
        if (qe == NULL || qe > end || (size_t)(qe - q - 1) >= sizeof name)
            break;
        memcpy(name, q + 1, (size_t)(qe - q - 1));
        name[qe - q - 1] = '\0';
        found++;
        if (!t_is_known(name, known, n)) {
            t_note("kill point %s (src/killpoint.rs %s) has no sweep in %s", name, list, self);
            ok = false;
        }
        p = qe + 1;
    }
    free(src);
    if (ok && found != n) {
        t_note("src/killpoint.rs %s lists %zu points, the sweep knows %zu", list, found, n);
        ok = false;
    }
    return ok;
}
