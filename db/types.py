"""Column types that enforce a rule on every write, whichever code path the value came through."""

from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from domain.urls import MAX_URL_LENGTH, scheme_of, web_url


class WebUrl(TypeDecorator[str]):
    """A URL column that only ever holds http(s) URLs (domain/urls.py), stored normalised.

    The last line of defence: clients already drop non-web links where they come in, so a refusal here means
    some new path forgot to, and failing the write is better than a `javascript:` link on the dashboard.
    Refusing applies to every bound value, so a WHERE on this column with a non-web URL fails the same way.
    In the database it is a plain VARCHAR(2000): migrations and Alembic see the String underneath.
    """

    impl = String(MAX_URL_LENGTH)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        url = web_url(value)
        if url is None:
            raise ValueError(
                f"refusing to store a URL that is not a web URL (http or https with a host, no whitespace or "
                f"control characters, at most {MAX_URL_LENGTH} characters): scheme {scheme_of(value)}"
            )
        return url
