"""Compound III (Comet) math in pure integers, line for line with compound-finance/comet `contracts/`:
`CometCore.sol` (present/principal values), `CometMath.sol` (safe casts), `Comet.sol` (the scaling helpers,
the kinked rate model, interest accrual, the accruing views, getReserves) and the state they read. The
liquidation path (isLiquidatable, absorbInternal, quoteCollateral, buyCollateral) is in liquidation.py.
`CometWithExtendedAssetList.sol` has the same arithmetic; only `isInAsset` reads 8 more bits.

Not proven against real Comet bytecode (see docs/compound_v3.md): the worked examples are comet's own unit
tests. Where the contract reverts (a custom error, a checked 0.8 overflow/underflow, a division by zero) we
raise CometRevertError with the error's signature, so no caller gets a number the chain could not produce.
Reward tracking (trackingSupplyIndex, baseTrackingAccrued) is left out: it never moves a balance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from liqbot.core.errors import SkipError

# CometCore.sol constants
SECONDS_PER_YEAR = 31_536_000
BASE_INDEX_SCALE = 10**15
FACTOR_SCALE = 10**18
PRICE_FEED_DECIMALS = 8
PRICE_SCALE = 10**PRICE_FEED_DECIMALS
MAX_ASSETS = 15  # Comet (12 packed slots used); CometWithExtendedAssetList allows 24
PAUSE_ABSORB_OFFSET = 3
PAUSE_BUY_OFFSET = 4

MAX_UINT64 = 2**64 - 1
MAX_UINT104 = 2**104 - 1
MAX_UINT128 = 2**128 - 1
MAX_INT104 = 2**103 - 1
MAX_UINT256 = 2**256 - 1
MAX_INT256 = 2**255 - 1
MIN_INT256 = -(2**255)

# Revert reasons: the custom error signatures of CometMath.sol / CometMainInterface.sol, and Solidity panics.
INVALID_UINT64 = "InvalidUInt64()"
INVALID_UINT104 = "InvalidUInt104()"
INVALID_UINT128 = "InvalidUInt128()"
INVALID_INT104 = "InvalidInt104()"
INVALID_INT256 = "InvalidInt256()"
NEGATIVE_NUMBER = "NegativeNumber()"
BAD_ASSET = "BadAsset()"
BAD_PRICE = "BadPrice()"
NOT_LIQUIDATABLE = "NotLiquidatable()"
NOT_FOR_SALE = "NotForSale()"
TOO_MUCH_SLIPPAGE = "TooMuchSlippage()"
INSUFFICIENT_RESERVES = "InsufficientReserves()"
PAUSED = "Paused()"
TIMESTAMP_TOO_LARGE = "TimestampTooLarge()"
OVERFLOW = "Panic(0x11)"  # checked arithmetic over- or underflow
DIVISION_BY_ZERO = "Panic(0x12)"


class CometRevertError(SkipError):
    """Comet would revert here; `reason` is the custom error signature or the panic."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Comet reverts: {reason}")
        self.reason = reason


# --- checked arithmetic (Solidity 0.8) and CometMath.sol casts ----------------------------------------


def checked_u256(x: int) -> int:
    if not 0 <= x <= MAX_UINT256:
        raise CometRevertError(OVERFLOW)
    return x


def checked_i256(x: int) -> int:
    if not MIN_INT256 <= x <= MAX_INT256:
        raise CometRevertError(OVERFLOW)
    return x


def checked_div(a: int, b: int) -> int:
    """Unsigned `a / b`."""
    if b == 0:
        raise CometRevertError(DIVISION_BY_ZERO)
    return a // b


def _sdiv(a: int, b: int) -> int:
    """Signed `a / b`: Solidity truncates toward zero (Python's // floors)."""
    if b == 0:
        raise CometRevertError(DIVISION_BY_ZERO)
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def bounded(x: int, top: int) -> int:
    """A checked `uintN` result: reverts outside [0, top]."""
    if not 0 <= x <= top:
        raise CometRevertError(OVERFLOW)
    return x


