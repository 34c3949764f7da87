/* Sequence mixers: gated linear attention (GLA; Yang et al. 2023), as the reference configures
 * it. With d_k = d_v = width/heads and a low-rank gate of rank GLA_RANK:
 *
 *   q, k, v, g = x Wq, x Wk, x Wv, x Wg           (no bias)
 *   gk = logsigmoid((x W1) W2 + b2) / 16          (per channel of k, in (-inf, 0))
 *   per head: S_t = diag(exp(gk_t)) S_{t-1} + k_t^T v_t,   o_t = (q_t d_k^-1/2) S_t
 *   y = (rmsnorm_head(o) * silu(g)) Wo            (RMSNorm over each head's d_v, eps 1e-5,
 *                                                  one weight vector shared by the heads)
 *
 * The four projections and W1 are one sgemm (x times [Wq Wk Wv Wg W1]); the recurrence runs per
 * (sequence, head) pair over the pool, in O(L) per pair, with the state held a block of GLA_JB
 * columns of d_v at a time (the columns of S evolve independently) so that it stays in L1.
 *
 * Backward needs no stored states: a forward sweep recomputes S_t for dq_t = d_k^-1/2 S_t do_t,
 * a reverse sweep carries R_t = dL/dS_t for dk and dv, and the gate's gradient follows from the
 * identity dL/dgk_t = sum_{s >= t} (q_s * dq_s - k_s * dk_s) (the log-decays enter only as the
 * differences of their cumulative sums between query and key positions). */
#include "config.h"
#include "internal.h"
#include "scan.h"

#include <string.h>

enum { K_HEADS };

#define GLA_RANK 16         /* rank of the gate's W1 W2 */
#define GLA_NORMALIZER 16.0f /* gk = logsigmoid(.) / 16 */
#define GLA_EPS 1e-5f
#define GLA_JB 16 /* columns of d_v per block of the state */

static const KnobDesc gla_knobs[] = {
    {"heads", 1, 1, 256, "heads; width/heads is the key and value size of each head", NULL}};
static const KnobDesc mh_gla_knobs[] = {
    {"heads", 8, 1, 256, "heads; width/heads is the key and value size of each head", NULL}};

typedef struct {
    int B, L, d, H, hd, ldp; /* ldp: columns of P = [q k v g u] */
    size_t rows;
} Geo;

static Geo geo(const LayerCfg *c, Dims dm)
{
    Geo g;
    g.B = dm.B;
    g.L = dm.L;
    g.d = c->width;
    g.H = c->knob[K_HEADS];
    g.hd = g.d / g.H;
    g.ldp = 4 * g.d + GLA_RANK;
    g.rows = (size_t)g.B * g.L;
    return g;
}


/* params: Wp (d x (4d + R): Wq Wk Wv Wg W1 side by side), W2 (R x d), b2 (d), norm weight (hd),
 * Wo (d x d). */
typedef struct { size_t Wp, W2, b2, nw, Wo, total; } ParMap;
static ParMap par_map(const LayerCfg *c)
{
    size_t d = (size_t)c->width, hd = d / (size_t)c->knob[K_HEADS];
    ParMap m;
    m.Wp = 0;
    m.W2 = m.Wp + d * (4 * d + GLA_RANK);
    m.b2 = m.W2 + GLA_RANK * d;
    m.nw = m.b2 + d;
    m.Wo = m.nw + hd;
    m.total = m.Wo + d * d;
    return m;
}

/* acts: P = x Wp (rows x ldp), z = u W2 + b2 (rows x d), o (rows x d, before the norm), rstd
 * (rows x H). */
typedef struct { size_t P, z, o, rstd, total; } ActMap;
static ActMap act_map(const Geo *g)
{
    ActMap m;
    m.P = 0;
    m.z = m.P + r16(g->rows * g->ldp);
    m.o = m.z + r16(g->rows * g->d);
    m.rstd = m.o + r16(g->rows * g->d);
    m.total = m.rstd + r16(g->rows * g->H);
    return m;
}

/* scratch: decays a = exp(gk) (rows x d), the normed and gated output h or its gradient (rows x
 * d), do (rows x d), dz (rows x d), dP (rows x ldp), per-thread norm-weight gradients and
 * per-thread blocks of state (hd x GLA_JB). */
