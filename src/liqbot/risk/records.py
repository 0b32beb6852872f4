"""What the risk rules read about past sends, and how they value it. Pure: no database, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from liqbot.store.status import AttemptStatus
from liqbot.strategy.pricing import NATIVE_DECIMALS, usd


@dataclass(frozen=True)
class SendRow:
    """One live attempt that was sent (or is being sent), as the caps and trip rules see it."""

    id: int
    status: AttemptStatus
    mode: str  # funds | flash
    borrower: str  # lowercase
    debt_asset: str  # lowercase
    debt_to_cover: int  # debt token units
    created_at: datetime  # when it was decided
    gas_used: int | None = None
    effective_gas_price: int | None = None  # wei
    realized_profit_usd: Decimal | None = None  # before gas
    reason: str | None = None


def gas_usd(gas_used: int, gas_price_wei: int, native_price: int) -> Decimal:
    """Gas paid, at the gas token's USD price (8 decimals)."""
    return usd(gas_used * gas_price_wei, native_price, NATIVE_DECIMALS)


def notional_usd(units: int, price: int, decimals: int) -> Decimal:
    """A token amount in USD at a price with 8 decimals."""
    return usd(units, price, decimals)


def spent_usd(row: SendRow, native_price: int) -> Decimal:
    if row.gas_used is None or row.effective_gas_price is None:
        return Decimal(0)
    return gas_usd(row.gas_used, row.effective_gas_price, native_price)
