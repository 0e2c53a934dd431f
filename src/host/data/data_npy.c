/* NumPy .npy files: a strict reader (little-endian float32 / int32 / uint8, C order, rank 1..4) and an
 * atomic writer (temp file in the same directory, fsync, rename), and the .npy dataset loader. */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/regular_file.h"
#include "ebgan/data.h"
#include "host/data/data_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1u << 20) /* numpy itself refuses headers above 10 kB without allow_pickle tweaks */

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* .npy data is little-endian; swap in place on a big-endian host. */
static void to_host_order(void *data, size_t n, size_t elem) {
    if (elem == 1 || host_is_little_endian()) return;
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += elem)
        for (size_t a = 0, b = elem - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---- header parsing: a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), } ---- */

typedef struct npy_cursor { const char *p, *end; } npy_cursor;

static void skip_ws(npy_cursor *c) {
    while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static int take(npy_cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string into buf (no escapes: numpy's keys and descr never have any). */
static int take_string(npy_cursor *c, char *buf, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t k = 0;
    while (c->p < c->end && *c->p != q) {
        if (k + 1 < cap) buf[k++] = *c->p;
        c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    buf[k] = '\0';
    return 1;
}

static int take_word(npy_cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

typedef struct npy_header {
    char descr[32];
    int fortran;
    int ndim;
    int64_t shape[8];
    int have_descr, have_fortran, have_shape;
} npy_header;

/* Returns NULL on success, else what is wrong (static text). */
static const char *parse_header(const char *text, size_t len, npy_header *h) {
    npy_cursor c = {text, text + len};
    memset(h, 0, sizeof *h);
    if (!take(&c, '{')) return "header is not a dict";
    for (;;) {
        if (take(&c, '}')) break;
        char key[32];
        if (!take_string(&c, key, sizeof key)) return "header dict has a malformed key";
        if (!take(&c, ':')) return "header dict has no ':' after a key";
        if ((!strcmp(key, "descr") && h->have_descr) || (!strcmp(key, "fortran_order") && h->have_fortran) ||
            (!strcmp(key, "shape") && h->have_shape))
            return "header dict repeats a key"; /* numpy refuses it too */
        if (strcmp(key, "descr") == 0) {
            if (!take_string(&c, h->descr, sizeof h->descr)) return "header 'descr' is not a simple dtype string (structured dtype?)";
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (take_word(&c, "True")) h->fortran = 1;
            else if (take_word(&c, "False")) h->fortran = 0;
            else return "header 'fortran_order' is neither True nor False";
            h->have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!take(&c, '(')) return "header 'shape' is not a tuple";
            h->ndim = 0;
            for (;;) {
                if (take(&c, ')')) break;
                skip_ws(&c);
                if (c.p >= c.end || !isdigit((unsigned char)*c.p)) return "header 'shape' holds a non-integer";
                int64_t v = 0;
                while (c.p < c.end && isdigit((unsigned char)*c.p)) {
                    if (v > ((int64_t)1 << 50)) return "header 'shape' has an implausible dimension";
                    v = v * 10 + (*c.p++ - '0');
                }
                while (c.p < c.end && (*c.p == 'L')) c.p++; /* Python 2 longs */
                if (h->ndim >= 8) return "header 'shape' has more than 8 dimensions";
                h->shape[h->ndim++] = v;
                if (!take(&c, ',')) {
                    if (!take(&c, ')')) return "header 'shape' tuple is malformed";
                    break;
                }
            }
            h->have_shape = 1;
        } else {
            return "header dict has an unknown key";
        }
        if (!take(&c, ',')) {
            if (!take(&c, '}')) return "header dict is malformed";
            break;
        }
    }
    skip_ws(&c); /* numpy pads with spaces and ends with '\n'; anything else after the dict is junk */
    if (c.p != c.end) return "header has text after the dict";
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return "header dict lacks one of 'descr', 'fortran_order', 'shape'";
    return NULL;
}

static const char *npy_descr(eb_dtype t) {
    switch (t) {
    case EB_F32: return "<f4";
    case EB_I32: return "<i4";
    case EB_U8: return "|u1";
    default: return NULL;
    }
}

void eb_npy_free(eb_npy *arr) {
    if (!arr) return;
    free(arr->data);
    memset(arr, 0, sizeof *arr);
}

eb_status eb_npy_read(eb_npy *arr, const char *path) {
    memset(arr, 0, sizeof *arr);
    EB_TRY(eb_check_regular_file(path, "npy", NULL)); /* before fopen: a FIFO blocks the open itself */
    FILE *f = fopen(path, "rb");
    if (!f) return EB_FAIL(EB_ERR_IO, "%s: cannot open for reading (%s)", path, strerror(errno));
    eb_status st = EB_OK;
    char *hdr = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = EB_FAIL(EB_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    unsigned char pre[12];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: bad magic: not a .npy file (expected \\x93NUMPY)", path);
        goto done;
    }
    int major = pre[6];
    size_t len_bytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
    if (!len_bytes) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: unsupported .npy format version %d.%d", path, major, pre[7]);
        goto done;
    }
    if (fread(pre + 8, 1, len_bytes, f) != len_bytes) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated in the header", path);
        goto done;
    }
    uint32_t hlen = pre[8] | (uint32_t)pre[9] << 8;
    if (len_bytes == 4) hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    uint64_t prefix = 8 + len_bytes;
    if (hlen > NPY_MAX_HEADER || prefix + hlen > fsize) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated: header length %u exceeds the file (%llu bytes)", path, hlen,
                     (unsigned long long)fsize);
        goto done;
    }
    hdr = malloc(hlen + 1u);
    if (!hdr) {
        st = EB_FAIL(EB_ERR_OOM, "%s: out of memory reading the header", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        st = EB_FAIL(EB_ERR_IO, "%s: read error in the header", path);
        goto done;
    }
    hdr[hlen] = '\0';
    npy_header h;
    const char *why = parse_header(hdr, hlen, &h);
    if (why) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: %s", path, why);
        goto done;
    }
    if (strcmp(h.descr, "<f4") == 0) arr->dtype = EB_F32;
    else if (strcmp(h.descr, "<i4") == 0) arr->dtype = EB_I32;
    else if (strcmp(h.descr, "|u1") == 0 || strcmp(h.descr, "<u1") == 0) arr->dtype = EB_U8;
    else {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: unsupported dtype '%s'%s (supported: '<f4' float32, '<i4' int32, '|u1' uint8;"
                     " save with arr.astype('<f4'))", path, h.descr, h.descr[0] == '>' ? " (big-endian)" : "");
        goto done;
    }
    if (h.fortran) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: fortran_order is True; only C order is supported"
                     " (save numpy.ascontiguousarray(arr))", path);
        goto done;
    }
    if (h.ndim < 1 || h.ndim > EB_MAX_DIMS) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: rank %d array; supported ranks are 1 to %d", path, h.ndim, EB_MAX_DIMS);
        goto done;
    }
    uint64_t numel = 1;
    for (int i = 0; i < h.ndim; i++) {
        if (h.shape[i] != 0 && numel > (UINT64_MAX >> 4) / (uint64_t)h.shape[i]) {
            st = EB_FAIL(EB_ERR_FORMAT, "%s: implausible shape in the header", path);
            goto done;
        }
        numel *= (uint64_t)h.shape[i];
        arr->shape[i] = h.shape[i];
    }
    arr->ndim = h.ndim;
    size_t elem = eb_dtype_size(arr->dtype);
    uint64_t need = numel * elem, have = fsize - prefix - hlen;
    if (have < need) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated: header says %llu elements of %s (%llu bytes), file holds %llu bytes of data",
                     path, (unsigned long long)numel, h.descr, (unsigned long long)need, (unsigned long long)have);
        goto done;
    }
    if (have > need) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: %llu bytes after the data the header describes (%llu bytes): corrupt header?",
                     path, (unsigned long long)(have - need), (unsigned long long)need);
        goto done;
    }
    if (need > SIZE_MAX) {
        st = EB_FAIL(EB_ERR_OOM, "%s: %llu bytes do not fit in memory", path, (unsigned long long)need);
        goto done;
    }
    arr->data = malloc(need ? (size_t)need : 1);
    if (!arr->data) {
        st = EB_FAIL(EB_ERR_OOM, "%s: cannot allocate %llu bytes", path, (unsigned long long)need);
        goto done;
    }
    if (need && fread(arr->data, 1, (size_t)need, f) != (size_t)need) {
        st = EB_FAIL(EB_ERR_IO, "%s: read error in the data", path);
        goto done;
    }
    to_host_order(arr->data, (size_t)numel, elem);
