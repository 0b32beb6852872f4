"""Morpho Blue on the devnet's real bytecode: the local state equals `market()`/`position()` to the wei, the
adapter's health and liquidatability equal Morpho's own verdict, and its options equal real liquidations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from web3.contract import Contract

from liqbot.chain.client import ChainClient
from liqbot.contracts import abi
from liqbot.core.errors import DevnetError
from liqbot.core.types import LiquidationOption
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import ADMIN, ANVIL_ACCOUNTS, LIQUIDATOR, WHALE, DevnetRpc
from liqbot.protocols.morpho_blue import events as ev
from liqbot.protocols.morpho_blue import sync as sync_mod
from liqbot.protocols.morpho_blue.adapter import MorphoBlueAdapter
from liqbot.protocols.morpho_blue.math import HEALTHY_POSITION, Market, Position, liquidate
from liqbot.protocols.morpho_blue.state import MorphoState
from liqbot.protocols.morpho_blue.sync import MorphoSync

from .helpers import WAD, balance, book, fund, positions

pytestmark = pytest.mark.devnet
T = TypeVar("T")
NEWCOMER, FEE_RECIPIENT = ANVIL_ACCOUNTS[6], ANVIL_ACCOUNTS[7]


# --- the chain's own view ------------------------------------------------------------------------------
def _morpho(chain: DevnetRpc, devnet: manager.Devnet) -> Contract:
    return chain.contract(abi("Morpho"), devnet.addresses()["morpho"]["morpho"])


def _params(devnet: manager.Devnet) -> tuple[str, tuple[str, str, str, str, int]]:
    m = devnet.addresses()["morpho"]["markets"][0]
    return m["id"], (m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], m["lltv"])


def _chain_state(morpho: Contract, st: MorphoState) -> tuple[dict[str, Market], dict[Any, Position]]:
    markets = {mid: Market(*morpho.functions.market(bytes.fromhex(mid[2:])).call()) for mid in st.markets}
    pos = {
        (m, u): Position(*morpho.functions.position(bytes.fromhex(m[2:]), u).call()) for m, u in st.positions
    }
    return markets, pos


def _assert_equal_to_chain(morpho: Contract, st: MorphoState) -> None:
    markets, pos = _chain_state(morpho, st)
    assert st.markets == markets
    diff = {p: (st.positions[p], pos[p]) for p in pos if st.positions[p] != pos[p]}
    assert not diff, f"{len(diff)} of {len(pos)} positions differ: {list(diff.items())[:2]}"


def _healthy_says_morpho(chain: DevnetRpc, morpho: Contract, params: tuple[Any, ...], borrower: str) -> bool:
    """Morpho's own verdict at the head block: liquidating 1 wei reverts "position is healthy" iff healthy."""
    data = morpho.encode_abi("liquidate", args=[params, borrower, 1, 0, b""])
    try:
        chain.call("eth_call", {"from": LIQUIDATOR, "to": morpho.address, "data": data}, "latest")
    except DevnetError as exc:
        return HEALTHY_POSITION in str(exc)
    return False  # it went through (unreachable without funds, but unhealthy all the same)


def _run(make: Callable[[ChainClient], Awaitable[T]], devnet: manager.Devnet) -> T:
    async def go() -> T:
        client = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
        try:
            return await make(client)
        finally:
            await client.close()

    return asyncio.run(go())


async def _advance(adapter: MorphoBlueAdapter, client: ChainClient) -> Any:
    head = await client.block_number()
    return await adapter.advance(
        head, await client.get_logs(adapter.block + 1, head, adapter.watched_addresses())
    )


def _seeded(devnet: manager.Devnet) -> list[dict[str, Any]]:
    return [b for b in book(devnet).values() if b["protocol"] == "morpho_blue"]


