/* The key table: the lab dispatches keys through it and the help screen (and the man page's key
 * list, checked by tests/check_ui) is generated from it, so the two cannot drift. */
#include "config.h"
#include "ui.h"

#include <stdio.h>
#include <string.h>

#define VS V_STACK
#define VT V_TASK
#define VR V_RUN
#define VX V_RESULTS
#define VP V_STATE
#define VC V_SCALE

const KeyBinding key_table[] = {
    /* everywhere */
    {{'?', UK_F(1)}, ACT_HELP, V_ALL, "Help", "show this help (Escape closes it)"},
    {{'1', UK_F(2)}, ACT_VIEW_STACK, V_ALL, "Stack", "stack view: compose the layers"},
    {{'2', UK_F(3)}, ACT_VIEW_TASK, V_ALL, "Task", "task view: pick a task, set its difficulty, see a sample"},
    {{'3', UK_F(4)}, ACT_VIEW_RUN, V_ALL, "Watch", "run view: live loss, accuracy, progress, state size"},
    {{'\t'}, ACT_NEXT_VIEW, V_ALL, NULL, "next view"},
    {{'r', UK_F(5)}, ACT_RUN, V_ALL, "Run", "run the current stack on the current task (queued if busy)"},
    {{'4', UK_F(6)}, ACT_VIEW_RESULTS, V_ALL, "Results", "results view: one row per stack and task setting, one column per task"},
    {{'5', UK_F(7)}, ACT_VIEW_STATE, V_ALL, NULL, "recall against state: each stack's accuracy on a task against its total inference state"},
    {{'6', UK_F(8)}, ACT_VIEW_SCALE, V_ALL, NULL, "scaling view: the directories given with madlab --scale-dir DIR, added with a there, or made by L: loss against parameters per budget, the frontier, MAD against compute-optimal perplexity"},
    {{'p'}, ACT_PAUSE, V_ALL, "Pause", "pause or resume the run"},
    {{'x'}, ACT_STOP, V_ALL, NULL, "stop the current run (the queue goes on)"},
    {{'X'}, ACT_STOP_ALL, V_ALL, NULL, "stop the current run and empty the queue"},
    {{'Q'}, ACT_QUEUE_TASKS, V_ALL, NULL, "queue the quick MAD protocol for the current stack (six runs)"},
    {{'L'}, ACT_QUEUE_SCALE, V_ALL, NULL, "queue the quick scaling protocol for the current stack on the text task's corpus (asks budgets, sizes, context; a second press resumes)"},
    {{'o'}, ACT_OPTIONS, V_ALL, NULL, "run options: epochs, batch, learning rate, weight decay, seed"},
    {{'l'}, ACT_LOAD, V_ALL, NULL, "load a preset (the list opens on the loaded one and shows each preset's layers)"},
    {{'w'}, ACT_SAVE, V_ALL, NULL, "save the stack as a preset"},
    {{'e'}, ACT_EXPORT, V_ALL, NULL, "export run logs and the results table to CSV"},
    {{UK_CTRL('l')}, ACT_REDRAW, V_ALL, NULL, "redraw the screen"},
    {{'q', UK_F(10)}, ACT_QUIT, V_ALL, "Quit", "quit (asks first while a run is going or the stack is not saved as a preset; y confirms)"},
    /* lists */
    {{UK_UP, 'k'}, ACT_UP, VS | VT | VX | VP | VC, NULL, "move up"},
    {{UK_DOWN, 'j'}, ACT_DOWN, VS | VT | VX | VP | VC, NULL, "move down"},
    {{UK_HOME, 'g'}, ACT_TOP, VS | VT | VX | VP | VC, NULL, "first row"},
    {{UK_END, 'G'}, ACT_BOTTOM, VS | VT | VX | VP | VC, NULL, "last row"},
    /* stack */
    {{'a', UK_INS}, ACT_ADD, VS, NULL, "add a layer from the picker (every kind, with its summary)"},
    {{'d', UK_DEL}, ACT_DELETE, VS, NULL, "delete the layer"},
    {{'['}, ACT_MOVE_UP, VS, NULL, "move the layer up"},
    {{']'}, ACT_MOVE_DOWN, VS, NULL, "move the layer down"},
    {{UK_ENTER, 'E'}, ACT_EDIT, VS | VT, NULL, "edit the layer's knobs / the task's difficulty (the settings the task reads first)"},
    {{'W'}, ACT_WIDTH, VS, NULL, "change the model width"},
    {{'s'}, ACT_STRIPE, VS, NULL, "striping: build a stack from a pattern such as 1A:3H"},
    {{'S'}, ACT_FIT_STATE, VS, NULL, "fit the stack to a state budget: set its state knobs so its total state is near N floats (asks N, default 4096 as in the paper; shows before and after)"},
    {{'i'}, ACT_TEACH, VS | VT, NULL, "teaching page of the layer kind / of the task (n/p step through them)"},
    /* task */
    {{'n'}, ACT_RESAMPLE, VT, NULL, "draw another sample sequence"},
    /* results */
    {{' '}, ACT_MARK, VX, NULL, "mark a row (two marked rows overlay their curves)"},
    {{'>', UK_RIGHT}, ACT_SORT_NEXT, VX, NULL, "sort by the next column"},
    {{'<', UK_LEFT}, ACT_SORT_PREV, VX, NULL, "sort by the previous column"},
    {{'I'}, ACT_SORT_REVERSE, VX, NULL, "reverse the sort order"},
    /* recall against state */
    {{'t', UK_RIGHT}, ACT_NEXT_TASK, VP, NULL, "plot the next task"},
    {{'T', UK_LEFT}, ACT_PREV_TASK, VP, NULL, "plot the previous task"},
    {{'c'}, ACT_EXPORT_STATE, VP, NULL, "export the plot's data to PREFIX-state.csv: stack, setting, state, params, one column per task"},
    /* scaling */
    {{'a'}, ACT_ADD_SCALE_DIR, VC, NULL, "add a scaling directory (and optionally its MAD directory) to the view"},
    {{'c'}, ACT_EXPORT_SCALE, VC, NULL, "export the view's data to PREFIX-scaling-runs.csv (every run) and PREFIX-scaling-frontier.csv (per budget)"},
    /* the demo (madlab --demo); any other key ends it and does its usual job */
    {{' ', UK_ENTER, UK_RIGHT}, ACT_DEMO_NEXT, V_DEMO, NULL, "demo: the next step of the tour"},
    {{UK_BACKSPACE, UK_LEFT}, ACT_DEMO_BACK, V_DEMO, NULL, "demo: the step before"},
    {{'t'}, ACT_DEMO_TIMER, V_DEMO, NULL, "demo: step on by itself every 20 seconds, or stop doing so"},
    {{UK_ESC, 'q'}, ACT_DEMO_END, V_DEMO, NULL, "demo: end the tour, keep the lab"},
};
const int key_table_n = (int)(sizeof key_table / sizeof key_table[0]);

