/* safetensors writer and validating reader (checkpoints loadable by the Python `safetensors` package,
 * DESIGN.md §4). The header parser accepts exactly the JSON the format uses and nothing more. */
#define _XOPEN_SOURCE 700
#include "ebgan/regular_file.h"
#include "ebgan/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebgan/atomic_file.h"
#include "ebgan/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code copies host memory as is"
#endif

static const struct { const char *name; size_t size; } st_dtypes[EB_ST_DTYPE_COUNT] = {
    [EB_ST_F32] = {"F32", 4},  [EB_ST_F64] = {"F64", 8},   [EB_ST_I32] = {"I32", 4},
    [EB_ST_U8] = {"U8", 1},    [EB_ST_I64] = {"I64", 8},   [EB_ST_BOOL] = {"BOOL", 1},
    [EB_ST_I8] = {"I8", 1},    [EB_ST_I16] = {"I16", 2},   [EB_ST_U16] = {"U16", 2},
    [EB_ST_F16] = {"F16", 2},  [EB_ST_BF16] = {"BF16", 2}, [EB_ST_U32] = {"U32", 4},
    [EB_ST_U64] = {"U64", 8},  [EB_ST_F8_E4M3] = {"F8_E4M3", 1}, [EB_ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define ST_WRITABLE_DTYPES 5 /* F32, F64, I32, U8, I64: the first five enum values */

const char *eb_st_dtype_name(eb_st_dtype t) {
    return (unsigned)t < EB_ST_DTYPE_COUNT ? st_dtypes[t].name : "?";
}

size_t eb_st_dtype_size(eb_st_dtype t) { return (unsigned)t < EB_ST_DTYPE_COUNT ? st_dtypes[t].size : 0; }

eb_st_dtype eb_st_dtype_from_tensor(eb_dtype t) {
    switch (t) {
    case EB_F32: return EB_ST_F32;
    case EB_F64: return EB_ST_F64;
    case EB_BF16: return EB_ST_BF16;
    case EB_U8: return EB_ST_U8;
    case EB_I32: return EB_ST_I32;
    }
    return EB_ST_DTYPE_COUNT;
}

/* "[512, 2]" */
static const char *fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t pos = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && pos < cap; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
    return buf;
}

/* numel * elem_size in bytes; 0 on overflow of `ok`. */
static uint64_t shape_bytes(int ndim, const int64_t *shape, size_t elem, int *ok) {
    uint64_t n = elem;
    *ok = 1;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (shape[i] < 0 || (d != 0 && n > UINT64_MAX / d)) {
            *ok = 0;
            return 0;
        }
        n *= d;
    }
    return n;
}

/* ==== writer ==== */

typedef struct { char *p; size_t len, cap; int oom; } st_buf;

