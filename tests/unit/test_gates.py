"""The pure gates: sequencer (per protocol rule), deny list, price freshness, minimum profit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqbot.core.types import LiquidationOption, SkipReason
from liqbot.strategy.gates import (
    AAVE_SENTINEL_MIN_HF,
    PricePoint,
    SequencerPhase,
    SequencerRule,
    deny_gate,
    min_profit_gate,
    price_gate,
    sequencer_gate,
    sequencer_phase,
    sequencer_rule,
)

NOW = 1_800_000_000
GRACE = 3600
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WAD = 10**18
SENTINEL, FREE = SequencerRule.AAVE_SENTINEL, SequencerRule.NO_SENTINEL


def option(collateral: str = WETH, debt: str = USDC, hf: int = 97 * WAD // 100) -> LiquidationOption:
    return LiquidationOption(
        chain_id=10, protocol="aave_v3", market="0x" + "11" * 20, borrower="0x" + "22" * 20,
        collateral_asset=collateral, debt_asset=debt, debt_to_cover=1_000 * 10**6,
        collateral_to_liquidator=10**18 // 3, protocol_fee=0, health_factor=hf, block=1,
        collateral_price=3_000 * 10**8, debt_price=10**8, collateral_decimals=18, debt_decimals=6,
    )  # fmt: skip


# --- sequencer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "started_at", "phase"),
    [
        (0, NOW - GRACE - 1, SequencerPhase.UP),
        (0, NOW - GRACE, SequencerPhase.GRACE),  # Aave: allowed only when now - startedAt > grace
        (0, NOW - 1, SequencerPhase.GRACE),
        (0, NOW, SequencerPhase.GRACE),
        (1, NOW - 10 * GRACE, SequencerPhase.DOWN),
        (1, NOW, SequencerPhase.DOWN),
        (None, NOW - 10 * GRACE, SequencerPhase.UNKNOWN),  # the read failed
        (0, None, SequencerPhase.UNKNOWN),
        (2, NOW - 10 * GRACE, SequencerPhase.UNKNOWN),  # not a valid answer
        (-1, NOW - 10 * GRACE, SequencerPhase.UNKNOWN),
        (0, 0, SequencerPhase.UNKNOWN),  # uninitialised round
        (0, NOW + 1, SequencerPhase.UNKNOWN),  # in the future: Aave's subtraction would revert
    ],
)
def test_sequencer_phase(answer: int | None, started_at: int | None, phase: SequencerPhase) -> None:
    assert sequencer_phase(answer, started_at, NOW, GRACE) is phase


DOWN = (1, NOW - 60)
IN_GRACE = (0, NOW - 60)
UP = (0, NOW - GRACE - 60)
UNREADABLE = (None, None)
MILD, DEEP = 96 * WAD // 100, 94 * WAD // 100


@pytest.mark.parametrize(
    ("feed", "rule", "hf", "reason"),
    [
        # Aave ≤ v3.6: while down or in grace, only HF < 0.95 may be liquidated.
        (DOWN, SENTINEL, MILD, SkipReason.SEQUENCER_DOWN),
        (DOWN, SENTINEL, DEEP, None),
        (DOWN, SENTINEL, AAVE_SENTINEL_MIN_HF, SkipReason.SEQUENCER_DOWN),  # strictly below 0.95
        (DOWN, SENTINEL, AAVE_SENTINEL_MIN_HF - 1, None),
        (IN_GRACE, SENTINEL, MILD, SkipReason.SEQUENCER_GRACE),
        (IN_GRACE, SENTINEL, DEEP, None),
        (UP, SENTINEL, MILD, None),
        # Aave v3.7+ and Morpho: no sentinel, everything the protocol otherwise allows goes.
        (DOWN, FREE, MILD, None),
        (IN_GRACE, FREE, MILD, None),
        (UP, FREE, MILD, None),
        # An unreadable feed fails closed under every rule.
        (UNREADABLE, SENTINEL, DEEP, SkipReason.SEQUENCER_UNKNOWN),
        (UNREADABLE, FREE, DEEP, SkipReason.SEQUENCER_UNKNOWN),
    ],
)
def test_sequencer_gate(
    feed: tuple[int | None, int | None], rule: SequencerRule, hf: int, reason: SkipReason | None
) -> None:
    skip = sequencer_gate(feed[0], feed[1], NOW, GRACE, rule, hf, option(hf=hf))
    assert (skip.reason if skip else None) == reason
    if skip:
        assert skip.option is not None
        assert skip.option.health_factor == hf


@pytest.mark.parametrize(
    ("protocol", "revision", "rule"),
    [
        ("aave_v3", "3.0", SENTINEL),
        ("aave_v3", "3.3", SENTINEL),
        ("aave_v3", "3.5", SENTINEL),
        ("aave_v3", "3.6", SENTINEL),
        ("aave_v3", "3.7", FREE),
        ("aave_v3", "3.10", FREE),
        ("aave_v3", None, SENTINEL),  # unknown revision: the stricter rule
        ("morpho_blue", None, FREE),
        ("compound_v3", None, FREE),
    ],
)
def test_sequencer_rule(protocol: str, revision: str | None, rule: SequencerRule) -> None:
    assert sequencer_rule(protocol, revision) is rule


def test_sequencer_rule_refuses_an_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="euler"):
        sequencer_rule("euler_v2")


@given(
    answer=st.sampled_from([0, 1]),
    age=st.integers(min_value=0, max_value=3 * GRACE),
    hf=st.integers(min_value=0, max_value=2 * WAD),
    rule=st.sampled_from(list(SequencerRule)),
)
def test_sequencer_gate_matches_aave_require(answer: int, age: int, hf: int, rule: SequencerRule) -> None:
    """LiquidationLogic: sentinel == 0 || hf < 0.95 || (answer == 0 && now - startedAt > grace)."""
    allowed = rule is FREE or hf < AAVE_SENTINEL_MIN_HF or (answer == 0 and age > GRACE)
    assert (sequencer_gate(answer, NOW - age, NOW, GRACE, rule, hf) is None) == allowed


# --- deny list ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deny", "denied"),
    [
        ((), False),
        ((WETH,), True),  # collateral
        ((USDC,), True),  # debt
        ((WETH.lower(),), True),  # any spelling of the address
        ((USDC.upper().replace("0X", "0x"),), True),
        (("0x" + "ab" * 20,), False),
    ],
)
def test_deny_gate(deny: tuple[str, ...], denied: bool) -> None:
    skip = deny_gate(option(), deny)
    assert (skip is not None) == denied
    if skip:
        assert skip.reason is SkipReason.DENY_LISTED


# --- prices ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        (None, SkipReason.NO_PRICE),
        (PricePoint(0, NOW, 60), SkipReason.NO_PRICE),
        (PricePoint(-5, NOW, 60), SkipReason.NO_PRICE),
        (PricePoint(10**8, NOW, 60), None),
        (PricePoint(10**8, NOW - 60, 60), None),  # exactly max age: still fresh
        (PricePoint(10**8, NOW - 61, 60), SkipReason.STALE_PRICE),
        (PricePoint(10**8, NOW + 5, 60), None),  # feed ahead of `now`: fresh
    ],
)
def test_price_gate(price: PricePoint | None, reason: SkipReason | None) -> None:
    skip = price_gate(WETH, price, NOW)
    assert (skip.reason if skip else None) == reason


# --- minimum profit -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net", "minimum", "passes"),
    [
        (Decimal("5"), Decimal("5"), True),  # inclusive boundary
        (Decimal("5.000000000000000000000000000001"), Decimal("5"), True),
        (Decimal("4.999999999999999999999999999999"), Decimal("5"), False),
        (Decimal("0"), Decimal("0"), True),
        (Decimal("-0.01"), Decimal("0"), False),
    ],
)
def test_min_profit_gate(net: Decimal, minimum: Decimal, passes: bool) -> None:
    skip = min_profit_gate(net, minimum)
    assert (skip is None) == passes
    if skip:
        assert skip.reason is SkipReason.BELOW_MIN_PROFIT
