"""tracked_accounts: the accounts each detection stream has discovered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "tracked_accounts",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("account", sa.String(42), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "stream", "account"),
    )


def downgrade() -> None:
    op.drop_table("tracked_accounts")
