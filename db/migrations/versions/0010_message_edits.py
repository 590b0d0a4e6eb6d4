"""tracker: a message edited in Telegram keeps when its latest edit was made, so an older edit never overwrites it

Revision ID: 0010_message_edits
Revises: 0009_domain_bounds
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_message_edits"
down_revision = "0009_domain_bounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("message", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("message", sa.Column("edit_update_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("message", "edit_update_id")
    op.drop_column("message", "edited_at")
