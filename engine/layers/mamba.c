/* Sequence mixer: Mamba (selective state space model), as the reference's mamba_simple:
 *
 *   [xp z] = x W_in                                   (no bias)
 *   xc     = causal depthwise conv of xp (kernel d_conv, with bias);  u = silu(xc)
 *   [dt B C] = u W_x                                   (dt_rank + 2 d_state columns)
 *   delta  = softplus(dt W_dt + b_dt)
 *   h_t    = exp(delta_t A) h_{t-1} + delta_t B_t u_t,  A = -exp(A_log)   (per channel, d_state)
 *   y_t    = C_t . h_t + D u_t
 *   out    = (y * silu(z)) W_out
 *
 * The projections are sgemms over all B*L rows; only the recurrence is a scan. The scan takes
 * SV channels at a time (one per vector lane, the state of d_state x SV in registers) along time,
 * O(L) per channel, parallel over sequences and channel blocks. Its backward recomputes the
 * block's states forward (into per-thread scratch) and then runs in reverse time with the
 * adjoint state. B_t and C_t are shared by all channels of a row, so the backward runs one
 * sequence per task and sums their gradients over channel blocks without races. */
#include "config.h"
#include "recurrent.h"
#include "scan.h"

#include <string.h>

enum { K_STATE, K_EXPAND, K_CONV };

#define SV 16         /* channels per scan block (vector lanes) */
#define MAX_STATE 16  /* d_state knob limit: the block's state lives on the stack */
#define TV 16         /* columns per vector of the thin products */

/* Columns of a thin product's packed operand, rounded up to whole vectors. */
static int thin_cols(int N) { return (N + TV - 1) / TV * TV; }

static const KnobDesc mamba_knobs[] = {
    {"d_state", 4, 1, MAX_STATE, "SSM state per inner channel", NULL},
    {"expand", 2, 1, 8, "inner width = expand x width", NULL},
    {"d_conv", 4, 1, 16, "causal depthwise convolution kernel length", NULL},
};

typedef struct {
    int B, L, d, E, N, R, K, P; /* P = R + 2N columns of x_proj */
    size_t rows;
} Geo;

static Geo geo(const LayerCfg *c, Dims dm)
{
    Geo g;
    g.B = dm.B;
    g.L = dm.L;
    g.d = c->width;
    g.N = c->knob[K_STATE];
    g.E = c->knob[K_EXPAND] * g.d;
    g.K = c->knob[K_CONV];
    g.R = (g.d + 15) / 16; /* dt_rank = ceil(width / 16) */
    g.P = g.R + 2 * g.N;
    g.rows = (size_t)g.B * g.L;
    return g;
}


/* Parameters, in order. conv_w is stored tap-major (K x E): tap k multiplies x[t - (K-1) + k],
 * so the convolution runs along contiguous channels. */
typedef struct { float *W_in, *conv_w, *conv_b, *W_x, *W_dt, *b_dt, *A_log, *D, *W_out; } Params;
typedef struct { size_t W_in, conv_w, conv_b, W_x, W_dt, b_dt, A_log, D, W_out, total; } ParMap;

static ParMap par_map(const Geo *g)
{
    size_t d = (size_t)g->d, E = (size_t)g->E;
    ParMap m;
    m.W_in = 0;
    m.conv_w = m.W_in + d * 2 * E;
    m.conv_b = m.conv_w + (size_t)g->K * E;
    m.W_x = m.conv_b + E;
    m.W_dt = m.W_x + E * (size_t)g->P;
    m.b_dt = m.W_dt + (size_t)g->R * E;
    m.A_log = m.b_dt + E;
    m.D = m.A_log + E * (size_t)g->N;
    m.W_out = m.D + E;
    m.total = m.W_out + E * d;
    return m;
}

static Params params_at(float *p, const Geo *g)
{
    ParMap m = par_map(g);
    return (Params){p + m.W_in, p + m.conv_w, p + m.conv_b, p + m.W_x, p + m.W_dt, p + m.b_dt,
                    p + m.A_log, p + m.D, p + m.W_out};
}

static size_t mamba_params(const LayerCfg *c)
{
    Geo g = geo(c, (Dims){1, 1, NULL});
    return par_map(&g).total;
}

/* acts: xz (rows x 2E), xc (conv output before silu, rows x E), dbc (rows x P), delta (rows x E),
 * dsp (softplus' at delta's pre-activation, rows x E: the forward has its exp at hand, the
 * backward would need an exp and a log to get it back from delta), ys (scan output with the D
 * skip, before the gate, rows x E), gate (ys * silu(z), rows x E). */
typedef struct { size_t xz, xc, dbc, delta, dsp, ys, gate, total; } ActMap;

static ActMap act_map(const Geo *g)
{
    ActMap m;
    size_t re = r16(g->rows * g->E);
    m.xz = 0;
    m.xc = m.xz + r16(g->rows * 2 * g->E);
    m.dbc = m.xc + re;
    m.delta = m.dbc + r16(g->rows * g->P);
    m.dsp = m.delta + re;
    m.ys = m.dsp + re;
    m.gate = m.ys + re;
    m.total = m.gate + re;
    return m;
}

/* scratch: u (rows x E), gbuf (rows x E: the gate's gradient, then d(dt_proj pre-activation)), du (rows x E), ddbc (rows x P), dxz (rows x 2E), then one slot per
 * thread: partial gradients of D (E), A (E x N), conv weights (K x E) and bias (E), which are
 * zeroed once per backward, then the scan's buffers for one sequence (see Slot). */
