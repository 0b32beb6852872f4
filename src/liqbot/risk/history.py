"""The database questions the caps and trip rules ask, so every instance and every restart sees the same
history (SQLAlchemy Core over the attempts store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from liqbot.risk.records import SendRow
from liqbot.store import Store
from liqbot.store.models import AttemptRow, KillSwitchEventRow
from liqbot.store.status import AttemptMode, AttemptStatus

LIVE_MODES = (AttemptMode.FUNDS.value, AttemptMode.FLASH.value)
IN_FLIGHT = (AttemptStatus.SIMULATED.value, AttemptStatus.SUBMITTED.value)
_A = AttemptRow
_COLUMNS = (
    _A.id, _A.status, _A.mode, _A.borrower, _A.debt_asset, _A.debt_to_cover, _A.created_at, _A.gas_used,
    _A.effective_gas_price, _A.realized_profit_usd, _A.reason,
)  # fmt: skip


def sends_since(store: Store, chain_id: int, since: datetime) -> list[SendRow]:
    """Live attempts of the chain decided at or after `since` that were sent or are being sent: simulated
    or later (a row stamped `submitted_at` left, or was about to leave, this process)."""
    q = (
        select(*_COLUMNS)
        .where(
            _A.chain_id == chain_id,
            _A.mode.in_(LIVE_MODES),
            _A.created_at >= since,
            or_(_A.submitted_at.is_not(None), _A.status.in_(IN_FLIGHT)),
        )
        .order_by(_A.id)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    return [
        SendRow(
            id=r.id,
            status=AttemptStatus(r.status),
            mode=r.mode,
            borrower=r.borrower,
            debt_asset=r.debt_asset,
            debt_to_cover=r.debt_to_cover,
            created_at=r.created_at,
            gas_used=r.gas_used,
            effective_gas_price=r.effective_gas_price,
            realized_profit_usd=r.realized_profit_usd,
            reason=r.reason,
        )
        for r in rows
    ]


def inflight_ids(store: Store, chain_id: int) -> set[int]:
    """Live attempts of the chain between simulation and their end, by any instance."""
    q = select(_A.id).where(_A.chain_id == chain_id, _A.mode.in_(LIVE_MODES), _A.status.in_(IN_FLIGHT))
    with store.engine.connect() as conn:
        return set(conn.execute(q).scalars())


def last_release(store: Store, scope: str) -> datetime | None:
    """When the switch of `scope` was last released (the trip rules start afresh from there)."""
    q = (
        select(KillSwitchEventRow.at)
        .where(KillSwitchEventRow.scope == scope, KillSwitchEventRow.engaged.is_(False))
        .order_by(KillSwitchEventRow.id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        at: datetime | None = conn.execute(q).scalar_one_or_none()
    return at