typedef struct { size_t a, h, dO, dz, dP, dnw, st, total; } ScrMap;
static ScrMap scr_map(const Geo *g)
{
    ScrMap m;
    size_t plane = r16(g->rows * g->d);
    m.a = 0;
    m.h = m.a + plane;
    m.dO = m.h + plane;
    m.dz = m.dO + plane;
    m.dP = m.dz + plane;
    m.dnw = m.dP + r16(g->rows * g->ldp);
    m.st = m.dnw + r16((size_t)ML_MAX_THREADS * g->hd);
    m.total = m.st + (size_t)ML_MAX_THREADS * r16((size_t)g->hd * GLA_JB);
    return m;
}

static size_t gla_params(const LayerCfg *c) { return par_map(c).total; }
static size_t gla_acts(const LayerCfg *c, Dims d)
{
    Geo g = geo(c, d);
    return act_map(&g).total;
}
static size_t gla_scratch(const LayerCfg *c, Dims d)
{
    Geo g = geo(c, d);
    return scr_map(&g).total;
}
/* heads x d_k x d_v = width^2 / heads, whatever L. */
static double gla_state(const LayerCfg *c, int L)
{
    (void)L;
    return (double)c->width * c->width / c->knob[K_HEADS];
}
/* Projections (4 + out) and the gate's two thin products, then per position and head: the
 * state's decay and rank-one update (3 d_k d_v) and the readout (2 d_k d_v), the norm and gate. */
static double gla_flops(const LayerCfg *c, int L)
{
    double d = c->width, hd = d / c->knob[K_HEADS];
    double proj = 2.0 * d * (4 * d + GLA_RANK) + 2.0 * GLA_RANK * d + 2.0 * d * d;
    double scan = 5.0 * d * hd;
    return L * (proj + scan + 12.0 * d);
}

/* xavier_uniform with gain 2^-2.5 on every projection; a (in x out) block of a row-major
 * matrix with ld columns. */
static void xavier(float *W, int in, int out, int ld, Rng *r)
{
    float bound = powf(2.0f, -2.5f) * sqrtf(6.0f / (float)(in + out));
    for (int i = 0; i < in; i++)
        for (int j = 0; j < out; j++) W[(size_t)i * ld + j] = (float)((2 * rng_uniform(r) - 1) * bound);
}

static void gla_init(Layer *l, Rng *r)
{
    int d = l->cfg.width, hd = d / l->cfg.knob[K_HEADS];
    ParMap m = par_map(&l->cfg);
    float *p = l->params;
    for (int part = 0; part < 4; part++) xavier(p + m.Wp + (size_t)part * d, d, d, 4 * d + GLA_RANK, r);
    xavier(p + m.Wp + 4 * (size_t)d, d, GLA_RANK, 4 * d + GLA_RANK, r);
    xavier(p + m.W2, GLA_RANK, d, d, r);
    init_const(p + m.b2, (size_t)d, 0.0f);
    init_const(p + m.nw, (size_t)hd, 1.0f);
    xavier(p + m.Wo, d, d, d, r);
}


/* ---------------- elementwise passes over rows ---------------- */

typedef struct {
    Geo g;
    const float *P, *z, *o, *nw, *b2, *dh;
    float *zw, *a, *rstd, *h, *dO, *dP, *dnw;
} Rows;

/* The elementwise kernels take restrict parameters (GCC keeps that knowledge for function
 * parameters, not reliably for locals) and run SC_VL lanes at a time, then the rest. */

/* a = exp(logsigmoid(z) / 16), logsigmoid(z) = min(z, 0) - log(1 + e^-|z|) without overflow;
 * three passes, as one loop with all of it inside is more than GCC if-converts. */
static void gate_row(const float *restrict z, float *restrict a, int d)
{
    int dv = d / SC_VL * SC_VL;
    for (int c = 0; c < dv; c += SC_VL)
        for (int k = 0; k < SC_VL; k++) a[c + k] = fast_expf(-fabsf(z[c + k]));
    for (int c = 0; c < dv; c += SC_VL)
        for (int k = 0; k < SC_VL; k++)
            a[c + k] = (z[c + k] < 0.0f ? z[c + k] : 0.0f) - sc_logf(1.0f + a[c + k]);
    for (int c = 0; c < dv; c += SC_VL)
        for (int k = 0; k < SC_VL; k++) a[c + k] = fast_expf(a[c + k] / GLA_NORMALIZER);
    for (int c = dv; c < d; c++) {
        float ls = (z[c] < 0.0f ? z[c] : 0.0f) - sc_logf(1.0f + fast_expf(-fabsf(z[c])));
        a[c] = fast_expf(ls / GLA_NORMALIZER);
    }
}

