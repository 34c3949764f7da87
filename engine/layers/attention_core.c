/* The attention core: causal softmax attention for one (sequence, head) pair at a time, in a
 * slot of scratch (one per block of sequences, see attention.c) into which a pair's q, k, v are
 * copied channel-major; the rotary embedding and the kernels run along positions. The
 * probabilities are not kept: forward saves each row's maximum score and
 * reciprocal sum, and backward recomputes them.
 *
 * Small heads use loops over VL positions at a time that the compiler vectorises (tiny sgemms
 * would be slow): the forward takes VL queries at once, one per lane, so its softmax needs no
 * horizontal sums; the backward takes BR queries at a time over VL keys at a time. Heads of
 * ATT_BLAS_HD channels or more go through sgemm in blocks of ATT_QB queries. */
#include "config.h"
#include "attention_core.h"

#include <string.h>

#define VL ATT_VL       /* short names for the loops below */
#define HV ATT_HV
#define BR 8           /* query rows per pass of the vector backward */
/* Loops over rows or channels are unrolled so that their small arrays live in registers (at -O2
 * GCC would otherwise index them in memory). */
#define UNROLL4 _Pragma("GCC unroll 4")
#define UNROLL_BR _Pragma("GCC unroll 8") /* loops over the BR rows */
#define ATT_QB 32      /* query rows per block in the sgemm path */

/* Per-slot scratch, for one pair at a time; "t" names are hd x Lp (channel-major, zero past L).
 * Both paths: Qt (scaled, rotated), Kt (rotated), Vt, dQt, dKt, dVt, deltas (Lp), and the
 * slot's share of the bias gradient db (3d).
 * Vector path: Gt (output gradient); Kp and dQp (Lp x hdp, position-major); the forward's
 * scores for VL queries T (Lp x VL) and their output Ot (hd x VL); rows ds (BR x Lp); per-lane
 * m and inv (VL).
 * Sgemm path: the tiles S and dP (ATT_QB x Lp). */
typedef struct {
    size_t Qt, Kt, Vt, Gt, dQt, dKt, dVt, Kp, dQp, T, Ot, S, dP, ds, delta, m, inv, db, total;
} SlotMap;

static SlotMap slot_map(const AttGeo *g)
{
    SlotMap m = {0};
    size_t o = 0, colm = r16((size_t)g->hd * g->Lp), Lp = r16((size_t)g->Lp);
    m.Qt = o, o += colm;
    m.Kt = o, o += colm;
    m.Vt = o, o += colm;
    m.dQt = o, o += colm;
    m.dKt = o, o += colm;
    m.dVt = o, o += colm;
    m.db = o, o += r16(3 * (size_t)g->d);
    if (g->blas) {
        size_t tile = r16((size_t)ATT_QB * g->Lp);
        m.S = o, o += tile;
        m.dP = o, o += tile;
    } else {
        size_t rowm = r16((size_t)g->Lp * g->hdp);
        m.Gt = o, o += colm;
        m.Kp = o, o += rowm;
        m.dQp = o, o += rowm; /* rows past L, up to the next multiple of BR, fit below Lp */
        m.T = o, o += r16((size_t)g->Lp * VL);
        m.Ot = o, o += r16((size_t)g->hd * VL);
        m.ds = o, o += BR * Lp;
        m.m = o, o += VL;
        m.inv = o, o += VL;
    }
    m.delta = o, o += Lp;
    m.total = o;
    return m;
}

size_t att_slot_floats(const AttGeo *g) { return slot_map(g).total; }
size_t att_slot_db(const AttGeo *g) { return slot_map(g).db; }

/* ---------------- small kernels ---------------- */

/* Horizontal sum and maximum of VL lanes, halving so that the steps stay in vector registers. */
static inline float hsum(const float *a)
{
    float b[8], c[4];
    for (int k = 0; k < 8; k++) b[k] = a[k] + a[k + 8];
    for (int k = 0; k < 4; k++) c[k] = b[k] + b[k + 4];
    return (c[0] + c[2]) + (c[1] + c[3]);
}

