"""liquidation_attempts: one row per decision, from detection to final outcome.

Revision ID: 0001
Revises:
Create Date: 2026-05-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# uint256 and USD stay exact: NUMERIC on PostgreSQL, decimal text on SQLite (whose NUMERIC is a double).
UINT256 = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
USD = sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")
TS = sa.DateTime(timezone=True)
STATUSES = ("detected", "simulated", "submitted", "included", "reverted", "failed", "skipped", "lost_race",
            "shadowed")  # fmt: skip
MODES = ("shadow", "funds", "flash")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "liquidation_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("opportunity_key", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("market", sa.String(66), nullable=False),
        sa.Column("borrower", sa.String(42), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("collateral_asset", sa.String(42), nullable=False),
        sa.Column("debt_asset", sa.String(42), nullable=False),
        sa.Column("debt_to_cover", UINT256, nullable=False),
        sa.Column("expected_seized", UINT256, nullable=False),
        sa.Column("expected_profit_usd", USD, nullable=False),
        sa.Column("bonus_usd", USD),
        sa.Column("swap_usd", USD),
        sa.Column("gas_usd", USD),
        sa.Column("fees_usd", USD),
        sa.Column("health_factor", UINT256),
        sa.Column("detected_block", sa.BigInteger(), nullable=False),
        sa.Column("detection_latency_ms", sa.Integer()),
        sa.Column("reason", sa.Text()),
        sa.Column("simulated_at", TS),
        sa.Column("submitted_at", TS),
        sa.Column("sender", sa.String(42)),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("nonce", sa.BigInteger()),
        sa.Column("included_at", TS),
        sa.Column("included_block", sa.BigInteger()),
        sa.Column("gas_used", sa.BigInteger()),
        sa.Column("effective_gas_price", UINT256),
        sa.Column("realized_profit_usd", USD),
        sa.Column("reorg_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reconciled_at", TS),
        sa.Column("outcome", sa.String(24)),
        sa.Column("outcome_block", sa.BigInteger()),
        sa.Column("outcome_tx", sa.String(66)),
        sa.Column("outcome_at", TS),
        sa.UniqueConstraint("opportunity_key", name="uq_liquidation_attempts_opportunity_key"),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_liquidation_attempts_status"),
        sa.CheckConstraint(_in("mode", MODES), name="ck_liquidation_attempts_mode"),
    )
    op.create_index("ix_liquidation_attempts_chain_status", "liquidation_attempts", ["chain_id", "status"])
    op.create_index("ix_liquidation_attempts_created_at", "liquidation_attempts", ["created_at"])
    op.create_index("ix_liquidation_attempts_borrower", "liquidation_attempts", ["borrower"])


def downgrade() -> None:
    op.drop_table("liquidation_attempts")  # its indexes go with it
