/* Sequence mixers: causal softmax attention with rotary embeddings, as the reference's flash-attn
 * MHA wrapper: qkv = x Wqkv + bqkv, rotary (base 10000, rotate-half, whole head) on q and k,
 * softmax(q k^T / sqrt(hd)) v per head over positions <= t, then y = o Wout + bout.
 *
 * The projections are sgemm over all rows, and produce and consume the activations channel-major
 * (transposed: B*L positions per channel), so that each head's channels are contiguous runs of
 * positions. The core, per (sequence, head) pair, is in attention_core.c. */
#include "config.h"
#include "attention_core.h"

#include <string.h>

enum { K_HEADS, K_WINDOW }; /* K_WINDOW is 0 (full attention) for the kinds without the knob */

static const KnobDesc att_knobs[] = {
    {"heads", 1, 1, 256, "attention heads; width/heads must be an even whole number", NULL}};
static const KnobDesc mh_att_knobs[] = {
    {"heads", 16, 1, 256, "attention heads; width/heads must be an even whole number", NULL}};
static const KnobDesc slide_knobs[] = {
    {"heads", 1, 1, 256, "attention heads; width/heads must be an even whole number", NULL},
    {"window", 32, 0, 1 << 16, "earlier keys each query sees: i-window..i (0 = all)", NULL}};
static const KnobDesc mh_slide_knobs[] = {
    {"heads", 16, 1, 256, "attention heads; width/heads must be an even whole number", NULL},
    {"window", 32, 0, 1 << 16, "earlier keys each query sees: i-window..i (0 = all)", NULL}};

#define ATT_SLOTS ML_MAX_THREADS /* pieces of per-block scratch, so at most as many blocks */

static int att_n_slots(const AttGeo *g) { return g->B < ATT_SLOTS ? g->B : ATT_SLOTS; }

static AttGeo geo(const LayerCfg *c, Dims dm)
{
    AttGeo g;
    g.B = dm.B;
    g.L = dm.L;
    g.d = c->width;
    g.H = c->knob[K_HEADS];
    g.hd = g.d / g.H;
    g.w = c->knob[K_WINDOW] >= g.L ? 0 : c->knob[K_WINDOW]; /* a window past the end is full */
    g.hdp = (int)round_up((size_t)g.hd, ATT_HV);
    g.Lp = (int)round_up((size_t)g.L, ATT_VL);
    g.rows = (size_t)g.B * g.L;
    g.blas = g.hd >= ATT_BLAS_HD;
    g.scale = 1.0f / sqrtf((float)g.hd);
    return g;
}

/* acts: qkvT (3d x rows: (x Wqkv)^T, without the bias), oT (d x rows: the heads' output before
 * Wout, transposed), stats (per pair: L row maxima of the scores, then L reciprocals of the
 * softmax sums), the rotary table (hd/2 x Lp cosines, then as many sines). */
typedef struct { size_t qkvT, oT, stats, rope, total; } ActMap;

static ActMap act_map(const AttGeo *g)
{
    ActMap m;
    m.qkvT = 0;
    m.oT = m.qkvT + r16(g->rows * 3 * g->d);
    m.stats = m.oT + r16(g->rows * g->d);
    m.rope = m.stats + r16(2 * (size_t)g->B * g->H * g->L);
    m.total = m.rope + r16((size_t)g->hd * g->Lp);
    return m;
}

/* scratch: dqkvT (3d x rows), doT (d x rows), then the slots. */
static size_t scratch_slots(const AttGeo *g)
{
    return r16(g->rows * 3 * g->d) + r16(g->rows * g->d);
}

