"""Database: SQLAlchemy 2 models, the async session factory, Alembic migrations."""
