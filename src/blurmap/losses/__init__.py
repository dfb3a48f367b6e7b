"""Training losses, one module per family.

- ``blurmap.losses.reblur``: reblur geometric loss + gradient prior (DefocusGAN eq. 2, 5) and the
  dual-pixel consistency form.
- ``blurmap.losses.perceptual`` / ``blurmap.losses.adversarial``: VGG perceptual loss, the
  defocus-weighted adversarial loss (eq. 7) and the WGAN-GP penalty.
- ``blurmap.losses.segmentation``: BCE (LODE eq. 1) and DICE (eq. 4).
"""
