/* One handle per database directory: LOCK in the same process, across fork, and lock timeouts. */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Child side of the fork tests: report a status through a pipe, then _exit (no atexit handlers,
 * no leak check in the child). */
static void child_report(int fd, bitgask_status s) {
    int32_t v = s;
    ssize_t n = write(fd, &v, sizeof v);
    (void)n;
}

/* Reads one int32 from fd, waiting at most timeout_ms; false on EOF, error or timeout. */
static bool read_i32(int fd, int32_t *out, unsigned timeout_ms) {
    size_t got = 0;
    uint64_t deadline = t_mono_ms() + timeout_ms;
    while (got < sizeof *out) {
        ssize_t n = read(fd, (char *)out + got, sizeof *out - got);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0) {
            return false;
        } else if (errno != EINTR && errno != EAGAIN) {
            return false;
        }
        if (t_mono_ms() > deadline)
            return false;
    }
    return true;
}

TEST(second_open_in_the_same_process_is_locked) {
    const char *root = t_tmpdir();
    bitgask_db *a, *b = NULL;
    bitgask_error *err = NULL;
    CHECK(root && (a = t_open(root, NULL)) != NULL);
    CHECK_ERR(bitgask_open(root, NULL, &b, &err), BITGASK_E_LOCKED, err);
    CHECK(b == NULL);
    CHECK_MSG(strstr(bitgask_error_message(err), "LOCK") != NULL, "message: %s", bitgask_error_message(err));
    CHECK_MSG(strstr(bitgask_error_message(err), "this process") != NULL, "message: %s", bitgask_error_message(err));
    bitgask_error_free(err);
    err = NULL;
    /* Still locked on a second try, also through another spelling of the path, and the first
     * handle still works. */
    CHECK_STATUS(bitgask_open(root, NULL, &b, &err), BITGASK_E_LOCKED, err);
    {
        char other[T_PATH_MAX];
        CHECK_STATUS(bitgask_open(t_pathf(other, "%s/./data/..", root), NULL, &b, &err), BITGASK_E_LOCKED, err);
    }
    CHECK(b == NULL);
    CHECK_OK(t_put_s(a, "k", "v", &err), err);
    CHECK(t_has_s(a, "k", "v"));
    CHECK(t_close(a));
    /* Once closed, the directory opens again. */
    CHECK((b = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(b, "k", "v"));
    CHECK(t_close(b));
}

TEST(open_close_cycles_release_the_lock) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    char k[16];
    int i;
    CHECK(root != NULL);
    for (i = 0; i < 25; i++) {
        CHECK_MSG((db = t_open(root, NULL)) != NULL, "cycle %d", i);
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(t_put_s(db, k, "v", &err), err);
        CHECK(t_close(db));
    }
    CHECK((db = t_open(root, NULL)) != NULL);
    for (i = 0; i < 25; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK(t_has_s(db, k, "v"));
    }
    CHECK(t_close(db));
}

TEST(a_stale_lock_file_does_not_block) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    char p[T_PATH_MAX];
    CHECK(root != NULL);
    CHECK(t_write_file(t_pathf(p, "%s/LOCK", root), "pid=1\n\xff\xfe garbage", 17));
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_close(db));
    CHECK(t_file_exists(p)); /* the LOCK file is never deleted */
}

