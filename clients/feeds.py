"""News feeds (RSS 2.0, Atom) fetched with httpx through the guarded outside layer and parsed with feedparser.

A feed URL is typed by a user: `feed_http` reaches only public hosts (and LONGRUN_OUTSIDE_HOSTS_ALLOWED), follows a
bounded number of redirects, each checked, and refuses a body past LONGRUN_FEED_MAX_BYTES (clients/outside_http.py).
"""

import asyncio
from datetime import UTC, datetime
from time import struct_time

import feedparser
import httpx
from pydantic import BaseModel

from clients.onec import TRANSIENT_CLIENT_STATUSES
from clients.outside_http import BodyCap, OutsideRefused, outside_client, shared_allowlist
from clients.retry_after import parse_retry_after
from domain.urls import web_url
from settings import Settings


class FeedEntry(BaseModel):
    url: str
    title: str
    summary: str = ""
    published_at: datetime | None = None


class ParsedFeed(BaseModel):
    entries: list[FeedEntry]
    # Entries dropped because neither their link nor their guid is a web URL (none at all, `javascript:`...):
    # counted so a hostile or broken feed shows in the job's figures instead of vanishing silently.
    rejected_links: int = 0


class FeedError(Exception):
    """A feed that could not be read. `permanent` errors will not heal by retrying."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def feed_http(settings: Settings) -> httpx.AsyncClient:
    """The client feeds are fetched with: only what every outside call may reach, nothing configured for a service."""
    return outside_client(
        shared_allowlist(settings),
        BodyCap(settings.feed_max_bytes, "LONGRUN_FEED_MAX_BYTES"),
        max_redirects=settings.outside_max_redirects,
        timeout=settings.feed_timeout_seconds,
    )


class FeedClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def fetch(self, url: str) -> ParsedFeed:
        try:
            response = await self._http.get(url, follow_redirects=True)
        except OutsideRefused as exc:
            raise FeedError(f"feed {url}: {exc}", permanent=True) from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise FeedError(f"invalid feed url {url!r}: {exc}", permanent=True) from exc
        except httpx.TooManyRedirects as exc:
            raise FeedError(f"feed {url}: {exc}", permanent=True) from exc
        except httpx.DecodingError as exc:
            # A body that does not unpack (corrupt gzip) is what the publisher serves: the same bytes come again.
            raise FeedError(f"feed {url}: {exc}", permanent=True) from exc
        except httpx.HTTPError as exc:
            raise FeedError(f"feed {url} unreachable: {exc!r}", permanent=False) from exc
        status = response.status_code
        if status >= 400:
            # The rule 1C's client follows: every 4xx is final but a timeout, too early and a rate limit.
            transient = status >= 500 or status in TRANSIENT_CLIENT_STATUSES
            wait = parse_retry_after(response.headers.get("retry-after")) if transient else None
            raise FeedError(f"feed {url} answered HTTP {status}", permanent=not transient, retry_after=wait)
        # feedparser is pure Python: a multi-megabyte feed takes seconds, which on the event loop would starve
        # the activity's heartbeats (timeout 2 s) until the server gave the attempt up as a dead worker.
        return await asyncio.to_thread(parse_feed, url, response.content)


def parse_feed(url: str, content: bytes) -> ParsedFeed:
    parsed = feedparser.parse(content)
    entries, rejected = [], 0
    for raw in parsed.entries:
        # Only a web URL may become a draft's url; a guid is often the permalink when the link is junk.
        link = web_url(raw.get("link")) or web_url(raw.get("id"))
        if link is None:
            rejected += 1
            continue
        entries.append(
            FeedEntry(
                url=link,
                title=(raw.get("title") or link)[:500],
                summary=raw.get("summary") or "",
                published_at=_when(raw.get("published_parsed") or raw.get("updated_parsed")),
            )
        )
    # feedparser salvages what it can from broken XML; a broken feed with nothing usable is malformed.
    if parsed.bozo and not entries:
        raise FeedError(f"feed {url} is malformed: {parsed.get('bozo_exception')}", permanent=True)
    return ParsedFeed(entries=entries, rejected_links=rejected)


def _when(value: struct_time | None) -> datetime | None:
    return datetime(*value[:6], tzinfo=UTC) if value else None
