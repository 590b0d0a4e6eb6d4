"""OData v3 URL syntax as 1C's standard interface reads it: typed literals and a percent-encoded query string.

1C speaks OData v3, so literals carry their type in the text (`datetime'...'`, `guid'...'`); v4 dropped those
and 1C rejects v4's bare forms. Entity sets and properties have Cyrillic names, sent as percent-encoded UTF-8.
"""

from collections.abc import Mapping
from datetime import date, datetime
from urllib.parse import quote
from uuid import UUID

# Kept literal: OData's own punctuation, which 1C's parser expects as typed; everything else is percent-encoded,
# spaces as %20 (1C does not read `+` as a space in a query string).
_SAFE_IN_PATH = "()'"
_SAFE_IN_QUERY = "'(),:"


def datetime_literal(value: date | datetime) -> str:
    """`datetime'2024-01-01T00:00:00'`: 1C stores dates without a time zone and to the second."""
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    return f"datetime'{moment.replace(microsecond=0, tzinfo=None).isoformat()}'"


def guid_literal(value: UUID | str) -> str:
    return f"guid'{UUID(str(value))}'"


def string_literal(value: str) -> str:
    """A quoted string; a quote inside is doubled, as OData escapes it."""
    return "'" + value.replace("'", "''") + "'"


def entity_path(entity_set: str, key: UUID | None = None) -> str:
    """`Catalog_Контрагенты` or `Catalog_Контрагенты(guid'...')`, percent-encoded for a URL path."""
    resource = entity_set if key is None else f"{entity_set}({guid_literal(key)})"
    return quote(resource, safe=_SAFE_IN_PATH)


def query_string(options: Mapping[str, str | int | None]) -> str:
    """`$format=json&$filter=...`: option names stay literal (`$`), values are percent-encoded; None is left out."""
    return "&".join(
        f"{name}={quote(str(value), safe=_SAFE_IN_QUERY)}" for name, value in options.items() if value is not None
    )
