"""Move an asset's price: its Chainlink-style feed, the Morpho oracles that use it, and the Uniswap pools."""

from __future__ import annotations

from math import isqrt
from typing import Any

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet import spec
from liqbot.harness.devnet.deploy_aave import MAX_UINT
from liqbot.harness.devnet.deploy_dex import Q96
from liqbot.harness.devnet.rpc import ADMIN, WHALE, DevnetRpc
from liqbot.harness.devnet.txbatch import ManualMining, Tx, send_all

FEED_ABI = [
    {"name": "latestAnswer", "type": "function", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "int256"}]},
    {"name": "setAnswer", "type": "function", "stateMutability": "nonpayable",
     "inputs": [{"name": "answer", "type": "int256"}], "outputs": []},
]  # fmt: skip
ORACLE_MOCK_ABI = [
    {"name": "setPrice", "type": "function", "stateMutability": "nonpayable",
     "inputs": [{"name": "newPrice", "type": "uint256"}], "outputs": []},
]  # fmt: skip


def feed_prices(rpc: DevnetRpc, a: dict[str, Any]) -> dict[str, int]:
    return {
        s: int(rpc.contract(FEED_ABI, t["feed"]).functions.latestAnswer().call())
        for s, t in a["tokens"].items()
    }


def shock(
    rpc: DevnetRpc, a: dict[str, Any], asset: str, pct: float, block_time: float | None
) -> dict[str, int]:
    """Move `asset` by `pct` percent in one block: the feed, the Morpho oracles, and the pools (arbitraged).

    Returns {"old": price, "new": price, "block": n} (prices with 8 decimals)."""
    if asset not in a["tokens"]:
        known = ", ".join(a["tokens"])
        raise DevnetError(f"unknown asset {asset!r}: the devnet has {known}")
    if not -99 < pct < 1000:
        raise DevnetError(f"--pct {pct} is out of range: use a move between -99 and +1000 percent")
    prices = feed_prices(rpc, a)
    old = prices[asset]
    new = old * round((100 + pct) * 10_000) // 1_000_000
    feed = rpc.contract(FEED_ABI, a["tokens"][asset]["feed"])
    txs = [Tx(ADMIN, feed.address, feed.encode_abi("setAnswer", args=[new]), 150_000, "setAnswer")]
    prices[asset] = new
    for m in a["morpho"]["markets"]:
        if asset in (m["collateral"], m["loan"]):
            c, lo = spec.TOKEN_BY_SYMBOL[m["collateral"]], spec.TOKEN_BY_SYMBOL[m["loan"]]
            price = prices[c.symbol] * 10 ** (36 + lo.decimals - c.decimals) // prices[lo.symbol]
            oracle = rpc.contract(ORACLE_MOCK_ABI, m["oracle"])
            txs.append(
                Tx(ADMIN, oracle.address, oracle.encode_abi("setPrice", args=[price]), 100_000, "setPrice")
            )
    for pool in a["uniswap"]["pools"]:
        if asset in (pool["symbol0"], pool["symbol1"]):
            txs += arbitrage_txs(rpc, a, pool, prices)
    senders = [ADMIN, WHALE]
    counts = rpc.batch([("eth_getTransactionCount", [s, "latest"]) for s in senders])
    nonces = {s: int(c, 16) for s, c in zip(senders, counts, strict=True)}
    with ManualMining(rpc, block_time):
        send_all(rpc, txs, nonces)
    return {"old": old, "new": new, "block": rpc.w3.eth.block_number}


def arbitrage_txs(
    rpc: DevnetRpc, a: dict[str, Any], pool: dict[str, Any], prices: dict[str, int]
) -> list[Tx]:
    """Swap through the pool until its price equals the oracle ratio (the swap stops at the price limit)."""
    s0, s1 = spec.TOKEN_BY_SYMBOL[pool["symbol0"]], spec.TOKEN_BY_SYMBOL[pool["symbol1"]]
    target = isqrt(prices[s0.symbol] * 10**s1.decimals * 2**192 // (prices[s1.symbol] * 10**s0.decimals))
    pc = rpc.contract("UniswapV3Pool", pool["address"])
    current = int(pc.functions.slot0().call()[0])
    liquidity = int(pc.functions.liquidity().call())
    if target == current or liquidity == 0:
        return []
    zero_for_one = target < current
    if zero_for_one:  # sell token0: Δx = L·Q96·(√a − √b)/(√a·√b)
        needed = liquidity * Q96 * (current - target) // (current * target)
        token_in, token_out = pool["token0"], pool["token1"]
    else:  # sell token1: Δy = L·(√b − √a)/Q96
        needed = liquidity * (target - current) // Q96
        token_in, token_out = pool["token1"], pool["token0"]
    amount_in = needed * 1_000_000 // (1_000_000 - pool["fee"]) * 101 // 100 + 1
    token = rpc.contract("MintableERC20", token_in)
    router = rpc.contract("SwapRouter", a["uniswap"]["swap_router"])
    params = (token_in, token_out, pool["fee"], WHALE, 2**40, amount_in, 0, target)
    return [
        Tx(WHALE, token_in, token.encode_abi("mint", args=[WHALE, amount_in]), 120_000, "mint"),
        Tx(WHALE, token_in, token.encode_abi("approve", args=[router.address, MAX_UINT]), 80_000, "approve"),
        Tx(WHALE, router.address, router.encode_abi("exactInputSingle", args=[params]), 600_000, "swap"),
    ]


def refresh_feeds(rpc: DevnetRpc, a: dict[str, Any]) -> None:
    """Re-post every feed's answer: a state loaded from the cache carries the deploy day's updatedAt, and a
    price that old would (rightly) be refused as stale."""
    prices = feed_prices(rpc, a)
    for sym, t in a["tokens"].items():
        rpc.transact(rpc.contract(FEED_ABI, t["feed"]).functions.setAnswer(prices[sym]), sender=ADMIN)
