"""How the API serves the dashboard: the page at `/`, its assets under `/static/`, the settings it
reads from `/api/v1/config`, and the security headers on all of the page's own files.

The dashboard shows text that outsiders wrote (feed entries today; Telegram posts, 1C fields and
chat messages later) in the origin where the sign-in tokens live. The Content-Security-Policy is
the second wall behind the page's own rule of never rendering such text as markup or as a
non-http(s) link: with no inline script allowed, an injected `<script>`, `onerror=` or
`javascript:` URL does not run even if a rendering bug lets it into the page.
"""

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Scope

from api.deps import CurrentUser

WEB = Path(__file__).resolve().parent.parent / "web"

# Everything the page loads comes from this origin, as files: no inline script or style, no
# plugins, no framing (clickjacking), no <base> to re-point relative URLs, forms post only here.
# connect-src 'self' covers the page's websocket too (same host, ws/wss; CSP Level 3).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Outside links would otherwise tell their sites the dashboard's address.
    "Referrer-Policy": "no-referrer",
    # The page and its scripts must change together: always revalidate (cheap, with ETags),
    # never run yesterday's cached script against today's page.
    "Cache-Control": "no-cache",
}

router = APIRouter()


class DashboardConfig(BaseModel):
    """Deployment facts the page cannot know on its own."""

    temporal_ui_url: str
    temporal_namespace: str


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(WEB / "index.html", headers=SECURITY_HEADERS)


@router.get("/api/v1/config", tags=["dashboard"])
async def config(request: Request, _: CurrentUser) -> DashboardConfig:
    settings = request.app.state.settings
    return DashboardConfig(
        temporal_ui_url=settings.temporal_ui_url.rstrip("/"), temporal_namespace=settings.temporal_namespace
    )


class _Assets(StaticFiles):
    """The page's scripts, styles and icon, with the page's headers (a script must not be sniffed
    into another type, and the CSP also applies when one of them is opened directly)."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(SECURITY_HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the dashboard from `app`. /docs and /redoc keep their own (CDN-loaded) pages and no CSP."""
    app.include_router(router)
    app.mount("/static", _Assets(directory=WEB / "static"), name="static")
