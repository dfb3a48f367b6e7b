"""Bearer-token check on every ``/v1`` route, before a byte of the body is read.

A plain ASGI middleware rather than a FastAPI dependency: FastAPI parses a form body before
it runs dependencies, so a dependency would let anyone without the token make the server
receive and spool uploads. ``/``, ``/static/...`` and ``/healthz`` stay open (the page holds no
data; load balancers probe ``/healthz``).
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from blurmap.serve.errors import error_response

PROTECTED_PREFIX = "/v1"


class BearerToken:
    """Answer 401 to ``/v1`` requests without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") == "OPTIONS" or not (
            path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")
        ):
            await self.app(scope, receive, send)  # CORS preflights carry no credentials
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, value = header.partition(b" ")
        if scheme.lower() != b"bearer" or not value.strip():
            response = error_response(401, "this server needs a token: send 'Authorization: Bearer <token>'",
                                      {"WWW-Authenticate": "Bearer"})
        elif not hmac.compare_digest(value.strip(), self._token):
            response = error_response(401, "wrong bearer token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
