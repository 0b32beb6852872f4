"""One chain's risk gates around a live send: throttles and caps before it, the sequencer right before it,
the automatic kill-switch rules after it. The decisions are pure (caps.py, trips.py, strategy/gates.py);
this module reads the history, holds what this process has in flight, writes the switch and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from liqbot.chain.client import ChainClient
from liqbot.chain.errors import TRANSIENT, NodeError, rpc
from liqbot.config import ChainConfig, LiqbotConfig
from liqbot.core.types import Opportunity, Skip
from liqbot.risk import history, killswitch
from liqbot.risk.caps import DAY, Ask, Reservation, SessionTally, check_caps, usage
from liqbot.risk.records import notional_usd
from liqbot.risk.sequencer import gate_at_send, read_latest
from liqbot.risk.trips import UNPROFITABLE, Trip, evaluate, unprofitable_shortfall
from liqbot.store import AttemptMode, AttemptStatus, Store
from liqbot.strategy.gates import SequencerPhase
from liqbot.strategy.pricing import MarketFacts
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.risk")
_UP = {SequencerPhase.UP: 1, SequencerPhase.DOWN: 0, SequencerPhase.GRACE: 0, SequencerPhase.UNKNOWN: -1}


@dataclass
class _Held:
    reservation: Reservation
    sent: bool = False  # reached the sender: counts for the session whatever its end


class RiskGuard:
    def __init__(
        self,
        cfg: LiqbotConfig,
        chain: ChainConfig,
        client: ChainClient,
        store: Store,
        metrics: Metrics,
        session: SessionTally,
    ) -> None:
        self.cfg, self.chain, self.client, self.store = cfg, chain, client, store
        self.metrics, self.session = metrics, session
        self.held: dict[int, _Held] = {}

    # ---- before sending --------------------------------------------------------------------------------

    def admit(self, attempt_id: int, opp: Opportunity, facts: MarketFacts) -> Skip | None:
        """Check every throttle and cap; if none refuses, hold the attempt (in flight, session) until
        `release`. Synchronous on purpose: no other send of this process runs between check and hold."""
        o = opp.option
        assert facts.native_price is not None
        # The feed price, not the option's: Morpho options carry no USD price (their oracles give ratios).
        feed = facts.prices.get(o.debt_asset.lower())
        ask = Ask(
            attempt_id,
            o.borrower,
            notional_usd(o.debt_to_cover, feed.answer if feed else o.debt_price, o.debt_decimals),
            -(opp.profit.gas_usd + opp.profit.l1_fee_usd),  # the breakdown signs costs negative
        )
        now = datetime.now(UTC)
        rows = history.sends_since(self.store, self.chain.chain_id, now - DAY)
        inflight = history.inflight_ids(self.store, self.chain.chain_id)
        prices = {a: (p.answer, facts.decimals[a]) for a, p in facts.prices.items() if a in facts.decimals}
        mine = {i: h.reservation for i, h in self.held.items()}
        used = usage(ask, rows, inflight, mine, self.session, prices, facts.native_price.answer, now)
        refused = used if isinstance(used, Skip) else check_caps(self.cfg.caps, ask, used)
        if refused is not None:
            return refused
        self.held[attempt_id] = _Held(Reservation(attempt_id, o.borrower, ask.notional_usd))
        self.session.take(ask.notional_usd)
        return None

    async def sequencer(self, protocol: str, health_factor: int) -> Skip | None:
        """On chains with an uptime feed: the detection gate again, at `latest`."""
        if self.chain.sequencer_uptime_feed is None:
            return None
        answer, updated, ts = await read_latest(self.client, self.chain)
        phase, refused = gate_at_send(answer, updated, ts, self.chain, protocol, health_factor)
        self.metrics.sequencer_up.labels(self.chain.name, "send").set(_UP[phase])
        return refused

    def sending(self, attempt_id: int) -> None:
        held = self.held.get(attempt_id)
        if held is not None:
            held.sent = True

    def release(self, attempt_id: int) -> None:
        """The attempt ended (or was skipped after admission: then the session does not count it)."""
        held = self.held.pop(attempt_id, None)
        if held is not None and not held.sent:
            self.session.refund(held.reservation.notional_usd)

    # ---- after an attempt ends ---------------------------------------------------------------------------

    def after_attempt(self, facts: MarketFacts | None, repay_failure: str | None = None) -> Trip | None:
        """Run the automatic rules over the chain's sends since its switch was last released; engage the
        chain's switch if one trips (and it is not engaged already)."""
        policy = self.cfg.kill_switch.auto_trip
        if not policy.enabled:
            return None
        now = datetime.now(UTC)
        since = now - timedelta(seconds=max(policy.window_s, policy.loss_window_s))
        released = history.last_release(self.store, self.chain.name)
        if released is not None and released > since:
            since = released
        rows = history.sends_since(self.store, self.chain.chain_id, since)
        native = facts.native_price.answer if facts is not None and facts.native_price is not None else None
        trip = evaluate(policy, rows, now, native, repay_failure)
        if trip is None or killswitch.status(self.store, self.chain.name).engaged:
            return None
        killswitch.engage(self.store, self.chain.name, trip.reason, trip.actor)
        self.metrics.kill_switch_trips.labels(self.chain.name, trip.rule.value).inc()
        self.metrics.kill_switch_engaged.labels(self.chain.name).set(1)
        log.error("kill switch tripped", chain=self.chain.name, rule=trip.rule.value, reason=trip.reason)
        return trip

    async def repay_failure(self, attempt_id: int) -> str | None:
        """A flash send that reverted with Unprofitable: the recorded reason keeps only the selector, so
        read the revert data from the trace; a negative profit means the loan could not be paid back."""
        a = self.store.get(attempt_id)
        if a.status is not AttemptStatus.REVERTED or a.mode is not AttemptMode.FLASH or a.tx_hash is None:
            return None
        if UNPROFITABLE not in (a.reason or ""):
            return None
        try:
            trace = await rpc(self.client, "debug_traceTransaction", a.tx_hash, {"tracer": "callTracer"})
        except NodeError:  # no debug namespace: the revert-count rules still apply
            return None
        except TRANSIENT:
            return None
        out = trace.get("output") if isinstance(trace, dict) else None
        short = unprofitable_shortfall(bytes.fromhex(out[2:])) if isinstance(out, str) else None
        if short is None:
            return None
        return f"attempt {a.id}: Unprofitable(), {short} units of {a.debt_asset} short of loan + premium"

    def publish(self) -> None:
        """Export the chain's switch and the global one (a person may release them from another process)."""
        stop = self.cfg.execution.stop_file
        file_on = stop is not None and stop.exists()
        for scope in (killswitch.GLOBAL, self.chain.name):
            on = killswitch.status(self.store, scope).engaged or (file_on and scope == killswitch.GLOBAL)
            self.metrics.kill_switch_engaged.labels(scope).set(int(on))
