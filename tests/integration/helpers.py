"""Small helpers for tests that act on the devnet as an outside liquidator would."""

from __future__ import annotations

from typing import Any

from liqbot.harness.devnet import manager, report
from liqbot.harness.devnet.positions import PositionHealth
from liqbot.harness.devnet.rpc import LIQUIDATOR, DevnetRpc

WAD = 10**18
MAX_UINT = 2**256 - 1


def fund(rpc: DevnetRpc, token: str, spender: str, amount: int, who: str = LIQUIDATOR) -> None:
    t = rpc.contract("MintableERC20", token)
    rpc.transact(t.functions.mint(amount), sender=who)
    rpc.transact(t.functions.approve(spender, MAX_UINT), sender=who)


def balance(rpc: DevnetRpc, token: str, who: str) -> int:
    return int(rpc.contract("MintableERC20", token).functions.balanceOf(who).call())


def book(devnet: manager.Devnet) -> dict[str, dict[str, Any]]:
    return {b["address"]: b for b in manager.borrowers(devnet)}


def positions(devnet: manager.Devnet, protocol: str) -> list[PositionHealth]:
    return [p for p in report.health(devnet, devnet.chains[0].name) if p.protocol == protocol]
