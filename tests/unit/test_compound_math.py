"""Compound III math against worked examples from Comet's own unit tests, plus properties.

Every example names the compound-finance/comet test it comes from (`test/<file>.ts`, describe › it), read at
commit d5a30b0aaeff7755f1431e87f818990902237b03. Those tests build their market with `makeProtocol` in
`test/helpers.ts`: base USDC (6 decimals, price $1), collaterals COMP (offset 0, 18 decimals, $175), WETH
(1, 18, $3000), WBTC (2, 8, $41000), borrowCF 1 - 1 wei, liquidateCF 1, liquidationFactor 1,
storeFrontPriceFactor 1, targetReserves 0, per-year rates supply 0 / 5% / 200% kink 80%, borrow 0.5% / 10% /
300% kink 80%, indices 1e15. Where the test compares against a value the contract itself computed (a rate it
read back), we compute that value with a reference written here from the test's own formula.

None of this has run against real Comet bytecode: docs/compound_v3.md."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from liqbot.chain.client import ChainClient
from liqbot.protocols.base import AdapterDisabledError
from liqbot.protocols.compound_v3 import (
    BASE_INDEX_SCALE,
    FACTOR_SCALE,
    SECONDS_PER_YEAR,
    Account,
    AssetInfo,
    CometConfig,
    CometRevertError,
    RateModel,
    Totals,
    absorb,
    accrue,
    accrued_interest_indices,
    balance_of,
    borrow_balance_of,
    buy_collateral,
    discount_factor,
    get_borrow_rate,
    get_collateral_reserves,
    get_reserves,
    get_supply_rate,
    get_utilization,
    is_borrow_collateralized,
    is_liquidatable,
    liquidation_margin,
    max_base_for_collateral,
    packed_factor,
    present_value_borrow,
    present_value_supply,
    principal_value,
    principal_value_borrow,
    principal_value_supply,
    quote_collateral,
    repay_and_supply_amount,
)
from liqbot.protocols.compound_v3.adapter import CompoundV3Adapter
from liqbot.protocols.compound_v3.math import (
    DIVISION_BY_ZERO,
    INSUFFICIENT_RESERVES,
    NOT_FOR_SALE,
    NOT_LIQUIDATABLE,
    OVERFLOW,
    PAUSED,
    TIMESTAMP_TOO_LARGE,
    TOO_MUCH_SLIPPAGE,
    signed_mul_price,
)

ONE = FACTOR_SCALE


def exp(value: str | int, decimals: int) -> int:
    """test/helpers.ts `exp(i, d)`: value × 10^d (exact for every value used here)."""
    return int(Fraction(str(value)) * 10**decimals)


def factor(value: str | int) -> int:
    return exp(value, 18)


def px(usd: str | int) -> int:
    """A SimplePriceFeed answer: USD with 8 decimals (makeProtocol's `exp(initialPrice, 8)`)."""
    return exp(usd, 8)


# makeProtocol's default rate model (test/helpers.ts) and the one of test/interest-rate-test.ts.
DEFAULT_RATES = RateModel.from_per_year(
    supply_kink=factor("0.8"),
    supply_base=0,
    supply_slope_low=factor("0.05"),
    supply_slope_high=factor(2),
    borrow_kink=factor("0.8"),
    borrow_base=factor("0.005"),
    borrow_slope_low=factor("0.1"),
    borrow_slope_high=factor(3),
)
ZERO_RATES = RateModel(factor("0.8"), 0, 0, 0, factor("0.8"), 0, 0, 0)

COMP, WETH, WBTC = "0x" + "c0" * 20, "0x" + "e7" * 20, "0x" + "b7" * 20


def asset(
    offset: int,
    address: str,
    decimals: int = 18,
    *,
    borrow_cf: int = ONE - 1,
    liquidate_cf: int = ONE,
    liquidation_factor: int = ONE,
) -> AssetInfo:
    """An AssetConfig as makeProtocol passes it, read back through getAssetInfo (4-decimal factors)."""
    return AssetInfo(
        offset,
        address,
        f"0x{offset + 0xF0:040x}",
        10**decimals,
        packed_factor(borrow_cf),
        packed_factor(liquidate_cf),
        packed_factor(liquidation_factor),
    )


def protocol(
    *assets: AssetInfo,
    rates: RateModel = DEFAULT_RATES,
    store_front: int = ONE,
    target_reserves: int = 0,
) -> CometConfig:
    default = (asset(0, COMP), asset(1, WETH), asset(2, WBTC, 8))
    return CometConfig(10**6, rates, store_front, target_reserves, assets or default)


DEFAULT_PRICES = {0: px(175), 1: px(3000), 2: px(41000)}
USDC_PRICE = px(1)


def holding(principal: int, **balances: int) -> Account:
    """setBasePrincipal + setCollateralBalance (which sets the assetsIn bit of each non-zero balance)."""
    offsets = {"comp": 0, "weth": 1, "wbtc": 2}
    coll = {offsets[k]: v for k, v in balances.items()}
    bits = sum(1 << o for o, v in coll.items() if v)
    return Account(principal, bits, coll)


def reverts(reason: str) -> pytest.RaisesExc[CometRevertError]:
    return pytest.raises(CometRevertError, match=re.escape(reason))


# --- configuration ------------------------------------------------------------------------------------


def test_asset_info_keeps_four_decimals_of_each_factor() -> None:
    # test/asset-info-test.ts › asset info › initializes protocol: borrowCF ONE - 1 reads back ONE - 1e14
    assert packed_factor(ONE - 1) == ONE - exp(1, 14)
    assert packed_factor(ONE) == ONE
    # test/helpers.ts truncateDecimals; factor(2/3) of absorb-test.ts is stored as 0.6666
    assert packed_factor(factor("0.666666")) == factor("0.6666")


def test_per_second_rates_are_per_year_over_seconds_per_year() -> None:
    # contracts/Comet.sol constructor: config.*PerYear* / SECONDS_PER_YEAR, rounded down
    assert DEFAULT_RATES.supply_slope_low == factor("0.05") // 31_536_000 == 1_585_489_599
    assert DEFAULT_RATES.borrow_base == factor("0.005") // 31_536_000 == 158_548_959
    assert DEFAULT_RATES.supply_kink == factor("0.8")


# --- test/interest-rate-test.ts -------------------------------------------------------------------------

IR_RATES = RateModel.from_per_year(
    supply_kink=factor("0.8"),
    supply_base=0,
    supply_slope_low=factor("0.04"),
    supply_slope_high=factor("0.4"),
    borrow_kink=factor("0.8"),
    borrow_base=factor("0.01"),
    borrow_slope_low=factor("0.05"),
    borrow_slope_high=factor("0.3"),
)


@pytest.mark.parametrize(
    ("totals", "utilization", "supply_apr", "borrow_apr"),
    [
        # interest rates › when below kink utilization: 1000 supplied, 100 borrowed
        (Totals(2 * 10**15, 4 * 10**15, 500, 25), factor("0.1"), factor("0.004"), factor("0.015")),
        # interest rates › when above kink utilization: 100 supplied, 90 borrowed
        (Totals(2 * 10**15, 3 * 10**15, 50, 30), factor("0.9"), factor("0.072"), factor("0.08")),
        # interest rates › when 0 utilization
        (Totals(2 * 10**15, 3 * 10**15, 50, 0), 0, 0, factor("0.01")),
    ],
    ids=["below-kink", "above-kink", "zero"],
)
def test_interest_rate_test_examples(
    totals: Totals, utilization: int, supply_apr: int, borrow_apr: int
) -> None:
    u = get_utilization(totals)
    assert u == utilization
    # assertInterestRatesMatch: |rate × SECONDS_PER_YEAR - expected| <= 1e8 wei (MINIMUM_PRECISION_WEI)
    assert abs(get_supply_rate(IR_RATES, u) * SECONDS_PER_YEAR - supply_apr) <= 10**8
    assert abs(get_borrow_rate(IR_RATES, u) * SECONDS_PER_YEAR - borrow_apr) <= 10**8


# --- test/accrue-test.ts --------------------------------------------------------------------------------


def project_base_index(index: int, rate: int, time: int) -> int:
    """accrue-test.ts projectBaseIndex: index + index × (rate × time) / 1e18."""
    return index + index * (rate * time) // 10**18


def ref_rate(base: int, low: int, high: int, kink: int, u: int) -> int:
    """The rate formula of the comments in interest-rate-test.ts, on per-second values."""
    if u <= kink:
        return base + low * u // ONE
    return base + low * kink // ONE + high * (u - kink) // ONE


def test_accrue_initially_has_the_right_parameters() -> None:
    # accrue › accrue initially succeeds and has the right parameters: initializeStorage sets indices 1e15
    t0 = Totals()
    assert (t0.base_supply_index, t0.base_borrow_index) == (exp(1, 15), exp(1, 15))
    assert (t0.total_supply_base, t0.total_borrow_base) == (0, 0)


def test_accrue_with_no_time_elapsed() -> None:
    # accrue › accrues correctly with no time elapsed: a second accrue at the same time changes nothing
    now = 1_700_000_000
    t0 = Totals(2 * 10**15, 3 * 10**15, 1000, 1000, 0)
    t1 = accrue(t0, DEFAULT_RATES, now)
    t2 = accrue(t1, DEFAULT_RATES, now)
    assert t1.last_accrual_time == now
    assert t2 == t1
    assert (t1.total_supply_base, t1.total_borrow_base) == (1000, 1000)


@pytest.mark.parametrize(
    ("supply", "borrow"),
    [
        (11000, 11000),  # accrue › accrues correctly with time elapsed and less than min rewards
        (
            exp(14000, 6),
            exp(13000, 6),
        ),  # accrue › accrues correctly with time elapsed and more than min rewards
    ],
    ids=["less-than-min-rewards", "more-than-min-rewards"],
)
def test_accrue_with_time_elapsed(supply: int, borrow: int) -> None:
    start = 1_700_000_000
    t1 = Totals(exp(1, 15), exp(1, 15), supply, borrow, start)
    t2 = accrue(t1, DEFAULT_RATES, start + 1000)
    assert t2.last_accrual_time - t1.last_accrual_time == 1000
    u = borrow * ONE // supply  # both indices are 1e15
    r = DEFAULT_RATES
    supply_rate = ref_rate(r.supply_base, r.supply_slope_low, r.supply_slope_high, r.supply_kink, u)
    borrow_rate = ref_rate(r.borrow_base, r.borrow_slope_low, r.borrow_slope_high, r.borrow_kink, u)
    assert t2.base_supply_index == project_base_index(t1.base_supply_index, supply_rate, 1000)
    assert t2.base_borrow_index == project_base_index(t1.base_borrow_index, borrow_rate, 1000)
    assert t2.base_supply_index > t1.base_supply_index and t2.base_borrow_index > t1.base_borrow_index


def test_accrue_reverts_on_overflows() -> None:
    # accrue › reverts on overflows: a uint64 index at its maximum cannot grow ('code 0x11')
    supply_full = Totals(2**64 - 1, exp(1, 15), 14000, 13000, 0)
    with reverts(OVERFLOW):
        accrue(supply_full, DEFAULT_RATES, 1000)
    borrow_full = Totals(exp(1, 15), 2**64 - 1, 0, 0, 0)  # t0 with only the borrow index changed
    with reverts(OVERFLOW):
        accrue(borrow_full, DEFAULT_RATES, 1000)


def test_accrue_supports_up_to_the_maximum_timestamp() -> None:
    # accrue › supports up to the maximum timestamp then breaks: TimestampTooLarge at 2**40
    accrue(Totals(last_accrual_time=100), DEFAULT_RATES, 2**40 - 1)
    with reverts(TIMESTAMP_TOO_LARGE):
        accrue(Totals(last_accrual_time=100), DEFAULT_RATES, 2**40 + 100)


# --- present and principal values (CometCore.sol) --------------------------------------------------------


def test_present_values_of_the_erc20_and_balance_tests() -> None:
    # The views accrue; these tests run a few seconds after initializeStorage, under one unit of interest.
    t = Totals(2 * 10**15, exp(1, 15), 50 * 10**6, 0, 0)
    # erc20-test.ts › erc20 › has correct totalSupply
    assert present_value_supply(t.base_supply_index, t.total_supply_base) == 100 * 10**6
    # erc20-test.ts › balanceOf › returns presentValue of principal (when principal is positive)
    assert balance_of(t, DEFAULT_RATES, 100 * 10**6, 2) == 200 * 10**6
    # erc20-test.ts › balanceOf › returns 0 (when principal amount is negative)
    assert balance_of(t, DEFAULT_RATES, -100 * 10**6, 2) == 0
    # balance-test.ts › totalBorrow › has correct totalBorrow
    assert present_value_borrow(2 * 10**15, 50 * 10**6) == 100 * 10**6
    b = Totals(2 * 10**15, 3 * 10**15)
    # balance-test.ts › borrowBalanceOf › returns borrow amount (when principal amount is negative)
    assert borrow_balance_of(b, DEFAULT_RATES, -100 * 10**6, 2) == 300 * 10**6
    # balance-test.ts › borrowBalanceOf › returns 0 when principal amount is positive
    assert borrow_balance_of(b, DEFAULT_RATES, 100 * 10**6, 2) == 0


def test_principal_rounding_quirk_of_the_supply_and_withdraw_tests() -> None:
    # withdraw-test.ts › withdraws 0 but Comet Transfer event amount is 1, and supply-test.ts › supplies 0
    # and does not revert when dstPrincipalNew < dstPrincipal: principal → present → principal loses 1 wei.
    t = Totals(base_supply_index=1000000131467072, total_supply_base=699999944771920)
    principal = 99999992291226
    again = principal_value(t, present_value_supply(t.base_supply_index, principal))
    assert again == principal - 1
    assert repay_and_supply_amount(principal, again) == (0, 0)  # the supply fix: no uint104(-1)


def test_supply_rounds_principal_down() -> None:
    # supply-test.ts › user supply is same as total supply: 10 wei at index 1.085 is 9 principal
    index = exp("1.085", 15)
    assert principal_value_supply(index, 10) == 9
    assert 100 + principal_value_supply(index, 10) == 109  # totalSupplyBase
    assert present_value_supply(index, 9) == 9  # the portfolio's internal USDC


def test_borrow_rounds_principal_up() -> None:
    # withdraw-test.ts › borrows to withdraw if necessary/possible: 1e6 at borrow index 2 is -1e6 again
    t = Totals(base_borrow_index=2 * exp(1, 15))
    assert principal_value(t, -(10**6)) == -500_000
    assert principal_value_borrow(t.base_borrow_index, 10**6 + 1) == 500_001  # rounded up
    assert -present_value_borrow(t.base_borrow_index, 500_000) == -(10**6)


@pytest.mark.parametrize(
    ("totals", "balance", "reserves"),
    [
        (Totals(4 * 10**15, 3 * 10**15, 25, 0), 100, 0),  # getReserves › calculates 0 reserves
        (Totals(2 * 10**15, 5 * 10**15, 50, 10), 100, 50),  # getReserves › calculates positive reserves
        (Totals(2 * 10**15, 3 * 10**15, 50, 0), 0, -100),  # getReserves › calculates negative reserves
    ],
    ids=["zero", "positive", "negative"],
)
def test_reserves_test_examples(totals: Totals, balance: int, reserves: int) -> None:
    # test/reserves-test.ts; a few seconds of accrual move none of these by a unit
    assert get_reserves(totals, DEFAULT_RATES, balance, 0) == reserves
    assert get_reserves(totals, DEFAULT_RATES, balance, 5) == reserves


# --- test/is-liquidatable-test.ts -----------------------------------------------------------------------

COMP_AT_1 = {0: px(1)}  # the tests' `COMP: { initialPrice: 1 }`, offset 0


@pytest.mark.parametrize(
    ("name", "comp", "principal", "comp_balance", "comp_price", "expected"),
    [
        ("defaults to false", asset(0, COMP), 0, 0, px(1), False),
        ("is false when user is owed principal", asset(0, COMP), 1_000_000, 0, px(1), False),
        ("is true when user owes principal", asset(0, COMP), -1_000_000, 0, px(1), True),
        (
            "is false when collateral can cover the borrowed principal",
            asset(0, COMP),
            -100_000_000_000,
            exp(100_000, 18),
            px(1),
            False,
        ),
        (
            "is true when the collateral cannot cover the borrowed principal",
            asset(0, COMP),
            -100_000_000_000,
            exp(95_000, 18),
            px(1),
            True,
        ),
        (
            "takes liquidateCollateralFactor into account when comparing principal to collateral",
            asset(0, COMP, borrow_cf=factor("0.75"), liquidate_cf=factor("0.8")),
            -100_000_000_000,
            exp(100_000, 18),
            px(1),
            True,
        ),
        (
            "changes when the underlying asset price changes (before)",
            asset(0, COMP),
            -100_000_000_000,
            exp(100_000, 18),
            px(1),
            False,
        ),
        (
            "changes when the underlying asset price changes (after the drop to 0.5)",
            asset(0, COMP),
            -100_000_000_000,
            exp(100_000, 18),
            px("0.5"),
            True,
        ),
    ],
)
def test_is_liquidatable_test_examples(
    name: str, comp: AssetInfo, principal: int, comp_balance: int, comp_price: int, expected: bool
) -> None:
    config = protocol(comp)
    account = holding(principal, comp=comp_balance)
    assert is_liquidatable(config, Totals(), account, {0: comp_price}, USDC_PRICE) is expected, name
    if principal < 0:
        assert (liquidation_margin(config, Totals(), account, {0: comp_price}, USDC_PRICE) < 0) is expected


def test_is_liquidatable_uses_signed_truncation_toward_zero() -> None:
    # Comet.signedMulPrice divides an int256: -1 wei of a 18-decimal base at $1 is 0 USD, not -1
    assert signed_mul_price(-1, px(1), 10**18) == 0
    assert signed_mul_price(-(10**10) - 1, px(1), 10**18) == -1


def test_borrow_collateralized_needs_the_borrow_factor() -> None:
    # is-liquidatable-test.ts's liquidateCF case seen from isBorrowCollateralized (borrowCF 0.75 < 0.8)
    config = protocol(asset(0, COMP, borrow_cf=factor("0.75"), liquidate_cf=factor("0.8")))
    account = holding(-75_000_000_000, comp=exp(100_000, 18))
    assert is_borrow_collateralized(config, Totals(), account, COMP_AT_1, USDC_PRICE)
    worse = holding(-75_000_000_001, comp=exp(100_000, 18))
    assert not is_borrow_collateralized(config, Totals(), worse, COMP_AT_1, USDC_PRICE)
    assert not is_liquidatable(config, Totals(), worse, COMP_AT_1, USDC_PRICE)


# --- test/absorb-test.ts --------------------------------------------------------------------------------

ZERO_RATE_PROTOCOL = protocol(rates=ZERO_RATES)


def test_absorbs_1_account_and_pays_out_the_absorber() -> None:
    # absorb › absorbs 1 account and pays out the absorber
    t0 = Totals(total_borrow_base=100)
    assert get_reserves(t0, ZERO_RATES, 0, 0) == 100
    a = absorb(ZERO_RATE_PROTOCOL, t0, Account(-100), DEFAULT_PRICES, USDC_PRICE)
    assert (a.totals.total_supply_base, a.totals.total_borrow_base) == (0, 0)
    assert get_reserves(a.totals, ZERO_RATES, 0, 0) == 0
    assert a.new_principal == 0 and a.seized == ()
    assert a.base_paid_out == 100  # AbsorbDebt.basePaidOut
    assert a.usd_value == 100 * USDC_PRICE // 10**6  # mulPrice(100n, usdcPrice, baseScale)
    assert a.deficit == 100


def test_absorbs_2_accounts_and_pays_out_the_absorber() -> None:
    # absorb › absorbs 2 accounts and pays out the absorber: one absorb(), totals flow from one to the next
    t0 = Totals(total_borrow_base=2000)
    a1 = absorb(ZERO_RATE_PROTOCOL, t0, Account(-100), DEFAULT_PRICES, USDC_PRICE)
    a2 = absorb(ZERO_RATE_PROTOCOL, a1.totals, Account(-700), DEFAULT_PRICES, USDC_PRICE)
    assert (a1.base_paid_out, a2.base_paid_out) == (100, 700)
    assert (a2.totals.total_supply_base, a2.totals.total_borrow_base) == (0, 1200)
    assert get_reserves(a2.totals, ZERO_RATES, 0, 0) == 1200


def test_absorbs_3_accounts_with_collateral() -> None:
    # absorb › absorbs 3 accounts with collateral and pays out the absorber
    t = Totals(total_borrow_base=exp(3 * 10**15, 6), total_supply_base=exp(4 * 10**15, 6))
    underwater = [
        holding(-exp(1, 6), comp=exp("0.000001", 18)),
        holding(-exp(1, 12), comp=exp(10, 18), weth=exp(1, 18)),
        holding(-exp(1, 18), comp=exp(10000, 18), weth=exp(50, 18), wbtc=exp(50, 8)),
    ]
    events = []
    for account in underwater:
        a = absorb(ZERO_RATE_PROTOCOL, t, account, DEFAULT_PRICES, USDC_PRICE)
        t = a.totals
        events.append(([(c.asset, c.amount, c.usd_value) for c in a.seized], a.base_paid_out, a.usd_value))
    assert t.total_supply_base == exp(4 * 10**15, 6)
    assert t.total_borrow_base == exp(3 * 10**15, 6) - exp(1, 18) - exp(1, 12) - exp(1, 6)

    def usd(amount: int, price: int, scale: int) -> int:  # helpers.ts mulPrice
        return amount * price // scale

    assert events == [
        (
            [(COMP, exp(1, 12), usd(exp(1, 12), px(175), 10**18))],
            exp(1, 6),
            usd(exp(1, 6), USDC_PRICE, 10**6),
        ),
        (
            [
                (COMP, exp(10, 18), usd(exp(10, 18), px(175), 10**18)),
                (WETH, exp(1, 18), usd(exp(1, 18), px(3000), 10**18)),
            ],
            exp(1, 12),
            usd(exp(1, 12), USDC_PRICE, 10**6),
        ),
        (
            [
                (COMP, exp(10000, 18), usd(exp(10000, 18), px(175), 10**18)),
                (WETH, exp(50, 18), usd(exp(50, 18), px(3000), 10**18)),
                (WBTC, exp(50, 8), usd(exp(50, 8), px(41000), 10**8)),
            ],
            exp(1, 18),
            usd(exp(1, 18), USDC_PRICE, 10**6),
        ),
    ]


def test_absorbs_an_account_with_more_than_enough_collateral() -> None:
    # absorb › absorbs an account with more than enough collateral to still cover debt
    # defaultAssets({ borrowCF: factor(1 / 2), liquidateCF: factor(2 / 3) }); exp() keeps 6 decimals
    cfs = {"borrow_cf": factor("0.5"), "liquidate_cf": factor("0.666666")}
    config = protocol(
        asset(0, COMP, **cfs), asset(1, WETH, **cfs), asset(2, WBTC, 8, **cfs), rates=ZERO_RATES
    )
    final_debt = 1
    starting_debt = final_debt - (exp(41000, 6) + exp(3000, 6) + exp(175, 6))
    t0 = Totals(total_borrow_base=-starting_debt)
    assert get_reserves(t0, ZERO_RATES, 0, 0) == -starting_debt
    account = holding(starting_debt, comp=exp(1, 18), weth=exp(1, 18), wbtc=exp(1, 8))
    a = absorb(config, t0, account, DEFAULT_PRICES, USDC_PRICE)
    assert (a.totals.total_supply_base, a.totals.total_borrow_base) == (final_debt, 0)
    assert get_reserves(a.totals, ZERO_RATES, 0, 0) == -final_debt
    assert a.new_principal == a.new_balance == final_debt  # pU1.internal.USDC = 1n
    assert a.base_paid_out == final_debt - starting_debt
    assert a.deficit == 0 and not a.is_bad_debt
    assert [c.amount for c in a.seized] == [exp(1, 18), exp(1, 18), exp(1, 8)]


def test_absorb_updates_a_4k_borrow_against_3175_of_collateral() -> None:
    # absorb › updates assetsIn for liquidated account: borrow of $4k > collateral of $3k + $175
    borrow = exp(4000, 6)
    t = Totals(total_borrow_base=borrow)
    account = holding(-borrow, comp=exp(1, 18), weth=exp(1, 18))
    assert is_liquidatable(protocol(), t, account, DEFAULT_PRICES, USDC_PRICE)
    a = absorb(protocol(), t, account, DEFAULT_PRICES, USDC_PRICE)
    assert a.delta_balance == exp(3175, 6)  # liquidationFactor 1: full value credited
    assert a.deficit == exp(825, 6) and a.base_paid_out == borrow
    assert a.totals.total_borrow_base == 0


def test_absorb_reads_the_upper_asset_bits_of_an_extended_asset_list() -> None:
    # absorb › updates assetsIn for liquidated account in 24 assets (CometWithExtendedAssetList): offsets
    # 16..23 live in UserBasic._reserved. COMP, WETH, WBTC, then ASSET3..ASSET23 at $1, 18 decimals.
    assets = [asset(0, COMP), asset(1, WETH), asset(2, WBTC, 8)]
    assets += [asset(i, f"0x{i:040x}") for i in range(3, 24)]
    config = protocol(*assets)
    prices = {0: px(175), 1: px(3000), 2: px(41000)} | {i: px(1) for i in range(3, 24)}
    held = [0, 1, *range(3, 24)]
    account = Account(-exp(4000, 6), sum(1 << i for i in held), {i: exp(1, 18) for i in held})
    t = Totals(total_borrow_base=exp(4000, 6))
    assert is_liquidatable(config, t, account, prices, USDC_PRICE)
    a = absorb(config, t, account, prices, USDC_PRICE)
    assert [c.offset for c in a.seized] == held
    assert a.delta_balance == exp(175 + 3000 + 21, 6)


def test_absorb_reverts() -> None:
    # absorb › reverts if total borrows underflows: the principal was set without the totals
    with reverts(OVERFLOW):
        absorb(protocol(), Totals(), Account(-100), DEFAULT_PRICES, USDC_PRICE)
    # absorb › reverts if an account is not underwater
    with reverts(NOT_LIQUIDATABLE):
        absorb(protocol(), Totals(), Account(0), DEFAULT_PRICES, USDC_PRICE)
    # absorb › reverts if absorb is paused: pause(false, false, false, true, false)
    with reverts(PAUSED):
        absorb(protocol(), Totals(pause_flags=1 << 3), Account(-100), DEFAULT_PRICES, USDC_PRICE)


# --- test/quote-collateral-test.ts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "store_front", "comp_price", "liquidation_factor", "base_amount", "expected"),
    [
        (
            "quotes the collateral correctly for a positive base amount",
            "0.5",
            200,
            "0.6",
            200,
            exp("1.25", 18),
        ),
        ("quotes the collateral correctly for a zero base amount", 1, 200, 1, 0, 0),
        (
            "quotes the collateral at market price when storeFrontPriceFactor is 0%",
            0,
            200,
            "0.6",
            200,
            exp(1, 18),
        ),
        (
            "properly calculates price without truncating integer during intermediate calculations",
            "0.5",
            9,
            "0.8",
            810,
            exp(100, 18),
        ),
        ("does not overflow for large amounts", "0.8", 200, "0.75", 10**15, exp("6.25", 12 + 18)),
    ],
)
def test_quote_collateral_test_examples(
    name: str,
    store_front: str | int,
    comp_price: int,
    liquidation_factor: str | int,
    base_amount: int,
    expected: int,
) -> None:
    config = protocol(
        asset(0, COMP, liquidation_factor=factor(liquidation_factor)),
        store_front=factor(store_front),
        target_reserves=100,
    )
    assert quote_collateral(config, COMP, exp(base_amount, 6), px(comp_price), USDC_PRICE) == expected, name


