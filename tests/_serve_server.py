"""A real uvicorn server on a free loopback port, in a thread of the test process.

Used by the API and browser tests of ``blurmap serve``. The shipped models are loaded once per
test session (:func:`shipped_models`) and shared by every server the tests start.
"""

from __future__ import annotations

import functools
import socket
import threading
import time

import uvicorn

from blurmap.serve import ServeConfig, create_app
from blurmap.serve.models import load_models


@functools.lru_cache(maxsize=None)
def shipped_models():
    return load_models(("defocus", "local", "defocus-map"))


class RunningServer:
    """``with RunningServer(config) as server: httpx.get(server.url + "/healthz")``."""

    def __init__(self, config: ServeConfig, models=None):
        self.app = create_app(config, models=models if models is not None else shipped_models())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "RunningServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
