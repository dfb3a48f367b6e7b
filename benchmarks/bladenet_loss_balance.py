"""How strongly each BladeNet loss term pulls on the network: gradient norms per term.

With images in [0, 1] the MSE is small (about 5e-3 on blurred LBS crops) and so is its gradient,
while DICE and BCE are O(1): a weight that looks small can still dominate the shared weights. This
script measures, on a few LBS batches and for given weights, the L2 norm of the gradient of each
term on the main network's parameters and on the LBP's, so the loss weights of a recipe can be
chosen by the share of the gradient each term gets.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bladenet_loss_balance.py \
        [--weights src/blurmap/weights_data/bladenet_starter.safetensors] [--size 160] [--batches 4]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="src/blurmap/weights_data/bladenet_starter.safetensors")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--w-dice", type=float, nargs="*", default=[0.25, 0.01, 0.002, 0.0001])
    args = ap.parse_args(argv)

    from blurmap.bench.quality import PROCEDURAL_LOCAL_OPTIONS
    from blurmap.losses.segmentation import bce_loss, dice_loss
    from blurmap.synth.local import LocalBlurConfig, LocalBlurDataset, local_config
    from blurmap.weights import load_network

    torch.manual_seed(0)
    net = load_network(args.weights).train()
    cfg, proc = local_config(LocalBlurConfig(), PROCEDURAL_LOCAL_OPTIONS)
    ds = LocalBlurDataset(args.size, args.batches * args.batch_size, 3, "procedural,bundled", "procedural,bundled",
                          cfg, proc)
    groups = {"main": [p for n, p in net.named_parameters() if not n.startswith("lbp.")],
              "lbp": [p for n, p in net.named_parameters() if n.startswith("lbp.")]}
    norms = {k: {g: [] for g in groups} for k in ("mse", "dice", "bce")}
    values = {k: [] for k in norms}
    for b in range(args.batches):
        items = [ds[b * args.batch_size + i] for i in range(args.batch_size)]
        blur, sharp, mask = (torch.stack([s[k] for s in items]) for k in ("blur", "sharp", "mask"))
        for term in norms:
            net.zero_grad()
            out = net(blur, outputs="all")
            if term == "mse":
                loss = F.mse_loss(out["image"], sharp)
            elif term == "dice":
                loss = dice_loss(out["attention"], mask)
            else:
                loss = bce_loss(out["lbp_logits"], mask)
            loss.backward()
            values[term].append(float(loss.detach()))
            for g, params in groups.items():
                norms[term][g].append(sum(float((p.grad ** 2).sum()) for p in params if p.grad is not None) ** 0.5)
    print(f"{'term':<6}{'loss':>10}{'|grad| main':>14}{'|grad| LBP':>12}")
    for term in norms:
        print(f"{term:<6}{np.mean(values[term]):>10.4g}{np.mean(norms[term]['main']):>14.4g}"
              f"{np.mean(norms[term]['lbp']):>12.4g}")
    mse, dice = np.mean(norms["mse"]["main"]), np.mean(norms["dice"]["main"])
    print("\nshare of DICE in the gradient on the main network, w_dice * |grad DICE| / |grad MSE|:")
    for w in args.w_dice:
        print(f"  w_dice = {w:<8g} -> {w * dice / mse:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
