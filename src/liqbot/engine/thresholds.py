"""One chain's adaptive thresholds in the running bot: the current min profit and gas share of each protocol,
loaded from the database at start (so they survive restarts), recomputed every `update_every_blocks` blocks
from the recent attempts, and recorded in `threshold_history` whenever they change.

The newest history row is read again at every update, so `liqbot thresholds fallback` (a pin to the static
defaults) and its release reach a running bot within `update_every_blocks` blocks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from liqbot.config import ChainConfig, LiqbotConfig
from liqbot.store import Store
from liqbot.store import thresholds as history
from liqbot.strategy.adaptive import Levels, Policy, next_levels
from liqbot.strategy.pricing import StrategyConfig
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.thresholds")
ENGINE = "engine"


ADAPTIVE_OFF = "adaptive thresholds are off in the config (thresholds.adaptive.enabled: false)"


def current_levels(rec: history.ThresholdRecord | None, static: Levels, enabled: bool) -> Levels:
    """What applies now, given the newest history row: the static defaults when there is none, when it is a
    fallback pin or its release (adaptation starts again from the defaults), or when adaptation is off."""
    if rec is None or not enabled or rec.pinned or rec.source == history.RELEASE:
        return static
    return rec.levels


class ThresholdController:
    def __init__(
        self,
        cfg: LiqbotConfig,
        chain: ChainConfig,
        store: Store,
        protocols: Sequence[str],
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.chain, self.store, self.metrics, self.clock = chain, store, metrics, clock
        self.settings = cfg.thresholds.adaptive
        self.policy = Policy.of(cfg.thresholds)
        self.deny = tuple(cfg.deny_assets)
        self.protocols = tuple(protocols)
        self.levels: dict[str, Levels] = {}
        self.pinned: dict[str, bool] = {}
        self._strategies: dict[str, StrategyConfig] = {}  # built once per change, read per borrower
        self.updated_at_block: int | None = None
        for p in self.protocols:
            self._load(p)

    @property
    def static(self) -> Levels:
        return self.policy.default

    def strategy_for(self, protocol: str) -> StrategyConfig:
        got = self._strategies.get(protocol)
        if got is None:
            got = self._strategies[protocol] = StrategyConfig(
                self.static.min_profit_usd, self.static.gas_share, self.deny
            )
        return got

    def gas_share_for(self, protocol: str) -> Decimal:
        return self.levels.get(protocol, self.static).gas_share

    def _load(self, protocol: str) -> history.ThresholdRecord | None:
        """Current values from the newest history row: static when there is none, when it is a pin or a
        release, or when adaptation is off in the config (recorded once, so `show` tells why)."""
        rec = history.latest(self.store, self.chain.chain_id, protocol)
        self.pinned[protocol] = rec is not None and rec.pinned
        off = not self.settings.enabled and rec is not None and not rec.pinned
        if off and rec is not None and (rec.source != history.STATIC or rec.levels != self.static):
            self._write(protocol, self.static, history.STATIC, ADAPTIVE_OFF, {})
        self._set(protocol, current_levels(rec, self.static, self.settings.enabled))
        return rec

    def update(self, block: int, native_usd: Decimal | None) -> list[history.ThresholdRecord]:
        """Recompute each protocol's values if `update_every_blocks` have passed (always on the first call);
        returns the rows written."""
        if not self.settings.enabled:
            return []
        if (
            self.updated_at_block is not None
            and block - self.updated_at_block < self.settings.update_every_blocks
        ):
            return []
        self.updated_at_block = block
        written = []
        for p in self.protocols:
            self._load(p)  # a pin or release from the CLI since the last update
            if self.pinned[p]:
                continue
            stats = history.window_stats(
                self.store,
                self.chain.chain_id,
                p,
                window_attempts=self.settings.window_attempts,
                window_hours=self.settings.window_hours,
                now=self.clock(),
                native_usd=native_usd,
            )
            before = self.levels[p]
            decision = next_levels(stats, before, self.policy)
            if not decision.changed_from(before):
                log.debug(
                    "thresholds held", chain=self.chain.name, protocol=p, why=" | ".join(decision.notes)
                )
                continue
            extra: dict[str, object] = {
                "block": block,
                "window_hours": self.settings.window_hours,
                "window_attempts": self.settings.window_attempts,
            }
            rec = self._write(
                p, decision.levels, history.ADAPTIVE, "\n".join(decision.notes), {**stats.as_dict(), **extra}
            )
            written.append(rec)
            self._set(p, decision.levels)
            log.info(
                "thresholds changed",
                chain=self.chain.name,
                protocol=p,
                min_profit_usd=str(decision.levels.min_profit_usd),
                gas_share=str(decision.levels.gas_share),
                why=" | ".join(decision.notes),
            )
        return written

    def _write(
        self, protocol: str, levels: Levels, source: str, reason: str, stats: dict[str, object]
    ) -> history.ThresholdRecord:
        return history.record(
            self.store,
            self.chain.chain_id,
            protocol,
            levels,
            source=source,
            actor=ENGINE,
            reason=reason,
            stats=stats,
            at=self.clock(),
        )

    def _set(self, protocol: str, levels: Levels) -> None:
        self.levels[protocol] = levels
        self._strategies[protocol] = StrategyConfig(levels.min_profit_usd, levels.gas_share, self.deny)
        if self.metrics is not None:
            g = self.metrics.threshold
            g.labels(self.chain.name, protocol, "min_profit_usd").set(float(levels.min_profit_usd))
            g.labels(self.chain.name, protocol, "priority_fee_profit_share").set(float(levels.gas_share))
            g.labels(self.chain.name, protocol, "pinned").set(int(self.pinned.get(protocol, False)))