static void buf_put(st_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(st_buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_json_string(st_buf *b, const char *s) {
    size_t need = eb_json_escape(NULL, 0, s);
    char *tmp = malloc(need + 1);
    if (!tmp) {
        b->oom = 1;
        return;
    }
    eb_json_escape(tmp, need + 1, s);
    buf_put(b, "\"", 1);
    buf_put(b, tmp, need);
    buf_put(b, "\"", 1);
    free(tmp);
}

static int valid_utf8_str(const char *s) { size_t n = strlen(s); return eb_utf8_valid_len(s, n) == n; }

static eb_status st_check_entries(const char *path, const eb_st_entry *t, int n, const eb_st_meta *m, int nm) {
    for (int i = 0; i < n; i++) {
        const char *nm_i = t[i].name;
        if (!nm_i || !nm_i[0] || !strcmp(nm_i, "__metadata__") || !valid_utf8_str(nm_i))
            return EB_FAIL(EB_ERR_ARG, "write %s: tensor %d has an invalid name '%.100s'", path, i,
                           nm_i ? nm_i : "(null)");
        for (int j = 0; j < i; j++)
            if (!strcmp(t[j].name, nm_i))
                return EB_FAIL(EB_ERR_ARG, "write %s: tensor name '%.100s' given twice", path, nm_i);
        if ((unsigned)t[i].dtype >= ST_WRITABLE_DTYPES)
            return EB_FAIL(EB_ERR_ARG, "write %s: tensor %.100s: dtype %d not writable (F32/F64/I32/U8/I64)",
                           path, nm_i, (int)t[i].dtype);
        if (t[i].ndim < 0 || t[i].ndim > EB_ST_MAX_DIMS)
            return EB_FAIL(EB_ERR_ARG, "write %s: tensor %.100s: %d dimensions (at most %d)", path, nm_i,
                           t[i].ndim, EB_ST_MAX_DIMS);
        int ok;
        uint64_t bytes = shape_bytes(t[i].ndim, t[i].shape, eb_st_dtype_size(t[i].dtype), &ok);
        if (!ok) return EB_FAIL(EB_ERR_ARG, "write %s: tensor %.100s: negative or overflowing shape", path, nm_i);
        if (bytes > 0 && !t[i].data)
            return EB_FAIL(EB_ERR_ARG, "write %s: tensor %.100s: NULL data", path, nm_i);
    }
    for (int i = 0; i < nm; i++) {
        if (!m[i].key || !m[i].value || !valid_utf8_str(m[i].key) || !valid_utf8_str(m[i].value))
            return EB_FAIL(EB_ERR_ARG, "write %s: metadata entry %d is NULL or not UTF-8", path, i);
        for (int j = 0; j < i; j++)
            if (!strcmp(m[j].key, m[i].key))
                return EB_FAIL(EB_ERR_ARG, "write %s: metadata key '%.100s' given twice", path, m[i].key);
    }
    return EB_OK;
}

eb_status eb_safetensors_write(const char *path, const eb_st_entry *t, int n, const eb_st_meta *m, int nm) {
    if (n < 0 || nm < 0 || (n > 0 && !t) || (nm > 0 && !m))
        return EB_FAIL(EB_ERR_ARG, "write %s: bad tensor or metadata list", path);
    EB_TRY(st_check_entries(path, t, n, m, nm));

    /* Header JSON; "__metadata__" first, as the reference writer does. */
    st_buf b = {0};
    char num[64];
    buf_str(&b, "{");
    if (nm > 0) {
        buf_str(&b, "\"__metadata__\":{");
        for (int i = 0; i < nm; i++) {
            if (i) buf_str(&b, ",");
            buf_json_string(&b, m[i].key);
            buf_str(&b, ":");
            buf_json_string(&b, m[i].value);
        }
        buf_str(&b, "}");
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        if (i || nm > 0) buf_str(&b, ",");
        buf_json_string(&b, t[i].name);
        buf_str(&b, ":{\"dtype\":\"");
        buf_str(&b, eb_st_dtype_name(t[i].dtype));
        buf_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
            buf_str(&b, num);
        }
        int ok;
        uint64_t bytes = shape_bytes(t[i].ndim, t[i].shape, eb_st_dtype_size(t[i].dtype), &ok);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + bytes));
        buf_str(&b, num);
        offset += bytes;
    }
    buf_str(&b, "}");
    while (b.len % 8 != 0) buf_str(&b, " "); /* data buffer starts 8-byte aligned */
    if (b.oom) {
        free(b.p);
        return EB_FAIL(EB_ERR_OOM, "write %s: out of memory building the header", path);
    }

    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    eb_atomic_file af;
    eb_status st = eb_atomic_open(&af, path);
    if (st == EB_OK) st = eb_atomic_write(&af, len_le, 8);
    if (st == EB_OK) st = eb_atomic_write(&af, b.p, b.len);
    free(b.p);
    for (int i = 0; i < n && st == EB_OK; i++) {
        int ok;
        uint64_t bytes = shape_bytes(t[i].ndim, t[i].shape, eb_st_dtype_size(t[i].dtype), &ok);
        if (bytes > 0) st = eb_atomic_write(&af, t[i].data, (size_t)bytes);
    }
    if (st == EB_OK) st = eb_atomic_commit(&af);
    return st; /* on failure eb_atomic_* already removed the temp file */
}

