/* The selective scan of the Mamba layer (mamba.h): SV channels at a time, one per vector lane,
 * the state of d_state x SV in registers, along time; parallel over sequences and channel blocks.
 * The backward recomputes a block's states forward into the thread's slot and then runs in
 * reverse time with the adjoint state. Also the scan alone, for tests (recurrent.h). */
#include "config.h"
#include "mamba.h"
#include "recurrent.h"

#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---------------- the scan ---------------- */

/* Forward over one sequence (rows row0..row0+L-1) and channels c0..c0+w-1 with N states per
 * channel. Without a slot it writes ys; with one it writes the states and decays into the slot's
 * hbuf and abuf instead (for the backward). w and N are constants at the fast call sites, so the
 * state stays in registers.
 *
 * In the layer (j->xz set) the elementwise steps around the scan are done here, on the block's
 * rows while they are in cache, rather than in passes of their own over all rows: the forward
 * takes delta = softplus(dt_proj + b_dt) in place, writes its derivative dsp and gate =
 * ys * silu(z); the backward's recompute writes u = silu(xc). The tests' entry points
 * (recurrent.h) take delta, u and dys as given. */
ALWAYS_INLINE void scan_fwd_blk(const Job *j, size_t row0, int c0, int w, int N, const Slot *s)
{
    const Geo *g = &j->g;
    int E = g->E, P = g->P, R = g->R;
    float A[MAX_STATE][SV], h[MAX_STATE][SV], Dv[SV];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < w; k++) {
            A[n][k] = -expf(j->p.A_log[(size_t)(c0 + k) * N + n]);
            h[n][k] = 0.0f;
        }
    for (int k = 0; k < w; k++) Dv[k] = j->p.D[c0 + k];
    if (s)
        for (int n = 0; n < N; n++)
            for (int k = 0; k < SV; k++) s->hbuf[n * SV + k] = 0.0f;
    const bool layer = j->xz != NULL;
    const float *b_dt = j->p.b_dt + c0;
    for (int t = 0; t < g->L; t++) {
        size_t r = row0 + t;
        float *u = j->u + r * E + c0, *dl = j->delta + r * E + c0;
        const float *Bt = j->dbc + r * P + R, *Ct = Bt + N;
        /* Results go to local arrays first and are stored by loops that read nothing else: a loop
         * that loads from one array and stores to another gets a runtime overlap test per
         * vector loop (and a scalar copy of it) from the vectoriser. */
        float y[SV], du[SV], uv[SV], dlv[SV], tmp[SV], av[SV];
        if (layer && !s) {
            float *sp = j->dsp + r * E + c0;
            for (int k = 0; k < w; k++) {
                float x = dl[k] + b_dt[k], e = fast_expf(x);
                dlv[k] = sc_softplus_of_exp(x, e);
                tmp[k] = e / (1.0f + e);
            }
            for (int k = 0; k < w; k++) dl[k] = dlv[k];
            for (int k = 0; k < w; k++) sp[k] = tmp[k];
        } else
            for (int k = 0; k < w; k++) dlv[k] = dl[k];
        if (layer && s) {
            const float *xc = j->xc + r * E + c0;
            for (int k = 0; k < w; k++) uv[k] = xc[k] / (1.0f + fast_expf(-xc[k]));
            for (int k = 0; k < w; k++) u[k] = uv[k];
        } else
            for (int k = 0; k < w; k++) uv[k] = u[k];
        for (int k = 0; k < w; k++) y[k] = Dv[k] * uv[k], du[k] = dlv[k] * uv[k];
        for (int n = 0; n < N; n++) {
            float bn = Bt[n], cn = Ct[n];
            for (int k = 0; k < w; k++) {
                float a = fast_expf(dlv[k] * A[n][k]);
                float hn = FMA(a, h[n][k], du[k] * bn);
                h[n][k] = hn;
                if (s)
                    av[k] = a;
                else
                    y[k] = FMA(cn, hn, y[k]);
            }
            if (s) {
                float *hs = s->hbuf + (size_t)((t + 1) * N + n) * SV;
                float *as = s->abuf + (size_t)(t * N + n) * SV;
                for (int k = 0; k < w; k++) hs[k] = h[n][k];
                for (int k = 0; k < w; k++) as[k] = av[k];
            }
        }
        if (!s) {
            float *ys = j->ys + r * E + c0;
            for (int k = 0; k < w; k++) ys[k] = y[k];
        }
        if (!s && layer) {
            const float *z = j->xz + r * 2 * E + E + c0;
            float *gt = j->gate + r * E + c0;
            for (int k = 0; k < w; k++) tmp[k] = y[k] * z[k] / (1.0f + fast_expf(-z[k]));
            for (int k = 0; k < w; k++) gt[k] = tmp[k];
        }
    }
}

