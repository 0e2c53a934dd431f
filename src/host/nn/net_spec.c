/* Spec strings -> layer lists: parses the grammar of include/ebgan/net.h and infers every layer's shape.
 * Every error names the layer index, its token and the problem; a shape that does not fit names both shapes. */
#include "net_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EB_SPEC_MAX_FIELDS 8
#define EB_SPEC_TOKEN_SHOWN 48 /* chars of a token quoted in a message */

/* One layer token split at ':' (fields[0] is the keyword). */
typedef struct spec_token {
    int index;                 /* layer index in the spec */
    char text[EB_SPEC_TOKEN_SHOWN + 4];
    int n_fields;
    char *fields[EB_SPEC_MAX_FIELDS];
} spec_token;

const char *eb_layer_kind_name(const eb_layer *L) {
    switch (L->kind) {
    case EB_LAYER_LINEAR: return "linear";
    case EB_LAYER_CONV2D: return "conv";
    case EB_LAYER_CONVT2D: return "convt";
    case EB_LAYER_BATCHNORM: return "bn";
    case EB_LAYER_RESHAPE: return "reshape";
    case EB_LAYER_ACT:
        switch (L->act) {
        case EB_ACT_IDENTITY: return "identity";
        case EB_ACT_RELU: return "relu";
        case EB_ACT_LEAKY_RELU: return "lrelu";
        case EB_ACT_TANH: return "tanh";
        case EB_ACT_SOFTPLUS: return "softplus";
        case EB_ACT_SIGMOID: return "sigmoid";
        }
    }
    return "?";
}

int eb_layer_is_smooth_act(const eb_layer *L) {
    return L->kind == EB_LAYER_ACT &&
           (L->act == EB_ACT_TANH || L->act == EB_ACT_SOFTPLUS || L->act == EB_ACT_SIGMOID);
}

void eb_layer_conv_geom(const eb_layer *L, int n, eb_conv_geom *g) {
    /* conv: in -> out. convt: the adjoint conv2d maps the convt's output to its input. */
    eb_shape a = L->kind == EB_LAYER_CONVT2D ? L->out : L->in;
    eb_shape b = L->kind == EB_LAYER_CONVT2D ? L->in : L->out;
    g->n = n;
    g->c_in = a.c; g->h_in = a.h; g->w_in = a.w;
    g->c_out = b.c; g->h_out = b.h; g->w_out = b.w;
    g->k_h = g->k_w = L->k;
    g->stride = L->stride;
    g->pad = L->pad;
}

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* Integer field `i` of the token, named `what` (OUT, K, ...), at least `min`. */
static eb_status field_int(const char *net, const spec_token *t, int i, const char *usage, const char *what,
                           int min, int *out) {
    if (i >= t->n_fields || t->fields[i][0] == '\0')
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': missing number %s (expected %s)", net, t->index, t->text,
                       what, usage);
    char *end = NULL;
    errno = 0;
    long v = strtol(t->fields[i], &end, 10);
    if (*end != '\0' || end == t->fields[i])
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': %s = '%s' is not an integer (expected %s)", net, t->index,
                       t->text, what, t->fields[i], usage);
    if (errno == ERANGE || v > INT_MAX / 4 || v < INT_MIN / 4)
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': %s = %s is out of range", net, t->index, t->text, what,
                       t->fields[i]);
    if (v < min)
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': %s = %ld must be >= %d%s", net, t->index, t->text, what, v,
                       min, v < 0 ? " (negative size)" : "");
    *out = (int)v;
    return EB_OK;
}

/* Field `i` must be absent or "nobias"; fields after it are errors. */
static eb_status field_bias(const char *net, const spec_token *t, int i, const char *usage, int *has_bias) {
    *has_bias = 1;
    if (t->n_fields > i) {
        if (strcmp(t->fields[i], "nobias") != 0)
            return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': unexpected field '%s' (expected %s)", net, t->index,
                           t->text, t->fields[i], usage);
        *has_bias = 0;
    }
    if (t->n_fields > i + 1)
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': too many fields (expected %s)", net, t->index, t->text, usage);
    return EB_OK;
}

static eb_status no_more_fields(const char *net, const spec_token *t, int n, const char *usage) {
    if (t->n_fields > n)
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': unexpected field '%s' (expected %s)", net, t->index, t->text,
                       t->fields[n], usage);
    return EB_OK;
}

/* Element counts are passed to ops as int: keep every per-sample size and batch product sane. */
static eb_status check_numel(const char *net, const spec_token *t, eb_shape s) {
    if (eb_shape_numel(s) > (int64_t)INT_MAX / 64)
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': output [%d,%d,%d] is too large", net, t->index, t->text, s.c,
                       s.h, s.w);
    return EB_OK;
}

