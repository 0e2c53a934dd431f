/* The stop-signal module's contract (stop_signal.h), in-process: a received signal is only recorded; the
 * requeue signal is configurable; the exit statuses are the documented ones. Real-child tests: test_run_dir.c. */
#include "harness.h"

#include <signal.h>
#include <string.h>

#include "ebgan/stop_signal.h"

EB_TEST(a_stop_signal_is_recorded_not_fatal) {
    EB_CHECK_OK(eb_stop_signal_install(SIGUSR1));
    EB_CHECK(eb_stop_signal_pending() == 0, "pending before any signal");
    raise(SIGTERM); /* would end the process without the handler */
    EB_CHECK(eb_stop_signal_pending() == SIGTERM, "pending %d after SIGTERM", eb_stop_signal_pending());
    raise(SIGUSR1); /* the first signal stays the one reported */
    EB_CHECK(eb_stop_signal_pending() == SIGTERM, "a later signal replaced the first");
    EB_CHECK(eb_stop_signal_exit_code(SIGTERM) == EB_EXIT_STOPPED && EB_EXIT_STOPPED == 3, "SIGTERM exit code");
    EB_CHECK(eb_stop_signal_exit_code(SIGUSR1) == EB_EXIT_REQUEUE && EB_EXIT_REQUEUE == 4, "requeue exit code");
    eb_stop_signal_uninstall();
    return EB_TEST_PASS;
}

EB_TEST(a_stop_decided_elsewhere_takes_the_same_path) {
    EB_CHECK_OK(eb_stop_signal_install(SIGUSR2));
    eb_stop_signal_request(SIGUSR2); /* e.g. another rank was preempted */
    EB_CHECK(eb_stop_signal_pending() == SIGUSR2 && eb_stop_signal_is_requeue(SIGUSR2), "request not recorded");
    EB_CHECK(!eb_stop_signal_is_requeue(SIGUSR1), "USR1 is not the requeue signal here");
    EB_CHECK_OK(eb_stop_signal_install(0)); /* reinstalling clears the flag; 0: no requeue signal */
    EB_CHECK(eb_stop_signal_pending() == 0 && !eb_stop_signal_is_requeue(0), "flag not cleared");
    eb_stop_signal_uninstall();
    return EB_TEST_PASS;
}

EB_TEST(requeue_signal_names_parse) {
    int s = -1;
    EB_CHECK_OK(eb_stop_signal_parse("USR1", &s));
    EB_CHECK(s == SIGUSR1, "USR1 -> %d", s);
    EB_CHECK_OK(eb_stop_signal_parse("sigusr2", &s));
    EB_CHECK(s == SIGUSR2, "sigusr2 -> %d", s);
    EB_CHECK_OK(eb_stop_signal_parse("none", &s));
    EB_CHECK(s == 0, "none -> %d", s);
    EB_CHECK(eb_stop_signal_parse("KILL", &s) == EB_ERR_ARG, "KILL accepted (it cannot be caught)");
    EB_CHECK(eb_stop_signal_parse("SEGV", &s) == EB_ERR_ARG, "SEGV accepted");
    EB_CHECK(strstr(eb_error_message(), "SEGV") != NULL, "message does not name the text");
    EB_CHECK(!strcmp(eb_stop_signal_name(SIGHUP), "SIGHUP"), "name of SIGHUP: %s", eb_stop_signal_name(SIGHUP));
    return EB_TEST_PASS;
}