Action key_action(int key, int view)
{
    for (int i = 0; i < key_table_n; i++) {
        if (!(key_table[i].views & view)) continue;
        for (int j = 0; j < 3 && key_table[i].keys[j]; j++)
            if (key_table[i].keys[j] == key) return key_table[i].action;
    }
    return ACT_NONE;
}

void ui_key_name(int key, char *buf, size_t n)
{
    static const struct { int key; const char *name; } names[] = {
        {UK_UP, "Up"}, {UK_DOWN, "Down"}, {UK_LEFT, "Left"}, {UK_RIGHT, "Right"},
        {UK_PGUP, "PgUp"}, {UK_PGDN, "PgDn"}, {UK_HOME, "Home"}, {UK_END, "End"},
        {UK_DEL, "Delete"}, {UK_INS, "Insert"}, {UK_BACKSPACE, "Backspace"}, {UK_ENTER, "Enter"},
        {UK_ESC, "Escape"}, {'\t', "Tab"}, {' ', "Space"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].key == key) {
            snprintf(buf, n, "%s", names[i].name);
            return;
        }
    if (key > UK_F0 && key <= UK_F0 + 24) snprintf(buf, n, "F%d", key - UK_F0);
    else if (key > 0 && key < 32) snprintf(buf, n, "^%c", key + '@');
    else if (key >= 32 && key < 127) snprintf(buf, n, "%c", key);
    else snprintf(buf, n, "#%d", key);
}

size_t keys_help(char *buf, size_t n)
{
    static const struct { int mask; const char *title; } groups[] = {
        {V_ALL, "Everywhere"}, {VS | VT | VX | VP | VC, "Lists"}, {VS, "Stack view"}, {VS | VT, "Stack and task views"},
        {VT, "Task view"}, {VX, "Results view"}, {VP, "Recall against state view"}, {VC, "Scaling view"}, {V_DEMO, "Demo (madlab --demo)"},
    };
    size_t used = 0;
    if (n) buf[0] = 0;
#define OUT(...) do { \
        int w_ = snprintf(buf ? buf + (used < n ? used : n) : NULL, used < n ? n - used : 0, __VA_ARGS__); \
        if (w_ > 0) used += (size_t)w_; \
    } while (0)
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
        int any = 0;
        for (int i = 0; i < key_table_n; i++) {
            if (key_table[i].views != groups[g].mask) continue;
            if (!any) OUT("%s%s\n", used ? "\n" : "", groups[g].title);
            any = 1;
            char keys[48] = "";
            for (int j = 0; j < 3 && key_table[i].keys[j]; j++) {
                char k[16];
                ui_key_name(key_table[i].keys[j], k, sizeof k);
                size_t l = strlen(keys);
                snprintf(keys + l, sizeof keys - l, "%s%s", j ? " " : "", k);
            }
            OUT("  %-14s %s\n", keys, key_table[i].help);
        }
    }
#undef OUT
    return used;
}
