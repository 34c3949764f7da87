/* The recurrent scans (Mamba's selective scan, RWKV's WKV) against naive double-precision
 * references: the forward output, and the gradient with respect to every scan input against
 * central differences of the naive forward. Shapes take more than one checkpoint chunk and a
 * part-filled last block or head; each runs on one and on two threads. Then the layers
 * themselves at a width that is not a multiple of 16 and a length past one chunk. */
#include "config.h"
#include "internal.h"
#include "layers/recurrent.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double *dvec(size_t n) { return calloc(n, sizeof(double)); }
static float *fvec(size_t n) { return arena_alloc_floats(n); }
static void to_f(const double *a, float *b, size_t n) { for (size_t i = 0; i < n; i++) b[i] = (float)a[i]; }

/* |a - b| <= atol + rtol * max(|a|, |b|) everywhere; reports the first few misses. */
static int close_all(const char *what, const float *a, const double *b, size_t n, double atol,
                     double rtol)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fmax(fabs(a[i]), fabs(b[i]));
        if (!(fabs(a[i] - b[i]) <= tol)) {
            if (bad < 5) fprintf(stderr, "%s[%zu]: %.8g vs reference %.8g\n", what, i, a[i], b[i]);
            bad++;
        }
    }
    return bad;
}

/* ---------------- Mamba ---------------- */

/* d_state MN: 3 takes the scan's general path, 4 (the default) the one compiled for it */
enum { MB = 2, ML = 19, ME = 40, MR = 2, MN_MAX = 4 };
static int MN, MP;
#define MROWS ((size_t)MB * ML)

typedef struct {
    double u[MROWS * ME], dl[MROWS * ME], bc[MROWS * (MR + 2 * MN_MAX)], Al[ME * MN_MAX], D[ME];
} MIn;

/* sum over outputs of w * ys, ys from the plain recurrence */
static double mamba_naive(const MIn *in, const double *w, double *ys)
{
    double loss = 0;
    for (int b = 0; b < MB; b++)
        for (int c = 0; c < ME; c++) {
            double h[MN_MAX] = {0}, A[MN_MAX];
            for (int n = 0; n < MN; n++) A[n] = -exp(in->Al[c * MN + n]);
            for (int t = 0; t < ML; t++) {
                size_t r = (size_t)b * ML + t;
                double u = in->u[r * ME + c], dl = in->dl[r * ME + c], y = in->D[c] * u;
                for (int n = 0; n < MN; n++) {
                    h[n] = exp(dl * A[n]) * h[n] + dl * in->bc[r * MP + MR + n] * u;
                    y += in->bc[r * MP + MR + MN + n] * h[n];
                }
                if (ys) ys[r * ME + c] = y;
                if (w) loss += w[r * ME + c] * y;
            }
        }
    return loss;
}

/* d loss / d v[i] for every i, by central differences */
static void fd_grad(double (*f)(void *, const double *), void *ctx, double *v, size_t n,
                    const double *w, double *g)
{
    const double eps = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + eps;
        double up = f(ctx, w);
        v[i] = keep - eps;
        double down = f(ctx, w);
        v[i] = keep;
        g[i] = (up - down) / (2 * eps);
    }
}

static double mamba_loss(void *ctx, const double *w) { return mamba_naive(ctx, w, NULL); }

