/* The image classifier of the stacked-image evaluation: a small conv net on 1x28x28 Fashion-MNIST images in
 * [-1, 1], trained with the op table (softmax_xent, Adam), saved as safetensors with its spec and test accuracy. */
#ifndef EBGAN_CLASSIFIER_H
#define EBGAN_CLASSIFIER_H

#include <stdint.h>
#include <stdio.h>
#include "ebgan/data.h"
#include "ebgan/net.h"
#include "ebgan/rng.h"

/* Default net (spec grammar of net.h) on [1, 28, 28]: ~0.5 M parameters, ~3 M multiply-adds per image, a few
 * minutes of training on 2 CPU cores to ~90 % test accuracy on Fashion-MNIST. */
#define EB_CLASSIFIER_SPEC "conv:32:5:2:2,relu,conv:64:5:2:2,relu,linear:128,relu,linear:10"
#define EB_CLASSIFIER_FORMAT "ebgan-gpu-classifier/1" /* the "format" metadata of its file */
#define EB_CLASSIFIER_DEFAULT_FILE "classifier-fashion.safetensors"

typedef struct eb_classifier_train_cfg {
    int steps;          /* Adam updates, one minibatch each */
    int batch;          /* minibatch size, <= the classifier's max_batch */
    uint64_t seed;      /* minibatch draws (the weights are drawn by eb_classifier_init_weights) */
    double lr;          /* Adam learning rate; betas (0.9, 0.999), eps 1e-8 (PyTorch's defaults) */
    int log_every;      /* steps between progress lines on `log`; 0 = none */
} eb_classifier_train_cfg;

typedef struct eb_classifier {
    eb_net net;               /* name "C"; input [1, 28, 28] (any [c, h, w] the spec accepts), output [classes] */
    eb_net_ws ws;
    int max_batch;            /* images per forward */
    int n_classes;            /* the net's output width */
    double test_accuracy;     /* fraction of the test set classified correctly; < 0 when not measured */
    int64_t trained_steps;    /* recorded in the file's metadata */
    int trained_batch;
    /* on the backend, one allocation */
    void *arena;
    eb_real *x;               /* [max_batch, in] input */
    eb_real *dlogit;          /* [max_batch, n_classes] */
    eb_real *loss;            /* one device scalar: the summed loss since the last log line */
    int32_t *y_dev;           /* [max_batch] labels */
    /* host */
    float *logits_host;       /* [max_batch, n_classes] */
    int32_t *y_host;          /* [max_batch] */
} eb_classifier;

/* Builds the net (spec NULL: EB_CLASSIFIER_SPEC) on input shape `in` and its buffers for max_batch images.
 * EB_ERR_ARG when the spec does not end in a [classes, 1, 1] output with classes >= 2. */
eb_status eb_classifier_init(eb_classifier *c, const eb_backend *be, const char *spec, eb_shape in, int max_batch);
void eb_classifier_free(eb_classifier *c, const eb_backend *be);

/* PyTorch's default initialisation for every layer (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))):
 * the paper's N(0, 0.02) conv init (eb_net_init_weights) is a GAN choice and slows a classifier down. */
eb_status eb_classifier_init_weights(eb_classifier *c, const eb_backend *be, eb_rng *rng);

/* cfg->steps minibatch steps of softmax cross-entropy + Adam on `train` (uint8 images of the net's input shape
 * with labels in [0, n_classes)): minibatches by the rng_index op (with replacement), gathered and mapped to [-1, 1] on
 * the backend (gather_rows_u8). The dataset is copied to the backend once, at the start. */
eb_status eb_classifier_train(eb_classifier *c, const eb_backend *be, const eb_dataset *train,
                              const eb_classifier_train_cfg *cfg, FILE *log);

/* labels[i] = argmax of the logits of image i (x: n host images [n, in] as float in [-1, 1]; ties: the
 * lowest class). Forward in inference mode, max_batch images at a time; the argmax is done on the host. */
eb_status eb_classifier_predict(eb_classifier *c, const eb_backend *be, const float *x, size_t n, int32_t *labels);

/* Fraction of `test` (uint8 images with labels) classified correctly; also stored in c->test_accuracy. */
eb_status eb_classifier_accuracy(eb_classifier *c, const eb_backend *be, const eb_dataset *test, double *acc);

/* safetensors: the net's tensors ("C.0.weight", ...) and metadata format, spec, input shape, classes,
 * test_accuracy, steps, batch. Written atomically. */
eb_status eb_classifier_save(eb_classifier *c, const eb_backend *be, const char *path);
/* Rebuilds the classifier from its file (spec and shapes from the metadata, every tensor checked). */
eb_status eb_classifier_load(eb_classifier *c, const eb_backend *be, const char *path, int max_batch);

/* Fashion-MNIST from EB_FASHION_MNIST_DIR: the 60000 training images (test_set = 0) or the 10000 test images
 * (test_set = 1), with labels. EB_ERR_IO naming the file when the dataset is not installed. */
eb_status eb_fashion_mnist_load(eb_dataset *ds, int test_set);

#endif
