"""Aave V3.0 account math: GenericLogic.calculateUserAccountData and the inputs of a liquidation.

Mirrors `@aave/core-v3` 1.19.3 (Pool revision 1): GenericLogic, EModeLogic.getEModeConfiguration,
PoolLogic.executeGetUserAccountData, and LiquidationLogic._getConfigurationData / validateLiquidationCall.
Pure: the caller reads the chain (reserves, balances, prices) at one block and passes the block timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from liqbot.core.fixed import MAX_UINT256, MathRevertError, percent_mul, ray_mul, wad_div
from liqbot.protocols.aave_v3.liquidation import LiquidationInputs, LiquidationRevertError
from liqbot.protocols.aave_v3.reserve import ReserveState, StableDebt, UserConfig


@dataclass(frozen=True)
class EModeCategory:
    """Pool.getEModeCategoryData(id); `price` = AaveOracle.getAssetPrice(priceSource), None without one."""

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    price: int | None = None


@dataclass(frozen=True)
class UserReserve:
    """One user's balances in one reserve: aToken and variable debt scaledBalanceOf, stable debt state."""

    scaled_a_token_balance: int = 0
    scaled_variable_debt: int = 0
    stable_debt: StableDebt = field(default_factory=StableDebt)


@dataclass(frozen=True)
class Market:
    """The pool's state at one block, keyed by reserve id (`getReserveData(asset).id`)."""

    reserves: Mapping[int, ReserveState]
    prices: Mapping[int, int]  # AaveOracle.getAssetPrice(asset), base currency (USD, 8 decimals)
    emode_categories: Mapping[int, EModeCategory] = field(default_factory=dict)


@dataclass(frozen=True)
class UserPosition:
    config: UserConfig  # Pool.getUserConfiguration(user)
    emode_category: int  # Pool.getUserEMode(user)
    reserves: Mapping[int, UserReserve]  # by reserve id; absent means all zero