static inline float hmax(const float *a)
{
    float b[8], c[4];
    for (int k = 0; k < 8; k++) b[k] = a[k + 8] > a[k] ? a[k + 8] : a[k];
    for (int k = 0; k < 4; k++) c[k] = b[k + 4] > b[k] ? b[k + 4] : b[k];
    float u = c[2] > c[0] ? c[2] : c[0], v = c[3] > c[1] ? c[3] : c[1];
    return v > u ? v : u;
}

/* -- forward, VL queries at a time: T[j][k] is the score of query c0 + k against key j -- */

/* T[j - j0] = scores of key j (column j of Kt) against the queries of Qt (rows Lp apart) for
 * j0 <= j < jn, keys after a lane's query (and, with a window w, before its window) masked to
 * -inf; m = each lane's maximum. */
static void col_scores(const float *restrict Kt, const float *restrict Qt, int Lp, int hd, int c0,
                       int j0, int jn, int w, float *restrict T, float *restrict m)
{
    float mx[VL];
    for (int k = 0; k < VL; k++) mx[k] = -INFINITY;
    for (int jj = j0; jj < jn; jj++) {
        const float *kc = Kt + jj;
        float acc0[VL] = {0}, acc1[VL] = {0};
        int i = 0;
        for (; i + 1 < hd; i += 2) {
            const float *q0 = Qt + (size_t)i * Lp, *q1 = q0 + Lp;
            float k0 = kc[(size_t)i * Lp], k1 = kc[(size_t)(i + 1) * Lp];
            for (int k = 0; k < VL; k++) acc0[k] = FMA(k0, q0[k], acc0[k]);
            for (int k = 0; k < VL; k++) acc1[k] = FMA(k1, q1[k], acc1[k]);
        }
        if (i < hd) {
            const float *q0 = Qt + (size_t)i * Lp;
            float k0 = kc[(size_t)i * Lp];
            for (int k = 0; k < VL; k++) acc0[k] = FMA(k0, q0[k], acc0[k]);
        }
        float *tr = T + (size_t)(jj - j0) * VL;
        if (jj < c0) {
            for (int k = 0; k < VL; k++) tr[k] = acc0[k] + acc1[k];
        } else {
            for (int k = 0; k < VL; k++) tr[k] = c0 + k >= jj ? acc0[k] + acc1[k] : -INFINITY;
        }
        if (w && jj < c0 + VL - 1 - w) /* before the window of some lane */
            for (int k = 0; k < VL; k++) tr[k] = jj >= c0 + k - w ? tr[k] : -INFINITY;
        for (int k = 0; k < VL; k++) mx[k] = tr[k] > mx[k] ? tr[k] : mx[k];
    }
    for (int k = 0; k < VL; k++) m[k] = mx[k];
}

/* T[j] = exp(T[j] - m) for j < jn (even); inv = 1 / (sum over j), per lane. */
static void col_exp(float *restrict T, int jn, const float *restrict m, float *restrict inv)
{
    float s0[VL] = {0}, s1[VL] = {0}, mm[VL];
    for (int k = 0; k < VL; k++) mm[k] = m[k];
    for (int jj = 0; jj < jn; jj += 2) {
        float *t0 = T + (size_t)jj * VL, *t1 = t0 + VL;
        for (int k = 0; k < VL; k++) {
            t0[k] = fast_expf(t0[k] - mm[k]);
            s0[k] += t0[k];
        }
        for (int k = 0; k < VL; k++) {
            t1[k] = fast_expf(t1[k] - mm[k]);
            s1[k] += t1[k];
        }
    }
    for (int k = 0; k < VL; k++) inv[k] = 1.0f / (s0[k] + s1[k]);
}

/* Ot[i][k] = inv[k] * sum_{j<jn} Vt[i][j] T[j][k] for channels i0 <= i < i0 + nc (nc <= MIXC);
 * jn a multiple of 4. The nc channels share each load of T; each channel keeps four sums (keys
 * j mod 4), added at the end. */
