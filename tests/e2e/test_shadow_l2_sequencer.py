"""On an L2 with the sequencer down, shadow mode liquidates only what Aave's sentinel still allows
(HF < 0.95) and records every other liquidatable position as skipped with the sequencer reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import ADMIN, DevnetRpc
from liqbot.store import AttemptStatus, open_store
from liqbot.telemetry.metrics import Metrics

pytestmark = pytest.mark.devnet
WAD = 10**18


def test_sequencer_down_gates_mild_positions(
    devnet_l2: manager.Devnet, chain_l2: DevnetRpc, tmp_path: Path
) -> None:
    a = devnet_l2.addresses()
    db = f"sqlite:///{tmp_path / 'l2.db'}"
    cfg = load_config(devnet_l2.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db})
    store = open_store(db)
    metrics = Metrics()

    async def run() -> int:
        pipe = ChainPipeline(cfg, cfg.chains[0], store, metrics, "liqbot.yaml")
        await pipe.start(show_progress=False)
        seq = chain_l2.contract("SequencerOracle", a["l2"]["sequencer_oracle"])
        now = chain_l2.w3.eth.get_block("latest")["timestamp"]
        chain_l2.transact(seq.functions.setAnswer(True, now), sender=ADMIN)
        shock = manager.do_shock(devnet_l2, "WETH", -20)
        while pipe.block < shock["block"]:
            await pipe.step()
        await pipe.close()
        return int(shock["block"])

    try:
        block = asyncio.run(run())
        all_rows = store.list(limit=1000)
        rows = [r for r in all_rows if r.protocol == "aave_v3"]
        morpho = [r for r in all_rows if r.protocol == "morpho_blue"]
        assert morpho, "Morpho positions are liquidatable too"
        # Morpho has no sentinel: a down sequencer changes nothing for it.
        assert all(r.status is AttemptStatus.SHADOWED for r in morpho), [(r.status, r.reason) for r in morpho]
        mild = [r for r in rows if r.health_factor is not None and r.health_factor >= 95 * WAD // 100]
        deep = [r for r in rows if r.health_factor is not None and r.health_factor < 95 * WAD // 100]
        assert mild and deep, "the scenario needs both kinds"
        assert all(
            r.status is AttemptStatus.SKIPPED and (r.reason or "").startswith("sequencer_down") for r in mild
        )
        assert any(r.status is AttemptStatus.SHADOWED for r in deep), [(r.status, r.reason) for r in deep]
        assert all(not (r.reason or "").startswith("sequencer") for r in deep)
        assert all(r.detected_block == block for r in rows)
        up = metrics.registry.get_sample_value(
            "liqbot_sequencer_up", {"chain": cfg.chains[0].name, "stage": "detect"}
        )
        assert up == 0
    finally:
        store.close()
