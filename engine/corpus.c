/* Text corpora for the text task: a file mapped read-only into memory, shared by every run of the
 * process (a second open of the same path returns the same mapping), so a run never copies the
 * corpus; batches are read from it where it lies.
 *
 * A gzip file (the default corpus, dict-gcide's dictzip, is one) cannot be mapped as text: it is
 * inflated once per process into memory and shared the same way.
 *
 * The split is fixed by the bytes alone: the last tenth validates, the rest trains. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "madlab.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_OPEN 16 /* distinct corpora one process keeps */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static Corpus open_corpora[MAX_OPEN];
static char open_paths[MAX_OPEN][4096];
static int n_open;

size_t corpus_min_bytes(int seq_len)
{
    /* each part holds at least one window of seq_len + 1 bytes (inputs, then the next byte) */
    return 10 * ((size_t)seq_len + 1);
}

const char *corpus_default_path(void) { return CORPUS_DEFAULT_PATH; }

/* gzip-compressed: inflate the whole file into memory. */
static int inflate_file(const char *path, uint8_t **out, size_t *size, MlError *err)
{
    gzFile g = gzopen(path, "rb");
    if (!g) return ml_fail(err, "cannot read corpus %s: %s", path, strerror(errno ? errno : ENOMEM));
    size_t cap = (size_t)1 << 24, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            gzclose(g);
            return ml_fail(err, "out of memory inflating corpus %s", path);
        }
        if (n == cap) {
            uint8_t *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = b;
            cap *= 2;
        }
        unsigned want = cap - n > (1u << 30) ? 1u << 30 : (unsigned)(cap - n);
        int k = gzread(g, buf + n, want);
        if (k < 0) {
            int e;
            const char *msg = gzerror(g, &e);
            ml_fail(err, "corpus %s is not a readable gzip file: %s", path, msg);
            free(buf);
            gzclose(g);
            return -1;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    gzclose(g);
    *out = buf;
    *size = n;
    return 0;
}

static int load(const char *path, int is_default, Corpus *c, MlError *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (is_default && errno == ENOENT)
            return ml_fail(err, "the default text corpus %s is not installed: install the Debian "
                           "package %s (apt-get install %s) or give --corpus FILE",
                           path, CORPUS_DEFAULT_PACKAGE, CORPUS_DEFAULT_PACKAGE);
        return ml_fail(err, "cannot open corpus %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ml_fail(err, "corpus %s is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return ml_fail(err, "corpus %s is empty", path);
    }
    unsigned char magic[2] = {0, 0};
    ssize_t got = read(fd, magic, 2);
    if (got < 0) {
        int e = errno;
        close(fd);
        return ml_fail(err, "cannot read corpus %s: %s", path, strerror(e));
    }
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        close(fd);
        uint8_t *buf = NULL;
        size_t n = 0;
        if (inflate_file(path, &buf, &n, err) != 0) return -1;
        if (n == 0) {
            free(buf);
            return ml_fail(err, "corpus %s is empty once decompressed", path);
        }
        c->bytes = buf;
        c->size = n;
    } else {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        int e = errno;
        close(fd);
        if (p == MAP_FAILED) return ml_fail(err, "cannot map corpus %s: %s", path, strerror(e));
        c->bytes = p;
        c->size = (size_t)st.st_size;
    }
    c->split = c->size - c->size / 10;
    return 0;
}

const Corpus *corpus_open(const char *path, MlError *err)
{
    int is_default = !path || !*path;
    if (is_default) path = CORPUS_DEFAULT_PATH;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_open; i++)
        if (!strcmp(open_paths[i], path)) {
            pthread_mutex_unlock(&mu);
            return &open_corpora[i];
        }
    if (strlen(path) >= sizeof open_paths[0]) {
        pthread_mutex_unlock(&mu);
        ml_fail(err, "corpus path is too long: %.80s...", path);
        return NULL;
    }
    if (n_open == MAX_OPEN) {
        pthread_mutex_unlock(&mu);
        ml_fail(err, "corpus %s: one process reads at most %d corpora", path, MAX_OPEN);
        return NULL;
    }
    Corpus c = {0};
    if (load(path, is_default, &c, err) != 0) {
        pthread_mutex_unlock(&mu);
        return NULL;
    }
    snprintf(open_paths[n_open], sizeof open_paths[0], "%s", path);
    c.path = open_paths[n_open];
    open_corpora[n_open] = c;
    const Corpus *r = &open_corpora[n_open++];
    pthread_mutex_unlock(&mu);
    return r;
}

int corpus_check(const Corpus *c, int seq_len, MlError *err)
{
    size_t need = corpus_min_bytes(seq_len);
    if (c->size < need)
        return ml_fail(err, "corpus %s is too small: it has %zu bytes and windows of %d bytes need "
                       "at least %zu (a tenth of it validates)", c->path, c->size, seq_len + 1, need);
    return 0;
}