static size_t att_params(const LayerCfg *c)
{
    size_t d = (size_t)c->width;
    return 4 * d * d + 4 * d;
}
static size_t att_acts(const LayerCfg *c, Dims d)
{
    AttGeo g = geo(c, d);
    return act_map(&g).total;
}
static size_t att_scratch(const LayerCfg *c, Dims d)
{
    AttGeo g = geo(c, d);
    return scratch_slots(&g) + (size_t)att_n_slots(&g) * att_slot_floats(&g);
}
static double att_state(const LayerCfg *c, int L) { return 2.0 * L * c->width; }
/* Keys and values of the last `window` positions (fewer while L is shorter). */
static double slide_state(const LayerCfg *c, int L)
{
    int w = c->knob[K_WINDOW];
    return 2.0 * c->width * (w == 0 || w > L ? L : w);
}
static double att_flops(const LayerCfg *c, int L)
{
    double d = c->width;
    return 2.0 * L * d * 3 * d + 2.0 * L * d * d + 2.0 * 2.0 * d * L * (L + 1) / 2.0;
}
/* As att_flops, with the keys query t sees counted as min(t, window) + 1. */
static double slide_flops(const LayerCfg *c, int L)
{
    double d = c->width, w = c->knob[K_WINDOW], keys = (double)L * (L + 1) / 2.0;
    if (w > 0 && w < L) keys = (w + 1) * (w + 2) / 2.0 + (L - w - 1) * (w + 1);
    return 2.0 * L * d * 3 * d + 2.0 * L * d * d + 2.0 * 2.0 * d * keys;
}

static void att_init(Layer *l, Rng *r)
{
    size_t d = (size_t)l->cfg.width;
    float bound = 1.0f / sqrtf((float)d);
    float *Wqkv = l->params, *bqkv = Wqkv + 3 * d * d, *Wout = bqkv + 3 * d, *bout = Wout + d * d;
    init_uniform(Wqkv, 3 * d * d, bound, r);
    init_const(bqkv, 3 * d, 0.0f);
    init_uniform(Wout, d * d, bound, r);
    init_const(bout, d, 0.0f);
}

static AttCore core_job(Layer *l, const AttGeo *g, float *slots)
{
    ActMap am = act_map(g);
    AttCore j = {0};
    j.g = *g;
    j.rope.cs = l->acts + am.rope;
    j.rope.sn = j.rope.cs + (size_t)(g->hd / 2) * g->Lp;
    j.rope.hd = g->hd;
    j.rope.Lp = g->Lp;
    j.bqkv = l->params + 3 * (size_t)g->d * g->d;
    j.qkvT = l->acts + am.qkvT;
    j.oT = l->acts + am.oT;
    j.stats = l->acts + am.stats;
    j.slots = slots;
    j.slot_size = att_slot_floats(g);
    return j;
}

/* Forward and backward run in blocks of whole sequences, about ATT_ROW_BLOCK rows each: a block's
 * share of the products next to the core over its (sequence, head) pairs, so that the core and
 * the products after it find the block's q, k, v, o and their gradients in cache (whole, they
 * are tens of MB). Block i uses slot i's scratch (there are never more blocks than slots), and
 * the backward's bias gradient is summed per block, then over blocks in order. The weight
 * gradients, whose depth is all rows, stay whole products. */
#define ATT_ROW_BLOCK 256

typedef struct {
    const AttCore *j;
    const float *x, *Wqkv, *Wout, *dy; /* dy: backward only */
    float *y, *dx;
    int seqs; /* sequences per block */
} AttBlocks;

static int att_seqs_per_block(const AttGeo *g)
{
    int per = ATT_ROW_BLOCK / g->L > 1 ? ATT_ROW_BLOCK / g->L : 1;
    int least = (g->B + att_n_slots(g) - 1) / att_n_slots(g); /* so that blocks <= slots */
    return per > least ? per : least;
}

/* Forward: the block's columns of qkv^T = (x Wqkv)^T, the core, y = o Wout + bout. */
static void att_fwd_block(const AttBlocks *a, int r0, int n, int p0, int p1, int blk)
{
    const AttCore *j = a->j;
    int d = j->g.d, rows = (int)j->g.rows;
    const float *bout = a->Wout + (size_t)d * d;
    mm1(true, true, 3 * d, n, d, 1.0f, a->Wqkv, 3 * d, a->x + (size_t)r0 * d, d, 0.0f,
        j->qkvT + r0, rows);
    att_core_pairs(j, p0, p1, blk);
    mm1(true, false, n, d, d, 1.0f, j->oT + r0, rows, a->Wout, d, 0.0f, a->y + (size_t)r0 * d, d);
    for (int r = r0; r < r0 + n; r++) vadd(a->y + (size_t)r * d, bout, (size_t)d);
}

