/* The attention core, shared by attention.c (the four attention kinds: their projections, knobs
 * and sizes) and attention_core.c (softmax attention per (sequence, head) pair over the pool).
 * Internal to those two files. */
#ifndef MADLAB_ATTENTION_CORE_H
#define MADLAB_ATTENTION_CORE_H

#include "internal.h"

#define ATT_VL 16          /* keys per step of the vector loops; rows are padded to a multiple */
#define ATT_HV 8           /* channels per step of loops over a head; heads are padded to this */
#define ATT_SLOTS ML_MAX_THREADS /* pieces of per-pair scratch: enough for every pool thread */
#define ATT_BLAS_HD 32     /* head dims from which the core uses sgemm */

/* Shape of one call. */
typedef struct {
    int B, L, d, H, hd, hdp, Lp;
    int w; /* query t sees keys t-w..t; 0 = all keys up to t */
    size_t rows;
    bool blas;
    float scale;
} AttGeo;

static inline int att_n_slots(const AttGeo *g)
{
    return g->B * g->H < ATT_SLOTS ? g->B * g->H : ATT_SLOTS;
}

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

/* One call of the core over all pairs; backward when dqkvT is set. */
typedef struct {
    AttGeo g;
    AttRope rope;
    const float *bqkv;  /* params */
    const float *qkvT;  /* acts */
    float *oT, *stats;  /* acts, written by forward */
    const float *doutT; /* gradient of oT (backward) */
    float *dqkvT;       /* gradient of qkvT (backward) */
    float *slots;
    size_t slot_size;
    int n_pairs, n_slots;
} AttCore;

/* pool_for job over slots [s0, s1) (ctx: an AttCore): each slot takes its share of the pairs in
 * order, so the result does not depend on the thread count. */
void att_core_slots(void *ctx, size_t s0, size_t s1, int tid);

#endif
