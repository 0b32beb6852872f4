"""The whole bot in flash mode on a devnet with 1 s blocks: after a crash it liquidates through its executor
contract, every attempt row ends included with the profit realized from the receipt, and nothing reverts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3.logs import DISCARD

from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.execution.executor_contract import load_artifact
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import LIQUIDATOR
from liqbot.harness.devnet.shock import FEED_ABI
from liqbot.store import AttemptStatus, open_store
from liqbot.strategy.pricing import usd
from liqbot.telemetry.metrics import Metrics

from ..conftest import seeded_devnet

pytestmark = pytest.mark.devnet
# anvil's public dev account #5 (LIQUIDATOR), which the devnet executor allows. Never a real key.
DEV_KEY_5 = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


@pytest.fixture(scope="module")
def live_devnet(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    yield from seeded_devnet(tmp_path_factory, "live", borrowers=150, seed=8, block_time=1)


def test_flash_mode_liquidates_and_records_realized_profit(
    live_devnet: manager.Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIQBOT_SIGNER_KEY", DEV_KEY_5)  # the signer is read from the process environment
    devnet = live_devnet
    db = f"sqlite:///{tmp_path / 'live.db'}"
    env = {"LIQBOT_DATABASE_URL": db, "LIQBOT_EXECUTION_MODE": "flash", "LIQBOT_SIGNER_KEY": DEV_KEY_5}
    cfg = load_config(devnet.dir / "liqbot.yaml", env=env)
    store = open_store(db)

    async def run() -> int:
        pipe = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), "liqbot.yaml")
        await pipe.start(show_progress=False)
        shock = manager.do_shock(devnet, "WETH", -20)
        deadline = asyncio.get_running_loop().time() + 40
        while pipe.block < shock["block"] + 3 and asyncio.get_running_loop().time() < deadline:
            if not await pipe.step():
                await asyncio.sleep(0.2)
        await asyncio.wait_for(pipe.close(), timeout=60)  # drains every send to its end
        return int(shock["block"])

    try:
        shock_block = asyncio.run(run())
        rows = [r for r in store.list(limit=1000) if r.detected_block == shock_block]
        sent = [r for r in rows if r.tx_hash]
        assert sent, "the crash must produce liquidations"
        assert {r.protocol for r in sent} == {"aave_v3", "morpho_blue"}
        for r in sent:
            assert r.status is AttemptStatus.INCLUDED, (r.status, r.reason)
            assert r.sender is not None and r.sender.lower() == LIQUIDATOR.lower()
            assert r.included_block is not None and r.included_block > shock_block
            assert r.realized_profit_usd is not None and r.realized_profit_usd > 0
            assert r.gas_used and r.effective_gas_price
        assert all(r.status in (AttemptStatus.INCLUDED, AttemptStatus.SKIPPED) for r in rows)
        # The realized profit (from the receipt's transfers) is the contract's own Liquidated.profit, valued
        # at the debt asset's feed price of the detection block.
        rpc, a = devnet.rpc(), devnet.addresses()
        ex = rpc.w3.eth.contract(address=a["executor"], abi=load_artifact()["abi"])
        feeds = {t["address"].lower(): (t["feed"], t["decimals"]) for t in a["tokens"].values()}
        for r in sent:
            receipt = rpc.w3.eth.get_transaction_receipt(r.tx_hash)
            (ev,) = ex.events.Liquidated().process_receipt(receipt, errors=DISCARD)
            feed, dec = feeds[ev["args"]["debtAsset"].lower()]
            price = rpc.contract(FEED_ABI, feed).functions.latestAnswer().call(block_identifier=shock_block)
            assert r.realized_profit_usd == usd(ev["args"]["profit"], price, dec)
    finally:
        store.close()
