/*
 * The test runner: every TEST() in the c_tests directory, or only those named on the command
 * line. One line per test ("ok name" / "FAIL name"), then exactly "N passed, N failed" (CI parses
 * that line). Exit status 1 when any test failed.
 *
 *   c_tests_xxx                 run everything
 *   c_tests_xxx name...         run the named tests (an unknown name counts as a failure)
 *   c_tests_xxx --list          print the test names
 *
 * A watchdog (BITGASK_TEST_TIMEOUT seconds per test, default 120) turns a hang into a failure and
 * prints every thread's stack (with gdb, when installed).
 * BITGASK_TEST_TIMES=1 prints each test's duration (stderr), BITGASK_TEST_VERBOSE=1 extra notes,
 * BITGASK_KEEP_TMP=1 keeps the temporary directories.
 */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_MAX_TESTS 512

typedef struct t_test {
    const char *name;
    t_test_fn fn;
    const char *file;
    int line;
} t_test;

static t_test t_tests[T_MAX_TESTS];
static size_t t_ntests;
static bool t_registry_full;

static const char *t_running = "";
static bool t_failed_now;

void t_register(const char *name, t_test_fn fn, const char *file, int line) {
    if (t_ntests == T_MAX_TESTS) {
        t_registry_full = true;
        return;
    }
    t_tests[t_ntests].name = name;
    t_tests[t_ntests].fn = fn;
    t_tests[t_ntests].file = file;
    t_tests[t_ntests].line = line;
    t_ntests++;
}

const char *t_current_test(void) {
    return t_running;
}

bool t_test_failed(void) {
    return t_failed_now;
}

void t_note(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "    ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
}

void t_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    t_failed_now = true;
    fflush(stdout);
    fprintf(stderr, "    %s:%d: [%s] ", file, line, t_running);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
}

bool t_status_is(const char *file, int line, const char *expr, bitgask_status got, bitgask_status want,
                 bitgask_error **errp, bool keep) {
    bitgask_error *err = *errp;
    const char *msg = err ? bitgask_error_message(err) : NULL;
    bool ok = true;
    if (got != want) {
        t_fail(file, line, "%s returned %d (%s), expected %d (%s)%s%s", expr, (int)got, bitgask_status_str(got),
               (int)want, bitgask_status_str(want), msg ? "; error: " : "", msg ? msg : "");
        ok = false;
    } else if (want < 0) {
        if (err == NULL) {
            t_fail(file, line, "%s returned %d (%s) but wrote no error object", expr, (int)got, bitgask_status_str(got));
            ok = false;
        } else if (bitgask_error_status(err) != want) {
            t_fail(file, line, "%s: error object has status %d, the call returned %d; error: %s", expr,
                   (int)bitgask_error_status(err), (int)got, msg);
            ok = false;
        } else if (msg == NULL || msg[0] == '\0') {
            t_fail(file, line, "%s: error object has an empty message", expr);
            ok = false;
        }
    } else if (err != NULL) {
        t_fail(file, line, "%s returned %d (%s) but wrote an error object: %s", expr, (int)got, bitgask_status_str(got),
               msg);
        ok = false;
    }
    if (!ok || !keep) {
        bitgask_error_free(*errp);
        *errp = NULL;
    }
    return ok;
}

/* This process's id as text, for gdb (written before any test runs: the alarm handler may only
 * make async-signal-safe calls). */
static char t_self_pid[24];

/* Every thread's stack, printed by gdb (when the machine has it; bounded to a minute): a hang
 * seen once in hundreds of runs is otherwise gone with the process. */
static void t_dump_stacks(void) {
    pid_t pid = fork();
    if (pid == 0) {
        dup2(1, 2);
        execlp("timeout", "timeout", "60", "gdb", "-p", t_self_pid, "-batch", "-nx", "-ex", "thread apply all bt",
               (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
}

static void t_on_alarm(int sig) {
    /* Only async-signal-safe calls here. */
    static const char a[] = "FAIL ";
    static const char b[] = " (timed out); the stacks follow\n";
    ssize_t n;
    (void)sig;
    t_kill_children_now();
    n = write(1, a, sizeof a - 1);
    n = write(1, t_running, strlen(t_running));
    n = write(1, b, sizeof b - 1);
    (void)n;
    t_dump_stacks();
    _exit(3);
}

static int t_by_file_then_line(const void *pa, const void *pb) {
    const t_test *a = (const t_test *)pa;
    const t_test *b = (const t_test *)pb;
    int c = strcmp(a->file, b->file);
    if (c != 0)
        return c;
    return (a->line > b->line) - (a->line < b->line);
}

static const t_test *t_find(const char *name) {
    size_t i;
    for (i = 0; i < t_ntests; i++)
        if (strcmp(t_tests[i].name, name) == 0)
            return &t_tests[i];
    return NULL;
}

static bool t_run(const t_test *t, unsigned timeout_s) {
    uint64_t start = t_mono_us();
    t_running = t->name;
    t_failed_now = false;
    alarm(timeout_s);
    t->fn();
    alarm(0);
    t_reap_children();
    t_cleanup_tmpdirs();
    printf("%s %s\n", t_failed_now ? "FAIL" : "ok", t->name);
    fflush(stdout);
    if (getenv("BITGASK_TEST_TIMES"))
        t_note("%s took %.1f ms", t->name, (double)(t_mono_us() - start) / 1000.0);
    t_running = "";
    return !t_failed_now;
}

int main(int argc, char **argv) {
    unsigned passed = 0, failed = 0, timeout_s = 120;
    const char *env = getenv("BITGASK_TEST_TIMEOUT");
    size_t i;
    int a;

    if (env && atoi(env) > 0)
        timeout_s = (unsigned)atoi(env);
    snprintf(t_self_pid, sizeof t_self_pid, "%d", (int)getpid());
    /* Lets gdb, a child, attach where the Yama module restricts ptrace to ancestors. */
    (void)prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    signal(SIGALRM, t_on_alarm);
    signal(SIGPIPE, SIG_IGN);
    qsort(t_tests, t_ntests, sizeof t_tests[0], t_by_file_then_line);
    if (t_registry_full) {
        printf("FAIL registry (more than %d tests; raise T_MAX_TESTS)\n", T_MAX_TESTS);
        failed++;
    }
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < t_ntests; i++)
            printf("%s\n", t_tests[i].name);
        return 0;
    }
    for (i = 0; i < t_ntests; i++) {
        const t_test *dup = t_find(t_tests[i].name);
        if (dup != &t_tests[i]) {
            printf("FAIL %s (defined twice: %s and %s)\n", t_tests[i].name, dup->file, t_tests[i].file);
            failed++;
        }
    }
    if (argc > 1) {
        for (a = 1; a < argc; a++) {
            const t_test *t = t_find(argv[a]);
            if (t == NULL) {
                printf("FAIL %s (no such test)\n", argv[a]);
                failed++;
            } else if (t_run(t, timeout_s)) {
                passed++;
            } else {
                failed++;
            }
        }
    } else {
        for (i = 0; i < t_ntests; i++) {
            if (t_run(&t_tests[i], timeout_s))
                passed++;
            else
                failed++;
        }
    }
    printf("%u passed, %u failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
