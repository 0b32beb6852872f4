"""Turn one block's liquidatable positions into attempt rows: options → facts → strategy → executor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import structlog

from liqbot.core.errors import LiqbotError
from liqbot.core.types import LiquidationOption, Opportunity, Skip, SkipReason
from liqbot.engine.facts import FactGatherer
from liqbot.execution.live import LiveExecutor, LiveResult
from liqbot.execution.shadow import ShadowExecutor
from liqbot.protocols.base import ProtocolAdapter
from liqbot.store import AttemptStatus, Store
from liqbot.strategy.gates import PricePoint, SequencerPhase, SequencerRule, sequencer_phase
from liqbot.strategy.pricing import FlashTerms, MarketFacts, SequencerStatus, StrategyConfig, evaluate
from liqbot.telemetry.metrics import Metrics

Executor = ShadowExecutor | LiveExecutor
RETRY_AFTER_BLOCKS = 5  # one more than the crowd ledger's window: our earlier swaps have landed by then
MAX_TRIES = 3
RETRYABLE = frozenset(
    {
        SkipReason.BELOW_MIN_PROFIT,
        SkipReason.QUOTE_FAILED,
        SkipReason.SIMULATION_FAILED,
        SkipReason.NO_LIQUIDITY,
    }
)
log = structlog.get_logger("liqbot.decide")
ZERO = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class BlockContext:
    chain: str
    block: int
    block_timestamp: int
    block_time_s: float
    prices: dict[str, PricePoint]
    decimals: dict[str, int]
    sequencer: SequencerStatus | None


def sentinel_allows(seq: SequencerStatus | None, now: int) -> bool | None:
    """What Aave's PriceOracleSentinel would answer at `now` (None: no sentinel on this chain)."""
    if seq is None:
        return None
    return sequencer_phase(seq.answer, seq.started_at, now, seq.grace_period_s) is SequencerPhase.UP


