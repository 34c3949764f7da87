/* Fuzz target: the preset parser (preset_parse). A preset that parses has a description, a
 * width in range and a stack whose formatted text parses back at that width; an error is one
 * line that names the file and quotes no control character. */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    Preset p;
    MlError e;
    if (preset_parse(text, "dir/fuzz.preset", &p, &e) != 0) {
        fuzz_check_error(&e, "dir/fuzz.preset", 1);
    } else {
        FUZZ_ASSERT(strcmp(p.name, "fuzz") == 0);
        FUZZ_ASSERT(p.description[0] != '\0');
        FUZZ_ASSERT(strnlen(p.description, sizeof p.description) < sizeof p.description);
        FUZZ_ASSERT(strnlen(p.stack_text, sizeof p.stack_text) < sizeof p.stack_text);
        FUZZ_ASSERT(p.width >= 8 && p.width <= 4096);
        FUZZ_ASSERT(p.norm == NORM_RMS || p.norm == NORM_LAYER);
        FUZZ_ASSERT(p.stack.n >= 1 && p.stack.n <= ML_MAX_LAYERS);
        char buf[ML_MAX_LAYERS * 128];
        FUZZ_ASSERT(stack_format(&p.stack, buf, sizeof buf) == 0);
        StackSpec back;
        FUZZ_ASSERT(stack_parse(buf, "formatted", p.width, &back, &e) == 0);
        FUZZ_ASSERT(back.n == p.stack.n);
    }
    free(text);
    return 0;
}
