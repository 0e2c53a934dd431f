/* The pure part of cuDNN algorithm choice (which candidate, and the text record of choices): no cuDNN here,
 * so the CPU tests cover every rule; src/kernels/cuda/cuda_conv.cu feeds it cuDNN's result lists. */
#include "ebgan/conv_algo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_dir_names[] = {"fwd", "bwd_data", "bwd_filter"};

eb_status eb_conv_algo_mode_parse(const char *s, eb_conv_algo_mode *m) {
    if (s && !strcmp(s, "heuristic")) *m = EB_CONV_ALGO_HEURISTIC;
    else if (s && !strcmp(s, "search")) *m = EB_CONV_ALGO_SEARCH;
    else return EB_FAIL(EB_ERR_ARG, "--conv-algo '%s': expected heuristic or search", s ? s : "");
    return EB_OK;
}

const char *eb_conv_algo_mode_name(eb_conv_algo_mode m) {
    return m == EB_CONV_ALGO_SEARCH ? "search" : "heuristic";
}

static int qualifies(const eb_conv_algo_cand *c, size_t ws_cap, int strict_fp32) {
    return c->ok && c->ws_bytes <= ws_cap && !(strict_fp32 && c->tensor_op);
}

int eb_conv_algo_pick(const eb_conv_algo_cand *c, int n, size_t ws_cap, int strict_fp32, eb_conv_algo_mode mode) {
    int any_det = 0;
    for (int i = 0; i < n; i++) any_det |= qualifies(&c[i], ws_cap, strict_fp32) && c[i].deterministic;
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!qualifies(&c[i], ws_cap, strict_fp32) || (any_det && !c[i].deterministic)) continue;
        if (mode == EB_CONV_ALGO_HEURISTIC) return i; /* the ranking's first */
        if (best < 0 || c[i].time_ms < c[best].time_ms) best = i;
    }
    if (best < 0 || mode == EB_CONV_ALGO_HEURISTIC) return best;
    /* search: among those within the tie window of the fastest, the lowest algorithm number */
    const double window = (double)c[best].time_ms * (1.0 + EB_CONV_ALGO_TIE);
    int pick = best;
    for (int i = 0; i < n; i++) {
        if (!qualifies(&c[i], ws_cap, strict_fp32) || (any_det && !c[i].deterministic)) continue;
        if ((double)c[i].time_ms <= window && c[i].algo < c[pick].algo) pick = i;
    }
    return pick;
}

int eb_conv_algo_rank(const eb_conv_algo_cand *c, int n, size_t ws_cap, int strict_fp32, eb_conv_algo_mode mode,
                      unsigned rejected, int *order) {
    if (n > EB_CONV_ALGO_MAX_CANDS) n = EB_CONV_ALGO_MAX_CANDS;
    eb_conv_algo_cand left[EB_CONV_ALGO_MAX_CANDS];
    for (int i = 0; i < n; i++) {
        left[i] = c[i];
        const int refused = c[i].algo >= 0 && c[i].algo < 32 && (rejected >> c[i].algo & 1u);
        if (refused) left[i].ok = 0;
    }
    int count = 0;
    for (;;) {
        const int i = eb_conv_algo_pick(left, n, ws_cap, strict_fp32, mode);
        if (i < 0) return count;
        order[count++] = i;
        left[i].ok = 0; /* taken: the next round chooses among the rest */
    }
}

int eb_conv_algo_walk(const eb_conv_algo_cand *c, int n, size_t ws_cap, int strict_fp32, eb_conv_algo_mode mode,
                      unsigned rejected, eb_conv_ws_query query, void *arg, size_t *ws_bytes, int *tried) {
    int order[EB_CONV_ALGO_MAX_CANDS];
    const int m = eb_conv_algo_rank(c, n, ws_cap, strict_fp32, mode, rejected, order);
    if (tried) *tried = 0;
    for (int k = 0; k < m; k++) {
        size_t ws = 0;
        if (tried) (*tried)++;
        if (query(arg, c[order[k]].algo, &ws) != 0 || ws > ws_cap) continue;
        *ws_bytes = ws;
        return order[k];
    }
    return -1;
}