TEST(forked_child_after_parent_opened_is_locked) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    int fds[2], status = 0;
    int32_t got = 0;
    pid_t pid;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(pipe(fds) == 0);
    pid = t_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        bitgask_db *c = NULL;
        bitgask_status s;
        close(fds[0]);
        s = bitgask_open(root, NULL, &c, NULL);
        child_report(fds[1], s);
        _exit(0);
    }
    close(fds[1]);
    CHECK(read_i32(fds[0], &got, 10000));
    close(fds[0]);
    CHECK(t_wait(pid, &status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_MSG(got == BITGASK_E_LOCKED, "child's open returned %d (%s)", (int)got, bitgask_status_str(got));
    /* The child's failed attempt did not disturb the parent's handle. */
    CHECK_OK(t_put_s(db, "k2", "v2", &err), err);
    CHECK(t_has_s(db, "k", "v"));
    CHECK(t_close(db));
}

TEST(forked_child_before_parent_opened_is_locked_then_opens_after_close) {
    const char *root = t_tmpdir();
    bitgask_db *db;
    bitgask_error *err = NULL;
    int to_child[2], to_parent[2], status = 0;
    int32_t got = 0;
    pid_t pid;
    char go = 'g';
    CHECK(root != NULL);
    CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
    pid = t_fork(); /* the parent has no database open here */
    CHECK(pid >= 0);
    if (pid == 0) {
        bitgask_db *c = NULL;
        bitgask_status s;
        char b;
        close(to_child[1]);
        close(to_parent[0]);
        /* 1: the parent has opened: our open must be refused. */
        if (read(to_child[0], &b, 1) != 1)
            _exit(2);
        s = bitgask_open(root, NULL, &c, NULL);
        child_report(to_parent[1], s);
        if (s == BITGASK_OK)
            _exit(3);
        /* 2: the parent has closed: our open must succeed and see its write. */
        if (read(to_child[0], &b, 1) != 1)
            _exit(4);
        s = bitgask_open(root, NULL, &c, NULL);
        if (s == BITGASK_OK) {
            uint8_t *v = NULL;
            size_t vl = 0;
            if (bitgask_get(c, KS("from-parent"), &v, &vl, NULL) != BITGASK_OK || vl != 1 || v[0] != 'p')
                s = -1000;
            bitgask_free(v);
            if (s == BITGASK_OK)
                s = bitgask_put(c, KS("from-child"), KS("c"), NULL);
            if (bitgask_close(c, NULL) != BITGASK_OK && s == BITGASK_OK)
                s = -1001;
        }
        child_report(to_parent[1], s);
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    db = t_open(root, NULL);
    CHECK(db != NULL);
    CHECK_OK(t_put_s(db, "from-parent", "p", &err), err);
    CHECK(write(to_child[1], &go, 1) == 1);
    CHECK(read_i32(to_parent[0], &got, 10000));
    CHECK_MSG(got == BITGASK_E_LOCKED, "child's first open returned %d (%s)", (int)got, bitgask_status_str(got));
    CHECK(t_close(db));
    CHECK(write(to_child[1], &go, 1) == 1);
    CHECK(read_i32(to_parent[0], &got, 10000));
    CHECK_MSG(got == BITGASK_OK, "child's second open/read/write returned %d (%s)", (int)got, bitgask_status_str(got));
    close(to_child[1]);
    close(to_parent[0]);
    CHECK(t_wait(pid, &status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "from-child", "c"));
    CHECK(t_close(db));
}

TEST(lock_of_a_killed_child_is_released) {
    const char *root = t_tmpdir();
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    int fds[2], status = 0;
    int32_t got = 0;
    pid_t pid;
    CHECK(root != NULL);
    CHECK(pipe(fds) == 0);
    pid = t_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        bitgask_db *c = NULL;
        bitgask_status s;
        close(fds[0]);
        s = bitgask_open(root, NULL, &c, NULL);
        if (s == BITGASK_OK)
            s = bitgask_put(c, KS("child"), KS("alive"), NULL);
        child_report(fds[1], s);
        for (;;)
            pause(); /* hold the lock until killed */
    }
    close(fds[1]);
    CHECK(read_i32(fds[0], &got, 10000));
    CHECK_MSG(got == BITGASK_OK, "child's open/put returned %d", (int)got);
    CHECK_ERR(bitgask_open(root, NULL, &db, &err), BITGASK_E_LOCKED, err);
    {
        /* The message names the process holding the LOCK. */
        char want[64];
        snprintf(want, sizeof want, "process %d", (int)pid);
        CHECK_MSG(strstr(bitgask_error_message(err), want) != NULL, "message: %s", bitgask_error_message(err));
        bitgask_error_free(err);
        err = NULL;
    }
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(t_wait(pid, &status));
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);
    CHECK((db = t_open(root, NULL)) != NULL);
    CHECK(t_has_s(db, "child", "alive"));
    CHECK(t_close(db));
}

typedef struct closer_arg {
    bitgask_db *db;
    unsigned delay_ms;
    uint64_t close_started_us; /* CLOCK_MONOTONIC, comparable across threads and processes */
    bool ok;
} closer_arg;

static void *close_later(void *p) {
    closer_arg *a = (closer_arg *)p;
    t_sleep_ms(a->delay_ms);
    a->close_started_us = t_mono_us();
    a->ok = bitgask_close(a->db, NULL) == BITGASK_OK;
    return NULL;
}

TEST(lock_timeout_waits_for_a_close_in_another_thread) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db, *db2 = NULL;
    bitgask_error *err = NULL;
    closer_arg arg;
    pthread_t th;
    uint64_t t0, done;
    CHECK(root && o && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK_OK(bitgask_options_set_lock_timeout_ms(o, 10000, &err), err);
    arg.db = db;
    arg.delay_ms = 150;
    arg.close_started_us = 0;
    arg.ok = false;
    t0 = t_mono_us();
    CHECK(pthread_create(&th, NULL, close_later, &arg) == 0);
    CHECK_OK(bitgask_open(root, o, &db2, &err), err);
    done = t_mono_us();
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(arg.ok);
    /* The open can only have succeeded once the holder started closing. */
    CHECK_MSG(done >= arg.close_started_us, "open returned %lld us before the holder closed",
              (long long)(arg.close_started_us - done));
    CHECK_MSG(done - t0 < 8000000, "open took %llu ms", (unsigned long long)((done - t0) / 1000));
    if (t0 >= arg.close_started_us)
        t_note("the machine was too slow to make the open wait; the wait itself was not exercised");
    CHECK(t_has_s(db2, "k", "v"));
    CHECK(t_close(db2));
    bitgask_options_free(o);
}