#define MIXC 4
static inline __attribute__((always_inline)) void mix_channels(const float *restrict Vt, int Lp,
                                                               int i0, int nc,
                                                               const float *restrict T, int jn,
                                                               const float *restrict inv,
                                                               float *restrict Ot)
{
    float a[MIXC][4][VL] = {{{0}}};
    for (int jj = 0; jj < jn; jj += 4) {
        const float *t = T + (size_t)jj * VL;
        UNROLL4
        for (int c = 0; c < nc; c++) {
            const float *vr = Vt + (size_t)(i0 + c) * Lp + jj;
            UNROLL4
            for (int u = 0; u < 4; u++)
                for (int k = 0; k < VL; k++) a[c][u][k] = FMA(vr[u], t[u * VL + k], a[c][u][k]);
        }
    }
    UNROLL4
    for (int c = 0; c < nc; c++) {
        float *o = Ot + (size_t)(i0 + c) * VL;
        for (int k = 0; k < VL; k++)
            o[k] = inv[k] * ((a[c][0][k] + a[c][1][k]) + (a[c][2][k] + a[c][3][k]));
    }
}

static void col_mix(const float *restrict Vt, int Lp, int hd, const float *restrict T, int jn,
                    const float *restrict inv, float *restrict Ot)
{
    int i = 0;
    for (; i + MIXC <= hd; i += MIXC) mix_channels(Vt, Lp, i, MIXC, T, jn, inv, Ot);
    for (; i < hd; i++) mix_channels(Vt, Lp, i, 1, T, jn, inv, Ot);
}

/* -- backward, BR queries at a time over VL keys at a time -- */

/* Rows t .. t + BR - 1 of the score gradient at once, so that each step of keys is loaded and
 * each gradient accumulator is updated once for all of them. For keys j < n (a multiple of VL
 * past the last row): recomputes p = softmax row from the forward's maximum m and reciprocal sum
 * inv, then ds = p (dp - delta) with dp = g . v_j, accumulates dVt[:, j] += g p_j and
 * dKt[:, j] += q ds_j (rows in order), and leaves the rows of ds in ds (Lp apart). q and g are
 * column t of the channel-major Qt and Gt (elements Lp apart, zero past the end); m, inv and
 * delta hold BR values each, zero for rows past the end, which makes their p zero. */
static void rows_bwd(const float *restrict q, const float *restrict g, const float *restrict Kt,
                     const float *restrict Vt, float *restrict dKt, float *restrict dVt, int hd,
                     int Lp, int t, int c0, int n, int w, const float *restrict m,
                     const float *restrict inv, const float *restrict delta, float *restrict ds)
{
    for (int c = c0; c < n; c += VL) {
        float s[BR][VL] = {{0}}, dp[BR][VL] = {{0}}, p[BR][VL], e[BR][VL];
        for (int i = 0; i < hd; i++) {
            const float *kc = Kt + (size_t)i * Lp + c, *vc = Vt + (size_t)i * Lp + c;
            const float *qi = q + (size_t)i * Lp, *gi = g + (size_t)i * Lp;
            UNROLL_BR
            for (int r = 0; r < BR; r++) {
                for (int k = 0; k < VL; k++) s[r][k] = FMA(qi[r], kc[k], s[r][k]);
                for (int k = 0; k < VL; k++) dp[r][k] = FMA(gi[r], vc[k], dp[r][k]);
            }
        }
        UNROLL_BR
        for (int r = 0; r < BR; r++)
            for (int k = 0; k < VL; k++)
                p[r][k] = c + k <= t + r ? fast_expf(s[r][k] - m[r]) * inv[r] : 0.0f;
        if (w && c < t + BR - 1 - w) /* keys before a row's window */
            UNROLL_BR
            for (int r = 0; r < BR; r++)
                for (int k = 0; k < VL; k++) p[r][k] = c + k >= t + r - w ? p[r][k] : 0.0f;
        UNROLL_BR
        for (int r = 0; r < BR; r++)
            for (int k = 0; k < VL; k++) e[r][k] = p[r][k] * (dp[r][k] - delta[r]);
        for (int i = 0; i < hd; i++) {
            float *dkc = dKt + (size_t)i * Lp + c, *dvc = dVt + (size_t)i * Lp + c;
            const float *qi = q + (size_t)i * Lp, *gi = g + (size_t)i * Lp;
            UNROLL_BR
            for (int r = 0; r < BR; r++) {
                for (int k = 0; k < VL; k++) dvc[k] = FMA(gi[r], p[r][k], dvc[k]);
                for (int k = 0; k < VL; k++) dkc[k] = FMA(qi[r], e[r][k], dkc[k]);
            }
        }
        UNROLL_BR
        for (int r = 0; r < BR; r++)
            for (int k = 0; k < VL; k++) ds[(size_t)r * Lp + c + k] = e[r][k];
    }
}