size_t eb_conv_algo_format(const char *comment, const eb_conv_algo_choice *c, int n, char *buf, size_t cap) {
    size_t len = 0;
#define PUT(...)                                                                        \
    do {                                                                                \
        int w_ = snprintf(buf && len < cap ? buf + len : NULL, buf && len < cap ? cap - len : 0, __VA_ARGS__); \
        if (w_ > 0) len += (size_t)w_;                                                  \
    } while (0)
    if (buf && cap) buf[0] = '\0';
    if (comment && comment[0]) PUT("# %s\n", comment);
    for (int i = 0; i < n; i++) {
        const eb_conv_geom *g = &c[i].g;
        const int d = c[i].dir >= EB_CONV_DIR_FWD && c[i].dir <= EB_CONV_DIR_BWD_FILTER ? (int)c[i].dir : 0;
        PUT("%s %d %d %d %d %d %d %d %d %d %d %d %d %d %d\n", g_dir_names[d], g->n, g->c_in, g->h_in, g->w_in,
            g->c_out, g->h_out, g->w_out, g->k_h, g->k_w, g->stride, g->pad, c[i].precision, c[i].algo, c[i].math);
    }
#undef PUT
    return len;
}

eb_status eb_conv_algo_parse(const char *text, eb_conv_algo_choice *out, int cap, int *n, char *comment,
                             size_t comment_cap) {
    *n = 0;
    if (comment && comment_cap) comment[0] = '\0';
    int line_no = 0;
    for (const char *p = text ? text : ""; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        line_no++;
        char line[256];
        if (len >= sizeof line)
            return EB_FAIL(EB_ERR_FORMAT, "cuDNN algorithm record, line %d: longer than %zu characters", line_no,
                           sizeof line - 1);
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol ? eol + 1 : p + len;
        if (len == 0) continue;
        if (line[0] == '#') {
            if (line_no == 1 && comment && comment_cap) snprintf(comment, comment_cap, "%s", line + (line[1] == ' ' ? 2 : 1));
            continue;
        }
        char dir[16];
        eb_conv_algo_choice c;
        memset(&c, 0, sizeof c);
        eb_conv_geom *g = &c.g;
        int used = 0;
        int got = sscanf(line, "%15s %d %d %d %d %d %d %d %d %d %d %d %d %d %d%n", dir, &g->n, &g->c_in, &g->h_in,
                         &g->w_in, &g->c_out, &g->h_out, &g->w_out, &g->k_h, &g->k_w, &g->stride, &g->pad,
                         &c.precision, &c.algo, &c.math, &used);
        int d = -1;
        for (int k = 0; k < 3 && got >= 1; k++)
            if (!strcmp(dir, g_dir_names[k])) d = k;
        if (got != 15 || d < 0 || line[used] != '\0' || g->n <= 0 || g->c_in <= 0 || g->c_out <= 0 ||
            c.algo < 0 || c.math < 0)
            return EB_FAIL(EB_ERR_FORMAT, "cuDNN algorithm record, line %d: '%s' is not '<fwd|bwd_data|bwd_filter> "
                           "<11 geometry integers> <precision> <algo> <math>'", line_no, line);
        c.dir = (eb_conv_dir)d;
        if (*n >= cap)
            return EB_FAIL(EB_ERR_FORMAT, "cuDNN algorithm record: more than %d choices", cap);
        out[(*n)++] = c;
    }
    return EB_OK;
}

int eb_conv_algo_find(const eb_conv_algo_choice *list, int n, const eb_conv_geom *g, int precision, eb_conv_dir dir) {
    for (int i = 0; i < n; i++) {
        const eb_conv_geom *a = &list[i].g;
        if (list[i].precision == precision && list[i].dir == dir && a->n == g->n && a->c_in == g->c_in &&
            a->h_in == g->h_in && a->w_in == g->w_in && a->c_out == g->c_out && a->h_out == g->h_out &&
            a->w_out == g->w_out && a->k_h == g->k_h && a->k_w == g->k_w && a->stride == g->stride && a->pad == g->pad)
            return i;
    }
    return -1;
}