static void mamba_case(int threads, int n_state)
{
    MN = n_state, MP = MR + 2 * n_state;
    pool_init(threads);
    Rng rng;
    rng_seed(&rng, 11);
    MIn *in = calloc(1, sizeof *in);
    double *w = dvec(MROWS * ME), *ys = dvec(MROWS * ME);
    for (size_t i = 0; i < MROWS * ME; i++) {
        in->u[i] = rng_normal(&rng);
        in->dl[i] = 0.01 + 0.5 * rng_uniform(&rng);
        w[i] = rng_normal(&rng);
    }
    for (size_t i = 0; i < MROWS * MP; i++) in->bc[i] = i % MP < MR ? 0 : rng_normal(&rng);
    for (int c = 0; c < ME; c++) {
        in->D[c] = 1 + 0.1 * rng_normal(&rng);
        for (int n = 0; n < MN; n++) in->Al[c * MN + n] = log(n + 1.0) + 0.1 * rng_normal(&rng);
    }
    /* float copies; the reference then runs on exactly the rounded inputs */
    float *u = fvec(MROWS * ME), *dl = fvec(MROWS * ME), *bc = fvec(MROWS * MP), *Al = fvec(ME * MN),
          *D = fvec(ME), *y = fvec(MROWS * ME), *dys = fvec(MROWS * ME);
    to_f(in->u, u, MROWS * ME), to_f(in->dl, dl, MROWS * ME), to_f(in->bc, bc, MROWS * MP);
    to_f(in->Al, Al, ME * MN), to_f(in->D, D, ME), to_f(w, dys, MROWS * ME);
    for (size_t i = 0; i < MROWS * ME; i++) in->u[i] = u[i], in->dl[i] = dl[i], w[i] = dys[i];
    for (size_t i = 0; i < MROWS * MP; i++) in->bc[i] = bc[i];
    for (int i = 0; i < ME * MN; i++) in->Al[i] = Al[i];
    for (int i = 0; i < ME; i++) in->D[i] = D[i];

    mamba_naive(in, NULL, ys);
    mamba_scan_forward(MB, ML, ME, MN, MR, MP, u, dl, bc, Al, D, y);
    int bad = close_all("mamba ys", y, ys, MROWS * ME, 1e-5, 1e-4);

    float *du = fvec(MROWS * ME), *dpre = fvec(MROWS * ME), *dbc = fvec(MROWS * MP),
          *dAl = fvec(ME * MN), *dD = fvec(ME);
    ck_assert(mamba_scan_backward(MB, ML, ME, MN, MR, MP, u, dl, bc, Al, D, dys, du, dpre, dbc,
                                  dAl, dD) == 0);
    double *g = dvec(MROWS * ME);
    fd_grad(mamba_loss, in, in->u, MROWS * ME, w, g);
    bad += close_all("mamba du", du, g, MROWS * ME, 1e-5, 1e-3);
    fd_grad(mamba_loss, in, in->dl, MROWS * ME, w, g);
    for (size_t i = 0; i < MROWS * ME; i++) g[i] *= -expm1(-in->dl[i]); /* to softplus's input */
    bad += close_all("mamba dpre", dpre, g, MROWS * ME, 1e-5, 1e-3);
    double *gb = dvec(MROWS * MP);
    fd_grad(mamba_loss, in, in->bc, MROWS * MP, w, gb);
    bad += close_all("mamba dB dC", dbc, gb, MROWS * MP, 1e-5, 1e-3);
    fd_grad(mamba_loss, in, in->Al, ME * MN, w, g);
    bad += close_all("mamba dA_log", dAl, g, ME * MN, 1e-4, 1e-3);
    fd_grad(mamba_loss, in, in->D, ME, w, g);
    bad += close_all("mamba dD", dD, g, ME, 1e-4, 1e-3);
    ck_assert_msg(bad == 0, "mamba scan (%d threads, d_state %d): %d entries disagree", threads,
                  n_state, bad);

    free(in), free(w), free(ys), free(g), free(gb);
    arena_free(u), arena_free(dl), arena_free(bc), arena_free(Al), arena_free(D), arena_free(y);
    arena_free(dys), arena_free(du), arena_free(dpre), arena_free(dbc), arena_free(dAl), arena_free(dD);
    pool_init(1);
}

