/* The last-error message: one line per thread, "file:line: message", read by the CLI.
 * Library code records the cause where it is detected and returns the status upward. */
#include "ebgan/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[512];

eb_status eb_error_set(eb_status st, const char *file, int line, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char body[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    snprintf(g_msg, sizeof g_msg, "%s [%s:%d]", body, base, line);
    return st;
}

const char *eb_error_message(void) { return g_msg; }
void eb_error_clear(void) { g_msg[0] = '\0'; }

const char *eb_status_name(eb_status st) {
    switch (st) {
    case EB_OK: return "ok";
    case EB_ERR_ARG: return "bad argument";
    case EB_ERR_OOM: return "out of memory";
    case EB_ERR_IO: return "I/O error";
    case EB_ERR_FORMAT: return "bad file format";
    case EB_ERR_DEVICE: return "device error";
    case EB_ERR_NUMERIC: return "non-finite value";
    case EB_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}
