/* The O(L) scans of gated linear attention and linear attention, windowed attention, and swiglu
 * over several of its row blocks, against naive references in plain loops and double precision: the whole layer's forward, and its
 * backward against central differences of the naive forward. The naive forms follow the math
 * (the quadratic form for linear attention, an explicit mask for the window), not the kernels.
 * Parameter layouts are the layers' own (see the comments at their par_map / att_init). */
#include "config.h"
#include "internal.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Layer l;
    Dims dm;
    int d, B, L, H, hd;
    float *x, *y, *r, *dx;
    size_t np, nx;
} Probe;

typedef void (*NaiveFn)(const Probe *p, const double *P, const double *x, double *y);

static double *dvec(size_t n)
{
    double *v = calloc(n ? n : 1, sizeof *v);
    ck_assert(v != NULL);
    return v;
}

static void probe_new(Probe *p, const char *kind, int d, int heads, int window, int B, int L,
                      uint64_t seed)
{
    memset(p, 0, sizeof *p);
    const LayerKind *k = layer_kind_find(kind);
    ck_assert_msg(k != NULL, "%s is not registered", kind);
    p->l.kind = k;
    layer_cfg_default(k, d, 0, L, &p->l.cfg);
    p->l.cfg.knob[0] = heads;
    if (k->n_knobs > 1) p->l.cfg.knob[1] = window;
    p->d = d, p->B = B, p->L = L, p->H = heads, p->hd = d / heads;
    p->dm = (Dims){B, L, NULL};
    p->np = k->n_params(&p->l.cfg);
    p->nx = (size_t)B * L * d;
    p->l.params = arena_alloc_floats(p->np);
    p->l.grads = arena_alloc_floats(p->np);
    p->l.acts = arena_alloc_floats(k->n_acts(&p->l.cfg, p->dm));
    p->l.scratch = arena_alloc_floats(k->n_scratch(&p->l.cfg, p->dm));
    p->x = arena_alloc_floats(p->nx);
    p->dx = arena_alloc_floats(p->nx);
    p->y = arena_alloc_floats(p->nx);
    p->r = arena_alloc_floats(p->nx);
    Rng rng;
    rng_seed(&rng, seed);
    k->init(&p->l, &rng);
    for (size_t i = 0; i < p->np; i++) p->l.params[i] += 0.05f * rng_normal(&rng);
    for (size_t i = 0; i < p->nx; i++) p->x[i] = rng_normal(&rng);
    for (size_t i = 0; i < p->nx; i++) p->r[i] = (float)(2 * rng_uniform(&rng) - 1);
}

static void probe_free(Probe *p)
{
    arena_free(p->l.params);
    arena_free(p->l.grads);
    arena_free(p->l.acts);
    arena_free(p->l.scratch);
    arena_free(p->x);
    arena_free(p->dx);
    arena_free(p->y);
    arena_free(p->r);
}

/* y (rows x out) = x (rows x in) W (in x out, ld columns) */
static void nlin(const double *x, int rows, int in, const double *W, int ld, int out, double *y,
                 int ldy)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < out; j++) {
            double s = 0;
            for (int i = 0; i < in; i++) s += x[(size_t)r * in + i] * W[(size_t)i * ld + j];
            y[(size_t)r * ldy + j] = s;
        }
}

