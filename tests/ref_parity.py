#!/usr/bin/env python3
"""Parity of the U step against PyTorch in float64 (not a ctest: CI has no torch; run it by hand).

  python3 tests/ref_parity.py [--build build]

For each case it trains one iteration with `ebgan-gpu train` (CPU, so U has non-trivial weights and biases),
exports the U-step gradient with `ebgan-gpu grads` on a random real / fake batch, rebuilds U in PyTorch
(float64) from the checkpoint, and compares the loss terms and every parameter gradient, the score
penalty's part included (torch.autograd.grad(create_graph=True)):
  toy      the toy preset's U (LeakyReLU MLP)
  mnist    the mnist preset's conv U at --dim 32 on 1x28x28 images
  smooth   a custom conv U on 28x28 with softplus / tanh / sigmoid (the curvature sweep of DESIGN.md §2)
  cifar    the cifar preset's U at --dim 128 on 3x32x32 images: its k3 s1 / k4 s2 layers take the Winograd
           path of the CPU backend (src/kernels/cpu/conv/wino_*.c) in all three conv ops
It also checks that the paper's penalty form (norm over dim 1 of NCHW, mean over batch and pixels, lambda 10)
equals ours (full norm, lambda 10/(H*W)), and that bench/ref_pytorch.py's two variants (paper, lean) give the
same gradients for G, T and U on every preset (reduced width).
Engine in float32 vs PyTorch in float64: tolerance on ||ours - torch|| / ||torch|| per tensor.
Exit: 0 all pass, 1 a mismatch, 77 PyTorch or the binary missing.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("ref_parity: SKIP: PyTorch is not installed")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL_GRAD = 1e-3   # relative, per tensor (float32 engine vs float64; PyTorch float32 itself reaches 5e-4 here)
TOL_TERM = 1e-5   # relative, loss terms


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__", {})
    dt = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "U8": np.uint8}
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(blob[a:b], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return out, meta


class SpecNet(nn.Module):
    """A sequential net from our spec grammar (include/ebgan/net.h); module i = spec layer i, so parameter
    names match the checkpoint's "<net>.<i>.weight"."""

    def __init__(self, spec, in_shape):
        super().__init__()
        c, h, w = in_shape
        mods = []
        for tok in spec.split(","):
            p = tok.strip().split(":")
            kind, args = p[0], p[1:]
            nb = "nobias" in args
            args = [a for a in args if a != "nobias"]
            if kind == "linear":
                mods.append(nn.Linear(c * h * w, int(args[0]), bias=not nb))
                c, h, w = int(args[0]), 1, 1
            elif kind == "conv":
                o, k, s, pd = map(int, args)
                mods.append(nn.Conv2d(c, o, k, s, pd, bias=not nb))
                c, h, w = o, (h + 2 * pd - k) // s + 1, (w + 2 * pd - k) // s + 1
            elif kind == "lrelu":
                mods.append(nn.LeakyReLU(float(args[0])))
            elif kind in ("relu", "tanh", "softplus", "sigmoid"):
                mods.append({"relu": nn.ReLU, "tanh": nn.Tanh, "softplus": nn.Softplus, "sigmoid": nn.Sigmoid}[kind]())
            else:
                raise ValueError("ref_parity: layer '%s' not supported in U here" % kind)
        self.layers = nn.ModuleList(mods)
        self.in_shape = in_shape

    def forward(self, x):
        x = x.view(x.size(0), *self.in_shape)
        for m in self.layers:
            if isinstance(m, nn.Linear):
                x = x.flatten(1)
            x = m(x)
        return x.flatten(1).squeeze(1)


def u_loss_torch(U, xr, xf, lam):
    xr = xr.clone().requires_grad_(True)
    e = U(xr)
    g = torch.autograd.grad(e.sum(), xr, create_graph=True)[0]
    pen = lam * g.flatten(1).pow(2).sum(1).mean()
    u_real, u_fake = e.mean(), U(xf).mean()
    return u_real - u_fake + pen, u_real, u_fake, pen, g


