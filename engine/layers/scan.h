/* Small vector helpers shared by the linear recurrences (gla.c, linear_attention.c). At -O2 GCC
 * vectorises only loops whose trip count needs no remainder, so each loop runs in steps of
 * SC_VL lanes and finishes the rest one at a time; sums are trees, since a single running sum is
 * a chain of dependent adds that strict IEEE order cannot reorder. */
#ifndef MADLAB_SCAN_H
#define MADLAB_SCAN_H

#include "internal.h"

#define SC_VL 16

/* Sigmoid through the vectorisable exp: 0 far below, 1 far above, no overflow. */
static inline float fsigmoid(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

/* log x for normal x > 0: Cephes' logf polynomial on the mantissa, branch-free so that loops
 * of it vectorise (libm's logf does not, and sqrtf does not without -fno-math-errno). */
static inline float sc_logf(float x)
{
    union { float f; uint32_t u; } b = {.f = x};
    int e = (int)((b.u >> 23) & 0xffu) - 127;
    b.u = (b.u & 0x007fffffu) | 0x3f800000u; /* mantissa in [1, 2) */
    float m = b.f;
    int big = m > 1.41421356f; /* to [sqrt(1/2), sqrt(2)) */
    m = big ? 0.5f * m : m;
    float ef = (float)(e + big), f = m - 1.0f, z = f * f;
    float y = 7.0376836292e-2f;
    y = FMA(y, f, -1.1514610310e-1f);
    y = FMA(y, f, 1.1676998740e-1f);
    y = FMA(y, f, -1.2420140846e-1f);
    y = FMA(y, f, 1.4249322787e-1f);
    y = FMA(y, f, -1.6668057665e-1f);
    y = FMA(y, f, 2.0000714765e-1f);
    y = FMA(y, f, -2.4999993993e-1f);
    y = FMA(y, f, 3.3333331174e-1f);
    y = y * f * z;
    y = FMA(-2.12194440e-4f, ef, y);
    y = FMA(-0.5f, z, y);
    return FMA(0.693359375f, ef, f + y);
}

/* log(1 + x) for x > -1, accurate for small x too: the rounding of 1 + x is undone by the
 * factor x / (u - 1) (Goldberg's form), so loops of it vectorise where libm's log1pf does not.
 * The division's result is used on every path (a division only on some would keep the loop
 * scalar under strict IEEE traps); where u == 1 the log is exactly 0 and x is added instead. */
static inline float sc_log1pf(float x)
{
    float u = 1.0f + x, um = u - 1.0f;
    float l = sc_logf(u) * (x / (um == 0.0f ? 1.0f : um));
    return l + (u == 1.0f ? x : 0.0f);
}

/* exp(x) - 1 for x <= 0, accurate near 0 by the same device (Kahan's form): (u - 1) x / log u
 * with u = exp(x); x itself where u rounds to 1, -1 where u is 0. */
static inline float sc_expm1f_neg(float x)
{
    float u = fast_expf(x), um = u - 1.0f;
    float lu = sc_logf(u + (u == 0.0f ? 1.0f : 0.0f)); /* exactly 0 where u is 0 or 1 */
    float lg = lu + (u == 1.0f ? 1.0f : 0.0f) + (u == 0.0f ? x : 0.0f);
    float l = um * (x / lg);
    return l + (u == 1.0f ? x : 0.0f);
}

/* log(1 + exp(x)) given e = exp(x), x itself above 20 (where the difference is below float
 * resolution). Both sides are computed and one is kept by a 0/1 factor, exactly: a branch would
 * keep the loop scalar. Callers that also want softplus' = sigmoid(x) = e / (1 + e) pass the
 * same e. */
static inline float sc_softplus_of_exp(float x, float e)
{
    float s = sc_log1pf(e), big = x > 20.0f ? 1.0f : 0.0f;
    return s * (1.0f - big) + x * big;
}

static inline float sc_softplusf(float x) { return sc_softplus_of_exp(x, fast_expf(x)); }

/* sum_i a[i] b[i], i < n */
static inline float sc_dot(const float *restrict a, const float *restrict b, int n)
{
    float acc[8] = {0}, c[4];
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] = FMA(a[i + k], b[i + k], acc[k]);
    for (int k = 0; i + k < n; k++) acc[k] = FMA(a[i + k], b[i + k], acc[k]);
    for (int k = 0; k < 4; k++) c[k] = acc[k] + acc[k + 4];
    return (c[0] + c[2]) + (c[1] + c[3]);
}

/* sum of p[j] over 16 lanes, as a tree */
static inline float sc_sum16(const float *restrict p)
{
    float c[8], e[4];
    for (int k = 0; k < 8; k++) c[k] = p[k] + p[k + 8];
    for (int k = 0; k < 4; k++) e[k] = c[k] + c[k + 4];
    return (e[0] + e[2]) + (e[1] + e[3]);
}

/* sum of a[j] b[j] over 16 lanes */
static inline float sc_dot16(const float *restrict a, const float *restrict b)
{
    float p[16], c[8], e[4];
    for (int k = 0; k < 16; k++) p[k] = a[k] * b[k];
    for (int k = 0; k < 8; k++) c[k] = p[k] + p[k + 8];
    for (int k = 0; k < 4; k++) e[k] = c[k] + c[k + 4];
    return (e[0] + e[2]) + (e[1] + e[3]);
}

/* y += s x, n entries */
static inline void sc_axpy(float *restrict y, float s, const float *restrict x, int n)
{
    int i = 0;
    for (; i + SC_VL <= n; i += SC_VL)
        for (int k = 0; k < SC_VL; k++) y[i + k] = FMA(s, x[i + k], y[i + k]);
    for (; i < n; i++) y[i] = FMA(s, x[i], y[i]);
}

/* y = a * y + s x, n entries (a decayed state row plus a rank-one term) */
static inline void sc_decay_axpy(float *restrict y, const float *restrict a, float s,
                                 const float *restrict x, int n)
{
    int i = 0;
    for (; i + SC_VL <= n; i += SC_VL)
        for (int k = 0; k < SC_VL; k++) y[i + k] = FMA(a[i + k], y[i + k], s * x[i + k]);
    for (; i < n; i++) y[i] = FMA(a[i], y[i], s * x[i]);
}

#endif
