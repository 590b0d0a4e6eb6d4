"""The dashboard renders text outsiders wrote (feed entries now; Telegram posts, 1C fields, chat
messages later) in the origin where the sign-in tokens live. Two walls, tested separately:

- HTTP: the page and its files carry a Content-Security-Policy with no inline script or style,
  so an injected script would not run;
- JS: the shipped rendering code, run in V8, never builds a link to anything but http(s) and
  never turns outside text into markup, so nothing is injected in the first place.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from py_mini_racer import JSEvalException

from api.app import create_app
from api.auth import Principal, Tokens
from db.models import Role
from devstack.processes import stack_env
from devstack.stack import Stack
from settings import Settings
from tests.support.dashboard_js import (
    WEB,
    Js,
    elements,
    links,
    literal,
    page_assets,
    shipped_file,
    texts,
    url_attributes,
)

SAFE_URL = "https://example.com/x"
UNSAFE_URLS = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(document.cookie)",
    "  javascript:alert(document.cookie)",
    # Browsers drop leading control characters, and tabs and newlines anywhere, before the scheme.
    "\x01javascript:alert(document.cookie)",
    "\tjavascript:alert(document.cookie)",
    "java\nscript:alert(document.cookie)",
    "data:text/html,<script>alert(document.cookie)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydChkb2N1bWVudC5jb29raWUpPC9zY3JpcHQ+",
    "vbscript:msgbox(document.cookie)",
    "file:///etc/passwd",
    "//evil.example/x",
    "/api/v1/jobs",
    "",
]
MARKUP = [
    "<img src=x onerror=alert(document.cookie)>",
    "<script>alert(document.cookie)</script>",
    "<a href='javascript:alert(1)'>click</a>",
    '"><svg onload=alert(1)>',
]
CSP_HEADER = "content-security-policy"


def draft(id_: int, url: object, title: str = "A headline") -> dict:
    return {
        "id": id_,
        "source_id": 1,
        "title": title,
        "url": url,
        "status": "draft",
        "created_at": "2025-05-01T10:00:00Z",
        "run_id": "news-discovery-1",
    }


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
    assert csp["style-src"] == ["'self'"]
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
    assets = [url for url in page.local_urls if url.endswith(suffix)]
    assert assets, f"the page refers to no {suffix} file"
    for url in assets:
        response = await http.get(url)
        assert response.status_code == 200, url
        # With nosniff a browser runs a script or applies a stylesheet only if its type says so.
        assert response.headers["content-type"].split(";")[0] in content_types, (url, response.headers)
        assert_security_headers(response)
        assert response.content == shipped_file(url).read_bytes()


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


# --------------------------------------------------------------------------- JS layer


@pytest.fixture
def render():
    """render.js, exactly as shipped, in V8 with a stand-in document."""
    js = Js()
    js.load(WEB / "static" / "render.js")
    yield js
    js.close()


@pytest.fixture
def page():
    """index.html's scripts, in its order, started in V8 with `answers` as the API's replies."""
    started: list[Js] = []

    def start(answers: dict, *, signed_in: bool = True) -> Js:
        js = Js("page_shim.js")
        started.append(js)
        js.run(f"Object.assign(apiAnswers, {literal(answers)})")
        if signed_in:
            user = literal({"id": 1, "username": "ann", "role": "admin"})
            js.run('localStorage.setItem("longrun.access", "access-token")')
            js.run('localStorage.setItem("longrun.refresh", "refresh-token")')
            js.run(f'localStorage.setItem("longrun.user", {literal(user)})')
        for src in page_assets().scripts:
            js.load(shipped_file(src))
        return js

    yield start
    for js in started:
        js.close()


def answers(drafts: list[dict], temporal_ui_url: str = "http://127.0.0.1:8233", jobs: list[dict] = ()) -> dict:
    """The API's replies to a signed-in page: these drafts and jobs, one source, this config."""
    listed = ("job_id", "type", "owner", "status", "started_at")
    return {
        "/api/v1/jobs": {"jobs": [{key: job[key] for key in listed} for job in jobs]},
        **{f"/api/v1/jobs/{job['job_id']}": job for job in jobs},
        "/api/v1/news/sources": [{"id": 1, "name": "Feed", "topic": "news", "active": True}],
        "/api/v1/news/drafts": {"items": drafts, "total": len(drafts)},
        "/api/v1/config": {"temporal_ui_url": temporal_ui_url, "temporal_namespace": "default"},
    }


def link_cell(row: dict) -> dict:
    return next(el for el in elements(row) if el["attributes"].get("data-label") == "Link")


@pytest.mark.parametrize("url", UNSAFE_URLS + [None, 42])
def test_a_draft_with_a_non_http_url_renders_no_link(render: Js, url: object):
    row = render.tree(f'draftRow({literal(draft(7, url))}, {{ canEdit: true, sourceName: "Feed" }})')
    assert links(row) == []
    assert url_attributes(row) == []
    assert texts(link_cell(row)) == ["—"]
    if isinstance(url, str) and url:
        assert not [v for el in elements(row) for v in el["attributes"].values() if url.strip() in v]


