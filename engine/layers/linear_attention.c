/* Sequence mixers: linear attention with the Hadamard feature map, as the reference configures
 * it. With hd = width/heads:
 *
 *   q, k, v = x Wq, x Wk, x Wv                          (no bias), split into heads
 *   phi_q(q) = (q Aq + aq) * (q Bq + bq), phi_k likewise with its own Ak, ak, Bk, bk
 *                                                        (hd x hd maps shared by the heads)
 *   per head: S_t = S_{t-1} + phi_k_t^T v_t,  z_t = z_{t-1} + phi_k_t
 *             y_t = (phi_q_t S_t) / (phi_q_t . z_t + 1e-12)
 *   out = y Wo                                           (no bias)
 *
 * which equals the reference's quadratic form tril(phi_q phi_k^T) v / (phi_q . cumsum(phi_k) +
 * 1e-12). There is no 1/sqrt(hd). The denominator is NOT kept positive: the Hadamard features
 * can be negative, so phi_q . z can be negative or near zero, exactly as in the reference (whose
 * 1e-12 only guards an exact zero); a run can therefore blow up, and that is the layer's own
 * behaviour, not a bug here.
 *
 * The projections and the feature maps are sgemms over all rows (the maps one per head, over the
 * head's strided columns); the recurrence runs per (sequence, head) pair over the pool in O(L),
 * its state a block of LA_JB columns at a time (columns of S evolve independently), so it stays
 * in L1. Backward: a forward sweep recomputes S_t and z_t for dphi_q, a reverse sweep carries
 * sum_{s>=t} phi_q_s^T g_s and sum_{s>=t} dden_s phi_q_s for dphi_k and dv. */
#include "config.h"
#include "scan.h"

#include <string.h>

enum { K_HEADS };

#define LA_EPS 1e-12f
#define LA_JB 16 /* columns of the state per block */

static const KnobDesc la_knobs[] = {
    {"heads", 1, 1, 256, "heads; width/heads is the feature and value size of each head", NULL}};
static const KnobDesc mh_la_knobs[] = {
    {"heads", 16, 1, 256, "heads; width/heads is the feature and value size of each head", NULL}};

typedef struct {
    int B, L, d, H, hd;
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
    g.rows = (size_t)g.B * g.L;
    return g;
}


/* params: Wp (d x 3d: Wq Wk Wv), Fq (hd x 2hd: Aq Bq), fq (2hd: aq bq), Fk, fk, Wo (d x d). */
typedef struct { size_t Wp, Fq, fq, Fk, fk, Wo, total; } ParMap;
static ParMap par_map(const LayerCfg *c)
{
    size_t d = (size_t)c->width, hd = d / (size_t)c->knob[K_HEADS];
    ParMap m;
    m.Wp = 0;
    m.Fq = m.Wp + 3 * d * d;
    m.fq = m.Fq + 2 * hd * hd;
    m.Fk = m.fq + 2 * hd;
    m.fk = m.Fk + 2 * hd * hd;
    m.Wo = m.fk + 2 * hd;
    m.total = m.Wo + d * d;
    return m;
}

/* acts: P = x Wp (rows x 3d); FQ, FK (rows x 2d: per head, the two maps' outputs with their
 * biases, hd each); y (rows x d); den (rows x H). */
typedef struct { size_t P, FQ, FK, y, den, total; } ActMap;
static ActMap act_map(const Geo *g)
{
    ActMap m;
    m.P = 0;
    m.FQ = m.P + r16(g->rows * 3 * g->d);
    m.FK = m.FQ + r16(g->rows * 2 * g->d);
    m.y = m.FK + r16(g->rows * 2 * g->d);
    m.den = m.y + r16(g->rows * g->d);
    m.total = m.den + r16(g->rows * g->H);
    return m;
}

/* scratch: phiQ, phiK, dY, dphiQ, dphiK (rows x d each), dFQ, dFK (rows x 2d), dP (rows x 3d),
 * dden (rows x H), per-thread state: a block (hd x LA_JB) and a vector (hd). */
