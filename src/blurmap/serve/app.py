"""The FastAPI application: routes, limits, auth and the page.

:func:`create_app` builds it from a :class:`~blurmap.serve.config.ServeConfig`; ``blurmap
serve`` runs it under uvicorn. Endpoints (all errors are JSON ``{"error": "..."}``):

===================== =======================================================================
``GET /``             the page (offline: every asset comes from ``/static``)
``GET /healthz``      ``{"status": "ok"}`` (no token needed)
``GET /v1/models``    the models (names, tasks, parameter counts, model cards) and the limits
``POST /v1/deblur``   ``file``, ``model``; optional ``precision``, ``gate``, ``format=png|json``
``POST /v1/blur-mask`` ``file``; optional ``model``, ``bits=8|16``, ``format=png|json``
``POST /v1/defocus-map`` ``left``, ``right``; optional ``model``, ``format=npy|png|json``
===================== =======================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib import resources
from typing import Optional

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from blurmap import __version__
from blurmap.serve import jobs
from blurmap.serve.auth import BearerToken
from blurmap.serve.config import ServeConfig
from blurmap.serve.errors import ServeError, install_error_handlers
from blurmap.serve.limits import SecurityHeaders, UploadLimit
from blurmap.serve.models import ServedModel, load_models
from blurmap.serve.pool import InferencePool

PRECISIONS = ("fp32", "bf16", "fp16")
EXPOSED_HEADERS = [
    "X-Blurmap-Model", "X-Blurmap-Network", "X-Blurmap-Seconds", "X-Blurmap-Queue-Seconds", "X-Blurmap-Bits",
    "X-Blurmap-Gate", "X-Blurmap-Warnings", "X-Blurmap-Map-Range", "Retry-After", "Content-Disposition",
    "Server-Timing",
]


def static_dir():
    """The folder of the page's files (installed with the package)."""
    return resources.files("blurmap.serve") / "static"


def _choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ServeError(422, f"form field {field!r} must be one of {', '.join(choices)}, got {value[:40]!r}")
    return value


def create_app(config: ServeConfig | None = None, models: dict[str, ServedModel] | None = None) -> FastAPI:
    """Build the application.

    Args:
        config: the server's settings (default: :class:`ServeConfig` defaults).
        models: already loaded models (default: load ``config.models``).

    Raises:
        BlurmapError: a model that cannot be loaded (one line naming the ``--models`` entry).
    """
    config = config or ServeConfig()
    models = models if models is not None else load_models(config.models, device=config.device)
    pool = InferencePool(config.workers, config.queue, config.timeout)
    device = config.device
    limits = {"max_upload": config.max_upload_bytes, "max_pixels": config.max_pixels}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.shutdown()

    app = FastAPI(title="blurmap", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.config, app.state.models, app.state.pool = config, models, pool
    install_error_handlers(app)
    # Outermost last: headers on every answer, then the token, then the body limit.
    app.add_middleware(UploadLimit, max_bytes=config.max_upload_bytes)
    if config.token:
        app.add_middleware(BearerToken, token=config.token)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], expose_headers=EXPOSED_HEADERS)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(static_dir())), name="static")

    def find(name: Optional[str], *, purpose: str) -> ServedModel:
        """The model a request names (or the first that can do ``purpose``)."""
        if name is None:
            for m in models.values():
                if (purpose == "blur-mask" and m.has_mask) or (purpose == "defocus-map" and m.is_defocus_map):
                    return m
            raise ServeError(404, f"no model for {purpose} on this server (loaded: {', '.join(models)})")
        model = models.get(name)
        if model is None:
            raise ServeError(404, f"unknown model {name[:60]!r}; this server has {', '.join(models)}")
        if purpose == "deblur" and model.is_defocus_map:
            raise ServeError(400, f"model {name!r} estimates defocus maps from dual-pixel views; use /v1/defocus-map")
        if purpose == "defocus-map" and not model.is_defocus_map:
            raise ServeError(400, f"model {name!r} is not a defocus-map model; use /v1/deblur")
        return model

    async def run(fn, *args, **kwargs) -> Response:
        reply, _ = await pool.run(fn, *args, **kwargs)
        return Response(reply.body, media_type=reply.media_type, headers={**reply.headers, "Cache-Control": "no-store"})

    def upload(file: UploadFile, default: str) -> jobs.Upload:
        return jobs.Upload(jobs.safe_name(file.filename, default), file.file)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(static_dir() / "index.html"), media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness: answers while the server runs, however busy the workers are."""
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models() -> JSONResponse:
        """The models this server holds, and its limits."""
        described = await asyncio.get_running_loop().run_in_executor(None, lambda: [m.describe() for m in models.values()])
        return JSONResponse({
            "models": described,
            "limits": {"max_upload_mb": config.max_upload_mb, "max_pixels": config.max_pixels,
                       "workers": config.workers, "queue": config.queue, "timeout_s": config.timeout},
        })

    @app.post("/v1/deblur")
    async def deblur(
        file: UploadFile = File(..., description="the image (PNG 8/16-bit, JPEG, TIFF, WebP, BMP)"),
        model: str = Form(..., description="a deblurring model: defocus or local (see /v1/models)"),
        precision: str = Form("fp32", description="fp32, bf16 or fp16 (CUDA servers)"),
        gate: bool = Form(False, description="background gate (models with a blur mask): unblurred pixels stay as they were"),
        format: str = Form("png", description="png (the image) or json (image, input preview, map, colour bar)"),
    ) -> Response:
        """Restore an image: a PNG at the input's bit depth, size and orientation."""
        _choice("precision", precision, PRECISIONS)
        _choice("format", format, ("png", "json"))
        served = find(model, purpose="deblur")
        return await run(jobs.deblur_job, served, upload(file, "upload"), precision=precision, gate=gate, fmt=format,
                         **limits)

    @app.post("/v1/blur-mask")
    async def blur_mask(
        file: UploadFile = File(..., description="the image"),
        model: Optional[str] = Form(None, description="a model with a blur mask (default: the first one, e.g. local)"),
        bits: int = Form(8, description="PNG bit depth, 8 or 16"),
        format: str = Form("png", description="png (grey mask, white = blurred) or json (colour map, colour bar)"),
    ) -> Response:
        """The local-blur probability map (BladeNet's LBP)."""
        if bits not in (8, 16):
            raise ServeError(422, f"form field 'bits' must be 8 or 16, got {bits}")
        _choice("format", format, ("png", "json"))
        served = find(model, purpose="blur-mask")
        return await run(jobs.blur_mask_job, served, upload(file, "upload"), bits=bits, fmt=format, **limits)

    @app.post("/v1/defocus-map")
    async def defocus_map(
        left: UploadFile = File(..., description="left dual-pixel view"),
        right: UploadFile = File(..., description="right dual-pixel view (same size)"),
        model: Optional[str] = Form(None, description="a defocus-map model (default: the first, e.g. defocus-map)"),
        format: str = Form("npy", description="npy (float32 HxW, CoC px), png (colour map) or json"),
    ) -> Response:
        """Signed defocus map (CoC radius in px, + behind the focal plane) from a dual-pixel pair."""
        _choice("format", format, ("npy", "png", "json"))
        served = find(model, purpose="defocus-map")
        return await run(jobs.defocus_map_job, served, upload(left, "left"), upload(right, "right"), fmt=format,
                         device=device, **limits)

    return app