done:
    free(hdr);
    fclose(f);
    if (st != EB_OK) eb_npy_free(arr);
    return st;
}

/* Write all of buf to fd (retrying short writes). */
static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

eb_status eb_npy_write(const char *path, eb_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    const char *descr = npy_descr(dtype);
    if (!descr) return EB_FAIL(EB_ERR_ARG, "%s: cannot write dtype %s to .npy (F32, I32, U8 only)", path, eb_dtype_name(dtype));
    if (ndim < 1 || ndim > EB_MAX_DIMS) return EB_FAIL(EB_ERR_ARG, "%s: cannot write a rank-%d array", path, ndim);
    /* header: numpy's own layout, padded with spaces so the data starts at a multiple of 64 bytes */
    char hdr[256];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return EB_FAIL(EB_ERR_ARG, "%s: negative dimension %lld", path, (long long)shape[i]);
        k += snprintf(hdr + k, sizeof hdr - (size_t)k, ndim == 1 ? "%lld," : (i ? ", %lld" : "%lld"), (long long)shape[i]);
        numel *= (size_t)shape[i];
    }
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, "), }");
    size_t total = 10 + (size_t)k + 1;          /* magic+version+len, dict, '\n' */
    size_t padded = (total + 63) / 64 * 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    size_t hlen = padded - 10;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    memset(hdr + k, ' ', padded - total);
    hdr[hlen - 1] = '\n';

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return EB_FAIL(EB_ERR_OOM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        eb_status st = EB_FAIL(EB_ERR_IO, "%s: cannot create a temp file beside it (%s)", path, strerror(errno));
        free(tmp);
        return st;
    }
    const char *step = NULL;
    size_t elem = eb_dtype_size(dtype);
    if (fchmod(fd, 0644) != 0) step = "chmod";
    else if (write_all(fd, pre, sizeof pre) != 0 || write_all(fd, hdr, hlen) != 0) step = "write";
    else if (host_is_little_endian() || elem == 1) {
        if (numel && write_all(fd, data, numel * elem) != 0) step = "write";
    } else {
        /* big-endian host: swap through a small buffer */
        unsigned char buf[4096];
        const unsigned char *src = data;
        for (size_t done = 0; done < numel && !step;) {
            size_t m = numel - done < sizeof buf / elem ? numel - done : sizeof buf / elem;
            memcpy(buf, src + done * elem, m * elem);
            to_host_order(buf, m, elem);
            if (write_all(fd, buf, m * elem) != 0) step = "write";
            done += m;
        }
    }
    if (!step && fsync(fd) != 0) step = "fsync";
    if (close(fd) != 0 && !step) step = "close";
    if (!step && rename(tmp, path) != 0) step = "rename";
    if (step) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return EB_FAIL(EB_ERR_IO, "%s: %s failed (%s)", path, step, strerror(e));
    }
    free(tmp);
    /* make the rename itself durable */
    char *dir = eb_data_strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash) {
            if (slash == dir) slash[1] = '\0';
            else *slash = '\0';
        } else {
            strcpy(dir, ".");
        }
        int dfd = open(dir, O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return EB_OK;
}

