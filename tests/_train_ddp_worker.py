"""Run under ``torchrun --nproc_per_node 2`` by tests/test_train_engine.py (not a test itself).

One launch (imports are the slow part on CPU) trains two recipes in turn:
1. a GAN-like recipe with three models, a partially frozen model (``k.dec``), alternating
   sub-phases on two datasets, a joint phase fed by both, manual optimisation with
   ``ctx.frozen``, gradient accumulation and clipping — the DDP corner cases recipes meet,
2. the tiny recipe through the real CLI (``blurmap.cli.main``).
Usage: python _train_ddp_worker.py TINY_CONFIG OUT_TINY OUT_GAN
"""

import sys
from dataclasses import dataclass


def _gan_recipe():
    import torch
    import torch.nn.functional as F

    from blurmap.train.recipe import ModelSpec, Phase, Recipe, RecipeConfig, register_recipe
    from blurmap.train.recipes.tiny import GaussianBlurPairs

    @dataclass
    class Cfg(RecipeConfig):
        lr: float = 1e-3

    @register_recipe("_ddp_gan_like")
    class GanLike(Recipe):
        Config = Cfg

        def build_models(self):
            return {n: ModelSpec("tiny_unet", {"channels": 4}) for n in ("G", "D", "k")}

        def build_optimizers(self, models):
            return {n: torch.optim.Adam(m.parameters(), lr=self.cfg.lr) for n, m in models.items()}

        def build_datasets(self):
            photos = [torch.rand(3, 16, 16) for _ in range(2)]
            return {"train": GaussianBlurPairs(photos, 16), "other": GaussianBlurPairs(photos, 8)}

        def phases(self):
            return [Phase("warm", iters=2, train=("G", "k")),
                    Phase("alt", cycles=2, alternate=(
                        Phase("a", iters=1, train=("G", "D"), losses=("adv",), data="other"),
                        Phase("b", iters=1, train=("k.dec",)))),
                    Phase("joint", iters=2, data=("train", "other"))]

        def step(self, batch, ctx):
            if "train" in batch:
                batch = batch["train"]
            fake = ctx.models["G"](ctx.models["k"](batch["blur"]))
            out = {}
            if ctx.loss_on("adv"):
                d = ctx.models["D"](torch.cat([batch["sharp"], fake.detach()]))  # one D forward per backward
                d_loss = d[: len(fake)].mean() - d[len(fake):].mean()
                ctx.backward(d_loss)
                ctx.optimizer_step("D")
                out["d"] = d_loss
                with ctx.frozen("D"):
                    g_loss = F.l1_loss(fake, batch["sharp"]) + 0.01 * ctx.models["D"](fake).mean()
            else:
                g_loss = F.l1_loss(fake, batch["sharp"])
            ctx.backward(g_loss)
            for n in ("G", "k"):
                ctx.optimizer_step(n)
            out["g"] = g_loss
            return out


if __name__ == "__main__":
    from blurmap.cli import main
    from blurmap.train.config import load_config
    from blurmap.train.engine import train

    tiny_cfg, out_tiny, out_gan = sys.argv[1:4]
    _gan_recipe()
    train(load_config(None, data={"recipe": "_ddp_gan_like", "train": {
        "batch_size": 2, "progress": "plain", "log_every": 1, "crop_size": 8, "accum_steps": 2, "grad_clip": 1.0}}),
        out=out_gan)
    # the CLI last: it tears the process group down when it is done
    sys.exit(main(["train", tiny_cfg, "epochs=1", "image_size=48", "train.crop_size=32", "train.checkpoint_every=2",
                   "train.progress=plain", "--out", out_tiny]))
