/* Channel stacking (the paper's StackedMNIST, data/mnist.py): each sample's channel j is a random image of
 * a 1-channel set; with 10 classes and 3 channels the stacks have 1000 modes (labels base-10 digits). */
#include "ebgan/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t eb_stack_paper_n(int k) {
    int64_t n = 128; /* the paper: n_data = 128 * 10 ** n_stack */
    for (int j = 0; j < k; j++) n *= 10;
    return n;
}

eb_status eb_dataset_stack(eb_dataset *out, const eb_dataset *src, int k, int64_t n, eb_rng *rng) {
    memset(out, 0, sizeof *out);
    if (k < 1 || k > 8) return EB_FAIL(EB_ERR_ARG, "--stack %d: the number of stacked channels must be 1 to 8", k);
    if (src->storage != EB_DATA_U8 || src->c != 1) {
        char s[48];
        return EB_FAIL(EB_ERR_ARG, "data %s: stacking needs 1-channel uint8 images, its samples are %s%s", src->name,
                       eb_shape_str(eb_dataset_shape(src), s, sizeof s), src->storage == EB_DATA_U8 ? "" : " float32");
    }
    int with_labels = src->labels != NULL;
    int64_t classes = 1;
    for (int j = 0; j < k && with_labels; j++) {
        classes *= src->n_classes;
        if (classes > INT32_MAX)
            return EB_FAIL(EB_ERR_ARG, "data %s: %d classes stacked %d times overflow an int32 label", src->name,
                           src->n_classes, k);
    }
    char name[64];
    size_t nlen = strlen(src->name) + sizeof name;
    char *full = malloc(nlen);
    if (!full) return EB_FAIL(EB_ERR_OOM, "data %s: out of memory", src->name);
    snprintf(name, sizeof name, " (stack %d)", k);
    snprintf(full, nlen, "%s%s", src->name, name);
    eb_status st = eb_dataset_init(out, full, n, k, src->h, src->w, EB_DATA_U8, with_labels);
    free(full);
    EB_TRY(st);
    out->n_classes = with_labels ? (int)classes : 0;
    size_t plane = (size_t)src->h * (size_t)src->w;
    for (int64_t i = 0; i < n; i++) {
        int32_t label = 0, place = 1;
        for (int j = 0; j < k; j++) {
            /* np.random.randint(0, N, size=(n_data, n_stack)): row-major, channel index fastest */
            uint32_t id = eb_rng_below(rng, (uint32_t)src->n);
            memcpy(out->u8 + ((size_t)i * (size_t)k + (size_t)j) * plane, src->u8 + (size_t)id * plane, plane);
            if (with_labels) {
                label += src->labels[id] * place;
                place *= src->n_classes;
            }
        }
        if (with_labels) out->labels[i] = label;
    }
    return EB_OK;
}