@dataclass(frozen=True)
class AccountData:
    """Pool.getUserAccountData, plus GenericLogic's hasZeroLtvCollateral."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int
    has_zero_ltv_collateral: bool


_NO_BALANCE = UserReserve()


def _in_emode(user_category: int, asset_category: int) -> bool:
    """EModeLogic.isInEModeCategory."""
    return user_category != 0 and asset_category == user_category


def _asset_price(market: Market, reserve: ReserveState, user_category: int, emode_price: int) -> int:
    if emode_price != 0 and user_category == reserve.configuration.emode_category:
        return emode_price
    return market.prices[reserve.id]


def user_balance_in_base(user: UserReserve, reserve: ReserveState, price: int, unit: int, ts: int) -> int:
    """GenericLogic._getUserBalanceInBaseCurrency: rayMul(scaled, income) * price / unit, in that order."""
    return _checked(ray_mul(user.scaled_a_token_balance, reserve.normalized_income(ts)) * price) // unit


def user_debt_in_base(user: UserReserve, reserve: ReserveState, price: int, unit: int, ts: int) -> int:
    """GenericLogic._getUserDebtInBaseCurrency: (variable + stable) * price / unit, rounded down."""
    debt = user.scaled_variable_debt
    if debt != 0:
        debt = ray_mul(debt, reserve.normalized_debt(ts))
    return _checked(_checked(debt + user.stable_debt.balance(ts)) * price) // unit


def _checked(value: int) -> int:
    if value > MAX_UINT256:
        raise MathRevertError("uint256 overflow in calculateUserAccountData")
    return value


def user_account_data(market: Market, user: UserPosition, timestamp: int) -> AccountData:
    """GenericLogic.calculateUserAccountData + calculateAvailableBorrows at block.timestamp == timestamp."""
    if user.config.is_empty():
        return AccountData(0, 0, 0, 0, 0, MAX_UINT256, False)
    category = user.emode_category
    emode_ltv = emode_lt = emode_price = 0
    if category != 0:
        e = market.emode_categories[category]
        emode_ltv, emode_lt, emode_price = e.ltv, e.liquidation_threshold, e.price or 0
    collateral = debt = avg_ltv = avg_lt = 0
    zero_ltv = False
    for rid in user.config.reserve_ids():
        reserve = market.reserves.get(rid)
        if reserve is None:  # reservesList[i] == address(0): a dropped reserve
            continue
        conf = reserve.configuration
        price = _asset_price(market, reserve, category, emode_price)
        balances = user.reserves.get(rid, _NO_BALANCE)
        if conf.liquidation_threshold != 0 and user.config.is_using_as_collateral(rid):
            value = user_balance_in_base(balances, reserve, price, conf.unit, timestamp)
            collateral += value
            in_emode = _in_emode(category, conf.emode_category)
            if conf.ltv != 0:
                avg_ltv += value * (emode_ltv if in_emode else conf.ltv)
            else:
                zero_ltv = True
            avg_lt += value * (emode_lt if in_emode else conf.liquidation_threshold)
        if user.config.is_borrowing(rid):
            debt += user_debt_in_base(balances, reserve, price, conf.unit, timestamp)
    _checked(max(collateral, debt, avg_ltv, avg_lt))  # sums only grow: checking the totals is enough
    avg_ltv = avg_ltv // collateral if collateral else 0
    avg_lt = avg_lt // collateral if collateral else 0
    hf = MAX_UINT256 if debt == 0 else wad_div(percent_mul(collateral, avg_lt), debt)
    borrowable = percent_mul(collateral, avg_ltv)
    available = borrowable - debt if borrowable >= debt else 0
    return AccountData(collateral, debt, available, avg_lt, avg_ltv, hf, zero_ltv)


def liquidation_inputs(
    market: Market,
    user: UserPosition,
    collateral_id: int,
    debt_id: int,
    timestamp: int,
    account: AccountData | None = None,
) -> LiquidationInputs:
    """Everything v3.0's executeLiquidationCall reads, at block.timestamp == timestamp.

    Checks the reserve flags that ValidationLogic.validateLiquidationCall checks first (active, not paused)
    and applies LiquidationLogic._getConfigurationData (eMode bonus and price source)."""
    coll, debt = market.reserves[collateral_id], market.reserves[debt_id]
    if not (coll.configuration.active and debt.configuration.active):
        raise LiquidationRevertError("RESERVE_INACTIVE", "27")
    if coll.configuration.paused or debt.configuration.paused:
        raise LiquidationRevertError("RESERVE_PAUSED", "29")
    if account is None:
        account = user_account_data(market, user, timestamp)
    bonus = coll.configuration.liquidation_bonus
    coll_price, debt_price = market.prices[collateral_id], market.prices[debt_id]
    if user.emode_category != 0:
        e = market.emode_categories[user.emode_category]
        if _in_emode(user.emode_category, coll.configuration.emode_category):
            bonus = e.liquidation_bonus
            if e.price is not None:
                coll_price = e.price
        if e.price is not None:  # in eMode, debt is always in the category: its price source applies
            debt_price = e.price
    c_bal, d_bal = user.reserves.get(collateral_id, _NO_BALANCE), user.reserves.get(debt_id, _NO_BALANCE)
    return LiquidationInputs(
        health_factor=account.health_factor,
        total_collateral_base=account.total_collateral_base,
        total_debt_base=account.total_debt_base,
        collateral_scaled_balance=c_bal.scaled_a_token_balance,
        collateral_index=coll.normalized_income(timestamp),
        debt_scaled_balance=d_bal.scaled_variable_debt,
        debt_index=debt.normalized_debt(timestamp),
        collateral_price=coll_price,
        debt_price=debt_price,
        collateral_unit=coll.configuration.unit,
        debt_unit=debt.configuration.unit,
        liquidation_bonus=bonus,
        liquidation_protocol_fee=coll.configuration.liquidation_protocol_fee,
        stable_debt=d_bal.stable_debt.balance(timestamp),
        collateral_enabled=(
            coll.configuration.liquidation_threshold != 0
            and user.config.is_using_as_collateral(collateral_id)
        ),
    )