typedef struct { size_t u, gbuf, du, ddbc, dxz, pack, slots, slot, parts, total; } ScrMap;

static size_t hbuf_size(const Geo *g, int L) { return r16((size_t)(L + 1) * g->N * SV); }
static size_t abuf_size(const Geo *g, int L) { return r16((size_t)L * g->N * SV); }
static size_t acc_size(const Geo *g, int L) { return r16((size_t)L * 2 * g->N * SV); }

/* The thin products' packed operand: W_x (dbc = u W_x) or W_dt^T (its gradient's product). */
static size_t thin_pack_size(const Geo *g)
{
    size_t a = (size_t)g->E * thin_cols(g->P), b = (size_t)g->E * thin_cols(g->R);
    return a > b ? a : b;
}

static ScrMap scr_map(const Geo *g, size_t rows, int L)
{
    ScrMap m;
    size_t re = r16(rows * g->E);
    m.u = 0;
    m.gbuf = m.u + re;
    m.du = m.gbuf + re;
    m.ddbc = m.du + re;
    m.dxz = m.ddbc + r16(rows * g->P);
    m.pack = m.dxz + r16(rows * 2 * g->E);
    m.slots = m.pack + r16(thin_pack_size(g));
    m.parts = r16((size_t)g->E) * 2 + r16((size_t)g->E * g->N) + r16((size_t)g->K * g->E);
    m.slot = m.parts + hbuf_size(g, L) + abuf_size(g, L) + acc_size(g, L);
    m.total = m.slots + (size_t)ML_MAX_THREADS * m.slot;
    return m;
}

/* hbuf: the block's states h_0 = 0, h_1 .. h_L ((L + 1) x N x SV); abuf: the decays
 * exp(delta_t A) that made them (L x N x SV); acc: per step, the lanes' partial sums of dB
 * (N x SV) then dC (N x SV), added over the sequence's channel blocks and summed across lanes
 * once at the end (a sum across lanes per block would be a serial chain of scalar adds). */
typedef struct { float *dD, *dA, *dcw, *dcb, *hbuf, *abuf, *acc; } Slot;

static Slot slot_at(float *scratch, const ScrMap *m, const Geo *g, int tid)
{
    float *s = scratch + m->slots + (size_t)tid * m->slot;
    Slot q;
    q.dD = s, s += r16((size_t)g->E);
    q.dA = s, s += r16((size_t)g->E * g->N);
    q.dcw = s, s += r16((size_t)g->K * g->E);
    q.dcb = s, s += r16((size_t)g->E);
    q.hbuf = s, s += hbuf_size(g, g->L);
    q.abuf = s, s += abuf_size(g, g->L);
    q.acc = s;
    return q;
}

static size_t mamba_acts(const LayerCfg *c, Dims d)
{
    Geo g = geo(c, d);
    return act_map(&g).total;
}
/* Long sequences are taken a few at a time, so that the rows of one call to the passes stay
 * near CHUNK_ROWS whatever L is: the elementwise passes and the scan then find their inputs in
 * cache as at L = 128, and the scratch does not grow with the batch. */
#define CHUNK_ROWS 16384

static int chunk_B(int B, int L)
{
    int c = CHUNK_ROWS / L;
    if (c < 1) c = 1;
    return c < B ? c : B;
}

/* Any call with B <= d.B and L <= d.L has chunks of at most this many rows. */
static size_t mamba_scratch(const LayerCfg *c, Dims d)
{
    Geo g = geo(c, d);
    size_t cap = (size_t)(CHUNK_ROWS > d.L ? CHUNK_ROWS : d.L);
    if (cap > g.rows) cap = g.rows;
    return scr_map(&g, cap, d.L).total;
}

/* d_inner x d_state SSM state plus the convolution's last d_conv - 1 inputs per channel. */
static double mamba_state(const LayerCfg *c, int L)
{
    Geo g = geo(c, (Dims){1, L, NULL});
    return (double)g.E * g.N + (double)g.E * (g.K - 1);
}

static double mamba_flops(const LayerCfg *c, int L)
{
    Geo g = geo(c, (Dims){1, L, NULL});
    double d = g.d, E = g.E, N = g.N;
    double proj = 2.0 * (d * 2 * E + E * g.P + g.R * E + E * d);
    double conv = 2.0 * E * g.K + 4.0 * E;  /* taps, bias, silu */
    double scan = E * N * 7.0 + E * 3.0;     /* per state: exp, 2 mul, 2 fma; D skip */
    double rest = E * 4.0 + E * 5.0;         /* softplus; gate y * silu(z) */
    return L * (proj + conv + scan + rest);
}

/* softplus^-1(y) = y + log(1 - exp(-y)) */
static double softplus_inv(double y) { return y + log(-expm1(-y)); }

