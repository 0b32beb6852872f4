"""Adaptive thresholds in the database: the history of every change per chain × protocol (the newest row is
the state, so values survive restarts and `liqbot thresholds show` can tell the story), and the statistics of
the recent sent attempts the controller adapts to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from liqbot.store import Store
from liqbot.store.models import THRESHOLD_SOURCES, AttemptRow, ThresholdHistoryRow
from liqbot.store.status import AttemptStatus
from liqbot.strategy.adaptive import Levels, WindowStats

ADAPTIVE, FALLBACK, STATIC, RELEASE = THRESHOLD_SOURCES
# Sent and ended: what the controller learns from (rows still `submitted` are in flight).
_ENDED = (AttemptStatus.INCLUDED, AttemptStatus.REVERTED, AttemptStatus.LOST_RACE, AttemptStatus.FAILED)
_WEI = Decimal(10) ** 18


@dataclass(frozen=True)
class ThresholdRecord:
    id: int
    chain_id: int
    protocol: str
    at: datetime
    levels: Levels
    source: str
    actor: str
    reason: str
    stats: dict[str, Any]

    @property
    def pinned(self) -> bool:
        """A fallback pin: the static defaults apply and nothing adapts until a release."""
        return self.source == FALLBACK


def plain(d: Decimal) -> Decimal:
    """5.000000000000000000 (as stored) → 5; never in exponent form."""
    return Decimal(format(d.normalize(), "f"))


def _of(r: Any) -> ThresholdRecord:
    return ThresholdRecord(
        id=int(r.id),
        chain_id=int(r.chain_id),
        protocol=str(r.protocol),
        at=r.at,
        levels=Levels(plain(r.min_profit_usd), plain(r.priority_fee_profit_share)),
        source=str(r.source),
        actor=str(r.actor),
        reason=str(r.reason),
        stats=json.loads(r.stats),
    )


def record(
    store: Store,
    chain_id: int,
    protocol: str,
    levels: Levels,
    *,
    source: str,
    actor: str,
    reason: str,
    stats: Mapping[str, Any] | None = None,
    at: datetime,
) -> ThresholdRecord:
    if source not in THRESHOLD_SOURCES:
        raise ValueError(f"source must be one of {', '.join(THRESHOLD_SOURCES)}, not {source!r}")
    if source in (FALLBACK, RELEASE) and not reason.strip():
        raise ValueError(f"a {source} needs a reason (it is recorded)")
    values = {
        "chain_id": chain_id,
        "protocol": protocol,
        "at": at,
        "min_profit_usd": levels.min_profit_usd,
        "priority_fee_profit_share": levels.gas_share,
        "source": source,
        "actor": actor,
        "reason": reason,
        "stats": json.dumps(dict(stats or {}), sort_keys=True),
    }
    with store.engine.begin() as conn:
        key = conn.execute(insert(ThresholdHistoryRow).values(**values)).inserted_primary_key
        assert key is not None
        row = conn.execute(select(ThresholdHistoryRow).where(ThresholdHistoryRow.id == key[0])).one()
    return _of(row)


def latest(store: Store, chain_id: int, protocol: str) -> ThresholdRecord | None:
    got = history(store, chain_id, protocol, limit=1)
    return got[0] if got else None


def history(
    store: Store, chain_id: int, protocol: str | None = None, limit: int = 20
) -> list[ThresholdRecord]:
    """Newest first."""
    t = ThresholdHistoryRow
    q = select(t).where(t.chain_id == chain_id)
    if protocol is not None:
        q = q.where(t.protocol == protocol)
    with store.engine.connect() as conn:
        rows = conn.execute(q.order_by(t.id.desc()).limit(limit)).all()
    return [_of(r) for r in rows]


def window_stats(
    store: Store,
    chain_id: int,
    protocol: str,
    *,
    window_attempts: int,
    window_hours: int,
    now: datetime,
    native_usd: Decimal | None,
) -> WindowStats:
    """The newest `window_attempts` sent-and-ended attempts of the last `window_hours`. `native_usd` (the
    gas token's USD price now) values the gas paid; without it the gas signal is left out."""
    a = AttemptRow
    q = (
        select(
            a.status,
            a.expected_profit_usd,
            a.gas_usd,
            a.realized_profit_usd,
            a.gas_used,
            a.effective_gas_price,
        )
        .where(
            a.chain_id == chain_id,
            a.protocol == protocol,
            a.submitted_at.is_not(None),
            a.status.in_([s.value for s in _ENDED]),
            a.created_at >= now - timedelta(hours=window_hours),
        )
        .order_by(a.created_at.desc(), a.id.desc())
        .limit(window_attempts)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    counts = {s: 0 for s in _ENDED}
    expected = realized = gas_expected = Decimal(0)
    spent: Decimal | None = Decimal(0) if native_usd is not None else None
    for r in rows:
        status = AttemptStatus(r.status)
        counts[status] += 1
        gas = abs(r.gas_usd) if r.gas_usd is not None else None  # stored with either sign: a cost
        if status is AttemptStatus.INCLUDED and r.realized_profit_usd is not None and gas is not None:
            expected += r.expected_profit_usd + gas  # before gas, like the realized profit
            realized += r.realized_profit_usd
        if r.gas_used is not None and r.effective_gas_price is not None and gas is not None:
            gas_expected += gas
            if spent is not None and native_usd is not None:
                spent += Decimal(r.gas_used * r.effective_gas_price) / _WEI * native_usd
    return WindowStats(
        sent=len(rows),
        included=counts[AttemptStatus.INCLUDED],
        reverted=counts[AttemptStatus.REVERTED],
        lost_races=counts[AttemptStatus.LOST_RACE],
        expected_usd=expected,
        realized_usd=realized,
        gas_expected_usd=gas_expected,
        gas_spent_usd=spent,
    )
