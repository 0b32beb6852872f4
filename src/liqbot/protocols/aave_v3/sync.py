"""Bring an Aave V3 market's local state up to a block and keep it there: discovery backfill, snapshot,
then event-by-event updates. The only per-block cost is one eth_getLogs and the headers of the new blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient
from liqbot.chain.logs import backfill
from liqbot.protocols.aave_v3 import events as ev
from liqbot.protocols.aave_v3.discovery import users_in
from liqbot.protocols.aave_v3.reader import load_market, load_users
from liqbot.protocols.aave_v3.state import AaveState

Progress = Callable[[int, int], None]  # (blocks done, blocks total)


@dataclass
class AaveMarketSync:
    client: ChainClient
    provider: str
    state: AaveState | None = None
    parts: dict[str, str] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    price_corrections: int = 0  # prices the per-block oracle check had to fix (events missed them)

    def watched_addresses(self) -> list[str]:
        """Every emitter whose logs move the state: pool, tokens, price sources, configurator, provider."""
        assert self.state is not None
        return [
            self.parts["pool"],
            self.parts["configurator"],
            self.parts["provider"],
            self.parts["oracle"],  # AssetSourceUpdated: a source changed, reload the market
            *self.state.token_addresses(),
            *self.state.price_sources(),
        ]

    def config_sources(self) -> frozenset[str]:
        return frozenset({self.parts["configurator"], self.parts["provider"], self.parts["oracle"]})

    async def bootstrap(
        self,
        start_block: int,
        to_block: int,
        known_users: Iterable[str] = (),
        progress: Progress | None = None,
    ) -> int:
        """Discover users from logs in [start_block, to_block], snapshot everything at to_block.

        Returns the number of getLogs requests the backfill made."""
        self.state, self.parts = await load_market(self.client, self.provider, to_block)
        self.users.update(known_users)
        addresses = [self.parts["pool"], *self.state.token_addresses()]
        total = max(1, to_block - start_block + 1)

        def on_chunk(logs: list[dict[str, Any]], lo: int, hi: int) -> None:
            for log in logs:
                self.users.update(users_in(log))
            if progress:
                progress(hi - start_block + 1, total)

        requests = 0
        if start_block <= to_block:
            requests = await backfill(self.client, addresses, start_block, to_block, on_chunk)
        await load_users(self.client, self.state, sorted(self.users), to_block)
        self.state.block = to_block
        self.state.timestamp = int((await self.client.block(to_block))["timestamp"], 16)
        return requests

    async def advance(self, to_block: int, logs: list[dict[str, Any]] | None = None) -> set[str]:
        """Apply every log in (state.block, to_block] in order; return users whose position changed."""
        assert self.state is not None
        st = self.state
        lo = st.block + 1
        if to_block < lo:
            return set()
        if logs is None:
            logs = await self.client.get_logs(lo, to_block, self.watched_addresses())
        stamps = await self._timestamps(lo, to_block, logs)
        changed: set[str] = set()
        sources = self.config_sources()
        for log in sorted(logs, key=lambda x: (int(x["blockNumber"], 16), int(x["logIndex"], 16))):
            block = int(log["blockNumber"], 16)
            for u in users_in(log):
                if u not in self.users:
                    self.users.add(u)
            event = ev.decode_log(log, sources)
            if event is not None:
                changed |= st.apply(event, block, stamps[block])
        st.block = to_block
        st.timestamp = stamps.get(to_block) or int((await self.client.block(to_block))["timestamp"], 16)
        await self._repair()
        await self.check_prices()
        return changed

    async def check_prices(self) -> int:
        """One AaveOracle.getAssetsPrices per block: catches sources that move without an event we follow
        (adapters, proxies whose aggregator changed). Returns how many prices it had to correct."""
        assert self.state is not None
        st = self.state
        ids = sorted(st.reserves)
        f = fn("AaveOracle", "getAssetsPrices")
        raw = await self.client.eth_call(
            self.parts["oracle"], f.encode([st.reserves[i].asset for i in ids]), st.block
        )
        fixed = 0
        for rid, price in zip(ids, f.decode_one(raw), strict=True):
            if st.prices.get(rid) != int(price):
                st.prices[rid] = int(price)
                fixed += 1
        self.price_corrections += fixed
        return fixed

    async def _timestamps(self, lo: int, hi: int, logs: list[dict[str, Any]]) -> dict[int, int]:
        blocks = sorted({int(x["blockNumber"], 16) for x in logs} | {hi})
        out = {}
        for b in blocks:
            ts = next((x.get("blockTimestamp") for x in logs if int(x["blockNumber"], 16) == b), None)
            out[b] = int(ts, 16) if ts else int((await self.client.block(b))["timestamp"], 16)
        return out

    async def _repair(self) -> None:
        """Re-read what events cannot carry exactly: the market after a config change, stable-debt users."""
        assert self.state is not None
        st = self.state
        if st.needs_reload:
            fresh, self.parts = await load_market(self.client, self.provider, st.block)
            fresh.users, fresh.block, fresh.timestamp = st.users, st.block, st.timestamp
            self.state = st = fresh
        if st.needs_resync:
            users, st.needs_resync = sorted(st.needs_resync), set()
            await load_users(self.client, st, users, st.block)
