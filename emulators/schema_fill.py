"""Build a JSON value valid against a JSON schema, derived from the text of a request.

Why: code that calls an LLM with structured outputs needs answers that parse into its models, that change when
its prompt changes (so a prompt bug shows), and that a test author can steer from the prompt. The same text
always gives the same value.

Derivation rule (line-oriented):

- Non-empty lines of the text that look like list items -- starting with ``[N]``, ``N.``, ``N)`` or ``- `` -- are
  the *items*; when there are none, every non-empty line is an item.
- The first array met while filling (depth-first, in property order) is the *item array*: one element per item,
  cut to ``maxItems`` and padded from the whole text up to ``minItems``. Element i derives from item i. Every
  other value, scalars at the root included, derives from the whole text; other arrays get two elements (within
  minItems/maxItems) derived from the enclosing item or text.
- Integers named index/id/item/line/number take the item's own N (from ``[N]``, ``N.``, ``N)``), else its
  0-based position. Strings named title/headline/name are a title-cased phrase of the item's words (``[N]``
  prefix and ``[tag]`` markers dropped); summary/description/text/content a sentence of them; answer
  ``"Answer: <sentence>"``; other strings a few words plus a short stable hash. An enum value written in the item
  (case-insensitive, e.g. ``[sports]``) is chosen, else a stable hash picks one. Booleans are false when the
  item contains ``[not-news]`` or ``[spam]``, true when it contains ``[news]``, else a stable hash (about 75%
  true). Other numbers are hash-picked within their bounds.
- What an item is about (``emulators.openai_topics``): the ``name`` of an element of an array named ``topics`` is the
  item's subject, and a string named ``topic`` (without an enum) is what a classifier answers for it: the same
  subject, except for a fixed few texts where it slips to the runner-up. So topics extracted from messages and a
  classification of the same messages agree the way one real model agrees with itself.

Supported keywords: type (also a list), properties, items, prefixItems, minItems, maxItems, enum, const,
anyOf/oneOf (first non-null branch), allOf (merged), $ref into $defs/definitions, minLength, maxLength,
minimum/maximum and their exclusive forms, formats date-time, date, time, uri, email and uuid. Not honoured:
pattern, multipleOf, uniqueItems, min/maxProperties. Recursive schemas stop growing after a fixed depth.
"""

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any

from emulators import openai_topics

_ITEM = re.compile(r"^\s*(?:\[(\d+)\]\s*|(\d+)[.)]\s+|-\s+)(.*)$")
_MARKER = re.compile(r"\[[^\]]*\]")
_WORD = re.compile(r"\w[\w'-]*")
_NUMBERED = {"index", "id", "item", "line", "number"}
_TITLED = {"title", "headline", "name"}
_PROSE = {"summary", "description", "text", "content", "answer"}
_FALSE_MARKERS = ("[not-news]", "[spam]")
_TRUE_MARKERS = ("[news]",)
_DEFAULT_SPAN = 100
_BOUND_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_MAX_DEPTH = 12
_SECONDARY_ARRAY_LEN = 2


@dataclass(frozen=True)
class _Source:
    """The text one value derives from: an item line, or the whole message."""

    text: str
    number: int | None = None
    position: int = 0
    salt: int = 0

    @property
    def words(self) -> list[str]:
        words = _WORD.findall(_MARKER.sub(" ", self.text))
        if not words:
            return words
        turn = self.salt % len(words)
        return words[turn:] + words[:turn]

    def digest(self, field: str | None) -> str:
        return hashlib.sha256(f"{self.text}\x1f{self.salt}\x1f{field}".encode()).hexdigest()

    def draw(self, field: str | None) -> int:
        return int(self.digest(field)[:16], 16)


def parse_items(text: str) -> list[_Source]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    listed = [match for line in lines if (match := _ITEM.match(line))]
    if not listed:
        return [_Source(line, position=i) for i, line in enumerate(lines)]
    return [
        _Source(match[3], number=int(match[1] or match[2]) if (match[1] or match[2]) else None, position=i)
        for i, match in enumerate(listed)
    ]


