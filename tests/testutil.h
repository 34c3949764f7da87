/* Shared by the Check suites: run one suite, exit non-zero on any failure. */
#ifndef MADLAB_TESTUTIL_H
#define MADLAB_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* How many temporaries of atomic_open for NAME are in DIR (".NAME.XXXXXX"); the last one's path
 * goes to found (when not NULL). */
static inline int count_temps(const char *dir, const char *name, char *found, size_t n)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, ".%s.", name);
    DIR *d = opendir(dir);
    if (!d) return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && strlen(e->d_name) == strlen(prefix) + 6) {
            count++;
            if (found) snprintf(found, n, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    return count;
}

/* For atomic_temp_open (engine/internal.h): creates the temporary as asked, then puts /dev/full
 * behind its descriptor, so every write to it fails with ENOSPC. */
static inline int open_temp_on_full_disk(const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags, mode);
    if (fd < 0) return fd;
    int full = open("/dev/full", O_WRONLY);
    if (full >= 0) {
        dup2(full, fd);
        close(full);
    }
    return fd;
}

#endif
