"""Exceptions that carry one user-facing line.

The CLI prints ``str(error)`` of any :class:`BlurmapError` as a single line on stderr and
exits non-zero; it never prints a traceback for them. Raise these (or subclasses) for
anything a user can cause: bad files, bad configs, mismatched weights.
"""


class BlurmapError(Exception):
    """Base class: an error a user caused and can fix. Its message is one line."""


class ImageReadError(BlurmapError):
    """An image file could not be read. The message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageWriteError(BlurmapError):
    """An image could not be written (the destination is left untouched)."""


class ConfigError(BlurmapError):
    """A recipe config is invalid (unknown key, wrong type, missing value)."""


class WeightsError(BlurmapError):
    """A weights file is missing, not safetensors, corrupt, or belongs to another model."""
