"""Seeded borrowers on Aave (mixed pairs, some eMode) and Morpho, with health factors from ~1.02 to ~3."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address

from liqbot.harness.devnet import spec
from liqbot.harness.devnet.deploy_aave import MAX_UINT
from liqbot.harness.devnet.rpc import ADMIN, DevnetRpc
from liqbot.harness.devnet.txbatch import ManualMining, Tx, send_all

BPS = 10_000
HF_MIN, HF_MAX = 1.02, 3.0
GAS = {"mint": 120_000, "approve": 80_000, "supply": 350_000, "borrow": 500_000, "emode": 200_000}
VOLATILE = ("WETH", "WBTC")
STABLE = ("USDC", "DAI")


@dataclass
class Borrower:
    address: str
    protocol: str  # "aave_v3" | "morpho_blue"
    target_hf: float
    collateral: dict[str, int] = field(default_factory=dict)  # symbol -> raw amount
    debt: dict[str, int] = field(default_factory=dict)
    emode: int = 0
    market: str | None = None  # Morpho market id


def borrower_address(seed: int, i: int) -> str:
    return to_checksum_address(keccak(f"liqbot-devnet-borrower:{seed}:{i}".encode())[-20:])


def _raw(symbol: str, usd: float) -> int:
    t = spec.TOKEN_BY_SYMBOL[symbol]
    return int(usd * 10**spec.FEED_DECIMALS) * int(10**t.decimals) // t.price


def _target_hf(rng: random.Random) -> float:
    # Skewed toward the low end, where liquidations happen, but reaching ~3.
    return round(HF_MIN + (HF_MAX - HF_MIN) * rng.random() ** 2, 4)


def plan(seed: int, n: int, morpho_markets: list[dict[str, Any]]) -> list[Borrower]:
    """Decide every borrower's position. Pure: the same seed gives the same plan."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    out = []
    for i in range(n):
        addr, hf = borrower_address(seed, i), _target_hf(rng)
        size = 10 ** rng.uniform(3, 5.4)  # $1k .. $250k of collateral
        kind = rng.random()
        if morpho_markets and kind < 0.2:
            m = rng.choice(morpho_markets)
            b = Borrower(addr, "morpho_blue", hf, market=m["id"])
            b.collateral[m["collateral"]] = _raw(m["collateral"], size)
            b.debt[m["loan"]] = _raw(m["loan"], size * m["lltv"] / spec.WAD / hf)
        elif kind < 0.35:
            a, d = rng.sample(STABLE, 2)
            b = Borrower(addr, "aave_v3", hf, emode=spec.EMODE_CATEGORY.id)
            b.collateral[a] = _raw(a, size)
            b.debt[d] = _raw(d, size * spec.EMODE_CATEGORY.liquidation_threshold / BPS / hf)
        else:
            b = Borrower(addr, "aave_v3", hf)
            colls = rng.sample((*VOLATILE, "DAI"), rng.choice((1, 1, 2)))
            weights = [rng.uniform(0.3, 1.0) for _ in colls]
            capacity = 0.0
            for c, w in zip(colls, weights, strict=True):
                usd = size * w / sum(weights)
                b.collateral[c] = _raw(c, usd)
                capacity += usd * spec.TOKEN_BY_SYMBOL[c].liquidation_threshold / BPS
            debts = [s for s in spec.TOKEN_BY_SYMBOL if s not in colls]
            chosen = rng.sample(debts, rng.choice((1, 1, 2)))
            for d in chosen:
                b.debt[d] = _raw(d, capacity / hf / len(chosen))
        out.append(b)
    return out


def _aave_txs(rpc: DevnetRpc, a: dict[str, Any], b: Borrower) -> list[Tx]:
    pool = rpc.contract("Pool", a["aave"]["pool"])
    txs = []
    for sym, amount in b.collateral.items():
        token = rpc.contract("MintableERC20", a["tokens"][sym]["address"])
        txs += [
            Tx(b.address, token.address, token.encode_abi("mint", args=[amount]), GAS["mint"], "mint"),
            Tx(
                b.address,
                token.address,
                token.encode_abi("approve", args=[pool.address, MAX_UINT]),
                GAS["approve"],
                "approve",
            ),
            Tx(
                b.address,
                pool.address,
                pool.encode_abi("supply", args=[token.address, amount, b.address, 0]),
                GAS["supply"],
                "supply",
            ),
        ]
    if b.emode:
        txs.append(
            Tx(
                b.address,
                pool.address,
                pool.encode_abi("setUserEMode", args=[b.emode]),
                GAS["emode"],
                "emode",
            )
        )
    for sym, amount in b.debt.items():
        asset = a["tokens"][sym]["address"]
        data = pool.encode_abi("borrow", args=[asset, amount, 2, 0, b.address])
        txs.append(Tx(b.address, pool.address, data, GAS["borrow"], "borrow"))
    return txs


