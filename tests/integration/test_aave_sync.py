"""The local Aave state, built from a snapshot and moved by events, equals the chain to the wei."""

from __future__ import annotations

import asyncio

import pytest

from liqbot.chain.client import ChainClient
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import ADMIN, LIQUIDATOR, DevnetRpc
from liqbot.protocols.aave_v3.sync import AaveMarketSync

from .helpers import WAD, book, fund

pytestmark = pytest.mark.devnet


def _chain_view(chain: DevnetRpc, pool: str, users: list[str]) -> dict[str, tuple[int, ...]]:
    p = chain.contract("Pool", pool)
    return {u: tuple(p.functions.getUserAccountData(u).call()) for u in users}


def _local_view(sync: AaveMarketSync, users: list[str]) -> dict[str, tuple[int, ...]]:
    assert sync.state is not None
    out = {}
    for u in users:
        a = sync.state.account_data(u)
        out[u] = (
            a.total_collateral_base,
            a.total_debt_base,
            a.available_borrows_base,
            a.current_liquidation_threshold,
            a.ltv,
            a.health_factor,
        )
    return out


def _activity(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    """Borrow, repay, withdraw, move aTokens, toggle collateral, liquidate, let time pass."""
    a = devnet.addresses()
    pool = chain.contract("Pool", a["aave"]["pool"])
    seeded = [b for b in book(devnet).values() if b["protocol"] == "aave_v3"]
    chain.call("anvil_autoImpersonateAccount", True)
    try:
        b0, b1, b2, b3 = seeded[0], seeded[1], seeded[2], seeded[3]
        debt0 = next(iter(b0["debt"]))
        tok = a["tokens"][debt0]["address"]
        fund(chain, tok, pool.address, 1, who=b0["address"])
        chain.transact(
            pool.functions.repay(tok, b0["debt"][debt0] // 3, 2, b0["address"]), sender=b0["address"]
        )
        coll1 = next(iter(b1["collateral"]))
        ctok = a["tokens"][coll1]["address"]
        chain.transact(
            pool.functions.withdraw(ctok, b1["collateral"][coll1] // 50, b1["address"]), sender=b1["address"]
        )
        atoken = chain.contract("AToken", pool.functions.getReserveData(ctok).call()[8])
        chain.transact(
            atoken.functions.transfer(b2["address"], b1["collateral"][coll1] // 100), sender=b1["address"]
        )
        chain.transact(
            atoken.functions.transfer(LIQUIDATOR, b1["collateral"][coll1] // 200), sender=b1["address"]
        )
        multi = next(b for b in seeded if len(b["collateral"]) > 1 and b["target_hf"] > 2)
        sym = next(iter(multi["collateral"]))
        chain.transact(
            pool.functions.setUserUseReserveAsCollateral(a["tokens"][sym]["address"], False),
            sender=multi["address"],
        )
        chain.call("evm_increaseTime", 30 * 86400)
        chain.mine()
        debt3 = next(iter(b3["debt"]))
        chain.transact(
            pool.functions.borrow(
                a["tokens"][debt3]["address"], b3["debt"][debt3] // 20, 2, 0, b3["address"]
            ),
            sender=b3["address"],
        )
    finally:
        chain.call("anvil_autoImpersonateAccount", False)
    manager.do_shock(devnet, "WETH", -20)
    chain.call("evm_increaseTime", 7 * 86400)
    chain.mine()
    view = _chain_view(chain, a["aave"]["pool"], [b["address"] for b in seeded])
    under = [u for u, v in view.items() if v[5] < WAD]
    for u in under[:3]:
        b = book(devnet)[u]
        coll, debt = next(iter(b["collateral"])), next(iter(b["debt"]))
        fund(chain, a["tokens"][debt]["address"], pool.address, 10**30)
        chain.transact(
            pool.functions.liquidationCall(
                a["tokens"][coll]["address"], a["tokens"][debt]["address"], u, 2**256 - 1, u == under[0]
            ),
            sender=LIQUIDATOR,
        )
    _ = ADMIN


def test_snapshot_then_events_match_the_chain(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()

    async def run() -> None:
        client = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
        sync = AaveMarketSync(client, a["aave"]["pool_addresses_provider"])
        b0 = await client.block_number()
        await sync.bootstrap(0, b0)
        seeded = {b["address"] for b in book(devnet).values() if b["protocol"] == "aave_v3"}
        assert seeded <= sync.users, "every seeded borrower is discovered from the logs"
        users = sorted(sync.users)
        assert _local_view(sync, users) == _chain_view(chain, a["aave"]["pool"], users)

        _activity(devnet, chain)
        b1 = await client.block_number()
        changed = await sync.advance(b1)
        assert changed
        users = sorted(sync.users)
        assert LIQUIDATOR in users, "a user who only received aTokens is discovered"
        local, remote = _local_view(sync, users), _chain_view(chain, a["aave"]["pool"], users)
        diff = {u: (local[u], remote[u]) for u in users if local[u] != remote[u]}
        assert not diff, f"{len(diff)} of {len(users)} users differ: {list(diff.items())[:2]}"
        assert any(v[5] < WAD for v in remote.values()), "the scenario must include liquidatable users"
        await client.close()

    asyncio.run(run())


def test_per_block_oracle_check_catches_a_price_moved_without_an_event(
    devnet: manager.Devnet, chain: DevnetRpc
) -> None:
    """A source whose answer changes with no AnswerUpdated (an adapter, a proxy re-pointed): the per-block
    getAssetsPrices check corrects the local price, and every HF still equals the chain's."""
    from eth_abi import encode
    from eth_utils import keccak

    a = devnet.addresses()

    async def run() -> None:
        client = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
        sync = AaveMarketSync(client, a["aave"]["pool_addresses_provider"])
        await sync.bootstrap(0, await client.block_number())
        feed = a["tokens"]["WETH"]["feed"]
        round_id = chain.contract(FEED_ROUND_ABI, feed).functions.latestRound().call()
        slot = keccak(encode(["uint256", "uint256"], [round_id, 3]))  # rounds[roundId].answer (PriceFeed.sol)
        chain.call(
            "anvil_setStorageAt", feed, "0x" + slot.hex(), "0x" + (2_100 * 10**8).to_bytes(32, "big").hex()
        )
        chain.mine()
        await sync.advance(await client.block_number())
        assert sync.price_corrections == 1
        users = sorted(sync.users)
        assert _local_view(sync, users) == _chain_view(chain, a["aave"]["pool"], users)
        await client.close()

    asyncio.run(run())


FEED_ROUND_ABI = [
    {"name": "latestRound", "type": "function", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "uint80"}]},
]  # fmt: skip
