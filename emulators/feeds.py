"""News feeds on loopback, so feed fetching and parsing run offline against any number of deterministic sources.

Entry ``index`` of feed ``slug`` is always the same story, dated ``BASE_DATE`` minus ``index`` hours. Every
4th entry (index 3, 7, 11, ...) is filler whose title carries ``[not-news]``; the others carry ``[news]``. The
OpenAI emulator reads those markers, so a relevance step fed these titles gets predictable verdicts.

- ``GET /feeds/{slug}.rss`` and ``/feeds/{slug}.atom``: RSS 2.0 / Atom 1.0 with ``items`` entries (default 10,
  up to 100000) starting at entry ``offset`` (default 0).
- ``GET /feeds/{slug}.broken``: 200 with a body that is not XML at all.
- ``GET /articles/{slug}/{index}``: the article page an entry links to.

Run: ``python -m emulators.feeds --host 127.0.0.1 --port 8102``
"""

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Annotated
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from fastapi import Query, Request
from starlette.responses import HTMLResponse, Response

from emulators import serve
from emulators.faults import EmulatorApp

BASE_DATE = datetime(2025, 1, 1, tzinfo=UTC)
MAX_ITEMS = 100_000

_SUBJECTS = (
    "City council",
    "Regional hospital",
    "University researchers",
    "Transit agency",
    "Local startup",
    "Weather service",
    "School board",
    "Harbour authority",
)
_ACTIONS = ("approves", "unveils", "delays", "reviews", "expands", "questions", "funds", "announces")
_OBJECTS = (
    "new budget",
    "flood defences",
    "bus network",
    "housing plan",
    "vaccine study",
    "solar project",
    "library hours",
    "bridge repairs",
)
_FILLER = ("Weekly horoscope", "Sponsored: best deals of the week", "Crossword answers", "Recipe of the day")

Items = Annotated[int, Query(ge=0, le=MAX_ITEMS)]
Offset = Annotated[int, Query(ge=0)]


@dataclass(frozen=True)
class Entry:
    slug: str
    index: int
    base_url: str

    @property
    def is_news(self) -> bool:
        return self.index % 4 != 3

    @property
    def title(self) -> str:
        pick = zlib.crc32(f"{self.slug}:{self.index}".encode())
        if not self.is_news:
            return f"{_FILLER[pick % len(_FILLER)]} #{self.index} [not-news]"
        subject, action, thing = (_SUBJECTS[pick % 8], _ACTIONS[pick // 8 % 8], _OBJECTS[pick // 64 % 8])
        return f"{subject} {action} {thing} ({self.slug} #{self.index}) [news]"

    @property
    def link(self) -> str:
        return f"{self.base_url}/articles/{quote(self.slug)}/{self.index}"

    @property
    def summary(self) -> str:
        return f"Story {self.index} of the {self.slug} feed: {self.title.rsplit(' [', 1)[0]}."

    @property
    def published(self) -> datetime:
        return BASE_DATE - timedelta(hours=self.index)


def create_app() -> EmulatorApp:
    app = EmulatorApp(title="Feeds emulator")

    @app.get("/feeds/{slug}.rss")
    async def rss(request: Request, slug: str, items: Items = 10, offset: Offset = 0) -> Response:
        return _feed(_rss, "application/rss+xml", request, slug, items, offset)

    @app.get("/feeds/{slug}.atom")
    async def atom(request: Request, slug: str, items: Items = 10, offset: Offset = 0) -> Response:
        return _feed(_atom, "application/atom+xml", request, slug, items, offset)

    @app.get("/feeds/{slug}.broken")
    async def broken(slug: str) -> Response:
        garbage = f'<rss version="2.0"><channel><title>{slug} & friends</title><item><title>unterminated\x00'
        return Response(garbage.encode() + b"\xff\xfe not xml at all", media_type="application/rss+xml")

    @app.get("/articles/{slug}/{index}")
    async def article(request: Request, slug: str, index: int) -> HTMLResponse:
        entry = Entry(slug, index, _base_url(request))
        return HTMLResponse(
            f"<!doctype html><html><head><title>{escape(entry.title)}</title></head>"
            f"<body><h1>{escape(entry.title)}</h1><p>{escape(entry.summary)}</p></body></html>"
        )

    return app


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


Renderer = Callable[[str, Iterator[Entry], str, int], Iterator[str]]


def _feed(render: Renderer, media_type: str, request: Request, slug: str, items: int, offset: int) -> Response:
    base_url = _base_url(request)
    entries = (Entry(slug, index, base_url) for index in range(offset, offset + items))
    return Response("".join(render(slug, entries, base_url, offset)), media_type=f"{media_type}; charset=utf-8")


def _rss(slug: str, entries: Iterator[Entry], base_url: str, offset: int) -> Iterator[str]:
    self_url = f"{base_url}/feeds/{quote(slug)}.rss"
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
    yield f"<channel><title>{escape(slug)} (emulated)</title><link>{escape(self_url)}</link>"
    yield f"<description>Deterministic test feed {escape(slug)}</description>"
    yield f'<atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>'
    yield f"<lastBuildDate>{format_datetime(BASE_DATE - timedelta(hours=offset), usegmt=True)}</lastBuildDate>\n"
    for entry in entries:
        link = escape(entry.link)
        yield (
            f"<item><title>{escape(entry.title)}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid><description>{escape(entry.summary)}</description>'
            f"<pubDate>{format_datetime(entry.published, usegmt=True)}</pubDate></item>\n"
        )
    yield "</channel></rss>\n"


def _atom(slug: str, entries: Iterator[Entry], base_url: str, offset: int) -> Iterator[str]:
    self_url = f"{base_url}/feeds/{quote(slug)}.atom"
    yield '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    yield f"<title>{escape(slug)} (emulated)</title><id>{escape(self_url)}</id>"
    yield f"<updated>{_iso(BASE_DATE - timedelta(hours=offset))}</updated>"
    yield f'<link href={quoteattr(self_url)} rel="self"/><author><name>Longrun feeds emulator</name></author>\n'
    for entry in entries:
        link = escape(entry.link)
        yield (
            f"<entry><title>{escape(entry.title)}</title><id>{link}</id><link href={quoteattr(entry.link)}/>"
            f"<updated>{_iso(entry.published)}</updated><summary>{escape(entry.summary)}</summary></entry>\n"
        )
    yield "</feed>\n"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    serve.run(create_app, description="News feeds emulator", default_port=8102)
