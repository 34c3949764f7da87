/* Cross-entropy over scored positions, and the accuracy metrics. */
#include "config.h"
#include "internal.h"


#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *logits;
    const int32_t *targets;
    float *dlogits;  /* NULL: loss only */
    double *row_loss;
    int V;
    float scale; /* 1 / number of scored rows */
} CeJob;

/* Exponentials per row that the gradient reuses instead of computing them again (libm's exp in
 * double dominates the loss at large vocabularies); 32 KiB of stack. */
#define CE_KEEP 4096

static void ce_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const CeJob *j = ctx;
    int V = j->V;
    for (size_t r = r0; r < r1; r++) {
        const float *z = j->logits + r * V;
        int t = j->targets[r];
        float *dz = j->dlogits ? j->dlogits + r * V : NULL;
        if (t == ML_IGNORE) {
            j->row_loss[r] = 0;
            if (dz) memset(dz, 0, sizeof(float) * V);
            continue;
        }
        float mx = z[0];
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double sum = 0, e[CE_KEEP]; /* the first CE_KEEP exponentials, for the gradient */
        for (int v = 0; v < V; v++) {
            double ev = exp((double)(z[v] - mx));
            if (v < CE_KEEP) e[v] = ev;
            sum += ev;
        }
        j->row_loss[r] = log(sum) - (double)(z[t] - mx);
        if (dz) {
            for (int v = 0; v < V; v++) {
                double ev = v < CE_KEEP ? e[v] : exp((double)(z[v] - mx));
                dz[v] = (float)(ev / sum) * j->scale;
            }
            dz[t] -= j->scale;
        }
    }
}

double cross_entropy(const float *logits, const int32_t *targets, size_t rows, int V,
                     float *dlogits, double *row_loss)
{
    size_t scored = 0;
    for (size_t r = 0; r < rows; r++) scored += targets[r] != ML_IGNORE;
    CeJob j = {logits, targets, dlogits, row_loss, V, scored ? 1.0f / (float)scored : 0.0f};
    pool_for(rows, ce_rows, &j);
    double total = 0; /* summed in row order: the same number for any thread count */
    for (size_t r = 0; r < rows; r++) total += row_loss[r];
    return scored ? total / (double)scored : 0.0;
}

int acc_init(AccCounter *a, int V)
{
    memset(a, 0, sizeof *a);
    a->V = V;
    a->tp = calloc((size_t)V, sizeof *a->tp);
    a->fn = calloc((size_t)V, sizeof *a->fn);
    a->fp = calloc((size_t)V, sizeof *a->fp);
    if (!a->tp || !a->fn || !a->fp) {
        acc_free(a);
        return -1;
    }
    return 0;
}

void acc_free(AccCounter *a)
{
    free(a->tp);
    free(a->fn);
    free(a->fp);
    a->tp = a->fn = a->fp = NULL;
}

void acc_reset(AccCounter *a)
{
    memset(a->tp, 0, sizeof *a->tp * a->V);
    memset(a->fn, 0, sizeof *a->fn * a->V);
    memset(a->fp, 0, sizeof *a->fp * a->V);
    a->correct = a->scored = 0;
}

/* The first index of the largest of z[0..V), as a loop of z[v] > z[best] finds it (so NaNs
 * never win, and a NaN first entry beats everything), but with the maximum taken in AM_STEP
 * lanes, which vectorises, and then looked for AM_STEP entries at a time: at large
 * vocabularies the one-by-one search, on the caller's thread, took a tenth of a step. */
#define AM_STEP 16
static int argmax(const float *z, int V)
{
    if (isnan(z[0])) return 0;
    float m[AM_STEP];
    for (int k = 0; k < AM_STEP; k++) m[k] = -INFINITY;
    int v = 0;
    for (; v + AM_STEP <= V; v += AM_STEP)
        for (int k = 0; k < AM_STEP; k++) m[k] = z[v + k] > m[k] ? z[v + k] : m[k];
    for (; v < V; v++) m[0] = z[v] > m[0] ? z[v] : m[0];
    float mx = m[0];
    for (int k = 1; k < AM_STEP; k++) mx = m[k] > mx ? m[k] : mx;
    v = 0;
    for (; v + AM_STEP <= V; v += AM_STEP) {
        int hit = 0;
        for (int k = 0; k < AM_STEP; k++) hit |= z[v + k] == mx;
        if (hit) break;
    }
    for (; v < V; v++)
        if (z[v] == mx) return v;
    return 0;
}

void acc_add(AccCounter *a, const float *logits, const int32_t *targets, size_t n, int V)
{
    for (size_t r = 0; r < n; r++) {
        int t = targets[r];
        if (t == ML_IGNORE) continue;
        int best = argmax(logits + r * V, V);
        a->scored++;
        if (best == t) {
            a->correct++;
            a->tp[t]++;
        } else {
            a->fn[t]++;
            a->fp[best]++;
        }
    }
}

/* Mean over classes of recall tp / (tp + fn); a class counts when tp + fp + fn > 0, so a class
 * that is predicted but never the target counts as 0, as torchmetrics does. */
double acc_macro(const AccCounter *a)
{
    double sum = 0;
    int classes = 0;
    for (int v = 0; v < a->V; v++) {
        int64_t support = a->tp[v] + a->fn[v];
        if (support + a->fp[v] == 0) continue;
        classes++;
        if (support > 0) sum += (double)a->tp[v] / (double)support;
    }
    return classes ? sum / classes : 0.0;
}

double acc_micro(const AccCounter *a) { return a->scored ? (double)a->correct / a->scored : 0.0; }
