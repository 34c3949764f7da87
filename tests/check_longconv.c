/* Long causal convolutions (direct and FFT paths) against a naive O(L^2) loop, forward and
 * backward; the routers (reference and top-k); and moe-mlp and hyena-experts under both
 * routings against the routing formula computed densely in double. */
#include "config.h"
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* y[c][b][t] = sum_{s<=t} h[c][t-s] u[c][b][s] + D[c] u[c][b][t], in double. */
static void naive_fwd(int nc, int B, int L, const float *u, const float *h, const float *D,
                      double *y)
{
    size_t cs = (size_t)B * L;
    for (int c = 0; c < nc; c++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                const float *uu = u + c * cs + (size_t)b * L;
                double s = (double)D[c] * uu[t];
                for (int k = 0; k <= t; k++) s += (double)h[(size_t)c * L + k] * uu[t - k];
                y[c * cs + (size_t)b * L + t] = s;
            }
}

/* Gradients of sum(r * y) by the chain rule written out as loops. */
static void naive_bwd(int nc, int B, int L, const float *u, const float *h, const float *D,
                      const float *r, double *du, double *dh, double *dD)
{
    size_t cs = (size_t)B * L;
    memset(du, 0, sizeof(double) * nc * cs);
    memset(dh, 0, sizeof(double) * nc * L);
    memset(dD, 0, sizeof(double) * nc);
    for (int c = 0; c < nc; c++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                size_t o = c * cs + (size_t)b * L;
                double g = r[o + t];
                dD[c] += g * u[o + t];
                du[o + t] += g * D[c];
                for (int k = 0; k <= t; k++) {
                    dh[(size_t)c * L + k] += g * u[o + t - k];
                    du[o + t - k] += g * h[(size_t)c * L + k];
                }
            }
}

static double max_rel(const float *a, const double *b, size_t n)
{
    double scale = 1e-3, err = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) err = fmax(err, fabs(a[i] - b[i]));
    return err / scale;
}

static void check_len(LcMode mode, int L)
{
    enum { NC = 3, B = 2 };
    size_t n = (size_t)NC * B * L;
    Rng rng;
    rng_seed(&rng, (uint64_t)L * 7 + mode);
    float *u = arena_alloc_floats(n), *r = arena_alloc_floats(n), *y = arena_alloc_floats(n),
          *du = arena_alloc_floats(n), *h = arena_alloc_floats((size_t)NC * L),
          *dh = arena_alloc_floats((size_t)NC * L), D[NC], dD[NC] = {0};
    float *work = arena_alloc_floats(ML_MAX_THREADS * lc_work_floats(L));
    double *yr = malloc(sizeof(double) * n), *dur = malloc(sizeof(double) * n),
           *dhr = malloc(sizeof(double) * NC * L), dDr[NC];
    ck_assert(u && r && y && du && h && dh && work && yr && dur && dhr);
    for (size_t i = 0; i < n; i++) u[i] = rng_normal(&rng), r[i] = rng_normal(&rng);
    for (int i = 0; i < NC * L; i++) h[i] = rng_normal(&rng) * expf(-0.01f * (i % L));
    for (int c = 0; c < NC; c++) D[c] = rng_normal(&rng);
    ck_assert_int_eq(lc_prepare(L), 0);
    longconv_fwd(mode, NC, B, L, (size_t)B * L, u, h, D, y, work, NULL);
    naive_fwd(NC, B, L, u, h, D, yr);
    ck_assert_msg(max_rel(y, yr, n) < 1e-5, "mode %d L %d: forward error %g", mode, L,
                  max_rel(y, yr, n));
    for (int i = 0; i < NC * L; i++) dh[i] = 0.5f; /* backward adds into dh and dD */
    for (int c = 0; c < NC; c++) dD[c] = 0.25f;
    longconv_bwd(mode, NC, B, L, (size_t)B * L, u, h, D, r, du, dh, dD, work, NULL);
    naive_bwd(NC, B, L, u, h, D, r, dur, dhr, dDr);
    for (int i = 0; i < NC * L; i++) dhr[i] += 0.5;
    for (int c = 0; c < NC; c++) dDr[c] += 0.25;
    ck_assert_msg(max_rel(du, dur, n) < 1e-5, "mode %d L %d: du error %g", mode, L,
                  max_rel(du, dur, n));
    ck_assert_msg(max_rel(dh, dhr, (size_t)NC * L) < 1e-5, "mode %d L %d: dh error %g", mode, L,
                  max_rel(dh, dhr, (size_t)NC * L));
    ck_assert_msg(max_rel(dD, dDr, NC) < 1e-5, "mode %d L %d: dD error", mode, L);
    arena_free(u), arena_free(r), arena_free(y), arena_free(du), arena_free(h), arena_free(dh);
    arena_free(work);
    free(yr), free(dur), free(dhr);
}

