"""Morpho Blue's own math in pure integers, line for line with `@morpho-org/morpho-blue` 1.0.0 `Morpho.sol`:
interest accrual (`_accrueInterest`), health (`_isHealthy`) and liquidation (`liquidate`, both branches,
bad debt included). MathLib/SharesMathLib come from `liqbot.core.fixed`.

Where the contract reverts (a failed `require`, a checked underflow, `toUint128`) we raise MorphoRevertError
with the contract's reason string, so no caller gets a number the chain could not produce."""

from __future__ import annotations

from dataclasses import dataclass, replace

from eth_abi import encode
from eth_utils import keccak

from liqbot.core.errors import SkipError
from liqbot.core.fixed import (
    MAX_UINT256,
    WAD,
    mul_div_down,
    mul_div_up,
    to_assets_down,
    to_assets_up,
    to_shares_down,
    to_shares_up,
    w_div_down,
    w_div_up,
    w_mul_down,
    w_taylor_compounded,
)

# ConstantsLib.sol
MAX_FEE = 25 * 10**16
ORACLE_PRICE_SCALE = 10**36
LIQUIDATION_CURSOR = 3 * 10**17
MAX_LIQUIDATION_INCENTIVE_FACTOR = 115 * 10**16
MAX_UINT128 = 2**128 - 1
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

# ErrorsLib.sol reason strings we can hit locally
HEALTHY_POSITION = "position is healthy"
INCONSISTENT_INPUT = "inconsistent input"
MAX_UINT128_EXCEEDED = "max uint128 exceeded"
UNDERFLOW = "arithmetic underflow"  # Panic(0x11) of checked 0.8 arithmetic
OVERFLOW = "arithmetic overflow"


class MorphoRevertError(SkipError):
    """Morpho would revert here; `reason` is its ErrorsLib string (or UNDERFLOW)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Morpho reverts: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class MarketParams:
    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int

    def as_tuple(self) -> tuple[str, str, str, str, int]:
        return (self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv)

    @property
    def id(self) -> str:
        """MarketParamsLib.id: keccak256 of the five 32-byte words (= abi.encode)."""
        packed = encode(["address", "address", "address", "address", "uint256"], list(self.as_tuple()))
        return "0x" + keccak(packed).hex()


@dataclass(frozen=True)
class Market:
    """IMorpho.Market: the totals of one market (uint128 each on chain)."""

    total_supply_assets: int = 0
    total_supply_shares: int = 0
    total_borrow_assets: int = 0
    total_borrow_shares: int = 0
    last_update: int = 0
    fee: int = 0

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.total_supply_assets,
            self.total_supply_shares,
            self.total_borrow_assets,
            self.total_borrow_shares,
            self.last_update,
            self.fee,
        )


@dataclass(frozen=True)
class Position:
    """IMorpho.Position: one account on one market."""

    supply_shares: int = 0
    borrow_shares: int = 0
    collateral: int = 0


def to_uint128(x: int) -> int:
    """UtilsLib.toUint128."""
    if x > MAX_UINT128:
        raise MorphoRevertError(MAX_UINT128_EXCEEDED)
    return x


def zero_floor_sub(x: int, y: int) -> int:
    """UtilsLib.zeroFloorSub: max(0, x - y)."""
    return x - y if x > y else 0


def sub(x: int, y: int) -> int:
    """Checked `x - y` (Solidity 0.8)."""
    if y > x:
        raise MorphoRevertError(UNDERFLOW)
    return x - y


def add128(x: int, y: int) -> int:
    """`uint128 += uint128` (checked)."""
    if x + y > MAX_UINT128:
        raise MorphoRevertError(OVERFLOW)
    return x + y


# --- interest (Morpho._accrueInterest) -------------------------------------------------------------


@dataclass(frozen=True)
class Accrual:
    market: Market
    interest: int
    fee_shares: int  # minted to the fee recipient's supply position


def accrue_interest(market: Market, borrow_rate: int, timestamp: int, *, has_irm: bool = True) -> Accrual:
    """The market after `_accrueInterest` at `timestamp`, given the IRM's `borrowRate` for `market`."""
    elapsed = sub(timestamp, market.last_update)
    if elapsed == 0:
        return Accrual(market, 0, 0)
    if not has_irm:
        return Accrual(replace(market, last_update=timestamp), 0, 0)
    interest = w_mul_down(market.total_borrow_assets, w_taylor_compounded(borrow_rate, elapsed))
    tba = add128(market.total_borrow_assets, to_uint128(interest))
    tsa = add128(market.total_supply_assets, to_uint128(interest))
    fee_shares = 0
    tss = market.total_supply_shares
    if market.fee != 0:
        fee_amount = w_mul_down(interest, market.fee)
        # The supply total already includes the fee: it is taken out to price the fee shares.
        fee_shares = to_shares_down(fee_amount, sub(tsa, fee_amount), tss)
        tss = add128(tss, to_uint128(fee_shares))
    out = replace(
        market,
        total_supply_assets=tsa,
        total_supply_shares=tss,
        total_borrow_assets=tba,
        last_update=timestamp,
    )
    return Accrual(out, interest, fee_shares)


# --- health (Morpho._isHealthy) --------------------------------------------------------------------


def borrowed_assets(position: Position, market: Market) -> int:
    """Debt in loan-token units, rounded up as `_isHealthy` does."""
    return to_assets_up(position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares)


