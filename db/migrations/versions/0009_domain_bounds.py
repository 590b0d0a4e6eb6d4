"""bounds on outside data: an inbox update that cannot be saved is set aside with its error

Revision ID: 0009_domain_bounds
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_domain_bounds"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("telegram_update", sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("telegram_update", "error")
