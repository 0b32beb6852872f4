"""Read every seeded position's health straight from the contracts (the naive way: one call per borrower,
batched through Multicall3). The demo and the tests use it as ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode

from liqbot.harness.devnet import spec
from liqbot.harness.devnet.rpc import DevnetRpc

WAD = 10**18
ORACLE_PRICE_SCALE = 10**36
MULTICALL_CHUNK = 500
MULTICALL3_ABI = [
    {"name": "aggregate3", "type": "function", "stateMutability": "payable",
     "inputs": [{"name": "calls", "type": "tuple[]", "components": [
         {"name": "target", "type": "address"}, {"name": "allowFailure", "type": "bool"},
         {"name": "callData", "type": "bytes"}]}],
     "outputs": [{"name": "returnData", "type": "tuple[]", "components": [
         {"name": "success", "type": "bool"}, {"name": "returnData", "type": "bytes"}]}]},
]  # fmt: skip


@dataclass(frozen=True)
class PositionHealth:
    borrower: str
    protocol: str
    market: str
    health_factor: int  # wad
    collateral_usd: float
    debt_usd: float


def multicall(rpc: DevnetRpc, calls: Sequence[tuple[str, bytes]]) -> list[bytes]:
    mc = rpc.contract(MULTICALL3_ABI, spec.MULTICALL3_ADDRESS)
    out: list[bytes] = []
    for i in range(0, len(calls), MULTICALL_CHUNK):
        chunk = [(t, False, d) for t, d in calls[i : i + MULTICALL_CHUNK]]
        out += [bytes(r[1]) for r in mc.functions.aggregate3(chunk).call()]
    return out


def aave_health(rpc: DevnetRpc, a: dict[str, Any], borrowers: list[str]) -> list[PositionHealth]:
    pool = rpc.contract("Pool", a["aave"]["pool"])
    data = (
        bytes.fromhex(pool.encode_abi("getUserAccountData", args=[borrowers[0]])[2:10]) if borrowers else b""
    )
    calls = [(pool.address, data + bytes(12) + bytes.fromhex(b[2:])) for b in borrowers]
    out = []
    for b, raw in zip(borrowers, multicall(rpc, calls), strict=True):
        coll, debt, _avail, _lt, _ltv, hf = decode(["uint256"] * 6, raw)
        out.append(PositionHealth(b, "aave_v3", a["aave"]["pool"], hf, coll / 1e8, debt / 1e8))
    return out


def morpho_health(
    rpc: DevnetRpc, a: dict[str, Any], morpho_abi: list[dict[str, Any]], borrowers: list[tuple[str, str]]
) -> list[PositionHealth]:
    """(borrower, market id) pairs → health = max borrow at LLTV / borrowed (Morpho's own rounding)."""
    morpho = rpc.contract(morpho_abi, a["morpho"]["morpho"])
    out = []
    markets = {m["id"]: m for m in a["morpho"]["markets"]}
    for mid, m in markets.items():
        users = [b for b, bm in borrowers if bm == mid]
        if not users:
            continue
        _ts, _tss, total_borrow, total_shares, _lu, _fee = morpho.functions.market(mid).call()
        price = int(rpc.contract([_PRICE_ABI], m["oracle"]).functions.price().call())
        calls = [
            (morpho.address, bytes.fromhex(morpho.encode_abi("position", args=[mid, u])[2:])) for u in users
        ]
        loan = spec.TOKEN_BY_SYMBOL[m["loan"]]
        for u, raw in zip(users, multicall(rpc, calls), strict=True):
            _supply_shares, borrow_shares, collateral = decode(["uint256", "uint128", "uint128"], raw)
            # toAssetsUp with Morpho's virtual shares (1e6) and virtual assets (1).
            borrowed = -(-borrow_shares * (total_borrow + 1) // (total_shares + 10**6))
            max_borrow = collateral * price // ORACLE_PRICE_SCALE * m["lltv"] // WAD
            hf = max_borrow * WAD // borrowed if borrowed else 2**256 - 1
            debt_usd = borrowed / 10**loan.decimals * loan.price / 1e8
            coll_usd = collateral * price // ORACLE_PRICE_SCALE / 10**loan.decimals * loan.price / 1e8
            out.append(PositionHealth(u, "morpho_blue", mid, hf, coll_usd, debt_usd))
    return out


_PRICE_ABI = {"name": "price", "type": "function", "stateMutability": "view", "inputs": [],
              "outputs": [{"name": "", "type": "uint256"}]}  # fmt: skip
