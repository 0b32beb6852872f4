"""Shared fixtures. Devnet fixtures start one anvil per test worker (from the cached deployed state), seed it
once, and give every test a clean chain by evm_snapshot / evm_revert."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from liqbot.harness.devnet import anvil, manager
from liqbot.harness.devnet.paths import node_modules
from liqbot.harness.devnet.rpc import DevnetRpc

SEEDED_BORROWERS = 200


def free_port_block(n: int = 1) -> int:
    """A base port with `n` free consecutive ports, so parallel test runs on one machine never collide."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n < 65000 and not any(anvil.port_in_use(base + i) for i in range(n)):
            return base
    raise RuntimeError("no free port block found on 127.0.0.1")


@pytest.fixture(scope="session")
def npm_ready() -> None:
    node_modules()  # raises DevnetError with the install hint if missing: fail, don't skip


def seeded_devnet(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    *,
    borrowers: int = SEEDED_BORROWERS,
    seed: int = 11,
    block_time: float = 0,
    l2: bool = False,
) -> Iterator[manager.Devnet]:
    """A devnet of its own (port block, state dir) with seeded borrowers, stopped by pid afterwards."""
    state_dir: Path = tmp_path_factory.mktemp(name)
    devnet = manager.up(state_dir, l2=l2, port=free_port_block(), block_time=block_time)
    try:
        manager.do_populate(devnet, borrowers, seed=seed)
        yield devnet
    finally:
        manager.down(state_dir)


@pytest.fixture(scope="session")
def devnet(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    """An L1-like devnet with SEEDED_BORROWERS positions, automine on."""
    yield from seeded_devnet(tmp_path_factory, "devnet")


@pytest.fixture(scope="session")
def devnet_l2(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    """Like `devnet`, with Aave's sequencer oracle and PriceOracleSentinel wired in."""
    yield from seeded_devnet(tmp_path_factory, "devnet-l2", l2=True)


def _clean(d: manager.Devnet) -> Iterator[DevnetRpc]:
    rpc = d.rpc()
    snap = rpc.snapshot()
    try:
        yield rpc
    finally:
        rpc.revert(snap)
        # anvil keeps a forced next-block base fee across evm_revert: put the chain's own back.
        base = rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"]
        rpc.call("anvil_setNextBlockBaseFeePerGas", base)


@pytest.fixture
def chain(devnet: manager.Devnet) -> Iterator[DevnetRpc]:
    """The seeded devnet, reverted to its seeded state after the test."""
    yield from _clean(devnet)


@pytest.fixture
def chain_l2(devnet_l2: manager.Devnet) -> Iterator[DevnetRpc]:
    yield from _clean(devnet_l2)
