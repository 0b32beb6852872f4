"""Aave V3 liquidation amounts per protocol revision: close factor, debt to repay, collateral seized, fee.

Mirrors LiquidationLogic.executeLiquidationCall, _calculateDebt and _calculateAvailableCollateralToLiquidate:
- V3_0: `@aave/core-v3` 1.19.3 `contracts/protocol/libraries/logic/LiquidationLogic.sol` (v3.1 has the same
  math; v3.2 only dropped stable debt, so pass stable_debt=0 there).
- V3_3: aave-v3-origin tag v3.3.0 `src/contracts/protocol/libraries/logic/LiquidationLogic.sol` (v3.4: same
  math). 100% close factor unless collateral and debt in the reserve are both >= $2,000 and HF > 0.95;
  MustNotLeaveDust.
- V3_5: tag v3.5.0 (v3.6: same math): TokenMath floor/ceil balances, mulDivCeil debt in base, percentDivCeil.
- V3_7: HEAD (v3.7.0): percentMulFloor / percentDivFloor / percentMulCeil (docs/3.7/liquidation-rounding.md),
  scaled-balance `hasNoCollateralLeft`, and no PriceOracleSentinel check.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from liqbot.core.errors import SkipError
from liqbot.core.fixed import (
    MAX_UINT256,
    WAD,
    MathRevertError,
    mul_div_ceil,
    percent_div,
    percent_div_ceil,
    percent_div_floor,
    percent_mul,
    percent_mul_ceil,
    percent_mul_floor,
    ray_div,
    ray_div_ceil,
    ray_div_floor,
    ray_mul,
    ray_mul_ceil,
    ray_mul_floor,
)

DEFAULT_LIQUIDATION_CLOSE_FACTOR = 5_000
MAX_LIQUIDATION_CLOSE_FACTOR = 10_000
CLOSE_FACTOR_HF_THRESHOLD = 95 * WAD // 100
HEALTH_FACTOR_LIQUIDATION_THRESHOLD = WAD
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2_000 * 10**8  # v3.3+, base currency (USD, 8 decimals)
MIN_LEFTOVER_BASE = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD // 2


class AaveRevision(Enum):
    """Whose LiquidationLogic rules apply: V3_0 for v3.0–v3.2, V3_3 for v3.3–v3.4, V3_5 for v3.5–v3.6."""

    V3_0 = "3.0"
    V3_3 = "3.3"
    V3_5 = "3.5"
    V3_7 = "3.7"

    @property
    def at_least_3_3(self) -> bool:
        return self is not AaveRevision.V3_0

    @property
    def directional_rounding(self) -> bool:
        """v3.5+ read balances through TokenMath (aToken floor, vToken ceil) instead of half-up rayMul."""
        return self in (AaveRevision.V3_5, AaveRevision.V3_7)


class LiquidationRevertError(SkipError):
    """liquidationCall would revert; `reason` is the Errors name (v3.0 numeric code in the message)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"liquidationCall would revert: {reason}{f' ({detail})' if detail else ''}")
        self.reason = reason


@dataclass(frozen=True)
class LiquidationInputs:
    """One borrower, one (collateral, debt) pair, at the block the liquidation would land in."""

    health_factor: int
    total_collateral_base: int
    total_debt_base: int
    collateral_scaled_balance: int
    collateral_index: int  # collateral reserve's normalized income at that block
    debt_scaled_balance: int
    debt_index: int  # debt reserve's normalized variable debt at that block
    collateral_price: int  # the price source's oracle price (eMode source when it applies)
    debt_price: int
    collateral_unit: int  # 10**decimals
    debt_unit: int
    liquidation_bonus: int  # bps, e.g. 10500 (eMode category's when it applies)
    liquidation_protocol_fee: int  # bps of the bonus
    stable_debt: int = 0  # StableDebtToken.balanceOf at that block (v3.0 / v3.1 only)
    collateral_enabled: bool = True  # LT != 0 and the borrower uses the reserve as collateral


