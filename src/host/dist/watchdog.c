/* The collectives' timeout (README "Data parallelism"): MPI and NCCL collectives block without a deadline,
 * so one thread per process watches the training loop's heartbeat and ends the process when it stalls. */
#include "ebgan/watchdog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* One watchdog per process, as signals and MPI are per process. */
static struct {
    pthread_t thread;
    int running;
    atomic_int stop;
    _Atomic double last_beat;
    double timeout_s;
    int rank, exit_code;
} g_wd;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *watch(void *arg) {
    (void)arg;
    while (!atomic_load(&g_wd.stop)) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        const double idle = now_s() - atomic_load(&g_wd.last_beat);
        if (idle > g_wd.timeout_s && !atomic_load(&g_wd.stop)) {
            fprintf(stderr, "ebgan-gpu train: rank %d: no progress for %.0f s (--comm-timeout): a collective waits for "
                            "a rank that died or hangs; ending this rank\n", g_wd.rank, idle);
            fflush(stderr);
            _exit(g_wd.exit_code);
        }
    }
    return NULL;
}

eb_status eb_watchdog_start(double timeout_s, int rank, int exit_code) {
    if (!(timeout_s > 0) || g_wd.running) return EB_OK;
    g_wd.timeout_s = timeout_s;
    g_wd.rank = rank;
    g_wd.exit_code = exit_code;
    atomic_store(&g_wd.stop, 0);
    atomic_store(&g_wd.last_beat, now_s());
    if (pthread_create(&g_wd.thread, NULL, watch, NULL))
        return EB_FAIL(EB_ERR_OOM, "cannot start the collectives' watchdog thread");
    g_wd.running = 1;
    return EB_OK;
}

void eb_watchdog_beat(void) {
    if (g_wd.running) atomic_store(&g_wd.last_beat, now_s());
}

void eb_watchdog_stop(void) {
    if (!g_wd.running) return;
    atomic_store(&g_wd.stop, 1);
    pthread_join(g_wd.thread, NULL);
    g_wd.running = 0;
}
