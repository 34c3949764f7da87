/* Exact causal long convolutions y[t] = sum_{s<=t} h[t-s] u[s] (+ D u[t]) over whole sequences,
 * forward and backward, for Hyena's implicit filters.
 *
 * Two paths compute the same thing: a direct product (L^2/2 multiply-adds per sequence, loops
 * that vectorise) and FFTW (real transforms of size N >= 2L-1, so the circular convolution is
 * the linear one). Which is faster depends on L; lc_choose() picks by a threshold measured on
 * this code (see LC_DIRECT_MAX). FFTW plans are cached by size under a mutex, because FFTW's
 * planner is not thread-safe; executing a plan on new arrays is, so the pool threads share them.
 *
 * Data is channel-major: channel c of sequence b is the L floats at x + c*cs + b*L. Work is
 * split over channels (each task takes every sequence of its channels), so the filter's
 * spectrum is computed once per channel and its gradient is summed without sharing. */
#include "config.h"
#include "internal.h"

#include <fftw3.h>
#include <pthread.h>
#include <string.h>

/* Up to this length the direct product beats FFTW on this code (measured, see the commit that
 * introduced it: direct wins at 128, FFT from 256 on). */
#define LC_DIRECT_MAX 160
#define NV 4            /* vectors of VCH outputs per block of the direct path */
#define PADF (NV * VCH) /* zeros around the direct path's copies */

typedef struct {
    int N;
    fftwf_plan r2c, c2r;
} PlanEntry;

#define LC_MAX_PLANS 32
static PlanEntry plans[LC_MAX_PLANS];
static int n_plans;
static pthread_mutex_t plan_mu = PTHREAD_MUTEX_INITIALIZER;

/* Smallest 2^a 3^b 5^c >= n: sizes FFTW handles fastest. */
static int good_size(int n)
{
    for (int m = n > 1 ? n : 1;; m++) {
        int r = m;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        if (r == 1) return m;
    }
}

static int fft_size(int L) { return good_size(2 * L - 1 > 2 ? 2 * L - 1 : 2); }

LcMode lc_choose(int L) { return L <= LC_DIRECT_MAX ? LC_DIRECT : LC_FFT; }

static const PlanEntry *plan_get(int N)
{
    const PlanEntry *e = NULL;
    pthread_mutex_lock(&plan_mu);
    for (int i = 0; i < n_plans; i++)
        if (plans[i].N == N) e = &plans[i];
    if (!e && n_plans < LC_MAX_PLANS) {
        /* Planned on SIMD-aligned arrays; callers pass 64-byte aligned ones. */
        float *in = fftwf_malloc(sizeof(float) * (size_t)(N + 2));
        fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(N / 2 + 1));
        if (in && out) {
            unsigned flags = (N >= 64 ? FFTW_MEASURE : FFTW_ESTIMATE) | FFTW_DESTROY_INPUT;
            PlanEntry *p = &plans[n_plans];
            p->N = N;
            p->r2c = fftwf_plan_dft_r2c_1d(N, in, out, flags);
            p->c2r = fftwf_plan_dft_c2r_1d(N, out, in, flags);
            if (p->r2c && p->c2r) e = p, n_plans++;
        }
        fftwf_free(in);
        fftwf_free(out);
    }
    pthread_mutex_unlock(&plan_mu);
    return e;
}

int lc_prepare(int L)
{
    if (L < 1) return 0;
    return lc_choose(L) == LC_FFT && !plan_get(fft_size(L)) ? -1 : 0;
}


/* Per-thread floats: five spectra and one real buffer of N (also the direct path's padded
 * copies). */
static size_t spec_floats(int L)
{
    size_t N = (size_t)fft_size(L), a = N + 2, b = (size_t)L + 2 * PADF;
    return r16(a > b ? a : b);
}
/* Six spectra (or pads), then three rows of L for the gated streams of one sequence. */
size_t lc_work_floats(int L) { return 6 * spec_floats(L) + 3 * r16((size_t)L); }

/* ---------------- direct path ---------------- */
/* Blocks of NV x VCH outputs, each a sum of taps w[k] x[i +- k]: the block's partial sums stay in
 * registers while the taps stream past (one load per multiply-add, no stores inside the loop).
 * The sequences are copied into zero-padded buffers, so a tap that falls off the sequence reads a
 * zero and the taps' edges need no special cases; the tap ranges of the block's vectors differ
 * (the causal triangle), so each range updates only the vectors that need it. */


