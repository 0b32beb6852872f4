"""Gather what the pure strategy needs for one block: USD prices with their age, swap quotes, the fee market,
the L1 data fee and the sequencer status. Reads cost O(assets + candidates), never O(borrowers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from web3 import AsyncHTTPProvider, AsyncWeb3

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient, RpcError
from liqbot.config import ChainConfig, LiqbotConfig
from liqbot.core.types import LiquidationOption
from liqbot.pricing.gas import TxShape, fetch_fee_market, l1_data_fee
from liqbot.pricing.quotes import quote_many
from liqbot.strategy.gates import PricePoint, SequencerRule
from liqbot.strategy.pricing import (
    FlashTerms,
    GasFacts,
    MarketFacts,
    SequencerStatus,
    quote_requests,
)

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
        self.w3 = AsyncWeb3(AsyncHTTPProvider(client.url), middleware=[])  # no eth_chainId per call

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

    async def close(self) -> None:
        await self.w3.provider.disconnect()
