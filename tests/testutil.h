/* Shared by the Check suites: run one suite, exit non-zero on any failure. */
#ifndef MADLAB_TESTUTIL_H
#define MADLAB_TESTUTIL_H

#include <check.h>
#include <stdlib.h>

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
