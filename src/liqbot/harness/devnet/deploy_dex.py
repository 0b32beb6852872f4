"""Deploy Uniswap V3 (factory, SwapRouter, QuoterV2, position manager) and deep full-range pools
at the oracle prices."""

from __future__ import annotations

from math import isqrt
from typing import Any

from liqbot.harness.devnet import artifacts, spec
from liqbot.harness.devnet.deploy_aave import MAX_UINT, ZERO
from liqbot.harness.devnet.rpc import WHALE, DevnetRpc

MIN_TICK, MAX_TICK = -887272, 887272
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}
Q96 = 2**96


def sqrt_price_x96(price0: int, dec0: int, price1: int, dec1: int) -> int:
    """sqrt(raw token1 per raw token0) in Q64.96, from the two USD prices (same decimals)."""
    return isqrt(price0 * 10**dec1 * 2**192 // (price1 * 10**dec0))


def sorted_pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def deploy_uniswap(rpc: DevnetRpc, tokens: dict[str, dict[str, Any]]) -> dict[str, Any]:
    factory = rpc.deploy(artifacts.load("UniswapV3Factory"))
    rpc.transact(rpc.contract("UniswapV3Factory", factory).functions.enableFeeAmount(100, 1))
    weth = tokens["WETH"]["address"]
    router = rpc.deploy(artifacts.load("SwapRouter"), factory, weth)
    quoter = rpc.deploy(artifacts.load("QuoterV2"), factory, weth)
    npm = rpc.deploy(artifacts.load("NonfungiblePositionManager"), factory, weth, ZERO)
    pools = [_create_pool(rpc, factory, npm, tokens, a, b, fee) for a, b, fee in spec.POOLS]
    return {
        "factory": factory,
        "swap_router": router,
        "quoter_v2": quoter,
        "position_manager": npm,
        "pools": pools,
    }


def _create_pool(
    rpc: DevnetRpc, factory: str, npm: str, tokens: dict[str, dict[str, Any]], a: str, b: str, fee: int
) -> dict[str, Any]:
    t0, t1 = sorted_pair(tokens[a]["address"], tokens[b]["address"])
    s0, s1 = (a, b) if t0 == tokens[a]["address"] else (b, a)
    spec0, spec1 = spec.TOKEN_BY_SYMBOL[s0], spec.TOKEN_BY_SYMBOL[s1]
    sqrt_p = sqrt_price_x96(spec0.price, spec0.decimals, spec1.price, spec1.decimals)
    f = rpc.contract("UniswapV3Factory", factory)
    rpc.transact(f.functions.createPool(t0, t1, fee))
    pool = f.functions.getPool(t0, t1, fee).call()
    rpc.transact(rpc.contract("UniswapV3Pool", pool).functions.initialize(sqrt_p))
    # Half the depth on each side, in raw units at the oracle price.
    half = spec.POOL_DEPTH_USD // 2 * 10**spec.FEED_DECIMALS
    amount0 = half * 10**spec0.decimals // spec0.price
    amount1 = half * 10**spec1.decimals // spec1.price
    for addr, amount in ((t0, amount0), (t1, amount1)):
        token = rpc.contract("MintableERC20", addr)
        rpc.transact(token.functions.mint(WHALE, amount))
        rpc.transact(token.functions.approve(npm, MAX_UINT), sender=WHALE)
    spacing = TICK_SPACING[fee]
    lower, upper = -(-MIN_TICK // spacing) * spacing, (MAX_TICK // spacing) * spacing
    deadline = 2**40
    params = (t0, t1, fee, lower, upper, amount0, amount1, 0, 0, WHALE, deadline)
    mint = rpc.contract("NonfungiblePositionManager", npm).functions.mint(params)
    # The node's estimate for mint is sometimes short (DEVNET-NOTES): pad it.
    rpc.transact(mint, sender=WHALE, gas=int(mint.estimate_gas({"from": WHALE}) * 3 // 2))
    return {"address": pool, "token0": t0, "token1": t1, "symbol0": s0, "symbol1": s1, "fee": fee}
