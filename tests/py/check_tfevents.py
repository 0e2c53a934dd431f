#!/usr/bin/env python3
"""Reads an event directory with TensorBoard's own EventAccumulator and checks it against a list of what
was written (test_tfevents.c): `scalar TAG STEP VALUE` (float32, %.9g) and `image TAG STEP PNGFILE W H`.
Every entry must be present exactly once, equal (scalars bit-for-bit as float32, images byte-for-byte)."""
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def f32(x):
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def main(d, expected):
    acc = ea.EventAccumulator(d, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
    acc.Reload()
    scalars, images = {}, {}
    for line in open(expected, encoding="utf-8"):
        kind, tag, step, *rest = line.rstrip("\n").split("\t")
        if kind == "scalar":
            scalars.setdefault(tag, []).append((int(step), f32(rest[0])))
        else:
            images.setdefault(tag, []).append((int(step), open(rest[0], "rb").read(), int(rest[1]), int(rest[2])))
    tags = acc.Tags()
    assert sorted(tags["scalars"]) == sorted(scalars), (tags["scalars"], sorted(scalars))
    assert sorted(tags["images"]) == sorted(images), (tags["images"], sorted(images))
    n = 0
    for tag, want in scalars.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert got == want, (tag, got[:5], want[:5])
        n += len(got)
    for tag, want in images.items():
        got = [(e.step, e.encoded_image_string, e.width, e.height) for e in acc.Images(tag)]
        assert len(got) == len(want), (tag, len(got), len(want))
        for g, w in zip(got, want):
            assert g == w, (tag, g[0], w[0], len(g[1]), len(w[1]), g[2:], w[2:])
        n += len(got)
    print("  tensorboard read back %d scalars and images, all equal" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
