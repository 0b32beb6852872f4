"""Fixed-point integer math exactly as the protocols compute it on chain.

Aave V3: WadRayMath and PercentageMath (half-up rounding, as in `@aave/core-v3` 1.19.3), plus the explicit
floor/ceil variants and MathUtils.mulDivCeil that aave-v3-origin added in v3.5 / v3.7
(`src/contracts/protocol/libraries/math/{WadRayMath,PercentageMath,MathUtils}.sol`).
Morpho Blue: MathLib and SharesMathLib (`@morpho-org/morpho-blue` 1.0.0, `src/libraries/`).

Every function takes and returns plain ints in [0, 2**256). Where the Solidity reverts (overflow, division by
zero) we raise MathRevertError, so a caller never gets a number the contract could not have produced.
"""

from __future__ import annotations

from liqbot.core.errors import SkipError

MAX_UINT256 = 2**256 - 1

WAD = 10**18
HALF_WAD = WAD // 2
RAY = 10**27
HALF_RAY = RAY // 2
WAD_RAY_RATIO = 10**9

PERCENTAGE_FACTOR = 10**4
HALF_PERCENTAGE_FACTOR = PERCENTAGE_FACTOR // 2

# Morpho Blue SharesMathLib: virtual shares/assets guard against share-price inflation.
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1


class MathRevertError(SkipError, ArithmeticError):
    """The on-chain math would revert here (overflow or division by zero)."""


def _u(*values: int) -> None:
    for v in values:
        if not 0 <= v <= MAX_UINT256:
            raise ValueError(f"{v} is not a uint256")


def _fits(value: int, what: str) -> int:
    if value > MAX_UINT256:
        raise MathRevertError(f"{what} overflows uint256")
    return value


def _nonzero(divisor: int, what: str) -> None:
    if divisor == 0:
        raise MathRevertError(f"{what}: division by zero")


# --- Aave WadRayMath (half-up) ------------------------------------------------------------------------
# The assembly checks `a <= (MAX - HALF) / b`, which for integers is exactly `a * b + HALF <= MAX`.


def wad_mul(a: int, b: int) -> int:
    """WadRayMath.wadMul: a*b/WAD rounded half up."""
    _u(a, b)
    return _fits(a * b + HALF_WAD, "wadMul") // WAD


