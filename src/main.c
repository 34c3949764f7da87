/* madlab: parse the command line and dispatch. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lab.h"

int main(int argc, char **argv)
{
    if (argc < 2) return cmd_lab(argc, argv);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--demo") || !strcmp(cmd, "--threads") || !strcmp(cmd, "lab"))
        return cmd_lab(argc, argv);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("%s\n", PACKAGE_STRING);
        return 0;
    }
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "keys")) return cmd_keys();
    if (!strcmp(cmd, "layers")) return cmd_layers(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "mad")) return cmd_mad(argc - 1, argv + 1);
    if (!strcmp(cmd, "scale")) return cmd_scale(argc - 1, argv + 1);
    if (!strcmp(cmd, "tasks")) return cmd_tasks(argc - 1, argv + 1);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc - 1, argv + 1);
    fprintf(stderr, "madlab: unknown command '%s' (commands: lab, run, mad, scale, layers, bench, tasks, sample, keys; see madlab --help)\n",
            cmd);
    return 2;
}