/* One vector of VCH floats (a GCC/Clang extension; plain loops left the partial sums in memory) */
typedef float Vec __attribute__((vector_size(VCH * sizeof(float))));
static inline Vec vload(const float *p)
{
    Vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* a[v] += sum_{k0<=k<k1} w[k] x[v*VCH + sk*k .. +VCH), for vectors va <= v < vb */
#define TAPS(va, vb)                                                                              \
    for (int k = k0; k < k1; k++) {                                                               \
        Vec wk = (Vec){0} + w[k];                                                                 \
        const float *xk = x + sk * k;                                                             \
        if (va <= 0 && 0 < vb) a0 += wk * vload(xk);                                              \
        if (va <= 1 && 1 < vb) a1 += wk * vload(xk + VCH);                                        \
        if (va <= 2 && 2 < vb) a2 += wk * vload(xk + 2 * VCH);                                    \
        if (va <= 3 && 3 < vb) a3 += wk * vload(xk + 3 * VCH);                                    \
    }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The block's outputs out[v*VCH + i] = sum_k w[k] x[v*VCH + i + sk*k], vector v over the taps
 * k < n[v]; n is increasing (conv: sk = -1) or decreasing (corr: sk = +1) in v. */
static void block(const float *w, const float *x, int sk, const int n[NV], float *out)
{
    Vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int k0, k1;
    if (sk < 0) {
        k0 = 0, k1 = n[0];
        TAPS(0, 4)
        k0 = n[0], k1 = n[1];
        TAPS(1, 4)
        k0 = n[1], k1 = n[2];
        TAPS(2, 4)
        k0 = n[2], k1 = n[3];
        TAPS(3, 4)
    } else {
        k0 = 0, k1 = n[3];
        TAPS(0, 4)
        k0 = n[3], k1 = n[2];
        TAPS(0, 3)
        k0 = n[2], k1 = n[1];
        TAPS(0, 2)
        k0 = n[1], k1 = n[0];
        TAPS(0, 1)
    }
    memcpy(out, &a0, sizeof a0);
    memcpy(out + VCH, &a1, sizeof a1);
    memcpy(out + 2 * VCH, &a2, sizeof a2);
    memcpy(out + 3 * VCH, &a3, sizeof a3);
}
#undef TAPS

/* Causal: out[t - t0] = sum_{k<=t} w[k] x[t-k] for t0 <= t < t0 + NV*VCH (x zero before 0 and
 * from L on); vector v needs the taps k < t0 + (v+1) VCH, up to L. */
static void conv_block(const float *w, const float *x, int L, int t0, float *out)
{
    int n[NV];
    for (int v = 0; v < NV; v++) n[v] = clampi(t0 + (v + 1) * VCH, 0, L);
    block(w, x + t0, -1, n, out);
}

/* Anticausal: out[s - s0] = sum_{k<L-s} w[k] x[s+k] for s0 <= s < s0 + NV*VCH (x zero from L
 * on); vector v needs the taps k < L - s0 - v VCH. */
static void corr_block(const float *w, const float *x, int L, int s0, float *out)
{
    int n[NV];
    for (int v = 0; v < NV; v++) n[v] = clampi(L - s0 - v * VCH, 0, L);
    block(w, x + s0, 1, n, out);
}

/* pad: L + 2 PADF floats. */
static void direct_fwd(const float *restrict u, const float *restrict h, float D, int L,
                       float *restrict y, float *restrict pad)
{
    memset(pad, 0, sizeof(float) * PADF);
    memcpy(pad + PADF, u, sizeof(float) * (size_t)L);
    memset(pad + PADF + L, 0, sizeof(float) * PADF);
    float a[NV * VCH];
    for (int t0 = 0; t0 < L; t0 += NV * VCH) {
        conv_block(h, pad + PADF, L, t0, a);
        int n = L - t0 < NV * VCH ? L - t0 : NV * VCH;
        for (int i = 0; i < n; i++) y[t0 + i] = FMA(D, u[t0 + i], a[i]);
    }
}

/* du[s] = sum_{t>=s} h[t-s] dy[t] + D dy[s]; dh[k] += sum_s dy[s+k] u[s]. */
static void direct_bwd(const float *restrict u, const float *restrict h, float D,
                       const float *restrict dy, int L, float *restrict du, float *restrict dh,
                       float *restrict pad)
{
    memcpy(pad, dy, sizeof(float) * (size_t)L);
    memset(pad + L, 0, sizeof(float) * PADF); /* pad[L..L+PADF) are 0 */
    float a[NV * VCH];
    for (int s0 = 0; s0 < L; s0 += NV * VCH) {
        int n = L - s0 < NV * VCH ? L - s0 : NV * VCH;
        if (du) {
            corr_block(h, pad, L, s0, a);
            for (int i = 0; i < n; i++) du[s0 + i] = FMA(D, dy[s0 + i], a[i]);
        }
        corr_block(u, pad, L, s0, a);
        for (int i = 0; i < n; i++) dh[s0 + i] += a[i];
    }
}

/* ---------------- jobs over channels ---------------- */

typedef struct {
    LcMode mode;
    int B, L, N;
    size_t cs;
    const PlanEntry *plan;
    const float *u, *h, *D, *dy;
    float *y, *du, *dh, *dD, *work;
    size_t work_stride;
    const LcGates *gates;
} LcJob;

/* Complex product a*b (conj_a: conj(a)*b) into out, over n bins. */
static void cmul(const float *restrict a, const float *restrict b, float *restrict out, int n,
                 int conj_a)
{
    float sg = conj_a ? -1.0f : 1.0f;
    for (int i = 0; i < n; i++) {
        float ar = a[2 * i], ai = sg * a[2 * i + 1], br = b[2 * i], bi = b[2 * i + 1];
        out[2 * i] = ar * br - ai * bi;
        out[2 * i + 1] = ar * bi + ai * br;
    }
}

static void cmul_acc(const float *restrict a, const float *restrict b, float *restrict out, int n)
{
    for (int i = 0; i < n; i++) { /* out += conj(a) * b */
        float ar = a[2 * i], ai = -a[2 * i + 1], br = b[2 * i], bi = b[2 * i + 1];
        out[2 * i] += ar * br - ai * bi;
        out[2 * i + 1] += ar * bi + ai * br;
    }
}

/* Real transform of x (L floats) zero-padded to N. */
static void rfft_pad(const LcJob *j, const float *x, float *pad, float *spec)
{
    memcpy(pad, x, sizeof(float) * (size_t)j->L);
    memset(pad + j->L, 0, sizeof(float) * (size_t)(j->N - j->L));
    fftwf_execute_dft_r2c(j->plan->r2c, pad, (fftwf_complex *)spec);
}

static void fwd_channels(void *ctx, size_t c0, size_t c1, int tid)
{
    const LcJob *j = ctx;
    int L = j->L, N = j->N, nb = N / 2 + 1;
    float *w = j->work + (size_t)tid * j->work_stride;
    size_t sp = spec_floats(L);
    float *H = w, *U = w + sp, *Y = w + 2 * sp, *pad = w + 3 * sp, *ab = w + 6 * sp;
    float inv = 1.0f / (float)N;
    const LcGates *q = j->gates;
    for (size_t c = c0; c < c1; c++) {
        const float *h = j->h + c * L;
        float D = j->D ? j->D[c] : 0.0f;
        if (j->mode == LC_FFT) rfft_pad(j, h, pad, H);
        for (int b = 0; b < j->B; b++) {
            size_t off = c * j->cs + (size_t)b * L;
            const float *u = q ? ab : j->u + off;
            float *y = j->y + off;
            if (q) vmul(q->a + off, q->b + off, ab, (size_t)L);
            if (j->mode == LC_DIRECT) {
                direct_fwd(u, h, D, L, y, pad);
            } else {
                rfft_pad(j, u, pad, U);
                cmul(H, U, Y, nb, 0);
                fftwf_execute_dft_c2r(j->plan->c2r, (fftwf_complex *)Y, pad);
                for (int t = 0; t < L; t++) y[t] = FMA(D, u[t], pad[t] * inv);
            }
            if (q) vmul(y, q->x0 + off, q->g + off, (size_t)L);
        }
    }
}

static void bwd_channels(void *ctx, size_t c0, size_t c1, int tid)
{
    const LcJob *j = ctx;
    int L = j->L, N = j->N, nb = N / 2 + 1;
    float *w = j->work + (size_t)tid * j->work_stride;
    size_t sp = spec_floats(L);
    float *H = w, *U = w + sp, *G = w + 2 * sp, *T = w + 3 * sp, *acc = w + 4 * sp,
          *pad = w + 5 * sp;
    /* gated: u = a * b, dy = dg * x0 and du, one sequence at a time */
    float *ab = w + 6 * sp, *gy = ab + r16((size_t)L), *gu = gy + r16((size_t)L);
    float inv = 1.0f / (float)N;
    const LcGates *q = j->gates;
    for (size_t c = c0; c < c1; c++) {
        const float *h = j->h + c * L;
        float D = j->D ? j->D[c] : 0.0f, dD = 0;
        float *dh = j->dh + c * L;
        if (j->mode == LC_FFT) {
            rfft_pad(j, h, pad, H);
            memset(acc, 0, sizeof(float) * 2 * (size_t)nb);
        }
        for (int b = 0; b < j->B; b++) {
            size_t off = c * j->cs + (size_t)b * L;
            const float *u = q ? ab : j->u + off, *dy = q ? gy : j->dy + off;
            float *du = q ? gu : j->du ? j->du + off : NULL;
            if (q) {
                vmul(q->dg + off, q->y + off, q->dx0 + off, (size_t)L);
                vmul(q->dg + off, q->x0 + off, gy, (size_t)L);
                vmul(q->a + off, q->b + off, ab, (size_t)L);
            }
            if (j->D) dD += vdot(dy, u, (size_t)L);
            if (j->mode == LC_DIRECT) {
                direct_bwd(u, h, D, dy, L, du, dh, pad);
            } else {
                rfft_pad(j, dy, pad, G);
                rfft_pad(j, u, pad, U);
                cmul_acc(U, G, acc, nb); /* correlation of dy with u: the filter's gradient */
                if (du) {
                    cmul(H, G, T, nb, 1); /* correlation of dy with h */
                    fftwf_execute_dft_c2r(j->plan->c2r, (fftwf_complex *)T, pad);
                    for (int s = 0; s < L; s++) du[s] = FMA(D, dy[s], pad[s] * inv);
                }
            }
            if (q) {
                vmul(gu, q->b + off, q->da + off, (size_t)L);
                vmul(gu, q->a + off, q->db + off, (size_t)L);
            }
        }
        if (j->mode == LC_FFT) {
            fftwf_execute_dft_c2r(j->plan->c2r, (fftwf_complex *)acc, pad);
            for (int k = 0; k < L; k++) dh[k] += pad[k] * inv;
        }
        if (j->dD) j->dD[c] += dD;
    }
}

static int job_setup(LcJob *j, LcMode mode, int L)
{
    j->mode = mode == LC_AUTO ? lc_choose(L) : mode;
    j->N = fft_size(L);
    j->work_stride = lc_work_floats(L);
    j->plan = NULL;
    if (j->mode == LC_FFT && !(j->plan = plan_get(j->N))) j->mode = LC_DIRECT; /* no plan: exact anyway */
    return 0;
}

void longconv_fwd(LcMode mode, int nc, int B, int L, size_t cs, const float *u, const float *h,
                  const float *D, float *y, float *work, const LcGates *gates)
{
    LcJob j = {.B = B, .L = L, .cs = cs, .u = u, .h = h, .D = D, .y = y, .work = work,
               .gates = gates};
    job_setup(&j, mode, L);
    pool_for((size_t)nc, fwd_channels, &j);
}

void longconv_bwd(LcMode mode, int nc, int B, int L, size_t cs, const float *u, const float *h,
                  const float *D, const float *dy, float *du, float *dh, float *dD, float *work,
                  const LcGates *gates)
{
    LcJob j = {.B = B, .L = L, .cs = cs, .u = u, .h = h, .D = D, .dy = dy, .du = du, .dh = dh,
               .dD = dD, .work = work, .gates = gates};
    job_setup(&j, mode, L);
    pool_for((size_t)nc, bwd_channels, &j);
}

double longconv_flops(int L)
{
    if (lc_choose(L) == LC_DIRECT) return (double)L * (L + 1); /* L(L+1)/2 multiply-adds */
    /* Per sequence: one forward and one inverse real FFT of size N (about 2.5 N log2 N each, the
     * usual count) and N/2+1 complex products; the filter's transform is shared by the batch. */
    double N = fft_size(L);
    return 2 * 2.5 * N * log2(N) + 6 * (N / 2 + 1);
}