static void mamba_init(Layer *l, Rng *r)
{
    Geo g = geo(&l->cfg, (Dims){1, 1, NULL});
    Params p = params_at(l->params, &g);
    size_t d = (size_t)g.d, E = (size_t)g.E;
    init_uniform(p.W_in, d * 2 * E, 1.0f / sqrtf((float)d), r);
    /* Conv1d default: fan_in = K for a depthwise filter */
    init_uniform(p.conv_w, (size_t)g.K * E, 1.0f / sqrtf((float)g.K), r);
    init_uniform(p.conv_b, E, 1.0f / sqrtf((float)g.K), r);
    init_uniform(p.W_x, E * g.P, 1.0f / sqrtf((float)E), r);
    init_uniform(p.W_dt, (size_t)g.R * E, 1.0f / sqrtf((float)g.R), r);
    for (size_t c = 0; c < E; c++) {
        /* dt = exp(U(ln 1e-3, ln 0.1)), clamped >= 1e-4; the bias is softplus^-1(dt) */
        double lo = log(1e-3), hi = log(0.1);
        double dt = exp(lo + (hi - lo) * rng_uniform(r));
        if (dt < 1e-4) dt = 1e-4;
        p.b_dt[c] = (float)softplus_inv(dt);
        for (int n = 0; n < g.N; n++) p.A_log[c * g.N + n] = logf((float)(n + 1));
        p.D[c] = 1.0f;
    }
    init_uniform(p.W_out, E * d, 1.0f / sqrtf((float)E), r);
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---------------- thin products ---------------- */

/* x_proj and dt_proj are products with 16 or fewer columns on one side (P = dt_rank + 2 d_state,
 * R = dt_rank), where sgemm spends more time packing its operands than multiplying. These
 * kernels keep the partial sums of a vector of TV columns per row in registers instead. Each
 * output is summed in index order by one task, so the result does not depend on the thread
 * count. */
typedef float Vec __attribute__((vector_size(TV * sizeof(float)))); /* a GCC/Clang extension */
#if defined(__GNUC__) && !defined(__clang__)
/* GCC notes that passing a 64-byte vector changes the ABI where the target has no AVX-512: it
 * does not matter for these static helpers. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

static inline Vec vload(const float *p)
{
    Vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Bp[c0 / TV][k][l] = op(B)[k][c0 + l] for the K x N matrix op(B) (B, or B^T when trans), zero
 * past column N, so that the kernel runs whole vectors: K * thin_cols(N) floats. */
static void thin_pack(float *Bp, const float *B, int ldb, bool trans, int K, int N)
{
    for (int c0 = 0; c0 < N; c0 += TV)
        for (int k = 0; k < K; k++)
            for (int l = 0; l < TV; l++) {
                int c = c0 + l;
                *Bp++ = c >= N ? 0.0f : trans ? B[(size_t)c * ldb + k] : B[(size_t)k * ldb + c];
            }
}

typedef struct {
    const float *A, *B; /* A: rows x K; B: packed (thin_nn) or rows x N (thin_tn) */
    float *C;
    size_t rows;
    int lda, ldb, ldc, K, N;
    bool add; /* C += product, else C = product */
} Thin;

/* Loops over a register block's sums, unrolled so that the sums are registers, not an array. */
#define UNROLL _Pragma("GCC unroll 16")

#define THIN_ROWS 8 /* rows per register block: eight independent sums hide the FMA latency */

/* C rows r0 .. r0 + nr - 1 of A op(B) */
ALWAYS_INLINE void thin_nn_blk(const Thin *t, size_t r0, int nr)
{
    for (int c0 = 0; c0 < t->N; c0 += TV) {
        const float *bp = t->B + (size_t)c0 * t->K;
        Vec acc[THIN_ROWS];
        UNROLL for (int i = 0; i < THIN_ROWS; i++) acc[i] = (Vec){0};
        for (int k = 0; k < t->K; k++) {
            Vec b = vload(bp + (size_t)k * TV);
            UNROLL for (int i = 0; i < nr; i++) acc[i] += t->A[(r0 + i) * t->lda + k] * b;
        }
        int w = t->N - c0 < TV ? t->N - c0 : TV;
        UNROLL for (int i = 0; i < nr; i++) {
            float *c = t->C + (r0 + i) * t->ldc + c0, v[TV];
            memcpy(v, &acc[i], sizeof v);
            for (int l = 0; l < w; l++) c[l] = t->add ? c[l] + v[l] : v[l];
        }
    }
}

/* Items are blocks of THIN_ROWS rows. */
static void thin_nn_items(void *ctx, size_t i0, size_t i1, int tid)
{
    const Thin *t = ctx;
    (void)tid;
    for (size_t i = i0; i < i1; i++) {
        size_t r0 = i * THIN_ROWS;
        if (r0 + THIN_ROWS <= t->rows)
            thin_nn_blk(t, r0, THIN_ROWS);
        else
            for (size_t r = r0; r < t->rows; r++) thin_nn_blk(t, r, 1);
    }
}

/* Wider than this, sgemm's packing pays for itself (dt_rank is 64 at width 1024). A product
 * with few inner columns (K) but many output columns is sgemm's too: it writes whole rows, where
 * thin_nn writes a vector of each of THIN_ROWS rows at a time. */
#define THIN_MAX 64

/* C (rows x N) = or += A (rows x K) op(B), op(B) = B (K x N) or B^T (B N x K) when trans; Bp is
 * scratch for K * thin_cols(N) floats. */
static void thin_nn(const float *A, int lda, size_t rows, int K, const float *B, int ldb,
                    bool trans, int N, float *C, int ldc, bool add, float *Bp)
{
    if (N > THIN_MAX) {
        mm(false, trans, (int)rows, N, K, 1.0f, A, lda, B, ldb, add ? 1.0f : 0.0f, C, ldc);
        return;
    }
    thin_pack(Bp, B, ldb, trans, K, N);
    Thin t = {A, Bp, C, rows, lda, 0, ldc, K, N, add};
    pool_for((rows + THIN_ROWS - 1) / THIN_ROWS, thin_nn_items, &t);
}

/* C[k0 + k][c0 + l] (+)= sum over rows r of A[r][k0 + k] B[r][c0 + l], k < nk, l < w. */
ALWAYS_INLINE void thin_tn_blk(const Thin *t, int k0, int nk, int c0, int w)
{
    Vec acc[TV];
    UNROLL for (int k = 0; k < TV; k++) acc[k] = (Vec){0};
    for (size_t r = 0; r < t->rows; r++) {
        const float *br = t->B + r * t->ldb + c0, *a = t->A + r * t->lda + k0;
        Vec b;
        if (w == TV)
            b = vload(br);
        else { /* the last column block: zeros past N, no read past the row */
            float v[TV] = {0};
            memcpy(v, br, sizeof(float) * w);
            b = vload(v);
        }
        UNROLL for (int k = 0; k < nk; k++) acc[k] += a[k] * b;
    }
    UNROLL for (int k = 0; k < nk; k++) {
        float *c = t->C + (size_t)(k0 + k) * t->ldc + c0, v[TV];
        memcpy(v, &acc[k], sizeof v);
        for (int l = 0; l < w; l++) c[l] = t->add ? c[l] + v[l] : v[l];
    }
}

/* Items are (block of TV rows of C, block of TV columns); the common block shapes are compiled
 * with their sizes fixed, so that the sums stay in registers. */
static void thin_tn_items(void *ctx, size_t i0, size_t i1, int tid)
{
    const Thin *t = ctx;
    int ncb = (t->N + TV - 1) / TV;
    (void)tid;
    for (size_t i = i0; i < i1; i++) {
        int k0 = (int)(i / ncb) * TV, c0 = (int)(i % ncb) * TV;
        int nk = t->K - k0 < TV ? t->K - k0 : TV, w = t->N - c0 < TV ? t->N - c0 : TV;
        if (nk == TV && w == TV)
            thin_tn_blk(t, k0, TV, c0, TV);
        else if (nk == TV / 2 && w == TV)
            thin_tn_blk(t, k0, TV / 2, c0, TV);
        else
            thin_tn_blk(t, k0, nk, c0, w);
    }
}

/* C (K x N) = or += A^T B for A rows x K and B rows x N: a weight gradient summed over rows. */
static void thin_tn(const float *A, int lda, size_t rows, int K, const float *B, int ldb, int N,
                    float *C, int ldc, bool add)
{
    if (K > THIN_MAX && N > THIN_MAX) {
        mm(true, false, K, N, (int)rows, 1.0f, A, lda, B, ldb, add ? 1.0f : 0.0f, C, ldc);
        return;
    }
    Thin t = {A, B, C, rows, lda, ldb, ldc, K, N, add};
    size_t items = (size_t)((K + TV - 1) / TV) * (size_t)((N + TV - 1) / TV);
    pool_for(items, thin_tn_items, &t);
}

/* ---------------- elementwise passes, over rows ---------------- */

typedef struct {
    Geo g; /* of the chunk of sequences in hand */
    ScrMap sm;
    Params p;
    float *xz;
    float *xc, *u, *gbuf, *delta, *dsp, *dxz, *du, *scratch, *ys, *gate;
    float *dbc;
} Job;


/* The conv passes take TV channels at a time with the partial sums in a vector (Vec, of the thin
 * products), not in the output row: no pass over the row per tap. The last block of channels
 * may be narrower (w < TV): it goes through a zero-padded copy. */
static inline Vec vload_w(const float *p, int w)
{
    if (w == TV) return vload(p);
    float v[TV] = {0};
    for (int l = 0; l < w; l++) v[l] = p[l];
    return vload(v);
}

static inline void vstore_w(float *p, Vec x, int w)
{
    float v[TV];
    memcpy(v, &x, sizeof v);
    if (w == TV)
        memcpy(p, v, sizeof v);
    else
        for (int l = 0; l < w; l++) p[l] = v[l];
}

/* xc = conv(xp) + b, u = silu(xc): per channel the bias, then tap 0 .. K-1, each one FMA. */
static void conv_fwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Job *j = ctx;
    const Geo *g = &j->g;
    int E = g->E, K = g->K;
    (void)tid;
    for (size_t r = r0; r < r1; r++) {
        int t = (int)(r % (size_t)g->L);
        for (int c0 = 0; c0 < E; c0 += TV) {
            int w = E - c0 < TV ? E - c0 : TV;
            Vec acc = vload_w(j->p.conv_b + c0, w);
            for (int k = 0; k < K; k++) {
                int back = K - 1 - k;
                if (t - back < 0) continue;
                const float *xp = j->xz + (r - back) * 2 * E + c0;
                acc += vload_w(j->p.conv_w + (size_t)k * E + c0, w) * vload_w(xp, w);
            }
            float x[TV], u[TV];
            memcpy(x, &acc, sizeof x);
            for (int l = 0; l < TV; l++) u[l] = x[l] / (1.0f + fast_expf(-x[l]));
            vstore_w(j->xc + r * E + c0, acc, w);
            vstore_w(j->u + r * E + c0, vload(u), w);
        }
    }
}

