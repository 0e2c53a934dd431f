#!/usr/bin/env python3
"""Training curves of one or more runs, overlaid, to one PNG (matplotlib):

  python3 scripts/plot_metrics.py RUN [RUN ...] [--out metrics.png] [--names a,b,...]

RUN is a run directory (its metrics.jsonl) or a metrics.jsonl file. Panels against step: the U and G losses,
the energies U(real) / U(fake), the penalty, the entropy (MI) surrogate, the gradient norms (log scale) and
iterations per second. A run still being written may end in a torn line: it is skipped. A resumed run
repeats the steps logged after its last checkpoint: the last value of each step is kept (the replay).
"""
import argparse
import json
import os
import sys

PANELS = [  # (title, [(key, label, line style)], log scale)
    ("loss", [("u_loss", "U loss", "-"), ("g_loss", "G loss", "--")], False),
    ("energy", [("u_real", "U(real)", "-"), ("u_fake", "U(fake)", "--")], False),
    ("penalty", [("penalty", "penalty", "-")], False),
    ("entropy (MI surrogate)", [("mi_loss", "MI loss", "-")], False),
    ("gradient norms", [("grad_norm_u", "U", "-"), ("grad_norm_g", "G", "--"), ("grad_norm_mi", "T / E", ":")], True),
    ("speed", [("it_per_s", "it/s", "-")], False),
]


def load_metrics(path):
    """{step: record} of a metrics.jsonl, the last record of a repeated step winning, a torn last line
    dropped; returns (steps sorted, records in that order, number of lines skipped)."""
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    by_step, skipped = {}, 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            step = int(rec["step"])
        except (ValueError, KeyError, TypeError):
            skipped += 1  # a torn line (the writer is mid-line) or a foreign one
            continue
        by_step[step] = rec
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps], skipped


def plot(runs, names, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, (name, (steps, recs)) in enumerate(zip(names, runs)):
        colour = colours[r % len(colours)]
        for ax, (title, series, log) in zip(axes.flat, PANELS):
            for key, label, style in series:
                pts = [(s, rec[key]) for s, rec in zip(steps, recs) if isinstance(rec.get(key), (int, float))]
                if log:
                    pts = [(s, v) for s, v in pts if v > 0]
                if not pts:
                    continue
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour, linewidth=1.2,
                        label="%s: %s" % (name, label) if len(series) > 1 else name)
    for ax, (title, series, log) in zip(axes.flat, PANELS):
        ax.set_title(title)
        ax.set_xlabel("step")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run directories or metrics.jsonl files")
    ap.add_argument("--out", default="metrics.png", help="output PNG (default: metrics.png)")
    ap.add_argument("--names", default="", help="comma-separated legend names (default: the run directories' names)")
    a = ap.parse_args(argv)
    names = a.names.split(",") if a.names else []
    if names and len(names) != len(a.runs):
        print("plot_metrics: --names has %d names for %d runs" % (len(names), len(a.runs)), file=sys.stderr)
        return 2
    auto_names = not names
    runs = []
    for i, path in enumerate(a.runs):
        try:
            steps, recs, skipped = load_metrics(path)
        except OSError as e:
            print("plot_metrics: %s: %s" % (path, e.strerror or e), file=sys.stderr)
            return 1
        if not steps:
            print("plot_metrics: %s: no metrics lines yet" % path, file=sys.stderr)
            return 1
        if auto_names:
            base = path[:-len("/metrics.jsonl")] if path.endswith("/metrics.jsonl") else path
            names.append(os.path.basename(os.path.normpath(base)) or base)
        runs.append((steps, recs))
        print("%s: %d steps (%d..%d)%s" % (names[i], len(steps), steps[0], steps[-1],
                                            ", %d unreadable line(s) skipped" % skipped if skipped else ""))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("plot_metrics: matplotlib is not installed (python3 -m pip install matplotlib)", file=sys.stderr)
        return 1
    plot(runs, names, a.out)
    print("wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