/* Hyena's gates fused into the passes give exactly what the plain convolution gives with the
 * gates applied around it: u = a * b, g = y * x0; dx0 = dg * y, dy = dg * x0, da = du * b,
 * db = du * a (the same products, so equal to the bit). */
static void check_gates(LcMode mode, int L)
{
    enum { NC = 3, B = 2 };
    size_t n = (size_t)NC * B * L, cs = (size_t)B * L, bytes = sizeof(float) * n;
    Rng rng;
    rng_seed(&rng, (uint64_t)L * 11 + mode);
    float *a = arena_alloc_floats(n), *b = arena_alloc_floats(n), *x0 = arena_alloc_floats(n),
          *dg = arena_alloc_floats(n), *u = arena_alloc_floats(n), *y = arena_alloc_floats(n),
          *y2 = arena_alloc_floats(n), *g = arena_alloc_floats(n), *dx0 = arena_alloc_floats(n),
          *da = arena_alloc_floats(n), *db = arena_alloc_floats(n), *dy = arena_alloc_floats(n),
          *du = arena_alloc_floats(n), *h = arena_alloc_floats((size_t)NC * L),
          *dh = arena_alloc_floats((size_t)NC * L), *dh2 = arena_alloc_floats((size_t)NC * L);
    float *work = arena_alloc_floats(ML_MAX_THREADS * lc_work_floats(L)), D[NC], dD[NC] = {0},
          dD2[NC] = {0};
    for (size_t i = 0; i < n; i++) {
        a[i] = rng_normal(&rng), b[i] = rng_normal(&rng);
        x0[i] = rng_normal(&rng), dg[i] = rng_normal(&rng);
        u[i] = a[i] * b[i];
    }
    for (int i = 0; i < NC * L; i++) h[i] = rng_normal(&rng) * expf(-0.01f * (i % L));
    for (int c = 0; c < NC; c++) D[c] = rng_normal(&rng);
    memset(dh, 0, sizeof(float) * NC * L);
    memset(dh2, 0, sizeof(float) * NC * L);
    ck_assert_int_eq(lc_prepare(L), 0);
    LcGates q = {.a = a, .b = b, .x0 = x0, .g = g, .y = y, .dg = dg, .dx0 = dx0, .da = da,
                 .db = db};
    longconv_fwd(mode, NC, B, L, cs, NULL, h, D, y, work, &q);
    longconv_fwd(mode, NC, B, L, cs, u, h, D, y2, work, NULL);
    ck_assert(!memcmp(y, y2, bytes));
    for (size_t i = 0; i < n; i++) ck_assert(g[i] == y2[i] * x0[i]);
    longconv_bwd(mode, NC, B, L, cs, NULL, h, D, NULL, NULL, dh, dD, work, &q);
    for (size_t i = 0; i < n; i++) dy[i] = dg[i] * x0[i];
    longconv_bwd(mode, NC, B, L, cs, u, h, D, dy, du, dh2, dD2, work, NULL);
    for (size_t i = 0; i < n; i++) {
        ck_assert(dx0[i] == dg[i] * y2[i]);
        ck_assert_msg(da[i] == du[i] * b[i] && db[i] == du[i] * a[i], "mode %d L %d at %zu",
                      mode, L, i);
    }
    ck_assert(!memcmp(dh, dh2, sizeof(float) * NC * L));
    ck_assert(!memcmp(dD, dD2, sizeof dD));
    float *all[] = {a, b, x0, dg, u, y, y2, g, dx0, da, db, dy, du, h, dh, dh2, work};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arena_free(all[i]);
}

static const int lens[] = {1, 2, 5, 17, 64, 100, 128, 257, 600};

START_TEST(gates_fused)
{
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        check_gates(LC_DIRECT, lens[i]);
        check_gates(LC_FFT, lens[i]);
    }
}
END_TEST

START_TEST(direct_matches_naive)
{
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) check_len(LC_DIRECT, lens[i]);
}
END_TEST

START_TEST(fft_matches_naive)
{
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) check_len(LC_FFT, lens[i]);
}
END_TEST

START_TEST(two_threads)
{
    pool_init(2);
    check_len(LC_AUTO, 33);
    check_len(LC_FFT, 300);
    check_len(LC_DIRECT, 300);
    pool_init(1);
}
END_TEST