eb_status eb_dataset_load_npy(eb_dataset *ds, const char *path) {
    memset(ds, 0, sizeof *ds);
    eb_npy a;
    EB_TRY(eb_npy_read(&a, path));
    eb_status st = EB_OK;
    int64_t n = a.shape[0], c = 0, h = 1, w = 1;
    if (a.dtype == EB_F32 && a.ndim == 2) {
        c = a.shape[1];
    } else if ((a.dtype == EB_F32 || a.dtype == EB_U8) && a.ndim == 4) {
        c = a.shape[1];
        h = a.shape[2];
        w = a.shape[3];
    } else {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: a dataset must be float32 [N, D] or [N, C, H, W], or uint8 [N, C, H, W];"
                     " this file holds %s of rank %d", path, a.dtype == EB_F32 ? "float32" : a.dtype == EB_I32 ? "int32" : "uint8",
                     a.ndim);
        goto done;
    }
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: empty array (a dimension is 0)", path);
        goto done;
    }
    if (n > EB_DATA_MAX_N || c * h * w > EB_DATA_MAX_ROW) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: too large (%lld samples of %lld elements)", path, (long long)n, (long long)(c * h * w));
        goto done;
    }
    if (a.dtype == EB_F32) {
        /* a NaN or Inf in the data would poison training silently: refuse it here, where it can be named */
        const float *x = a.data;
        size_t total = (size_t)n * (size_t)(c * h * w);
        for (size_t i = 0; i < total; i++)
            if (!isfinite(x[i])) {
                st = EB_FAIL(EB_ERR_NUMERIC, "%s: sample %zu holds a non-finite value (%g)", path,
                             i / (size_t)(c * h * w), (double)x[i]);
                goto done;
            }
    }
    /* take the buffer over instead of copying: the dataset owns it from here */
    memset(ds, 0, sizeof *ds);
    ds->name = eb_data_strdup(path);
    if (!ds->name) {
        st = EB_FAIL(EB_ERR_OOM, "%s: out of memory", path);
        goto done;
    }
    ds->n = n;
    ds->c = (int)c;
    ds->h = (int)h;
    ds->w = (int)w;
    if (a.dtype == EB_U8) {
        ds->storage = EB_DATA_U8;
        ds->u8 = a.data;
    } else {
        ds->storage = EB_DATA_F32;
        ds->f32 = a.data;
    }
    a.data = NULL;
done:
    eb_npy_free(&a);
    return st;
}
