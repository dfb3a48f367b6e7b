"""``blurmap serve``: a web page and a REST service for the models.

- :mod:`~blurmap.serve.app`: the FastAPI application (:func:`create_app`) and its routes;
- :mod:`~blurmap.serve.config`: settings (:class:`ServeConfig`) and the bind-address rule;
- :mod:`~blurmap.serve.models`: the models a server holds, loaded once through :mod:`blurmap.api`;
- :mod:`~blurmap.serve.jobs`: the work behind each endpoint (decode in memory, run, encode);
- :mod:`~blurmap.serve.pool`: the bounded worker pool (503 when full, per-request timeout);
- :mod:`~blurmap.serve.limits`, :mod:`~blurmap.serve.auth`: upload limit, security headers, token;
- :mod:`~blurmap.serve.errors`: every error as JSON ``{"error": "..."}`` with its status;
- ``static/``: the page (HTML, CSS, JS; no CDN).

See ``docs/serve.md``. FastAPI and uvicorn are imported only when this package is.
"""

from blurmap.serve.app import create_app
from blurmap.serve.config import ServeConfig, check_bind

__all__ = ["create_app", "ServeConfig", "check_bind"]