/* z += b2 (when b2 is given); a = exp(logsigmoid(z) / 16). */
static void gate_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Rows *j = ctx;
    int d = j->g.d;
    for (size_t r = r0; r < r1; r++) {
        if (j->b2) vadd(j->zw + r * d, j->b2, (size_t)d);
        gate_row(j->zw + r * d, j->a + r * d, d);
    }
}

/* One head: h = o rs nw silu(g). */
static void ng_fwd_head(const float *restrict o, const float *restrict g,
                        const float *restrict nw, float rs, float *restrict h, int hd)
{
    int i = 0;
    for (; i + SC_VL <= hd; i += SC_VL)
        for (int k = 0; k < SC_VL; k++)
            h[i + k] = o[i + k] * rs * nw[i + k] * g[i + k] * fsigmoid(g[i + k]);
    for (; i < hd; i++) h[i] = o[i] * rs * nw[i] * g[i] * fsigmoid(g[i]);
}

/* h = rmsnorm_head(o) * silu(g); saves rstd when asked. */
static void norm_gate_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Rows *j = ctx;
    int d = j->g.d, hd = j->g.hd, H = j->g.H;
    for (size_t r = r0; r < r1; r++)
        for (int hh = 0; hh < H; hh++) {
            size_t c0 = r * d + (size_t)hh * hd;
            const float *o = j->o + c0;
            float rs = 1.0f / sqrtf(sc_dot(o, o, hd) / hd + GLA_EPS);
            if (j->rstd) j->rstd[r * H + hh] = rs;
            ng_fwd_head(o, j->P + r * j->g.ldp + 3 * d + (size_t)hh * hd, j->nw, rs, j->h + c0, hd);
        }
}

/* One head of the norm-and-gate backward: dg, dnw +=, and do = rs (dm - n mean(dm n)). */
static void ng_bwd_head(const float *restrict o, const float *restrict g,
                        const float *restrict dh, const float *restrict nw, float rs,
                        float *restrict dg, float *restrict dnw, float *restrict dO, int hd)
{
    /* n = o rs; dn = dh silu(g) is the gradient of n nw; dm = dn nw that of n */
    int i = 0;
    for (; i + SC_VL <= hd; i += SC_VL)
        for (int k = 0; k < SC_VL; k++) {
            float n = o[i + k] * rs, sg = fsigmoid(g[i + k]), dn = dh[i + k] * g[i + k] * sg;
            dg[i + k] = dh[i + k] * n * nw[i + k] * sg * (1.0f + g[i + k] * (1.0f - sg));
            dnw[i + k] += dn * n;
            dO[i + k] = dn * nw[i + k];
        }
    for (; i < hd; i++) {
        float n = o[i] * rs, sg = fsigmoid(g[i]), dn = dh[i] * g[i] * sg;
        dg[i] = dh[i] * n * nw[i] * sg * (1.0f + g[i] * (1.0f - sg));
        dnw[i] += dn * n;
        dO[i] = dn * nw[i];
    }
    float c = rs * rs * sc_dot(dO, o, hd) / hd;
    for (i = 0; i + SC_VL <= hd; i += SC_VL)
        for (int k = 0; k < SC_VL; k++) dO[i + k] = rs * (dO[i + k] - o[i + k] * c);
    for (; i < hd; i++) dO[i] = rs * (dO[i] - o[i] * c);
}

/* From dh (the gradient of h): dg into dP, do, and this thread's share of the norm weight's
 * gradient. */
static void norm_gate_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Rows *j = ctx;
    int d = j->g.d, hd = j->g.hd, H = j->g.H, ldp = j->g.ldp;
    float *dnw = j->dnw + (size_t)tid * hd;
    for (size_t r = r0; r < r1; r++)
        for (int hh = 0; hh < H; hh++) {
            size_t c0 = r * d + (size_t)hh * hd, cg = r * ldp + 3 * d + (size_t)hh * hd;
            ng_bwd_head(j->o + c0, j->P + cg, j->dh + c0, j->nw, j->rstd[r * H + hh], j->dP + cg,
                        dnw, j->dO + c0, hd);
        }
}

