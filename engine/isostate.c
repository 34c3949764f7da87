/* Iso-state: a stack's total inference state, and setting its layers' state knobs so that total
 * meets a budget (the paper compares fixed-state models at 4096 floats). Nothing here knows a
 * layer kind by name: a knob is a state knob when changing it changes the layer's state, and a
 * layer has a fixed state when its state is the same at L and 2L. */
#include "config.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTIONS (1 << 18) /* knob combinations tried per layer */

static void cfg_of(const StackSpec *s, int i, int width, int L, LayerCfg *c)
{
    layer_cfg_default(s->kind[i], width, 2, L, c);
    memcpy(c->knob, s->knob[i], sizeof c->knob);
}

void stack_size(const StackSpec *s, int width, int L, double *state, double *params)
{
    double st = 0, pa = 0;
    for (int i = 0; i < s->n; i++) {
        LayerCfg c;
        cfg_of(s, i, width, L, &c);
        st += s->kind[i]->state_size(&c, L);
        pa += (double)s->kind[i]->n_params(&c);
    }
    if (state) *state = st;
    if (params) *params = pa;
}

static int grows(const LayerKind *k, const LayerCfg *c, int L)
{
    return k->state_size(c, L) != k->state_size(c, 2 * L);
}

int stack_layer_grows(const StackSpec *s, int i, int width, int L)
{
    LayerCfg c;
    cfg_of(s, i, width, L, &c);
    return grows(s->kind[i], &c, L);
}

/* One reachable setting of a layer: its state and knobs, and how far the knobs are from the
 * layer's own (the fit prefers changing fewer and earlier knobs, by less). */
typedef struct {
    double state;
    double cost;
    int knob[ML_MAX_KNOBS];
} Option;

typedef struct {
    Option *opt;
    int n;
} Options;

static int by_state_then_cost(const void *a, const void *b)
{
    const Option *x = a, *y = b;
    if (x->state != y->state) return x->state < y->state ? -1 : 1;
    return (x->cost > y->cost) - (x->cost < y->cost);
}

/* The knobs of layer i that change its state; their count. */
static int state_knobs(const StackSpec *s, int i, int width, int L, int *which)
{
    const LayerKind *k = s->kind[i];
    LayerCfg c;
    cfg_of(s, i, width, L, &c);
    double base = k->state_size(&c, L);
    int n = 0;
    for (int q = 0; q < k->n_knobs && q < ML_MAX_KNOBS; q++) {
        int ends[2] = {k->knobs[q].min, k->knobs[q].max}, changes = 0;
        for (int e = 0; e < 2; e++) {
            LayerCfg t = c;
            t.knob[q] = ends[e];
            changes |= k->state_size(&t, L) != base;
        }
        if (changes) which[n++] = q;
    }
    return n;
}

/* Every fixed-state setting of layer i's state knobs that fits the width, one per state (the
 * cheapest), sorted by state. -1 when out of memory. */
static int layer_options(const StackSpec *s, int i, int width, int L, Options *o, MlError *err)
{
    const LayerKind *k = s->kind[i];
    int which[ML_MAX_KNOBS], nk = state_knobs(s, i, width, L, which);
    long total = 1;
    for (int j = 0; j < nk; j++) {
        total *= k->knobs[which[j]].max - k->knobs[which[j]].min + 1;
        if (total > MAX_OPTIONS) total = MAX_OPTIONS + 1;
    }
    if (nk == 0 || total > MAX_OPTIONS) total = 1; /* only its own setting */
    o->opt = malloc((size_t)total * sizeof *o->opt);
    if (!o->opt) return ml_fail(err, "out of memory fitting %s's state", k->name);
    o->n = 0;
    LayerCfg c;
    cfg_of(s, i, width, L, &c);
    int v[ML_MAX_KNOBS];
    for (int j = 0; j < nk; j++) v[j] = k->knobs[which[j]].min;
    for (long m = 0; m < total; m++) {
        LayerCfg t = c;
        double cost = 0;
        if (total > 1) {
            for (int j = 0; j < nk; j++) {
                int q = which[j], d = abs(v[j] - c.knob[q]);
                t.knob[q] = v[j];
                if (d) cost += (double)(1 << q) * 1e6 + d; /* fewer, earlier knobs first */
            }
            for (int j = 0; j < nk; j++) { /* next combination */
                if (++v[j] <= k->knobs[which[j]].max) break;
                v[j] = k->knobs[which[j]].min;
            }
        }
        if (grows(k, &t, L) || !stack_layer_fits(k, t.knob, width)) continue;
        Option *op = &o->opt[o->n++];
        op->state = k->state_size(&t, L);
        op->cost = cost;
        memcpy(op->knob, t.knob, sizeof op->knob);
    }
    qsort(o->opt, (size_t)o->n, sizeof *o->opt, by_state_then_cost);
    int w = 0;
    for (int r = 0; r < o->n; r++)
        if (w == 0 || o->opt[r].state != o->opt[w - 1].state) o->opt[w++] = o->opt[r];
    o->n = w;
    return 0;
}