typedef struct { size_t phiQ, phiK, dY, dphiQ, dphiK, dFQ, dFK, dP, dden, st, total; } ScrMap;
static size_t st_size(const Geo *g) { return r16((size_t)g->hd * LA_JB) + r16((size_t)g->hd); }
static ScrMap scr_map(const Geo *g)
{
    ScrMap m;
    size_t plane = r16(g->rows * g->d);
    m.phiQ = 0;
    m.phiK = m.phiQ + plane;
    m.dY = m.phiK + plane;
    m.dphiQ = m.dY + plane;
    m.dphiK = m.dphiQ + plane;
    m.dFQ = m.dphiK + plane;
    m.dFK = m.dFQ + 2 * plane;
    m.dP = m.dFK + 2 * plane;
    m.dden = m.dP + 3 * plane;
    m.st = m.dden + r16(g->rows * g->H);
    m.total = m.st + (size_t)ML_MAX_THREADS * st_size(g);
    return m;
}

static size_t la_params(const LayerCfg *c) { return par_map(c).total; }
static size_t la_acts(const LayerCfg *c, Dims d)
{
    Geo g = geo(c, d);
    return act_map(&g).total;
}
static size_t la_scratch(const LayerCfg *c, Dims d)
{
    Geo g = geo(c, d);
    return scr_map(&g).total;
}
/* heads x hd x hd for S plus heads x hd for the normaliser z, whatever L. */
static double la_state(const LayerCfg *c, int L)
{
    (void)L;
    double d = c->width;
    return d * d / c->knob[K_HEADS] + d;
}
/* Projections (3 + out), the two feature maps (2 products of hd x 2hd per head and their
 * Hadamard products), then per position and head the state update (2 hd^2), readout (2 hd^2),
 * normaliser (3 hd) and division. */
static double la_flops(const LayerCfg *c, int L)
{
    double d = c->width, hd = d / c->knob[K_HEADS];
    double proj = 2.0 * 3 * d * d + 2.0 * d * d;
    double maps = 2.0 * (2.0 * d * 2 * hd + 3.0 * d);
    double scan = 4.0 * d * hd + 5.0 * d;
    return L * (proj + maps + scan);
}

static void la_init(Layer *l, Rng *r)
{
    size_t d = (size_t)l->cfg.width, hd = d / (size_t)l->cfg.knob[K_HEADS];
    ParMap m = par_map(&l->cfg);
    float *p = l->params;
    float bd = 1.0f / sqrtf((float)d), bh = 1.0f / sqrtf((float)hd);
    init_uniform(p + m.Wp, 3 * d * d, bd, r);
    init_uniform(p + m.Fq, 2 * hd * hd, bh, r);
    init_const(p + m.fq, 2 * hd, 0.0f);
    init_uniform(p + m.Fk, 2 * hd * hd, bh, r);
    init_const(p + m.fk, 2 * hd, 0.0f);
    init_uniform(p + m.Wo, d * d, bd, r);
}

/* ---------------- feature maps, row by row ---------------- */

/* Heads of 8 or 16 run their maps (hd x 2hd products) row by row in vector registers, with the
 * bias and the Hadamard product in the same pass: as sgemms these products are too thin to
 * beat their packing. Wider heads go through sgemm, one per head (maps_fwd, maps_dx). */
static bool row_maps(const Geo *g) { return g->hd == 8 || g->hd == 16; }

typedef struct {
    Geo g;
    float *FQ, *FK;             /* with the biases added once, in forward */
    const float *fq, *fk;       /* biases, or NULL */
    const float *P, *Wq, *Wk;   /* row maps: the projections and the maps' weights, or NULL */
    float *phiQ, *phiK;         /* phi = first half * second half, per head */
    const float *dphiQ, *dphiK; /* backward: d/dF into dFQ, dFK */
    float *dFQ, *dFK;
    float *dP;                  /* row maps' backward: dX = dF W^T into dP's q and k columns */
} Maps;

static void phi_row(float *F, const float *bias, float *phi, int H, int hd)
{
    for (int h = 0; h < H; h++) {
        float *a = F + (size_t)h * 2 * hd, *b = a + hd, *o = phi + (size_t)h * hd;
        if (bias)
            vadd(a, bias, 2 * (size_t)hd);
        for (int i = 0; i < hd; i++) o[i] = a[i] * b[i];
    }
}