/* ==== reader: the header parser ==== */

typedef struct {
    const char *s;     /* header text, N bytes (not NUL-terminated inside the file; we add one) */
    size_t n, pos;
    char *out;         /* decoded-string arena (N + 1 bytes suffice: a decoded string plus its NUL is
                          never longer than its quoted, escaped form) */
    size_t out_pos;
    const char *path;
} st_parser;

static eb_status perr(st_parser *p, const char *what) {
    return EB_FAIL(EB_ERR_FORMAT, "safetensors %s: header JSON: %s at byte %zu", p->path, what, p->pos);
}

static void skip_ws(st_parser *p) {
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

static int peek(st_parser *p) { return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1; }

static eb_status expect(st_parser *p, char c, const char *what) {
    skip_ws(p);
    if (peek(p) != c) return perr(p, what);
    p->pos++;
    return EB_OK;
}

static int hex4(const char *s, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        *v = *v * 16 + (unsigned)d;
    }
    return 1;
}

/* A JSON string, decoded into the arena; *out points at it (NUL-terminated). */
static eb_status parse_string(st_parser *p, const char **out) {
    skip_ws(p);
    if (peek(p) != '"') return perr(p, "expected a string");
    p->pos++;
    char *dst = p->out + p->out_pos;
    size_t k = 0;
    for (;;) {
        if (p->pos >= p->n) return perr(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) return perr(p, "control character in string");
        if (c != '\\') {
            dst[k++] = (char)c; /* UTF-8 validity was checked for the whole header */
            p->pos++;
            continue;
        }
        if (p->pos + 1 >= p->n) return perr(p, "unterminated escape");
        char e = p->s[p->pos + 1];
        p->pos += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple && e != 'u') {
            static const char repl[] = "\"\\/\b\f\n\r\t";
            dst[k++] = repl[simple - "\"\\/bfnrt"];
            continue;
        }
        if (e != 'u') return perr(p, "invalid escape in string");
        unsigned cp, lo;
        if (p->pos + 4 > p->n || !hex4(p->s + p->pos, &cp)) return perr(p, "bad \\u escape");
        p->pos += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return perr(p, "lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->pos + 6 > p->n || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                !hex4(p->s + p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return perr(p, "unpaired high surrogate in \\u escape");
            p->pos += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0) return perr(p, "\\u0000 in string");
        if (cp < 0x80) dst[k++] = (char)cp;
        else if (cp < 0x800) {
            dst[k++] = (char)(0xC0 | (cp >> 6));
            dst[k++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            dst[k++] = (char)(0xE0 | (cp >> 12));
            dst[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[k++] = (char)(0x80 | (cp & 0x3F));
        } else {
            dst[k++] = (char)(0xF0 | (cp >> 18));
            dst[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            dst[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    dst[k] = '\0';
    p->out_pos += k + 1;
    *out = dst;
    return EB_OK;
}

/* [int, ...] of non-negative integers < 2^63; at most `max` of them. */
static eb_status parse_int_array(st_parser *p, int64_t *vals, int max, int *count, const char *field) {
    char msg[96];
    EB_TRY(expect(p, '[', "expected '[' (an integer array)"));
    *count = 0;
    skip_ws(p);
    if (peek(p) == ']') { p->pos++; return EB_OK; }
    for (;;) {
        skip_ws(p);
        int c = peek(p);
        if (c < '0' || c > '9') {
            snprintf(msg, sizeof msg, "%s: expected a non-negative integer", field);
            return perr(p, msg);
        }
        if (c == '0' && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
            return perr(p, "integer with a leading zero");
        uint64_t v = 0;
        while ((c = peek(p)) >= '0' && c <= '9') {
            if (v > (UINT64_C(0x7FFFFFFFFFFFFFFF) - (uint64_t)(c - '0')) / 10) {
                snprintf(msg, sizeof msg, "%s: integer too large", field);
                return perr(p, msg);
            }
            v = v * 10 + (uint64_t)(c - '0');
            p->pos++;
        }
        if (c == '.' || c == 'e' || c == 'E') {
            snprintf(msg, sizeof msg, "%s: expected an integer, found a fraction or exponent", field);
            return perr(p, msg);
        }
        if (*count >= max) {
            snprintf(msg, sizeof msg, "%s: more than %d entries", field, max);
            return perr(p, msg);
        }
        vals[(*count)++] = (int64_t)v;
        skip_ws(p);
        c = peek(p);
        p->pos++;
        if (c == ']') return EB_OK;
        if (c != ',') { p->pos--; return perr(p, "expected ',' or ']' in integer array"); }
    }
}

/* {"dtype": "F32", "shape": [..], "data_offsets": [b, e]} */
static eb_status parse_tensor(st_parser *p, eb_st_info *t) {
    int have_dtype = 0, have_shape = 0, have_off = 0;
    char msg[160];
    EB_TRY(expect(p, '{', "expected '{' (a tensor entry)"));
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            const char *key;
            EB_TRY(parse_string(p, &key));
            EB_TRY(expect(p, ':', "expected ':'"));
            if (!strcmp(key, "dtype") && !have_dtype) {
                const char *dt;
                EB_TRY(parse_string(p, &dt));
                int found = -1;
                for (int i = 0; i < EB_ST_DTYPE_COUNT; i++)
                    if (!strcmp(dt, st_dtypes[i].name)) found = i;
                if (found < 0) {
                    snprintf(msg, sizeof msg, "tensor '%.40s': unknown dtype '%.20s'", t->name, dt);
                    return perr(p, msg);
                }
                t->dtype = (eb_st_dtype)found;
                have_dtype = 1;
            } else if (!strcmp(key, "shape") && !have_shape) {
                snprintf(msg, sizeof msg, "tensor '%.40s' shape", t->name);
                EB_TRY(parse_int_array(p, t->shape, EB_ST_MAX_DIMS, &t->ndim, msg));
                have_shape = 1;
            } else if (!strcmp(key, "data_offsets") && !have_off) {
                int64_t off[2];
                int cnt;
                snprintf(msg, sizeof msg, "tensor '%.40s' data_offsets", t->name);
                EB_TRY(parse_int_array(p, off, 2, &cnt, msg));
                if (cnt != 2) {
                    snprintf(msg, sizeof msg, "tensor '%.40s': data_offsets needs 2 entries", t->name);
                    return perr(p, msg);
                }
                t->begin = (uint64_t)off[0];
                t->end = (uint64_t)off[1];
                have_off = 1;
            } else {
                snprintf(msg, sizeof msg, "tensor '%.40s': unexpected or repeated field '%.30s'", t->name, key);
                return perr(p, msg);
            }
            skip_ws(p);
            int c = peek(p);
            p->pos++;
            if (c == '}') break;
            if (c != ',') { p->pos--; return perr(p, "expected ',' or '}' in tensor entry"); }
        }
    }
    if (!have_dtype || !have_shape || !have_off) {
        snprintf(msg, sizeof msg, "tensor '%.40s': missing %s", t->name,
                 !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
        return perr(p, msg);
    }
    return EB_OK;
}

static eb_status parse_metadata(st_parser *p, eb_safetensors *st) {
    EB_TRY(expect(p, '{', "__metadata__: expected '{' (string to string map)"));
    skip_ws(p);
    if (peek(p) == '}') { p->pos++; return EB_OK; }
    for (;;) {
        const char *k, *v;
        EB_TRY(parse_string(p, &k));
        EB_TRY(expect(p, ':', "expected ':'"));
        skip_ws(p);
        if (peek(p) != '"') return perr(p, "__metadata__ values must be strings");
        EB_TRY(parse_string(p, &v));
        const char **nk = realloc(st->meta_keys, sizeof *nk * (size_t)(st->n_meta + 1));
        if (nk) st->meta_keys = nk;
        const char **nv = nk ? realloc(st->meta_values, sizeof *nv * (size_t)(st->n_meta + 1)) : NULL;
        if (nv) st->meta_values = nv;
        if (!nk || !nv) return EB_FAIL(EB_ERR_OOM, "safetensors %s: out of memory", p->path);
        st->meta_keys[st->n_meta] = k;
        st->meta_values[st->n_meta] = v;
        st->n_meta++;
        skip_ws(p);
        int c = peek(p);
        p->pos++;
        if (c == '}') return EB_OK;
        if (c != ',') { p->pos--; return perr(p, "expected ',' or '}' in __metadata__"); }
    }
}

static eb_status parse_header(st_parser *p, eb_safetensors *st) {
    int have_meta = 0, cap = 0;
    EB_TRY(expect(p, '{', "expected '{' at the start"));
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            const char *name;
            EB_TRY(parse_string(p, &name));
            EB_TRY(expect(p, ':', "expected ':'"));
            if (!strcmp(name, "__metadata__")) {
                if (have_meta) return perr(p, "__metadata__ given twice");
                have_meta = 1;
                EB_TRY(parse_metadata(p, st));
            } else {
                if (st->n_tensors == cap) {
                    cap = cap ? 2 * cap : 16;
                    eb_st_info *nt = realloc(st->tensors, sizeof *nt * (size_t)cap);
                    if (!nt) return EB_FAIL(EB_ERR_OOM, "safetensors %s: out of memory", p->path);
                    st->tensors = nt;
                }
                eb_st_info *t = &st->tensors[st->n_tensors++];
                memset(t, 0, sizeof *t);
                t->name = name;
                EB_TRY(parse_tensor(p, t));
            }
            skip_ws(p);
            int c = peek(p);
            p->pos++;
            if (c == '}') break;
            if (c != ',') { p->pos--; return perr(p, "expected ',' or '}' after an entry"); }
        }
    }
    skip_ws(p); /* the padding */
    if (p->pos != p->n) return perr(p, "trailing characters after the header object");
    return EB_OK;
}

/* ==== reader: validation and access ==== */

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const eb_st_info *const *)a)->name, (*(const eb_st_info *const *)b)->name);
}

