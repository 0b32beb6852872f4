"""Throttles and caps on sending: per borrower per hour, in flight per chain, per session, notional per
attempt / session / day, and the daily gas budget. Pure: the caller reads the history (risk/history.py)
and what this process holds in memory; these functions only decide. A refusal is a Skip with its reason."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from liqbot.config.models import CapsConfig
from liqbot.core.types import Skip, SkipReason
from liqbot.risk.records import SendRow, notional_usd, spent_usd

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Ask:
    """The attempt that wants to be sent."""

    attempt_id: int
    borrower: str
    notional_usd: Decimal  # the debt it repays, in USD
    gas_usd: Decimal  # what its gas is expected to cost


@dataclass(frozen=True)
class Reservation:
    """An attempt this process admitted and has not finished: other processes see it only once it is
    simulated, so until then it is counted from memory."""

    attempt_id: int
    borrower: str
    notional_usd: Decimal


@dataclass
class SessionTally:
    """What one run of the bot has sent, over every chain (shared by the chains' guards)."""

    executions: int = 0
    notional_usd: Decimal = Decimal(0)

    def take(self, notional: Decimal) -> None:
        self.executions += 1
        self.notional_usd += notional

    def refund(self, notional: Decimal) -> None:
        """An admitted attempt that never reached the sender does not count."""
        self.executions -= 1
        self.notional_usd -= notional


@dataclass(frozen=True)
class Usage:
    borrower_sends: int  # sends to the asking borrower in the last hour
    inflight: int  # sends of the chain not yet ended
    session_executions: int
    session_notional_usd: Decimal
    day_notional_usd: Decimal  # repaid debt sent on the chain in the last 24 hours
    day_gas_usd: Decimal  # gas spent on the chain in the last 24 hours


def usage(
    ask: Ask,
    rows: Sequence[SendRow],
    inflight_ids: Collection[int],
    mine: Mapping[int, Reservation],
    session: SessionTally,
    prices: Mapping[str, tuple[int, int]],
    native_price: int,
    now: datetime,
) -> Usage | Skip:
    """Usage from the last 24 hours of sends on the chain (`rows`, every instance), the ids of its sends in
    flight, and this process's reservations. `prices`: asset (lowercase) → (USD price, decimals). A past
    send whose asset has no price cannot be valued: refuse rather than guess."""
    others = {i: r for i, r in mine.items() if i != ask.attempt_id}
    borrower = ask.borrower.lower()
    recent = {r.id for r in rows if r.borrower == borrower and r.created_at >= now - HOUR}
    recent |= {i for i, r in others.items() if r.borrower.lower() == borrower}
    day = Decimal(0)
    for r in rows:
        if r.created_at < now - DAY:
            continue
        price = prices.get(r.debt_asset)
        if price is None:
            return Skip(SkipReason.NOTIONAL_CAP, f"cannot value past sends: no price for {r.debt_asset}")
        day += notional_usd(r.debt_to_cover, *price)
    seen = {r.id for r in rows}
    day += sum((r.notional_usd for i, r in others.items() if i not in seen), Decimal(0))
    gas = sum((spent_usd(r, native_price) for r in rows if r.created_at >= now - DAY), Decimal(0))
    return Usage(
        borrower_sends=len(recent),
        inflight=len(set(inflight_ids) - {ask.attempt_id} | set(others)),
        session_executions=session.executions,
        session_notional_usd=session.notional_usd,
        day_notional_usd=day,
        day_gas_usd=gas,
    )


def check_caps(caps: CapsConfig, ask: Ask, used: Usage) -> Skip | None:
    """The first cap the attempt would break, or None. Counts refuse at the cap; amounts refuse above it."""
    n = ask.notional_usd
    if n > caps.max_notional_usd_per_attempt:
        return Skip(
            SkipReason.NOTIONAL_CAP, f"repays ${_r(n)} > ${caps.max_notional_usd_per_attempt} per attempt"
        )
    if used.borrower_sends >= caps.max_attempts_per_borrower_per_hour:
        return Skip(
            SkipReason.BORROWER_THROTTLED,
            f"{used.borrower_sends} sends to {ask.borrower} in the last hour "
            f"(max {caps.max_attempts_per_borrower_per_hour})",
        )
    if used.inflight >= caps.max_inflight_per_chain:
        return Skip(
            SkipReason.INFLIGHT_CAP, f"{used.inflight} sends in flight (max {caps.max_inflight_per_chain})"
        )
    if used.session_executions >= caps.max_live_executions_per_session:
        return Skip(
            SkipReason.SESSION_CAP,
            f"{used.session_executions} sends this session (max {caps.max_live_executions_per_session})",
        )
    if used.session_notional_usd + n > caps.max_notional_usd_per_session:
        return Skip(
            SkipReason.SESSION_CAP,
            f"session notional ${_r(used.session_notional_usd)} + ${_r(n)} > "
            f"${caps.max_notional_usd_per_session}",
        )
    if used.day_notional_usd + n > caps.max_notional_usd_per_day:
        return Skip(
            SkipReason.NOTIONAL_CAP,
            f"last 24 h notional ${_r(used.day_notional_usd)} + ${_r(n)} > ${caps.max_notional_usd_per_day}",
        )
    if used.day_gas_usd + ask.gas_usd > caps.max_daily_gas_usd:
        return Skip(
            SkipReason.GAS_BUDGET,
            f"last 24 h gas ${_r(used.day_gas_usd)} + ${_r(ask.gas_usd)} > ${caps.max_daily_gas_usd}",
        )
    return None


def _r(d: Decimal) -> Decimal:
    """Cents, for messages only."""
    return d.quantize(Decimal("0.01"))
