/* Files that are whole or absent, mkdir -p, and reading a small file whole: the one place that
 * writes files atomically, and the one place that opens files madlab reads.
 *
 * atomic_open creates a temporary beside the target, named ".NAME.XXXXXX" with a fresh random
 * suffix, with O_CREAT|O_EXCL|O_NOFOLLOW: it never opens what is already there, so a symlink
 * planted at a guessable name is not followed and two writers never share a temporary.
 * atomic_commit flushes, fsyncs, renames over the target and fsyncs the directory, so that
 * readers see the old file or the new one, never a part. A target that exists and is not a
 * regular file (a directory, a device such as /dev/null, a FIFO) is refused: renaming over it
 * would replace a device node when run as root. Two writers of one target each write a whole
 * file; the last rename wins. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

struct AtomicFile {
    FILE *fp;
    char *path, *tmp;
};

const char *io_error_text(int e) { return e == ENOSPC ? "disk full" : strerror(e); }

static int open_temp_default(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}
int (*atomic_temp_open)(const char *path, int flags, mode_t mode) = open_temp_default;

/* A suffix nobody can predict from outside; uniqueness comes from O_EXCL and retrying. */
static void random_suffix(char *out, int n)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    Rng r;
    rng_seed(&r, ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
                     (uintptr_t)&ts ^ (++counter * 0x9e3779b97f4a7c15ull));
    for (int i = 0; i < n; i++) out[i] = alphabet[rng_below(&r, sizeof alphabet - 1)];
    out[n] = '\0';
}

/* 0 if path is absent or a regular file (what a rename may replace), else -1 with why. */
static int replaceable(const char *path, MlError *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0;
    if (S_ISDIR(st.st_mode)) return ml_fail(err, "cannot write %s: it is a directory", path);
    return ml_fail(err, "cannot write %s: not a regular file (madlab replaces files whole, so it "
                        "does not write to devices or pipes)", path);
}

AtomicFile *atomic_open(const char *path, MlError *err)
{
    if (!path || !*path) {
        ml_fail(err, "no file name given");
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) {
        ml_fail(err, "cannot create %s: it names a directory", path);
        return NULL;
    }
    if (replaceable(path, err) != 0) return NULL;
    AtomicFile *f = calloc(1, sizeof *f);
    size_t dirlen = (size_t)(base - path), n = strlen(path) + 10;
    if (f) f->path = strdup(path);
    if (f) f->tmp = malloc(n);
    if (!f || !f->path || !f->tmp) {
        if (f) free(f->path), free(f->tmp);
        free(f);
        ml_fail(err, "%s: out of memory", path);
        return NULL;
    }
    int fd = -1, e = EEXIST;
    for (int attempt = 0; attempt < 100 && fd < 0 && e == EEXIST; attempt++) {
        char suffix[7];
        random_suffix(suffix, 6);
        snprintf(f->tmp, n, "%.*s.%s.%s", (int)dirlen, path, base, suffix);
        fd = atomic_temp_open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        e = fd < 0 ? errno : 0;
    }
    if (fd >= 0 && !(f->fp = fdopen(fd, "w"))) {
        e = errno;
        close(fd);
        unlink(f->tmp);
    }
    if (!f->fp) {
        ml_fail(err, "cannot create %s: %s", path, io_error_text(e));
        free(f->path);
        free(f->tmp);
        free(f);
        return NULL;
    }
    return f;
}

FILE *atomic_stream(AtomicFile *f) { return f ? f->fp : NULL; }

static void atomic_free(AtomicFile *f)
{
    free(f->path);
    free(f->tmp);
    free(f);
}

/* fsync of the directory makes the rename itself durable; best effort, as some file systems
 * refuse to sync a directory. */
