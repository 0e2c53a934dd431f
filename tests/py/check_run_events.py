#!/usr/bin/env python3
"""A training run's event file read by TensorBoard's EventAccumulator against the run's own files: every
scalar of every metrics.jsonl line at its step (tags loss/, energy/, grad/, speed/ + the metrics name),
equal to the JSON's value up to the digits metrics.jsonl prints (a step a resumed run replayed: its last
line, and TensorBoard must show that step once); images/samples at each plot step, the last
one byte for byte samples.png; for 2-D data also images/energy.
usage: check_run_events.py RUN_DIR PLOT_STEP[,PLOT_STEP...] two_d|images"""
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator as ea

GROUP = {"u_loss": "loss", "penalty": "loss", "g_loss": "loss", "mi_loss": "loss", "u_real": "energy",
         "u_fake": "energy", "g_u_fake": "energy", "grad_norm_u": "grad", "grad_norm_g": "grad",
         "grad_norm_mi": "grad", "it_per_s": "speed", "samples_per_s": "speed", "wall_s": "speed"}
# metrics.jsonl prints %.9g, except grad norms %.6g, it/s %.4g, wall_s %.3f; the event stores float32
REL = {"grad_norm_u": 1e-5, "grad_norm_g": 1e-5, "grad_norm_mi": 1e-5, "it_per_s": 1e-3, "samples_per_s": 1e-5}


def main(run, plot_steps, kind):
    acc = ea.EventAccumulator(run, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
    acc.Reload()
    by_step = {}
    for l in open(os.path.join(run, "metrics.jsonl")):
        rec = json.loads(l)
        by_step[rec["step"]] = rec  # a step logged twice (replayed after a resume): the last one counts
    lines = [by_step[k] for k in sorted(by_step)]
    assert lines, "metrics.jsonl is empty"
    tags = acc.Tags()
    want_tags = sorted("%s/%s" % (GROUP[k], k) for k in lines[0] if k != "step")
    assert sorted(tags["scalars"]) == want_tags, (sorted(tags["scalars"]), want_tags)
    n = 0
    for key, group in GROUP.items():
        got = {e.step: e.value for e in acc.Scalars("%s/%s" % (group, key))}
        assert sorted(got) == [l["step"] for l in lines], (key, sorted(got))
        for l in lines:
            a, b = got[l["step"]], l[key]
            tol = 2e-3 if key == "wall_s" else REL.get(key, 2e-7) * max(abs(b), 1e-30)
            assert math.isclose(a, b, rel_tol=0, abs_tol=tol), (key, l["step"], a, b)
            n += 1
    img_tags = ["images/samples"] + (["images/energy"] if kind == "two_d" else [])
    assert sorted(tags["images"]) == sorted(img_tags), tags["images"]
    for tag in img_tags:
        ev = acc.Images(tag)
        assert [e.step for e in ev] == plot_steps, (tag, [e.step for e in ev], plot_steps)
        for e in ev:
            assert e.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and e.width > 0 and e.height > 0, tag
    last = acc.Images("images/samples")[-1].encoded_image_string
    assert last == open(os.path.join(run, "samples.png"), "rb").read(), "last image differs from samples.png"
    print("  tensorboard: %d scalars match metrics.jsonl, images at steps %s" % (n, plot_steps))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")], sys.argv[3]))
