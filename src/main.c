/* madlab: find the command in the table (commands.c) and run it. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"

int main(int argc, char **argv)
{
    const char *word = argc > 1 ? argv[1] : NULL;
    /* no command, or the lab's own options first: the lab */
    if (!word || !strcmp(word, "--demo") || !strcmp(word, "--threads")) {
        g_cmd = "lab";
        return cmd_lab(argc, argv);
    }
    if (!strcmp(word, "--help") || !strcmp(word, "-h") || !strcmp(word, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(word, "--version") || !strcmp(word, "-V")) {
        printf("%s\n", PACKAGE_STRING);
        return 0;
    }
    const Command *c = command_find(word);
    if (c) {
        g_cmd = c->name;
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "madlab: unknown command '%s' (commands: ", word);
    command_names(stderr);
    fprintf(stderr, "; see madlab --help)\n");
    return 2;
}