START_TEST(router_selects_top_k)
{
    enum { R = 4, E = 6, K = 3 };
    float s[R * E] = {0.1f, 2.0f, -1.0f, 0.5f, 2.0f, 0.0f,  /* tie 1/4: lower index first */
                      5.0f, 4.0f, 3.0f, 2.0f, 1.0f, 0.0f,
                      -3.0f, -2.0f, -1.0f, 0.0f, 1.0f, 2.0f,
                      1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    int32_t idx[R * K];
    float p[R * K];
    router_topk(s, R, E, K, idx, p);
    int want[R * K] = {1, 4, 3, 0, 1, 2, 5, 4, 3, 0, 1, 2};
    for (int i = 0; i < R * K; i++) ck_assert_int_eq(idx[i], want[i]);
    for (int r = 0; r < R; r++) {
        /* softmax over the selected scores only */
        double z = 0;
        for (int j = 0; j < K; j++) z += exp(s[r * E + idx[r * K + j]]);
        double sum = 0;
        for (int j = 0; j < K; j++) {
            double want_p = exp(s[r * E + idx[r * K + j]]) / z;
            ck_assert_msg(fabs(p[r * K + j] - want_p) < 1e-6, "row %d slot %d", r, j);
            sum += p[r * K + j];
        }
        ck_assert(fabs(sum - 1) < 1e-6);
    }
    float frac[E];
    router_load(idx, R, E, K, frac);
    double tot = 0;
    for (int e = 0; e < E; e++) tot += frac[e];
    ck_assert(fabs(tot - 1) < 1e-6);
    ck_assert(fabs(frac[1] - 3.0 / 12) < 1e-6); /* expert 1 is chosen by all four rows but one */
    /* Grouping: every (row, slot) lands in its expert's range, rows ascending within it. */
    int32_t start[E + 1], pos[R * K], rowof[R * K];
    router_group(idx, R, E, K, start, pos, rowof);
    ck_assert_int_eq(start[E], R * K);
    for (int i = 0; i < R * K; i++) {
        int e = idx[i];
        ck_assert(pos[i] >= start[e] && pos[i] < start[e + 1]);
        ck_assert_int_eq(rowof[pos[i]], i / K);
    }
    char text[128];
    ck_assert(router_load_text(frac, E, text, sizeof text) > 0);
    ck_assert(strncmp(text, "expert load", 11) == 0);
}
END_TEST

START_TEST(router_backward)
{
    enum { R = 3, E = 5, K = 2 };
    Rng rng;
    rng_seed(&rng, 4);
    float s[R * E], dp[R * K], ds[R * E], p[R * K];
    int32_t idx[R * K];
    for (int i = 0; i < R * E; i++) s[i] = rng_normal(&rng);
    for (int i = 0; i < R * K; i++) dp[i] = rng_normal(&rng);
    router_topk(s, R, E, K, idx, p);
    router_topk_bwd(idx, p, dp, R, E, K, ds);
    for (int i = 0; i < R * E; i++) {
        /* finite difference of sum(dp * p) with the selection held */
        float keep = s[i];
        double f[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            s[i] = keep + (sgn ? -1e-3f : 1e-3f);
            int32_t ix2[R * K];
            float p2[R * K];
            router_topk(s, R, E, K, ix2, p2);
            f[sgn] = 0;
            for (int j = 0; j < R * K; j++) f[sgn] += dp[j] * p2[j];
        }
        s[i] = keep;
        double num = (f[0] - f[1]) / 2e-3;
        ck_assert_msg(fabs(num - ds[i]) < 2e-3, "ds[%d] %g vs %g", i, ds[i], num);
    }
}
END_TEST

/* The routers over the pool (router_route, router_route_bwd) give what the serial functions give,
 * bit for bit, on two threads and a row count that is not a whole number of blocks. */
START_TEST(pooled_routers_match_serial)
{
    enum { R = 1000, E = 8, K = 3 };
    float *s = malloc(sizeof(float) * R * E), *dp = malloc(sizeof(float) * R * E);
    float *p1 = malloc(sizeof(float) * R * E), *p2 = malloc(sizeof(float) * R * E);
    float *k1 = malloc(sizeof(float) * R * E), *k2 = malloc(sizeof(float) * R * E);
    float *d1 = malloc(sizeof(float) * R * E), *d2 = malloc(sizeof(float) * R * E);
    int32_t *i1 = malloc(sizeof(int32_t) * R * K), *i2 = malloc(sizeof(int32_t) * R * K);
    Rng rng;
    rng_seed(&rng, 11);
    for (int i = 0; i < R * E; i++) s[i] = rng_normal(&rng), dp[i] = rng_normal(&rng);
    pool_init(2);
    for (int dense = 0; dense <= 1; dense++) {
        size_t np = dense ? (size_t)R * E : (size_t)R * K;
        if (dense) {
            router_dense(s, R, E, K, p1, k1);
            router_dense_bwd(p1, k1, dp, R, E, d1);
        } else {
            router_topk(s, R, E, K, i1, p1);
            router_topk_bwd(i1, p1, dp, R, E, K, d1);
        }
        router_route(dense, s, R, E, K, dense ? NULL : i2, p2, dense ? k2 : NULL);
        router_route_bwd(dense, dense ? NULL : i2, p2, dense ? k2 : NULL, dp, R, E, K, d2);
        ck_assert(memcmp(p1, p2, sizeof(float) * np) == 0);
        ck_assert(memcmp(d1, d2, sizeof(float) * R * E) == 0);
        if (dense) ck_assert(memcmp(k1, k2, sizeof(float) * R * E) == 0);
        else ck_assert(memcmp(i1, i2, sizeof(int32_t) * R * K) == 0);
    }
    pool_init(1);
    free(s), free(dp), free(p1), free(p2), free(k1), free(k2), free(d1), free(d2), free(i1), free(i2);
}
END_TEST

/* ---- the reference routing and the mixtures of experts, against double precision ---- */

/* Routing weights of one row in double: reference = softmax over all E of the scores with those
 * below the k-th largest set to 0; topk = softmax over the k largest only, 0 elsewhere. */
static void naive_route(const double *s, int E, int k, int topk, double *p)
{
    double sorted[ML_MAX_EXPERTS], z[ML_MAX_EXPERTS], mx = -INFINITY, sum = 0;
    memcpy(sorted, s, sizeof(double) * E);
    for (int i = 0; i < E; i++) /* selection sort, descending */
        for (int j = i + 1; j < E; j++)
            if (sorted[j] > sorted[i]) {
                double t = sorted[i];
                sorted[i] = sorted[j], sorted[j] = t;
            }
    double thr = sorted[k - 1];
    for (int e = 0; e < E; e++) {
        z[e] = s[e] >= thr ? s[e] : topk ? -INFINITY : 0.0;
        if (z[e] > mx) mx = z[e];
    }
    for (int e = 0; e < E; e++) sum += p[e] = exp(z[e] - mx);
    for (int e = 0; e < E; e++) p[e] /= sum;
}

START_TEST(router_dense_matches_formula)
{
    enum { R = 5, E = 6, K = 2 };
    Rng rng;
    rng_seed(&rng, 11);
    float s[R * E], p[R * E], keep[R * E], dp[R * E], ds[R * E];
    for (int i = 0; i < R * E; i++) s[i] = 2 * rng_normal(&rng), dp[i] = rng_normal(&rng);
    s[E + 1] = -3.0f; /* a kept score below 0: it keeps its value, the others become 0 */
    router_dense(s, R, E, K, p, keep);
    for (int r = 0; r < R; r++) {
        double sd[E], pd[E], sum = 0;
        int kept = 0;
        for (int e = 0; e < E; e++) sd[e] = s[r * E + e];
        naive_route(sd, E, K, 0, pd);
        for (int e = 0; e < E; e++) {
            ck_assert_msg(fabs(p[r * E + e] - pd[e]) < 1e-6, "row %d expert %d: %g vs %g", r, e,
                          p[r * E + e], pd[e]);
            ck_assert(p[r * E + e] > 0); /* every expert keeps some weight */
            kept += keep[r * E + e] != 0;
            sum += p[r * E + e];
        }
        ck_assert_int_eq(kept, K);
        ck_assert(fabs(sum - 1) < 1e-6);
    }
    /* a tie at the k-th largest keeps both, as the reference's comparison with the minimum */
    float tie[4] = {1.0f, 3.0f, 1.0f, 0.5f}, pt[4], kt[4];
    router_dense(tie, 1, 4, 2, pt, kt);
    ck_assert(kt[0] == 1 && kt[1] == 1 && kt[2] == 1 && kt[3] == 0);
    /* mean weight per expert sums to 1 */
    float frac[E];
    router_mean_weight(p, R, E, frac);
    double tot = 0;
    for (int e = 0; e < E; e++) tot += frac[e];
    ck_assert(fabs(tot - 1) < 1e-6);
    /* backward: finite differences of sum(dp * p) in double through the formula */
    router_dense_bwd(p, keep, dp, R, E, ds);
    for (int i = 0; i < R * E; i++) {
        int r = i / E;
        double f[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            double sd[E], pd[E];
            for (int e = 0; e < E; e++) sd[e] = s[r * E + e];
            sd[i % E] += sgn ? -1e-6 : 1e-6;
            naive_route(sd, E, K, 0, pd);
            f[sgn] = 0;
            for (int e = 0; e < E; e++) f[sgn] += dp[r * E + e] * pd[e];
        }
        double num = (f[0] - f[1]) / 2e-6;
        ck_assert_msg(fabs(num - ds[i]) < 1e-5, "ds[%d] %g vs %g", i, ds[i], num);
    }
}
END_TEST

/* A layer of the first kind of `stack` at width d, B x L, parameters initialised and moved off
 * their initial constants. */
typedef struct {
    Layer l;
    Dims dm;
    size_t np, nx;
} TL;

static void tl_new(TL *t, const char *stack, int d, int B, int L, uint64_t seed)
{
    StackSpec sp;
    MlError err;
    ck_assert_msg(stack_parse(stack, "test", d, &sp, &err) == 0, "%s", err.msg);
    memset(t, 0, sizeof *t);
    t->l.kind = sp.kind[0];
    layer_cfg_default(t->l.kind, d, 5, L, &t->l.cfg);
    memcpy(t->l.cfg.knob, sp.knob[0], sizeof t->l.cfg.knob);
    t->dm = (Dims){B, L, NULL};
    t->np = t->l.kind->n_params(&t->l.cfg);
    t->nx = (size_t)B * L * d;
    t->l.params = arena_alloc_floats(t->np);
    t->l.grads = arena_alloc_floats(t->np);
    t->l.acts = arena_alloc_floats(t->l.kind->n_acts(&t->l.cfg, t->dm));
    t->l.scratch = arena_alloc_floats(t->l.kind->n_scratch(&t->l.cfg, t->dm));
    Rng rng;
    rng_seed(&rng, seed);
    t->l.kind->init(&t->l, &rng);
    for (size_t i = 0; i < t->np; i++) t->l.params[i] += 0.3f * rng_normal(&rng);
}

static void tl_free(TL *t)
{
    arena_free(t->l.params), arena_free(t->l.grads), arena_free(t->l.acts), arena_free(t->l.scratch);
}

static double gelu_d(double x) { return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

/* moe-mlp in double, as the reference writes it: h = (x W1) gelu(x W2), z_e = h Wd_e, scores
 * x Wr + br, y = sum_e p_e z_e. Parameters: Wup (d x 2C), Wd (E x C x d), Wr (d x E), br (E). */
static void naive_moe(const double *P, const double *x, int rows, int d, int E, int k, int C,
                      int topk, double *y)
{
    const double *Wup = P, *Wd = Wup + (size_t)d * 2 * C, *Wr = Wd + (size_t)E * C * d,
                 *br = Wr + (size_t)d * E;
    double h[256], s[ML_MAX_EXPERTS], p[ML_MAX_EXPERTS];
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * d;
        for (int c = 0; c < C; c++) {
            double u1 = 0, u2 = 0;
            for (int i = 0; i < d; i++) u1 += xr[i] * Wup[i * 2 * C + c], u2 += xr[i] * Wup[i * 2 * C + C + c];
            h[c] = u1 * gelu_d(u2);
        }
        for (int e = 0; e < E; e++) {
            s[e] = br[e];
            for (int i = 0; i < d; i++) s[e] += xr[i] * Wr[i * E + e];
        }
        naive_route(s, E, k, topk, p);
        for (int j = 0; j < d; j++) {
            double v = 0;
            for (int e = 0; e < E; e++) {
                double z = 0;
                for (int c = 0; c < C; c++) z += h[c] * Wd[((size_t)e * C + c) * d + j];
                v += p[e] * z;
            }
            y[(size_t)r * d + j] = v;
        }
    }
}

static double naive_moe_loss(const double *P, const double *x, const double *w, int rows, int d,
                             int E, int k, int C, int topk, double *y)
{
    naive_moe(P, x, rows, d, E, k, C, topk, y);
    double L = 0;
    for (int i = 0; i < rows * d; i++) L += w[i] * y[i];
    return L;
}

/* The layer's forward equals the formula, and its gradients equal central differences of the
 * double formula (steps of 1e-6, so they are exact to about 1e-9). */
static void check_moe_naive(const char *stack, int E, int k, int inner, int topk)
{
    enum { D = 8, B = 2, L = 5 };
    TL t;
    tl_new(&t, stack, D, B, L, 21);
    int rows = B * L, C = E * inner;
    double *P = malloc(sizeof(double) * t.np), *x = malloc(sizeof(double) * t.nx),
           *w = malloc(sizeof(double) * t.nx), *y = malloc(sizeof(double) * t.nx);
    float *xf = arena_alloc_floats(t.nx), *yf = arena_alloc_floats(t.nx),
          *wf = arena_alloc_floats(t.nx), *dx = arena_alloc_floats(t.nx);
    Rng rng;
    rng_seed(&rng, 5);
    for (size_t i = 0; i < t.np; i++) P[i] = t.l.params[i];
    for (size_t i = 0; i < t.nx; i++) xf[i] = rng_normal(&rng), x[i] = xf[i];
    for (size_t i = 0; i < t.nx; i++) wf[i] = rng_normal(&rng), w[i] = wf[i];
    t.l.kind->forward(&t.l, xf, yf, t.dm);
    naive_moe(P, x, rows, D, E, k, C, topk, y);
    for (size_t i = 0; i < t.nx; i++)
        ck_assert_msg(fabs(yf[i] - y[i]) < 1e-5 + 1e-4 * fabs(y[i]), "%s: y[%zu] %g vs %g", stack,
                      i, yf[i], y[i]);
    memset(t.l.grads, 0, sizeof(float) * t.np);
    t.l.kind->backward(&t.l, xf, wf, dx, t.dm);
    for (int pass = 0; pass < 2; pass++) {
        double *v = pass ? x : P;
        const float *g = pass ? dx : t.l.grads;
        size_t n = pass ? t.nx : t.np;
        for (size_t i = 0; i < n; i++) {
            double keep = v[i];
            v[i] = keep + 1e-6;
            double up = naive_moe_loss(P, x, w, rows, D, E, k, C, topk, y);
            v[i] = keep - 1e-6;
            double down = naive_moe_loss(P, x, w, rows, D, E, k, C, topk, y);
            v[i] = keep;
            double num = (up - down) / 2e-6;
            ck_assert_msg(fabs(num - g[i]) < 1e-4 + 1e-4 * fabs(num), "%s: d/d%s[%zu] %g vs %g",
                          stack, pass ? "x" : "param", i, g[i], num);
        }
    }
    free(P), free(x), free(w), free(y);
    arena_free(xf), arena_free(yf), arena_free(wf), arena_free(dx);
    tl_free(&t);
}

START_TEST(moe_matches_formula)
{
    check_moe_naive("moe-mlp(experts=4,top_k=2,inner=3)", 4, 2, 3, 0); /* reference, the default */
    check_moe_naive("moe-mlp(experts=4,top_k=2,inner=3,routing=reference)", 4, 2, 3, 0);
    check_moe_naive("moe-mlp(experts=5,top_k=3,inner=2,routing=reference)", 5, 3, 2, 0);
    check_moe_naive("moe-mlp(experts=4,top_k=2,inner=3,routing=topk)", 4, 2, 3, 1);
    check_moe_naive("moe-mlp(experts=5,top_k=1,inner=2,routing=topk)", 5, 1, 2, 1);
}
END_TEST

/* hyena-experts: y = bout + sum_e p_e (y_e - bout), where y_e is the layer's output with every
 * token sent to expert e alone (routing=topk, top_k=1, the router's bias forcing e) and p_e the
 * routing formula in double from the router's scores. The backward is the same sum: each forced
 * expert's backward with upstream p_e dy, plus the router's part from the formula's gradient
 * over the scores in double. */
static void check_experts_naive(const char *stack, const char *one, int E, int k, int inner, int topk)
{
    enum { D = 8, B = 2, L = 6 };
    TL t, t1;
    tl_new(&t, stack, D, B, L, 31);
    tl_new(&t1, one, D, B, L, 31);
    ck_assert_int_eq(t.np, t1.np);
    int rows = B * L;
    size_t o_bout = t.np - D, o_Wout = o_bout - (size_t)inner * D, o_br = o_Wout - E,
           o_Wr = o_br - (size_t)D * E;
    float *x = arena_alloc_floats(t.nx), *y = arena_alloc_floats(t.nx), *w = arena_alloc_floats(t.nx),
          *dx = arena_alloc_floats(t.nx), *ye = arena_alloc_floats(t.nx * E),
          *dy1 = arena_alloc_floats(t.nx), *dx1 = arena_alloc_floats(t.nx);
    double *p = malloc(sizeof(double) * rows * E), *ds = malloc(sizeof(double) * rows * E),
           *gref = calloc(t.np, sizeof(double)), *dxref = calloc(t.nx, sizeof(double));
    Rng rng;
    rng_seed(&rng, 6);
    for (size_t i = 0; i < t.nx; i++) x[i] = rng_normal(&rng), w[i] = rng_normal(&rng);
    const float *P = t.l.params, *bout = P + o_bout;
    /* the routing formula over the scores, and its gradient by differences in double */
    for (int r = 0; r < rows; r++) {
        double s[ML_MAX_EXPERTS];
        for (int e = 0; e < E; e++) {
            s[e] = P[o_br + e];
            for (int i = 0; i < D; i++) s[e] += (double)x[r * D + i] * P[o_Wr + (size_t)i * E + e];
        }
        naive_route(s, E, k, topk, p + (size_t)r * E);
    }
    /* each expert alone */
    memset(t1.l.grads, 0, sizeof(float) * t1.np);
    for (int e = 0; e < E; e++) {
        memcpy(t1.l.params, P, sizeof(float) * t.np);
        for (int q = 0; q < E; q++) t1.l.params[o_br + q] = q == e ? 1e4f : -1e4f;
        t1.l.kind->forward(&t1.l, x, ye + (size_t)e * t.nx, t1.dm);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < D; j++) dy1[r * D + j] = (float)(p[(size_t)r * E + e] * w[r * D + j]);
        t1.l.kind->backward(&t1.l, x, dy1, dx1, t1.dm); /* grads add up over the experts */
        for (size_t i = 0; i < t.nx; i++) dxref[i] += dx1[i];
    }
    for (size_t i = 0; i < t.np; i++) gref[i] = t1.l.grads[i];
    for (int r = 0; r < rows; r++) {
        double s[ML_MAX_EXPERTS];
        for (int e = 0; e < E; e++) {
            s[e] = P[o_br + e];
            for (int i = 0; i < D; i++) s[e] += (double)x[r * D + i] * P[o_Wr + (size_t)i * E + e];
        }
        for (int e = 0; e < E; e++) { /* d/ds_e of sum_j w_j sum_q p_q (y_q - bout)_j */
            double f[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                double s2[ML_MAX_EXPERTS], p2[ML_MAX_EXPERTS];
                memcpy(s2, s, sizeof s2);
                s2[e] += sgn ? -1e-6 : 1e-6;
                naive_route(s2, E, k, topk, p2);
                f[sgn] = 0;
                for (int q = 0; q < E; q++)
                    for (int j = 0; j < D; j++)
                        f[sgn] += w[r * D + j] * p2[q] * (ye[(size_t)q * t.nx + r * D + j] - bout[j]);
            }
            ds[(size_t)r * E + e] = (f[0] - f[1]) / 2e-6;
        }
        for (int e = 0; e < E; e++) {
            gref[o_br + e] += ds[(size_t)r * E + e];
            for (int i = 0; i < D; i++) {
                gref[o_Wr + (size_t)i * E + e] += x[r * D + i] * ds[(size_t)r * E + e];
                dxref[r * D + i] += ds[(size_t)r * E + e] * P[o_Wr + (size_t)i * E + e];
            }
        }
    }
    /* forward */
    t.l.kind->forward(&t.l, x, y, t.dm);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < D; j++) {
            double v = bout[j];
            for (int e = 0; e < E; e++)
                v += p[(size_t)r * E + e] * ((double)ye[(size_t)e * t.nx + r * D + j] - bout[j]);
            ck_assert_msg(fabs(y[r * D + j] - v) < 1e-5 + 1e-4 * fabs(v), "%s: y[%d][%d] %g vs %g",
                          stack, r, j, y[r * D + j], v);
        }
    /* backward */
    memset(t.l.grads, 0, sizeof(float) * t.np);
    t.l.kind->backward(&t.l, x, w, dx, t.dm);
    for (size_t i = 0; i < t.np; i++)
        ck_assert_msg(fabs(t.l.grads[i] - gref[i]) < 1e-4 + 1e-3 * fabs(gref[i]),
                      "%s: d/dparam[%zu] %g vs %g", stack, i, t.l.grads[i], gref[i]);
    for (size_t i = 0; i < t.nx; i++)
        ck_assert_msg(fabs(dx[i] - dxref[i]) < 1e-4 + 1e-3 * fabs(dxref[i]), "%s: d/dx[%zu] %g vs %g",
                      stack, i, dx[i], dxref[i]);
    free(p), free(ds), free(gref), free(dxref);
    arena_free(x), arena_free(y), arena_free(w), arena_free(dx), arena_free(ye), arena_free(dy1),
        arena_free(dx1);
    tl_free(&t), tl_free(&t1);
}

