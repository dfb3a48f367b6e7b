"""Per-pair and per-camera fits that need no training data.

- :func:`optimize_defocus_map` (``blurmap defocus-map --optimize``): a smooth signed CoC map
  fitted to one dual-pixel pair by the DP consistency loss, optionally calibrating a
  parametric PSF (:class:`blurmap.physics.dp_family.DPKernelFamily`) jointly;
- :func:`calibrate_camera` (``blurmap calibrate``): one PSF family member fitted to several
  pairs of one camera, saved with :func:`save_camera_kernel` and read back with
  :func:`load_camera_kernel` (``blurmap defocus-map --kernel``).
"""

from blurmap.fit.camera import calibrate_camera, camera_kernel_stack, load_camera_kernel, save_camera_kernel
from blurmap.fit.defocus_map import optimize_defocus_map

__all__ = ["calibrate_camera", "camera_kernel_stack", "load_camera_kernel", "optimize_defocus_map", "save_camera_kernel"]
