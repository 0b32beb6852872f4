"""RPC cost per block of liqbot's detection vs the naive scan, on the devnet, as the borrower count grows.

liqbot: local state moved by logs; per block it asks for the head, the logs, the header, the prices and the
block hash, whatever the number of borrowers. Naive: every block, getUserAccountData for every borrower in
Multicall3 batches of 400 (what most open-source bots do). Both see the same blocks: each block moves the
WETH price by ±0.5% and one borrower borrows a little more.

    .venv/bin/python benchmarks/bench_rpc_per_block.py [--sizes 100,300,1000] [--blocks 10]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient
from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.shock import FEED_ABI
from liqbot.store import open_store
from liqbot.telemetry.logging import setup_logging
from liqbot.telemetry.metrics import Metrics

PORT = 39545


async def naive_scan(client: ChainClient, pool: str, users: list[str]) -> int:
    """One block of the naive approach; returns how many positions it found below HF 1."""
    f = fn("Pool", "getUserAccountData")
    res = await client.multicall([(pool, f.encode(u)) for u in users])
    return sum(1 for ok, data in res if ok and f.decode(data)[5] < 10**18)


def jitter(devnet: manager.Devnet, rng: random.Random) -> None:
    rpc, a = devnet.rpc(), devnet.addresses()
    feed = rpc.contract(FEED_ABI, a["tokens"]["WETH"]["feed"])
    price = int(feed.functions.latestAnswer().call())
    rpc.transact(feed.functions.setAnswer(price * rng.choice((995, 1005)) // 1000))


async def measure(devnet: manager.Devnet, n_blocks: int, db: str) -> dict[str, float]:
    cfg = load_config(devnet.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db})
    store = open_store(db)
    pipe = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), "bench")
    await pipe.start(show_progress=False)
    users = sorted(pipe.adapters[0].accounts())
    naive = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
    pool = devnet.addresses()["aave"]["pool"]
    rng = random.Random(7)  # noqa: S311 - benchmark workload, not secrets
    ours_t, naive_t = [], []
    base_ours, base_naive = sum(pipe.client.calls.values()), 0
    for _ in range(n_blocks):
        jitter(devnet, rng)
        t0 = time.perf_counter()
        await pipe.step()
        ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await naive_scan(naive, pool, users)
        naive_t.append(time.perf_counter() - t0)
    ours_calls = (sum(pipe.client.calls.values()) - base_ours) / n_blocks
    naive_calls = (sum(naive.calls.values()) - base_naive) / n_blocks
    await naive.close()
    await pipe.close()
    store.close()
    return {
        "borrowers": len(users),
        "ours_rpc": ours_calls,
        "naive_rpc": naive_calls,
        "naive_node_calls": len(users),
        "ours_ms": statistics.median(ours_t) * 1000,
        "naive_ms": statistics.median(naive_t) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,300,1000")
    ap.add_argument("--blocks", type=int, default=10)
    args = ap.parse_args()
    setup_logging("warning")
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(
        f"{'borrowers':>9} {'liqbot RPC/blk':>14} {'naive RPC/blk':>13} {'naive node calls/blk':>20} "
        f"{'liqbot ms/blk':>13} {'naive ms/blk':>12} {'time ratio':>10}"
    )
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as d:
            devnet = manager.up(Path(d), port=PORT, block_time=0)
            try:
                manager.do_populate(devnet, n, seed=3)
                r = asyncio.run(measure(devnet, args.blocks, f"sqlite:///{d}/bench.db"))
            finally:
                manager.down(Path(d))
        print(
            f"{r['borrowers']:>9} {r['ours_rpc']:>14.1f} {r['naive_rpc']:>13.1f} {r['naive_node_calls']:>20} "
            f"{r['ours_ms']:>13.1f} {r['naive_ms']:>12.1f} {r['naive_ms'] / r['ours_ms']:>9.1f}x"
        )


if __name__ == "__main__":
    main()
