#!/usr/bin/env python3
"""Does a demo run on the GPU agree with the CPU's? Compares the GPU run's eval.json with the evals of 2-3 CPU
seeds (one JSON line each): the GPU's run differs from the CPU's by rounding, which is worth about one more seed,
so it agrees when each number lies within the CPU seeds' range widened by that range on both sides (never less
than FLOOR: one mode, 0.02 of the high-quality fraction). Prints one line; exit 0 agree, 1 disagree or no data.
usage: demo_verdict.py GPU_EVAL.json CPU_EVALS.jsonl"""
import json
import sys

FLOOR = {"modes_covered": 1.0, "high_quality_fraction": 0.02}


def verdict(gpu, cpus):
    """(agree, text) for a GPU eval dict against a list of CPU eval dicts."""
    parts, ok = [], True
    for key, floor in FLOOR.items():
        vals = [float(c[key]) for c in cpus]
        lo, hi = min(vals), max(vals)
        spread = max(hi - lo, floor)
        g = float(gpu[key])
        inside = lo - spread <= g <= hi + spread
        ok &= inside
        parts.append("%s gpu %.3g, cpu %d seed(s) %.3g..%.3g (+-%.3g)%s" %
                     (key, g, len(vals), lo, hi, spread, "" if inside else " OUTSIDE"))
    return ok, "; ".join(parts) + (" | agree" if ok else " | DISAGREE")


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1])
        return 2
    try:
        gpu = json.load(open(argv[1]))
    except (OSError, ValueError) as e:
        print("no GPU eval: %s" % e)
        return 1
    try:
        cpus = [json.loads(l) for l in open(argv[2]) if l.strip().startswith("{")]
    except (OSError, ValueError) as e:
        print("gpu modes %s hq %.3f; no CPU verdict: %s" % (gpu.get("modes_covered"),
              gpu.get("high_quality_fraction", float("nan")), e))
        return 1
    if not cpus:
        print("no CPU eval line in %s" % argv[2])
        return 1
    ok, text = verdict(gpu, cpus)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
