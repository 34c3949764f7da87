/* Counts at the limits of every option's range: each layer kind's params, activations, scratch,
 * state and FLOP counts at width 8 and 4096, sequence lengths up to 65536 (past 46341, where
 * L * (L + 1) leaves a 32-bit int), batch 65536 and vocab 2^20, with knobs at their defaults,
 * minima and maxima. Counts must stay finite and grow with batch and length (a wrapped product
 * shrinks), and the attention counts must match a direct count of the keys each query sees.
 * Run under UBSan (--enable-sanitizers), a signed overflow anywhere here fails the test. */
#include "config.h"
#include "madlab.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_WIDTH 4096 /* --width */
#define MAX_LEN 65536  /* --seq-len */
#define MAX_BATCH 65536 /* --batch */
#define MAX_VOCAB (1 << 20) /* --vocab */

static int knob_index(const LayerKind *k, const char *name)
{
    for (int i = 0; i < k->n_knobs; i++)
        if (!strcmp(k->knobs[i].name, name)) return i;
    return -1;
}

/* The knobs fit the width (as stack_parse checks them). */
static int fits(const LayerKind *k, const LayerCfg *c)
{
    int h = knob_index(k, "heads");
    if (h >= 0) {
        int heads = c->knob[h];
        if (c->width % heads || (c->width / heads) % 2) return 0;
    }
    char msg[256];
    return !k->validate || k->validate(c, msg, sizeof msg) == 0;
}

/* Knob settings to try: defaults, all minima, all maxima, then each knob alone at its min and max. */
static int knob_setting(const LayerKind *k, int which, LayerCfg *c)
{
    int n = k->n_knobs;
    if (which >= 3 + 2 * n) return 0;
    for (int i = 0; i < n; i++) c->knob[i] = k->knobs[i].def;
    if (which == 1 || which == 2)
        for (int i = 0; i < n; i++) c->knob[i] = which == 1 ? k->knobs[i].min : k->knobs[i].max;
    if (which >= 3) {
        int i = (which - 3) / 2;
        c->knob[i] = (which - 3) % 2 ? k->knobs[i].max : k->knobs[i].min;
    }
    return 1;
}

static void check_kind_at(const LayerKind *k, const LayerCfg *c)
{
    const char *n = k->name;
    int w = c->width;
    double f_half = k->flops(c, MAX_LEN / 2), f = k->flops(c, MAX_LEN);
    ck_assert_msg(isfinite(f) && f >= 0, "%s width %d: flops %g", n, w, f);
    /* every kind costs at least linear time in L */
    ck_assert_msg(f >= 2 * f_half * (1 - 1e-12), "%s width %d: flops(%d) = %g < 2 x flops(%d) = %g",
                  n, w, MAX_LEN, f, MAX_LEN / 2, 2 * f_half);
    ck_assert_msg(k->flops(c, 46341) >= k->flops(c, 46340), "%s width %d: flops not monotone", n, w);
    ck_assert_msg(k->flops(c, 1) >= 0 && k->flops(c, 2) >= k->flops(c, 1), "%s: flops at L=1, 2", n);

    double s_half = k->state_size(c, MAX_LEN / 2), s = k->state_size(c, MAX_LEN);
    ck_assert_msg(isfinite(s) && s >= s_half && s_half >= 0, "%s width %d: state %g then %g", n, w,
                  s_half, s);

    size_t p = k->n_params(c);
    ck_assert_msg(p < ((size_t)1 << 40), "%s width %d: %zu params", n, w, p);

    Dims big = {MAX_BATCH, MAX_LEN, NULL}, half_b = {MAX_BATCH / 2, MAX_LEN, NULL},
         half_l = {MAX_BATCH, MAX_LEN / 2, NULL}, one = {1, 1, NULL};
    size_t a = k->n_acts(c, big);
    ck_assert_msg(a >= k->n_acts(c, half_b) && a >= k->n_acts(c, half_l) && a >= k->n_acts(c, one),
                  "%s width %d: activations shrink with batch or length", n, w);
    size_t sc = k->n_scratch(c, big);
    ck_assert_msg(sc >= k->n_scratch(c, half_b) && sc >= k->n_scratch(c, half_l) &&
                  sc >= k->n_scratch(c, one), "%s width %d: scratch shrinks with batch or length",
                  n, w);
    /* a kind that keeps anything per position keeps at least one float per position */
    if (k->n_acts(c, one) > 0 && k->role != ROLE_EMBED && k->role != ROLE_HEAD)
        ck_assert_msg(a >= (size_t)MAX_BATCH * MAX_LEN, "%s width %d: %zu activations for %zu rows",
                      n, w, a, (size_t)MAX_BATCH * MAX_LEN);
}

