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
 * The projections are sgemms over all B*L rows (the thin x_proj and dt_proj in thinmm.c); only
 * the recurrence is a scan, in mamba_scan.c: SV channels at a time, O(L) per channel, parallel
 * over sequences and channel blocks. B_t and C_t are shared by all channels of a row, so the
 * backward runs one sequence per task and sums their gradients over channel blocks without
 * races. This file holds the layer: its sizes, the conv passes, forward and backward. */
#include "config.h"
#include "mamba.h"

#include <string.h>

enum { K_STATE, K_EXPAND, K_CONV };

#define TV VCH        /* channels per vector of the conv passes */

static const KnobDesc mamba_knobs[] = {
    {"d_state", 4, 1, MAX_STATE, "SSM state per inner channel", NULL},
    {"expand", 2, 1, 8, "inner width = expand x width", NULL},
    {"d_conv", 4, 1, 16, "causal depthwise convolution kernel length", NULL},
};

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

static size_t hbuf_size(const Geo *g, int L) { return r16((size_t)(L + 1) * g->N * SV); }
static size_t abuf_size(const Geo *g, int L) { return r16((size_t)L * g->N * SV); }
static size_t acc_size(const Geo *g, int L) { return r16((size_t)L * 2 * g->N * SV); }

/* The thin products' packed operand: W_x (dbc = u W_x) or W_dt^T (its gradient's product). */
static size_t thin_pack_size(const Geo *g)
{
    size_t a = thin_pack_floats(g->E, g->P), b = thin_pack_floats(g->E, g->R);
    return a > b ? a : b;
}

ScrMap mamba_scr_map(const Geo *g, size_t rows, int L)
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

Slot mamba_slot_at(float *scratch, const ScrMap *m, const Geo *g, int tid)
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
    return mamba_scr_map(&g, cap, d.L).total;
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

/* ---------------- elementwise passes, over rows ---------------- */

/* The conv passes take TV channels at a time with the partial sums in a vector (VecF, of the thin
 * products), not in the output row: no pass over the row per tap. The last block of channels
 * may be narrower (w < TV): it goes through a zero-padded copy. */
static inline VecF vload_w(const float *p, int w)
{
    if (w == TV) return vecf_load(p);
    float v[TV] = {0};
    for (int l = 0; l < w; l++) v[l] = p[l];
    return vecf_load(v);
}

static inline void vstore_w(float *p, VecF x, int w)
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
            VecF acc = vload_w(j->p.conv_b + c0, w);
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
            vstore_w(j->u + r * E + c0, vecf_load(u), w);
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
    Slot s = mamba_slot_at(j->scratch, &j->sm, g, tid);
    for (size_t r = r0; r < r1; r++) {
        int t = (int)(r % (size_t)g->L);
        for (int c0 = 0; c0 < E; c0 += TV) {
            int w = E - c0 < TV ? E - c0 : TV;
            const float *dxc = j->du + r * E + c0, *xp = j->xz + r * 2 * E + c0;
            VecF dx = vload_w(dxc, w), acc = {0};
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
    ScrMap sm = mamba_scr_map(&g, (size_t)bc * g.L, g.L);
    float *pack = l->scratch + sm.pack;
    for (int b0 = 0; b0 < g.B; b0 += bc) {
        Job j = job_of(l, &g, &sm, b0, g.B - b0 < bc ? g.B - b0 : bc);
        int rows = (int)j.g.rows;
        size_t r0 = (size_t)b0 * g.L;
        linear_fwd(x + r0 * d, j.p.W_in, NULL, j.xz, rows, d, 2 * E);
        pool_for(j.g.rows, conv_fwd_rows, &j);
        thin_nn(j.u, E, j.g.rows, E, j.p.W_x, g.P, false, g.P, j.dbc, g.P, false, pack);
        mm(false, false, rows, E, g.R, 1.0f, j.dbc, g.P, j.p.W_dt, E, 0.0f, j.delta, E);
        pool_for((size_t)j.g.B * mamba_n_blocks(&g), mamba_scan_fwd_items, &j);
        linear_fwd(j.gate, j.p.W_out, NULL, y + r0 * d, rows, E, d);
    }
}

static void mamba_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    Geo g = geo(&l->cfg, dm);
    Params gp = params_at(l->grads, &g);
    int bc = chunk_B(g.B, g.L), E = g.E, d = g.d, T = pool_bands();
    ScrMap sm = mamba_scr_map(&g, (size_t)bc * g.L, g.L);
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
        pool_for_bands((size_t)j.g.B, mamba_scan_bwd_seqs, &j);
        /* delta = softplus(dt W_dt + b_dt): gbuf now holds the gradient of the pre-activation */
        colsum_add(j.gbuf, j.g.rows, E, E, gp.b_dt);
        thin_tn(j.dbc, g.P, j.g.rows, g.R, j.gbuf, E, E, gp.W_dt, E, true);
        thin_nn(j.gbuf, E, j.g.rows, E, j.p.W_dt, E, true, g.R, ddbc, g.P, false, pack);
        /* dbc = u W_x */
        thin_tn(j.u, E, j.g.rows, E, ddbc, g.P, g.P, gp.W_x, g.P, true);
        mm(false, true, rows, E, g.P, 1.0f, ddbc, g.P, j.p.W_x, g.P, 1.0f, j.du, E);
        /* u = silu(conv(xp)) */
        pool_for(j.g.rows, silu_bwd_rows, &j);
        pool_for_bands(j.g.rows, conv_bwd_rows, &j);
        linear_bwd(x + r0 * d, j.p.W_in, j.dxz, dx ? dx + r0 * d : NULL, gp.W_in, NULL, rows, d,
                   2 * E);
    }
    Slot s = mamba_slot_at(l->scratch, &sm, &g, 0);
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
