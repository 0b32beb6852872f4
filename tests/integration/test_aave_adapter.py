"""The Aave adapter finds exactly the positions the chain calls liquidatable, and its options are exact."""

from __future__ import annotations

import asyncio

import pytest

from liqbot.chain.client import ChainClient
from liqbot.core.types import LiquidationOption
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import LIQUIDATOR, DevnetRpc
from liqbot.protocols.aave_v3.adapter import AaveV3Adapter

from .helpers import WAD, balance, book, fund

pytestmark = pytest.mark.devnet


def _chain_hf(chain: DevnetRpc, pool: str, users: list[str]) -> dict[str, int]:
    p = chain.contract("Pool", pool)
    return {u: int(p.functions.getUserAccountData(u).call()[5]) for u in users}


def test_shock_finds_exactly_the_liquidatable_and_options_match_a_real_liquidation(
    devnet: manager.Devnet, chain: DevnetRpc
) -> None:
    a = devnet.addresses()
    pool = a["aave"]["pool"]

    async def run() -> tuple[dict[str, int], tuple[list[str], list[LiquidationOption] | object, int]]:
        client = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
        adapter = AaveV3Adapter(client, a["aave"]["pool_addresses_provider"], block_time_s=1)
        await adapter.bootstrap(0, await client.block_number(), [], None)
        manager.do_shock(devnet, "WETH", -20)
        for t in a["tokens"].values():
            fund(chain, t["address"], pool, 10**30)
        head = await client.block_number()
        logs = await client.get_logs(adapter.block + 1, head, adapter.watched_addresses())
        adv = await adapter.advance(head, logs)
        assert "0x" + "0" * 40 not in adv.liquidatable
        assert a["tokens"]["WETH"]["address"] in adv.repriced
        users = sorted(adapter.accounts())
        target = min(adv.liquidatable, key=lambda u: adv.liquidatable[u]) if adv.liquidatable else None
        opts = adapter.options(target, sentinel_allows=None) if target else []
        await client.close()
        return adv.liquidatable, (users, opts, adapter.state.timestamp)

    liquidatable, (users, opts, ts) = asyncio.run(run())
    truth = {u: hf for u, hf in _chain_hf(chain, pool, users).items() if hf < WAD}
    assert truth, "the shock must create liquidatable positions"
    assert liquidatable == truth, "same borrowers and the same health factors, to the wei"
    assert isinstance(opts, list) and opts
    option = max(opts, key=lambda o: o.debt_to_cover * o.debt_price // 10**o.debt_decimals)
    debt_sym = next(s for s, t in a["tokens"].items() if t["address"] == option.debt_asset)
    coll_sym = next(s for s, t in a["tokens"].items() if t["address"] == option.collateral_asset)
    assert coll_sym in book(devnet)[option.borrower]["collateral"]
    p = chain.contract("Pool", pool)
    before_d, before_c = (
        balance(chain, option.debt_asset, LIQUIDATOR),
        balance(chain, option.collateral_asset, LIQUIDATOR),
    )
    # The option was computed for the next block's timestamp: the liquidation lands exactly there.
    chain.call("evm_setNextBlockTimestamp", ts + 1)
    chain.transact(p.functions.liquidationCall(option.collateral_asset, option.debt_asset, option.borrower,
                                               2**256 - 1, False), sender=LIQUIDATOR)  # fmt: skip
    repaid = before_d - balance(chain, option.debt_asset, LIQUIDATOR)
    seized = balance(chain, option.collateral_asset, LIQUIDATOR) - before_c
    assert (repaid, seized) == (option.debt_to_cover, option.collateral_to_liquidator), debt_sym


def test_watch_list_catches_interest_only_crossings_between_full_screens(
    devnet: manager.Devnet, chain: DevnetRpc
) -> None:
    """A position pushed to HF ≈ 1.00002 by a price move, then 30 days of interest with no event touching
    it: the next block's exact watch-list check reports it, though no full re-screen is due."""
    a = devnet.addresses()
    pool = a["aave"]["pool"]
    seeded = book(devnet)
    hfs = _chain_hf(chain, pool, [u for u, b in seeded.items() if b["protocol"] == "aave_v3"])
    target = next(
        u for u, hf in sorted(hfs.items(), key=lambda x: x[1])
        if set(seeded[u]["collateral"]) == {"WETH"} and hf > WAD
    )  # fmt: skip

    async def run() -> tuple[dict[str, int], dict[str, int]]:
        client = ChainClient(devnet.chains[0].url, devnet.chains[0].chain_id)
        adapter = AaveV3Adapter(client, a["aave"]["pool_addresses_provider"], block_time_s=1)
        await adapter.bootstrap(0, await client.block_number(), [], None)
        pct = (1.00002 * WAD / hfs[target] - 1) * 100
        manager.do_shock(devnet, "WETH", pct)
        first = await adapter.advance(await client.block_number(), await _logs(client, adapter))
        chain.call("evm_increaseTime", 30 * 86400)
        chain.mine()
        second = await adapter.advance(await client.block_number(), await _logs(client, adapter))
        await client.close()
        return first.liquidatable, second.liquidatable

    first, second = asyncio.run(run())
    assert target not in first, "still (barely) healthy right after the price move"
    assert target in second, "interest alone pushed it under 1"
    truth = {u: hf for u, hf in _chain_hf(chain, pool, list(seeded)).items() if hf < WAD}
    assert second == truth


async def _logs(client: ChainClient, adapter: AaveV3Adapter) -> list[dict[str, object]]:
    return await client.get_logs(adapter.block + 1, await client.block_number(), adapter.watched_addresses())