/* du *= silu'(xc), in place: the gradient at the conv output. */
static void silu_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Job *j = ctx;
    int E = j->g.E;
    for (size_t i = r0 * E; i < r1 * E; i++) {
        float x = j->xc[i], s = 1.0f / (1.0f + fast_expf(-x));
        j->du[i] *= s * (1.0f + x * (1.0f - s));
    }
}

/* dxp[s] = sum_k dxc[s + K-1-k] w_k (within the sequence), into dxz's first half, summed over
 * k = 0 .. K-1 from zero; the weight and bias gradients go to the thread's slot. */
static void conv_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Job *j = ctx;
    const Geo *g = &j->g;
    int E = g->E, K = g->K;
    Slot s = slot_at(j->scratch, &j->sm, g, tid);
    for (size_t r = r0; r < r1; r++) {
        int t = (int)(r % (size_t)g->L);
        for (int c0 = 0; c0 < E; c0 += TV) {
            int w = E - c0 < TV ? E - c0 : TV;
            const float *dxc = j->du + r * E + c0, *xp = j->xz + r * 2 * E + c0;
            Vec dx = vload_w(dxc, w), acc = {0};
            vstore_w(s.dcb + c0, vload_w(s.dcb + c0, w) + dx, w);
            for (int k = 0; k < K; k++) {
                int back = K - 1 - k;
                float *dw = s.dcw + (size_t)k * E + c0;
                if (t - back >= 0) /* xc[t] used xp[t - back] through tap k */
                    vstore_w(dw, dx * vload_w(xp - (size_t)back * 2 * E, w) + vload_w(dw, w), w);
                if (t + back < g->L) /* xp[t] fed xc[t + back] through tap k */
                    acc += vload_w(dxc + (size_t)back * E, w) *
                           vload_w(j->p.conv_w + (size_t)k * E + c0, w);
            }
            vstore_w(j->dxz + r * 2 * E + c0, acc, w);
        }
    }
}