/* out[r][i] = mul * sum_{j<n} p[r][j] M[j][i] for rows r < BR (Lp apart in p, hdp apart in out)
 * and i < hdp, with M position-major (rows of hdp); each row keeps a sum for even and for odd j. */
static void rows_mix(const float *restrict p, int Lp, const float *restrict M, int hdp, int n,
                     float mul, float *restrict out)
{
    for (int i0 = 0; i0 < hdp; i0 += HV) {
        float a[BR][2][HV] = {{{0}}};
        for (int j = 0; j < n; j += 2) {
            const float *x = M + (size_t)j * hdp + i0;
            UNROLL_BR
            for (int r = 0; r < BR; r++) {
                float p0 = p[(size_t)r * Lp + j], p1 = p[(size_t)r * Lp + j + 1];
                for (int k = 0; k < HV; k++) a[r][0][k] = FMA(p0, x[k], a[r][0][k]);
                for (int k = 0; k < HV; k++) a[r][1][k] = FMA(p1, x[hdp + k], a[r][1][k]);
            }
        }
        UNROLL_BR
        for (int r = 0; r < BR; r++)
            for (int k = 0; k < HV; k++)
                out[(size_t)r * hdp + i0 + k] = mul * (a[r][0][k] + a[r][1][k]);
    }
}

/* -- rows of a score tile, for the sgemm path -- */

/* Sets keys j > t in the last step of VL (the row's causal mask) to -inf. */
static void row_mask(float *restrict s, int t, int n)
{
    float *last = s + n - VL;
    int lo = n - VL;
    for (int k = 0; k < VL; k++) last[k] = lo + k <= t ? last[k] : -INFINITY;
}

static float row_max(const float *restrict s, int n)
{
    float mx[VL];
    for (int k = 0; k < VL; k++) mx[k] = s[k];
    for (int c = VL; c < n; c += VL)
        for (int k = 0; k < VL; k++) mx[k] = s[c + k] > mx[k] ? s[c + k] : mx[k];
    return hmax(mx);
}

/* s[j] = exp(s[j] - m) for j < n; returns the sum. */
static float row_exp(float *restrict s, float m, int n)
{
    float acc[VL] = {0};
    for (int c = 0; c < n; c += VL)
        for (int k = 0; k < VL; k++) {
            float p = fast_expf(s[c + k] - m);
            s[c + k] = p;
            acc[k] += p;
        }
    return hsum(acc);
}

static void row_scale(float *restrict s, float a, int n)
{
    for (int c = 0; c < n; c += VL)
        for (int k = 0; k < VL; k++) s[c + k] *= a;
}

/* s[j] = exp(s[j] - m) * inv, then dp[j] = s[j] (dp[j] - delta), for j < n. */
static void row_prob_dscore(float *restrict s, float *restrict dp, float m, float inv, float delta,
                            int n)
{
    for (int c = 0; c < n; c += VL)
        for (int k = 0; k < VL; k++) {
            float p = fast_expf(s[c + k] - m) * inv;
            s[c + k] = p;
            dp[c + k] = p * (dp[c + k] - delta);
        }
}

/* ---------------- moving one head in and out of a slot ---------------- */

/* One channel: y[t] = x[t] + b for t < L, zero for L <= t < Lp. */
static void copy_in(const float *restrict x, float b, int L, int Lp, float *restrict y)
{
    int Lv = L / VL * VL;
    for (int t = 0; t < Lv; t += VL)
        for (int k = 0; k < VL; k++) y[t + k] = x[t + k] + b;
    for (int t = Lv; t < L; t++) y[t] = x[t] + b;
    for (int t = L; t < Lp; t++) y[t] = 0.0f;
}

/* One channel: y[t] = x[t] for t < L; returns the sum of x over Lp (zero past L). */
static float copy_out(const float *restrict x, int L, int Lp, float *restrict y)
{
    int Lv = L / VL * VL;
    float acc[VL] = {0};
    for (int t = 0; t < Lv; t += VL)
        for (int k = 0; k < VL; k++) y[t + k] = x[t + k];
    for (int t = Lv; t < L; t++) y[t] = x[t];
    for (int t = 0; t < Lp; t += VL)
        for (int k = 0; k < VL; k++) acc[k] += x[t + k];
    return hsum(acc);
}

