"""blurmap: blur-map-guided deblurring (defocus and local motion blur).

The public API, in three lines::

    import blurmap
    model = blurmap.load_model("local")   # or "defocus", or a .safetensors path
    sharp = model.deblur(image)           # numpy HxWx3 in [0,1], or torch (B,3,H,W)

``load_model``, ``deblur``, ``estimate_defocus_map``, ``blur_mask`` and ``Deblurrer`` are
imported on first use (so ``import blurmap`` and ``blurmap --version`` stay fast); see
``docs/python-api.md``.
"""

__version__ = "0.1.0"

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "load_model": "blurmap.api",
    "deblur": "blurmap.api",
    "estimate_defocus_map": "blurmap.api",
    "blur_mask": "blurmap.api",
    "Deblurrer": "blurmap.infer",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'blurmap' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
