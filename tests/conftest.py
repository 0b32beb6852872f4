"""Shared fixtures. Devnet fixtures start one anvil per test worker (from the cached deployed state), seed it
once, and give every test a clean chain by evm_snapshot / evm_revert."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from liqbot.harness.devnet import manager
from liqbot.harness.devnet.paths import node_modules
from liqbot.harness.devnet.rpc import DevnetRpc

SEEDED_BORROWERS = 200


def _worker_offset() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)


def _port(slot: int) -> int:
    return 28545 + _worker_offset() * 10 + slot


@pytest.fixture(scope="session")
def npm_ready() -> None:
    node_modules()  # raises DevnetError with the install hint if missing: fail, don't skip


def _start(
    tmp_path_factory: pytest.TempPathFactory, name: str, slot: int, l2: bool
) -> Iterator[manager.Devnet]:
    state_dir: Path = tmp_path_factory.mktemp(name)
    devnet = manager.up(state_dir, l2=l2, port=_port(slot), block_time=0)
    try:
        manager.do_populate(devnet, SEEDED_BORROWERS, seed=11)
        yield devnet
    finally:
        manager.down(state_dir)


@pytest.fixture(scope="session")
def devnet(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    """An L1-like devnet with SEEDED_BORROWERS positions, automine on."""
    yield from _start(tmp_path_factory, "devnet", 0, l2=False)


@pytest.fixture(scope="session")
def devnet_l2(npm_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.Devnet]:
    """Like `devnet`, with Aave's sequencer oracle and PriceOracleSentinel wired in."""
    yield from _start(tmp_path_factory, "devnet-l2", 1, l2=True)


def _clean(d: manager.Devnet) -> Iterator[DevnetRpc]:
    rpc = d.rpc()
    snap = rpc.snapshot()
    try:
        yield rpc
    finally:
        rpc.revert(snap)


@pytest.fixture
def chain(devnet: manager.Devnet) -> Iterator[DevnetRpc]:
    """The seeded devnet, reverted to its seeded state after the test."""
    yield from _clean(devnet)


@pytest.fixture
def chain_l2(devnet_l2: manager.Devnet) -> Iterator[DevnetRpc]:
    yield from _clean(devnet_l2)
