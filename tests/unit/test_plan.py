"""Flash-source choice, on-chain minimum profit and swap floor: pure rules, table-tested."""

from __future__ import annotations

from decimal import Decimal

import pytest

from liqbot.core.types import LiquidationOption, Opportunity, ProfitBreakdown, Skip, SkipReason
from liqbot.execution.plan import Funding, Liquidity, Source, choose_funding, min_amount_out, min_profit_units

USDC, WETH = "0x" + "a" * 40, "0x" + "b" * 40


def option(protocol: str = "aave_v3", debt: int = 1_000 * 10**6) -> LiquidationOption:
    return LiquidationOption(1, protocol, "0xpool", "0x" + "c" * 40, WETH, USDC, debt, 5 * 10**17, 0,
                             9 * 10**17, 100, 2_400 * 10**8, 10**8, 18, 6)  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "protocol", "liq", "want"),
    [
        ("flash", "morpho_blue", Liquidity(), Funding(Source.MORPHO_CALLBACK, 0)),
        (
            "flash",
            "aave_v3",
            Liquidity(morpho=10**12, aave=10**12, aave_premium_bps=5),
            Funding(Source.MORPHO_FLASH, 0),
        ),
        (
            "flash",
            "aave_v3",
            Liquidity(morpho=10, aave=10**12, aave_premium_bps=5),
            Funding(Source.AAVE_FLASH, 500_000),
        ),
        (
            "flash",
            "aave_v3",
            Liquidity(morpho=None, aave=10**12, aave_premium_bps=9),
            Funding(Source.AAVE_FLASH, 900_000),
        ),
        ("funds", "aave_v3", Liquidity(funds=10**9), Funding(Source.FUNDS, 0)),
        ("funds", "morpho_blue", Liquidity(funds=10**9), Funding(Source.FUNDS, 0)),
    ],
)
def test_cheapest_source_with_liquidity(mode: str, protocol: str, liq: Liquidity, want: Funding) -> None:
    assert choose_funding(option(protocol), mode, liq) == want


@pytest.mark.parametrize(
    ("mode", "liq"),
    [("funds", Liquidity(funds=999 * 10**6)), ("flash", Liquidity(morpho=1, aave=1)), ("flash", Liquidity())],
)
def test_no_source_is_a_skip(mode: str, liq: Liquidity) -> None:
    got = choose_funding(option(), mode, liq)
    assert isinstance(got, Skip) and got.reason is SkipReason.NO_LIQUIDITY


def test_min_amount_out_rounds_down() -> None:
    assert min_amount_out(1_000_001, 50) == 995_000
    assert min_amount_out(0, 50) == 0


def test_min_profit_covers_gas_l1_and_floor_in_debt_units() -> None:
    profit = ProfitBreakdown(
        Decimal(50), Decimal(-2), Decimal(0), Decimal("-3.25"), Decimal("-0.5"), Decimal("44.25")
    )
    opp = Opportunity(option(), profit, 0, 500, 900_000, 0, 0, True)
    # (3.25 + 0.5 + 5) USD at $1 with 6 decimals = 8.75 USDC
    assert min_profit_units(opp, 10**8, Decimal(5)) == 8_750_000
    # at $0.999 it takes more units, rounded up
    assert min_profit_units(opp, 99_900_000, Decimal(5)) == 8_758_759
    with pytest.raises(ValueError, match="USD price"):
        min_profit_units(opp, 0, Decimal(5))
