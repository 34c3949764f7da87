/* The table of commands: main dispatches from it, and usage and the unknown-command error list
 * it. Adding a command is a file src/NAME.c, its line in commands.h and its line here (and its
 * section in man/madlab.1: tests/cli.sh checks the man page against this table). */
#include "config.h"

#include <string.h>

#include "commands.h"

const Command commands[] = {
    {"lab", cmd_lab, "the same, with options: madlab [lab] [--demo] [--threads N] [--scale-dir DIR [--mad MADDIR]]..."},
    {"keys", cmd_keys, "list the lab's keys"},
    {"run", cmd_run,
     "train one stack on one task:\n"
     "madlab run --stack \"LAYERS\" | --preset NAME|FILE  --task NAME\n"
     "  [--vocab N --seq-len N --train N --test N] [--width N --norm rmsnorm|layernorm]\n"
     "  [--frac-noise X --noise-vocab N --k-motif N --v-motif N --n-copy N]\n"
     "  [--epochs N --batch N --lr X --wd X --seed N --threads N --csv FILE]\n"
     "  [--result FILE]   (the run's result file, as madlab mad reads it)\n"
     "  [--corpus FILE]   (the text task's corpus)"},
    {"mad", cmd_mad,
     "the MAD protocol: every task setting x (lr, wd), then the MAD score:\n"
     "madlab mad --stack \"LAYERS\" | --preset NAME  --out DIR\n"
     "  [--protocol full|quick] [--width N --norm X --threads N] [--emit-jobs]\n"
     "madlab mad --collect DIR   (score what has finished, list what is missing)"},
    {"scale", cmd_scale,
     "scaling laws: IsoFLOP ladders of a stack trained on text, then fits:\n"
     "madlab scale --stack \"LAYERS\" | --preset NAME  --out DIR\n"
     "  [--protocol quick|full] [--budgets 1e12,3e12,...] [--sizes N] [--corpus FILE]\n"
     "  [--seq-len N --batch N --lr X] [--repeat N --width N --norm X --threads N] [--emit-jobs]\n"
     "madlab scale --stack ... | --preset NAME --plan   (print the ladder)\n"
     "madlab scale --out DIR --job RUN   (one run of DIR, as --emit-jobs lines do)\n"
     "madlab scale --collect DIR   (fit what has finished)\n"
     "madlab scale --compare DIR [--mad MADDIR] DIR [--mad MADDIR]... [--csv FILE]"},
    {"tasks", cmd_tasks, "the six MAD tasks and the text task, their knobs and defaults"},
    {"sample", cmd_sample,
     "print generated sequences: madlab sample --task NAME [task options]\n"
     "  [--n N --seed N --test --color auto|always|never]\n"
     "  (--test: the test form, as scored; task options as for run, but no --test N)"},
    {"layers", cmd_layers, "table of layer kinds: madlab layers [--width N --seq-len N]; fit a stack to a state budget: [--fit-state N --stack LAYERS]"},
    {"bench", cmd_bench,
     "time training steps: madlab bench --stack \"LAYERS\" | --preset NAME\n"
     "  [--batch N --seq-len N --steps N --warmup N --threads N --width N --vocab N]\n"
     "  [--task NAME [--corpus FILE]]   (batches of that task's data)"},
    {NULL, NULL, NULL},
};

const Command *command_find(const char *name)
{
    for (const Command *c = commands; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

void command_names(FILE *to)
{
    for (const Command *c = commands; c->name; c++)
        fprintf(to, "%s%s", c == commands ? "" : ", ", c->name);
}

void usage(FILE *to)
{
    fputs("usage: madlab [COMMAND] [OPTIONS]\n"
          "\n"
          "Train small sequence models on the MAD synthetic tasks, on the CPU.\n"
          "\n"
          "commands:\n"
          "  (none)   open the lab: compose stacks, train them live, compare (needs a terminal)\n",
          to);
    for (const Command *c = commands; c->name; c++) {
        fprintf(to, "  %-8s ", c->name);
        for (const char *s = c->synopsis; *s; s++) {
            fputc(*s, to);
            if (*s == '\n') fputs("           ", to);
        }
        fputc('\n', to);
    }
    fputs("\n"
          "  --help, --version\n"
          "\n"
          "See madlab(1) for details and madlab(5) for the preset format.\n",
          to);
}
