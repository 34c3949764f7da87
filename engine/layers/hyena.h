/* Hyena family internals: the geometry and parameter map the three kinds share (hyena.c), and
 * the parts they are built from (hyena_parts.c): front end, back end, implicit filter, gate,
 * the experts' mix and mh-hyena's per-head core. Internal to those two files. */
#ifndef MADLAB_HYENA_H
#define MADLAB_HYENA_H

#include "internal.h"

enum { HY_PLAIN, HY_MH, HY_EXPERTS };
#define HY_QB 64 /* query rows per block in mh-hyena's quadratic form */

/* ks: experts mixed per row (E for the reference routing, whose slots are the experts in order
 * and need no index; k for topk). */
typedef struct {
    int kind, d, C, tile, Pin, K, w, F, Lmax, hs, G, E, k, inner, cin, dense, ks;
} Hy;

/* Parameter offsets. */
typedef struct {
    size_t Win, bin, cw, cb, z, W1, b1, W2, b2, W3, b3, W4, f, D, Wr, br, Wout, bout, total;
} PMap;

/* One job type for the front end's and the experts' loops over channels or rows. */
typedef struct {
    const Hy *g;
    const float *P, *uT, *dsT, *gT, *a;
    float *out, *grads;
    const PMap *m;
    int B, L;
    size_t rows;
    const float *pT; /* the experts' weights, E x rows */
} Job;

/* mh-hyena's core: pool_for jobs over (sequence, head) pairs, blocks of HY_QB queries. */
typedef struct {
    const Hy *g;
    const float *sT, *hT, *D, *doT;
    float *oT, *dsT, *dhp, *work;
    int B, L;
    size_t rows, slot;
} MhJob;

/* u = x Win + bin into uT (Pin x rows), then the short convolutions into sT (3C x rows). */
void hy_front_fwd(const Hy *g, const PMap *m, Layer *l, const float *x, Dims dm, float *uT,
                  float *sT);

/* From dsT (3C x rows): parameter gradients of the front end and dx (if not NULL). */
void hy_front_bwd(const Hy *g, const PMap *m, Layer *l, const float *x, Dims dm,
                  const float *uT, const float *dsT, float *duT, float *dx);

/* y = g Wout + bout from channel-major gT (cin x rows). */
void hy_back_fwd(const Hy *g, const PMap *m, const float *P, const float *gT, float *y,
                 size_t rows);

/* Gradients of Wout and bout, and dgT (cin x rows) from dy. */
void hy_back_bwd(const Hy *g, const PMap *m, Layer *l, const float *gT, const float *dy,
                 float *dgT, size_t rows);

/* hT (F x L) from the positional features; a1..a3, s1..s3 saved in fa. */
void hy_filter_fwd(const Hy *g, const PMap *m, const float *P, int L, float *fa, float *hT);

/* Gradients of the filter's parameters from dhT (F x L, overwritten). */
void hy_filter_bwd(const Hy *g, const PMap *m, Layer *l, int L, const float *fa, float *dhT,
                   float *fb);

/* o = a * b over nc channel-major channels (the output gate, recomputed in backward). */
void hy_gate(const float *a, const float *b, float *o, int nc, size_t rows);

/* pT (E x rows): the weight of expert e at row r, from p (rows x ks: all E in order for the
 * reference routing; the k selected, named by idx, for topk) */
void hy_weights_by_expert(const float *p, const int32_t *idx, size_t rows, int E, int ks,
                          float *pT);

/* oT[i] = sum_e pT[e] * gT[i*E + e], along rows */
void hy_mix_fwd(void *ctx, size_t i0, size_t i1, int tid);

/* dgT[i*E + e] = pT[e] * doT[i] (j->a = doT) */
void hy_mix_bwd_g(void *ctx, size_t i0, size_t i1, int tid);

/* dpT[e] = sum_i doT[i] * gT[i*E + e], along rows (j->a = doT, j->out = dpT) */
void hy_mix_bwd_p(void *ctx, size_t e0, size_t e1, int tid);

/* dp (rows x ks) from dpT: the selected experts' entries */
void hy_dp_by_slot(const float *dpT, const int32_t *idx, size_t rows, int ks, float *dp);

/* hr (F x L): each filter reversed. */
void hy_reverse_filters(const float *hT, float *hr, int F, int L);

/* The heads' output oT, and in backward dsT (q, k, v) and per-pair filter gradients dhp. */
void hy_mh_pair_fwd(void *ctx, size_t p0, size_t p1, int tid);
void hy_mh_pair_bwd(void *ctx, size_t p0, size_t p1, int tid);

#endif
