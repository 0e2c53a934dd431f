/* cuDNN convolution algorithm choice as a pure function of the candidates cuDNN reports, and the record of
 * the choices a run made (checkpoint metadata), so that a resumed run convolves with the same algorithms. */
#ifndef EBGAN_CONV_ALGO_H
#define EBGAN_CONV_ALGO_H

#include <stddef.h>
#include "ebgan/ops.h"

/* heuristic: cudnnGet*_v7's ranking (a function of geometry, precision, device and library version only),
 *            the default, so two processes on one machine pick alike;
 * search:    cudnnFind*Ex timings in the project's own workspace (on request: timing noise may change the
 *            pick between processes, which is why the choices are recorded in the checkpoint). */
typedef enum eb_conv_algo_mode { EB_CONV_ALGO_HEURISTIC = 0, EB_CONV_ALGO_SEARCH } eb_conv_algo_mode;
typedef enum eb_conv_dir { EB_CONV_DIR_FWD = 0, EB_CONV_DIR_BWD_DATA, EB_CONV_DIR_BWD_FILTER } eb_conv_dir;

/* "heuristic" | "search"; EB_ERR_ARG naming both otherwise. */
eb_status eb_conv_algo_mode_parse(const char *s, eb_conv_algo_mode *m);
const char *eb_conv_algo_mode_name(eb_conv_algo_mode m);

/* One entry of cudnnGet*_v7 / cudnnFind*Ex's result list, in the list's order. */
typedef struct eb_conv_algo_cand {
    int algo;          /* the cudnnConvolution*Algo_t value */
    int ok;            /* its status was CUDNN_STATUS_SUCCESS (NOT_SUPPORTED, ALLOC_FAILED, ... are not) */
    int deterministic; /* CUDNN_DETERMINISTIC */
    int tensor_op;     /* math type TENSOR_OP or TENSOR_OP_ALLOW_CONVERSION */
    size_t ws_bytes;   /* workspace it needs */
    float time_ms;     /* measured (search); ignored in heuristic mode */
} eb_conv_algo_cand;

/* Search timings within this fraction of the fastest count as a tie, broken by the lower algorithm
 * number, so that timing noise between near-equal algorithms does not flip the choice. */
#define EB_CONV_ALGO_TIE 0.05

/* The index of the chosen candidate, or -1 when none qualifies. Qualifies: ok, ws_bytes <= ws_cap, and not
 * a tensor-op result when strict_fp32. Among those, deterministic ones only when there is one (a run then
 * replays bit for bit). heuristic: the first in list order; search: the fastest, ties as above. */
int eb_conv_algo_pick(const eb_conv_algo_cand *c, int n, size_t ws_cap, int strict_fp32, eb_conv_algo_mode mode);

/* Most candidates a list may hold (cuDNN reports at most 8 algorithms per direction). */
#define EB_CONV_ALGO_MAX_CANDS 32

/* Every qualifying candidate in order of preference: eb_conv_algo_pick's choice first, then its choice among
 * the rest, and so on (so deterministic ones before the others). Candidates whose algorithm number has its bit
 * set in `rejected` (an algorithm cuDNN refused at execution) are left out. Writes the indices to order
 * (room for n) and returns how many; n above EB_CONV_ALGO_MAX_CANDS counts only the first that many. */
int eb_conv_algo_rank(const eb_conv_algo_cand *c, int n, size_t ws_cap, int strict_fp32, eb_conv_algo_mode mode,
                      unsigned rejected, int *order);

/* Asks the library for the workspace an algorithm needs with this geometry and math type: 0 and *ws_bytes on
 * success, non-zero when the query fails (e.g. CUDNN_STATUS_NOT_SUPPORTED). */
typedef int (*eb_conv_ws_query)(void *arg, int algo, size_t *ws_bytes);

/* The choice with fallback: walks eb_conv_algo_rank's order and takes the first candidate whose workspace
 * query succeeds and fits ws_cap (the list's own ws_bytes can differ from what the query answers for the
 * math type actually set). Returns its index and *ws_bytes, or -1 when none passes; *tried (may be NULL)
 * counts the candidates asked. */
int eb_conv_algo_walk(const eb_conv_algo_cand *c, int n, size_t ws_cap, int strict_fp32, eb_conv_algo_mode mode,
                      unsigned rejected, eb_conv_ws_query query, void *arg, size_t *ws_bytes, int *tried);

/* One recorded choice: geometry, precision (eb_cuda_precision value), direction -> algorithm, math type. */
typedef struct eb_conv_algo_choice {
    eb_conv_geom g;
    int precision;
    eb_conv_dir dir;
    int algo;
    int math; /* cudnnMathType_t used */
} eb_conv_algo_choice;

/* The record is text, one choice per line:
 *   "fwd|bwd_data|bwd_filter n c_in h_in w_in c_out h_out w_out k_h k_w stride pad precision algo math"
 * after an optional first line "# <free text>" (the device and library it was chosen on).
 * format: writes at most cap bytes (NUL-terminated) and returns the length it needs (as snprintf).
 * parse: *n choices into out (at most cap); EB_ERR_FORMAT naming the line on any malformed line. */
size_t eb_conv_algo_format(const char *comment, const eb_conv_algo_choice *c, int n, char *buf, size_t cap);
eb_status eb_conv_algo_parse(const char *text, eb_conv_algo_choice *out, int cap, int *n, char *comment,
                             size_t comment_cap);
/* The index of the choice for (g, precision, dir) in list, or -1. */
int eb_conv_algo_find(const eb_conv_algo_choice *list, int n, const eb_conv_geom *g, int precision, eb_conv_dir dir);

#endif