def test_a_draft_with_an_https_url_is_a_link_to_it(render: Js):
    row = render.tree(f'draftRow({literal(draft(7, SAFE_URL))}, {{ canEdit: false, sourceName: "Feed" }})')
    [link] = links(row)
    assert link["attributes"]["href"] == SAFE_URL
    assert link["attributes"]["target"] == "_blank"
    # The opened page gets no handle on the dashboard and no Referer naming it.
    assert {"noopener", "noreferrer"} <= set(link["attributes"]["rel"].split())
    assert texts(link) == ["open ↗"]


@pytest.mark.parametrize("attribute", ["href", "src", "action", "formaction", "poster", "cite", "HREF"])
def test_the_element_builder_keeps_only_http_urls(render: Js, attribute: str):
    """The rule lives in h() itself, so a future renderer (Telegram, 1C, chat) cannot forget it."""
    for url in UNSAFE_URLS:
        assert url_attributes(render.tree(f"h('a', {{ {literal(attribute)}: {literal(url)} }})")) == [], url
    kept = render.tree(f"h('a', {{ {literal(attribute)}: {literal(SAFE_URL)} }})")
    assert url_attributes(kept) == [("a", attribute.lower(), SAFE_URL)]


@pytest.mark.parametrize(
    ("attrs", "complaint"),
    [
        ("{ onclick: 'alert(document.cookie)' }", "onclick takes a function"),
        ("{ onError: 'alert(document.cookie)' }", "onError takes a function"),
        ("{ style: 'background: url(javascript:alert(1))' }", "style takes an object"),
        ("{ srcdoc: '<script>alert(1)</script>' }", "srcdoc attribute is not allowed"),
        ("{ srcset: 'javascript:alert(1) 1x' }", "srcset attribute is not allowed"),
    ],
)
def test_the_element_builder_refuses_code_and_markup_in_attributes(render: Js, attrs: str, complaint: str):
    with pytest.raises(JSEvalException, match=complaint):
        render.run(f"h('iframe', {attrs})")


def test_outside_text_in_a_job_stays_text(render: Js):
    job = {
        "job_id": "news-discovery-1", "type": "news_discovery", "owner": MARKUP[1], "status": "running",
        "percent": 40, "_snapshot": True, "processed": 2, "total": 5, "succeeded": 1, "skipped": 0, "failed": 1,
        "current": MARKUP[0], "message": MARKUP[1], "errors": [{"item": MARKUP[2], "error": MARKUP[3]}],
        "started_at": "2025-05-01T10:00:00Z", "eta_seconds": 12,
    }  # fmt: skip
    row = render.tree(f"jobRow({literal(job)})")
    assert {el["tag"] for el in elements(row)} <= {"article", "div", "span", "b", "button", "time"}
    assert url_attributes(row) == []
    all_text = "".join(texts(row))
    for markup in MARKUP:
        assert markup in all_text
    # The bar's width goes through the CSSOM: a style attribute would be blocked by the CSP.
    [fill] = [el for el in elements(row) if "fill" in el["attributes"].get("class", "").split()]
    assert fill["style"] == {"width": "40%"}
    assert not [el for el in elements(row) if "style" in el["attributes"]]


def test_the_page_links_only_http_drafts(page):
    drafts = [draft(i, url, title=MARKUP[i % len(MARKUP)]) for i, url in enumerate(UNSAFE_URLS, start=1)]
    drafts.append(draft(100, SAFE_URL))
    js = page(answers(drafts))
    body = js.tree("document.getElementById('drafts-body')")
    rows = [el for el in elements(body) if el["tag"] == "tr"]
    assert [row["dataset"]["id"] for row in rows] == [d["id"] for d in drafts]
    assert url_attributes(body) == [("a", "href", SAFE_URL)]
    for row in rows[:-1]:
        assert texts(link_cell(row)) == ["—"]
    assert set(MARKUP) <= set(texts(body))


@pytest.mark.parametrize(
    ("ui_url", "linked"),
    [
        ("http://127.0.0.1:8233", True),
        ("https://temporal.example.test/ui", True),
        ("javascript:alert(document.cookie)", False),
        ("data:text/html,<script>alert(document.cookie)</script>", False),
    ],
)
def test_the_page_links_the_temporal_ui_only_over_http(page, ui_url: str, linked: bool):
    job = {
        "job_id": "news-discovery-9", "type": "news_discovery", "owner": "ann", "status": "completed",
        "started_at": "2025-05-01T10:00:00Z", "percent": 100, "errors": [], "result": {"drafts": 1},
    }  # fmt: skip
    js = page(answers([], temporal_ui_url=ui_url, jobs=[job]))
    js.run(f"openDetails({literal(job['job_id'])})")
    nav = js.tree("document.getElementById('temporal-nav')")
    details = js.tree("document.getElementById('dlg-body')")
    assert "Result" in texts(details), "the job's details were not rendered"
    if linked:
        # The jobs, not the housekeeping sweeps' runs, are the list a person opens.
        jobs_list = f"{ui_url}/namespaces/default/workflows?query=JobType%20IS%20NOT%20NULL"
        assert url_attributes(nav) == [("a", "href", jobs_list)]
        assert nav["hidden"] is False
        assert url_attributes(details) == [("a", "href", f"{ui_url}/namespaces/default/workflows/news-discovery-9")]
    else:
        assert nav["children"] == [] and nav["hidden"] is True
        assert url_attributes(details) == []


