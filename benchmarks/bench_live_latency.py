"""Live mode latency on the devnet (1 s blocks): from the moment liqbot sees the price-update block to each
broadcast, and blocks from the price update to inclusion — for ~1 and for ~50+ simultaneous liquidations.

The naive comparison, measured in the same run at the same block: a full getUserAccountData scan of every
Aave borrower (Multicall3, 400 per call) before any decision, the way scan-based bots detect.

    .venv/bin/python benchmarks/bench_live_latency.py
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient
from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.store import open_store
from liqbot.telemetry.logging import setup_logging
from liqbot.telemetry.metrics import Metrics

PORT = 38745
DEV_KEY_5 = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"  # anvil's public key #5


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def scenario(devnet: manager.Devnet, shock_pct: float, db: str) -> dict[str, float]:
    cfg = load_config(
        devnet.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db, "LIQBOT_EXECUTION_MODE": "flash"}
    )
    store = open_store(db)
    pipe = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), "bench")
    await pipe.start(show_progress=False)
    users = sorted(pipe.adapters[0].accounts())
    shock = manager.do_shock(devnet, "WETH", shock_pct)
    seen = None
    while pipe.block < shock["block"] + 4:
        if pipe.block < shock["block"] <= await pipe.client.block_number() and seen is None:
            seen = datetime.now(UTC)
        if not await pipe.step():
            await asyncio.sleep(0.05)
    await pipe.close()
    naive = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
    f = fn("Pool", "getUserAccountData")
    t0 = time.perf_counter()
    await naive.multicall([(devnet.addresses()["aave"]["pool"], f.encode(u)) for u in users], shock["block"])
    naive_scan_ms = (time.perf_counter() - t0) * 1000
    await naive.close()
    rows = [r for r in store.list(limit=10_000) if r.detected_block == shock["block"] and r.submitted_at]
    store.close()
    assert seen is not None
    lat = [(r.submitted_at - seen).total_seconds() * 1000 for r in rows if r.submitted_at]
    blocks = [r.included_block - shock["block"] for r in rows if r.included_block]
    return {
        "sent": len(rows),
        "included": len(blocks),
        "borrowers": len(users),
        "p50": statistics.median(lat),
        "p99": pct(lat, 0.99),
        "blocks_p50": statistics.median(blocks) if blocks else float("nan"),
        "blocks_max": max(blocks or [0]),
        "naive_scan_ms": naive_scan_ms,
    }


def main() -> None:
    setup_logging("warning")
    os.environ["LIQBOT_SIGNER_KEY"] = DEV_KEY_5
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    for label, borrowers, shock_pct in (("~1 liquidation", 40, -9.0), ("many liquidations", 1000, -20.0)):
        with tempfile.TemporaryDirectory() as d:
            devnet = manager.up(Path(d), port=PORT, block_time=1)
            try:
                manager.do_populate(devnet, borrowers, seed=42)
                r = asyncio.run(scenario(devnet, shock_pct, f"sqlite:///{d}/b.db"))
            finally:
                manager.down(Path(d))
        print(
            f"{label}: {r['sent']} sent, {r['included']} included of {r['borrowers']} Aave borrowers; "
            f"seen→broadcast p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms; price update→inclusion "
            f"{r['blocks_p50']:.0f} blocks median, {r['blocks_max']} max; naive full scan at that block "
            f"{r['naive_scan_ms']:.0f} ms (would come before the first broadcast)"
        )


if __name__ == "__main__":
    main()
