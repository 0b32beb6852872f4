"""Gather what the pure strategy needs for one block: USD prices with their age, swap quotes, the fee market,
the L1 data fee and the sequencer status. Reads cost O(assets + candidates), never O(borrowers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog

from liqbot.chain.abi_call import fn
from liqbot.chain.client import MULTICALL3, ChainClient, RpcError
from liqbot.chain.provider import pooled_web3
from liqbot.config import ChainConfig, LiqbotConfig
from liqbot.core.types import LiquidationOption, Opportunity
from liqbot.pricing.gas import TxShape, fetch_fee_market, l1_data_fee
from liqbot.pricing.quotes import QuoteRequest, SwapQuote, quote_many
from liqbot.strategy.gates import PricePoint, SequencerRule
from liqbot.strategy.pricing import (
    FlashTerms,
    GasFacts,
    MarketFacts,
    SequencerStatus,
    quote_requests,
)

log = structlog.get_logger("liqbot.facts")

LEDGER_BLOCKS = 4  # our swaps of this many recent blocks count as ahead of a new one in the same pool

# Gas a flash liquidation (flash loan + liquidationCall + swap + repay) takes on Aave V3; the executor
# estimates the real figure before sending (issue 4). Shadow mode prices with this.
DEFAULT_GAS_LIMIT = {"aave_v3": 900_000, "morpho_blue": 600_000}


@dataclass
class FeedBook:
    """asset (lowercase) → its price source, so prices and ages are read in one multicall per block."""

    sources: dict[str, str]


async def read_prices(
    client: ChainClient, book: FeedBook, max_age_s: int, block: int
) -> dict[str, PricePoint]:
    """latestRoundData of every source: answer and updatedAt. A source that fails is simply absent (fail
    closed: the strategy skips with NO_PRICE)."""
    assets = sorted(book.sources)
    f = fn("PriceFeed", "latestRoundData")
    res = await client.multicall([(book.sources[a], f.encode()) for a in assets], block)
    out = {}
    for asset, (ok, data) in zip(assets, res, strict=True):
        if ok and len(data) >= 160:
            _round, answer, _started, updated, _answered = f.decode(data)
            out[asset] = PricePoint(int(answer), int(updated), max_age_s)
    return out


async def read_sequencer(
    client: ChainClient, chain: ChainConfig, rule: SequencerRule, block: int
) -> SequencerStatus | None:
    if chain.sequencer_uptime_feed is None:
        return None
    f = fn("PriceFeed", "latestRoundData")
    try:
        # Aave's PriceOracleSentinel times the grace period from updatedAt (4th field), not startedAt:
        # mirror what the protocol checks, since that is what decides whether the call reverts.
        _r, answer, _started, updated, _a = f.decode(
            await client.eth_call(chain.sequencer_uptime_feed, f.encode(), block)
        )
        return SequencerStatus(int(answer), int(updated), chain.sequencer_grace_period_s, rule)
    except RpcError:
        return SequencerStatus(None, None, chain.sequencer_grace_period_s, rule)


class FactGatherer:
    def __init__(self, cfg: LiqbotConfig, chain: ChainConfig, client: ChainClient) -> None:
        self.cfg, self.chain, self.client = cfg, chain, client
        self.w3 = pooled_web3(client)  # quotes and fee history fail over with the client's other calls
        self._ledger: list[tuple[int, tuple[str, str, int], int]] = []  # (block, pool, amount sold)

    async def gather(
        self,
        options: Sequence[LiquidationOption],
        prices: dict[str, PricePoint],
        decimals: dict[str, int],
        now: int,
        sequencer: SequencerStatus | None,
        flash: FlashTerms | None,
        sample_call: tuple[str, bytes],
    ) -> MarketFacts:
        c = self.chain.contracts
        quotes = {}
        if c.uniswap_v3_quoter_v2 is not None:
            quotes = await quote_many(
                self.w3,
                c.uniswap_v3_quoter_v2,
                quote_requests(options),
                multicall=c.multicall3 or "0xcA11bde05977b3631167028862bE2a173976CA11",
            )
        market = await fetch_fee_market(self.w3)
        protocol = options[0].protocol if options else "aave_v3"
        gas_limit = DEFAULT_GAS_LIMIT.get(protocol, 900_000)
        l1 = None
        if market is not None:
            shape = TxShape(
                self.chain.chain_id,
                sample_call[0],
                sample_call[1],
                gas_limit,
                2 * market.next_base_fee,
                market.priority_fee,
            )
            l1 = await l1_data_fee(
                self.w3,
                self.chain.l2,
                shape,
                op_oracle=c.op_gas_price_oracle or "0x420000000000000000000000000000000000000F",
            )
        cap = int(self.cfg.thresholds.max_gas_price_gwei * 10**9)
        gas = GasFacts(market.next_base_fee if market else None, gas_limit, cap, l1)
        native = prices.get((c.wrapped_native or "").lower())
        return MarketFacts(now, decimals, prices, native, quotes, gas, flash, sequencer)

    async def crowded(self, facts: MarketFacts, opps: Sequence[Opportunity], block: int) -> MarketFacts:
        """Re-quote swaps that share a pool with other liquidations of this block.

        Quotes assume an untouched pool, but our own liquidations in one block sell into the same pools
        and whichever lands last gets the worst price (its swap floor then reverts on chain, and the gas is
        gone). Each crowded swap is re-quoted as if it lands last: q(before + all) − q(before + all − own),
        where `before` is what earlier decisions of this block already sell there."""
        groups = _groups(opps)
        c = self.chain.contracts
        recent = self._recent(block)
        crowded = {k: g for k, g in groups.items() if len(g) > 1 or recent.get(k, 0) > 0}
        if not crowded or c.uniswap_v3_quoter_v2 is None:
            return facts
        quotes = dict(facts.quotes)
        for (t_in, t_out, fee), g in crowded.items():
            before = recent.get((t_in, t_out, fee), 0)
            total = before + sum(o.option.collateral_to_liquidator for o in g)
            asks = [QuoteRequest.of(t_in, t_out, total)] + [
                QuoteRequest.of(t_in, t_out, total - o.option.collateral_to_liquidator) for o in g
            ]
            got = await quote_many(
                self.w3, c.uniswap_v3_quoter_v2, asks, fee_tiers=(fee,), multicall=c.multicall3 or MULTICALL3
            )
            full = got.get(asks[0])
            for o, ask in zip(g, asks[1:], strict=True):
                rest = got.get(ask) if ask.amount_in > 0 else SwapQuote(0, fee, 0)
                req = QuoteRequest.of(t_in, t_out, o.option.collateral_to_liquidator)
                if full is None or rest is None:
                    quotes[req] = None  # fail closed: no honest quote for the crowded swap
                else:
                    quotes[req] = SwapQuote(full.amount_out - rest.amount_out, fee, full.gas_estimate)
            log.debug("crowded swaps repriced", pool=f"{t_in}>{t_out}/{fee}", swaps=len(g), total=total)
        return replace(facts, quotes=quotes)

    def commit(self, opps: Sequence[Opportunity], block: int) -> None:
        """Remember what this block's final decisions sell, for decisions made later in the same block."""
        for k, g in _groups(opps).items():
            self._ledger.append((block, k, sum(o.option.collateral_to_liquidator for o in g)))
        self._ledger = [x for x in self._ledger if x[0] > block - LEDGER_BLOCKS]

    def _recent(self, block: int) -> dict[tuple[str, str, int], int]:
        """What our decisions of the last LEDGER_BLOCKS blocks sell, per pool: those swaps may still be
        pending (blocks fill up), and each later swap into the same pool must be priced after them."""
        out: dict[tuple[str, str, int], int] = {}
        for b, k, amount in self._ledger:
            if b > block - LEDGER_BLOCKS:
                out[k] = out.get(k, 0) + amount
        return out

    async def close(self) -> None:
        await self.w3.provider.disconnect()


def _groups(opps: Sequence[Opportunity]) -> dict[tuple[str, str, int], list[Opportunity]]:
    """Opportunities by the pool their swap sells into (collateral, debt, fee tier)."""
    groups: dict[tuple[str, str, int], list[Opportunity]] = {}
    for o in opps:
        if o.swap_fee_tier:  # 0: collateral is the debt asset, no swap
            key = (o.option.collateral_asset.lower(), o.option.debt_asset.lower(), o.swap_fee_tier)
            groups.setdefault(key, []).append(o)
    return groups
