"""The whole bot in shadow mode on the devnet: populate 500, run, shock. Every position the chain calls
liquidatable becomes a decision within the shock's own block (shadowed if profitable, else skipped with its
reason); no healthy position gets a row; a restart resumes from the stored cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from web3.exceptions import ContractLogicError

from liqbot.config import load_config
from liqbot.contracts import abi
from liqbot.core.types import SkipReason
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import LIQUIDATOR
from liqbot.store import AttemptStatus, open_store
from liqbot.telemetry.metrics import Metrics

from ..conftest import seeded_devnet

pytestmark = pytest.mark.devnet
WAD = 10**18


@pytest.fixture(scope="module")
def devnet500(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    yield from seeded_devnet(tmp_path_factory, "e2e", borrowers=500, seed=21, block_time=0)


def _aave_truth(devnet: manager.Devnet, block: int | str = "latest") -> dict[str, int]:
    rpc, a = devnet.rpc(), devnet.addresses()
    pool = rpc.contract("Pool", a["aave"]["pool"])
    users = [b["address"] for b in manager.borrowers(devnet) if b["protocol"] == "aave_v3"]
    return {u: int(pool.functions.getUserAccountData(u).call(block_identifier=block)[5]) for u in users}


def test_shadow_finds_every_liquidatable_position_in_the_shock_block(
    devnet500: manager.Devnet, tmp_path: Path
) -> None:
    devnet = devnet500
    rpc = devnet.rpc()
    snap = rpc.snapshot()
    db = f"sqlite:///{tmp_path / 'e2e.db'}"
    cfg = load_config(devnet.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db})
    store = open_store(db)

    outcomes: dict[str, object] = {}

    async def run() -> tuple[int, Metrics]:
        metrics = Metrics()
        pipe = ChainPipeline(cfg, cfg.chains[0], store, metrics, "liqbot.yaml")
        await pipe.start(show_progress=False)
        assert not await pipe.step(), "nothing new before the shock"
        rpc.call("anvil_setNextBlockBaseFeePerGas", hex(20 * 10**9))  # a realistic fee for the profit math
        shock = manager.do_shock(devnet, "WETH", -20)
        assert await pipe.step()
        assert pipe.block == shock["block"]
        # Someone else liquidates one of them: the reconciler sees it in the next block.
        victim = _liquidate_one(devnet)
        assert await pipe.step()
        await pipe.close()
        outcomes.update({"victim": victim, "block": pipe.block})
        return shock["block"], metrics

    try:
        shock_block, metrics = asyncio.run(run())
        truth = _aave_truth(devnet, shock_block)
        liquidatable = {u for u, hf in truth.items() if hf < WAD}
        assert len(liquidatable) > 20
        lower_truth = {u.lower(): hf for u, hf in truth.items()}
        all_rows = store.list(limit=10_000)
        rows = [r for r in all_rows if r.protocol == "aave_v3"]
        morpho_rows = [r for r in all_rows if r.protocol == "morpho_blue"]
        morpho_truth = _morpho_truth(devnet, shock_block)
        assert morpho_truth, "the crash makes Morpho positions liquidatable too"
        assert {r.borrower.lower() for r in morpho_rows} == {u.lower() for u in morpho_truth}
        m_market = devnet.addresses()["morpho"]["markets"][0]["id"]
        for r in morpho_rows:
            assert r.detected_block == shock_block and r.market == m_market
            assert r.status is AttemptStatus.SHADOWED or (r.reason or "").startswith("below_min_profit")
        by_borrower = {r.borrower.lower(): r for r in rows}
        assert len(by_borrower) == len(rows), "one row per position per episode"
        assert set(by_borrower) == {u.lower() for u in liquidatable}, "every liquidatable one, no healthy one"
        for r in rows:
            assert r.detected_block == shock_block, "decided within the shock's own block"
            assert r.health_factor == lower_truth[r.borrower.lower()], "the exact HF, to the wei"
            assert r.status in (AttemptStatus.SHADOWED, AttemptStatus.SKIPPED)
            if r.status is AttemptStatus.SKIPPED:
                assert r.reason and r.reason.split(":")[0] in {s.value for s in SkipReason}
            else:
                assert r.expected_profit_usd >= cfg.thresholds.min_profit_usd
                assert r.simulated_at is not None
                # costs are stored positive and add up to the expected profit
                assert r.bonus_usd is not None and r.swap_usd is not None and r.fees_usd is not None
                assert r.gas_usd is not None and r.gas_usd > 0 and r.fees_usd >= 0
                parts = r.bonus_usd - r.swap_usd - r.gas_usd - r.fees_usd
                assert abs(r.expected_profit_usd - parts) < Decimal("0.000001")
        shadowed = [r for r in rows if r.status is AttemptStatus.SHADOWED]
        assert len(shadowed) >= len(rows) // 2, "most positions after a 20% crash are worth liquidating"
        skipped = [r for r in rows if r.status is AttemptStatus.SKIPPED]
        assert all(r.reason and r.reason.startswith("below_min_profit") for r in skipped), [
            r.reason for r in skipped
        ]
        victim_row = by_borrower[str(outcomes["victim"]).lower()]
        assert victim_row.outcome == "liquidated_by_other"
        assert victim_row.outcome_block == outcomes["block"] and victim_row.outcome_tx
        assert all(r.outcome == "still_open" for r in all_rows if r.id != victim_row.id), (
            "none 'never' liquidatable"
        )
        sample = metrics.registry.get_sample_value(
            "liqbot_opportunities_total",
            {"chain": cfg.chains[0].name, "protocol": "aave_v3", "mode": "shadow"},
        )
        assert sample == len(shadowed)

        async def restart() -> int:
            pipe = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), "liqbot.yaml")
            cursor = store.get_cursor(cfg.chains[0].chain_id, pipe.streams[0][0])
            assert cursor is not None and cursor.block_number == outcomes["block"]
            await pipe.start(show_progress=False)
            known = len(pipe.adapters[0].accounts())
            await pipe.close()
            return known

        assert asyncio.run(restart()) >= len(truth), "accounts come back from the database, not a rescan"
    finally:
        store.close()
        rpc.revert(snap)


def _liquidate_one(devnet: manager.Devnet) -> str:
    rpc, a = devnet.rpc(), devnet.addresses()
    pool = rpc.contract("Pool", a["aave"]["pool"])
    truth = _aave_truth(devnet)
    victim = min((u for u, hf in truth.items() if hf < WAD), key=lambda u: truth[u])
    b = next(x for x in manager.borrowers(devnet) if x["address"] == victim)
    coll, debt = next(iter(b["collateral"])), next(iter(b["debt"]))
    token = rpc.contract("MintableERC20", a["tokens"][debt]["address"])
    rpc.transact(token.functions.mint(10**30), sender=LIQUIDATOR)
    rpc.transact(token.functions.approve(pool.address, 2**256 - 1), sender=LIQUIDATOR)
    fn = pool.functions.liquidationCall(
        a["tokens"][coll]["address"], token.address, victim, 2**256 - 1, False
    )
    rpc.transact(fn, sender=LIQUIDATOR)
    return victim


def _morpho_truth(devnet: manager.Devnet, block: int) -> set[str]:
    """Morpho's own verdict: a 1-wei liquidate reverts 'position is healthy' exactly when it is healthy."""
    rpc, a = devnet.rpc(), devnet.addresses()
    m = a["morpho"]["markets"][0]
    params = (m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], m["lltv"])
    morpho = rpc.w3.eth.contract(address=a["morpho"]["morpho"], abi=abi("Morpho"))
    out = set()
    for b in manager.borrowers(devnet):
        if b["protocol"] != "morpho_blue":
            continue
        try:
            morpho.functions.liquidate(params, b["address"], 1, 0, b"").call(
                {"from": LIQUIDATOR}, block_identifier=block
            )
            out.add(b["address"])
        except ContractLogicError as exc:
            if "position is healthy" not in str(exc):
                out.add(b["address"])
    return out
