"""Bad input to `liqbot devnet` gets one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from liqbot.harness.devnet import manager

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
    proc = run("devnet", "up", "--dir", str(devnet.dir), "--port", "29999")
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
        "devnet", "up", "--dir", str(tmp_path / "d"), "--port", "29998", env={"LIQBOT_HOME": str(tmp_path)}
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