class Decider:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        facts: FactGatherer,
        executor: Executor,
        cfg: StrategyConfig,
    ) -> None:
        self.store, self.metrics, self.facts, self.executor, self.cfg = store, metrics, facts, executor, cfg
        self.episodes: dict[tuple[str, str], int] = {}  # (protocol, borrower) → attempt id while liquidatable
        self.found: list[dict[str, Any]] = []  # decisions of this process, for reports
        self.inflight: set[asyncio.Task[None]] = set()
        # (protocol, borrower) → (attempts this episode, block after which a retry is allowed, -1 = none)
        self._tries: dict[tuple[str, str], tuple[int, int]] = {}
        self.facts_now: MarketFacts | None = None  # the facts of the block being decided
        # Per-protocol thresholds (adaptive); the pipeline points this at its ThresholdController.
        self.cfg_for: Callable[[str], StrategyConfig] = lambda _protocol: cfg

    async def decide(
        self, batches: list[tuple[ProtocolAdapter, dict[str, int]]], ctx: BlockContext
    ) -> list[tuple[ProtocolAdapter, int, str]]:
        """Record a decision for every position that became liquidatable in this block, across every
        adapter of the chain at once (their swaps may share pools); return (adapter, attempt id, borrower)."""
        pending: list[tuple[ProtocolAdapter, dict[str, int], dict[str, list[LiquidationOption] | Skip]]] = []
        facts_of: dict[str, MarketFacts] = {}
        now = ctx.block_timestamp + max(1, int(ctx.block_time_s))
        allows = sentinel_allows(ctx.sequencer, now)
        for adapter, liquidatable in batches:
            proto = adapter.protocol
            for key in [k for k in self.episodes if k[0] == proto and k[1] not in liquidatable]:
                del self.episodes[key]  # healthy again or liquidated: the next dip is a new episode
                self._tries.pop(key, None)
            for b in liquidatable:
                self._maybe_retry(proto, b, ctx.block)
            fresh = {b: hf for b, hf in liquidatable.items() if (proto, b) not in self.episodes}
            if not fresh:
                continue
            per: dict[str, list[LiquidationOption] | Skip] = {
                b: adapter.options(b, sentinel_allows=allows) for b in fresh
            }
            options = [o for v in per.values() if isinstance(v, list) for o in v]
            if options:
                facts_of[proto] = await self._facts(adapter, options, ctx, now)
            pending.append((adapter, fresh, per))
        results = self._evaluate(pending, facts_of)
        results, facts_of = await self._crowd(pending, results, facts_of, ctx.block)
        if facts_of:
            self.facts_now = next(iter(facts_of.values()))
        # Most valuable first; simulations overlap (each awaits the node), database writes stay in order.
        flat = [
            (adapter, b, fresh[b], r[b])
            for (adapter, fresh, _), (_, r) in zip(pending, results, strict=True)
            for b in fresh
        ]
        flat.sort(key=lambda x: _value(x[3]), reverse=True)
        ids = await asyncio.gather(*(self._record(a, b, hf, res, ctx) for a, b, hf, res in flat))
        out = []
        for (adapter, b, _, res), attempt_id in zip(flat, ids, strict=True):
            key = (adapter.protocol, b)
            self.episodes[key] = attempt_id
            tries = self._tries.get(key, (0, 0))[0] + 1
            retryable = isinstance(res, Skip) and res.reason in RETRYABLE
            # A send that ended before this line (the kill switch skips without awaiting) marked its retry.
            retryable |= self._tries.get(key, (0, -1))[1] == ctx.block
            self._tries[key] = (tries, ctx.block if retryable and self.executor.background else -1)
            out.append((adapter, attempt_id, b))
        return out

    def _maybe_retry(self, proto: str, borrower: str, block: int) -> None:
        """Live mode: a position still liquidatable after a skip for a passing reason (crowded pool, failed
        quote or simulation) or a failed send is decided again once our pending swaps have landed — at most
        MAX_TRIES times per episode, so an unprofitable position does not write a row every block."""
        key = (proto, borrower)
        tries, since = self._tries.get(key, (0, -1))
        if key in self.episodes and since >= 0 and tries < MAX_TRIES and block >= since + RETRY_AFTER_BLOCKS:
            del self.episodes[key]

    async def _crowd(
        self,
        pending: list[tuple[ProtocolAdapter, dict[str, int], dict[str, list[LiquidationOption] | Skip]]],
        results: list[tuple[ProtocolAdapter, dict[str, Opportunity | Skip]]],
        facts_of: dict[str, MarketFacts],
        block: int,
    ) -> tuple[list[tuple[ProtocolAdapter, dict[str, Opportunity | Skip]]], dict[str, MarketFacts]]:
        """Our own swaps of one block share pools: price each as if it lands last in its pool. Choices may
        move to other pools (up to 3 rounds); then they are frozen and priced once more against exactly the
        final set, so no swap floor rests on a quote for a pool emptier than the one it will meet."""
        base_of = dict(facts_of)

        async def priced(opps: list[Opportunity]) -> dict[str, MarketFacts]:
            base = next(iter(base_of.values()))
            crowded = await self.facts.crowded(base, opps, block)
            return {p: replace(f, quotes={**f.quotes, **crowded.quotes}) for p, f in base_of.items()}

        initial = {
            (a.protocol, b): r for a, res in results for b, r in res.items() if isinstance(r, Opportunity)
        }
        opps = list(initial.values())
        for _ in range(3):
            if not opps:
                return results, facts_of
            facts_of = await priced(opps)
            results = self._evaluate(pending, facts_of)
            again = _opportunities(results)
            settled, opps = _swaps(again) == _swaps(opps), again
            if settled:
                break
        # Freeze: each position keeps one option — its latest choice, or, if crowding priced it out, its
        # first choice — and all of them are priced together as one crowd, a superset of what will be sent.
        frozen: list[tuple[ProtocolAdapter, dict[str, int], dict[str, list[LiquidationOption] | Skip]]] = []
        crowd: list[Opportunity] = []
        for (a, fresh, _per), (_, res) in zip(pending, results, strict=True):
            chosen: dict[str, list[LiquidationOption] | Skip] = {}
            for b, r in res.items():
                pick = r if isinstance(r, Opportunity) else initial.get((a.protocol, b))
                if pick is None:
                    assert isinstance(r, Skip)
                    chosen[b] = r
                else:
                    chosen[b] = [pick.option]
                    crowd.append(pick)
            frozen.append((a, fresh, chosen))
        facts_of = await priced(crowd)
        results = self._evaluate(frozen, facts_of)
        self.facts.commit(_opportunities(results), block)
        return results, facts_of

    async def _facts(
        self, adapter: ProtocolAdapter, options: list[LiquidationOption], ctx: BlockContext, now: int
    ) -> MarketFacts:
        seq = ctx.sequencer
        if seq is not None:
            rule = SequencerRule.AAVE_SENTINEL if adapter.protocol == "aave_v3" else SequencerRule.NO_SENTINEL
            seq = SequencerStatus(seq.answer, seq.started_at, seq.grace_period_s, rule)
        sample = adapter.liquidation_call(options[0], ZERO)
        flash = FlashTerms(adapter.flash_premium_bps)
        return await self.facts.gather(options, ctx.prices, ctx.decimals, now, seq, flash, sample)

    def _evaluate(
        self,
        pending: list[tuple[ProtocolAdapter, dict[str, int], dict[str, list[LiquidationOption] | Skip]]],
        facts_of: dict[str, MarketFacts],
    ) -> list[tuple[ProtocolAdapter, dict[str, Opportunity | Skip]]]:
        out = []
        for adapter, _fresh, per in pending:
            res: dict[str, Opportunity | Skip] = {}
            for borrower, got in per.items():
                if isinstance(got, Skip):
                    res[borrower] = got
                else:
                    strategy = self.cfg_for(adapter.protocol)
                    res[borrower] = evaluate(got, facts_of[adapter.protocol], strategy).result
            out.append((adapter, res))
        return out

    async def _record(
        self, adapter: ProtocolAdapter, borrower: str, hf: int, result: Opportunity | Skip, ctx: BlockContext
    ) -> int:
        latency_ms = max(0, int(time.time() * 1000) - ctx.block_timestamp * 1000)
        opt = result.option
        p = result.profit if isinstance(result, Opportunity) else None
        attempt_id = self.store.record_detected(
            chain_id=adapter.chain_id,
            protocol=adapter.protocol,
            market=opt.market if opt else adapter.market_id,
            borrower=borrower,
            mode=self.executor.mode,
            collateral_asset=opt.collateral_asset if opt else ZERO,
            debt_asset=opt.debt_asset if opt else ZERO,
            debt_to_cover=opt.debt_to_cover if opt else 0,
            expected_seized=opt.collateral_to_liquidator if opt else 0,
            expected_profit_usd=p.net_usd if p else Decimal(0),
            bonus_usd=p.bonus_usd if p else None,
            # The row keeps costs as positive numbers (expected = bonus − swap − gas − fees); the
            # breakdown signs each part as it affects us.
            swap_usd=-p.swap_usd if p else None,
            gas_usd=-(p.gas_usd + p.l1_fee_usd) if p else None,
            fees_usd=-p.flash_fee_usd if p else None,
            health_factor=hf,
            detected_block=ctx.block,
            detection_latency_ms=latency_ms,
        )
        self.metrics.detection_latency.labels(ctx.chain, adapter.protocol).observe(latency_ms / 1000)
        row: dict[str, Any] = {
            "id": attempt_id,
            "borrower": borrower,
            "hf": hf,
            "block": ctx.block,
            "latency_ms": latency_ms,
            "protocol": adapter.protocol,
        }
        if isinstance(result, Skip):
            self.store.advance(
                attempt_id, AttemptStatus.SKIPPED, reason=f"{result.reason.value}: {result.detail}"[:500]
            )
            self.metrics.skip(ctx.chain, adapter.protocol, result.reason)
            row |= {"status": "skipped", "reason": result.reason.value, "profit": p}
        else:
            self.metrics.opportunities.labels(ctx.chain, adapter.protocol, self.executor.mode).inc()
            row |= {"profit": result.profit.net_usd}
            if self.executor.background:  # sending waits for inclusion: never hold up the next block
                task = asyncio.create_task(self._send(adapter, result, attempt_id, row, ctx))
                self.inflight.add(task)
                task.add_done_callback(self.inflight.discard)
                return attempt_id
            done = await self.executor.execute(adapter, result, attempt_id, self.facts_now)
            row |= {"status": done.status, "reason": done.reason}
        log.info("decision", chain=ctx.chain, **{k: str(v) for k, v in row.items()})
        self.found.append(row)
        return attempt_id

    async def _send(
        self,
        adapter: ProtocolAdapter,
        opp: Opportunity,
        attempt_id: int,
        row: dict[str, Any],
        ctx: BlockContext,
    ) -> None:
        try:
            done = await self.executor.execute(adapter, opp, attempt_id, self.facts_now)
            row |= {"status": done.status, "reason": done.reason}
            if isinstance(done, LiveResult) and done.skip is not None:  # kill switch, caps, sequencer, ...
                self.metrics.skip(ctx.chain, adapter.protocol, done.skip)
            key = (adapter.protocol, opp.option.borrower)
            if done.status == "included":  # the position changed: if still liquidatable, decide again
                self.episodes.pop(key, None)
                self._tries.pop(key, None)
            elif done.status in ("skipped", "reverted", "failed"):
                self._tries[key] = (self._tries.get(key, (1, 0))[0], ctx.block)
        except LiqbotError as exc:  # recorded by the sender; the bot goes on with other positions
            row |= {"status": "error", "reason": str(exc)}
            log.error("send failed", attempt=attempt_id, error=str(exc))
        self.metrics.attempts.labels(ctx.chain, adapter.protocol, str(row.get("status"))).inc()
        log.info("outcome", chain=ctx.chain, **{k: str(v) for k, v in row.items()})
        self.found.append(row)

    async def drain(self) -> None:
        """Wait for every send in flight (SIGTERM: finish tracking what left, start nothing new)."""
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)


def _value(result: Opportunity | Skip) -> Decimal:
    return result.profit.net_usd if isinstance(result, Opportunity) else Decimal(-1)


def _opportunities(results: list[tuple[ProtocolAdapter, dict[str, Opportunity | Skip]]]) -> list[Opportunity]:
    return [r for _, res in results for r in res.values() if isinstance(r, Opportunity)]


def _swaps(opps: list[Opportunity]) -> set[tuple[str, str, str, int, int]]:
    return {
        (
            o.option.borrower,
            o.option.collateral_asset,
            o.option.debt_asset,
            o.swap_fee_tier,
            o.option.collateral_to_liquidator,
        )
        for o in opps
    }
