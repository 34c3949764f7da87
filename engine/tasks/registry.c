/* The table of task kinds. Each MAD task is a TaskKind defined in its own file under
 * engine/tasks/ and listed here; the command line and the lab find tasks only through this table. */
#include "config.h"
#include "madlab.h"

#include <string.h>

extern const TaskKind task_in_context_recall;

/* The other five MAD tasks (noisy-in-context-recall, fuzzy-in-context-recall, selective-copying,
 * compression, memorization) register here as they are written. */
const TaskKind *const task_kinds[] = {
    &task_in_context_recall,
    NULL,
};

const TaskKind *task_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; task_kinds[i]; i++)
        if (strcmp(task_kinds[i]->name, name) == 0) return task_kinds[i];
    return NULL;
}
