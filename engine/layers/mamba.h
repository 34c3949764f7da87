/* Mamba internals shared by mamba.c (the layer: projections, conv passes, sizes) and
 * mamba_scan.c (the selective scan and its backward). Internal to those two files. */
#ifndef MADLAB_MAMBA_H
#define MADLAB_MAMBA_H

#include "scan.h"

#define SV 16         /* channels per scan block (vector lanes) */
#define MAX_STATE 16  /* d_state knob limit: the block's state lives on the stack */

typedef struct {
    int B, L, d, E, N, R, K, P; /* P = R + 2N columns of x_proj */
    size_t rows;
} Geo;

/* Parameters, in order. conv_w is stored tap-major (K x E): tap k multiplies x[t - (K-1) + k],
 * so the convolution runs along contiguous channels. */
typedef struct { float *W_in, *conv_w, *conv_b, *W_x, *W_dt, *b_dt, *A_log, *D, *W_out; } Params;

/* scratch: u (rows x E), gbuf (rows x E: the gate's gradient, then d(dt_proj pre-activation)),
 * du (rows x E), ddbc (rows x P), dxz (rows x 2E), then one slot per thread: partial gradients
 * of D (E), A (E x N), conv weights (K x E) and bias (E), which are zeroed once per backward,
 * then the scan's buffers for one sequence (see Slot). */
typedef struct { size_t u, gbuf, du, ddbc, dxz, pack, slots, slot, parts, total; } ScrMap;

/* hbuf: the block's states h_0 = 0, h_1 .. h_L ((L + 1) x N x SV); abuf: the decays
 * exp(delta_t A) that made them (L x N x SV); acc: per step, the lanes' partial sums of dB
 * (N x SV) then dC (N x SV), added over the sequence's channel blocks and summed across lanes
 * once at the end (a sum across lanes per block would be a serial chain of scalar adds). */
typedef struct { float *dD, *dA, *dcw, *dcb, *hbuf, *abuf, *acc; } Slot;

/* One chunk of sequences through the passes and the scan. */
typedef struct {
    Geo g; /* of the chunk of sequences in hand */
    ScrMap sm;
    Params p;
    float *xz;
    float *xc, *u, *gbuf, *delta, *dsp, *dxz, *du, *scratch, *ys, *gate;
    float *dbc;
} Job;

ScrMap mamba_scr_map(const Geo *g, size_t rows, int L);
Slot mamba_slot_at(float *scratch, const ScrMap *m, const Geo *g, int tid);
int mamba_n_blocks(const Geo *g); /* channel blocks of SV per sequence */
/* pool_for jobs: the forward over (sequence, channel block) items; the backward over sequences
 * (recomputing each block's states, then reverse time), adding into the thread's slot. */
void mamba_scan_fwd_items(void *ctx, size_t i0, size_t i1, int tid);
void mamba_scan_bwd_seqs(void *ctx, size_t b0, size_t b1, int tid);

#endif
