"""Adaptive thresholds in the running pipeline (shadow mode, devnet): a history of reverted Aave attempts
raises Aave's min profit, so after the same price crash an Aave opportunity between the static and the adapted
minimum is skipped below_min_profit while Morpho keeps its static threshold; after `liqbot thresholds
fallback` the pipeline decides with the static value again."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from liqbot.cli.main import app
from liqbot.config import load_config
from liqbot.engine.pipeline import ChainPipeline
from liqbot.engine.thresholds import ThresholdController
from liqbot.execution.live import LiveExecutor
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.store import Attempt, AttemptStatus, Store, open_store
from liqbot.telemetry.metrics import Metrics

pytestmark = pytest.mark.devnet
S = AttemptStatus
STATIC = Decimal(5)  # the devnet config's thresholds.min_profit_usd
# anvil's public dev account #5 (LIQUIDATOR), which the devnet executor allows. Never a real key.
DEV_KEY_5 = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


def _config(devnet: manager.Devnet, tmp_path: Path, step: Decimal | None) -> Path:
    doc: dict[str, Any] = yaml.safe_load((devnet.dir / "liqbot.yaml").read_text())
    assert Decimal(doc["thresholds"]["min_profit_usd"]) == STATIC
    if step is not None:
        doc["thresholds"]["adaptive"] = {
            "min_sample": 5,
            "min_profit_step_usd": str(step),
            "min_profit_usd_bounds": [str(STATIC), str(STATIC + step + 100)],
        }
    path = tmp_path / f"adaptive-{step}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _seed_reverts(store: Store, chain_id: int, n: int = 6) -> None:
    """Sent Aave attempts that all reverted on chain (made-up borrowers far from the devnet's blocks)."""
    for i in range(n):
        a = store.record_detected(
            chain_id=chain_id, protocol="aave_v3", market=f"0x{0xAA:040x}", borrower=f"0x{0xBAD0 + i:040x}",
            mode="flash", collateral_asset=f"0x{0xC0:040x}", debt_asset=f"0x{0xD0:040x}",
            debt_to_cover=10**18, expected_seized=10**18, expected_profit_usd=Decimal(20),
            gas_usd=Decimal(-3), detected_block=10**9 + i,
        )  # fmt: skip
        store.advance(a, S.SIMULATED, sender=f"0x{0x5E:040x}")
        store.advance(a, S.SUBMITTED, tx_hash=f"0x{0xF00 + i:064x}", nonce=i)
        store.advance(
            a, S.REVERTED, reason="reverted on chain: test", gas_used=300_000, effective_gas_price=10**10
        )


def _crash(
    devnet: manager.Devnet, rpc: DevnetRpc, config: Path, db: str
) -> tuple[dict[str, Decimal], list[Attempt]]:
    """Start a shadow pipeline, crash WETH by 20%, decide that block; the chain is put back afterwards.
    Returns the min profit each protocol decided with, and the rows of the crash block."""
    cfg = load_config(config, env={"LIQBOT_DATABASE_URL": db})
    store = open_store(db)
    snap = rpc.snapshot()
    try:

        async def run() -> tuple[dict[str, Decimal], int]:
            pipe = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), str(config))
            await pipe.start(show_progress=False)
            used = {p: pipe.thresholds.strategy_for(p).min_profit_usd for p in ("aave_v3", "morpho_blue")}
            rpc.call("anvil_setNextBlockBaseFeePerGas", hex(20 * 10**9))
            shock = manager.do_shock(devnet, "WETH", -20)
            assert await pipe.step() and pipe.block == shock["block"]
            await pipe.close()
            return used, int(shock["block"])

        used, block = asyncio.run(run())
        return used, [r for r in store.list(limit=10_000) if r.detected_block == block]
    finally:
        store.close()
        rpc.revert(snap)
        base = rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"]
        rpc.call("anvil_setNextBlockBaseFeePerGas", base)


def _profits(rows: list[Attempt], protocol: str) -> dict[str, Decimal]:
    return {
        r.borrower: r.expected_profit_usd for r in rows if r.protocol == protocol and r.status is S.SHADOWED
    }