def max_borrow(collateral: int, price: int, lltv: int) -> int:
    """collateral.mulDivDown(price, ORACLE_PRICE_SCALE).wMulDown(lltv)."""
    return w_mul_down(mul_div_down(collateral, price, ORACLE_PRICE_SCALE), lltv)


def is_healthy(position: Position, market: Market, price: int, lltv: int) -> bool:
    """The 4-argument `_isHealthy` (the one `liquidate` calls): maxBorrow >= borrowed."""
    return max_borrow(position.collateral, price, lltv) >= borrowed_assets(position, market)


def health_factor(position: Position, market: Market, price: int, lltv: int) -> int:
    """maxBorrow * WAD / borrowed (wad, rounded down); < WAD exactly when not `_isHealthy`.

    Our metric, not the contract's: the ratio itself is unbounded Python ints, capped at MAX_UINT256."""
    borrowed = borrowed_assets(position, market)
    if borrowed == 0:
        return MAX_UINT256
    return min(MAX_UINT256, max_borrow(position.collateral, price, lltv) * WAD // borrowed)


def liquidation_incentive_factor(lltv: int) -> int:
    """min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD.wDivDown(WAD - LIQUIDATION_CURSOR.wMulDown(WAD - lltv)))."""
    return min(
        MAX_LIQUIDATION_INCENTIVE_FACTOR,
        w_div_down(WAD, sub(WAD, w_mul_down(LIQUIDATION_CURSOR, sub(WAD, lltv)))),
    )


# --- liquidation (Morpho.liquidate) ----------------------------------------------------------------


@dataclass(frozen=True)
class Liquidation:
    """What `liquidate` does, as its Liquidate event reports it, and the state it leaves."""

    seized_assets: int
    repaid_shares: int
    repaid_assets: int
    bad_debt_assets: int
    bad_debt_shares: int
    market: Market
    position: Position


def repaid_shares_for_seized(seized_assets: int, market: Market, price: int, lltv: int) -> int:
    """`liquidate`'s seizedAssets branch: the borrow shares burned to seize `seized_assets`."""
    quoted = mul_div_up(seized_assets, price, ORACLE_PRICE_SCALE)
    return to_shares_up(
        w_div_up(quoted, liquidation_incentive_factor(lltv)),
        market.total_borrow_assets,
        market.total_borrow_shares,
    )


def seized_for_repaid_shares(repaid_shares: int, market: Market, price: int, lltv: int) -> int:
    """`liquidate`'s repaidShares branch: the collateral seized for burning `repaid_shares`."""
    assets = to_assets_down(repaid_shares, market.total_borrow_assets, market.total_borrow_shares)
    return mul_div_down(w_mul_down(assets, liquidation_incentive_factor(lltv)), ORACLE_PRICE_SCALE, price)


def liquidate(
    market: Market, position: Position, price: int, lltv: int, seized_assets: int, repaid_shares: int
) -> Liquidation:
    """The body of `liquidate` after `_accrueInterest` (pass the market already accrued to the block)."""
    if (seized_assets == 0) == (repaid_shares == 0):
        raise MorphoRevertError(INCONSISTENT_INPUT)
    if is_healthy(position, market, price, lltv):
        raise MorphoRevertError(HEALTHY_POSITION)
    if seized_assets > 0:
        repaid_shares = repaid_shares_for_seized(seized_assets, market, price, lltv)
    else:
        seized_assets = seized_for_repaid_shares(repaid_shares, market, price, lltv)
    tba, tbs = market.total_borrow_assets, market.total_borrow_shares
    repaid_assets = to_assets_up(repaid_shares, tba, tbs)

    borrow_shares = sub(position.borrow_shares, to_uint128(repaid_shares))
    tbs = sub(tbs, to_uint128(repaid_shares))
    tba = to_uint128(zero_floor_sub(tba, repaid_assets))
    collateral = sub(position.collateral, to_uint128(seized_assets))

    tsa = market.total_supply_assets
    bad_debt_shares = bad_debt_assets = 0
    if collateral == 0:
        # No collateral left: the remaining debt is written off against the suppliers.
        bad_debt_shares = borrow_shares
        bad_debt_assets = min(tba, to_assets_up(bad_debt_shares, tba, tbs))
        tba = sub(tba, to_uint128(bad_debt_assets))
        tsa = sub(tsa, to_uint128(bad_debt_assets))
        tbs = sub(tbs, to_uint128(bad_debt_shares))
        borrow_shares = 0
    return Liquidation(
        seized_assets,
        repaid_shares,
        repaid_assets,
        bad_debt_assets,
        bad_debt_shares,
        replace(market, total_supply_assets=tsa, total_borrow_assets=tba, total_borrow_shares=tbs),
        replace(position, borrow_shares=borrow_shares, collateral=collateral),
    )


def max_seized_assets(market: Market, position: Position, price: int, lltv: int) -> int:
    """The largest `seizedAssets` for which `liquidate(seizedAssets, 0)` does not revert (0 if none).

    Morpho has no close factor: seize all the collateral if the shares it burns fit in the position's debt
    (the rest becomes bad debt); otherwise the most collateral whose rounded-up share cost still fits, i.e.
    the whole debt repaid. The share cost is monotone in the seized amount, so bisection finds the edge."""
    collateral, shares = position.collateral, position.borrow_shares
    if collateral == 0 or shares == 0:
        return 0

    def fits(seized: int) -> bool:
        return repaid_shares_for_seized(seized, market, price, lltv) <= shares

    if fits(collateral):
        return collateral
    lo, hi = 0, collateral  # fits(lo) (0 burns 0 shares), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo
