"""tracker: a classification experiment may be limited to one chat's messages

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("classification_experiment", sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("classification_experiment", "telegram_chat_id")
