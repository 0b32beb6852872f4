"""Pure decisions between pricing and sending: which flash source pays for a liquidation, the on-chain
minimum profit the executor must enforce, and the swap's minimum output."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from liqbot.core.fixed import percent_mul
from liqbot.core.types import LiquidationOption, Opportunity, Skip, SkipReason


class Source(StrEnum):
    FUNDS = "funds"  # inventory the executor contract holds
    MORPHO_CALLBACK = "morpho_callback"  # Morpho's liquidate pays us the collateral first: no loan at all
    MORPHO_FLASH = "morpho_flash"  # Morpho Blue flashLoan: free, any token Morpho holds
    AAVE_FLASH = "aave_flash"  # Aave V3 flashLoanSimple: FLASHLOAN_PREMIUM_TOTAL


@dataclass(frozen=True)
class Funding:
    source: Source
    fee: int  # debt-asset units the source charges


@dataclass(frozen=True)
class Liquidity:
    """What each source could lend of the option's debt asset right now (None: not available here)."""

    funds: int = 0  # executor's own balance of the debt asset
    morpho: int | None = None  # Morpho's balance of the debt asset
    aave: int | None = None  # the Aave reserve's idle underlying (aToken's balance), if flash loans are on
    aave_premium_bps: int = 0


def choose_funding(option: LiquidationOption, mode: str, liq: Liquidity) -> Funding | Skip:
    """The cheapest source that has the liquidity (LESSONS: never one flash pool hard-wired per market)."""
    need = option.debt_to_cover
    if mode == "funds":
        if liq.funds >= need:
            return Funding(Source.FUNDS, 0)
        return Skip(SkipReason.NO_LIQUIDITY, f"inventory {liq.funds} < {need} of {option.debt_asset}", option)
    if option.protocol == "morpho_blue":
        return Funding(Source.MORPHO_CALLBACK, 0)
    if liq.morpho is not None and liq.morpho >= need:
        return Funding(Source.MORPHO_FLASH, 0)
    if liq.aave is not None and liq.aave >= need:
        return Funding(Source.AAVE_FLASH, percent_mul(need, liq.aave_premium_bps))
    return Skip(SkipReason.NO_LIQUIDITY, f"no flash source can lend {need} of {option.debt_asset}", option)


def min_amount_out(quoted_out: int, slippage_bps: int) -> int:
    """The swap's floor: the quote less the tolerated slippage, rounded down."""
    return quoted_out * (10_000 - slippage_bps) // 10_000


def min_profit_units(opp: Opportunity, debt_price_usd: int, floor_usd: Decimal) -> int:
    """What the contract must keep after repaying, in debt-asset units: enough to pay the gas and the L1 fee
    plus the configured floor, so the call can only end in profit or revert. `debt_price_usd` has 8
    decimals (the strategy's fresh feed price). Rounded up."""
    if debt_price_usd <= 0:
        raise ValueError("min_profit_units needs the debt asset's USD price")
    costs_usd = -(opp.profit.gas_usd + opp.profit.l1_fee_usd) + floor_usd  # the breakdown signs costs < 0
    scaled = costs_usd * Decimal(10) ** (opp.option.debt_decimals + 8) / Decimal(debt_price_usd)
    return max(1, int(scaled.to_integral_value(rounding=ROUND_CEILING)))
