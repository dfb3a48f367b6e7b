"""BCE (LODE eq. 1) and DICE (eq. 4) against hand-computed values."""

import math

import pytest
import torch

from blurmap.losses.segmentation import BCELoss, DiceLoss, bce_loss, dice_loss


def test_bce_matches_hand_computation():
    # two pixels: p = sigmoid(0) = 0.5 with m = 1, p = sigmoid(ln 3) = 0.75 with m = 0
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 1, 1, 2)
    mask = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    expected = -(math.log(0.5) + math.log(0.25)) / 2
    assert bce_loss(logits, mask).item() == pytest.approx(expected, rel=1e-6)
    assert BCELoss()(logits, mask).item() == pytest.approx(expected, rel=1e-6)


def test_dice_matches_hand_computation():
    # sample 1: p = [1, 0.5, 0, 0], g = [1, 1, 0, 0]:
    #   inter = 1.5, sum p^2 = 1.25, sum g^2 = 2 -> 1 - (3 + eps)/(3.25 + eps)
    # sample 2: p = [0, 0, 0, 0], g = [0, 0, 0, 1]: 1 - eps/(1 + eps)
    p = torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]).view(2, 1, 2, 2)
    g = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]).view(2, 1, 2, 2)
    eps = 0.5
    s1 = 1 - (3 + eps) / (3.25 + eps)
    s2 = 1 - eps / (1 + eps)
    assert dice_loss(p, g, eps=eps).item() == pytest.approx((s1 + s2) / 2, rel=1e-6)
    assert DiceLoss(eps=eps)(p, g).item() == pytest.approx((s1 + s2) / 2, rel=1e-6)


def test_dice_is_zero_for_perfect_prediction_and_prefers_unit_scale():
    g = (torch.rand(1, 1, 8, 8) > 0.5).float()
    assert dice_loss(g, g, eps=1e-6).item() == pytest.approx(0.0, abs=1e-6)
    # the squared denominator penalises a prediction that is 3x the mask (summed attention maps)
    assert dice_loss(3 * g, g).item() > 0.3


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        dice_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))
    with pytest.raises(ValueError):
        bce_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 2))
