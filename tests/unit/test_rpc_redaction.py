"""Keyed RPC URLs never reach a log line, an exception message or a metric label: the pool names an endpoint
by its redacted URL. The endpoints here are closed local ports, so every call fails and gets logged."""

from __future__ import annotations

import asyncio
import socket

import pytest
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from liqbot.chain.client import ChainClient
from liqbot.chain.pool import RpcUnavailableError, endpoint_labels
from liqbot.chain.scoring import Policy
from liqbot.telemetry.metrics import Metrics

SECRETS = ("Zq3vK9pLm2Xw8RtY6uNb4Hs1", "s3cr3t-pw", "AK7f9e2d1c0b3a4958")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connections are refused


def _keyed_urls() -> list[str]:
    return [
        f"http://127.0.0.1:{_closed_port()}/v2/{SECRETS[0]}",
        f"http://alice:{SECRETS[1]}@127.0.0.1:{_closed_port()}",
        f"http://127.0.0.1:{_closed_port()}/rpc?apikey={SECRETS[2]}",
    ]


def test_labels_hide_keys_and_stay_distinct() -> None:
    urls = [
        f"https://eth-mainnet.g.alchemy.com/v2/{SECRETS[0]}",
        f"https://eth-mainnet.g.alchemy.com/v2/{SECRETS[2]}",
        "http://127.0.0.1:8545",
    ]
    labels = endpoint_labels(urls)
    assert labels == [
        "https://eth-mainnet.g.alchemy.com/***#1",
        "https://eth-mainnet.g.alchemy.com/***#2",
        "http://127.0.0.1:8545",
    ]


def test_failures_log_and_export_only_redacted_endpoints() -> None:
    metrics = Metrics()
    client = ChainClient(
        _keyed_urls(), 1, timeout=2.0, policy=Policy(bench_base_s=0.01), observer=metrics.rpc_observer("main")
    )

    async def run() -> str:
        try:
            with pytest.raises(RpcUnavailableError) as info:
                await client.block_number()
            await client.pool.probe()
            return str(info.value)
        finally:
            await client.close()

    with capture_logs() as logs:
        message = asyncio.run(run())
    exported = generate_latest(metrics.registry).decode()
    text = repr(logs) + message + exported
    assert [e["event"] for e in logs].count("rpc endpoint benched") == 3
    assert "connection" in message and "http://127.0.0.1:" in message
    assert 'liqbot_rpc_failovers_total{chain="main",endpoint="http://***@127.0.0.1:' in exported
    assert 'liqbot_rpc_endpoint_up{chain="main",endpoint="http://127.0.0.1:' in exported
    for secret in (*SECRETS, "alice", "apikey", "/v2/"):
        assert secret not in text
