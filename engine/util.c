/* Errors, random numbers, clocks and arenas. */
#include "config.h"
#include "internal.h"
#include "fileio.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ml_fail(MlError *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(Rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint32_t rng_below(Rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)(uint32_t)(rng_u64(r) >> 32) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = -n % n;
        while (lo < t) {
            m = (uint64_t)(uint32_t)(rng_u64(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

float rng_normal(Rng *r)
{
    /* Box-Muller; one value per call keeps the stream simple to reason about. */
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

double ml_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *ml_escape(char *out, size_t n, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && s[i] && n > 0; i++) {
        unsigned char c = (unsigned char)s[i], c1 = i + 1 < len ? (unsigned char)s[i + 1] : 0;
        int c1_control = c == 0xC2 && c1 >= 0x80 && c1 <= 0x9F; /* U+0080..U+009F in UTF-8 */
        if (c < 0x20 || c == 0x7F || c1_control) {
            if (o + 4 >= n) break;
            snprintf(out + o, n - o, "\\x%02x", c1_control ? c1 : c);
            o += 4;
            i += c1_control;
        } else {
            if (o + 1 >= n) break;
            out[o++] = (char)c;
        }
    }
    if (n > 0) out[o < n ? o : n - 1] = '\0';
    return out;
}

double ml_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

float *arena_alloc_floats(size_t n)
{
    void *p = NULL;
    size_t bytes = round_up(n ? n : 1, ML_ALIGN_FLOATS) * sizeof(float);
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}

void arena_free(float *p) { free(p); }

void init_uniform(float *w, size_t n, float bound, Rng *r)
{
    for (size_t i = 0; i < n; i++) w[i] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
}

void init_normal(float *w, size_t n, float std, Rng *r)
{
    for (size_t i = 0; i < n; i++) w[i] = std * rng_normal(r);
}

void init_const(float *w, size_t n, float v)
{
    for (size_t i = 0; i < n; i++) w[i] = v;
}

void format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) snprintf(buf, n, "--");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%.0fh%02dm", floor(s / 3600), (int)(fmod(s, 3600) / 60));
}
