"""`GET /metrics`: the API process's Prometheus metrics (runtime/metrics.py), for a scraper: counts and latencies
by route and job type, no content. Unauthenticated, as scrapers expect; keep the port off the public network, as
docker-compose.yml does."""

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.metrics import exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    # Off the loop: collecting reads the Temporal SDK's own endpoint.
    return Response(await asyncio.to_thread(exposition), media_type=CONTENT_TYPE_LATEST)
