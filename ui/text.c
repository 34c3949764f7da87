/* Small text helpers for the lab: numbers, teaching pages, token classes. */
#include "config.h"
#include "ui.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void fmt_count(double v, char *buf, size_t n)
{
    double a = fabs(v);
    if (a >= 1e9) snprintf(buf, n, "%.2fG", v / 1e9);
    else if (a >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
    else if (a >= 1e3) snprintf(buf, n, "%.1fk", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

void fmt_bytes(double v, char *buf, size_t n)
{
    if (v >= 1024.0 * 1024 * 1024) snprintf(buf, n, "%.1f GiB", v / (1024.0 * 1024 * 1024));
    else if (v >= 1024.0 * 1024) snprintf(buf, n, "%.1f MiB", v / (1024.0 * 1024));
    else if (v >= 1024.0) snprintf(buf, n, "%.1f KiB", v / 1024.0);
    else snprintf(buf, n, "%.0f B", v);
}

void layer_page(const LayerKind *k, char *buf, size_t n)
{
    size_t u = 0;
#define OUT(...) do { \
        int w_ = snprintf(buf + u, n - u, __VA_ARGS__); \
        if (w_ > 0) u += (size_t)w_; \
        if (u >= n) u = n - 1; \
    } while (0)
    if (!n) return;
    buf[0] = 0;
    OUT("%s (%s)\n\n%s\n\n", k->name, role_name(k->role), k->summary ? k->summary : "");
    if (k->page) {
        /* pages are written with indented continuation lines; join them so that the panel's
         * own wrapping decides where lines break */
        for (const char *c = k->page; *c && u + 1 < n; c++) {
            if (c[0] == '\n' && c[1] == ' ' && c[2] == ' ') {
                buf[u++] = ' ';
                c += 2;
            } else {
                buf[u++] = *c;
            }
        }
        buf[u] = 0;
        OUT("\n");
    }
    else if (k->state_formula) OUT("State at sequence length L: %s\n", k->state_formula);
    if (k->n_knobs) {
        OUT("\nKnobs:\n");
        for (int i = 0; i < k->n_knobs; i++)
        {
            char def[64], range[128];
            knob_text(&k->knobs[i], k->knobs[i].def, def, sizeof def);
            knob_range_text(&k->knobs[i], range, sizeof range);
            OUT("  %s = %s (%s): %s\n", k->knobs[i].name, def, range,
                k->knobs[i].help ? k->knobs[i].help : "");
        }
    }
#undef OUT
}

void task_page(const TaskKind *t, const TaskCfg *c, char *buf, size_t n)
{
    char now[256], def[256];
    task_setting_text(t, c, now, sizeof now);
    task_setting_text(t, &t->defaults, def, sizeof def);
    if (t->generate) { /* the text task: a language model, scored by its loss */
        snprintf(buf, n,
                 "%s (%s)\n\n%s.\n\nSetting now: %s\nIts defaults: %s\nCorpus: %s\n\n"
                 "Every position is scored on the byte after it, so the test loss is the validation "
                 "loss in nats per byte; the lab shows it in bits per byte (loss / ln 2) and as a "
                 "per-byte perplexity (e to the loss). The corpus's last tenth validates, the rest "
                 "trains.\n\n"
                 "Not a MAD task: MAD leaves it out. It is the task of the scaling laws (madlab "
                 "scale; L in the lab queues the quick scaling protocol on this corpus), whose "
                 "compute-optimal perplexity the paper sets against MAD scores.",
                 t->name, t->shorthand ? t->shorthand : "LM", t->summary, now, def,
                 c->corpus ? c->corpus : CORPUS_DEFAULT_PATH);
        return;
    }
    snprintf(buf, n,
             "%s%s%s%s\n\n%s.\n\n"
             "Setting now: %s\nIts defaults: %s\n\n"
             "The sample in the task view marks each scored position [x]: only there is the model "
             "graded (cross-entropy in training, accuracy in test); the other positions are the "
             "context it must use. Accuracy is averaged over the classes of the targets (macro), "
             "as the MAD reference does.\n\n"
             "On MAD: one of the six synthetic tasks; a stack's MAD score is its mean test "
             "accuracy over them (madlab mad; Q in the lab queues the quick protocol). Each task "
             "isolates one skill, so a stack's row shows where it is strong and where it is weak.",
             t->name, t->shorthand ? " (" : "", t->shorthand ? t->shorthand : "", t->shorthand ? ")" : "",
             t->summary, now, def);
}

/* The task's own class of the token (engine: task_token_class); whether a position is scored
 * is shown separately, from its target. */
UiTokenClass ui_token_class(const TaskKind *t, const TaskCfg *c, int32_t input, int32_t target)
{
    (void)target;
    switch (task_token_class(t, c, input)) {
    case TOK_KEY: return TC_KEY;
    case TOK_VALUE: return TC_VALUE;
    case TOK_NOISE: return TC_NOISE;
    case TOK_SPECIAL: return TC_SPECIAL;
    case TOK_FILLER: return TC_FILLER;
    default: return TC_PLAIN;
    }
}
