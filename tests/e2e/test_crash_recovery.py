"""`liqbot run` (flash mode) killed with SIGKILL at random points, many times, on a devnet with 1 s blocks.

Each cycle moves a price (so there is always work), starts the bot as a subprocess and kills it very early,
right as a send is recorded, or while a transaction is being tracked (a seeded RNG picks). After a final clean
run stopped with SIGTERM, every attempt row is final and agrees with the chain, no nonce carries two of our
liquidations, the signer's nonce moved exactly by the number of our mined transactions (every transaction
it sent was stored before it left), and no run printed a stack trace."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD

import liqbot
from liqbot.execution.executor_contract import load_artifact
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import LIQUIDATOR
from liqbot.store import Attempt, AttemptStatus, Store, attempt_txs, open_store

from ..conftest import seeded_devnet
from .test_live_e2e import DEV_KEY_5

pytestmark = pytest.mark.devnet
S = AttemptStatus
T = TypeVar("T")
FINAL = {S.INCLUDED, S.REVERTED, S.FAILED, S.SKIPPED, S.LOST_RACE}
CYCLES = 12
SHOCKS = [("WETH", -10), ("WBTC", -10), ("WETH", -3), ("WBTC", -3)]  # then the last two, repeated


@pytest.fixture(scope="module")
def crash_devnet(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    yield from seeded_devnet(tmp_path_factory, "crash", borrowers=150, seed=21, block_time=1)


class Bot:
    """One `liqbot run` process; its stdout and stderr go to files kept for the checks."""

    def __init__(self, devnet: manager.Devnet, db: str, logs: Path, n: int) -> None:
        self.out, self.err = logs / f"run-{n}.out", logs / f"run-{n}.err"
        env = dict(os.environ) | {
            "PYTHONPATH": str(Path(liqbot.__file__).parents[1]),
            "LIQBOT_DATABASE_URL": db,
            "LIQBOT_EXECUTION_MODE": "flash",
            "LIQBOT_SIGNER_KEY": DEV_KEY_5,  # anvil's public dev key #5: never a real key
        }
        cmd = [
            sys.executable,
            "-m",
            "liqbot",
            "run",
            "--config",
            str(devnet.dir / "liqbot.yaml"),
            "--no-metrics",
        ]
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 90) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def ready(self, timeout: float = 60) -> None:
        """Wait until it has bootstrapped (past imports, with its signal handlers in place)."""
        up = until(
            lambda: True if "bootstrapped" in self.log() or self.proc.poll() is not None else None, timeout
        )
        assert up and self.proc.poll() is None, self.log()[-3000:]

    def log(self) -> str:
        return self.out.read_text() + self.err.read_text()


def until(check: Callable[[], T | None], timeout: float, every: float = 0.05) -> T | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()) is not None:
            return value
        time.sleep(every)
    return None


def rows(store: Store) -> list[Attempt]:
    return store.list(limit=None)


def newest(store: Store, after: int, statuses: set[S]) -> Attempt | None:
    return next((r for r in rows(store) if r.id > after and r.status in statuses), None)


def test_sigkill_at_random_points_then_every_row_matches_the_chain(
    crash_devnet: manager.Devnet, tmp_path: Path
) -> None:
    devnet, rng = crash_devnet, random.Random(20261124)
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    store = open_store(db)
    rpc = devnet.rpc()
    w3 = rpc.w3
    nonce0 = w3.eth.get_transaction_count(LIQUIDATOR)
    kills: list[dict[str, Any]] = []
    bots: list[Bot] = []
    try:
        for cycle in range(CYCLES):
            asset, pct = SHOCKS[cycle] if cycle < len(SHOCKS) else SHOCKS[2 + cycle % 2]
            seen = max((r.id for r in rows(store)), default=0)
            bot = Bot(devnet, db, tmp_path, cycle)
            bots.append(bot)
            how = rng.choice(["early", "send", "track"])
            if how == "early":  # while importing, bootstrapping or recovering; the next run finds the work
                time.sleep(rng.uniform(0.2, 3.0))
                manager.do_shock(devnet, asset, pct)
            elif how == "send":  # right as a send is recorded (simulated: signing; submitted: broadcasting)
                bot.ready()
                manager.do_shock(devnet, asset, pct)
                until(lambda s=seen: newest(store, s, {S.SIMULATED, S.SUBMITTED}), timeout=20, every=0.01)
                time.sleep(rng.uniform(0, 0.1))
            else:  # while broadcast transactions are tracked (`included` is written before the confirmations)
                bot.ready()
                manager.do_shock(devnet, asset, pct)
                until(lambda s=seen: newest(store, s, {S.SUBMITTED}), timeout=20)
                time.sleep(rng.uniform(0.05, 1.0))
            bot.kill()
            open_rows = [r.status.value for r in rows(store) if r.status not in FINAL]
            kills.append({"cycle": cycle, "how": how, "unfinished": open_rows})

        final = Bot(devnet, db, tmp_path, CYCLES)
        bots.append(final)
        final.ready()
        settled = until(lambda: _settled(store), timeout=60, every=0.5)
        time.sleep(3)  # a few more blocks: anything decided now is sent and tracked to its end too
        code = final.stop()
        assert settled, [(r.id, r.status) for r in rows(store) if r.status not in FINAL]
        assert code == 0, final.log()[-3000:]

        all_rows = rows(store)
        _check_rows_match_the_chain(devnet, store, all_rows, nonce0)
        # The test must have hit the moments it is about: kills with sends in flight, and resumed ones.
        assert any("submitted" in k["unfinished"] for k in kills), kills
        assert any("resuming a transaction sent before a restart" in b.log() for b in bots)
        assert sum(r.status is S.INCLUDED for r in all_rows) >= CYCLES // 2, kills
        for b in bots:
            assert "Traceback" not in b.log(), b.log()[-3000:]
    finally:
        for b in bots:
            if b.proc.poll() is None:
                b.kill()
        store.close()


def _settled(store: Store) -> bool | None:
    all_rows = rows(store)
    return True if all_rows and all(r.status in FINAL for r in all_rows) else None


def _check_rows_match_the_chain(
    devnet: manager.Devnet, store: Store, all_rows: list[Attempt], nonce0: int
) -> None:
    rpc = devnet.rpc()
    w3 = rpc.w3
    ex = w3.eth.contract(address=devnet.addresses()["executor"], abi=load_artifact()["abi"])
    held: dict[tuple[str, int], int] = {}
    for r in all_rows:
        assert r.status in FINAL, (r.id, r.status, r.reason)
        if r.status in (S.INCLUDED, S.REVERTED) or (r.status is S.LOST_RACE and r.tx_hash):
            assert r.tx_hash is not None and r.sender is not None and r.nonce is not None
            receipt = w3.eth.get_transaction_receipt(r.tx_hash)
            assert receipt["blockNumber"] == r.included_block and receipt["gasUsed"] == r.gas_used
            tx = w3.eth.get_transaction(r.tx_hash)
            assert tx["nonce"] == r.nonce and tx["from"].lower() == r.sender
            if r.status is S.INCLUDED:
                assert receipt["status"] == 1
                assert len(ex.events.Liquidated().process_receipt(receipt, errors=DISCARD)) == 1
            else:
                assert receipt["status"] == 0, (r.id, r.status, r.reason)
            key = (r.sender, r.nonce)
            assert key not in held, f"attempts {held.get(key)} and {r.id} both hold nonce {key}"
            held[key] = r.id
        if r.status is S.FAILED:
            assert "not ours" not in (r.reason or ""), r.reason  # nobody else sends with this key
    # Every transaction the signer sent since the start is one we stored before sending it.
    ours = attempt_txs(store, [r.id for r in all_rows])
    mined = {(t.sender, t.nonce) for t in ours if _receipt(w3, t.tx_hash) is not None}
    assert len(mined) == w3.eth.get_transaction_count(LIQUIDATOR) - nonce0
    assert {n for _, n in mined} == set(range(nonce0, nonce0 + len(mined)))


def _receipt(w3: Any, tx_hash: str) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:  # never mined (replaced, or never sent)
        return None


def test_sigterm_drains_sends_in_flight_and_exits_cleanly(
    crash_devnet: manager.Devnet, tmp_path: Path
) -> None:
    devnet = crash_devnet
    db = f"sqlite:///{tmp_path / 'term.db'}"
    store = open_store(db)
    manager.do_shock(devnet, "WETH", -8)
    bot = Bot(devnet, db, tmp_path, 0)
    try:
        bot.ready()
        flying = until(lambda: newest(store, 0, {S.SUBMITTED}), timeout=40, every=0.02)
        assert flying is not None, bot.log()[-3000:]
        code = bot.stop(timeout=60)
        log = bot.log()
        assert code == 0, log[-3000:]
        assert "waiting for sends in flight" in log and "Traceback" not in log
        assert all(r.status in FINAL for r in rows(store)), [(r.id, r.status) for r in rows(store)]
        assert store.get(flying.id).status is not S.SUBMITTED
    finally:
        if bot.proc.poll() is None:
            bot.kill()
        store.close()


def test_a_second_sigterm_leaves_pending_sends_submitted_and_the_next_start_ends_them(
    crash_devnet: manager.Devnet, tmp_path: Path
) -> None:
    """With nothing being mined the drain cannot finish: a second SIGTERM abandons it (exit 0, rows stay
    `submitted` with their transactions stored); the next start, with blocks again, ends them."""
    devnet = crash_devnet
    rpc = devnet.rpc()
    db = f"sqlite:///{tmp_path / 'abandon.db'}"
    store = open_store(db)
    nonce0 = rpc.w3.eth.get_transaction_count(LIQUIDATOR)
    bots = [Bot(devnet, db, tmp_path, 0)]
    try:
        bots[0].ready()
        manager.do_shock(devnet, "WBTC", -6)
        rpc.call("evm_setIntervalMining", 0)  # from here nothing is mined: every send stays pending
        rpc.call("evm_setAutomine", False)
        try:
            assert until(lambda: newest(store, 0, {S.SUBMITTED}), timeout=30) is not None, bots[0].log()[
                -3000:
            ]
            time.sleep(0.5)
            bots[0].proc.send_signal(signal.SIGTERM)
            waiting = until(
                lambda: True if "waiting for sends in flight" in bots[0].log() else None, timeout=20
            )
            assert waiting and bots[0].proc.poll() is None  # draining: it waits for the sends
            code = bots[0].stop(timeout=30)  # the second signal
        finally:
            rpc.call("evm_setAutomine", True)
            rpc.call("evm_setIntervalMining", 1)
        log = bots[0].log()
        assert code == 0 and "sends left submitted for recovery" in log and "Traceback" not in log, log[
            -3000:
        ]
        left = [r for r in rows(store) if r.status is S.SUBMITTED]
        assert left and all(attempt_txs(store, r.id) for r in left)

        bots.append(Bot(devnet, db, tmp_path, 1))
        bots[1].ready()
        settled = until(lambda: _settled(store), timeout=60, every=0.5)
        code = bots[1].stop()
        assert settled and code == 0, bots[1].log()[-3000:]
        assert "resuming a transaction sent before a restart" in bots[1].log()
        assert all(store.get(r.id).status is not S.SUBMITTED for r in left)
        _check_rows_match_the_chain(devnet, store, rows(store), nonce0)
        assert "Traceback" not in bots[1].log()
    finally:
        for b in bots:
            if b.proc.poll() is None:
                b.kill()
        store.close()