START_TEST(mamba_scan_one_thread) { mamba_case(1, 3); }
END_TEST
START_TEST(mamba_scan_two_threads) { mamba_case(2, 3); }
END_TEST
START_TEST(mamba_scan_default_state) { mamba_case(1, 4); }
END_TEST
START_TEST(mamba_scan_default_state_two_threads) { mamba_case(2, 4); }
END_TEST

/* ---------------- RWKV WKV ---------------- */

enum { WB = 2, WL = 21, WD = 24 }; /* heads of 16 and 8; two state chunks */
#define WROWS ((size_t)WB * WL)

typedef struct { double r[WROWS * WD], k[WROWS * WD], v[WROWS * WD], lw[WROWS * WD], u[WD]; int per_token; } WIn;

static double wkv_naive(const WIn *in, const double *w, double *y)
{
    double loss = 0;
    for (int b = 0; b < WB; b++)
        for (int c0 = 0; c0 < WD; c0 += 16) {
            int hs = WD - c0 < 16 ? WD - c0 : 16;
            double S[16][16] = {{0}};
            for (int t = 0; t < WL; t++) {
                size_t o = ((size_t)b * WL + t) * WD + c0;
                const double *lw = in->per_token ? in->lw + o : in->lw + c0;
                for (int j = 0; j < hs; j++) {
                    double s = 0;
                    for (int i = 0; i < hs; i++)
                        s += in->r[o + i] * (S[i][j] + in->u[c0 + i] * in->k[o + i] * in->v[o + j]);
                    if (y) y[o + j] = s;
                    if (w) loss += w[o + j] * s;
                }
                for (int i = 0; i < hs; i++) {
                    double wi = exp(lw[i]);
                    for (int j = 0; j < hs; j++) S[i][j] = wi * S[i][j] + in->k[o + i] * in->v[o + j];
                }
            }
        }
    return loss;
}

static double wkv_loss(void *ctx, const double *w) { return wkv_naive(ctx, w, NULL); }

static void wkv_case(int threads, int per_token)
{
    pool_init(threads);
    Rng rng;
    rng_seed(&rng, 21 + per_token);
    WIn *in = calloc(1, sizeof *in);
    in->per_token = per_token;
    size_t n = WROWS * WD, nlw = per_token ? n : WD;
    double *w = dvec(n), *yref = dvec(n);
    for (size_t i = 0; i < n; i++) {
        in->r[i] = 0.5 * rng_normal(&rng);
        in->k[i] = 0.5 * rng_normal(&rng);
        in->v[i] = rng_normal(&rng);
        w[i] = rng_normal(&rng);
    }
    for (size_t i = 0; i < nlw; i++) in->lw[i] = -exp(-3 + 4 * rng_uniform(&rng)); /* w in (0.07, 0.95) */
    for (int i = 0; i < WD; i++) in->u[i] = 0.3 * rng_normal(&rng);
    float *r = fvec(n), *k = fvec(n), *v = fvec(n), *lw = fvec(n), *u = fvec(WD), *y = fvec(n),
          *dy = fvec(n);
    to_f(in->r, r, n), to_f(in->k, k, n), to_f(in->v, v, n), to_f(in->lw, lw, nlw);
    to_f(in->u, u, WD), to_f(w, dy, n);
    for (size_t i = 0; i < n; i++) in->r[i] = r[i], in->k[i] = k[i], in->v[i] = v[i], w[i] = dy[i];
    for (size_t i = 0; i < nlw; i++) in->lw[i] = lw[i];
    for (int i = 0; i < WD; i++) in->u[i] = u[i];
    size_t lws = per_token ? WD : 0;

    wkv_naive(in, NULL, yref);
    ck_assert(rwkv_wkv_forward(WB, WL, WD, r, k, v, lw, lws, u, y) == 0);
    int bad = close_all("wkv y", y, yref, n, 1e-5, 1e-4);

    float *dr = fvec(n), *dk = fvec(n), *dv = fvec(n), *dlw = fvec(n), *du = fvec(n);
    ck_assert(rwkv_wkv_backward(WB, WL, WD, r, k, v, lw, lws, u, dy, dr, dk, dv, dlw, du) == 0);
    double *g = dvec(n);
    fd_grad(wkv_loss, in, in->r, n, w, g);
    bad += close_all("wkv dr", dr, g, n, 1e-5, 1e-3);
    fd_grad(wkv_loss, in, in->k, n, w, g);
    bad += close_all("wkv dk", dk, g, n, 1e-5, 1e-3);
    fd_grad(wkv_loss, in, in->v, n, w, g);
    bad += close_all("wkv dv", dv, g, n, 1e-5, 1e-3);
    /* per-channel parameters: the per-token gradients summed over rows */
    float sum_u[WD] = {0}, sum_lw[WD] = {0};
    for (size_t i = 0; i < n; i++) sum_u[i % WD] += du[i], sum_lw[i % WD] += dlw[i];
    fd_grad(wkv_loss, in, in->lw, nlw, w, g);
    bad += close_all("wkv dlw", per_token ? dlw : sum_lw, g, nlw, 1e-5, 1e-3);
    fd_grad(wkv_loss, in, in->u, WD, w, g);
    bad += close_all("wkv du", sum_u, g, WD, 1e-4, 1e-3);
    ck_assert_msg(bad == 0, "wkv (%d threads, per_token %d): %d entries disagree", threads,
                  per_token, bad);

    free(in), free(w), free(yref), free(g);
    arena_free(r), arena_free(k), arena_free(v), arena_free(lw), arena_free(u), arena_free(y);
    arena_free(dy), arena_free(dr), arena_free(dk), arena_free(dv), arena_free(dlw), arena_free(du);
    pool_init(1);
}

