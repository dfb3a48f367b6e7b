"""Every error the service sends: JSON ``{"error": "..."}``, one line, the right status.

========================================== ======================================================
what went wrong                            status
========================================== ======================================================
unreadable or bad image, bad option value  400 (the CLI's message, e.g. ``"x.png: empty file"``)
no or wrong bearer token                   401 (with ``WWW-Authenticate: Bearer``)
unknown model                              404
upload over ``--max-upload-mb``            413
missing or malformed form field            422
queue full                                 503 (with ``Retry-After``)
longer than ``--timeout``                  504
anything else (a bug)                      500 ``"internal error"``; the traceback goes to the
                                           server log, never to the client
========================================== ======================================================
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from blurmap.errors import BlurmapError

log = logging.getLogger("blurmap.serve")

#: longest error line sent (a message quoting a huge value is cut)
MAX_ERROR_CHARS = 500


class ServeError(StarletteHTTPException):
    """An error answer: ``status`` and one line; ``headers`` such as ``Retry-After``.

    A subclass of Starlette's ``HTTPException`` so that it passes through FastAPI's body
    parsing untouched (the upload limit raises it from inside the form parser).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=one_line(message), headers=headers)


def one_line(message: str) -> str:
    """``message`` on one line, at most :data:`MAX_ERROR_CHARS` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def _field_problem(error: dict) -> str:
    """One FastAPI validation error -> ``"missing form field 'file'"`` and the like."""
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "form")]
    field = loc[-1] if loc else "body"
    kind = error.get("type", "")
    if kind == "missing":
        return f"missing form field {field!r}"
    if kind in ("value_error", "bool_parsing", "bool_type") and "bool" in str(error.get("msg", "")).lower():
        return f"form field {field!r} must be true or false"
    if "upload" in str(error.get("msg", "")).lower() or "file" in kind:
        return f"form field {field!r} must be a file upload"
    return f"form field {field!r}: {error.get('msg', 'invalid value')}"


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to a JSON error (see the module docstring)."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the request body is not valid multipart/form-data"
        return error_response(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            problem = _field_problem(error)
            if problem not in problems:
                problems.append(problem)
        return error_response(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(BlurmapError)
    async def user_error(request: Request, exc: BlurmapError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error (details are in the server log)")
