/* madlab keys: the lab's keys, from the table that dispatches them (ui/keys.c). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "ui.h"
#include "commands.h"
#include "options.h"

int cmd_keys(int argc, char **argv)
{
    (void)argc, (void)argv; /* no options */
    size_t n = keys_help(NULL, 0) + 1;
    char *buf = malloc(n);
    if (!buf) return 1;
    keys_help(buf, n);
    fputs(buf, stdout);
    free(buf);
    return 0;
}