/* ---------------- the scan ---------------- */

/* Forward over one sequence (rows row0..row0+L-1) and channels c0..c0+w-1 with N states per
 * channel. Without a slot it writes ys; with one it writes the states and decays into the slot's
 * hbuf and abuf instead (for the backward). w and N are constants at the fast call sites, so the
 * state stays in registers.
 *
 * In the layer (j->xz set) the elementwise steps around the scan are done here, on the block's
 * rows while they are in cache, rather than in passes of their own over all rows: the forward
 * takes delta = softplus(dt_proj + b_dt) in place, writes its derivative dsp and gate =
 * ys * silu(z); the backward's recompute writes u = silu(xc). The tests' entry points
 * (recurrent.h) take delta, u and dys as given. */
ALWAYS_INLINE void scan_fwd_blk(const Job *j, size_t row0, int c0, int w, int N, const Slot *s)
{
    const Geo *g = &j->g;
    int E = g->E, P = g->P, R = g->R;
    float A[MAX_STATE][SV], h[MAX_STATE][SV], Dv[SV];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < w; k++) {
            A[n][k] = -expf(j->p.A_log[(size_t)(c0 + k) * N + n]);
            h[n][k] = 0.0f;
        }
    for (int k = 0; k < w; k++) Dv[k] = j->p.D[c0 + k];
    if (s)
        for (int n = 0; n < N; n++)
            for (int k = 0; k < SV; k++) s->hbuf[n * SV + k] = 0.0f;
    const bool layer = j->xz != NULL;
    const float *b_dt = j->p.b_dt + c0;
    for (int t = 0; t < g->L; t++) {
        size_t r = row0 + t;
        float *u = j->u + r * E + c0, *dl = j->delta + r * E + c0;
        const float *Bt = j->dbc + r * P + R, *Ct = Bt + N;
        /* Results go to local arrays first and are stored by loops that read nothing else: a loop
         * that loads from one array and stores to another gets a runtime overlap test per
         * vector loop (and a scalar copy of it) from the vectoriser. */
        float y[SV], du[SV], uv[SV], dlv[SV], tmp[SV], av[SV];
        if (layer && !s) {
            float *sp = j->dsp + r * E + c0;
            for (int k = 0; k < w; k++) {
                float x = dl[k] + b_dt[k], e = fast_expf(x);
                dlv[k] = sc_softplus_of_exp(x, e);
                tmp[k] = e / (1.0f + e);
            }
            for (int k = 0; k < w; k++) dl[k] = dlv[k];
            for (int k = 0; k < w; k++) sp[k] = tmp[k];
        } else
            for (int k = 0; k < w; k++) dlv[k] = dl[k];
        if (layer && s) {
            const float *xc = j->xc + r * E + c0;
            for (int k = 0; k < w; k++) uv[k] = xc[k] / (1.0f + fast_expf(-xc[k]));
            for (int k = 0; k < w; k++) u[k] = uv[k];
        } else
            for (int k = 0; k < w; k++) uv[k] = u[k];
        for (int k = 0; k < w; k++) y[k] = Dv[k] * uv[k], du[k] = dlv[k] * uv[k];
        for (int n = 0; n < N; n++) {
            float bn = Bt[n], cn = Ct[n];
            for (int k = 0; k < w; k++) {
                float a = fast_expf(dlv[k] * A[n][k]);
                float hn = FMA(a, h[n][k], du[k] * bn);
                h[n][k] = hn;
                if (s)
                    av[k] = a;
                else
                    y[k] = FMA(cn, hn, y[k]);
            }
            if (s) {
                float *hs = s->hbuf + (size_t)((t + 1) * N + n) * SV;
                float *as = s->abuf + (size_t)(t * N + n) * SV;
                for (int k = 0; k < w; k++) hs[k] = h[n][k];
                for (int k = 0; k < w; k++) as[k] = av[k];
            }
        }
        if (!s) {
            float *ys = j->ys + r * E + c0;
            for (int k = 0; k < w; k++) ys[k] = y[k];
        }
        if (!s && layer) {
            const float *z = j->xz + r * 2 * E + E + c0;
            float *gt = j->gate + r * E + c0;
            for (int k = 0; k < w; k++) tmp[k] = y[k] * z[k] / (1.0f + fast_expf(-z[k]));
            for (int k = 0; k < w; k++) gt[k] = tmp[k];
        }
    }
}