def safe64(n: int) -> int:
    if n > MAX_UINT64:
        raise CometRevertError(INVALID_UINT64)
    return n


def safe104(n: int) -> int:
    if n > MAX_UINT104:
        raise CometRevertError(INVALID_UINT104)
    return n


def safe128(n: int) -> int:
    if n > MAX_UINT128:
        raise CometRevertError(INVALID_UINT128)
    return n


def signed104(n: int) -> int:
    if n > MAX_INT104:
        raise CometRevertError(INVALID_INT104)
    return n


def signed256(n: int) -> int:
    if n > MAX_INT256:
        raise CometRevertError(INVALID_INT256)
    return n


def unsigned256(n: int) -> int:
    if n < 0:
        raise CometRevertError(NEGATIVE_NUMBER)
    return n


# --- Comet.sol scaling helpers ---------------------------------------------------------------------


def mul_factor(n: int, factor: int) -> int:
    """Comet.mulFactor: n * factor / FACTOR_SCALE."""
    return checked_u256(n * factor) // FACTOR_SCALE


def mul_price(n: int, price: int, from_scale: int) -> int:
    """Comet.mulPrice: n * price / fromScale."""
    return checked_div(checked_u256(n * price), from_scale)


def signed_mul_price(n: int, price: int, from_scale: int) -> int:
    """Comet.signedMulPrice: n * signed256(price) / int256(fromScale), truncated toward zero."""
    return _sdiv(checked_i256(n * signed256(price)), from_scale)


def div_price(n: int, price: int, to_scale: int) -> int:
    """Comet.divPrice: n * toScale / price."""
    return checked_div(checked_u256(n * to_scale), price)


def get_price(price: int) -> int:
    """Comet.getPrice: the feed's latestRoundData answer, which must be positive."""
    if price <= 0:
        raise CometRevertError(BAD_PRICE)
    return price


# --- state ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateModel:
    """The per-second rate immutables (`supplyPerSecondInterestRateSlopeLow()` etc.), factors of 1e18."""

    supply_kink: int
    supply_slope_low: int
    supply_slope_high: int
    supply_base: int
    borrow_kink: int
    borrow_slope_low: int
    borrow_slope_high: int
    borrow_base: int

    @classmethod
    def from_per_year(
        cls,
        *,
        supply_kink: int,
        supply_slope_low: int,
        supply_slope_high: int,
        supply_base: int,
        borrow_kink: int,
        borrow_slope_low: int,
        borrow_slope_high: int,
        borrow_base: int,
    ) -> RateModel:
        """Comet's constructor: each per-year Configuration value / SECONDS_PER_YEAR (kinks unchanged)."""
        y = SECONDS_PER_YEAR
        return cls(
            supply_kink,
            supply_slope_low // y,
            supply_slope_high // y,
            supply_base // y,
            borrow_kink,
            borrow_slope_low // y,
            borrow_slope_high // y,
            borrow_base // y,
        )


@dataclass(frozen=True)
class Totals:
    """CometStorage.TotalsBasic without the reward-tracking indices (`totalsBasic()` on CometExt)."""

    base_supply_index: int = BASE_INDEX_SCALE  # initializeStorage
    base_borrow_index: int = BASE_INDEX_SCALE
    total_supply_base: int = 0  # principal (uint104)
    total_borrow_base: int = 0
    last_accrual_time: int = 0
    pause_flags: int = 0


@dataclass(frozen=True)
class AssetInfo:
    """CometCore.AssetInfo as `getAssetInfo(i)` returns it (factors already truncated to 4 decimals)."""

    offset: int
    asset: str
    price_feed: str
    scale: int
    borrow_collateral_factor: int
    liquidate_collateral_factor: int
    liquidation_factor: int
    supply_cap: int = 0


@dataclass(frozen=True)
class CometConfig:
    """One Comet's immutables that the math needs."""

    base_scale: int  # baseScale() = 10 ** base decimals
    rates: RateModel
    store_front_price_factor: int
    target_reserves: int
    assets: tuple[AssetInfo, ...]  # getAssetInfo(0 .. numAssets-1), in offset order


