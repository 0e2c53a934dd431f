/* The trainer's side of the anomaly protocol (anomaly.h): --holdout-class parsed, the data (for
 * fashion-mnist the training and t10k files pooled, as the paper pools all of MNIST) split. */
#include <stdlib.h>
#include <string.h>

#include "ebgan/anomaly.h"
#include "ebgan/train.h"

eb_status eb_trainer_holdout_parse(eb_trainer *t) {
    const char *v = t->cfg.holdout_class;
    t->holdout_class = -1;
    if (!v[0]) return EB_OK;
    char *end = NULL;
    long k = strtol(v, &end, 10);
    if (end == v || *end || k < 0 || k > 1000000)
        return EB_FAIL(EB_ERR_ARG, "--holdout-class '%s': expected a class id (0, 1, ...)", v);
    if (t->cfg.stack) return EB_FAIL(EB_ERR_ARG, "--holdout-class and --stack cannot be combined");
    t->holdout_class = (int)k;
    return EB_OK;
}

eb_status eb_trainer_holdout_split(eb_trainer *t, eb_dataset *raw) {
    eb_dataset extra = {0};
    const eb_dataset *srcs[2] = {raw, &extra};
    int n = 1;
    eb_status st = EB_OK;
    if (!strcmp(t->cfg.dataset, "fashion-mnist")) {
        st = eb_dataset_load_idx(&extra, EB_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz",
                                 EB_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz");
        n = 2;
    }
    if (st == EB_OK) st = eb_dataset_holdout_split(srcs, n, t->holdout_class, &t->data, &t->holdout_test);
    eb_dataset_free(&extra);
    eb_dataset_free(raw);
    return st;
}
