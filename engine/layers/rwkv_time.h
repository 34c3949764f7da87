/* The RWKV time mixers' shared state (rwkv_time.c), and RWKV-6's data-dependent token-shift
 * mixing and decay (rwkv6_mix.c). Internal to those two files. */
#ifndef MADLAB_RWKV_TIME_H
#define MADLAB_RWKV_TIME_H

#include "rwkv.h"

typedef struct {
    int B, L, d, H, M, Dr, ns; /* ns: mixed inputs, 4 (r k v g) or 5 (+ w) */
    bool v6;
    size_t rows, rd;
} Geo;

typedef struct { float *mu_x, *mu, *W1, *W2, *D1, *D2, *W, *decay, *u, *gnw, *gnb, *Wo; } TP;

/* Everything one call of a time mixer touches. */
typedef struct {
    Geo g;
    TP p, gp;
    const float *x;
    float *R, *K, *V, *G, *Y, *stats, *ck, *Mt, *MS, *WW, *LW;
    float *X, *DX, *D4, *O, *DY, *DLW, *DU, *lw5, *tmp, *parts, *XX, *XXX, *DXX, *DXD, *dM, *dWW;
    float *dx;
    const float *lw; /* log decay: LW (per token) or lw5 (per channel) */
    size_t lws;      /* its row stride: d or 0 */
} TJob;

/* RWKV-6: XX, XXX and the mixed inputs X, and when fresh M, MS, WW and the log decay LW. */
void tm6_mix_forward(TJob *j, bool fresh);
/* RWKV-6: from DLW (the log decay's gradient) to the decay's, D1's and D2's, and X_w's in DX. */
void tm6_decay_backward(TJob *j);
/* RWKV-6: from DX (the mixed inputs' gradients) to mu, W1, W2, mu_x's and dx (if not NULL). */
void tm6_mix_backward(TJob *j, float *dx);

#endif