/* ---- gated linear attention: Wp (d x (4d+16)), W2 (16 x d), b2 (d), nw (hd), Wo (d x d) ---- */
static void naive_gla(const Probe *p, const double *P, const double *x, double *y)
{
    int d = p->d, H = p->H, hd = p->hd, L = p->L, R = 16, ldp = 4 * d + R;
    size_t rows = (size_t)p->B * L;
    const double *Wp = P, *W2 = Wp + (size_t)d * ldp, *b2 = W2 + (size_t)R * d, *nw = b2 + d;
    const double *Wo = nw + hd;
    double *pr = dvec(rows * ldp), *gk = dvec(rows * d), *o = dvec(rows * d), *h = dvec(rows * d);
    double *S = dvec((size_t)hd * hd);
    nlin(x, (int)rows, d, Wp, ldp, ldp, pr, ldp);
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < d; c++) {
            double z = b2[c];
            for (int i = 0; i < R; i++) z += pr[r * ldp + 4 * d + i] * W2[(size_t)i * d + c];
            gk[r * d + c] = -log1p(exp(-z)) / 16.0; /* logsigmoid */
        }
    for (int b = 0; b < p->B; b++)
        for (int hh = 0; hh < H; hh++) {
            memset(S, 0, sizeof(double) * hd * hd);
            for (int t = 0; t < L; t++) {
                size_t r = (size_t)b * L + t;
                const double *q = pr + r * ldp + hh * hd, *k = q + d, *v = q + 2 * d;
                for (int i = 0; i < hd; i++)
                    for (int j = 0; j < hd; j++)
                        S[i * hd + j] = exp(gk[r * d + hh * hd + i]) * S[i * hd + j] + k[i] * v[j];
                for (int j = 0; j < hd; j++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += q[i] / sqrt((double)hd) * S[i * hd + j];
                    o[r * d + hh * hd + j] = s;
                }
            }
        }
    for (size_t r = 0; r < rows; r++)
        for (int hh = 0; hh < H; hh++) {
            double ss = 0;
            for (int i = 0; i < hd; i++) ss += o[r * d + hh * hd + i] * o[r * d + hh * hd + i];
            double rs = 1.0 / sqrt(ss / hd + 1e-5);
            for (int i = 0; i < hd; i++) {
                double g = pr[r * ldp + 3 * d + hh * hd + i];
                h[r * d + hh * hd + i] = o[r * d + hh * hd + i] * rs * nw[i] * g / (1 + exp(-g));
            }
        }
    nlin(h, (int)rows, d, Wo, d, d, y, d);
    free(pr), free(gk), free(o), free(h), free(S);
}

/* ---- linear attention: Wp (d x 3d), Fq (hd x 2hd), fq (2hd), Fk, fk, Wo (d x d) ----
 * The reference's quadratic form: y = tril(phi_q phi_k^T) v / (phi_q . cumsum(phi_k) + 1e-12). */
static void naive_la(const Probe *p, const double *P, const double *x, double *y)
{
    int d = p->d, H = p->H, hd = p->hd, L = p->L;
    size_t rows = (size_t)p->B * L;
    const double *Wp = P, *Fq = Wp + 3 * (size_t)d * d, *fq = Fq + 2 * (size_t)hd * hd;
    const double *Fk = fq + 2 * hd, *fk = Fk + 2 * (size_t)hd * hd, *Wo = fk + 2 * hd;
    double *pr = dvec(rows * 3 * d), *pq = dvec(rows * d), *pk = dvec(rows * d), *o = dvec(rows * d);
    nlin(x, (int)rows, d, Wp, 3 * d, 3 * d, pr, 3 * d);
    for (size_t r = 0; r < rows; r++)
        for (int hh = 0; hh < H; hh++)
            for (int j = 0; j < hd; j++) {
                double qa = fq[j], qb = fq[hd + j], ka = fk[j], kb = fk[hd + j];
                for (int i = 0; i < hd; i++) {
                    double qi = pr[r * 3 * d + hh * hd + i], ki = pr[r * 3 * d + d + hh * hd + i];
                    qa += qi * Fq[(size_t)i * 2 * hd + j], qb += qi * Fq[(size_t)i * 2 * hd + hd + j];
                    ka += ki * Fk[(size_t)i * 2 * hd + j], kb += ki * Fk[(size_t)i * 2 * hd + hd + j];
                }
                pq[r * d + hh * hd + j] = qa * qb;
                pk[r * d + hh * hd + j] = ka * kb;
            }
    for (int b = 0; b < p->B; b++)
        for (int hh = 0; hh < H; hh++)
            for (int t = 0; t < L; t++) {
                size_t rt = (size_t)b * L + t;
                double den = 1e-12;
                for (int s = 0; s <= t; s++)
                    for (int i = 0; i < hd; i++)
                        den += pq[rt * d + hh * hd + i] * pk[((size_t)b * L + s) * d + hh * hd + i];
                for (int j = 0; j < hd; j++) {
                    double num = 0;
                    for (int s = 0; s <= t; s++) {
                        size_t rs = (size_t)b * L + s;
                        double a = 0;
                        for (int i = 0; i < hd; i++) a += pq[rt * d + hh * hd + i] * pk[rs * d + hh * hd + i];
                        num += a * pr[rs * 3 * d + 2 * d + hh * hd + j];
                    }
                    o[rt * d + hh * hd + j] = num / den;
                }
            }
    nlin(o, (int)rows, d, Wo, d, d, y, d);
    free(pr), free(pq), free(pk), free(o);
}