/* F_h = x_h W + bias, phi_h = F_h's halves multiplied; the sum over i in order, as sgemm's. */
static inline __attribute__((always_inline)) void map_row(const float *restrict x,
                                                          const float *restrict W,
                                                          const float *restrict bias,
                                                          float *restrict F, float *restrict phi,
                                                          int H, int hd)
{
    for (int h = 0; h < H; h++) {
        const float *xh = x + (size_t)h * hd;
        float acc[32] = {0}, *f = F + (size_t)h * 2 * hd, *o = phi + (size_t)h * hd;
        for (int i = 0; i < hd; i++)
            for (int j = 0; j < 2 * hd; j++) acc[j] = FMA(xh[i], W[i * 2 * hd + j], acc[j]);
        for (int j = 0; j < 2 * hd; j++) f[j] = acc[j] + bias[j];
        for (int j = 0; j < hd; j++) o[j] = f[j] * f[hd + j];
    }
}

static void phi_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Maps *m = ctx;
    int d = m->g.d, H = m->g.H, hd = m->g.hd;
    for (size_t r = r0; r < r1; r++) {
        const float *x = m->P ? m->P + r * 3 * d : NULL;
        float *FQ = m->FQ + r * 2 * d, *FK = m->FK + r * 2 * d;
        if (x && hd == 8) {
            map_row(x, m->Wq, m->fq, FQ, m->phiQ + r * d, H, 8);
            map_row(x + d, m->Wk, m->fk, FK, m->phiK + r * d, H, 8);
        } else if (x) {
            map_row(x, m->Wq, m->fq, FQ, m->phiQ + r * d, H, 16);
            map_row(x + d, m->Wk, m->fk, FK, m->phiK + r * d, H, 16);
        } else {
            phi_row(FQ, m->fq, m->phiQ + r * d, H, hd);
            phi_row(FK, m->fk, m->phiK + r * d, H, hd);
        }
    }
}

/* dF_h from dphi_h; with Wt (W transposed, 2hd x hd) also dx_h = dF_h W^T, the sum over j in
 * order, as sgemm's. */
static inline __attribute__((always_inline)) void dphi_row(const float *restrict F,
                                                           const float *restrict dphi,
                                                           float *restrict dF,
                                                           const float *restrict Wt,
                                                           float *restrict dx, int H, int hd)
{
    for (int h = 0; h < H; h++) {
        const float *a = F + (size_t)h * 2 * hd, *b = a + hd, *g = dphi + (size_t)h * hd;
        float *da = dF + (size_t)h * 2 * hd, *db = da + hd;
        for (int i = 0; i < hd; i++) da[i] = g[i] * b[i];
        for (int i = 0; i < hd; i++) db[i] = g[i] * a[i];
        if (!Wt) continue;
        float acc[16] = {0};
        for (int j = 0; j < 2 * hd; j++)
            for (int i = 0; i < hd; i++) acc[i] = FMA(da[j], Wt[j * hd + i], acc[i]);
        for (int i = 0; i < hd; i++) dx[(size_t)h * hd + i] = acc[i];
    }
}

static void transpose(const float *W, int rows, int cols, float *Wt)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) Wt[(size_t)j * rows + i] = W[(size_t)i * cols + j];
}

static void dphi_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Maps *m = ctx;
    int d = m->g.d, H = m->g.H, hd = m->g.hd;
    float WqT[2 * 16 * 16], WkT[2 * 16 * 16];
    if (m->dP) {
        transpose(m->Wq, hd, 2 * hd, WqT);
        transpose(m->Wk, hd, 2 * hd, WkT);
    }
    for (size_t r = r0; r < r1; r++) {
        const float *FQ = m->FQ + r * 2 * d, *FK = m->FK + r * 2 * d;
        float *dFQ = m->dFQ + r * 2 * d, *dFK = m->dFK + r * 2 * d;
        float *dx = m->dP ? m->dP + r * 3 * d : NULL;
        if (dx && hd == 8) {
            dphi_row(FQ, m->dphiQ + r * d, dFQ, WqT, dx, H, 8);
            dphi_row(FK, m->dphiK + r * d, dFK, WkT, dx + d, H, 8);
        } else if (dx) {
            dphi_row(FQ, m->dphiQ + r * d, dFQ, WqT, dx, H, 16);
            dphi_row(FK, m->dphiK + r * d, dFK, WkT, dx + d, H, 16);
        } else {
            dphi_row(FQ, m->dphiQ + r * d, dFQ, NULL, NULL, H, hd);
            dphi_row(FK, m->dphiK + r * d, dFK, NULL, NULL, H, hd);
        }
    }
}

