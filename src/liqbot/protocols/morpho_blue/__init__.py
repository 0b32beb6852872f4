"""Morpho Blue: the protocol's own math in pure integers, event-sourced market state, and the adapter."""

from liqbot.protocols.morpho_blue.math import (
    Accrual,
    Liquidation,
    Market,
    MarketParams,
    MorphoRevertError,
    Position,
    accrue_interest,
    borrowed_assets,
    health_factor,
    is_healthy,
    liquidate,
    liquidation_incentive_factor,
    max_borrow,
    max_seized_assets,
    repaid_shares_for_seized,
    seized_for_repaid_shares,
)
from liqbot.protocols.morpho_blue.state import MorphoState, Pair

__all__ = [
    "Accrual",
    "Liquidation",
    "Market",
    "MarketParams",
    "MorphoRevertError",
    "MorphoState",
    "Pair",
    "Position",
    "accrue_interest",
    "borrowed_assets",
    "health_factor",
    "is_healthy",
    "liquidate",
    "liquidation_incentive_factor",
    "max_borrow",
    "max_seized_assets",
    "repaid_shares_for_seized",
    "seized_for_repaid_shares",
]
