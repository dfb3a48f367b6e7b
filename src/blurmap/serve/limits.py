"""Request-level limits and headers: upload size (413) and the security headers.

Both are plain ASGI middleware, so they act before FastAPI parses a byte of the body:

- :class:`UploadLimit` refuses a request whose ``Content-Length`` is over the limit at once,
  and stops a body sent without one (chunked) as soon as it passes the limit;
- :class:`SecurityHeaders` adds ``X-Content-Type-Options: nosniff``, ``Referrer-Policy`` and a
  ``Content-Security-Policy`` that lets the page load nothing but this server's own files.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blurmap.serve.errors import ServeError, error_response

#: the page may load scripts, styles and images from this server only (images also as
#: data:/blob: URLs: the results and the local preview of the chosen file)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class UploadTooLarge(ServeError):
    def __init__(self, limit: int):
        super().__init__(413, f"upload over the limit of {limit / 1e6:g} MB (--max-upload-mb)")


class UploadLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (whole body: all files and fields)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await error_response(400, "Content-Length is not a number")(scope, receive, send)
                return
            if declared > self.max_bytes:
                # Answer before reading the body; a client that sent "Expect: 100-continue"
                # (curl does for large uploads) never sends it at all.
                await error_response(413, UploadTooLarge(self.max_bytes).detail)(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise UploadTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


class SecurityHeaders:
    """Add the security headers of the module docstring to every HTTP response."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
    )

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in self.HEADERS if k not in present
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
