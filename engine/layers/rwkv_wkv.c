/* The WKV scan of the RWKV time mixers (rwkv.h), and the same scan alone for tests
 * (recurrent.h). One task per (sequence, head), the 16 x 16 state in cache. Forward stores the
 * state every RWKV_CH steps; the backward walks the checkpoints in reverse, recomputes the
 * RWKV_CH states of a chunk, and runs the chunk in reverse time with the adjoint state. */
#include "config.h"
#include "recurrent.h"
#include "rwkv.h"

#include <string.h>

#define HS RWKV_HS
#define CH RWKV_CH

static int n_chunks(int L) { return (L + CH - 1) / CH; }

size_t rwkv_wkv_ck_floats(int B, int L, int d)
{
    return (size_t)B * rwkv_heads(d) * n_chunks(L) * HS * HS;
}

/* One (sequence, head) pair; hs is a literal HS for full heads, so that the copies in and out
 * are fixed-length vector moves rather than calls to memcpy. */
static inline __attribute__((always_inline)) void wkv_fwd_pair(const RwkvWkv *j, size_t p, int hs)
{
    int d = j->d, H = rwkv_heads(d), nch = n_chunks(j->L);
    {
        int b = (int)(p / H), h = (int)(p % H), c0 = h * HS;
        float S[HS][HS], uu[HS] = {0};
        memset(S, 0, sizeof S);
        for (int i = 0; i < hs; i++) uu[i] = j->u[c0 + i];
        float *ck = j->ck + p * nch * HS * HS;
        for (int t = 0; t < j->L; t++) {
            size_t row = (size_t)b * j->L + t, o = row * d + c0;
            if (t % CH == 0) memcpy(ck + (size_t)(t / CH) * HS * HS, S, sizeof S);
            float r[HS] = {0}, k[HS] = {0}, v[HS] = {0}, w[HS] = {0}, y[HS] = {0};
            const float *lw = j->lw + row * j->lws + c0;
            for (int i = 0; i < hs; i++) {
                r[i] = j->R[o + i], k[i] = j->K[o + i], v[i] = j->V[o + i];
                w[i] = fast_expf(lw[i]);
            }
            for (int i = 0; i < HS; i++) {
                float ri = r[i], a = ri * uu[i] * k[i], ki = k[i], wi = w[i];
                for (int c = 0; c < HS; c++) y[c] = FMA(ri, S[i][c], FMA(a, v[c], y[c]));
                for (int c = 0; c < HS; c++) S[i][c] = FMA(wi, S[i][c], ki * v[c]);
            }
            for (int c = 0; c < hs; c++) j->Y[o + c] = y[c];
        }
    }
}

/* Reverse time. With A the adjoint of the state after step t (from later steps):
 *   dr_t = S_{t-1} dy_t + u k_t (v_t . dy_t)        dk_t = A v_t + r_t u (v_t . dy_t)
 *   dv_t = A^T k_t + dy_t (r_t . u k_t)             d(log w_t) = w_t rowsum(A * S_{t-1})
 *   du  += r_t k_t (v_t . dy_t)                     A <- diag(w_t) A + r_t^T dy_t
 * The sums over a row of S or A (dr, dk, d log w) run over the transposed copies ST and AT, so
 * that 16 rows advance together in vector lanes, each in the same order as a row-by-row loop;
 * dv, a sum over rows, uses A as it is. A and AT get the same update, so they stay equal. */