# --- test/buy-collateral-test.ts ------------------------------------------------------------------------

BUY_CONFIG = protocol(
    asset(0, COMP, liquidation_factor=factor("0.8")), store_front=factor("0.5"), target_reserves=100
)


def buy(config: CometConfig, min_amount: int, base: int, *, reserves: int, collateral_reserves: int) -> int:
    return buy_collateral(
        config,
        Totals(),
        COMP,
        min_amount,
        base,
        reserves=reserves,
        collateral_reserves=collateral_reserves,
        asset_price=px(1),
        base_price=USDC_PRICE,
    )


def test_buy_collateral_test_examples() -> None:
    # allows buying collateral when reserves < target reserves: discount 0.5 × (1 - 0.8) = 10%
    assert buy(BUY_CONFIG, exp(50, 18), 50 * 10**6, reserves=0, collateral_reserves=exp(60, 18)) == (
        55555555555555555555
    )
    # allows buying collateral when reserves < 0 and target reserves is 0
    at_zero = protocol(asset(0, COMP, liquidation_factor=factor("0.8")), store_front=factor("0.5"))
    assert buy(at_zero, exp(50, 18), 50 * 10**6, reserves=-100 * 10**6, collateral_reserves=exp(60, 18)) == (
        55555555555555555555
    )
    # can buy any excess collateral which does not belong to users: 60 held, 10 the users'
    no_discount = protocol(asset(0, COMP), store_front=factor("0.5"), target_reserves=exp(100 * 10**6, 6))
    excess = get_collateral_reserves(exp(60, 18), exp(10, 18))
    assert buy(no_discount, exp(50, 18), 50 * 10**6, reserves=0, collateral_reserves=excess) == exp(50, 18)
    # buys the correct amount in a fee-like situation: 1% fee, the Comet counts 49.5 USDT in
    assert buy(BUY_CONFIG, exp(50, 18), exp("49.5", 6), reserves=0, collateral_reserves=exp(60, 18)) == exp(
        55, 18
    )