@dataclass(frozen=True)
class CollateralToLiquidate:
    """_calculateAvailableCollateralToLiquidate's results."""

    collateral_amount: int  # to the liquidator (fee already taken out)
    debt_amount: int  # debt actually repaid
    protocol_fee: int  # collateral to the treasury, before the 1-wei scaled-balance cap
    collateral_base: int  # v3.3–v3.6 collateralToLiquidateInBaseCurrency (fee included)


@dataclass(frozen=True)
class LiquidationQuote:
    """What a successful liquidationCall moves."""

    debt_to_repay: int  # taken from the liquidator (LiquidationCall.debtToCover)
    collateral_to_liquidator: int  # underlying, or aTokens with receiveAToken (liquidatedCollateralAmount)
    protocol_fee: int  # aTokens moved to the treasury
    max_liquidatable_debt: int  # the close-factor cap for this debt reserve
    has_no_collateral_left: bool  # v3.3+: all collateral gone, remaining debt is burned as deficit
    deficit: int  # v3.3+: debt of this reserve written off as deficit


def collateral_balance(rev: AaveRevision, i: LiquidationInputs) -> int:
    """aToken.balanceOf (v3.0–3.4, rayMul) or TokenMath.getATokenBalance (v3.5+, rayMulFloor)."""
    if rev.directional_rounding:
        return ray_mul_floor(i.collateral_scaled_balance, i.collateral_index)
    return ray_mul(i.collateral_scaled_balance, i.collateral_index)


def reserve_debt(rev: AaveRevision, i: LiquidationInputs) -> int:
    """The borrower's debt in the debt reserve the close factor applies to.

    v3.0: Helpers.getUserCurrentDebt, stable + variable balanceOf. v3.3/3.4: variable balanceOf.
    v3.5+: TokenMath.getVTokenBalance (rayMulCeil)."""
    if rev.directional_rounding:
        return ray_mul_ceil(i.debt_scaled_balance, i.debt_index)
    variable = 0 if i.debt_scaled_balance == 0 else ray_mul(i.debt_scaled_balance, i.debt_index)
    return variable + i.stable_debt if rev is AaveRevision.V3_0 else variable


def _debt_in_base(rev: AaveRevision, amount: int, price: int, unit: int) -> int:
    if rev.directional_rounding:
        return mul_div_ceil(amount, price, unit)
    return _div(amount * price, unit)


def _u(value: int) -> int:
    if value > MAX_UINT256:
        raise MathRevertError("uint256 overflow in LiquidationLogic")
    return value


def _div(numerator: int, denominator: int) -> int:
    """Checked `numerator / denominator` (a zero price or unit panics in Solidity too)."""
    if denominator == 0:
        raise MathRevertError("division by zero in LiquidationLogic")
    return _u(numerator) // denominator


def max_liquidatable_debt(rev: AaveRevision, i: LiquidationInputs) -> int:
    """The close factor, as an amount of the debt asset.

    v3.0 `_calculateDebt`: 50% of the reserve debt if HF > 0.95, else 100%.
    v3.3+: 100%, unless collateral and debt in these reserves are both >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
    and HF > 0.95; then at most 50% of the *total* debt, converted to this asset."""
    debt = reserve_debt(rev, i)
    if rev is AaveRevision.V3_0:
        factor = (
            DEFAULT_LIQUIDATION_CLOSE_FACTOR
            if i.health_factor > CLOSE_FACTOR_HF_THRESHOLD
            else MAX_LIQUIDATION_CLOSE_FACTOR
        )
        return percent_mul(debt, factor)
    debt_base = _debt_in_base(rev, debt, i.debt_price, i.debt_unit)
    collateral_base = _div(collateral_balance(rev, i) * i.collateral_price, i.collateral_unit)
    if (
        collateral_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and debt_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and i.health_factor > CLOSE_FACTOR_HF_THRESHOLD
    ):
        half_total = percent_mul(i.total_debt_base, DEFAULT_LIQUIDATION_CLOSE_FACTOR)
        if debt_base > half_total:
            return _div(half_total * i.debt_unit, i.debt_price)
    return debt


