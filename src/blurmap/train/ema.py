"""Exponential moving average of a model's weights (used for validation and export)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``ema = decay * ema + (1 - decay) * weights`` after every optimizer step.

    Floating-point parameters and buffers are averaged; integer buffers (e.g. BatchNorm's
    ``num_batches_tracked``) are copied.

    Args:
        model: the bare (unwrapped) model; a frozen copy is kept in ``self.model``.
        decay: in (0, 1), e.g. 0.999.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = model.state_dict()
        for key, avg in self.model.state_dict().items():
            new = current[key].detach()
            if avg.is_floating_point():
                avg.lerp_(new.to(avg.dtype), 1.0 - self.decay)
            else:
                avg.copy_(new)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