/* Reverse-time pass for one block, after scan_fwd_blk filled the slot's hbuf and abuf. Reads
 * dys (in gbuf) and writes d(dt_proj pre-activation) over it; writes du; adds the lanes' parts
 * of dB and dC into the slot's acc, and dD, dA into the slot. In the layer, gbuf holds the
 * gradient of the gate's output instead: dys = dgate * silu(z) is taken here and dz written
 * into dxz. */
ALWAYS_INLINE void scan_bwd_blk(const Job *j, size_t row0, int c0, int w, int N, const Slot *s)
{
    const Geo *g = &j->g;
    int E = g->E;
    float A[MAX_STATE][SV], adj[MAX_STATE][SV], dA[MAX_STATE][SV], Dv[SV], dD[SV];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < w; k++) {
            A[n][k] = -expf(j->p.A_log[(size_t)(c0 + k) * N + n]);
            adj[n][k] = 0.0f; /* dL/dh_t from later steps, already multiplied by exp(delta A) */
            dA[n][k] = 0.0f;
        }
    for (int k = 0; k < w; k++) Dv[k] = j->p.D[c0 + k], dD[k] = 0.0f;
    const bool layer = j->xz != NULL;
    for (int t = g->L - 1; t >= 0; t--) {
        size_t r = row0 + t;
        const float *u = j->u + r * E + c0, *dl = j->delta + r * E + c0;
        const float *Bt = j->dbc + r * g->P + g->R, *Ct = Bt + N;
        const float *hp = s->hbuf + (size_t)t * N * SV, *hs = hp + (size_t)N * SV;
        const float *as = s->abuf + (size_t)t * N * SV;
        float *dBa = s->acc + (size_t)t * 2 * N * SV, *dCa = dBa + (size_t)N * SV;
        float *gb = j->gbuf + r * E + c0, *dur = j->du + r * E + c0;
        const float *sp = j->dsp + r * E + c0;
        /* stores from local arrays only, as in scan_fwd_blk */
        float dy[SV], ddl[SV], duk[SV], dlu[SV], uv[SV], dlv[SV], ubv[SV], dlbv[SV], tmp[SV];
        float cB[SV], cC[SV];
        if (layer) {
            const float *z = j->xz + r * 2 * E + E + c0, *ys = j->ys + r * E + c0;
            float *dz = j->dxz + r * 2 * E + E + c0;
            for (int k = 0; k < w; k++) {
                float sg = 1.0f / (1.0f + fast_expf(-z[k]));
                tmp[k] = gb[k] * ys[k] * sg * (1.0f + z[k] * (1.0f - sg));
                dy[k] = gb[k] * z[k] * sg;
            }
            for (int k = 0; k < w; k++) dz[k] = tmp[k];
        } else
            for (int k = 0; k < w; k++) dy[k] = gb[k];
        for (int k = 0; k < w; k++) {
            uv[k] = u[k], dlv[k] = dl[k];
            ddl[k] = 0.0f;
            duk[k] = dy[k] * Dv[k];
            dD[k] = FMA(dy[k], uv[k], dD[k]);
            dlu[k] = dlv[k] * uv[k];
        }
        for (int n = 0; n < N; n++) {
            float bn = Bt[n], cn = Ct[n];
            for (int k = 0; k < w; k++) ubv[k] = bn * uv[k], dlbv[k] = dlv[k] * bn;
            for (int k = 0; k < w; k++) {
                float gn = FMA(dy[k], cn, adj[n][k]); /* dL/dh_t */
                float a = as[n * SV + k];
                float da = gn * hp[n * SV + k] * a; /* dL/d(delta A) through the decay */
                ddl[k] = FMA(da, A[n][k], FMA(gn, ubv[k], ddl[k]));
                dA[n][k] = FMA(da, dlv[k], dA[n][k]);
                duk[k] = FMA(gn, dlbv[k], duk[k]);
                cC[k] = FMA(dy[k], hs[n * SV + k], dCa[n * SV + k]);
                cB[k] = FMA(gn, dlu[k], dBa[n * SV + k]);
                adj[n][k] = gn * a;
            }
            for (int k = 0; k < w; k++) dCa[n * SV + k] = cC[k];
            for (int k = 0; k < w; k++) dBa[n * SV + k] = cB[k];
        }
        for (int k = 0; k < w; k++) tmp[k] = ddl[k] * sp[k];
        for (int k = 0; k < w; k++) gb[k] = tmp[k];
        for (int k = 0; k < w; k++) dur[k] = duk[k];
    }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < w; k++) {
            /* A = -exp(A_log): dA_log = dA * A */
            s->dA[(size_t)(c0 + k) * N + n] += dA[n][k] * A[n][k];
        }
    for (int k = 0; k < w; k++) s->dD[c0 + k] += dD[k];
}

static int n_blocks(const Geo *g) { return (g->E + SV - 1) / SV; }

