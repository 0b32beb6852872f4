"""`liqbot stress`: drive thousands of opportunities and high event rates through the real pipeline on a
devnet, with an executor that fails a chosen fraction, and report what held up and what fired.

Everything up to the send is the real thing: logs, local state, screening, pricing with quotes, the crowd
ledger, the attempts database, every throttle and cap, the sequencer check and the automatic kill-switch
rules. Only the chain side of the send is a stand-in (`FlakySender`): it records `simulated → submitted →
included | reverted` with gas from the real fee bid, and reverts a `fail_rate` share of the sends. A real send
costs a devnet anvil a second or more per liquidation (BENCHMARKS.md, live latency); a stand-in lets one run
push thousands of decisions through the risk gates in minutes.

Load: each cycle a wave of new borrowers opens positions (hundreds of Supply/Borrow/Transfer events per
block), then WETH drops (hundreds of positions liquidatable at once), then the price comes back so the next
drop starts new episodes. Nothing the stand-in "includes" changes the chain, so a position stays
liquidatable and is decided again after each inclusion: the per-borrower throttle is exercised for real."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import select

from liqbot.config import LiqbotConfig, load_config
from liqbot.config.models import CapsConfig
from liqbot.engine.decide import RETRY_AFTER_BLOCKS
from liqbot.engine.pipeline import ChainPipeline
from liqbot.execution.live import LiveExecutor
from liqbot.execution.sender import FeeBudgetError, LiquidationTx, SendResult, TxSender
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.risk.caps import SessionTally
from liqbot.store import AttemptStatus, Store, open_store
from liqbot.store.models import AttemptRow, KillSwitchEventRow
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.stress")
S = AttemptStatus
# anvil's public dev account #5, which the devnet executor allows. Never a real key; only ever on a devnet.
DEV_KEY_5 = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
INJECTED = "reverted on chain: injected failure (stress executor)"


@dataclass(frozen=True)
class StressPlan:
    borrowers: int = 2000  # seeded before the run
    wave: int = 250  # new borrowers per cycle: the event flood
    cycles: int = 8
    drop_pct: float = 12.0  # WETH drop per cycle; the next cycle first restores it
    fail_rate: float = 0.3  # share of stand-in sends that revert
    send_latency_s: float = 0.25  # stand-in time from submit to the end
    seed: int = 7
    port: int = 18645
    database_url: str | None = None  # default: SQLite in the run directory


@dataclass
class StressReport:
    plan: StressPlan
    started: datetime
    seconds: float = 0.0
    blocks: int = 0
    events: int = 0
    decisions: int = 0
    opportunities: int = 0  # decisions priced profitable and handed to the executor
    sent: int = 0
    included: int = 0
    reverted: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    step_ms: list[float] = field(default_factory=list)  # one per processed head
    rss_mb: list[float] = field(default_factory=list)
    skips: dict[str, tuple[int, float]] = field(default_factory=dict)  # reason -> (count, first at s)
    trips: list[tuple[float, str, str]] = field(default_factory=list)  # (at s, rule, reason)
    sent_after_trip: int = 0
    not_final: int = 0


class FlakySender(TxSender):
    """The chain side of a send, stood in: the fee bid is real (a bid over budget is refused as in a real
    send), the outcome is drawn. Rows move exactly as the real sender moves them, nonces are distinct per
    lane, and no hash is written because nothing is broadcast."""

    def __init__(self, base: TxSender, fail_rate: float, latency_s: float, rng: random.Random) -> None:
        super().__init__(base.client, base.store, base.lanes, policy=base.policy, route=base.route)
        self.fail_rate, self.latency_s, self.rng = fail_rate, latency_s, rng
        self._nonce: Counter[str] = Counter()

    async def send_liquidation(self, attempt_id: int, tx: LiquidationTx) -> SendResult:
        lane = self.lanes.pick(self.nonces.busy)
        self.store.advance(attempt_id, S.SIMULATED, sender=lane.address)
        try:
            tip, max_fee = await self._bid(tx)
        except FeeBudgetError as exc:
            return self._end(attempt_id, S.SKIPPED, str(exc))
        nonce = self._nonce[lane.address]
        self._nonce[lane.address] += 1
        self.store.advance(attempt_id, S.SUBMITTED, nonce=nonce, sender=lane.address)
        await asyncio.sleep(self.latency_s)
        head = await self._head()
        base = tx.next_base_fee or 0
        price = min(max_fee, base + tip)
        if self.rng.random() < self.fail_rate:
            row = self.store.advance(attempt_id, S.REVERTED, reason=INJECTED, included_block=head,
                                     gas_used=tx.gas_limit * 4 // 10, effective_gas_price=price)  # fmt: skip
        else:
            expected = self.store.get(attempt_id).expected_profit_usd
            row = self.store.advance(attempt_id, S.INCLUDED, included_block=head,
                                     gas_used=tx.gas_limit * 7 // 10, effective_gas_price=price,
                                     realized_profit_usd=expected)  # fmt: skip
        return SendResult(row)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _config(devnet: manager.Devnet, plan: StressPlan) -> LiqbotConfig:
    db = plan.database_url or f"sqlite:///{devnet.dir / 'stress.db'}"
    # The stand-in never signs; the lanes still need a key to exist. The devnet's is public.
    os.environ.setdefault("LIQBOT_SIGNER_KEY", DEV_KEY_5)
    env = {**os.environ, "LIQBOT_DATABASE_URL": db, "LIQBOT_EXECUTION_MODE": "flash"}
    cfg = load_config(devnet.dir / "liqbot.yaml", env=env)
    # The caps a real deployment starts with (the devnet config widens them for its demo), and the
    # default kill-switch policy: the stress shows what they let through.
    return cfg.model_copy(update={"caps": CapsConfig()})


def _drive(devnet: manager.Devnet, plan: StressPlan, pipe: ChainPipeline) -> None:
    """The load, in a thread (the devnet helpers are synchronous): per cycle a wave of new borrowers, the
    price restored, then a drop, then a few empty blocks (retries, re-decisions after inclusions); each step
    waits for the pipeline to catch up."""
    rpc = devnet.rpc()
    restore = 100 * plan.drop_pct / (100 - plan.drop_pct)
    for cycle in range(plan.cycles):
        if cycle:  # back to the price the new borrowers' plan assumes
            manager.do_shock(devnet, "WETH", restore)
        if plan.wave:
            manager.do_populate(devnet, plan.wave, seed=plan.seed * 1000 + cycle + 1)
        _settle(rpc, pipe)
        manager.do_shock(devnet, "WETH", -plan.drop_pct)
        _settle(rpc, pipe)
        for _ in range(RETRY_AFTER_BLOCKS + 1):
            rpc.mine()
            _settle(rpc, pipe)


def _settle(rpc: DevnetRpc, pipe: ChainPipeline, timeout: float = 300.0) -> None:
    """Until the pipeline has processed the head and nothing it sent is still in flight."""
    head = rpc.w3.eth.block_number
    deadline = time.monotonic() + timeout
    while (pipe.block < head or pipe.decider.inflight) and time.monotonic() < deadline:
        time.sleep(0.05)


async def _run(devnet: manager.Devnet, plan: StressPlan, cfg: LiqbotConfig, store: Store) -> StressReport:
    chain = cfg.chains[0]
    report = StressReport(plan, datetime.now(UTC))
    pipe = ChainPipeline(cfg, chain, store, Metrics(), str(devnet.dir / "liqbot.yaml"), SessionTally())
    executor = pipe.decider.executor
    assert isinstance(executor, LiveExecutor)
    executor.sender = FlakySender(
        executor.sender,
        plan.fail_rate,
        plan.send_latency_s,
        random.Random(plan.seed),  # noqa: S311 - draws failures, not secrets
    )
    await pipe.start(show_progress=False)
    driver = asyncio.create_task(asyncio.to_thread(_drive, devnet, plan, pipe))
    t0 = time.perf_counter()
    try:
        while not driver.done():
            s0 = time.perf_counter()
            if await pipe.step():
                report.step_ms.append((time.perf_counter() - s0) * 1000)
                report.rss_mb.append(_rss_mb())
            else:
                await asyncio.sleep(0.02)
        await driver  # its error, if any
        await pipe.decider.drain()
    finally:
        report.seconds = time.perf_counter() - t0
        await pipe.close()
    report.events = pipe.events_seen
    report.blocks = len(report.step_ms)
    _from_db(report, store, chain.chain_id)
    return report


def _from_db(report: StressReport, store: Store, chain_id: int) -> None:
    a = AttemptRow
    q = select(a.status, a.reason, a.created_at, a.submitted_at).where(
        a.chain_id == chain_id, a.created_at >= report.started
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
        trips = conn.execute(
            select(KillSwitchEventRow).where(
                KillSwitchEventRow.actor.like("auto:%"), KillSwitchEventRow.at >= report.started
            )
        ).all()
    start = report.started

    def at(t: datetime) -> float:
        return ((t if t.tzinfo else t.replace(tzinfo=UTC)) - start).total_seconds()

    statuses: Counter[str] = Counter()
    for r in rows:
        statuses[r.status] += 1
        if r.status == S.SKIPPED.value:
            reason = str(r.reason or "").split(":", 1)[0]
            n, first = report.skips.get(reason, (0, float("inf")))
            report.skips[reason] = (n + 1, min(first, at(r.created_at)))
    report.statuses = dict(statuses)
    report.decisions = len(rows)
    report.included, report.reverted = statuses[S.INCLUDED.value], statuses[S.REVERTED.value]
    report.sent = sum(1 for r in rows if r.submitted_at is not None)
    report.opportunities = report.sent + sum(
        n for reason, (n, _) in report.skips.items() if reason not in _DETECTION_SKIPS
    )
    report.trips = [(at(t.at), t.actor.removeprefix("auto:"), t.reason) for t in trips]
    if trips:
        first = min(t.at for t in trips)
        first = first if first.tzinfo else first.replace(tzinfo=UTC)
        report.sent_after_trip = sum(
            1
            for r in rows
            if r.submitted_at is not None
            and (r.submitted_at if r.submitted_at.tzinfo else r.submitted_at.replace(tzinfo=UTC)) > first
        )
    report.not_final = sum(statuses[s.value] for s in (S.DETECTED, S.SIMULATED, S.SUBMITTED))


# Skips decided before any executor is asked: the strategy's, not the risk gates'.
_DETECTION_SKIPS = frozenset(
    {"below_min_profit", "no_price", "stale_price", "quote_failed", "bad_debt", "dust", "not_liquidatable",
     "reserve_paused", "unknown_token", "gas_unknown", "deny_listed", "adapter_disabled", "no_liquidity",
     "sequencer_down", "sequencer_grace", "sequencer_unknown", "simulation_failed"}
)  # fmt: skip


def run_stress(plan: StressPlan, state_dir: Path) -> StressReport:
    """Bring up a devnet in `state_dir`, seed it, run the stress, stop the devnet (by pid)."""
    if (state_dir / "devnet.json").is_file():
        manager.down(state_dir)
    for old in state_dir.glob("stress.db*"):
        old.unlink()
    devnet = manager.up(state_dir, port=plan.port, block_time=0)
    try:
        manager.do_populate(devnet, plan.borrowers, seed=plan.seed)
        cfg = _config(devnet, plan)
        store = open_store(cfg.database_url)
        try:
            return asyncio.run(_run(devnet, plan, cfg, store))
        finally:
            store.close()
    finally:
        manager.down(state_dir)


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def render(report: StressReport) -> str:
    """The report as Markdown (BENCHMARKS.md takes it as it is)."""
    p, secs = report.plan, max(report.seconds, 1e-9)
    rss = report.rss_mb or [0.0]
    lines = [
        f"- Plan: {p.borrowers} borrowers + {p.wave} per cycle, {p.cycles} cycles of WETH −{p.drop_pct:g}%, "
        f"stand-in executor failing {p.fail_rate:.0%} of sends, {p.send_latency_s:g} s per send.",
        f"- Run: {report.seconds:.1f} s, {report.blocks} blocks, {report.events:,} events "
        f"({report.events / secs:,.0f}/s), {report.decisions:,} decisions ({report.decisions / secs:.1f}/s), "
        f"{report.opportunities:,} opportunities handed to the executor, {report.sent} sent "
        f"({report.included} included, {report.reverted} reverted).",
        f"- Per block (head seen → every decision recorded): p50 {_pct(report.step_ms, 50):.0f} ms, "
        f"p95 {_pct(report.step_ms, 95):.0f} ms, p99 {_pct(report.step_ms, 99):.0f} ms, "
        f"max {max(report.step_ms, default=0):.0f} ms.",
        f"- Memory (RSS): {rss[0]:.0f} MB at the first block, {max(rss):.0f} MB peak, "
        f"{rss[-1]:.0f} MB at the end.",
        f"- Rows not final at the end: {report.not_final}. "
        f"Sends after the first trip: {report.sent_after_trip}.",
        "",
        "| Skip reason | Count | First at |",
        "|---|---|---|",
    ]
    for reason, (n, first) in sorted(report.skips.items(), key=lambda kv: kv[1][1]):
        lines.append(f"| {reason} | {n:,} | {first:.1f} s |")
    lines += ["", "| Kill switch trip | At | Reason |", "|---|---|---|"]
    lines += [f"| {rule} | {t:.1f} s | {reason} |" for t, rule, reason in report.trips] or ["| none | | |"]
    return "\n".join(lines) + "\n"


__all__ = ["FlakySender", "StressPlan", "StressReport", "render", "run_stress"]
