/* The scans of the recurrent layers, callable alone so that tests can hold them against naive
 * references. Arrays are position-major over B*L rows; these allocate their own workspace
 * (they are for tests, not for training steps). */
#ifndef MADLAB_RECURRENT_H
#define MADLAB_RECURRENT_H

#include <stddef.h>

/* Mamba: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, ys_t = C_t . h_t + D u_t with
 * A = -exp(A_log) (E x N). u, delta, ys: rows x E; bc: rows x P, B_t at column R, C_t at R + N. */
void mamba_scan_forward(int B, int L, int E, int N, int R, int P, const float *u,
                        const float *delta, const float *bc, const float *A_log, const float *D,
                        float *ys);
/* Given dys, writes du, dpre (the gradient of softplus's input: ddelta * (1 - exp(-delta))),
 * dbc (columns R.. of rows x P; the first R are left 0) and adds into dA_log and dD. */
int mamba_scan_backward(int B, int L, int E, int N, int R, int P, const float *u,
                        const float *delta, const float *bc, const float *A_log, const float *D,
                        const float *dys, float *du, float *dpre, float *dbc, float *dA_log,
                        float *dD);

/* RWKV WKV over heads of 16 (the last head the rest of d): y_t = r_t (S + diag(u) k_t^T v_t),
 * S <- diag(exp(lw_t)) S + k_t^T v_t. r, k, v, y: rows x d; lw: rows x d with row stride lws
 * (0: one log decay per channel). */
int rwkv_wkv_forward(int B, int L, int d, const float *r, const float *k, const float *v,
                     const float *lw, size_t lws, const float *u, float *y);
/* Given dy, writes dr, dk, dv and the per-token gradients dlw (rows x d) and du (rows x d). */
int rwkv_wkv_backward(int B, int L, int d, const float *r, const float *k, const float *v,
                      const float *lw, size_t lws, const float *u, const float *dy, float *dr,
                      float *dk, float *dv, float *dlw, float *du);

#endif
