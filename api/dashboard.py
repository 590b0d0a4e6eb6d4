"""How the API serves the dashboard: the page (web/dist/index.html, built by `make web`) at `/` and at each screen's
path, its hashed files under `/assets/`, the settings it reads from `/api/v1/config`, and the security headers on
all of the page's own files.

The dashboard shows text that outsiders wrote (feed entries, Telegram posts, 1C fields, chat messages) in the origin
where the sign-in tokens live. The Content-Security-Policy is the second wall behind the page's own rule of never
rendering such text as markup or as a non-http(s) link: with no inline script allowed, an injected `<script>`,
`onerror=` or `javascript:` URL does not run even if a rendering bug lets it into the page.
"""

import mimetypes
import os
import secrets
import stat
from pathlib import Path

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

from api.deps import CurrentUser

WEB = Path(__file__).resolve().parent.parent / "web"
DIST = WEB / "dist"
NONCE_PLACEHOLDER = "__CSP_NONCE__"
# The screens' own paths (web/src/screens/index.ts): a reload or a shared link lands on the page, showing the screen.
SCREENS = ("jobs", "news", "webbuddy", "crossposting", "1c", "tracker")


def content_security_policy(nonce: str) -> str:
    """Everything the page loads comes from this origin, as files: no inline script, no plugins, no framing
    (clickjacking), no <base> to re-point relative URLs, forms post only here. The one allowance is the component
    library's runtime <style> elements, which carry this response's nonce; scripts get none.
    connect-src 'self' covers the page's websockets too (same host, ws/wss; CSP Level 3). data: images are the
    library's own icons in its styles."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


def security_headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(nonce),
        "X-Content-Type-Options": "nosniff",
        # Outside links would otherwise tell their sites the dashboard's address.
        "Referrer-Policy": "no-referrer",
        # The page names its hashed files: always revalidate it, so a new build is never run against an old page.
        "Cache-Control": "no-cache",
    }


router = APIRouter()


class DashboardConfig(BaseModel):
    """Deployment facts the page cannot know on its own."""

    temporal_ui_url: str
    temporal_namespace: str


def _page() -> Response:
    try:
        html = (DIST / "index.html").read_text()
    except FileNotFoundError:
        return PlainTextResponse("The dashboard is not built: run `make web`.", status_code=503)
    nonce = secrets.token_urlsafe(18)
    return HTMLResponse(html.replace(NONCE_PLACEHOLDER, nonce), headers=security_headers(nonce))


@router.get("/", include_in_schema=False)
async def page() -> Response:
    return _page()


@router.get("/api/v1/config", tags=["dashboard"])
async def config(request: Request, _: CurrentUser) -> DashboardConfig:
    settings = request.app.state.settings
    return DashboardConfig(
        temporal_ui_url=settings.temporal_ui_url.rstrip("/"), temporal_namespace=settings.temporal_namespace
    )


@router.get("/favicon.svg", include_in_schema=False)
async def favicon() -> Response:
    icon = DIST / "favicon.svg"
    if not icon.exists():
        return PlainTextResponse("The dashboard is not built: run `make web`.", status_code=503)
    return FileResponse(icon, headers=security_headers(secrets.token_urlsafe(18)))


@router.get("/{screen}", include_in_schema=False)
@router.get("/{screen}/{rest:path}", include_in_schema=False)
async def screen_page(screen: str, rest: str = "") -> Response:
    if screen not in SCREENS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return _page()


class _Assets(StaticFiles):
    """The page's hashed scripts and styles, with the page's headers (a script must not be sniffed into another
    type, and the CSP also applies when one of them is opened directly). Their names change with their content:
    they may be cached for good. A browser that takes gzip gets the copy the build made beside each file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        accepts = Headers(scope=scope).get("accept-encoding", "")
        if "gzip" in accepts and not path.endswith(".gz"):
            full_path, stat_result = await anyio.to_thread.run_sync(self.lookup_path, path + ".gz")
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                response = self.file_response(full_path, stat_result, scope)
                response.headers["Content-Encoding"] = "gzip"
                response.headers["Content-Type"] = mimetypes.guess_type(path)[0] or "application/octet-stream"
                response.headers["Vary"] = "Accept-Encoding"
                return response
        response = await super().get_response(path, scope)
        response.headers["Vary"] = "Accept-Encoding"
        return response

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(security_headers(secrets.token_urlsafe(18)))
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def install(app: FastAPI) -> None:
    """Serve the dashboard from `app`, after every API route (its screen paths must not shadow them). /docs and
    /redoc keep their own (CDN-loaded) pages and no CSP."""
    app.mount("/assets", _Assets(directory=DIST / "assets", check_dir=False), name="assets")
    app.include_router(router)
