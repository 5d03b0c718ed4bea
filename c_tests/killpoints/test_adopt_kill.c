/*
 * Crash safety of bitgask_adopt (docs/DESIGN.md section 14.3): a child process runs bitgask_adopt
 * on a directory of the Go bitgask (t_go_dir, with a Go merge's leftover merge.tmp/ so two
 * directories are moved) with BITGASK_KILL_POINT=<point>[:N] set, and the library SIGKILLs it at
 * the point. Then, in another process (a library call here would fix the kill-point setting to
 * "none" for later children), either an open or a second adopt must find one of the two allowed
 * states: before the commit point the untouched Go directory (open refuses it as foreign; its
 * data file is byte for byte the original), after it the adopted database with exactly the Go
 * system's answers. Then adopt completes, and the Go files are in go-original/.
 */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct ak_point {
    const char *spec;
    bool committed; /* the point comes after ADOPT_DONE is durable */
} ak_point;

static const ak_point ak_points[] = {
    {"adopt-outputs-written", false}, {"adopt-done-written", true}, {"adopt-original-moved:1", true},
    {"adopt-original-moved:2", true}, {"adopt-swapped", true},      {"adopt-finished", true},
};

static bool ak_is_dir(const char *root, const char *name) {
    char p[T_PATH_MAX];
    struct stat st;
    return stat(t_pathf(p, "%s/%s", root, name), &st) == 0 && S_ISDIR(st.st_mode);
}

/* Runs fn(root, arg) in a child process; true when it exited 0. */
static bool ak_in_subprocess(bool (*fn)(const char *, const ak_point *), const char *root, const ak_point *pt) {
    int status = 0, pid;
    fflush(NULL);
    pid = t_fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        bool ok = fn(root, pt);
        fflush(NULL);
        _exit(ok ? 0 : 1);
    }
    return t_wait(pid, &status) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool ak_adopt(const char *root) {
    bitgask_report *r = NULL;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_adopt(root, NULL, &r, &err);
    if (s != BITGASK_OK)
        t_note("adopt %s: %s: %s", root, bitgask_status_str(s), bitgask_error_message(err));
    bitgask_error_free(err);
    bitgask_report_free(r);
    return s == BITGASK_OK;
}

/* The adopted state: open works and reads the Go system's answers; nothing staged is left. */
static bool ak_adopted(const char *root, const char *when) {
    char p[T_PATH_MAX];
    bitgask_db *db = t_open(root, NULL);
    bool ok = db != NULL && t_go_dir_adopted(db);
    ok = (db == NULL || t_close(db)) && ok;
    if (!ok)
        t_note("%s: the adopted database does not read the Go system's answers", when);
    if (ak_is_dir(root, "adopt.tmp") || !t_file_exists(t_pathf(p, "%s/go-original/data/000001.data", root)) ||
        !ak_is_dir(root, "go-original/merge.tmp")) {
        t_note("%s: adopt.tmp/ left, or the Go files are not all in go-original/", when);
        ok = false;
    }
    return ok;
}

/* After the kill, open first: the Go directory refused and untouched, or the adopted one. */
static bool ak_open_first(const char *root, const ak_point *pt) {
    char p[T_PATH_MAX];
    bitgask_db *db = NULL;
    bitgask_error *err = NULL;
    bitgask_status s = bitgask_open(root, NULL, &db, &err);
    bitgask_error_free(err);
    if (s == BITGASK_OK) {
        if (!t_close(db) || !pt->committed) {
            t_note("%s: opened before the commit point", pt->spec);
            return false;
        }
        return ak_adopted(root, pt->spec);
    }
    if (s != BITGASK_E_FORMAT_VERSION || pt->committed) {
        t_note("%s: open after the kill: %s", pt->spec, bitgask_status_str(s));
        return false;
    }
    if (ak_is_dir(root, "adopt.tmp") || ak_is_dir(root, "go-original") || !ak_is_dir(root, "merge.tmp") ||
        t_file_size(t_pathf(p, "%s/data/000001.data", root)) <= 0) {
        t_note("%s: the Go directory is not as it was after a refused open", pt->spec);
        return false;
    }
    return ak_adopt(root) && ak_adopted(root, pt->spec);
}

/* After the kill, adopt again: it finishes (or redoes) the conversion. */
static bool ak_adopt_again(const char *root, const ak_point *pt) {
    return ak_adopt(root) && ak_adopted(root, pt->spec) && ak_adopt(root) && ak_adopted(root, pt->spec);
}

static void ak_sweep(bool open_first) {
    size_t i;
    unsetenv("BITGASK_KILL_POINT"); /* only the child may have it */
    for (i = 0; i < sizeof ak_points / sizeof ak_points[0]; i++) {
        const ak_point *pt = &ak_points[i];
        const char *root = t_tmpdir();
        int status = 0, pid;
        CHECK(root && t_go_dir(root, true));
        fflush(NULL);
        pid = t_fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            alarm(60);
            if (setenv("BITGASK_KILL_POINT", pt->spec, 1) != 0)
                _exit(10);
            _exit(ak_adopt(root) ? 0 : 11);
        }
        CHECK(t_wait(pid, &status));
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: the child was not killed (status 0x%x)",
                  pt->spec, (unsigned)status);
        CHECK_MSG(ak_in_subprocess(open_first ? ak_open_first : ak_adopt_again, root, pt), "%s (%s)", pt->spec,
                  open_first ? "open first" : "adopt again");
    }
}

TEST(adopt_killed_at_every_step_then_opened_is_go_or_adopted) {
    ak_sweep(true);
}

TEST(adopt_killed_at_every_step_then_adopted_again_is_adopted) {
    ak_sweep(false);
}
