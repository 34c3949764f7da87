/* The attention core, shared by attention.c (the four attention kinds: their projections, knobs,
 * sizes and blocks of sequences over the pool) and attention_core.c (softmax attention per
 * (sequence, head) pair). Internal to those two files. */
#ifndef MADLAB_ATTENTION_CORE_H
#define MADLAB_ATTENTION_CORE_H

#include "internal.h"

#define ATT_VL 16          /* keys per step of the vector loops; rows are padded to a multiple */
#define ATT_HV 8           /* channels per step of loops over a head; heads are padded to this */
#define ATT_BLAS_HD 32     /* head dims from which the core uses sgemm */

/* Shape of one call. */
typedef struct {
    int B, L, d, H, hd, hdp, Lp;
    int w; /* query t sees keys t-w..t; 0 = all keys up to t */
    size_t rows;
    bool blas;
    float scale;
} AttGeo;

/* Floats of scratch per slot, and where in a slot its share of the bias gradient (3d) is. */
size_t att_slot_floats(const AttGeo *g);
size_t att_slot_db(const AttGeo *g);

/* The rotary table, channel-major: cs[i][t], sn[i][t] for pair i < hd/2 and t < Lp. */
typedef struct {
    float *cs, *sn;
    int hd, Lp;
} AttRope;
/* pool_for job filling rows [i0, i1) of the table (ctx: an AttRope). */
void att_rope_rows(void *ctx, size_t i0, size_t i1, int tid);

/* The core's view of one layer call: backward when dqkvT is set. */
typedef struct {
    AttGeo g;
    AttRope rope;
    const float *bqkv;  /* params */
    float *qkvT;        /* acts: (x Wqkv)^T, written by the forward's product */
    float *oT, *stats;  /* acts, written by forward */
    float *doutT;       /* gradient of oT (backward) */
    float *dqkvT;       /* gradient of qkvT (backward) */
    float *slots;
    size_t slot_size;
} AttCore;

/* Pairs [p0, p1) in order (pair p is sequence p / H, head p % H), in the scratch of slot `slot`,
 * which is the caller's alone meanwhile. Backward adds each pair's bias gradient into the slot's
 * share (att_slot_db), which the caller zeroes and sums. */
void att_core_pairs(const AttCore *j, int p0, int p1, int slot);

#endif
