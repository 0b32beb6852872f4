"""A Morpho-only chain: Morpho's oracles give ratios, not USD, so its tokens need configured USD feeds.
With them, shadow mode prices and simulates Morpho liquidations; without them it skips with no_price (fail
closed), never guessing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.store import AttemptStatus, open_store
from liqbot.telemetry.metrics import Metrics

pytestmark = pytest.mark.devnet


def _morpho_only(devnet: manager.Devnet, tmp_path: Path, feeds: bool) -> Path:
    doc: dict[str, Any] = yaml.safe_load((devnet.dir / "liqbot.yaml").read_text())
    protocols = doc["chains"][0]["protocols"]
    protocols["aave_v3"]["enabled"] = False
    if feeds:
        t = devnet.addresses()["tokens"]
        protocols["morpho_blue"]["price_feeds"] = {t[s]["address"]: t[s]["feed"] for s in ("WETH", "USDC")}
    path = tmp_path / f"morpho-{feeds}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("feeds", [True, False])
def test_morpho_only_needs_usd_feeds(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path, feeds: bool
) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = load_config(_morpho_only(devnet, tmp_path, feeds), env={"LIQBOT_DATABASE_URL": db})
    store = open_store(db)

    async def run() -> int:
        pipe = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), "morpho.yaml")
        assert [a.protocol for a in pipe.adapters] == ["morpho_blue"]
        await pipe.start(show_progress=False)
        shock = manager.do_shock(devnet, "WETH", -20)
        while pipe.block < shock["block"]:
            await pipe.step()
        await pipe.close()
        return int(shock["block"])

    try:
        block = asyncio.run(run())
        rows = store.list(limit=1000)
        assert rows and all(r.protocol == "morpho_blue" and r.detected_block == block for r in rows)
        if feeds:
            assert any(r.status is AttemptStatus.SHADOWED for r in rows)
        else:
            assert all(
                r.status is AttemptStatus.SKIPPED and (r.reason or "").startswith("no_price") for r in rows
            )
    finally:
        store.close()