/* ---------------- the recurrence, per (sequence, head) pair ---------------- */

typedef struct {
    Geo g;
    const float *P, *phiQ, *phiK, *y, *dY;
    float *yw, *den, *dden, *dphiQ, *dphiK, *dP, *st;
} Scan;

/* One (sequence, head) pair. hd and the block width jw are literals for heads of 8 (the mh
 * preset's): the loops over a head and a block become fixed-length vector code, and no lanes
 * are spent on padding. Other heads run blocks of LA_JB columns. */
static inline __attribute__((always_inline)) void scan_fwd_pair(const Scan *s, int b, int h,
                                                                float *restrict St,
                                                                float *restrict z, int hd, int jw)
{
    const Geo *g = &s->g;
    int d = g->d, L = g->L, H = g->H;
    size_t r0 = (size_t)b * L;
    memset(z, 0, sizeof(float) * (size_t)hd);
    for (int t = 0; t < L; t++) {
        size_t row = r0 + t;
        const float *fq = s->phiQ + row * d + h * hd, *fk = s->phiK + row * d + h * hd;
        for (int i = 0; i < hd; i++) z[i] += fk[i];
        s->den[row * H + h] = sc_dot(fq, z, hd) + LA_EPS;
    }
    for (int j0 = 0; j0 < hd; j0 += jw) {
        int jb = hd - j0 < jw ? hd - j0 : jw;
        memset(St, 0, sizeof(float) * (size_t)hd * jw);
        for (int t = 0; t < L; t++) {
            size_t row = r0 + t;
            const float *fq = s->phiQ + row * d + h * hd, *fk = s->phiK + row * d + h * hd;
            const float *v = s->P + row * 3 * d + 2 * d + h * hd + j0;
            float vt[LA_JB] = {0}, ot[LA_JB] = {0};
            for (int j = 0; j < jb; j++) vt[j] = v[j];
            for (int i = 0; i < hd; i++) {
                float ki = fk[i], qi = fq[i];
                float *Si = St + (size_t)i * jw;
                for (int j = 0; j < jw; j++) Si[j] = FMA(ki, vt[j], Si[j]);
                for (int j = 0; j < jw; j++) ot[j] = FMA(qi, Si[j], ot[j]);
            }
            float inv = 1.0f / s->den[row * H + h], *y = s->yw + row * d + h * hd + j0;
            for (int j = 0; j < jb; j++) y[j] = ot[j] * inv;
        }
    }
}

