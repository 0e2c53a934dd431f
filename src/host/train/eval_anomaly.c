/* Ranking figures of an anomaly score (anomaly.h): the precision-recall and ROC curves over the distinct
 * scores, and their areas exactly as scikit-learn (and so the paper's code) computes them. */
#include "ebgan/anomaly.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored { float s; uint8_t pos; } scored;

static int by_score_desc(const void *pa, const void *pb) {
    float a = ((const scored *)pa)->s, b = ((const scored *)pb)->s;
    return (a < b) - (a > b);
}

/* The cumulative (true, false) positive counts after each distinct score, highest score first: the
 * thresholds of sklearn's _binary_clf_curve. *m groups; tp, fp malloc'd. */
static eb_status clf_curve(const float *score, const uint8_t *positive, size_t n, int64_t **tp, int64_t **fp,
                           size_t *m) {
    *tp = *fp = NULL;
    *m = 0;
    if (n == 0) return EB_FAIL(EB_ERR_ARG, "anomaly metrics: no samples");
    scored *v = malloc(n * sizeof *v);
    int64_t *t = malloc(n * sizeof *t), *f = malloc(n * sizeof *f);
    if (!v || !t || !f) {
        free(v);
        free(t);
        free(f);
        return EB_FAIL(EB_ERR_OOM, "anomaly metrics: %zu scores", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(score[i])) {
            free(v);
            free(t);
            free(f);
            return EB_FAIL(EB_ERR_NUMERIC, "anomaly score %zu is %g: the model gives no finite score", i,
                           (double)score[i]);
        }
        v[i] = (scored){score[i], (uint8_t)(positive[i] != 0)};
    }
    qsort(v, n, sizeof *v, by_score_desc);
    int64_t ct = 0, cf = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].pos) ct++;
        else cf++;
        if (i + 1 == n || v[i + 1].s != v[i].s) {
            t[k] = ct;
            f[k] = cf;
            k++;
        }
    }
    free(v);
    if (ct == 0 || cf == 0) {
        free(t);
        free(f);
        return EB_FAIL(EB_ERR_ARG, "anomaly metrics need both classes: %lld anomalies among %zu samples",
                       (long long)ct, n);
    }
    *tp = t;
    *fp = f;
    *m = k;
    return EB_OK;
}

eb_status eb_anomaly_metrics_compute(const float *score, const uint8_t *positive, size_t n, eb_anomaly_metrics *m) {
    int64_t *tp, *fp;
    size_t k;
    EB_TRY(clf_curve(score, positive, n, &tp, &fp, &k));
    const double P = (double)tp[k - 1], N = (double)fp[k - 1];
    double auprc = 0, ap = 0, roc = 0;
    double r0 = 0, p0 = 1, x0 = 0, y0 = 0; /* the curves' start: (recall 0, precision 1) and ROC (0, 0) */
    for (size_t i = 0; i < k; i++) {
        double r = (double)tp[i] / P, p = (double)tp[i] / (double)(tp[i] + fp[i]);
        auprc += (r - r0) * (p + p0) * 0.5;
        ap += (r - r0) * p;
        double x = (double)fp[i] / N, y = (double)tp[i] / P;
        roc += (x - x0) * (y + y0) * 0.5;
        r0 = r, p0 = p, x0 = x, y0 = y;
    }
    *m = (eb_anomaly_metrics){auprc, ap, roc, P / (double)n, (int64_t)n, (int64_t)P};
    free(tp);
    free(fp);
    return EB_OK;
}

eb_status eb_anomaly_pr_curve(const float *score, const uint8_t *positive, size_t n, double **recall,
                              double **precision, size_t *npts) {
    int64_t *tp, *fp;
    size_t k;
    *recall = *precision = NULL;
    *npts = 0;
    EB_TRY(clf_curve(score, positive, n, &tp, &fp, &k));
    double *r = malloc((k + 1) * sizeof *r), *p = malloc((k + 1) * sizeof *p);
    if (!r || !p) {
        free(r);
        free(p);
        free(tp);
        free(fp);
        return EB_FAIL(EB_ERR_OOM, "anomaly PR curve: %zu points", k + 1);
    }
    r[0] = 0;
    p[0] = 1;
    for (size_t i = 0; i < k; i++) {
        r[i + 1] = (double)tp[i] / (double)tp[k - 1];
        p[i + 1] = (double)tp[i] / (double)(tp[i] + fp[i]);
    }
    free(tp);
    free(fp);
    *recall = r;
    *precision = p;
    *npts = k + 1;
    return EB_OK;
}
