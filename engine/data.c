/* Data sets: generation of the train and test sets of a task, and the leakage check the reference
 * runs (it warns when more than 0.1% of test inputs also occur in the train set). */
#include "config.h"
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void dataset_free(Dataset *d)
{
    if (!d) return;
    free(d->inputs);
    free(d->targets);
    free(d->start);
    memset(d, 0, sizeof *d);
}

void dataset_row(const Dataset *d, int i, int32_t *in, int32_t *tg)
{
    if (d->inputs) {
        memcpy(in, d->inputs + (size_t)i * d->len, sizeof(int32_t) * d->len);
        memcpy(tg, d->targets + (size_t)i * d->len, sizeof(int32_t) * d->len);
        return;
    }
    const uint8_t *b = d->bytes + d->start[i];
    for (int t = 0; t < d->len; t++) {
        in[t] = b[t];
        tg[t] = b[t + 1];
    }
}

int dataset_alloc(Dataset *d, int n, int len, const char *which, MlError *err)
{
    memset(d, 0, sizeof *d);
    if (n < 1) return ml_fail(err, "the %s set needs at least 1 sequence (got %d)", which, n);
    size_t tokens = (size_t)n * (size_t)len;
    if (tokens / (size_t)len != (size_t)n || tokens > SIZE_MAX / sizeof(int32_t))
        return ml_fail(err, "the %s set of %d sequences x %d tokens is too large to address", which,
                       n, len);
    double have = ml_memory_bytes(), need = 2.0 * sizeof(int32_t) * (double)tokens;
    if (have > 0 && need > have)
        return ml_fail(err, "out of memory for the %s set: %d sequences x %d tokens need %.1f GB, "
                            "the machine has %.1f GB", which, n, len, need / 1e9, have / 1e9);
    d->inputs = malloc(tokens * sizeof(int32_t));
    d->targets = malloc(tokens * sizeof(int32_t));
    if (!d->inputs || !d->targets) {
        dataset_free(d);
        return ml_fail(err, "out of memory for the %s set: %d sequences x %d tokens need 2 x %.1f MB",
                       which, n, len, (double)(tokens * sizeof(int32_t)) / 1e6);
    }
    d->n = n;
    d->len = len;
    return 0;
}

int task_generate(const TaskKind *t, const TaskCfg *c, uint64_t seed, Dataset *train,
                  Dataset *test, MlError *err)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    MlError why = {"invalid task settings"};
    if (t->validate(c, &why) != 0) return ml_fail(err, "%s: %s", t->name, why.msg);
    int len = t->seq_len_out(c);
    if (len < 1) return ml_fail(err, "%s: sequences of %d tokens are empty", t->name, len);
    if (t->generate) {
        if (t->generate(c, seed, train, test, &why) == 0) return 0;
        dataset_free(train);
        dataset_free(test);
        return ml_fail(err, "%s: %s", t->name, why.msg);
    }
    if (dataset_alloc(train, c->n_train, len, "train", err) != 0) return -1;
    if (dataset_alloc(test, c->n_test, len, "test", err) != 0) {
        dataset_free(train);
        return -1;
    }
    /* One stream, train first, as the reference's shared default_rng(seed). The second stream
     * stands in for numpy's global generator, which the reference seeds once per run and also
     * shares between train and test (selective copying draws its blank positions from it). */
    Rng r, aux;
    rng_seed(&r, seed);
    rng_seed(&aux, seed ^ 0x6a09e667f3bcc909ull);
    for (int i = 0; i < train->n; i++)
        t->instance(c, seed, &r, &aux, 0, train->inputs + (size_t)i * len,
                    train->targets + (size_t)i * len);
    for (int i = 0; i < test->n; i++)
        t->instance(c, seed, &r, &aux, 1, test->inputs + (size_t)i * len,
                    test->targets + (size_t)i * len);
    return 0;
}

static uint64_t seq_hash(const int32_t *s, int len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the tokens, then a splitmix finish */
    for (int i = 0; i < len; i++) h = (h ^ (uint32_t)s[i]) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

typedef struct {
    uint64_t hash;
    int32_t idx; /* train sequence, -1 = empty */
} Cell;

double dataset_leakage(const Dataset *train, const Dataset *test)
{
    if (!test || test->n <= 0 || !train || train->n <= 0 || train->len != test->len) return 0;
    if (!train->inputs || !test->inputs) return 0; /* a corpus view: its split is by position */
    int len = test->len;
    size_t row = sizeof(int32_t) * (size_t)len, cap = 2;
    while (cap < 2 * (size_t)train->n) cap <<= 1;
    Cell *tab = malloc(cap * sizeof *tab);
    long found = 0;
    if (!tab) { /* no room for the table: the plain quadratic comparison gives the same answer */
        for (int i = 0; i < test->n; i++)
            for (int j = 0; j < train->n; j++)
                if (memcmp(test->inputs + (size_t)i * len, train->inputs + (size_t)j * len, row) == 0) {
                    found++;
                    break;
                }
        return (double)found / test->n;
    }
    for (size_t i = 0; i < cap; i++) tab[i].idx = -1;
    for (int j = 0; j < train->n; j++) {
        uint64_t h = seq_hash(train->inputs + (size_t)j * len, len);
        size_t s = (size_t)h & (cap - 1);
        while (tab[s].idx >= 0) s = (s + 1) & (cap - 1);
        tab[s].hash = h;
        tab[s].idx = j;
    }
    for (int i = 0; i < test->n; i++) {
        const int32_t *q = test->inputs + (size_t)i * len;
        uint64_t h = seq_hash(q, len);
        for (size_t s = (size_t)h & (cap - 1); tab[s].idx >= 0; s = (s + 1) & (cap - 1))
            if (tab[s].hash == h && memcmp(q, train->inputs + (size_t)tab[s].idx * len, row) == 0) {
                found++;
                break;
            }
    }
    free(tab);
    return (double)found / test->n;
}
