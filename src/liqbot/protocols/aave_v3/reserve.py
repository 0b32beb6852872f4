"""Aave V3 reserve state: configuration bitmaps, index accrual and token balances, as the contracts do.

Mirrors `@aave/core-v3` 1.19.3: ReserveConfiguration, UserConfiguration, MathUtils, ReserveLogic
(getNormalizedIncome / getNormalizedDebt), AToken / VariableDebtToken / StableDebtToken.balanceOf.
"""

from __future__ import annotations

from dataclasses import dataclass

from liqbot.core.fixed import MAX_UINT256, RAY, MathRevertError, ray_mul

SECONDS_PER_YEAR = 365 * 24 * 3600
MAX_RESERVES_COUNT = 128

# (field, first bit, width) of ReserveConfigurationMap.data: ReserveConfiguration.sol *_START_BIT_POSITION.
_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("ltv", 0, 16),
    ("liquidation_threshold", 16, 16),
    ("liquidation_bonus", 32, 16),
    ("decimals", 48, 8),
    ("active", 56, 1),
    ("frozen", 57, 1),
    ("borrowing_enabled", 58, 1),
    ("stable_borrowing_enabled", 59, 1),
    ("paused", 60, 1),
    ("borrowable_in_isolation", 61, 1),
    ("siloed_borrowing", 62, 1),
    ("flash_loan_enabled", 63, 1),
    ("reserve_factor", 64, 16),
    ("borrow_cap", 80, 36),
    ("supply_cap", 116, 36),
    ("liquidation_protocol_fee", 152, 16),
    ("emode_category", 168, 8),
    ("unbacked_mint_cap", 176, 36),
    ("debt_ceiling", 212, 40),
)
_BOOLS = frozenset(name for name, _, width in _FIELDS if width == 1)


@dataclass(frozen=True)
class ReserveConfig:
    """ReserveConfigurationMap decoded. Percentages in bps (bonus 10500 = +5%); caps in whole tokens;
    debt ceiling with 2 decimals (DEBT_CEILING_DECIMALS)."""

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    decimals: int
    active: bool
    frozen: bool
    borrowing_enabled: bool
    stable_borrowing_enabled: bool
    paused: bool
    borrowable_in_isolation: bool
    siloed_borrowing: bool
    flash_loan_enabled: bool
    reserve_factor: int
    borrow_cap: int
    supply_cap: int
    liquidation_protocol_fee: int
    emode_category: int
    unbacked_mint_cap: int
    debt_ceiling: int

    @classmethod
    def decode(cls, data: int) -> ReserveConfig:
        """From `Pool.getConfiguration(asset).data`."""
        if not 0 <= data <= MAX_UINT256:
            raise ValueError(f"{data} is not a uint256 configuration bitmap")
        values = {name: (data >> bit) & ((1 << width) - 1) for name, bit, width in _FIELDS}
        return cls(**{k: bool(v) if k in _BOOLS else v for k, v in values.items()})  # type: ignore[arg-type]

    def encode(self) -> int:
        """Back to the bitmap; raises if a field does not fit its bits (the setters' MAX_VALID_* checks)."""
        data = 0
        for name, bit, width in _FIELDS:
            value = int(getattr(self, name))
            if not 0 <= value < 1 << width:
                raise ValueError(f"{name}={value} does not fit in {width} bits")
            data |= value << bit
        return data

    @property
    def unit(self) -> int:
        """10**decimals, as `assetUnit` (unchecked in Solidity: it wraps past 77 decimals)."""
        unit: int = 10**self.decimals
        return unit & MAX_UINT256


@dataclass(frozen=True)
class UserConfig:
    """UserConfigurationMap: bit 2i = borrowing reserve i, bit 2i+1 = using reserve i as collateral."""

    data: int

    def _check(self, reserve_id: int) -> None:
        if not 0 <= reserve_id < MAX_RESERVES_COUNT:
            raise MathRevertError(f"reserve index {reserve_id} is out of range")  # INVALID_RESERVE_INDEX

    def is_borrowing(self, reserve_id: int) -> bool:
        self._check(reserve_id)
        return (self.data >> (reserve_id << 1)) & 1 != 0

    def is_using_as_collateral(self, reserve_id: int) -> bool:
        self._check(reserve_id)
        return (self.data >> ((reserve_id << 1) + 1)) & 1 != 0

    def is_using_as_collateral_or_borrowing(self, reserve_id: int) -> bool:
        self._check(reserve_id)
        return (self.data >> (reserve_id << 1)) & 3 != 0

    def is_empty(self) -> bool:
        return self.data == 0

    def reserve_ids(self) -> list[int]:
        """Ids with either flag set, in the order GenericLogic visits them."""
        ids, data, i = [], self.data, 0
        while data:
            if data & 3:
                ids.append(i)
            data, i = data >> 2, i + 1
        return ids

    def with_flags(
        self, reserve_id: int, *, borrowing: bool | None = None, collateral: bool | None = None
    ) -> UserConfig:
        """setBorrowing / setUsingAsCollateral, returning a new map."""
        self._check(reserve_id)
        data = self.data
        for flag, bit in ((borrowing, reserve_id << 1), (collateral, (reserve_id << 1) + 1)):
            if flag is not None:
                data = data | (1 << bit) if flag else data & ~(1 << bit)
        return UserConfig(data)


