"""Acceptance: CPU LBP / BladeNet trained briefly on on-the-fly LBS data.

What runs here (kept short for the shared 2-core CI machine; the longer run with the same
code path is ``benchmarks/bladenet_cpu_acceptance.py``):

- 64x64 LBS samples from :class:`blurmap.synth.local.LocalBlurDataset` (bundled photos and
  objects), motion sped up to 1.5-4 % of the canvas side per frame so the blur is a few px
  to ~30 px wide on such small canvases (the generator's default speeds are sized for
  256+ px crops). Training draws from a pool of 64 generated samples with random rot90/flip;
  held-out images come from another seed.
- LBP (width 8) alone with BCE for 250 steps of batch 4 (Adam, one-cycle lr 4e-3), bf16
  autocast, channels-last: IoU of ``p >= 0.5`` with the true masks on 16 held-out images
  must be >= 0.5.
- Then the main network (width 8, BSA) on top of that frozen LBP (the paper's first
  alternation stage) with MSE + 0.25 DICE for 150 steps: the mask-weighted PSNR on the
  held-out images must beat the blurred input.
"""

import pytest
import torch
import torch.nn.functional as F

from blurmap.losses.segmentation import bce_loss, dice_loss
from blurmap.metrics import masked_psnr
from blurmap.models.bladenet import BladeNet
from blurmap.physics.motion import MotionRanges
from blurmap.synth.local import LocalBlurConfig, LocalBlurDataset
from blurmap.train.data import rot_flip
from blurmap.train.recipes.bladenet import mask_iou

SIZE, POOL, VAL = 64, 64, 16
LBS = LocalBlurConfig(motion=MotionRanges(speed=(0.015, 0.04)))


def _batch(samples, keys=("blur", "sharp", "mask")):
    return {k: torch.stack([s[k] for s in samples]).contiguous(memory_format=torch.channels_last) for k in keys}


def _train(module, loss_fn, pool, steps, lr, gen, batch_size=4):
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    module.train()
    for _ in range(steps):
        idx = torch.randint(len(pool), (batch_size,), generator=gen)
        b = _batch([rot_flip(pool[int(i)], gen) for i in idx])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    module.eval()


@pytest.fixture(scope="module")
def trained():
    # One intra-op thread: on a shared 2-core machine a second OpenMP thread mostly spins.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield _train_models()
    finally:
        torch.set_num_threads(threads)


def _train_models():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    train_set = LocalBlurDataset(size=SIZE, length=POOL, seed=1, config=LBS)
    pool = [train_set[i] for i in range(POOL)]
    val_set = LocalBlurDataset(size=SIZE, length=VAL, seed=999, config=LBS)
    val = _batch([val_set[i] for i in range(VAL)])

    net = BladeNet(width=8, bottleneck_mult=4).to(memory_format=torch.channels_last)
    _train(net.lbp, lambda b: bce_loss(net.lbp(b["blur"]), b["mask"]), pool, 250, 4e-3, gen)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        lbp_prob = net.lbp.predict(val["blur"])["map"]

    net.lbp.requires_grad_(False)  # stage 1 of the alternation: LBP fixed, main net trains

    def main_loss(b):
        out = net.forward_train(b["blur"])
        return F.mse_loss(out["image"].float(), b["sharp"]) + 0.25 * dice_loss(out["attention"], b["mask"])

    _train(net.main, main_loss, pool, 150, 4e-3, gen)
    net.lbp.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        restored = net.predict(val["blur"])["image"].float()
    return val, lbp_prob, restored


def _np(t):
    return t.permute(1, 2, 0).double().numpy()


@pytest.mark.slow
def test_cpu_lbp_reaches_iou_half_on_held_out_lbs(trained):
    val, prob, _ = trained
    iou = mask_iou(prob, val["mask"])
    print(f"LBP IoU {iou:.3f}")
    assert iou >= 0.5, f"LBP IoU {iou:.3f}"


@pytest.mark.slow
def test_cpu_bladenet_improves_mask_weighted_psnr(trained):
    val, _, restored = trained
    out_db, in_db = [], []
    for i in range(VAL):
        m = val["mask"][i, 0].double().numpy()
        if m.sum() == 0:
            continue
        gt = _np(val["sharp"][i])
        out_db.append(masked_psnr(_np(restored[i]), gt, m))
        in_db.append(masked_psnr(_np(val["blur"][i]), gt, m))
    gain = sum(out_db) / len(out_db) - sum(in_db) / len(in_db)
    print(f"mask-weighted PSNR {sum(out_db) / len(out_db):.2f} dB vs input {sum(in_db) / len(in_db):.2f} dB")
    assert gain > 0.05, f"mask-weighted PSNR gain {gain:+.3f} dB"