START_TEST(experts_match_formula)
{
    const char *one = "hyena-experts(experts=4,top_k=1,inner=2,filter=3,routing=topk)";
    check_experts_naive("hyena-experts(experts=4,top_k=2,inner=2,filter=3)", one, 4, 2, 2, 0);
    check_experts_naive("hyena-experts(experts=4,top_k=3,inner=2,filter=3,routing=reference)", one,
                        4, 3, 2, 0);
    check_experts_naive("hyena-experts(experts=4,top_k=2,inner=2,filter=3,routing=topk)", one, 4, 2,
                        2, 1);
}
END_TEST

/* Every parameter and input of the new kinds at a small size (the shared gradient check samples
 * a few entries, which can miss small parameter groups such as the filter's frequencies). */
static double loss_of(Layer *l, const float *x, float *y, const float *r, Dims dm, size_t ny)
{
    l->kind->forward(l, x, y, dm);
    double s = 0;
    for (size_t i = 0; i < ny; i++) s += (double)r[i] * y[i];
    return s;
}

static int full_check(const char *stack, int width, int B, int L)
{
    StackSpec sp;
    MlError err;
    ck_assert_msg(stack_parse(stack, "test", width, &sp, &err) == 0, "%s", err.msg);
    Layer l = {.kind = sp.kind[0]};
    layer_cfg_default(l.kind, width, 5, L + 2, &l.cfg);
    memcpy(l.cfg.knob, sp.knob[0], sizeof l.cfg.knob);
    Dims dm = {B, L, NULL};
    size_t np = l.kind->n_params(&l.cfg), nx = (size_t)B * L * width;
    l.params = arena_alloc_floats(np);
    l.grads = arena_alloc_floats(np);
    l.acts = arena_alloc_floats(l.kind->n_acts(&l.cfg, dm));
    l.scratch = arena_alloc_floats(l.kind->n_scratch(&l.cfg, dm));
    float *x = arena_alloc_floats(nx), *dx = arena_alloc_floats(nx), *y = arena_alloc_floats(nx),
          *r = arena_alloc_floats(nx);
    Rng rng;
    rng_seed(&rng, 78); /* a seed with no near-tie in the top-k selections (a tie is a kink) */
    l.kind->init(&l, &rng);
    for (size_t i = 0; i < np; i++) l.params[i] += 0.1f * rng_normal(&rng);
    for (size_t i = 0; i < nx; i++) x[i] = rng_normal(&rng), r[i] = rng_normal(&rng);
    loss_of(&l, x, y, r, dm, nx);
    l.kind->backward(&l, x, r, dx, dm);
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        float *v = pass ? x : l.params, *g = pass ? dx : l.grads;
        size_t n = pass ? nx : np;
        for (size_t i = 0; i < n; i++) {
            float keep = v[i];
            v[i] = keep + 1e-2f;
            double up = loss_of(&l, x, y, r, dm, nx);
            v[i] = keep - 1e-2f;
            double down = loss_of(&l, x, y, r, dm, nx);
            v[i] = keep;
            double num = (up - down) / 2e-2, ana = g[i];
            if (fabs(num - ana) > 5e-3 + 2e-2 * fmax(fabs(num), fabs(ana))) {
                if (bad < 5)
                    fprintf(stderr, "%s: d/d%s[%zu] analytic %g numeric %g\n", stack,
                            pass ? "x" : "param", i, ana, num);
                bad++;
            }
        }
    }
    arena_free(l.params), arena_free(l.grads), arena_free(l.acts), arena_free(l.scratch);
    arena_free(x), arena_free(dx), arena_free(y), arena_free(r);
    return bad;
}