/* ---- attention with a window: Wqkv (d x 3d), bqkv (3d), Wout (d x d), bout (d). Rotary on the
 * whole head (rotate-half, base 10000), softmax over keys s with t - w <= s <= t (w = 0: all
 * s <= t), scale 1/sqrt(hd). ---- */
static int g_window;
static void naive_attention(const Probe *p, const double *P, const double *x, double *y)
{
    int d = p->d, H = p->H, hd = p->hd, L = p->L, hh2 = hd / 2;
    size_t rows = (size_t)p->B * L;
    const double *W = P, *bq = W + 3 * (size_t)d * d, *Wo = bq + 3 * d, *bo = Wo + (size_t)d * d;
    double *qkv = dvec(rows * 3 * d), *o = dvec(rows * d), *sc = dvec((size_t)L);
    nlin(x, (int)rows, d, W, 3 * d, 3 * d, qkv, 3 * d);
    for (size_t r = 0; r < rows; r++) {
        int t = (int)(r % (size_t)L);
        for (int c = 0; c < 3 * d; c++) qkv[r * 3 * d + c] += bq[c];
        for (int part = 0; part < 2; part++)
            for (int hh = 0; hh < H; hh++) {
                double *v = qkv + r * 3 * d + part * d + hh * hd;
                for (int i = 0; i < hh2; i++) {
                    double a = t * pow(10000.0, -2.0 * i / hd), u = v[i], w = v[i + hh2];
                    v[i] = u * cos(a) - w * sin(a);
                    v[i + hh2] = w * cos(a) + u * sin(a);
                }
            }
    }
    for (int b = 0; b < p->B; b++)
        for (int hh = 0; hh < H; hh++)
            for (int t = 0; t < L; t++) {
                size_t rt = (size_t)b * L + t;
                double mx = -INFINITY, sum = 0;
                for (int s = 0; s < L; s++) {
                    bool seen = s <= t && (g_window == 0 || s >= t - g_window);
                    double a = -INFINITY;
                    if (seen) {
                        a = 0;
                        for (int i = 0; i < hd; i++)
                            a += qkv[rt * 3 * d + hh * hd + i] *
                                 qkv[((size_t)b * L + s) * 3 * d + d + hh * hd + i];
                        a /= sqrt((double)hd);
                    }
                    sc[s] = a;
                    if (a > mx) mx = a;
                }
                for (int s = 0; s < L; s++) sum += sc[s] = exp(sc[s] - mx);
                for (int j = 0; j < hd; j++) {
                    double acc = 0;
                    for (int s = 0; s < L; s++)
                        acc += sc[s] / sum * qkv[((size_t)b * L + s) * 3 * d + 2 * d + hh * hd + j];
                    o[rt * d + hh * hd + j] = acc;
                }
            }
    nlin(o, (int)rows, d, Wo, d, d, y, d);
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < d; c++) y[r * d + c] += bo[c];
    free(qkv), free(o), free(sc);
}