def test_buy_collateral_test_reverts() -> None:
    no_discount = protocol(asset(0, COMP), store_front=factor("0.5"), target_reserves=exp(100 * 10**6, 6))
    # reverts if trying to buy collateral which belongs to users: 60 held, 20 the users'
    with reverts(INSUFFICIENT_RESERVES):
        buy(no_discount, exp(50, 18), 50 * 10**6, reserves=0, collateral_reserves=exp(40, 18))
    # reverts if reserves are above target reserves: 100e6 reserves, target 0
    with reverts(NOT_FOR_SALE):
        buy(protocol(), exp(50, 18), 50 * 10**6, reserves=100 * 10**6, collateral_reserves=exp(50, 18))
    # reverts if slippage is too high: no discount, 50 COMP for 50 USDC but 100 asked
    default100 = protocol(target_reserves=100)
    with reverts(TOO_MUCH_SLIPPAGE):
        buy(default100, exp(100, 18), 50 * 10**6, reserves=0, collateral_reserves=exp(50, 18))
    # reverts if not enough collateral to buy: all 50 COMP held belong to users
    held_by_users = get_collateral_reserves(exp(50, 18), exp(50, 18))
    assert held_by_users == 0
    with reverts(INSUFFICIENT_RESERVES):
        buy(default100, exp(200, 18), 200 * 10**6, reserves=0, collateral_reserves=held_by_users)
    # reverts if buy is paused: pause(false, false, false, false, true)
    with reverts(PAUSED):
        buy_collateral(
            protocol(),
            Totals(pause_flags=1 << 4),
            COMP,
            exp(50, 18),
            50 * 10**6,
            reserves=0,
            collateral_reserves=exp(50, 18),
            asset_price=px(1),
            base_price=USDC_PRICE,
        )


