"""Shared nouns of the pipeline: events (what happened), options and opportunities (what could be done),
and the one enum of reasons an opportunity is skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class SkipReason(StrEnum):
    """Why an opportunity is not executed. Every skip carries one; metrics count them by value."""

    NOT_LIQUIDATABLE = "not_liquidatable"  # exact math says HF >= 1 (screen false positive)
    BAD_DEBT = "bad_debt"  # no collateral left to seize
    RESERVE_PAUSED = "reserve_paused"  # reserve inactive or paused: the protocol would revert
    NO_PRICE = "no_price"  # an asset has no USD price
    STALE_PRICE = "stale_price"  # the price feed is older than its allowed age
    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - token not in the registry (decimals/price unknown)
    QUOTE_FAILED = "quote_failed"  # no DEX route or the quoter reverted
    GAS_UNKNOWN = "gas_unknown"  # gas or L1 data fee could not be estimated
    BELOW_MIN_PROFIT = "below_min_profit"  # net profit under the threshold
    DENY_LISTED = "deny_listed"  # collateral or debt asset on the deny list
    SEQUENCER_DOWN = "sequencer_down"  # L2 sequencer down: only what the protocol still allows
    SEQUENCER_GRACE = "sequencer_grace"  # sequencer back up but inside the grace period
    SEQUENCER_UNKNOWN = "sequencer_unknown"  # the uptime feed could not be read
    DUST = "dust"  # the protocol's leftover-dust rule would revert this amount
    SIMULATION_FAILED = "simulation_failed"  # eth_call of the liquidation reverted
    ADAPTER_DISABLED = "adapter_disabled"  # protocol adapter not finished / disabled
    NO_LIQUIDITY = "no_liquidity"  # no flash source (or inventory) can fund the repayment
    KILL_SWITCH = "kill_switch"  # the kill switch (global, the chain's, or the stop file) is engaged
    BORROWER_THROTTLED = "borrower_throttled"  # sends to this borrower in the last hour reached the cap
    INFLIGHT_CAP = "inflight_cap"  # sends of this chain not yet ended reached the cap
    SESSION_CAP = "session_cap"  # this run's sends or notional reached the cap
    NOTIONAL_CAP = "notional_cap"  # the attempt's, or the chain's last 24 hours', repaid debt is over the cap
    GAS_BUDGET = "gas_budget"  # gas spent on the chain in the last 24 hours would pass the budget


@dataclass(frozen=True)
class NewHead:
    chain_id: int
    number: int
    hash: str
    timestamp: int
    base_fee: int


@dataclass(frozen=True)
class PriceUpdated:
    """A source feed moved (AnswerUpdated / NewTransmission), seen in block `block`."""

    chain_id: int
    feed: str
    answer: int
    block: int
    timestamp: int


@dataclass(frozen=True)
class LiquidationOption:
    """One exact, protocol-valid way to liquidate a position: the adapter's output, the strategy's input.

    All amounts are raw token units computed with the protocol's own integer math at `block`."""

    chain_id: int
    protocol: str  # "aave_v3" | "morpho_blue" | "compound_v3"
    market: str  # pool address or Morpho market id
    borrower: str
    collateral_asset: str
    debt_asset: str
    debt_to_cover: int  # what the liquidator repays
    collateral_to_liquidator: int  # what the liquidator receives (bonus included, protocol fee excluded)
    protocol_fee: int  # collateral that goes to the protocol's treasury
    health_factor: int  # wad, at decision time
    block: int
    collateral_price: int  # USD, 8 decimals, as the protocol's oracle reports it
    debt_price: int
    collateral_decimals: int
    debt_decimals: int


@dataclass(frozen=True)
class ProfitBreakdown:
    """Expected profit in USD, each part signed as it affects the liquidator."""

    bonus_usd: Decimal  # collateral received minus debt repaid, at oracle prices
    swap_usd: (
        Decimal  # swap output vs oracle value of the collateral sold (slippage + pool fee), <= 0 usually
    )
    flash_fee_usd: Decimal  # flash-loan premium (0 in funds mode or with Morpho's callback)
    gas_usd: Decimal  # L2 execution gas × EIP-1559 fee
    l1_fee_usd: Decimal  # L1 data fee on rollups
    net_usd: Decimal


@dataclass(frozen=True)
class Opportunity:
    """A priced option the strategy would act on."""

    option: LiquidationOption
    profit: ProfitBreakdown
    swap_amount_out: int  # debt-asset units the swap of the seized collateral returns
    swap_fee_tier: int  # Uniswap V3 fee tier of the best quote
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    flash: bool  # True when the debt is borrowed by flash loan
    detected_at_ms: int = 0
    latency_ms: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Skip:
    """An option (or a position) the strategy refused, with the reason."""

    reason: SkipReason
    detail: str
    option: LiquidationOption | None = None
