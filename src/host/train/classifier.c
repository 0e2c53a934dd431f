/* The evaluation classifier (classifier.h): training with softmax cross-entropy and Adam through the op table,
 * host-side argmax for prediction, and its safetensors file with the spec and test accuracy as metadata. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "ebgan/classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch_source.h"
#include "ebgan/optim.h"
#include "ebgan/safetensors.h"

_Static_assert(sizeof(eb_real) == sizeof(float), "the classifier runs in the float build");

static double clf_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t clf_align(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

eb_status eb_classifier_init(eb_classifier *c, const eb_backend *be, const char *spec, eb_shape in, int max_batch) {
    memset(c, 0, sizeof *c);
    c->test_accuracy = -1;
    if (max_batch < 1) return EB_FAIL(EB_ERR_ARG, "classifier: max_batch %d must be >= 1", max_batch);
    EB_TRY(eb_net_init(&c->net, be, "C", in, spec ? spec : EB_CLASSIFIER_SPEC));
    eb_shape out = c->net.out_shape;
    eb_status st = EB_OK;
    if (out.h != 1 || out.w != 1 || out.c < 2) {
        char s[48];
        st = EB_FAIL(EB_ERR_ARG, "classifier spec '%s': output %s, expected [classes, 1, 1] with classes >= 2",
                     c->net.spec, eb_shape_str(out, s, sizeof s));
        goto fail;
    }
    c->n_classes = out.c;
    c->max_batch = max_batch;
    if ((st = eb_net_ws_init(&c->ws, be, &c->net, max_batch, 0)) != EB_OK) goto fail;
    const size_t B = (size_t)max_batch, in_n = (size_t)eb_shape_numel(in), k = (size_t)c->n_classes;
    const size_t bx = clf_align(B * in_n * sizeof(eb_real)), bd = clf_align(B * k * sizeof(eb_real)),
                 bl = clf_align(sizeof(eb_real)), by = clf_align(B * sizeof(int32_t));
    if ((st = be->ops->mem_alloc(be->ctx, &c->arena, bx + bd + bl + by)) != EB_OK) goto fail;
    c->x = c->arena;
    c->dlogit = (eb_real *)((char *)c->arena + bx);
    c->loss = (eb_real *)((char *)c->arena + bx + bd);
    c->y_dev = (int32_t *)((char *)c->arena + bx + bd + bl);
    c->logits_host = malloc(B * k * sizeof(float));
    c->y_host = malloc(B * sizeof(int32_t));
    if (!c->logits_host || !c->y_host) {
        st = EB_FAIL(EB_ERR_OOM, "classifier: host buffers for %d images", max_batch);
        goto fail;
    }
    return EB_OK;
fail:
    eb_classifier_free(c, be);
    return st;
}

void eb_classifier_free(eb_classifier *c, const eb_backend *be) {
    if (!c) return;
    if (be && be->ops) {
        if (c->arena) be->ops->mem_free(be->ctx, c->arena);
        if (c->ws.arena) eb_net_ws_free(&c->ws, be);
        eb_net_free(&c->net, be);
    }
    free(c->logits_host);
    free(c->y_host);
    memset(c, 0, sizeof *c);
    c->test_accuracy = -1;
}

eb_status eb_classifier_init_weights(eb_classifier *c, const eb_backend *be, eb_rng *rng) {
    eb_net *net = &c->net;
    if (!net->n_params) return EB_OK;
    int np = eb_net_param_list(net, NULL, 0);
    eb_param_info *info = calloc((size_t)np, sizeof *info);
    float *p = calloc(net->n_params, sizeof(float)); /* zero alignment padding (net.h) */
    if (!info || !p) {
        free(info);
        free(p);
        return EB_FAIL(EB_ERR_OOM, "classifier: init buffers");
    }
    eb_net_param_list(net, info, np);
    /* a bias follows its weight (eb_net_param_list order) and shares its fan_in */
    int64_t fan_in = 1;
    for (int j = 0; j < np; j++) {
        if (info[j].is_buffer) continue;
        if (info[j].ndim >= 2) {
            fan_in = 1;
            for (int d = 1; d < info[j].ndim; d++) fan_in *= info[j].shape[d];
        }
        const double bound = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
        for (size_t i = 0; i < info[j].len; i++)
            p[info[j].offset + i] = (float)(bound * (2.0 * eb_rng_uniform(rng) - 1.0));
    }
    eb_status st = be->ops->mem_upload(be->ctx, net->params, p, net->n_params * sizeof(float));
    free(info);
    free(p);
    return st;
}