/* How bad a total is: side 0 wants it near the target, -1 at or below, +1 at or above (a total
 * on the wrong side scores worse than any on the right one). */
static double miss(double total, double target, int side)
{
    double d = total - target;
    if (side < 0 && d > 0) return 1e300 / 2 + d;
    if (side > 0 && d < 0) return 1e300 / 2 - d;
    return fabs(d);
}

/* Coordinate descent over the layers' options, from each taking its share of the target; pick[]
 * holds the chosen option of each layer. Returns the total. */
static double descend(const Options *o, int n, double target, int side, int *pick)
{
    int tunable = 0;
    double fixed = 0;
    for (int i = 0; i < n; i++) {
        if (o[i].n > 1) tunable++;
        else if (o[i].n == 1) fixed += o[i].opt[0].state;
    }
    double share = tunable ? (target - fixed) / tunable : 0, total = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int r = 1; r < o[i].n; r++)
            if (fabs(o[i].opt[r].state - share) < fabs(o[i].opt[best].state - share)) best = r;
        pick[i] = best;
        if (o[i].n) total += o[i].opt[best].state;
    }
    for (int pass = 0, moved = 1; moved && pass < 50; pass++) {
        moved = 0;
        for (int i = 0; i < n; i++) {
            if (o[i].n < 2) continue;
            double rest = total - o[i].opt[pick[i]].state;
            int best = pick[i];
            for (int r = 0; r < o[i].n; r++) {
                double a = miss(rest + o[i].opt[r].state, target, side);
                double b = miss(rest + o[i].opt[best].state, target, side);
                if (a < b || (a == b && o[i].opt[r].cost < o[i].opt[best].cost)) best = r;
            }
            if (best != pick[i]) moved = 1;
            pick[i] = best;
            total = rest + o[i].opt[best].state;
        }
    }
    return total;
}

int stack_fit_state(const StackSpec *in, int width, int L, double target, StackSpec *out,
                    MlError *err)
{
    char grow[400] = "";
    size_t used = 0;
    for (int i = 0; i < in->n; i++) {
        if (!stack_layer_grows(in, i, width, L)) continue;
        int w = snprintf(grow + used, sizeof grow - used, "%s%d %s", used ? ", " : "", i + 1,
                         in->kind[i]->name);
        if (w > 0) used += (size_t)w < sizeof grow - used ? (size_t)w : sizeof grow - used - 1;
    }
    if (used)
        return ml_fail(err, "the state of layer(s) %s grows with the sequence length, which keeps "
                            "the stack from a fixed state budget", grow);

    Options o[ML_MAX_LAYERS];
    int pick[ML_MAX_LAYERS], rc = 0, tunable = 0;
    memset(o, 0, sizeof o);
    for (int i = 0; i < in->n && rc == 0; i++) {
        LayerCfg c;
        cfg_of(in, i, width, L, &c);
        if (in->kind[i]->state_size(&c, L) == 0) continue; /* no state, nothing to set */
        rc = layer_options(in, i, width, L, &o[i], err);
        tunable += o[i].n > 1;
    }
    if (rc == 0 && tunable == 0)
        rc = ml_fail(err, "no layer of the stack has a knob that sets its state");
    if (rc == 0) {
        double total = descend(o, in->n, target, 0, pick);
        *out = *in;
        for (int i = 0; i < in->n; i++)
            if (o[i].n) memcpy(out->knob[i], o[i].opt[pick[i]].knob, sizeof out->knob[i]);
        if (fabs(total - target) > ML_FIT_STATE_TOL * target) {
            double lo = descend(o, in->n, target, -1, pick);
            double hi = descend(o, in->n, target, +1, pick);
            char a[64], b[64];
            if (lo <= target) snprintf(a, sizeof a, "%.0f", lo);
            else snprintf(a, sizeof a, "none");
            if (hi >= target) snprintf(b, sizeof b, "%.0f", hi);
            else snprintf(b, sizeof b, "none");
            rc = ml_fail(err, "the knobs cannot bring the state within %.0f%% of %.0f floats; "
                              "nearest reachable: %s below, %s above",
                         ML_FIT_STATE_TOL * 100, target, a, b);
        }
    }
    for (int i = 0; i < in->n; i++) free(o[i].opt);
    return rc;
}
