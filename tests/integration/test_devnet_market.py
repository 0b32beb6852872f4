"""The devnet behaves like the real market: proved with the deployed contracts themselves."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from liqbot.harness.devnet import manager, solc
from liqbot.harness.devnet.rpc import LIQUIDATOR, DevnetRpc

from .helpers import WAD, balance, book, fund, positions

pytestmark = pytest.mark.devnet


def test_populated_aave_positions_are_healthy_and_spread(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()
    pool = chain.contract("Pool", a["aave"]["pool"])
    aave = positions(devnet, "aave_v3")
    assert len(aave) > 100
    hfs = sorted(p.health_factor for p in aave)
    assert hfs[0] > WAD, "every seeded position must start healthy"
    assert hfs[0] < 105 * WAD // 100 and hfs[-1] > 25 * WAD // 10, "HF spread should reach ~1.02 and ~3"
    seeded = book(devnet)
    emode = [b for b in seeded.values() if b["emode"]]
    multi = [b for b in seeded.values() if len(b["collateral"]) > 1]
    assert emode and multi
    for b in emode[:5]:
        assert pool.functions.getUserEMode(b["address"]).call() == 1


def test_populated_morpho_positions_are_healthy(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    """Morpho's own check: a liquidation of any seeded position reverts with 'position is healthy'."""
    a = devnet.addresses()
    morpho_abi = solc.compile_morpho()["Morpho.sol:Morpho"]["abi"]
    morpho = chain.contract(morpho_abi, a["morpho"]["morpho"])
    m = a["morpho"]["markets"][0]
    params = (m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], m["lltv"])
    fund(chain, m["loan_token"], morpho.address, 10**15)
    borrowers = [p for p in positions(devnet, "morpho_blue")]
    assert len(borrowers) > 10
    for p in borrowers:
        assert p.health_factor > WAD
        with pytest.raises(ContractLogicError, match="position is healthy"):
            morpho.functions.liquidate(params, p.borrower, 1, 0, b"").call({"from": LIQUIDATOR})


def test_morpho_market_id_matches_contract(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()
    morpho = chain.contract(solc.compile_morpho()["Morpho.sol:Morpho"]["abi"], a["morpho"]["morpho"])
    m = a["morpho"]["markets"][0]
    assert tuple(morpho.functions.idToMarketParams(m["id"]).call()) == (
        m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], m["lltv"]
    )  # fmt: skip


def test_shock_then_aave_liquidation_pays_the_bonus(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()
    pool = chain.contract("Pool", a["aave"]["pool"])
    seeded = book(devnet)
    manager.do_shock(devnet, "WETH", -20)
    under = [p for p in positions(devnet, "aave_v3") if p.health_factor < WAD]
    assert under, "a 20% WETH drop must make some positions liquidatable"
    healthy = [p for p in positions(devnet, "aave_v3") if p.health_factor >= WAD]
    assert healthy, "and leave others healthy"
    target = next(p for p in under if "WETH" in seeded[p.borrower]["collateral"])
    debt_sym = next(iter(seeded[target.borrower]["debt"]))
    weth, debt = a["tokens"]["WETH"]["address"], a["tokens"][debt_sym]["address"]
    fund(chain, debt, pool.address, 10**30)
    before_w, before_d = balance(chain, weth, LIQUIDATOR), balance(chain, debt, LIQUIDATOR)
    treasury_a = chain.contract("AToken", pool.functions.getReserveData(weth).call()[8])
    treasury_before = treasury_a.functions.balanceOf(a["safe"]["treasury"]).call()
    chain.transact(
        pool.functions.liquidationCall(weth, debt, target.borrower, 2**256 - 1, False), sender=LIQUIDATOR
    )
    seized = balance(chain, weth, LIQUIDATOR) - before_w
    repaid = before_d - balance(chain, debt, LIQUIDATOR)
    assert seized > 0 and repaid > 0
    # Value both legs at the oracle: the liquidator's 5% bonus less the 10% protocol share ≈ 4.5%.
    oracle = chain.contract("AaveOracle", a["aave"]["oracle"])
    pw, pd = oracle.functions.getAssetPrice(weth).call(), oracle.functions.getAssetPrice(debt).call()
    dec_d = a["tokens"][debt_sym]["decimals"]
    ratio = (seized * pw * 10**dec_d) / (repaid * pd * 10**18)
    assert 1.0449 < ratio < 1.0451, ratio
    assert treasury_a.functions.balanceOf(a["safe"]["treasury"]).call() > treasury_before, (
        "protocol fee to treasury"
    )


def test_healthy_aave_position_cannot_be_liquidated(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()
    pool = chain.contract("Pool", a["aave"]["pool"])
    seeded = book(devnet)
    p = next(p for p in positions(devnet, "aave_v3") if p.health_factor > WAD)
    b = seeded[p.borrower]
    coll, debt = next(iter(b["collateral"])), next(iter(b["debt"]))
    fund(chain, a["tokens"][debt]["address"], pool.address, 10**30)
    fn = pool.functions.liquidationCall(
        a["tokens"][coll]["address"], a["tokens"][debt]["address"], p.borrower, 1, False
    )
    with pytest.raises(ContractLogicError, match="45"):  # HEALTH_FACTOR_NOT_BELOW_THRESHOLD
        fn.call({"from": LIQUIDATOR})


def test_shock_then_morpho_liquidation(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()
    morpho = chain.contract(solc.compile_morpho()["Morpho.sol:Morpho"]["abi"], a["morpho"]["morpho"])
    m = a["morpho"]["markets"][0]
    params = (m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], m["lltv"])
    manager.do_shock(devnet, "WETH", -20)
    under = [p for p in positions(devnet, "morpho_blue") if p.health_factor < WAD]
    assert under
    victim = under[0].borrower
    _, _, coll_before = morpho.functions.position(m["id"], victim).call()
    fund(chain, m["loan_token"], morpho.address, 10**30)
    before = balance(chain, m["collateral_token"], LIQUIDATOR)
    chain.transact(morpho.functions.liquidate(params, victim, coll_before // 2, 0, b""), sender=LIQUIDATOR)
    assert balance(chain, m["collateral_token"], LIQUIDATOR) - before == coll_before // 2
    assert morpho.functions.position(m["id"], victim).call()[2] == coll_before - coll_before // 2


def test_shock_moves_uniswap_pools_to_the_oracle_price(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()
    manager.do_shock(devnet, "WETH", -20)
    quoter = chain.contract("QuoterV2", a["uniswap"]["quoter_v2"])
    weth, usdc = a["tokens"]["WETH"]["address"], a["tokens"]["USDC"]["address"]
    out = quoter.functions.quoteExactInputSingle((weth, usdc, 10**18, 500, 0)).call()[0]
    # 1 WETH at $2,400 less the 0.05% fee and a sliver of price impact.
    assert 2_397 * 10**6 < out < 2_399 * 10**6
