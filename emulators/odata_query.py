"""The query options of 1C's OData interface ($filter, $orderby, $select, $top, $skip) over rows held as JSON dicts.

Rows hold values as 1C writes them on the wire: dates as `YYYY-MM-DDTHH:MM:SS` text (so text order is time order),
references as lowercase guid text, amounts as numbers. Literals in a filter are brought to the same form, so a
comparison is a plain Python comparison once types have been checked.

Where 1C differs from a generic OData server, this follows 1C, so a client that works here works there:

- comparing a reference with `gt`/`ge`/`lt`/`le` fails with 500 and 1C's message (1C turns it into a query
  comparing `Ref > &param`, which its query language refuses);
- `$orderby=Ref_Key` sorts by the object's presentation fields (a document's date and number, a catalog's
  description), as 1C's auto-ordering does, not by the guid's text.

Supported in $filter: `and`, `or`, `not`, parentheses, `eq ne gt ge lt le`, literals `datetime'...'`, `guid'...'`,
`'text'` (a quote doubled inside), numbers, `true`, `false`, `null`. No functions, arithmetic or navigation.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

Kind = Literal["datetime", "ref", "string", "number", "bool"]
Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
_ORDERING = {"gt", "ge", "lt", "le"}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<typed>(?:datetime|guid)'[^']*')
      | (?P<text>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<punct>[(),])
      | (?P<name>[^\W\d]\w*)
    )""",
    re.VERBOSE,
)
# 1C's words for a query it cannot build; clients see them in odata.error.message.value.
REFERENCE_COMPARISON = "Нельзя сравнивать поля неограниченной длины и поля несовместимых типов"