/* Xt[i] = channel i of a head (channels xs apart) plus its bias b[i] (b may be NULL). */
static void head_in(const float *x, size_t xs, const float *b, int L, int Lp, int hd, float *Xt)
{
    for (int i = 0; i < hd; i++)
        copy_in(x + (size_t)i * xs, b ? b[i] : 0.0f, L, Lp, Xt + (size_t)i * Lp);
}

/* Channel i of a head (channels ys apart) = Xt[i]; db[i] += its sum over positions. */
static void head_out(const float *Xt, int L, int Lp, int hd, float *y, size_t ys, float *db)
{
    for (int i = 0; i < hd; i++) db[i] += copy_out(Xt + (size_t)i * Lp, L, Lp, y + (size_t)i * ys);
}

/* delta[t] = sum_i G[i][t] O[i][t] for t < L (channels gs and os apart). */
static void head_dot(const float *restrict G, size_t gs, const float *restrict O, size_t os, int L,
                     int hd, float *restrict delta)
{
    int Lv = L / VL * VL;
    for (int t = 0; t < L; t++) delta[t] = 0.0f;
    for (int i = 0; i < hd; i++) {
        const float *gi = G + (size_t)i * gs, *oi = O + (size_t)i * os;
        for (int t = 0; t < Lv; t += VL)
            for (int k = 0; k < VL; k++) delta[t + k] = FMA(gi[t + k], oi[t + k], delta[t + k]);
        for (int t = Lv; t < L; t++) delta[t] = FMA(gi[t], oi[t], delta[t]);
    }
}

/* Xp[t][i] = Xt[i][t] for t < Lp, zero for hd <= i < hdp. */
static void to_rows(const float *Xt, int Lp, int hd, int hdp, float *Xp)
{
    for (int t = 0; t < Lp; t++) {
        float *r = Xp + (size_t)t * hdp;
        for (int i = 0; i < hd; i++) r[i] = Xt[(size_t)i * Lp + t];
        for (int i = hd; i < hdp; i++) r[i] = 0.0f;
    }
}

/* Xt[i][t] = Xp[t][i] for t < L, zero for L <= t < Lp. */
static void from_rows(const float *Xp, int L, int Lp, int hd, int hdp, float *Xt)
{
    for (int t = 0; t < L; t++)
        for (int i = 0; i < hd; i++) Xt[(size_t)i * Lp + t] = Xp[(size_t)t * hdp + i];
    for (int i = 0; i < hd; i++) memset(Xt + (size_t)i * Lp + L, 0, sizeof(float) * (Lp - L));
}

/* (a, b) = mul (a c - b s', b c + a s') along Lp positions, with s' = sign s. */
static void rot_pair(float *restrict a, float *restrict b, const float *restrict c,
                     const float *restrict s, int Lp, float sign, float mul)
{
    for (int t = 0; t < Lp; t += VL)
        for (int k = 0; k < VL; k++) {
            float u = a[t + k], v = b[t + k], sk = sign * s[t + k];
            a[t + k] = mul * (u * c[t + k] - v * sk);
            b[t + k] = mul * (v * c[t + k] + u * sk);
        }
}

/* Rotates a channel-major head Xt in place by the table (sign 1) or back (sign -1, the
 * transpose, for gradients), and scales it by mul. */
static void rope_apply(float *Xt, const AttRope *r, float sign, float mul)
{
    int hh = r->hd / 2, Lp = r->Lp;
    for (int i = 0; i < hh; i++)
        rot_pair(Xt + (size_t)i * Lp, Xt + (size_t)(i + hh) * Lp, r->cs + (size_t)i * Lp,
                 r->sn + (size_t)i * Lp, Lp, sign, mul);
}

/* Rows [i0, i1) of the table: angle t * 10000^(-2i/hd) at position t, in double precision. */
void att_rope_rows(void *ctx, size_t i0, size_t i1, int tid)
{
    const AttRope *r = ctx;
    for (size_t i = i0; i < i1; i++) {
        double f = pow(10000.0, -2.0 * (double)i / r->hd);
        for (int t = 0; t < r->Lp; t++) {
            r->cs[i * r->Lp + t] = (float)cos(t * f);
            r->sn[i * r->Lp + t] = (float)sin(t * f);
        }
    }
}

