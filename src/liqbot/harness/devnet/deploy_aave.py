"""Deploy a complete Aave V3 market from the `@aave/core-v3` artifacts (Pool revision 1, i.e. v3.0 rules)."""

from __future__ import annotations

from typing import Any

from liqbot.harness.devnet import artifacts, spec
from liqbot.harness.devnet.rpc import ADMIN, WHALE, DevnetRpc

ZERO = "0x0000000000000000000000000000000000000000"
MAX_UINT = 2**256 - 1


def deploy_tokens(rpc: DevnetRpc, feed_artifact: artifacts.Artifact) -> dict[str, dict[str, Any]]:
    """MintableERC20 tokens and one settable Chainlink-style feed per token."""
    tokens: dict[str, dict[str, Any]] = {}
    for t in spec.TOKENS:
        token = rpc.deploy(artifacts.load("MintableERC20"), f"Devnet {t.symbol}", t.symbol, t.decimals)
        feed = rpc.deploy(feed_artifact, spec.FEED_DECIMALS, f"{t.symbol} / USD", t.price)
        tokens[t.symbol] = {"address": token, "decimals": t.decimals, "feed": feed}
    return tokens


def _deploy_pool_contracts(rpc: DevnetRpc, provider: str) -> dict[str, str]:
    libs: dict[str, str] = {}
    for lib in artifacts.AAVE_LOGIC_LIBRARIES:
        libs[lib] = rpc.deploy(artifacts.load(lib), libraries=libs)
    p = rpc.contract("PoolAddressesProvider", provider)
    pool_impl = rpc.deploy(artifacts.load("Pool"), provider, libraries=libs)
    rpc.transact(p.functions.setPoolImpl(pool_impl))
    configurator_impl = rpc.deploy(artifacts.load("PoolConfigurator"), libraries=libs)
    rpc.transact(p.functions.setPoolConfiguratorImpl(configurator_impl))
    return {
        "pool": p.functions.getPool().call(),
        "pool_configurator": p.functions.getPoolConfigurator().call(),
        "pool_impl": pool_impl,
        **{f"lib_{k}": v for k, v in libs.items()},
    }


def deploy_aave(rpc: DevnetRpc, tokens: dict[str, dict[str, Any]], treasury: str) -> dict[str, str]:
    provider = rpc.deploy(artifacts.load("PoolAddressesProvider"), "liqbot-devnet", ADMIN)
    p = rpc.contract("PoolAddressesProvider", provider)
    # The ACL admin must be set before ACLManager is deployed, or its constructor reverts.
    rpc.transact(p.functions.setACLAdmin(ADMIN))
    acl = rpc.deploy(artifacts.load("ACLManager"), provider)
    rpc.transact(p.functions.setACLManager(acl))
    aclc = rpc.contract("ACLManager", acl)
    for fn in (aclc.functions.addPoolAdmin, aclc.functions.addRiskAdmin, aclc.functions.addEmergencyAdmin):
        rpc.transact(fn(ADMIN))
    out = {"pool_addresses_provider": provider, "acl_manager": acl, **_deploy_pool_contracts(rpc, provider)}

    assets = [tokens[t.symbol]["address"] for t in spec.TOKENS]
    feeds = [tokens[t.symbol]["feed"] for t in spec.TOKENS]
    oracle = rpc.deploy(
        artifacts.load("AaveOracle"), provider, assets, feeds, ZERO, ZERO, 10**spec.FEED_DECIMALS
    )
    rpc.transact(p.functions.setPriceOracle(oracle))
    data_provider = rpc.deploy(artifacts.load("AaveProtocolDataProvider"), provider)
    rpc.transact(p.functions.setPoolDataProvider(data_provider))
    out |= {"oracle": oracle, "data_provider": data_provider}

    pool = out["pool"]
    a_impl = rpc.deploy(artifacts.load("AToken"), pool)
    s_impl = rpc.deploy(artifacts.load("StableDebtToken"), pool)
    v_impl = rpc.deploy(artifacts.load("VariableDebtToken"), pool)
    rs = spec.RATE_STRATEGY
    strategy = rpc.deploy(
        artifacts.load("DefaultReserveInterestRateStrategy"),
        provider,
        rs["optimal_usage_ratio"],
        rs["base_variable_borrow_rate"],
        rs["variable_rate_slope1"],
        rs["variable_rate_slope2"],
        rs["stable_rate_slope1"],
        rs["stable_rate_slope2"],
        rs["base_stable_rate_offset"],
        rs["stable_rate_excess_offset"],
        rs["optimal_stable_to_total_debt_ratio"],
    )
    out |= {
        "atoken_impl": a_impl,
        "stable_debt_impl": s_impl,
        "variable_debt_impl": v_impl,
        "rate_strategy": strategy,
    }
    _init_reserves(rpc, out, tokens, treasury)
    _configure(rpc, out["pool_configurator"], tokens)
    _seed_liquidity(rpc, pool, tokens)
    return out


