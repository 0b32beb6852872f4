"""threshold_history: every change of a chain × protocol's adaptive thresholds; the newest row is the state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

USD = sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")  # exact: decimal text on SQLite
SOURCES = ("adaptive", "fallback", "static", "release")


def upgrade() -> None:
    op.create_table(
        "threshold_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("min_profit_usd", USD, nullable=False),
        sa.Column("priority_fee_profit_share", USD, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("stats", sa.Text(), nullable=False),
        sa.CheckConstraint(
            f"source IN ({', '.join(repr(s) for s in SOURCES)})", name="ck_threshold_history_source"
        ),
    )
    op.create_index(
        "ix_threshold_history_chain_protocol", "threshold_history", ["chain_id", "protocol", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_threshold_history_chain_protocol", "threshold_history")
    op.drop_table("threshold_history")
