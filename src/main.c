/* madlab: find the command in the table (commands.c) and run it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"

/* --help, --version and keys take no other word. */
static int no_more(int argc, char **argv)
{
    if (argc <= 2) return 0;
    fprintf(stderr, "madlab %s: unexpected argument '%s'\n", argv[1], argv[2]);
    return 2;
}

static int dispatch(int argc, char **argv)
{
    const char *word = argc > 1 ? argv[1] : NULL;
    /* no command, or the lab's own options first: the lab */
    if (!word || !strcmp(word, "--demo") || !strcmp(word, "--threads") || !strcmp(word, "--scale-dir") ||
        !strcmp(word, "--mad")) {
        g_cmd = "lab";
        return cmd_lab(argc, argv);
    }
    if (!strcmp(word, "--help") || !strcmp(word, "-h") || !strcmp(word, "help")) {
        if (no_more(argc, argv)) return 2;
        usage(stdout);
        return 0;
    }
    if (!strcmp(word, "--version") || !strcmp(word, "-V")) {
        if (no_more(argc, argv)) return 2;
        printf("%s\n", PACKAGE_STRING);
        return 0;
    }
    const Command *c = command_find(word);
    if (c) {
        g_cmd = c->name;
        if (c->run == cmd_keys && no_more(argc, argv)) return 2;
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "madlab: unknown command '%s' (commands: ", word);
    command_names(stderr);
    fprintf(stderr, "; see madlab --help)\n");
    return 2;
}

int main(int argc, char **argv)
{
    int rc = dispatch(argc, argv);
    if (stdout_check() != 0 && rc == 0) rc = 1;
    if (fclose(stdout) != 0 && errno != EBADF && rc == 0) { /* EBADF: run with >&- */
        fprintf(stderr, "madlab: cannot write standard output: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}
