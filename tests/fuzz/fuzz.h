/* Shared by the fuzz targets of tests/fuzz: libFuzzer's entry point, and the checks every target
 * makes on an engine error. A broken promise aborts, so libFuzzer keeps the input. */
#ifndef MADLAB_FUZZ_H
#define MADLAB_FUZZ_H

#include "madlab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* The input as a C string (parsers read text up to its first NUL). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_ASSERT(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A control character (C0, DEL, or C1 in UTF-8) at s, which a terminal might act on. */
static inline int fuzz_is_control(const char *s)
{
    unsigned char c = (unsigned char)s[0], c1 = c ? (unsigned char)s[1] : 0;
    return c < 0x20 || c == 0x7F || (c == 0xC2 && c1 >= 0x80 && c1 <= 0x9F);
}

/* An engine error is one non-empty line that starts with the place it names; with
 * quoted_escaped, the text it quotes from the input carries no control character. */
static inline void fuzz_check_error(const MlError *e, const char *where, int quoted_escaped)
{
    size_t n = strnlen(e->msg, sizeof e->msg);
    FUZZ_ASSERT(n > 0 && n < sizeof e->msg);
    FUZZ_ASSERT(strchr(e->msg, '\n') == NULL);
    FUZZ_ASSERT(strncmp(e->msg, where, strlen(where)) == 0);
    if (quoted_escaped)
        for (size_t i = 0; i < n; i++) FUZZ_ASSERT(!fuzz_is_control(e->msg + i));
}

#endif