/* The default d_state, for which the scan is compiled with the state count fixed. */
#define FAST_STATE 4

/* Items are (sequence, channel block) pairs. */
static void scan_fwd_items(void *ctx, size_t i0, size_t i1, int tid)
{
    const Job *j = ctx;
    int nb = n_blocks(&j->g), N = j->g.N;
    for (size_t i = i0; i < i1; i++) {
        size_t row0 = i / nb * j->g.L;
        int c0 = (int)(i % nb) * SV, w = j->g.E - c0 < SV ? j->g.E - c0 : SV;
        if (w == SV && N == FAST_STATE)
            scan_fwd_blk(j, row0, c0, SV, FAST_STATE, NULL);
        else
            scan_fwd_blk(j, row0, c0, w, N, NULL);
    }
}

/* Items are sequences: every block of a sequence adds into the same dB, dC rows. */
static void scan_bwd_seqs(void *ctx, size_t b0, size_t b1, int tid)
{
    const Job *j = ctx;
    const Geo *g = &j->g;
    int N = g->N, L = g->L;
    Slot s = slot_at(j->scratch, &j->sm, g, tid);
    float *ddbc = j->scratch + j->sm.ddbc;
    for (size_t b = b0; b < b1; b++) {
        size_t row0 = b * L;
        memset(s.acc, 0, sizeof(float) * (size_t)L * 2 * N * SV);
        for (int c0 = 0; c0 < g->E; c0 += SV) {
            int w = g->E - c0 < SV ? g->E - c0 : SV;
            if (w == SV && N == FAST_STATE) {
                scan_fwd_blk(j, row0, c0, SV, FAST_STATE, &s);
                scan_bwd_blk(j, row0, c0, SV, FAST_STATE, &s);
            } else {
                scan_fwd_blk(j, row0, c0, w, N, &s);
                scan_bwd_blk(j, row0, c0, w, N, &s);
            }
        }
        for (int t = 0; t < L; t++) {
            float *d = ddbc + (row0 + t) * g->P;
            memset(d, 0, sizeof(float) * g->R);
            for (int m = 0; m < 2 * N; m++) d[g->R + m] = sc_sum16(s.acc + (size_t)(t * 2 * N + m) * SV);
        }
    }
}


/* The job for sequences b0 .. b0 + nb - 1 of the call's batch (geometry g). */
static Job job_of(Layer *l, const Geo *g, const ScrMap *sm, int b0, int nb)
{
    ActMap am = act_map(g);
    size_t r0 = (size_t)b0 * g->L, E = (size_t)g->E;
    Job j = {0};
    j.g = *g;
    j.g.B = nb;
    j.g.rows = (size_t)nb * g->L;
    j.sm = *sm;
    j.p = params_at(l->params, g);
    j.xz = l->acts + am.xz + r0 * 2 * E;
    j.xc = l->acts + am.xc + r0 * E;
    j.dbc = l->acts + am.dbc + r0 * g->P;
    j.delta = l->acts + am.delta + r0 * E;
    j.dsp = l->acts + am.dsp + r0 * E;
    j.ys = l->acts + am.ys + r0 * E;
    j.gate = l->acts + am.gate + r0 * E;
    j.u = l->scratch + sm->u;
    j.gbuf = l->scratch + sm->gbuf;
    j.du = l->scratch + sm->du;
    j.dxz = l->scratch + sm->dxz;
    j.scratch = l->scratch;
    return j;
}

static void mamba_forward(Layer *l, const float *x, float *y, Dims dm)
{
    Geo g = geo(&l->cfg, dm);
    int bc = chunk_B(g.B, g.L), E = g.E, d = g.d;
    ScrMap sm = scr_map(&g, (size_t)bc * g.L, g.L);
    float *pack = l->scratch + sm.pack;
    for (int b0 = 0; b0 < g.B; b0 += bc) {
        Job j = job_of(l, &g, &sm, b0, g.B - b0 < bc ? g.B - b0 : bc);
        int rows = (int)j.g.rows;
        size_t r0 = (size_t)b0 * g.L;
        linear_fwd(x + r0 * d, j.p.W_in, NULL, j.xz, rows, d, 2 * E);
        pool_for(j.g.rows, conv_fwd_rows, &j);
        thin_nn(j.u, E, j.g.rows, E, j.p.W_x, g.P, false, g.P, j.dbc, g.P, false, pack);
        mm(false, false, rows, E, g.R, 1.0f, j.dbc, g.P, j.p.W_dt, E, 0.0f, j.delta, E);
        pool_for((size_t)j.g.B * n_blocks(&g), scan_fwd_items, &j);
        linear_fwd(j.gate, j.p.W_out, NULL, y + r0 * d, rows, E, d);
    }
}