/* ---------------- the recurrence, per (sequence, head) pair ---------------- */

typedef struct {
    Geo g;
    float scale;
    const float *P, *a, *z, *dO;
    float *o, *dP, *dz, *st; /* st: one block of state per thread */
} Scan;

/* One pair's forward: o_t for every t, block by block of d_v. */
static void scan_fwd_pair(const Scan *s, int b, int h, float *restrict St)
{
    const Geo *g = &s->g;
    int hd = g->hd, d = g->d, ldp = g->ldp;
    for (int j0 = 0; j0 < hd; j0 += GLA_JB) {
        int jb = hd - j0 < GLA_JB ? hd - j0 : GLA_JB;
        memset(St, 0, sizeof(float) * (size_t)hd * GLA_JB);
        for (int t = 0; t < g->L; t++) {
            size_t row = (size_t)b * g->L + t;
            const float *q = s->P + row * ldp + h * hd, *k = q + d, *v = q + 2 * d + j0;
            const float *a = s->a + row * d + h * hd;
            float vt[GLA_JB] = {0}, ot[GLA_JB] = {0};
            for (int j = 0; j < jb; j++) vt[j] = v[j];
            for (int i = 0; i < hd; i++) {
                float ai = a[i], ki = k[i], qi = q[i] * s->scale;
                float *Si = St + (size_t)i * GLA_JB;
                for (int j = 0; j < GLA_JB; j++) Si[j] = FMA(ai, Si[j], ki * vt[j]);
                for (int j = 0; j < GLA_JB; j++) ot[j] = FMA(qi, Si[j], ot[j]);
            }
            float *o = s->o + row * d + h * hd + j0;
            for (int j = 0; j < jb; j++) o[j] = ot[j];
        }
    }
}

/* One step of the gate's gradient: acc += q dq - k dk (the running sum over s >= t), then
 * dz = acc m sigmoid(-z), with m = 1/16 (0 at t = 0, which meets only the zero state). */
static void dgk_row(const float *restrict q, const float *restrict k, const float *restrict dq,
                    const float *restrict dk, const float *restrict z, float m,
                    float *restrict acc, float *restrict dz, int hd)
{
    int i = 0;
    for (; i + SC_VL <= hd; i += SC_VL)
        for (int l = 0; l < SC_VL; l++) {
            acc[i + l] += q[i + l] * dq[i + l] - k[i + l] * dk[i + l];
            dz[i + l] = acc[i + l] * m * fsigmoid(-z[i + l]);
        }
    for (; i < hd; i++) {
        acc[i] += q[i] * dq[i] - k[i] * dk[i];
        dz[i] = acc[i] * m * fsigmoid(-z[i]);
    }
}