START_TEST(wkv_per_token_decay) { wkv_case(1, 1); }
END_TEST
START_TEST(wkv_per_channel_decay) { wkv_case(1, 0); }
END_TEST
START_TEST(wkv_two_threads) { wkv_case(2, 1); }
END_TEST

/* ---------------- the layers at an awkward shape ---------------- */

/* Finite differences of sum(r * forward(x)) against backward, for x and parameters, at width
 * 24 (a part head, a part scan block) and length 19 (two state chunks). */
static void layer_case(const char *name)
{
    enum { B = 2, L = 19, D = 24 };
    const LayerKind *k = layer_kind_find(name);
    ck_assert_msg(k != NULL, "%s not registered", name);
    Layer l = {.kind = k};
    layer_cfg_default(k, D, 8, L, &l.cfg);
    Dims dm = {B, L, NULL};
    size_t np = k->n_params(&l.cfg), nx = (size_t)B * L * D;
    l.params = fvec(np), l.grads = fvec(np);
    l.acts = fvec(k->n_acts(&l.cfg, dm)), l.scratch = fvec(k->n_scratch(&l.cfg, dm));
    float *x = fvec(nx), *y = fvec(nx), *r = fvec(nx), *dx = fvec(nx);
    Rng rng;
    rng_seed(&rng, 5);
    k->init(&l, &rng);
    for (size_t i = 0; i < np; i++) l.params[i] += 0.05f * rng_normal(&rng);
    for (size_t i = 0; i < nx; i++) x[i] = rng_normal(&rng), r[i] = rng_normal(&rng);
    k->forward(&l, x, y, dm);
    for (size_t i = 0; i < nx; i++) ck_assert_msg(isfinite(y[i]), "%s: non-finite output", name);
    k->backward(&l, x, r, dx, dm);
    int bad = 0;
    for (int s = 0; s < 120; s++) {
        bool px = s % 2;
        size_t i = rng_below(&rng, (uint32_t)(px ? nx : np));
        float *v = px ? &x[i] : &l.params[i], keep = *v, ana = px ? dx[i] : l.grads[i];
        double lo = 0, hi = 0;
        *v = keep + 1e-2f;
        k->forward(&l, x, y, dm);
        for (size_t q = 0; q < nx; q++) hi += (double)r[q] * y[q];
        *v = keep - 1e-2f;
        k->forward(&l, x, y, dm);
        for (size_t q = 0; q < nx; q++) lo += (double)r[q] * y[q];
        *v = keep;
        double num = (hi - lo) / 2e-2;
        if (fabs(num - ana) > 1e-2 + 2e-2 * fmax(fabs(num), fabs(ana))) {
            if (bad < 5) fprintf(stderr, "%s: d/d%s[%zu] analytic %g numeric %g\n", name, px ? "x" : "param", i, ana, num);
            bad++;
        }
    }
    ck_assert_msg(bad == 0, "%s: %d gradient entries disagree", name, bad);
    arena_free(l.params), arena_free(l.grads), arena_free(l.acts), arena_free(l.scratch);
    arena_free(x), arena_free(y), arena_free(r), arena_free(dx);
}

