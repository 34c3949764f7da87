/* Runs a fuzz target over the files of a directory once each, without libFuzzer: make check
 * replays the seed corpora (and every input a fuzzer once broke the engine with) through the
 * targets in any build, the sanitizer build included.
 * Usage: replay_NAME [DIR...]; without arguments, $top_srcdir/tests/fuzz/seeds/NAME. */
#include "config.h"
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    FUZZ_ASSERT(buf != NULL);
    for (size_t k; (k = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) {
            buf = realloc(buf, cap *= 2);
            FUZZ_ASSERT(buf != NULL);
        }
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int replay_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (replay_file(path) < 0) rc = -1;
        else ++*count;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int count = 0, rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            if (replay_dir(argv[i], &count) < 0) rc = 1;
    } else {
        const char *top = getenv("top_srcdir");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/seeds/%s", top ? top : ".", FUZZ_NAME);
        if (replay_dir(dir, &count) < 0) rc = 1;
    }
    if (count == 0) {
        fprintf(stderr, "no inputs replayed\n");
        return 1;
    }
    printf("%s: %d inputs replayed\n", FUZZ_NAME, count);
    return rc;
}
