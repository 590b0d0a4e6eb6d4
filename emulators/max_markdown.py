"""MAX's Markdown as the MAX emulator reads it: source text → the plain text and `markup` a message comes back with.

The real API stores a message as plain text plus a list of styled ranges (`{"type": "strong", "from": 0,
"length": 4}`, offsets in UTF-16 code units) and answers `GET /messages` with those, not with the Markdown that
was sent. The emulator does the same, so a test can check that what Longrun sends shows the post's own text.

The rules are the documented ones (dev.max.ru, "Форматирование текста") read strictly, CommonMark style:
`**`/`__` strong, `*`/`_` emphasized, `~~` strikethrough, `++` underline, `^^` highlighted, `` ` `` monospaced
(raw inside; a line break shows as a space), `[text](url)` link, `# ` heading and `> ` quote at a line start, and
a backslash before ASCII punctuation makes it literal. A marker opens only before a non-space and closes only
after one, and `_` neither opens nor closes inside a word; a marker left unmatched is literal text. Being strict
is the point: a formatter that gets away with sloppy Markdown here would not get away with it on a stricter
parser.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

_PAIRED = {"**": "strong", "__": "strong", "~~": "strikethrough", "++": "underline", "^^": "highlighted"}
_SINGLE = {"*": "emphasized", "_": "emphasized"}
_LINE_MARKS = {"# ": "heading", "> ": "quote"}
_PUNCTUATION = frozenset(string.punctuation)


@dataclass
class _Token:
    kind: str  # "text", "mark", "code", "lbrack", "link_end", "line"
    raw: str  # the source characters, shown when the token is left unmatched
    value: str = ""  # text: the character; mark/line: the style; code: the content; link_end: the URL
    pair: int | None = None  # index of the matching token
    can_open: bool = False
    can_close: bool = False


@dataclass
class Parsed:
    text: str
    markup: list[dict] = field(default_factory=list)


def parse(source: str) -> Parsed:
    tokens = _tokens(source)
    _match(tokens)
    return _build(tokens)


def _tokens(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        at_line_start = i == 0 or src[i - 1] == "\n"
        if ch == "\\" and i + 1 < n and src[i + 1] in _PUNCTUATION:
            tokens.append(_Token("text", src[i : i + 2], src[i + 1]))
            i += 2
            continue
        if at_line_start and src[i : i + 2] in _LINE_MARKS:
            tokens.append(_Token("line", src[i : i + 2], _LINE_MARKS[src[i : i + 2]]))
            i += 2
            continue
        if ch == "`":
            end = src.find("`", i + 1)
            if end > i + 1:
                tokens.append(_Token("code", src[i : end + 1], src[i + 1 : end].replace("\n", " ")))
                i = end + 1
                continue
        pair = src[i : i + 2]
        if pair in _PAIRED or ch in _SINGLE:
            raw = pair if pair in _PAIRED else ch
            before = src[i - 1] if i > 0 else " "
            after = src[i + len(raw)] if i + len(raw) < n else " "
            # `_` inside a word (snake_case) is a character, not emphasis.
            intraword = raw[0] == "_"
            tokens.append(
                _Token(
                    "mark",
                    raw,
                    _PAIRED.get(raw) or _SINGLE[raw],
                    can_open=not after.isspace() and not (intraword and before.isalnum()),
                    can_close=not before.isspace() and not (intraword and after.isalnum()),
                )
            )
            i += len(raw)
            continue
        if ch == "[":
            tokens.append(_Token("lbrack", ch))
            i += 1
            continue
        if ch == "]" and src[i + 1 : i + 2] == "(":
            end = src.find(")", i + 2)
            if end != -1:
                tokens.append(_Token("link_end", src[i : end + 1], src[i + 2 : end]))
                i = end + 1
                continue
        tokens.append(_Token("text", ch, ch))
        i += 1
    return tokens


def _match(tokens: list[_Token]) -> None:
    """Pair openers with closers, innermost first; whatever a closer skips over stays unmatched."""
    stack: list[int] = []
    for k, token in enumerate(tokens):
        if token.kind == "mark":
            opener = next((j for j in reversed(stack) if tokens[j].raw == token.raw), None)
            if token.can_close and opener is not None:
                _close(tokens, stack, opener, k)
            elif token.can_open:
                stack.append(k)
        elif token.kind == "lbrack":
            stack.append(k)
        elif token.kind == "link_end":
            opener = next((j for j in reversed(stack) if tokens[j].kind == "lbrack"), None)
            if opener is not None:
                _close(tokens, stack, opener, k)


def _close(tokens: list[_Token], stack: list[int], opener: int, closer: int) -> None:
    del stack[stack.index(opener) :]
    tokens[opener].pair, tokens[closer].pair = closer, opener


def _build(tokens: list[_Token]) -> Parsed:
    out: list[str] = []
    units = 0  # UTF-16 length of the text so far
    opened: dict[int, int] = {}
    markup: list[dict] = []
    line: tuple[str, int] | None = None

    def add(piece: str) -> None:
        nonlocal units
        out.append(piece)
        units += len(piece.encode("utf-16-le")) // 2

    def end_line() -> None:
        nonlocal line
        if line is not None and units > line[1]:
            markup.append({"type": line[0], "from": line[1], "length": units - line[1]})
        line = None

    for k, token in enumerate(tokens):
        if token.kind in ("mark", "lbrack", "link_end") and token.pair is not None:
            if token.pair > k:
                opened[k] = units
                continue
            start = opened.pop(token.pair)
            if units > start:
                item = {"type": "link" if token.kind == "link_end" else token.value, "from": start}
                item["length"] = units - start
                if token.kind == "link_end":
                    item["url"] = token.value
                markup.append(item)
        elif token.kind == "line":
            line = (token.value, units)
        elif token.kind == "code":
            start = units
            add(token.value)
            markup.append({"type": "monospaced", "from": start, "length": units - start})
        else:
            if token.raw == "\n":
                end_line()
            add(token.value if token.kind == "text" else token.raw)
    end_line()
    markup.sort(key=lambda m: (m["from"], -m["length"]))
    return Parsed("".join(out), markup)
