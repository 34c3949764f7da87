/* The headless commands; each returns the process exit status. */
#ifndef MADLAB_COMMANDS_H
#define MADLAB_COMMANDS_H

#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_keys(void);
int cmd_tasks(int argc, char **argv);
int cmd_sample(int argc, char **argv);
void usage(FILE *to);

#endif