def _morpho_txs(rpc: DevnetRpc, a: dict[str, Any], morpho_abi: list[dict[str, Any]], b: Borrower) -> list[Tx]:
    m = next(x for x in a["morpho"]["markets"] if x["id"] == b.market)
    morpho = rpc.contract(morpho_abi, a["morpho"]["morpho"])
    params = (m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], m["lltv"])
    token = rpc.contract("MintableERC20", m["collateral_token"])
    (coll,) = b.collateral.values()
    (debt,) = b.debt.values()
    return [
        Tx(b.address, token.address, token.encode_abi("mint", args=[coll]), GAS["mint"], "mint"),
        Tx(
            b.address,
            token.address,
            token.encode_abi("approve", args=[morpho.address, MAX_UINT]),
            GAS["approve"],
            "approve",
        ),
        Tx(
            b.address,
            morpho.address,
            morpho.encode_abi("supplyCollateral", args=[params, coll, b.address, b""]),
            GAS["supply"],
            "supplyCollateral",
        ),
        Tx(
            b.address,
            morpho.address,
            morpho.encode_abi("borrow", args=[params, debt, 0, b.address, b.address]),
            GAS["borrow"],
            "borrow",
        ),
    ]


def _ltv_txs(rpc: DevnetRpc, a: dict[str, Any], raised: bool) -> list[Tx]:
    """Borrowing is capped by LTV, below the threshold: lift LTV to LT while seeding positions near HF 1."""
    conf = rpc.contract("PoolConfigurator", a["aave"]["pool_configurator"])
    txs = []
    for t in spec.TOKENS:
        ltv = t.liquidation_threshold if raised else t.ltv
        args = [a["tokens"][t.symbol]["address"], ltv, t.liquidation_threshold, t.liquidation_bonus]
        txs.append(
            Tx(
                ADMIN,
                conf.address,
                conf.encode_abi("configureReserveAsCollateral", args=args),
                200_000,
                "ltv",
            )
        )
    e = spec.EMODE_CATEGORY
    args = [e.id, e.liquidation_threshold if raised else e.ltv, e.liquidation_threshold]
    args += [e.liquidation_bonus, "0x0000000000000000000000000000000000000000", e.label]
    txs.append(Tx(ADMIN, conf.address, conf.encode_abi("setEModeCategory", args=args), 300_000, "emode ltv"))
    return txs


def populate(
    rpc: DevnetRpc,
    addresses: dict[str, Any],
    morpho_abi: list[dict[str, Any]],
    n: int,
    seed: int,
    block_time: float | None,
) -> list[Borrower]:
    borrowers = plan(seed, n, addresses["morpho"]["markets"])
    senders = [ADMIN] + [b.address for b in borrowers]
    rpc.call("anvil_autoImpersonateAccount", True)
    rpc.batch([("anvil_setBalance", [b.address, hex(10**20)]) for b in borrowers])
    counts = rpc.batch([("eth_getTransactionCount", [s, "latest"]) for s in senders])
    nonces = {s: int(c, 16) for s, c in zip(senders, counts, strict=True)}
    txs = _ltv_txs(rpc, addresses, raised=True)
    for b in borrowers:
        txs += (
            _aave_txs(rpc, addresses, b)
            if b.protocol == "aave_v3"
            else _morpho_txs(rpc, addresses, morpho_abi, b)
        )
    try:
        with ManualMining(rpc, block_time):
            try:
                send_all(rpc, txs, nonces)
            finally:
                send_all(rpc, _ltv_txs(rpc, addresses, raised=False), nonces)
    finally:
        rpc.call("anvil_autoImpersonateAccount", False)
    return borrowers
