"""Every endpoint of a chain fails for a while, then fails at random, while Aave activity is mined: the
pipeline stays up (backing off instead of exiting), rebuilds its state after every step an RPC failure cut
short, and once the endpoint is back it reaches the head with the local Aave state equal to the chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.harness.faultproxy import FaultProxy, Faults
from liqbot.protocols.aave_v3.adapter import AaveV3Adapter
from liqbot.store import open_store
from liqbot.telemetry.metrics import Metrics

from .helpers import WAD
from .test_aave_sync import _activity, _chain_view, _local_view
from .test_heads_ws import until

pytestmark = pytest.mark.devnet


def test_the_pipeline_outlives_an_rpc_outage_and_its_state_stays_exact(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'outage.db'}"
    cfg = load_config(devnet.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db})
    store = open_store(db)
    pool = devnet.addresses()["aave"]["pool"]
    proxy = FaultProxy(chain.url, seed=5).start()

    async def run() -> None:
        chain_cfg = cfg.chains[0].model_copy(update={"rpc_http": (proxy.url,), "rpc_ws": ()})
        metrics = Metrics()
        pipe = ChainPipeline(cfg, chain_cfg, store, metrics, "liqbot.yaml")
        await pipe.start(show_progress=False)
        stop = asyncio.Event()
        task = asyncio.create_task(pipe.run(stop))

        def failures() -> float:
            return (
                metrics.registry.get_sample_value(
                    "liqbot_block_step_failures_total", {"chain": chain_cfg.name}
                )
                or 0.0
            )

        try:
            proxy.faults = Faults(drop=1.0)  # every call fails: an outage
            await asyncio.to_thread(chain.mine)
            await until(lambda: failures() >= 1 or task.done(), "a failed step")
            activity = asyncio.create_task(asyncio.to_thread(_activity, devnet, chain))
            await asyncio.sleep(1.5)
            proxy.faults = Faults(drop=0.15, truncate=0.1)  # back, but failing at random mid-step
            await activity
            for _ in range(6):
                await asyncio.to_thread(chain.mine)
                await asyncio.sleep(0.5)
            proxy.clear()
            head = chain.w3.eth.block_number
            await until(lambda: pipe.block >= head or task.done(), "the head, after the outage", 90)
            assert not task.done(), "the pipeline stopped instead of riding the outage out"
        finally:
            stop.set()
            await task
        assert failures() >= 1, "the outage cut steps short"
        aave = next(a for a in pipe.adapters if isinstance(a, AaveV3Adapter))
        users = sorted(aave.sync.users)
        local, remote = _local_view(aave.sync, users), _chain_view(chain, pool, users)
        diff = {u: (local[u], remote[u]) for u in users if local[u] != remote[u]}
        assert not diff, f"{len(diff)} of {len(users)} users differ: {list(diff.items())[:2]}"
        # and nothing liquidatable went unseen: every position the pool calls liquidatable has a decision
        under = {u.lower() for u in users if remote[u][5] < WAD}
        decided = {r.borrower.lower() for r in store.list(limit=10_000) if r.protocol == "aave_v3"}
        assert under, "the activity's crash leaves liquidatable positions"
        assert under <= decided, sorted(under - decided)[:3]
        await pipe.close()

    try:
        asyncio.run(run())
    finally:
        proxy.stop()
        store.close()