/* ---------------- the core, per (sequence, head) pair ---------------- */

/* One pair: channel i of its head's q is q[i * cs], where cs is the channel stride B*L (and
 * likewise k, v, o, and in backward the gradients); its biases; its statistics; and h*hd, the
 * offset of its head within a d-wide part. */
typedef struct {
    const float *q, *k, *v, *bq, *bk, *bv;
    float *o, *m, *inv;
    const float *dout;
    float *dq, *dk, *dv;
    size_t cs;
    int col;
} Pair;

static void fwd_vec(const AttCore *j, const Pair *P, float *sl)
{
    const AttGeo *g = &j->g;
    SlotMap sm = slot_map(g);
    int L = g->L, hd = g->hd, Lp = g->Lp;
    float *Qt = sl + sm.Qt, *Kt = sl + sm.Kt, *Vt = sl + sm.Vt, *T = sl + sm.T, *Ot = sl + sm.Ot;
    float *m = sl + sm.m, *inv = sl + sm.inv;
    head_in(P->q, P->cs, P->bq, L, Lp, hd, Qt);
    head_in(P->k, P->cs, P->bk, L, Lp, hd, Kt);
    head_in(P->v, P->cs, P->bv, L, Lp, hd, Vt);
    rope_apply(Qt, &j->rope, 1.0f, g->scale);
    rope_apply(Kt, &j->rope, 1.0f, 1.0f);
    for (int c0 = 0; c0 < L; c0 += VL) {
        int jn = c0 + VL, nq = L - c0 < VL ? L - c0 : VL;
        int j0 = g->w && c0 > g->w ? (c0 - g->w) / 4 * 4 : 0; /* first key of the window */
        col_scores(Kt, Qt + c0, Lp, hd, c0, j0, jn, g->w, T, m);
        col_exp(T, jn - j0, m, inv);
        col_mix(Vt + j0, Lp, hd, T, jn - j0, inv, Ot);
        for (int i = 0; i < hd; i++) memcpy(P->o + i * P->cs + c0, Ot + (size_t)i * VL, sizeof(float) * nq);
        memcpy(P->m + c0, m, sizeof(float) * nq);
        memcpy(P->inv + c0, inv, sizeof(float) * nq);
    }
}

static void bwd_vec(const AttCore *j, const Pair *P, float *sl)
{
    const AttGeo *g = &j->g;
    SlotMap sm = slot_map(g);
    int L = g->L, hd = g->hd, hdp = g->hdp, Lp = g->Lp, d = g->d;
    float *Qt = sl + sm.Qt, *Kt = sl + sm.Kt, *Vt = sl + sm.Vt, *Gt = sl + sm.Gt;
    float *dQt = sl + sm.dQt, *dKt = sl + sm.dKt, *dVt = sl + sm.dVt, *Kp = sl + sm.Kp;
    float *dQp = sl + sm.dQp, *ds = sl + sm.ds, *delta = sl + sm.delta, *db = sl + sm.db;
    head_in(P->q, P->cs, P->bq, L, Lp, hd, Qt);
    head_in(P->k, P->cs, P->bk, L, Lp, hd, Kt);
    head_in(P->v, P->cs, P->bv, L, Lp, hd, Vt);
    head_in(P->dout, P->cs, NULL, L, Lp, hd, Gt);
    head_dot(Gt, (size_t)Lp, P->o, P->cs, L, hd, delta);
    rope_apply(Qt, &j->rope, 1.0f, g->scale);
    rope_apply(Kt, &j->rope, 1.0f, 1.0f);
    to_rows(Kt, Lp, hd, hdp, Kp);
    memset(dKt, 0, sizeof(float) * (size_t)hd * Lp);
    memset(dVt, 0, sizeof(float) * (size_t)hd * Lp);
    for (int t = 0; t < L; t += BR) {
        int nr = L - t < BR ? L - t : BR, n = (int)round_up((size_t)t + nr, VL);
        int c0 = g->w && t > g->w ? (t - g->w) / VL * VL : 0; /* first key of the window */
        float m[BR] = {0}, inv[BR] = {0}, dl[BR] = {0}; /* zero for rows past the end */
        for (int r = 0; r < nr; r++) m[r] = P->m[t + r], inv[r] = P->inv[t + r], dl[r] = delta[t + r];
        rows_bwd(Qt + t, Gt + t, Kt, Vt, dKt, dVt, hd, Lp, t, c0, n, g->w, m, inv, dl, ds);
        rows_mix(ds + c0, Lp, Kp + (size_t)c0 * hdp, hdp, n - c0, g->scale, dQp + (size_t)t * hdp);
    }
    from_rows(dQp, L, Lp, hd, hdp, dQt);
    rope_apply(dQt, &j->rope, -1.0f, 1.0f);
    rope_apply(dKt, &j->rope, -1.0f, 1.0f);
    head_out(dQt, L, Lp, hd, P->dq, P->cs, db + P->col);
    head_out(dKt, L, Lp, hd, P->dk, P->cs, db + d + P->col);
    head_out(dVt, L, Lp, hd, P->dv, P->cs, db + 2 * d + P->col);
}

