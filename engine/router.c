/* The routers of the mixtures of experts (moe-mlp, hyena-experts), chosen by their routing knob:
 *   reference  the reference's: every expert is used; the scores below the k-th largest are set
 *              to 0 (not -inf) and a softmax runs over all E, so the top k get more weight;
 *   topk       sparse: each row goes to its k highest-scoring experts, weighted by a softmax over
 *              those k scores only (the others get exactly 0 and need no compute). */
#include "config.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>

const char *const routing_words[] = {"reference", "topk"};

void router_dense(const float *scores, int rows, int E, int k, float *p, float *keep)
{
    for (int r = 0; r < rows; r++) {
        const float *s = scores + (size_t)r * E;
        float *pr = p + (size_t)r * E, *kr = keep + (size_t)r * E;
        /* the k-th largest score: the smallest of a descending list of the k best */
        float best[ML_MAX_EXPERTS];
        int n = 0;
        for (int e = 0; e < E; e++) {
            float v = s[e];
            if (n == k && !(v > best[k - 1])) continue;
            int pos = n < k ? n++ : k - 1;
            while (pos > 0 && v > best[pos - 1]) {
                best[pos] = best[pos - 1];
                pos--;
            }
            best[pos] = v;
        }
        float thr = best[k - 1], mx = -INFINITY, sum = 0;
        for (int e = 0; e < E; e++) {
            kr[e] = s[e] >= thr ? 1.0f : 0.0f;
            pr[e] = s[e] >= thr ? s[e] : 0.0f;
            if (pr[e] > mx) mx = pr[e];
        }
        for (int e = 0; e < E; e++) sum += pr[e] = expf(pr[e] - mx);
        for (int e = 0; e < E; e++) pr[e] /= sum;
    }
}

void router_dense_bwd(const float *p, const float *keep, const float *dp, int rows, int E, float *ds)
{
    for (int r = 0; r < rows; r++) {
        const float *pr = p + (size_t)r * E, *dr = dp + (size_t)r * E, *kr = keep + (size_t)r * E;
        float *d = ds + (size_t)r * E, dot = 0;
        for (int e = 0; e < E; e++) dot += pr[e] * dr[e];
        for (int e = 0; e < E; e++) d[e] = kr[e] * pr[e] * (dr[e] - dot);
    }
}

void router_mean_weight(const float *p, int rows, int E, float *frac)
{
    for (int e = 0; e < E; e++) frac[e] = 0;
    if (rows <= 0) return;
    for (int r = 0; r < rows; r++)
        for (int e = 0; e < E; e++) frac[e] += p[(size_t)r * E + e];
    for (int e = 0; e < E; e++) frac[e] /= (float)rows;
}

void router_topk(const float *scores, int rows, int E, int k, int32_t *idx, float *p)
{
    for (int r = 0; r < rows; r++) {
        const float *s = scores + (size_t)r * E;
        int32_t *ix = idx + (size_t)r * k;
        float *pr = p + (size_t)r * k;
        /* Insertion into a descending list of k; ties keep the lower index first. */
        int n = 0;
        for (int e = 0; e < E; e++) {
            float v = s[e];
            if (n == k && !(v > s[ix[k - 1]])) continue;
            int pos = n < k ? n++ : k - 1;
            while (pos > 0 && v > s[ix[pos - 1]]) {
                ix[pos] = ix[pos - 1];
                pos--;
            }
            ix[pos] = e;
        }
        float mx = s[ix[0]], sum = 0;
        for (int j = 0; j < k; j++) sum += pr[j] = expf(s[ix[j]] - mx);
        for (int j = 0; j < k; j++) pr[j] /= sum;
    }
}

void router_topk_bwd(const int32_t *idx, const float *p, const float *dp, int rows, int E, int k,
                     float *ds)
{
    for (int r = 0; r < rows; r++) {
        const int32_t *ix = idx + (size_t)r * k;
        const float *pr = p + (size_t)r * k, *dr = dp + (size_t)r * k;
        float *d = ds + (size_t)r * E, dot = 0;
        for (int e = 0; e < E; e++) d[e] = 0;
        for (int j = 0; j < k; j++) dot += pr[j] * dr[j];
        for (int j = 0; j < k; j++) d[ix[j]] = pr[j] * (dr[j] - dot);
    }
}

