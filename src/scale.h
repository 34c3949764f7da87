/* What madlab scale's two files share: scale.c (the protocol for one stack) and
 * scale_compare.c (--compare across stacks). */
#ifndef MADLAB_SRC_SCALE_H
#define MADLAB_SRC_SCALE_H

#include "madlab.h"
#include "scaling.h"

/* Reads DIR/scale.run and rebuilds its plan; prints the error and returns -1 when it cannot. */
int scale_plan_of_dir(const char *dir, ScaleDirInfo *info, ScalePlan *pl);
/* A damaged result file's warning line (it counts as not done). */
void scale_warn_line(void *ctx, const char *msg);
/* madlab scale --compare DIR [--mad MADDIR] ... [--csv FILE] */
int scale_compare(int argc, char **argv);

#endif