def wad_div(a: int, b: int) -> int:
    """WadRayMath.wadDiv: a*WAD/b rounded half up (the half is b//2, as in the assembly)."""
    _u(a, b)
    _nonzero(b, "wadDiv")
    return _fits(a * WAD + b // 2, "wadDiv") // b


def ray_mul(a: int, b: int) -> int:
    """WadRayMath.rayMul: a*b/RAY rounded half up."""
    _u(a, b)
    return _fits(a * b + HALF_RAY, "rayMul") // RAY


def ray_div(a: int, b: int) -> int:
    """WadRayMath.rayDiv: a*RAY/b rounded half up."""
    _u(a, b)
    _nonzero(b, "rayDiv")
    return _fits(a * RAY + b // 2, "rayDiv") // b


def ray_to_wad(a: int) -> int:
    """WadRayMath.rayToWad: half up via the remainder, so it never overflows (even at MAX_UINT256)."""
    _u(a)
    q, r = divmod(a, WAD_RAY_RATIO)
    return q + 1 if r >= WAD_RAY_RATIO // 2 else q


def wad_to_ray(a: int) -> int:
    """WadRayMath.wadToRay."""
    _u(a)
    return _fits(a * WAD_RAY_RATIO, "wadToRay")


# v3.5+ directional variants (aave-v3-origin WadRayMath.sol): the checks are `a*b <= MAX`, no half added.


def ray_mul_floor(a: int, b: int) -> int:
    """WadRayMath.rayMulFloor (v3.5+)."""
    _u(a, b)
    return _fits(a * b, "rayMulFloor") // RAY


def ray_mul_ceil(a: int, b: int) -> int:
    """WadRayMath.rayMulCeil (v3.5+)."""
    _u(a, b)
    return -(-_fits(a * b, "rayMulCeil") // RAY)


def ray_div_floor(a: int, b: int) -> int:
    """WadRayMath.rayDivFloor (v3.5+)."""
    _u(a, b)
    _nonzero(b, "rayDivFloor")
    return _fits(a * RAY, "rayDivFloor") // b


def ray_div_ceil(a: int, b: int) -> int:
    """WadRayMath.rayDivCeil (v3.5+)."""
    _u(a, b)
    _nonzero(b, "rayDivCeil")
    return -(-_fits(a * RAY, "rayDivCeil") // b)


# --- Aave PercentageMath (basis points, 1e4 = 100%) ---------------------------------------------------


def percent_mul(value: int, percentage: int) -> int:
    """PercentageMath.percentMul: value*percentage/1e4 rounded half up."""
    _u(value, percentage)
    return _fits(value * percentage + HALF_PERCENTAGE_FACTOR, "percentMul") // PERCENTAGE_FACTOR


def percent_div(value: int, percentage: int) -> int:
    """PercentageMath.percentDiv: value*1e4/percentage rounded half up."""
    _u(value, percentage)
    _nonzero(percentage, "percentDiv")
    return _fits(value * PERCENTAGE_FACTOR + percentage // 2, "percentDiv") // percentage


def percent_mul_floor(value: int, percentage: int) -> int:
    """PercentageMath.percentMulFloor (v3.7)."""
    _u(value, percentage)
    return _fits(value * percentage, "percentMulFloor") // PERCENTAGE_FACTOR


def percent_mul_ceil(value: int, percentage: int) -> int:
    """PercentageMath.percentMulCeil (v3.7)."""
    _u(value, percentage)
    return -(-_fits(value * percentage, "percentMulCeil") // PERCENTAGE_FACTOR)


def percent_div_floor(value: int, percentage: int) -> int:
    """PercentageMath.percentDivFloor (v3.7)."""
    _u(value, percentage)
    _nonzero(percentage, "percentDivFloor")
    return _fits(value * PERCENTAGE_FACTOR, "percentDivFloor") // percentage


def percent_div_ceil(value: int, percentage: int) -> int:
    """PercentageMath.percentDivCeil (v3.5+)."""
    _u(value, percentage)
    _nonzero(percentage, "percentDivCeil")
    return -(-_fits(value * PERCENTAGE_FACTOR, "percentDivCeil") // percentage)


def mul_div_ceil(a: int, b: int, c: int) -> int:
    """Aave MathUtils.mulDivCeil (v3.5+): ceil(a*b/c)."""
    _u(a, b, c)
    _nonzero(c, "mulDivCeil")
    return -(-_fits(a * b, "mulDivCeil") // c)


# --- Morpho Blue MathLib (checked Solidity 0.8 arithmetic) --------------------------------------------


def mul_div_down(x: int, y: int, d: int) -> int:
    """MathLib.mulDivDown: (x*y)/d."""
    _u(x, y, d)
    product = _fits(x * y, "mulDivDown")
    _nonzero(d, "mulDivDown")
    return product // d


def mul_div_up(x: int, y: int, d: int) -> int:
    """MathLib.mulDivUp: (x*y + (d-1))/d; `d - 1` underflows (reverts) when d == 0."""
    _u(x, y, d)
    product = _fits(x * y, "mulDivUp")
    _nonzero(d, "mulDivUp")
    return _fits(product + (d - 1), "mulDivUp") // d


def w_mul_down(x: int, y: int) -> int:
    """MathLib.wMulDown."""
    return mul_div_down(x, y, WAD)


def w_div_down(x: int, y: int) -> int:
    """MathLib.wDivDown."""
    return mul_div_down(x, WAD, y)


def w_div_up(x: int, y: int) -> int:
    """MathLib.wDivUp."""
    return mul_div_up(x, WAD, y)


def w_taylor_compounded(x: int, n: int) -> int:
    """MathLib.wTaylorCompounded: e^(x*n) - 1 to three Taylor terms, in wad."""
    _u(x, n)
    first = _fits(x * n, "wTaylorCompounded")
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return _fits(first + second + third, "wTaylorCompounded")


# --- Morpho Blue SharesMathLib -----------------------------------------------------------------------


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toSharesDown."""
    _u(total_assets, total_shares)
    return mul_div_down(
        assets,
        _fits(total_shares + VIRTUAL_SHARES, "toSharesDown"),
        _fits(total_assets + VIRTUAL_ASSETS, "toSharesDown"),
    )


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsDown."""
    _u(total_assets, total_shares)
    return mul_div_down(
        shares,
        _fits(total_assets + VIRTUAL_ASSETS, "toAssetsDown"),
        _fits(total_shares + VIRTUAL_SHARES, "toAssetsDown"),
    )


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toSharesUp."""
    _u(total_assets, total_shares)
    return mul_div_up(
        assets,
        _fits(total_shares + VIRTUAL_SHARES, "toSharesUp"),
        _fits(total_assets + VIRTUAL_ASSETS, "toSharesUp"),
    )


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsUp."""
    _u(total_assets, total_shares)
    return mul_div_up(
        shares,
        _fits(total_assets + VIRTUAL_ASSETS, "toAssetsUp"),
        _fits(total_shares + VIRTUAL_SHARES, "toAssetsUp"),
    )
