/* The pool, the split matrix product against the naive oracle, metrics and AdamW. */
#include "config.h"
#include "internal.h"
#include "layers/scan.h"
#include "testutil.h"

#include <string.h>
#include <unistd.h>

static void mark(void *ctx, size_t b, size_t e, int tid)
{
    int *hits = ctx;
    for (size_t i = b; i < e; i++) hits[i]++;
}

START_TEST(pool_covers_every_index_once)
{
    for (int t = 1; t <= 3; t++) {
        pool_init(t);
        ck_assert_int_eq(pool_size(), t);
        for (size_t n = 0; n < 40; n++) {
            int hits[40] = {0};
            pool_for(n, mark, hits);
            for (size_t i = 0; i < 40; i++) ck_assert_int_eq(hits[i], i < n ? 1 : 0);
        }
    }
    pool_init(1);
}
END_TEST

/* A chunk that sleeps: thread 0 sleeps on the first job (the workers give up spinning and
 * sleep too), a worker on the second (the caller gives up spinning and sleeps). */
typedef struct { int *hits; int slow_tid; } Slow;

static void mark_slowly(void *ctx, size_t b, size_t e, int tid)
{
    const Slow *s = ctx;
    if (tid == s->slow_tid) usleep(20000);
    for (size_t i = b; i < e; i++) s->hits[i]++;
}

/* Jobs reach workers that went to sleep, and the caller wakes when a slow worker finishes. */
START_TEST(pool_wakes_sleeping_threads)
{
    pool_init(2);
    for (int round = 0; round < 3; round++) {
        int hits[10] = {0};
        Slow s = {hits, round % 2};
        pool_for(10, mark_slowly, &s);
        usleep(20000); /* idle between jobs: the workers sleep */
        pool_for(10, mark, hits);
        for (int i = 0; i < 10; i++) ck_assert_int_eq(hits[i], 2);
    }
    pool_init(1);
}
END_TEST

/* Per-thread partial sums are added in thread order, scaled, over exactly n entries. */
START_TEST(parts_add_sums_in_thread_order)
{
    float parts[3 * 20], out[20], tail = 7.0f;
    for (int i = 0; i < 3 * 20; i++) parts[i] = (float)(i % 20) + 0.25f * (float)(i / 20);
    for (int i = 0; i < 20; i++) out[i] = 1.0f;
    parts_add(out, parts, 3, 20, 17, 1.0f);
    for (int i = 0; i < 17; i++) {
        float want = ((1.0f + (float)i) + ((float)i + 0.25f)) + ((float)i + 0.5f);
        ck_assert_float_eq(out[i], want);
    }
    for (int i = 17; i < 20; i++) ck_assert_float_eq(out[i], 1.0f);
    parts_add(&tail, parts + 1, 2, 20, 1, -2.0f); /* 7 - 2 (1) - 2 (1.25) */
    ck_assert_float_eq(tail, 2.5f);
}
END_TEST

/* The vectorisable log1p, softplus and expm1 (scan.h) against double libm, within 4 float ulps
 * relative, over the whole range the layers meet, and their special points exactly. */
START_TEST(vector_log1p_softplus_expm1_accuracy)
{
    const double tol = 4.0 * 5.96e-8;
    for (int i = 0; i <= 20000; i++) {
        float x = (float)(-40.0 + 70.0 * i / 20000);
        double e = exp((double)x), sp = x > 20.0f ? x : log1p(e);
        float ef = (float)e;
        if (ef > 0.0f)
            ck_assert_msg(fabs(sc_log1pf(ef) - log1p((double)ef)) <= tol * log1p((double)ef),
                          "log1p(%g)", ef);
        ck_assert_msg(fabs(sc_softplusf(x) - sp) <= tol * sp + 1e-37, "softplus(%g)", x);
        if (x < 0.0f) {
            double em = expm1((double)x);
            ck_assert_msg(fabs(sc_expm1f_neg(x) - em) <= tol * fabs(em), "expm1(%g)", x);
        }
    }
    ck_assert_float_eq(sc_log1pf(0.0f), 0.0f);
    ck_assert_float_eq(sc_expm1f_neg(0.0f), 0.0f);
    ck_assert_float_eq(sc_expm1f_neg(-1e-9f), -1e-9f);
    ck_assert_float_eq(sc_expm1f_neg(-200.0f), -1.0f);
    ck_assert_float_eq(sc_softplusf(100.0f), 100.0f);
    ck_assert_float_eq(sc_softplusf(-200.0f), 0.0f);
    ck_assert_float_eq(fast_expf(-200.0f), 0.0f);
    ck_assert(isnan(fast_expf(NAN)));
}
END_TEST

