/* madlab layers: the table of layer kinds, their sizes at a width and length, and knobs. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include "commands.h"
#include "options.h"


/* One stack, a layer a line with its knobs, state and parameters, then the totals. */
static void print_stack(const char *title, const StackSpec *s, int width, int L)
{
    char text[ML_STACK_TEXT_MAX];
    printf("%s: %s\n", title, stack_format(s, text, sizeof text) == 0 ? text : "(too long)");
    for (int i = 0; i < s->n; i++) {
        StackSpec one = {.n = 1, .kind = {s->kind[i]}};
        memcpy(one.knob[0], s->knob[i], sizeof one.knob[0]);
        double st, pa;
        stack_size(&one, width, L, &st, &pa);
        char knobs[128] = "", p[32], sz[32];
        for (int q = 0; q < s->kind[i]->n_knobs && q < ML_MAX_KNOBS; q++) {
            size_t used = strlen(knobs);
            snprintf(knobs + used, sizeof knobs - used, "%s%s=%d", q ? "," : "",
                     s->kind[i]->knobs[q].name, s->knob[i][q]);
        }
        human(p, sizeof p, pa);
        human(sz, sizeof sz, st);
        printf("  %2d %-26s %-34s state %8s%s  params %8s\n", i + 1, s->kind[i]->name, knobs, sz,
               stack_layer_grows(s, i, width, L) ? " (grows with L)" : "", p);
    }
    double st, pa;
    stack_size(s, width, L, &st, &pa);
    printf("  total state %.0f floats, %.0f params\n", st, pa);
}

/* --fit-state: the stack before and after its state knobs are set to the budget. */
static int fit_state(const char *stack, double target, int width, int L)
{
    StackSpec in, out;
    MlError err;
    if (stack_parse(stack, "--stack", width, &in, &err) != 0) {
        fprintf(stderr, "madlab layers: %s\n", err.msg);
        return 2;
    }
    printf("fitting the state knobs to %.0f floats of inference state (width %d, length %d)\n\n",
           target, width, L);
    print_stack("before", &in, width, L);
    if (stack_fit_state(&in, width, L, target, &out, &err) != 0) {
        fprintf(stderr, "madlab layers: --fit-state %.0f: %s\n", target, err.msg);
        return 1;
    }
    printf("\n");
    print_stack("after", &out, width, L);
    double st, pa;
    stack_size(&out, width, L, &st, &pa);
    char text[ML_STACK_TEXT_MAX];
    stack_format(&out, text, sizeof text);
    printf("\nstate=%.0f params=%.0f target=%.0f stack=\"%s\"\n", st, pa, target, text);
    return 0;
}

int cmd_layers(int argc, char **argv)
{
    enum { OPT_FIT_STATE = 2000 };
    static const struct option opts[] = {{"width", required_argument, 0, 'W'},
                                         {"fit-state", required_argument, 0, OPT_FIT_STATE},
                                         {"stack", required_argument, 0, OPT_STACK},
                                         {"seq-len", required_argument, 0, 'L'},
                                         {"vocab", required_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int width = 128, L = 128, vocab = 16, o;
    double target = 0;
    const char *stack = NULL;
    options_start();
    while ((o = next_option(argc, argv, opts, NULL, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case 'W': r = get_int("--width", optarg, 8, 4096, &width); break;
        case 'L': r = get_int("--seq-len", optarg, 1, 1 << 16, &L); break;
        case 'V': r = get_int("--vocab", optarg, 2, 1 << 20, &vocab); break;
        case OPT_FIT_STATE: r = get_double("--fit-state", optarg, 1, 1e12, &target); break;
        case OPT_STACK: stack = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    if ((target > 0) != (stack != NULL)) {
        fprintf(stderr, "madlab layers: %s\n", stack ? "--stack needs --fit-state N (the state budget in floats)"
                                                       : "--fit-state needs --stack LAYERS (the stack to fit)");
        return 2;
    }
    if (stack) return fit_state(stack, target, width, L);
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