static void sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else return;
    int dfd = open(dir, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

/* exclusive: put the file in place only if nothing is there (link, which fails with EEXIST),
 * returning 1 when something is; else replace (rename). */
static int commit(AtomicFile *f, int exclusive, MlError *err)
{
    if (!f) return ml_fail(err, "no file open");
    errno = 0;
    int e = 0, existed = 0;
    if (fflush(f->fp) != 0 || ferror(f->fp)) e = errno ? errno : EIO;
    /* EINVAL/ENOTSUP: the file system cannot sync (a pipe, some FUSE mounts): not an error */
    if (!e && fsync(fileno(f->fp)) != 0 && errno != EINVAL && errno != ENOTSUP) e = errno;
    if (fclose(f->fp) != 0 && !e) e = errno ? errno : EIO;
    f->fp = NULL;
    MlError why;
    if (!e && replaceable(f->path, &why) != 0) { /* it may have changed since atomic_open */
        unlink(f->tmp);
        if (err) *err = why;
        atomic_free(f);
        return -1;
    }
    if (!e && exclusive) {
        if (link(f->tmp, f->path) == 0) unlink(f->tmp);
        else if (errno == EEXIST) existed = 1;
        /* a file system without hard links: an ordinary replace */
        else if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS) e = errno;
        else exclusive = 0;
    }
    if (!e && !exclusive && rename(f->tmp, f->path) != 0) e = errno;
    if (e || existed) {
        unlink(f->tmp);
        if (e) ml_fail(err, "cannot write %s: %s", f->path, io_error_text(e));
        atomic_free(f);
        return e ? -1 : 1;
    }
    sync_dir_of(f->path);
    atomic_free(f);
    return 0;
}

int atomic_commit(AtomicFile *f, MlError *err) { return commit(f, 0, err); }
int atomic_commit_new(AtomicFile *f, MlError *err) { return commit(f, 1, err); }

int atomic_check(const char *path, MlError *err)
{
    AtomicFile *f = atomic_open(path, err);
    if (!f) return -1;
    atomic_abort(f);
    return 0;
}

void atomic_abort(AtomicFile *f)
{
    if (!f) return;
    if (f->fp) fclose(f->fp);
    unlink(f->tmp);
    atomic_free(f);
}

int atomic_write_text(const char *path, const char *text, MlError *err)
{
    AtomicFile *f = atomic_open(path, err);
    if (!f) return -1;
    (void)fputs(text, atomic_stream(f)); /* a failed write shows at commit */
    return atomic_commit(f, err);
}

int make_dirs(const char *dir, MlError *err)
{
    if (!dir || !*dir) return ml_fail(err, "no directory given");
    char part[4096];
    if (strlen(dir) >= sizeof part) return ml_fail(err, "%s: the path is too long", dir);
    snprintf(part, sizeof part, "%s", dir);
    for (char *q = part + 1;; q++) {
        if (*q != '/' && *q != '\0') continue;
        char c = *q;
        *q = '\0';
        if (mkdir(part, 0777) != 0 && errno != EEXIST)
            return ml_fail(err, "cannot create directory %s: %s", part, io_error_text(errno));
        *q = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ml_fail(err, "%s is not a directory", dir);
    return 0;
}

int file_open_regular(const char *path, int *missing, MlError *err)
{
    if (missing) *missing = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (missing) *missing = e == ENOENT;
        return ml_fail(err, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ml_fail(err, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ml_fail(err, "%s: not a regular file%s", path,
                       S_ISDIR(st.st_mode) ? " (a directory)" : "");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

char *file_read_small(const char *path, size_t max, int *missing, MlError *err)
{
    int fd = file_open_regular(path, missing, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        ml_fail(err, "%s: %s", path, strerror(e));
        return NULL;
    }
    char *buf = malloc(max + 1);
    errno = 0;
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int rerr = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (!buf) {
        ml_fail(err, "%s: out of memory", path);
        return NULL;
    }
    if (rerr) {
        free(buf);
        ml_fail(err, "%s: read error: %s", path, strerror(rerr));
        return NULL;
    }
    if (n > max) {
        free(buf);
        ml_fail(err, "%s: malformed: larger than %zu bytes", path, max);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        free(buf);
        ml_fail(err, "%s: malformed: contains a NUL byte", path);
        return NULL;
    }
    return buf;
}
