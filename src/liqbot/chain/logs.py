"""Backfill logs in chunks that adapt to the endpoint's limits, with a progress callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from liqbot.chain.client import ChainClient, RpcError

# Error texts nodes use when a range returns too much (geth, erigon, alchemy, infura, quicknode, anvil).
_TOO_MUCH = ("query returned more than", "too many", "limit", "range", "response size", "exceed", "10000")


def _too_much(err: RpcError) -> bool:
    text = str(err.error).lower()
    return any(t in text for t in _TOO_MUCH)


async def backfill(
    client: ChainClient,
    addresses: Sequence[str],
    from_block: int,
    to_block: int,
    on_chunk: Callable[[list[dict[str, Any]], int, int], None],
    *,
    initial_chunk: int = 2_000,
    max_chunk: int = 100_000,
    min_chunk: int = 1,
) -> int:
    """Fetch logs of `addresses` over [from_block, to_block], calling on_chunk(logs, lo, hi) in order.

    The chunk halves when the node refuses a range as too large and doubles after a success. Returns the
    number of getLogs requests made."""
    chunk, lo, requests = initial_chunk, from_block, 0
    while lo <= to_block:
        hi = min(to_block, lo + chunk - 1)
        requests += 1
        try:
            logs = await client.get_logs(lo, hi, addresses)
        except RpcError as err:
            if _too_much(err) and chunk > min_chunk:
                chunk = max(min_chunk, chunk // 2)
                continue
            raise
        on_chunk(logs, lo, hi)
        lo = hi + 1
        chunk = min(max_chunk, chunk * 2)
    return requests