static eb_status clf_check_data(const eb_classifier *c, const eb_dataset *ds) {
    char s1[48], s2[48];
    eb_shape in = c->net.in_shape;
    if (ds->storage != EB_DATA_U8 || ds->c != in.c || ds->h != in.h || ds->w != in.w)
        return EB_FAIL(EB_ERR_ARG, "classifier: data %s has %s%s samples, the classifier takes %s uint8 images",
                       ds->name ? ds->name : "?", eb_shape_str(eb_dataset_shape(ds), s1, sizeof s1),
                       ds->storage == EB_DATA_U8 ? "" : " float32", eb_shape_str(in, s2, sizeof s2));
    if (!ds->labels) return EB_FAIL(EB_ERR_ARG, "classifier: data %s has no labels", ds->name ? ds->name : "?");
    if (ds->n < 1) return EB_FAIL(EB_ERR_ARG, "classifier: data %s is empty", ds->name ? ds->name : "?");
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= c->n_classes)
            return EB_FAIL(EB_ERR_ARG, "classifier: data %s: label %d of sample %lld outside [0, %d)", ds->name,
                           (int)ds->labels[i], (long long)i, c->n_classes);
    return EB_OK;
}

/* One step: forward, loss + dlogit, backward into zeroed gradients, Adam. No allocation. */
static eb_status clf_step(eb_classifier *c, const eb_backend *be, eb_batch_source *src, eb_rng *rng, eb_optim *opt,
                          int B) {
    eb_net *net = &c->net;
    const uint64_t off = eb_rng_reserve(rng, eb_batch_source_counters(src, B));
    EB_TRY(eb_batch_source_next(src, be, eb_rng_at(rng->seed, off), B, c->x));
    /* the source keeps the indices it drew on the backend: their labels are this batch's targets (a sync
     * per step; the companion classifier is not the hot path) */
    EB_TRY(be->ops->mem_download(be->ctx, c->y_host, src->idx_dev, (size_t)B * sizeof(int32_t)));
    for (int i = 0; i < B; i++) c->y_host[i] = src->ds->labels[c->y_host[i]];
    EB_TRY(be->ops->mem_upload(be->ctx, c->y_dev, c->y_host, (size_t)B * sizeof(int32_t)));
    EB_TRY(eb_net_forward(be, net, &c->ws, c->x, B, EB_MODE_TRAIN));
    EB_TRY(be->ops->softmax_xent(be->ctx, c->ws.h[net->n_layers], c->y_dev, (size_t)B, (size_t)c->n_classes,
                                 (eb_real)(1.0 / B), c->loss, c->dlogit));
    EB_TRY(be->ops->fill(be->ctx, net->grads, (eb_real)0, net->n_params));
    EB_TRY(eb_net_backward(be, net, &c->ws, c->dlogit, B, EB_MODE_TRAIN, (eb_real)1, NULL, (eb_real)0));
    return eb_optim_step(opt, be, net->params, net->grads);
}

eb_status eb_classifier_train(eb_classifier *c, const eb_backend *be, const eb_dataset *train,
                              const eb_classifier_train_cfg *cfg, FILE *log) {
    if (cfg->batch < 1 || cfg->batch > c->max_batch)
        return EB_FAIL(EB_ERR_ARG, "classifier: batch %d outside [1, %d] (max_batch)", cfg->batch, c->max_batch);
    if (cfg->steps < 0) return EB_FAIL(EB_ERR_ARG, "classifier: steps %d must be >= 0", cfg->steps);
    if (!(cfg->lr > 0)) return EB_FAIL(EB_ERR_ARG, "classifier: lr %g must be > 0", cfg->lr);
    EB_TRY(clf_check_data(c, train));
    eb_batch_source src;
    eb_optim opt;
    memset(&opt, 0, sizeof opt);
    eb_status st = eb_batch_source_init(&src, be, train, EB_TOY_8GAUSSIANS, cfg->batch);
    eb_optim_cfg oc = {EB_OPTIM_ADAM, cfg->lr, 0.9, 0.999, 1e-8};
    if (st == EB_OK) st = eb_optim_init(&opt, be, c->net.n_params, &oc);
    if (st == EB_OK) st = be->ops->fill(be->ctx, c->loss, (eb_real)0, 1);
    eb_rng rng;
    eb_rng_init(&rng, cfg->seed);
    const double t0 = clf_now_s();
    int since = 0;
    for (int s = 0; s < cfg->steps && st == EB_OK; s++) {
        st = clf_step(c, be, &src, &rng, &opt, cfg->batch);
        since++;
        if (st == EB_OK && log && cfg->log_every > 0 && ((s + 1) % cfg->log_every == 0 || s + 1 == cfg->steps)) {
            float l = 0;
            st = be->ops->mem_download(be->ctx, &l, c->loss, sizeof l);
            if (st == EB_OK) st = be->ops->fill(be->ctx, c->loss, (eb_real)0, 1);
            fprintf(log, "classifier step %d/%d  loss %.4f  (%.1f s)\n", s + 1, cfg->steps, (double)l / since,
                    clf_now_s() - t0);
            fflush(log);
            since = 0;
        }
    }
    if (st == EB_OK) {
        c->trained_steps += cfg->steps;
        c->trained_batch = cfg->batch;
    }
    eb_optim_free(&opt, be);
    eb_batch_source_free(&src, be);
    return st;
}

