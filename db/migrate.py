"""`python -m db.migrate`: bring the database to the newest schema (Alembic upgrade head)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from settings import Settings, get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = settings.effective_database_url
    return cfg


def upgrade(settings: Settings | None = None) -> None:
    command.upgrade(alembic_config(settings or get_settings()), "head")


if __name__ == "__main__":
    upgrade()
    print("database schema is up to date")
