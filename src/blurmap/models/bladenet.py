"""BladeNet (LODE, Ruan et al.): local blur perception (LBP) + blur-guided spatial attention (BSA).

Paper: ``papers/001_b314de43b001be20.txt`` §4 and supplementary B.1.

Both the LBP module and the main deblurring network are U-Nets (supp. B.1) with an input
block, four downsampling blocks ``Maxpool-Conv-BN-ReLU-Conv-BN-ReLU`` and four upsampling
blocks ``bilinearUpsample-Conv-BN-ReLU-Conv-BN-ReLU-Concat``; in Up2, Up3 and Up4 of the main
network the block is ``bilinearUpsample-Conv-BN-ReLU-Conv-BN-ReLU-BSA-Conv-BN-ReLU-Conv-BN-ReLU-Concat``.

Choices where the paper is silent (the equations did not survive in the text we have):

- *Block order.* We build the up block literally as listed: the upsampled features go
  through the double conv first and are concatenated with the skip of the same resolution
  last; the next block (or the output head) consumes the concatenation.
- *Bottleneck width.* As in the widely used bilinear PyTorch U-Net, Down4 keeps ``8w``
  channels instead of doubling to ``16w`` (``bottleneck_mult=8``). With ``w = 64`` the whole
  BladeNet (LBP + main + BSA) has 37.6 M parameters against the paper's 40.8 M; doubling the
  bottleneck (``bottleneck_mult=16``) gives 61.2 M. The exact channel table (the paper's
  Fig. 8) is not in the text we have; ``docs/bladenet.md`` gives the breakdown.
- *BSA (eq. 2).* A CBAM-style spatial attention: channel-wise mean and max of the features,
  a 7x7 convolution and a sigmoid, ``A = sigmoid(conv7([mean_c F; max_c F]))`` in [0, 1];
  eq. 3 is ``F' = A * F``.
- *Eq. 4.* The three attention maps (Up2-Up4) are bilinearly upsampled to the input size and
  summed; the sum is what the DICE loss sees (``BladeNet.forward_train`` returns it).
- *Output.* The main network predicts a residual added to the blurred input, with its 1x1
  head initialised to zero so the untrained network is exactly the identity (a common
  deblurring choice; it keeps the sharp background intact from the first step and eases
  CPU training); ``residual=False`` gives a plain 1x1 head.
- *LBP output* is a logit map; ``predict`` applies the sigmoid. BCE is computed on logits.

Variants (constructor flags): ``use_lbp`` (LBP map concatenated to the input) and
``use_bsa`` (BSA in Up2-Up4). ``BladeNet-`` = both off, ``LBP only``, ``BSA only``, and the
full ``BladeNet`` = both on. ``LBPNet`` (registered ``"lbp"``) is the perception U-Net alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blurmap.models import count_parameters, register_model  # count_parameters: re-exported (all parameters)

__all__ = [
    "double_conv",
    "DownBlock",
    "UpBlock",
    "SpatialAttention",
    "spatial_attention",
    "UNet",
    "LBPNet",
    "BladeNet",
    "pad_to_multiple",
    "count_parameters",
]


def double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """``Conv3x3-BN-ReLU-Conv3x3-BN-ReLU`` (convs without bias: BN follows)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class DownBlock(nn.Module):
    """``Maxpool-Conv-BN-ReLU-Conv-BN-ReLU``. Shape: ``(B, Cin, H, W) -> (B, Cout, H/2, W/2)``."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


def spatial_attention(features: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Spatial attention map of eq. 2 (CBAM form, our reading of the paper).

    Args:
        features: ``(B, C, H, W)`` feature map.
        conv: a ``Conv2d(2, 1, k)`` mapping the ``[mean_c; max_c]`` descriptor to one logit.

    Returns:
        ``(B, 1, H, W)`` attention in [0, 1] (a sigmoid).
    """
    desc = torch.cat(
        [features.mean(dim=1, keepdim=True), features.amax(dim=1, keepdim=True)], dim=1
    )
    return torch.sigmoid(conv(desc))


