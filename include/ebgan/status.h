/* Status codes and the last-error message of the library.
 * Library code returns an eb_status for what the environment can cause; only the CLI exits. */
#ifndef EBGAN_STATUS_H
#define EBGAN_STATUS_H

typedef enum eb_status {
    EB_OK = 0,
    EB_ERR_ARG,      /* bad argument or shape mismatch (a programming or spec error) */
    EB_ERR_OOM,      /* host or device allocation failed */
    EB_ERR_IO,       /* file could not be opened, read, written, fsynced, renamed */
    EB_ERR_FORMAT,   /* file content is corrupt, truncated or of the wrong kind */
    EB_ERR_DEVICE,   /* CUDA / cuDNN / cuBLAS / NCCL call failed */
    EB_ERR_NUMERIC,  /* NaN or Inf where a finite value is required */
    EB_ERR_UNSUPPORTED /* operation not available in this build or on this backend */
} eb_status;

/* Records a one-line message (printf format) for the current thread and returns `st`.
 * Use through EB_FAIL so the message names file and line. */
eb_status eb_error_set(eb_status st, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* The last message recorded on this thread ("" when none). */
const char *eb_error_message(void);
void eb_error_clear(void);
const char *eb_status_name(eb_status st);

#define EB_FAIL(st, ...) eb_error_set((st), __FILE__, __LINE__, __VA_ARGS__)
/* Propagate a failing status unchanged (the callee already recorded the message). */
#define EB_TRY(expr) do { eb_status eb_try_st_ = (expr); if (eb_try_st_ != EB_OK) return eb_try_st_; } while (0)

#endif
