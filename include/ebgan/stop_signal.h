/* Graceful stop of a training run on a signal: SIGTERM, SIGINT, SIGHUP and a requeue signal (default SIGUSR1,
 * what SLURM's --signal sends before preemption or the time limit) only raise a flag that the loop polls. */
#ifndef EBGAN_STOP_SIGNAL_H
#define EBGAN_STOP_SIGNAL_H

#include "ebgan/status.h"

/* Exit statuses of `ebgan-gpu train` after a stop on a signal (README "Output formats"): the current
 * iteration finished and a checkpoint was written. */
#define EB_EXIT_STOPPED 3   /* SIGTERM, SIGINT or SIGHUP */
#define EB_EXIT_REQUEUE 4   /* the requeue signal: the scheduler is expected to start `--resume` again */
#define EB_EXIT_INTERRUPTED 130 /* a second SIGINT: exit at once, nothing more written (128 + SIGINT) */

/* Installs the handlers for SIGTERM, SIGINT, SIGHUP and `requeue_signo` (0: none) and clears the flag.
 * Signals are per process, so this state is too: one run per process. The handler only stores the signal
 * number (async-signal-safe), except that a second SIGINT calls _exit(EB_EXIT_INTERRUPTED). */
eb_status eb_stop_signal_install(int requeue_signo);
/* Restores the handlers that were in place before install. */
void eb_stop_signal_uninstall(void);

/* The first stop signal received since install, or 0. Polled between iterations; a multi-rank run
 * all-reduces this value (any rank stopped => all stop) before acting on it. */
int eb_stop_signal_pending(void);
/* Records `signo` as if it had been received (used where a stop decided elsewhere, e.g. by another rank,
 * must take the same path). A pending signal is kept. */
void eb_stop_signal_request(int signo);
/* 1 when `signo` is the installed requeue signal. */
int eb_stop_signal_is_requeue(int signo);
/* The exit status for a stop on `signo`: EB_EXIT_REQUEUE for the requeue signal, else EB_EXIT_STOPPED. */
int eb_stop_signal_exit_code(int signo);

/* "SIGTERM", "SIGUSR1", ... ("signal N" for others; a static string per call site is not needed). */
const char *eb_stop_signal_name(int signo);
/* Parses "USR1", "SIGUSR1", "usr2", "10", "none" (-> 0). EB_ERR_ARG naming the text otherwise. Signals
 * that cannot be caught or that the run needs for itself (KILL, STOP, SEGV, ...) are refused. */
eb_status eb_stop_signal_parse(const char *text, int *signo);

#endif