/* Parses one token into L given its input shape L->in; sets L->out. */
static eb_status parse_layer(const char *net, const spec_token *t, eb_layer *L) {
    const char *kw = t->fields[0];
    eb_shape in = L->in;
    L->has_bias = 0;
    L->act = EB_ACT_IDENTITY;
    L->slope = 0;
    if (strcmp(kw, "linear") == 0) {
        static const char usage[] = "linear:OUT[:nobias]";
        int out;
        L->kind = EB_LAYER_LINEAR;
        EB_TRY(field_int(net, t, 1, usage, "OUT", 1, &out));
        EB_TRY(field_bias(net, t, 2, usage, &L->has_bias));
        L->out = (eb_shape){out, 1, 1};
    } else if (strcmp(kw, "conv") == 0 || strcmp(kw, "convt") == 0) {
        int is_t = kw[4] == 't';
        const char *usage = is_t ? "convt:OUT:K:S:P:OP[:nobias]" : "conv:OUT:K:S:P[:nobias]";
        int out;
        L->kind = is_t ? EB_LAYER_CONVT2D : EB_LAYER_CONV2D;
        EB_TRY(field_int(net, t, 1, usage, "OUT", 1, &out));
        EB_TRY(field_int(net, t, 2, usage, "K", 1, &L->k));
        EB_TRY(field_int(net, t, 3, usage, "S", 1, &L->stride));
        EB_TRY(field_int(net, t, 4, usage, "P", 0, &L->pad));
        if (is_t) {
            EB_TRY(field_int(net, t, 5, usage, "OP", 0, &L->out_pad));
            EB_TRY(field_bias(net, t, 6, usage, &L->has_bias));
        } else {
            EB_TRY(field_bias(net, t, 5, usage, &L->has_bias));
        }
        if (!is_t) {
            if (in.h + 2 * L->pad < L->k || in.w + 2 * L->pad < L->k)
                return EB_FAIL(EB_ERR_ARG, "%s layer %d (conv) '%s': input [%d,%d,%d] (%dx%d with padding %d) too small "
                               "for kernel %dx%d", net, t->index, t->text, in.c, in.h, in.w, in.h + 2 * L->pad,
                               in.w + 2 * L->pad, L->pad, L->k, L->k);
            L->out = (eb_shape){out, (in.h + 2 * L->pad - L->k) / L->stride + 1,
                                (in.w + 2 * L->pad - L->k) / L->stride + 1};
        } else {
            /* PyTorch ConvTranspose2d: out = (in - 1) * s - 2p + k + op, and op < s (else the adjoint conv2d
             * of the output would not map back onto the input size). */
            if (L->out_pad >= L->stride)
                return EB_FAIL(EB_ERR_ARG, "%s layer %d (convt) '%s': output padding %d must be smaller than stride %d",
                               net, t->index, t->text, L->out_pad, L->stride);
            int oh = (in.h - 1) * L->stride - 2 * L->pad + L->k + L->out_pad;
            int ow = (in.w - 1) * L->stride - 2 * L->pad + L->k + L->out_pad;
            if (oh < 1 || ow < 1)
                return EB_FAIL(EB_ERR_ARG, "%s layer %d (convt) '%s': input [%d,%d,%d] gives an empty output "
                               "(%dx%d) with kernel %d, stride %d, padding %d", net, t->index, t->text, in.c, in.h,
                               in.w, oh, ow, L->k, L->stride, L->pad);
            L->out = (eb_shape){out, oh, ow};
        }
    } else if (strcmp(kw, "relu") == 0 || strcmp(kw, "tanh") == 0 || strcmp(kw, "softplus") == 0 ||
               strcmp(kw, "sigmoid") == 0) {
        L->kind = EB_LAYER_ACT;
        L->act = kw[0] == 'r' ? EB_ACT_RELU : kw[0] == 't' ? EB_ACT_TANH : kw[1] == 'o' ? EB_ACT_SOFTPLUS : EB_ACT_SIGMOID;
        EB_TRY(no_more_fields(net, t, 1, kw));
        L->out = in;
    } else if (strcmp(kw, "lrelu") == 0) {
        L->kind = EB_LAYER_ACT;
        L->act = EB_ACT_LEAKY_RELU;
        if (t->n_fields < 2 || t->fields[1][0] == '\0')
            return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': missing number SLOPE (expected lrelu:SLOPE)", net, t->index,
                           t->text);
        char *end = NULL;
        double s = strtod(t->fields[1], &end);
        if (*end != '\0' || end == t->fields[1] || !(s >= 0 && s < 1e6))
            return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': SLOPE = '%s' is not a non-negative number", net, t->index,
                           t->text, t->fields[1]);
        EB_TRY(no_more_fields(net, t, 2, "lrelu:SLOPE"));
        L->slope = (eb_real)s;
        L->out = in;
    } else if (strcmp(kw, "bn") == 0) {
        L->kind = EB_LAYER_BATCHNORM;
        EB_TRY(no_more_fields(net, t, 1, "bn"));
        L->bn_eps = (eb_real)1e-5;      /* PyTorch BatchNorm defaults */
        L->bn_momentum = (eb_real)0.1;
        L->has_bias = 1;                /* beta */
        L->out = in;
    } else if (strcmp(kw, "reshape") == 0) {
        static const char usage[] = "reshape:C:H:W";
        eb_shape s;
        L->kind = EB_LAYER_RESHAPE;
        EB_TRY(field_int(net, t, 1, usage, "C", 1, &s.c));
        EB_TRY(field_int(net, t, 2, usage, "H", 1, &s.h));
        EB_TRY(field_int(net, t, 3, usage, "W", 1, &s.w));
        EB_TRY(no_more_fields(net, t, 4, usage));
        if (eb_shape_numel(s) != eb_shape_numel(in))
            return EB_FAIL(EB_ERR_ARG, "%s layer %d (reshape) '%s': input [%d,%d,%d] has %lld elements, target "
                           "[%d,%d,%d] has %lld", net, t->index, t->text, in.c, in.h, in.w,
                           (long long)eb_shape_numel(in), s.c, s.h, s.w, (long long)eb_shape_numel(s));
        L->out = s;
    } else {
        return EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': unknown layer kind '%s' (expected linear, conv, convt, relu, "
                       "lrelu, tanh, softplus, sigmoid, bn or reshape)", net, t->index, t->text, kw);
    }
    return check_numel(net, t, L->out);
}

