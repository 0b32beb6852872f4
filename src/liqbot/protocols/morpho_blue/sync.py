"""Bring Morpho Blue's local state up to a block and keep it there: discovery backfill, multicall snapshot,
then event-by-event updates. Per block: the logs of one contract, the headers of blocks with logs, and one
eth_call for every market's oracle price and IRM rate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from liqbot.chain.client import ChainClient, RpcError
from liqbot.chain.logs import backfill
from liqbot.protocols.morpho_blue import events as ev
from liqbot.protocols.morpho_blue.math import ZERO_ADDRESS, Position
from liqbot.protocols.morpho_blue.reader import (
    read_decimals,
    read_fee_recipient,
    read_markets,
    read_positions,
    read_quotes,
)
from liqbot.protocols.morpho_blue.state import MorphoState, Pair

Progress = Callable[[int, int], None]  # (blocks done, blocks total)
log = structlog.get_logger("liqbot.morpho")

# On a restart the stored accounts carry no market: each is read in every market. Past this many
# (market, account) pairs a full rediscovery from the deploy block is cheaper than the cross product.
MAX_RESUME_PAIRS = 200_000


def _block(log_: dict[str, Any]) -> int:
    return int(log_["blockNumber"], 16)


@dataclass
class MorphoSync:
    client: ChainClient
    morpho: str
    market_ids: tuple[str, ...] = ()  # empty: every market Morpho has (found from CreateMarket)
    deploy_block: int = 0  # where CreateMarket discovery starts when resuming in all-markets mode
    state: MorphoState | None = None

    def watched_addresses(self) -> list[str]:
        return [self.morpho]

    async def bootstrap(
        self,
        start_block: int,
        to_block: int,
        known_users: Iterable[str] = (),
        progress: Progress | None = None,
    ) -> int:
        """Discover positions from logs in [start_block, to_block], snapshot everything at to_block.

        Returns the number of getLogs requests made."""
        watch_all = not self.market_ids
        ids = {i.lower() for i in self.market_ids}
        known = set(known_users)
        requests = 0
        if watch_all and start_block > self.deploy_block:
            created, requests = await scan_topic(
                self.client, self.morpho, ev.T_CREATE_MARKET, self.deploy_block, start_block - 1
            )
            ids |= created
            if len(known) * max(1, len(ids)) > MAX_RESUME_PAIRS:
                log.warning("morpho: too many stored accounts x markets; rediscovering from the deploy block",
                            accounts=len(known), markets=len(ids))  # fmt: skip
                start_block, known = self.deploy_block, set()
        pairs: set[Pair] = set()
        total = max(1, to_block - start_block + 1)

        def on_chunk(logs: list[dict[str, Any]], lo: int, hi: int) -> None:
            for x in logs:
                topics = x.get("topics") or []
                if watch_all and topics and str(topics[0]).lower() == ev.T_CREATE_MARKET:
                    ids.add(str(topics[1]).lower())
                pairs.update(ev.positions_in(x))
            if progress:
                progress(hi - start_block + 1, total)

        if start_block <= to_block:
            requests += await backfill(self.client, [self.morpho], start_block, to_block, on_chunk)
        order = sorted(ids)
        params, markets = await read_markets(self.client, self.morpho, order, to_block)
        fee_recipient = await read_fee_recipient(self.client, self.morpho, to_block)
        pairs = {p for p in pairs if p[0] in ids} | {(m, u) for m in order for u in known}
        keep = {(m, fee_recipient) for m in order} if fee_recipient != ZERO_ADDRESS else set()
        positions = await read_positions(self.client, self.morpho, sorted(pairs | keep), to_block)
        st = MorphoState(self.morpho, params, markets, fee_recipient=fee_recipient, watch_all=watch_all)
        # Positions that are all zero are dropped; if one comes alive its first event has it re-read.
        st.positions = {p: v for p, v in positions.items() if p in keep or v != Position()}
        st.decimals = await read_decimals(self.client, st.tokens(), to_block)
        st.block, st.timestamp = to_block, await self._timestamp(to_block)
        st.prices, st.rates = await read_quotes(self.client, st.params, st.markets, to_block)
        self.state = st
        return requests

    async def advance(self, to_block: int, logs: list[dict[str, Any]] | None = None) -> set[Pair]:
        """Apply every Morpho log in (state.block, to_block] in order, re-read prices and rates at to_block;
        return the positions that changed."""
        assert self.state is not None, "bootstrap() first"
        st = self.state
        lo = st.block + 1
        if to_block < lo:
            return set()
        if logs is None:
            logs = await self.client.get_logs(lo, to_block, [self.morpho])
        mine = sorted(
            (
                x
                for x in logs
                if str(x["address"]).lower() == self.morpho.lower() and lo <= _block(x) <= to_block
            ),
            key=lambda x: (_block(x), int(x["logIndex"], 16)),
        )
        stamps = await self._timestamps(mine)
        changed: set[Pair] = set()
        for x in mine:
            for pair in ev.positions_in(x):
                if pair[0] in st.markets and pair not in st.positions:
                    st.needs_resync.add(pair)  # first sight: read it whole, its history may predate us
            event = ev.decode_log(x)
            if event is not None:
                changed |= st.apply(event, stamps[_block(x)])
        st.block, st.timestamp = to_block, await self._timestamp(to_block, stamps)
        changed |= await self._repair()
        st.prices, st.rates = await read_quotes(self.client, st.params, st.markets, to_block)
        return changed

    async def _repair(self) -> set[Pair]:
        """Read what events cannot carry: new markets' token decimals, positions seen for the first time."""
        assert self.state is not None
        st = self.state
        if st.new_markets:
            missing = st.tokens() - set(st.decimals)
            st.decimals |= await read_decimals(self.client, missing, st.block)
            st.new_markets = set()
        if not st.needs_resync:
            return set()
        pairs, st.needs_resync = sorted(st.needs_resync), set()
        st.positions |= await read_positions(self.client, self.morpho, pairs, st.block)
        return set(pairs)

    async def _timestamp(self, block: int, known: dict[int, int] | None = None) -> int:
        if known and block in known:
            return known[block]
        return int((await self.client.block(block))["timestamp"], 16)

    async def _timestamps(self, logs: list[dict[str, Any]]) -> dict[int, int]:
        out: dict[int, int] = {}
        for x in logs:
            if x.get("blockTimestamp"):
                out[_block(x)] = int(x["blockTimestamp"], 16)
        todo = sorted({_block(x) for x in logs} - set(out))
        for b, ts in zip(todo, await asyncio.gather(*(self._timestamp(b) for b in todo)), strict=True):
            out[b] = ts
        return out


async def scan_topic(
    client: ChainClient, address: str, topic0: str, lo: int, hi: int, chunk: int = 100_000
) -> tuple[set[str], int]:
    """topics[1] of every `topic0` log of `address` in [lo, hi] (here: CreateMarket ids), in chunks that
    halve when the node refuses a range. `backfill` takes no topic filter, and market discovery should not
    fetch every Supply/Borrow since the deploy block."""
    found: set[str] = set()
    requests = 0
    while lo <= hi:
        top = min(hi, lo + chunk - 1)
        requests += 1
        try:
            logs = await client.get_logs(lo, top, [address], [topic0])
        except RpcError:
            if chunk == 1:
                raise
            chunk = max(1, chunk // 2)
            continue
        found |= {str(x["topics"][1]).lower() for x in logs}
        lo = top + 1
    return found, requests
