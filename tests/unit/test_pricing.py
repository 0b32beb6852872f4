"""Profit of a liquidation option, exact in Decimal, and every way it fails closed. Also the pure halves of
pricing.quotes and pricing.gas, and their I/O against a stubbed JSON-RPC provider."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from web3 import AsyncWeb3
from web3.providers.async_base import AsyncBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from liqbot.core.fixed import percent_mul
from liqbot.core.types import LiquidationOption, Opportunity, Skip, SkipReason
from liqbot.pricing.gas import (
    ARB_NODE_INTERFACE,
    OP_GAS_PRICE_ORACLE,
    FeeMarket,
    TxShape,
    arbitrum_l1_fee,
    fee_bid,
    fetch_fee_market,
    l1_data_fee,
    op_l1_fee,
    unsigned_eip1559_tx,
)
from liqbot.pricing.quotes import FEE_TIERS, QuoteRequest, SwapQuote, encode_quote, quote_best
from liqbot.strategy.gates import PricePoint, SequencerRule
from liqbot.strategy.pricing import (
    Evaluation,
    FlashTerms,
    GasFacts,
    MarketFacts,
    SequencerStatus,
    StrategyConfig,
    evaluate,
    quote_requests,
    usd,
)

NOW = 1_800_000_000
GWEI = 10**9
WAD = 10**18
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WBTC = "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599"
DAI = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
PRICE = {WETH: 3_000 * 10**8, USDC: 10**8, WBTC: 60_000 * 10**8, DAI: 10**8}
DECIMALS = {WETH: 18, USDC: 6, WBTC: 8, DAI: 18}


def option(
    coll: str = WETH,
    debt: str = USDC,
    debt_units: int = 10_000 * 10**6,
    bonus_bps: int = 500,
    hf: int = WAD - 1,
) -> LiquidationOption:
    """An option whose seized collateral is worth the debt plus `bonus_bps` at the oracle prices."""
    seized = debt_units * PRICE[debt] * 10 ** DECIMALS[coll] * (10_000 + bonus_bps)
    seized //= PRICE[coll] * 10 ** DECIMALS[debt] * 10_000
    return LiquidationOption(
        chain_id=1, protocol="aave_v3", market="0x" + "11" * 20, borrower="0x" + "22" * 20,
        collateral_asset=coll, debt_asset=debt, debt_to_cover=debt_units, collateral_to_liquidator=seized,
        protocol_fee=0, health_factor=hf, block=100, collateral_price=PRICE[coll], debt_price=PRICE[debt],
        collateral_decimals=DECIMALS[coll], debt_decimals=DECIMALS[debt],
    )  # fmt: skip


def fair_quote(req: QuoteRequest, fee: int = 3000) -> SwapQuote:
    """The oracle value of the input, less the pool fee."""
    t_in = next(t for t in PRICE if t.lower() == req.token_in)
    t_out = next(t for t in PRICE if t.lower() == req.token_out)
    out = req.amount_in * PRICE[t_in] * 10 ** DECIMALS[t_out] // (PRICE[t_out] * 10 ** DECIMALS[t_in])
    return SwapQuote(out * (1_000_000 - fee) // 1_000_000, fee, 120_000)


def facts(options: list[LiquidationOption], **changes: Any) -> MarketFacts:
    base = MarketFacts(
        now=NOW,
        decimals=DECIMALS,
        prices={t: PricePoint(p, NOW - 10, 3600) for t, p in PRICE.items()},
        native_price=PricePoint(PRICE[WETH], NOW - 10, 3600),
        quotes={r: fair_quote(r) for r in quote_requests(options)},
        gas=GasFacts(next_base_fee=20 * GWEI, gas_limit=900_000, priority_cap=2 * GWEI, l1_fee=0),
    )
    return dataclasses.replace(base, **changes)


CONFIG = StrategyConfig(min_profit_usd=Decimal("5"), priority_fee_profit_share=Decimal("0.2"))


def opportunity(ev: Evaluation) -> Opportunity:
    assert isinstance(ev.result, Opportunity), ev.result
    return ev.result


# --- the number itself ----------------------------------------------------------------------------------


def test_net_is_exact_decimal_and_the_sum_of_its_parts() -> None:
    o = option()  # 10,000 USDC repaid, 10,500 USD of WETH seized, sold at 0.3% pool fee
    opp = opportunity(evaluate([o], facts([o]), CONFIG))
    p = opp.profit
    parts = (p.bonus_usd, p.swap_usd, p.flash_fee_usd, p.gas_usd, p.l1_fee_usd, p.net_usd)
    assert all(type(x) is Decimal for x in parts)
    assert p.net_usd == p.bonus_usd + p.swap_usd + p.flash_fee_usd + p.gas_usd + p.l1_fee_usd
    # Tip at its 2 gwei cap: gas = 900k × 22 gwei = 0.0198 ETH = $59.40.
    assert opp.max_priority_fee_per_gas == 2 * GWEI
    assert opp.max_fee_per_gas == 42 * GWEI
    assert p.gas_usd == Decimal("-59.4")
    assert p.net_usd == usd(opp.swap_amount_out - o.debt_to_cover, PRICE[USDC], 6) - Decimal("59.4")
    assert p.bonus_usd + p.swap_usd == usd(opp.swap_amount_out - o.debt_to_cover, PRICE[USDC], 6)
    assert (opp.swap_fee_tier, opp.gas_limit, opp.flash) == (3000, 900_000, False)


def test_usd_is_exact_for_huge_amounts() -> None:
    amount = 2**256 - 1
    assert usd(amount, 10**8, 0) == Decimal(amount)
    assert usd(1, 1, 18) == Decimal("1e-26")


def test_best_option_is_chosen() -> None:
    small = option(debt_units=2_000 * 10**6)  # a smaller fraction of the same pair: less bonus
    full = option()
    wbtc = option(coll=WBTC, bonus_bps=800)
    dai = option(coll=WETH, debt=DAI, debt_units=10_000 * WAD, bonus_bps=100)
    opts = [small, full, wbtc, dai]
    ev = evaluate(opts, facts(opts), CONFIG)
    assert opportunity(ev).option == wbtc
    # Make the WBTC pool shallow: the WETH option at the full close factor wins.
    req = QuoteRequest.of(WBTC, USDC, wbtc.collateral_to_liquidator)
    bad = {**facts(opts).quotes, req: SwapQuote(9_000 * 10**6, 3000, 1)}
    assert opportunity(evaluate(opts, facts(opts, quotes=bad), CONFIG)).option == full


def test_a_tie_goes_to_the_first_listed() -> None:
    a, b = option(), dataclasses.replace(option(), market="0x" + "33" * 20)
    assert opportunity(evaluate([b, a], facts([a]), CONFIG)).option == b


def test_collateral_equal_to_debt_needs_no_swap() -> None:
    o = option(coll=USDC, debt=USDC)
    assert quote_requests([o]) == []
    opp = opportunity(evaluate([o], facts([o], quotes={}), CONFIG))
    assert (opp.swap_fee_tier, opp.swap_amount_out) == (0, o.collateral_to_liquidator)
    assert opp.profit.swap_usd == 0
    assert opp.notes


def test_quote_requests_are_unique_and_lowercase() -> None:
    o = option()
    reqs = quote_requests([o, o, dataclasses.replace(o, borrower="0x" + "44" * 20)])
    assert reqs == [QuoteRequest(WETH.lower(), USDC.lower(), o.collateral_to_liquidator)]


# --- failing closed -------------------------------------------------------------------------------------

OPT = option()
REQ = QuoteRequest.of(WETH, USDC, OPT.collateral_to_liquidator)
FRESH = PricePoint(PRICE[WETH], NOW, 60)
STALE = PricePoint(PRICE[WETH], NOW - 61, 60)
GAS = GasFacts(next_base_fee=20 * GWEI, gas_limit=900_000, priority_cap=2 * GWEI, l1_fee=0)
Change = Callable[[MarketFacts], MarketFacts]


def _without(table: str, token: str) -> Change:
    def change(f: MarketFacts) -> MarketFacts:
        kept: dict[str, Any] = {table: {k: v for k, v in getattr(f, table).items() if k != token}}
        return dataclasses.replace(f, **kept)

    return change


def _replace(**changes: Any) -> Change:
    return lambda f: dataclasses.replace(f, **changes)


SENTINEL, FREE = SequencerRule.AAVE_SENTINEL, SequencerRule.NO_SENTINEL
FAILURES: list[tuple[str, Change, StrategyConfig, SkipReason]] = [
    ("quote not fetched", _replace(quotes={}), CONFIG, SkipReason.QUOTE_FAILED),
    ("quoter reverted on every tier", _replace(quotes={REQ: None}), CONFIG, SkipReason.QUOTE_FAILED),
    ("quote of zero", _replace(quotes={REQ: SwapQuote(0, 500, 1)}), CONFIG, SkipReason.QUOTE_FAILED),
    ("no collateral price", _without("prices", WETH.lower()), CONFIG, SkipReason.NO_PRICE),
    ("no debt price", _without("prices", USDC.lower()), CONFIG, SkipReason.NO_PRICE),
    ("no gas token price", _replace(native_price=None), CONFIG, SkipReason.NO_PRICE),
    ("stale collateral price", _replace(prices={WETH: STALE, USDC: FRESH}), CONFIG, SkipReason.STALE_PRICE),
    ("stale gas token price", _replace(native_price=STALE), CONFIG, SkipReason.STALE_PRICE),
    ("collateral not in registry", _without("decimals", WETH.lower()), CONFIG, SkipReason.UNKNOWN_TOKEN),
    ("debt not in registry", _without("decimals", USDC.lower()), CONFIG, SkipReason.UNKNOWN_TOKEN),
    ("decimals disagree", _replace(decimals={**DECIMALS, USDC: 18}), CONFIG, SkipReason.UNKNOWN_TOKEN),
    ("base fee unknown", _replace(gas=dataclasses.replace(GAS, next_base_fee=None)), CONFIG,
     SkipReason.GAS_UNKNOWN),
    ("L1 fee unknown", _replace(gas=dataclasses.replace(GAS, l1_fee=None)), CONFIG, SkipReason.GAS_UNKNOWN),
    ("debt deny-listed", _replace(), dataclasses.replace(CONFIG, deny_assets=(USDC.lower(),)),
     SkipReason.DENY_LISTED),
    ("collateral deny-listed", _replace(), dataclasses.replace(CONFIG, deny_assets=(WETH,)),
     SkipReason.DENY_LISTED),
    ("sequencer down, HF 0.999", _replace(sequencer=SequencerStatus(1, NOW - 5, 3600, SENTINEL)),
     CONFIG, SkipReason.SEQUENCER_DOWN),
    ("sequencer in grace", _replace(sequencer=SequencerStatus(0, NOW - 5, 3600, SENTINEL)),
     CONFIG, SkipReason.SEQUENCER_GRACE),
    ("uptime feed unreadable", _replace(sequencer=SequencerStatus(None, None, 3600, FREE)),
     CONFIG, SkipReason.SEQUENCER_UNKNOWN),
    ("below the minimum", _replace(), dataclasses.replace(CONFIG, min_profit_usd=Decimal(10**6)),
     SkipReason.BELOW_MIN_PROFIT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "config", "reason"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_each_unknown_is_a_skip_with_its_reason(
    change: Change, config: StrategyConfig, reason: SkipReason
) -> None:
    ev = evaluate([OPT], change(facts([OPT])), config)
    assert isinstance(ev.result, Skip)
    assert ev.result.reason is reason, ev.result.detail
    assert ev.result.option == OPT
    assert ev.skips == (ev.result,)


def test_sequencer_down_still_allows_deep_positions_on_aave_and_all_on_morpho() -> None:
    down = SequencerStatus(1, NOW - 5, 3600, SequencerRule.AAVE_SENTINEL)
    deep = option(hf=94 * WAD // 100)
    assert isinstance(evaluate([deep], facts([deep], sequencer=down), CONFIG).result, Opportunity)
    free = dataclasses.replace(down, rule=SequencerRule.NO_SENTINEL)
    assert isinstance(evaluate([OPT], facts([OPT], sequencer=free), CONFIG).result, Opportunity)


def test_no_options_is_not_liquidatable() -> None:
    ev = evaluate([], facts([]), CONFIG)
    assert isinstance(ev.result, Skip)
    assert ev.result.reason is SkipReason.NOT_LIQUIDATABLE


def test_the_position_reports_the_option_that_got_furthest() -> None:
    denied, thin = option(coll=WBTC), option(bonus_bps=0)
    config = dataclasses.replace(CONFIG, deny_assets=(WBTC,))
    ev = evaluate([denied, thin], facts([denied, thin]), config)
    assert isinstance(ev.result, Skip)
    assert ev.result.reason is SkipReason.BELOW_MIN_PROFIT
    assert [s.reason for s in ev.skips] == [SkipReason.DENY_LISTED, SkipReason.BELOW_MIN_PROFIT]


def test_min_profit_boundary_is_inclusive() -> None:
    net = opportunity(evaluate([OPT], facts([OPT]), dataclasses.replace(CONFIG, min_profit_usd=Decimal(0))))
    exactly = dataclasses.replace(CONFIG, min_profit_usd=net.profit.net_usd)
    assert isinstance(evaluate([OPT], facts([OPT]), exactly).result, Opportunity)
    with localcontext(prec=100):  # the default 28 digits would round the 1e-40 away
        above = dataclasses.replace(CONFIG, min_profit_usd=net.profit.net_usd + Decimal("1e-40"))
    assert isinstance(evaluate([OPT], facts([OPT]), above).result, Skip)


# --- flash fee and L1 fee -------------------------------------------------------------------------------


def test_flash_fee_applies_only_in_flash_mode() -> None:
    funds = opportunity(evaluate([OPT], facts([OPT]), CONFIG))
    aave = opportunity(evaluate([OPT], facts([OPT], flash=FlashTerms(premium_bps=5)), CONFIG))
    morpho = opportunity(evaluate([OPT], facts([OPT], flash=FlashTerms(premium_bps=0)), CONFIG))
    assert (funds.flash, aave.flash, morpho.flash) == (False, True, True)
    assert funds.profit.flash_fee_usd == 0
    assert morpho.profit.flash_fee_usd == 0
    fee = usd(percent_mul(OPT.debt_to_cover, 5), PRICE[USDC], 6)
    assert fee == Decimal("5")  # 0.05% of 10,000 USDC
    assert aave.profit.flash_fee_usd == -fee
    assert aave.profit.net_usd == funds.profit.net_usd - fee  # the tip sits at its cap in both


def test_l1_fee_subtracts() -> None:
    l1 = 10**15  # 0.001 ETH = $3
    without = opportunity(evaluate([OPT], facts([OPT]), CONFIG))
    with_l1 = opportunity(evaluate([OPT], facts([OPT], gas=dataclasses.replace(GAS, l1_fee=l1)), CONFIG))
    assert with_l1.profit.l1_fee_usd == Decimal(-3)
    assert with_l1.profit.net_usd == without.profit.net_usd - 3


@given(
    debt_units=st.integers(min_value=1, max_value=10**15),
    bonus_bps=st.integers(min_value=0, max_value=2_000),
    slip_ppm=st.integers(min_value=0, max_value=200_000),
    base_fee=st.integers(min_value=0, max_value=10**12),
    gas_limit=st.integers(min_value=21_000, max_value=5_000_000),
    l1=st.integers(min_value=0, max_value=10**17),
    share=st.decimals(min_value=0, max_value=1, places=4),
    cap=st.integers(min_value=0, max_value=10**11),
    premium=st.sampled_from([None, 0, 5, 9]),
    pair=st.sampled_from([(WETH, USDC), (WBTC, DAI), (DAI, WETH), (USDC, USDC)]),
)
def test_net_is_exact_whatever_the_inputs(
    debt_units: int, bonus_bps: int, slip_ppm: int, base_fee: int, gas_limit: int, l1: int,
    share: Decimal, cap: int, premium: int | None, pair: tuple[str, str],
) -> None:  # fmt: skip
    o = option(coll=pair[0], debt=pair[1], debt_units=debt_units, bonus_bps=bonus_bps)
    quotes = {r: SwapQuote(max(1, fair_quote(r, slip_ppm).amount_out), 500, 1) for r in quote_requests([o])}
    gas = GasFacts(base_fee, gas_limit, cap, l1)
    f = facts([o], quotes=quotes, gas=gas, flash=None if premium is None else FlashTerms(premium))
    config = StrategyConfig(min_profit_usd=Decimal(-(10**30)), priority_fee_profit_share=share)
    opp = opportunity(evaluate([o], f, config))
    p = opp.profit
    assert all(type(x) is Decimal for x in dataclasses.astuple(p))
    assert p.net_usd == p.bonus_usd + p.swap_usd + p.flash_fee_usd + p.gas_usd + p.l1_fee_usd
    flash = percent_mul(o.debt_to_cover, premium) if premium else 0
    kept = opp.swap_amount_out - o.debt_to_cover - flash
    spent = gas_limit * (base_fee + opp.max_priority_fee_per_gas) + l1
    assert p.net_usd == usd(kept, PRICE[pair[1]], DECIMALS[pair[1]]) - usd(spent, PRICE[WETH], 18)
    assert opp.max_priority_fee_per_gas <= cap
    assert opp.max_fee_per_gas >= opp.max_priority_fee_per_gas
    # The tip never turns a base-fee profit into a loss; the worst-case spend never exceeds the profit.
    before_tip = usd(kept, PRICE[pair[1]], DECIMALS[pair[1]]) - usd(
        gas_limit * base_fee + l1, PRICE[WETH], 18
    )
    if before_tip >= 0:
        assert p.net_usd >= 0
        worst = usd(gas_limit * opp.max_fee_per_gas + l1, PRICE[WETH], 18)
        assert worst <= usd(kept, PRICE[pair[1]], DECIMALS[pair[1]])


@given(st.lists(st.tuples(st.integers(1, 10**11), st.integers(0, 1500), st.integers(0, 50_000)), min_size=1,
                max_size=6))  # fmt: skip
def test_the_chosen_option_has_the_highest_net(specs: list[tuple[int, int, int]]) -> None:
    opts = [
        dataclasses.replace(option(debt_units=d, bonus_bps=b), block=i) for i, (d, b, _) in enumerate(specs)
    ]
    quotes = {}
    for o, (_, _, slip) in zip(opts, specs, strict=True):
        req = QuoteRequest.of(o.collateral_asset, o.debt_asset, o.collateral_to_liquidator)
        quotes[req] = SwapQuote(max(1, fair_quote(req, slip).amount_out), 500, 1)
    config = dataclasses.replace(CONFIG, min_profit_usd=Decimal(-(10**30)))
    f = facts(opts, quotes=quotes)
    best = opportunity(evaluate(opts, f, config))
    nets = [opportunity(evaluate([o], f, config)).profit.net_usd for o in opts]
    assert best.profit.net_usd == max(nets)
    assert best.option == opts[nets.index(max(nets))]


# --- fee bid (pure) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "share", "tip", "max_fee"),
    [
        (10**18, Decimal("0.2"), 2 * GWEI, 42 * GWEI),  # rich: tip at the cap, max fee 2×base + tip
        (20 * GWEI * 10**6 + 10**15, Decimal("0.2"), 200_000_000, 20 * GWEI + 10**9),  # tip = 20% of surplus
        (25 * GWEI * 10**6, Decimal("0"), 0, 25 * GWEI),  # no share: no tip; max fee capped at budget
        (10 * GWEI * 10**6, Decimal("0.2"), 0, 10 * GWEI),  # below the base cost: no tip
        (-5, Decimal("0.2"), 0, 0),
    ],
)
def test_fee_bid(budget: int, share: Decimal, tip: int, max_fee: int) -> None:
    bid = fee_bid(20 * GWEI, 10**6, budget, share, 2 * GWEI)
    assert (bid.max_priority_fee_per_gas, bid.max_fee_per_gas) == (tip, max_fee)
    assert bid.expected_cost_wei == 10**6 * (20 * GWEI + tip)


@given(
    base=st.integers(0, 10**12), limit=st.integers(1, 10**7), budget=st.integers(-(10**20), 10**20),
    share=st.decimals(min_value=0, max_value=1, places=6), cap=st.integers(0, 10**12),
)  # fmt: skip
def test_fee_bid_never_spends_more_than_the_profit(
    base: int, limit: int, budget: int, share: Decimal, cap: int
) -> None:
    bid = fee_bid(base, limit, budget, share, cap)
    assert 0 <= bid.max_priority_fee_per_gas <= cap
    assert bid.max_fee_per_gas >= bid.max_priority_fee_per_gas
    assert limit * bid.max_fee_per_gas <= max(0, budget)
    assert bid.max_fee_per_gas <= 2 * base + bid.max_priority_fee_per_gas


def test_fee_bid_refuses_a_zero_gas_limit() -> None:
    with pytest.raises(ValueError, match="gas_limit"):
        fee_bid(1, 0, 10, Decimal("0.1"), 1)


def test_unsigned_tx_is_what_eth_account_signs() -> None:
    to = to_checksum_address("0x" + "ab" * 20)
    tx = TxShape(chain_id=10, to=to, data=b"\x00\x01" * 300, gas_limit=900_000,
                 max_fee_per_gas=3 * GWEI, max_priority_fee_per_gas=10**6, nonce=7)  # fmt: skip
    raw = unsigned_eip1559_tx(tx)
    ref = TypedTransaction.from_dict({
        "type": 2, "chainId": 10, "nonce": 7, "maxPriorityFeePerGas": 10**6, "maxFeePerGas": 3 * GWEI,
        "gas": 900_000, "to": tx.to, "value": 0, "data": tx.data, "accessList": [],
    })  # fmt: skip
    assert raw[0] == 2
    assert keccak(raw) == ref.hash()


# --- I/O against a stubbed provider ---------------------------------------------------------------------

Handler = Callable[[dict[str, Any]], Any]


class StubProvider(AsyncBaseProvider):
    """eth_call answered by a handler, eth_feeHistory by a value; None or an Exception is an RPC error."""

    def __init__(self, call: Handler | None = None, fee_history: Any = None) -> None:
        super().__init__()
        self.call, self.fee_history = call, fee_history
        self.calls: list[dict[str, Any]] = []

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": "0xa"}
        result: Any = None
        if method == "eth_call" and self.call is not None:
            self.calls.append(params[0])
            result = self.call(params[0])
        elif method == "eth_feeHistory":
            result = self.fee_history
        if result is None or isinstance(result, Exception):
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "execution reverted"}}
        return {"jsonrpc": "2.0", "id": 1, "result": result}


def w3_with(provider: StubProvider) -> AsyncWeb3[Any]:
    return AsyncWeb3(provider)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _data(tx: dict[str, Any]) -> bytes:
    d = tx["data"]
    return bytes.fromhex(d[2:]) if isinstance(d, str) else bytes(d)


TX = TxShape(chain_id=10, to="0x" + "cd" * 20, data=b"\x12" * 100, gas_limit=900_000,
             max_fee_per_gas=GWEI, max_priority_fee_per_gas=10**6)  # fmt: skip
# The Ecotone fee for TX at the default L1 prices (what the devnet's GasPriceOracle returns for it).
ECOTONE_FEE = 308_560_587_250


def test_op_l1_fee_calls_the_predeploy_with_the_unsigned_tx() -> None:
    stub = StubProvider(call=lambda tx: _hex(encode(["uint256"], [ECOTONE_FEE])))
    fee = asyncio.run(l1_data_fee(w3_with(stub), "op-stack", TX))
    assert fee == ECOTONE_FEE
    (call,) = stub.calls
    assert call["to"].lower() == OP_GAS_PRICE_ORACLE.lower()
    data = _data(call)
    assert data[:4] == keccak(text="getL1Fee(bytes)")[:4]
    assert decode(["bytes"], data[4:]) == (unsigned_eip1559_tx(TX),)


@pytest.mark.parametrize(
    "answer", [RuntimeError("revert"), "0x", "0x1234"], ids=["error", "no code", "short"]
)
def test_op_l1_fee_failures_are_unknown(answer: Any) -> None:
    stub = StubProvider(call=lambda tx: answer)
    assert asyncio.run(op_l1_fee(w3_with(stub), unsigned_eip1559_tx(TX))) is None


def test_arbitrum_l1_fee_is_l1_gas_times_base_fee() -> None:
    stub = StubProvider(
        call=lambda tx: _hex(encode(["uint64", "uint256", "uint256"], [41_000, 10**7, 9 * GWEI]))
    )
    assert asyncio.run(l1_data_fee(w3_with(stub), "arbitrum", TX)) == 41_000 * 10**7
    (call,) = stub.calls
    assert call["to"].lower() == ARB_NODE_INTERFACE.lower()
    data = _data(call)
    assert data[:4] == keccak(text="gasEstimateL1Component(address,bool,bytes)")[:4]
    assert decode(["address", "bool", "bytes"], data[4:]) == (TX.to, False, TX.data)
    assert asyncio.run(arbitrum_l1_fee(w3_with(StubProvider(call=lambda tx: None)), TX.to, TX.data)) is None


def test_no_l1_fee_on_an_l1() -> None:
    stub = StubProvider(call=lambda tx: pytest.fail("no call expected"))
    assert asyncio.run(l1_data_fee(w3_with(stub), "none", TX)) == 0


def test_fee_market_from_fee_history() -> None:
    bases = [hex(20 * GWEI), hex(17_500_000_000)]
    ok = {"oldestBlock": "0x10", "baseFeePerGas": bases, "gasUsedRatio": [0.0], "reward": [[hex(GWEI)]]}
    market = asyncio.run(fetch_fee_market(w3_with(StubProvider(fee_history=ok))))
    assert market == FeeMarket(20 * GWEI, 17_500_000_000, GWEI)
    broken = {"oldestBlock": "0x10", "gasUsedRatio": [0.0]}
    assert asyncio.run(fetch_fee_market(w3_with(StubProvider(fee_history=broken)))) is None
    assert asyncio.run(fetch_fee_market(w3_with(StubProvider(fee_history=None)))) is None


def _aggregate3_answer(per_tier: dict[int, int | None]) -> Handler:
    def handle(tx: dict[str, Any]) -> str:
        (calls,) = decode(["(address,bool,bytes)[]"], _data(tx)[4:])
        out = []
        for _target, allow_failure, data in calls:
            assert allow_failure
            fee = decode(["(address,address,uint256,uint24,uint160)"], bytes(data)[4:])[0][3]
            amount = per_tier.get(fee)
            ok = amount is not None
            out.append((ok, encode(["uint256", "uint160", "uint32", "uint256"], [amount, 1, 2, 90_000 + fee])
                        if ok else b""))  # fmt: skip
        return _hex(encode(["(bool,bytes)[]"], [out]))

    return handle


QUOTER = "0x" + "ef" * 20


@pytest.mark.parametrize(
    ("per_tier", "expected"),
    [
        ({100: None, 500: 1_990, 3000: 2_000, 10000: 1_500}, SwapQuote(2_000, 3000, 93_000)),
        ({100: 7, 500: 7, 3000: None, 10000: None}, SwapQuote(7, 100, 90_100)),  # tie: first tier
        ({100: None, 500: 0, 3000: None, 10000: None}, None),  # zero out is no quote
        ({}, None),  # no pool on any tier
    ],
)
def test_quote_best_picks_the_highest_output(
    per_tier: dict[int, int | None], expected: SwapQuote | None
) -> None:
    stub = StubProvider(call=_aggregate3_answer(per_tier))
    assert asyncio.run(quote_best(w3_with(stub), QUOTER, WETH, USDC, 10**18)) == expected
    (call,) = stub.calls  # every tier in one eth_call
    assert call["to"].lower() == "0xca11bde05977b3631167028862be2a173976ca11"


def test_quote_failures_are_none() -> None:
    reverted = StubProvider(call=lambda tx: RuntimeError("multicall reverted"))
    assert asyncio.run(quote_best(w3_with(reverted), QUOTER, WETH, USDC, 10**18)) is None
    garbage = StubProvider(call=lambda tx: "0x1234")
    assert asyncio.run(quote_best(w3_with(garbage), QUOTER, WETH, USDC, 10**18)) is None
    zero = StubProvider(call=lambda tx: pytest.fail("no call for a zero amount"))
    assert asyncio.run(quote_best(w3_with(zero), QUOTER, WETH, USDC, 0)) is None


def test_encode_quote_matches_the_signature() -> None:
    data = encode_quote(QuoteRequest.of(WETH, USDC, 5), FEE_TIERS[1])
    assert data[:4] == keccak(text="quoteExactInputSingle((address,address,uint256,uint24,uint160))")[:4]
    assert decode(["(address,address,uint256,uint24,uint160)"], data[4:]) == (
        (WETH.lower(), USDC.lower(), 5, 500, 0),
    )
