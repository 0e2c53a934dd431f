/* Shard names, ranges and the completeness-checked merge of `ebgan-gpu merge` (README "Sharded sampling"). */
#include "ebgan/shards.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/data.h"
#include "ebgan/ranks.h"

void eb_shard_range(int64_t n, int k, int R, int64_t *lo, int64_t *hi) {
    *lo = n * k / R;
    *hi = n * (k + 1) / R;
}

void eb_shard_path(const char *out, const char *suffix, int k, int R, char *buf, size_t cap) {
    size_t L = strlen(out);
    if (L > 4 && !strcmp(out + L - 4, ".npy")) L -= 4;
    snprintf(buf, cap, "%.*s%s-%05d-of-%05d.npy", (int)L, out, suffix, k, R);
}

static int env_int(const char *name, int *v) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end) return -1;
    *v = (int)x;
    return 1;
}

eb_status eb_shard_from_env(int *k, int *R) {
    int id = 0, lo = 0, count = 0;
    int a = env_int("SLURM_ARRAY_TASK_ID", &id), b = env_int("SLURM_ARRAY_TASK_MIN", &lo),
        c = env_int("SLURM_ARRAY_TASK_COUNT", &count);
    if (a < 0 || b < 0 || c < 0) return EB_FAIL(EB_ERR_ARG, "SLURM_ARRAY_TASK_ID/_MIN/_COUNT are not integers");
    if (a > 0 && c > 0) {
        if (id - lo < 0 || id - lo >= count)
            return EB_FAIL(EB_ERR_ARG, "array task %d outside [%d, %d): use a contiguous --array=0-%d", id, lo,
                           lo + count, count - 1);
        *k = id - lo;
        *R = count;
        return EB_OK;
    }
    eb_ranks r;
    EB_TRY(eb_ranks_resolve(-1, -1, -1, &r));
    *k = r.rank;
    *R = r.world > 1 ? r.world : 0;
    return EB_OK;
}

eb_status eb_shards_merge(const char *out, const char *suffix, int R, int64_t *rows) {
    if (R < 1) return EB_FAIL(EB_ERR_ARG, "merge: --shards must be >= 1, got %d", R);
    eb_npy *parts = calloc((size_t)R, sizeof *parts);
    if (!parts) return EB_FAIL(EB_ERR_OOM, "merge: %d shards", R);
    eb_status st = EB_OK;
    char path[1400];
    int64_t total = 0;
    size_t row_bytes = 0;
    for (int k = 0; k < R && st == EB_OK; k++) {
        eb_shard_path(out, suffix, k, R, path, sizeof path);
        FILE *f = fopen(path, "rb");
        if (!f) {
            st = EB_FAIL(EB_ERR_IO, "merge: shard %d of %d is missing (%s): the set is incomplete", k, R, path);
            break;
        }
        fclose(f);
        if ((st = eb_npy_read(&parts[k], path)) != EB_OK) break;
        size_t rb = eb_dtype_size(parts[k].dtype);
        for (int d = 1; d < parts[k].ndim; d++) rb *= (size_t)parts[k].shape[d];
        if (k == 0) row_bytes = rb;
        else if (parts[k].dtype != parts[0].dtype || parts[k].ndim != parts[0].ndim || rb != row_bytes ||
                 memcmp(parts[k].shape + 1, parts[0].shape + 1, sizeof(int64_t) * (size_t)(parts[0].ndim - 1)))
            st = EB_FAIL(EB_ERR_FORMAT, "merge: %s has another dtype or row shape than shard 0", path);
        total += parts[k].shape[0];
    }
    for (int k = 0; k < R && st == EB_OK; k++) { /* each shard holds exactly its share of the total */
        int64_t lo, hi;
        eb_shard_range(total, k, R, &lo, &hi);
        if (parts[k].shape[0] != hi - lo) {
            eb_shard_path(out, suffix, k, R, path, sizeof path);
            st = EB_FAIL(EB_ERR_FORMAT, "merge: %s has %lld rows, but shard %d of %d of %lld rows has %lld: shards of "
                         "different runs or sizes", path, (long long)parts[k].shape[0], k, R, (long long)total,
                         (long long)(hi - lo));
        }
    }
    char *all = NULL;
    if (st == EB_OK && !(all = malloc((size_t)total * row_bytes + 1))) st = EB_FAIL(EB_ERR_OOM, "merge: %lld rows", (long long)total);
    if (st == EB_OK) {
        size_t at = 0;
        for (int k = 0; k < R; k++) {
            memcpy(all + at, parts[k].data, (size_t)parts[k].shape[0] * row_bytes);
            at += (size_t)parts[k].shape[0] * row_bytes;
        }
        int64_t shp[EB_MAX_DIMS];
        memcpy(shp, parts[0].shape, sizeof shp);
        shp[0] = total;
        size_t L = strlen(out);
        if (L > 4 && !strcmp(out + L - 4, ".npy")) L -= 4;
        snprintf(path, sizeof path, "%.*s%s.npy", (int)L, out, suffix);
        st = eb_npy_write(path, parts[0].dtype, parts[0].ndim, shp, all);
    }
    free(all);
    for (int k = 0; k < R; k++) eb_npy_free(&parts[k]);
    free(parts);
    *rows = total;
    return st;
}