@dataclass(frozen=True)
class Account:
    """One account: `userBasic(a).principal`, its asset bits and `userCollateral(a, asset).balance`."""

    principal: int  # int104: > 0 supplied base, < 0 borrowed base, in principal units
    assets_in: int = 0  # assetsIn | _reserved << 16 (the upper byte only on CometWithExtendedAssetList)
    collateral: Mapping[int, int] = field(default_factory=dict)  # asset offset → balance (absent: 0)


def packed_factor(factor: int) -> int:
    """getPackedAssetInternal + getAssetInfo: a configured factor as Comet stores it (4 decimals, uint16)."""
    descale = FACTOR_SCALE // 10**4
    return ((factor // descale) & 0xFFFF) * descale


def is_in_asset(assets_in: int, offset: int) -> bool:
    """Comet.isInAsset (and the extended list's: bits 16-23 come from UserBasic._reserved)."""
    return offset < 24 and (assets_in >> offset) & 1 == 1


def asset_info_by_address(config: CometConfig, asset: str) -> AssetInfo:
    """Comet.getAssetInfoByAddress (addresses compared case-insensitively)."""
    for info in config.assets:
        if info.asset.lower() == asset.lower():
            return info
    raise CometRevertError(BAD_ASSET)


# --- CometCore.sol: present and principal values -------------------------------------------------


def present_value_supply(base_supply_index: int, principal: int) -> int:
    """CometCore.presentValueSupply: principal * index / BASE_INDEX_SCALE (rounded down)."""
    return principal * base_supply_index // BASE_INDEX_SCALE


def present_value_borrow(base_borrow_index: int, principal: int) -> int:
    """CometCore.presentValueBorrow: principal * index / BASE_INDEX_SCALE (rounded down)."""
    return principal * base_borrow_index // BASE_INDEX_SCALE


def principal_value_supply(base_supply_index: int, present: int) -> int:
    """CometCore.principalValueSupply: present * BASE_INDEX_SCALE / index (rounded down), safe104."""
    return safe104(checked_div(checked_u256(present * BASE_INDEX_SCALE), base_supply_index))


def principal_value_borrow(base_borrow_index: int, present: int) -> int:
    """CometCore.principalValueBorrow: rounded up, safe104."""
    num = checked_u256(checked_u256(present * BASE_INDEX_SCALE) + base_borrow_index - 1)
    return safe104(checked_div(num, base_borrow_index))


def present_value(totals: Totals, principal: int) -> int:
    """CometCore.presentValue: the signed balance (supply > 0, borrow < 0)."""
    if principal >= 0:
        return signed256(present_value_supply(totals.base_supply_index, principal))
    return -signed256(present_value_borrow(totals.base_borrow_index, -principal))


def principal_value(totals: Totals, present: int) -> int:
    """CometCore.principalValue: the signed principal of a signed balance."""
    if present >= 0:
        return signed104(principal_value_supply(totals.base_supply_index, present))
    return -signed104(principal_value_borrow(totals.base_borrow_index, -present))


# --- Comet.sol: rates and accrual ------------------------------------------------------------------


def get_utilization(totals: Totals) -> int:
    """Comet.getUtilization: borrow / supply present values, factor-scaled (0 without supply)."""
    supply = present_value_supply(totals.base_supply_index, totals.total_supply_base)
    borrow = present_value_borrow(totals.base_borrow_index, totals.total_borrow_base)
    if supply == 0:
        return 0
    return checked_u256(borrow * FACTOR_SCALE) // supply


def _kinked(base: int, low: int, high: int, kink: int, utilization: int) -> int:
    if utilization <= kink:
        return safe64(checked_u256(base + mul_factor(low, utilization)))
    return safe64(checked_u256(base + mul_factor(low, kink) + mul_factor(high, utilization - kink)))


def get_supply_rate(rates: RateModel, utilization: int) -> int:
    """Comet.getSupplyRate: per-second supply rate at `utilization` (does not accrue)."""
    return _kinked(
        rates.supply_base, rates.supply_slope_low, rates.supply_slope_high, rates.supply_kink, utilization
    )


def get_borrow_rate(rates: RateModel, utilization: int) -> int:
    """Comet.getBorrowRate: per-second borrow rate at `utilization` (does not accrue)."""
    return _kinked(
        rates.borrow_base, rates.borrow_slope_low, rates.borrow_slope_high, rates.borrow_kink, utilization
    )


def accrued_interest_indices(totals: Totals, rates: RateModel, time_elapsed: int) -> tuple[int, int]:
    """Comet.accruedInterestIndices: (supply index, borrow index) after `time_elapsed` seconds, one simple
    (non-compounding) step at the rates of the current utilization."""
    supply_index, borrow_index = totals.base_supply_index, totals.base_borrow_index
    if time_elapsed > 0:
        utilization = get_utilization(totals)
        supply_rate = get_supply_rate(rates, utilization)
        borrow_rate = get_borrow_rate(rates, utilization)
        supply_index = bounded(
            supply_index + safe64(mul_factor(supply_index, supply_rate * time_elapsed)), MAX_UINT64
        )
        borrow_index = bounded(
            borrow_index + safe64(mul_factor(borrow_index, borrow_rate * time_elapsed)), MAX_UINT64
        )
    return supply_index, borrow_index


def _now(timestamp: int) -> int:
    """Comet.getNowInternal."""
    if timestamp >= 2**40:
        raise CometRevertError(TIMESTAMP_TOO_LARGE)
    return timestamp


def _elapsed(totals: Totals, timestamp: int) -> int:
    """`getNowInternal() - lastAccrualTime` (uint40, checked)."""
    return bounded(_now(timestamp) - totals.last_accrual_time, 2**40 - 1)


def accrue(totals: Totals, rates: RateModel, timestamp: int) -> Totals:
    """Comet.accrueInternal at block time `timestamp` (what absorb, supply, withdraw... do first)."""
    elapsed = _elapsed(totals, timestamp)
    if elapsed == 0:
        return totals
    supply_index, borrow_index = accrued_interest_indices(totals, rates, elapsed)
    return replace(
        totals, base_supply_index=supply_index, base_borrow_index=borrow_index, last_accrual_time=timestamp
    )


def balance_of(totals: Totals, rates: RateModel, principal: int, timestamp: int) -> int:
    """Comet.balanceOf: the accrued supply balance of a positive principal, else 0."""
    supply_index, _ = accrued_interest_indices(totals, rates, _elapsed(totals, timestamp))
    return present_value_supply(supply_index, principal) if principal > 0 else 0


def borrow_balance_of(totals: Totals, rates: RateModel, principal: int, timestamp: int) -> int:
    """Comet.borrowBalanceOf: the accrued debt of a negative principal, else 0."""
    _, borrow_index = accrued_interest_indices(totals, rates, _elapsed(totals, timestamp))
    return present_value_borrow(borrow_index, -principal) if principal < 0 else 0


def get_reserves(totals: Totals, rates: RateModel, base_balance: int, timestamp: int) -> int:
    """Comet.getReserves: base held (`baseToken.balanceOf(comet)`) - accrued supply + accrued borrows."""
    supply_index, borrow_index = accrued_interest_indices(totals, rates, _elapsed(totals, timestamp))
    supply = present_value_supply(supply_index, totals.total_supply_base)
    borrow = present_value_borrow(borrow_index, totals.total_borrow_base)
    return checked_i256(signed256(base_balance) - signed256(supply) + signed256(borrow))


def get_collateral_reserves(comet_balance: int, total_supply_asset: int) -> int:
    """Comet.getCollateralReserves: `asset.balanceOf(comet) - totalsCollateral(asset).totalSupplyAsset`."""
    return bounded(comet_balance - total_supply_asset, MAX_UINT256)