/* Random A (M x K), B (K x N) and C (M x N), and D a copy of C. */
static void operands(int M, int N, int K, Rng *r, float **A, float **B, float **C, float **D)
{
    *A = arena_alloc_floats((size_t)M * K), *B = arena_alloc_floats((size_t)K * N);
    *C = arena_alloc_floats((size_t)M * N), *D = arena_alloc_floats((size_t)M * N);
    init_uniform(*A, (size_t)M * K, 1, r);
    init_uniform(*B, (size_t)K * N, 1, r);
    init_uniform(*C, (size_t)M * N, 1, r);
    memcpy(*D, *C, sizeof(float) * M * N);
}

START_TEST(mm_matches_naive)
{
    Rng r;
    rng_seed(&r, 1);
    int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {64, 48, 40}, {200, 33, 129}, {17, 300, 64}};
    for (int t = 1; t <= 2; t++) {
        pool_init(t);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    int lda = ta ? M : K, ldb = tb ? K : N;
                    float *A, *B, *C, *D;
                    operands(M, N, K, &r, &A, &B, &C, &D);
                    mm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, N);
                    mm_naive(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, D, N);
                    for (int i = 0; i < M * N; i++)
                        ck_assert_msg(fabsf(C[i] - D[i]) < 1e-4f * (1 + K), "shape %zu ta %d tb %d", s, ta, tb);
                    arena_free(A), arena_free(B), arena_free(C), arena_free(D);
                }
    }
    pool_init(1);
}
END_TEST

/* mm on one thread computes the bands two threads would, so the numbers are the same bit for
 * bit; 128 x 16 over 512 is a shape where a half-sized product takes another OpenBLAS kernel. */
START_TEST(mm_one_thread_is_two_threads_bitwise)
{
    Rng r;
    rng_seed(&r, 3);
    int shapes[][3] = {{128, 16, 512}, {16, 128, 512}, {128, 16, 768}, {512, 128, 128}, {100, 37, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                int lda = ta ? M : K, ldb = tb ? K : N;
                float *A, *B, *C, *D;
                operands(M, N, K, &r, &A, &B, &C, &D);
                pool_init(1);
                mm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, N);
                pool_init(2);
                mm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, D, N);
                ck_assert_msg(memcmp(C, D, sizeof(float) * M * N) == 0, "shape %zu ta %d tb %d", s,
                              ta, tb);
                arena_free(A), arena_free(B), arena_free(C), arena_free(D);
            }
    pool_init(1);
}
END_TEST

START_TEST(macro_and_micro_accuracy)
{
    AccCounter a;
    ck_assert_int_eq(acc_init(&a, 3), 0);
    /* targets 0,0,1,1 ; predictions 0,1,1,1 -> recall(0)=1/2, recall(1)=1, class 2 absent. */
    float logits[] = {1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 9, 9, 9};
    int32_t t[] = {0, 0, 1, 1, ML_IGNORE};
    acc_add(&a, logits, t, 5, 3);
    ck_assert(fabs(acc_macro(&a) - 0.75) < 1e-12);
    ck_assert(fabs(acc_micro(&a) - 0.75) < 1e-12);
    /* A predicted class that is never the target counts as recall 0 (torchmetrics). */
    acc_reset(&a);
    float l2[] = {0, 0, 1, 1, 0, 0};
    int32_t t2[] = {0, 0};
    acc_add(&a, l2, t2, 2, 3);
    ck_assert(fabs(acc_macro(&a) - 0.25) < 1e-12);
    ck_assert(fabs(acc_micro(&a) - 0.5) < 1e-12);
    acc_free(&a);
}
END_TEST

