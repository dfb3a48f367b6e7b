"""blurmap.synth: data generators built on :mod:`blurmap.physics`.

- :func:`bundled_images`, :func:`bundled_objects` -- offline photos and object cut-outs;
- :mod:`blurmap.synth.dp` -- dual-pixel defocus scenes in the DPDD layout (``generate_dp``);
- :mod:`blurmap.synth.dp_dataset` -- the same scenes on the fly as a torch dataset (``SyntheticDPDataset``);
- :mod:`blurmap.synth.local` -- LODE local blur synthesis (``LocalBlurDataset``, ``generate_local``);
- :mod:`blurmap.synth.video` -- frame averaging of high-fps video (``generate_video``).
"""

from blurmap.synth.bundled import bundled_images, bundled_objects

__all__ = ["bundled_images", "bundled_objects", "LocalBlurDataset", "generate_local", "generate_dp", "generate_video",
           "SyntheticDPDataset"]

_LAZY = {
    "LocalBlurDataset": "blurmap.synth.local",
    "generate_local": "blurmap.synth.local",
    "generate_dp": "blurmap.synth.dp",
    "generate_video": "blurmap.synth.video",
    "SyntheticDPDataset": "blurmap.synth.dp_dataset",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'blurmap.synth' has no attribute {name!r}")