void router_load(const int32_t *idx, int rows, int E, int k, float *frac)
{
    for (int e = 0; e < E; e++) frac[e] = 0;
    if (rows <= 0 || k <= 0) return;
    for (size_t i = 0; i < (size_t)rows * k; i++) frac[idx[i]] += 1.0f;
    for (int e = 0; e < E; e++) frac[e] /= (float)rows * (float)k;
}

/* Counting sort of the (row, slot) pairs by expert: pos[r*k+j] is where pair (r, j) goes in the
 * grouped order, start[e]..start[e+1] the range of expert e, and rowof[] the row at each place. */
void router_group(const int32_t *idx, int rows, int E, int k, int32_t *start, int32_t *pos,
                  int32_t *rowof)
{
    for (int e = 0; e <= E; e++) start[e] = 0;
    size_t n = (size_t)rows * k;
    for (size_t i = 0; i < n; i++) start[idx[i] + 1]++;
    for (int e = 0; e < E; e++) start[e + 1] += start[e];
    /* Fill in row order within each expert, using pos as a cursor copy of start first. */
    int32_t cur[ML_MAX_EXPERTS];
    for (int e = 0; e < E; e++) cur[e] = start[e];
    for (size_t i = 0; i < n; i++) {
        int32_t q = cur[idx[i]]++;
        pos[i] = q;
        rowof[q] = (int32_t)(i / (size_t)k);
    }
}

int router_load_text(const float *frac, int E, char *buf, size_t n)
{
    int w = snprintf(buf, n, "expert load");
    for (int e = 0; e < E && w >= 0 && (size_t)w < n; e++)
        w += snprintf(buf + w, n - (size_t)w, " %.3f", frac[e]);
    return w < 0 ? 0 : w;
}

/* ---- the same over the pool, in blocks of rows (the functions above stay serial, for callers
 * already inside a pool task) ---- */

#define ROUTE_BLOCK 256
typedef struct {
    bool dense;
    const float *scores, *p, *keep, *dp;
    int rows, E, k;
    int32_t *idx;
    const int32_t *cidx;
    float *pw, *kw, *ds;
} Route;

static void route_blocks(void *ctx, size_t b0, size_t b1, int tid)
{
    const Route *a = ctx;
    int r0 = (int)b0 * ROUTE_BLOCK, r1 = (int)b1 * ROUTE_BLOCK;
    if (r1 > a->rows) r1 = a->rows;
    size_t oE = (size_t)r0 * a->E, ok = (size_t)r0 * a->k;
    if (a->dense) router_dense(a->scores + oE, r1 - r0, a->E, a->k, a->pw + oE, a->kw + oE);
    else router_topk(a->scores + oE, r1 - r0, a->E, a->k, a->idx + ok, a->pw + ok);
}

static void route_bwd_blocks(void *ctx, size_t b0, size_t b1, int tid)
{
    const Route *a = ctx;
    int r0 = (int)b0 * ROUTE_BLOCK, r1 = (int)b1 * ROUTE_BLOCK;
    if (r1 > a->rows) r1 = a->rows;
    size_t oE = (size_t)r0 * a->E, ok = (size_t)r0 * a->k;
    if (a->dense)
        router_dense_bwd(a->p + oE, a->keep + oE, a->dp + oE, r1 - r0, a->E, a->ds + oE);
    else
        router_topk_bwd(a->cidx + ok, a->p + ok, a->dp + ok, r1 - r0, a->E, a->k, a->ds + oE);
}

void router_route(bool dense, const float *scores, int rows, int E, int k, int32_t *idx, float *p,
                  float *keep)
{
    Route a = {.dense = dense, .scores = scores, .rows = rows, .E = E, .k = k, .idx = idx,
               .pw = p, .kw = keep};
    pool_for((size_t)(rows + ROUTE_BLOCK - 1) / ROUTE_BLOCK, route_blocks, &a);
}

void router_route_bwd(bool dense, const int32_t *idx, const float *p, const float *keep,
                      const float *dp, int rows, int E, int k, float *ds)
{
    Route a = {.dense = dense, .cidx = idx, .p = p, .keep = keep, .dp = dp, .rows = rows, .E = E,
               .k = k, .ds = ds};
    pool_for((size_t)(rows + ROUTE_BLOCK - 1) / ROUTE_BLOCK, route_bwd_blocks, &a);
}
