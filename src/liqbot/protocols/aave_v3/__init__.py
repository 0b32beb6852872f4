"""Aave V3: the protocol's own math in pure integers (reserve state, account data, liquidation amounts)."""

from liqbot.protocols.aave_v3.liquidation import (
    AaveRevision,
    CollateralToLiquidate,
    LiquidationInputs,
    LiquidationQuote,
    LiquidationRevertError,
    actual_debt_to_liquidate,
    calculate_available_collateral_to_liquidate,
    max_liquidatable_debt,
    quote_liquidation,
)
from liqbot.protocols.aave_v3.math import (
    AccountData,
    EModeCategory,
    Market,
    UserPosition,
    UserReserve,
    liquidation_inputs,
    user_account_data,
)
from liqbot.protocols.aave_v3.reserve import (
    ReserveConfig,
    ReserveState,
    StableDebt,
    UserConfig,
    a_token_balance,
    calculate_compounded_interest,
    calculate_linear_interest,
    variable_debt_balance,
)

__all__ = [
    "AaveRevision",
    "AccountData",
    "CollateralToLiquidate",
    "EModeCategory",
    "LiquidationInputs",
    "LiquidationQuote",
    "LiquidationRevertError",
    "Market",
    "ReserveConfig",
    "ReserveState",
    "StableDebt",
    "UserConfig",
    "UserPosition",
    "UserReserve",
    "a_token_balance",
    "actual_debt_to_liquidate",
    "calculate_available_collateral_to_liquidate",
    "calculate_compounded_interest",
    "calculate_linear_interest",
    "liquidation_inputs",
    "max_liquidatable_debt",
    "quote_liquidation",
    "user_account_data",
    "variable_debt_balance",
]
