"""Inference-time rewrites of a trained network that keep its output: BatchNorm folding,
and convolution weights stored in the autocast dtype.

In eval mode a ``BatchNorm2d`` is a fixed per-channel affine map, so a ``Conv2d`` followed
by it equals one ``Conv2d`` with rescaled weights and a bias:

    W' = W * g / sqrt(v + eps)        b' = (b - m) * g / sqrt(v + eps) + beta

(``g, beta``: BN weight and bias; ``m, v``: running mean and variance). The folded network
skips one full pass over every feature map per conv (BladeNet: 42 BN layers, 13 % of a
bf16 tile's time). The weights are computed in float64 and stored in the conv's dtype; the
output matches the unfolded network to float rounding (``tests/test_inference_speed.py``).

Under bf16 autocast every convolution casts its fp32 weight and bias to bf16 on each call
(the autocast weight cache only holds within one autocast region and only for parameters that
require gradients). :func:`cast_conv_weights` stores them in bf16 once; autocast then finds
them already in its dtype, and the arithmetic is the same (the cast is the same rounding):
the output is bit-identical to plain autocast, minus one copy per conv and call (DefocusGAN:
655 convs per tile, 9 % of a bf16 tile's time).

The rewrites work on a deep copy: the trained module, its ``state_dict`` keys and the
weights files stay as they are (:class:`blurmap.infer.Deblurrer` keeps both).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["fold_batchnorm", "fold_conv_bn", "cast_conv_weights"]

#: layers whose weights CPU/CUDA autocast runs in the lower precision (its "lower precision" op list)
_AUTOCAST_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                    nn.ConvTranspose3d, nn.Linear)


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new ``Conv2d`` equal to ``bn(conv(x))`` with ``bn`` in eval mode.

    Raises:
        ValueError: ``bn`` has no running statistics or a channel count other than the conv's.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"BatchNorm of {bn.num_features} channels after a conv of {conv.out_channels}")
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    fused = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
        dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode,
        device=conv.weight.device, dtype=conv.weight.dtype,
    )
    fused.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
    fused.bias.copy_(bias.to(conv.weight.dtype))
    if conv.weight.is_contiguous(memory_format=torch.channels_last):
        fused = fused.to(memory_format=torch.channels_last)
    return fused


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` (in eval mode) with every ``Conv2d -> BatchNorm2d`` pair that
    sits next to each other in an ``nn.Sequential`` folded into one ``Conv2d`` (the BN becomes
    ``nn.Identity``). Other layers are left as they are.

    Returns:
        The folded copy, in eval mode, without gradients. Its output equals
        ``module.eval()``'s to float rounding.
    """
    folded = copy.deepcopy(module).eval()
    for seq in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d and bn.track_running_stats:
                seq._modules[a] = fold_conv_bn(conv, bn)
                seq._modules[b] = nn.Identity()
    folded.requires_grad_(False)
    return folded


@torch.no_grad()
def cast_conv_weights(module: nn.Module, dtype: torch.dtype = torch.bfloat16, copy_first: bool = True) -> nn.Module:
    """``module`` with the weights and biases of its convolutions and linear layers in ``dtype``.

    Only for running under ``torch.autocast(dtype=dtype)``, which casts exactly these layers'
    parameters to ``dtype`` anyway; everything else (BatchNorm, attention gates' element-wise
    work) keeps its fp32 parameters.

    Args:
        module: the network (eval mode).
        dtype: the autocast dtype (``torch.bfloat16`` or ``torch.float16``).
        copy_first: work on a deep copy (False: convert ``module`` in place).

    Returns:
        The converted module (eval mode, no gradients).
    """
    out = copy.deepcopy(module) if copy_first else module
    for m in out.modules():
        if isinstance(m, _AUTOCAST_LAYERS):
            m.weight.data = m.weight.data.to(dtype)
            if m.bias is not None:
                m.bias.data = m.bias.data.to(dtype)
    out.requires_grad_(False)
    return out.eval()
