/* CIFAR-10 binary batches (data_batch_*.bin): records of 1 label byte + 3072 pixel bytes, CHW 3x32x32.
 * Files are sized first (each must be a non-empty multiple of 3073 bytes), then read into one uint8 set. */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/data.h"
#include "host/data/data_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072
#define CIFAR_CLASSES 10

static eb_status cifar_records(const char *path, int64_t *records) {
    struct stat sb;
    if (stat(path, &sb) != 0) return EB_FAIL(EB_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return EB_FAIL(EB_ERR_IO, "%s: not a regular file", path);
    if (sb.st_size == 0 || sb.st_size % EB_CIFAR_RECORD_BYTES != 0)
        return EB_FAIL(EB_ERR_FORMAT, "%s: %lld bytes is not a whole number of CIFAR-10 records (%d bytes each:"
                       " 1 label + 3072 pixels); truncated or not a CIFAR-10 batch", path, (long long)sb.st_size,
                       EB_CIFAR_RECORD_BYTES);
    *records = (int64_t)(sb.st_size / EB_CIFAR_RECORD_BYTES);
    return EB_OK;
}

eb_status eb_dataset_load_cifar(eb_dataset *ds, const char *const *paths, int n_paths) {
    memset(ds, 0, sizeof *ds);
    if (n_paths <= 0) return EB_FAIL(EB_ERR_ARG, "CIFAR-10: no batch file given");
    int64_t total = 0;
    size_t name_len = 1;
    for (int i = 0; i < n_paths; i++) {
        int64_t r;
        EB_TRY(cifar_records(paths[i], &r));
        total += r;
        name_len += strlen(paths[i]) + 1;
        if (total > EB_DATA_MAX_N) return EB_FAIL(EB_ERR_FORMAT, "%s: too many records in all", paths[i]);
    }
    /* the name lists every file, comma-separated, as given */
    char *name = malloc(name_len);
    if (!name) return EB_FAIL(EB_ERR_OOM, "%s: out of memory", paths[0]);
    name[0] = '\0';
    for (int i = 0; i < n_paths; i++) {
        if (i) strcat(name, ",");
        strcat(name, paths[i]);
    }
    eb_status st = eb_dataset_init(ds, name, total, 3, 32, 32, EB_DATA_U8, 1);
    free(name);
    EB_TRY(st);
    ds->n_classes = CIFAR_CLASSES;
    unsigned char *rec = malloc(EB_CIFAR_RECORD_BYTES);
    if (!rec) {
        eb_dataset_free(ds);
        return EB_FAIL(EB_ERR_OOM, "%s: out of memory", paths[0]);
    }
    int64_t row = 0;
    for (int i = 0; i < n_paths && st == EB_OK; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            st = EB_FAIL(EB_ERR_IO, "%s: cannot open for reading (%s)", paths[i], strerror(errno));
            break;
        }
        int64_t r;
        st = cifar_records(paths[i], &r); /* sized again: the file must not have changed since */
        for (int64_t k = 0; k < r && st == EB_OK; k++, row++) {
            if (fread(rec, 1, EB_CIFAR_RECORD_BYTES, f) != EB_CIFAR_RECORD_BYTES) {
                st = EB_FAIL(EB_ERR_IO, "%s: read error at record %lld", paths[i], (long long)k);
                break;
            }
            if (rec[0] >= CIFAR_CLASSES) {
                st = EB_FAIL(EB_ERR_FORMAT, "%s: record %lld has label %d; CIFAR-10 labels are 0-9"
                             " (CIFAR-100 or another format?)", paths[i], (long long)k, rec[0]);
                break;
            }
            ds->labels[row] = rec[0];
            memcpy(ds->u8 + (size_t)row * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        }
        fclose(f);
        if (st == EB_OK && row > total) st = EB_FAIL(EB_ERR_IO, "%s: grew while being read", paths[i]);
    }
    free(rec);
    if (st == EB_OK && row != total) st = EB_FAIL(EB_ERR_IO, "%s: changed while being read", paths[n_paths - 1]);
    if (st != EB_OK) eb_dataset_free(ds);
    return st;
}
