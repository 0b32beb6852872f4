"""The pure automatic kill-switch rules (risk/trips.py) and the sequencer gate at send (risk/sequencer.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

from liqbot.config.models import AutoTripConfig, ChainConfig
from liqbot.core.types import SkipReason
from liqbot.risk.records import SendRow
from liqbot.risk.sequencer import gate_at_send
from liqbot.risk.trips import (
    FLASH_REPAY_SELECTORS,
    UNPROFITABLE,
    Rule,
    evaluate,
    flash_repay_failure,
    unprofitable_shortfall,
)
from liqbot.store.status import AttemptStatus
from liqbot.strategy.gates import SequencerPhase

S = AttemptStatus
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ETH = 2_000 * 10**8
POLICY = AutoTripConfig(
    window_s=3600,
    min_sample=4,
    max_revert_rate=Decimal("0.5"),
    max_consecutive_reverts=3,
    loss_window_s=86400,
    max_realized_loss_usd=Decimal("10"),
    max_gas_spent_usd=Decimal("20"),
)
_ids = iter(range(1, 10**6))


def send(status: AttemptStatus, *, ago_s: int = 60, mode: str = "flash", **over: object) -> SendRow:
    base = SendRow(
        id=next(_ids), status=status, mode=mode, borrower="0x" + "b0" * 20, debt_asset="0x" + "d0" * 20,
        debt_to_cover=10**6, created_at=NOW - timedelta(seconds=ago_s), reason=None,
    )  # fmt: skip
    return replace(base, **over)  # type: ignore[arg-type]


def rule_of(rows: list[SendRow], native: int | None = ETH, policy: AutoTripConfig = POLICY) -> Rule | None:
    trip = evaluate(policy, rows, NOW, native)
    return None if trip is None else trip.rule


def test_consecutive_reverts_trip_and_an_inclusion_resets_the_streak() -> None:
    r = [send(S.REVERTED, reason="reverted on chain: 0xdeadbeef") for _ in range(3)]
    trip = evaluate(POLICY, r, NOW, ETH)
    assert (
        trip is not None
        and trip.rule is Rule.CONSECUTIVE_REVERTS
        and trip.actor == "auto:consecutive_reverts"
    )
    assert "3 reverts in a row" in trip.reason and "0xdeadbeef" in trip.reason
    assert rule_of([r[0], r[1], send(S.INCLUDED)]) is None
    streak_only = POLICY.model_copy(update=dict(min_sample=100))  # the rate rule would see 3 of 4
    assert rule_of([*r[:2], send(S.INCLUDED), send(S.REVERTED)], policy=streak_only) is None


def test_lost_races_skips_and_refusals_are_not_failures() -> None:
    noise = [send(S.LOST_RACE), send(S.SKIPPED), send(S.FAILED), send(S.SUBMITTED), send(S.SIMULATED)]
    assert rule_of(noise * 5) is None
    # ...and neither break a streak nor fill the sample
    streak = [send(S.REVERTED), send(S.LOST_RACE), send(S.REVERTED), send(S.LOST_RACE), send(S.REVERTED)]
    assert rule_of(streak) is Rule.CONSECUTIVE_REVERTS


def test_revert_rate_needs_the_minimum_sample_and_counts_only_the_window() -> None:
    policy = POLICY.model_copy(update=dict(max_consecutive_reverts=100))
    two_of_three = [send(S.REVERTED), send(S.INCLUDED), send(S.REVERTED)]
    assert rule_of(two_of_three, policy=policy) is None  # 3 < min_sample 4
    half = [send(S.REVERTED), send(S.INCLUDED), send(S.REVERTED), send(S.INCLUDED)]
    assert rule_of(half, policy=policy) is None  # 50% is not above 50%
    three_of_four = [send(S.REVERTED), send(S.INCLUDED), send(S.REVERTED), send(S.REVERTED)]
    trip = evaluate(policy, three_of_four, NOW, ETH)
    assert trip is not None and trip.rule is Rule.REVERT_RATE
    assert "3 of 4 sends reverted" in trip.reason and "75.0% > 50.0%" in trip.reason
    old = [replace(r, created_at=NOW - timedelta(hours=2)) for r in three_of_four]
    assert rule_of(old, policy=policy) is None


def test_realized_loss_counts_gas_of_every_send_against_realized_profit() -> None:
    gas = {"gas_used": 500_000, "effective_gas_price": 3 * 10**9}  # $3 a send at $2000
    rows = [send(S.INCLUDED, realized_profit_usd=Decimal("2"), **gas) for _ in range(4)]
    rows += [send(S.LOST_RACE, **gas)]  # a lost race on chain still paid its gas
    assert rule_of(rows) is None  # 8 - 15 = -7: within the $10 cap
    rows += [send(S.FAILED, **gas)]  # a cancel paid gas too: 8 - 18 = -10, still not below -10
    assert rule_of(rows) is None
    rows += [send(S.LOST_RACE, gas_used=1, effective_gas_price=10**9)]
    trip = evaluate(POLICY, rows, NOW, ETH)
    assert (
        trip is not None and trip.rule is Rule.REALIZED_LOSS and "$-10.00 in the last 86400 s" in trip.reason
    )
    assert rule_of(rows, native=None) is None  # no gas-token price: the money rules wait
    stale = [replace(r, created_at=NOW - timedelta(days=2)) for r in rows]
    assert rule_of(stale) is None


def test_gas_spent_over_the_cap_trips_even_when_profitable() -> None:
    gas = {"gas_used": 1_000_000, "effective_gas_price": 5 * 10**9}  # $10 a send
    rows = [send(S.INCLUDED, realized_profit_usd=Decimal("100"), **gas) for _ in range(2)]
    assert rule_of(rows) is None  # $20 is not above $20
    trip = evaluate(POLICY, [*rows, send(S.INCLUDED, realized_profit_usd=Decimal("100"), gas_used=1,
                                     effective_gas_price=10**9)], NOW, ETH)  # fmt: skip
    assert trip is not None and trip.rule is Rule.GAS_SPENT


@pytest.mark.parametrize("selector", sorted(FLASH_REPAY_SELECTORS))
def test_a_flash_repayment_failure_trips_at_once(selector: str) -> None:
    bad = send(S.REVERTED, reason=f"reverted on chain: {selector} [note]")
    assert flash_repay_failure(bad) is not None
    trip = evaluate(POLICY, [send(S.INCLUDED), bad, send(S.INCLUDED)], NOW, ETH)
    assert trip is not None and trip.rule is Rule.FLASH_REPAY and f"attempt {bad.id}" in trip.reason
    # funds mode has no loan; a lost race or a skip with that text was never a failed repayment
    assert flash_repay_failure(replace(bad, mode="funds")) is None
    assert flash_repay_failure(replace(bad, status=S.SKIPPED)) is None
    assert rule_of([bad], policy=POLICY.model_copy(update=dict(trip_on_flash_repay_failure=False))) is None


def test_unprofitable_shortfall_is_read_from_the_revert_data() -> None:
    sel = bytes.fromhex(UNPROFITABLE[2:])
    assert unprofitable_shortfall(sel + encode(["int256", "uint256"], [-1234, 50])) == 1234
    assert unprofitable_shortfall(sel + encode(["int256", "uint256"], [10, 50])) is None  # minProfit miss
    assert unprofitable_shortfall(bytes(4) + encode(["int256", "uint256"], [-1, 0])) is None
    trip = evaluate(POLICY, [], NOW, ETH, repay_failure="attempt 7: Unprofitable(), 1234 units short")
    assert trip is not None and trip.rule is Rule.FLASH_REPAY and "1234 units" in trip.reason


def test_disabled_policy_never_trips() -> None:
    rows = [send(S.REVERTED) for _ in range(10)]
    assert rule_of(rows, policy=POLICY.model_copy(update=dict(enabled=False))) is None


_noise = st.sampled_from([S.LOST_RACE, S.SKIPPED, S.FAILED, S.SIMULATED, S.SUBMITTED])


@given(
    judged=st.lists(st.sampled_from([S.INCLUDED, S.REVERTED]), max_size=12),
    noise=st.lists(st.tuples(st.integers(0, 12), _noise), max_size=12),
)
def test_sends_that_did_not_end_on_chain_never_change_the_verdict(
    judged: list[AttemptStatus], noise: list[tuple[int, AttemptStatus]]
) -> None:
    """Lost races, skips, refusals and sends in flight (without gas) are invisible to every rule."""
    base = [send(s) for s in judged]
    mixed = list(base)
    for pos, status in noise:
        mixed.insert(min(pos, len(mixed)), send(status))
    mixed = [replace(r, id=i) for i, r in enumerate(mixed, 1)]  # decision order is the list order
    before = evaluate(POLICY, [replace(r, id=i) for i, r in enumerate(base, 1)], NOW, ETH)
    after = evaluate(POLICY, mixed, NOW, ETH)
    assert (before and before.rule) == (after and after.rule)


# ---- the sequencer gate at send ----------------------------------------------------------------------------

L2 = ChainConfig(
    name="base", chain_id=8453, rpc_http=("http://127.0.0.1:8545",), block_time_s=2.0, l2="op-stack",
    sequencer_uptime_feed="0x" + "5e" * 20, sequencer_grace_period_s=3600,
)  # fmt: skip
T = 1_800_000_000
WAD = 10**18


@pytest.mark.parametrize(
    ("answer", "updated", "protocol", "hf", "phase", "reason"),
    [
        (0, T - 7200, "aave_v3", WAD - 1, SequencerPhase.UP, None),
        (1, T - 10, "aave_v3", 97 * WAD // 100, SequencerPhase.DOWN, SkipReason.SEQUENCER_DOWN),
        (1, T - 10, "aave_v3", 90 * WAD // 100, SequencerPhase.DOWN, None),  # the sentinel lets HF < 0.95 go
        (1, T - 10, "morpho_blue", 99 * WAD // 100, SequencerPhase.DOWN, None),  # no sentinel
        (0, T - 100, "aave_v3", 97 * WAD // 100, SequencerPhase.GRACE, SkipReason.SEQUENCER_GRACE),
        (None, None, "morpho_blue", WAD // 2, SequencerPhase.UNKNOWN, SkipReason.SEQUENCER_UNKNOWN),
    ],
)
def test_sequencer_gate_at_send_applies_the_detection_rule(
    answer: int | None,
    updated: int | None,
    protocol: str,
    hf: int,
    phase: SequencerPhase,
    reason: SkipReason | None,
) -> None:
    got_phase, skip = gate_at_send(answer, updated, T, L2, protocol, hf)
    assert got_phase is phase
    assert (skip and skip.reason) == reason


def test_sequencer_gate_at_send_fails_closed_without_a_block_time() -> None:
    phase, skip = gate_at_send(0, T - 7200, None, L2, "morpho_blue", WAD // 2)
    assert (
        phase is SequencerPhase.UNKNOWN and skip is not None and skip.reason is SkipReason.SEQUENCER_UNKNOWN
    )
