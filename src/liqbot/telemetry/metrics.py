"""Prometheus metrics. One registry per process (tests make their own), served on the configured port."""

from __future__ import annotations

from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from liqbot.core.types import SkipReason

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 60)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r, chain = self.registry, ["chain"]
        self.positions = Gauge(
            "liqbot_positions_tracked", "Positions held in local state", [*chain, "protocol"], registry=r
        )
        self.liquidatable = Gauge(
            "liqbot_positions_liquidatable", "Positions with exact HF < 1", [*chain, "protocol"], registry=r
        )
        self.opportunities = Counter(
            "liqbot_opportunities_total",
            "Priced opportunities that passed every gate",
            [*chain, "protocol", "mode"],
            registry=r,
        )
        self.skips = Counter(
            "liqbot_skips_total",
            "Opportunities skipped, by reason",
            [*chain, "protocol", "reason"],
            registry=r,
        )
        self.detection_latency = Histogram(
            "liqbot_detection_latency_seconds",
            "From the timestamp of the block that made a position liquidatable to the decision",
            [*chain, "protocol"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.rpc_calls = Counter(
            "liqbot_rpc_calls_total", "JSON-RPC calls by method", [*chain, "method"], registry=r
        )
        self.last_block = Gauge(
            "liqbot_last_processed_block", "Last block fully processed", chain, registry=r
        )
        self.block_processing = Histogram(
            "liqbot_block_processing_seconds", "Time to process one new head", chain,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r,
        )  # fmt: skip
        self.attempts = Counter(
            "liqbot_attempts_total",
            "Attempt rows by final status",
            [*chain, "protocol", "status"],
            registry=r,
        )
        self.step_failures = Counter(
            "liqbot_block_step_failures_total",
            "Block steps cut short by an RPC failure (every endpoint down); the bot waits and tries again",
            chain,
            registry=r,
        )
        self.sequencer_up = Gauge(
            "liqbot_sequencer_up", "1 up, 0 down or in grace, -1 unknown", [*chain, "stage"], registry=r
        )
        self.threshold = Gauge(
            "liqbot_threshold",
            "Current adaptive thresholds: min_profit_usd, priority_fee_profit_share, pinned (1 = fallback)",
            [*chain, "protocol", "name"],
            registry=r,
        )
        # New heads over WebSocket; `endpoint` is the redacted URL (never a key).
        self.ws_connected = Gauge(
            "liqbot_ws_connected", "1 while subscribed to new heads there", [*chain, "endpoint"], registry=r
        )
        self.ws_reconnects = Counter(
            "liqbot_ws_reconnects_total",
            "WebSocket sessions given up and replaced, by reason",
            [*chain, "endpoint", "reason"],
            registry=r,
        )
        self.ws_heads = Counter(
            "liqbot_ws_heads_total", "New heads received over WebSocket", chain, registry=r
        )
        self.ws_head_anomalies = Counter(
            "liqbot_ws_head_anomalies_total",
            "New heads that skipped blocks (gap) or replaced seen ones (reorg)",
            [*chain, "kind"],
            registry=r,
        )

        # RPC endpoints, labelled by their redacted URL (chain/pool.py): never a key in a label.
        self.rpc_endpoint_up = Gauge(
            "liqbot_rpc_endpoint_up",
            "1 healthy, 0 benched, lagging or stalled",
            [*chain, "endpoint"],
            registry=r,
        )
        self.rpc_head_lag = Gauge(
            "liqbot_rpc_head_lag_blocks",
            "Blocks behind the best endpoint's head",
            [*chain, "endpoint"],
            registry=r,
        )
        self.rpc_failovers = Counter(
            "liqbot_rpc_failovers_total",
            "Calls that left an endpoint, by reason",
            [*chain, "endpoint", "reason"],
            registry=r,
        )
        self.rpc_request_seconds = Histogram(
            "liqbot_rpc_request_seconds",
            "One HTTP JSON-RPC attempt at one endpoint, by outcome",
            [*chain, "endpoint", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
            registry=r,
        )
        self.kill_switch_engaged = Gauge(
            "liqbot_kill_switch_engaged", "1 while the kill switch of the scope (global, a chain) is engaged",
            ["scope"], registry=r,
        )  # fmt: skip
        self.kill_switch_trips = Counter(
            "liqbot_kill_switch_trips_total",
            "Automatic kill-switch trips, by rule",
            [*chain, "rule"],
            registry=r,
        )

        # Processed blocks that left the chain: `depth` is the blocks rolled back, `unknown` (fork point
        # older than remembered, 64 assumed), `full` (deeper than 64: discovery resynced from the start
        # block) or `restart` (found at start, under the stored cursor).
        self.reorgs = Counter(
            "liqbot_reorgs_handled_total",
            "Reorgs of processed blocks the pipeline rolled back, by depth",
            [*chain, "depth"],
            registry=r,
        )

    def rpc_observer(self, chain: str) -> RpcMetrics:
        return RpcMetrics(self, chain)

    def skip(self, chain: str, protocol: str, reason: SkipReason) -> None:
        self.skips.labels(chain, protocol, reason.value).inc()

    def record_rpc(self, chain: str, counts: dict[str, int], seen: dict[str, int]) -> None:
        """Export the client's per-method counters as deltas since the last export."""
        for method, n in counts.items():
            delta = n - seen.get(method, 0)
            if delta > 0:
                self.rpc_calls.labels(chain, method).inc(delta)
            seen[method] = n

    def serve(self, host: str, port: int) -> WSGIServer:
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server


@dataclass
class RpcMetrics:
    """The RPC pool's reports for one chain (chain/pool.py PoolObserver)."""

    metrics: Metrics
    chain: str

    def rpc_request(self, endpoint: str, seconds: float, ok: bool) -> None:
        self.metrics.rpc_request_seconds.labels(self.chain, endpoint, "ok" if ok else "failed").observe(
            seconds
        )

    def rpc_failover(self, endpoint: str, reason: str) -> None:
        self.metrics.rpc_failovers.labels(self.chain, endpoint, reason).inc()

    def rpc_endpoint(self, endpoint: str, healthy: bool, lag: int) -> None:
        self.metrics.rpc_endpoint_up.labels(self.chain, endpoint).set(1 if healthy else 0)
        self.metrics.rpc_head_lag.labels(self.chain, endpoint).set(lag)
