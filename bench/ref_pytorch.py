#!/usr/bin/env python3
"""PyTorch reference of one MEG training iteration, timed per preset (toy, mnist, cifar).

One iteration, as in the paper's code (train_functions.py of the MEG repository, @515676467):
  * G step: z ~ N(0, I); x = G(z); loss = mean U(x) + BCEWithLogits(T([x; x], [z; z[randperm]]), [1..1, 0..0]);
    Adam steps on G and T.
  * n_critic U steps, each on a fresh real batch and fresh fakes z ~ N(0, I) -> G(z) (G in training mode):
    loss = mean U(real) - mean U(fake) + lambda * mean_i ||grad_x U(real_i)||^2 (the score penalty, taken
    by torch.autograd.grad(create_graph=True), i.e. double backprop); Adam step on U.
  Adam(lr 1e-4, betas (0.5, 0.9), eps 1e-8) for every net.

The networks are the presets of src/host/nn/presets.c (the paper's networks/{toy,mnist,cifar}.py), written here
with torch.nn modules; widths, z_dim, batch, lambda and n_critic default to the presets' values.

lambda: our presets use the full per-sample norm, lambda = 0.1 on toys and 10/(H*W) on images. The paper's
code writes lambda = 10 with grad.norm(2, dim=1)**2 on NCHW (norm over channels, then the mean over batch
AND pixels): (10/(H*W)) * mean_i ||grad_i||^2 -- the same number. The penalty here is written in the
full-norm form with the preset's lambda.

Two variants (--variant, several allowed):
  paper  the paper's code's order of work, waste included: in the G step U's weight gradients are computed
         (U's parameters require grad; they are zeroed at the next U step); T's image trunk runs on the 2B
         concatenation [x; x]; the U step runs U on the real batch twice (once for mean U(real), once more
         inside the penalty) and builds G's graph for the fakes before detaching them.
  lean   what a careful PyTorch user would write: U frozen during the G step, T's trunk once on the B fakes,
         the fakes under no_grad, one forward of U on the real batch shared by mean U(real) and the penalty,
         one backward for the whole U loss.
Both compute the same losses and the same gradients (up to float rounding).

Data: random tensors of the right shape (toy: 2-D N(0, I); images: uniform in [-1, 1] like the
normalised pixels), a small pool of batches made once on the device and cycled through: the timing does not
depend on the values, and no data set is read.

Output: one JSON line per (model, variant):
  {"impl":"pytorch","model":...,"variant":...,"device":...,"batch":...,"it_per_s":...,"ms_per_it":...,
   "torch":version,"threads":...,...}
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    sys.stderr.write("ref_pytorch.py: PyTorch is not installed (pip install torch)\n")
    sys.exit(2)


# The presets' defaults (src/host/nn/presets.c: eb_preset_make, family_*).
PRESETS = {
    "toy": dict(data=(2,), z_dim=2, dim=512, batch=256, n_critic=5, lam=0.1, slope=0.2),
    "mnist": dict(data=(3, 28, 28), z_dim=128, dim=512, batch=64, n_critic=5, lam=10.0 / (28 * 28), slope=0.2),
    "cifar": dict(data=(3, 32, 32), z_dim=128, dim=512, batch=64, n_critic=5, lam=10.0 / (32 * 32), slope=0.1),
}
CPU_STEPS = {"toy": 20, "mnist": 3, "cifar": 2}


def mlp(n_in, dim, n_out, act):
    return nn.Sequential(nn.Linear(n_in, dim), act(), nn.Linear(dim, dim), act(), nn.Linear(dim, dim), act(),
                         nn.Linear(dim, n_out))


def lrelu(s):
    return lambda: nn.LeakyReLU(s)


def mnist_trunk(c, dim):
    """k5 s2 p2 convs 28 -> 14 -> 7 -> 4 -> 2, LeakyReLU 0.2, flattened (U, T and E trunk)."""
    layers, cin = [], c
    for cout in (dim // 8, dim // 4, dim // 2, dim):
        layers += [nn.Conv2d(cin, cout, 5, 2, 2), nn.LeakyReLU(0.2)]
        cin = cout
    return nn.Sequential(*layers, nn.Flatten())


def cifar_trunk(c, dim):
    """Seven convs, k3 s1 p1 / k4 s2 p1 alternating, 32 -> 16 -> 8 -> 4, LeakyReLU 0.1, flattened."""
    plan = [(dim // 8, 3, 1), (dim // 8, 4, 2), (dim // 4, 3, 1), (dim // 4, 4, 2), (dim // 2, 3, 1),
            (dim // 2, 4, 2), (dim, 3, 1)]
    layers, cin = [], c
    for cout, k, s in plan:
        layers += [nn.Conv2d(cin, cout, k, s, 1), nn.LeakyReLU(0.1)]
        cin = cout
    return nn.Sequential(*layers, nn.Flatten())


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.size(0), *self.shape)


def build(model, z_dim, dim, data):
    """U, G, T trunk (None for toy: T sees [x, z]), T head -- the spec strings of presets.c as modules."""
    if model == "toy":
        d = data[0]
        U = mlp(d, dim, 1, lrelu(0.2))
        G = mlp(z_dim, dim, d, nn.ReLU)
        return U, G, None, mlp(d + z_dim, dim, 1, lrelu(0.2))
    c = data[0]
    if model == "mnist":
        trunk = lambda: mnist_trunk(c, dim)
        feat = 4 * dim
        G = nn.Sequential(nn.Linear(z_dim, 4 * dim), Reshape(dim, 2, 2), nn.BatchNorm2d(dim), nn.ReLU(),
                          nn.ConvTranspose2d(dim, dim // 2, 5, 2, 2, output_padding=1), nn.BatchNorm2d(dim // 2),
                          nn.ReLU(),
                          nn.ConvTranspose2d(dim // 2, dim // 4, 5, 2, 2), nn.BatchNorm2d(dim // 4), nn.ReLU(),
                          nn.ConvTranspose2d(dim // 4, dim // 8, 5, 2, 2, output_padding=1), nn.BatchNorm2d(dim // 8),
                          nn.ReLU(),
                          nn.ConvTranspose2d(dim // 8, c, 5, 2, 2, output_padding=1), nn.Tanh())
        slope = 0.2
    else:
        trunk = lambda: cifar_trunk(c, dim)
        feat = 16 * dim
        G = nn.Sequential(nn.Linear(z_dim, 16 * dim), Reshape(dim, 4, 4),
                          nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1), nn.BatchNorm2d(dim // 2), nn.ReLU(),
                          nn.ConvTranspose2d(dim // 2, dim // 4, 4, 2, 1), nn.BatchNorm2d(dim // 4), nn.ReLU(),
                          nn.ConvTranspose2d(dim // 4, dim // 8, 4, 2, 1), nn.BatchNorm2d(dim // 8), nn.ReLU(),
                          nn.ConvTranspose2d(dim // 8, c, 3, 1, 1), nn.Tanh())
        slope = 0.1
    U = nn.Sequential(trunk(), nn.Linear(feat, 1))
    T_trunk = nn.Sequential(trunk(), nn.Linear(feat, z_dim))
    T_head = nn.Sequential(nn.Linear(2 * z_dim, dim), nn.LeakyReLU(slope), nn.Linear(dim, 1))
    return U, G, T_trunk, T_head


def score_penalty(lam, g):
    """lam * mean_i ||g_i||^2 over the full per-sample gradient (see the module docstring)."""
    return lam * g.flatten(1).pow(2).sum(1).mean()


class MEG:
    def __init__(self, model, cfg, batch, device, variant):
        self.cfg, self.B, self.device, self.variant = cfg, batch, device, variant
        self.U, self.G, self.T_trunk, self.T_head = [m.to(device) if m is not None else None
                                                     for m in build(model, cfg["z_dim"], cfg["dim"], cfg["data"])]
        adam = dict(lr=1e-4, betas=(0.5, 0.9), eps=1e-8)
        self.T_params = list(self.T_head.parameters()) + (list(self.T_trunk.parameters()) if self.T_trunk else [])
        self.opt_U = torch.optim.Adam(self.U.parameters(), **adam)
        self.opt_G = torch.optim.Adam(self.G.parameters(), **adam)
        self.opt_T = torch.optim.Adam(self.T_params, **adam)
        self.labels = torch.cat([torch.ones(batch), torch.zeros(batch)]).to(device)
        # a pool of real batches made once on the device, cycled through
        shape = (8, batch) + tuple(cfg["data"])
        if model == "toy":
            self.pool = torch.randn(shape, device=device)
        else:
            self.pool = torch.rand(shape, device=device) * 2 - 1
        self.k = 0
        for m in (self.U, self.G, self.T_head) + ((self.T_trunk,) if self.T_trunk else ()):
            m.train()

    def T(self, x, z):
        f = self.T_trunk(x) if self.T_trunk is not None else x
        return self.T_head(torch.cat([f, z], 1)).squeeze(1)

    def g_step(self):
        B, zd = self.B, self.cfg["z_dim"]
        self.opt_G.zero_grad(set_to_none=True)
        self.opt_T.zero_grad(set_to_none=True)
        z = torch.randn(B, zd, device=self.device)
        z_bar = z[torch.randperm(B, device=self.device)]
        x = self.G(z)
        if self.variant == "paper":
            # U's parameters require grad: backward also fills U's weight gradients (wasted work)
            self.U(x).mean().backward(retain_graph=True)
            logits = self.T(torch.cat([x, x], 0), torch.cat([z, z_bar], 0))  # trunk on 2B rows
            F.binary_cross_entropy_with_logits(logits, self.labels).backward()
        else:
            for p in self.U.parameters():
                p.requires_grad_(False)
            f = self.T_trunk(x) if self.T_trunk is not None else x  # trunk once on B rows
            h = torch.cat([torch.cat([f, z], 1), torch.cat([f, z_bar], 1)], 0)
            logits = self.T_head(h).squeeze(1)
            loss = self.U(x).mean() + F.binary_cross_entropy_with_logits(logits, self.labels)
            loss.backward()
            for p in self.U.parameters():
                p.requires_grad_(True)
        self.opt_G.step()
        self.opt_T.step()

    def u_step(self):
        B, zd, lam = self.B, self.cfg["z_dim"], self.cfg["lam"]
        x_real = self.pool[self.k % self.pool.shape[0]]
        self.k += 1
        self.opt_U.zero_grad(set_to_none=True)
        if self.variant == "paper":
            self.U(x_real).mean().backward()
            x_fake = self.G(torch.randn(B, zd, device=self.device)).detach()  # G's graph built, then dropped
            (-self.U(x_fake).mean()).backward()
            xr = x_real.detach().requires_grad_(True)
            e = self.U(xr)  # a second forward of U on the real batch
            g = torch.autograd.grad(e, xr, torch.ones_like(e), create_graph=True)[0]
            score_penalty(lam, g).backward()
        else:
            with torch.no_grad():
                x_fake = self.G(torch.randn(B, zd, device=self.device))
            xr = x_real.detach().requires_grad_(True)
            e = self.U(xr)
            g = torch.autograd.grad(e.sum(), xr, create_graph=True)[0]
            loss = e.mean() - self.U(x_fake).mean() + score_penalty(lam, g)
            loss.backward()
        self.opt_U.step()

    def iteration(self):
        self.g_step()
        for _ in range(self.cfg["n_critic"]):
            self.u_step()


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", nargs="+", choices=list(PRESETS), default=list(PRESETS))
    ap.add_argument("--variant", nargs="+", choices=["paper", "lean"], default=["paper"])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=0, help="batch size (0: the preset's, toy 256, images 64)")
    ap.add_argument("--steps", type=int, default=0, help="timed iterations (0: cuda 50; cpu toy 20, mnist 3, cifar 2)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    ap.add_argument("--tf32", choices=["on", "off"], default="on", help="TF32 matmuls / convolutions on CUDA")
    ap.add_argument("--cudnn-benchmark", choices=["on", "off"], default="on")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--n-stack", type=int, default=3, help="mnist channels (StackedMNIST: 3)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    if a.device == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("ref_pytorch.py: --device cuda but torch.cuda.is_available() is False\n")
        return 2
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
    torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
    torch.backends.cudnn.benchmark = a.cudnn_benchmark == "on"
    torch.manual_seed(a.seed)

    for model in a.model:
        cfg = dict(PRESETS[model])
        if model == "mnist":
            cfg["data"] = (a.n_stack, 28, 28)
        batch = a.batch or cfg["batch"]
        steps = a.steps or (50 if a.device == "cuda" else CPU_STEPS[model])
        for variant in a.variant:
            meg = MEG(model, cfg, batch, a.device, variant)
            for _ in range(a.warmup):
                meg.iteration()
            sync(a.device)
            times = []  # per iteration, synchronised: the mean, and the best one (robust to a busy machine)
            for _ in range(steps):
                t0 = time.perf_counter()
                meg.iteration()
                sync(a.device)
                times.append(time.perf_counter() - t0)
            dt = sum(times) / steps
            rec = {"impl": "pytorch", "model": model, "variant": variant, "device": a.device, "batch": batch,
                   "it_per_s": round(1.0 / dt, 5), "ms_per_it": round(1e3 * dt, 3),
                   "min_ms_per_it": round(1e3 * min(times), 3), "torch": torch.__version__,
                   "threads": torch.get_num_threads(), "steps": steps, "n_critic": cfg["n_critic"],
                   "dim": cfg["dim"], "z_dim": cfg["z_dim"], "data": list(cfg["data"]), "lambda": cfg["lam"]}
            if a.device == "cuda":
                rec["tf32"] = a.tf32
                rec["gpu"] = torch.cuda.get_device_name()
            print(json.dumps(rec), flush=True)
            del meg
    return 0


if __name__ == "__main__":
    sys.exit(main())
