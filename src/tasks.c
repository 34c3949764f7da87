/* madlab tasks: the MAD tasks, their knobs and defaults. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include "commands.h"
#include "options.h"

int cmd_tasks(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "madlab tasks: unexpected argument '%s' (tasks takes no options)\n", argv[1]);
        return 2;
    }
    printf("MAD synthetic tasks, then language modelling (madlab run --task NAME; options override "
           "the defaults shown)\n");
    for (const TaskKind *const *t = task_all; *t; t++) {
        char d[256];
        knob_defaults(*t, d, sizeof d);
        printf("\n%-24s %s\n", (*t)->name, (*t)->summary);
        printf("  %-22s %s\n", "defaults:", d);
        printf("  %-22s %s, model input %d tokens%s\n", "shorthand, length:", (*t)->shorthand,
               (*t)->seq_len_out(&(*t)->defaults),
               (*t)->backbone == BACKBONE_AUTOENCODER ? ", trains the autoencoder backbone" : "");
    }
    printf("\ntext reads --corpus FILE, by default %s (Debian package %s).\n",
           CORPUS_DEFAULT_PATH, CORPUS_DEFAULT_PACKAGE);
    printf("madlab sample --task NAME shows generated sequences with their scored positions.\n");
    return 0;
}
