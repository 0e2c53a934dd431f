#!/usr/bin/env python3
"""scripts/demo_verdict.py: a GPU demo inside the CPU seeds' widened range agrees, one outside disagrees, the
floor applies when the CPU seeds agree exactly, and missing CPU data is a failure, not a pass."""
import json
import os
import subprocess
import sys
import tempfile

SRC = os.environ.get("EBGAN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SRC, "scripts", "demo_verdict.py")


def run(gpu, cpus):
    with tempfile.TemporaryDirectory() as d:
        g, c = os.path.join(d, "eval.json"), os.path.join(d, "cpu.jsonl")
        json.dump(gpu, open(g, "w"))
        if cpus is not None:
            with open(c, "w") as f:
                for x in cpus:
                    f.write(json.dumps(x) + "\n")
        p = subprocess.run([sys.executable, SCRIPT, g, c], capture_output=True, text=True)
        return p.returncode, p.stdout.strip()


def ev(modes, hq):
    return {"modes_covered": modes, "high_quality_fraction": hq}


def main():
    cpus = [ev(25, 0.80), ev(24, 0.86), ev(25, 0.83)]
    checks = [
        ("inside the range", ev(25, 0.84), cpus, 0),
        ("within the range's widening", ev(23, 0.90), cpus, 0),   # spread 1 mode, 0.06 hq
        ("hq below the widened range", ev(25, 0.70), cpus, 1),
        ("modes below the widened range", ev(21, 0.83), cpus, 1),
        ("floor with identical seeds", ev(24, 0.815), [ev(25, 0.80), ev(25, 0.80)], 0),
        ("outside the floor", ev(25, 0.83), [ev(25, 0.80), ev(25, 0.80)], 1),
        ("no CPU data", ev(25, 0.8), None, 1),
        ("empty CPU data", ev(25, 0.8), [], 1),
    ]
    bad = 0
    for name, gpu, cpu, want in checks:
        rc, out = run(gpu, cpu)
        status = "ok" if rc == want else "FAILED"
        bad += rc != want
        print("%-32s rc %d (want %d) %s: %s" % (name, rc, want, status, out))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