class SpatialAttention(nn.Module):
    """BSA module: ``A = spatial_attention(F)`` (eq. 2), output ``A * F`` (eq. 3).

    ``forward`` returns ``(attended, attention)``; shapes ``(B, C, H, W)`` and ``(B, 1, H, W)``.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        att = spatial_attention(x, self.conv)
        return x * att.to(x.dtype), att


class UpBlock(nn.Module):
    """``bilinearUpsample-DoubleConv[-BSA-DoubleConv]-Concat(skip)``.

    Shape: ``(B, Cin, h, w)`` and skip ``(B, Cs, H, W)`` -> ``(B, Cout + Cs, H, W)``; the
    upsampling goes straight to the skip's size, so odd sizes are handled. Returns
    ``(features, attention or None)``.
    """

    def __init__(self, in_ch: int, out_ch: int, bsa: bool = False):
        super().__init__()
        self.conv = double_conv(in_ch, out_ch)
        self.bsa = SpatialAttention() if bsa else None
        self.conv2 = double_conv(out_ch, out_ch) if bsa else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self.conv(x)
        att = None
        if self.bsa is not None:
            x, att = self.bsa(x)
            x = self.conv2(x)
        return torch.cat([skip, x], dim=1), att


class UNet(nn.Module):
    """The U-Net of supp. B.1 with optional BSA in Up2-Up4.

    Channels: input block ``w``, Down1-4 ``2w, 4w, 8w, m*w`` (``m = bottleneck_mult``);
    Up1-4 produce ``8w, 4w, 2w, w`` before concatenating the skips ``8w, 4w, 2w, w``; a 1x1
    conv maps the final ``2w`` channels to ``out_ch``.

    Args:
        in_ch, out_ch: input / output channels.
        width: ``w`` (paper: 64).
        bsa: put BSA in Up2, Up3 and Up4.
        bottleneck_mult: channels of Down4 as a multiple of ``w`` (8 or 16).

    ``forward(x)`` returns ``(out, [attention maps at 1/4, 1/2, 1 resolution])`` (empty
    list without BSA). Any H, W >= 1 works (pooling floors, upsampling targets the skip size),
    but sizes divisible by 16 keep every level aligned; the wrappers pad to 16.
    """

    def __init__(
        self, in_ch: int, out_ch: int, width: int = 64, bsa: bool = False, bottleneck_mult: int = 8
    ):
        super().__init__()
        w = width
        b = bottleneck_mult * w
        self.inc = double_conv(in_ch, w)
        self.down1 = DownBlock(w, 2 * w)
        self.down2 = DownBlock(2 * w, 4 * w)
        self.down3 = DownBlock(4 * w, 8 * w)
        self.down4 = DownBlock(8 * w, b)
        self.up1 = UpBlock(b, 8 * w)
        self.up2 = UpBlock(16 * w, 4 * w, bsa=bsa)
        self.up3 = UpBlock(8 * w, 2 * w, bsa=bsa)
        self.up4 = UpBlock(4 * w, w, bsa=bsa)
        self.outc = nn.Conv2d(2 * w, out_ch, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        y, _ = self.up1(x5, x4)
        atts = []
        for up, skip in ((self.up2, x3), (self.up3, x2), (self.up4, x1)):
            y, att = up(y, skip)
            if att is not None:
                atts.append(att)
        return self.outc(y), atts


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom/right of ``x`` so H and W are multiples of ``multiple``.

    Returns the padded tensor and the original ``(H, W)`` (crop with ``[..., :H, :W]``).
    Falls back to replicate padding when the image is smaller than the pad.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


@register_model("lbp")
class LBPNet(nn.Module):
    """Local Blur Perception: a U-Net predicting the per-pixel blur probability (§4.2).

    ``forward(blurred)`` returns logits ``(B, 1, H, W)`` for any H, W (padded to 16, cropped
    back); ``predict(blurred)`` returns ``{"image": blurred, "map": sigmoid(logits)}`` (LBP
    restores nothing: the image passes through unchanged, so the tiled inference engine and
    ``blurmap blur-mask`` treat it like any model with a map). Train with BCE on the logits
    (:func:`blurmap.losses.segmentation.bce_loss`, eq. 1).
    """

    size_multiple = 16
    receptive_field = 140
    # Tiling defaults (px) for blurmap.infer, measured (docs/inference.md): against one
    # whole-image pass, 1024 px tiles with 128 px overlap give the image at 95 dB and the
    # mask at 67 dB PSNR; the theoretical field would ask for 192 px and 576 px tiles,
    # which compute each pixel 2.2x over.
    default_tile = 1024
    default_overlap = 128
    #: what ``predict()["map"]`` is: a blur probability in [0, 1] (the inference gate reads it)
    map_kind = "mask"

    def __init__(self, width: int = 64, in_ch: int = 3, bottleneck_mult: int = 8):
        super().__init__()
        self.config = {"width": width, "in_ch": in_ch, "bottleneck_mult": bottleneck_mult}
        self.init_kwargs = dict(self.config)  # what the training engine exports with the weights
        self.unet = UNet(in_ch, 1, width=width, bsa=False, bottleneck_mult=bottleneck_mult)

    def forward(self, blurred: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(blurred, self.size_multiple)
        logits, _ = self.unet(x)
        return logits[..., :h, :w]

    @torch.no_grad()
    def predict(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"image": blurred (unchanged), "map": (B, 1, H, W) blur probability in [0, 1]}``."""
        return {"image": blurred, "map": torch.sigmoid(self.forward(blurred).float())}

    def for_inference(self) -> nn.Module:
        """A copy for inference with the BatchNorms folded into the convs (same output to
        float rounding, :func:`blurmap.models.fold.fold_batchnorm`); this module is unchanged.
        :class:`blurmap.infer.Deblurrer` runs the copy."""
        from blurmap.models.fold import fold_batchnorm

        return fold_batchnorm(self)