static inline __attribute__((always_inline)) void scan_bwd_pair(const Scan *s, int b, int h,
                                                                float *restrict St,
                                                                float *restrict z, int hd, int jw)
{
    const Geo *g = &s->g;
    int d = g->d, L = g->L, H = g->H, ib = hd < LA_JB ? hd : LA_JB;
    size_t r0 = (size_t)b * L;
    /* the normaliser: dden_t = -(dY_t . y_t) / den_t; dphi_q_t = dden_t z_t, dphi_k_t = r_t */
    memset(z, 0, sizeof(float) * (size_t)hd);
    for (int t = 0; t < L; t++) {
        size_t row = r0 + t;
        const float *fk = s->phiK + row * d + h * hd, *dy = s->dY + row * d + h * hd;
        const float *y = s->y + row * d + h * hd;
        float *dq = s->dphiQ + row * d + h * hd;
        float dd = -sc_dot(dy, y, hd) / s->den[row * H + h];
        s->dden[row * H + h] = dd;
        for (int i = 0; i < hd; i++) {
            z[i] += fk[i];
            dq[i] = dd * z[i];
        }
    }
    memset(z, 0, sizeof(float) * (size_t)hd);
    for (int t = L - 1; t >= 0; t--) {
        size_t row = r0 + t;
        const float *fq = s->phiQ + row * d + h * hd;
        float *dk = s->dphiK + row * d + h * hd, dd = s->dden[row * H + h];
        for (int i = 0; i < hd; i++) {
            z[i] = FMA(dd, fq[i], z[i]);
            dk[i] = z[i];
        }
    }
    /* the numerator, block by block of columns: g_t = dY_t / den_t. The forward sweep holds S
     * transposed (row j of St is column j of S), so both steps run along i with no sums across
     * lanes. */
    for (int j0 = 0; j0 < hd; j0 += jw) {
        int jb = hd - j0 < jw ? hd - j0 : jw;
        memset(St, 0, sizeof(float) * (size_t)hd * jw);
        for (int t = 0; t < L; t++) {
            size_t row = r0 + t;
            const float *restrict fk = s->phiK + row * d + h * hd;
            const float *dy = s->dY + row * d + h * hd + j0;
            const float *v = s->P + row * 3 * d + 2 * d + h * hd + j0;
            float *restrict dq = s->dphiQ + row * d + h * hd, inv = 1.0f / s->den[row * H + h];
            /* dq's sum over j in registers, ib entries at a time */
            for (int i0 = 0; i0 < hd; i0 += ib) {
                int ie = hd - i0 < ib ? hd - i0 : ib;
                float acc[LA_JB];
                for (int i = 0; i < ie; i++) acc[i] = dq[i0 + i];
                for (int j = 0; j < jb; j++) {
                    float vj = v[j], gj = dy[j] * inv;
                    float *restrict Sj = St + (size_t)j * hd + i0;
                    for (int i = 0; i < ie; i++) Sj[i] = FMA(fk[i0 + i], vj, Sj[i]);
                    for (int i = 0; i < ie; i++) acc[i] = FMA(gj, Sj[i], acc[i]);
                }
                for (int i = 0; i < ie; i++) dq[i0 + i] = acc[i];
            }
        }
        memset(St, 0, sizeof(float) * (size_t)hd * jw); /* now R_t = sum_{s>=t} phi_q_s^T g_s */
        for (int t = L - 1; t >= 0; t--) {
            size_t row = r0 + t;
            const float *fq = s->phiQ + row * d + h * hd, *fk = s->phiK + row * d + h * hd;
            const float *dy = s->dY + row * d + h * hd + j0;
            const float *v = s->P + row * 3 * d + 2 * d + h * hd + j0;
            float *restrict dk = s->dphiK + row * d + h * hd, inv = 1.0f / s->den[row * H + h];
            float *dv = s->dP + row * 3 * d + 2 * d + h * hd + j0;
            float vt[LA_JB] = {0}, gt[LA_JB] = {0}, dvt[LA_JB] = {0};
            for (int j = 0; j < jb; j++) vt[j] = v[j], gt[j] = dy[j] * inv;
            for (int i = 0; i < hd; i++) {
                float qi = fq[i], ki = fk[i];
                float *Ri = St + (size_t)i * jw;
                for (int j = 0; j < jw; j++) Ri[j] = FMA(qi, gt[j], Ri[j]);
                for (int j = 0; j < jw; j++) dvt[j] = FMA(ki, Ri[j], dvt[j]);
                dk[i] += sc_dot(Ri, vt, jw);
            }
            for (int j = 0; j < jb; j++) dv[j] = dvt[j];
        }
    }
}

static void scan_pairs(void *ctx, size_t p0, size_t p1, int tid)
{
    const Scan *s = ctx;
    int hd = s->g.hd;
    float *St = s->st + (size_t)tid * st_size(&s->g), *z = St + r16((size_t)hd * LA_JB);
    for (size_t p = p0; p < p1; p++) {
        int b = (int)(p / (size_t)s->g.H), h = (int)(p % (size_t)s->g.H);
        if (s->dP && hd == 8)
            scan_bwd_pair(s, b, h, St, z, 8, 8);
        else if (s->dP)
            scan_bwd_pair(s, b, h, St, z, hd, LA_JB);
        else if (hd == 8)
            scan_fwd_pair(s, b, h, St, z, 8, 8);
        else
            scan_fwd_pair(s, b, h, St, z, hd, LA_JB);
    }
}

