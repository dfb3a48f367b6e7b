"""blurmap: blur-map-guided deblurring (defocus and local motion blur).

The public API (``load_model``, ``deblur``, ``estimate_defocus_map``, ``blur_mask``) is
exported here once its modules exist; see README.md.
"""

__version__ = "0.1.0"