def _init_reserves(
    rpc: DevnetRpc, out: dict[str, str], tokens: dict[str, dict[str, Any]], treasury: str
) -> None:
    inputs = [
        (
            out["atoken_impl"],
            out["stable_debt_impl"],
            out["variable_debt_impl"],
            t.decimals,
            out["rate_strategy"],
            tokens[t.symbol]["address"],
            treasury,
            ZERO,
            f"Aave Devnet {t.symbol}",
            f"aDev{t.symbol}",
            f"Aave Devnet Variable Debt {t.symbol}",
            f"variableDebtDev{t.symbol}",
            f"Aave Devnet Stable Debt {t.symbol}",
            f"stableDebtDev{t.symbol}",
            b"",
        )
        for t in spec.TOKENS
    ]
    conf = rpc.contract("PoolConfigurator", out["pool_configurator"])
    rpc.transact(conf.functions.initReserves(inputs))


def _configure(rpc: DevnetRpc, configurator: str, tokens: dict[str, dict[str, Any]]) -> None:
    f = rpc.contract("PoolConfigurator", configurator).functions
    e = spec.EMODE_CATEGORY
    rpc.transact(f.setEModeCategory(e.id, e.ltv, e.liquidation_threshold, e.liquidation_bonus, ZERO, e.label))
    for t in spec.TOKENS:
        asset = tokens[t.symbol]["address"]
        rpc.transact(
            f.configureReserveAsCollateral(asset, t.ltv, t.liquidation_threshold, t.liquidation_bonus)
        )
        rpc.transact(f.setReserveBorrowing(asset, True))
        rpc.transact(f.setReserveFlashLoaning(asset, True))
        rpc.transact(f.setReserveFactor(asset, t.reserve_factor))
        rpc.transact(f.setLiquidationProtocolFee(asset, spec.LIQUIDATION_PROTOCOL_FEE_BPS))
        if t.emode:
            rpc.transact(f.setAssetEModeCategory(asset, t.emode))
    rpc.transact(f.updateFlashloanPremiumTotal(spec.FLASHLOAN_PREMIUM_TOTAL_BPS))
    rpc.transact(f.updateFlashloanPremiumToProtocol(spec.FLASHLOAN_PREMIUM_TO_PROTOCOL_BPS))


def _seed_liquidity(rpc: DevnetRpc, pool: str, tokens: dict[str, dict[str, Any]]) -> None:
    """The whale supplies every reserve so borrowers have something to borrow."""
    pool_c = rpc.contract("Pool", pool)
    for t in spec.TOKENS:
        token = rpc.contract("MintableERC20", tokens[t.symbol]["address"])
        amount = t.whale_supply * 10**t.decimals
        rpc.transact(token.functions.mint(WHALE, amount))
        rpc.transact(token.functions.approve(pool, MAX_UINT), sender=WHALE)
        rpc.transact(pool_c.functions.supply(token.address, amount, WHALE, 0), sender=WHALE)