/* One pair's backward: dq, dk, dv into dP and the gate's gradient into dz. */
static void scan_bwd_pair(const Scan *s, int b, int h, float *restrict St)
{
    const Geo *g = &s->g;
    int hd = g->hd, d = g->d, ldp = g->ldp, L = g->L;
    size_t r0 = (size_t)b * L;
    for (int j0 = 0; j0 < hd; j0 += GLA_JB) {
        int jb = hd - j0 < GLA_JB ? hd - j0 : GLA_JB;
        /* forward sweep: S_t again, dq_t = scale S_t do_t. S is held transposed here (row j
         * of St is column j of S) so that both steps run along i with no sums across lanes. */
        memset(St, 0, sizeof(float) * (size_t)hd * GLA_JB);
        for (int t = 0; t < L; t++) {
            size_t row = r0 + t;
            const float *q = s->P + row * ldp + h * hd, *k = q + d, *v = q + 2 * d + j0;
            const float *restrict a = s->a + row * d + h * hd;
            const float *dO = s->dO + row * d + h * hd + j0;
            float *restrict dq = s->dP + row * ldp + h * hd;
            if (!j0) memset(dq, 0, sizeof(float) * (size_t)hd);
            for (int j = 0; j < jb; j++) {
                float *restrict Sj = St + (size_t)j * hd;
                sc_decay_axpy(Sj, a, v[j], k, hd);
                sc_axpy(dq, dO[j] * s->scale, Sj, hd);
            }
        }
        /* reverse sweep: R_t = diag(a_{t+1}) R_{t+1} + scale q_t^T do_t; dk_t = R_t v_t,
         * dv_t = k_t R_t. St now holds R. */
        memset(St, 0, sizeof(float) * (size_t)hd * GLA_JB);
        for (int t = L - 1; t >= 0; t--) {
            size_t row = r0 + t;
            const float *q = s->P + row * ldp + h * hd, *k = q + d, *v = q + 2 * d + j0;
            const float *an = t + 1 < L ? s->a + (row + 1) * d + h * hd : NULL;
            const float *dO = s->dO + row * d + h * hd + j0;
            float *dk = s->dP + row * ldp + d + h * hd, *dv = s->dP + row * ldp + 2 * d + h * hd + j0;
            float vt[GLA_JB] = {0}, gt[GLA_JB] = {0}, dvt[GLA_JB] = {0};
            for (int j = 0; j < jb; j++) vt[j] = v[j], gt[j] = dO[j] * s->scale;
            for (int i = 0; i < hd; i++) {
                float ai = an ? an[i] : 0.0f, qi = q[i], ki = k[i];
                float *Ri = St + (size_t)i * GLA_JB;
                for (int j = 0; j < GLA_JB; j++) Ri[j] = FMA(ai, Ri[j], qi * gt[j]);
                for (int j = 0; j < GLA_JB; j++) dvt[j] = FMA(ki, Ri[j], dvt[j]);
                float acc = sc_dot16(Ri, vt);
                dk[i] = j0 ? dk[i] + acc : acc;
            }
            for (int j = 0; j < jb; j++) dv[j] = dvt[j];
        }
    }
    /* dgk_t = sum_{s >= t} (q_s dq_s - k_s dk_s); gk_0 meets only the zero initial state. Then
     * dz = dgk / 16 * sigmoid(-z). */
    float *acc = St; /* hd running sums */
    memset(acc, 0, sizeof(float) * (size_t)hd);
    for (int t = L - 1; t >= 0; t--) {
        size_t row = r0 + t;
        const float *q = s->P + row * ldp + h * hd, *dq = s->dP + row * ldp + h * hd;
        dgk_row(q, q + d, dq, dq + d, s->z + row * d + h * hd, t ? 1.0f / GLA_NORMALIZER : 0.0f,
                acc, s->dz + row * d + h * hd, hd);
    }
}

static void scan_pairs(void *ctx, size_t p0, size_t p1, int tid)
{
    const Scan *s = ctx;
    float *St = s->st + (size_t)tid * r16((size_t)s->g.hd * GLA_JB);
    for (size_t p = p0; p < p1; p++) {
        int b = (int)(p / (size_t)s->g.H), h = (int)(p % (size_t)s->g.H);
        if (s->dP)
            scan_bwd_pair(s, b, h, St);
        else
            scan_fwd_pair(s, b, h, St);
    }
}

/* ---------------- forward and backward ---------------- */

static void gla_forward(Layer *l, const float *x, float *y, Dims dm)
{
    Geo g = geo(&l->cfg, dm);
    ParMap pm = par_map(&l->cfg);
    ActMap am = act_map(&g);
    ScrMap sm = scr_map(&g);
    int d = g.d, rows = (int)g.rows;
    const float *p = l->params;
    float *P = l->acts + am.P, *z = l->acts + am.z;
    Rows rj = {.g = g, .P = P, .o = l->acts + am.o, .nw = p + pm.nw, .b2 = p + pm.b2, .zw = z,
               .a = l->scratch + sm.a, .rstd = l->acts + am.rstd, .h = l->scratch + sm.h};
    Scan sc = {.g = g, .scale = 1.0f / sqrtf((float)g.hd), .P = P, .a = rj.a,
               .o = l->acts + am.o, .st = l->scratch + sm.st};
    linear_fwd(x, p + pm.Wp, NULL, P, rows, d, g.ldp);
    mm(false, false, rows, d, GLA_RANK, 1.0f, P + 4 * d, g.ldp, p + pm.W2, d, 0.0f, z, d);
    pool_for(g.rows, gate_rows, &rj);
    pool_for((size_t)g.B * g.H, scan_pairs, &sc);
    pool_for(g.rows, norm_gate_rows, &rj);
    linear_fwd(rj.h, p + pm.Wo, NULL, y, rows, d, d);
}