/* Backward: the block's columns of do^T = Wout dy^T, the core (dqkv^T and the slot's share of
 * the bias gradient), dx = dqkv Wqkv^T. */
static void att_bwd_block(const AttBlocks *a, int r0, int n, int p0, int p1, int blk)
{
    const AttCore *j = a->j;
    int d = j->g.d, rows = (int)j->g.rows;
    mm1(false, true, d, n, d, 1.0f, a->Wout, d, a->dy + (size_t)r0 * d, d, 0.0f,
        j->doutT + r0, rows);
    memset(j->slots + (size_t)blk * j->slot_size + att_slot_db(&j->g), 0,
           sizeof(float) * 3 * (size_t)d);
    att_core_pairs(j, p0, p1, blk);
    if (a->dx)
        mm1(true, true, n, d, 3 * d, 1.0f, j->dqkvT + r0, rows, a->Wqkv, 3 * d, 0.0f,
            a->dx + (size_t)r0 * d, d);
}

static void att_blocks(void *ctx, size_t b0, size_t b1, int tid)
{
    const AttBlocks *a = ctx;
    const AttGeo *g = &a->j->g;
    (void)tid;
    for (size_t b = b0; b < b1; b++) {
        int s0 = (int)b * a->seqs, s1 = s0 + a->seqs < g->B ? s0 + a->seqs : g->B;
        (a->dy ? att_bwd_block : att_fwd_block)(a, s0 * g->L, (s1 - s0) * g->L, s0 * g->H,
                                                s1 * g->H, (int)b);
    }
}

/* The activations are kept channel-major (transposed, B*L positions per channel) so that the
 * core reads and writes each head's channels as contiguous runs of positions; the products are
 * arranged to produce and consume them that way. qkv is kept without its bias, which the core
 * adds as it copies each head in. */
static void att_forward(Layer *l, const float *x, float *y, Dims dm)
{
    AttGeo g = geo(&l->cfg, dm);
    AttCore j = core_job(l, &g, l->scratch);
    AttBlocks a = {.j = &j, .x = x, .Wqkv = l->params, .y = y, .seqs = att_seqs_per_block(&g)};
    a.Wout = a.Wqkv + 3 * (size_t)g.d * g.d + 3 * g.d;
    pool_for((size_t)(g.hd / 2), att_rope_rows, &j.rope);
    pool_for((size_t)(g.B + a.seqs - 1) / a.seqs, att_blocks, &a);
}

static void att_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    AttGeo g = geo(&l->cfg, dm);
    int d = g.d, rows = (int)g.rows;
    float *dWqkv = l->grads, *dbqkv = dWqkv + 3 * (size_t)d * d, *dWout = dbqkv + 3 * d;
    AttCore j = core_job(l, &g, l->scratch + scratch_slots(&g));
    AttBlocks a = {.j = &j, .x = x, .Wqkv = l->params, .dy = dy, .dx = dx,
                   .seqs = att_seqs_per_block(&g)};
    int n_blocks = (g.B + a.seqs - 1) / a.seqs;
    a.Wout = a.Wqkv + 3 * (size_t)d * d + 3 * d;
    j.dqkvT = l->scratch;
    j.doutT = j.dqkvT + r16(g.rows * 3 * d);
    colsum_add(dy, g.rows, d, d, dWout + (size_t)d * d);
    mm(false, false, d, d, rows, 1.0f, j.oT, rows, dy, d, 1.0f, dWout, d); /* dWout += o^T dy */
    pool_for((size_t)n_blocks, att_blocks, &a);
    for (int b = 0; b < n_blocks; b++) {
        const float *part = j.slots + (size_t)b * j.slot_size + att_slot_db(&g);
        for (int c = 0; c < 3 * d; c++) dbqkv[c] += part[c];
    }
    mm(true, true, d, 3 * d, rows, 1.0f, x, d, j.dqkvT, rows, 1.0f, dWqkv, 3 * d); /* += x^T dqkv */
}