START_TEST(layers_awkward_shape)
{
    const char *names[] = {"mamba", "rwkv5-time-mixer", "rwkv6-time-mixer", "rwkv5-channel-mixer",
                           "rwkv6-channel-mixer"};
    for (int t = 1; t <= 2; t++) {
        pool_init(t);
        for (int i = 0; i < 5; i++) layer_case(names[i]);
    }
    pool_init(1);
}
END_TEST

/* The whole Mamba layer against a naive double-precision forward written from the equations
 * (parameters in the layer's order: W_in d x 2E, conv_w K x E tap-major, conv_b, W_x E x P,
 * W_dt R x E, b_dt, A_log E x N, D, W_out E x d), then its backward against central
 * differences at every parameter and every input. Width 20 makes the inner width 40: the last
 * block of the conv passes, the scan and the thin products is 8 channels of 16, and d_state
 * 16 gives x_proj 34 columns (two vectors and a part). */
static double silu_d(double x) { return x / (1 + exp(-x)); }

static void mamba_layer_naive(const Layer *l, int B, int L, const float *xf, double *out)
{
    int d = l->cfg.width, N = l->cfg.knob[0], E = l->cfg.knob[1] * d, K = l->cfg.knob[2];
    int R = (d + 15) / 16, P = R + 2 * N;
    const float *W_in = l->params, *cw = W_in + (size_t)d * 2 * E, *cb = cw + (size_t)K * E;
    const float *W_x = cb + E, *W_dt = W_x + (size_t)E * P, *b_dt = W_dt + (size_t)R * E;
    const float *A_log = b_dt + E, *Dp = A_log + (size_t)E * N, *W_out = Dp + E;
    size_t rows = (size_t)B * L;
    double *xz = dvec(rows * 2 * E), *u = dvec(rows * E), *dbc = dvec(rows * P);
    double *dl = dvec(rows * E), *gate = dvec(rows * E);
    for (size_t r = 0; r < rows; r++)
        for (int o = 0; o < 2 * E; o++)
            for (int i = 0; i < d; i++) xz[r * 2 * E + o] += (double)xf[r * d + i] * W_in[(size_t)i * 2 * E + o];
    for (size_t r = 0; r < rows; r++) {
        int t = (int)(r % (size_t)L);
        for (int c = 0; c < E; c++) {
            double xc = cb[c];
            for (int k = 0; k < K; k++)
                if (t - (K - 1) + k >= 0) xc += (double)cw[(size_t)k * E + c] * xz[(r - (K - 1) + k) * 2 * E + c];
            u[r * E + c] = silu_d(xc);
        }
        for (int p = 0; p < P; p++)
            for (int c = 0; c < E; c++) dbc[r * P + p] += u[r * E + c] * W_x[(size_t)c * P + p];
        for (int c = 0; c < E; c++) {
            double dt = b_dt[c];
            for (int q = 0; q < R; q++) dt += dbc[r * P + q] * W_dt[(size_t)q * E + c];
            dl[r * E + c] = log1p(exp(dt));
        }
    }
    for (int b = 0; b < B; b++)
        for (int c = 0; c < E; c++) {
            double h[16] = {0};
            for (int t = 0; t < L; t++) {
                size_t r = (size_t)b * L + t;
                double uu = u[r * E + c], de = dl[r * E + c], y = Dp[c] * uu;
                for (int n = 0; n < N; n++) {
                    double A = -exp((double)A_log[(size_t)c * N + n]);
                    h[n] = exp(de * A) * h[n] + de * dbc[r * P + R + n] * uu;
                    y += dbc[r * P + R + N + n] * h[n];
                }
                gate[r * E + c] = y * silu_d(xz[r * 2 * E + E + c]);
            }
        }
    for (size_t r = 0; r < rows; r++)
        for (int o = 0; o < d; o++) {
            double s = 0;
            for (int c = 0; c < E; c++) s += gate[r * E + c] * W_out[(size_t)c * d + o];
            out[r * d + o] = s;
        }
    free(xz), free(u), free(dbc), free(dl), free(gate);
}

