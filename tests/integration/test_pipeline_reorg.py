"""Reorgs of blocks the pipeline already processed: Aave activity is processed, then the chain drops those
blocks (`anvil_rollback`) and other activity is mined at the same heights. After the next step (or, for a
reorg while the bot is down, after the next start) the local Aave state equals the chain for every user and
the cursors hold the new canonical hashes. Each scenario also runs a control pipeline whose reorg handling
is switched off, and shows that it diverges: the scenario really orphans processed events.

The devnet here is this module's own (snapshot-reverted per test): the shared one never sees a reorg."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liqbot.config import LiqbotConfig, load_config
from liqbot.core.fixed import MathRevertError
from liqbot.engine.pipeline import ChainPipeline
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.protocols.aave_v3.adapter import AaveV3Adapter
from liqbot.store import Store, open_store
from liqbot.store.models import Cursor
from liqbot.telemetry.metrics import Metrics

from ..conftest import _clean, seeded_devnet
from .helpers import WAD, book, fund
from .test_aave_sync import _chain_view, _local_view

pytestmark = pytest.mark.devnet
NEWCOMER = "0x00000000000000000000000000000000000bEEf1"  # a borrower that exists only on the new branch


@pytest.fixture(scope="module")
def reorg_devnet(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    yield from seeded_devnet(tmp_path_factory, "devnet-reorg", borrowers=40, seed=5)


@pytest.fixture
def rchain(reorg_devnet: manager.Devnet) -> Iterator[DevnetRpc]:
    yield from _clean(reorg_devnet)


class Scene:
    """Aave activity as the seeded borrowers and a newcomer (each call mines one or more blocks)."""

    def __init__(self, devnet: manager.Devnet, chain: DevnetRpc) -> None:
        self.devnet, self.chain, self.a = devnet, chain, devnet.addresses()
        self.pool = chain.contract("Pool", self.a["aave"]["pool"])
        self.seeded = [b for b in book(devnet).values() if b["protocol"] == "aave_v3"]

    def token(self, sym: str) -> str:
        return str(self.a["tokens"][sym]["address"])

    def as_users(self, *steps: Any) -> None:
        self.chain.call("anvil_autoImpersonateAccount", True)
        try:
            for step in steps:
                step()
        finally:
            self.chain.call("anvil_autoImpersonateAccount", False)

    def repay(self, i: int, part: int) -> None:
        b = self.seeded[i]
        sym = next(iter(b["debt"]))
        fund(self.chain, self.token(sym), self.pool.address, 1, who=b["address"])
        fn = self.pool.functions.repay(self.token(sym), b["debt"][sym] // part, 2, b["address"])
        self.chain.transact(fn, sender=b["address"])

    def borrow(self, i: int, part: int) -> None:
        b = self.seeded[i]
        sym = next(iter(b["debt"]))
        fn = self.pool.functions.borrow(self.token(sym), b["debt"][sym] // part, 2, 0, b["address"])
        self.chain.transact(fn, sender=b["address"])

    def newcomer(self) -> None:
        """Supply WETH and borrow USDC from an address no log mentioned before."""
        self.chain.call("anvil_setBalance", NEWCOMER, hex(10**20))
        fund(self.chain, self.token("WETH"), self.pool.address, 10 * 10**18, who=NEWCOMER)
        self.chain.transact(
            self.pool.functions.supply(self.token("WETH"), 10 * 10**18, NEWCOMER, 0), sender=NEWCOMER
        )
        usdc = 10**6 * 5_000
        self.chain.transact(
            self.pool.functions.borrow(self.token("USDC"), usdc, 2, 0, NEWCOMER), sender=NEWCOMER
        )

    def branch_a(self) -> None:
        """What the pipeline processes, then loses."""
        self.as_users(lambda: self.repay(0, 3), lambda: self.borrow(1, 20))
        manager.do_shock(self.devnet, "WETH", -15)

    def branch_b(self, newcomer: bool) -> None:
        """What replaces it at the same heights (and a little beyond)."""
        first = [self.newcomer] if newcomer else []  # first: its logs land under the orphaned cursor
        self.as_users(*first, lambda: self.repay(2, 4), lambda: self.borrow(3, 25))
        manager.do_shock(self.devnet, "WETH", -6)

    def head(self) -> int:
        return int(self.chain.w3.eth.block_number)

    def reorg(self, depth: int, newcomer: bool = False) -> int:
        """Drop the last `depth` blocks, mine branch B in their place, and end above the old head."""
        old = self.head()
        self.chain.call("anvil_rollback", depth)
        assert self.head() == old - depth
        self.branch_b(newcomer)
        assert self.head() > old - depth + 2, "the new branch reuses the orphaned heights"
        if self.head() <= old:
            self.chain.mine(old + 1 - self.head())
        return self.head()


def _config(devnet: manager.Devnet, db: str) -> LiqbotConfig:
    return load_config(devnet.dir / "liqbot.yaml", env={"LIQBOT_DATABASE_URL": db})


def _diff(pipe: ChainPipeline, chain: DevnetRpc, pool: str) -> dict[str, Any]:
    aave = next(a for a in pipe.adapters if isinstance(a, AaveV3Adapter))
    users = sorted(aave.sync.users)
    local, remote = _local_view(aave.sync, users), _chain_view(chain, pool, users)
    return {u: (local[u], remote[u]) for u in users if local[u] != remote[u]}


def _cursors(pipe: ChainPipeline, store: Store) -> list[Cursor | None]:
    return [store.get_cursor(pipe.chain.chain_id, stream) for stream, _, _ in pipe.streams]


def _canonical(chain: DevnetRpc, block: int) -> str:
    return "0x" + bytes(chain.w3.eth.get_block(block)["hash"]).hex().removeprefix("0x")


def _reorgs(metrics: Metrics, chain: str, depth: str) -> float:
    labels = {"chain": chain, "depth": depth}
    return metrics.registry.get_sample_value("liqbot_reorgs_handled_total", labels) or 0.0


def _blind(pipe: ChainPipeline) -> ChainPipeline:
    """The control: the same pipeline with its reorg handling switched off."""

    async def never(*_: Any) -> None:
        return None

    async def after_cursor(cursor: Cursor, *_: Any) -> int:
        return cursor.block_number + 1

    pipe.reorgs.check = never  # type: ignore[method-assign]
    pipe.reorgs.resume_from = after_cursor  # type: ignore[method-assign]
    return pipe


def test_a_reorg_of_processed_blocks_is_rolled_back(
    reorg_devnet: manager.Devnet, rchain: DevnetRpc, tmp_path: Path
) -> None:
    scene, pool = Scene(reorg_devnet, rchain), reorg_devnet.addresses()["aave"]["pool"]
    stores: list[Store] = []

    async def run() -> None:
        pipes, metrics = [], []
        for name in ("guarded", "blind"):
            db = f"sqlite:///{tmp_path / name}.db"
            stores.append(open_store(db))
            metrics.append(Metrics())
            cfg = _config(reorg_devnet, db)
            pipes.append(ChainPipeline(cfg, cfg.chains[0], stores[-1], metrics[-1], "liqbot.yaml"))
        guarded, blind = pipes[0], _blind(pipes[1])
        for p in pipes:
            await p.start(show_progress=False)
        base = scene.head()

        await asyncio.to_thread(scene.branch_a)
        orphaned = scene.head()
        for p in pipes:
            assert await p.step() and p.block == orphaned
            assert not _diff(p, rchain, pool), "branch A applied exactly"
        decided = {b for (proto, b) in guarded.decider.episodes if proto == "aave_v3"}

        head = await asyncio.to_thread(scene.reorg, orphaned - base)
        assert await guarded.step() and guarded.block == head
        diff = _diff(guarded, rchain, pool)
        assert not diff, f"{len(diff)} users differ after the reorg: {list(diff.items())[:2]}"
        assert all(c and (c.block_number, c.block_hash) == (head, _canonical(rchain, head))
                   for c in _cursors(guarded, stores[0]))  # fmt: skip
        assert _reorgs(metrics[0], guarded.chain.name, str(orphaned - base)) == 1
        # Episodes follow the new branch: positions decided on the orphaned one that are healthy here are
        # dropped (a later dip is a new decision); every episode left is a position liquidatable now.
        now = {b for (proto, b) in guarded.decider.episodes if proto == "aave_v3"}
        view = _chain_view(rchain, pool, sorted(decided | now))
        assert all(view[b][5] < WAD for b in now)
        assert any(view[b][5] >= WAD for b in decided), "some decided position is healthy on the new branch"

        # The control shows the reorg mattered: without rollback the orphaned repay and borrow stay applied.
        # When the orphaned blocks were stamped later than the new branch's (anvil runs ahead of the wall
        # clock under load), the stale reserves are even dated after the head and the step fails outright.
        try:
            assert await blind.step() and blind.block == head
            diverged = bool(_diff(blind, rchain, pool))
        except MathRevertError as exc:
            diverged = "before the last update" in str(exc)
        assert diverged, "the scenario must orphan events the pipeline had applied"

        # Life goes on after the rebuild: a plain block is applied on top, with no reorg counted.
        await asyncio.to_thread(scene.as_users, lambda: scene.repay(4, 5))
        assert await guarded.step()
        assert not _diff(guarded, rchain, pool)
        total = sum(
            s.value
            for fam in metrics[0].registry.collect()
            if fam.name == "liqbot_reorgs_handled"
            for s in fam.samples
            if s.name.endswith("_total")
        )
        assert total == 1
        for p in pipes:
            await p.close()

    try:
        asyncio.run(run())
    finally:
        for store in stores:
            store.close()


def test_a_reorg_while_stopped_is_found_at_start(
    reorg_devnet: manager.Devnet, rchain: DevnetRpc, tmp_path: Path
) -> None:
    """The stored cursor's block is orphaned while the bot is down, and the new branch brings a borrower no
    earlier log mentioned, at a height at or below the cursor: the next start discovers it."""
    scene, pool = Scene(reorg_devnet, rchain), reorg_devnet.addresses()["aave"]["pool"]
    db, copy = tmp_path / "down.db", tmp_path / "down-blind.db"

    async def run() -> None:
        store = open_store(f"sqlite:///{db}")
        cfg = _config(reorg_devnet, f"sqlite:///{db}")
        first = ChainPipeline(cfg, cfg.chains[0], store, Metrics(), "liqbot.yaml")
        await first.start(show_progress=False)
        base = scene.head()
        await asyncio.to_thread(scene.branch_a)
        assert await first.step()
        stopped_at = first.block
        await first.close()
        store.close()
        shutil.copy(db, copy)  # the control resumes from the very same cursor

        head = await asyncio.to_thread(scene.reorg, stopped_at - base, True)
        assert int(rchain.w3.eth.get_transaction_count(NEWCOMER)) > 0
        newcomer_block = max(
            int(x["blockNumber"], 16)
            for x in rchain.call(
                "eth_getLogs", {"fromBlock": hex(base + 1), "toBlock": hex(head), "address": pool}
            )
            if NEWCOMER[2:].lower() in "".join(x["topics"]).lower()
        )
        assert newcomer_block <= stopped_at, "the newcomer appears under the orphaned cursor"

        results = {}
        for name, path in (("guarded", db), ("blind", copy)):
            store = open_store(f"sqlite:///{path}")
            metrics = Metrics()
            cfg = _config(reorg_devnet, f"sqlite:///{path}")
            pipe = ChainPipeline(cfg, cfg.chains[0], store, metrics, "liqbot.yaml")
            if name == "blind":
                _blind(pipe)
            await pipe.start(show_progress=False)
            aave = next(a for a in pipe.adapters if isinstance(a, AaveV3Adapter))
            results[name] = (NEWCOMER in aave.sync.users, _diff(pipe, rchain, pool), _cursors(pipe, store),
                             _reorgs(metrics, pipe.chain.name, "restart"), pipe.block)  # fmt: skip
            await pipe.close()
            store.close()

        found, diff, cursors, restarts, block = results["guarded"]
        assert found, "the newcomer of the new branch is discovered"
        assert not diff
        assert all(
            c and (c.block_number, c.block_hash) == (block, _canonical(rchain, block)) for c in cursors
        )
        assert restarts == 1
        assert not results["blind"][0], "without the check the newcomer is missed (the scenario bites)"

    asyncio.run(run())
