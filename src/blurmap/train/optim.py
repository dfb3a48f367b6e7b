"""How an optimizer applies its update (``train.optimizer_impl``): per-parameter loop,
multi-tensor (``foreach``) or fused kernels.

PyTorch picks the per-parameter loop for CPU tensors unless told otherwise. For networks
with many small parameter tensors (DefocusGAN: 1310 tensors for 2 M parameters) that loop
costs a sizeable share of a CPU training step; the fused kernels do the same update in one
pass per tensor. The recipes build their optimizers themselves, so the engine switches the
implementation on the built optimizer: every param group's ``foreach`` / ``fused`` flag,
which ``step()`` reads on each call. A checkpoint's optimizer state stores these flags, so
the engine applies the setting again after a resume (a run may resume with another setting).
"""

from __future__ import annotations

import torch

from blurmap.errors import ConfigError

IMPLS = ("default", "foreach", "fused")


def set_optimizer_impl(optimizer: torch.optim.Optimizer, impl: str, name: str = "") -> None:
    """Switch ``optimizer`` to the ``impl`` update implementation, in place.

    Args:
        optimizer: a built ``torch.optim`` optimizer (possibly wrapped by Accelerate).
        impl: ``"default"`` (leave it as built), ``"foreach"`` or ``"fused"``.
        name: the optimizer's name in the recipe (for the error message).

    Raises:
        ConfigError: the optimizer class has no such implementation (e.g. ``fused`` for LBFGS).
    """
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer wraps one
    if impl == "default":
        # as the recipe built it: ``defaults`` keeps the constructor's flags (a resumed
        # checkpoint's param groups may carry another run's)
        for group in inner.param_groups:
            for key in ("foreach", "fused"):
                if key in inner.defaults:
                    group[key] = inner.defaults[key]
        return
    if impl not in IMPLS:
        raise ConfigError(f"train.optimizer_impl: unknown {impl!r}; valid: {', '.join(IMPLS)}")
    if impl not in inner.defaults:
        raise ConfigError(f"train.optimizer_impl={impl}: optimizer {name or type(inner).__name__!r} "
                          f"({type(inner).__name__}) has no {impl} implementation; use default")
    other = "foreach" if impl == "fused" else "fused"
    for group in inner.param_groups:
        group[impl] = True
        if other in group:
            group[other] = False  # PyTorch refuses foreach and fused together
    if impl == "fused":
        # what the constructor sets for fused=True: the fused step unscales AMP gradients itself
        inner._step_supports_amp_scaling = True
