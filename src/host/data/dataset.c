/* The in-memory dataset: allocation, the model-shape check, minibatch index sampling and the host gather,
 * plus eb_dataset_open, which picks the loader from the file's content (DESIGN.md §5). */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/regular_file.h"
#include "ebgan/data.h"
#include "host/data/data_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *eb_data_strdup(const char *s) {
    size_t len = strlen(s);
    char *p = malloc(len + 1);
    if (p) memcpy(p, s, len + 1);
    return p;
}

eb_status eb_dataset_init(eb_dataset *ds, const char *name, int64_t n, int c, int h, int w,
                          eb_data_storage storage, int with_labels) {
    memset(ds, 0, sizeof *ds);
    if (n <= 0 || n > EB_DATA_MAX_N || c <= 0 || h <= 0 || w <= 0 || (int64_t)c * h * w > EB_DATA_MAX_ROW)
        return EB_FAIL(EB_ERR_ARG, "dataset %s: invalid size %lld samples of %dx%dx%d", name ? name : "?",
                       (long long)n, c, h, w);
    size_t elems = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->storage = storage;
    ds->name = eb_data_strdup(name ? name : "?");
    size_t bytes = elems * (storage == EB_DATA_U8 ? 1 : sizeof(float));
    if (storage == EB_DATA_U8) ds->u8 = calloc(elems, 1);
    else ds->f32 = calloc(elems, sizeof(float));
    if (with_labels) ds->labels = calloc((size_t)n, sizeof(int32_t));
    if (!ds->name || (storage == EB_DATA_U8 ? !ds->u8 : !ds->f32) || (with_labels && !ds->labels)) {
        eb_dataset_free(ds);
        return EB_FAIL(EB_ERR_OOM, "dataset %s: cannot allocate %zu bytes for %lld samples of %dx%dx%d",
                       name ? name : "?", bytes, (long long)n, c, h, w);
    }
    return EB_OK;
}

void eb_dataset_free(eb_dataset *ds) {
    if (!ds) return;
    free(ds->u8);
    free(ds->f32);
    free(ds->labels);
    free(ds->name);
    memset(ds, 0, sizeof *ds);
}

const char *eb_shape_str(eb_shape s, char *buf, size_t cap) {
    snprintf(buf, cap, "%dx%dx%d", s.c, s.h, s.w);
    return buf;
}

eb_status eb_dataset_check_shape(const eb_dataset *ds, eb_shape model_in, const char *model_name) {
    eb_shape d = eb_dataset_shape(ds);
    if (d.c == model_in.c && d.h == model_in.h && d.w == model_in.w) return EB_OK;
    /* A dense model flattens CHW rows, which are already contiguous: same memory, same meaning. */
    if (model_in.h == 1 && model_in.w == 1 && eb_shape_numel(d) == (int64_t)model_in.c) return EB_OK;
    char a[48], b[48];
    return EB_FAIL(EB_ERR_ARG, "data %s has samples of shape %s but model '%s' expects %s",
                   ds->name ? ds->name : "?", eb_shape_str(d, a, sizeof a), model_name ? model_name : "?",
                   eb_shape_str(model_in, b, sizeof b));
}

eb_status eb_dataset_gather(const eb_dataset *ds, const int32_t *idx, size_t n, float *out) {
    size_t row = (size_t)eb_dataset_row_elems(ds);
    for (size_t r = 0; r < n; r++) {
        if (idx[r] < 0 || idx[r] >= ds->n)
            return EB_FAIL(EB_ERR_ARG, "data %s: index %d out of range [0, %lld)", ds->name, (int)idx[r],
                           (long long)ds->n);
        float *dst = out + r * row;
        if (ds->storage == EB_DATA_U8) {
            const uint8_t *src = ds->u8 + (size_t)idx[r] * row;
            /* the same float expression as the device op: scale * x + shift */
            for (size_t c = 0; c < row; c++) dst[c] = EB_DATA_U8_SCALE * (float)src[c] + EB_DATA_U8_SHIFT;
        } else {
            memcpy(dst, ds->f32 + (size_t)idx[r] * row, row * sizeof(float));
        }
    }
    return EB_OK;
}

/* ---- eb_dataset_open: pick the loader ---- */

static int path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* IDX images with the labels file beside it when one exists (names as MNIST ships them). */
static eb_status open_idx_pair(eb_dataset *ds, const char *images) {
    const char *key = strstr(images, "images-idx3-ubyte");
    if (!key) return eb_dataset_load_idx(ds, images, NULL);
    size_t len = strlen(images);
    char *labels = malloc(len + 1);
    if (!labels) return EB_FAIL(EB_ERR_OOM, "%s: out of memory", images);
    memcpy(labels, images, len + 1);
    memcpy(labels + (key - images), "labels-idx1-ubyte", strlen("labels-idx1-ubyte"));
    eb_status st = eb_dataset_load_idx(ds, images, path_exists(labels) ? labels : NULL);
    free(labels);
    return st;
}