# --- properties ----------------------------------------------------------------------------------------

indices = st.integers(BASE_INDEX_SCALE, 2**64 - 1)
principals = st.integers(0, 2**103 - 1)


@given(indices, principals)
def test_borrow_principal_round_trip_is_exact(index: int, principal: int) -> None:
    # presentValueBorrow floors, principalValueBorrow ceils: at an index >= 1e15 the principal comes back
    assume(present_value_borrow(index, principal) * BASE_INDEX_SCALE <= 2**256 - 1)
    assert principal_value_borrow(index, present_value_borrow(index, principal)) == principal


@given(indices, principals)
def test_supply_principal_round_trip_loses_at_most_one(index: int, principal: int) -> None:
    back = principal_value_supply(index, present_value_supply(index, principal))
    assert principal - 1 <= back <= principal


@given(indices, st.integers(0, 10**30))
def test_present_round_trips_round_for_the_protocol(index: int, present: int) -> None:
    # A supplier never gains, a borrower never owes less, each by less than one principal unit's worth.
    s = present_value_supply(index, principal_value_supply(index, present))
    assert s <= present and (present - s - 1) * BASE_INDEX_SCALE < index
    b = present_value_borrow(index, principal_value_borrow(index, present))
    assert b >= present and (b - present) * BASE_INDEX_SCALE < index