@register_model("bladenet")
class BladeNet(nn.Module):
    """BladeNet main network (+ LBP): blurred image -> restored image.

    Args:
        width: U-Net base width of the main network (paper: 64).
        lbp_width: width of the LBP U-Net (default: ``width``).
        use_lbp: concatenate the LBP probability map to the input (§4.2).
        use_bsa: blur-guided spatial attention in Up2-Up4 (§4.3).
        residual: predict ``blurred + delta`` (our choice, see module docstring).
        bottleneck_mult: Down4 channels as a multiple of the width (both U-Nets).

    Attributes:
        size_multiple: inputs are reflect-padded to a multiple of 16 and cropped back.
        receptive_field: approximate receptive field in px (for tiling; the theoretical one of
            a 4-level U-Net with two 3x3 convs per level is ~140 px; BSA's 7x7 adds a little).

    Shape: ``forward((B, 3, H, W)) -> (B, 3, H, W)``, any H, W. Values are not clamped during
    training; ``predict`` clamps to [0, 1].
    """

    size_multiple = 16
    receptive_field = 180
    default_tile = 1024  # as LBPNet's (docs/inference.md)
    default_overlap = 128
    #: ``predict()["map"]`` (with LBP) is the blur probability in [0, 1]
    map_kind = "mask"

    def __init__(
        self,
        width: int = 64,
        lbp_width: int | None = None,
        use_lbp: bool = True,
        use_bsa: bool = True,
        residual: bool = True,
        bottleneck_mult: int = 8,
    ):
        super().__init__()
        lbp_width = width if lbp_width is None else lbp_width
        self.config = {
            "width": width,
            "lbp_width": lbp_width,
            "use_lbp": use_lbp,
            "use_bsa": use_bsa,
            "residual": residual,
            "bottleneck_mult": bottleneck_mult,
        }
        self.init_kwargs = dict(self.config)  # what the training engine exports with the weights
        self.use_lbp = use_lbp
        self.use_bsa = use_bsa
        self.residual = residual
        self.lbp = LBPNet(width=lbp_width, bottleneck_mult=bottleneck_mult) if use_lbp else None
        self.main = UNet(
            3 + (1 if use_lbp else 0), 3, width=width, bsa=use_bsa, bottleneck_mult=bottleneck_mult
        )
        if residual:
            # Zero head: the untrained network is exactly the identity, so training starts
            # from "leave the image alone" -- right for the sharp background of local blur.
            nn.init.zeros_(self.main.outc.weight)
            nn.init.zeros_(self.main.outc.bias)

    def forward_train(self, blurred: torch.Tensor, attention: bool = True) -> dict[str, torch.Tensor]:
        """Everything the losses need, at the input size.

        Returns a dict with ``"image"`` ``(B, 3, H, W)`` (unclamped), and when present
        ``"lbp_logits"`` ``(B, 1, H, W)`` and ``"attention"`` ``(B, 1, H, W)`` = the sum of the
        three BSA maps upsampled to the input size (eq. 4; values in [0, 3]).
        ``attention=False`` skips the attention sum (only the DICE loss reads it; inference
        saves three full-size upsamplings).
        """
        x, (h, w) = pad_to_multiple(blurred, self.size_multiple)
        out: dict[str, torch.Tensor] = {}
        inp = x
        if self.lbp is not None:
            logits, _ = self.lbp.unet(x)
            out["lbp_logits"] = logits[..., :h, :w]
            inp = torch.cat([x, torch.sigmoid(logits).to(x.dtype)], dim=1)
        y, atts = self.main(inp)
        if self.residual:
            y = y + x
        out["image"] = y[..., :h, :w]
        if atts and attention:
            size = x.shape[-2:]
            total = sum(
                F.interpolate(a.float(), size=size, mode="bilinear", align_corners=False)
                for a in atts
            )
            out["attention"] = total[..., :h, :w]
        return out

    def forward(self, blurred: torch.Tensor, outputs: str = "image"):
        """``outputs="image"`` (default, what inference and ONNX export use): the restored
        ``(B, 3, H, W)``; ``"all"``: the dict of :meth:`forward_train`; ``"lbp"``: the LBP
        logits ``(B, 1, H, W)`` alone. Training calls the module with ``outputs=`` rather than
        the methods directly, so a DistributedDataParallel wrapper sees every forward pass."""
        if outputs == "image":
            return self.forward_train(blurred, attention=False)["image"]
        if outputs == "all":
            return self.forward_train(blurred)
        if outputs == "lbp":
            if self.lbp is None:
                raise ValueError("this BladeNet has no LBP (use_lbp=False)")
            return self.lbp(blurred)
        raise ValueError(f"outputs must be image, all or lbp, got {outputs!r}")

    @torch.no_grad()
    def predict(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """Restored image (clamped to [0, 1]) and, with LBP, the blur probability map.

        Returns ``{"image": (B, 3, H, W), "map": (B, 1, H, W)}`` (no ``"map"`` without LBP).
        """
        out = self.forward_train(blurred, attention=False)
        res = {"image": out["image"].float().clamp(0, 1)}
        if "lbp_logits" in out:
            res["map"] = torch.sigmoid(out["lbp_logits"].float())
        return res

    def for_inference(self) -> nn.Module:
        """A copy for inference with the BatchNorms folded into the convs (same output to
        float rounding, :func:`blurmap.models.fold.fold_batchnorm`); this module is unchanged.
        :class:`blurmap.infer.Deblurrer` runs the copy."""
        from blurmap.models.fold import fold_batchnorm

        return fold_batchnorm(self)
