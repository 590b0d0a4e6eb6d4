"""Latency of every API request by method, route template and status (`/api/v1/jobs/{job_id}`, not the id: a
bounded set of series), measured around the whole app, as plain ASGI so the webhook's hot path pays one histogram
observation."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.metrics import HTTP_LATENCY


class RouteLatency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<no route>"
            HTTP_LATENCY.labels(scope["method"], template, str(status)).observe(time.perf_counter() - started)