/* Reverse-time pass for one block, after scan_fwd_blk filled the slot's hbuf and abuf. Reads
 * dys (in gbuf) and writes d(dt_proj pre-activation) over it; writes du; adds the lanes' parts
 * of dB and dC into the slot's acc, and dD, dA into the slot. In the layer, gbuf holds the
 * gradient of the gate's output instead: dys = dgate * silu(z) is taken here and dz written
 * into dxz. */
ALWAYS_INLINE void scan_bwd_blk(const Job *j, size_t row0, int c0, int w, int N, const Slot *s)
{
    const Geo *g = &j->g;
    int E = g->E;
    float A[MAX_STATE][SV], adj[MAX_STATE][SV], dA[MAX_STATE][SV], Dv[SV], dD[SV];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < w; k++) {
            A[n][k] = -expf(j->p.A_log[(size_t)(c0 + k) * N + n]);
            adj[n][k] = 0.0f; /* dL/dh_t from later steps, already multiplied by exp(delta A) */
            dA[n][k] = 0.0f;
        }
    for (int k = 0; k < w; k++) Dv[k] = j->p.D[c0 + k], dD[k] = 0.0f;
    const bool layer = j->xz != NULL;
    for (int t = g->L - 1; t >= 0; t--) {
        size_t r = row0 + t;
        const float *u = j->u + r * E + c0, *dl = j->delta + r * E + c0;
        const float *Bt = j->dbc + r * g->P + g->R, *Ct = Bt + N;
        const float *hp = s->hbuf + (size_t)t * N * SV, *hs = hp + (size_t)N * SV;
        const float *as = s->abuf + (size_t)t * N * SV;
        float *dBa = s->acc + (size_t)t * 2 * N * SV, *dCa = dBa + (size_t)N * SV;
        float *gb = j->gbuf + r * E + c0, *dur = j->du + r * E + c0;
        const float *sp = j->dsp + r * E + c0;
        /* stores from local arrays only, as in scan_fwd_blk */
        float dy[SV], ddl[SV], duk[SV], dlu[SV], uv[SV], dlv[SV], ubv[SV], dlbv[SV], tmp[SV];
        float cB[SV], cC[SV];
        if (layer) {
            const float *z = j->xz + r * 2 * E + E + c0, *ys = j->ys + r * E + c0;
            float *dz = j->dxz + r * 2 * E + E + c0;
            for (int k = 0; k < w; k++) {
                float sg = 1.0f / (1.0f + fast_expf(-z[k]));
                tmp[k] = gb[k] * ys[k] * sg * (1.0f + z[k] * (1.0f - sg));
                dy[k] = gb[k] * z[k] * sg;
            }
            for (int k = 0; k < w; k++) dz[k] = tmp[k];
        } else
            for (int k = 0; k < w; k++) dy[k] = gb[k];
        for (int k = 0; k < w; k++) {
            uv[k] = u[k], dlv[k] = dl[k];
            ddl[k] = 0.0f;
            duk[k] = dy[k] * Dv[k];
            dD[k] = FMA(dy[k], uv[k], dD[k]);
            dlu[k] = dlv[k] * uv[k];
        }
        for (int n = 0; n < N; n++) {
            float bn = Bt[n], cn = Ct[n];
            for (int k = 0; k < w; k++) ubv[k] = bn * uv[k], dlbv[k] = dlv[k] * bn;
            for (int k = 0; k < w; k++) {
                float gn = FMA(dy[k], cn, adj[n][k]); /* dL/dh_t */
                float a = as[n * SV + k];
                float da = gn * hp[n * SV + k] * a; /* dL/d(delta A) through the decay */
                ddl[k] = FMA(da, A[n][k], FMA(gn, ubv[k], ddl[k]));
                dA[n][k] = FMA(da, dlv[k], dA[n][k]);
                duk[k] = FMA(gn, dlbv[k], duk[k]);
                cC[k] = FMA(dy[k], hs[n * SV + k], dCa[n * SV + k]);
                cB[k] = FMA(gn, dlu[k], dBa[n * SV + k]);
                adj[n][k] = gn * a;
            }
            for (int k = 0; k < w; k++) dCa[n * SV + k] = cC[k];
            for (int k = 0; k < w; k++) dBa[n * SV + k] = cB[k];
        }
        for (int k = 0; k < w; k++) tmp[k] = ddl[k] * sp[k];
        for (int k = 0; k < w; k++) gb[k] = tmp[k];
        for (int k = 0; k < w; k++) dur[k] = duk[k];
    }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < w; k++) {
            /* A = -exp(A_log): dA_log = dA * A */
            s->dA[(size_t)(c0 + k) * N + n] += dA[n][k] * A[n][k];
        }
    for (int k = 0; k < w; k++) s->dD[c0 + k] += dD[k];
}

int mamba_n_blocks(const Geo *g) { return (g->E + SV - 1) / SV; }

/* The default d_state, for which the scan is compiled with the state count fixed. */
#define FAST_STATE 4

