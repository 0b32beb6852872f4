"""Bad input to `liqbot devnet` gets one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from liqbot.config import load_config
from liqbot.harness.devnet import anvil, manager

from ..conftest import free_port_block

pytestmark = pytest.mark.devnet


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {}), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "liqbot", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=120, check=False)


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 or all(ln.startswith(" ") for ln in lines[1:]), proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr


def test_second_up_while_running(devnet: manager.Devnet) -> None:
    proc = run("devnet", "up", "--dir", str(devnet.dir), "--port", str(free_port_block()))
    assert_one_clear_line(proc, "already running", "liqbot devnet down")


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run("devnet", "up", "--dir", str(tmp_path), "--port", str(port))
    assert_one_clear_line(proc, f"port {port}", "already in use")


def test_unknown_asset(devnet: manager.Devnet) -> None:
    proc = run("devnet", "shock", "--dir", str(devnet.dir), "--asset", "DOGE", "--pct", "-10")
    assert_one_clear_line(proc, "unknown asset 'DOGE'", "WETH")


def test_anvil_not_installed(tmp_path: Path) -> None:
    proc = run(
        "devnet",
        "up",
        "--dir",
        str(tmp_path / "d"),
        "--port",
        str(free_port_block()),
        env={"LIQBOT_HOME": str(tmp_path)},
    )
    assert_one_clear_line(proc, "not found", "make setup")


def test_no_devnet_running(tmp_path: Path) -> None:
    assert_one_clear_line(
        run("devnet", "status", "--dir", str(tmp_path)), "no devnet is running", "devnet up"
    )


def test_unknown_chain_name(devnet: manager.Devnet) -> None:
    proc = run("devnet", "populate", "--dir", str(devnet.dir), "--chain", "mainnet", "--borrowers", "1")
    assert_one_clear_line(proc, "no devnet chain named 'mainnet'")


def test_status_and_liquidatable_tables(devnet: manager.Devnet) -> None:
    status = run("devnet", "status", "--dir", str(devnet.dir))
    assert status.returncode == 0, status.stderr
    assert str(devnet.chains[0].pid) in status.stdout and "200" in status.stdout
    table = run("devnet", "liquidatable", "--dir", str(devnet.dir))
    assert table.returncode == 0 and "0 of 200 positions liquidatable" in table.stdout


def test_generated_config_is_valid(devnet: manager.Devnet, devnet_l2: manager.Devnet) -> None:
    cfg = load_config(devnet.dir / "liqbot.yaml", env={})
    (chain,) = cfg.chains
    assert chain.chain_id == devnet.chains[0].chain_id
    assert (
        chain.protocols.aave_v3.pool_addresses_provider
        == devnet.addresses()["aave"]["pool_addresses_provider"]
    )
    l2 = load_config(devnet_l2.dir / "liqbot.yaml", env={}).chains[0]
    assert l2.l2 == "op-stack"
    assert l2.sequencer_uptime_feed == devnet_l2.addresses()["l2"]["sequencer_oracle"]
    proc = run("config", "check", str(devnet.dir / "liqbot.yaml"))
    assert proc.returncode == 0
    assert "config OK" in proc.stdout


def test_two_chains(tmp_path: Path) -> None:
    d = manager.up(tmp_path, chains=2, port=free_port_block(2), block_time=0)
    try:
        assert [c.name for c in d.chains] == ["devnet-l1", "devnet-l2"]
        assert [d.rpc(c.name).w3.eth.chain_id for c in d.chains] == [31337, 31338]
        assert d.addresses("devnet-l1")["l2"] is None
        assert d.addresses("devnet-l2")["l2"]["price_oracle_sentinel"]
        names = [c.name for c in load_config(tmp_path / "liqbot.yaml", env={}).chains]
        assert names == ["devnet-l1", "devnet-l2"]
    finally:
        stopped = manager.down(tmp_path)
    assert len(stopped) == 2
    assert not any(anvil.pid_alive(c.pid) for c in stopped)