/* ---------------- forward and backward ---------------- */

/* F = P's q (part 0) or k (part 1) columns through the map W, head by head: F_h = X_h W. */
static void maps_fwd(const Geo *g, const float *P, int part, const float *W, float *F)
{
    int d = g->d, hd = g->hd;
    for (int h = 0; h < g->H; h++)
        mm(false, false, (int)g->rows, 2 * hd, hd, 1.0f, P + (size_t)part * d + h * hd, 3 * d, W,
           2 * hd, 0.0f, F + (size_t)h * 2 * hd, 2 * d);
}

static void add_to(float *restrict y, const float *restrict x, int n)
{
    for (int i = 0; i < n; i++) y[i] += x[i];
}

/* The maps' weight gradients, the q map's and the k map's as two jobs (each its own sums, in
 * the order one thread takes): dW += X_h^T dF_h head by head, dbias += column sums of dF_h. */
typedef struct {
    Geo g;
    const float *P, *dF[2];
    float *dW[2], *dbias[2];
} MapGrads;

static void map_grads(void *ctx, size_t p0, size_t p1, int tid)
{
    const MapGrads *j = ctx;
    const Geo *g = &j->g;
    int d = g->d, hd = g->hd, rows = (int)g->rows;
    for (size_t part = p0; part < p1; part++) {
        const float *dF = j->dF[part];
        for (int h = 0; h < g->H; h++)
            mm1(true, false, hd, 2 * hd, rows, 1.0f, j->P + part * d + h * hd, 3 * d,
                dF + (size_t)h * 2 * hd, 2 * d, 1.0f, j->dW[part], 2 * hd);
        for (size_t r = 0; r < g->rows; r++)
            for (int h = 0; h < g->H; h++)
                add_to(j->dbias[part], dF + r * 2 * d + (size_t)h * 2 * hd, 2 * hd);
    }
}

/* dX_h = dF_h W^T, head by head, for the heads without row maps. */
static void maps_dx(const Geo *g, float *dP, int part, const float *W, const float *dF)
{
    int d = g->d, hd = g->hd, rows = (int)g->rows;
    for (int h = 0; h < g->H; h++)
        mm(false, true, rows, hd, 2 * hd, 1.0f, dF + (size_t)h * 2 * hd, 2 * d, W, 2 * hd, 0.0f,
           dP + (size_t)part * d + h * hd, 3 * d);
}

static void la_forward(Layer *l, const float *x, float *y, Dims dm)
{
    Geo g = geo(&l->cfg, dm);
    ParMap pm = par_map(&l->cfg);
    ActMap am = act_map(&g);
    ScrMap sm = scr_map(&g);
    int d = g.d, rows = (int)g.rows;
    const float *p = l->params;
    float *A = l->acts, *sc = l->scratch;
    Maps mp = {.g = g, .FQ = A + am.FQ, .FK = A + am.FK, .fq = p + pm.fq, .fk = p + pm.fk,
               .phiQ = sc + sm.phiQ, .phiK = sc + sm.phiK};
    Scan s = {.g = g, .P = A + am.P, .phiQ = mp.phiQ, .phiK = mp.phiK, .yw = A + am.y,
              .den = A + am.den, .st = sc + sm.st};
    linear_fwd(x, p + pm.Wp, NULL, A + am.P, rows, d, 3 * d);
    if (row_maps(&g)) {
        mp.P = A + am.P, mp.Wq = p + pm.Fq, mp.Wk = p + pm.Fk;
    } else {
        maps_fwd(&g, A + am.P, 0, p + pm.Fq, mp.FQ);
        maps_fwd(&g, A + am.P, 1, p + pm.Fk, mp.FK);
    }
    pool_for(g.rows, phi_rows, &mp);
    pool_for((size_t)g.B * g.H, scan_pairs, &s);
    linear_fwd(A + am.y, p + pm.Wo, NULL, y, rows, d, d);
}

