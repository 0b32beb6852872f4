"""Quotes and fees against the devnet: the one-call multicall quote equals QuoterV2 called directly, it
follows a price shock, the fee market follows the base fee, and the OP L1 fee equals the oracle's formula."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import Web3Exception

from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.pricing import quotes
from liqbot.pricing.gas import TxShape, fee_bid, fetch_fee_market, l1_data_fee, unsigned_eip1559_tx
from liqbot.pricing.quotes import FEE_TIERS, QuoteRequest, SwapQuote, quote_best, quote_many

pytestmark = pytest.mark.devnet

GWEI = 10**9
T = TypeVar("T")


def run(url: str, use: Callable[[AsyncWeb3[Any]], Awaitable[T]], *, bare: bool = False) -> T:
    """`bare`: no middleware, as a latency-minded engine would build it (the default validation middleware
    sends eth_chainId before every eth_call)."""

    async def go() -> T:
        provider = AsyncHTTPProvider(url, request_kwargs={"timeout": 30})
        w3 = AsyncWeb3(provider, middleware=[]) if bare else AsyncWeb3(provider)
        try:
            return await use(w3)
        finally:
            await w3.provider.disconnect()

    return asyncio.run(go())


def direct(chain: DevnetRpc, quoter: str, req: QuoteRequest, fee: int, block: int) -> tuple[int, int] | None:
    """QuoterV2 called on its own for one tier: (amountOut, gasEstimate), None when the tier reverts."""
    q = chain.contract("QuoterV2", quoter)
    params = (chain.w3.to_checksum_address(req.token_in), chain.w3.to_checksum_address(req.token_out),
              req.amount_in, fee, 0)  # fmt: skip
    try:
        out = q.functions.quoteExactInputSingle(params).call(block_identifier=block)
    except Web3Exception:
        return None
    return int(out[0]), int(out[3])


def best_direct(chain: DevnetRpc, quoter: str, req: QuoteRequest, block: int) -> SwapQuote | None:
    best = None
    for fee in FEE_TIERS:
        got = direct(chain, quoter, req, fee, block)
        if got and got[0] > 0 and (best is None or got[0] > best.amount_out):
            best = SwapQuote(got[0], fee, got[1])
    return best


def same_quote(a: SwapQuote | None, b: SwapQuote | None) -> bool:
    """Same output to the wei and same tier. QuoterV2's gas estimate depends on which slots earlier calls in
    the same multicall warmed (EIP-2929), so it only has to be close."""
    if a is None or b is None:
        return a is b
    close = abs(a.gas_estimate - b.gas_estimate) * 4 <= b.gas_estimate
    return (a.amount_out, a.fee_tier) == (b.amount_out, b.fee_tier) and close


def token(devnet: manager.Devnet, symbol: str) -> str:
    return str(devnet.addresses()["tokens"][symbol]["address"])


def test_multicall_quote_equals_quoter_v2_for_the_best_tier(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    quoter = devnet.addresses()["uniswap"]["quoter_v2"]
    block = chain.w3.eth.block_number
    req = QuoteRequest.of(token(devnet, "WETH"), token(devnet, "USDC"), 25 * 10**18)
    got = run(devnet.chains[0].url, lambda w3: quote_best(w3, quoter, *req, block=block))
    assert got is not None
    assert got.fee_tier in (500, 3000)  # the devnet's two WETH/USDC pools
    alone = direct(chain, quoter, req, got.fee_tier, block)
    assert alone is not None
    assert alone[0] == got.amount_out
    assert same_quote(got, best_direct(chain, quoter, req, block))
    assert direct(chain, quoter, req, 100, block) is None  # no 0.01% pool: the tier reverts


def test_quote_many_in_chunks_equals_each_direct_quote(
    devnet: manager.Devnet, chain: DevnetRpc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quotes, "MAX_CALLS_PER_ETH_CALL", 8)  # two requests per eth_call: several chunks
    quoter = devnet.addresses()["uniswap"]["quoter_v2"]
    block = chain.w3.eth.block_number
    weth, usdc, wbtc, dai = (token(devnet, s) for s in ("WETH", "USDC", "WBTC", "DAI"))
    reqs = [
        QuoteRequest.of(weth, usdc, 3 * 10**18),
        QuoteRequest.of(usdc, weth, 50_000 * 10**6),
        QuoteRequest.of(wbtc, dai, 2 * 10**8),
        QuoteRequest.of(dai, usdc, 1_000_000 * 10**18),
        QuoteRequest.of(wbtc, weth, 10**7),
    ]
    got = run(devnet.chains[0].url, lambda w3: quote_many(w3, quoter, reqs, block=block), bare=True)
    assert set(got) == set(reqs)
    for req in reqs:
        assert got[req] is not None
        assert same_quote(got[req], best_direct(chain, quoter, req, block)), req


def test_the_quote_follows_a_price_shock(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    quoter = devnet.addresses()["uniswap"]["quoter_v2"]
    weth, usdc = token(devnet, "WETH"), token(devnet, "USDC")
    url = devnet.chains[0].url
    before = run(url, lambda w3: quote_best(w3, quoter, weth, usdc, 10**18))
    manager.do_shock(devnet, "WETH", -20)
    after = run(url, lambda w3: quote_best(w3, quoter, weth, usdc, 10**18))
    assert before is not None
    assert after is not None
    # The pools were arbitraged to the new oracle price: about 20% fewer USDC per WETH.
    assert 78 * before.amount_out < 100 * after.amount_out < 82 * before.amount_out


def test_fee_market_follows_the_base_fee(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    chain.call("anvil_setNextBlockBaseFeePerGas", hex(20 * GWEI))
    chain.mine()
    market = run(devnet.chains[0].url, fetch_fee_market, bare=True)
    assert market == run(devnet.chains[0].url, fetch_fee_market)
    assert market is not None
    assert market.base_fee == 20 * GWEI
    assert market.next_base_fee == 20 * GWEI * 7 // 8  # an empty block: the base fee falls by 1/8
    latest = chain.w3.eth.get_block("latest")
    assert latest["baseFeePerGas"] == 20 * GWEI
    # A $1,000-at-3,000-USD/ETH budget over 900k gas: the tip is capped, max fee = 2 × base + tip.
    bid = fee_bid(market.next_base_fee, 900_000, 10**18 // 3, Decimal("0.2"), 2 * GWEI)
    assert bid.max_fee_per_gas == 2 * market.next_base_fee + 2 * GWEI


def test_op_l1_fee_on_the_l2_devnet(devnet_l2: manager.Devnet, chain_l2: DevnetRpc) -> None:
    oracle = devnet_l2.addresses()["l2"]["gas_price_oracle"]
    tx = TxShape(chain_id=10, to="0x" + "cd" * 20, data=b"\x12" * 100, gas_limit=900_000,
                 max_fee_per_gas=GWEI, max_priority_fee_per_gas=10**6)  # fmt: skip
    fee = run(devnet_l2.chains[0].url, lambda w3: l1_data_fee(w3, "op-stack", tx, op_oracle=oracle))
    raw = unsigned_eip1559_tx(tx)
    gas = sum(4 if b == 0 else 16 for b in raw) + 68 * 16
    per_gas = 16 * 1368 * 30 * GWEI + 810949 * GWEI  # the stand-in's default Ecotone parameters
    assert fee == gas * per_gas // (16 * 10**6)
    assert fee == 308_560_587_250  # the value tests/unit/test_pricing.py stubs for the same tx