START_TEST(adamw_matches_torch_formula)
{
    ModelCfg mc = {.width = 16, .vocab = 5, .max_batch = 1, .max_len = 2};
    MlError err;
    ck_assert(stack_parse("mlp(inner=8)", "t", 16, &mc.stack, &err) == 0);
    Model *m = model_new(&mc, &err);
    ck_assert(m);
    model_init(m, 1);
    int32_t tok[2] = {1, 2}, tgt[2] = {2, 3};
    model_forward(m, tok, tgt, 1, 2);
    model_backward(m);
    const Layer *l = model_block(m, 0);
    float p0 = l->params[3], g = l->grads[3];
    model_adamw(m, 0.1f, 0.5f, 0.9f, 0.999f, 1e-8f, 1);
    /* t=1: m_hat = g, v_hat = g^2, so the step is lr*sign(g) (up to eps) after decay. */
    float want = p0 - 0.1f * 0.5f * p0 - 0.1f * g / (fabsf(g) + 1e-8f);
    ck_assert_msg(fabsf(l->params[3] - want) < 1e-6f, "%g vs %g", l->params[3], want);
    model_free(m);
}
END_TEST

/* The prediction is the first index of the largest logit, wherever it falls among many: in the
 * first entry, a middle block, the tail past the last whole block, tied, or after NaNs. */
START_TEST(accuracy_predicts_the_first_largest_logit)
{
    enum { V = 45 };
    struct { int at[2]; float val[2]; int want; } cases[] = {
        {{0, 0}, {3, 3}, 0},    {{20, 20}, {3, 3}, 20}, {{44, 44}, {3, 3}, 44},
        {{17, 40}, {5, 5}, 17}, {{40, 17}, {5, 6}, 17}, {{33, 2}, {2, 1.5f}, 33},
    };
    for (int c = 0; c < (int)(sizeof cases / sizeof *cases); c++)
        for (int nan = 0; nan < 2; nan++) {
            float z[V];
            for (int v = 0; v < V; v++) z[v] = -1.0f - 0.01f * (float)v;
            if (nan) z[5] = z[38] = NAN; /* never the prediction */
            for (int k = 0; k < 2; k++) z[cases[c].at[k]] = cases[c].val[k];
            int32_t t = (int32_t)cases[c].want;
            AccCounter a;
            ck_assert_int_eq(acc_init(&a, V), 0);
            acc_add(&a, z, &t, 1, V);
            ck_assert_msg(a.correct == 1, "case %d nan %d: predicted otherwise", c, nan);
            acc_free(&a);
        }
    /* all -inf: the first; a NaN first entry: the first, as the one-by-one search */
    float z[V];
    for (int v = 0; v < V; v++) z[v] = -INFINITY;
    int32_t t = 0;
    AccCounter a;
    ck_assert_int_eq(acc_init(&a, V), 0);
    acc_add(&a, z, &t, 1, V);
    z[0] = NAN;
    z[30] = 1.0f;
    acc_add(&a, z, &t, 1, V);
    ck_assert_int_eq(a.correct, 2);
    acc_free(&a);
}
END_TEST

/* The gradient of the mean cross-entropy is softmax - onehot over the scored rows, entry by
 * entry as the formula gives it, also past the exponentials the loss keeps for it (4096). */