static void la_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    Geo g = geo(&l->cfg, dm);
    ParMap pm = par_map(&l->cfg);
    ActMap am = act_map(&g);
    ScrMap sm = scr_map(&g);
    int d = g.d, rows = (int)g.rows;
    const float *p = l->params;
    float *A = l->acts, *sc = l->scratch, *gr = l->grads, *dP = sc + sm.dP;
    Maps mp = {.g = g, .FQ = A + am.FQ, .FK = A + am.FK, .phiQ = sc + sm.phiQ,
               .phiK = sc + sm.phiK, .dphiQ = sc + sm.dphiQ, .dphiK = sc + sm.dphiK,
               .dFQ = sc + sm.dFQ, .dFK = sc + sm.dFK};
    Scan s = {.g = g, .P = A + am.P, .phiQ = mp.phiQ, .phiK = mp.phiK, .y = A + am.y,
              .dY = sc + sm.dY, .den = A + am.den, .dden = sc + sm.dden, .dphiQ = sc + sm.dphiQ,
              .dphiK = sc + sm.dphiK, .dP = dP, .st = sc + sm.st};
    mm(true, false, d, d, rows, 1.0f, A + am.y, d, dy, d, 1.0f, gr + pm.Wo, d); /* dWo += y^T dy */
    mm(false, true, rows, d, d, 1.0f, dy, d, p + pm.Wo, d, 0.0f, sc + sm.dY, d); /* dY = dy Wo^T */
    pool_for(g.rows, phi_rows, &mp); /* biases already in FQ, FK */
    pool_for((size_t)g.B * g.H, scan_pairs, &s);
    if (row_maps(&g)) mp.dP = dP, mp.Wq = p + pm.Fq, mp.Wk = p + pm.Fk;
    pool_for(g.rows, dphi_rows, &mp);
    if (!row_maps(&g)) {
        maps_dx(&g, dP, 0, p + pm.Fq, mp.dFQ);
        maps_dx(&g, dP, 1, p + pm.Fk, mp.dFK);
    }
    MapGrads mg = {.g = g, .P = A + am.P, .dF = {mp.dFQ, mp.dFK}, .dW = {gr + pm.Fq, gr + pm.Fk},
                   .dbias = {gr + pm.fq, gr + pm.fk}};
    pool_for(2, map_grads, &mg);
    mm(true, false, d, 3 * d, rows, 1.0f, x, d, dP, 3 * d, 1.0f, gr + pm.Wp, 3 * d);
    if (dx) mm(false, true, rows, d, 3 * d, 1.0f, dP, 3 * d, p + pm.Wp, 3 * d, 0.0f, dx, d);
}

const LayerKind layer_linear_attention = {
    .name = "linear-attention",
    .summary = "linear attention with a Hadamard feature map and normaliser, 1 head",
    .role = ROLE_SEQUENCE,
    .knobs = la_knobs,
    .n_knobs = ML_COUNT(la_knobs),
    .state_formula = "heads x hd x hd + heads x hd (normaliser) = width^2 / heads + width",
    .n_params = la_params,
    .n_acts = la_acts,
    .n_scratch = la_scratch,
    .state_size = la_state,
    .flops = la_flops,
    .init = la_init,
    .forward = la_forward,
    .backward = la_backward,
};

const LayerKind layer_mh_linear_attention = {
    .name = "mh-linear-attention",
    .summary = "multi-head linear attention (Hadamard feature map), 16 heads of 8 by default",
    .role = ROLE_SEQUENCE,
    .knobs = mh_la_knobs,
    .n_knobs = ML_COUNT(mh_la_knobs),
    .state_formula = "heads x hd x hd + heads x hd (normaliser) = width^2 / heads + width",
    .n_params = la_params,
    .n_acts = la_acts,
    .n_scratch = la_scratch,
    .state_size = la_state,
    .flops = la_flops,
    .init = la_init,
    .forward = la_forward,
    .backward = la_backward,
};