Overrides = list[tuple[str, dict[str, Any]]]


def fill(schema: dict[str, Any], text: str, overrides: Overrides = ()) -> Any:
    """A value valid against ``schema``, derived from ``text`` by the rule in the module docstring.

    ``overrides``: (substring, fields) pairs; an element of the item array whose item contains the substring takes
    those fields over its derived ones (a test's planted answer for one item of a batch).
    """
    return _Filler(schema, text, overrides).fill(schema, _Source(text), None, 0)


def answer(text: str) -> str:
    """A plain-text reply to ``text``, for requests without a response format."""
    return _prose(_Source(text), "answer")


class _Filler:
    def __init__(self, root: dict[str, Any], text: str, overrides: Overrides = ()) -> None:
        self._root = root
        self._overrides = list(overrides)
        self._whole = _Source(text)
        self._items = parse_items(text)
        self._item_array_taken = False

    def fill(self, schema: dict[str, Any] | bool, source: _Source, name: str | None, depth: int) -> Any:
        schema = self._resolve(schema if isinstance(schema, dict) else {})
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return _pick_enum(schema["enum"], source, name)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return self.fill(self._branch(branches, depth), source, name, depth)
        kind = _type_of(schema)
        if kind == "object":
            properties = schema.get("properties", {})
            return {key: self.fill(sub, source, _field(name, key), depth + 1) for key, sub in properties.items()}
        if kind == "array":
            return self._array(schema, source, name, depth)
        if kind == "integer":
            return _integer(schema, source, name)
        if kind == "number":
            return _number(schema, source, name)
        if kind == "boolean":
            return _boolean(source, name)
        if kind == "null":
            return None
        return _string(schema, source, name)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Inline ``$ref`` and ``allOf`` so the caller sees one plain schema."""
        if "$ref" in schema:
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            return self._resolve({**self._lookup(schema["$ref"]), **rest})
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            rest = {key: value for key, value in schema.items() if key != "allOf"}
            for part in [*(self._resolve(part) for part in schema["allOf"]), rest]:
                properties = {**merged.get("properties", {}), **part.get("properties", {})}
                merged.update(part)
                if properties:
                    merged["properties"] = properties
            return self._resolve(merged)
        return schema

    def _lookup(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self._root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _branch(self, branches: list[dict[str, Any]], depth: int) -> dict[str, Any]:
        resolved = [self._resolve(branch) for branch in branches]
        non_null = [branch for branch in resolved if _type_of(branch) != "null"]
        if depth > _MAX_DEPTH and len(non_null) < len(resolved):
            return {"type": "null"}
        return (non_null or resolved)[0]

    def _array(self, schema: dict[str, Any], source: _Source, name: str | None, depth: int) -> list[Any]:
        if "prefixItems" in schema:
            return [self.fill(sub, source, name, depth + 1) for sub in schema["prefixItems"]]
        item_array = not self._item_array_taken
        if item_array:
            self._item_array_taken = True
            sources = list(self._items)
        elif depth > _MAX_DEPTH:
            sources = []
        else:
            sources = [replace(source, salt=source.salt + j + 1) for j in range(_SECONDARY_ARRAY_LEN)]
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        sources += [replace(self._whole, position=k, salt=k + 1) for k in range(len(sources), low)]
        if high is not None:
            sources = sources[:high]
        elements = [self.fill(schema.get("items", {}), item, name, depth + 1) for item in sources]
        if item_array:
            for item, element in zip(sources, elements, strict=True):
                self._override(item, element)
        return elements

    def _override(self, item: _Source, element: Any) -> None:
        if not isinstance(element, dict):
            return
        for contains, fields in self._overrides:
            if contains in item.text:
                element.update(fields)


# A topic's name in an array of topics: the subject the emulator takes the item to be about.
_SUBJECT = "\x1fsubject"


def _field(parent: str | None, key: str) -> str:
    """The name a property is filled by: its own, except the name of an element of `topics`."""
    return _SUBJECT if key == "name" and (parent or "").lower() == "topics" else key


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return next((k for k in kind if k != "null"), "null")
    if kind:
        return kind
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _pick_enum(options: list[Any], source: _Source, name: str | None) -> Any:
    text = source.text.lower()
    written = [
        option
        for option in options
        if isinstance(option, str) and re.search(rf"(?<![\w-]){re.escape(option.lower())}(?![\w-])", text)
    ]
    if written:
        return max(written, key=len)
    return options[source.draw(name) % len(options)]


def _integer(schema: dict[str, Any], source: _Source, name: str | None) -> int:
    low, high = _bounds(schema)
    if "exclusiveMinimum" in schema:
        low = max(low, math.floor(schema["exclusiveMinimum"]) + 1)
    if "exclusiveMaximum" in schema:
        high = min(high, math.ceil(schema["exclusiveMaximum"]) - 1)
    low, high = math.ceil(low), math.floor(high)
    if name and name.lower() in _NUMBERED:
        value = source.number if source.number is not None else source.position
        # An item's own number answers as written (entry [250] of a long feed is 250); only bounds the schema
        # states limit it, not the span made up for unbounded draws.
        if not _BOUND_KEYS.intersection(schema):
            return value
    else:
        value = low + source.draw(name) % (high - low + 1)
    return min(max(value, low), high)


def _number(schema: dict[str, Any], source: _Source, name: str | None) -> float:
    low, high = _bounds(schema)
    # Strictly inside the range, so exclusive bounds hold without special cases.
    fraction = 0.01 + 0.98 * (source.draw(name) % 10_000) / 9_999
    return low + fraction * (high - low)


def _bounds(schema: dict[str, Any]) -> tuple[float, float]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None and high is None:
        return 0, _DEFAULT_SPAN
    if low is None:
        return high - _DEFAULT_SPAN, high
    if high is None:
        return low, low + _DEFAULT_SPAN
    return low, high


def _boolean(source: _Source, name: str | None) -> bool:
    text = source.text.lower()
    if any(marker in text for marker in _FALSE_MARKERS):
        return False
    if any(marker in text for marker in _TRUE_MARKERS):
        return True
    return source.draw(name) % 4 != 0


def _string(schema: dict[str, Any], source: _Source, name: str | None) -> str:
    key = (name or "").lower()
    text = _formatted(schema.get("format"), source, name)
    if text is None:
        if key == _SUBJECT:
            text = openai_topics.subject(source.text)
        elif key == "topic":
            text = openai_topics.classified(source.text)
        elif key in _TITLED:
            text = _title(source, name)
        elif key in _PROSE:
            text = _prose(source, key)
        else:
            text = " ".join([*source.words[:3], source.digest(name)[:6]])
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if len(text) < low:
        text = (text + " " + source.digest(name) * (low // 64 + 1))[:low]
    return text if high is None else text[:high]


def _title(source: _Source, name: str | None) -> str:
    words = source.words[:8]
    if not words:
        return f"Untitled {source.digest(name)[:6]}"
    return " ".join(word[:1].upper() + word[1:] for word in words)


def _prose(source: _Source, key: str) -> str:
    words = source.words[:30]
    sentence = " ".join(words)
    sentence = sentence[:1].upper() + sentence[1:] + "." if words else f"Nothing to report ({source.digest(key)[:6]})."
    return f"Answer: {sentence}" if key == "answer" else sentence


def _formatted(fmt: str | None, source: _Source, name: str | None) -> str | None:
    if fmt not in {"date-time", "date", "time", "uri", "email", "uuid"}:
        return None
    digest = source.digest(name)
    day, minute = 1 + int(digest[:4], 16) % 28, int(digest[4:8], 16) % 1440
    clock = f"{minute // 60:02d}:{minute % 60:02d}:00"
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(source.words[:4]).lower()).strip("-") or "item"
    return {
        "date-time": f"2025-01-{day:02d}T{clock}Z",
        "date": f"2025-01-{day:02d}",
        "time": clock,
        "uri": f"https://example.com/{slug}-{digest[:6]}",
        "email": f"user-{digest[:8]}@example.com",
        "uuid": str(uuid.UUID(digest[:32])),
    }[fmt]