START_TEST(cross_entropy_gradient_at_large_vocabularies)
{
    enum { R = 3, V = 5000 };
    float *z = malloc(sizeof(float) * R * V), *dz = malloc(sizeof(float) * R * V);
    ck_assert(z && dz);
    int32_t t[R] = {4999, ML_IGNORE, 7};
    double work[R];
    for (int i = 0; i < R * V; i++) z[i] = (float)((i * 37) % 101) * 0.05f;
    double loss = cross_entropy(z, t, R, V, dz, work), want_loss = 0;
    for (int r = 0; r < R; r++) {
        const float *zr = z + (size_t)r * V;
        float mx = zr[0];
        for (int v = 1; v < V; v++) mx = zr[v] > mx ? zr[v] : mx;
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)(zr[v] - mx));
        if (t[r] != ML_IGNORE) want_loss += (log(sum) - (double)(zr[t[r]] - mx)) / 2;
        for (int v = 0; v < V; v++) {
            float want = t[r] == ML_IGNORE ? 0.0f : (float)(exp((double)(zr[v] - mx)) / sum) * 0.5f;
            if (v == t[r]) want -= 0.5f;
            ck_assert_msg(dz[(size_t)r * V + v] == want, "row %d entry %d: %g vs %g", r, v,
                          dz[(size_t)r * V + v], want);
        }
    }
    ck_assert(fabs(loss - want_loss) < 1e-12);
    free(z), free(dz);
}
END_TEST

/* Every parameter (several of AdamW's blocks and a partial one) moves exactly as the formula
 * computed one parameter at a time, over two steps so the moments carry over. */
START_TEST(adamw_updates_every_parameter_as_the_formula)
{
    ModelCfg mc = {.width = 16, .vocab = 5, .max_batch = 1, .max_len = 2};
    MlError err;
    ck_assert(stack_parse("mlp(inner=24)", "t", 16, &mc.stack, &err) == 0);
    Model *m = model_new(&mc, &err);
    ck_assert(m);
    model_init(m, 1);
    float *p, *g;
    size_t n = model_arena(m, &p, &g);
    ck_assert(n > 600 && n % 256 != 0);
    float *want = malloc(sizeof(float) * n), *mo = calloc(n, sizeof(float)),
          *vo = calloc(n, sizeof(float));
    ck_assert(want && mo && vo);
    const float lr = 0.01f, wd = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    int32_t tok[2] = {1, 2}, tgt[2] = {2, 3};
    for (int t = 1; t <= 2; t++) {
        model_zero_grad(m);
        model_forward(m, tok, tgt, 1, 2);
        model_backward(m);
        float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
        for (size_t i = 0; i < n; i++) {
            float pi = p[i] - lr * wd * p[i];
            mo[i] = b1 * mo[i] + (1.0f - b1) * g[i];
            vo[i] = b2 * vo[i] + (1.0f - b2) * g[i] * g[i];
            want[i] = pi - lr * (mo[i] / c1) / (sqrtf(vo[i] / c2) + eps);
        }
        model_adamw(m, lr, wd, b1, b2, eps, t);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(p[i] == want[i], "step %d param %zu: %g vs %g", t, i, p[i], want[i]);
    }
    free(want), free(mo), free(vo);
    model_free(m);
}
END_TEST

int main(void)
{
    pool_init(1);
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, pool_covers_every_index_once);
    tcase_add_test(tc, pool_wakes_sleeping_threads);
    tcase_add_test(tc, parts_add_sums_in_thread_order);
    tcase_add_test(tc, vector_log1p_softplus_expm1_accuracy);
    tcase_add_test(tc, mm_matches_naive);
    tcase_add_test(tc, mm_one_thread_is_two_threads_bitwise);
    tcase_add_test(tc, macro_and_micro_accuracy);
    tcase_add_test(tc, accuracy_predicts_the_first_largest_logit);
    tcase_add_test(tc, cross_entropy_gradient_at_large_vocabularies);
    tcase_add_test(tc, adamw_matches_torch_formula);
    tcase_add_test(tc, adamw_updates_every_parameter_as_the_formula);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