static int cmp_offsets(const void *a, const void *b) {
    const eb_st_info *x = *(const eb_st_info *const *)a, *y = *(const eb_st_info *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Shapes against offsets, bounds, contiguity, unique names (the reference reader's rules: sorted by
 * offset, each tensor starts where the previous ended, the first at 0, the last at the end of file). */
static eb_status st_validate_tensors(eb_safetensors *st) {
    const char *path = st->path;
    char sh[128];
    for (int i = 0; i < st->n_tensors; i++) {
        const eb_st_info *t = &st->tensors[i];
        int ok;
        uint64_t bytes = shape_bytes(t->ndim, t->shape, eb_st_dtype_size(t->dtype), &ok);
        if (!ok)
            return EB_FAIL(EB_ERR_FORMAT, "safetensors %s: tensor %.100s: shape %s overflows", path, t->name,
                           fmt_shape(sh, sizeof sh, t->ndim, t->shape));
        if (t->end > st->data_bytes)
            return EB_FAIL(EB_ERR_FORMAT, "safetensors %s: tensor %.100s: data_offsets [%llu, %llu] out of "
                           "bounds (data buffer is %llu bytes)", path, t->name, (unsigned long long)t->begin,
                           (unsigned long long)t->end, (unsigned long long)st->data_bytes);
        if (t->end < t->begin || t->end - t->begin != bytes)
            return EB_FAIL(EB_ERR_FORMAT,
                           "safetensors %s: tensor %.100s: data_offsets [%llu, %llu] do not match %s x %s "
                           "(%llu bytes)", path, t->name, (unsigned long long)t->begin,
                           (unsigned long long)t->end, eb_st_dtype_name(t->dtype),
                           fmt_shape(sh, sizeof sh, t->ndim, t->shape), (unsigned long long)bytes);
    }
    if (st->n_tensors <= 0) {
        if (st->data_bytes != 0)
            return EB_FAIL(EB_ERR_FORMAT, "safetensors %s: no tensors but %llu data bytes", path,
                           (unsigned long long)st->data_bytes);
        return EB_OK;
    }
    const eb_st_info **idx = malloc(sizeof *idx * (size_t)st->n_tensors);
    if (!idx) return EB_FAIL(EB_ERR_OOM, "safetensors %s: out of memory", path);
    for (int i = 0; i < st->n_tensors; i++) idx[i] = &st->tensors[i];
    eb_status rc = EB_OK;
    qsort(idx, (size_t)st->n_tensors, sizeof *idx, cmp_name);
    for (int i = 1; i < st->n_tensors && rc == EB_OK; i++)
        if (!strcmp(idx[i - 1]->name, idx[i]->name))
            rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: tensor name '%.100s' appears twice", path, idx[i]->name);
    qsort(idx, (size_t)st->n_tensors, sizeof *idx, cmp_offsets);
    uint64_t expect_begin = 0;
    for (int i = 0; i < st->n_tensors && rc == EB_OK; i++) {
        if (idx[i]->begin != expect_begin)
            rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: tensor %.100s: data_offsets begin %llu, expected %llu "
                         "(tensors must be contiguous and non-overlapping)", path, idx[i]->name,
                         (unsigned long long)idx[i]->begin, (unsigned long long)expect_begin);
        expect_begin = idx[i]->end;
    }
    if (rc == EB_OK && expect_begin != st->data_bytes)
        rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: tensors cover %llu data bytes, file holds %llu "
                     "(trailing bytes)", path, (unsigned long long)expect_begin,
                     (unsigned long long)st->data_bytes);
    free(idx);
    return rc;
}

