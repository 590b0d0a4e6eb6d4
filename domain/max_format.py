"""Telegram text and entities → the Markdown MAX renders (`POST /messages` with `"format": "markdown"`).

MAX's Markdown (dev.max.ru, "Форматирование текста"): `**bold**`, `_italic_` (or `*italic*`), `~~strikethrough~~`,
`++underline++`, `` `monospaced` `` (a line break inside it shows as a space) and `[text](url)`. What Telegram has
beyond that (spoiler, blockquote, mentions, hashtags, custom emoji...) has no MAX form and stays plain text;
`pre` becomes monospaced line by line, so its lines survive. MAX answers a sent message with the plain text and
a `markup` list, so the plain text of what this renders is exactly the Telegram text: escapes and markers only
ever add characters around it.

Telegram counts entity offsets in UTF-16 code units; everything here works on code points (Python indices) once
the entities are converted, so an emoji outside the Basic Multilingual Plane is one character, never half of one.

Why each rule (MAX documents the markers, not how it parses them; these assume CommonMark's rules, which the
emulator applies strictly, emulators/max_markdown.py):
- a post's own characters * _ ` [ ] ~ and backslash are backslash-escaped, so they never become formatting;
  `+` and `^` only where they would form `++`/`^^` with a neighbour, `#` and `>` only at a line start (heading,
  quote), `!` only before a link (image syntax): escaping more would leave backslashes wherever a parser does
  not honour them;
- a marker never touches whitespace on its inner side (`**word **` is not bold), so spans are trimmed and
  markers are moved across whitespace;
- spans that overlap without nesting are closed and reopened so the output nests; a link is always the
  outermost span (so it is never cut in two) and monospaced the innermost (nothing is parsed inside it);
  overlapping spans of one style are merged, as `**` inside `**` would close the outer one;
- italic is `_`, except where its edge is inside a word (`_` does not work there, `*` does); `*` touching
  bold's `**` is ambiguous, so that rare pair is left unmarked (the text stays, only the slant is lost);
- monospaced text is written raw, since escapes do not work inside it; a backtick or a line break is kept
  outside the span, as a monospaced span cannot hold either.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import quote

from domain.posts import Entity, EntityType
from domain.urls import web_url


class Style(IntEnum):
    """The spans MAX can show; the value orders spans that start and end together (lower: outer)."""

    link = 0
    bold = 1
    italic = 2
    underline = 3
    strikethrough = 4
    code = 5


@dataclass(frozen=True)
class Span:
    """A styled range in code points: [start, end)."""

    style: Style
    start: int
    end: int
    url: str | None = None


_OPEN = {
    Style.bold: "**",
    Style.italic: "_",
    Style.underline: "++",
    Style.strikethrough: "~~",
    Style.code: "`",
    Style.link: "[",
}
_STYLE_OF = {
    EntityType.bold: Style.bold,
    EntityType.italic: Style.italic,
    EntityType.underline: Style.underline,
    EntityType.strikethrough: Style.strikethrough,
    EntityType.code: Style.code,
    EntityType.pre: Style.code,
    EntityType.text_link: Style.link,
    EntityType.url: Style.link,
}
_ALWAYS_ESCAPED = frozenset("\\*_`[]~")
_DOUBLED_ESCAPED = frozenset("+^")
_LINE_START_ESCAPED = frozenset("#>")


# --------------------------------------------------------------------------- UTF-16


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf16_starts(text: str) -> list[int]:
    """The UTF-16 offset at which each code point of `text` starts, plus the total length at the end."""
    starts = [0] * (len(text) + 1)
    offset = 0
    for i, ch in enumerate(text):
        starts[i] = offset
        offset += 2 if ord(ch) > 0xFFFF else 1
    starts[len(text)] = offset
    return starts


def to_code_points(starts: list[int], offset: int, length: int) -> tuple[int, int]:
    """A UTF-16 range as code point indices [start, end); a boundary inside a surrogate pair takes the whole pair."""
    start = bisect.bisect_right(starts, offset) - 1
    end = bisect.bisect_left(starts, offset + length)
    last = len(starts) - 1
    return max(0, min(start, last)), max(0, min(end, last))


# --------------------------------------------------------------------------- spans


def spans_from_entities(text: str, entities: list[Entity]) -> list[Span]:
    """The entities MAX can show, as trimmed, non-empty spans in code points; the rest are dropped."""
    starts = utf16_starts(text)
    spans: list[Span] = []
    for entity in entities:
        style = _STYLE_OF.get(entity.type)
        if style is None:
            continue
        start, end = to_code_points(starts, entity.offset, entity.length)
        url = None
        if style is Style.link:
            url = _link_target(entity, text[start:end])
            if url is None:
                continue
        if style is Style.code:
            spans.extend(_code_pieces(text, start, end))
            continue
        start, end = trim(text, start, end)
        if start < end:
            spans.append(Span(style, start, end, url))
    return _merged(spans)


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping or touching spans of one style as one span: `**a**` inside `**...**` would close the outer one.

    Of two links that overlap with different targets only the first is kept: a link cannot hold a link.
    """
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.style, s.url or "", s.start)):
        last = merged[-1] if merged else None
        if last and last.style is span.style and last.url == span.url and span.start <= last.end:
            merged[-1] = Span(span.style, last.start, max(last.end, span.end), span.url)
        else:
            merged.append(span)
    links = sorted((s for s in merged if s.style is Style.link), key=lambda s: s.start)
    kept_links = []
    for link in links:
        if not kept_links or link.start >= kept_links[-1].end:
            kept_links.append(link)
    return [s for s in merged if s.style is not Style.link] + kept_links