static inline __attribute__((always_inline)) void wkv_bwd_pair(const RwkvWkv *j, size_t p, int hs)
{
    int d = j->d, H = rwkv_heads(d), nch = n_chunks(j->L);
    {
        int b = (int)(p / H), h = (int)(p % H), c0 = h * HS;
        float Adj[HS][HS], AT[HS][HS], ST[CH][HS][HS], uu[HS] = {0};
        memset(Adj, 0, sizeof Adj);
        memset(AT, 0, sizeof AT);
        for (int i = 0; i < hs; i++) uu[i] = j->u[c0 + i];
        const float *ck = j->ck + p * nch * HS * HS;
        for (int c = nch - 1; c >= 0; c--) {
            int t0 = c * CH, t1 = t0 + CH < j->L ? t0 + CH : j->L;
            /* ST[t - t0]: the state before step t, transposed, each from the one before */
            const float *S0 = ck + (size_t)c * HS * HS;
            for (int q = 0; q < HS; q++)
                for (int i = 0; i < HS; i++) ST[0][q][i] = S0[i * HS + q];
            for (int t = t0; t + 1 < t1; t++) {
                size_t row = (size_t)b * j->L + t, o = row * d + c0;
                const float *lw = j->lw + row * j->lws + c0;
                float k[HS] = {0}, v[HS] = {0}, w[HS] = {0};
                for (int i = 0; i < hs; i++) k[i] = j->K[o + i], v[i] = j->V[o + i], w[i] = fast_expf(lw[i]);
                float (*S)[HS] = ST[t - t0], (*Sn)[HS] = ST[t - t0 + 1];
                for (int q = 0; q < HS; q++)
                    for (int i = 0; i < HS; i++) Sn[q][i] = FMA(w[i], S[q][i], k[i] * v[q]);
            }
            for (int t = t1 - 1; t >= t0; t--) {
                size_t row = (size_t)b * j->L + t, o = row * d + c0;
                const float *lw = j->lw + row * j->lws + c0;
                float r[HS] = {0}, k[HS] = {0}, v[HS] = {0}, w[HS] = {0}, dy[HS] = {0}, dv[HS] = {0};
                for (int i = 0; i < hs; i++) {
                    r[i] = j->R[o + i], k[i] = j->K[o + i], v[i] = j->V[o + i];
                    w[i] = fast_expf(lw[i]);
                    dy[i] = j->DY[o + i];
                }
                float vdy = 0.0f, ruk = 0.0f;
                for (int i = 0; i < HS; i++) vdy = FMA(v[i], dy[i], vdy), ruk = FMA(r[i] * uu[i], k[i], ruk);
                float (*Sp)[HS] = ST[t - t0];
                float sdy[HS] = {0}, av[HS] = {0}, as[HS] = {0};
                for (int q = 0; q < HS; q++)
                    for (int i = 0; i < HS; i++) {
                        sdy[i] = FMA(Sp[q][i], dy[q], sdy[i]);
                        av[i] = FMA(AT[q][i], v[q], av[i]);
                        as[i] = FMA(AT[q][i], Sp[q][i], as[i]);
                    }
                for (int i = 0; i < hs; i++) {
                    j->dR[o + i] = FMA(uu[i] * k[i], vdy, sdy[i]);
                    j->dK[o + i] = FMA(r[i] * uu[i], vdy, av[i]);
                    j->DLW[o + i] = w[i] * as[i];
                    j->DU[o + i] = r[i] * k[i] * vdy;
                }
                for (int i = 0; i < HS; i++) {
                    float ki = k[i], wi = w[i], ri = r[i];
                    for (int q = 0; q < HS; q++) {
                        dv[q] = FMA(Adj[i][q], ki, dv[q]);
                        Adj[i][q] = FMA(wi, Adj[i][q], ri * dy[q]);
                    }
                }
                for (int q = 0; q < HS; q++)
                    for (int i = 0; i < HS; i++) AT[q][i] = FMA(w[i], AT[q][i], r[i] * dy[q]);
                for (int q = 0; q < hs; q++) j->dV[o + q] = FMA(dy[q], ruk, dv[q]);
            }
        }
    }
}

static void wkv_fwd_pairs(void *ctx, size_t p0, size_t p1, int tid)
{
    const RwkvWkv *j = ctx;
    (void)tid;
    for (size_t p = p0; p < p1; p++) {
        int hs = rwkv_head_size(j->d, (int)(p % rwkv_heads(j->d)));
        if (hs == HS)
            wkv_fwd_pair(j, p, HS);
        else
            wkv_fwd_pair(j, p, hs);
    }
}

static void wkv_bwd_pairs(void *ctx, size_t p0, size_t p1, int tid)
{
    const RwkvWkv *j = ctx;
    (void)tid;
    for (size_t p = p0; p < p1; p++) {
        int hs = rwkv_head_size(j->d, (int)(p % rwkv_heads(j->d)));
        if (hs == HS)
            wkv_bwd_pair(j, p, HS);
        else
            wkv_bwd_pair(j, p, hs);
    }
}

void rwkv_wkv_fwd(const RwkvWkv *w)
{
    pool_for((size_t)w->B * rwkv_heads(w->d), wkv_fwd_pairs, (void *)w);
}

void rwkv_wkv_bwd(const RwkvWkv *w)
{
    pool_for((size_t)w->B * rwkv_heads(w->d), wkv_bwd_pairs, (void *)w);
}

/* ---------------- the scan alone, for tests (recurrent.h) ---------------- */

int rwkv_wkv_forward(int B, int L, int d, const float *r, const float *k, const float *v,
                     const float *lw, size_t lws, const float *u, float *y)
{
    RwkvWkv w = {.B = B, .L = L, .d = d, .R = r, .K = k, .V = v, .lw = lw, .lws = lws, .u = u, .Y = y};
    w.ck = arena_alloc_floats(rwkv_wkv_ck_floats(B, L, d));
    if (!w.ck) return -1;
    rwkv_wkv_fwd(&w);
    arena_free(w.ck);
    return 0;
}

int rwkv_wkv_backward(int B, int L, int d, const float *r, const float *k, const float *v,
                      const float *lw, size_t lws, const float *u, const float *dy, float *dr,
                      float *dk, float *dv, float *dlw, float *du)
{
    RwkvWkv w = {.B = B, .L = L, .d = d, .R = r, .K = k, .V = v, .lw = lw, .lws = lws, .u = u,
                 .DY = dy, .dR = dr, .dK = dk, .dV = dv, .DLW = dlw, .DU = du};
    w.ck = arena_alloc_floats(rwkv_wkv_ck_floats(B, L, d));
    w.Y = arena_alloc_floats((size_t)B * L * d);
    if (!w.ck || !w.Y) {
        arena_free(w.ck);
        arena_free(w.Y);
        return -1;
    }
    rwkv_wkv_fwd(&w); /* the stored states */
    rwkv_wkv_bwd(&w);
    arena_free(w.Y);
    arena_free(w.ck);
    return 0;
}