/* Items are (sequence, channel block) pairs. */
void mamba_scan_fwd_items(void *ctx, size_t i0, size_t i1, int tid)
{
    const Job *j = ctx;
    int nb = mamba_n_blocks(&j->g), N = j->g.N;
    for (size_t i = i0; i < i1; i++) {
        size_t row0 = i / nb * j->g.L;
        int c0 = (int)(i % nb) * SV, w = j->g.E - c0 < SV ? j->g.E - c0 : SV;
        if (w == SV && N == FAST_STATE)
            scan_fwd_blk(j, row0, c0, SV, FAST_STATE, NULL);
        else
            scan_fwd_blk(j, row0, c0, w, N, NULL);
    }
}

/* Items are sequences: every block of a sequence adds into the same dB, dC rows. */
void mamba_scan_bwd_seqs(void *ctx, size_t b0, size_t b1, int tid)
{
    const Job *j = ctx;
    const Geo *g = &j->g;
    int N = g->N, L = g->L;
    Slot s = mamba_slot_at(j->scratch, &j->sm, g, tid);
    float *ddbc = j->scratch + j->sm.ddbc;
    for (size_t b = b0; b < b1; b++) {
        size_t row0 = b * L;
        memset(s.acc, 0, sizeof(float) * (size_t)L * 2 * N * SV);
        for (int c0 = 0; c0 < g->E; c0 += SV) {
            int w = g->E - c0 < SV ? g->E - c0 : SV;
            if (w == SV && N == FAST_STATE) {
                scan_fwd_blk(j, row0, c0, SV, FAST_STATE, &s);
                scan_bwd_blk(j, row0, c0, SV, FAST_STATE, &s);
            } else {
                scan_fwd_blk(j, row0, c0, w, N, &s);
                scan_bwd_blk(j, row0, c0, w, N, &s);
            }
        }
        for (int t = 0; t < L; t++) {
            float *d = ddbc + (row0 + t) * g->P;
            memset(d, 0, sizeof(float) * g->R);
            for (int m = 0; m < 2 * N; m++) d[g->R + m] = sc_sum16(s.acc + (size_t)(t * 2 * N + m) * SV);
        }
    }
}


/* The job for sequences b0 .. b0 + nb - 1 of the call's batch (geometry g). */
/* ---------------- the scan alone, for tests (recurrent.h) ---------------- */

static Geo scan_geo(int B, int L, int E, int N, int R, int P)
{
    Geo g = {.B = B, .L = L, .d = E, .E = E, .N = N, .R = R, .K = 1, .P = P};
    g.rows = (size_t)B * L;
    return g;
}

void mamba_scan_forward(int B, int L, int E, int N, int R, int P, const float *u,
                        const float *delta, const float *bc, const float *A_log, const float *D,
                        float *ys)
{
    Job j = {0};
    j.g = scan_geo(B, L, E, N, R, P);
    j.p.A_log = (float *)A_log;
    j.p.D = (float *)D;
    j.u = (float *)u;
    j.delta = (float *)delta;
    j.dbc = (float *)bc;
    j.ys = ys;
    pool_for((size_t)B * mamba_n_blocks(&j.g), mamba_scan_fwd_items, &j);
}

int mamba_scan_backward(int B, int L, int E, int N, int R, int P, const float *u,
                        const float *delta, const float *bc, const float *A_log, const float *D,
                        const float *dys, float *du, float *dpre, float *dbc, float *dA_log,
                        float *dD)
{
    Job j = {0};
    j.g = scan_geo(B, L, E, N, R, P);
    ScrMap sm = mamba_scr_map(&j.g, j.g.rows, L);
    j.sm = sm;
    size_t re = j.g.rows * E;
    float *scr = arena_alloc_floats(sm.total + re);
    if (!scr) return -1;
    j.p.A_log = (float *)A_log;
    j.p.D = (float *)D;
    j.u = (float *)u;
    j.delta = (float *)delta;
    /* softplus' = sigmoid(pre) = 1 - exp(-delta), from delta alone (the layer keeps it instead) */
    j.dsp = scr + sm.total;
    for (size_t i = 0; i < re; i++) j.dsp[i] = -sc_expm1f_neg(-delta[i]);
    j.dbc = (float *)bc;
    j.gbuf = dpre;
    j.du = du;
    j.scratch = scr;
    memcpy(dpre, dys, sizeof(float) * j.g.rows * E);
    pool_for_bands((size_t)B, mamba_scan_bwd_seqs, &j);
    memcpy(dbc, scr + sm.ddbc, sizeof(float) * j.g.rows * P);
    Slot s = mamba_slot_at(scr, &sm, &j.g, 0);
    parts_add(dD, s.dD, pool_bands(), sm.slot, (size_t)E, 1.0f);
    parts_add(dA_log, s.dA, pool_bands(), sm.slot, (size_t)E * N, 1.0f);
    arena_free(scr);
    return 0;
}
