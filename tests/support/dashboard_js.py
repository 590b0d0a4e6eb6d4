"""Run the dashboard's shipped JavaScript in V8 (py_mini_racer) and read back the elements it built.

No browser is needed: tests/support/js/dom_shim.js stands in for `document` (and throws on every way of
parsing markup from a string), tests/support/js/page_shim.js for the rest of what app.js uses at start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from py_mini_racer import MiniRacer

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SHIMS = Path(__file__).resolve().parent / "js"
# Attributes a browser follows or loads; none may carry anything but an http(s) URL.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "cite", "data", "xlink:href", "ping", "srcset"}


class PageAssets(HTMLParser):
    """What index.html refers to: its scripts in load order, every local href/src, any inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.local_urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.style_blocks = 0
        self.handler_attributes: list[str] = []
        self.style_attributes: list[str] = []
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.handler_attributes.append(f"<{tag} {name}>")
            if name == "style":
                self.style_attributes.append(f"<{tag} style={value!r}>")
            if name in URL_ATTRIBUTES and value is not None:
                self.urls.append(value)
                if value.startswith("/") and not value.startswith("//"):
                    self.local_urls.append(value)
        if tag == "script":
            self._in_script = True
            if values.get("src"):
                self.scripts.append(values["src"])
        elif tag == "style":
            self.style_blocks += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data.strip())


def page_assets(html: str | None = None) -> PageAssets:
    parser = PageAssets()
    parser.feed(html if html is not None else (WEB / "index.html").read_text())
    return parser


def shipped_file(url: str) -> Path:
    """The file under web/ that the API serves at `url` (/static/x → web/static/x)."""
    assert url.startswith("/static/"), url
    return WEB / url.lstrip("/")


class Js:
    """One V8 context with the DOM stand-in loaded; close it (V8 keeps the process alive otherwise)."""

    def __init__(self, *shims: str) -> None:
        self.ctx = MiniRacer()
        try:
            for name in ("dom_shim.js", *shims):
                self.load(SHIMS / name)
        except BaseException:
            self.close()
            raise

    def load(self, path: Path) -> None:
        self.ctx.eval(path.read_text())

    def run(self, code: str) -> None:
        self.ctx.eval(code)

    def value(self, expression: str) -> Any:
        """The JSON value of a JS expression."""
        return json.loads(self.ctx.eval(f"JSON.stringify(({expression}) ?? null)"))

    def tree(self, expression: str) -> dict | None:
        """The element an expression evaluates to, as a nested dict (see snapshot() in dom_shim.js)."""
        return self.value(f"snapshot({expression})")

    def close(self) -> None:
        self.ctx.close()


def literal(value: Any) -> str:
    """A Python value as a JS literal."""
    return json.dumps(value)


def elements(tree: dict | None) -> Iterator[dict]:
    """Every element of a snapshot, the root first."""
    if tree is None or "tag" not in tree:
        return
    yield tree
    for child in tree["children"]:
        yield from elements(child)


def texts(tree: dict | None) -> list[str]:
    """Every text node of a snapshot, in order."""
    if tree is None:
        return []
    if "text" in tree:
        return [tree["text"]]
    return [text for child in tree["children"] for text in texts(child)]


def links(tree: dict | None) -> list[dict]:
    return [el for el in elements(tree) if el["tag"] == "a"]


def url_attributes(tree: dict | None) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every URL-carrying attribute in a snapshot."""
    return [
        (el["tag"], name, value)
        for el in elements(tree)
        for name, value in el["attributes"].items()
        if name in URL_ATTRIBUTES
    ]