START_TEST(every_kind_at_the_limits)
{
    const int widths[] = {8, 64, MAX_WIDTH};
    const LayerKind *k = layer_kinds[_i];
    int tried = 0;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (int vocab = 2; vocab <= MAX_VOCAB; vocab = vocab == 2 ? MAX_VOCAB : 2 * MAX_VOCAB) {
            LayerCfg c;
            layer_cfg_default(k, widths[wi], vocab, MAX_LEN, &c);
            for (int which = 0; knob_setting(k, which, &c); which++) {
                if (!fits(k, &c)) continue;
                check_kind_at(k, &c);
                tried++;
            }
        }
    ck_assert_msg(tried > 0, "%s: no knob setting fits any width", k->name);
}
END_TEST

/* Keys that L queries see when query t sees t-w..t (w = 0: all of 0..t), counted one by one. */
static double keys_seen(int L, int w)
{
    double n = 0;
    for (int t = 0; t < L; t++) n += w == 0 || w > t ? t + 1 : w + 1;
    return n;
}

/* The attention kinds count 2 x 2 x width FLOPs per (query, key) pair on top of their
 * projections; compare that part with the direct count, at lengths past the int limit. */
START_TEST(attention_counts_every_key)
{
    const char *kinds[] = {"attention", "mh-attention", "sliding-attention", "mh-sliding-attention"};
    const int lens[] = {1, 2, 33, 1000, 46340, 46341, MAX_LEN};
    const int windows[] = {0, 1, 32, 46341, MAX_LEN};
    for (int ki = 0; ki < 4; ki++) {
        const LayerKind *k = layer_kind_find(kinds[ki]);
        ck_assert_ptr_nonnull(k);
        int wk = knob_index(k, "window");
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
            for (size_t wi = 0; wi < (wk >= 0 ? sizeof windows / sizeof *windows : 1); wi++) {
                int L = lens[li], win = wk >= 0 ? windows[wi] : 0;
                LayerCfg c;
                layer_cfg_default(k, 8, 2, L, &c);
                if (wk >= 0) c.knob[wk] = win;
                double d = c.width, proj = 2.0 * L * d * 3 * d + 2.0 * L * d * d;
                double keys = (k->flops(&c, L) - proj) / (4.0 * d);
                double want = keys_seen(L, win);
                ck_assert_msg(fabs(keys - want) <= 1e-9 * want, "%s(window=%d) L=%d: %.17g keys, "
                              "counted %.17g", kinds[ki], win, L, keys, want);
                double state = 2.0 * d * (win == 0 || win > L ? L : win);
                ck_assert_msg(k->state_size(&c, L) == state, "%s(window=%d) L=%d: state %g, want %g",
                              kinds[ki], win, L, k->state_size(&c, L), state);
            }
    }
}
END_TEST

/* The model's totals at the longest length: the sum of its layers' counts, growing with L. */
START_TEST(model_counts_at_the_limits)
{
    ModelCfg mc = {.width = 64, .vocab = 1024, .max_batch = 1, .max_len = 8, .norm = NORM_RMS};
    for (const LayerKind *const *k = layer_kinds; *k; k++) {
        if ((*k)->role != ROLE_SEQUENCE && (*k)->role != ROLE_CHANNEL) continue;
        int i = mc.stack.n++;
        mc.stack.kind[i] = *k;
        for (int j = 0; j < (*k)->n_knobs; j++) mc.stack.knob[i][j] = (*k)->knobs[j].def;
    }
    MlError err;
    Model *m = model_new(&mc, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    double state = 0, mixers = 0;
    for (int i = 0; i < model_n_blocks(m); i++) {
        const Layer *l = model_block(m, i);
        state += l->kind->state_size(&l->cfg, MAX_LEN);
        mixers += l->kind->flops(&l->cfg, MAX_LEN);
    }
    double f = model_flops(m, MAX_LEN);
    ck_assert(isfinite(f) && f > mixers && f >= 2 * model_flops(m, MAX_LEN / 2) * (1 - 1e-12));
    /* the head alone: 2 x width x vocab per position */
    ck_assert(f - mixers >= 2.0 * 64 * 1024 * MAX_LEN);
    ck_assert(model_state_size(m, MAX_LEN) == state);
    ck_assert(model_n_params(m) > (size_t)2 * 64 * 1024);
    model_free(m);
}
END_TEST

int main(void)
{
    int n = 0;
    while (layer_kinds[n]) n++;
    Suite *s = suite_create("limits");
    TCase *t = tcase_create("counts");
    tcase_add_loop_test(t, every_kind_at_the_limits, 0, n);
    tcase_add_test(t, attention_counts_every_key);
    tcase_add_test(t, model_counts_at_the_limits);
    suite_add_tcase(s, t);
    return run_suite(s);
}
