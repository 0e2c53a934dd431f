/* The stop flag of a training run: signal handlers that only record which signal came (DESIGN.md §4: a stop
 * ends the current iteration, then the loop checkpoints and returns), in one place for SLURM preemption. */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/stop_signal.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Process-wide by nature (signal dispositions are): written only by the handler and by request. */
static volatile sig_atomic_t g_pending;
static volatile sig_atomic_t g_requeue;
static struct sigaction g_old[4];
static int g_signos[4];
static int g_n_installed;

static void on_stop_signal(int signo) {
    if (signo == SIGINT && g_pending == SIGINT) {
        static const char msg[] = "\nebgan-gpu: second SIGINT: exiting at once (no checkpoint written)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(EB_EXIT_INTERRUPTED);
    }
    if (!g_pending) g_pending = signo;
    if (signo == SIGINT) {
        static const char msg[] = "\nebgan-gpu: SIGINT: stopping after this iteration and writing a checkpoint "
                                  "(SIGINT again to exit at once)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
    }
}

eb_status eb_stop_signal_install(int requeue_signo) {
    eb_stop_signal_uninstall();
    g_pending = 0;
    g_requeue = requeue_signo;
    int sigs[4] = {SIGTERM, SIGINT, SIGHUP, requeue_signo};
    int n = requeue_signo && requeue_signo != SIGTERM && requeue_signo != SIGINT && requeue_signo != SIGHUP ? 4 : 3;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < n; i++) sigaddset(&sa.sa_mask, sigs[i]); /* one handler runs at a time */
    sa.sa_flags = SA_RESTART; /* file writes of a checkpoint in progress must not fail with EINTR */
    for (int i = 0; i < n; i++) {
        if (sigaction(sigs[i], &sa, &g_old[i]) != 0) {
            g_n_installed = i;
            eb_stop_signal_uninstall();
            return EB_FAIL(EB_ERR_ARG, "cannot install a handler for %s", eb_stop_signal_name(sigs[i]));
        }
        g_signos[i] = sigs[i];
    }
    g_n_installed = n;
    return EB_OK;
}

void eb_stop_signal_uninstall(void) {
    for (int i = 0; i < g_n_installed; i++) sigaction(g_signos[i], &g_old[i], NULL);
    g_n_installed = 0;
}

int eb_stop_signal_pending(void) { return (int)g_pending; }

void eb_stop_signal_request(int signo) {
    if (!g_pending) g_pending = signo;
}

int eb_stop_signal_is_requeue(int signo) { return signo != 0 && signo == (int)g_requeue; }

int eb_stop_signal_exit_code(int signo) { return eb_stop_signal_is_requeue(signo) ? EB_EXIT_REQUEUE : EB_EXIT_STOPPED; }

static const struct { const char *name; int signo; } k_names[] = {
    {"TERM", SIGTERM}, {"INT", SIGINT}, {"HUP", SIGHUP}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
    {"QUIT", SIGQUIT}, {"ALRM", SIGALRM}, {"XCPU", SIGXCPU}, {"CONT", SIGCONT}, {"URG", SIGURG},
};

const char *eb_stop_signal_name(int signo) {
    static const char *full[] = {"SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2",
                                 "SIGQUIT", "SIGALRM", "SIGXCPU", "SIGCONT", "SIGURG"};
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (k_names[i].signo == signo) return full[i];
    return "an unnamed signal";
}

eb_status eb_stop_signal_parse(const char *text, int *signo) {
    const char *s = text;
    if (!strcasecmp(s, "none") || !strcmp(s, "0")) {
        *signo = 0;
        return EB_OK;
    }
    if (!strncasecmp(s, "SIG", 3)) s += 3;
    if (isdigit((unsigned char)s[0])) {
        char *end;
        long v = strtol(s, &end, 10);
        for (size_t i = 0; !*end && i < sizeof k_names / sizeof k_names[0]; i++)
            if (k_names[i].signo == v) {
                *signo = (int)v;
                return EB_OK;
            }
    } else {
        for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
            if (!strcasecmp(s, k_names[i].name)) {
                *signo = k_names[i].signo;
                return EB_OK;
            }
    }
    return EB_FAIL(EB_ERR_ARG, "--requeue-signal '%s': expected none, USR1, USR2, TERM, INT, HUP, QUIT, ALRM, "
                   "XCPU, CONT or URG", text);
}