static eb_status st_validate_meta(eb_safetensors *st) {
    if (st->n_meta < 2) return EB_OK;
    const char **k = malloc(sizeof *k * (size_t)st->n_meta);
    if (!k) return EB_FAIL(EB_ERR_OOM, "safetensors %s: out of memory", st->path);
    memcpy(k, st->meta_keys, sizeof *k * (size_t)st->n_meta);
    qsort(k, (size_t)st->n_meta, sizeof *k, cmp_cstr);
    eb_status rc = EB_OK;
    for (int i = 1; i < st->n_meta && rc == EB_OK; i++)
        if (!strcmp(k[i - 1], k[i]))
            rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: metadata key '%.100s' appears twice", st->path, k[i]);
    free(k);
    return rc;
}

static eb_status st_pread(int fd, void *dst, size_t n, uint64_t off, const char *path) {
    unsigned char *p = dst;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return EB_FAIL(EB_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        if (r == 0) return EB_FAIL(EB_ERR_FORMAT, "safetensors %s: unexpected end of file at byte %llu", path,
                                   (unsigned long long)off);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return EB_OK;
}

eb_status eb_safetensors_open(eb_safetensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    st->fd = -1;
    if (strlen(path) >= sizeof st->path)
        return EB_FAIL(EB_ERR_ARG, "safetensors path longer than %zu bytes", sizeof st->path - 1);
    strcpy(st->path, path);
    EB_TRY(eb_check_regular_file(path, "safetensors", NULL)); /* before open: a FIFO blocks the open itself */
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->fd < 0) return EB_FAIL(EB_ERR_IO, "cannot open %s: %s", path, strerror(errno));

    eb_status rc = EB_OK;
    char *header = NULL;
    struct stat sb;
    unsigned char len_le[8];
    uint64_t n = 0, size = 0;
    if (fstat(st->fd, &sb) != 0) {
        rc = EB_FAIL(EB_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
        goto done;
    }
    size = (uint64_t)sb.st_size;
    if (size < 8) {
        rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: file is %llu bytes, too short for the 8-byte header length",
                     path, (unsigned long long)size);
        goto done;
    }
    if ((rc = st_pread(st->fd, len_le, 8, 0, path)) != EB_OK) goto done;
    for (int i = 0; i < 8; i++) n |= (uint64_t)len_le[i] << (8 * i);
    if (n > EB_ST_MAX_HEADER || n < 2) {
        rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: header length %llu not in [2, %u]", path,
                     (unsigned long long)n, EB_ST_MAX_HEADER);
        goto done;
    }
    if (n > size - 8) {
        rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: header length %llu exceeds the file size %llu (truncated?)",
                     path, (unsigned long long)n, (unsigned long long)size);
        goto done;
    }
    header = malloc((size_t)n + 1);
    st->strings = malloc((size_t)n + 1);
    if (!header || !st->strings) {
        rc = EB_FAIL(EB_ERR_OOM, "safetensors %s: out of memory for a %llu-byte header", path,
                     (unsigned long long)n);
        goto done;
    }
    if ((rc = st_pread(st->fd, header, (size_t)n, 8, path)) != EB_OK) goto done;
    header[n] = '\0';
    size_t valid = eb_utf8_valid_len(header, (size_t)n);
    if (valid != n) {
        rc = EB_FAIL(EB_ERR_FORMAT, "safetensors %s: header is not valid UTF-8 (byte %zu)", path, valid);
        goto done;
    }
    st->data_start = 8 + n;
    st->data_bytes = size - 8 - n;
    st_parser p = {header, (size_t)n, 0, st->strings, 0, path};
    if ((rc = parse_header(&p, st)) != EB_OK) goto done;
    if ((rc = st_validate_tensors(st)) != EB_OK) goto done;
    rc = st_validate_meta(st);
