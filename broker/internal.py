"""The internal listener: what operators and their tools read, never the public console.

The console port serves acknowledgement links to schools from the public URL, so nothing
that describes the service's insides sits beside them: Prometheus metrics (``/metrics``),
readiness with its database and Kafka checks (``/readyz``) and the console API's OpenAPI
document (``/openapi.json``) are served here, on ``ENCOMPASS_INTERNAL_HTTP_HOST`` (loopback
by default) and ``ENCOMPASS_INTERNAL_HTTP_PORT``, by a second uvicorn server in the same
process. ``/healthz`` answers on both (it says "ok" and nothing else). Every process serves
it, whatever its roles (each reports its own counters).

Nothing here blocks the event loop: ``/readyz`` and, before each scrape of ``/metrics``,
``before_scrape`` (the queue figures, broker/metrics.py) read the database on a worker thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, str]]]]


def create_internal_app(
    registry: CollectorRegistry,
    readiness: Readiness,
    openapi: Callable[[], dict[str, Any]] | None = None,
    before_scrape: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """``openapi``: the console API's document, when this process serves the console;
    ``before_scrape``: awaited before each scrape of ``/metrics``."""
    app = FastAPI(
        title="Operation Encompass internal", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.get("/metrics", include_in_schema=False)
    @app.get("/metrics/", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus's text (or OpenMetrics, as asked), at /metrics without a redirect."""
        if before_scrape is not None:
            await before_scrape()
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), headers={"Content-Type": content_type})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ready, checks = await readiness()
        return JSONResponse(checks, status_code=200 if ready else 503)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if openapi is not None:
        document = openapi

        @app.get("/openapi.json", include_in_schema=False)
        def openapi_document() -> dict[str, Any]:
            return document()

    return app
