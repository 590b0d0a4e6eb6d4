"""News feeds on loopback, so feed fetching and parsing run offline against any number of deterministic sources.

Entry ``index`` of feed ``slug`` is always the same story, dated ``BASE_DATE`` minus ``index`` hours. Every
4th entry (index 3, 7, 11, ...) is filler whose title carries ``[not-news]``; the others carry ``[news]``. The
OpenAI emulator reads those markers, so a relevance step fed these titles gets predictable verdicts.

- ``GET /feeds/{slug}.rss`` and ``/feeds/{slug}.atom``: RSS 2.0 / Atom 1.0 with ``items`` entries (default 10,
  up to 100000) starting at entry ``offset`` (default 0). Options:
  - ``body_chars=N`` (up to 200000): each summary is an HTML article body of about N characters (escaped, with
    paragraphs, emphasis and links, as full-text feeds serve it) instead of one line, for multi-megabyte feeds.
  - ``planted=true``: after the regular entries, the ones a hostile or broken feed serves (``planted_entries``):
    links and guids that are not web URLs, which discovery must never store.
  - ``rise=K``: a live feed, whose top gains K newer entries at every fetch after the first (entry ``offset - K``
    and up at the second, ...; never past entry 0): a reader that fetches it again must not miss them.
  - ``late=N:K``: entries N to N+K-1 are left out of the first fetch and served from the second on, in their
    place by date (entries published late and back-dated, or a feed that is not sorted by date): inserted in the
    middle of what a reader of the first fetch already went through.
- ``GET /feeds/{slug}.broken``: 200 with a body that is not XML at all.
- ``GET /feeds/{slug}.bomb?layers=N&mib=M``: a decompression bomb, a feed padded to M MiB (default 20, up to 64)
  and gzipped N times (default 2, up to 4), served with ``Content-Encoding: gzip`` N times over (``gzip, gzip``):
  some hundred bytes on the wire. One layer is an honest but oversized feed.
- ``GET /feeds/{slug}.corrupt``: 200 with ``Content-Encoding: gzip`` and a body that is not gzip past its header:
  whatever fetches it again gets the same bytes.
- ``GET /redirect?to=URL``: 302 to URL, whatever it is (redirects that lead somewhere a client must not go).
- ``GET /articles/{slug}/{index}``: the article page an entry links to.

Run: ``python -m emulators.feeds --host 127.0.0.1 --port 8102``
"""

import asyncio
import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from fastapi import Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

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

MAX_BODY_CHARS = 200_000

Items = Annotated[int, Query(ge=0, le=MAX_ITEMS)]
Offset = Annotated[int, Query(ge=0)]
BodyChars = Annotated[int, Query(ge=0, le=MAX_BODY_CHARS)]
Planted = Annotated[bool, Query()]
Rise = Annotated[int, Query(ge=0, le=MAX_ITEMS)]
Late = Annotated[str | None, Query(pattern=r"^\d{1,6}:\d{1,6}$")]

_BODY_SENTENCES = (
    "Officials said the decision followed months of consultation with residents and local businesses.",
    "Critics argued that the timetable was too ambitious and that costs had been underestimated.",
    "The plan will be reviewed again next spring, when the first figures are expected.",
    "Several councillors asked for an independent audit before any contract is signed.",
    "Residents who attended the meeting were divided, with some welcoming the news and others sceptical.",
    "A spokesperson declined to comment on the details but promised a public report within weeks.",
    "Similar schemes elsewhere have delivered mixed results, according to a recent study.",
    "The funding comes partly from a national programme and partly from local taxes.",
)


@dataclass(frozen=True)
class Entry:
    slug: str
    index: int
    base_url: str
    body_chars: int = 0

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
    def guid(self) -> str:
        return self.link

    @property
    def summary(self) -> str:
        lead = f"Story {self.index} of the {self.slug} feed: {self.title.rsplit(' [', 1)[0]}."
        return _article_body(lead, self, self.body_chars) if self.body_chars else lead

    @property
    def published(self) -> datetime:
        return BASE_DATE - timedelta(hours=self.index)


@dataclass(frozen=True)
class PlantedEntry:
    """An entry whose link (and maybe guid) is not a web URL; `None` leaves that element out."""

    key: str
    link: str | None
    guid: str | None
    slug: str
    index: int

    @property
    def title(self) -> str:
        return f"Planted entry {self.key} ({self.slug}) [news]"

    @property
    def summary(self) -> str:
        return f"An entry whose link is {self.link!r} and whose guid is {self.guid!r}."

    @property
    def published(self) -> datetime:
        return BASE_DATE - timedelta(hours=self.index)


