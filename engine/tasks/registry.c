/* The table of task kinds. Each MAD task is a TaskKind defined in its own file under
 * engine/tasks/ and listed here; the command line and the lab find tasks only through this table. */
#include "config.h"
#include "madlab.h"

#include <string.h>

extern const TaskKind task_in_context_recall;
extern const TaskKind task_noisy_in_context_recall;
extern const TaskKind task_fuzzy_in_context_recall;
extern const TaskKind task_selective_copying;
extern const TaskKind task_compression;
extern const TaskKind task_memorization;
extern const TaskKind task_text;

const TaskKind *const task_kinds[] = {
    &task_in_context_recall,
    &task_fuzzy_in_context_recall,
    &task_noisy_in_context_recall,
    &task_selective_copying,
    &task_compression,
    &task_memorization,
    NULL,
};

/* The same, then language modelling, which the MAD protocol and its scores leave out. */
const TaskKind *const task_all[] = {
    &task_in_context_recall,
    &task_fuzzy_in_context_recall,
    &task_noisy_in_context_recall,
    &task_selective_copying,
    &task_compression,
    &task_memorization,
    &task_text,
    NULL,
};

const TaskKind *task_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; task_all[i]; i++)
        if (strcmp(task_all[i]->name, name) == 0) return task_all[i];
    return NULL;
}

TokenClass task_token_class(const TaskKind *t, const TaskCfg *c, int32_t token)
{
    if (!t || !c || token < 0 || token >= c->vocab || !t->token_class) return TOK_OTHER;
    return t->token_class(c, token);
}

const char *token_class_name(TokenClass k)
{
    static const char *const names[TOK_N_CLASSES] = {"key", "value", "noise", "special", "filler",
                                                     "other"};
    return (unsigned)k < TOK_N_CLASSES ? names[k] : "other";
}