class QueryError(Exception):
    """A query option 1C would refuse: `status` is what 1C answers (400 for syntax, 500 for what its query fails)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class EntitySchema:
    name: str
    kinds: dict[str, Kind]
    # What `$orderby=Ref_Key` really sorts by in 1C (auto-ordering), before the key itself as a last tie-break.
    auto_order: tuple[str, ...] = ()
    # A reference of several possible types comes with a `<name>_Type` property naming the type.
    composite: frozenset[str] = field(default_factory=frozenset)

    def kind(self, name: str) -> Kind:
        try:
            return self.kinds[name]
        except KeyError:
            raise QueryError(400, f"Неизвестное свойство {name!r} у {self.name}") from None


@dataclass(frozen=True)
class Query:
    where: Predicate | None = None
    order: tuple[tuple[str, bool], ...] = ()
    select: tuple[str, ...] | None = None
    skip: int = 0
    top: int | None = None


def parse_query(schema: EntitySchema, options: dict[str, str]) -> Query:
    return Query(
        where=parse_filter(schema, options["$filter"]) if options.get("$filter") else None,
        order=parse_orderby(schema, options.get("$orderby", "")),
        select=parse_select(schema, options["$select"]) if options.get("$select") else None,
        skip=_count(options, "$skip", 0),
        top=_count(options, "$top", None),
    )


def order(rows: Sequence[Row], by: tuple[tuple[str, bool], ...]) -> list[Row]:
    """`rows` sorted as `$orderby` asks (a stable sort per field, last field first)."""
    ordered = list(rows)
    for name, descending in reversed(by):
        ordered.sort(key=lambda row: _sort_value(row.get(name)), reverse=descending)
    return ordered


def page(ordered: Sequence[Row], query: Query, *, count_all: bool = False) -> tuple[list[Row], int | None]:
    """The rows of `ordered` that match, after `skip`, at most `top`; and how many match in all if `count_all`.

    Without `count_all` the scan stops at the page's end, so a page near the start of a big book costs little.
    """
    end = None if query.top is None else query.skip + query.top
    taken: list[Row] = []
    matched = 0
    for row in ordered:
        if query.where is not None and not query.where(row):
            continue
        if query.skip <= matched and (end is None or matched < end):
            taken.append(row)
        matched += 1
        if end is not None and matched >= end and not count_all:
            break
    return taken, matched if count_all else None


def project(row: Row, select: tuple[str, ...] | None) -> Row:
    return row if select is None else {name: row.get(name) for name in select}


def parse_select(schema: EntitySchema, text: str) -> tuple[str, ...]:
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        schema.kind(name)
        names.append(name)
        if name in schema.composite and f"{name}_Type" not in names:
            names.append(f"{name}_Type")
    return tuple(dict.fromkeys(names))


def parse_orderby(schema: EntitySchema, text: str) -> tuple[tuple[str, bool], ...]:
    order: list[tuple[str, bool]] = []
    for clause in filter(None, (part.strip() for part in text.split(","))):
        name, _, direction = clause.partition(" ")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise QueryError(400, f"Неверное направление сортировки {direction!r}")
        schema.kind(name)
        names = (*schema.auto_order, name) if name == "Ref_Key" else (name,)
        order.extend((each, direction == "desc") for each in names)
    return tuple(order)


def parse_filter(schema: EntitySchema, text: str) -> Predicate:
    parser = _Parser(schema, _tokens(text))
    predicate = parser.disjunction()
    if parser.peek() is not None:
        raise QueryError(400, f"Лишний текст в $filter: {parser.peek()[1]!r}")
    return predicate


# --------------------------------------------------------------------------- parsing


def _count(options: dict[str, str], name: str, default: int | None) -> int | None:
    if name not in options:
        return default
    try:
        value = int(options[name])
    except ValueError:
        raise QueryError(400, f"{name} должен быть целым числом") from None
    if value < 0:
        raise QueryError(400, f"{name} не может быть отрицательным")
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(400, f"Ошибка разбора $filter в позиции {position}: {text[position : position + 20]!r}")
        tokens.append((match.lastgroup, match[match.lastgroup]))
        position = match.end()
    return tokens


@dataclass
class _Operand:
    kind: Kind | None  # None: the literal null
    value: Callable[[Row], Any]
    reference: bool = False


class _Parser:
    def __init__(self, schema: EntitySchema, tokens: list[tuple[str, str]]) -> None:
        self.schema = schema
        self.tokens = tokens
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QueryError(400, "Неожиданный конец $filter")
        self.position += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "name" and token[1].lower() in words:
            self.position += 1
            return token[1].lower()
        return None

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda row: any(part(row) for part in parts)

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.keyword("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else lambda row: all(part(row) for part in parts)

    def negation(self) -> Predicate:
        if self.keyword("not"):
            inner = self.negation()
            return lambda row: not inner(row)
        return self.comparison()

    def comparison(self) -> Predicate:
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("punct", ")"):
                raise QueryError(400, "Ожидалась ')' в $filter")
            return inner
        left = self.operand()
        operator = self.keyword(*_COMPARISONS)
        if operator is None:
            if left.kind == "bool":
                return lambda row: bool(left.value(row))
            raise QueryError(400, "Ожидалась операция сравнения в $filter")
        right = self.operand()
        _check(left, operator, right)
        compare, get_left, get_right = _COMPARISONS[operator], left.value, right.value
        return lambda row: compare(get_left(row), get_right(row))

    def operand(self) -> _Operand:
        kind, text = self.take()
        if kind == "typed":
            prefix, _, body = text.partition("'")
            return _literal(prefix, body[:-1])
        if kind == "text":
            value = text[1:-1].replace("''", "'")
            return _Operand("string", lambda row: value)
        if kind == "number":
            number = float(text)
            return _Operand("number", lambda row: number)
        if kind == "name":
            lowered = text.lower()
            if lowered in ("true", "false"):
                flag = lowered == "true"
                return _Operand("bool", lambda row: flag)
            if lowered == "null":
                return _Operand(None, lambda row: None)
            if self.peek() == ("punct", "("):
                raise QueryError(400, f"Функция {text} не поддерживается")
            if self.schema.kind(text) == "ref":
                return _Operand("ref", lambda row: _reference(row.get(text)), reference=True)
            return _Operand(self.schema.kind(text), lambda row: row.get(text))
        raise QueryError(400, f"Неожиданный символ {text!r} в $filter")


def _literal(prefix: str, body: str) -> _Operand:
    try:
        if prefix == "datetime":
            value = datetime.fromisoformat(body).replace(microsecond=0).isoformat()
            return _Operand("datetime", lambda row: value)
        guid = str(UUID(body))
        return _Operand("ref", lambda row: guid)
    except ValueError:
        raise QueryError(400, f"Неверный литерал {prefix}'{body}'") from None


def _check(left: _Operand, operator: str, right: _Operand) -> None:
    if operator in _ORDERING and (left.reference or right.reference):
        raise QueryError(500, REFERENCE_COMPARISON)
    if left.kind is not None and right.kind is not None and left.kind != right.kind:
        raise QueryError(400, f"Несовместимые типы в сравнении: {left.kind} {operator} {right.kind}")


def _reference(value: Any) -> Any:
    # An Undefined composite reference is "" on the wire; for comparisons it is no reference at all.
    return None if value == "" else value


def _sort_value(value: Any) -> tuple[int, Any]:
    # Empty values first, as 1C (and SQL) sorts them, without comparing None with text.
    return (0, "") if value is None or value == "" else (1, value)
