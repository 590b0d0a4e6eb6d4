"""max rate limits

Revision ID: 0003_max_rate_limits
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_max_rate_limits"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "max_rate_limit",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_max_rate_limit")),
    )


def downgrade() -> None:
    op.drop_table("max_rate_limit")
