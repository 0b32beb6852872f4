"""Start and stop anvil processes, by pid, on 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet.paths import anvil_binary

HOST = "127.0.0.1"


@dataclass(frozen=True)
class AnvilProcess:
    pid: int
    port: int
    chain_id: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(
    port: int,
    chain_id: int,
    log: Path,
    *,
    load_state: Path | None = None,
    block_time: float | None = None,
    base_fee_gwei: float | None = None,
) -> AnvilProcess:
    """Launch anvil in the background and wait until it answers."""
    if port_in_use(port):
        raise DevnetError(
            f"port {port} on {HOST} is already in use: stop what runs there, or pass --port with a free port"
        )
    cmd = [
        str(anvil_binary()),
        "--host",
        HOST,
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--accounts",
        "10",
        "--balance",
        "1000000",
        "--gas-limit",
        "30000000",
        "--code-size-limit",
        "49152",
    ]
    if load_state is not None:
        cmd += ["--load-state", str(load_state)]
    if block_time:
        cmd += ["--block-time", str(block_time)]
    if base_fee_gwei is not None:
        cmd += ["--block-base-fee-per-gas", str(int(base_fee_gwei * 10**9))]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - pinned local binary, fixed argv
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-400:]
            raise DevnetError(f"anvil exited at start (code {proc.returncode}); its log {log} ends: {tail}")
        if port_in_use(port):
            return AnvilProcess(pid=proc.pid, port=port, chain_id=chain_id, log=log)
        time.sleep(0.05)
    stop(proc.pid)
    raise DevnetError(f"anvil did not answer on port {port} within 30 s; see {log}")


def stop(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. True if the process was running."""
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = 0 if pid_alive(pid) else pid
        if done or not pid_alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True