static void gla_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    Geo g = geo(&l->cfg, dm);
    ParMap pm = par_map(&l->cfg);
    ActMap am = act_map(&g);
    ScrMap sm = scr_map(&g);
    int d = g.d, rows = (int)g.rows, T = pool_bands();
    const float *p = l->params;
    float *gr = l->grads, *P = l->acts + am.P, *sc = l->scratch;
    float *dP = sc + sm.dP, *dz = sc + sm.dz, *dnw = sc + sm.dnw, *h = sc + sm.h;
    Rows rj = {.g = g, .P = P, .z = l->acts + am.z, .o = l->acts + am.o, .nw = p + pm.nw,
               .zw = l->acts + am.z, .a = sc + sm.a, .rstd = l->acts + am.rstd, .h = h,
               .dh = h, .dO = sc + sm.dO, .dP = dP, .dnw = dnw};
    Scan s = {.g = g, .scale = 1.0f / sqrtf((float)g.hd), .P = P, .a = rj.a, .z = rj.z,
              .dO = rj.dO, .dP = dP, .dz = dz, .st = sc + sm.st};
    /* h again for Wo's gradient, then dh over it */
    Rows rh = rj;
    rh.rstd = NULL; /* already saved */
    pool_for(g.rows, norm_gate_rows, &rh);
    mm(true, false, d, d, rows, 1.0f, h, d, dy, d, 1.0f, gr + pm.Wo, d); /* dWo += h^T dy */
    mm(false, true, rows, d, d, 1.0f, dy, d, p + pm.Wo, d, 0.0f, h, d);  /* dh = dy Wo^T */
    memset(dnw, 0, sizeof(float) * (size_t)T * g.hd);
    pool_for_bands(g.rows, norm_gate_bwd_rows, &rj);
    parts_add(gr + pm.nw, dnw, T, (size_t)g.hd, (size_t)g.hd, 1.0f);
    rj.b2 = NULL; /* z already holds its bias */
    pool_for(g.rows, gate_rows, &rj);
    pool_for((size_t)g.B * g.H, scan_pairs, &s);
    /* the gate: dW2 += u^T dz, db2 += colsum dz, du = dz W2^T */
    mm(true, false, GLA_RANK, d, rows, 1.0f, P + 4 * d, g.ldp, dz, d, 1.0f, gr + pm.W2, d);
    for (size_t r = 0; r < g.rows; r++)
        for (int c = 0; c < d; c++) gr[pm.b2 + c] += dz[r * d + c];
    mm(false, true, rows, GLA_RANK, d, 1.0f, dz, d, p + pm.W2, d, 0.0f, dP + 4 * d, g.ldp);
    mm(true, false, d, g.ldp, rows, 1.0f, x, d, dP, g.ldp, 1.0f, gr + pm.Wp, g.ldp);
    if (dx) mm(false, true, rows, d, g.ldp, 1.0f, dP, g.ldp, p + pm.Wp, g.ldp, 0.0f, dx, d);
}

const LayerKind layer_gla = {
    .name = "gated-linear-attention",
    .summary = "gated linear attention (GLA): data-dependent decay of a k^T v state, 1 head",
    .role = ROLE_SEQUENCE,
    .knobs = gla_knobs,
    .n_knobs = ML_COUNT(gla_knobs),
    .state_formula = "heads x d_k x d_v = width^2 / heads",
    .n_params = gla_params,
    .n_acts = gla_acts,
    .n_scratch = gla_scratch,
    .state_size = gla_state,
    .flops = gla_flops,
    .init = gla_init,
    .forward = gla_forward,
    .backward = gla_backward,
};

const LayerKind layer_mh_gla = {
    .name = "mh-gated-linear-attention",
    .summary = "multi-head gated linear attention, 8 heads of 16 by default",
    .role = ROLE_SEQUENCE,
    .knobs = mh_gla_knobs,
    .n_knobs = ML_COUNT(mh_gla_knobs),
    .state_formula = "heads x d_k x d_v = width^2 / heads",
    .n_params = gla_params,
    .n_acts = gla_acts,
    .n_scratch = gla_scratch,
    .state_size = gla_state,
    .flops = gla_flops,
    .init = gla_init,
    .forward = gla_forward,
    .backward = gla_backward,
};