/* Sgemm path: blocks of ATT_QB queries, each against the keys up to its last query. */
static void fwd_blas(const AttCore *j, const Pair *P, float *sl)
{
    const AttGeo *g = &j->g;
    SlotMap sm = slot_map(g);
    int L = g->L, hd = g->hd, Lp = g->Lp, cs = (int)P->cs;
    float *Qt = sl + sm.Qt, *Kt = sl + sm.Kt, *Vt = sl + sm.Vt, *S = sl + sm.S;
    head_in(P->q, P->cs, P->bq, L, Lp, hd, Qt);
    head_in(P->k, P->cs, P->bk, L, Lp, hd, Kt);
    head_in(P->v, P->cs, P->bv, L, Lp, hd, Vt);
    rope_apply(Qt, &j->rope, 1.0f, g->scale);
    rope_apply(Kt, &j->rope, 1.0f, 1.0f);
    for (int t0 = 0; t0 < L; t0 += ATT_QB) {
        /* keys k0.. (the block's first window start, down to a step of VL); columns are k - k0 */
        int k0 = g->w && t0 > g->w ? (t0 - g->w) / VL * VL : 0;
        int t1 = t0 + ATT_QB < L ? t0 + ATT_QB : L, nb = t1 - t0, nk = t1 - k0;
        mm1(true, false, nb, nk, hd, 1.0f, Qt + t0, Lp, Kt + k0, Lp, 0.0f, S, Lp);
        for (int t = t0; t < t1; t++) {
            float *s = S + (size_t)(t - t0) * Lp;
            int n = (int)round_up((size_t)t + 1, VL) - k0;
            row_mask(s, t - k0, n);
            if (g->w)
                for (int jj = 0; jj < t - g->w - k0; jj++) s[jj] = -INFINITY;
            float m = row_max(s, n), inv = 1.0f / row_exp(s, m, n);
            P->m[t] = m;
            P->inv[t] = inv;
            row_scale(s, inv, n);
            for (int jj = n; jj < nk; jj++) s[jj] = 0.0f;
        }
        mm1(false, true, hd, nb, nk, 1.0f, Vt + k0, Lp, S, Lp, 0.0f, P->o + t0, cs); /* O^T = V^T P^T */
    }
}

