"""Compound III liquidation math, line for line with compound-finance/comet `contracts/Comet.sol`:
isLiquidatable / isBorrowCollateralized, absorbInternal (what the protocol takes from an underwater account
and the debt its reserves eat), and quoteCollateral / buyCollateral (the store-front sale of the absorbed
collateral, the step a liquidator profits from). Pure: the caller passes state read at one block."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from liqbot.protocols.compound_v3.math import (
    DIVISION_BY_ZERO,
    FACTOR_SCALE,
    INSUFFICIENT_RESERVES,
    MAX_UINT104,
    MAX_UINT256,
    NOT_FOR_SALE,
    NOT_LIQUIDATABLE,
    PAUSE_ABSORB_OFFSET,
    PAUSE_BUY_OFFSET,
    PAUSED,
    TOO_MUCH_SLIPPAGE,
    Account,
    AssetInfo,
    CometConfig,
    CometRevertError,
    Totals,
    asset_info_by_address,
    bounded,
    checked_div,
    checked_i256,
    checked_u256,
    div_price,
    get_price,
    is_in_asset,
    mul_factor,
    mul_price,
    present_value,
    principal_value,
    safe128,
    signed256,
    signed_mul_price,
    unsigned256,
)

# --- Comet.sol: collateralization --------------------------------------------------------------------


def _liquidity(
    config: CometConfig,
    totals: Totals,
    account: Account,
    prices: Mapping[int, int],
    base_price: int,
    *,
    liquidate: bool,
    early_exit: bool,
) -> int:
    """The loop of isLiquidatable / isBorrowCollateralized: the signed USD liquidity (PRICE_SCALE) of a
    borrower. With `early_exit` it stops where Comet returns, as soon as the liquidity is >= 0 (so it does
    not read later prices, which matters only for a feed whose answer is <= 0)."""
    liquidity = signed_mul_price(
        present_value(totals, account.principal), get_price(base_price), config.base_scale
    )
    for info in config.assets:
        if not is_in_asset(account.assets_in, info.offset):
            continue
        if early_exit and liquidity >= 0:
            break
        value = mul_price(account.collateral.get(info.offset, 0), get_price(prices[info.offset]), info.scale)
        factor = info.liquidate_collateral_factor if liquidate else info.borrow_collateral_factor
        liquidity = checked_i256(liquidity + signed256(mul_factor(value, factor)))
    return liquidity


def is_liquidatable(
    config: CometConfig, totals: Totals, account: Account, prices: Mapping[int, int], base_price: int
) -> bool:
    """Comet.isLiquidatable with `totals` as stored. The view does not accrue; absorb accrues first, so to
    predict absorb at block time t pass `accrue(totals, rates, t)`. `prices`: asset offset → feed answer."""
    if account.principal >= 0:
        return False
    return _liquidity(config, totals, account, prices, base_price, liquidate=True, early_exit=True) < 0


def is_borrow_collateralized(
    config: CometConfig, totals: Totals, account: Account, prices: Mapping[int, int], base_price: int
) -> bool:
    """Comet.isBorrowCollateralized (borrowCollateralFactor instead of liquidateCollateralFactor)."""
    if account.principal >= 0:
        return True
    return _liquidity(config, totals, account, prices, base_price, liquidate=False, early_exit=True) >= 0


def liquidation_margin(
    config: CometConfig, totals: Totals, account: Account, prices: Mapping[int, int], base_price: int
) -> int:
    """Our metric, not a Comet view: the whole isLiquidatable sum (USD, PRICE_SCALE) without the early
    exit. Negative exactly when is_liquidatable (for a borrower whose prices are all positive)."""
    return _liquidity(config, totals, account, prices, base_price, liquidate=True, early_exit=False)


# --- Comet.sol: absorb ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AbsorbedCollateral:
    """One AbsorbCollateral event: the whole balance of one asset, and its USD value before any factor."""

    offset: int
    asset: str
    amount: int
    usd_value: int  # mulPrice(amount, price, scale), PRICE_SCALE


@dataclass(frozen=True)
class Absorption:
    """What absorbInternal does to one account, and the totals it leaves."""

    seized: tuple[AbsorbedCollateral, ...]  # every collateral balance moves to the protocol's reserves
    delta_value: int  # Σ mulFactor(usd_value, liquidationFactor): the credit, USD (PRICE_SCALE)
    delta_balance: int  # divPrice(delta_value, basePrice, baseScale): the credit in base units
    old_balance: int  # presentValue(oldPrincipal) < 0
    new_balance: int  # max(0, old_balance + delta_balance)
    new_principal: int  # principalValue(new_balance) >= 0: the excess credit is supplied to the account
    base_paid_out: int  # AbsorbDebt.basePaidOut = new_balance - old_balance, paid by the reserves
    usd_value: int  # AbsorbDebt.usdValue = mulPrice(base_paid_out, basePrice, baseScale)
    deficit: int  # debt the collateral credit does not cover: max(0, -(old_balance + delta_balance))
    totals: Totals  # totalSupplyBase += supplyAmount; totalBorrowBase -= repayAmount

    @property
    def is_bad_debt(self) -> bool:
        return self.deficit > 0


def repay_and_supply_amount(old_principal: int, new_principal: int) -> tuple[int, int]:
    """Comet.repayAndSupplyAmount: the change of principal split into (repay, supply)."""
    if new_principal < old_principal:
        return 0, 0
    if new_principal <= 0:
        return new_principal - old_principal, 0
    if old_principal >= 0:
        return 0, new_principal - old_principal
    return -old_principal, new_principal


def absorb(
    config: CometConfig, totals: Totals, account: Account, prices: Mapping[int, int], base_price: int
) -> Absorption:
    """Comet.absorbInternal for one account, `totals` already accrued to the block (absorb() accrues once,
    then absorbs each account in turn: feed each Absorption.totals to the next)."""
    if (totals.pause_flags >> PAUSE_ABSORB_OFFSET) & 1:
        raise CometRevertError(PAUSED)
    if not is_liquidatable(config, totals, account, prices, base_price):
        raise CometRevertError(NOT_LIQUIDATABLE)
    old_principal = account.principal
    old_balance = present_value(totals, old_principal)
    base_price = get_price(base_price)
    seized: list[AbsorbedCollateral] = []
    delta_value = 0
    for info in config.assets:
        if is_in_asset(account.assets_in, info.offset):
            amount = account.collateral.get(info.offset, 0)
            value = mul_price(amount, get_price(prices[info.offset]), info.scale)
            delta_value = checked_u256(delta_value + mul_factor(value, info.liquidation_factor))
            seized.append(AbsorbedCollateral(info.offset, info.asset, amount, value))
    delta_balance = div_price(delta_value, base_price, config.base_scale)
    covered = checked_i256(old_balance + signed256(delta_balance))
    new_balance = max(covered, 0)  # all excess debt absorbed by reserves
    new_principal = principal_value(totals, new_balance)
    repay, supply = repay_and_supply_amount(old_principal, new_principal)
    out = replace(
        totals,
        total_supply_base=bounded(totals.total_supply_base + supply, MAX_UINT104),
        total_borrow_base=bounded(totals.total_borrow_base - repay, MAX_UINT104),
    )
    base_paid_out = unsigned256(new_balance - old_balance)
    return Absorption(
        tuple(seized),
        delta_value,
        delta_balance,
        old_balance,
        new_balance,
        new_principal,
        base_paid_out,
        mul_price(base_paid_out, base_price, config.base_scale),
        -covered if covered < 0 else 0,
        out,
    )


# --- Comet.sol: buying the absorbed collateral ------------------------------------------------------


def discount_factor(config: CometConfig, info: AssetInfo) -> int:
    """quoteCollateral's store-front discount: storeFrontPriceFactor * (1 - liquidationFactor)."""
    return mul_factor(
        config.store_front_price_factor, bounded(FACTOR_SCALE - info.liquidation_factor, MAX_UINT256)
    )