START_TEST(new_kinds_every_gradient)
{
    const char *stacks[] = {"hyena(expand=1,filter=3)", "mh-hyena(head=4,filter=2)",
                            "hyena-experts(experts=4,top_k=2,inner=2,filter=3)",
                            "moe-mlp(experts=4,top_k=2,inner=3)", "moe-mlp(experts=3,top_k=1,inner=2)",
                            "hyena-experts(experts=4,top_k=2,inner=2,filter=3,routing=topk)",
                            "moe-mlp(experts=4,top_k=2,inner=3,routing=topk)",
                            "moe-mlp(experts=3,top_k=1,inner=2,routing=topk)",
                            "hyena-experts(experts=3,top_k=1,inner=2,filter=3,routing=reference)"};
    for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++) {
        int bad = full_check(stacks[i], 8, 2, 6);
        ck_assert_msg(bad == 0, "%s: %d gradient entries disagree", stacks[i], bad);
    }
}
END_TEST

int main(void)
{
    pool_init(1);
    Suite *s = suite_create("longconv");
    TCase *tc = tcase_create("longconv");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, direct_matches_naive);
    tcase_add_test(tc, fft_matches_naive);
    tcase_add_test(tc, gates_fused);
    tcase_add_test(tc, two_threads);
    tcase_add_test(tc, router_selects_top_k);
    tcase_add_test(tc, router_backward);
    tcase_add_test(tc, pooled_routers_match_serial);
    tcase_add_test(tc, router_dense_matches_formula);
    tcase_add_test(tc, moe_matches_formula);
    tcase_add_test(tc, experts_match_formula);
    tcase_add_test(tc, new_kinds_every_gradient);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