static eb_status open_cifar_list(eb_dataset *ds, const char *spec) {
    /* comma-separated list of batch files */
    char *copy = eb_data_strdup(spec);
    if (!copy) return EB_FAIL(EB_ERR_OOM, "%s: out of memory", spec);
    int n = 1;
    for (const char *p = spec; *p; p++) n += *p == ',';
    const char **paths = malloc((size_t)n * sizeof *paths);
    if (!paths) {
        free(copy);
        return EB_FAIL(EB_ERR_OOM, "%s: out of memory", spec);
    }
    int k = 0;
    for (char *tok = copy, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = '\0';
        if (*tok) paths[k++] = tok;
    }
    eb_status st = k ? eb_dataset_load_cifar(ds, paths, k) : EB_FAIL(EB_ERR_ARG, "data '%s': no file named", spec);
    free(paths);
    free(copy);
    return st;
}

/* CIFAR-10 directory: data_batch_1.bin .. data_batch_5.bin, in order (test_batch.bin is not training data). */
static eb_status open_cifar_dir(eb_dataset *ds, const char *dir) {
    size_t len = strlen(dir) + 32;
    const char *paths[5];
    char *store = malloc(5 * len);
    if (!store) return EB_FAIL(EB_ERR_OOM, "%s: out of memory", dir);
    int k = 0;
    for (int i = 1; i <= 5; i++) {
        char *q = store + (size_t)k * len;
        snprintf(q, len, "%s/data_batch_%d.bin", dir, i);
        if (path_exists(q)) paths[k++] = q;
    }
    eb_status st;
    if (k > 0) st = eb_dataset_load_cifar(ds, paths, k);
    else if (!ends_with(dir, "/cifar-10-batches-bin") && (snprintf(store, len, "%s/cifar-10-batches-bin", dir), is_dir(store))) {
        /* the folder the official tarball unpacks to */
        char *sub = eb_data_strdup(store);
        st = sub ? open_cifar_dir(ds, sub) : EB_FAIL(EB_ERR_OOM, "%s: out of memory", dir);
        free(sub);
    } else st = EB_FAIL(EB_ERR_IO, "data directory %s holds neither train-images-idx3-ubyte[.gz] nor data_batch_*.bin", dir);
    free(store);
    return st;
}

static eb_status open_dir(eb_dataset *ds, const char *dir) {
    size_t len = strlen(dir) + 64;
    char *p = malloc(len);
    if (!p) return EB_FAIL(EB_ERR_OOM, "%s: out of memory", dir);
    eb_status st;
    const char *idx_names[] = {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, len, "%s/%s", dir, idx_names[i]);
        if (path_exists(p)) {
            st = open_idx_pair(ds, p);
            free(p);
            return st;
        }
    }
    free(p);
    return open_cifar_dir(ds, dir);
}

eb_status eb_dataset_open(eb_dataset *ds, const char *spec) {
    memset(ds, 0, sizeof *ds);
    if (!spec || !*spec) return EB_FAIL(EB_ERR_ARG, "no data file given");
    eb_toy_kind toy;
    if (eb_toy_from_name(spec, &toy))
        return EB_FAIL(EB_ERR_ARG, "data '%s' is a toy drawn in code, not a file (use the toy sampler)", spec);
    if (strcmp(spec, "fashion-mnist") == 0) {
        struct stat sb;
        if (stat(EB_FASHION_MNIST_DIR, &sb) != 0)
            return EB_FAIL(EB_ERR_IO, "data fashion-mnist: %s not found (install the Debian package dataset-fashion-mnist)",
                           EB_FASHION_MNIST_DIR);
        return open_dir(ds, EB_FASHION_MNIST_DIR);
    }
    if (strncmp(spec, "cifar10:", 8) == 0) {
        /* force the CIFAR-10 reading of a directory, a file, or a comma-separated list */
        const char *rest = spec + 8;
        struct stat sb;
        if (!strchr(rest, ',') && stat(rest, &sb) == 0 && S_ISDIR(sb.st_mode)) return open_cifar_dir(ds, rest);
        return open_cifar_list(ds, rest);
    }
    if (strchr(spec, ',')) return open_cifar_list(ds, spec);
    struct stat st;
    if (stat(spec, &st) != 0) return EB_FAIL(EB_ERR_IO, "data %s: no such file or directory", spec);
    if (S_ISDIR(st.st_mode)) return open_dir(ds, spec);
    EB_TRY(eb_check_regular_file(spec, "data", NULL)); /* a FIFO would block, a device never end */
    FILE *f = fopen(spec, "rb");
    if (!f) return EB_FAIL(EB_ERR_IO, "data %s: cannot open for reading", spec);
    unsigned char magic[6] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got >= 6 && memcmp(magic, "\x93NUMPY", 6) == 0) return eb_dataset_load_npy(ds, spec);
    if (ends_with(spec, ".bin")) return eb_dataset_load_cifar(ds, &spec, 1);
    /* gzip (1f 8b) or a raw IDX header (00 00 08 dims) */
    if ((got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) || (got >= 4 && magic[0] == 0 && magic[1] == 0 && magic[2] == 8))
        return open_idx_pair(ds, spec);
    if (ends_with(spec, ".npy")) return eb_dataset_load_npy(ds, spec); /* reports the bad magic */
    return EB_FAIL(EB_ERR_FORMAT, "data %s: not a recognised format (expected .npy, IDX [.gz], or CIFAR-10 .bin)", spec);
}
