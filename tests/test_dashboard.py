"""The dashboard renders text outsiders wrote (feed entries, Telegram posts, 1C fields, chat messages) in the origin
where the sign-in tokens live. The HTTP wall, tested here: the page and its files carry a Content-Security-Policy
that runs no inline script, so an injected one would not run. The page's own wall (outside text is never markup,
only http(s) becomes a link) is tried in a real browser in tests/screens.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal, Tokens
from api.dashboard import DIST
from db.models import Role
from devstack.processes import stack_env
from devstack.stack import Stack
from settings import Settings

CSP_HEADER = "content-security-policy"


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


# --------------------------------------------------------------------------- HTTP layer


@pytest.fixture
async def http(stack: Stack):
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        yield client


def assert_security_headers(response: httpx.Response) -> None:
    csp = csp_directives(response.headers[CSP_HEADER])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    # The component library's runtime <style> elements carry the response's nonce; nothing else is allowed inline.
    [nonce] = [value for value in csp["style-src"] if value != "'self'"]
    assert nonce.startswith("'nonce-") and len(nonce) > len("'nonce-'") + 16
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert not [v for values in csp.values() for v in values if v.startswith("'unsafe-")], csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_page_sends_a_strict_csp(http: httpx.AsyncClient):
    response = await http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_security_headers(response)


class PageAssets(HTMLParser):
    """What the page refers to: its scripts, every URL, any inline code or style."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.style_blocks = 0
        self.handler_attributes: list[str] = []
        self.style_attributes: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.handler_attributes.append(f"<{tag} {name}>")
            if name == "style":
                self.style_attributes.append(f"<{tag} style={value!r}>")
            if name in ("href", "src") and value is not None:
                self.urls.append(value)
        if tag == "script":
            self._in_script = True
            source = dict(attrs).get("src")
            if source:
                self.scripts.append(source)
        elif tag == "style":
            self.style_blocks += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data.strip())


def page_assets(html: str) -> PageAssets:
    parser = PageAssets()
    parser.feed(html)
    return parser


async def test_page_has_no_inline_code(http: httpx.AsyncClient):
    """Whatever the CSP forbids must not be needed: the page works only from files."""
    page = page_assets((await http.get("/")).text)
    assert page.scripts, "the page loads no script at all"
    assert page.inline_scripts == []
    assert page.style_blocks == 0
    assert page.handler_attributes == []
    assert page.style_attributes == []
    # Every URL in the markup is this origin's (no data:, no javascript:, nothing the CSP blocks).
    assert page.urls and all(url.startswith("/") and not url.startswith("//") for url in page.urls), page.urls


@pytest.mark.parametrize(
    ("suffix", "content_types"),
    [
        (".js", {"text/javascript", "application/javascript"}),
        (".css", {"text/css"}),
        (".svg", {"image/svg+xml"}),
    ],
)
async def test_every_asset_the_page_uses_is_served(http: httpx.AsyncClient, suffix: str, content_types: set[str]):
    page = page_assets((await http.get("/")).text)
    assets = [url for url in page.urls if url.endswith(suffix)]
    assert assets, f"the page refers to no {suffix} file"
    for url in assets:
        response = await http.get(url)
        assert response.status_code == 200, url
        # With nosniff a browser runs a script or applies a stylesheet only if its type says so.
        assert response.headers["content-type"].split(";")[0] in content_types, (url, response.headers)
        assert_security_headers(response)
        assert response.content == (DIST / url.lstrip("/")).read_bytes()


async def test_a_browser_that_takes_gzip_gets_the_build_s_compressed_copy(http: httpx.AsyncClient):
    page = page_assets((await http.get("/")).text)
    [script] = [url for url in page.scripts if url.endswith(".js")]
    plain = await http.get(script, headers={"Accept-Encoding": "identity"})
    packed = await http.get(script, headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert packed.headers["content-type"].split(";")[0] == "text/javascript"
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    assert packed.content == plain.content  # httpx undoes the gzip: the same script
    assert_security_headers(packed)


async def test_docs_keep_working_without_the_dashboard_csp(http: httpx.AsyncClient):
    """Swagger UI loads its script from a CDN and starts it inline: the page's CSP would break it."""
    response = await http.get("/docs")
    assert response.status_code == 200
    assert CSP_HEADER not in response.headers
    assert (await http.get("/redoc")).status_code == 200
    schema = (await http.get("/openapi.json")).json()
    assert "/api/v1/config" in schema["paths"]


async def test_config_needs_a_signed_in_caller(http: httpx.AsyncClient, make_user):
    assert (await http.get("/api/v1/config")).status_code == 401
    user = await make_user("worker")
    config = await user.ok("GET", "/api/v1/config")
    assert set(config) == {"temporal_ui_url", "temporal_namespace"}


async def test_config_answers_the_setting(tmp_path, stack, make_user):
    reader = await make_user("user")
    me = await reader.ok("GET", "/api/v1/users/me")
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        # A token's user is looked up as they are now (api/user_state.py): the stack's database knows the reader.
        database_url=stack.pg.database_url,
        jwt_secret="s" * 40,
        temporal_ui_url="https://temporal.example.test/ui/",
        temporal_namespace="production",
    )
    token = Tokens(settings).access(Principal(id=me["id"], username=me["username"], role=Role.user))
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/config", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    # The trailing slash goes, so the page can append paths to it.
    assert response.json() == {
        "temporal_ui_url": "https://temporal.example.test/ui",
        "temporal_namespace": "production",
    }


def test_devstack_points_the_api_at_its_own_web_ui(tmp_path, monkeypatch):
    env = stack_env(database_url="postgresql+asyncpg://x", temporal_address="127.0.0.1:7300", data_dir=tmp_path,
                    ui_port=8300, base={})  # fmt: skip
    assert env["LONGRUN_TEMPORAL_UI_URL"] == "http://127.0.0.1:8300"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None).temporal_ui_url == "http://127.0.0.1:8300"
