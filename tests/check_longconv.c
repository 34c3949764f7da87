/* Long causal convolutions (direct and FFT paths) against a naive O(L^2) loop, forward and
 * backward, and the sparse top-k router. */
#include "config.h"
#include "internal.h"
#include "testutil.h"

#include <stdio.h>
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
    longconv_fwd(mode, NC, B, L, (size_t)B * L, u, h, D, y, work);
    naive_fwd(NC, B, L, u, h, D, yr);
    ck_assert_msg(max_rel(y, yr, n) < 1e-5, "mode %d L %d: forward error %g", mode, L,
                  max_rel(y, yr, n));
    for (int i = 0; i < NC * L; i++) dh[i] = 0.5f; /* backward adds into dh and dD */
    for (int c = 0; c < NC; c++) dD[c] = 0.25f;
    longconv_bwd(mode, NC, B, L, (size_t)B * L, u, h, D, r, du, dh, dD, work);
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

static const int lens[] = {1, 2, 5, 17, 64, 100, 128, 257, 600};

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
                            "moe-mlp(experts=4,top_k=2,inner=3)", "moe-mlp(experts=3,top_k=1,inner=2)"};
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
    tcase_add_test(tc, two_threads);
    tcase_add_test(tc, router_selects_top_k);
    tcase_add_test(tc, router_backward);
    tcase_add_test(tc, new_kinds_every_gradient);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