static void bwd_blas(const AttCore *j, const Pair *P, float *sl)
{
    const AttGeo *g = &j->g;
    SlotMap sm = slot_map(g);
    int L = g->L, hd = g->hd, Lp = g->Lp, d = g->d, cs = (int)P->cs;
    float *Qt = sl + sm.Qt, *Kt = sl + sm.Kt, *Vt = sl + sm.Vt, *dQt = sl + sm.dQt;
    float *dKt = sl + sm.dKt, *dVt = sl + sm.dVt, *S = sl + sm.S, *dP = sl + sm.dP;
    float *delta = sl + sm.delta, *db = sl + sm.db;
    head_in(P->q, P->cs, P->bq, L, Lp, hd, Qt);
    head_in(P->k, P->cs, P->bk, L, Lp, hd, Kt);
    head_in(P->v, P->cs, P->bv, L, Lp, hd, Vt);
    rope_apply(Qt, &j->rope, 1.0f, g->scale);
    rope_apply(Kt, &j->rope, 1.0f, 1.0f);
    head_dot(P->dout, P->cs, P->o, P->cs, L, hd, delta);
    memset(dQt, 0, sizeof(float) * (size_t)hd * Lp);
    memset(dKt, 0, sizeof(float) * (size_t)hd * Lp);
    memset(dVt, 0, sizeof(float) * (size_t)hd * Lp);
    for (int t0 = 0; t0 < L; t0 += ATT_QB) {
        int k0 = g->w && t0 > g->w ? (t0 - g->w) / VL * VL : 0; /* as in fwd_blas */
        int t1 = t0 + ATT_QB < L ? t0 + ATT_QB : L, nb = t1 - t0, nk = t1 - k0;
        const float *G = P->dout + t0; /* dO^T, hd x nb, rows cs apart */
        mm1(true, false, nb, nk, hd, 1.0f, Qt + t0, Lp, Kt + k0, Lp, 0.0f, S, Lp);
        mm1(true, false, nb, nk, hd, 1.0f, G, cs, Vt + k0, Lp, 0.0f, dP, Lp);
        for (int t = t0; t < t1; t++) {
            float *s = S + (size_t)(t - t0) * Lp, *dp = dP + (size_t)(t - t0) * Lp;
            int n = (int)round_up((size_t)t + 1, VL) - k0;
            row_mask(s, t - k0, n);
            if (g->w)
                for (int jj = 0; jj < t - g->w - k0; jj++) s[jj] = -INFINITY;
            row_prob_dscore(s, dp, P->m[t], P->inv[t], delta[t], n); /* columns >= nk unread */
            for (int jj = n; jj < nk; jj++) s[jj] = dp[jj] = 0.0f;
        }
        /* dV^T += dO^T P, dK^T += Q^T dS, dQ^T = K^T dS^T (Q already carries the scale) */
        mm1(false, false, hd, nk, nb, 1.0f, G, cs, S, Lp, 1.0f, dVt + k0, Lp);
        mm1(false, false, hd, nk, nb, 1.0f, Qt + t0, Lp, dP, Lp, 1.0f, dKt + k0, Lp);
        mm1(false, true, hd, nb, nk, g->scale, Kt + k0, Lp, dP, Lp, 0.0f, dQt + t0, Lp);
    }
    rope_apply(dQt, &j->rope, -1.0f, 1.0f);
    rope_apply(dKt, &j->rope, -1.0f, 1.0f);
    head_out(dQt, L, Lp, hd, P->dq, P->cs, db + P->col);
    head_out(dKt, L, Lp, hd, P->dk, P->cs, db + d + P->col);
    head_out(dVt, L, Lp, hd, P->dv, P->cs, db + 2 * d + P->col);
}

/* Pair p is sequence p / H, head p % H. */
static Pair pair_at(const AttCore *j, int p)
{
    const AttGeo *g = &j->g;
    int b = p / g->H, h = p % g->H;
    size_t cs = g->rows, t0 = (size_t)b * g->L, col = (size_t)h * g->hd, d = (size_t)g->d;
    Pair P = {0};
    P.cs = cs;
    P.col = (int)col;
    P.q = j->qkvT + col * cs + t0;
    P.k = P.q + d * cs;
    P.v = P.k + d * cs;
    P.bq = j->bqkv + col;
    P.bk = P.bq + d;
    P.bv = P.bk + d;
    P.o = j->oT + col * cs + t0;
    P.m = j->stats + (size_t)p * 2 * g->L;
    P.inv = P.m + g->L;
    if (j->dqkvT) {
        P.dout = j->doutT + col * cs + t0;
        P.dq = j->dqkvT + col * cs + t0;
        P.dk = P.dq + d * cs;
        P.dv = P.dk + d * cs;
    }
    return P;
}

void att_core_pairs(const AttCore *j, int p0, int p1, int slot)
{
    const AttGeo *g = &j->g;
    float *sl = j->slots + (size_t)slot * j->slot_size;
    for (int p = p0; p < p1; p++) {
        Pair P = pair_at(j, p);
        if (!j->dqkvT)
            (g->blas ? fwd_blas : fwd_vec)(j, &P, sl);
        else
            (g->blas ? bwd_blas : bwd_vec)(j, &P, sl);
    }
}
