"""Aave V3 pure math without a chain: bitmaps, interest, account data, and liquidation amounts per revision.

The v3.0 branch is also proven to the wei against the deployed contracts (tests/integration/
test_aave_math_devnet.py). The v3.3+ branches are checked here against worked examples taken from
aave-dao/aave-v3-origin: tests/protocol/pool/Pool.Liquidations.t.sol, Pool.Liquidations.CloseFactor.t.sol
(market from tests/mocks/AaveV3TestListing.sol: USDX $1 / 6 dec, WBTC $27,000 / 8 dec, WETH $1,800 / 18 dec,
LT 86%, bonus 105%, protocol fee 10%) and docs/3.7/liquidation-rounding.md.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqbot.core.fixed import MAX_UINT256, RAY, WAD, MathRevertError, percent_mul, ray_mul, wad_div
from liqbot.protocols.aave_v3 import (
    AaveRevision,
    EModeCategory,
    LiquidationInputs,
    LiquidationRevertError,
    Market,
    ReserveConfig,
    ReserveState,
    StableDebt,
    UserConfig,
    UserPosition,
    UserReserve,
    calculate_available_collateral_to_liquidate,
    calculate_compounded_interest,
    calculate_linear_interest,
    liquidation_inputs,
    max_liquidatable_debt,
    quote_liquidation,
    user_account_data,
)
from liqbot.protocols.aave_v3.liquidation import check_price_oracle_sentinel, collateral_balance, reserve_debt

YEAR = 365 * 86_400
V30, V33, V35, V37 = AaveRevision.V3_0, AaveRevision.V3_3, AaveRevision.V3_5, AaveRevision.V3_7

# --- configuration bitmaps ---------------------------------------------------------------------------

# WETH on the devnet: LTV 80%, LT 82.5%, bonus 5%, 18 decimals, active, borrowing and flash loans on,
# reserve factor 15%, protocol fee 10%, bit by bit as ReserveConfiguration.sol lays them out.
WETH_BITS = (
    8000 | 8250 << 16 | 10500 << 32 | 18 << 48 | 1 << 56 | 1 << 58 | 1 << 63 | 1500 << 64 | 1000 << 152
)


def test_decode_a_known_configuration() -> None:
    c = ReserveConfig.decode(WETH_BITS)
    assert (c.ltv, c.liquidation_threshold, c.liquidation_bonus, c.decimals) == (8000, 8250, 10500, 18)
    assert c.active and c.borrowing_enabled and c.flash_loan_enabled
    assert not (c.frozen or c.paused or c.stable_borrowing_enabled or c.siloed_borrowing)
    assert (c.reserve_factor, c.liquidation_protocol_fee, c.emode_category, c.debt_ceiling) == (
        1500,
        1000,
        0,
        0,
    )
    assert c.unit == 10**18 and c.encode() == WETH_BITS


def test_every_field_sits_where_the_solidity_masks_say() -> None:
    """Each field set to all ones covers exactly the zero bits of its ReserveConfiguration.sol mask."""
    masks = {
        "ltv": 0xFFFF,
        "liquidation_threshold": 0xFFFF << 16,
        "decimals": 0xFF << 48,
        "paused": 1 << 60,
        "borrow_cap": (2**36 - 1) << 80,
        "supply_cap": (2**36 - 1) << 116,
        "liquidation_protocol_fee": 0xFFFF << 152,
        "emode_category": 0xFF << 168,
        "unbacked_mint_cap": (2**36 - 1) << 176,
        "debt_ceiling": (2**40 - 1) << 212,
    }
    zero = ReserveConfig.decode(0)
    for name, mask in masks.items():
        full = True if isinstance(getattr(zero, name), bool) else mask >> (mask & -mask).bit_length() - 1
        assert replace(zero, **{name: full}).encode() == mask, name


@given(st.integers(0, MAX_UINT256))
def test_bitmap_round_trip(data: int) -> None:
    config = ReserveConfig.decode(data)
    assert config.encode() == data & (2**252 - 1)  # bits 252..255 are unused
    assert ReserveConfig.decode(config.encode()) == config


def test_encode_rejects_a_field_too_wide() -> None:
    with pytest.raises(ValueError, match="ltv"):
        replace(ReserveConfig.decode(0), ltv=2**16).encode()


def test_user_configuration_bits() -> None:
    # Borrowing reserve 0, collateral 1, both on 3, collateral on 127 (the last id).
    data = 1 << 0 | 1 << 3 | 1 << 6 | 1 << 7 | 1 << 255
    u = UserConfig(data)
    assert u.is_borrowing(0) and not u.is_using_as_collateral(0)
    assert u.is_using_as_collateral(1) and not u.is_borrowing(1)
    assert u.is_borrowing(3) and u.is_using_as_collateral(3)
    assert not u.is_using_as_collateral_or_borrowing(2)
    assert u.is_using_as_collateral(127)
    assert u.reserve_ids() == [0, 1, 3, 127]
    assert u.with_flags(3, borrowing=False).data == data & ~(1 << 6)
    assert u.with_flags(2, collateral=True).is_using_as_collateral(2)
    with pytest.raises(MathRevertError):
        u.is_borrowing(128)  # Errors.INVALID_RESERVE_INDEX


# --- interest and indices ----------------------------------------------------------------------------


def test_linear_interest() -> None:
    assert calculate_linear_interest(5 * RAY // 100, 1_000, 1_000 + YEAR) == RAY + 5 * RAY // 100
    assert calculate_linear_interest(RAY, 0, 1) == RAY + RAY // YEAR
    with pytest.raises(MathRevertError):
        calculate_linear_interest(RAY, 10, 9)  # block.timestamp before the last update


def test_compounded_interest_terms() -> None:
    rate = 4 * RAY // 100
    assert calculate_compounded_interest(rate, 50, 50) == RAY
    assert calculate_compounded_interest(rate, 0, 1) == RAY + rate // YEAR  # n=1: only the linear term
    p2 = ray_mul(rate, rate) // (YEAR * YEAR)
    assert calculate_compounded_interest(rate, 0, 2) == RAY + rate * 2 // YEAR + 2 * 1 * p2 // 2
    p3 = ray_mul(p2, rate) // YEAR
    n = 30 * 86_400
    expected = RAY + rate * n // YEAR + n * (n - 1) * p2 // 2 + n * (n - 1) * (n - 2) * p3 // 6
    assert calculate_compounded_interest(rate, 0, n) == expected
    # A year at 4%: between the linear 1.04 and e^0.04 = 1.0408108.
    year = calculate_compounded_interest(rate, 0, YEAR)
    assert RAY + rate < year < 1_040_811 * RAY // 1_000_000


def reserve(rid: int, config: int, **kw: int) -> ReserveState:
    base = {"li": RAY, "lr": 0, "vi": RAY, "vr": 0, "sr": 0, "lu": 1_000} | kw
    decoded = ReserveConfig.decode(config)
    return ReserveState(rid, decoded, base["li"], base["lr"], base["vi"], base["vr"], base["sr"], base["lu"])


def test_normalized_income_and_debt() -> None:
    r = reserve(0, WETH_BITS, li=RAY + 123, lr=3 * RAY // 100, vi=RAY + 456, vr=5 * RAY // 100, lu=1_000)
    assert r.normalized_income(1_000) == RAY + 123 and r.normalized_debt(1_000) == RAY + 456
    later = 1_000 + 86_400
    assert r.normalized_income(later) == ray_mul(
        calculate_linear_interest(r.current_liquidity_rate, 1_000, later), RAY + 123
    )
    assert r.normalized_debt(later) == ray_mul(
        calculate_compounded_interest(r.current_variable_borrow_rate, 1_000, later), RAY + 456
    )


def test_stable_debt_balance() -> None:
    assert StableDebt().balance(10**9) == 0
    s = StableDebt(principal=1_000 * WAD, rate=7 * RAY // 100, last_update_timestamp=500)
    assert s.balance(500) == 1_000 * WAD
    assert s.balance(500 + YEAR) == ray_mul(
        1_000 * WAD, calculate_compounded_interest(7 * RAY // 100, 500, 500 + YEAR)
    )


# --- GenericLogic.calculateUserAccountData (v3.0) ----------------------------------------------------

USDC_BITS = 7700 | 8000 << 16 | 10450 << 32 | 6 << 48 | 1 << 56 | 1 << 58 | 1000 << 152 | 1 << 168
DAI_BITS = 7500 | 8000 << 16 | 10500 << 32 | 18 << 48 | 1 << 56 | 1 << 58 | 1000 << 152 | 1 << 168
STABLES = EModeCategory(9300, 9500, 10100)


def market(prices: dict[int, int] | None = None, emode: EModeCategory = STABLES) -> Market:
    reserves = {0: reserve(0, WETH_BITS), 1: reserve(1, USDC_BITS), 3: reserve(3, DAI_BITS)}
    return Market(reserves, prices or {0: 3_000 * 10**8, 1: 10**8, 3: 10**8}, {1: emode})


def position(
    flags: dict[int, tuple[bool, bool]], balances: dict[int, UserReserve], emode: int = 0
) -> UserPosition:
    config = UserConfig(0)
    for rid, (borrowing, collateral) in flags.items():
        config = config.with_flags(rid, borrowing=borrowing, collateral=collateral)
    return UserPosition(config, emode, balances)


def test_account_data_worked_example() -> None:
    """10 WETH at $3,000 (LT 82.5%, LTV 80%) against 20,000 USDC."""
    p = position(
        {0: (False, True), 1: (True, False)}, {0: UserReserve(10 * WAD), 1: UserReserve(0, 20_000 * 10**6)}
    )
    d = user_account_data(market(), p, 1_000)
    assert (d.total_collateral_base, d.total_debt_base) == (30_000 * 10**8, 20_000 * 10**8)
    assert (d.ltv, d.current_liquidation_threshold) == (8000, 8250)
    assert d.available_borrows_base == 4_000 * 10**8
    assert (
        d.health_factor == wad_div(percent_mul(30_000 * 10**8, 8250), 20_000 * 10**8) == 12375 * WAD // 10_000
    )


def test_account_data_emode_and_its_price_source() -> None:
    """eMode LT/LTV apply to in-category collateral; a price source reprices every in-category asset."""
    p = position(
        {0: (False, True), 3: (False, True), 1: (True, False)},
        {0: UserReserve(WAD), 3: UserReserve(1_000 * WAD), 1: UserReserve(0, 3_000 * 10**6)},
        emode=1,
    )
    d = user_account_data(market(), p, 1_000)
    assert d.total_collateral_base == 4_000 * 10**8
    assert d.current_liquidation_threshold == (3_000 * 8250 + 1_000 * 9500) // 4_000
    assert d.ltv == (3_000 * 8000 + 1_000 * 9300) // 4_000
    repriced = user_account_data(market(emode=replace(STABLES, price=99_000_000)), p, 1_000)
    assert repriced.total_collateral_base == 3_000 * 10**8 + 990 * 10**8  # DAI at the source's $0.99
    assert repriced.total_debt_base == 2_970 * 10**8  # and so is the USDC debt


def test_account_data_collateral_flags_zero_ltv_and_dropped_reserves() -> None:
    balances = {0: UserReserve(WAD), 3: UserReserve(1_000 * WAD), 1: UserReserve(0, 100 * 10**6)}
    flags = {0: (False, True), 3: (False, False), 1: (True, False)}
    d = user_account_data(market(), position(flags, balances), 1_000)
    assert d.total_collateral_base == 3_000 * 10**8  # DAI supplied but not enabled as collateral
    zero_ltv = replace(market(), reserves={**market().reserves, 0: reserve(0, WETH_BITS & ~0xFFFF)})
    d = user_account_data(zero_ltv, position(flags, balances), 1_000)
    assert d.has_zero_ltv_collateral and d.ltv == 0 and d.available_borrows_base == 0
    dropped = replace(market(), reserves={k: v for k, v in market().reserves.items() if k != 1})
    assert user_account_data(dropped, position(flags, balances), 1_000).total_debt_base == 0


def test_account_data_of_an_empty_user() -> None:
    d = user_account_data(market(), position({}, {}), 1_000)
    assert (d.total_collateral_base, d.total_debt_base, d.health_factor) == (0, 0, MAX_UINT256)


# --- liquidation: close factor and amounts -----------------------------------------------------------


def inputs(**kw: int) -> LiquidationInputs:
    """WETH $2,400 collateral against USDC debt, indices at 1, 5% bonus, 10% protocol fee."""
    base = {
        "health_factor": 97 * WAD // 100,
        "total_collateral_base": 0,
        "total_debt_base": 0,
        "collateral_scaled_balance": 10 * WAD,
        "collateral_index": RAY,
        "debt_scaled_balance": 20_000 * 10**6,
        "debt_index": RAY,
        "collateral_price": 2_400 * 10**8,
        "debt_price": 10**8,
        "collateral_unit": 10**18,
        "debt_unit": 10**6,
        "liquidation_bonus": 10500,
        "liquidation_protocol_fee": 1000,
    }
    return LiquidationInputs(**(base | kw))


def test_v30_close_factor_switches_at_095() -> None:
    at = 95 * WAD // 100
    assert max_liquidatable_debt(V30, inputs(health_factor=at)) == 20_000 * 10**6  # 0.95 itself: 100%
    assert max_liquidatable_debt(V30, inputs(health_factor=at + 1)) == 10_000 * 10**6
    # v3.0 closes a share of stable + variable debt together.
    assert max_liquidatable_debt(V30, inputs(health_factor=at + 1, stable_debt=2 * 10**6)) == 10_001 * 10**6


def test_v30_worked_liquidation() -> None:
    """HF 0.97: half of 20,000 USDC; 10,000 USDC buys 4.1666 WETH, +5% = 4.375 WETH, 10% of the bonus to the
    treasury."""
    q = quote_liquidation(V30, inputs(), MAX_UINT256)
    assert q.debt_to_repay == 10_000 * 10**6
    base = 10**8 * 10_000 * 10**6 * 10**18 // (2_400 * 10**8 * 10**6)  # 4.166666666666666666 WETH
    seized = (base * 10500 + 5_000) // 10_000
    fee = ((seized - (seized * 10_000 + 5_250) // 10500) * 1000 + 5_000) // 10_000
    assert (q.collateral_to_liquidator, q.protocol_fee) == (seized - fee, fee)
    assert (q.collateral_to_liquidator, q.protocol_fee) == (4_354_166_666_666_666_666, 20_833_333_333_333_333)


def test_v30_collateral_runs_out_first() -> None:
    """3 WETH cannot cover half the debt: all of it goes, the debt repaid shrinks to match (percentDiv)."""
    q = quote_liquidation(V30, inputs(collateral_scaled_balance=3 * WAD), MAX_UINT256)
    needed = (2_400 * 10**8 * 3 * WAD * 10**6 // (10**8 * 10**18) * 10_000 + 5_250) // 10500
    assert q.debt_to_repay == needed == 6_857_142_857
    assert q.collateral_to_liquidator + q.protocol_fee == 3 * WAD


def no_fee_example() -> LiquidationInputs:
    """Pool.Liquidations.t.sol::test_liquidate_variable_borrow_no_fee: 1 WBTC supplied, 20,500 USDX borrowed,
    WBTC -16% (_calcPrice: 27,000 → 22,680), WBTC protocol fee set to 0. Indices are still 1 (no warp)."""
    collateral_base, debt_base = 22_680 * 10**8, 20_500 * 10**8
    return LiquidationInputs(
        health_factor=wad_div(percent_mul(collateral_base, 8600), debt_base),  # 0.9514...: above 0.95
        total_collateral_base=collateral_base,
        total_debt_base=debt_base,
        collateral_scaled_balance=10**8,
        collateral_index=RAY,
        debt_scaled_balance=20_500 * 10**6,
        debt_index=RAY,
        collateral_price=22_680 * 10**8,
        debt_price=10**8,
        collateral_unit=10**8,
        debt_unit=10**6,
        liquidation_bonus=10500,
        liquidation_protocol_fee=0,
    )


@pytest.mark.parametrize("rev", [V33, V35, V37])
def test_v33_close_factor_is_half_of_total_debt_when_both_legs_are_large(rev: AaveRevision) -> None:
    i = no_fee_example()
    assert i.health_factor == 951_453_658_536_585_366
    q = quote_liquidation(rev, i, MAX_UINT256)
    # 50% of the $20,500 total debt = 10,250 USDX; at $22,680/WBTC that is 0.45194003 WBTC, +5% = 0.47453703.
    assert (q.max_liquidatable_debt, q.debt_to_repay) == (10_250 * 10**6, 10_250 * 10**6)
    assert (q.collateral_to_liquidator, q.protocol_fee) == (47_453_703, 0)


@pytest.mark.parametrize("rev", [V33, V35, V37])
def test_v33_close_factor_is_100_below_the_thresholds(rev: AaveRevision) -> None:
    """Pool.Liquidations.CloseFactor.t.sol: HF <= 0.95, or either leg under $2,000 (`>=` counts as large)."""
    i = no_fee_example()
    full = 20_500 * 10**6
    assert max_liquidatable_debt(rev, replace(i, health_factor=95 * WAD // 100)) == full
    small = replace(i, collateral_scaled_balance=(2_000 * 10**8 - 1) * 10**8 // (22_680 * 10**8))
    assert (
        max_liquidatable_debt(rev, small) == full
    )  # test_hf_gt_095_supply_lt_threshold_closeFactorShouldBe100
    at_threshold = replace(i, collateral_scaled_balance=2_000 * 10**8 * 10**8 // (22_680 * 10**8) + 1)
    assert max_liquidatable_debt(rev, at_threshold) == 10_250 * 10**6
    assert max_liquidatable_debt(V30, small) == 10_250 * 10**6  # v3.0 never looks at the size


def test_v33_half_is_of_the_total_debt_not_of_this_reserve() -> None:
    """A reserve debt below half the total debt can be liquidated in full even with HF > 0.95."""
    i = replace(no_fee_example(), total_debt_base=50_000 * 10**8)
    assert max_liquidatable_debt(V33, i) == 20_500 * 10**6


def dust_example() -> LiquidationInputs:
    """Pool.Liquidations.CloseFactor.t.sol::test_shouldRevertIfCloseFactorIs100ButCollateralIsBelowThreshold:
    2,000 USDX + 4 WETH ($7,200) supplied, USDX borrowed to HF < 0.93 (_getRequiredBorrowsForHfBelow)."""
    borrowed = percent_mul(9_200 * 10**8, 8601) * WAD // (93 * WAD // 100) * 10**6 // 10**8
    return LiquidationInputs(
        health_factor=wad_div(percent_mul(9_200 * 10**8, 8600), borrowed * 100),
        total_collateral_base=9_200 * 10**8,
        total_debt_base=borrowed * 100,
        collateral_scaled_balance=2_000 * 10**6,
        collateral_index=RAY,
        debt_scaled_balance=borrowed,
        debt_index=RAY,
        collateral_price=10**8,
        debt_price=10**8,
        collateral_unit=10**6,
        debt_unit=10**6,
        liquidation_bonus=10500,
        liquidation_protocol_fee=1000,
    )


@pytest.mark.parametrize("rev", [V33, V35, V37])
def test_v33_must_not_leave_dust(rev: AaveRevision) -> None:
    i = dust_example()
    assert i.debt_scaled_balance == 8_508_516_129 and i.health_factor < 95 * WAD // 100
    # (2,000 / 2) - 44 USDX: seizing 1,003.8 USDX leaves $996.2, under MIN_LEFTOVER_BASE ($1,000).
    with pytest.raises(LiquidationRevertError, match="MUST_NOT_LEAVE_DUST") as err:
        quote_liquidation(rev, i, 956 * 10**6)
    assert err.value.reason == "MUST_NOT_LEAVE_DUST"
    q = quote_liquidation(rev, i, 950 * 10**6)  # 997.5 seized: $1,002.5 left, allowed
    assert q.collateral_to_liquidator + q.protocol_fee == 997_500_000
    assert (
        quote_liquidation(V30, i, 956 * 10**6).collateral_to_liquidator == 999_020_000
    )  # v3.0 has no such rule


def test_v33_dust_when_half_the_debt_leaves_less_than_1000() -> None:
    """CloseFactor.t.sol::test_liquidationdataprovider_edge_range: 8,000 USDX supplied, 4,200 USDX borrowed,
    then WETH borrowed to HF < 0.98; liquidating USDX with type(uint).max reverts MustNotLeaveDust."""
    weth_base = percent_mul(8_000 * 10**8, 8601) * WAD // (98 * WAD // 100) - 4_200 * 10**8
    weth_debt = weth_base * 10**18 // (1_800 * 10**8)
    total_debt = 4_200 * 10**8 + weth_debt * 1_800 * 10**8 // 10**18
    i = LiquidationInputs(
        health_factor=wad_div(percent_mul(8_000 * 10**8, 8600), total_debt),
        total_collateral_base=8_000 * 10**8,
        total_debt_base=total_debt,
        collateral_scaled_balance=8_000 * 10**6,
        collateral_index=RAY,
        debt_scaled_balance=4_200 * 10**6,
        debt_index=RAY,
        collateral_price=10**8,
        debt_price=10**8,
        collateral_unit=10**6,
        debt_unit=10**6,
        liquidation_bonus=10500,
        liquidation_protocol_fee=1000,
    )
    assert 95 * WAD // 100 < i.health_factor < 98 * WAD // 100
    assert max_liquidatable_debt(V33, i) == percent_mul(total_debt, 5000) * 10**6 // 10**8  # ~3,510.6 USDX
    with pytest.raises(LiquidationRevertError, match="MUST_NOT_LEAVE_DUST"):
        quote_liquidation(V33, i, MAX_UINT256)  # leaves ~$689 of USDX debt


def test_v37_rounding_changes() -> None:
    """docs/3.7/liquidation-rounding.md: floor the seized amount and the base portion, ceil the fee.
    10 debt at equal prices: v3.3 seizes percentMul(10, 105%) = 10.5 -> 11; v3.7 floors to 10 and rounds the
    0.1 fee up to 1."""
    args = {
        "collateral_price": 10**8,
        "collateral_unit": 1,
        "debt_price": 10**8,
        "debt_unit": 1,
        "debt_to_cover": 10,
        "collateral_balance": 100,
        "liquidation_bonus": 10500,
        "liquidation_protocol_fee": 1000,
    }
    old = calculate_available_collateral_to_liquidate(V33, **args)
    new = calculate_available_collateral_to_liquidate(V37, **args)
    assert (old.collateral_amount, old.debt_amount, old.protocol_fee) == (11, 10, 0)
    assert (new.collateral_amount, new.debt_amount, new.protocol_fee) == (9, 10, 1)


def test_v35_debt_needed_rounds_up_and_balances_round_by_direction() -> None:
    """v3.5 TokenMath: aToken balance floors, vToken balance ceils; debtAmountNeeded uses percentDivCeil."""
    i = inputs(
        collateral_scaled_balance=3,
        collateral_index=15 * RAY // 10,
        debt_scaled_balance=1,
        debt_index=12 * RAY // 10,
    )
    assert (collateral_balance(V33, i), collateral_balance(V35, i)) == (5, 4)  # 4.5: half up vs floor
    assert (reserve_debt(V33, i), reserve_debt(V35, i)) == (1, 2)  # 1.2: half up vs ceil
    args = {
        "collateral_price": 10**8,
        "collateral_unit": 1,
        "debt_price": 10**8,
        "debt_unit": 1,
        "debt_to_cover": 100,
        "collateral_balance": 12,
        "liquidation_bonus": 10500,
        "liquidation_protocol_fee": 0,
    }
    # All 12 of the collateral is seized; the debt it pays for is 12 / 1.05 = 11.43: half up 11, ceil 12.
    assert calculate_available_collateral_to_liquidate(V33, **args).debt_amount == 11
    assert calculate_available_collateral_to_liquidate(V35, **args).debt_amount == 12
    exact = args | {"collateral_balance": 21}  # 21 / 1.05 = 20 exactly: no rounding either way
    assert calculate_available_collateral_to_liquidate(V33, **exact).debt_amount == 20
    assert calculate_available_collateral_to_liquidate(V35, **exact).debt_amount == 20


def v37_example(
    scaled: int, index: int, scaled_debt: int, debt_index: int, price: int, lt: int, fee: int
) -> LiquidationInputs:
    """A USDX-only position with the indices set by AaveSetters in Pool.Liquidations.t.sol (v3.7 rules)."""
    balance, debt = scaled * index // RAY, -(-scaled_debt * debt_index // RAY)
    coll_base, debt_base = balance * price // 10**6, -(-debt * price // 10**6)
    return LiquidationInputs(
        health_factor=wad_div(coll_base * lt, debt_base) // 10_000,
        total_collateral_base=coll_base,
        total_debt_base=debt_base,
        collateral_scaled_balance=scaled,
        collateral_index=index,
        debt_scaled_balance=scaled_debt,
        debt_index=debt_index,
        collateral_price=price,
        debt_price=price,
        collateral_unit=10**6,
        debt_unit=10**6,
        liquidation_bonus=10500,
        liquidation_protocol_fee=fee,
    )


def test_v37_has_no_collateral_left_counts_ceil_rounded_scaled_amounts() -> None:
    """test_hasNoCollateralLeft_accounts_for_ceil_rounding_sum_exceeds_scaled: scaled 2 at index 5 -> 10,
    debt 1 at 9 -> 9; seize floor(9 * 1.05) = 9, fee 1; rayDivCeil(8, 5) + rayDivCeil(1, 5) = 3 > 2."""
    i = v37_example(2, 5 * RAY, 1, 9 * RAY, 10**17, 8500, 1000)
    q = quote_liquidation(V37, i, 9)
    assert (q.debt_to_repay, q.collateral_to_liquidator, q.has_no_collateral_left) == (9, 8, True)
    assert q.protocol_fee == 0  # the fee transfer is capped at the scaled balance left: 0
    assert not quote_liquidation(V35, i, 9).has_no_collateral_left  # before the v3.7 fix


def test_v37_deficit_when_ceil_rounding_consumes_the_last_collateral() -> None:
    """test_hasNoCollateralLeft_accounts_for_ceil_rounding_single_debt: scaled 3 at 1.5 -> 4, debt 2 at
    2.5 -> 5; repaying 3 consumes all 3 scaled units, so the 2 left of debt becomes deficit."""
    i = v37_example(3, 15 * RAY // 10, 2, 25 * RAY // 10, 10**17, 8500, 1000)
    assert i.health_factor == 68 * WAD // 100
    q = quote_liquidation(V37, i, 3)
    assert (q.debt_to_repay, q.collateral_to_liquidator, q.protocol_fee) == (3, 2, 1)
    assert (q.has_no_collateral_left, q.deficit) == (True, 2)


def test_v37_full_consumption_with_a_100_percent_fee() -> None:
    """test_collateral_bit_remains_after_full_scaled_consumption: LT 50%, fee 100%, scaled 3 at 1.5,
    debt 1 at 3."""
    q = quote_liquidation(V37, v37_example(3, 15 * RAY // 10, 1, 3 * RAY, 10**8, 5000, 10_000), MAX_UINT256)
    assert (q.debt_to_repay, q.collateral_to_liquidator, q.protocol_fee, q.has_no_collateral_left) == (
        3,
        2,
        1,
        True,
    )


def test_reverts_mirror_validate_liquidation_call() -> None:
    with pytest.raises(LiquidationRevertError, match="HEALTH_FACTOR_NOT_BELOW_THRESHOLD"):
        quote_liquidation(V30, inputs(health_factor=WAD), 1)
    with pytest.raises(LiquidationRevertError, match="SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER"):
        quote_liquidation(V33, inputs(debt_scaled_balance=0), 1)
    with pytest.raises(LiquidationRevertError, match="INVALID_BURN_AMOUNT"):
        quote_liquidation(V30, inputs(debt_unit=10**18), 1)  # 1 wei of an 18-decimal debt buys no WETH
    through = quote_liquidation(V30, inputs(debt_unit=10**18), 1, receive_a_token=True)
    assert through.collateral_to_liquidator == 0  # a zero aToken transfer is allowed


def test_a_zero_price_reverts_like_the_contract() -> None:
    """A price source the oracle prices at 0 makes LiquidationLogic divide by zero: a panic on chain."""
    for rev in AaveRevision:
        with pytest.raises(MathRevertError):
            quote_liquidation(rev, inputs(collateral_price=0), 10**6)


def test_price_oracle_sentinel_until_v37() -> None:
    for rev in (V30, V33, V35):
        check_price_oracle_sentinel(rev, 94 * WAD // 100, sentinel_allows=False)  # below 0.95: always allowed
        with pytest.raises(LiquidationRevertError, match="PRICE_ORACLE_SENTINEL_CHECK_FAILED"):
            check_price_oracle_sentinel(rev, 97 * WAD // 100, sentinel_allows=False)
        check_price_oracle_sentinel(rev, 97 * WAD // 100, sentinel_allows=None)  # no sentinel configured
    check_price_oracle_sentinel(V37, 97 * WAD // 100, sentinel_allows=False)  # v3.7 removed the check


def test_liquidation_inputs_apply_emode_bonus_and_price_source() -> None:
    m = market(emode=replace(STABLES, price=99_000_000))
    p = position(
        {3: (False, True), 1: (True, False)}, {3: UserReserve(1_000 * WAD), 1: UserReserve(0, 950 * 10**6)}, 1
    )
    i = liquidation_inputs(m, p, 3, 1, 1_000)
    assert (i.liquidation_bonus, i.collateral_price, i.debt_price) == (10100, 99_000_000, 99_000_000)
    not_collateral = liquidation_inputs(m, p, 0, 1, 1_000)
    with pytest.raises(LiquidationRevertError, match="COLLATERAL_CANNOT_BE_LIQUIDATED"):
        quote_liquidation(V30, replace(not_collateral, health_factor=WAD - 1), MAX_UINT256)
    with pytest.raises(LiquidationRevertError, match="HEALTH_FACTOR"):  # the contract checks the HF first
        quote_liquidation(V30, replace(not_collateral, health_factor=WAD), MAX_UINT256)
    paused = replace(m, reserves={**m.reserves, 1: reserve(1, USDC_BITS | 1 << 60)})
    with pytest.raises(LiquidationRevertError, match="RESERVE_PAUSED"):
        liquidation_inputs(paused, p, 3, 1, 1_000)


@given(
    rev=st.sampled_from(list(AaveRevision)),
    hf=st.integers(0, WAD - 1),
    coll=st.integers(1, 10**30),
    debt=st.integers(1, 10**30),
    cover=st.integers(0, MAX_UINT256),
    price=st.integers(1, 10**14),
    bonus=st.integers(10_001, 11_500),
    fee=st.integers(0, 10_000),
)
def test_a_quote_never_takes_more_than_there_is(
    rev: AaveRevision, hf: int, coll: int, debt: int, cover: int, price: int, bonus: int, fee: int
) -> None:
    i = inputs(
        health_factor=hf,
        collateral_scaled_balance=coll,
        debt_scaled_balance=debt,
        collateral_price=price,
        liquidation_bonus=bonus,
        liquidation_protocol_fee=fee,
        total_debt_base=debt * 100,
    )
    try:
        q = quote_liquidation(rev, i, cover)
    except LiquidationRevertError:
        return
    assert q.debt_to_repay <= min(cover, q.max_liquidatable_debt) <= debt
    assert q.collateral_to_liquidator + q.protocol_fee <= coll
