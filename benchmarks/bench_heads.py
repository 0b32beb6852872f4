"""New heads over WebSocket vs HTTP polling, same devnet, same blocks: how long from a block being mined to
the pipeline having processed it, and how many JSON-RPC requests the pipeline makes per block.

Blocks are mined by the script (evm_mine) at random moments, 0.3–1.0 s apart, so they fall at every phase of
the poll. The pipeline runs as in production (`ChainPipeline.run`); config block_time_s is 1 s, so the
polling mode asks for the head every 0.1 s.

    .venv/bin/python benchmarks/bench_heads.py --blocks 40
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from liqbot.chain.client import ChainClient
from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.store import open_store
from liqbot.telemetry.logging import setup_logging
from liqbot.telemetry.metrics import Metrics

PORT = 38945


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def measure(devnet: manager.Devnet, ws: bool, blocks: int, db: str, seed: int) -> dict[str, float]:
    cfg = load_config(devnet.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db})
    chain = cfg.chains[0].model_copy(update={"block_time_s": 1.0, **({} if ws else {"rpc_ws": ()})})
    store = open_store(db)
    pipe = ChainPipeline(cfg, chain, store, Metrics(), "bench")
    await pipe.start(show_progress=False)
    stop = asyncio.Event()
    task = asyncio.create_task(pipe.run(stop))
    miner = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
    rng = random.Random(seed)  # noqa: S311 - block spacing, not a secret
    while ws and not (pipe._heads and pipe._heads.live):
        await asyncio.sleep(0.01)
    before = Counter(pipe.client.calls)
    lat: list[float] = []
    for _ in range(blocks):
        await asyncio.sleep(rng.uniform(0.3, 1.0))
        target = pipe.block + 1
        await miner.request("evm_mine")
        t0 = time.perf_counter()
        while pipe.block < target:
            await asyncio.sleep(0.001)
        lat.append((time.perf_counter() - t0) * 1000)
    calls = Counter(pipe.client.calls)
    calls.subtract(before)
    stop.set()
    await task
    await pipe.close()
    await miner.close()
    store.close()
    return {
        "p50": statistics.median(lat),
        "p90": pct(lat, 0.9),
        "max": max(lat),
        "head_calls": calls["eth_blockNumber"] / blocks,
        "all_calls": sum(calls.values()) / blocks,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--borrowers", type=int, default=100)
    args = ap.parse_args()
    setup_logging("warning")
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as d:
        devnet = manager.up(Path(d), port=PORT, block_time=0)
        try:
            manager.do_populate(devnet, args.borrowers, seed=7)
            for ws in (False, True, False, True):
                r = asyncio.run(measure(devnet, ws, args.blocks, f"sqlite:///{d}/{ws}-{time.time()}.db", 3))
                mode = "ws  " if ws else "poll"
                print(
                    f"{mode}: mined→processed p50 {r['p50']:.1f} ms, p90 {r['p90']:.1f} ms, "
                    f"max {r['max']:.1f} ms; eth_blockNumber/block {r['head_calls']:.2f}; "
                    f"all requests/block {r['all_calls']:.2f}"
                )
        finally:
            manager.down(Path(d))


if __name__ == "__main__":
    main()
