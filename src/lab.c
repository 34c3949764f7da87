/* madlab [lab] [--demo] [--threads N] [--scale-dir DIR [--mad MADDIR]]...: the interactive lab
 * (ui/lab.c). The options start at argv[1] whether or not the word lab was given. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "commands.h"
#include "options.h"

#define LAB_MAX_SCALE_DIRS 64

int cmd_lab(int argc, char **argv)
{
    int demo = 0, threads = 0, n_scale = 0;
    const char *scale_dirs[LAB_MAX_SCALE_DIRS], *mad_dirs[LAB_MAX_SCALE_DIRS];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--demo")) demo = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (get_int("--threads", argv[++i], 1, ML_MAX_THREADS, &threads)) return 2;
        } else if (!strcmp(argv[i], "--scale-dir") && i + 1 < argc) {
            if (n_scale == LAB_MAX_SCALE_DIRS) {
                fprintf(stderr, "madlab: at most %d --scale-dir directories\n", LAB_MAX_SCALE_DIRS);
                return 2;
            }
            scale_dirs[n_scale] = argv[++i];
            mad_dirs[n_scale++] = NULL;
        } else if (!strcmp(argv[i], "--mad") && i + 1 < argc) {
            /* a MAD directory belongs to the scaling directory before it, as in scale --compare */
            if (n_scale == 0 || mad_dirs[n_scale - 1]) {
                fprintf(stderr, "madlab: --mad %s: give it once after the --scale-dir DIR it scores\n",
                        argv[i + 1]);
                return 2;
            }
            mad_dirs[n_scale - 1] = argv[++i];
        } else {
            fprintf(stderr, "madlab: unknown lab option '%s' (the lab takes --demo, --threads N, "
                            "--scale-dir DIR and --mad DIR)\n", argv[i]);
            return 2;
        }
    }
    return lab_main(demo, threads, n_scale, scale_dirs, mad_dirs);
}
