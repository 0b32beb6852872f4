"""Read Morpho Blue markets and positions from the chain, always at one pinned block, in Multicall3 batches.

Startup reads grow with the number of positions; the per-block read (`read_quotes`) costs one eth_call
for all markets: each oracle's price() and each IRM's borrowRateView(), never anything per borrower."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address

from liqbot.chain.abi_call import Fn, fn
from liqbot.chain.client import ChainClient
from liqbot.core.errors import StopError
from liqbot.protocols.morpho_blue.math import ZERO_ADDRESS, Market, MarketParams, Position
from liqbot.protocols.morpho_blue.state import Pair

Call = tuple[str, Fn, tuple[Any, ...]]


def _id(market_id: str) -> bytes:
    return bytes.fromhex(market_id.removeprefix("0x"))


async def _batch(client: ChainClient, calls: Sequence[Call], block: int) -> list[tuple[Any, ...] | None]:
    """Each call's decoded outputs, or None where it reverted or returned too little to decode."""
    raw = await client.multicall([(to, f.encode(*args)) for to, f, args in calls], block)
    out: list[tuple[Any, ...] | None] = []
    for (_, f, _), (ok, data) in zip(calls, raw, strict=True):
        try:
            out.append(f.decode(data) if ok else None)
        except DecodingError:  # e.g. an oracle without code answers ok with empty data
            out.append(None)
    return out


async def read_markets(
    client: ChainClient, morpho: str, ids: Sequence[str], block: int
) -> tuple[dict[str, MarketParams], dict[str, Market]]:
    """idToMarketParams and market() of each id; an id Morpho never created stops the adapter (a typo)."""
    f_params, f_market = fn("Morpho", "idToMarketParams"), fn("Morpho", "market")
    calls: list[Call] = [(morpho, f_params, (_id(i),)) for i in ids]
    calls += [(morpho, f_market, (_id(i),)) for i in ids]
    res = await _batch(client, calls, block)
    params: dict[str, MarketParams] = {}
    markets: dict[str, Market] = {}
    for n, market_id in enumerate(ids):
        p, m = res[n], res[len(ids) + n]
        if p is None or m is None:
            raise StopError(f"Morpho at {morpho} did not answer for market {market_id}: is it Morpho Blue?")
        if int(m[4]) == 0:  # lastUpdate is set at creation and never cleared
            raise StopError(f"market {market_id} does not exist on Morpho {morpho} at block {block}")
        loan, coll, oracle, irm, lltv = p
        loan, coll, oracle, irm = (str(to_checksum_address(a)) for a in (loan, coll, oracle, irm))
        params[market_id] = MarketParams(loan, coll, oracle, irm, int(lltv))
        markets[market_id] = Market(*(int(x) for x in m))
    return params, markets


async def read_fee_recipient(client: ChainClient, morpho: str, block: int) -> str:
    f = fn("Morpho", "feeRecipient")
    return str(to_checksum_address(f.decode_one(await client.eth_call(morpho, f.encode(), block))))


async def read_positions(
    client: ChainClient, morpho: str, pairs: Sequence[Pair], block: int
) -> dict[Pair, Position]:
    f = fn("Morpho", "position")
    res = await _batch(client, [(morpho, f, (_id(m), u)) for m, u in pairs], block)
    out: dict[Pair, Position] = {}
    for pair, row in zip(pairs, res, strict=True):
        if row is None:
            raise StopError(f"Morpho.position{pair} failed at block {block}")
        out[pair] = Position(*(int(x) for x in row))
    return out


async def read_decimals(client: ChainClient, tokens: Iterable[str], block: int) -> dict[str, int]:
    """decimals() of each token; a token that does not answer is left out (its options are skipped)."""
    f = fn("MintableERC20", "decimals")
    order = sorted(tokens)
    res = await _batch(client, [(t, f, ()) for t in order], block)
    return {t: int(row[0]) for t, row in zip(order, res, strict=True) if row is not None}


async def read_quotes(
    client: ChainClient, params: dict[str, MarketParams], markets: dict[str, Market], block: int
) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """Per market: the oracle's price() and the IRM's borrowRateView(params, market) at `block`.

    The IRM is given the local market struct, which equals the chain's at `block`; its answer is the rate
    `_accrueInterest` would use in a block with this state. None where the call reverts (no IRM: rate 0)."""
    f_price, f_rate = fn("MorphoOracle", "price"), fn("MorphoIrm", "borrowRateView")
    ids = sorted(params)
    oracles = sorted({params[i].oracle for i in ids if params[i].oracle != ZERO_ADDRESS})
    with_irm = [i for i in ids if params[i].irm != ZERO_ADDRESS]
    calls: list[Call] = [(o, f_price, ()) for o in oracles]
    calls += [(params[i].irm, f_rate, (params[i].as_tuple(), markets[i].as_tuple())) for i in with_irm]
    res = await _batch(client, calls, block)
    by_oracle = {o: (None if r is None else int(r[0])) for o, r in zip(oracles, res, strict=False)}
    rates: dict[str, int | None] = {i: 0 for i in ids}
    for i, r in zip(with_irm, res[len(oracles) :], strict=True):
        rates[i] = None if r is None else int(r[0])
    prices = {i: by_oracle.get(params[i].oracle) for i in ids}
    return prices, rates
