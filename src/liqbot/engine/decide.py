"""Turn one block's liquidatable positions into attempt rows: options → facts → strategy → executor."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from liqbot.core.types import LiquidationOption, Opportunity, Skip
from liqbot.engine.facts import FactGatherer
from liqbot.execution.shadow import ShadowExecutor
from liqbot.protocols.base import ProtocolAdapter
from liqbot.store import AttemptStatus, Store
from liqbot.strategy.gates import PricePoint, SequencerPhase, SequencerRule, sequencer_phase
from liqbot.strategy.pricing import FlashTerms, SequencerStatus, StrategyConfig, evaluate
from liqbot.telemetry.metrics import Metrics

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
        executor: ShadowExecutor,
        cfg: StrategyConfig,
    ) -> None:
        self.store, self.metrics, self.facts, self.executor, self.cfg = store, metrics, facts, executor, cfg
        self.episodes: dict[tuple[str, str], int] = {}  # (protocol, borrower) → attempt id while liquidatable
        self.found: list[dict[str, Any]] = []  # decisions of this process, for reports

    async def decide(
        self, adapter: ProtocolAdapter, liquidatable: dict[str, int], ctx: BlockContext
    ) -> list[tuple[int, str]]:
        """Record a decision for every position that became liquidatable; return (attempt id, borrower)."""
        proto = adapter.protocol
        for key in [k for k in self.episodes if k[0] == proto and k[1] not in liquidatable]:
            del self.episodes[key]  # healthy again or liquidated: the next dip is a new episode
        fresh = {b: hf for b, hf in liquidatable.items() if (proto, b) not in self.episodes}
        if not fresh:
            return []
        now = ctx.block_timestamp + max(1, int(ctx.block_time_s))
        allows = sentinel_allows(ctx.sequencer, now)
        per_borrower: dict[str, list[LiquidationOption] | Skip] = {
            b: adapter.options(b, sentinel_allows=allows) for b in fresh
        }
        options = [o for v in per_borrower.values() if isinstance(v, list) for o in v]
        facts = None
        if options:
            seq = ctx.sequencer
            if seq is not None and proto == "aave_v3":
                seq = SequencerStatus(
                    seq.answer, seq.started_at, seq.grace_period_s, SequencerRule.AAVE_SENTINEL
                )
            sample = adapter.liquidation_call(options[0], ZERO)
            flash = FlashTerms(adapter.flash_premium_bps)
            facts = await self.facts.gather(options, ctx.prices, ctx.decimals, now, seq, flash, sample)
        results: dict[str, Opportunity | Skip] = {}
        for borrower, got in per_borrower.items():
            if isinstance(got, Skip):
                results[borrower] = got
            else:
                assert facts is not None  # gathered whenever any borrower has options
                results[borrower] = evaluate(got, facts, self.cfg).result
        # Most valuable first; simulations overlap (each awaits the node), database writes stay in order.
        order = sorted(fresh, key=lambda b: _value(results[b]), reverse=True)
        ids = await asyncio.gather(*(self._record(adapter, b, fresh[b], results[b], ctx) for b in order))
        for b, attempt_id in zip(order, ids, strict=True):
            self.episodes[(proto, b)] = attempt_id
        return list(zip(ids, order, strict=True))

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
            mode="shadow",
            collateral_asset=opt.collateral_asset if opt else ZERO,
            debt_asset=opt.debt_asset if opt else ZERO,
            debt_to_cover=opt.debt_to_cover if opt else 0,
            expected_seized=opt.collateral_to_liquidator if opt else 0,
            expected_profit_usd=p.net_usd if p else Decimal(0),
            bonus_usd=p.bonus_usd if p else None,
            swap_usd=p.swap_usd if p else None,
            gas_usd=(p.gas_usd + p.l1_fee_usd) if p else None,
            fees_usd=p.flash_fee_usd if p else None,
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
            done = await self.executor.execute(adapter, result, attempt_id)
            row |= {
                "status": "shadowed" if done.simulated else "skipped",
                "reason": done.reason,
                "profit": result.profit.net_usd,
            }
        log.info("decision", chain=ctx.chain, **{k: str(v) for k, v in row.items()})
        self.found.append(row)
        return attempt_id


def _value(result: Opportunity | Skip) -> Decimal:
    return result.profit.net_usd if isinstance(result, Opportunity) else Decimal(-1)