static double layer_loss(Layer *l, const float *x, float *y, const float *r, Dims dm, size_t nx)
{
    l->kind->forward(l, x, y, dm);
    double s = 0;
    for (size_t q = 0; q < nx; q++) s += (double)r[q] * y[q];
    return s;
}

static void mamba_layer_case(const char *stack)
{
    enum { B = 2, L = 19, D = 20 };
    StackSpec sp;
    MlError err;
    ck_assert_msg(stack_parse(stack, "test", D, &sp, &err) == 0, "%s", err.msg);
    const LayerKind *k = sp.kind[0];
    Layer l = {.kind = k};
    layer_cfg_default(k, D, 8, L, &l.cfg);
    memcpy(l.cfg.knob, sp.knob[0], sizeof l.cfg.knob);
    Dims dm = {B, L, NULL};
    size_t np = k->n_params(&l.cfg), nx = (size_t)B * L * D;
    l.params = fvec(np), l.grads = fvec(np);
    l.acts = fvec(k->n_acts(&l.cfg, dm)), l.scratch = fvec(k->n_scratch(&l.cfg, dm));
    float *x = fvec(nx), *y = fvec(nx), *r = fvec(nx), *dx = fvec(nx);
    double *ref = dvec(nx);
    Rng rng;
    rng_seed(&rng, 21);
    k->init(&l, &rng);
    for (size_t i = 0; i < np; i++) l.params[i] += 0.05f * rng_normal(&rng);
    for (size_t i = 0; i < nx; i++) x[i] = rng_normal(&rng), r[i] = rng_normal(&rng);
    k->forward(&l, x, y, dm);
    mamba_layer_naive(&l, B, L, x, ref);
    int bad = close_all(stack, y, ref, nx, 1e-5, 1e-4);
    memset(l.grads, 0, sizeof(float) * np);
    k->backward(&l, x, r, dx, dm);
    for (size_t i = 0; i < np + nx; i++) {
        float *v = i < np ? &l.params[i] : &x[i - np], keep = *v;
        double ana = i < np ? l.grads[i] : dx[i - np];
        *v = keep + 1e-2f;
        double hi = layer_loss(&l, x, y, r, dm, nx);
        *v = keep - 1e-2f;
        double lo = layer_loss(&l, x, y, r, dm, nx);
        *v = keep;
        double num = (hi - lo) / 2e-2;
        if (fabs(num - ana) > 1e-2 + 2e-2 * fmax(fabs(num), fabs(ana))) {
            if (bad < 5) fprintf(stderr, "%s: d/d%s[%zu] analytic %g numeric %g\n", stack,
                                 i < np ? "param" : "x", i < np ? i : i - np, ana, num);
            bad++;
        }
    }
    ck_assert_msg(bad == 0, "%s (%d threads): %d entries disagree", stack, pool_size(), bad);
    free(ref);
    arena_free(l.params), arena_free(l.grads), arena_free(l.acts), arena_free(l.scratch);
    arena_free(x), arena_free(y), arena_free(r), arena_free(dx);
}

