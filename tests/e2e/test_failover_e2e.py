"""The live devnet scenario of test_live_e2e (flash mode, a WETH crash) with rpc_http = three fault-injecting
proxies in front of the devnet's anvil, two of them broken at any time. Throughout, one reports a frozen
head and cuts answers short. Until the crash another answers garbage while the third works; at the crash
they swap: the one in use starts dropping connections, answering 5xx, 429 or garbage and stalling past the
timeout, and the garbage one is mended. liqbot still liquidates every position a clean run (same chain,
reverted to the same state) liquidates, every attempt ends included, and the faults really happened."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import LIQUIDATOR
from liqbot.harness.faultproxy import FaultProxy, Faults
from liqbot.store import AttemptStatus, open_store
from liqbot.telemetry.metrics import Metrics

from ..conftest import seeded_devnet
from .test_live_e2e import DEV_KEY_5

pytestmark = pytest.mark.devnet

GARBAGE = Faults(garbage=1.0)
CUTS = Faults(truncate=0.2)
NOISY = Faults(drop=0.3, delay=0.1, delay_s=1.5, http_5xx=0.2, rate_limit=0.1, garbage=0.2)


@pytest.fixture(scope="module")
def fo_devnet(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    yield from seeded_devnet(tmp_path_factory, "failover", borrowers=150, seed=8, block_time=1)


def _config(devnet: manager.Devnet, tmp_path: Path, name: str, urls: list[str]) -> Path:
    doc: dict[str, Any] = yaml.safe_load((devnet.dir / "liqbot.yaml").read_text())
    doc["chains"][0].update(rpc_http=urls, rpc_timeout_s=1.0, rpc_bench_max_s=2.0)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(
    devnet: manager.Devnet,
    config: Path,
    db: str,
    metrics: Metrics,
    on_shock: Callable[[], None] = lambda: None,
) -> tuple[int, list[Any]]:
    """One live run through a crash; returns the shock block and the attempt rows from it on."""
    env = {"LIQBOT_DATABASE_URL": db, "LIQBOT_EXECUTION_MODE": "flash", "LIQBOT_SIGNER_KEY": DEV_KEY_5}
    cfg = load_config(config, env=env)
    store = open_store(db)

    async def run() -> int:
        pipe = ChainPipeline(cfg, cfg.chains[0], store, metrics, config.name)
        await pipe.start(show_progress=False)
        shock = manager.do_shock(devnet, "WETH", -20)
        on_shock()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while pipe.block < shock["block"] + 4 and loop.time() < deadline:
            if not await pipe.step():
                await asyncio.sleep(0.2)
        await asyncio.wait_for(pipe.close(), timeout=60)
        return int(shock["block"])

    try:
        shock_block = asyncio.run(run())
        return shock_block, [r for r in store.list(limit=1000) if r.detected_block >= shock_block]
    finally:
        store.close()


def _liquidated(rows: list[Any]) -> set[tuple[str, str]]:
    return {(r.protocol, r.borrower.lower()) for r in rows if r.tx_hash}


def test_two_broken_endpoints_of_three_still_liquidate_everything(
    fo_devnet: manager.Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIQBOT_SIGNER_KEY", DEV_KEY_5)
    devnet, rpc = fo_devnet, fo_devnet.rpc()
    snap = rpc.snapshot()
    _, clean = _run(
        devnet, _config(devnet, tmp_path, "clean", [rpc.url]), f"sqlite:///{tmp_path / 'clean.db'}", Metrics()
    )
    assert _liquidated(clean), "the crash must produce liquidations"
    rpc.revert(snap)

    proxies = [
        FaultProxy(rpc.url, faults=GARBAGE, seed=1).start(),
        FaultProxy(rpc.url, faults=CUTS, seed=2).start(),
        FaultProxy(rpc.url, seed=3).start(),
    ]
    metrics = Metrics()
    try:
        proxies[1].freeze()
        urls = [p.url for p in proxies]
        config, db = _config(devnet, tmp_path, "faulty", urls), f"sqlite:///{tmp_path / 'faulty.db'}"

        def swap() -> None:
            proxies[0].clear()
            proxies[2].faults = NOISY

        shock_block, rows = _run(devnet, config, db, metrics, swap)
    finally:
        for p in proxies:
            p.stop()

    sent = [r for r in rows if r.tx_hash]
    # A position decided in the same block as in the clean run met the same chain: the same decision, and
    # it must be liquidated. (One decided a block later, because a fault delayed a step, meets another base
    # fee and other crowding, and may rightly go the other way.)
    first: dict[tuple[str, str], int] = {}
    for r in sorted(rows, key=lambda r: r.detected_block):
        first.setdefault((r.protocol, r.borrower.lower()), r.detected_block)
    clean_at = {(r.protocol, r.borrower.lower()): r.detected_block for r in clean if r.tx_hash}
    same = {k for k, b in clean_at.items() if first.get(k) == b}
    if first and min(first.values()) == min(clean_at.values()):  # the faulty run's steps lined up
        assert same, "positions decided in the same block"
    assert same <= _liquidated(rows), same - _liquidated(rows)
    # no profitable position was lost to a fault: every skip is the strategy's own verdict
    faulty = {"quote_failed", "simulation_failed", "gas_unknown", "no_price", "stale_price", "no_liquidity"}
    assert not [r.reason for r in rows if (r.reason or "").split(":")[0] in faulty]
    assert {r.protocol for r in sent} == {"aave_v3", "morpho_blue"}
    for r in sent:
        assert r.status is AttemptStatus.INCLUDED, (r.status, r.reason)
        assert r.sender is not None and r.sender.lower() == LIQUIDATOR.lower()
        assert r.included_block is not None and r.included_block > shock_block
        assert r.realized_profit_usd is not None and r.realized_profit_usd > 0
    assert all(r.status in (AttemptStatus.INCLUDED, AttemptStatus.SKIPPED) for r in rows)

    # the faults were real, and the pool left the broken endpoints because of them
    mended, frozen, broke = (p.url for p in proxies)
    assert proxies[0].injected["garbage"] > 0, proxies[0].injected
    assert proxies[1].injected["frozen_head"] > 0, proxies[1].injected
    assert sum(proxies[2].injected.values()) > 0, proxies[2].injected
    failovers = {
        (s.labels["endpoint"], s.labels["reason"])
        for family in metrics.registry.collect()
        if family.name == "liqbot_rpc_failovers"
        for s in family.samples
        if s.name.endswith("_total") and s.value > 0
    }
    assert (mended, "malformed") in failovers, failovers
    assert broke in {e for e, _ in failovers}, failovers
    gauge = metrics.registry.get_sample_value
    assert (gauge("liqbot_rpc_head_lag_blocks", {"chain": "devnet", "endpoint": frozen}) or 0) > 3
    assert gauge("liqbot_rpc_endpoint_up", {"chain": "devnet", "endpoint": frozen}) == 0
    assert gauge("liqbot_rpc_endpoint_up", {"chain": "devnet", "endpoint": mended}) == 1
