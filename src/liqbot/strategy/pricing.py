"""Price every liquidation option of one position and pick the most profitable one, or say why none goes.

PURE: the market facts (quotes, fees, prices, sequencer status, `now`) are fetched by the caller. Token
amounts are ints; USD values are exact Decimals (amount × price / 10^(decimals+8), no rounding: the context
traps Inexact). net = value(swap_out) − value(debt_to_cover) − flash fee − L2 gas − L1 data fee, all in the
debt asset's and the gas token's USD prices. Anything unknown is a skip with its reason, never a guess."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, localcontext

from liqbot.core.fixed import percent_mul
from liqbot.core.types import LiquidationOption, Opportunity, ProfitBreakdown, Skip, SkipReason
from liqbot.pricing.gas import fee_bid
from liqbot.pricing.quotes import QuoteRequest, SwapQuote
from liqbot.strategy.gates import (
    USD_DECIMALS,
    PricePoint,
    SequencerRule,
    deny_gate,
    min_profit_gate,
    price_gate,
    sequencer_gate,
)

NATIVE_DECIMALS = 18
# Wide enough that no product of uint256 amounts and prices is ever rounded; Inexact trapped to prove it.
_EXACT = Context(prec=200, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])


@dataclass(frozen=True)
class FlashTerms:
    """Set in flash mode. Aave: FLASHLOAN_PREMIUM_TOTAL in bps (5 = 0.05%), charged as Aave does
    (percentMul, half up); Morpho's liquidate callback: 0."""

    premium_bps: int


@dataclass(frozen=True)
class GasFacts:
    next_base_fee: int | None  # wei/gas; None = unknown ⇒ GAS_UNKNOWN
    gas_limit: int  # per-protocol default for liquidation (+ swap); the executor estimates later
    priority_cap: int  # wei/gas: the highest tip we would ever bid
    l1_fee: int | None  # wei; 0 on an L1, None = could not be read ⇒ GAS_UNKNOWN


@dataclass(frozen=True)
class SequencerStatus:
    """The L2 uptime feed as read (answer None = the read failed) and the rule of the option's protocol."""

    answer: int | None
    started_at: int | None
    grace_period_s: int
    rule: SequencerRule


@dataclass(frozen=True)
class MarketFacts:
    now: int  # unix seconds of the expected inclusion block (price ages, sequencer grace)
    decimals: Mapping[str, int]  # token registry, lowercase address → decimals
    prices: Mapping[str, PricePoint]  # lowercase address → USD price
    native_price: PricePoint | None  # USD price of the gas token
    quotes: Mapping[QuoteRequest, SwapQuote | None]  # from quotes.quote_many(quote_requests(options))
    gas: GasFacts
    flash: FlashTerms | None = None  # None = funds mode: no flash fee
    sequencer: SequencerStatus | None = None  # None = no uptime feed (an L1)

    def __post_init__(self) -> None:
        # Lookups are by lowercase address; a checksummed key must not read as "unknown token".
        object.__setattr__(self, "decimals", {k.lower(): v for k, v in self.decimals.items()})
        object.__setattr__(self, "prices", {k.lower(): v for k, v in self.prices.items()})


@dataclass(frozen=True)
class StrategyConfig:
    min_profit_usd: Decimal  # inclusive: net == min goes
    priority_fee_profit_share: Decimal  # thresholds.priority_fee_profit_share
    deny_assets: Collection[str] = ()


@dataclass(frozen=True)
class Evaluation:
    """`result` is the position's outcome (count it once per position); `skips` has every refused option."""

    result: Opportunity | Skip
    skips: tuple[Skip, ...]


def usd(amount: int, price: int, decimals: int) -> Decimal:
    """amount × price / 10^(decimals + 8), exact."""
    with localcontext(_EXACT):
        return Decimal(amount * price).scaleb(-(decimals + USD_DECIMALS))


def quote_requests(options: Sequence[LiquidationOption]) -> list[QuoteRequest]:
    """The swaps to quote for these options (none where collateral is the debt asset), without repeats."""
    reqs = (
        QuoteRequest.of(o.collateral_asset, o.debt_asset, o.collateral_to_liquidator)
        for o in options
        if o.collateral_asset.lower() != o.debt_asset.lower()
    )
    return list(dict.fromkeys(reqs))


def evaluate(options: Sequence[LiquidationOption], facts: MarketFacts, config: StrategyConfig) -> Evaluation:
    """The option with the highest net profit that passes every gate (ties: the first listed)."""
    if not options:
        return Evaluation(Skip(SkipReason.NOT_LIQUIDATABLE, "the adapter found no liquidation option"), ())
    outcomes = [price_option(o, facts, config) for o in options]
    passed = [o for o in outcomes if isinstance(o, Opportunity)]
    skips = [o for o in outcomes if isinstance(o, Skip)]
    if passed:
        best = max(enumerate(passed), key=lambda p: (p[1].profit.net_usd, -p[0]))[1]
        return Evaluation(best, tuple(skips))
    return Evaluation(_furthest(skips), tuple(skips))


def price_option(option: LiquidationOption, facts: MarketFacts, config: StrategyConfig) -> Opportunity | Skip:
    """One option through the gates, in order of cost: deny list, sequencer, tokens, prices, gas, quote,
    profit."""
    prices, now = facts.prices, facts.now
    skip = (
        deny_gate(option, config.deny_assets)
        or _sequencer_gate(option, facts)
        or _token_gate(option, facts.decimals)
        or price_gate(option.collateral_asset, prices.get(option.collateral_asset.lower()), now, option)
        or price_gate(option.debt_asset, prices.get(option.debt_asset.lower()), now, option)
        or price_gate("the gas token", facts.native_price, now, option)
        or _gas_gate(option, facts.gas)
    )
    if skip:
        return skip
    swap = _swap(option, facts.quotes)
    if isinstance(swap, Skip):
        return swap
    return _priced(option, facts, config, swap)