done:
    free(header);
    if (rc != EB_OK) {
        /* keep the message recorded above: close only frees */
        eb_safetensors_close(st);
    }
    return rc;
}

void eb_safetensors_close(eb_safetensors *st) {
    if (st->fd >= 0) close(st->fd);
    st->fd = -1;
    free(st->strings);
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    st->strings = NULL;
    st->tensors = NULL;
    st->meta_keys = st->meta_values = NULL;
    st->n_tensors = st->n_meta = 0;
}

int eb_safetensors_count(const eb_safetensors *st) { return st->n_tensors; }

const eb_st_info *eb_safetensors_at(const eb_safetensors *st, int i) {
    return i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const eb_st_info *eb_safetensors_find(const eb_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

eb_status eb_safetensors_read(const eb_safetensors *st, const eb_st_info *info, void *dst, size_t dst_bytes) {
    uint64_t bytes = info->end - info->begin;
    if (dst_bytes < bytes)
        return EB_FAIL(EB_ERR_ARG, "checkpoint %s: tensor %.100s needs %llu bytes, buffer holds %zu", st->path,
                       info->name, (unsigned long long)bytes, dst_bytes);
    if (st->fd < 0) return EB_FAIL(EB_ERR_ARG, "checkpoint %s: file not open", st->path);
    return st_pread(st->fd, dst, (size_t)bytes, st->data_start + info->begin, st->path);
}

eb_status eb_safetensors_get(const eb_safetensors *st, const char *name, eb_st_dtype dtype, int ndim,
                             const int64_t *shape, void *dst, size_t dst_bytes) {
    const eb_st_info *t = eb_safetensors_find(st, name);
    if (!t) return EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: no tensor named %.100s", st->path, name);
    if (t->dtype != dtype)
        return EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: tensor %.100s has dtype %s, model expects %s", st->path,
                       name, eb_st_dtype_name(t->dtype), eb_st_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        return EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: tensor %.100s has shape %s, model expects %s", st->path,
                       name, fmt_shape(a, sizeof a, t->ndim, t->shape),
                       fmt_shape(b, sizeof b, ndim < 0 ? 0 : ndim > EB_ST_MAX_DIMS ? EB_ST_MAX_DIMS : ndim,
                                 shape));
    }
    return eb_safetensors_read(st, t, dst, dst_bytes);
}

const char *eb_safetensors_meta(const eb_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

int eb_safetensors_meta_count(const eb_safetensors *st) { return st->n_meta; }

void eb_safetensors_meta_at(const eb_safetensors *st, int i, const char **key, const char **value) {
    int ok = i >= 0 && i < st->n_meta;
    *key = ok ? st->meta_keys[i] : NULL;
    *value = ok ? st->meta_values[i] : NULL;
}
