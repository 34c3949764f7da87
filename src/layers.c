/* madlab layers: the table of layer kinds, their sizes at a width and length, and knobs. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include "commands.h"
#include "options.h"


int cmd_layers(int argc, char **argv)
{
    static const struct option opts[] = {{"width", required_argument, 0, 'W'},
                                         {"seq-len", required_argument, 0, 'L'},
                                         {"vocab", required_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int width = 128, L = 128, vocab = 16, o;
    options_start();
    while ((o = next_option(argc, argv, opts, NULL, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case 'W': r = get_int("--width", optarg, 8, 4096, &width); break;
        case 'L': r = get_int("--seq-len", optarg, 1, 1 << 16, &L); break;
        case 'V': r = get_int("--vocab", optarg, 2, 1 << 20, &vocab); break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    printf("layer kinds at width %d, sequence length %d (vocab %d for embedding and head)\n\n",
           width, L, vocab);
    printf("%-26s %-9s %10s %12s %12s  %s\n", "kind", "role", "params", "state", "flops/token",
           "knobs");
    for (const LayerKind *const *k = layer_kinds; *k; k++) {
        LayerCfg cfg;
        layer_cfg_default(*k, width, vocab, L, &cfg);
        char p[32], s[32], f[32], knobs[160] = "";
        human(p, sizeof p, (double)(*k)->n_params(&cfg));
        human(s, sizeof s, (*k)->state_size(&cfg, L));
        human(f, sizeof f, (*k)->flops(&cfg, L) / L);
        for (int i = 0; i < (*k)->n_knobs; i++) {
            size_t used = strlen(knobs);
            const KnobDesc *kd = &(*k)->knobs[i];
            char v[48]; /* an enumerated knob shows all its words: routing=reference|topk */
            if (kd->words) knob_range_text(kd, v, sizeof v);
            else knob_text(kd, cfg.knob[i], v, sizeof v);
            snprintf(knobs + used, sizeof knobs - used, "%s%s=%s", i ? "," : "", kd->name, v);
        }
        printf("%-26s %-9s %10s %12s %12s  %s\n", (*k)->name, role_name((*k)->role), p, s, f, knobs);
        /* the kind's line is at its defaults; each other word of an enumerated knob gets a line */
        for (int i = 0; i < (*k)->n_knobs; i++) {
            const KnobDesc *kd = &(*k)->knobs[i];
            if (!kd->words) continue;
            for (int v = kd->min; v <= kd->max; v++) {
                if (v == kd->def) continue;
                LayerCfg c2 = cfg;
                c2.knob[i] = v;
                char name[64];
                snprintf(name, sizeof name, "  %s=%s", kd->name, kd->words[v - kd->min]);
                human(p, sizeof p, (double)(*k)->n_params(&c2));
                human(s, sizeof s, (*k)->state_size(&c2, L));
                human(f, sizeof f, (*k)->flops(&c2, L) / L);
                printf("%-26s %-9s %10s %12s %12s\n", name, role_name((*k)->role), p, s, f);
            }
        }
    }
    printf("\nstate: floats of inference state per layer at length %d\n", L);
    for (const LayerKind *const *k = layer_kinds; *k; k++)
        if ((*k)->role == ROLE_SEQUENCE || (*k)->role == ROLE_CHANNEL)
            printf("  %-20s %s\n", (*k)->name, (*k)->state_formula);
    printf("\n");
    for (const LayerKind *const *k = layer_kinds; *k; k++)
        printf("  %-20s %s\n", (*k)->name, (*k)->summary);
    return 0;
}