eb_status eb_net_spec_parse(const char *net_name, eb_shape in, const char *spec, eb_layer **layers,
                            int *n_layers, eb_shape *out) {
    *layers = NULL;
    *n_layers = 0;
    *out = in;
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return EB_FAIL(EB_ERR_ARG, "%s: input shape [%d,%d,%d] must be positive", net_name, in.c, in.h, in.w);
    if (!spec) spec = "";
    char *buf = malloc(strlen(spec) + 1);
    if (!buf) return EB_FAIL(EB_ERR_OOM, "%s: cannot copy its spec", net_name);
    strcpy(buf, spec);

    /* An all-blank spec is the empty net (identity), e.g. a toy statistics network's trunk. */
    char *body = trim(buf);
    int count = 0;
    if (*body) {
        count = 1;
        for (const char *p = body; *p; p++) count += *p == ',';
    }
    eb_layer *ls = count ? calloc((size_t)count, sizeof *ls) : NULL;
    if (count && !ls) {
        free(buf);
        return EB_FAIL(EB_ERR_OOM, "%s: cannot allocate %d layers", net_name, count);
    }
    eb_status st = EB_OK;
    eb_shape cur = in;
    char *p = body;
    for (int i = 0; i < count && st == EB_OK; i++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        spec_token t = {.index = i};
        char *tok = trim(p);
        snprintf(t.text, sizeof t.text, "%.*s%s", EB_SPEC_TOKEN_SHOWN, tok,
                 strlen(tok) > EB_SPEC_TOKEN_SHOWN ? "..." : "");
        if (*tok == '\0') {
            st = EB_FAIL(EB_ERR_ARG, "%s layer %d: empty layer (two commas in a row, or a trailing comma?)",
                         net_name, i);
            break;
        }
        /* split at ':' */
        char *f = tok;
        while (f && t.n_fields < EB_SPEC_MAX_FIELDS) {
            char *colon = strchr(f, ':');
            if (colon) *colon = '\0';
            t.fields[t.n_fields++] = trim(f);
            f = colon ? colon + 1 : NULL;
        }
        if (f) {
            st = EB_FAIL(EB_ERR_ARG, "%s layer %d '%s': too many ':' fields", net_name, i, t.text);
            break;
        }
        ls[i].in = cur;
        st = parse_layer(net_name, &t, &ls[i]);
        cur = ls[i].out;
        p = comma ? comma + 1 : p + strlen(p);
    }
    free(buf);
    if (st != EB_OK) {
        free(ls);
        return st;
    }
    *layers = ls;
    *n_layers = count;
    *out = cur;
    return EB_OK;
}