def planted_entries(slug: str, base_url: str, first_index: int) -> list[PlantedEntry]:
    """What a hostile feed serves. Only `good-guid` carries a web URL (its guid), and only under it may it be kept."""
    good_guid = f"{base_url}/articles/{quote(slug)}/planted-good-guid"
    specs = [
        ("script-link", "javascript:alert(document.cookie)", None),
        ("data-guid", None, "data:text/html;base64,PHNjcmlwdD5hbGVydChkb2N1bWVudC5jb29raWUpPC9zY3JpcHQ+"),
        ("mixed-case", "   JaVaScRiPt:alert(document.domain)", "  JaVaScRiPt:alert(document.domain)"),
        ("good-guid", "javascript:alert(1)", good_guid),
    ]
    return [PlantedEntry(key, link, guid, slug, first_index + i) for i, (key, link, guid) in enumerate(specs)]


def create_app() -> EmulatorApp:
    app = EmulatorApp(title="Feeds emulator")
    fetches = _Fetches()
    app.on_reset(fetches.clear)

    @app.get("/feeds/{slug}.rss")
    async def rss(
        request: Request,
        slug: str,
        items: Items = 10,
        offset: Offset = 0,
        body_chars: BodyChars = 0,
        planted: Planted = False,
        rise: Rise = 0,
        late: Late = None,
    ) -> Response:
        window = fetches.window(request, items, offset, rise, late, body_chars, planted)
        return _feed(_rss, "application/rss+xml", request, slug, window)

    @app.get("/feeds/{slug}.atom")
    async def atom(
        request: Request,
        slug: str,
        items: Items = 10,
        offset: Offset = 0,
        body_chars: BodyChars = 0,
        planted: Planted = False,
        rise: Rise = 0,
        late: Late = None,
    ) -> Response:
        window = fetches.window(request, items, offset, rise, late, body_chars, planted)
        return _feed(_atom, "application/atom+xml", request, slug, window)

    @app.get("/feeds/{slug}.broken")
    async def broken(slug: str) -> Response:
        garbage = f'<rss version="2.0"><channel><title>{slug} & friends</title><item><title>unterminated\x00'
        return Response(garbage.encode() + b"\xff\xfe not xml at all", media_type="application/rss+xml")

    @app.get("/feeds/{slug}.bomb")
    async def bomb(
        slug: str,
        layers: Annotated[int, Query(ge=1, le=4)] = 2,
        mib: Annotated[int, Query(ge=1, le=64)] = 20,
    ) -> Response:
        headers = {"Content-Encoding": ", ".join(["gzip"] * layers)}
        # Compressing 20 MiB takes most of a second: off the loop, which serves other feeds meanwhile.
        body = await asyncio.to_thread(_bomb, layers, mib)
        return Response(body, media_type="application/rss+xml", headers=headers)

    @app.get("/feeds/{slug}.corrupt")
    async def corrupt(slug: str) -> Response:
        # A gzip header, then a deflate block of the reserved type 3: "invalid block type" on the first read.
        body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 64
        return Response(body, media_type="application/rss+xml", headers={"Content-Encoding": "gzip"})

    @app.get("/redirect")
    async def redirect(to: str) -> Response:
        return RedirectResponse(to, status_code=302)

    @app.get("/articles/{slug}/{index}")
    async def article(request: Request, slug: str, index: int) -> HTMLResponse:
        entry = Entry(slug, index, _base_url(request))
        return HTMLResponse(
            f"<!doctype html><html><head><title>{escape(entry.title)}</title></head>"
            f"<body><h1>{escape(entry.title)}</h1><p>{escape(entry.summary)}</p></body></html>"
        )

    return app


class _Fetches:
    """How often each live feed (`rise`) was fetched, so its top can grow from one fetch to the next."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def clear(self) -> None:
        self._seen.clear()

    def window(
        self, request: Request, items: int, offset: int, rise: int, late: str | None, body_chars: int, planted: bool
    ) -> "FeedWindow":
        """The entries this fetch serves: a live feed's top grows (it keeps its bottom), late entries appear."""
        earlier = 0
        if rise or late:
            key = str(request.url)
            earlier = self._seen.get(key, 0)
            self._seen[key] = earlier + 1
        top = max(0, offset - rise * earlier)
        missing = range(0)
        if late and not earlier:
            first, count = map(int, late.split(":"))
            missing = range(first, first + count)
        return FeedWindow(items + offset - top, top, body_chars, planted, missing)


