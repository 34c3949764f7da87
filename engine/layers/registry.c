/* The table of layer kinds. Adding a primitive: one file in engine/layers/ and one line here;
 * the stack parser, `madlab layers`, the gradient check and the counters follow from it. */
#include "config.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>

extern const LayerKind layer_embedding, layer_rmsnorm, layer_layernorm, layer_head;
extern const LayerKind layer_attention, layer_mh_attention, layer_mlp, layer_swiglu;
extern const LayerKind layer_sliding_attention, layer_mh_sliding_attention;
extern const LayerKind layer_gla, layer_mh_gla;
extern const LayerKind layer_linear_attention, layer_mh_linear_attention;
extern const LayerKind layer_hyena, layer_mh_hyena, layer_hyena_experts, layer_moe_mlp;
extern const LayerKind layer_mamba;
extern const LayerKind layer_rwkv5_time_mixer, layer_rwkv6_time_mixer;
extern const LayerKind layer_rwkv5_channel_mixer, layer_rwkv6_channel_mixer;

const LayerKind *const layer_kinds[] = {
    /* sequence mixers */
    &layer_attention,
    &layer_mh_attention,
    &layer_sliding_attention,
    &layer_mh_sliding_attention,
    &layer_linear_attention,
    &layer_mh_linear_attention,
    &layer_gla,
    &layer_mh_gla,
    &layer_hyena,
    &layer_mh_hyena,
    &layer_hyena_experts,
    &layer_mamba,
    &layer_rwkv5_time_mixer,
    &layer_rwkv6_time_mixer,
    /* channel mixers */
    &layer_mlp,
    &layer_swiglu,
    &layer_moe_mlp,
    &layer_rwkv5_channel_mixer,
    &layer_rwkv6_channel_mixer,
    /* the model's fixed parts */
    &layer_embedding,
    &layer_rmsnorm,
    &layer_layernorm,
    &layer_head,
    NULL,
};

const LayerKind *layer_kind_find(const char *name)
{
    for (const LayerKind *const *k = layer_kinds; *k; k++)
        if (strcmp((*k)->name, name) == 0) return *k;
    return NULL;
}

const char *role_name(LayerRole r)
{
    switch (r) {
    case ROLE_SEQUENCE: return "sequence";
    case ROLE_CHANNEL: return "channel";
    case ROLE_NORM: return "norm";
    case ROLE_EMBED: return "embedding";
    case ROLE_HEAD: return "head";
    }
    return "?";
}

void layer_cfg_default(const LayerKind *k, int width, int vocab, int max_len, LayerCfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->width = width;
    cfg->vocab = vocab;
    cfg->max_len = max_len;
    for (int i = 0; i < k->n_knobs && i < ML_MAX_KNOBS; i++) cfg->knob[i] = k->knobs[i].def;
}

int knob_text(const KnobDesc *kd, int v, char *buf, size_t n)
{
    if (kd->words && v >= kd->min && v <= kd->max) return snprintf(buf, n, "%s", kd->words[v - kd->min]);
    return snprintf(buf, n, "%d", v);
}

int knob_range_text(const KnobDesc *kd, char *buf, size_t n)
{
    if (!kd->words) return snprintf(buf, n, "%d..%d", kd->min, kd->max);
    int w = 0;
    for (int v = kd->min; v <= kd->max && w >= 0 && (size_t)w < n; v++)
        w += snprintf(buf + w, n - (size_t)w, "%s%s", v > kd->min ? "|" : "", kd->words[v - kd->min]);
    return w;
}

int layer_out_width(const Layer *l) { return l->kind->role == ROLE_HEAD ? l->cfg.vocab : l->cfg.width; }