def _link_target(entity: Entity, covered: str) -> str | None:
    """Where a link points, if it is a web URL: a text link's own URL, or a bare URL's text (scheme added)."""
    if entity.type is EntityType.text_link:
        target = web_url(entity.url)
    else:
        candidate = covered.strip()
        target = web_url(candidate if "://" in candidate else f"https://{candidate}")
    if target is None:
        return None
    # Parentheses, spaces and backslashes would end or break `(url)`; percent-encoding keeps the URL the same.
    return quote(target, safe="!#$%&'*+,-./:;=?@[]^_`{|}~")


def _code_pieces(text: str, start: int, end: int) -> list[Span]:
    """A monospaced range minus its backticks and line breaks, which cannot sit inside a monospaced span."""
    pieces, piece_start = [], start
    for i in range(start, end + 1):
        if i == end or text[i] in "`\n":
            if piece_start < i and text[piece_start:i].strip():
                pieces.append(Span(Style.code, piece_start, i))
            piece_start = i + 1
    return pieces


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """text[start:end] without the whitespace at either end, as indices."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def clip(spans: list[Span], start: int, end: int) -> list[Span]:
    """The spans as seen in text[start:end], shifted to start at 0; code spans keep their whitespace."""
    clipped = []
    for span in spans:
        a, b = max(span.start, start), min(span.end, end)
        if a < b:
            clipped.append(Span(span.style, a - start, b - start, span.url))
    return clipped


# --------------------------------------------------------------------------- rendering


def to_markdown(text: str, entities: list[Entity]) -> str:
    """The whole text as MAX Markdown (no length limit: domain/max_split.py splits)."""
    return render(text, spans_from_entities(text, entities))


def render(text: str, spans: list[Span]) -> str:
    """`text` with `spans` (code points, inside the text) as MAX Markdown."""
    return _Rendering(text, spans).markdown()


# One output element: a source character ("c", index) or a span's opening ("o") or closing ("x") marker.
Atom = tuple[str, int]


class _Rendering:
    def __init__(self, text: str, spans: list[Span]) -> None:
        self.text = text
        self.spans = spans

    def markdown(self) -> str:
        atoms, before = self._atoms(), None
        while atoms != before:  # dropping an empty span can leave a marker next to whitespace again
            before = list(atoms)
            atoms = self._drop_empty(self._shift_openers(self._shift_closers(atoms)))
        self._italics = self._italic_markers(atoms)
        out: list[str] = []
        in_code = False
        for i, (kind, value) in enumerate(atoms):
            if kind == "c":
                # Escapes do not work inside a monospaced span, and nothing else can open inside one.
                out.append(self.text[value] if in_code else self._escaped(atoms, i))
            else:
                in_code = kind == "o" and self.spans[value].style is Style.code
                out.append(self._marker(atoms, i))
        return "".join(out)

    def _nesting_key(self, k: int) -> tuple[int, int, int, int]:
        span = self.spans[k]
        rank = 0 if span.style is Style.link else 2 if span.style is Style.code else 1
        return rank, span.start, -span.end, span.style

    def _atoms(self) -> list[Atom]:
        """Characters and markers, spans nested by construction: at every boundary the spans that no longer
        nest are closed and reopened."""
        ordered = sorted(range(len(self.spans)), key=self._nesting_key)
        cuts = sorted({0, len(self.text), *(s.start for s in self.spans), *(s.end for s in self.spans)})
        atoms: list[Atom] = []
        stack: list[int] = []
        for a, b in zip(cuts, cuts[1:], strict=False):
            active = [k for k in ordered if self.spans[k].start <= a and self.spans[k].end >= b]
            keep = 0
            while keep < min(len(stack), len(active)) and stack[keep] == active[keep]:
                keep += 1
            atoms += [("x", k) for k in reversed(stack[keep:])]
            atoms += [("o", k) for k in active[keep:]]
            stack = active
            atoms += [("c", i) for i in range(a, b)]
        atoms += [("x", k) for k in reversed(stack)]
        return atoms

    def _blank(self, atom: Atom) -> bool:
        return atom[0] == "c" and self.text[atom[1]].isspace()

    def _shift_closers(self, atoms: list[Atom]) -> list[Atom]:
        for i in range(len(atoms)):
            j = i
            while atoms[j][0] == "x" and j > 0 and self._blank(atoms[j - 1]):
                atoms[j - 1], atoms[j] = atoms[j], atoms[j - 1]
                j -= 1
        return atoms

    def _shift_openers(self, atoms: list[Atom]) -> list[Atom]:
        for i in range(len(atoms) - 1, -1, -1):
            j = i
            while atoms[j][0] == "o" and j + 1 < len(atoms) and self._blank(atoms[j + 1]):
                atoms[j + 1], atoms[j] = atoms[j], atoms[j + 1]
                j += 1
        return atoms

    @staticmethod
    def _drop_empty(atoms: list[Atom]) -> list[Atom]:
        out: list[Atom] = []
        for atom in atoms:
            if atom[0] == "x" and out and out[-1] == ("o", atom[1]):
                out.pop()
            else:
                out.append(atom)
        return out

    def _italic_markers(self, atoms: list[Atom]) -> dict[int, str]:
        """The marker of each italic opener and closer, chosen per pair from what surrounds it.

        `_` does not open or close inside a word (`snake_case`), `*` does; but `*` next to bold's `**` reads as
        `***`, which parsers split either way. Such a pair (an italic edge inside a word, touching a bold marker)
        is left unmarked: the text stays right, only the slant is lost.
        """
        markers: dict[int, str] = {}
        opened: dict[int, int] = {}
        for i, (kind, k) in enumerate(atoms):
            if kind == "c" or self.spans[k].style is not Style.italic:
                continue
            if kind == "o":
                opened[k] = i
                continue
            j = opened.pop(k)
            outside = [atoms[j - 1] if j > 0 else None, atoms[i + 1] if i + 1 < len(atoms) else None]
            if not any(self._alnum(a) for a in outside):
                markers[j] = markers[i] = "_"
            elif any(self._bold_marker(a) for a in [*outside, atoms[j + 1], atoms[i - 1]]):
                markers[j] = markers[i] = ""
            else:
                markers[j] = markers[i] = "*"
        return markers

    def _alnum(self, atom: Atom | None) -> bool:
        return atom is not None and atom[0] == "c" and self.text[atom[1]].isalnum()

    def _bold_marker(self, atom: Atom | None) -> bool:
        return atom is not None and atom[0] != "c" and self.spans[atom[1]].style is Style.bold

    def _marker(self, atoms: list[Atom], i: int) -> str:
        kind, k = atoms[i]
        span = self.spans[k]
        if span.style is Style.italic:
            return self._italics[i]
        if span.style is Style.link and kind == "x":
            return f"]({span.url})"
        return _OPEN[span.style]

    def _escaped(self, atoms: list[Atom], i: int) -> str:
        index = atoms[i][1]
        ch = self.text[index]
        if ch in _ALWAYS_ESCAPED:
            return "\\" + ch
        if ch in _DOUBLED_ESCAPED and (self._touches(atoms, i - 1, ch) or self._touches(atoms, i + 1, ch)):
            return "\\" + ch
        if ch in _LINE_START_ESCAPED and (index == 0 or self.text[index - 1] == "\n"):
            return "\\" + ch
        if (
            ch == "!"
            and i + 1 < len(atoms)
            and atoms[i + 1][0] == "o"
            and self.spans[atoms[i + 1][1]].style is Style.link
        ):
            return "\\" + ch
        return ch

    def _touches(self, atoms: list[Atom], j: int, ch: str) -> bool:
        """Whether the output element at `j` begins or ends with `ch` (a neighbour that would double it)."""
        if not 0 <= j < len(atoms):
            return False
        kind, value = atoms[j]
        if kind == "c":
            return self.text[value] == ch
        return ch in self._marker(atoms, j)
