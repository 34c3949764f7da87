/* madlab [lab] [--demo] [--threads N]: the interactive lab (ui/lab.c). The options start at
 * argv[1] whether or not the word lab was given. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "commands.h"
#include "options.h"

int cmd_lab(int argc, char **argv)
{
    int demo = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--demo")) demo = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (get_int("--threads", argv[++i], 1, ML_MAX_THREADS, &threads)) return 2;
        } else {
            fprintf(stderr, "madlab: unknown lab option '%s' (the lab takes --demo and --threads N)\n",
                    argv[i]);
            return 2;
        }
    }
    return lab_main(demo, threads);
}
