"""``blurmap serve``: the web page and the REST service (library: :mod:`blurmap.serve`)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from typing import List, Optional

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError


@contextlib.contextmanager
def _private_tempdir():
    """Uploads over 1 MB are spooled by the form parser to temporary files; put them in a
    folder only this user can read (anonymous files on Linux), removed when the server stops."""
    folder = tempfile.mkdtemp(prefix="blurmap-serve-")  # mode 0700
    previous = tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield folder
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(folder, ignore_errors=True)


def _listen(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so a taken port is one clear line (and port 0 works)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as ex:
        raise BlurmapError(f"--host {host}: cannot resolve it ({ex.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as ex:
        sock.close()
        raise BlurmapError(f"cannot listen on {host}:{port} ({ex.strerror})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback needs --token or --insecure."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free one, printed at start)."),
    models: str = typer.Option(
        "defocus,local,defocus-map", "--models",
        help="Models to serve: shipped names, or NAME=PATH for your own weights (comma-separated).",
    ),
    max_upload_mb: float = typer.Option(50.0, "--max-upload-mb", help="Largest request body in MB (413 above)."),
    max_pixels: int = typer.Option(50_000_000, "--max-pixels", help="Largest image in pixels, from its header (400 above)."),
    workers: int = typer.Option(1, "--workers", help="Inference jobs at the same time."),
    queue: int = typer.Option(8, "--queue", help="Requests that may wait for a worker (503 beyond)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per request, queue wait included (504 after)."),
    token: Optional[str] = typer.Option(
        None, "--token", envvar="BLURMAP_SERVE_TOKEN", show_envvar=True,
        help="Require 'Authorization: Bearer TOKEN' on every /v1 route.",
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback --host without --token."),
    cors_origin: Optional[List[str]] = typer.Option(
        None, "--cors-origin", help="Allow browser calls from this origin (repeat for several; none by default)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level (warning: no access log)."),
) -> None:
    """Serve the models: a web page at / and a REST API under /v1 (see docs/serve.md)."""
    from blurmap.serve.config import ServeConfig, check_bind

    warning = check_bind(host, token=token, insecure=insecure)
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    config = ServeConfig(
        models=tuple(m for m in models.split(",") if m.strip()), max_upload_mb=max_upload_mb, max_pixels=max_pixels,
        workers=workers, queue=queue, timeout=timeout, token=token, cors_origins=tuple(cors_origin or ()),
        device=device,
    )
    import uvicorn

    from blurmap.serve import create_app

    application = create_app(config)  # loads the models: settings errors before anything listens
    sock = _listen(host, port)
    if warning:
        typer.echo(f"blurmap: warning: {warning}", err=True)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"blurmap serve: http://{shown}:{bound}/ (models: {', '.join(application.state.models)})", err=True)
    server = uvicorn.Server(uvicorn.Config(application, log_level=log_level, server_header=False, timeout_graceful_shutdown=5))
    with _private_tempdir(), contextlib.closing(sock):
        server.run(sockets=[sock])
