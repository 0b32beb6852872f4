"""Morpho Blue math against plain big-int references written from the Solidity (floor = //, ceil = -(-a//b)),
the liquidation search against its own definition, and the event-sourced state against the math."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address
from hypothesis import assume, given
from hypothesis import strategies as st

from liqbot.contracts import topic
from liqbot.core.fixed import MAX_UINT256, WAD
from liqbot.harness.devnet.deploy_more import morpho_market_id
from liqbot.protocols.morpho_blue import events as ev
from liqbot.protocols.morpho_blue.math import (
    HEALTHY_POSITION,
    INCONSISTENT_INPUT,
    UNDERFLOW,
    Market,
    MarketParams,
    MorphoRevertError,
    Position,
    accrue_interest,
    health_factor,
    is_healthy,
    liquidate,
    liquidation_incentive_factor,
    max_seized_assets,
)
from liqbot.protocols.morpho_blue.state import MorphoState

SCALE = 10**36
LLTVS = [0, 385 * 10**15, 625 * 10**15, 77 * 10**16, 86 * 10**16, 915 * 10**15, 945 * 10**15, 98 * 10**16]
A1, A2, A3, A4 = (f"0x{i:040x}" for i in (0xA1, 0xA2, 0xA3, 0xA4))
MID = "0x" + "ab" * 32


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --- references, straight from MathLib / SharesMathLib / Morpho.sol -----------------------------------
def ref_lif(lltv: int) -> int:
    return min(115 * 10**16, WAD * WAD // (WAD - 3 * 10**17 * (WAD - lltv) // WAD))


def ref_borrowed(shares: int, tba: int, tbs: int) -> int:
    return ceil_div(shares * (tba + 1), tbs + 10**6)


def ref_healthy(coll: int, price: int, lltv: int, shares: int, tba: int, tbs: int) -> bool:
    return coll * price // SCALE * lltv // WAD >= ref_borrowed(shares, tba, tbs)


def ref_repaid_shares(seized: int, price: int, lltv: int, tba: int, tbs: int) -> int:
    quoted = ceil_div(seized * price, SCALE)
    return ceil_div(ceil_div(quoted * WAD, ref_lif(lltv)) * (tbs + 10**6), tba + 1)


# --- strategies ----------------------------------------------------------------------------------------
@st.composite
def markets(draw: st.DrawFn) -> Market:
    tba = draw(st.one_of(st.integers(0, 10**6), st.integers(10**6, 10**30)))
    # share price between 1e-6 (fresh market) and ~1e-3 assets per share (heavily accrued)
    tbs = tba * 10**6 * draw(st.integers(1, 1000)) // 1000 + draw(st.integers(0, 10**6))
    tsa = tba + draw(st.integers(0, 10**30))
    tss = tsa * 10**6 + draw(st.integers(0, 10**12))
    return Market(tsa, tss, tba, tbs, draw(st.integers(1, 2**40)), draw(st.integers(0, 25 * 10**16)))


@st.composite
def unhealthy(draw: st.DrawFn) -> tuple[Market, Position, int, int]:
    """A market and a position the contract would liquidate: HF drawn in (0, 1)."""
    m = draw(markets())
    assume(m.total_borrow_shares > 0)
    shares = max(1, m.total_borrow_shares * draw(st.integers(1, 10**6)) // 10**6)  # a share of the market
    lltv = draw(st.sampled_from(LLTVS[1:]))
    borrowed = ref_borrowed(shares, m.total_borrow_assets, m.total_borrow_shares)
    coll = draw(st.integers(1, 2**128 - 1))
    # the oracle price that puts the position at HF = permille/1000 (bad debt below ~LLTV·LIF)
    permille = draw(st.one_of(st.integers(1, 999), st.integers(850, 999)))
    price = borrowed * permille * SCALE * WAD // (1000 * coll * lltv)
    assume(price > 0)
    assume(not ref_healthy(coll, price, lltv, shares, m.total_borrow_assets, m.total_borrow_shares))
    return m, Position(0, shares, coll), price, lltv


# --- the constants and the id --------------------------------------------------------------------------
def test_incentive_factor_known_values() -> None:
    assert liquidation_incentive_factor(86 * 10**16) == 1_043_841_336_116_910_229  # 1/(1-0.3*0.14)
    assert liquidation_incentive_factor(0) == 115 * 10**16  # capped
    assert [liquidation_incentive_factor(x) for x in LLTVS] == [ref_lif(x) for x in LLTVS]


def test_market_id_is_keccak_of_abi_encoded_params() -> None:
    p = MarketParams(A1, A2, A3, A4, 86 * 10**16)
    assert p.id == morpho_market_id(A1, A2, A3, A4, 86 * 10**16)


# --- accrual -------------------------------------------------------------------------------------------
@given(markets(), st.integers(0, 10**11), st.integers(0, 10 * 365 * 86400))
def test_accrue_interest_matches_reference(m: Market, rate: int, elapsed: int) -> None:
    a = accrue_interest(m, rate, m.last_update + elapsed)
    if elapsed == 0:
        assert a.market == m and a.interest == a.fee_shares == 0
        return
    x = rate * elapsed
    taylor = x + x * x // (2 * WAD) + (x * x // (2 * WAD)) * x // (3 * WAD)
    interest = m.total_borrow_assets * taylor // WAD
    tsa = m.total_supply_assets + interest
    fee_amount = interest * m.fee // WAD
    fee_shares = fee_amount * (m.total_supply_shares + 10**6) // (tsa - fee_amount + 1) if m.fee else 0
    assert a.interest == interest and a.fee_shares == fee_shares
    assert a.market == Market(
        tsa, m.total_supply_shares + fee_shares, m.total_borrow_assets + interest, m.total_borrow_shares,
        m.last_update + elapsed, m.fee,
    )  # fmt: skip


def test_accrue_without_irm_only_stamps_and_past_timestamp_reverts() -> None:
    m = Market(10**12, 10**18, 10**11, 10**17, 1000, 0)
    assert accrue_interest(m, 10**10, 2000, has_irm=False).market == Market(
        10**12, 10**18, 10**11, 10**17, 2000
    )
    with pytest.raises(MorphoRevertError, match=UNDERFLOW):
        accrue_interest(m, 10**10, 999)


# --- health --------------------------------------------------------------------------------------------
@given(
    markets(),
    st.integers(0, 2**128 - 1),
    st.integers(0, 10**40),
    st.integers(0, 10**45),
    st.sampled_from(LLTVS),
)
def test_health_matches_reference(m: Market, coll: int, shares: int, price: int, lltv: int) -> None:
    shares = min(shares, m.total_borrow_shares)
    pos = Position(0, shares, coll)
    healthy = ref_healthy(coll, price, lltv, shares, m.total_borrow_assets, m.total_borrow_shares)
    assert is_healthy(pos, m, price, lltv) == healthy
    hf = health_factor(pos, m, price, lltv)
    assert (hf >= WAD) == healthy
    if shares == 0 or ref_borrowed(shares, m.total_borrow_assets, m.total_borrow_shares) == 0:
        assert hf == MAX_UINT256


# --- liquidation ---------------------------------------------------------------------------------------
@given(unhealthy(), st.integers(1, 10**6))
def test_seized_branch_matches_reference(case: tuple[Market, Position, int, int], per_million: int) -> None:
    m, pos, price, lltv = case
    seized = max(1, pos.collateral * per_million // 10**6)
    tba, tbs = m.total_borrow_assets, m.total_borrow_shares
    repaid = ref_repaid_shares(seized, price, lltv, tba, tbs)
    if repaid > pos.borrow_shares:
        with pytest.raises(MorphoRevertError, match=UNDERFLOW):
            liquidate(m, pos, price, lltv, seized, 0)
        return
    liq = liquidate(m, pos, price, lltv, seized, 0)
    assert (liq.seized_assets, liq.repaid_shares) == (seized, repaid)
    assert liq.repaid_assets == ref_borrowed(repaid, tba, tbs)
    assert liq.position.collateral == pos.collateral - seized
    if liq.position.collateral == 0:  # bad debt: whatever shares remain are written off
        left = pos.borrow_shares - repaid
        tba_after = max(0, tba - liq.repaid_assets)
        assert liq.bad_debt_shares == left and liq.position.borrow_shares == 0
        assert liq.bad_debt_assets == min(tba_after, ref_borrowed(left, tba_after, tbs - repaid))
    else:
        assert liq.bad_debt_shares == liq.bad_debt_assets == 0
        assert liq.position.borrow_shares == pos.borrow_shares - repaid


@given(unhealthy(), st.integers(1, 10**6))
def test_shares_branch_matches_reference(case: tuple[Market, Position, int, int], per_million: int) -> None:
    m, pos, price, lltv = case
    shares = max(1, pos.borrow_shares * per_million // 10**6)
    tba, tbs = m.total_borrow_assets, m.total_borrow_shares
    seized = (shares * (tba + 1) // (tbs + 10**6)) * ref_lif(lltv) // WAD * SCALE // price
    if seized > pos.collateral:
        # `collateral -= seizedAssets.toUint128()`: the cast runs first, so a seizure past 2**128 - 1 reverts
        # with Morpho's "max uint128 exceeded" before the subtraction can underflow.
        why = "max uint128 exceeded" if seized >= 2**128 else UNDERFLOW
        with pytest.raises(MorphoRevertError, match=why):
            liquidate(m, pos, price, lltv, 0, shares)
        return
    liq = liquidate(m, pos, price, lltv, 0, shares)
    assert (liq.seized_assets, liq.repaid_shares, liq.repaid_assets) == (
        seized,
        shares,
        ref_borrowed(shares, tba, tbs),
    )


@given(unhealthy())
def test_max_seized_is_the_largest_seizure_that_does_not_revert(
    case: tuple[Market, Position, int, int],
) -> None:
    m, pos, price, lltv = case
    s = max_seized_assets(m, pos, price, lltv)
    assert 0 <= s <= pos.collateral
    if s:
        liq = liquidate(m, pos, price, lltv, s, 0)
        assert liq.repaid_shares <= pos.borrow_shares
    if s < pos.collateral:  # one more unit burns more shares than the position owes
        with pytest.raises(MorphoRevertError, match=UNDERFLOW):
            liquidate(m, pos, price, lltv, s + 1, 0)


def test_liquidate_refuses_healthy_positions_and_inconsistent_input() -> None:
    m = Market(10**12, 10**18, 10**11, 10**17, 1, 0)
    pos = Position(0, 10**15, 10**18)  # 1e9 units borrowed against 1e18 collateral at price 1e36
    with pytest.raises(MorphoRevertError, match=HEALTHY_POSITION):
        liquidate(m, pos, SCALE, 86 * 10**16, 1, 0)
    with pytest.raises(MorphoRevertError, match=INCONSISTENT_INPUT):
        liquidate(m, pos, 1, 86 * 10**16, 1, 1)


# --- events and state ----------------------------------------------------------------------------------
def _log(event: str, indexed: list[str], types: list[str], values: Sequence[object]) -> dict[str, object]:
    topics = [topic("Morpho", event), MID, *("0x" + "00" * 12 + a[2:] for a in indexed)]
    return {"topics": topics, "data": "0x" + encode(types, values).hex()}


def _state(m: Market) -> MorphoState:
    return MorphoState("0x" + "00" * 20, {MID: MarketParams(A1, A2, A3, A4, 86 * 10**16)}, {MID: m})


@given(unhealthy(), st.integers(1, 10**6), st.booleans())
def test_state_applies_liquidate_events_as_the_contract_does(
    case: tuple[Market, Position, int, int], per_million: int, all_collateral: bool
) -> None:
    m, pos, price, lltv = case
    seized = pos.collateral if all_collateral else max(1, pos.collateral * per_million // 10**6)
    try:
        liq = liquidate(m, pos, price, lltv, seized, 0)
    except MorphoRevertError:
        return
    state = _state(m)
    state.positions[(MID, to_checksum_address(A2))] = pos
    words = [
        liq.repaid_assets,
        liq.repaid_shares,
        liq.seized_assets,
        liq.bad_debt_assets,
        liq.bad_debt_shares,
    ]
    log = _log("Liquidate", [A1, A2], ["uint256"] * 5, words)
    event = ev.decode_log(log)
    assert event == ev.Liquidate(MID, to_checksum_address(A2), *words)
    assert ev.positions_in(log) == [(MID, to_checksum_address(A2))]
    state.apply(event, m.last_update)
    assert state.markets[MID] == liq.market
    assert state.positions[(MID, to_checksum_address(A2))] == liq.position


def test_state_follows_each_event_kind() -> None:
    m0 = Market(0, 0, 0, 0, 100, 0)
    state = _state(m0)
    who = to_checksum_address(A3)
    state.positions[(MID, who)] = Position()
    logs = [
        (_log("Supply", [A1, A3], ["uint256", "uint256"], [1000, 10**9]), 101),
        (_log("SupplyCollateral", [A1, A3], ["uint256"], [5 * 10**18]), 101),
        (_log("Borrow", [A3, A1], ["address", "uint256", "uint256"], [A1, 400, 4 * 10**8]), 102),
        (_log("AccrueInterest", [], ["uint256", "uint256", "uint256"], [10**9, 7, 0]), 103),
        (_log("Repay", [A1, A3], ["uint256", "uint256"], [410, 4 * 10**8]), 103),  # 1 over the total
        (_log("WithdrawCollateral", [A3, A1], ["address", "uint256"], [A1, 10**18]), 104),
        (_log("Withdraw", [A3, A1], ["address", "uint256", "uint256"], [A1, 500, 5 * 10**8]), 105),
        (_log("SetFee", [], ["uint256"], [10**17]), 106),
    ]
    for log, ts in logs:
        event = ev.decode_log(log)
        assert event is not None
        state.apply(event, ts)
    assert state.markets[MID] == Market(1007 - 500, 5 * 10**8, 0, 0, 106, 10**17)
    assert state.positions[(MID, who)] == Position(5 * 10**8, 0, 4 * 10**18)