def _discounted_price(config: CometConfig, info: AssetInfo, asset_price: int) -> int:
    discount = discount_factor(config, info)
    return mul_factor(get_price(asset_price), bounded(FACTOR_SCALE - discount, MAX_UINT256))


def quote_collateral(
    config: CometConfig, asset: str, base_amount: int, asset_price: int, base_price: int
) -> int:
    """Comet.quoteCollateral: collateral units that `base_amount` buys at the discounted price."""
    info = asset_info_by_address(config, asset)
    discounted = _discounted_price(config, info, asset_price)
    num = checked_u256(checked_u256(get_price(base_price) * base_amount) * info.scale)
    return checked_div(checked_div(num, discounted), config.base_scale)


def max_base_for_collateral(
    config: CometConfig, asset: str, collateral: int, asset_price: int, base_price: int
) -> int:
    """Our inverse of quoteCollateral: the largest baseAmount whose quote is <= `collateral` (e.g. the
    collateral reserves, so buyCollateral does not revert InsufficientReserves). quoteCollateral floors
    twice, which equals one floor of basePrice*b*scale / (discounted*baseScale)."""
    info = asset_info_by_address(config, asset)
    den = _discounted_price(config, info, asset_price) * config.base_scale
    if den == 0:
        raise CometRevertError(DIVISION_BY_ZERO)  # quoteCollateral divides by the discounted price
    return ((collateral + 1) * den - 1) // (get_price(base_price) * info.scale)


def buy_collateral(
    config: CometConfig,
    totals: Totals,
    asset: str,
    min_amount: int,
    base_received: int,
    *,
    reserves: int,
    collateral_reserves: int,
    asset_price: int,
    base_price: int,
) -> int:
    """Comet.buyCollateral: the collateral sent to the buyer, or the revert. `reserves` is getReserves()
    before the payment; `base_received` what doTransferIn counted (the baseAmount, less any token fee);
    `collateral_reserves` is getCollateralReserves(asset)."""
    if (totals.pause_flags >> PAUSE_BUY_OFFSET) & 1:
        raise CometRevertError(PAUSED)
    if reserves >= 0 and reserves >= config.target_reserves:
        raise CometRevertError(NOT_FOR_SALE)
    amount = quote_collateral(config, asset, base_received, asset_price, base_price)
    if amount < min_amount:
        raise CometRevertError(TOO_MUCH_SLIPPAGE)
    if amount > collateral_reserves:
        raise CometRevertError(INSUFFICIENT_RESERVES)
    return safe128(amount)