def rel(a, b, floor=1e-300):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), floor))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write("ref_parity: %s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        raise SystemExit(1)
    return r.stdout


def check_case(name, exe, tmp, model, dataset, shape, extra, B=16):
    run_dir = os.path.join(tmp, name)
    out = run([exe, "train", "--model", model, "--dataset", dataset, "--iters", "1", "--out", run_dir, "--device",
               "cpu", "--progress", "0", "--batch", str(B)] + extra)
    u_spec = [l for l in out.splitlines() if "(networks) U " in l][0].split("(networks) U ")[1].split(" | G ")[0]
    ckpt = [f for f in os.listdir(run_dir) if f.endswith(".safetensors")][0]
    weights, meta = read_safetensors(os.path.join(run_dir, ckpt))
    lam = float([l for l in meta["config"].splitlines() if l.startswith("lambda =")][0].split("=")[1])
    rng = np.random.default_rng(7)
    # real and fake from different laws, so that mean U(real) - mean U(fake) does not cancel to rounding noise
    xr = rng.uniform(-1, 1, (B,) + shape).astype(np.float32)
    xf = (0.3 * rng.standard_normal((B,) + shape) + 0.2).astype(np.float32)
    np.save(os.path.join(tmp, name + "_r.npy"), xr)
    np.save(os.path.join(tmp, name + "_f.npy"), xf)
    gpath = os.path.join(tmp, name + "_g.safetensors")
    run([exe, "grads", "--run", run_dir, "--real", os.path.join(tmp, name + "_r.npy"), "--fake",
         os.path.join(tmp, name + "_f.npy"), "--out", gpath, "--device", "cpu"])
    grads, gmeta = read_safetensors(gpath)

    U = SpecNet(u_spec, shape if len(shape) == 3 else (shape[0], 1, 1)).double()
    state = {k[2:]: torch.from_numpy(v.astype(np.float64)) for k, v in weights.items() if k.startswith("U.")}
    state = {"layers." + k: v for k, v in state.items()}
    U.load_state_dict(state)
    txr, txf = torch.from_numpy(xr).double(), torch.from_numpy(xf).double()
    loss, u_real, u_fake, pen, g = u_loss_torch(U, txr, txf, lam)
    U.zero_grad()
    loss.backward(retain_graph=True)
    full = {n: p.grad.clone() for n, p in U.named_parameters()}
    U.zero_grad()
    pen.backward()
    pen_g = {n: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for n, p in U.named_parameters()}

    # the same in PyTorch float32: the rounding noise one can expect from a float32 engine
    U32 = SpecNet(u_spec, U.in_shape).float()
    U32.load_state_dict({k: v.float() for k, v in U.state_dict().items()})
    l32 = u_loss_torch(U32, txr.float(), txf.float(), lam)[0]
    U32.zero_grad()
    l32.backward()
    full32 = {n: p.grad.double() for n, p in U32.named_parameters()}

    worst, ok = 0.0, True
    loss, u_real, u_fake, pen = (t.detach() for t in (loss, u_real, u_fake, pen))
    scale = max(abs(float(u_real)), abs(float(u_fake)), abs(float(pen)))  # the loss is a difference of these
    for term, ref in (("loss", loss), ("u_real", u_real), ("u_fake", u_fake), ("penalty", pen)):
        e = abs(float(gmeta[term]) - float(ref)) / max(abs(float(ref)), scale if term == "loss" else 1e-30)
        if e > TOL_TERM:
            print("  %s: term %s ours %s torch %.9g (rel %.2e)" % (name, term, gmeta[term], float(ref), e))
            ok = False
    # per tensor, relative to the tensor's norm, floored at 1e-3 of the whole net's gradient (a tensor whose
    # gradient is ~0, e.g. a bias the penalty does not reach, is compared on the net's scale)
    floor = {"grad.": 1e-3 * float(torch.cat([t.flatten() for t in full.values()]).norm()),
             "penalty_grad.": 1e-3 * float(torch.cat([t.flatten() for t in pen_g.values()]).norm())}
    # `grads` writes the penalty's part as (full - without penalty) in float32: when the penalty's gradient is
    # tiny next to the rest (the preset lambda at initial weights), that difference carries ~1e-7 of the full
    # gradient's norm as rounding; floor the penalty part's scale there (1e-4 of the full norm)
    floor["penalty_grad."] = max(floor["penalty_grad."], 1e-1 * floor["grad."])
    for n in full:
        key = n.replace("layers.", "U.")
        for part, ref in (("grad.", full[n]), ("penalty_grad.", pen_g[n])):
            e = rel(grads[part + key], ref.numpy(), floor[part])
            worst = max(worst, e)
            if e > TOL_GRAD:
                print("  %s: %s%s rel err %.2e" % (name, part, key, e))
                ok = False
    # the paper's penalty form: norm over dim 1 of NCHW, mean over batch and pixels, lambda * H * W
    if len(shape) == 3:
        hw = shape[1] * shape[2]
        paper = ((lam * hw) * (g.norm(2, dim=1) ** 2).mean()).detach()
        if abs(float(paper) - float(pen)) > 1e-12 * abs(float(pen)):
            print("  %s: paper penalty form %.17g != ours %.17g" % (name, float(paper), float(pen)))
            ok = False
    noise = max(rel(full32[n].numpy(), full[n].numpy(), floor["grad."]) for n in full)
    print("%s %-8s U %s | lambda %.6g | loss %.6g penalty %.3g | worst grad rel err %.1e (torch float32: %.1e)" %
          ("ok  " if ok else "FAIL", name, u_spec, lam, float(loss), float(pen), worst, noise))
    return ok


def check_ref_variants():
    """bench/ref_pytorch.py: the paper and lean variants give the same gradients (float64, reduced width)."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import ref_pytorch as rp
    torch.set_default_dtype(torch.float64)
    ok = True
    for model in ("toy", "mnist", "cifar"):
        cfg = dict(rp.PRESETS[model], dim=32 if model != "toy" else 64)
        B = 8
        grads = {}
        for variant in ("paper", "lean"):
            torch.manual_seed(3)
            m = rp.MEG(model, cfg, B, "cpu", variant)
            for opt in (m.opt_U, m.opt_G, m.opt_T):
                opt.step = lambda *a, **k: None  # gradients only
            torch.manual_seed(4)
            m.g_step()
            gg = [p.grad.clone() for p in list(m.G.parameters()) + m.T_params]
            m.u_step()
            gu = [p.grad.clone() for p in m.U.parameters()]
            grads[variant] = gg + gu
        flat = {v: torch.cat([t.flatten() for t in g]).numpy() for v, g in grads.items()}
        e = rel(flat["paper"], flat["lean"])
        good = e < 1e-10
        ok &= good
        print("%s ref_pytorch %-5s paper vs lean: G, T, U gradients max rel diff %.1e" % ("ok  " if good else "FAIL",
                                                                                          model, e))
    torch.set_default_dtype(torch.float32)
    return ok


def main():
    ap = argparse.ArgumentParser(description="U-step parity against PyTorch in float64")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    exe = os.path.join(a.build, "ebgan-gpu")
    if not os.access(exe, os.X_OK):
        print("ref_parity: SKIP: %s not built" % exe)
        return 77
    ok = True
    with tempfile.TemporaryDirectory(prefix="ebgan_parity_") as tmp:
        imgs = os.path.join(tmp, "img28.npy")
        np.save(imgs, np.random.default_rng(1).integers(0, 256, (64, 1, 28, 28), dtype=np.uint8))
        ok &= check_case("toy", exe, tmp, "toy", "25gaussians", (2,), [])
        ok &= check_case("mnist", exe, tmp, "mnist", imgs, (1, 28, 28), ["--dim", "32"])
        ok &= check_case("mnist-L", exe, tmp, "mnist", imgs, (1, 28, 28), ["--dim", "32", "--lambda", "1000"])
        ok &= check_case("smooth", exe, tmp, "conv:8:5:2:2,softplus,conv:16:5:2:2,tanh,linear:32,sigmoid,linear:1",
                         imgs, (1, 28, 28), ["--dim", "32", "--lambda", "1000"])
        rgb = os.path.join(tmp, "img32.npy")
        np.save(rgb, np.random.default_rng(2).integers(0, 256, (64, 3, 32, 32), dtype=np.uint8))
        ok &= check_case("cifar", exe, tmp, "cifar", rgb, (3, 32, 32), ["--dim", "128"])
    ok &= check_ref_variants()
    print("ref_parity: %s" % ("all passed" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
