"""liqbot.core.fixed against a plain big-int reference of the documented rounding, and the Solidity's own
revert conditions written as the assembly writes them (so our rewritten checks are proven equivalent)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqbot.core import fixed as fx
from liqbot.core.errors import SkipError
from liqbot.core.fixed import HALF_RAY, HALF_WAD, MAX_UINT256, RAY, WAD, MathRevertError

EDGES = [
    0,
    1,
    2,
    HALF_WAD - 1,
    HALF_WAD,
    WAD,
    HALF_RAY - 1,
    HALF_RAY,
    RAY,
    5_000,
    10_000,
    MAX_UINT256 - 1,
    MAX_UINT256,
]
EDGES += [MAX_UINT256 // WAD, MAX_UINT256 // RAY, (MAX_UINT256 - HALF_RAY) // RAY, 2**128, 2**128 - 1]
uint = st.one_of(
    st.sampled_from(EDGES),
    st.integers(0, 10**30),
    st.integers(0, 2**128),
    st.integers(0, MAX_UINT256),
)
small = st.one_of(st.sampled_from([0, 1, 2, 5_000, 9_999, 10_000, 10_500]), st.integers(0, 10**40))


def half_up(q: Fraction) -> int:
    return floor(q + Fraction(1, 2))


def ceil(q: Fraction) -> int:
    return -floor(-q)


def outcome(fn: Callable[..., int], *args: int) -> int | None:
    try:
        return fn(*args)
    except MathRevertError:
        return None


# --- Aave WadRayMath / PercentageMath: half up, reverting as the assembly checks say ------------------


@given(uint, uint)
def test_wad_mul(a: int, b: int) -> None:
    reverts = b != 0 and a > (MAX_UINT256 - HALF_WAD) // b
    assert outcome(fx.wad_mul, a, b) == (None if reverts else half_up(Fraction(a * b, WAD)))


@given(uint, uint)
def test_ray_mul(a: int, b: int) -> None:
    reverts = b != 0 and a > (MAX_UINT256 - HALF_RAY) // b
    assert outcome(fx.ray_mul, a, b) == (None if reverts else half_up(Fraction(a * b, RAY)))


@given(uint, uint)
def test_wad_div(a: int, b: int) -> None:
    reverts = b == 0 or a > (MAX_UINT256 - b // 2) // WAD
    assert outcome(fx.wad_div, a, b) == (None if reverts else half_up(Fraction(a * WAD, b)))


@given(uint, uint)
def test_ray_div(a: int, b: int) -> None:
    reverts = b == 0 or a > (MAX_UINT256 - b // 2) // RAY
    assert outcome(fx.ray_div, a, b) == (None if reverts else half_up(Fraction(a * RAY, b)))


@given(uint)
def test_ray_to_wad_never_reverts(a: int) -> None:
    assert fx.ray_to_wad(a) == half_up(Fraction(a, 10**9))


@given(uint)
def test_wad_to_ray(a: int) -> None:
    assert outcome(fx.wad_to_ray, a) == (None if a * 10**9 > MAX_UINT256 else a * 10**9)


@given(uint, small)
def test_percent_mul_and_div(value: int, pct: int) -> None:
    mul_reverts = pct != 0 and value > (MAX_UINT256 - 5_000) // pct
    assert outcome(fx.percent_mul, value, pct) == (
        None if mul_reverts else half_up(Fraction(value * pct, 10_000))
    )
    div_reverts = pct == 0 or value > (MAX_UINT256 - pct // 2) // 10_000
    assert outcome(fx.percent_div, value, pct) == (
        None if div_reverts else half_up(Fraction(value * 10_000, pct))
    )


@given(uint, uint)
def test_directional_ray_variants(a: int, b: int) -> None:
    mul_reverts = b != 0 and a > MAX_UINT256 // b
    assert outcome(fx.ray_mul_floor, a, b) == (None if mul_reverts else a * b // RAY)
    assert outcome(fx.ray_mul_ceil, a, b) == (None if mul_reverts else ceil(Fraction(a * b, RAY)))
    div_reverts = b == 0 or a > MAX_UINT256 // RAY
    assert outcome(fx.ray_div_floor, a, b) == (None if div_reverts else a * RAY // b)
    assert outcome(fx.ray_div_ceil, a, b) == (None if div_reverts else ceil(Fraction(a * RAY, b)))


@given(uint, small)
def test_directional_percent_variants(value: int, pct: int) -> None:
    mul_reverts = pct != 0 and value > MAX_UINT256 // pct
    assert outcome(fx.percent_mul_floor, value, pct) == (None if mul_reverts else value * pct // 10_000)
    assert outcome(fx.percent_mul_ceil, value, pct) == (
        None if mul_reverts else ceil(Fraction(value * pct, 10_000))
    )
    div_reverts = pct == 0 or value > MAX_UINT256 // 10_000
    assert outcome(fx.percent_div_floor, value, pct) == (None if div_reverts else value * 10_000 // pct)
    assert outcome(fx.percent_div_ceil, value, pct) == (
        None if div_reverts else ceil(Fraction(value * 10_000, pct))
    )


@given(uint, uint, uint)
def test_mul_div_ceil(a: int, b: int, c: int) -> None:
    reverts = c == 0 or (b != 0 and a > MAX_UINT256 // b)
    assert outcome(fx.mul_div_ceil, a, b, c) == (None if reverts else ceil(Fraction(a * b, c)))


def test_half_rounds_up_and_just_below_rounds_down() -> None:
    assert fx.wad_mul(1, HALF_WAD) == 1 and fx.wad_mul(1, HALF_WAD - 1) == 0
    assert fx.ray_mul(1, HALF_RAY) == 1 and fx.ray_mul(1, HALF_RAY - 1) == 0
    assert fx.ray_div(1, 2 * RAY) == 1 and fx.ray_div(1, 2 * RAY + 1) == 0
    assert fx.wad_div(1, 2 * WAD) == 1 and fx.wad_div(1, 2 * WAD + 2) == 0
    assert fx.percent_mul(1, 5_000) == 1 and fx.percent_mul(1, 4_999) == 0
    assert fx.percent_div(1, 20_000) == 1 and fx.percent_div(1, 20_001) == 0
    assert fx.ray_to_wad(5 * 10**8) == 1 and fx.ray_to_wad(5 * 10**8 - 1) == 0


def test_edges_at_zero_and_max() -> None:
    assert fx.ray_mul(MAX_UINT256, 0) == 0 and fx.ray_mul(0, MAX_UINT256) == 0
    assert fx.percent_mul(MAX_UINT256, 0) == 0  # a zero percentage never reverts
    assert fx.percent_mul_ceil(MAX_UINT256, 0) == 0
    assert fx.ray_to_wad(MAX_UINT256) == MAX_UINT256 // 10**9  # remainder 129,639,935 < half of 1e9
    top = MAX_UINT256 // 10**9 * 10**9 - 10**9 + 5 * 10**8  # the assembly adds 1 after dividing: no overflow
    assert fx.ray_to_wad(top) == MAX_UINT256 // 10**9
    assert fx.wad_to_ray(MAX_UINT256 // 10**9) == MAX_UINT256 // 10**9 * 10**9
    largest = (MAX_UINT256 - HALF_RAY) // RAY
    assert fx.ray_mul(largest, RAY) == largest
    for fn, args in [
        (fx.ray_mul, (largest + 1, RAY)),
        (fx.wad_to_ray, (MAX_UINT256 // 10**9 + 1,)),
        (fx.ray_div, (1, 0)),
        (fx.wad_div, (0, 0)),
        (fx.percent_div, (1, 0)),
        (fx.percent_div_ceil, (0, 0)),
        (fx.mul_div_ceil, (1, 1, 0)),
    ]:
        with pytest.raises(MathRevertError):
            fn(*args)


def test_inputs_must_be_uint256() -> None:
    for bad in (-1, MAX_UINT256 + 1):
        with pytest.raises(ValueError, match="uint256"):
            fx.ray_mul(bad, 1)
        with pytest.raises(ValueError, match="uint256"):
            fx.mul_div_down(1, bad, 1)


def test_a_revert_is_a_skip_for_the_engine() -> None:
    assert issubclass(MathRevertError, SkipError) and issubclass(MathRevertError, ArithmeticError)


# --- Morpho Blue MathLib / SharesMathLib: checked Solidity 0.8 arithmetic -----------------------------


@given(uint, uint, uint)
def test_mul_div_down_and_up(x: int, y: int, d: int) -> None:
    down_reverts = x * y > MAX_UINT256 or d == 0
    assert outcome(fx.mul_div_down, x, y, d) == (None if down_reverts else x * y // d)
    up_reverts = x * y > MAX_UINT256 or d == 0 or x * y + d - 1 > MAX_UINT256
    assert outcome(fx.mul_div_up, x, y, d) == (None if up_reverts else ceil(Fraction(x * y, d)))


def test_mul_div_up_reverts_on_the_rounding_add_alone() -> None:
    """x*y fits, but x*y + (d-1) does not: Solidity reverts, so do we."""
    assert fx.mul_div_down(MAX_UINT256, 1, 2) == MAX_UINT256 // 2
    with pytest.raises(MathRevertError):
        fx.mul_div_up(MAX_UINT256, 1, 2)


@given(uint, uint)
def test_wad_helpers(x: int, y: int) -> None:
    assert outcome(fx.w_mul_down, x, y) == outcome(fx.mul_div_down, x, y, WAD)
    assert outcome(fx.w_div_down, x, y) == outcome(fx.mul_div_down, x, WAD, y)
    assert outcome(fx.w_div_up, x, y) == outcome(fx.mul_div_up, x, WAD, y)


@given(st.integers(0, 10**18), st.integers(0, 10**9))
def test_w_taylor_compounded(x: int, n: int) -> None:
    first = x * n
    second = first * first // (2 * WAD)
    third = second * first // (3 * WAD)
    assert fx.w_taylor_compounded(x, n) == first + second + third


def test_w_taylor_compounded_is_close_to_exp() -> None:
    # 10% a year for a year: e^0.1 - 1 = 0.105170918...; three terms give 0.105166666...
    rate_per_second = 10**17 // (365 * 86_400)
    got = fx.w_taylor_compounded(rate_per_second, 365 * 86_400)
    assert 105_166_000_000_000_000 < got < 105_171_000_000_000_000


@given(st.integers(0, 10**30), st.integers(0, 10**30), st.integers(0, 10**30))
def test_shares_math(amount: int, total_assets: int, total_shares: int) -> None:
    ratio = Fraction(total_shares + 10**6, total_assets + 1)
    assert fx.to_shares_down(amount, total_assets, total_shares) == floor(amount * ratio)
    assert fx.to_shares_up(amount, total_assets, total_shares) == ceil(amount * ratio)
    assert fx.to_assets_down(amount, total_assets, total_shares) == floor(amount / ratio)
    assert fx.to_assets_up(amount, total_assets, total_shares) == ceil(amount / ratio)


def test_shares_math_on_an_empty_market_and_the_virtual_offsets() -> None:
    assert fx.to_shares_down(1, 0, 0) == 10**6  # first deposit: 1 asset = VIRTUAL_SHARES shares
    assert fx.to_assets_down(10**6, 0, 0) == 1
    assert fx.to_assets_up(1, 0, 0) == 1 and fx.to_assets_down(1, 0, 0) == 0
    with pytest.raises(MathRevertError):
        fx.to_shares_down(1, MAX_UINT256, 0)  # totalAssets + VIRTUAL_ASSETS overflows