static void mamba_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    Geo g = geo(&l->cfg, dm);
    Params gp = params_at(l->grads, &g);
    int bc = chunk_B(g.B, g.L), E = g.E, d = g.d, T = pool_size();
    ScrMap sm = scr_map(&g, (size_t)bc * g.L, g.L);
    float *ddbc = l->scratch + sm.ddbc, *pack = l->scratch + sm.pack;
    for (int t = 0; t < T; t++)
        memset(l->scratch + sm.slots + (size_t)t * sm.slot, 0, sizeof(float) * sm.parts);
    for (int b0 = 0; b0 < g.B; b0 += bc) {
        Job j = job_of(l, &g, &sm, b0, g.B - b0 < bc ? g.B - b0 : bc);
        int rows = (int)j.g.rows;
        size_t r0 = (size_t)b0 * g.L;
        const float *dyc = dy + r0 * d;
        /* out = gate W_out */
        mm(true, false, E, d, rows, 1.0f, j.gate, E, dyc, d, 1.0f, gp.W_out, d);
        mm(false, true, rows, E, d, 1.0f, dyc, d, j.p.W_out, d, 0.0f, j.gbuf, E);
        /* the gate and the scan (u recomputed from xc) */
        pool_for((size_t)j.g.B, scan_bwd_seqs, &j);
        /* delta = softplus(dt W_dt + b_dt): gbuf now holds the gradient of the pre-activation */
        colsum_add(j.gbuf, j.g.rows, E, E, gp.b_dt);
        thin_tn(j.dbc, g.P, j.g.rows, g.R, j.gbuf, E, E, gp.W_dt, E, true);
        thin_nn(j.gbuf, E, j.g.rows, E, j.p.W_dt, E, true, g.R, ddbc, g.P, false, pack);
        /* dbc = u W_x */
        thin_tn(j.u, E, j.g.rows, E, ddbc, g.P, g.P, gp.W_x, g.P, true);
        mm(false, true, rows, E, g.P, 1.0f, ddbc, g.P, j.p.W_x, g.P, 1.0f, j.du, E);
        /* u = silu(conv(xp)) */
        pool_for(j.g.rows, silu_bwd_rows, &j);
        pool_for(j.g.rows, conv_bwd_rows, &j);
        linear_bwd(x + r0 * d, j.p.W_in, j.dxz, dx ? dx + r0 * d : NULL, gp.W_in, NULL, rows, d,
                   2 * E);
    }
    Slot s = slot_at(l->scratch, &sm, &g, 0);
    parts_add(gp.D, s.dD, T, sm.slot, (size_t)E, 1.0f);
    parts_add(gp.conv_b, s.dcb, T, sm.slot, (size_t)E, 1.0f);
    parts_add(gp.A_log, s.dA, T, sm.slot, (size_t)E * g.N, 1.0f);
    parts_add(gp.conv_w, s.dcw, T, sm.slot, (size_t)E * g.K, 1.0f);
}

const LayerKind layer_mamba = {
    .name = "mamba",
    .summary = "selective SSM (Mamba): d_state 4, expand 2, conv 4, dt_rank width/16",
    .role = ROLE_SEQUENCE,
    .knobs = mamba_knobs,
    .n_knobs = ML_COUNT(mamba_knobs),
    .state_formula = "expand x width x d_state (SSM) + expand x width x (d_conv - 1) (conv)",
    .n_params = mamba_params,
    .n_acts = mamba_acts,
    .n_scratch = mamba_scratch,
    .state_size = mamba_state,
    .flops = mamba_flops,
    .init = mamba_init,
    .forward = mamba_forward,
    .backward = mamba_backward,
};

/* ---------------- the scan alone, for tests (recurrent.h) ---------------- */

static Geo scan_geo(int B, int L, int E, int N, int R, int P)
{
    Geo g = {.B = B, .L = L, .d = E, .E = E, .N = N, .R = R, .K = 1, .P = P};
    g.rows = (size_t)B * L;
    return g;
}

void mamba_scan_forward(int B, int L, int E, int N, int R, int P, const float *u,
                        const float *delta, const float *bc, const float *A_log, const float *D,
                        float *ys)
{
    Job j = {0};
    j.g = scan_geo(B, L, E, N, R, P);
    j.p.A_log = (float *)A_log;
    j.p.D = (float *)D;
    j.u = (float *)u;
    j.delta = (float *)delta;
    j.dbc = (float *)bc;
    j.ys = ys;
    pool_for((size_t)B * n_blocks(&j.g), scan_fwd_items, &j);
}

int mamba_scan_backward(int B, int L, int E, int N, int R, int P, const float *u,
                        const float *delta, const float *bc, const float *A_log, const float *D,
                        const float *dys, float *du, float *dpre, float *dbc, float *dA_log,
                        float *dD)
{
    Job j = {0};
    j.g = scan_geo(B, L, E, N, R, P);
    ScrMap sm = scr_map(&j.g, j.g.rows, L);
    j.sm = sm;
    size_t re = j.g.rows * E;
    float *scr = arena_alloc_floats(sm.total + re);
    if (!scr) return -1;
    j.p.A_log = (float *)A_log;
    j.p.D = (float *)D;
    j.u = (float *)u;
    j.delta = (float *)delta;
    /* softplus' = sigmoid(pre) = 1 - exp(-delta), from delta alone (the layer keeps it instead) */
    j.dsp = scr + sm.total;
    for (size_t i = 0; i < re; i++) j.dsp[i] = -sc_expm1f_neg(-delta[i]);
    j.dbc = (float *)bc;
    j.gbuf = dpre;
    j.du = du;
    j.scratch = scr;
    memcpy(dpre, dys, sizeof(float) * j.g.rows * E);
    pool_for((size_t)B, scan_bwd_seqs, &j);
    memcpy(dbc, scr + sm.ddbc, sizeof(float) * j.g.rows * P);
    Slot s = slot_at(scr, &sm, &j.g, 0);
    parts_add(dD, s.dD, pool_size(), sm.slot, (size_t)E, 1.0f);
    parts_add(dA_log, s.dA, pool_size(), sm.slot, (size_t)E * N, 1.0f);
    arena_free(scr);
    return 0;
}
