"""Which outside strings are web URLs: the one rule for every link that enters the database.

Feeds, Telegram posts, 1C fields and chat messages all carry links someone else wrote. The dashboard renders
stored links as links, so a `javascript:` or `data:` URL stored from outside is script run in a user's
session. Only http(s) URLs with a host are kept; everything else is refused where it comes in (clients) and,
as a last line, where it would be written (db/types.py).
"""

import unicodedata
from urllib.parse import urlsplit

# The width of every URL column (String(2000)): a longer value could not be stored whole anyway.
MAX_URL_LENGTH = 2000
WEB_SCHEMES = frozenset({"http", "https"})
# Control and format characters (NUL, newlines, bidi overrides, zero-width joiners), separators and spaces:
# browsers drop some of them inside a URL (`java\tscript:` runs as `javascript:`), and the rest only disguise it.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def web_url(value: object) -> str | None:
    """`value` as a web URL (surrounding whitespace stripped, scheme in lower case), or None if it is not one."""
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    if not candidate or len(candidate) > MAX_URL_LENGTH:
        return None
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in candidate):
        return None
    try:
        parts = urlsplit(candidate)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES or not parts.hostname:
        return None
    return scheme + candidate[len(parts.scheme) :]


def scheme_of(value: object) -> str:
    """What a refused value claims to be, for error messages that should not echo a whole hostile string."""
    if not isinstance(value, str):
        return f"not a string ({type(value).__name__})"
    head = value.strip().split(":", 1)
    if len(head) < 2 or not head[0]:
        return "none"
    return repr(head[0][:20].lower())
