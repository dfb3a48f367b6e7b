"""Adversarial losses of DefocusGAN: the defocus-weighted WGAN loss (eq. 7) and WGAN-GP.

Eq. (7): ``L_defocusadv = 1/n * sum_n -phi(I_DM) * D(G(I_OoF))`` — the generator's WGAN loss
on the PatchGAN score grid, each patch weighted by ``phi`` of the defocus map. The paper only
says "the larger the radius of the CoC, the greater the weight". Choices made here:

* ``phi`` is piecewise constant on the same |CoC| bins as the generator's defocus masks
  (``[0, 1.9), [1.9, 4.2), [4.2, 6.2), [6.2, inf)`` px) with weights ``(1, 2, 3, 4)``; the
  per-pixel weight map is average-pooled onto the discriminator's score grid (each score
  judges a patch, so it gets the mean weight of the pixels under it).
* ``normalize=True`` divides ``phi`` by its batch mean: the loss then has the magnitude of
  the unweighted loss (the paper's ``beta = 0.002`` keeps its meaning) and only the
  *relative* emphasis on defocused regions changes.
* The same weights also enter the critic's loss, so the discriminator, too, "distinguishes
  different blurred areas" (paper text after eq. 7). The gradient penalty is the standard
  unweighted WGAN-GP (Gulrajani et al. 2017) with ``lambda = 10``.
* ``weighted=False`` gives the paper's "original loss" (every patch weight 1) for Table 6.

A discriminator may return a tensor ``(B, 1, h, w)`` or a dict of them (the double GAN's
``{"patch", "full"}``); losses are summed over the dict's heads.

``kind="ragan_ls"`` is the relativistic average least-squares GAN (RaGAN-LS) that
DeblurGAN-v2 trains its double-scale discriminator with (Table 6's "doubleGAN" row): with
``Dr``, ``Df`` the score grids of real and restored images and ``mean`` over batch and grid,

* critic: ``(E[(Dr - mean(Df) - 1)^2] + E[(Df - mean(Dr) + 1)^2]) / 2``,
* generator: ``(E[(Dr - mean(Df) + 1)^2] + E[(Df - mean(Dr) - 1)^2]) / 2``,

per head, summed over heads, without a gradient penalty. With ``weighted=True`` the
expectations are ``phi``-weighted means (the relativistic averages stay plain means).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from blurmap.physics.coc_bins import DEFAULT_COC_BINS, defocus_masks

#: Default per-bin weights of phi, small -> large |CoC|.
DEFAULT_BIN_WEIGHTS = (1.0, 2.0, 3.0, 4.0)


def defocus_weights(
    defocus_map: torch.Tensor,
    size: tuple[int, int],
    bins: Sequence[float] = DEFAULT_COC_BINS,
    bin_weights: Sequence[float] = DEFAULT_BIN_WEIGHTS,
    normalize: bool = True,
) -> torch.Tensor:
    """``phi(I_DM)`` on a score grid.

    Args:
        defocus_map: signed CoC in px, ``(B, 1, H, W)``.
        size: ``(h, w)`` of the discriminator's score grid.
        bins: inner |CoC| bin edges (px).
        bin_weights: weight of each bin (``len(bins) + 1`` values, > 0).
        normalize: divide by the batch mean so the mean weight is 1.

    Returns:
        ``(B, 1, h, w)`` float32 weights.
    """
    if len(bin_weights) != len(bins) + 1:
        raise ValueError(f"{len(bins) + 1} bins need as many weights, got {len(bin_weights)}")
    m = defocus_masks(defocus_map.float(), bins)
    w = torch.as_tensor(list(bin_weights), dtype=m.dtype, device=m.device).view(1, -1, 1, 1)
    phi = (m * w).sum(1, keepdim=True)
    phi = F.adaptive_avg_pool2d(phi, size)
    if normalize:
        phi = phi / phi.mean().clamp_min(1e-12)
    return phi


def _heads(scores) -> list[torch.Tensor]:
    return list(scores.values()) if isinstance(scores, Mapping) else [scores]


def _weighted_mean(score: torch.Tensor, defocus_map: torch.Tensor | None, **phi_kw) -> torch.Tensor:
    score = score.float()
    if defocus_map is None:
        return score.mean()
    return (defocus_weights(defocus_map, tuple(score.shape[-2:]), **phi_kw) * score).mean()


def wgan_generator_loss(fake_scores, defocus_map: torch.Tensor | None = None, **phi_kw) -> torch.Tensor:
    """Eq. (7): ``-mean(phi * D(G(x)))`` summed over heads; ``defocus_map=None`` = unweighted.

    Args:
        fake_scores: critic output for restored images (tensor or dict of tensors).
        defocus_map: ``(B, 1, H, W)`` CoC in px, or None for the original loss.
        **phi_kw: ``bins``, ``bin_weights``, ``normalize`` of :func:`defocus_weights`.
    """
    return sum(-_weighted_mean(s, defocus_map, **phi_kw) for s in _heads(fake_scores))


def wgan_critic_loss(real_scores, fake_scores, defocus_map: torch.Tensor | None = None, **phi_kw) -> torch.Tensor:
    """WGAN critic loss ``mean(phi * D(fake)) - mean(phi * D(real))`` summed over heads."""
    total = 0.0
    for r, f in zip(_heads(real_scores), _heads(fake_scores)):
        total = total + _weighted_mean(f, defocus_map, **phi_kw) - _weighted_mean(r, defocus_map, **phi_kw)
    return total


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP: ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` at random interpolates ``x_hat``.

    The critic value of an image is the mean of its patch scores (summed over heads), so the
    penalty does not grow with the number of patches.

    Args:
        critic: the discriminator.
        real, fake: ``(B, C, H, W)``; ``fake`` should be detached.
        generator: optional RNG for the interpolation factors.

    Returns:
        scalar float32 tensor.
    """
    b = real.shape[0]
    eps = torch.rand(b, 1, 1, 1, device=real.device, generator=generator, dtype=torch.float32)
    x_hat = (eps * real.detach().float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
    values = sum(s.float().flatten(1).mean(1) for s in _heads(critic(x_hat)))
    (grad,) = torch.autograd.grad(values.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def _ls_term(score: torch.Tensor, target: torch.Tensor, defocus_map: torch.Tensor | None, **phi_kw) -> torch.Tensor:
    """``E[(score - target)^2]``, phi-weighted over the score grid when a map is given."""
    sq = (score.float() - target) ** 2
    if defocus_map is None:
        return sq.mean()
    return (defocus_weights(defocus_map, tuple(score.shape[-2:]), **phi_kw) * sq).mean()


def ragan_ls_critic_loss(real_scores, fake_scores, defocus_map: torch.Tensor | None = None, **phi_kw) -> torch.Tensor:
    """RaGAN-LS critic loss (module docstring), summed over heads."""
    total = 0.0
    for r, f in zip(_heads(real_scores), _heads(fake_scores)):
        r_bar, f_bar = r.float().mean(), f.float().mean()
        total = total + 0.5 * (_ls_term(r, f_bar + 1.0, defocus_map, **phi_kw)
                               + _ls_term(f, r_bar - 1.0, defocus_map, **phi_kw))
    return total


def ragan_ls_generator_loss(real_scores, fake_scores, defocus_map: torch.Tensor | None = None, **phi_kw) -> torch.Tensor:
    """RaGAN-LS generator loss (module docstring; the targets of the critic swapped), summed over heads."""
    total = 0.0
    for r, f in zip(_heads(real_scores), _heads(fake_scores)):
        r_bar, f_bar = r.float().mean(), f.float().mean()
        total = total + 0.5 * (_ls_term(r, f_bar - 1.0, defocus_map, **phi_kw)
                               + _ls_term(f, r_bar + 1.0, defocus_map, **phi_kw))
    return total


#: adversarial objectives of :class:`DefocusAdversarialLoss`
GAN_KINDS = ("wgan_gp", "ragan_ls")


class DefocusAdversarialLoss(nn.Module):
    """Bundle of the generator / critic losses with one configuration.

    Args:
        weighted: True = defocus adversarial loss (eq. 7), False = original (uniform) loss.
        bins, bin_weights, normalize: see :func:`defocus_weights`.
        gp_weight: WGAN-GP lambda (10 as in Gulrajani et al.); unused by ``ragan_ls``.
        kind: ``"wgan_gp"`` (paper, eq. 7) or ``"ragan_ls"`` (DeblurGAN-v2's double GAN).
    """

    def __init__(self, weighted: bool = True, bins: Sequence[float] = DEFAULT_COC_BINS,
                 bin_weights: Sequence[float] = DEFAULT_BIN_WEIGHTS, normalize: bool = True,
                 gp_weight: float = 10.0, kind: str = "wgan_gp"):
        super().__init__()
        if kind not in GAN_KINDS:
            raise ValueError(f"gan loss must be one of {', '.join(GAN_KINDS)}, got {kind!r}")
        self.kind = kind
        self.weighted = weighted
        self.phi_kw = {"bins": tuple(bins), "bin_weights": tuple(bin_weights), "normalize": normalize}
        self.gp_weight = gp_weight

    def generator_loss(self, critic: nn.Module, fake: torch.Tensor, defocus_map: torch.Tensor | None,
                       real: torch.Tensor | None = None) -> torch.Tensor:
        """``L_defocusadv`` for the generator update (gradients flow into ``fake``).

        ``real`` (the sharp images) is needed by ``ragan_ls``, whose generator loss compares
        against the critic's scores of real images.
        """
        dm = defocus_map if self.weighted else None
        if self.kind == "ragan_ls":
            if real is None:
                raise ValueError("ragan_ls: generator_loss needs the real images")
            with torch.no_grad():
                real_scores = critic(real)
            return ragan_ls_generator_loss(real_scores, critic(fake), dm, **self.phi_kw)
        return wgan_generator_loss(critic(fake), dm, **self.phi_kw)

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                    defocus_map: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Critic loss ``{"loss", "wgan", "gp"}`` (``ragan_ls``: ``{"loss", "ragan_ls"}``); ``fake`` is detached."""
        fake = fake.detach()
        if self.kind == "ragan_ls":
            ra = ragan_ls_critic_loss(critic(real), critic(fake), defocus_map if self.weighted else None, **self.phi_kw)
            return {"loss": ra, "ragan_ls": ra}
        wgan = wgan_critic_loss(critic(real), critic(fake), defocus_map if self.weighted else None, **self.phi_kw)
        gp = gradient_penalty(critic, real, fake) if self.gp_weight > 0 else torch.zeros((), device=real.device)
        return {"loss": wgan + self.gp_weight * gp, "wgan": wgan, "gp": gp}