@lru_cache(maxsize=8)
def _bomb(layers: int, mib: int) -> bytes:
    """An RSS feed whose one entry is followed by `mib` MiB of blanks, gzipped `layers` times."""
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>bomb</title>'
        b"<item><title>Looks harmless [news]</title><link>https://bomb.example/1</link></item>"
    )
    body = feed + b" " * (mib * 2**20) + b"</channel></rss>"
    for _ in range(layers):
        body = gzip.compress(body, compresslevel=9, mtime=0)
    return body


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@dataclass(frozen=True)
class FeedWindow:
    items: int
    offset: int
    body_chars: int
    planted: bool
    # Entries inside the window this fetch leaves out.
    missing: range = range(0)


AnyEntry = Entry | PlantedEntry
Renderer = Callable[[str, Iterator[AnyEntry], str, int], Iterator[str]]


def _feed(render: Renderer, media_type: str, request: Request, slug: str, window: FeedWindow) -> Response:
    base_url = _base_url(request)
    end = window.offset + window.items

    def entries() -> Iterator[AnyEntry]:
        for index in range(window.offset, end):
            if index in window.missing:
                continue
            yield Entry(slug, index, base_url, window.body_chars)
        if window.planted:
            yield from planted_entries(slug, base_url, end)

    body = "".join(render(slug, entries(), base_url, window.offset))
    return Response(body, media_type=f"{media_type}; charset=utf-8")


def _article_body(lead: str, entry: Entry, chars: int) -> str:
    """About `chars` characters of deterministic HTML prose, the shape full-text feeds put in a summary."""
    pick = zlib.crc32(f"{entry.slug}:{entry.index}:body".encode())
    parts = [f"<p><strong>{escape(lead)}</strong></p>"]
    size = len(parts[0])
    while size < chars:
        n = len(parts)
        sentences = " ".join(_BODY_SENTENCES[(pick + n + k) % len(_BODY_SENTENCES)] for k in range(3))
        read_more = quoteattr(f"{entry.link}#p{n}")
        parts.append(f"<p>{sentences} <a href={read_more}>Read more</a> <em>({escape(entry.slug)})</em></p>")
        size += len(parts[-1])
    return "".join(parts)


def _rss(slug: str, entries: Iterator[AnyEntry], base_url: str, offset: int) -> Iterator[str]:
    self_url = f"{base_url}/feeds/{quote(slug)}.rss"
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
    yield f"<channel><title>{escape(slug)} (emulated)</title><link>{escape(self_url)}</link>"
    yield f"<description>Deterministic test feed {escape(slug)}</description>"
    yield f'<atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>'
    yield f"<lastBuildDate>{format_datetime(BASE_DATE - timedelta(hours=offset), usegmt=True)}</lastBuildDate>\n"
    for entry in entries:
        link = f"<link>{escape(entry.link)}</link>" if entry.link is not None else ""
        guid = f'<guid isPermaLink="true">{escape(entry.guid)}</guid>' if entry.guid is not None else ""
        yield (
            f"<item><title>{escape(entry.title)}</title>{link}{guid}"
            f"<description>{escape(entry.summary)}</description>"
            f"<pubDate>{format_datetime(entry.published, usegmt=True)}</pubDate></item>\n"
        )
    yield "</channel></rss>\n"


def _atom(slug: str, entries: Iterator[AnyEntry], base_url: str, offset: int) -> Iterator[str]:
    self_url = f"{base_url}/feeds/{quote(slug)}.atom"
    yield '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    yield f"<title>{escape(slug)} (emulated)</title><id>{escape(self_url)}</id>"
    yield f"<updated>{_iso(BASE_DATE - timedelta(hours=offset))}</updated>"
    yield f'<link href={quoteattr(self_url)} rel="self"/><author><name>Longrun feeds emulator</name></author>\n'
    for entry in entries:
        guid = f"<id>{escape(entry.guid)}</id>" if entry.guid is not None else ""
        link = f"<link href={quoteattr(entry.link)}/>" if entry.link is not None else ""
        yield (
            f"<entry><title>{escape(entry.title)}</title>{guid}{link}<updated>{_iso(entry.published)}</updated>"
            f'<summary type="html">{escape(entry.summary)}</summary></entry>\n'
        )
    yield "</feed>\n"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    serve.run(create_app, description="News feeds emulator", default_port=8102)