def test_the_page_starts_at_sign_in_without_a_session(page):
    js = page({}, signed_in=False)
    assert js.value("requests") == []
    assert js.value("document.getElementById('login-view').hidden") is False
    assert js.value("document.getElementById('dashboard').hidden") is True


def test_the_page_asks_for_its_config_with_the_session_token(page):
    js = page(answers([]))
    config_requests = [r for r in js.value("requests") if r["url"] == "/api/v1/config"]
    expected = {"url": "/api/v1/config", "method": "GET", "authorization": "Bearer access-token", "body": None}
    assert config_requests == [expected]


def test_signing_out_ends_the_session_on_the_server_too(page):
    js = page(answers([]))
    js.run("document.getElementById('logout').listeners.click[0]()")
    [logout] = [r for r in js.value("requests") if r["url"] == "/api/logout/"]
    assert (logout["method"], json.loads(logout["body"])) == ("POST", {"refresh": "refresh-token"})
    assert js.value("localStorage.getItem('longrun.refresh')") is None
    assert js.value("document.getElementById('login-view').hidden") is False


def test_a_refresh_keeps_the_refresh_token_that_replaces_the_spent_one(page):
    js = page({**answers([]), "/api/token/refresh/": {"access": "access-2", "refresh": "refresh-2"}})
    js.run("refreshAccess()")
    assert js.value("localStorage.getItem('longrun.refresh')") == "refresh-2"
    assert js.value("localStorage.getItem('longrun.access')") == "access-2"


# Ways around h() and safeUrl(): none may appear in the shipped scripts.
MARKUP_OR_CODE_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\s*\(|\bnew\s+Function\b"
    r"|set(?:Timeout|Interval)\(\s*['\"`]"
    r"|\.(?:href|src|action|formAction|srcdoc)\s*=[^=]"
)


def test_shipped_scripts_never_parse_markup_or_set_urls_around_the_helper():
    scripts = sorted((WEB / "static").glob("*.js"))
    assert {p.name for p in scripts} >= {"render.js", "app.js"}
    for path in scripts:
        source = path.read_text()
        assert MARKUP_OR_CODE_SINKS.findall(source) == [], path.name
        # Attributes are set only inside h(), where URL attributes pass through safeUrl().
        if path.name != "render.js":
            assert "setAttribute" not in source, path.name


# A job whose step is being retried says so, the outside service's error set as text.
RETRYING_JOB = {
    "job_id": "onec-sync-contractors", "type": "sync_contractors", "owner": "manager1", "status": "pending",
    "percent": 0, "_snapshot": True, "processed": 0, "total": 0, "succeeded": 0, "skipped": 0, "failed": 0,
    "message": "", "errors": [], "started_at": "2025-05-01T10:00:00Z",
}  # fmt: skip


def test_a_retrying_step_shows_its_attempt_since_and_error_as_text(render: Js):
    retrying = {"step": "onec.count", "attempt": 3, "since": "2025-05-01T10:00:05Z", "last_error": MARKUP[0]}
    row = render.tree(f"jobRow({literal({**RETRYING_JOB, 'retrying': retrying})})")
    line = "".join(texts(row))
    assert "retrying onec.count (attempt 3, since " in line and f"): {MARKUP[0]}" in line
    assert {el["tag"] for el in elements(row)} <= {"article", "div", "span", "b", "button", "time"}
    [since] = [
        el for el in elements(row) if el["tag"] == "time" and el["attributes"].get("datetime") == retrying["since"]
    ]
    assert since

    calm = "".join(texts(render.tree(f"jobRow({literal({**RETRYING_JOB, 'retrying': None})})")))
    assert "retrying" not in calm


def test_a_running_job_in_retry_shows_no_eta(render: Js):
    running = {**RETRYING_JOB, "status": "running", "eta_seconds": 0}
    retrying = {"step": "news.discover_source", "attempt": 6, "since": "2025-05-01T10:00:05Z", "last_error": "503"}
    assert "ETA" in "".join(texts(render.tree(f"jobRow({literal(running)})")))
    assert "ETA" not in "".join(texts(render.tree(f"jobRow({literal({**running, 'retrying': retrying})})")))
