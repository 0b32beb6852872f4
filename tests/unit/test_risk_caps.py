"""The pure caps and throttles (risk/caps.py): what each refuses, how usage is counted from the database
rows and this process's memory, and the exact USD valuation they rest on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqbot.config.models import CapsConfig
from liqbot.core.types import SkipReason
from liqbot.execution.live import skip_of
from liqbot.risk.caps import Ask, Reservation, SessionTally, Usage, check_caps, usage
from liqbot.risk.records import SendRow, gas_usd, notional_usd
from liqbot.store.status import AttemptStatus

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
USDC = "0x" + "d0" * 20
BOB = "0x" + "b0" * 20
ETH_PRICE = 2_000 * 10**8  # $2000, 8 decimals
CAPS = CapsConfig(
    max_notional_usd_per_attempt=Decimal("1000"),
    max_daily_gas_usd=Decimal("10"),
    max_attempts_per_borrower_per_hour=2,
    max_inflight_per_chain=3,
    max_live_executions_per_session=5,
    max_notional_usd_per_session=Decimal("4000"),
    max_notional_usd_per_day=Decimal("3000"),
)
FREE = Usage(0, 0, 0, Decimal(0), Decimal(0), Decimal(0))
ASK = Ask(99, BOB, Decimal("100"), Decimal("1"))


def row(i: int, *, ago_s: int = 60, borrower: str = BOB, usdc: int = 100, **over: object) -> SendRow:
    base = SendRow(
        id=i, status=AttemptStatus.INCLUDED, mode="flash", borrower=borrower, debt_asset=USDC,
        debt_to_cover=usdc * 10**6, created_at=NOW - timedelta(seconds=ago_s),
    )  # fmt: skip
    return replace(base, **over)  # type: ignore[arg-type]


def test_valuation_is_exact() -> None:
    assert gas_usd(21_000, 10**9, ETH_PRICE) == Decimal("0.042")
    assert notional_usd(1_234_567, 10**8, 6) == Decimal("1.234567")
    assert notional_usd(10**18 // 3, ETH_PRICE, 18) == Decimal("666.666666666666666000")


@pytest.mark.parametrize(
    ("used", "ask", "reason"),
    [
        (FREE, replace(ASK, notional_usd=Decimal("1000.01")), SkipReason.NOTIONAL_CAP),
        (replace(FREE, borrower_sends=2), ASK, SkipReason.BORROWER_THROTTLED),
        (replace(FREE, inflight=3), ASK, SkipReason.INFLIGHT_CAP),
        (replace(FREE, session_executions=5), ASK, SkipReason.SESSION_CAP),
        (replace(FREE, session_notional_usd=Decimal("3900.01")), ASK, SkipReason.SESSION_CAP),
        (replace(FREE, day_notional_usd=Decimal("2900.01")), ASK, SkipReason.NOTIONAL_CAP),
        (replace(FREE, day_gas_usd=Decimal("9.01")), ASK, SkipReason.GAS_BUDGET),
    ],
)
def test_each_cap_refuses_with_its_reason(used: Usage, ask: Ask, reason: SkipReason) -> None:
    refused = check_caps(CAPS, ask, used)
    assert refused is not None and refused.reason is reason, refused


def test_just_inside_every_cap_passes() -> None:
    used = Usage(1, 2, 4, Decimal("3900"), Decimal("2900"), Decimal("9"))
    assert check_caps(CAPS, replace(ASK, notional_usd=Decimal("100")), used) is None
    assert check_caps(CAPS, replace(ASK, notional_usd=Decimal("1000")), FREE) is None


@given(
    borrower=st.integers(0, 4),
    inflight=st.integers(0, 5),
    executions=st.integers(0, 7),
    session=st.decimals(0, 5000, places=2),
    day=st.decimals(0, 4000, places=2),
    gas=st.decimals(0, 20, places=2),
    notional=st.decimals(0, 1500, places=2),
    ask_gas=st.decimals(0, 3, places=2),
)
def test_refuses_exactly_when_a_cap_would_be_broken(
    borrower: int,
    inflight: int,
    executions: int,
    session: Decimal,
    day: Decimal,
    gas: Decimal,
    notional: Decimal,
    ask_gas: Decimal,
) -> None:
    used = Usage(borrower, inflight, executions, session, day, gas)
    broken = (
        notional > CAPS.max_notional_usd_per_attempt
        or borrower >= CAPS.max_attempts_per_borrower_per_hour
        or inflight >= CAPS.max_inflight_per_chain
        or executions >= CAPS.max_live_executions_per_session
        or session + notional > CAPS.max_notional_usd_per_session
        or day + notional > CAPS.max_notional_usd_per_day
        or gas + ask_gas > CAPS.max_daily_gas_usd
    )
    assert (check_caps(CAPS, Ask(1, BOB, notional, ask_gas), used) is not None) == broken


def _usage(rows: list[SendRow], inflight: set[int], mine: dict[int, Reservation]) -> Usage:
    got = usage(ASK, rows, inflight, mine, SessionTally(2, Decimal(7)), {USDC: (10**8, 6)}, ETH_PRICE, NOW)
    assert isinstance(got, Usage), got
    return got


def test_usage_counts_the_database_and_this_process_once_each() -> None:
    other = "0x" + "0c" * 20
    rows = [
        row(1, ago_s=600),  # Bob, this hour
        row(2, ago_s=4000),  # Bob, over an hour ago: not throttling, still today
        row(3, borrower=other, gas_used=100_000, effective_gas_price=10 * 10**9),  # $2 of gas
        row(4, ago_s=90_000),  # yesterday: ignored
    ]
    mine = {
        3: Reservation(3, other, Decimal(100)),  # already in the database: not twice
        5: Reservation(5, BOB.upper().replace("0X", "0x"), Decimal(50)),  # held here, not simulated yet
        ASK.attempt_id: Reservation(ASK.attempt_id, BOB, Decimal(100)),  # the asking attempt itself
    }
    u = _usage(rows, {3, 7, ASK.attempt_id}, mine)
    assert u.borrower_sends == 2  # rows 1 and reservation 5
    assert u.inflight == 3  # 3, 7 from the database, 5 from memory; never the asking attempt
    assert u.day_notional_usd == Decimal(100 * 3 + 50)
    assert u.day_gas_usd == Decimal(2)
    assert (u.session_executions, u.session_notional_usd) == (2, Decimal(7))


def test_a_past_send_that_cannot_be_valued_refuses() -> None:
    odd = "0x" + "ee" * 20
    got = usage(ASK, [row(1, debt_asset=odd)], set(), {}, SessionTally(), {USDC: (10**8, 6)}, ETH_PRICE, NOW)
    assert not isinstance(got, Usage) and got.reason is SkipReason.NOTIONAL_CAP and odd in got.detail


def test_session_tally_refunds_what_never_reached_the_sender() -> None:
    s = SessionTally()
    s.take(Decimal(10))
    s.take(Decimal(5))
    s.refund(Decimal(5))
    assert (s.executions, s.notional_usd) == (1, Decimal(10))


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("skipped", "kill_switch: base engaged (x)", SkipReason.KILL_SWITCH),
        ("skipped", "inflight_cap: 4 sends in flight (max 4)", SkipReason.INFLIGHT_CAP),
        ("skipped", "simulation_failed: 0x12345678", SkipReason.SIMULATION_FAILED),
        ("skipped", "gas budget: max fee × gas limit = 5 > 4 wei", SkipReason.BELOW_MIN_PROFIT),
        ("skipped", "something new", None),
        ("reverted", "kill_switch: not a skip", None),
    ],
)
def test_skip_reason_of_an_executor_result(status: str, reason: str, expected: SkipReason | None) -> None:
    assert skip_of(status, reason) is expected