def actual_debt_to_liquidate(rev: AaveRevision, i: LiquidationInputs, debt_to_cover: int) -> int:
    """min(debtToCover, close-factor cap), before the collateral limit."""
    return min(debt_to_cover, max_liquidatable_debt(rev, i))


def calculate_available_collateral_to_liquidate(
    rev: AaveRevision,
    *,
    collateral_price: int,
    collateral_unit: int,
    debt_price: int,
    debt_unit: int,
    debt_to_cover: int,
    collateral_balance: int,
    liquidation_bonus: int,
    liquidation_protocol_fee: int,
) -> CollateralToLiquidate:
    """LiquidationLogic._calculateAvailableCollateralToLiquidate with the revision's rounding."""
    mul_bonus = percent_mul_floor if rev is AaveRevision.V3_7 else percent_mul
    div_needed = percent_div_ceil if rev.directional_rounding else percent_div
    div_base = percent_div_floor if rev is AaveRevision.V3_7 else percent_div
    mul_fee = percent_mul_ceil if rev is AaveRevision.V3_7 else percent_mul

    base_collateral = _div(debt_price * debt_to_cover * collateral_unit, _u(collateral_price * debt_unit))
    max_collateral = mul_bonus(base_collateral, liquidation_bonus)
    if max_collateral > collateral_balance:
        collateral_amount = collateral_balance
        debt_needed = div_needed(
            _div(collateral_price * collateral_amount * debt_unit, _u(debt_price * collateral_unit)),
            liquidation_bonus,
        )
    else:
        collateral_amount, debt_needed = max_collateral, debt_to_cover
    collateral_base = 0
    if rev in (AaveRevision.V3_3, AaveRevision.V3_5):
        collateral_base = _div(collateral_amount * collateral_price, collateral_unit)
    fee = 0
    if liquidation_protocol_fee != 0:
        bonus_collateral = collateral_amount - div_base(collateral_amount, liquidation_bonus)
        fee = mul_fee(bonus_collateral, liquidation_protocol_fee)
        collateral_amount -= fee
    return CollateralToLiquidate(collateral_amount, debt_needed, fee, collateral_base)


def check_price_oracle_sentinel(rev: AaveRevision, health_factor: int, sentinel_allows: bool | None) -> None:
    """ValidationLogic.validateLiquidationCall's sentinel rule (gone in v3.7). None = no sentinel set."""
    if rev is AaveRevision.V3_7 or sentinel_allows is None or sentinel_allows:
        return
    if health_factor >= CLOSE_FACTOR_HF_THRESHOLD:  # MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD
        raise LiquidationRevertError("PRICE_ORACLE_SENTINEL_CHECK_FAILED", "59")


def quote_liquidation(
    rev: AaveRevision,
    i: LiquidationInputs,
    debt_to_cover: int,
    *,
    receive_a_token: bool = False,
    sentinel_allows: bool | None = None,
) -> LiquidationQuote:
    """executeLiquidationCall's amounts. Where the call would revert: LiquidationRevertError for a protocol
    rule (checked in validateLiquidationCall's order), MathRevertError for arithmetic. Reserve flags (active,
    paused) and, from v3.1, grace periods are the input builder's to check: the contract checks them first."""
    check_price_oracle_sentinel(rev, i.health_factor, sentinel_allows)
    if i.health_factor >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        raise LiquidationRevertError("HEALTH_FACTOR_NOT_BELOW_THRESHOLD", "45")
    if not i.collateral_enabled:
        raise LiquidationRevertError("COLLATERAL_CANNOT_BE_LIQUIDATED", "46")
    debt = reserve_debt(rev, i)
    if debt == 0:
        raise LiquidationRevertError("SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER", "47")
    cap = max_liquidatable_debt(rev, i)
    balance = collateral_balance(rev, i)
    c = calculate_available_collateral_to_liquidate(
        rev,
        collateral_price=i.collateral_price,
        collateral_unit=i.collateral_unit,
        debt_price=i.debt_price,
        debt_unit=i.debt_unit,
        debt_to_cover=min(debt_to_cover, cap),
        collateral_balance=balance,
        liquidation_bonus=i.liquidation_bonus,
        liquidation_protocol_fee=i.liquidation_protocol_fee,
    )
    if rev.at_least_3_3:
        _check_dust(rev, i, c, debt, balance)
    no_collateral_left = _has_no_collateral_left(rev, i, c)
    _check_debt_burn(rev, i, c.debt_amount, debt if no_collateral_left else c.debt_amount)
    fee = _treasury_fee(rev, i, c, receive_a_token)
    deficit = debt - c.debt_amount if no_collateral_left else 0
    return LiquidationQuote(c.debt_amount, c.collateral_amount, fee, cap, no_collateral_left, deficit)


