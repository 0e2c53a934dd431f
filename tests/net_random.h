/* Random parameters for the float64 gradient checks (grad_*): every parameter and buffer of a net drawn from the
 * harness's stream at a scale that keeps activations O(1). Header-only, for the oracle (float64) build. */
#ifndef EBGAN_TESTS_NET_RANDOM_H
#define EBGAN_TESTS_NET_RANDOM_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ebgan/net.h"
#include "harness.h"

/* Weights U(-a, a), a = 1.5 / sqrt(len / shape[0]) (the fan-in for every PyTorch weight layout, the fan-out for
 * a transposed convolution's), so every activation is exercised away from its linear regime (a paper-style
 * N(0, 0.02) init shrinks the signal through deep nets far below what finite differences resolve); biases and
 * batch norm beta U(-0.5, 0.5); batch norm gamma U(0.5, 1.5); running mean U(-0.5, 0.5) and var U(0.5, 1.5).
 * On the CPU backend device memory is host memory. */
static inline void eb_test_net_randomize(eb_net *net, uint64_t *state) {
    typedef char eb_assert_f64[sizeof(eb_real) == sizeof(double) ? 1 : -1];
    (void)sizeof(eb_assert_f64);
    eb_param_info info[64];
    const int count = eb_net_param_list(net, info, 64);
    for (int i = 0; i < count && i < 64; i++) {
        double *p = (info[i].is_buffer ? net->buffers : net->params) + info[i].offset;
        const char *what = strrchr(info[i].name, '.') + 1;
        const int is_weight = strcmp(what, "weight") == 0;
        const int is_bn = strstr(info[i].name, "running") != NULL || (info[i].ndim == 1 && is_weight);
        if (is_weight && !is_bn) {
            const double a = 1.5 / sqrt((double)info[i].len / (double)info[i].shape[0]);
            eb_test_fill_range(p, info[i].len, -a, a, state);
        } else if (is_weight || strcmp(what, "running_var") == 0) {
            eb_test_fill_range(p, info[i].len, 0.5, 1.5, state);
        } else {
            eb_test_fill_range(p, info[i].len, -0.5, 0.5, state);
        }
    }
}

#endif
