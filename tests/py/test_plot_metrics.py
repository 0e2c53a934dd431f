#!/usr/bin/env python3
"""scripts/plot_metrics.py on runs as they occur: one complete, one still being written (torn last line)
that was also resumed (its steps after the checkpoint logged twice: the replay's values win), and one with
nothing yet (a one-line error). Exit 0 pass, 1 fail, 77 skipped (matplotlib missing)."""
import json
import os
import shutil
import subprocess
import sys

try:
    import matplotlib  # noqa: F401
except ImportError:
    print("  matplotlib not importable: skipped")
    sys.exit(77)

SRC = os.environ.get("EBGAN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
TMP = os.path.join(os.environ.get("EBGAN_BINARY_DIR", "."), "test-runs", "plot-metrics")
sys.path.insert(0, os.path.join(SRC, "scripts"))
import plot_metrics  # noqa: E402

KEYS = ["u_loss", "u_real", "u_fake", "penalty", "g_loss", "g_u_fake", "mi_loss", "grad_norm_u", "grad_norm_g",
        "grad_norm_mi", "it_per_s", "samples_per_s"]


def rec(step, scale):
    r = {"step": step, "wall_s": step * 0.1}
    r.update({k: scale * (1 + i) * (1 + step / 100.0) for i, k in enumerate(KEYS)})
    return json.dumps(r)


def main():
    shutil.rmtree(TMP, ignore_errors=True)
    a, b, empty = (os.path.join(TMP, n) for n in ("run-a", "run-b", "run-empty"))
    for d in (a, b, empty):
        os.makedirs(d)
    with open(os.path.join(a, "metrics.jsonl"), "w") as f:
        f.write("".join(rec(s, 1.0) + "\n" for s in range(10, 101, 10)))
    with open(os.path.join(b, "metrics.jsonl"), "w") as f:
        f.write("".join(rec(s, 2.0) + "\n" for s in range(10, 61, 10)))   # first session, to 60
        f.write("".join(rec(s, 3.0) + "\n" for s in range(50, 81, 10)))   # resumed from the step-40 checkpoint
        f.write(rec(90, 3.0)[:37])                                        # being written: torn
    open(os.path.join(empty, "metrics.jsonl"), "w").close()

    steps, recs, skipped = plot_metrics.load_metrics(b)
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80], steps
    assert skipped == 1, skipped
    want = {s: 2.0 if s <= 40 else 3.0 for s in steps}
    for s, r in zip(steps, recs):
        assert r["u_loss"] == want[s] * (1 + s / 100.0), (s, r["u_loss"])

    out = os.path.join(TMP, "both.png")
    p = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "plot_metrics.py"), a,
                        os.path.join(b, "metrics.jsonl"), "--out", out, "--names", "first,second"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "second: 8 steps (10..80), 1 unreadable line(s) skipped" in p.stdout, p.stdout
    with open(out, "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000, len(png)
    import matplotlib.image as mpimg
    img = mpimg.imread(out)
    assert img.shape[0] == 800 and img.shape[1] == 1500, img.shape  # 15 x 8 inches at 100 dpi

    p = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "plot_metrics.py"), a, b, "--out",
                        os.path.join(TMP, "auto.png")], capture_output=True, text=True)
    assert p.returncode == 0 and "run-a: 10 steps" in p.stdout and "run-b: 8 steps" in p.stdout, (p.stdout, p.stderr)

    p = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "plot_metrics.py"), empty, "--out",
                        os.path.join(TMP, "none.png")], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "no metrics lines yet" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(TMP, "none.png"))
    print("  plot_metrics: overlay written, torn line skipped, replayed steps keep the last value")
    return 0


if __name__ == "__main__":
    sys.exit(main())