/* ---- swiglu: W12 (d x 2h; column j < h is W1), W3 (h x d); y = (silu(x W1) * (x W2)) W3. The
 * probe's "heads" is the inner width h here. ---- */
static void naive_swiglu(const Probe *p, const double *P, const double *x, double *y)
{
    int d = p->d, h = p->H;
    size_t rows = (size_t)p->B * p->L;
    double *g = dvec(rows * 2 * h), *a = dvec(rows * h);
    nlin(x, (int)rows, d, P, 2 * h, 2 * h, g, 2 * h);
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < h; j++) {
            double u = g[r * 2 * h + j];
            a[r * h + j] = u / (1 + exp(-u)) * g[r * 2 * h + h + j];
        }
    nlin(a, (int)rows, h, P + (size_t)d * 2 * h, d, d, y, d);
    free(g), free(a);
}

static double naive_loss(const Probe *p, NaiveFn fn, const double *P, const double *x, double *y)
{
    fn(p, P, x, y);
    double s = 0;
    for (size_t i = 0; i < p->nx; i++) s += p->r[i] * y[i];
    return s;
}

/* Forward: the layer against the naive form. Backward: the layer's dx and parameter gradients
 * against central differences (double, step 1e-5) of the naive forward, at sampled entries. */
static void check_layer(const char *kind, int d, int heads, int window, int B, int L, NaiveFn fn)
{
    Probe p;
    probe_new(&p, kind, d, heads, window, B, L, 4242 + (uint64_t)d * 7 + heads);
    g_window = window >= L ? 0 : window;
    const LayerKind *k = p.l.kind;
    if (fn == naive_la) {
        /* Positive features (biases 1.5 on both maps), so that no denominator is near 0: there
         * the layer is ill-conditioned and float cannot match double, whatever the kernel. */
        size_t w = (size_t)p.d, hd = (size_t)p.hd, fq = 3 * w * w + 2 * hd * hd;
        for (size_t i = 0; i < 2 * hd; i++) {
            p.l.params[fq + i] += 1.5f;
            p.l.params[fq + 2 * hd + 2 * hd * hd + i] += 1.5f;
        }
    }
    double *P = dvec(p.np), *x = dvec(p.nx), *y = dvec(p.nx);
    for (size_t i = 0; i < p.np; i++) P[i] = p.l.params[i];
    for (size_t i = 0; i < p.nx; i++) x[i] = p.x[i];

    k->forward(&p.l, p.x, p.y, p.dm);
    fn(&p, P, x, y);
    double ymax = 0;
    for (size_t i = 0; i < p.nx; i++) ymax = fmax(ymax, fabs(y[i]));
    for (size_t i = 0; i < p.nx; i++)
        ck_assert_msg(fabs(p.y[i] - y[i]) <= 1e-4 * (1 + ymax), "%s(heads=%d) d=%d L=%d: y[%zu] %g, naive %g",
                      kind, heads, d, L, i, p.y[i], y[i]);

    memset(p.l.grads, 0, sizeof(float) * p.np);
    k->backward(&p.l, p.x, p.r, p.dx, p.dm);
    Rng rng;
    rng_seed(&rng, 77);
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        double *v = pass ? x : P;
        const float *ana = pass ? p.dx : p.l.grads;
        size_t n = pass ? p.nx : p.np;
        for (int s = 0; s < 120; s++) {
            size_t i = rng_below(&rng, (uint32_t)n);
            double keep = v[i], h = 1e-5;
            v[i] = keep + h;
            double up = naive_loss(&p, fn, P, x, y);
            v[i] = keep - h;
            double down = naive_loss(&p, fn, P, x, y);
            v[i] = keep;
            double num = (up - down) / (2 * h);
            if (fabs(num - ana[i]) > 1e-3 + 2e-3 * fabs(num)) {
                if (bad < 5)
                    fprintf(stderr, "%s(heads=%d,window=%d) d=%d L=%d: d/d%s[%zu] layer %.7g naive %.7g\n",
                            kind, heads, window, d, L, pass ? "x" : "param", i, ana[i], num);
                bad++;
            }
        }
    }
    ck_assert_msg(bad == 0, "%s(heads=%d) d=%d L=%d: %d gradient entries disagree with the naive form",
                  kind, heads, d, L, bad);
    free(P), free(x), free(y);
    probe_free(&p);
}