def _sequencer_gate(option: LiquidationOption, facts: MarketFacts) -> Skip | None:
    seq = facts.sequencer
    if seq is None:
        return None
    return sequencer_gate(
        seq.answer, seq.started_at, facts.now, seq.grace_period_s, seq.rule, option.health_factor, option
    )


def _token_gate(option: LiquidationOption, registry: Mapping[str, int]) -> Skip | None:
    for asset, decimals in (
        (option.collateral_asset, option.collateral_decimals),
        (option.debt_asset, option.debt_decimals),
    ):
        known = registry.get(asset.lower())
        if known is None:
            return Skip(SkipReason.UNKNOWN_TOKEN, f"{asset} is not in the token registry", option)
        if known != decimals:  # the adapter and the registry disagree: trust neither
            why = f"{asset}: the registry says {known} decimals, the adapter {decimals}"
            return Skip(SkipReason.UNKNOWN_TOKEN, why, option)
    return None


def _gas_gate(option: LiquidationOption, gas: GasFacts) -> Skip | None:
    if gas.next_base_fee is None:
        return Skip(SkipReason.GAS_UNKNOWN, "base fee unknown", option)
    if gas.l1_fee is None:
        return Skip(SkipReason.GAS_UNKNOWN, "L1 data fee unknown", option)
    return None


def _swap(option: LiquidationOption, quotes: Mapping[QuoteRequest, SwapQuote | None]) -> SwapQuote | Skip:
    if option.collateral_asset.lower() == option.debt_asset.lower():
        return SwapQuote(option.collateral_to_liquidator, 0, 0)  # nothing to swap
    req = QuoteRequest.of(option.collateral_asset, option.debt_asset, option.collateral_to_liquidator)
    quote = quotes.get(req)
    if quote is None or quote.amount_out <= 0:
        why = "not quoted" if req not in quotes else "no pool or the quoter reverted"
        detail = f"swap {req.amount_in} {req.token_in} → {req.token_out}: {why}"
        return Skip(SkipReason.QUOTE_FAILED, detail, option)
    return quote


def _priced(
    option: LiquidationOption, facts: MarketFacts, config: StrategyConfig, swap: SwapQuote
) -> Opportunity | Skip:
    # The gates above guarantee these are present.
    coll_price = facts.prices[option.collateral_asset.lower()].answer
    debt_price = facts.prices[option.debt_asset.lower()].answer
    native = facts.native_price.answer if facts.native_price else 0
    gas = facts.gas
    base_fee, l1_fee = gas.next_base_fee or 0, gas.l1_fee or 0

    flash_tokens = percent_mul(option.debt_to_cover, facts.flash.premium_bps) if facts.flash else 0
    kept = swap.amount_out - option.debt_to_cover - flash_tokens  # debt-asset units left after repaying
    # What L2 gas may cost at most: the profit before gas, in wei (floored: never overstate it).
    budget_wei = kept * debt_price * 10**NATIVE_DECIMALS // (10**option.debt_decimals * native) - l1_fee
    bid = fee_bid(base_fee, gas.gas_limit, budget_wei, config.priority_fee_profit_share, gas.priority_cap)

    with localcontext(_EXACT):
        coll_usd = usd(option.collateral_to_liquidator, coll_price, option.collateral_decimals)
        debt_usd = usd(option.debt_to_cover, debt_price, option.debt_decimals)
        out_usd = usd(swap.amount_out, debt_price, option.debt_decimals)
        bonus, swap_usd = coll_usd - debt_usd, out_usd - coll_usd
        # Costs are negated as ints, so a zero cost is 0, not Decimal("-0").
        flash_usd = usd(-flash_tokens, debt_price, option.debt_decimals)
        gas_usd = usd(-bid.expected_cost_wei, native, NATIVE_DECIMALS)
        l1_usd = usd(-l1_fee, native, NATIVE_DECIMALS)
        net = bonus + swap_usd + flash_usd + gas_usd + l1_usd
    skip = min_profit_gate(net, config.min_profit_usd, option)
    if skip:
        return skip
    notes = ("collateral is the debt asset: no swap",) if swap.fee_tier == 0 else ()
    return Opportunity(
        option=option,
        profit=ProfitBreakdown(bonus, swap_usd, flash_usd, gas_usd, l1_usd, net),
        swap_amount_out=swap.amount_out,
        swap_fee_tier=swap.fee_tier,
        gas_limit=gas.gas_limit,
        max_fee_per_gas=bid.max_fee_per_gas,
        max_priority_fee_per_gas=bid.max_priority_fee_per_gas,
        flash=facts.flash is not None,
        notes=notes,
    )


# How far an option got before it was refused: the position reports the furthest (most informative) one.
_STAGE = {
    r: i
    for i, r in enumerate(
        (
            SkipReason.DENY_LISTED,
            SkipReason.SEQUENCER_UNKNOWN,
            SkipReason.SEQUENCER_DOWN,
            SkipReason.SEQUENCER_GRACE,
            SkipReason.UNKNOWN_TOKEN,
            SkipReason.NO_PRICE,
            SkipReason.STALE_PRICE,
            SkipReason.GAS_UNKNOWN,
            SkipReason.QUOTE_FAILED,
            SkipReason.BELOW_MIN_PROFIT,
        )
    )
}


def _furthest(skips: Sequence[Skip]) -> Skip:
    return max(enumerate(skips), key=lambda s: (_STAGE.get(s[1].reason, -1), -s[0]))[1]