# --- interest ----------------------------------------------------------------------------------------


def _elapsed(last_update_timestamp: int, current_timestamp: int) -> int:
    if current_timestamp < last_update_timestamp:  # checked subtraction in Solidity
        raise MathRevertError(
            f"timestamp {current_timestamp} is before the last update {last_update_timestamp}"
        )
    return current_timestamp - last_update_timestamp


def calculate_linear_interest(rate: int, last_update_timestamp: int, current_timestamp: int) -> int:
    """MathUtils.calculateLinearInterest (with block.timestamp passed in)."""
    result = _checked(rate * _elapsed(last_update_timestamp, current_timestamp))
    return _checked(RAY + result // SECONDS_PER_YEAR)


def calculate_compounded_interest(rate: int, last_update_timestamp: int, current_timestamp: int) -> int:
    """MathUtils.calculateCompoundedInterest: 1 + nx + n(n-1)/2 x² + n(n-1)(n-2)/6 x³ with x = rate/year,
    dividing in the same places as the Solidity (so the truncations match)."""
    exp = _elapsed(last_update_timestamp, current_timestamp)
    if exp == 0:
        return RAY
    exp_minus_one = exp - 1
    exp_minus_two = exp - 2 if exp > 2 else 0
    base_power_two = ray_mul(rate, rate) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base_power_three = ray_mul(base_power_two, rate) // SECONDS_PER_YEAR
    second_term = _checked(exp * exp_minus_one * base_power_two) // 2
    third_term = _checked(exp * exp_minus_one * exp_minus_two * base_power_three) // 6
    return _checked(RAY + _checked(rate * exp) // SECONDS_PER_YEAR + second_term + third_term)


def _checked(value: int) -> int:
    if value > MAX_UINT256:
        raise MathRevertError("uint256 overflow")
    return value


@dataclass(frozen=True)
class ReserveState:
    """What the pool stores per reserve (`Pool.getReserveData(asset)`), minus the token addresses."""

    id: int
    configuration: ReserveConfig
    liquidity_index: int
    current_liquidity_rate: int
    variable_borrow_index: int
    current_variable_borrow_rate: int
    current_stable_borrow_rate: int
    last_update_timestamp: int

    def normalized_income(self, timestamp: int) -> int:
        """ReserveLogic.getNormalizedIncome at block.timestamp == timestamp."""
        if timestamp == self.last_update_timestamp:
            return self.liquidity_index
        linear = calculate_linear_interest(self.current_liquidity_rate, self.last_update_timestamp, timestamp)
        return ray_mul(linear, self.liquidity_index)

    def normalized_debt(self, timestamp: int) -> int:
        """ReserveLogic.getNormalizedDebt at block.timestamp == timestamp."""
        if timestamp == self.last_update_timestamp:
            return self.variable_borrow_index
        compounded = calculate_compounded_interest(
            self.current_variable_borrow_rate, self.last_update_timestamp, timestamp
        )
        return ray_mul(compounded, self.variable_borrow_index)


# --- balances ----------------------------------------------------------------------------------------


def a_token_balance(scaled_balance: int, normalized_income: int) -> int:
    """AToken.balanceOf: scaledBalance.rayMul(normalizedIncome)."""
    return ray_mul(scaled_balance, normalized_income)


def variable_debt_balance(scaled_debt: int, normalized_debt: int) -> int:
    """VariableDebtToken.balanceOf: 0 stays 0, else scaledBalance.rayMul(normalizedDebt)."""
    return 0 if scaled_debt == 0 else ray_mul(scaled_debt, normalized_debt)


@dataclass(frozen=True)
class StableDebt:
    """One user's StableDebtToken state: principalBalanceOf, getUserStableRate, getUserLastUpdated."""

    principal: int = 0
    rate: int = 0
    last_update_timestamp: int = 0

    def balance(self, timestamp: int) -> int:
        """StableDebtToken.balanceOf: the principal compounded at the user's rate since their last update."""
        if self.principal == 0:
            return 0
        return ray_mul(
            self.principal, calculate_compounded_interest(self.rate, self.last_update_timestamp, timestamp)
        )
