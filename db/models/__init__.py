"""All models, imported here so Alembic and the app see one metadata."""

from db.models.news import NewsPost, NewsSource
from db.models.users import Role, User

__all__ = ["NewsPost", "NewsSource", "Role", "User"]
