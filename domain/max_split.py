"""One Telegram post → the MAX messages that carry it, in order: text over MAX's limit split, media kept together.

MAX takes up to 4000 characters of text per message (NewMessageBody.text, dev.max.ru) and up to 12 attachments.
The limit is applied to the Markdown actually sent, counted in UTF-16 code units: that is never less than the
characters MAX counts, whichever way it counts them, so no piece is refused for its length.

Where text is cut, in order of preference: a paragraph break, a line break, a space — the last one in the second
half of what fits — else the last of any of them, else the most that fits (never inside a user-perceived
character: emoji sequences and flags stay whole). A cut never falls inside a link when it can fall before it.
Each piece is rendered on its own, so a bold run cut in two is closed in one message and reopened in the next:
no piece carries half a Markdown span.

A media post whose caption is too long becomes its media with the first piece, then the rest as text messages;
an album is one message with all its attachments (more than 12 — never from Telegram — go in further messages).
"""

from __future__ import annotations

import unicodedata

from pydantic import BaseModel, Field

from domain.max_format import Span, Style, clip, render, spans_from_entities, trim, utf16_len
from domain.posts import Entity, Media, MediaKind, Post, PostKind

MAX_TEXT_LENGTH = 4000
MAX_ATTACHMENTS = 12
# A character inside all five markers (`**_++~~`x`~~++_**`) with an escape, astral: 20 UTF-16 units.
MIN_LIMIT = 24
_ZWJ = "\u200d"


class Chunk(BaseModel):
    markdown: str  # what is sent, with "format": "markdown"
    plain: str  # what MAX shows, and answers `GET /messages` with


class OutgoingMessage(BaseModel):
    """One `POST /messages` of a post: Markdown text (maybe empty) and the media to upload and attach, in order."""

    markdown: str = ""
    plain: str = ""
    media: list[Media] = Field(default_factory=list)

    @property
    def kinds(self) -> list[MediaKind]:
        return [m.kind for m in self.media]


def plan_post(
    post: Post, *, limit: int = MAX_TEXT_LENGTH, max_attachments: int = MAX_ATTACHMENTS
) -> list[OutgoingMessage]:
    """The messages that publish `post`, in the order they must be sent; none for a post with nothing to show."""
    if post.kind is not PostKind.content:
        return []
    chunks = split_text(post.text, post.entities, limit=limit)
    batches = [post.media[i : i + max_attachments] for i in range(0, len(post.media), max_attachments)]
    if not batches:
        return [OutgoingMessage(markdown=c.markdown, plain=c.plain) for c in chunks]
    first = chunks[0] if chunks else Chunk(markdown="", plain="")
    messages = [OutgoingMessage(markdown=first.markdown, plain=first.plain, media=batches[0])]
    messages += [OutgoingMessage(media=batch) for batch in batches[1:]]
    messages += [OutgoingMessage(markdown=c.markdown, plain=c.plain) for c in chunks[1:]]
    return messages


def split_text(text: str, entities: list[Entity], *, limit: int = MAX_TEXT_LENGTH) -> list[Chunk]:
    """`text` as Markdown pieces of at most `limit` UTF-16 units each, whitespace at the cuts dropped."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}: room for a character inside every marker")
    return _Splitter(text, spans_from_entities(text, entities), limit).chunks()


class _Splitter:
    def __init__(self, text: str, spans: list[Span], limit: int) -> None:
        self.text = text
        # A link whose target takes half a piece could leave no room for its text: it stays plain text. (Targets
        # are at most 2000 characters, domain/urls.py, so at MAX's 4000 every link is kept.)
        self.spans = [s for s in spans if s.url is None or utf16_len(s.url) + 4 <= limit // 2]
        self.limit = limit
        self.links = [s for s in self.spans if s.style is Style.link]

    def chunks(self) -> list[Chunk]:
        pieces = []
        start = self._skip_space(0)
        while start < len(self.text):
            end = self._cut(start)
            a, b = trim(self.text, start, end)
            if a < b:
                pieces.append(self._chunk(a, b))
            start = self._skip_space(end)
        return pieces

    def _chunk(self, a: int, b: int) -> Chunk:
        return Chunk(markdown=render(self.text[a:b], clip(self.spans, a, b)), plain=self.text[a:b])

    def _fits(self, start: int, end: int) -> bool:
        a, b = trim(self.text, start, end)
        return utf16_len(render(self.text[a:b], clip(self.spans, a, b))) <= self.limit

    def _cut(self, start: int) -> int:
        """Where the piece starting at `start` ends."""
        # Markdown is never shorter than its text, so no piece holds more than `limit` characters.
        hi = min(len(self.text), start + self.limit)
        if hi == len(self.text) and self._fits(start, hi):
            return hi
        lo = start + 1
        while lo < hi:  # the longest prefix that fits (length grows with the prefix, give or take a marker)
            mid = (lo + hi + 1) // 2
            if self._fits(start, mid):
                lo = mid
            else:
                hi = mid - 1
        cut = self._boundary(start, lo)
        while cut > start + 1 and not self._fits(start, cut):  # an escape that a shorter piece needs after all
            cut -= 1
        return cut

    def _boundary(self, start: int, fits_to: int) -> int:
        candidates = {"paragraph": [], "line": [], "space": []}
        for i in range(start + 1, fits_to + 1):
            if i == len(self.text) or self._inside_link(i):
                continue
            ch = self.text[i]
            if ch == "\n" and self.text[i - 1] == "\n":
                candidates["paragraph"].append(i - 1)
            elif ch == "\n":
                candidates["line"].append(i)
            elif ch.isspace():
                candidates["space"].append(i)
        half = start + (fits_to - start) // 2
        for kind in ("paragraph", "line", "space"):
            late = [i for i in candidates[kind] if i > half]
            if late:
                return late[-1]
        every = sorted(i for found in candidates.values() for i in found if i > start)
        if every:
            return every[-1]
        return self._hard_cut(start, fits_to)

    def _inside_link(self, i: int) -> bool:
        return any(link.start < i < link.end for link in self.links)

    def _hard_cut(self, start: int, fits_to: int) -> int:
        cut = fits_to
        link = next((link for link in self.links if link.start < cut < link.end), None)
        if link is not None and link.start > start:
            cut = link.start
        while cut > start + 1 and _joins(self.text, cut):
            cut -= 1
        return cut if cut > start else fits_to

    def _skip_space(self, i: int) -> int:
        while i < len(self.text) and self.text[i].isspace():
            i += 1
        return i


def _joins(text: str, i: int) -> bool:
    """Whether text[i] belongs to the same user-perceived character as text[i - 1] (so cutting at i splits it)."""
    if i <= 0 or i >= len(text):
        return False
    ch, prev = text[i], text[i - 1]
    if ch == _ZWJ or prev == _ZWJ or unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me"):
        return True
    if 0xFE00 <= ord(ch) <= 0xFE0F or 0x1F3FB <= ord(ch) <= 0x1F3FF or 0xE0020 <= ord(ch) <= 0xE007F:
        return True  # variation selectors, skin tones, tag sequences (subdivision flags)
    if _regional(ch) and _regional(prev):
        run = 0
        while i - run - 1 >= 0 and _regional(text[i - run - 1]):
            run += 1
        return run % 2 == 1  # an odd run before: text[i] is the second half of a flag
    return False


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