def test_reverts_raise_aave_min_profit_and_fallback_restores_the_static_one(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    # 1. The static threshold: what the crash offers.
    used, base_rows = _crash(devnet, chain, _config(devnet, tmp_path, None), f"sqlite:///{tmp_path / 'a.db'}")
    assert used == {"aave_v3": STATIC, "morpho_blue": STATIC}
    base = _profits(base_rows, "aave_v3")
    assert len(base) >= 4 and all(p >= STATIC for p in base.values())
    # The adapted minimum sits in the widest gap between two shadowed Aave profits: some fall below it.
    ordered = sorted(base.values())
    lo, hi = max(itertools.pairwise(ordered), key=lambda pair: pair[1] - pair[0])
    raised = ((lo + hi) / 2).quantize(Decimal("0.01"))
    assert lo < raised < hi
    config = _config(devnet, tmp_path, raised - STATIC)

    # 2. Six reverted Aave attempts in the window: one step up, to `raised`, for Aave only.
    db = f"sqlite:///{tmp_path / 'b.db'}"
    chain_id = load_config(config, env={}).chains[0].chain_id
    with open_store(db) as store:
        _seed_reverts(store, chain_id)
    used, rows = _crash(devnet, chain, config, db)
    assert used == {"aave_v3": raised, "morpho_blue": STATIC}
    aave = {r.borrower: r for r in rows if r.protocol == "aave_v3"}
    between = [b for b, p in base.items() if p < raised]
    above = [b for b, p in base.items() if p >= raised]
    assert between and above
    for b in between:
        assert aave[b].status is S.SKIPPED and (aave[b].reason or "").startswith("below_min_profit"), aave[b]
    for b in above:
        assert aave[b].status is S.SHADOWED
    # Morpho keeps the static threshold. (Its profits may only rise: fewer Aave swaps crowd the shared pools.)
    morpho = _profits(rows, "morpho_blue")
    assert _profits(base_rows, "morpho_blue").keys() <= morpho.keys()
    assert STATIC <= min(morpho.values()) < raised

    # 3. Fallback (the rollback step): the static default again, though the history still says raise.
    db = f"sqlite:///{tmp_path / 'c.db'}"
    with open_store(db) as store:
        _seed_reverts(store, chain_id)
        cfg = load_config(config, env={})
        ctl = ThresholdController(cfg, cfg.chains[0], store, ["aave_v3", "morpho_blue"])
        assert ctl.update(1, None)[0].levels.min_profit_usd == raised
    runner = CliRunner()
    out = runner.invoke(
        app, ["thresholds", "fallback", "-c", str(config), "--db", db, "--reason", "canary reverts"]
    )
    assert out.exit_code == 0, out.output
    used, rows = _crash(devnet, chain, config, db)
    assert used == {"aave_v3": STATIC, "morpho_blue": STATIC}
    assert _profits(rows, "aave_v3").keys() == base.keys(), "every opportunity of the static run goes again"
    shown = runner.invoke(app, ["thresholds", "show", "-c", str(config), "--db", db], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "pinned to the static defaults" in shown.output and "canary reverts" in shown.output
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    assert stamp in shown.output


def test_live_executor_bids_the_adapted_gas_share_of_each_protocol(
    devnet: manager.Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flash mode: the executor's fee bid takes the gas share of the opportunity's protocol."""
    monkeypatch.setenv("LIQBOT_SIGNER_KEY", DEV_KEY_5)
    db = f"sqlite:///{tmp_path / 'live.db'}"
    config = _config(devnet, tmp_path, Decimal(1))
    cfg = load_config(config, env={"LIQBOT_DATABASE_URL": db, "LIQBOT_EXECUTION_MODE": "flash"})
    with open_store(db) as store:
        for i in range(6):  # Morpho: half its sends lost the race, none reverted: outbid
            a = store.record_detected(
                chain_id=cfg.chains[0].chain_id, protocol="morpho_blue", market=f"0x{0xAB:064x}",
                borrower=f"0x{0xB0B0 + i:040x}", mode="flash", collateral_asset=f"0x{0xC0:040x}",
                debt_asset=f"0x{0xD0:040x}", debt_to_cover=10**18, expected_seized=10**18,
                expected_profit_usd=Decimal(20), gas_usd=Decimal(-3), detected_block=10**9 + i,
            )  # fmt: skip
            store.advance(a, S.SIMULATED, sender=f"0x{0x5E:040x}")
            store.advance(a, S.SUBMITTED, tx_hash=f"0x{0xE00 + i:064x}", nonce=i)
            if i % 2:
                store.advance(a, S.LOST_RACE, reason="reverted on chain: already liquidated")
            else:
                store.advance(a, S.INCLUDED, realized_profit_usd=Decimal(23))
        pipe = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), str(config))
        pipe.thresholds.update(1, None)
        executor = pipe.decider.executor
        assert isinstance(executor, LiveExecutor)
        assert executor.gas_share_for("morpho_blue") == Decimal("0.25")
        assert executor.gas_share_for("aave_v3") == Decimal("0.2")
        asyncio.run(pipe.close())