TEST(lock_timeout_waits_for_a_child_to_exit) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    int fds[2], status = 0;
    int32_t got = 0;
    pid_t pid;
    uint64_t t0, done, close_started = 0;
    CHECK(root && o);
    CHECK(pipe(fds) == 0);
    pid = t_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        bitgask_db *c = NULL;
        bitgask_status s;
        close(fds[0]);
        s = bitgask_open(root, NULL, &c, NULL);
        if (s == BITGASK_OK)
            s = bitgask_put(c, KS("child"), KS("wrote"), NULL);
        child_report(fds[1], s);
        t_sleep_ms(200);
        /* Tell the parent when the close started (CLOCK_MONOTONIC is system-wide). */
        close_started = t_mono_us();
        if (write(fds[1], &close_started, sizeof close_started) != (ssize_t)sizeof close_started)
            _exit(2);
        if (s == BITGASK_OK)
            s = bitgask_close(c, NULL);
        _exit(s == BITGASK_OK ? 0 : 1);
    }
    close(fds[1]);
    CHECK(read_i32(fds[0], &got, 10000));
    CHECK_MSG(got == BITGASK_OK, "child's open/put returned %d", (int)got);
    CHECK_OK(bitgask_options_set_lock_timeout_ms(o, 10000, &err), err);
    t0 = t_mono_us();
    CHECK_OK(bitgask_open(root, o, &db, &err), err);
    done = t_mono_us();
    CHECK(read(fds[0], &close_started, sizeof close_started) == (ssize_t)sizeof close_started);
    close(fds[0]);
    CHECK(t_wait(pid, &status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_MSG(done >= close_started, "open returned %lld us before the child closed",
              (long long)(close_started - done));
    CHECK_MSG(done - t0 < 8000000, "open waited %llu ms", (unsigned long long)((done - t0) / 1000));
    if (t0 >= close_started)
        t_note("the machine was too slow to make the open wait; the wait itself was not exercised");
    CHECK(t_has_s(db, "child", "wrote"));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(lock_timeout_expires_with_locked) {
    const char *root = t_tmpdir();
    bitgask_options *o = t_opts(0);
    bitgask_db *db, *db2 = NULL;
    bitgask_error *err = NULL;
    uint64_t t0, waited;
    CHECK(root && o && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(bitgask_options_set_lock_timeout_ms(o, 200, &err), err);
    t0 = t_mono_ms();
    CHECK_STATUS(bitgask_open(root, o, &db2, &err), BITGASK_E_LOCKED, err);
    waited = t_mono_ms() - t0;
    CHECK(db2 == NULL);
    CHECK_MSG(waited >= 180 && waited < 5000, "gave up after %llu ms with a 200 ms timeout", (unsigned long long)waited);
    /* Timeout 0 (the default) fails at once. */
    t0 = t_mono_ms();
    CHECK_STATUS(bitgask_open(root, NULL, &db2, &err), BITGASK_E_LOCKED, err);
    CHECK_MSG(t_mono_ms() - t0 < 1000, "timeout 0 waited %llu ms", (unsigned long long)(t_mono_ms() - t0));
    CHECK(t_close(db));
    bitgask_options_free(o);
}

TEST(close_releases_the_lock_even_with_a_forked_child_alive) {
    /* A child forked while the parent had the database open inherits the parent's descriptors,
     * LOCK included. It never touches the database; the parent closes its handle and opens the
     * directory again while the child is still alive: bitgask_close "releases the LOCK", so the
     * reopen must succeed. */
    const char *root = t_tmpdir();
    bitgask_db *db, *again = NULL;
    bitgask_error *err = NULL;
    int fds[2], status = 0;
    char b;
    pid_t pid;
    CHECK(root && (db = t_open(root, NULL)) != NULL);
    CHECK_OK(t_put_s(db, "k", "v", &err), err);
    CHECK(pipe(fds) == 0);
    pid = t_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* an unrelated worker: waits until the parent is done, never calls the library */
        close(fds[1]);
        while (read(fds[0], &b, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    close(fds[0]);
    CHECK(t_close(db));
    CHECK_OK(bitgask_open(root, NULL, &again, &err), err);
    CHECK(again != NULL);
    CHECK(t_has_s(again, "k", "v"));
    CHECK(t_close(again));
    close(fds[1]); /* lets the child exit */
    CHECK(t_wait(pid, &status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