@st.composite
def totals_and_rates(draw: st.DrawFn) -> tuple[Totals, RateModel]:
    supply = draw(st.integers(0, 10**24))
    borrow = draw(st.integers(0, 10**24))
    t = Totals(draw(st.integers(10**15, 10**17)), draw(st.integers(10**15, 10**17)), supply, borrow, 0)
    pct = st.integers(0, 5 * ONE)
    rates = RateModel.from_per_year(
        supply_kink=draw(st.integers(0, ONE)),
        supply_base=draw(st.integers(0, ONE // 10)),
        supply_slope_low=draw(pct),
        supply_slope_high=draw(pct),
        borrow_kink=draw(st.integers(0, ONE)),
        borrow_base=draw(st.integers(0, ONE // 10)),
        borrow_slope_low=draw(pct),
        borrow_slope_high=draw(pct),
    )
    return t, rates


@given(totals_and_rates(), st.integers(0, 10**8), st.integers(0, 10**8))
def test_accrual_is_monotonic_in_time(tr: tuple[Totals, RateModel], e1: int, e2: int) -> None:
    t, rates = tr
    e1, e2 = sorted((e1, e2))
    try:
        s1, b1 = accrued_interest_indices(t, rates, e1)
        s2, b2 = accrued_interest_indices(t, rates, e2)
    except CometRevertError:
        return  # a uint64 index overflow (very high utilization for years): Comet reverts too
    assert t.base_supply_index <= s1 <= s2
    assert t.base_borrow_index <= b1 <= b2


@given(totals_and_rates(), st.integers(0, 3 * ONE), st.integers(0, 3 * ONE))
def test_utilization_bounds_and_monotonic_rates(tr: tuple[Totals, RateModel], u1: int, u2: int) -> None:
    t, rates = tr
    u = get_utilization(t)
    supplied = present_value_supply(t.base_supply_index, t.total_supply_base)
    borrowed = present_value_borrow(t.base_borrow_index, t.total_borrow_base)
    assert u >= 0
    if borrowed <= supplied:
        assert u <= ONE
    if supplied == 0:
        assert u == 0
    u1, u2 = sorted((u1, u2))
    assert get_supply_rate(rates, u1) <= get_supply_rate(rates, u2)
    assert get_borrow_rate(rates, u1) <= get_borrow_rate(rates, u2)


@st.composite
def underwater(draw: st.DrawFn) -> tuple[CometConfig, Totals, Account, dict[int, int]]:
    lcf = draw(st.integers(5000, 9500)) * 10**14
    lf = draw(st.integers(5000, 10000)) * 10**14
    config = protocol(
        asset(0, COMP, borrow_cf=lcf - 10**16, liquidate_cf=lcf, liquidation_factor=lf),
        asset(1, WETH, borrow_cf=lcf - 10**16, liquidate_cf=lcf, liquidation_factor=lf),
        asset(2, WBTC, 8, borrow_cf=lcf - 10**16, liquidate_cf=lcf, liquidation_factor=lf),
    )
    prices = {
        0: draw(st.integers(1, px(10**4))),
        1: draw(st.integers(1, px(10**5))),
        2: draw(st.integers(1, px(10**6))),
    }
    balances = {
        0: draw(st.integers(0, 10**24)),
        1: draw(st.integers(0, 10**24)),
        2: draw(st.integers(0, 10**12)),
    }
    principal = -draw(st.integers(1, 10**18))
    index = draw(st.integers(10**15, 3 * 10**15))
    t = Totals(index, index, 10**20, -principal + draw(st.integers(0, 10**20)))
    return config, t, Account(principal, sum(1 << i for i, v in balances.items() if v), balances), prices


@given(underwater())
def test_absorb_conserves_what_it_moves(case: tuple[CometConfig, Totals, Account, dict[int, int]]) -> None:
    config, t, account, prices = case
    liquidatable = is_liquidatable(config, t, account, prices, USDC_PRICE)
    assert liquidatable == (liquidation_margin(config, t, account, prices, USDC_PRICE) < 0)
    if not liquidatable:
        with reverts(NOT_LIQUIDATABLE):
            absorb(config, t, account, prices, USDC_PRICE)
        return
    a = absorb(config, t, account, prices, USDC_PRICE)
    assert a.base_paid_out == a.new_balance - a.old_balance > 0
    assert a.new_principal >= 0
    assert a.new_balance == max(0, a.old_balance + a.delta_balance)
    assert (a.deficit > 0) == (a.old_balance + a.delta_balance < 0)
    assert t.total_borrow_base - a.totals.total_borrow_base == -account.principal  # the whole debt is repaid
    assert a.totals.total_supply_base - t.total_supply_base == a.new_principal
    assert sum(c.amount for c in a.seized) == sum(account.collateral.values())


@given(
    st.integers(0, 10**4).map(lambda f: f * 10**14),
    st.integers(0, 10**4).map(lambda f: f * 10**14),
    st.integers(1, 10**14),
    st.integers(1, 10**10),
    st.integers(0, 10**30),
)
def test_max_base_for_collateral_inverts_the_quote(
    store_front: int, liquidation_factor: int, asset_price: int, base_price: int, collateral: int
) -> None:
    config = protocol(asset(0, COMP, liquidation_factor=liquidation_factor), store_front=store_front)
    if asset_price * (ONE - discount_factor(config, config.assets[0])) // ONE == 0:
        # the discounted price rounds to 0: Comet divides by zero, and so does the inverse
        with reverts(DIVISION_BY_ZERO):
            quote_collateral(config, COMP, 1, asset_price, base_price)
        with reverts(DIVISION_BY_ZERO):
            max_base_for_collateral(config, COMP, collateral, asset_price, base_price)
        return
    base = max_base_for_collateral(config, COMP, collateral, asset_price, base_price)
    assert quote_collateral(config, COMP, base, asset_price, base_price) <= collateral
    assert quote_collateral(config, COMP, base + 1, asset_price, base_price) > collateral
    # the discount never makes the collateral dearer than its market price
    at_market = base_price * base * 10**18 // asset_price // 10**6
    assert quote_collateral(config, COMP, base, asset_price, base_price) >= at_market


# --- the adapter --------------------------------------------------------------------------------------


def test_the_adapter_fails_closed_naming_the_config_field() -> None:
    with pytest.raises(AdapterDisabledError) as raised:
        CompoundV3Adapter(ChainClient("http://127.0.0.1:8545", 31337), "0x" + "c3" * 20)
    message = str(raised.value)
    assert "protocols.compound_v3.enabled: false" in message
    assert "not proven against real Comet bytecode" in message
    assert CompoundV3Adapter.protocol == "compound_v3" and not CompoundV3Adapter.finished
