"""A shadow-mode pipeline driven by new heads over WebSocket, through the fault proxy, while Aave activity
(repays, withdrawals, transfers, borrows, a price crash, liquidations) is mined and the connection is cut
again and again, then refused for a while. At the end every block was processed exactly once (the
eth_getLogs ranges tile the chain with no overlap and no hole), the local Aave state equals the chain for
every user, and every cursor sits at the head."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from liqbot.config import load_config
from liqbot.core.errors import DevnetError
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import LIQUIDATOR, DevnetRpc
from liqbot.harness.wsproxy import WsProxy
from liqbot.protocols.aave_v3.adapter import AaveV3Adapter
from liqbot.store import open_store
from liqbot.telemetry.metrics import Metrics

from .helpers import WAD, book, fund
from .test_aave_sync import _activity, _chain_view, _local_view
from .test_heads_ws import until

pytestmark = pytest.mark.devnet


def test_cut_ws_connections_miss_nothing_and_apply_nothing_twice(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    cfg = load_config(devnet.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db})
    store = open_store(db)
    pool = devnet.addresses()["aave"]["pool"]

    async def run(proxy: WsProxy) -> None:
        chain_cfg = cfg.chains[0].model_copy(update={"rpc_ws": (proxy.url,)})
        metrics = Metrics()
        pipe = ChainPipeline(cfg, chain_cfg, store, metrics, "liqbot.yaml")
        await pipe.start(show_progress=False)
        start = pipe.block
        ranges = _record_log_ranges(pipe)
        stop = asyncio.Event()
        task = asyncio.create_task(pipe.run(stop))

        async def reach(cond: Callable[[], bool], what: str) -> None:
            await until(lambda: task.done() or cond(), what)
            if task.done():
                task.result()  # the pipeline's own error, if it stopped on one
                raise AssertionError(f"the pipeline stopped before: {what}")

        try:
            await reach(lambda: pipe._heads is not None and pipe._heads.live, "subscribed")
            heads = pipe._heads
            assert heads is not None
            activity = asyncio.create_task(asyncio.to_thread(_activity, devnet, chain))
            cuts = 0
            while not activity.done():  # cut the connection every couple of heads while blocks land
                seen = heads.wakes
                with contextlib.suppress(AssertionError):
                    await until(lambda s=seen: heads.wakes >= s + 2 or activity.done(), "heads", 5)
                if heads.live and not activity.done():
                    cuts += proxy.drop(clean=cuts % 3 == 2)
            await activity
            for round_ in _rounds(devnet, chain):  # and a cut right before each of these rounds
                await reach(lambda: heads.live, "resubscribed")
                await asyncio.to_thread(chain.mine)  # a head on the new session: the endpoint is healthy
                await reach(lambda: heads.endpoints.state[0].failures == 0, "a head since resubscribing")
                cuts += proxy.drop(clean=cuts % 3 == 2)
                await asyncio.to_thread(round_)
            assert cuts >= 6, f"only {cuts} cuts during the activity"

            # The WS refuses and is cut: HTTP polling alone carries the pipeline through more blocks.
            await until(lambda: heads.live, "subscribed")
            proxy.refuse()
            assert proxy.drop() == 1
            await until(lambda: not heads.live, "WS down")
            await asyncio.to_thread(manager.do_shock, devnet, "WETH", 5)
            await asyncio.to_thread(chain.mine)
            head = chain.w3.eth.block_number
            await reach(lambda: pipe.block == head, "pipeline at the head on HTTP polls alone")
            assert not heads.live
            proxy.refuse(False)
            await until(lambda: heads.live, "WS back")
            await asyncio.to_thread(chain.mine)
            head = chain.w3.eth.block_number
            await reach(lambda: pipe.block == head, "pipeline at the head")
        finally:
            stop.set()
            await task
        reconnects = sum(
            s.value
            for fam in metrics.registry.collect()
            if fam.name == "liqbot_ws_reconnects"
            for s in fam.samples
            if s.name.endswith("_total")
        )
        assert reconnects >= cuts + 1
        assert (
            metrics.registry.get_sample_value("liqbot_ws_heads_total", {"chain": chain_cfg.name}) or 0
        ) > 0

        # Every block exactly once: the step's log ranges tile (start, head] with no overlap and no hole.
        assert ranges, "the pipeline processed blocks"
        assert ranges[0][0] == start + 1 and ranges[-1][1] == head
        for (_, hi), (lo, _) in itertools.pairwise(ranges):
            assert lo == hi + 1, f"ranges overlap or leave a hole: {ranges}"
        for stream, _, _ in pipe.streams:
            cursor = store.get_cursor(chain_cfg.chain_id, stream)
            assert cursor is not None and cursor.block_number == head, stream

        aave = next(a for a in pipe.adapters if isinstance(a, AaveV3Adapter))
        users = sorted(aave.sync.users)
        local, remote = _local_view(aave.sync, users), _chain_view(chain, pool, users)
        diff = {u: (local[u], remote[u]) for u in users if local[u] != remote[u]}
        assert not diff, f"{len(diff)} of {len(users)} users differ: {list(diff.items())[:2]}"
        await pipe.close()

    try:
        with WsProxy(devnet.chains[0].ws_url) as proxy:
            asyncio.run(run(proxy))
    finally:
        store.close()


def _record_log_ranges(pipe: ChainPipeline) -> list[tuple[int, int]]:
    """Note the (from, to) of every eth_getLogs the step makes (the real call still runs)."""
    ranges: list[tuple[int, int]] = []
    real = pipe.client.get_logs

    async def get_logs(lo: int, hi: int, addresses: Any, topics: Any = None) -> list[dict[str, Any]]:
        if topics is None:
            ranges.append((lo, hi))
        return await real(lo, hi, addresses, topics)

    pipe.client.get_logs = get_logs  # type: ignore[method-assign]
    return ranges


def _rounds(devnet: manager.Devnet, chain: DevnetRpc) -> list[Callable[[], None]]:
    """Small bursts of Aave activity, a few blocks each: repay, borrow, price moves, time, a liquidation."""
    a = devnet.addresses()
    pool = chain.contract("Pool", a["aave"]["pool"])
    seeded = [b for b in book(devnet).values() if b["protocol"] == "aave_v3"]
    b5, b6 = seeded[5], seeded[6]

    def as_user(fn: Callable[[], None]) -> None:
        chain.call("anvil_autoImpersonateAccount", True)
        try:
            fn()
        finally:
            chain.call("anvil_autoImpersonateAccount", False)

    def repay() -> None:
        sym = next(iter(b5["debt"]))
        tok = a["tokens"][sym]["address"]
        fund(chain, tok, pool.address, 1, who=b5["address"])
        chain.transact(
            pool.functions.repay(tok, b5["debt"][sym] // 4, 2, b5["address"]), sender=b5["address"]
        )

    def borrow() -> None:
        sym = next(iter(b6["debt"]))
        fn = pool.functions.borrow(a["tokens"][sym]["address"], b6["debt"][sym] // 30, 2, 0, b6["address"])
        chain.transact(fn, sender=b6["address"])

    def crash() -> None:
        manager.do_shock(devnet, "WETH", -12)
        chain.call("evm_increaseTime", 3 * 86400)
        chain.mine()

    def liquidate() -> None:
        """The most underwater position someone can still liquidate (the activity took some already)."""
        users = [b["address"] for b in seeded]
        view = _chain_view(chain, a["aave"]["pool"], users)
        under = sorted((u for u in users if view[u][5] < WAD), key=lambda u: view[u][5])
        assert under, "the crash leaves someone liquidatable"
        for user in under:
            b = book(devnet)[user]
            coll, debt = next(iter(b["collateral"])), next(iter(b["debt"]))
            fund(chain, a["tokens"][debt]["address"], pool.address, 10**30)
            fn = pool.functions.liquidationCall(
                a["tokens"][coll]["address"], a["tokens"][debt]["address"], user, 2**256 - 1, True
            )
            with contextlib.suppress(DevnetError):  # that collateral is gone or disabled: the next one
                chain.transact(fn, sender=LIQUIDATOR)
                return
        raise AssertionError("no liquidatable position could be liquidated")

    def recover() -> None:
        manager.do_shock(devnet, "WETH", 5)
        chain.mine(3)

    return [
        lambda: as_user(repay),
        lambda: as_user(borrow),
        crash,
        liquidate,
        recover,
        lambda: as_user(repay),
    ]
