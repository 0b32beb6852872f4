"""attempt_transactions: every signed transaction (original, replacements, cancels), stored before broadcast.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "attempt_transactions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("attempt_id", ID, sa.ForeignKey("liquidation_attempts.id"), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tx_hash"),
        sa.CheckConstraint(
            "kind IN ('original', 'replacement', 'cancel')", name="ck_attempt_transactions_kind"
        ),
    )
    op.create_index("ix_attempt_transactions_attempt_id", "attempt_transactions", ["attempt_id"])
    op.create_index("ix_attempt_transactions_sender_nonce", "attempt_transactions", ["sender", "nonce"])


def downgrade() -> None:
    op.drop_table("attempt_transactions")  # its indexes go with it
