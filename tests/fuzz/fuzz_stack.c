/* Fuzz target: the stack parser (stack_parse) and its inverse (stack_format).
 * Every input is parsed without a width (no width checks), at width 24 (heads that divide it
 * into odd head sizes) and at width 128. A stack that parses must format to text that parses
 * back to the same stack; an error must be one line naming the place given, quoting no control
 * character from the input. */
#include "config.h"
#include "fuzz.h"

static const int widths[] = {0, 24, 128};

static void same_stack(const StackSpec *a, const StackSpec *b)
{
    FUZZ_ASSERT(a->n == b->n);
    for (int i = 0; i < a->n; i++) {
        FUZZ_ASSERT(a->kind[i] == b->kind[i]);
        FUZZ_ASSERT(memcmp(a->knob[i], b->knob[i], sizeof a->knob[i]) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        StackSpec s;
        MlError e;
        if (stack_parse(text, "fuzz", widths[w], &s, &e) != 0) {
            fuzz_check_error(&e, "fuzz:", 1);
            /* width checks only add errors: what fails without a width fails at every width */
            if (widths[w] == 0) break;
            continue;
        }
        FUZZ_ASSERT(s.n >= 1 && s.n <= ML_MAX_LAYERS);
        char buf[ML_MAX_LAYERS * 128];
        FUZZ_ASSERT(stack_format(&s, buf, sizeof buf) == 0);
        StackSpec back;
        FUZZ_ASSERT(stack_parse(buf, "formatted", widths[w], &back, &e) == 0);
        same_stack(&s, &back);
    }
    free(text);
    return 0;
}