START_TEST(mamba_layer_reference)
{
    const char *stacks[] = {"mamba", "mamba(d_state=16)", "mamba(d_state=3,d_conv=2,expand=1)"};
    for (int t = 1; t <= 2; t++) {
        pool_init(t);
        for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++) mamba_layer_case(stacks[i]);
    }
    pool_init(1);
}
END_TEST

/* Long sequences go through the Mamba layer a few at a time (chunks of about 16k rows): a batch
 * of three split 2 + 1 must give what three single sequences give, outputs and gradients. */
START_TEST(mamba_chunked_batch)
{
    enum { B = 3, L = 6000, D = 8 };
    const LayerKind *k = layer_kind_find("mamba");
    Layer l = {.kind = k};
    layer_cfg_default(k, D, 8, L, &l.cfg);
    Dims all = {B, L, NULL}, one = {1, L, NULL};
    size_t np = k->n_params(&l.cfg), nx = (size_t)B * L * D, ns = (size_t)L * D;
    l.params = fvec(np), l.grads = fvec(np);
    l.acts = fvec(k->n_acts(&l.cfg, all)), l.scratch = fvec(k->n_scratch(&l.cfg, all));
    float *x = fvec(nx), *y = fvec(nx), *r = fvec(nx), *dx = fvec(nx), *g1 = fvec(np);
    float *y1 = fvec(ns), *dx1 = fvec(ns);
    Rng rng;
    rng_seed(&rng, 8);
    k->init(&l, &rng);
    for (size_t i = 0; i < nx; i++) x[i] = rng_normal(&rng), r[i] = rng_normal(&rng);
    k->forward(&l, x, y, all);
    k->backward(&l, x, r, dx, all);
    memcpy(g1, l.grads, sizeof(float) * np);
    memset(l.grads, 0, sizeof(float) * np);
    int bad = 0;
    for (int b = 0; b < B; b++) {
        k->forward(&l, x + b * ns, y1, one);
        k->backward(&l, x + b * ns, r + b * ns, dx1, one);
        for (size_t i = 0; i < ns; i++) {
            bad += fabsf(y1[i] - y[b * ns + i]) > 1e-5f * (1 + fabsf(y1[i]));
            bad += fabsf(dx1[i] - dx[b * ns + i]) > 1e-5f * (1 + fabsf(dx1[i]));
        }
    }
    for (size_t i = 0; i < np; i++) bad += fabsf(l.grads[i] - g1[i]) > 1e-3f * (1 + fabsf(g1[i]));
    ck_assert_msg(bad == 0, "mamba: %d entries differ between chunked and single sequences", bad);
    arena_free(l.params), arena_free(l.grads), arena_free(l.acts), arena_free(l.scratch);
    arena_free(x), arena_free(y), arena_free(r), arena_free(dx), arena_free(g1);
    arena_free(y1), arena_free(dx1);
}
END_TEST

int main(void)
{
    pool_init(1);
    Suite *s = suite_create("recurrent");
    TCase *tc = tcase_create("scans");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, mamba_scan_one_thread);
    tcase_add_test(tc, mamba_scan_two_threads);
    tcase_add_test(tc, mamba_scan_default_state);
    tcase_add_test(tc, mamba_scan_default_state_two_threads);
    tcase_add_test(tc, wkv_per_token_decay);
    tcase_add_test(tc, wkv_per_channel_decay);
    tcase_add_test(tc, wkv_two_threads);
    tcase_add_test(tc, layers_awkward_shape);
    tcase_add_test(tc, mamba_chunked_batch);
    tcase_add_test(tc, mamba_layer_reference);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
