/* What the RWKV files share: the head layout, the token shift (rwkv_shift.c) and the WKV scan
 * (rwkv_wkv.c), used by the time mixers (rwkv_time.c) and the channel mixers (rwkv_channel.c). */
#ifndef MADLAB_RWKV_H
#define MADLAB_RWKV_H

#include "internal.h"

#define RWKV_HS 16 /* head size: the last head takes what is left of the width */
#define RWKV_CH 16 /* scan steps between stored states */

static inline int rwkv_heads(int d) { return (d + RWKV_HS - 1) / RWKV_HS; }
static inline int rwkv_head_size(int d, int h) { return d - h * RWKV_HS < RWKV_HS ? d - h * RWKV_HS : RWKV_HS; }

/* Linear token-shift mixing over B sequences of L rows of width d: X_s = x alpha_s + xs (1 -
 * alpha_s), s < n, with xs the previous row (0 at t = 0); its backward dx[t] = sum_s dX_s[t]
 * alpha_s + dX_s[t+1] (1 - alpha_s) and dalpha_s += dX_s (x - xs) into per-thread partial sums. */
typedef struct {
    const float *x, *alpha, *dX;
    float *X, *dx, *part; /* part: per-thread n x d partial sums of dalpha, pstride apart */
    size_t rows, stride, pstride; /* stride: floats between the n blocks of X and dX */
    int n, d, L;
} RwkvMix;
void rwkv_mix_forward(const RwkvMix *m);
void rwkv_mix_backward(const RwkvMix *m);

/* The WKV scan per (sequence, head), the 16 x 16 state in cache: y_t = r_t (S + diag(u) k_t^T
 * v_t), S <- diag(exp(lw_t)) S + k_t^T v_t. Arrays are rows x d (rows = B L); lw has row stride
 * lws (0: one log decay per channel). Forward stores the state every RWKV_CH steps in ck
 * (rwkv_wkv_ck_floats); backward reads them, takes dY and writes dR, dK, dV and the per-token
 * gradients DLW and DU (rows x d each), no two tasks writing the same place. */
typedef struct {
    int B, L, d;
    const float *R, *K, *V, *lw, *u, *DY;
    size_t lws;
    float *Y, *ck, *dR, *dK, *dV, *DLW, *DU;
} RwkvWkv;
size_t rwkv_wkv_ck_floats(int B, int L, int d);
void rwkv_wkv_fwd(const RwkvWkv *w);
void rwkv_wkv_bwd(const RwkvWkv *w);

#endif
