"""The settings of a server (``blurmap serve`` options) and the bind-address safety rule."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from blurmap.errors import BlurmapError

DEFAULT_MAX_UPLOAD_MB = 50.0
#: Uploads are decoded to float32 (12 B/px) and restored into a buffer of the same size, so
#: 50 MP is ~1.2 GB per running job; the CLI's own default (200 MP) is for files you trust.
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_TIMEOUT_S = 120.0


@dataclass
class ServeConfig:
    """What a server allows and holds.

    Attributes:
        models: ``--models`` entries (shipped names or ``NAME=PATH``), in order.
        max_upload_mb: largest request body (all files and fields), MB (10^6 bytes).
        max_pixels: decompression-bomb limit per image (from the header, before decoding).
        workers: inference jobs at once; queue: jobs that may wait for one.
        timeout: seconds per request, waiting in the queue included.
        token: bearer token every ``/v1`` route requires (``None``: no authentication).
        cors_origins: origins allowed to call the API from a browser (none by default).
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    models: tuple[str, ...] = ("defocus", "local", "defocus-map")
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = 1
    queue: int = 8
    timeout: float = DEFAULT_TIMEOUT_S
    token: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    device: str = "cpu"

    def __post_init__(self):
        if not self.max_upload_mb > 0:
            raise BlurmapError(f"--max-upload-mb must be positive, got {self.max_upload_mb:g}")
        if self.max_pixels < 1:
            raise BlurmapError(f"--max-pixels must be positive, got {self.max_pixels}")
        if self.workers < 1:
            raise BlurmapError(f"--workers must be at least 1, got {self.workers}")
        if self.queue < 0:
            raise BlurmapError(f"--queue must be 0 or more, got {self.queue}")
        if not self.timeout > 0:
            raise BlurmapError(f"--timeout must be positive, got {self.timeout:g}")
        if self.token is not None and len(self.token) < 8:
            raise BlurmapError("--token must be at least 8 characters (use a long random string)")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``."""
    if host.strip().lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, token: str | None, insecure: bool) -> str | None:
    """The rule for where a server may listen.

    Loopback is always allowed. Any other address (``0.0.0.0``, a LAN address, a host name)
    needs ``--token`` (bearer auth on every ``/v1`` route) or an explicit ``--insecure``.

    Returns:
        ``None``, or the warning line to print (``--insecure`` without a token).

    Raises:
        BlurmapError: a non-loopback address without token or ``--insecure``.
    """
    if is_loopback(host) or token:
        return None
    if insecure:
        return (f"serving on {host} without a token (--insecure): anyone who can reach this port can run "
                "the models; pass --token T to require 'Authorization: Bearer T'")
    raise BlurmapError(
        f"refusing to listen on {host} (not a loopback address) without authentication: "
        "pass --token T (clients send 'Authorization: Bearer T'), or --insecure to serve without one"
    )
