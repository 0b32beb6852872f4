"""The adaptive thresholds controller (pure): bounded, stepwise, explained, and monotone in each signal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from liqbot.config.models import AdaptiveConfig, ThresholdsConfig
from liqbot.strategy.adaptive import Levels, Policy, WindowStats, next_levels

D = Decimal
POLICY = Policy.of(
    ThresholdsConfig(
        min_profit_usd=D(5),
        priority_fee_profit_share=D("0.2"),
        adaptive=AdaptiveConfig(
            min_profit_usd_bounds=(D(2), D(50)),
            priority_fee_profit_share_bounds=(D("0.05"), D("0.6")),
            min_sample=10,
        ),
    )
)
STATIC = POLICY.default


def stats(
    sent: int = 20,
    included: int = 18,
    reverted: int = 0,
    lost: int = 0,
    expected: str = "100",
    realized: str = "100",
    gas_expected: str = "10",
    gas_spent: str | None = "10",
) -> WindowStats:
    return WindowStats(
        sent, included, reverted, lost, D(expected), D(realized), D(gas_expected),
        None if gas_spent is None else D(gas_spent),
    )  # fmt: skip


def test_policy_defaults_from_config() -> None:
    p = Policy.of(ThresholdsConfig())
    assert p.default == Levels(D(5), D("0.2"))
    assert p.profit_bounds == (D(5), D(50)) and p.share_bounds == (D("0.2"), D("0.6"))


def test_reverts_raise_min_profit_one_step() -> None:
    d = next_levels(stats(included=14, reverted=6), STATIC, POLICY)
    assert d.levels.min_profit_usd == D(7)  # 5 + the 2 USD step
    assert d.levels.gas_share == STATIC.gas_share
    assert any("revert rate 30.0% > 10.0%" in n and "5 → 7" in n for n in d.notes), d.notes


def test_realized_below_expected_raises_min_profit() -> None:
    d = next_levels(stats(realized="70"), STATIC, POLICY)
    assert d.levels.min_profit_usd == D(7)
    assert any("realized 70.0% of expected" in n for n in d.notes), d.notes


def test_gas_overrun_raises_min_profit() -> None:
    d = next_levels(stats(gas_spent="20"), STATIC, POLICY)
    assert d.levels.min_profit_usd == D(7)
    assert any("gas paid 200.0% of expected" in n for n in d.notes), d.notes
    # Without a gas-token price the gas signal is left out.
    assert next_levels(stats(gas_spent=None), STATIC, POLICY).levels.min_profit_usd == D(5)


def test_lost_races_with_few_reverts_raise_the_gas_share() -> None:
    d = next_levels(stats(included=10, lost=10), STATIC, POLICY)
    assert d.levels.gas_share == D("0.25")
    assert any("outbid" in n for n in d.notes), d.notes
    # Many lost races but also many reverts: a higher tip would not help.
    d = next_levels(stats(included=6, lost=8, reverted=6), STATIC, POLICY)
    assert d.levels.gas_share == STATIC.gas_share
    assert d.levels.min_profit_usd == D(7)


def test_a_healthy_window_eases_back_to_the_default() -> None:
    raised = Levels(D(12), D("0.45"))
    d = next_levels(stats(lost=1, included=17), raised, POLICY)
    assert d.levels == Levels(D(10), D("0.40"))
    assert any("ease back" in n for n in d.notes), d.notes
    # Never past the default in one step.
    assert next_levels(stats(lost=1, included=17), Levels(D(6), D("0.21")), POLICY).levels == STATIC


def test_below_the_default_only_while_realized_beats_expected_and_no_race_is_lost() -> None:
    d = next_levels(stats(realized="130"), STATIC, POLICY)
    assert d.levels == Levels(D(3), D("0.15"))
    assert any("room below the default" in n for n in d.notes)
    assert any("no lost race" in n for n in d.notes)
    # Once that stops, back up toward the default.
    up = next_levels(stats(included=12, lost=1), Levels(D(3), D("0.15")), POLICY)
    assert up.levels == Levels(D(5), D("0.2"))


def test_no_change_below_the_minimum_sample() -> None:
    bad = stats(sent=9, included=0, reverted=9)
    d = next_levels(bad, STATIC, POLICY)
    assert d.levels == STATIC and not d.changed_from(STATIC)
    assert any("fewer than min_sample 10" in n for n in d.notes)


def test_values_outside_the_bounds_are_clamped_first() -> None:
    d = next_levels(stats(sent=0, included=0), Levels(D(80), D("0.9")), POLICY)
    assert d.levels == Levels(D(50), D("0.6"))
    assert "clamped" in d.notes[0]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot exceed sent"):
        WindowStats(sent=2, included=2, reverted=1)
    with pytest.raises(ValueError, match="must contain the default"):
        Policy(
            Levels(D(1), D("0.2")), (D(2), D(3)), (D(0), D(1)), D(1), D("0.1"), 1,
            D("0.1"), D("0.3"), D("0.7"), D("0.1"), D("0.25"),
        )  # fmt: skip


# ---- properties ------------------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=1000, places=2)
shares = st.decimals(min_value=0, max_value=1, places=3)


@st.composite
def windows(draw: st.DrawFn) -> WindowStats:
    sent = draw(st.integers(0, 60))
    included = draw(st.integers(0, sent))
    reverted = draw(st.integers(0, sent - included))
    lost = draw(st.integers(0, sent - included - reverted))
    return WindowStats(
        sent, included, reverted, lost, draw(money), draw(money), draw(money), draw(st.none() | money)
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    p_lo, p_def, p_hi = sorted(draw(st.lists(money, min_size=3, max_size=3)))
    s_lo, s_def, s_hi = sorted(draw(st.lists(shares, min_size=3, max_size=3)))
    return Policy(
        default=Levels(p_def, s_def),
        profit_bounds=(p_lo, p_hi),
        share_bounds=(s_lo, s_hi),
        profit_step=draw(st.decimals(min_value="0.01", max_value=20, places=2)),
        share_step=draw(st.decimals(min_value="0.001", max_value="0.2", places=3)),
        min_sample=draw(st.integers(1, 30)),
        revert_rate_max=draw(shares),
        lost_race_rate_max=draw(shares),
        hit_rate_min=draw(shares),
        profit_tolerance=draw(shares),
        gas_tolerance=draw(st.decimals(min_value=0, max_value=2, places=2)),
    )


levels = st.builds(Levels, money, shares)


@settings(max_examples=400, deadline=None)
@given(windows(), levels, policies())
def test_never_outside_the_bounds_and_at_most_one_step(s: WindowStats, cur: Levels, p: Policy) -> None:
    d = next_levels(s, cur, p)
    lo, hi = p.profit_bounds
    assert lo <= d.levels.min_profit_usd <= hi
    assert p.share_bounds[0] <= d.levels.gas_share <= p.share_bounds[1]
    start = Levels(
        min(max(cur.min_profit_usd, lo), hi), min(max(cur.gas_share, p.share_bounds[0]), p.share_bounds[1])
    )
    assert abs(d.levels.min_profit_usd - start.min_profit_usd) <= p.profit_step
    assert abs(d.levels.gas_share - start.gas_share) <= p.share_step
    assert d.notes, "every decision says why"
    if s.sent < p.min_sample:
        assert d.levels == start, "no change without the minimum sample"


@settings(max_examples=400, deadline=None)
@given(windows(), levels, policies(), st.integers(1, 10))
def test_more_reverts_never_lower_the_min_profit(s: WindowStats, cur: Levels, p: Policy, k: int) -> None:
    worse = WindowStats(
        s.sent + k, s.included, s.reverted + k, s.lost_races, s.expected_usd, s.realized_usd,
        s.gas_expected_usd, s.gas_spent_usd,
    )  # fmt: skip
    if s.sent < p.min_sample:
        return  # below the sample nothing moves, either way
    assert next_levels(worse, cur, p).levels.min_profit_usd >= next_levels(s, cur, p).levels.min_profit_usd


@settings(max_examples=400, deadline=None)
@given(windows(), levels, policies(), st.decimals(min_value="0.01", max_value=500, places=2))
def test_less_realized_never_lowers_the_min_profit(
    s: WindowStats, cur: Levels, p: Policy, cut: Decimal
) -> None:
    worse = WindowStats(
        s.sent, s.included, s.reverted, s.lost_races, s.expected_usd, max(D(0), s.realized_usd - cut),
        s.gas_expected_usd, s.gas_spent_usd,
    )  # fmt: skip
    assert next_levels(worse, cur, p).levels.min_profit_usd >= next_levels(s, cur, p).levels.min_profit_usd


@settings(max_examples=400, deadline=None)
@given(windows(), levels, policies(), st.decimals(min_value="0.01", max_value=500, places=2))
def test_more_gas_paid_never_lowers_the_min_profit(
    s: WindowStats, cur: Levels, p: Policy, more: Decimal
) -> None:
    if s.gas_spent_usd is None:
        return
    worse = WindowStats(
        s.sent, s.included, s.reverted, s.lost_races, s.expected_usd, s.realized_usd,
        s.gas_expected_usd, s.gas_spent_usd + more,
    )  # fmt: skip
    assert next_levels(worse, cur, p).levels.min_profit_usd >= next_levels(s, cur, p).levels.min_profit_usd


@settings(max_examples=400, deadline=None)
@given(windows(), levels, policies(), st.integers(1, 10))
def test_more_lost_races_never_lower_the_gas_share(s: WindowStats, cur: Levels, p: Policy, k: int) -> None:
    if s.sent < p.min_sample:
        return
    worse = WindowStats(
        s.sent + k, s.included, s.reverted, s.lost_races + k, s.expected_usd, s.realized_usd,
        s.gas_expected_usd, s.gas_spent_usd,
    )  # fmt: skip
    assert next_levels(worse, cur, p).levels.gas_share >= next_levels(s, cur, p).levels.gas_share


@settings(max_examples=200, deadline=None)
@given(windows(), levels, policies())
def test_repeated_updates_stay_in_bounds_and_settle(s: WindowStats, cur: Levels, p: Policy) -> None:
    """The same window applied again and again walks to a fixed point inside the bounds, never oscillates."""
    assume((p.profit_bounds[1] - p.profit_bounds[0]) / p.profit_step < 300)
    assume((p.share_bounds[1] - p.share_bounds[0]) / p.share_step < 300)
    seen = [cur]
    for _ in range(700):
        nxt = next_levels(s, seen[-1], p).levels
        if nxt == seen[-1]:
            break
        seen.append(nxt)
    else:
        pytest.fail(f"no fixed point: {seen[-3:]}")
    assert p.profit_bounds[0] <= seen[-1].min_profit_usd <= p.profit_bounds[1]
