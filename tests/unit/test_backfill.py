"""The log backfill adapts its chunk to an endpoint's range limit and loses nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liqbot.chain.client import RpcError
from liqbot.chain.logs import backfill


class LimitedNode:
    """Answers eth_getLogs like a provider with a 10,000-result cap: one log per block here."""

    def __init__(self, cap: int) -> None:
        self.cap, self.requests = cap, []

    async def get_logs(self, lo: int, hi: int, addresses: Any, topics: Any = None) -> list[dict[str, Any]]:
        self.requests.append((lo, hi))
        if hi - lo + 1 > self.cap:
            raise RpcError(
                "eth_getLogs", {"code": -32005, "message": f"query returned more than {self.cap} results"}
            )
        return [{"blockNumber": hex(b)} for b in range(lo, hi + 1)]


def test_chunks_shrink_on_limit_and_cover_every_block_once() -> None:
    node = LimitedNode(cap=700)
    seen: list[int] = []
    n = asyncio.run(
        backfill(
            node,
            ["0x0"],
            100,
            10_099,
            lambda logs, lo, hi: seen.extend(  # type: ignore[arg-type]
                int(x["blockNumber"], 16) for x in logs
            ),
            initial_chunk=2_000,
        )
    )
    assert seen == list(range(100, 10_100)), "every block exactly once, in order"
    assert all(hi - lo + 1 <= 2_000 for lo, hi in node.requests)
    assert n == len(node.requests)
    assert len(node.requests) < 60, "it settles near the cap instead of crawling block by block"


def test_other_errors_propagate() -> None:
    class Broken(LimitedNode):
        async def get_logs(
            self, lo: int, hi: int, addresses: Any, topics: Any = None
        ) -> list[dict[str, Any]]:
            raise RpcError("eth_getLogs", {"code": -32000, "message": "header not found"})

    with pytest.raises(RpcError, match="header not found"):
        asyncio.run(backfill(Broken(1), ["0x0"], 0, 10, lambda *_: None))  # type: ignore[arg-type]
