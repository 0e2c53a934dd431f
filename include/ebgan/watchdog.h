/* A timeout on the collectives of a multi-rank job: a rank whose iterations stop finishing (a peer died or
 * hangs, and an all-reduce waits for it forever) says so in one line and exits, so the launcher ends the job. */
#ifndef EBGAN_WATCHDOG_H
#define EBGAN_WATCHDOG_H

#include "ebgan/status.h"

/* Starts the watchdog thread of this process: when no eb_watchdog_beat comes for `timeout_s` seconds it
 * prints "rank R: ..." to stderr and _exit(exit_code)s. timeout_s <= 0: nothing is started. */
eb_status eb_watchdog_start(double timeout_s, int rank, int exit_code);
/* Progress (after each iteration and each checkpoint): the clock restarts. Cheap; async-signal unsafe. */
void eb_watchdog_beat(void);
/* Stops and joins the thread (before a normal exit). */
void eb_watchdog_stop(void);

#endif
