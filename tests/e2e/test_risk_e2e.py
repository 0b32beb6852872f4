"""The risk gates with the whole bot on the devnet, in flash mode:

- sends that really revert on chain (the executor's owner pauses it ahead of them in the same block, as an
  incident would) trip the chain's kill switch by themselves, after which nothing more is sent until a person
  releases it;
- on an L2, a sequencer that goes down after detection stops the send right before it leaves, and the
  sequencer metric shows the send stage."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from liqbot.config import LiqbotConfig, load_config
from liqbot.config.models import AutoTripConfig, KillSwitchConfig
from liqbot.engine.pipeline import ChainPipeline
from liqbot.execution.executor_contract import load_artifact
from liqbot.harness.devnet import manager, spec
from liqbot.harness.devnet.rpc import ADMIN, LIQUIDATOR, DevnetRpc
from liqbot.risk import killswitch
from liqbot.risk.trips import UNPROFITABLE
from liqbot.store import AttemptStatus, Store, open_store
from liqbot.telemetry.metrics import Metrics

pytestmark = pytest.mark.devnet
DEV_KEY_5 = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"  # anvil's public account #5
IS_PAUSED = "0x" + keccak(text="IsPaused()")[:4].hex()
WAD = 10**18


def flash_config(
    devnet: manager.Devnet, db: str, monkeypatch: pytest.MonkeyPatch, **update: Any
) -> LiqbotConfig:
    monkeypatch.setenv("LIQBOT_SIGNER_KEY", DEV_KEY_5)
    env = {"LIQBOT_DATABASE_URL": db, "LIQBOT_EXECUTION_MODE": "flash", "LIQBOT_SIGNER_KEY": DEV_KEY_5}
    cfg = load_config(devnet.dir / "liqbot.yaml", env=env)
    return cfg.model_copy(update=update)


class FrontRunner(threading.Thread):
    """An admin watching the pool: once the bot's liquidations wait there, it sends `hit` with a higher tip
    (so it lands first in the same block, ahead of every one of them), then mines a block every 0.3 s, and
    sends `undo` once the kill switch has tripped. Blocks are mined only by it while it runs."""

    def __init__(
        self, rpc: DevnetRpc, executor: str, tripped: Callable[[], bool], hit: Any, undo: Any
    ) -> None:
        super().__init__(daemon=True)
        self.rpc, self.executor, self.tripped, self.hit, self.undo = rpc, executor, tripped, hit, undo
        self.stop = threading.Event()
        self.hit_block: int | None = None
        self.front_run = 0  # bot liquidations in the pool when `hit` went in
        self.error: BaseException | None = None

    def pending_liquidations(self) -> int:
        pool = self.rpc.call("txpool_content")["pending"]
        return sum(
            1
            for by_nonce in pool.values()
            for tx in by_nonce.values()
            if str(tx.get("to") or "").lower() == self.executor.lower()
            and str(tx["from"]).lower() == LIQUIDATOR.lower()
        )

    def first(self, fn: Any) -> None:
        tx = fn.build_transaction(
            {"from": ADMIN, "gas": 300_000, "maxPriorityFeePerGas": 1_000 * 10**9,
             "maxFeePerGas": 2_000 * 10**9, "nonce": self.rpc.w3.eth.get_transaction_count(ADMIN, "pending")}
        )  # fmt: skip
        self.rpc.w3.eth.send_transaction(tx)
        self.rpc.mine(1)

    def run(self) -> None:
        try:
            seen, since, deadline = 0, time.monotonic(), time.monotonic() + 60
            while not self.stop.is_set():  # hold every block until the bot's sends have all arrived
                n = self.pending_liquidations()
                if n != seen:
                    seen, since = n, time.monotonic()
                elif n and time.monotonic() - since > 1.5:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError("the bot sent no liquidation within 60 s of the crash")
                time.sleep(0.1)
            self.front_run = seen
            self.first(self.hit)
            self.hit_block = self.rpc.w3.eth.block_number
            while not self.stop.is_set() and not self.tripped():
                self.rpc.mine(1)
                time.sleep(0.3)
            self.first(self.undo)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def rows_after(store: Store, at: datetime) -> list[Any]:
    return [r for r in store.list(limit=10_000) if r.created_at > at]


def test_reverts_on_chain_trip_the_switch_and_then_nothing_is_sent(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'trip.db'}"
    policy = AutoTripConfig(max_consecutive_reverts=2, min_sample=1000)  # the streak rule is under test
    cfg = flash_config(devnet, db, monkeypatch, kill_switch=KillSwitchConfig(auto_trip=policy))
    name = cfg.chains[0].name
    store = open_store(db)
    metrics = Metrics()
    executor = devnet.addresses()["executor"]
    pause = chain.contract(load_artifact()["abi"], executor).functions.setPaused
    owner = FrontRunner(
        chain, executor, lambda: killswitch.status(store, name).engaged, pause(True), pause(False)
    )  # the executor's owner pauses it ahead of the bot's sends, as in an incident

    async def steps(pipe: ChainPipeline, until: Callable[[], bool], seconds: float, mine: bool) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not until():
            if asyncio.get_running_loop().time() > deadline:
                newest = [(r.id, r.detected_block, r.status.value, r.reason) for r in store.list(limit=10)]
                raise AssertionError(f"timed out; newest rows: {newest}")
            assert owner.error is None, owner.error
            if mine:
                chain.mine(1)
            if not await pipe.step():
                await asyncio.sleep(0.1)

    async def run() -> dict[str, Any]:
        pipe = ChainPipeline(cfg, cfg.chains[0], store, metrics, "liqbot.yaml")
        await pipe.start(show_progress=False)
        out: dict[str, Any] = {"shock": manager.do_shock(devnet, "WETH", -20)["block"]}
        chain.call("evm_setAutomine", False)
        owner.start()
        await steps(
            pipe, lambda: owner.hit_block is not None and killswitch.status(store, name).engaged, 90, False
        )
        out["trip"] = killswitch.status(store, name)
        owner.join(timeout=30)
        assert owner.error is None, owner.error
        chain.call("evm_setAutomine", True)
        # Engaged: a second crash makes new positions liquidatable, and reverted ones are retried.
        out["shock2"] = manager.do_shock(devnet, "WETH", -15)["block"]
        await steps(pipe, lambda: pipe.block >= out["shock2"] + 8, 60, True)
        await asyncio.wait_for(pipe.decider.drain(), 60)
        out["release"] = killswitch.release(store, name, "executor unpaused, checked", "cli:test").at
        sent = lambda: [r for r in rows_after(store, out["release"]) if r.tx_hash]  # noqa: E731
        await steps(
            pipe,
            lambda: bool(sent()) and not pipe.decider.inflight,  # every send tracked to its end
            60,
            True,
        )
        await asyncio.wait_for(pipe.close(), timeout=60)
        return out

    try:
        out = asyncio.run(run())
        rows = store.list(limit=10_000)
        reverted = [r for r in rows if r.status is AttemptStatus.REVERTED]
        assert len(reverted) >= 2 and owner.front_run >= 2, (
            owner.front_run,
            [(r.status, r.reason) for r in rows],
        )
        assert all(IS_PAUSED in (r.reason or "") for r in reverted), [r.reason for r in reverted]
        assert all(r.included_block == owner.hit_block for r in reverted)
        trip = out["trip"]
        assert trip.actor == "auto:consecutive_reverts" and "reverts in a row" in trip.reason, trip
        # From the trip to the release nothing was sent; the bot kept deciding and recorded why not.
        held = [r for r in rows if trip.at < r.created_at < out["release"]]
        assert held and not any(r.submitted_at or r.tx_hash for r in held), [
            (r.status, r.reason) for r in held
        ]
        assert any(r.detected_block > out["shock2"] - 1 for r in held)
        assert any((r.reason or "").startswith("kill_switch: ") for r in held), [r.reason for r in held]
        sample = metrics.registry.get_sample_value
        assert sample("liqbot_kill_switch_trips_total", {"chain": name, "rule": "consecutive_reverts"}) == 1
        counted = sum(
            sample("liqbot_skips_total", {"chain": name, "protocol": p, "reason": "kill_switch"}) or 0
            for p in ("aave_v3", "morpho_blue")
        )  # every kill-switch skip counted once
        assert counted == sum(1 for r in rows if (r.reason or "").startswith("kill_switch: ")) > 0
        # Released by hand: the same bot sends again, and it lands.
        after = [r for r in rows_after(store, out["release"]) if r.tx_hash]
        assert any(r.status is AttemptStatus.INCLUDED for r in after), [(r.status, r.reason) for r in after]
        assert sample("liqbot_kill_switch_engaged", {"scope": name}) == 0
    finally:
        owner.stop.set()
        chain.call("evm_setAutomine", True)
        store.close()


def test_sequencer_down_between_detection_and_send_stops_the_send(
    devnet_l2: manager.Devnet, chain_l2: DevnetRpc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline decides on the crash block while the sequencer is up; the sequencer goes down in the
    next block, before the sends leave. The pipeline is held at the crash block for its one step (as if its
    next poll had not come yet), so detection and send see different blocks, as they do in production."""
    a = devnet_l2.addresses()
    db = f"sqlite:///{tmp_path / 'seq.db'}"
    probe = flash_config(devnet_l2, db, monkeypatch)
    caps = probe.caps.model_copy(
        update={"max_inflight_per_chain": 1000, "max_attempts_per_borrower_per_hour": 1000}
    )
    cfg = probe.model_copy(update={"caps": caps})
    name = cfg.chains[0].name
    store = open_store(db)
    metrics = Metrics()

    async def run() -> int:
        pipe = ChainPipeline(cfg, cfg.chains[0], store, metrics, "liqbot.yaml")
        await pipe.start(show_progress=False)
        crash = int(manager.do_shock(devnet_l2, "WETH", -20)["block"])
        seq = chain_l2.contract("SequencerOracle", a["l2"]["sequencer_oracle"])
        now = chain_l2.w3.eth.get_block("latest")["timestamp"]
        chain_l2.transact(seq.functions.setAnswer(True, now), sender=ADMIN)  # down, in block crash + 1
        real = pipe.client.block_number

        async def at_crash() -> int:
            return crash

        monkeypatch.setattr(pipe.client, "block_number", at_crash)
        assert await pipe.step()
        monkeypatch.setattr(pipe.client, "block_number", real)
        deadline = asyncio.get_running_loop().time() + 60
        while pipe.decider.inflight:  # blocks on top, so every send is tracked to its end
            assert asyncio.get_running_loop().time() < deadline, "sends never ended"
            chain_l2.mine(1)
            await asyncio.sleep(0.2)
        await asyncio.wait_for(pipe.close(), timeout=60)
        return crash

    try:
        crash = asyncio.run(run())
        rows = [r for r in store.list(limit=1000) if r.detected_block == crash]
        sample = metrics.registry.get_sample_value
        assert sample("liqbot_sequencer_up", {"chain": name, "stage": "detect"}) == 1
        assert sample("liqbot_sequencer_up", {"chain": name, "stage": "send"}) == 0
        aave = [r for r in rows if r.protocol == "aave_v3"]
        mild = [r for r in aave if r.health_factor is not None and r.health_factor >= 95 * WAD // 100]
        deep = [r for r in aave if r.health_factor is not None and r.health_factor < 95 * WAD // 100]
        stopped = [r for r in mild if (r.reason or "").startswith("sequencer_down: at send:")]
        assert stopped, [(r.status, r.reason) for r in aave]
        assert all(r.status is AttemptStatus.SKIPPED and r.tx_hash is None for r in stopped)
        # nothing mild was sent; what the sentinel still allows (HF < 0.95, and Morpho) went out and landed
        assert not any(r.tx_hash for r in mild), [(r.status, r.reason) for r in mild]
        sent = [r for r in rows if r.tx_hash]
        assert sent and all(r in deep or r.protocol == "morpho_blue" for r in sent)
        assert all(r.status is AttemptStatus.INCLUDED for r in sent), [(r.status, r.reason) for r in sent]
        skipped = sample(
            "liqbot_skips_total", {"chain": name, "protocol": "aave_v3", "reason": "sequencer_down"}
        )
        assert skipped is not None and skipped >= len(stopped)
    finally:
        store.close()


def test_a_flash_loan_that_cannot_be_repaid_trips_at_once(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Aave's pool admin raises the flash-loan premium to 100% ahead of the bot's sends: the swap can no
    longer pay back loan + premium, the executor reverts with Unprofitable(negative profit), and the first
    such revert trips the switch by itself (the revert-count rules are set out of reach)."""
    a = devnet.addresses()
    db = f"sqlite:///{tmp_path / 'repay.db'}"
    policy = AutoTripConfig(max_consecutive_reverts=1000, min_sample=1000)
    probe = flash_config(devnet, db, monkeypatch, kill_switch=KillSwitchConfig(auto_trip=policy))
    cfg = probe.model_copy(update={"caps": probe.caps.model_copy(update={"max_inflight_per_chain": 1000})})
    name = cfg.chains[0].name
    store = open_store(db)
    metrics = Metrics()
    premium = chain.contract("PoolConfigurator", a["aave"]["pool_configurator"]).functions
    admin = FrontRunner(
        chain,
        a["executor"],
        lambda: killswitch.status(store, name).engaged,
        premium.updateFlashloanPremiumTotal(10_000),
        premium.updateFlashloanPremiumTotal(spec.FLASHLOAN_PREMIUM_TOTAL_BPS),
    )

    async def run() -> None:
        pipe = ChainPipeline(cfg, cfg.chains[0], store, metrics, "liqbot.yaml")
        await pipe.start(show_progress=False)
        manager.do_shock(devnet, "WETH", -20)
        chain.call("evm_setAutomine", False)
        admin.start()
        deadline = asyncio.get_running_loop().time() + 90
        while admin.hit_block is None or not killswitch.status(store, name).engaged or pipe.decider.inflight:
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            assert admin.error is None, admin.error
            if admin.hit_block is not None and not admin.is_alive():
                chain.mine(1)  # the admin is done: blocks on top, so sends still tracked can end
            if not await pipe.step():
                await asyncio.sleep(0.1)
        admin.join(timeout=30)
        assert admin.error is None, admin.error
        chain.call("evm_setAutomine", True)
        await asyncio.wait_for(pipe.close(), timeout=60)

    try:
        asyncio.run(run())
        rows = store.list(limit=10_000)
        short = [r for r in rows if r.status is AttemptStatus.REVERTED and UNPROFITABLE in (r.reason or "")]
        assert short and all(r.protocol == "aave_v3" for r in short), [(r.status, r.reason) for r in rows]
        trip = killswitch.status(store, name)
        assert trip.engaged and trip.actor == "auto:flash_repay_failure", trip
        assert "Unprofitable()" in trip.reason and "short of loan + premium" in trip.reason, trip.reason
        assert any(f"attempt {r.id}:" in trip.reason for r in short)
        sample = metrics.registry.get_sample_value
        assert sample("liqbot_kill_switch_trips_total", {"chain": name, "rule": "flash_repay_failure"}) == 1
    finally:
        admin.stop.set()
        chain.call("evm_setAutomine", True)
        store.close()
