#!/usr/bin/env python3
"""Checks the C anomaly figures (test_anomaly.c writes them with the scores) against scikit-learn:
AUPRC = auc(recall, precision) of precision_recall_curve (the MEG paper's code), average_precision_score,
roc_auc_score, the base rate, and the precision-recall curve itself (C: increasing recall from (0, 1))."""
import sys

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

TOL = 1e-12


def cases(path):
    lines = iter(open(path))
    for head in lines:
        _, n, auprc, ap, roc, base = head.split()
        n = int(n)
        rows = [next(lines).split() for _ in range(n)]
        s = np.array([float(a) for a, _ in rows], dtype=np.float32)
        y = np.array([int(b) for _, b in rows])
        k = int(next(lines).split()[1])
        curve = np.array([[float(v) for v in next(lines).split()] for _ in range(k)])
        yield n, float(auprc), float(ap), float(roc), float(base), s, y, curve


def main(path):
    count = 0
    for n, auprc, ap, roc, base, s, y, curve in cases(path):
        p, r, _ = precision_recall_curve(y, s)
        want = {"auprc": auc(r, p), "ap": average_precision_score(y, s), "roc": roc_auc_score(y, s),
                "base": y.mean()}
        got = {"auprc": auprc, "ap": ap, "roc": roc, "base": base}
        for key in want:
            assert abs(got[key] - want[key]) <= TOL, (n, key, got[key], want[key])
        ref = np.stack([r[::-1], p[::-1]], axis=1)  # sklearn: decreasing recall, (0, 1) last
        assert ref.shape == curve.shape, (n, ref.shape, curve.shape)
        assert np.abs(ref - curve).max() <= TOL, (n, np.abs(ref - curve).max())
        count += 1
    print("  %d cases equal to scikit-learn within %g" % (count, TOL))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