START_TEST(gla_scan)
{
    check_layer("gated-linear-attention", 32, 1, 0, 2, 37, naive_gla);
    check_layer("mh-gated-linear-attention", 32, 8, 0, 2, 37, naive_gla);
    check_layer("mh-gated-linear-attention", 48, 2, 0, 2, 19, naive_gla); /* blocks of 16 + 8 */
}
END_TEST

START_TEST(linear_attention_scan)
{
    check_layer("linear-attention", 32, 1, 0, 2, 37, naive_la);
    check_layer("mh-linear-attention", 32, 4, 0, 2, 37, naive_la);
    check_layer("mh-linear-attention", 32, 16, 0, 2, 19, naive_la);
    check_layer("mh-linear-attention", 48, 2, 0, 2, 19, naive_la);
    check_layer("mh-linear-attention", 32, 2, 0, 2, 23, naive_la); /* heads of 16: row maps */
}
END_TEST

START_TEST(sliding_window)
{
    /* small heads (vector kernels) and 32-wide heads (sgemm path), windows inside and past L,
     * lengths across the kernels' steps of 16 queries and blocks of 32 */
    check_layer("mh-sliding-attention", 32, 4, 3, 2, 45, naive_attention);
    check_layer("mh-sliding-attention", 32, 4, 17, 1, 70, naive_attention);
    check_layer("sliding-attention", 32, 1, 5, 2, 45, naive_attention);
    check_layer("sliding-attention", 64, 2, 33, 1, 90, naive_attention);
    check_layer("mh-sliding-attention", 32, 4, 100, 1, 21, naive_attention); /* = full */
    check_layer("mh-attention", 32, 4, 0, 1, 21, naive_attention);
}
END_TEST

/* Attention over several blocks of sequences (3 of length 70 per block, then 1; 2 of 100, then 1), on the
 * vector and the sgemm path */
START_TEST(attention_blocks)
{
    check_layer("mh-attention", 32, 4, 0, 4, 70, naive_attention);
    check_layer("attention", 32, 1, 0, 3, 100, naive_attention);
}
END_TEST

/* 300 rows: whole blocks of 256 and a part block */
START_TEST(swiglu_row_blocks)
{
    check_layer("swiglu", 16, 24, 0, 3, 100, naive_swiglu);
}
END_TEST

START_TEST(two_threads)
{
    pool_init(2);
    check_layer("mh-gated-linear-attention", 32, 8, 0, 3, 20, naive_gla);
    check_layer("mh-linear-attention", 32, 4, 0, 3, 20, naive_la);
    check_layer("mh-sliding-attention", 32, 4, 6, 3, 40, naive_attention);
    check_layer("mh-attention", 32, 4, 0, 5, 60, naive_attention);
    check_layer("swiglu", 16, 24, 0, 5, 120, naive_swiglu);
    pool_init(1);
}
END_TEST

int main(void)
{
    pool_init(1);
    Suite *s = suite_create("linear_scans");
    TCase *tc = tcase_create("scans");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, gla_scan);
    tcase_add_test(tc, linear_attention_scan);
    tcase_add_test(tc, sliding_window);
    tcase_add_test(tc, attention_blocks);
    tcase_add_test(tc, swiglu_row_blocks);
    tcase_add_test(tc, two_threads);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