eb_status eb_classifier_predict(eb_classifier *c, const eb_backend *be, const float *x, size_t n, int32_t *labels) {
    const size_t in_n = (size_t)eb_shape_numel(c->net.in_shape), k = (size_t)c->n_classes;
    for (size_t i = 0; i < n; i += (size_t)c->max_batch) {
        const int m = (int)(n - i < (size_t)c->max_batch ? n - i : (size_t)c->max_batch);
        EB_TRY(be->ops->mem_upload(be->ctx, c->x, x + i * in_n, (size_t)m * in_n * sizeof(float)));
        EB_TRY(eb_net_forward(be, &c->net, &c->ws, c->x, m, EB_MODE_INFER));
        EB_TRY(be->ops->mem_download(be->ctx, c->logits_host, c->ws.h[c->net.n_layers], (size_t)m * k * sizeof(float)));
        for (int r = 0; r < m; r++) {
            const float *l = c->logits_host + (size_t)r * k;
            int32_t best = 0;
            for (size_t j = 1; j < k; j++)
                if (l[j] > l[best]) best = (int32_t)j;
            labels[i + (size_t)r] = best;
        }
    }
    return EB_OK;
}

eb_status eb_classifier_accuracy(eb_classifier *c, const eb_backend *be, const eb_dataset *test, double *acc) {
    EB_TRY(clf_check_data(c, test));
    const size_t B = (size_t)c->max_batch, in_n = (size_t)eb_shape_numel(c->net.in_shape);
    float *x = malloc(B * in_n * sizeof(float));
    int32_t *idx = malloc(B * sizeof(int32_t)), *pred = malloc(B * sizeof(int32_t));
    eb_status st = x && idx && pred ? EB_OK : EB_FAIL(EB_ERR_OOM, "classifier: evaluation buffers");
    int64_t right = 0;
    for (int64_t i = 0; i < test->n && st == EB_OK; i += (int64_t)B) {
        const size_t m = (size_t)(test->n - i < (int64_t)B ? test->n - i : (int64_t)B);
        for (size_t r = 0; r < m; r++) idx[r] = (int32_t)(i + (int64_t)r);
        st = eb_dataset_gather(test, idx, m, x);
        if (st == EB_OK) st = eb_classifier_predict(c, be, x, m, pred);
        for (size_t r = 0; r < m && st == EB_OK; r++) right += pred[r] == test->labels[i + (int64_t)r];
    }
    free(x);
    free(idx);
    free(pred);
    EB_TRY(st);
    c->test_accuracy = (double)right / (double)test->n;
    if (acc) *acc = c->test_accuracy;
    return EB_OK;
}

eb_status eb_classifier_save(eb_classifier *c, const eb_backend *be, const char *path) {
    eb_net *net = &c->net;
    int np = eb_net_param_list(net, NULL, 0);
    eb_param_info *info = calloc((size_t)np + 1, sizeof *info);
    eb_st_entry *ent = calloc((size_t)np + 1, sizeof *ent);
    float *host = malloc((net->n_params + net->n_buffers + 1) * sizeof(float));
    eb_status st = info && ent && host ? EB_OK : EB_FAIL(EB_ERR_OOM, "classifier: save buffers");
    if (st == EB_OK && net->n_params)
        st = be->ops->mem_download(be->ctx, host, net->params, net->n_params * sizeof(float));
    if (st == EB_OK && net->n_buffers)
        st = be->ops->mem_download(be->ctx, host + net->n_params, net->buffers, net->n_buffers * sizeof(float));
    if (st == EB_OK) {
        eb_net_param_list(net, info, np);
        for (int j = 0; j < np; j++) {
            ent[j] = (eb_st_entry){info[j].name, EB_ST_F32, info[j].ndim, {0},
                                   host + (info[j].is_buffer ? net->n_params : 0) + info[j].offset};
            for (int d = 0; d < info[j].ndim; d++) ent[j].shape[d] = info[j].shape[d];
        }
        char shape[48], classes[16], accs[32], steps[32], batch[16];
        eb_shape_str(net->in_shape, shape, sizeof shape);
        snprintf(classes, sizeof classes, "%d", c->n_classes);
        if (c->test_accuracy >= 0) snprintf(accs, sizeof accs, "%.6f", c->test_accuracy);
        else snprintf(accs, sizeof accs, "unknown");
        snprintf(steps, sizeof steps, "%lld", (long long)c->trained_steps);
        snprintf(batch, sizeof batch, "%d", c->trained_batch);
        eb_st_meta meta[8] = {{"format", EB_CLASSIFIER_FORMAT}, {"spec", net->spec}, {"input_shape", shape},
                              {"input_range", "[-1, 1] (uint8 x * 2/255 - 1)"}, {"classes", classes},
                              {"test_accuracy", accs}, {"steps", steps}, {"batch", batch}};
        st = eb_safetensors_write(path, ent, np, meta, 8);
    }
    free(info);
    free(ent);
    free(host);
    return st;
}