def _check_dust(
    rev: AaveRevision, i: LiquidationInputs, c: CollateralToLiquidate, debt: int, balance: int
) -> None:
    """v3.3+: liquidate all the debt, or all the collateral, or leave at least MIN_LEFTOVER_BASE of each."""
    if c.debt_amount < debt and c.collateral_amount + c.protocol_fee < balance:
        debt_left = _debt_in_base(rev, debt - c.debt_amount, i.debt_price, i.debt_unit)
        left = balance - c.collateral_amount - c.protocol_fee
        collateral_left = _div(left * i.collateral_price, i.collateral_unit)
        if debt_left < MIN_LEFTOVER_BASE or collateral_left < MIN_LEFTOVER_BASE:
            detail = f"would leave {debt_left} debt and {collateral_left} collateral, base units"
            raise LiquidationRevertError("MUST_NOT_LEAVE_DUST", detail)


def _has_no_collateral_left(rev: AaveRevision, i: LiquidationInputs, c: CollateralToLiquidate) -> bool:
    if not rev.at_least_3_3:
        return False
    if rev is not AaveRevision.V3_7:
        return i.total_collateral_base == c.collateral_base
    consumed = ray_div_ceil(c.collateral_amount, i.collateral_index) + ray_div_ceil(
        c.protocol_fee, i.collateral_index
    )
    consumed = min(consumed, i.collateral_scaled_balance)
    consumed_base = _div(ray_mul_floor(consumed, i.collateral_index) * i.collateral_price, i.collateral_unit)
    return consumed_base == i.total_collateral_base


def _check_debt_burn(rev: AaveRevision, i: LiquidationInputs, repaid: int, burned: int) -> None:
    """The debt token's _burnScaled rejects a zero scaled amount (INVALID_BURN_AMOUNT, '25')."""
    if rev is AaveRevision.V3_0:  # variable debt first, the rest from stable debt (no zero check there)
        variable = reserve_debt(rev, i) - i.stable_debt
        if variable < repaid:
            if variable == 0:
                return
            burned = variable
    elif i.debt_scaled_balance == 0:
        return
    scaled = (
        ray_div_floor(burned, i.debt_index) if rev.directional_rounding else ray_div(burned, i.debt_index)
    )
    if scaled == 0:
        raise LiquidationRevertError("INVALID_BURN_AMOUNT", "25")


def _treasury_fee(
    rev: AaveRevision, i: LiquidationInputs, c: CollateralToLiquidate, receive_a_token: bool
) -> int:
    """The fee after the collateral leg, capped at the scaled balance left ("1 wei imprecision")."""
    idx = i.collateral_index
    if rev.directional_rounding:
        moved = ray_div_ceil(c.collateral_amount, idx)
    else:
        moved = ray_div(c.collateral_amount, idx)
    if moved == 0 and not receive_a_token:
        raise LiquidationRevertError("INVALID_BURN_AMOUNT", "25")
    if moved > i.collateral_scaled_balance:  # the token's balance subtraction underflows
        raise MathRevertError("the collateral leg exceeds the borrower's scaled balance")
    if c.protocol_fee == 0:
        return 0
    left = i.collateral_scaled_balance - moved
    fee_scaled = (
        ray_div_ceil(c.protocol_fee, idx) if rev.directional_rounding else ray_div(c.protocol_fee, idx)
    )
    if fee_scaled <= left:
        return c.protocol_fee
    return ray_mul_floor(left, idx) if rev.directional_rounding else ray_mul(left, idx)
