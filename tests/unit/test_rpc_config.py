"""The RPC failover settings of a chain: defaults, how they reach the pool, and clear errors when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from liqbot.chain.client import ChainClient
from liqbot.config import load_config
from liqbot.core.errors import ConfigError
from liqbot.telemetry.metrics import Metrics

BASE = """\
chains:
  - name: devnet
    chain_id: 31337
    block_time_s: 2
    rpc_http: ["http://127.0.0.1:8545", "http://127.0.0.1:8546", "http://127.0.0.1:8547"]
"""


def _load(tmp_path: Path, text: str) -> ChainClient:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return ChainClient.for_chain(load_config(path, env={}).chains[0], Metrics())


def test_defaults_reach_the_pool(tmp_path: Path) -> None:
    client = _load(tmp_path, BASE)
    pool = client.pool
    assert pool.urls == ["http://127.0.0.1:8545", "http://127.0.0.1:8546", "http://127.0.0.1:8547"]
    assert client.url == "http://127.0.0.1:8545"
    assert (pool.timeout_s, pool.policy.max_lag_blocks, pool.policy.bench_max_s) == (15.0, 3, 60.0)
    assert pool.policy.stall_s == 3 * 2.0  # three block times
    assert pool.probe_interval_s == 2.0  # one block time
    assert pool.observer is not None


def test_written_values_reach_the_pool(tmp_path: Path) -> None:
    text = BASE + "    rpc_timeout_s: 2.5\n    rpc_max_lag_blocks: 10\n    rpc_stall_blocks: 4\n"
    pool = _load(tmp_path, text + "    rpc_bench_max_s: 30\n").pool
    assert (pool.timeout_s, pool.policy.max_lag_blocks, pool.policy.stall_s, pool.policy.bench_max_s) == (
        2.5, 10, 8.0, 30.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("line", "field", "hint"),
    [
        ("rpc_timeout_s: 0", "rpc_timeout_s", "> 0"),
        ("rpc_max_lag_blocks: -1", "rpc_max_lag_blocks", ">= 0"),
        ("rpc_stall_blocks: 0", "rpc_stall_blocks", ">= 1"),
        ("rpc_bench_max_s: fast", "rpc_bench_max_s", "number"),
    ],
)
def test_bad_values_name_file_line_field_and_fix(tmp_path: Path, line: str, field: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, BASE + f"    {line}\n")
    message = str(info.value)
    assert f"config.yaml line 6, chains[0].{field}:" in message, message
    assert hint in message, message