def _liquidate(
    chain: DevnetRpc, adapter: MorphoBlueAdapter, option: LiquidationOption, ts: int
) -> ev.Liquidate:
    """Send the adapter's own calldata from LIQUIDATOR in a block stamped `ts`; the Liquidate event."""
    to, data = adapter.liquidation_call(option, LIQUIDATOR)
    chain.call("evm_setNextBlockTimestamp", ts)
    tx = chain.w3.eth.send_transaction({"from": LIQUIDATOR, "to": to, "data": data, "gas": 10**6})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1, "the option's liquidate call reverted"
    assert chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == ts
    logs = [{"topics": ["0x" + bytes(t).hex() for t in x["topics"]], "data": "0x" + bytes(x["data"]).hex()}
            for x in receipt["logs"]]  # fmt: skip
    (event,) = [e for e in map(ev.decode_log, logs) if isinstance(e, ev.Liquidate)]
    return event


# --- activity --------------------------------------------------------------------------------------------
def _activity(devnet: manager.Devnet, chain: DevnetRpc) -> list[str]:
    """Borrow, repay, withdraw collateral, a newcomer, supply/withdraw, a fee, time, a shock, liquidations."""
    morpho = _morpho(chain, devnet)
    mid, params = _params(devnet)
    loan, coll = params[0], params[1]
    seeded = sorted(_seeded(devnet), key=lambda b: b["target_hf"])
    high = [b for b in seeded if b["target_hf"] > 1.5]
    b0, b1, b2 = high[0], high[1], high[2]
    chain.call("anvil_autoImpersonateAccount", True)
    try:
        u0, u1, u2 = b0["address"], b1["address"], b2["address"]
        chain.transact(morpho.functions.borrow(params, b0["debt"]["USDC"] // 10, 0, u0, u0), sender=u0)
        fund(chain, loan, morpho.address, 10**12, who=u1)
        chain.transact(morpho.functions.repay(params, b1["debt"]["USDC"] // 3, 0, u1, b""), sender=u1)
        withdrawn = b2["collateral"]["WETH"] // 20
        chain.transact(morpho.functions.withdrawCollateral(params, withdrawn, u2, u2), sender=u2)
        fund(chain, coll, morpho.address, 10 * 10**18, who=NEWCOMER)
        chain.transact(morpho.functions.supplyCollateral(params, 10 * 10**18, NEWCOMER, b""), sender=NEWCOMER)
        chain.transact(
            morpho.functions.borrow(params, 15_000 * 10**6, 0, NEWCOMER, NEWCOMER), sender=NEWCOMER
        )
        chain.transact(morpho.functions.withdraw(params, 10**6 * 10**6, 0, WHALE, WHALE), sender=WHALE)
        chain.transact(morpho.functions.setFeeRecipient(FEE_RECIPIENT), sender=ADMIN)
        chain.transact(morpho.functions.setFee(params, 10**17), sender=ADMIN)
        chain.call("evm_increaseTime", 30 * 86400)
        chain.mine()
        # repay everything by shares: the contract rounds the assets up (the Repay event carries them)
        shares = morpho.functions.position(bytes.fromhex(mid[2:]), u0).call()[1]
        fund(chain, loan, morpho.address, 10**12, who=u0)
        chain.transact(morpho.functions.repay(params, 0, shares, u0, b""), sender=u0)
    finally:
        chain.call("anvil_autoImpersonateAccount", False)
    manager.do_shock(devnet, "WETH", -20)
    fund(chain, loan, morpho.address, 10**15)
    low = [b["address"] for b in seeded[:2]]
    # one liquidation per branch of `liquidate`: seizedAssets given, then repaidShares given
    chain.transact(morpho.functions.liquidate(params, low[0], 10**15, 0, b""), sender=LIQUIDATOR)
    chain.transact(morpho.functions.liquidate(params, low[1], 0, 10**12, b""), sender=LIQUIDATOR)
    return low


def test_discovery_snapshot_and_events_equal_the_chain(
    devnet: manager.Devnet, chain: DevnetRpc, monkeypatch: pytest.MonkeyPatch
) -> None:
    morpho = _morpho(chain, devnet)
    mid, params = _params(devnet)

    async def run(client: ChainClient) -> None:
        sync = MorphoSync(client, morpho.address)  # no market list: every market, found from CreateMarket
        b0 = await client.block_number()
        await sync.bootstrap(0, b0)
        st = sync.state
        assert st is not None and list(st.markets) == [mid]
        seeded = {b["address"] for b in _seeded(devnet)}
        assert seeded <= st.users(), "every seeded Morpho borrower is discovered from the logs"
        _assert_equal_to_chain(morpho, st)

        liquidated = _activity(devnet, chain)
        b1 = await client.block_number()
        changed = await sync.advance(b1)
        assert {(mid, u) for u in [*liquidated, NEWCOMER]} <= changed
        assert (mid, FEE_RECIPIENT) in st.positions and st.positions[(mid, FEE_RECIPIENT)].supply_shares > 0
        _assert_equal_to_chain(morpho, st)

        # More time and an accrual: the fee recipient's shares now move by event alone.
        fee_shares = st.positions[(mid, FEE_RECIPIENT)].supply_shares
        chain.call("evm_increaseTime", 10 * 86400)
        chain.mine()
        chain.transact(morpho.functions.accrueInterest(params))
        b1 = await client.block_number()
        assert await sync.advance(b1) == {(mid, FEE_RECIPIENT)}
        assert st.positions[(mid, FEE_RECIPIENT)].supply_shares > fee_shares
        _assert_equal_to_chain(morpho, st)

        # A restart: resume after b0 with the stored accounts; market discovery scans CreateMarket only.
        # Then one where accounts x markets is over the cap: it rediscovers from the deploy block instead.
        live = {p: v for p, v in st.positions.items() if v != Position()}
        for cap in (sync_mod.MAX_RESUME_PAIRS, 1):
            monkeypatch.setattr(sync_mod, "MAX_RESUME_PAIRS", cap)
            again = MorphoSync(client, morpho.address, deploy_block=0)
            await again.bootstrap(b0 + 1, b1, sorted(st.users() - {NEWCOMER}))
            assert again.state is not None
            assert again.state.markets == st.markets
            assert {p: v for p, v in again.state.positions.items() if v != Position()} == live

    _run(run, devnet)


def test_health_and_liquidatability_equal_morpho_after_accrual_and_shocks(
    devnet: manager.Devnet, chain: DevnetRpc
) -> None:
    morpho = _morpho(chain, devnet)
    mid, params = _params(devnet)

    def check(adapter: MorphoBlueAdapter, liquidatable: dict[str, int]) -> int:
        st = adapter.state
        truth = {p.borrower: p.health_factor for p in positions(devnet, "morpho_blue")}
        local = {u: st.health((mid, u)) for u in truth}
        if st.markets[mid].last_update == st.timestamp:  # the chain's totals are accrued to the head
            assert local == truth, "health factors equal the contracts' to the wei"
        borrowers = {u for (m, u), p in st.positions.items() if p.borrow_shares}
        verdict = {u: _healthy_says_morpho(chain, morpho, params, u) for u in borrowers}
        mine = {u: (st.health((mid, u)) or 0) >= WAD for u in borrowers}
        assert mine == verdict, "liquidatable exactly when Morpho's liquidate says so"
        assert liquidatable == {u: st.health((mid, u)) for u, ok in verdict.items() if not ok}
        return sum(not ok for ok in verdict.values())

    async def run(client: ChainClient) -> None:
        adapter = MorphoBlueAdapter(client, morpho.address, [mid], block_time_s=1)
        await adapter.bootstrap(0, await client.block_number(), [], None)
        chain.call("evm_increaseTime", 30 * 86400)
        chain.mine()
        chain.transact(morpho.functions.accrueInterest(params))
        assert check(adapter, (await _advance(adapter, client)).liquidatable) == 0

        manager.do_shock(devnet, "WETH", -20)
        adv = await _advance(adapter, client)
        assert devnet.addresses()["morpho"]["markets"][0]["collateral_token"] in adv.repriced
        assert check(adapter, adv.liquidatable) > 5, "the shock must make positions liquidatable"

        # a year without any accrual on chain: the local projection (Taylor, IRM rate) carries the interest
        chain.call("evm_increaseTime", 365 * 86400)
        chain.mine()
        check(adapter, (await _advance(adapter, client)).liquidatable)
        # ...to the wei: project every HF to the next second, then have Morpho accrue in exactly that block
        st, ts = adapter.state, adapter.state.timestamp + 1
        projected = {
            u: st.health((mid, u), ts) for u in (p.borrower for p in positions(devnet, "morpho_blue"))
        }
        chain.call("evm_setNextBlockTimestamp", ts)
        chain.transact(morpho.functions.accrueInterest(params))
        assert projected == {p.borrower: p.health_factor for p in positions(devnet, "morpho_blue")}
        check(adapter, (await _advance(adapter, client)).liquidatable)

    _run(run, devnet)


def test_every_option_equals_a_real_liquidation_to_the_wei(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    morpho = _morpho(chain, devnet)
    mid, params = _params(devnet)

    async def run(client: ChainClient) -> None:
        adapter = MorphoBlueAdapter(client, morpho.address, [mid], block_time_s=1)
        await adapter.bootstrap(0, await client.block_number(), [], None)
        manager.do_shock(devnet, "WETH", -20)
        chain.call("evm_increaseTime", 7 * 86400)
        chain.mine()
        adv = await _advance(adapter, client)
        assert len(adv.liquidatable) > 5
        fund(chain, params[0], morpho.address, 10**15)
        ts = adapter.state.timestamp + 1  # options are computed for the next block
        for borrower in sorted(adv.liquidatable):
            opts = adapter.options(borrower, sentinel_allows=None)
            assert isinstance(opts, list) and len(opts) == 1, opts
            (o,) = opts
            assert (o.protocol, o.market, o.protocol_fee, o.debt_asset) == ("morpho_blue", mid, 0, params[0])
            snap = chain.snapshot()
            try:
                before = balance(chain, params[1], LIQUIDATOR), balance(chain, params[0], LIQUIDATOR)
                event = _liquidate(chain, adapter, o, ts)
                seized = balance(chain, params[1], LIQUIDATOR) - before[0]
                repaid = before[1] - balance(chain, params[0], LIQUIDATOR)
                assert (seized, repaid) == (o.collateral_to_liquidator, o.debt_to_cover), borrower
                assert (event.seized_assets, event.repaid_assets) == (seized, repaid)
            finally:
                chain.revert(snap)

    _run(run, devnet)


def test_bad_debt_is_written_off_as_predicted(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    morpho = _morpho(chain, devnet)
    mid, params = _params(devnet)

    async def run(client: ChainClient) -> None:
        adapter = MorphoBlueAdapter(client, morpho.address, [mid], block_time_s=1)
        await adapter.bootstrap(0, await client.block_number(), [], None)
        manager.do_shock(devnet, "WETH", -60)
        adv = await _advance(adapter, client)
        st = adapter.state
        ts = st.timestamp + 1
        under = sorted(adv.liquidatable, key=lambda u: adv.liquidatable[u])
        borrower = under[0]
        opts = adapter.options(borrower, sentinel_allows=None)
        assert isinstance(opts, list)
        (o,) = opts
        pos = st.position((mid, borrower))
        assert o.collateral_to_liquidator == pos.collateral, "the debt exceeds the collateral: seize it all"
        market = st.accrued(mid, ts)
        assert market is not None
        price = st.prices[mid]
        assert price is not None
        want = liquidate(market, pos, price, params[4], pos.collateral, 0)
        assert want.bad_debt_shares > 0 and want.position == Position(0, 0, 0)

        fund(chain, params[0], morpho.address, 10**15)
        got = _liquidate(chain, adapter, o, ts)
        fields = ("repaid_assets", "repaid_shares", "seized_assets", "bad_debt_assets", "bad_debt_shares")
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
        assert got.bad_debt_shares == pos.borrow_shares - got.repaid_shares
        await _advance(adapter, client)
        assert st.markets[mid] == want.market
        _assert_equal_to_chain(morpho, st)
        assert st.position((mid, borrower)) == Position()

    _run(run, devnet)
