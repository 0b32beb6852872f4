"""/metrics is served by a real prometheus_client HTTP server and carries the names operators alert on."""

from __future__ import annotations

import urllib.request

from liqbot.core.types import SkipReason
from liqbot.telemetry.metrics import Metrics

from ..conftest import free_port_block


def test_metrics_endpoint_serves_counters() -> None:
    m = Metrics()
    m.skip("devnet", "aave_v3", SkipReason.BELOW_MIN_PROFIT)
    m.positions.labels("devnet", "aave_v3").set(812)
    m.record_rpc("devnet", {"eth_getLogs": 3, "eth_call": 5}, {})
    port = free_port_block()
    server = m.serve("127.0.0.1", port)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
    assert 'liqbot_skips_total{chain="devnet",protocol="aave_v3",reason="below_min_profit"} 1.0' in body
    assert 'liqbot_positions_tracked{chain="devnet",protocol="aave_v3"} 812.0' in body
    assert 'liqbot_rpc_calls_total{chain="devnet",method="eth_getLogs"} 3.0' in body
    for name in (
        "liqbot_detection_latency_seconds_bucket",
        "liqbot_last_processed_block",
        "liqbot_opportunities_total",
    ):
        assert name in body or name.removesuffix("_bucket") in body