eb_status eb_classifier_load(eb_classifier *c, const eb_backend *be, const char *path, int max_batch) {
    memset(c, 0, sizeof *c);
    c->test_accuracy = -1;
    eb_safetensors f;
    EB_TRY(eb_safetensors_open(&f, path));
    eb_status st = EB_OK;
    const char *fmt = eb_safetensors_meta(&f, "format"), *spec = eb_safetensors_meta(&f, "spec"),
               *shape = eb_safetensors_meta(&f, "input_shape"), *accs = eb_safetensors_meta(&f, "test_accuracy"),
               *steps = eb_safetensors_meta(&f, "steps"), *batch = eb_safetensors_meta(&f, "batch");
    eb_shape in = {0, 0, 0};
    if (!fmt || strcmp(fmt, EB_CLASSIFIER_FORMAT) || !spec || !shape ||
        sscanf(shape, "%dx%dx%d", &in.c, &in.h, &in.w) != 3) {
        eb_safetensors_close(&f);
        return EB_FAIL(EB_ERR_FORMAT, "%s: not an ebgan-gpu classifier (metadata format '%s', spec, input_shape)",
                       path, fmt ? fmt : "missing");
    }
    if ((st = eb_classifier_init(c, be, spec, in, max_batch)) != EB_OK) {
        eb_safetensors_close(&f);
        return st;
    }
    eb_net *net = &c->net;
    int np = eb_net_param_list(net, NULL, 0);
    eb_param_info *info = calloc((size_t)np + 1, sizeof *info);
    float *host = calloc(net->n_params + net->n_buffers + 1, sizeof(float)); /* zero padding (net.h) */
    if (!info || !host) st = EB_FAIL(EB_ERR_OOM, "classifier: load buffers");
    if (st == EB_OK) eb_net_param_list(net, info, np);
    for (int j = 0; j < np && st == EB_OK; j++) {
        float *dst = host + (info[j].is_buffer ? net->n_params : 0) + info[j].offset;
        st = eb_safetensors_get(&f, info[j].name, EB_ST_F32, info[j].ndim, info[j].shape, dst,
                                info[j].len * sizeof(float));
    }
    if (st == EB_OK && net->n_params)
        st = be->ops->mem_upload(be->ctx, net->params, host, net->n_params * sizeof(float));
    if (st == EB_OK && net->n_buffers)
        st = be->ops->mem_upload(be->ctx, net->buffers, host + net->n_params, net->n_buffers * sizeof(float));
    if (st == EB_OK) {
        char *end = NULL;
        double a = accs ? strtod(accs, &end) : -1;
        c->test_accuracy = accs && end != accs && a >= 0 && a <= 1 ? a : -1;
        c->trained_steps = steps ? strtoll(steps, NULL, 10) : 0;
        c->trained_batch = batch ? atoi(batch) : 0;
    }
    free(info);
    free(host);
    eb_safetensors_close(&f);
    if (st != EB_OK) eb_classifier_free(c, be);
    return st;
}

eb_status eb_fashion_mnist_load(eb_dataset *ds, int test_set) {
    char img[512], lab[512];
    const char *pre = test_set ? "t10k" : "train";
    snprintf(img, sizeof img, "%s/%s-images-idx3-ubyte.gz", EB_FASHION_MNIST_DIR, pre);
    snprintf(lab, sizeof lab, "%s/%s-labels-idx1-ubyte.gz", EB_FASHION_MNIST_DIR, pre);
    return eb_dataset_load_idx(ds, img, lab);
}
