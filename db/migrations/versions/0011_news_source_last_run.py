"""news: each source keeps its last discovery run's result; a draft can be rejected

Revision ID: 0011_news_source_last_run
Revises: 0010_message_edits
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_news_source_last_run"
down_revision = "0010_message_edits"
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column("last_run_id", sa.String(200), nullable=True),
    sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_run_entries", sa.Integer(), nullable=True),
    sa.Column("last_run_drafts", sa.Integer(), nullable=True),
    sa.Column("last_run_error", sa.Text(), nullable=True),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("news_source", column)


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_column("news_source", column.name)