const LayerKind layer_attention = {
    .name = "attention",
    .summary = "causal softmax attention with rotary embeddings, 1 head of 128",
    .role = ROLE_SEQUENCE,
    .knobs = att_knobs,
    .n_knobs = ML_COUNT(att_knobs),
    .state_formula = "2 x L x width (the KV cache grows with L)",
    .page = "Equation: q, k, v = x Wq, x Wk, x Wv (rotary position applied to q and k);\n"
             "  y_t = sum_{s<=t} softmax_s(q_t . k_s / sqrt(d)) v_s, then y Wo.\n"
             "On MAD: the reference for recall; in-context recall, noisy and fuzzy recall and\n"
             "  selective copying are solved by an induction circuit. One head has a single\n"
             "  attention pattern, so several keys at once are harder than for mh-attention.\n"
             "State: the KV cache, 2 x L x width floats, grows linearly with the sequence;\n"
             "  compare the fixed state of a recurrence (Mamba, GLA) at long L.",
    .n_params = att_params,
    .n_acts = att_acts,
    .n_scratch = att_scratch,
    .state_size = att_state,
    .flops = att_flops,
    .init = att_init,
    .forward = att_forward,
    .backward = att_backward,
};

const LayerKind layer_mh_attention = {
    .name = "mh-attention",
    .summary = "multi-head causal softmax attention with rotary embeddings, 16 heads of 8 by default",
    .role = ROLE_SEQUENCE,
    .knobs = mh_att_knobs,
    .n_knobs = ML_COUNT(mh_att_knobs),
    .state_formula = "2 x L x width (the KV cache grows with L)",
    .page = "Equation: per head h, y_t^h = sum_{s<=t} softmax_s(q_t^h . k_s^h / sqrt(d/H)) v_s^h;\n"
             "  the heads are concatenated and projected by Wo. Rotary positions on q and k.\n"
             "On MAD: the strongest baseline on recall (CR, NR, FR) and selective copying;\n"
             "  memorization is left to the channel mixers; compression is harder.\n"
             "State: the KV cache, 2 x L x width floats at length L (independent of the head\n"
             "  count), growing with L; recurrent mixers keep a fixed state instead.",
    .n_params = att_params,
    .n_acts = att_acts,
    .n_scratch = att_scratch,
    .state_size = att_state,
    .flops = att_flops,
    .init = att_init,
    .forward = att_forward,
    .backward = att_backward,
};

const LayerKind layer_sliding_attention = {
    .name = "sliding-attention",
    .summary = "causal softmax attention over a sliding window (query i sees keys i-32..i), 1 head",
    .role = ROLE_SEQUENCE,
    .knobs = slide_knobs,
    .n_knobs = ML_COUNT(slide_knobs),
    .state_formula = "2 x width x min(L, window) (keys and values of the window)",
    .n_params = att_params,
    .n_acts = att_acts,
    .n_scratch = att_scratch,
    .state_size = slide_state,
    .flops = slide_flops,
    .init = att_init,
    .forward = att_forward,
    .backward = att_backward,
};

const LayerKind layer_mh_sliding_attention = {
    .name = "mh-sliding-attention",
    .summary = "multi-head sliding-window attention (keys i-32..i), 16 heads of 8 by default",
    .role = ROLE_SEQUENCE,
    .knobs = mh_slide_knobs,
    .n_knobs = ML_COUNT(mh_slide_knobs),
    .state_formula = "2 x width x min(L, window) (keys and values of the window)",
    .n_params = att_params,
    .n_acts = att_acts,
    .n_scratch = att_scratch,
    .state_size = slide_state,
    .flops = slide_flops,
    .init = att_init,
    .forward = att_forward,
    .backward = att_backward,
};
